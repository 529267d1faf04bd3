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
SMALL_SAMPLE = 2_000  # up to this many rows, k is chosen with FINAL_N_INIT restarts
# A neighbour of the knee must separate this much better to replace it: smaller
# differences are the noise of the restarts and of the silhouette's sample.
SILHOUETTE_MARGIN = 0.01
FINAL_N_INIT = 10
LLOYD_TOL = 1e-4  # KMeans' default tol: relative to the mean variance of the columns


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
    smallest: dict[int, float] = field(default_factory=dict)  # per k, its smallest cluster's share


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
    return SampledSilhouette(x, sample, seed, keep=False).score(labels)


class SampledSilhouette:
    """`silhouette` for many labelings of the same rows (one per k while choosing k).

    The sample's pairwise distances do not depend on the labels: with `keep` they
    are computed once (36 MB for 3,000 rows) and each further k costs one
    matrix product instead of recomputing every distance."""

    BLOCK = 1024

    def __init__(self, x: np.ndarray, sample: int = SILHOUETTE_SAMPLE, seed: int = 0, keep=True):
        self.rows = sample_rows(len(x), sample, seed)
        self.xs = np.asarray(x[self.rows], dtype=np.float32)
        self.sq = (self.xs * self.xs).sum(1)
        self.keep = keep
        self._blocks: list[np.ndarray] = []

    def _distance_blocks(self):
        if self._blocks:
            yield from self._blocks
            return
        xs, sq = self.xs, self.sq
        for start in range(0, len(xs), self.BLOCK):
            block = xs[start : start + self.BLOCK]
            d = block @ xs.T  # then |a|² + |b|² - 2ab in place: one (block, n) array
            d *= -2.0
            d += sq[start : start + len(block), None]
            d += sq[None, :]
            np.sqrt(np.maximum(d, 0, out=d), out=d)
            if self.keep:
                self._blocks.append(d)
            yield d

    def score(self, labels: np.ndarray) -> float | None:
        xs = self.xs
        codes, lab = np.unique(np.asarray(labels)[self.rows], return_inverse=True)
        k = len(codes)
        if k < 2 or k >= len(xs):
            return None
        onehot = np.zeros((len(xs), k), dtype=np.float32)
        onehot[np.arange(len(xs)), lab] = 1.0
        counts = onehot.sum(0)
        sums = np.empty((len(xs), k), dtype=np.float64)
        start = 0
        for d in self._distance_blocks():
            sums[start : start + len(d)] = d @ onehot
            start += len(d)
        return _silhouette_mean(sums, counts, lab)


def _silhouette_mean(sums: np.ndarray, counts: np.ndarray, lab: np.ndarray) -> float:
    """Mean silhouette from each point's summed distance to every cluster."""
    own = counts[lab]
    rows = np.arange(len(sums))
    with np.errstate(invalid="ignore", divide="ignore"):
        a = sums[rows, lab] / np.maximum(own - 1, 1)
        mean_other = sums / counts[None, :]
        mean_other[rows, lab] = np.inf
        b = mean_other.min(1)
        score = (b - a) / np.maximum(a, b)
    score = np.where(own > 1, np.nan_to_num(score), 0.0)
    return float(score.mean())


