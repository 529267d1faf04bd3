"""Write-back of N assignments: PostgreSQL (COPY), Parquet (and CSV, SQLite), beside a
plain `pandas.DataFrame.to_sql` of the same rows into the same PostgreSQL, in one run.

    python bench/bench_write_back.py                          # 100k rows, quick
    python bench/bench_write_back.py --rows 1m,10m --pg-url postgresql+psycopg://...

Each measurement runs in its own child process (started by GNU time, see
`common.measure`): wall time and peak RSS of exactly that write. segbot's rows
come from `model.versions.write_back` as the service runs it (load the version, stream
batches from the memory-mapped arrays, new table + swap, or temp file + rename).
The baseline reads the same rows into one DataFrame (as a script would) and
calls `to_sql(if_exists="replace")`: default method and `method="multi"`,
10,000 rows a statement.

The version is synthetic (N customers, 6 segments, random distances), stored with
`model.versions.version.save_assignments` exactly as training stores one: training 10M
customers is not what is measured here. PostgreSQL: SEGBOT_TEST_PG_URL or --pg-url
(`source .ci/postgres.sh` starts a throwaway server); without one those rows are
skipped. Peak RSS counts the memory-mapped arrays' pages the write has touched
(page cache, given back under pressure), as the kernel reports them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DATA, PY, fresh_dir, label, load_average, measure, parse_size

MODES = ("postgres", "parquet", "csv", "sqlite", "to_sql", "to_sql_multi")
NAMES = ["Champions", "Loyal", "Big Spenders", "New Customers", "At Risk", "Hibernating"]
OUT = Path(__file__).resolve().parent / "results"


def make_version(root: Path, rows: int) -> Path:
    """A stored version of `rows` synthetic customers, made once and cached."""
    import numpy as np

    from model import save_assignments

    folder = root / f"wb_{rows}" / "v1"
    if (folder / "metadata.json").exists():
        return folder.parent
    fresh_dir(folder)
    rng = np.random.default_rng(7)
    ids = np.char.add(b"C", np.char.zfill(np.arange(1, rows + 1).astype("S9"), 9))
    segments = rng.integers(1, 7, rows).astype(np.int16)
    runner = ((segments + rng.integers(0, 5, rows)) % 6 + 1).astype(np.int16)
    distances = rng.gamma(2.0, 0.5, (rows, 2)).astype(np.float32)
    distances[:, 1] += distances[:, 0]
    save_assignments(
        folder,
        ids=ids,
        segments=segments,
        runner_up=runner,
        distances=distances,
        values=np.zeros((rows, 1), np.float32),
    )
    meta = {
        "version": "v1",
        "rows": rows,
        "segments": [{"id": i + 1, "name": n} for i, n in enumerate(NAMES)],
    }
    (folder / "metadata.json").write_text(json.dumps(meta))
    (folder.parent / "CURRENT").write_text("v1\n")
    return folder.parent


# ---- the child: one write --------------------------------------------------------------------
def child(mode: str, model_dir: Path, target: str, table: str) -> None:
    started = time.perf_counter()
    from model import LoadedVersion

    v = LoadedVersion.load(model_dir / "v1")
    result: dict[str, object] = {"mode": mode}
    if mode in ("postgres", "sqlite"):
        from model import SqlTarget

        result["rows"] = SqlTarget(target, table).write(v)
    elif mode in ("parquet", "csv"):
        from model import FileTarget

        result["rows"] = FileTarget(Path(target)).write(v)
    else:
        import pyarrow as pa
        import sqlalchemy as sa

        from model import assignment_batches

        frame = pa.Table.from_batches(list(assignment_batches(v))).to_pandas()
        result["frame_s"] = round(time.perf_counter() - started, 2)
        engine = sa.create_engine(target)
        frame.to_sql(
            table,
            engine,
            if_exists="replace",
            index=False,
            chunksize=10_000,
            method="multi" if mode == "to_sql_multi" else None,
        )
        engine.dispose()
        result["rows"] = len(frame)
    result["inside_s"] = round(time.perf_counter() - started, 2)
    print(json.dumps(result))


# ---- the parent ------------------------------------------------------------------------------
def pg_count(url: str, table: str) -> int:
    import psycopg
    import sqlalchemy as sa

    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def pg_drop(url: str, prefix: str) -> None:
    import psycopg
    import sqlalchemy as sa

    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as con:
        for (name,) in con.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (f"{prefix}%",)
        ).fetchall():
            con.execute(f'DROP TABLE "{name}"')


def run(rows_list: list[int], modes: list[str], pg_url: str | None, timeout: float) -> list[dict]:
    results = []
    scratch = DATA / "write_back"
    scratch.mkdir(parents=True, exist_ok=True)
    for rows in rows_list:
        model_dir = make_version(DATA, rows)
        for mode in modes:
            if mode in ("postgres", "to_sql", "to_sql_multi") and not pg_url:
                print(f"  {label(rows)} {mode}: skipped (no --pg-url / SEGBOT_TEST_PG_URL)")
                continue
            table = f"bench_{mode}_{rows}"
            target = {
                "parquet": str(scratch / f"segments_{rows}.parquet"),
                "csv": str(scratch / f"segments_{rows}.csv"),
                "sqlite": f"sqlite:///{scratch / f'segments_{rows}.db'}",
            }.get(mode, pg_url or "")
            if mode == "sqlite":
                Path(target.removeprefix("sqlite:///")).unlink(missing_ok=True)
            if pg_url and mode in ("postgres", "to_sql", "to_sql_multi"):
                pg_drop(pg_url, table)
            cmd = [PY, __file__, "child", mode, str(model_dir), target, table]
            done = measure(cmd, timeout=timeout)
            entry: dict[str, object] = {
                "rows": rows,
                "mode": mode,
                "wall_s": round(done.wall_s, 2),
                "peak_mb": round(done.peak_mb, 1) if done.peak_mb else None,
                "ok": done.ok(),
                "load_before": round(done.load_before, 2),
            }
            if done.ok():
                entry.update(json.loads(done.stdout.strip().splitlines()[-1]))
                if pg_url and mode in ("postgres", "to_sql", "to_sql_multi"):
                    assert pg_count(pg_url, table) == rows, f"{mode}: wrong row count"
                    pg_drop(pg_url, table)
            else:
                entry["error"] = (done.stderr.strip().splitlines() or ["?"])[-1][:300]
            print(f"  {label(rows)} {mode}: {entry}", flush=True)
            results.append(entry)
        for path in scratch.glob(f"segments_{rows}*"):
            path.unlink()
    return results


def table(results: list[dict]) -> str:
    what = {
        "postgres": "segbot write-back, PostgreSQL (COPY, new table + swap)",
        "parquet": "segbot write-back, Parquet (temp + rename)",
        "csv": "segbot write-back, CSV (temp + rename)",
        "sqlite": "segbot write-back, SQLite (executemany, new table + swap)",
        "to_sql": "pandas `to_sql` into PostgreSQL (default method, chunksize 10k)",
        "to_sql_multi": 'pandas `to_sql` into PostgreSQL (`method="multi"`, chunksize 10k)',
    }
    lines = [
        "| rows | what | wall time | peak RSS | rows/s |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        if not r["ok"]:
            lines.append(f"| {label(r['rows'])} | {what[r['mode']]} | failed | | |")
            continue
        rate = r["rows"] / r["wall_s"] if r["wall_s"] else float("nan")
        lines.append(
            f"| {label(r['rows'])} | {what[r['mode']]} | {r['wall_s']:.1f} s | "
            f"{r['peak_mb']:.0f} MB | {rate:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100k", help="comma-separated sizes, e.g. 1m,10m")
    parser.add_argument("--modes", default=",".join(MODES), help=f"some of {', '.join(MODES)}")
    parser.add_argument("--pg-url", default=os.environ.get("SEGBOT_TEST_PG_URL"))
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--out", default=str(OUT / "write_back"), help="writes .md and .json")
    args = parser.parse_args()
    rows_list = [parse_size(r) for r in args.rows.split(",")]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    print(f"write-back benchmark: {args.rows} rows; load {load_average():.2f}", flush=True)
    results = run(rows_list, modes, args.pg_url, args.timeout)
    text = table(results)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2], Path(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        main()
