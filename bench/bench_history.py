"""Latency of `/segment customer <id> history` and `/segments movers` over many versions.

    python bench/bench_history.py [--rows 10m] [--versions 5] [--calls 5000] [--json out.json]
    python bench/bench_history.py --quick        # 20k customers, 3 versions, a few seconds

Versions are written directly (no training): sorted fixed-width ids, segment ids and
the other stored arrays with `model.versions.version.save_assignments`, plus a metadata.json
with what the service reads. Each version drops ~1% of the customers, adds ~1% new
ones and moves ~5% to another segment. They are kept in bench/.data/history_<rows>_<n>
for the next run (--rebuild makes them again).

Measured through `SegmentService` (what the router calls), each call timed alone:
- history: one customer's segment in every version; ids drawn at random, 1 in 20 unknown
  in the served version (still found in older ones); target p99 <= 10 ms;
- movers, cold: the first question for a version, which counts its flows (one
  intersection of the sorted ids) and keeps them in flows.json; then warm: any pair,
  from the kept counts; and once with the admins' CSV of ids.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DATA, label, load_average, parse_size

K = 6
NAMES = ["Champions", "Loyal", "Big Spenders", "New Customers", "At Risk", "Hibernating"]
WIDTH = 10  # "C000000042"


def id_keys(numbers: np.ndarray) -> np.ndarray:
    """Ascending ints -> sorted fixed-width ids b"C000000042", without a Python string each."""
    digits = np.empty((len(numbers), WIDTH), dtype=np.uint8)
    digits[:, 0] = ord("C")
    rest = numbers.astype(np.int64)
    for j in range(WIDTH - 1, 0, -1):
        digits[:, j] = ord("0") + rest % 10
        rest //= 10
    return digits.reshape(-1).view(f"S{WIDTH}")


def build(root: Path, rows: int, versions: int, seed: int = 0) -> None:
    from model import Registry, save_assignments

    rng = np.random.default_rng(seed)
    universe = int(rows * (1 + 0.01 * versions)) + 1
    present = np.zeros(universe, dtype=bool)
    present[:rows] = True
    segment = rng.integers(1, K + 1, universe).astype(np.int16)
    start = datetime(2026, 10, 1, 6, tzinfo=UTC)
    root.mkdir(parents=True, exist_ok=True)
    for v in range(1, versions + 1):
        if v > 1:  # ~1% leave, ~1% arrive, ~5% change segment
            leave = rng.random(universe) < 0.01
            present &= ~leave
            present[rows + (v - 2) * rows // 100 : rows + (v - 1) * rows // 100] = True
            move = rng.random(universe) < 0.05
            segment[move] = rng.integers(1, K + 1, int(move.sum())).astype(np.int16)
        numbers = np.flatnonzero(present)
        segs = segment[numbers]
        n = len(numbers)
        out = root / f"v{v}"
        out.mkdir(exist_ok=True)
        save_assignments(
            out,
            ids=id_keys(numbers),
            segments=segs,
            runner_up=((segs % K) + 1).astype(np.int16),
            distances=np.ones((n, 2), dtype=np.float32),
            values=np.zeros((n, 1), dtype=np.float32),
        )
        sizes = np.bincount(segs, minlength=K + 1)
        meta = {
            "version": f"v{v}",
            "trained_at": (start + timedelta(days=7 * (v - 1))).isoformat(),
            "status": "served",
            "rows": n,
            "k": K,
            "features": ["spend"],
            "numeric": ["spend"],
            "categorical": [],
            "id_column": "customer_id",
            "source": {"description": "synthetic", "digest": f"d{v}", "kind": "customers"},
            "quality": {"silhouette": 0.5},
            "k_selection": {"reason": "synthetic"},
            "segments": [
                {
                    "id": i,
                    "cluster": i - 1,
                    "name": NAMES[i - 1],
                    "action": "",
                    "size": int(sizes[i]),
                    "share": float(sizes[i] / n),
                    "mean": {"spend": 0.0},
                    "median": {"spend": 0.0},
                }
                for i in range(1, K + 1)
            ],
            "comparison": {"previous": f"v{v - 1}" if v > 1 else None},
            "charts": {},
        }
        (out / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    Registry(root).set_served(f"v{versions}")


def percentiles(ns: list[int]) -> dict[str, float]:
    ms = np.asarray(ns, dtype=np.float64) / 1e6
    return {
        "calls": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "max_ms": round(float(ms.max()), 4),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="10m", help="customers per version: 100k, 1m, 10m")
    ap.add_argument("--versions", type=int, default=5)
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--quick", action="store_true", help="20k customers, 3 versions, 500 calls")
    ap.add_argument("--dir", help="where the versions are kept (default bench/.data/...)")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    rows = 20_000 if args.quick else parse_size(args.rows)
    versions = 3 if args.quick else args.versions
    calls = 500 if args.quick else args.calls
    root = Path(args.dir) if args.dir else DATA / f"history_{label(rows)}_{versions}v"

    if args.rebuild or not (root / "CURRENT").is_file():
        shutil.rmtree(root, ignore_errors=True)
        t = time.perf_counter()
        build(root, rows, versions)
        print(f"built {versions} versions of {rows:,} customers in {time.perf_counter() - t:.1f} s")
    for v in root.glob("v*/flows.*"):  # movers are measured cold first
        v.unlink()

    from model import SegmentService, Settings

    service = SegmentService(Settings(_env_file=None, SEGBOT_MODEL_DIR=str(root)))
    served = service.registry.served()
    top = service.over_time.stored.get(served)
    rng = np.random.default_rng(1)
    picks = rng.integers(0, len(top.keys), calls)
    ids = [str(i) for i in top.id_strings(picks)]
    # 1 in 20: a customer who left before the served version (known to older ones only)
    oldest = service.over_time.stored.get(service.registry.versions()[0])
    for i in range(0, calls, 20):
        ids[i] = str(oldest.id_strings(np.array([rng.integers(0, len(oldest.keys))]))[0])

    load = load_average()
    t = time.perf_counter_ns()
    service.customer_history(ids[0])
    cold = time.perf_counter_ns() - t
    history_ns = []
    for cid in ids:
        t = time.perf_counter_ns()
        service.customer_history(cid)
        history_ns.append(time.perf_counter_ns() - t)

    t = time.perf_counter_ns()
    first = service.movers("Champions", "At Risk")
    movers_cold = time.perf_counter_ns() - t
    pairs = [(NAMES[a], NAMES[b]) for a, b in rng.integers(0, K, (min(calls, 2000), 2))]
    movers_ns = []
    for a, b in pairs:
        t = time.perf_counter_ns()
        service.movers(a, b)
        movers_ns.append(time.perf_counter_ns() - t)
    t = time.perf_counter_ns()
    with_ids = service.movers("Champions", "At Risk", with_ids=True)
    csv_ns = time.perf_counter_ns() - t

    result = {
        "rows": rows,
        "versions": versions,
        "load_before": round(load, 2),
        "history_cold_ms": round(cold / 1e6, 3),
        "history": percentiles(history_ns),
        "movers_cold_ms": round(movers_cold / 1e6, 1),
        "movers_warm": percentiles(movers_ns),
        "movers_csv_ms": round(csv_ns / 1e6, 1),
        "movers_csv_rows": with_ids.count,
        "champions_to_at_risk": first.count,
        "target_history_p99_ms": 10,
    }
    result["history_target_met"] = result["history"]["p99_ms"] <= 10
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
