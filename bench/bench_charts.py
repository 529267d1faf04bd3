"""How long rendering a version's charts takes, at 5k and 1M customers.

    python bench/bench_charts.py [--rows 5000,1000000] [--repeats 5]

For each size: synthetic customers (make_blobs), scaled, KMeans fitted on all
rows, the elbow computed on a 20k sample, then the ChartInput built the way the
trainer does it (including `chart_sample` over every row's label). Only
`chart_sample` and `render_all` are timed (median of --repeats runs); data
generation and KMeans are not. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import silhouette_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model import MAX_POINTS, ChartInput, ChartSegment, chart_sample, render_all

FEATURES = [
    "age",
    "annual_income",
    "spending_score",
    "orders_per_year",
    "avg_basket",
    "tenure_years",
]
SCALE = np.array([8.0, 15_000.0, 12.0, 3.0, 40.0, 1.5])
OFFSET = np.array([40.0, 60_000.0, 50.0, 10.0, 120.0, 4.0])
NAMES = [
    "High-Income Shoppers",
    "Budget Regulars",
    "Young Big Spenders",
    "Careful Seniors",
    "New Customers",
]


def fit_model(rows: int, k: int = 5, seed: int = 0) -> dict:
    """Synthetic customers, scaled and clustered: what the trainer has after fitting."""
    x, _ = make_blobs(
        n_samples=rows, n_features=len(FEATURES), centers=k, cluster_std=1.6, random_state=seed
    )
    original = x * SCALE + OFFSET
    mu, sd = original.mean(0), original.std(0)
    scaled = (original - mu) / sd
    rng = np.random.default_rng(seed)
    sample = scaled[rng.choice(rows, size=min(rows, 20_000), replace=False)]
    ks = list(range(1, 11))
    inertias, silhouettes = [], {}
    for kk in ks:
        fit = KMeans(n_clusters=kk, n_init=1, random_state=seed).fit(sample)
        inertias.append(float(fit.inertia_))
        if kk >= 2:
            silhouettes[kk] = float(
                silhouette_score(sample, fit.labels_, sample_size=3000, random_state=seed)
            )
    km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(scaled)
    labels = km.labels_.astype(np.int64)
    counts = np.bincount(labels, minlength=k)
    sums = np.stack(
        [np.bincount(labels, weights=original[:, j], minlength=k) for j in range(len(FEATURES))],
        axis=1,
    )
    means = sums / counts[:, None]
    return {
        "k": k,
        "scaled": scaled,
        "labels": labels,
        "counts": counts,
        "centroids": km.cluster_centers_,
        "ks": ks,
        "inertias": inertias,
        "silhouettes": silhouettes,
        "means": means,
        "mu": mu,
        "sd": sd,
    }


def chart_input(model: dict, idx: np.ndarray) -> ChartInput:
    """The ChartInput for a fitted model, drawing the rows `idx` (from chart_sample)."""
    k = model["k"]
    return ChartInput(
        version="v1",
        trained_at="2026-11-27T08:30:00+00:00",
        segments=[
            ChartSegment(id=j, name=NAMES[j], size=int(model["counts"][j])) for j in range(k)
        ],
        ks=model["ks"],
        inertias=model["inertias"],
        silhouettes=model["silhouettes"],
        chosen_k=k,
        k_reason=f"knee of the inertia curve at k={k} (silhouette {model['silhouettes'][k]:.2f})",
        points=model["scaled"][idx],
        point_segments=model["labels"][idx],
        centroids=model["centroids"],
        feature_names=FEATURES,
        profile_features=FEATURES,
        profile_z=(model["means"] - model["mu"]) / model["sd"],
        profile_means=model["means"],
        profile_overall=model["mu"],
    )


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="5000,1000000", help="comma-separated sizes")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(v) for v in args.rows.split(",")]

    lines = [
        "| customers | points drawn | chart_sample (median) | render_all (median) "
        "| elbow / clusters / profiles PNG |",
        "|---:|---:|---:|---:|---|",
    ]
    for rows in sizes:
        t0 = time.perf_counter()
        model = fit_model(rows)
        setup = time.perf_counter() - t0
        labels = model["labels"]
        t_sample, idx = median_time(lambda labels=labels: chart_sample(labels, MAX_POINTS), 5)
        inp = chart_input(model, idx)
        with tempfile.TemporaryDirectory() as tmp:
            t_render, paths = median_time(
                lambda tmp=tmp, inp=inp: render_all(Path(tmp), inp), args.repeats
            )
            sizes_kb = " / ".join(f"{paths[n].stat().st_size / 1024:.0f} KB" for n in paths)
        print(f"{rows:,} rows: data + KMeans setup {setup:.1f} s (not timed)", file=sys.stderr)
        lines.append(
            f"| {rows:,} | {len(idx):,} | {t_sample * 1000:.1f} ms | {t_render:.2f} s "
            f"| {sizes_kb} |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
