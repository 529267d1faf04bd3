"""Reading a customers CSV: segbot's reader (Arrow's multi-threaded CSV reader with
pandas' rules, `model.data.load.read_source`) against `pd.read_csv` as segbot's
fallback calls it (C engine, ids as text), on the same file in one process, alternated.

    python bench/bench_csv_read.py [--rows 1m] [--repeats 5]

Data: `segbot sample-data` CSV, cached in bench/.data. Both must give the same frame
(checked with `assert_frame_equal(check_exact=True)` before timing). Prints the
median of --repeats runs of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import data_file, label, load_average, parse_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=parse_size, default=parse_size("1m"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import pandas as pd

    from model import Settings, read_source

    path = data_file(args.rows, suffix=".csv")
    settings = Settings(_env_file=None, data=str(path))

    def segbot() -> pd.DataFrame:
        return read_source(settings)

    def pandas() -> pd.DataFrame:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            return pd.read_csv(path, dtype={settings.id_column: "str"})

    pd.testing.assert_frame_equal(segbot(), pandas(), check_exact=True)
    times: dict[str, list[float]] = {"segbot (Arrow)": [], "pd.read_csv": []}
    print(f"{label(args.rows)} customers, {path.stat().st_size / 1e6:.0f} MB CSV; "
          f"load average {load_average():.2f}", flush=True)  # fmt: skip
    for _ in range(args.repeats):
        for name, read in zip(times, (segbot, pandas), strict=True):
            started = time.perf_counter()
            read()
            times[name].append(time.perf_counter() - started)
    print("\n| reader | runs (s) | median |")
    print("|---|---|--:|")
    for name, runs in times.items():
        print(
            f"| {name} | {', '.join(f'{t:.2f}' for t in runs)} | {statistics.median(runs):.2f} s |"
        )
    ratio = statistics.median(times["pd.read_csv"]) / statistics.median(times["segbot (Arrow)"])
    print(f"\nsame frame; Arrow {ratio:.1f}x faster (medians); load average {load_average():.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
