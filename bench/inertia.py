"""Final inertia of a trained version against `KMeans(n_init=10)` on the same matrix.

    python bench/inertia.py --data customers.parquet --model-dir DIR [--json out.json]

Both inertias are computed in one space: the version's own feature pipeline
applied to every row of the data (the matrix segbot clustered), in float64.
"ours" is the sum of squared distances from each row to its nearest centre of
the served version; "reference" is scikit-learn's `KMeans(k, n_init=10)` fitted
on all rows of that matrix at the same k, the way the seed code fitted its final
model. A ratio of 1.003 means segbot's segments are 0.3% less tight.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def inertia(x, centers, chunk: int = 500_000) -> float:
    import numpy as np

    centers = np.asarray(centers, dtype=np.float64)
    total = 0.0
    for start in range(0, len(x), chunk):
        block = np.asarray(x[start : start + chunk], dtype=np.float64)
        d = ((block[:, None, :] - centers[None, :, :]) ** 2).sum(2)
        total += float(d.min(1).sum())
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    args = ap.parse_args(argv)

    import numpy as np
    from sklearn.cluster import KMeans

    from model import LoadedVersion, Registry, Settings, load_dataset, transform

    registry = Registry(Path(args.model_dir))
    version = LoadedVersion.load(registry.path(registry.served()))
    pipeline = version.model.sklearn
    dataset = load_dataset(Settings(_env_file=None, SEGBOT_DATA=args.data))
    x = transform(pipeline.named_steps["features"], dataset.frame).astype(np.float64)
    del dataset
    km = pipeline.named_steps["kmeans"]
    k = km.n_clusters
    ours = inertia(x, km.cluster_centers_)
    t = time.perf_counter()
    ref = KMeans(n_clusters=k, n_init=args.n_init, random_state=args.seed).fit(x)
    took = time.perf_counter() - t
    result = {
        "rows": len(x),
        "k": k,
        "ours": ours,
        "reference": float(ref.inertia_),
        "ratio": ours / float(ref.inertia_),
        "reference_fit_s": round(took, 2),
        "reference_n_iter": int(ref.n_iter_),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
