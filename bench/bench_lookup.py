"""Latency of `SegmentService.lookup(id)` on a trained version, beside a seed-style
pandas lookup (a boolean mask over a DataFrame of every customer).

    python bench/bench_lookup.py --model-dir bench/.data/models/1M [--calls 10000]
        [--baseline-calls 300] [--json out.json]

Ids are drawn at random (seed 0) from the served version's customers, so every
call finds its customer. Each call is timed alone with perf_counter_ns; the
first call (which loads the version) is timed separately as the cold start.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def percentiles(ns: list[int]) -> dict[str, float]:
    ms = np.asarray(ns, dtype=np.float64) / 1e6
    return {
        "calls": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "max_ms": round(float(ms.max()), 4),
        "mean_ms": round(float(ms.mean()), 4),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--baseline-calls", type=int, default=300)
    ap.add_argument("--json")
    args = ap.parse_args(argv)

    from model import LoadedVersion, SegmentService, Settings

    service = SegmentService(Settings(_env_file=None, SEGBOT_MODEL_DIR=args.model_dir))
    name = service.registry.served()
    if name is None:
        raise SystemExit(f"no served version in {args.model_dir}")
    t = time.perf_counter()
    version = LoadedVersion.load(service.registry.path(name))
    load_s = time.perf_counter() - t
    rng = np.random.default_rng(0)
    rows = rng.integers(0, len(version.keys), args.calls)
    ids = [str(i) for i in version.id_strings(rows)]

    t = time.perf_counter_ns()
    service.lookup(ids[0])
    cold_ms = (time.perf_counter_ns() - t) / 1e6
    timings = []
    for cid in ids:
        t = time.perf_counter_ns()
        service.lookup(cid)
        timings.append(time.perf_counter_ns() - t)
    ours = percentiles(timings)

    # Seed style: every customer in a DataFrame, a boolean mask per question.
    import pandas as pd

    frame = pd.DataFrame(
        np.asarray(version.values, dtype=np.float64), columns=version.metadata.numeric
    )
    frame.insert(0, "customer_id", version.ids.astype(object))
    frame.insert(1, "segment", np.asarray(version.segments))
    base = []
    for cid in ids[: args.baseline_calls]:
        t = time.perf_counter_ns()
        row = frame[frame["customer_id"] == cid].iloc[0]
        row.to_dict()
        base.append(time.perf_counter_ns() - t)
    baseline = percentiles(base) if base else None

    result = {
        "version": name,
        "customers": len(version.keys),
        "version_load_ms": round(load_s * 1000, 2),
        "first_lookup_ms": round(cold_ms, 3),
        "segbot": ours,
        "baseline": baseline,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
