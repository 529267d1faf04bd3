"""Choosing k and fitting KMeans so it stays fast at millions of rows.

k is chosen on a sample (elbow + silhouette); the final model starts from the
sample's best centres and runs Lloyd's iterations on every row, which lands
within a fraction of a percent of a full-data `KMeans(n_init=10)`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.cluster import KMeans

SELECT_SAMPLE = 30_000  # rows used to try each k
SILHOUETTE_SAMPLE = 3_000  # silhouette is O(n²): a sample keeps it ~0.05 s per k
ELBOW_N_INIT = 3
FINAL_N_INIT = 10


@dataclass
class KChoice:
    k: int
    reason: str
    ks: list[int]
    inertias: list[float]  # per k, on the selection sample
    silhouettes: dict[int, float]
    knee: int | None
    sample_rows: int
    centers: dict[int, np.ndarray] = field(repr=False, default_factory=dict)


def sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def _kmeans(k: int, n_init: int, seed: int, init: np.ndarray | str = "k-means++") -> KMeans:
    return KMeans(
        n_clusters=k,
        n_init=n_init if isinstance(init, str) else 1,
        init=init,
        random_state=seed,
        max_iter=300,
    )


def _fit(km: KMeans, x: np.ndarray) -> KMeans:
    with warnings.catch_warnings():
        # Duplicate points (rounded data) can leave fewer distinct clusters than k;
        # sklearn warns and still returns a usable model.
        warnings.simplefilter("ignore", category=UserWarning)
        return km.fit(x)


def silhouette(
    x: np.ndarray, labels: np.ndarray, sample: int = SILHOUETTE_SAMPLE, seed: int = 0
) -> float | None:
    """Mean silhouette on a random sample, as `sklearn.metrics.silhouette_score` with
    `sample_size` defines it, but with one float32 matrix product per block instead of
    sklearn's float64 row loop: ~10x faster, which matters when it runs for every k."""
    rows = sample_rows(len(x), sample, seed)
    xs = np.asarray(x[rows], dtype=np.float32)
    codes, lab = np.unique(labels[rows], return_inverse=True)
    k = len(codes)
    if k < 2 or k >= len(xs):
        return None
    onehot = np.zeros((len(xs), k), dtype=np.float32)
    onehot[np.arange(len(xs)), lab] = 1.0
    counts = onehot.sum(0)
    sq = (xs * xs).sum(1)
    sums = np.empty((len(xs), k), dtype=np.float64)
    for start in range(0, len(xs), 2048):
        block = xs[start : start + 2048]
        d = sq[start : start + len(block), None] + sq[None, :] - 2.0 * (block @ xs.T)
        np.sqrt(np.maximum(d, 0, out=d), out=d)
        sums[start : start + len(block)] = d @ onehot
    own = counts[lab]
    with np.errstate(invalid="ignore", divide="ignore"):
        a = sums[np.arange(len(xs)), lab] / np.maximum(own - 1, 1)
        mean_other = sums / counts[None, :]
        mean_other[np.arange(len(xs)), lab] = np.inf
        b = mean_other.min(1)
        score = (b - a) / np.maximum(a, b)
    score = np.where(own > 1, np.nan_to_num(score), 0.0)
    return float(score.mean())


def find_knee(ks: list[int], inertias: list[float]) -> int | None:
    if len(ks) < 3:
        return None
    from kneed import KneeLocator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        knee = KneeLocator(ks, inertias, curve="convex", direction="decreasing").knee
    return int(knee) if knee is not None else None


