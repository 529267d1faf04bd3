"""Big files in: 10M purchases to per-customer features, and 10M customers loaded.

    python bench/bench_transactions.py --rows 10000000 [--customers 10000000]
        [--repeats 3] [--csv] [--dir bench/.data]

Files are generated once and cached in --dir: a purchase log of --rows rows
(`model.data.sample_transactions.write_transactions`, Parquet, seed 42) and
--customers synthetic customers (`segbot sample-data`, Parquet; 0 skips them).
Each measurement runs in a fresh Python process, --repeats times; the table
gives the median wall time and the median peak RSS of that process
(``VmHWM``, which includes the ~150 MB of Python, pandas and pyarrow
themselves: the "imports only" row).

Rows measured, all in the same run so they share the machine's load:

- segbot, read + customer_features: `model.data.load`'s reader (only the id, date,
  amount and quantity columns) and `model.data.transactions.customer_features`;
- segbot, load_dataset: the whole path `segbot train` takes before training
  (the above plus validation and the content digest);
- pandas groupby: the obvious code, `pd.read_parquet` of every column,
  `pd.to_datetime`, `groupby(id).agg(...)`, for the same features and rules
  (its result is checked against segbot's, unless --no-check);
- segbot, load_dataset of the customers file (and of CSV copies with --csv).

Prints a Markdown table.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 42


# --------------------------------------------------------------------------- children


def _peak_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss over
    exec from the parent, which here has generated the files."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_imports(path: str) -> dict:
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    from model import customer_features, read_raw  # noqa: F401  (their modules' imports)

    return {"seconds": 0.0}


def child_features(path: str) -> dict:
    from model import Settings, customer_features, read_raw

    settings = Settings(_env_file=None, data=path, data_kind="transactions")
    started = time.perf_counter()
    raw = read_raw(settings)
    read = time.perf_counter() - started
    table = customer_features(raw.frame, settings, where=raw.where, source=raw.source)
    return {
        "seconds": time.perf_counter() - started,
        "read_seconds": read,
        "customers": len(table),
    }


def child_load(path: str, kind: str) -> dict:
    from model import Settings, load_dataset

    settings = Settings(_env_file=None, data=path, data_kind=kind)
    started = time.perf_counter()
    data = load_dataset(settings)
    return {"seconds": time.perf_counter() - started, "customers": data.rows}


def pandas_features(path: str):
    """Per-customer features the way most of us would first write them."""
    import pandas as pd

    df = pd.read_parquet(path)
    df["date"] = pd.to_datetime(df["date"])
    df["day"] = df["date"].dt.normalize()
    as_of = df["day"].max()
    purchases = df[df["amount"] >= 0]
    out = purchases.groupby("customer_id").agg(
        first=("day", "min"), last=("day", "max"), frequency=("day", "nunique")
    )
    everyone = df.groupby("customer_id")
    out = everyone["amount"].sum().clip(lower=0).rename("monetary_total").to_frame().join(out)
    signed = df["quantity"].abs().where(df["amount"] >= 0, -df["quantity"].abs())
    out["items"] = signed.groupby(df["customer_id"]).sum().clip(lower=0)
    out["frequency"] = out["frequency"].fillna(0)
    out["recency_days"] = (as_of - out["last"]).dt.days
    out["tenure_days"] = (as_of - out["first"]).dt.days
    out["avg_order_value"] = (out["monetary_total"] / out["frequency"]).where(
        out["frequency"] > 0, 0.0
    )
    return out


def child_pandas(path: str) -> dict:
    started = time.perf_counter()
    out = pandas_features(path)
    return {"seconds": time.perf_counter() - started, "customers": len(out)}


def child_check(path: str) -> dict:
    """segbot's features against the pandas ones, customer by customer."""
    import numpy as np

    from model import PURCHASE_FEATURES as FEATURES
    from model import Settings, customer_features, read_raw

    settings = Settings(
        _env_file=None, data=path, data_kind="transactions", features=",".join(FEATURES)
    )
    raw = read_raw(settings)
    ours = customer_features(raw.frame, settings).set_index("customer_id")
    del raw
    theirs = pandas_features(path).loc[ours.index]
    # pandas has no purchase day for returns-only customers; segbot dates them by
    # their returns (module doc): compare everyone else on every feature.
    bought = theirs["frequency"] > 0
    worst = {}
    for name in FEATURES:
        a = ours.loc[bought, name].to_numpy(dtype=float)
        b = theirs.loc[bought, name].to_numpy(dtype=float)
        worst[name] = float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))
    return {
        "seconds": 0.0,
        "customers": len(ours),
        "same_customers": bool(set(ours.index) == set(pandas_features(path).index)),
        "worst_relative_difference": worst,
    }


CHILDREN = {
    "imports": child_imports,
    "features": child_features,
    "load-transactions": lambda path: child_load(path, "transactions"),
    "load-customers": lambda path: child_load(path, "customers"),
    "pandas": child_pandas,
    "check": child_check,
}