def find_knee(ks: list[int], inertias: list[float]) -> int | None:
    """The knee of a decreasing, convex inertia curve: Kneedle (Satopää et al. 2011)
    as `kneed.KneeLocator(ks, inertias, curve="convex", direction="decreasing")`
    computes it with its defaults (S=1, no smoothing, first knee), in a few lines of
    numpy: importing kneed pulls in scipy.signal, ~1 s of every `segbot train`.
    A test checks both give the same knee."""
    if len(ks) < 3:
        return None
    x = np.array(ks)
    y = np.array(inertias, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_norm = (x - x.min()) / (x.max() - x.min())
        y_norm = (y - y.min()) / (y.max() - y.min())
        y_norm = y_norm.max() - y_norm  # convex & decreasing -> concave & increasing
        diff = y_norm - x_norm
        # local extrema as scipy.signal.argrelextrema(order=1, mode="clip") finds them
        before = np.concatenate([diff[:1], diff[:-1]])
        after = np.concatenate([diff[1:], diff[-1:]])
        maxima = np.flatnonzero((diff >= before) & (diff >= after))
        minima = np.flatnonzero((diff <= before) & (diff <= after))
        if not maxima.size:
            return None
        thresholds = diff[maxima] - np.abs(np.diff(x_norm).mean())
    max_seen = 0
    threshold, threshold_index = 0.0, 0
    detecting = True
    for i in range(maxima[0], len(diff) - 1):
        if i in maxima:
            threshold, threshold_index = thresholds[max_seen], i
            max_seen += 1
            detecting = True
        if i in minima:
            threshold = 0.0
            detecting = False
        if detecting and diff[i + 1] < threshold:
            return int(x[threshold_index])
    return None


def choose_k(
    x: np.ndarray,
    k_max: int,
    fixed_k: int | None,
    seed: int = 0,
    k_min: int = 3,
    min_share: float = 0.0,
) -> KChoice:
    """Elbow (inertia for k = 1..k_max) and silhouette on a sample; `auto` picks
    within k_min..k_max: the knee, or the better separated of its neighbours, and
    then only a k whose every cluster holds at least `min_share` of the sample."""
    rows = sample_rows(len(x), SELECT_SAMPLE, seed)
    # float64: sklearn's k-means++ measures float32 distances by upcasting them in
    # small chunks, a third of the time of these fits; on 30k rows the cast is free
    xs = np.asarray(x[rows], dtype=np.float64)
    k_max = max(1, min(k_max, len(xs) - 1))
    # The whole curve from k=1 even when auto starts higher: the knee needs it.
    ks = [fixed_k] if fixed_k else list(range(1, k_max + 1))
    inertias, silhouettes, centers, smallest = [], {}, {}, {}
    scorer = SampledSilhouette(xs, SILHOUETTE_SAMPLE, seed)
    # Small tables: a bad k-means++ restart can move the knee or a silhouette and
    # change k with the seed (Mall data: k=4 for seed 2, 5 otherwise); restarts
    # there cost little. The 30k sample of a big table is stable with 3.
    n_init = FINAL_N_INIT if fixed_k or len(xs) <= SMALL_SAMPLE else ELBOW_N_INIT
    for k in ks:
        km = _fit(_kmeans(k, n_init, seed), xs)
        inertias.append(float(km.inertia_))
        centers[k] = km.cluster_centers_
        smallest[k] = float(np.bincount(km.labels_, minlength=k).min() / len(xs))
        if k >= 2:
            score = scorer.score(km.labels_)
            if score is not None:
                silhouettes[k] = score
    if fixed_k:
        sil = silhouettes.get(fixed_k)
        reason = f"k={fixed_k} was set" + (f" (silhouette {sil:.2f})" if sil is not None else "")
        return KChoice(fixed_k, reason, ks, inertias, silhouettes, None, len(xs), centers, smallest)
    knee = find_knee(ks, inertias)
    hi = _largest_useful_k(xs, k_max)
    k, reason = _pick(knee, silhouettes, k_min, hi)
    k, reason = clear_floor(k, reason, smallest, silhouettes, range(k_min, hi + 1), min_share)
    return KChoice(k, reason, ks, inertias, silhouettes, knee, len(xs), centers, smallest)


def percent(share: float) -> str:
    """0.01 -> "1%", 0.005 -> "0.5%"."""
    return f"{share * 100:.2f}".rstrip("0").rstrip(".") + "%"


def clear_floor(
    k: int,
    reason: str,
    smallest: dict[int, float],
    silhouettes: dict[int, float],
    tried: range,
    floor: float,
) -> tuple[int, str]:
    """`k`, or the nearest k tried whose every segment holds at least `floor` of
    the customers (the better separated on a tie): a segment of a handful of
    far-out customers is no one's marketing target, and once served it would hold
    every later retrain back. When every k leaves one, `k` (the final fit then
    folds the small segments into their neighbours: `without_crumbs`)."""
    if floor <= 0 or not tried or k not in smallest or smallest[k] >= floor:
        return k, reason
    crumb = f"k={k} leaves a segment of {percent(smallest[k])} of customers, under the "
    crumb += f"{percent(floor)} floor"
    ok = [kk for kk in tried if smallest.get(kk, 0.0) >= floor]
    if not ok:  # far-out customers split off at every k: they join a segment (`without_crumbs`)
        return k, (
            f"{reason}; every k from {tried[0]} to {tried[-1]} leaves a segment under the "
            f"{percent(floor)} floor"
        )
    best = min(ok, key=lambda kk: (abs(kk - k), -silhouettes.get(kk, -1.0), kk))
    return best, f"{reason}; {crumb}, so k={best}"


def _largest_useful_k(xs: np.ndarray, k_max: int) -> int:
    """k_max, or fewer when the sample has fewer distinct rows (more would be empty)."""
    if len(xs) > 10 * k_max:
        return k_max  # cheap answer for any real table; np.unique sorts every row
    return max(1, min(k_max, len(np.unique(xs, axis=0))))


def _pick(knee: int | None, sil: dict[int, float], k_min: int, hi: int) -> tuple[int, str]:
    """k in k_min..hi and the reason in a marketer's words.

    Anchor on the knee (moved up to k_min when the curve bends below it); a
    neighbour inside the range replaces it only when its silhouette is clearly
    higher. The silhouette alone nearly always favours the fewest segments, so it
    only arbitrates next to the knee."""
    if hi < k_min:
        k = hi
        if k <= 1:
            return 1, "too few distinct customers for more than one segment"
        return k, f"too few distinct customers for k={k_min}, the smallest k tried; k={k}"
    inside = {kk: v for kk, v in sil.items() if k_min <= kk <= hi}
    if knee is None:
        if not inside:
            return k_min, f"no clear knee; k={k_min}, the smallest k tried"
        k = max(inside, key=inside.get)
        return k, (
            f"no clear knee; best silhouette {inside[k]:.2f} at k={k} (tried k={k_min} to {hi})"
        )
    anchor = min(max(knee, k_min), hi)
    near = [kk for kk in (anchor - 1, anchor + 1) if kk in inside]
    k = anchor
    if near and anchor in inside:
        best = max(near, key=inside.get)
        if inside[best] >= inside[anchor] + SILHOUETTE_MARGIN:
            k = best
    elif near:
        k = max(near, key=inside.get)
    if knee < k_min:
        reason = f"the curve bends at k={knee}, below the smallest k tried ({k_min}); "
        reason += f"k={k} is the nearest" if k == anchor else f"k={k} separates better"
    elif knee > hi:
        reason = f"the curve bends at k={knee}, above the largest useful k ({hi}); k={k}"
    else:
        reason = f"knee of the inertia curve at k={knee}"
        if k != knee:
            reason += f"; k={k} next to it separates better"
    if k in inside:
        if k != anchor and anchor in inside:
            reason += f" (silhouette {inside[k]:.2f} vs {inside[anchor]:.2f})"
        else:
            reason += f" (silhouette {inside[k]:.2f})"
    return k, reason


def fit_final(x: np.ndarray, k: int, seed: int = 0) -> KMeans:
    """Small data: KMeans(n_init=10) on all rows. Large data: best of n_init=10 on
    a sample, then Lloyd on every row from those centres."""
    return fit_final_with_distances(x, k, seed)[0]


def fit_final_with_distances(x: np.ndarray, k: int, seed: int = 0):
    """`fit_final` and `distances` of every row to its result, sharing the last pass."""
    if len(x) <= SELECT_SAMPLE:
        km = _fit(_kmeans(k, FINAL_N_INIT, seed), x)
        return km, distances(km, x)
    rows = sample_rows(len(x), SELECT_SAMPLE, seed + 1)
    xs = np.asarray(x[rows], dtype=np.float64)  # float64: see choose_k
    start = _fit(_kmeans(k, FINAL_N_INIT, seed), xs).cluster_centers_
    # sklearn's stopping rule: centres moved less than tol x the mean variance
    # (estimated on the sample rather than another pass over every row)
    tol = LLOYD_TOL * float(np.mean(np.var(xs, axis=0, dtype=np.float64)))
    centers, n_iter = lloyd(x, start, tol)
    label, d1, second, d2 = distances_to(centers, x)
    inertia = float(np.dot(d1.astype(np.float64), d1.astype(np.float64)))
    km = fitted_kmeans(centers, seed)
    km.labels_, km.inertia_, km.n_iter_ = label.astype(np.int32), inertia, n_iter
    return km, (label, d1, second, d2)


def without_crumbs(
    x: np.ndarray, km: KMeans, found, choice: KChoice, floor: float, seed: int = 0, k_min: int = 2
):
    """`km` and its `distances` on x, or, when a cluster holds less than `floor` of
    the rows, the fit from the other centres (Lloyd's iterations on every row):
    its customers join their nearest segment rather than be served as one. Repeated
    until none is that small, never below `k_min` segments; `choice` gets the new k
    and says why."""
    label, folded = found[0], 0
    while floor > 0 and len(km.cluster_centers_) > 1:
        counts = np.bincount(label, minlength=len(km.cluster_centers_))
        keep = counts >= floor * len(x)
        if keep.all() or keep.sum() < min(k_min, len(keep)):
            break  # a floor too high for k_min segments: the retrain guardrail says so
        folded += int(counts[~keep].sum())
        tol = LLOYD_TOL * float(np.mean(np.var(x, axis=0, dtype=np.float64)))
        centers, n_iter = lloyd(x, km.cluster_centers_[keep], tol)
        found = distances_to(centers, x)
        label, d1 = found[0], found[1]
        km = fitted_kmeans(centers, seed)
        km.labels_ = label.astype(np.int32)
        km.inertia_ = float(np.dot(d1.astype(np.float64), d1.astype(np.float64)))
        km.n_iter_ = n_iter
    if folded:
        choice.k = len(km.cluster_centers_)
        who = "customer" if folded == 1 else "customers"
        choice.reason += (
            f"; {folded:,} far-out {who} joined their nearest segment rather than be "
            f"one of their own (k={choice.k})"
        )
    return km, found


def lloyd(
    x: np.ndarray, centers: np.ndarray, tol: float, max_iter: int = 300, chunk: int = 131_072
) -> tuple[np.ndarray, int]:
    """Lloyd's iterations on every row of x from `centers`, as sklearn's
    `KMeans(init=centers, n_init=1)` runs them (stop when no row changes cluster or
    the centres move less than `tol`), without its per-fit overhead on big data: a
    full copy of x, the mean subtracted and added back, the variance of every
    column. Each pass is one float32 product per chunk of rows; the new centres
    are summed per chunk and accumulated in float64. An empty cluster keeps its
    centre (sklearn would move it to a far point; from a good start on millions of
    rows this does not happen).

    Used rather than `KMeans(algorithm="lloyd", init=centers, n_init=1)`: with the
    runner-up pass both need, 1.3x faster at 1M and 10M
    rows and ~1/5 of the extra memory (10M: +116 MB against +533 MB, scikit-learn's
    copy of x), same iterations, inertia equal to 0.002% (bench/bench_lloyd.py,
    BENCHMARKS.md)."""
    centers = np.asarray(centers, dtype=np.float64)
    k, _ = centers.shape
    n = len(x)
    previous = np.full(n, -1, dtype=np.int16)
    eye = np.eye(k, dtype=np.float32)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is returned)
        c32 = centers.astype(np.float32)
        minus_two_ct = np.ascontiguousarray(-2.0 * c32.T)
        cc = (c32 * c32).sum(1)
        sums = np.zeros_like(centers)
        counts = np.zeros(k, dtype=np.int64)
        changed = 0
        for start in range(0, n, chunk):
            block = x[start : start + chunk]
            d = block @ minus_two_ct  # |x|² is the same for every centre: not needed
            d += cc
            lab = d.argmin(1)
            before = previous[start : start + len(block)]
            changed += int(np.count_nonzero(lab != before))
            before[:] = lab
            counts += np.bincount(lab, minlength=k)
            sums += eye[lab].T @ block
        moved = centers.copy()
        filled = counts > 0
        moved[filled] = sums[filled] / counts[filled, None]
        shift = float(((moved - centers) ** 2).sum())
        centers = moved
        if changed == 0 or shift <= tol:
            break
    return centers.astype(np.float32), n_iter