def choose_k(x: np.ndarray, k_max: int, fixed_k: int | None, seed: int = 0) -> KChoice:
    """Elbow (inertia for k = 1..k_max) and silhouette on a sample; knee first."""
    rows = sample_rows(len(x), SELECT_SAMPLE, seed)
    xs = x[rows]
    k_max = max(1, min(k_max, len(xs) - 1))
    ks = [fixed_k] if fixed_k else list(range(1, k_max + 1))
    inertias, silhouettes, centers = [], {}, {}
    for k in ks:
        km = _fit(_kmeans(k, FINAL_N_INIT if fixed_k else ELBOW_N_INIT, seed), xs)
        inertias.append(float(km.inertia_))
        centers[k] = km.cluster_centers_
        if k >= 2:
            score = silhouette(xs, km.labels_, seed=seed)
            if score is not None:
                silhouettes[k] = score
    if fixed_k:
        sil = silhouettes.get(fixed_k)
        reason = f"k={fixed_k} was set" + (f" (silhouette {sil:.2f})" if sil is not None else "")
        return KChoice(fixed_k, reason, ks, inertias, silhouettes, None, len(xs), centers)

    knee = find_knee(ks, inertias)
    if knee is not None and knee >= 2:
        # The knee is rarely sharp: let the silhouette pick among its neighbours.
        near = [kk for kk in (knee - 1, knee, knee + 1) if kk in silhouettes]
        k = max(near, key=silhouettes.get) if near else knee
        reason = f"knee of the inertia curve at k={knee}"
        if k != knee:
            reason += f"; k={k} next to it separates better (silhouette {silhouettes[k]:.2f}"
            reason += f" vs {silhouettes[knee]:.2f})" if knee in silhouettes else ")"
        elif k in silhouettes:
            reason += f" (silhouette {silhouettes[k]:.2f})"
    elif silhouettes:
        k = max(silhouettes, key=silhouettes.get)
        reason = f"no clear knee; best silhouette {silhouettes[k]:.2f} at k={k}"
    else:
        k = 1
        reason = "too few distinct customers for more than one segment"
    return KChoice(k, reason, ks, inertias, silhouettes, knee, len(xs), centers)


def fit_final(x: np.ndarray, k: int, seed: int = 0) -> KMeans:
    """Small data: KMeans(n_init=10) on all rows. Large data: best of n_init=10 on
    a sample, then Lloyd on every row from those centres."""
    if len(x) <= SELECT_SAMPLE:
        return _fit(_kmeans(k, FINAL_N_INIT, seed), x)
    rows = sample_rows(len(x), SELECT_SAMPLE, seed + 1)
    start = _fit(_kmeans(k, FINAL_N_INIT, seed), x[rows]).cluster_centers_
    return _fit(_kmeans(k, 1, seed, init=start), x)


def distances(km: KMeans, x: np.ndarray, chunk: int = 1_000_000):
    """Own segment label, distance to it, and the runner-up's label and distance."""
    n = len(x)
    label = np.empty(n, dtype=np.int16)
    second = np.empty(n, dtype=np.int16)
    d1 = np.empty(n, dtype=np.float32)
    d2 = np.empty(n, dtype=np.float32)
    centers = km.cluster_centers_.astype(np.float32)
    for start in range(0, n, chunk):
        block = x[start : start + chunk]
        d = _sq_dist(block, centers)
        if centers.shape[0] == 1:
            order = np.zeros((len(block), 1), dtype=np.intp)
        else:
            order = np.argpartition(d, 1, axis=1)[:, :2]
            swap = np.take_along_axis(d, order[:, :1], 1) > np.take_along_axis(d, order[:, 1:], 1)
            order = np.where(swap, order[:, ::-1], order)
        end = start + len(block)
        label[start:end] = order[:, 0]
        d1[start:end] = np.sqrt(np.take_along_axis(d, order[:, :1], 1)[:, 0])
        if centers.shape[0] > 1:
            second[start:end] = order[:, 1]
            d2[start:end] = np.sqrt(np.take_along_axis(d, order[:, 1:2], 1)[:, 0])
        else:
            second[start:end] = -1
            d2[start:end] = np.nan
    return label, d1, second, d2


def _sq_dist(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2 * x @ centers.T + (centers * centers).sum(1)[None, :]
    return np.maximum(d, 0, out=d)
