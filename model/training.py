"""Train one version: features -> k -> KMeans -> identities -> names -> files.

`train_version` writes everything into a staging folder; the registry renames
it into place. Nothing here decides what is served.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import gc
import json
import logging
import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from model import features as feat
from model import selection
from model.config import Settings
from model.naming import (
    apply_overrides,
    flag_traits,
    load_overrides,
    name_segments,
    noun_for,
)
from model.text_shares import chart_columns, distinct_traits, segment_text, text_shares
from model.version import LoadedVersion, fixed_width_ids, save_assignments
from model.version import as_keys as _as_keys
from model.version import common_rows as _common_rows

if TYPE_CHECKING:
    from model.load import Dataset

Progress = Callable[[str, float], None]
log = logging.getLogger(__name__)

# At exit, CPython's last garbage collections walk every object the imports made:
# 0.3-0.4 s of every `segbot train` with scikit-learn loaded. Nothing left then
# needs the cyclic GC (open files are closed by refcounting or the OS), so skip it.
atexit.register(gc.freeze)

CHART_WORKER = True  # draw charts in a second process (False: in this one)
MATCH_MAX = 1.5  # scaled units: farther than this, a cluster is a new segment
QUALITY_SAMPLE = 30_000
MEDIAN_SAMPLE = 200_000
TEXT_CODES = "text.npy"  # (n, text features) int16, rows in id order: each customer's values


def _noop(stage: str, fraction: float) -> None:
    pass


class Laps:
    """Seconds per training stage: `lap("fit")` records the time since the last lap."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self._t, 3)
        self._t = now


@dataclass
class EngineFit:
    """What a training engine hands the shared stages (matching, naming, quality,
    files, charts): the fitted feature pipeline and KMeans, and each row's own and
    runner-up cluster with distances, rows in the dataset's order.

    The local engine computes these in this process (`_fit_local`); the Spark
    engine (`model.spark_engine`) on a cluster."""

    transformer: Any  # fitted ColumnTransformer: the stored pipeline's first step
    choice: selection.KChoice
    km: Any  # fitted sklearn KMeans holding the final centres; inertia_ set
    label: np.ndarray
    d1: np.ndarray
    second: np.ndarray
    d2: np.ndarray
    points: Callable[[np.ndarray], np.ndarray]  # row numbers -> their scaled features
    engine: dict[str, Any] = field(default_factory=lambda: {"name": "local"})
    timings: dict[str, float] = field(default_factory=dict)