def fitted_kmeans(centers: np.ndarray, seed: int) -> KMeans:
    """A fitted `KMeans` whose centres are `centers`: fitted on the centres
    themselves (each its own cluster), then given them exactly, so predict and
    transform behave as for any KMeans fitted by scikit-learn."""
    centers = np.asarray(centers, dtype=np.float32)
    km = _fit(_kmeans(len(centers), 1, seed, init=centers), centers)
    km.cluster_centers_ = centers.copy()
    return km


def distances(km: KMeans, x: np.ndarray, chunk: int = 262_144):
    """Own segment label, distance to it, and the runner-up's label and distance."""
    return distances_to(km.cluster_centers_, x, chunk)


def distances_to(centers: np.ndarray, x: np.ndarray, chunk: int = 262_144):
    """`distances` to given centres. Squared distances by one float32 matrix product
    per chunk (256k rows: the (chunk, k) block stays small), then two argmins:
    cheaper than a partial sort of every row."""
    n = len(x)
    label = np.empty(n, dtype=np.int16)
    second = np.empty(n, dtype=np.int16)
    d1 = np.empty(n, dtype=np.float32)
    d2 = np.empty(n, dtype=np.float32)
    centers = np.asarray(centers, dtype=np.float32)
    k = centers.shape[0]
    cc = (centers * centers).sum(1)
    minus_two_ct = np.ascontiguousarray(-2.0 * centers.T, dtype=np.float32)
    for start in range(0, n, chunk):
        block = x[start : start + chunk]
        end = start + len(block)
        rows = np.arange(len(block))
        d = block @ minus_two_ct
        d += np.einsum("ij,ij->i", block, block)[:, None]
        d += cc[None, :]
        np.maximum(d, 0, out=d)
        own = d.argmin(1)
        label[start:end] = own
        d1[start:end] = np.sqrt(d[rows, own])
        if k > 1:
            d[rows, own] = np.inf
            runner = d.argmin(1)
            second[start:end] = runner
            d2[start:end] = np.sqrt(d[rows, runner])
        else:
            second[start:end] = -1
            d2[start:end] = np.nan
    return label, d1, second, d2
