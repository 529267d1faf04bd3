"""`segbot train --engine spark` (local mode) beside the local engine, same run, same data.

    python bench/bench_spark.py [--sizes 1m,10m] [--master 'local[2]'] [--repeats 1]
        [--driver-memory 4g] [--executor-memory 1g] [--timeout 3600]
        [--standalone-cores 1,2] [--worker-memory 2g]

With --standalone-cores, Spark trains on a standalone cluster instead of --master:
for each N, a master and one worker with N cores on 127.0.0.1 (the scripts that
ship with pyspark, `bench.spark_cluster`), one executor with N cores; the stage
timings per N show how the fit and the assignment scale with executor cores (the
driver's stages should not move). On a machine with fewer free cores than N the
numbers say nothing about scaling: note the load average printed. The executor
is the worker's child, not the driver's: its memory is not in the peak RSS column.

Data: `segbot sample-data` Parquet, cached in bench/.data. For each size, each
engine trains into a fresh model folder in a fresh process (`bench.common.measure`):
wall time, and peak RSS, both GNU time's (the largest single process: the Python
driver or the JVM) and the sampled sum over the process tree (Python driver + JVM,
which in local mode is also the executors, + Python workers + chart worker). The
Spark memory settings go in through SPARK_DRIVER_MEMORY / SPARK_EXECUTOR_MEMORY,
as a user would set them, and are printed with the table. The stage timings from
the version's metadata.json show where Spark's time goes.

Prints a Markdown table and writes bench/results/spark.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    BENCH,
    DATA,
    SEGBOT,
    data_file,
    fresh_dir,
    label,
    load_average,
    measure,
    median,
    parse_size,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1m,10m")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--executor-memory", default="1g")  # unused by local mode's one JVM
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--standalone-cores", help="e.g. 1,2: a standalone cluster per N")
    parser.add_argument("--worker-memory", default="2g")  # >= --executor-memory
    args = parser.parse_args()
    cores = [int(c) for c in args.standalone_cores.split(",")] if args.standalone_cores else []
    env = {
        "SPARK_DRIVER_MEMORY": args.driver_memory,
        "SPARK_EXECUTOR_MEMORY": args.executor_memory,
    }
    print(f"load average before: {load_average():.2f}; Spark env: {env}", flush=True)
    rows_out = []
    for size in [parse_size(s) for s in args.sizes.split(",")]:
        data = data_file(size)
        runs = [("local", None)] + ([("spark", n) for n in cores] if cores else [("spark", None)])
        for engine, n_cores in runs:
            walls, tree, timings = [], [], {}
            for _ in range(args.repeats):
                models = fresh_dir(DATA / f"spark_bench_{engine}_{size}")
                with _master(args, n_cores) as master:
                    cmd = [SEGBOT, "train", "--engine", engine, "--data", str(data)]
                    cmd += ["--model-dir", str(models)]
                    if engine == "spark":
                        cmd += ["--spark-master", master]
                    run = measure(cmd, timeout=args.timeout, env=env)
                if not run.ok():
                    print(f"{engine} {label(size)} failed: {run.stderr[-2000:]}", file=sys.stderr)
                    return 1
                walls.append(run.wall_s)
                tree.append(run.peak_mb or float("nan"))
                timings = json.loads((models / "v1" / "metadata.json").read_text())["timings"]
            where = args.master if n_cores is None else f"standalone, 1 worker x {n_cores} cores"
            rows_out.append(
                {
                    "rows": size,
                    "engine": engine if engine == "local" else f"spark {where}",
                    "wall_s": round(median(walls), 1),
                    "peak_tree_mb": round(median(tree)),
                    "load_after": round(load_average(), 2),
                    "timings": timings,
                }
            )
            r = rows_out[-1]
            print(
                f"  {label(size)} {r['engine']}: {r['wall_s']} s, {r['peak_tree_mb']} MB, "
                f"load {r['load_after']}",
                flush=True,
            )
    print("\n| customers | engine | wall s | peak RSS, process tree MB | stages (s) |")
    print("|---:|---|---:|---:|---|")
    for r in rows_out:
        stages = ", ".join(f"{k} {v}" for k, v in r["timings"].items())
        cells = [label(r["rows"]), r["engine"], r["wall_s"], r["peak_tree_mb"], stages]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    out = BENCH / "results" / "spark.json"
    master = args.master if not cores else f"standalone {args.standalone_cores}"
    out.write_text(json.dumps({"env": env, "master": master, "runs": rows_out}, indent=2))
    return 0


@contextlib.contextmanager
def _master(args, cores: int | None):
    """--master, or a fresh standalone cluster with one worker of `cores` cores."""
    if cores is None:
        yield args.master
        return
    from bench.spark_cluster import standalone_cluster

    with (
        tempfile.TemporaryDirectory(prefix="spark-cluster-", dir=DATA) as folder,
        standalone_cluster(Path(folder), cores=cores, memory=args.worker_memory) as url,
    ):
        yield url


if __name__ == "__main__":
    sys.exit(main())