def _label_sums(
    columns: list[np.ndarray], labels: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per label and column: the sum and the count of the non-NaN values.

    One column at a time, straight from the frame's float64 arrays: no (n, f)
    float64 matrix is ever built (560 MB at 10M customers and 7 features). A
    missing value adds 0.0 to its label's sum, which leaves every sum exactly as
    skipping it would."""
    sums = np.zeros((k, len(columns)))
    counts = np.zeros((k, len(columns)), dtype=np.int64)
    sizes = np.bincount(labels, minlength=k)
    for j, col in enumerate(columns):
        nan = np.isnan(col)
        if nan.any():
            sums[:, j] = np.bincount(labels, weights=np.where(nan, 0.0, col), minlength=k)
            counts[:, j] = sizes - np.bincount(labels[nan], minlength=k)
        else:
            sums[:, j] = np.bincount(labels, weights=col, minlength=k)
            counts[:, j] = sizes
    return sums, counts


def _ratio(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _float_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric feature as float64 with NaN for missing; no copy when it already is."""
    return frame[name].to_numpy(dtype=np.float64, na_value=np.nan, copy=False)


def _clean(x: float | None, digits: int = 6) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if not np.isfinite(x) else round(x, digits)


def match_segments(
    previous: LoadedVersion | None, transformer, centers: np.ndarray
) -> tuple[list[int], int, dict[int, int]]:
    """Stable ids for the new clusters: Hungarian assignment against the previous
    version's centroids (mapped through the new pipeline). Returns the id of each
    new cluster, the next unused id, and new id -> previous cluster size."""
    k = len(centers)
    if previous is None:
        return list(range(1, k + 1)), k + 1, {}
    prev_segments = previous.meta["segments"]
    rows = [{**s["centroid"], **s.get("mode", {})} for s in prev_segments]
    frame = pd.DataFrame(rows, columns=list(transformer.feature_names_in_))
    prev_scaled = feat.transform(transformer, frame)
    cost = np.linalg.norm(centers[:, None, :] - prev_scaled[None, :, :], axis=2)
    r, c = linear_sum_assignment(cost)
    next_id = int(previous.meta.get("next_segment_id", max(s["id"] for s in prev_segments) + 1))
    ids: list[int | None] = [None] * k
    before: dict[int, int] = {}
    for i, j in zip(r, c, strict=True):
        if cost[i, j] <= MATCH_MAX:
            ids[i] = int(prev_segments[j]["id"])
            before[ids[i]] = int(prev_segments[j]["size"])
    out = []
    for i in range(k):
        if ids[i] is None:
            ids[i] = next_id
            next_id += 1
        out.append(int(ids[i]))
    return out, next_id, before


def _ari(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index of two labelings by small non-negative ints (segment ids).

    sklearn's `adjusted_rand_score` formula on the same pair counts, but the
    contingency table is one `bincount` (its `np.unique` sorts cost ~2 s at 10M)."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if len(a) == 0:
        return 1.0
    if min(a.min(), b.min()) < 0:  # not ids: fall back to ranks
        a, b = np.unique(a, return_inverse=True)[1], np.unique(b, return_inverse=True)[1]
    width = int(b.max()) + 1
    table = np.bincount(a * width + b, minlength=(int(a.max()) + 1) * width).reshape(-1, width)
    n = len(a)
    sum_squares = int((table * table).sum())
    n_c, n_k = table.sum(1), table.sum(0)
    tp = sum_squares - n
    fp = int((table @ n_k).sum()) - sum_squares
    fn = int((table.T @ n_c).sum()) - sum_squares
    tn = n * n - fp - fn - sum_squares
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def _compare(previous: LoadedVersion | None, keys: np.ndarray, segs: np.ndarray) -> dict:
    """Movers and ARI on the customers present in both versions (`keys`: the new
    version's sorted ids as stored)."""
    if previous is None:
        return {"previous": None, "moved": None, "moved_share": None, "ari": None, "common": 0}
    p_keys, p_segs = _as_keys(previous.keys), np.asarray(previous.segments)
    if len(p_keys) == len(keys) and p_keys.dtype == keys.dtype and np.array_equal(p_keys, keys):
        a, b = p_segs, segs
    else:
        ia, ib = _common_rows(p_keys, keys)
        a, b = p_segs[ia], segs[ib]
    moved = int((a != b).sum())
    return {
        "previous": previous.name,
        "common": len(a),
        "moved": moved,
        "moved_share": _clean(moved / len(a)) if len(a) else None,
        "ari": _clean(_ari(a, b)) if len(a) else None,
    }


def guardrails(meta: dict, previous: LoadedVersion | None, settings: Settings) -> list[str]:
    """Reasons to hold a new version back instead of serving it."""
    if previous is None:
        return []
    reasons = []
    before = previous.meta["quality"].get("silhouette")
    after = meta["quality"].get("silhouette")
    if before is not None and after is not None and before - after > settings.max_silhouette_drop:
        reasons.append(
            f"silhouette fell from {before:.2f} to {after:.2f} "
            f"(more than {settings.max_silhouette_drop:.2f})"
        )
    small = [s for s in meta["segments"] if s["share"] < settings.min_segment_share]
    if small and meta["k"] > 1:
        s = small[0]
        reasons.append(f"segment {s['name']!r} holds only {s['share']:.1%} of customers")
    k_before = previous.meta["k"]
    if settings.fixed_k is None and abs(meta["k"] - k_before) > 1:
        reasons.append(f"k jumped from {k_before} to {meta['k']}")
    return reasons


def train_version(
    dataset: Dataset,
    settings: Settings,
    previous: LoadedVersion | None,
    out_dir: Path,
    version: str,
    progress: Progress | None = None,
    fit: EngineFit | None = None,
) -> dict[str, Any]:
    """Train (or, given an engine's `fit`, finish) one version into `out_dir`."""
    from threadpoolctl import threadpool_limits

    # One BLAS thread: our matrix products are small or memory-bound, and
    # OpenBLAS threads spin while they wait, so on 2 shared cores a second
    # thread made distances() 5x and the silhouette 2x slower, never faster.
    # (KMeans parallelises with OpenMP, which this leaves alone.)
    # gc.freeze: the ~200k objects made by importing scikit-learn, SciPy and pandas
    # are not garbage; while training, the cyclic GC's full collections skip them
    # (0.1 s at 1M customers). Unfrozen afterwards, so nothing is kept for good.
    gc.freeze()
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            return _train_version(dataset, settings, previous, out_dir, version, progress, fit)
    finally:
        gc.unfreeze()


def _train_version(
    dataset: Dataset,
    settings: Settings,
    previous: LoadedVersion | None,
    out_dir: Path,
    version: str,
    progress: Progress | None = None,
    fit: EngineFit | None = None,
) -> dict[str, Any]:
    progress = progress or _noop
    # Charts are drawn by a second process, started now so that importing
    # matplotlib and drawing overlap the training (see _ChartWorker).
    worker = _ChartWorker.start()
    try:
        return _train(dataset, settings, previous, out_dir, version, progress, worker, fit)
    finally:
        if worker is not None:
            worker.close()


def _train(
    dataset: Dataset,
    settings: Settings,
    previous: LoadedVersion | None,
    out_dir: Path,
    version: str,
    progress: Progress,
    worker: _ChartWorker | None,
    fit: EngineFit | None = None,
) -> dict[str, Any]:
    seed = settings.seed
    lap = Laps()
    timings = lap.timings

    if fit is None:
        fit = _fit_local(dataset, settings, progress, lap)
    else:
        timings.update(fit.timings)
    transformer, choice, km = fit.transformer, fit.choice, fit.km
    label, d1, second, d2, points = fit.label, fit.d1, fit.second, fit.d2, fit.points
    n = dataset.rows

    progress("naming segments", 0.75)
    k = choice.k
    seg_ids, next_id, before = match_segments(previous, transformer, km.cluster_centers_)
    label_to_segment = np.array(seg_ids, dtype=np.int16)
    seg_of_row = label_to_segment[label]
    if worker is not None:
        worker.request_sample(seg_of_row, seed)  # drawn while the segments are named
    columns = [_float_column(dataset.frame, c) for c in dataset.numeric]
    sums, counts = _label_sums(columns, label.astype(np.intp), k)
    means = _ratio(sums, counts)
    overall = _ratio(sums.sum(0), counts.sum(0))  # population mean of each feature
    sizes = np.bincount(label, minlength=k)
    med_rows = selection.sample_rows(n, MEDIAN_SAMPLE, seed)
    med_frame = dataset.frame.iloc[med_rows].assign(_label=label[med_rows])
    grouped = med_frame.groupby("_label")
    medians = grouped[dataset.numeric].median() if dataset.numeric else None
    modes = {
        c: grouped[c].agg(lambda s: s.mode().iloc[0] if s.notna().any() else None)
        for c in dataset.categorical
    }
    centroid = feat.to_original(transformer, km.cluster_centers_)
    scaled_order = feat.numeric_order(transformer)
    z = (
        np.column_stack([km.cluster_centers_[:, scaled_order.index(c)] for c in dataset.numeric])
        if dataset.numeric
        else np.zeros((k, 0))
    )
    shares = text_shares(dataset.frame, dataset.categorical, label, k)
    text_traits = distinct_traits(shares, k)  # per cluster i, what its text values stand out on
    flags = feat.flag_columns(dict(zip(dataset.numeric, columns, strict=True)))
    log_kind = dataset.kind == "transactions"
    # 0/1 flags are named like text values ("Senior-Citizen"), not as high/low numbers
    plain = [j for j, c in enumerate(dataset.numeric) if c not in flags]
    flagged = flag_traits(means, overall, dataset.numeric, flags)
    namings = name_segments(
        z[:, plain],
        [dataset.numeric[j] for j in plain],
        noun=noun_for(dataset.numeric, purchase_log=log_kind),
        purchase_log=log_kind,
        text_traits=[text_traits[i] + flagged[i] for i in range(k)],
    )
    namings = apply_overrides(namings, seg_ids, load_overrides(_names_file(settings)))

    order = sorted(range(k), key=lambda i: seg_ids[i])  # display order: by stable id
    segments = []
    for i in order:
        segments.append(
            {
                "id": seg_ids[i],
                "cluster": i,
                "name": namings[i].name,
                "action": namings[i].action,
                "traits": namings[i].traits,
                "size": int(sizes[i]),
                "share": _clean(sizes[i] / n),
                "mean": {c: _clean(means[i, j]) for j, c in enumerate(dataset.numeric)},
                "median": {
                    c: _clean(medians.loc[i, c])
                    if medians is not None and i in medians.index
                    else None
                    for c in dataset.numeric
                },
                "centroid": {c: _clean(centroid[c][i]) for c in dataset.numeric},
                "z": {c: _clean(z[i, j], 4) for j, c in enumerate(dataset.numeric)},
                "mode": {
                    c: (None if modes[c].get(i) is None else str(modes[c].get(i)))
                    for c in dataset.categorical
                },
                "text": segment_text(shares, i, text_traits[i]),
                "size_before": before.get(seg_ids[i]),
            }
        )
    k_selection = {
        "method": "fixed" if settings.fixed_k else "auto",
        "k_min": settings.k_min,
        "k_max": settings.k_max,
        "ks": choice.ks,
        "inertias": [_clean(v, 2) for v in choice.inertias],
        "silhouettes": {str(kk): _clean(v, 4) for kk, v in choice.silhouettes.items()},
        "knee": choice.knee,
        "reason": choice.reason,
        "sample_rows": choice.sample_rows,
    }
    trained_at = datetime.now(UTC).replace(microsecond=0).isoformat()

    def chart_input(rows: np.ndarray) -> dict[str, Any]:
        return _chart_input(
            version, trained_at, segments, k_selection, k, rows, seg_of_row, points, km,
            transformer, z, means, overall, dataset, flags,
            text=chart_columns(shares, text_traits, [s["cluster"] for s in segments]),
        )  # fmt: skip

    rendering = worker is not None and worker.request_render(out_dir, chart_input)
    lap("naming")

    progress("scoring and comparing", 0.82)
    q_rows = selection.sample_rows(n, QUALITY_SAMPLE, seed + 2)
    xq, lq = points(q_rows), label[q_rows]
    multi = len(np.unique(lq)) >= 2
    quality = {
        "silhouette": _clean(selection.silhouette(xq, lq, 5_000, seed), 4) if multi else None,
        "calinski_harabasz": _clean(calinski_harabasz_score(xq, lq), 2) if multi else None,
        "davies_bouldin": _clean(davies_bouldin_score(xq, lq), 4) if multi else None,
        "inertia": _clean(km.inertia_, 2),
    }
    # Assignments are stored in id order; customer files are often sorted already.
    sort = _id_order(dataset.id_array)

    def in_id_order(a: np.ndarray) -> np.ndarray:
        return a if sort is None else a[sort]

    keys = fixed_width_ids(dataset.id_array if sort is None else dataset.id_array.take(sort))
    sorted_segments = in_id_order(seg_of_row)
    comparison = _compare(previous, keys, sorted_segments)
    comparison.update(
        k_before=previous.meta["k"] if previous else None,
        silhouette_before=previous.meta["quality"].get("silhouette") if previous else None,
        removed=[
            s["name"]
            for s in (previous.meta["segments"] if previous else [])
            if s["id"] not in seg_ids
        ],
    )
    lap("compare")

    progress("saving", 0.88)
    runner_up = np.where(second >= 0, label_to_segment[np.maximum(second, 0)], -1)
    dist = np.empty((n, 2), dtype=np.float32)
    dist[:, 0], dist[:, 1] = in_id_order(d1), in_id_order(d2)
    values = np.empty((n, len(columns)), dtype=np.float32)
    for j, col in enumerate(columns):
        values[:, j] = in_id_order(col)
    save_assignments(
        out_dir,
        ids=keys,
        segments=sorted_segments,
        runner_up=in_id_order(runner_up.astype(np.int16)),
        distances=dist,
        values=values,
    )
    del dist, values
    if shares:  # each customer's text values (index into "text_levels"; -1 missing)
        codes = np.column_stack([in_id_order(fs.codes) for fs in shares])
        np.save(out_dir / TEXT_CODES, codes, allow_pickle=False)
        del codes
    stored = copy.copy(km)
    del stored.labels_  # one label per training row: 40 MB at 10M that predict never reads
    pipeline = Pipeline(
        [
            ("features", transformer),
            ("float32", FunctionTransformer(feat.as_float32)),
            ("kmeans", stored),
        ]
    )
    joblib.dump(pipeline, out_dir / "pipeline.joblib")
    meta: dict[str, Any] = {
        "version": version,
        "trained_at": trained_at,
        "status": "served",
        "source": {"description": dataset.source, "digest": dataset.digest, "kind": dataset.kind},
        "rows": n,
        "engine": fit.engine,
        "id_column": settings.id_column,
        "features": [*dataset.numeric, *dataset.categorical],
        "numeric": dataset.numeric,
        "categorical": dataset.categorical,
        "log_columns": feat.log_columns(transformer),
        "flags": flags,
        "text_levels": {fs.feature: fs.levels for fs in shares},
        "k": k,
        "k_selection": k_selection,
        "quality": quality,
        "segments": segments,
        "next_segment_id": next_id,
        "comparison": comparison,
        "timings": timings,
    }
    meta["guardrails"] = guardrails(meta, previous, settings)
    if meta["guardrails"]:
        meta["status"] = "candidate"
    lap("save")

    progress("drawing charts", 0.92)
    drawn = worker.result() if rendering else None
    if drawn is None:  # no worker, or it failed: draw here
        started = time.perf_counter()
        drawn = _render_here(out_dir, chart_input, seg_of_row, seed), time.perf_counter() - started
    meta["charts"], timings["charts_render"] = drawn[0], round(drawn[1], 3)
    lap("charts")
    meta["timings"] = timings
    # metadata.json last: a folder without it is not a version.
    (out_dir / "metadata.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    progress("done", 1.0)
    return meta


def _fit_local(dataset: Dataset, settings: Settings, progress: Progress, lap) -> EngineFit:
    """The local engine: features, k and KMeans on every row in this process."""
    seed = settings.seed
    progress("building features", 0.10)
    transformer = feat.fit_transformer(dataset.frame, dataset.numeric, dataset.categorical, seed)
    x = feat.transform(transformer, dataset.frame)
    lap("features")

    progress("choosing k", 0.25)
    choice = selection.choose_k(x, settings.k_max, settings.fixed_k, seed, k_min=settings.k_min)
    lap("choose_k")

    progress(f"fitting {choice.k} segments on {len(x):,} customers", 0.55)
    km, (label, d1, second, d2) = selection.fit_final_with_distances(x, choice.k, seed)
    lap("fit")
    return EngineFit(transformer, choice, km, label, d1, second, d2, x.__getitem__)


def _names_file(settings: Settings) -> Path | None:
    if settings.names_file is not None:
        return settings.names_file
    default = Path(settings.model_dir) / "names.toml"
    return default if default.exists() else None


def _id_order(ids) -> np.ndarray | None:
    """The permutation that sorts the ids (Arrow strings, bytewise), or None when
    they are in order already (a check 20x cheaper than the sort)."""
    import pyarrow.compute as pc

    if len(ids) < 2 or pc.all(pc.greater(ids[1:], ids[:-1])).as_py():
        return None
    return pc.sort_indices(ids).to_numpy()


def _chart_input(
    version, trained_at, segments, k_selection, k, rows, seg_of_row, points, km, transformer,
    z, means, overall, dataset, flags, text=None,
) -> dict[str, Any]:  # fmt: skip
    """`model.charts.ChartInput` fields as plain values (segments as (id, name, size)),
    so they can be built without importing matplotlib and sent to the chart worker."""
    by_cluster = {s["cluster"]: s for s in segments}
    order = [s["cluster"] for s in segments]
    return {
        "version": version,
        "trained_at": trained_at,
        "segments": [
            (by_cluster[i]["id"], by_cluster[i]["name"], by_cluster[i]["size"]) for i in order
        ],
        "ks": k_selection["ks"],
        "inertias": k_selection["inertias"],
        "silhouettes": {
            int(kk): v for kk, v in k_selection["silhouettes"].items() if v is not None
        },
        "chosen_k": k,
        "k_reason": k_selection["reason"],
        "k_min": k_selection["k_min"] if k_selection["method"] == "auto" else 1,
        "points": points(rows),
        "point_segments": seg_of_row[rows],
        "centroids": km.cluster_centers_[order],
        "feature_names": [str(n) for n in transformer.get_feature_names_out()],
        "profile_features": list(dataset.numeric),
        "profile_z": z[order],
        "profile_means": means[order],
        "profile_overall": overall if dataset.numeric else None,
        "profile_flags": flags,
        # the features behind each name stay on the chart, however many columns there are
        "profile_keep": list(
            dict.fromkeys(
                t.rsplit(" ", 1)[0].split("=", 1)[0] for s in segments for t in s["traits"][:2]
            )
        ),
        **(text or {}),  # share columns of text values (model.text_shares.chart_columns)
    }


def _render_here(out_dir: Path, chart_input, seg_of_row: np.ndarray, seed: int) -> dict[str, str]:
    """Draw the charts in this process (no worker, or the worker failed)."""
    from model import charts

    fields = chart_input(charts.chart_sample(seg_of_row, seed=seed))
    fields["segments"] = [charts.ChartSegment(*s) for s in fields["segments"]]
    paths = charts.render_all(out_dir, charts.ChartInput(**fields))
    return {name: path.name for name, path in paths.items()}


# The chart worker's program: import matplotlib and model.charts at once (while the
# trainer is busy), then answer two requests on stdin: "sample" (which rows the
# cluster chart draws) and "render" (write the PNGs). Messages are pickles with an
# 8-byte length in front.
_WORKER_PROGRAM = """
import os, pickle, struct, sys, time
import numpy as np
from model import charts

def send(obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.write(struct.pack("<Q", len(data)) + data)
    sys.stdout.buffer.flush()

def receive():
    head = sys.stdin.buffer.read(8)
    if len(head) < 8:
        sys.exit(0)
    return pickle.loads(sys.stdin.buffer.read(struct.unpack("<Q", head)[0]))

while True:
    job = receive()
    if os.getppid() != int(sys.argv[1]):  # the trainer is gone: draw nothing
        sys.exit(0)
    if job[0] == "sample":
        labels = np.load(job[1])
        os.unlink(job[1])
        send(charts.chart_sample(labels, seed=job[2]))
    else:
        started = time.perf_counter()
        fields = job[2]
        fields["segments"] = [charts.ChartSegment(*s) for s in fields["segments"]]
        paths = charts.render_all(job[1], charts.ChartInput(**fields))
        send(({name: p.name for name, p in paths.items()}, time.perf_counter() - started))
        break
"""


class _ChartWorker:
    """Draws a version's charts in a second Python process.

    Charts were a third of `segbot train` at 1M customers, and most of that was
    importing matplotlib and drawing, which need nothing from training but the
    final numbers. The worker starts with training and imports matplotlib while
    the trainer computes (on the other core); it picks the points of the cluster
    chart while segments are named, and draws while the trainer scores, sorts and
    saves. Any failure (no process, a crash, a timeout) makes the trainer draw the
    charts itself, as before: the result is the same files either way.
    """

    TIMEOUT = 600.0  # seconds for any one answer; drawing takes about one

    def __init__(self, proc: subprocess.Popen, log_file) -> None:
        self.proc = proc
        self.log_file = log_file
        self.labels_path: str | None = None
        self.broken = False

    @classmethod
    def start(cls) -> _ChartWorker | None:
        if not CHART_WORKER or os.name != "posix":
            return None
        root = str(Path(__file__).resolve().parents[1])  # where `model` is imported from
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        log_file = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER_PROGRAM, str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                env=env,
            )
        except OSError as exc:
            log_file.close()
            log.warning("cannot start the chart worker (%s); charts are drawn in process", exc)
            return None
        return cls(proc, log_file)

    def request_sample(self, seg_of_row: np.ndarray, seed: int) -> None:
        """Ask for the rows of the cluster chart (`chart_sample` over every row)."""
        try:
            fd, self.labels_path = tempfile.mkstemp(prefix="segbot-chart-", suffix=".npy")
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, seg_of_row, allow_pickle=False)
            self._send(("sample", self.labels_path, seed))
        except (OSError, ValueError) as exc:
            self._fail(f"sending the labels: {exc}")

    def request_render(self, out_dir: Path, chart_input) -> bool:
        """Send the chart input (with the sampled rows); False if the worker failed."""
        if self.broken:
            return False
        try:
            rows = self._receive()
            self._send(("render", str(out_dir), chart_input(rows)))
            return True
        except (OSError, EOFError, TimeoutError, pickle.PickleError, ValueError) as exc:
            self._fail(f"sampling the points: {exc}")
            return False

    def result(self) -> tuple[dict[str, str], float] | None:
        """(chart name -> file name, seconds spent drawing), or None if it failed."""
        try:
            charts, seconds = self._receive()
            return charts, seconds
        except (OSError, EOFError, TimeoutError, pickle.PickleError, ValueError) as exc:
            self._fail(f"drawing: {exc}")
            return None

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        self.log_file.close()
        if self.labels_path:
            with contextlib.suppress(OSError):
                os.unlink(self.labels_path)

    def _send(self, obj: object) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.write(struct.pack("<Q", len(data)) + data)
        self.proc.stdin.flush()

    def _receive(self) -> Any:
        (size,) = struct.unpack("<Q", self._read(8))
        return pickle.loads(self._read(size))

    def _read(self, n: int) -> bytes:
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + self.TIMEOUT
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError(f"no answer in {self.TIMEOUT:.0f} s")
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:
                raise EOFError("the chart worker exited")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _fail(self, what: str) -> None:
        self.broken = True
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log_file.seek(0)
        tail = self.log_file.read()[-2000:].decode("utf-8", "replace").strip()
        log.warning(
            "the chart worker failed while %s; drawing the charts in this process%s",
            what,
            f": {tail}" if tail else "",
        )