# --------------------------------------------------------------------------- parent


def run_child(mode: str, path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--path", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} on {path} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ensure_files(args: argparse.Namespace) -> dict[str, Path]:
    from model import write_sample, write_transactions

    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    files = {"transactions": folder / f"transactions_{args.rows}_seed{SEED}.parquet"}
    if args.customers:
        files["customers"] = folder / f"customers_{args.customers}_seed{SEED}.parquet"
    if args.csv:
        files["transactions_csv"] = files["transactions"].with_suffix(".csv")
        if args.customers:
            files["customers_csv"] = files["customers"].with_suffix(".csv")
    for key, path in files.items():
        if path.exists():
            continue
        started = time.perf_counter()
        if key.startswith("transactions"):
            write_transactions(path, rows=args.rows, seed=SEED)
        else:
            write_sample(path, rows=args.customers, seed=SEED)
        print(
            f"wrote {path} ({path.stat().st_size / 2**20:,.0f} MB) "
            f"in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
    return files


def measure(mode: str, path: Path, repeats: int) -> dict:
    runs = []
    for _ in range(repeats):
        runs.append(run_child(mode, path))
        print(f"  {mode} {path.name}: {runs[-1]}", file=sys.stderr)
    out = dict(runs[-1])
    out["seconds"] = statistics.median(r["seconds"] for r in runs)
    out["peak_mb"] = statistics.median(r["peak_mb"] for r in runs)
    out["all_seconds"] = [round(r["seconds"], 2) for r in runs]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="purchases")
    parser.add_argument("--customers", type=int, default=10_000_000, help="0 skips them")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--csv", action="store_true", help="also load CSV copies")
    parser.add_argument("--no-check", action="store_true", help="skip the result check")
    parser.add_argument("--no-baseline", action="store_true", help="skip pandas groupby")
    parser.add_argument("--dir", default=str(ROOT / "bench" / ".data"))
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = CHILDREN[args.child](args.path)
        result["peak_mb"] = _peak_mb()
        print(json.dumps(result))
        return 0

    files = ensure_files(args)
    tx = files["transactions"]
    rows: list[tuple[str, str, dict]] = []
    rows.append(("Python + pandas + pyarrow imports only", "", measure("imports", tx, 1)))
    rows.append(
        (
            f"segbot: read + customer_features, {args.rows:,} purchases",
            "Parquet",
            measure("features", tx, args.repeats),
        )
    )
    rows.append(
        (
            f"segbot: load_dataset, {args.rows:,} purchases",
            "Parquet",
            measure("load-transactions", tx, args.repeats),
        )
    )
    if not args.no_baseline:
        rows.append(
            (
                f"pandas groupby, {args.rows:,} purchases",
                "Parquet",
                measure("pandas", tx, args.repeats),
            )
        )
    if "transactions_csv" in files:
        rows.append(
            (
                f"segbot: load_dataset, {args.rows:,} purchases",
                "CSV",
                measure("load-transactions", files["transactions_csv"], args.repeats),
            )
        )
    if "customers" in files:
        rows.append(
            (
                f"segbot: load_dataset, {args.customers:,} customers",
                "Parquet",
                measure("load-customers", files["customers"], args.repeats),
            )
        )
    if "customers_csv" in files:
        rows.append(
            (
                f"segbot: load_dataset, {args.customers:,} customers",
                "CSV",
                measure("load-customers", files["customers_csv"], args.repeats),
            )
        )

    print(
        f"\n{args.rows:,} purchases ({tx.stat().st_size / 2**20:,.0f} MB Parquet), "
        f"median of {args.repeats} runs, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    print("| what | file | customers | median time (s) | runs (s) | peak RSS (MB) |")
    print("|---|---|---:|---:|---|---:|")
    for what, kind, r in rows:
        customers = f"{r['customers']:,}" if "customers" in r else ""
        runs = ", ".join(f"{s:.2f}" for s in r["all_seconds"]) if kind else ""
        seconds = f"{r['seconds']:.2f}" if kind else ""
        print(f"| {what} | {kind} | {customers} | {seconds} | {runs} | {r['peak_mb']:,.0f} |")
    features = rows[1][2]
    print(
        f"\nread (Parquet to pandas) took {features['read_seconds']:.2f}s of the "
        f"{features['seconds']:.2f}s of read + customer_features (last run)."
    )
    if not args.no_baseline:
        base = rows[3][2]
        print(
            f"segbot read + features vs pandas groupby: "
            f"{base['seconds'] / features['seconds']:.1f}x faster, "
            f"{base['peak_mb'] / features['peak_mb']:.1f}x less peak memory."
        )
        if not args.no_check:
            check = run_child("check", tx)
            worst = check["worst_relative_difference"]
            print(
                f"check against pandas: same customers: {check['same_customers']}; "
                "worst relative difference per feature: "
                + ", ".join(f"{name} {value:.1e}" for name, value in worst.items())
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
