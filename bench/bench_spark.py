"""`segbot train --engine spark` (local mode) beside the local engine, same run, same data.

    python bench/bench_spark.py [--sizes 1m,10m] [--master 'local[2]'] [--repeats 1]
        [--driver-memory 4g] [--executor-memory 1g] [--timeout 3600]

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
import json
import sys
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
    args = parser.parse_args()
    env = {
        "SPARK_DRIVER_MEMORY": args.driver_memory,
        "SPARK_EXECUTOR_MEMORY": args.executor_memory,
    }
    print(f"load average before: {load_average():.2f}; Spark env: {env}", flush=True)
    rows_out = []
    for size in [parse_size(s) for s in args.sizes.split(",")]:
        data = data_file(size)
        for engine in ("local", "spark"):
            walls, tree, timings = [], [], {}
            for _ in range(args.repeats):
                models = fresh_dir(DATA / f"spark_bench_{engine}_{size}")
                cmd = [SEGBOT, "train", "--engine", engine, "--data", str(data)]
                cmd += ["--model-dir", str(models)]
                if engine == "spark":
                    cmd += ["--spark-master", args.master]
                run = measure(cmd, timeout=args.timeout, env=env)
                if not run.ok():
                    print(f"{engine} {label(size)} failed: {run.stderr[-2000:]}", file=sys.stderr)
                    return 1
                walls.append(run.wall_s)
                tree.append(run.peak_mb or float("nan"))
                timings = json.loads((models / "v1" / "metadata.json").read_text())["timings"]
            rows_out.append(
                {
                    "rows": size,
                    "engine": engine if engine == "local" else f"spark {args.master}",
                    "wall_s": round(median(walls), 1),
                    "peak_tree_mb": round(median(tree)),
                    "timings": timings,
                }
            )
            r = rows_out[-1]
            print(
                f"  {label(size)} {r['engine']}: {r['wall_s']} s, {r['peak_tree_mb']} MB",
                flush=True,
            )
    print("\n| customers | engine | wall s | peak RSS, process tree MB | stages (s) |")
    print("|---:|---|---:|---:|---|")
    for r in rows_out:
        stages = ", ".join(f"{k} {v}" for k, v in r["timings"].items())
        cells = [label(r["rows"]), r["engine"], r["wall_s"], r["peak_tree_mb"], stages]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    out = BENCH / "results" / "spark.json"
    out.write_text(json.dumps({"env": env, "master": args.master, "runs": rows_out}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
