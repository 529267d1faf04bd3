"""Are charts off training's critical path? `segbot train` with the chart worker
against the same command drawing in process (`model.use_chart_worker(False)`).

    .venv/bin/python bench/bench_chart_worker.py --data customers_1M.parquet --repeats 3

Runs the variants interleaved (worker, in process, worker, ...) so both see the same
machine load, each in a fresh model folder, and prints every run's wall time, the
trainer's wait for the charts (`timings.charts`) and the drawing time
(`timings.charts_render`), then the medians, also of each stage's lap.
`--also NAME=SEGBOT` adds another `segbot` executable (e.g. another checkout's).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IN_PROCESS = (
    "import sys; from model import use_chart_worker; use_chart_worker(False); "
    "from bot.cli import main; sys.exit(main(sys.argv[1:]))"
)


def run(command: list[str], data: Path, work: Path) -> dict:
    models = Path(tempfile.mkdtemp(prefix="models-", dir=work))
    try:
        started = time.perf_counter()
        subprocess.run(
            [*command, "train", "--data", str(data), "--model-dir", str(models)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - started
        (meta_file,) = models.glob("v*/metadata.json")
        timings = json.loads(meta_file.read_text())["timings"]
        return {
            "wall": wall,
            "waited": timings["charts"],
            "drawing": timings["charts_render"],
            "stages": timings,
        }
    finally:
        shutil.rmtree(models, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--also", action="append", default=[], metavar="NAME=SEGBOT")
    args = ap.parse_args()
    segbot = str(Path(sys.executable).with_name("segbot"))
    variants = {"worker": [segbot], "in process": [sys.executable, "-c", IN_PROCESS]}
    for extra in args.also:
        name, _, path = extra.partition("=")
        variants[name] = [path]
    results: dict[str, list[dict]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="bench-charts-") as work:
        for i in range(args.repeats):
            for name, command in variants.items():
                r = run(command, args.data, Path(work))
                results[name].append(r)
                print(
                    f"#{i + 1} {name:>12}: {r['wall']:6.2f} s wall, "
                    f"{r['waited']:.2f} s waited for charts, {r['drawing']:.2f} s drawing",
                    flush=True,
                )
    print("median of", args.repeats)
    for name, runs in results.items():
        med = {
            key: statistics.median(r[key] for r in runs) for key in ("wall", "waited", "drawing")
        }
        laps = {key: statistics.median(r["stages"][key] for r in runs) for key in runs[0]["stages"]}
        print(
            f"{name:>12}: {med['wall']:6.2f} s wall, {med['waited']:.2f} s waited, "
            f"{med['drawing']:.2f} s drawing; stages: "
            + ", ".join(f"{key} {value:.2f}" for key, value in laps.items())
        )


if __name__ == "__main__":
    main()
