"""The seed-style baseline: segmentation as a notebook does it, without segbot's core.

    python bench/baseline.py --data customers.parquet [--k-max 10] [--json out.json]

pandas `read_parquet` (or `read_csv` for a .csv) of the whole file, every numeric column but the id,
median imputation, `StandardScaler`, then `KMeans(n_init=10)` for k = 1..k_max on
all rows (the elbow), k at the knee of that curve, and a final `KMeans(n_init=10)`
fit at that k. float64 throughout, as pandas and scikit-learn give it.

Progress is written after every k (``--json`` is rewritten each time), so a run
stopped by a time cap still says how far it got and how long each k took.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

# The same OpenMP setting segbot uses (model/__init__.py): without it KMeans' worker
# threads spin-wait and the baseline would look slower than it is on shared cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a customers .parquet or .csv file")
    ap.add_argument("--id-column", default="customer_id")
    ap.add_argument("--k-max", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the timings and inertias here (after every k)")
    args = ap.parse_args(argv)

    started = time.perf_counter()
    import numpy as np
    import pandas as pd
    from kneed import KneeLocator
    from sklearn.cluster import KMeans
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    result: dict = {"data": args.data, "k_max": args.k_max, "elbow": []}

    def save() -> None:
        result["seconds"] = round(time.perf_counter() - started, 3)
        if args.json:
            tmp = Path(args.json).with_suffix(".tmp")
            tmp.write_text(json.dumps(result, indent=2))
            os.replace(tmp, args.json)

    result["import_s"] = round(time.perf_counter() - started, 3)
    t = time.perf_counter()
    # what a notebook does with the file it was given
    df = pd.read_csv(args.data) if args.data.endswith(".csv") else pd.read_parquet(args.data)
    result["read_s"] = round(time.perf_counter() - t, 3)

    t = time.perf_counter()
    numeric = [
        c for c in df.columns if c != args.id_column and pd.api.types.is_numeric_dtype(df[c].dtype)
    ]
    x = SimpleImputer(strategy="median").fit_transform(df[numeric])
    x = StandardScaler().fit_transform(x)
    result.update(rows=len(df), features=numeric, prepare_s=round(time.perf_counter() - t, 3))
    save()

    inertias = []
    for k in range(1, args.k_max + 1):
        t = time.perf_counter()
        km = KMeans(n_clusters=k, n_init=10, random_state=args.seed).fit(x)
        inertias.append(float(km.inertia_))
        result["elbow"].append(
            {"k": k, "seconds": round(time.perf_counter() - t, 3), "inertia": km.inertia_}
        )
        save()
        print(f"k={k}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        knee = KneeLocator(
            list(range(1, args.k_max + 1)), inertias, curve="convex", direction="decreasing"
        ).knee
    k = int(knee) if knee is not None else 3
    t = time.perf_counter()
    km = KMeans(n_clusters=k, n_init=10, random_state=args.seed).fit(x)
    result.update(
        k=k,
        final_s=round(time.perf_counter() - t, 3),
        final_inertia=float(km.inertia_),
        sizes=np.bincount(km.labels_).tolist(),
        done=True,
    )
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
