"""A purchase log in PostgreSQL: aggregated inside the database (push-down,
`model.data.transactions_sql`) against every row streamed to Python and aggregated
there (`model.data.transactions`), through the same `load_dataset` that
`segbot train --kind transactions` calls.

    source .ci/postgres.sh        # or SEGBOT_TEST_PG_URL=postgresql+psycopg://...
    python bench/bench_pushdown.py --rows 10m [--repeats 1] [--keep] [--json out.json]
        [--max-rss MB]   # stop the streamed run there (a shared machine)

The log (`model.data.sample_transactions.write_transactions`, seed 42: text ids
"000042", timestamps, numeric(12, 2) amounts with 2% returns, integer
quantities) is written to a CSV file in --dir, loaded with COPY into the table
`bench_orders_<rows>` and ANALYZEd; with --keep the table stays for the next
run (and is reused when it has the right number of rows). Each measurement runs
in a fresh Python process: wall time of `load_dataset`, that process's peak RSS
(VmHWM, which includes ~150 MB of Python, pandas and pyarrow) and the rows
SQLAlchemy fetched from the database (counted where every fetch of a result
passes). The database server's own work is inside the wall time; its memory is
bounded by PostgreSQL's work_mem (a GROUP BY larger than that spills to disk).

Scales to 100M rows: generation and COPY stream in chunks (about 4 GB of CSV and
6 GB of table at 100M, 575 MB of table at 10M); the streamed run holds every
purchase in the Python process (1.4 GB peak at 10M rows, so ~14 GB at 100M), the
push-down run one row per customer (0.6 GB at 10M rows, 1.4M customers).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 42
MODES = ("pushdown", "streamed")


def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --------------------------------------------------------------------------- child


def child(mode: str, url: str, table: str) -> dict:
    """One load in this (fresh) process; rows fetched counted per statement (and
    written to $BENCH_FETCHED_FILE every million rows, for a run stopped at --max-rss)."""
    from sqlalchemy.engine.cursor import CursorResult

    from model import Settings, load_dataset, use_pushdown

    fetched = [0]
    tally = os.environ.get("BENCH_FETCHED_FILE")
    for name in ("_fetchone_impl", "_fetchmany_impl", "_fetchall_impl"):
        real = getattr(CursorResult, name)

        def counting(result, *args, _real=real, _one=name == "_fetchone_impl", **kwargs):
            got = _real(result, *args, **kwargs)
            if table in (result.context.statement or ""):
                before = fetched[0]
                fetched[0] += (got is not None) if _one else len(got)
                if tally and fetched[0] // 1_000_000 != before // 1_000_000:
                    Path(tally).write_text(str(fetched[0]))
            return got

        setattr(CursorResult, name, counting)
    if mode == "streamed":
        use_pushdown(False)
    settings = Settings(_env_file=None, data=url, data_query=table, data_kind="transactions")
    started = time.perf_counter()
    data = load_dataset(settings)
    seconds = time.perf_counter() - started
    return {
        "mode": mode,
        "seconds": seconds,
        "peak_mb": _peak_mb(),
        "customers": data.rows,
        "rows_fetched": fetched[0],
        "digest": data.digest,
        "first": [data.ids[0], *map(float, data.frame.iloc[0])],
    }


# --------------------------------------------------------------------------- parent


def dsn_of(url: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def prepare(url: str, rows: int, folder: Path, keep: bool) -> tuple[str, dict]:
    """The table holding `rows` purchases (made or reused) and how long that took."""
    import psycopg

    from model import write_transactions

    table = f"bench_orders_{rows}"
    timings: dict = {}
    with psycopg.connect(dsn_of(url), autocommit=True) as con:
        found = con.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]
        if found and con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == rows:
            print(f"  reusing table {table}", flush=True)
            return table, {"reused": True}
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"orders_{rows}_s{SEED}.csv"
        if not path.exists():
            print(f"  writing {rows:,} purchases -> {path}", flush=True)
            started = time.perf_counter()
            write_transactions(path, rows=rows, seed=SEED)
            timings["generate_seconds"] = round(time.perf_counter() - started, 1)
        print(f"  COPY into {table}", flush=True)
        started = time.perf_counter()
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(
            f"CREATE UNLOGGED TABLE {table} (customer_id text, date timestamp, "
            "amount numeric(12, 2), quantity integer)"
        )
        statement = f"COPY {table} FROM STDIN (FORMAT csv, HEADER true)"
        with con.cursor() as cur, path.open("rb") as handle, cur.copy(statement) as copy:
            while block := handle.read(1 << 20):
                copy.write(block)
        con.execute(f"ANALYZE {table}")
        timings["copy_seconds"] = round(time.perf_counter() - started, 1)
        timings["table_size"] = con.execute(
            f"SELECT pg_size_pretty(pg_total_relation_size('{table}'))"
        ).fetchone()[0]
        if not keep:
            path.unlink()
    return table, timings


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_child(mode: str, url: str, table: str, max_rss_mb: float | None = None) -> dict:
    """One measurement in a fresh process. With `max_rss_mb`, the process is killed
    as soon as its resident memory passes that (polled every 50 ms): on a shared
    machine a run that does not fit is stopped and reported, not left to the OOM
    killer, which could pick someone else's process."""
    tally = Path(f"/tmp/bench_pushdown_{os.getpid()}_{mode}.fetched")
    tally.unlink(missing_ok=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, "--url", url, "--table", table],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "BENCH_FETCHED_FILE": str(tally)},
    )
    peak = 0.0
    while max_rss_mb and proc.poll() is None:
        with contextlib.suppress(OSError, ValueError):
            peak = max(peak, _rss_mb(proc.pid))
        if peak > max_rss_mb:
            proc.kill()
            proc.communicate()
            fetched = int(tally.read_text()) if tally.exists() else 0
            tally.unlink(missing_ok=True)
            return {
                "mode": mode,
                "stopped": True,
                "seconds": time.perf_counter() - started,
                "peak_mb": peak,
                "rows_fetched": fetched,
                "customers": None,
            }
        time.sleep(0.05)
    out, err = proc.communicate()
    tally.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=parse_size, default=parse_size("1m"))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--url", default=os.environ.get("SEGBOT_TEST_PG_URL", ""))
    parser.add_argument("--dir", type=Path, default=ROOT / "bench" / ".data")
    parser.add_argument("--keep", action="store_true", help="keep the table and the CSV")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--max-rss",
        type=int,
        metavar="MB",
        help="stop the streamed run when its process's RSS passes this many MB",
    )
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("no PostgreSQL: pass --url or set SEGBOT_TEST_PG_URL (source .ci/postgres.sh)")
    if args.child:
        print(json.dumps(child(args.child, args.url, args.table)))
        return 0

    print(f"{args.rows:,} purchase rows; load average {os.getloadavg()[0]:.2f}", flush=True)
    table, timings = prepare(args.url, args.rows, args.dir, args.keep)
    results = []
    for _ in range(args.repeats):
        for mode in MODES:
            cap = args.max_rss if mode == "streamed" else None
            result = run_child(mode, args.url, table, cap)
            results.append(result)
            if result.get("stopped"):
                print(
                    f"  {mode:9s} STOPPED at {result['peak_mb']:.0f} MB RSS (cap {cap:,} MB) "
                    f"after {result['seconds']:.1f} s, {result['rows_fetched']:,} rows fetched",
                    flush=True,
                )
                continue
            print(
                f"  {mode:9s} {result['seconds']:7.1f} s  peak RSS {result['peak_mb']:7.0f} MB  "
                f"rows fetched {result['rows_fetched']:,}  customers {result['customers']:,}",
                flush=True,
            )
    pushed = [r for r in results if r["mode"] == "pushdown"]
    streamed = [r for r in results if r["mode"] == "streamed" and not r.get("stopped")]
    same = not streamed or pushed[0]["customers"] == streamed[0]["customers"]
    if streamed:
        print(
            f"  same customers: {same}; first customer {pushed[0]['first']} / "
            f"{streamed[0]['first']}"
        )
    print()
    print("| path | wall time | peak RSS (Python process) | rows fetched |")
    print("|---|---|---|---|")
    for mode, runs in (("push-down (GROUP BY in PostgreSQL)", pushed), ("streamed", streamed)):
        if not runs:
            stop = next(r for r in results if r.get("stopped"))
            print(
                f"| {mode} | stopped at the {args.max_rss:,} MB cap after {stop['seconds']:.1f} s "
                f"| > {args.max_rss:,} MB | {stop['rows_fetched']:,} of {args.rows:,} |"
            )
            continue
        best = min(runs, key=lambda r: r["seconds"])
        print(
            f"| {mode} | {best['seconds']:.1f} s | {best['peak_mb']:.0f} MB "
            f"| {best['rows_fetched']:,} |"
        )
    if not args.keep:
        import psycopg

        with psycopg.connect(dsn_of(args.url), autocommit=True) as con:
            con.execute(f"DROP TABLE IF EXISTS {table}")
    if args.json:
        args.json.write_text(
            json.dumps({"rows": args.rows, "prepare": timings, "runs": results}, indent=1)
        )
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
