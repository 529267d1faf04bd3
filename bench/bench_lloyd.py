"""segbot's chunked Lloyd (`model.lloyd`) against scikit-learn's KMeans on every row.

    python bench/bench_lloyd.py --sizes 1m,10m [--repeats 3] [--json out.json]

Both start from the same centres (the best of KMeans(n_init=10) on the 30k-row sample,
as `selection.fit_final_with_distances` picks them) on the same float32 feature matrix
that training builds, and stop by the same rule (tol 1e-4 of the mean variance):

- *segbot*: `selection.lloyd` and then `selection.distances_to` (own and runner-up
  distance of every row: the pass training needs in any case);
- *scikit-learn*: `KMeans(algorithm="lloyd", init=<same centres>, n_init=1).fit(x)`,
  then the same `distances_to` (scikit-learn gives labels and inertia, not the
  runner-up).

Both run as training runs them: one BLAS thread (threadpoolctl), KMeans' OpenMP threads
left alone. Times: the two alternate in one process, median of `--repeats`. Peak
memory: each in a fresh child process, peak RSS during the fit minus RSS just before it
(the matrix itself is not counted). Inertia: on the same rows, in float64.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench.common import data_file, label, parse_size


def _matrix(rows: int, seed: int = 0):
    import numpy as np

    from model import (
        FINAL_N_INIT,
        LLOYD_TOL,
        SELECT_SAMPLE,
        Settings,
        fit_transformer,
        load_dataset,
        sample_rows,
        transform,
    )

    dataset = load_dataset(Settings(data=str(data_file(rows))))
    transformer = fit_transformer(dataset.frame, dataset.numeric, dataset.categorical, seed)
    x = transform(transformer, dataset.frame)
    del dataset
    k = 5  # the k training picks on this data (BENCHMARKS.md)
    sample = sample_rows(len(x), SELECT_SAMPLE, seed + 1)
    xs = np.asarray(x[sample], dtype=np.float64)
    from sklearn.cluster import KMeans

    # selection.fit_final_with_distances' start: the best of FINAL_N_INIT on the sample
    km = KMeans(k, n_init=FINAL_N_INIT, random_state=seed, max_iter=300).fit(xs)
    start = km.cluster_centers_
    tol = LLOYD_TOL * float(np.mean(np.var(xs, axis=0, dtype=np.float64)))
    return x, start, tol


def _ours(x, start, tol):
    from model import distances_to, lloyd

    centers, n_iter = lloyd(x, start, tol)
    label_, d1, _, _ = distances_to(centers, x)
    return label_, d1, n_iter


def _sklearn(x, start, tol):
    from sklearn.cluster import KMeans

    from model import distances_to

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        km = KMeans(len(start), init=start, n_init=1, algorithm="lloyd", max_iter=300).fit(x)
    label_, d1, _, _ = distances_to(km.cluster_centers_, x)
    return label_, d1, km.n_iter_


METHODS = {"segbot": _ours, "sklearn": _sklearn}


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_memory(rows: int, method: str) -> dict:
    """In a child process: peak RSS of one fit above the RSS just before it."""
    from threadpoolctl import threadpool_limits

    x, start, tol = _matrix(rows)
    before = _rss_mb()
    # ru_maxrss is a high-water mark: sample RSS in a thread to see this fit's peak.
    import threading

    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], _rss_mb())

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    with threadpool_limits(limits=1, user_api="blas"):
        METHODS[method](x, start, tol)
    done.set()
    watcher.join()
    peak[0] = max(peak[0], _rss_mb())
    return {
        "extra_mb": peak[0] - before,
        "matrix_mb": x.nbytes / 2**20,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def timings(rows: int, repeats: int) -> dict:
    import numpy as np
    from threadpoolctl import threadpool_limits

    x, start, tol = _matrix(rows)
    out: dict = {m: {"seconds": []} for m in METHODS}
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(repeats):
            for method, run in METHODS.items():
                t = time.perf_counter()
                label_, d1, n_iter = run(x, start, tol)
                out[method]["seconds"].append(time.perf_counter() - t)
                d = d1.astype(np.float64)
                out[method].update(inertia=float(d @ d), n_iter=int(n_iter))
                out[method]["labels"] = label_
    agree = float(np.mean(out["segbot"].pop("labels") == out["sklearn"].pop("labels")))
    for m in METHODS:
        out[m]["median_s"] = statistics.median(out[m]["seconds"])
    return {"rows": rows, "same_label": agree, **out}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1m,10m")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--memory-child", nargs=2, metavar=("ROWS", "METHOD"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        print(json.dumps(one_memory(int(args.memory_child[0]), args.memory_child[1])))
        return 0
    results = []
    for rows in [parse_size(s) for s in args.sizes.split(",")]:
        res = timings(rows, args.repeats)
        for method in METHODS:
            child = subprocess.run(
                [sys.executable, __file__, "--memory-child", str(rows), method],
                capture_output=True,
                text=True,
                check=True,
            )
            res[method].update(json.loads(child.stdout.splitlines()[-1]))
        results.append(res)
        s, k = res["segbot"], res["sklearn"]
        print(
            f"{label(rows)}: segbot {s['median_s']:.2f} s (runs "
            f"{', '.join(f'{v:.2f}' for v in s['seconds'])}), +{s['extra_mb']:.0f} MB, "
            f"{s['n_iter']} iterations, inertia {s['inertia']:,.1f} | scikit-learn "
            f"{k['median_s']:.2f} s (runs {', '.join(f'{v:.2f}' for v in k['seconds'])}), "
            f"+{k['extra_mb']:.0f} MB, {k['n_iter']} iterations, inertia {k['inertia']:,.1f} | "
            f"time ×{k['median_s'] / s['median_s']:.2f}, inertia "
            f"{k['inertia'] / s['inertia'] - 1:+.4%}, same label {res['same_label']:.4%} "
            f"(load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
