"""The training stages every engine shares, each a function from named inputs to a
named output: match -> profile -> name -> describe -> score -> compare -> save ->
metadata. An engine (local: `model.training.train`; Spark: `model.training.spark_engine`) only
produces the `EngineFit`; `model.training.train.train_version` runs the rest in order.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from model.config import Settings
from model.data.labels import NONE as NO_LABELS
from model.data.labels import Labels
from model.features import as_float32
from model.training import pipeline as feat
from model.training import selection
from model.training.naming import (
    Naming,
    TextTrait,
    apply_overrides,
    flag_traits,
    load_overrides,
    name_segments,
    noun_for,
    true_in_units,
)
from model.training.text_shares import (
    FeatureShares,
    chart_columns,
    distinct_traits,
    segment_text,
    text_shares,
)
from model.versions.version import (
    PIPELINE_STEPS,
    TEXT_CODES,
    LoadedVersion,
    as_keys,
    common_rows,
    fixed_width_ids,
    save_assignments,
)

if TYPE_CHECKING:
    from model.data.load import Dataset

MATCH_MAX = 1.5  # scaled units: farther than this, a cluster is a new segment
QUALITY_SAMPLE = 30_000
MEDIAN_SAMPLE = 200_000


@dataclass
class EngineFit:
    """What a training engine hands the shared stages (matching, naming, quality,
    files, charts): the fitted feature pipeline and KMeans, and each row's own and
    runner-up cluster with distances, rows in the dataset's order.

    The local engine computes these in this process (`model.training.train`); the Spark
    engine (`model.training.spark_engine`) on a cluster."""

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


# --------------------------------------------------------------------------- match


@dataclass
class Matched:
    """Stage `match`: each cluster's stable segment id (cluster i is `ids[i]`)."""

    ids: list[int]
    next_id: int  # the next unused segment id
    size_before: dict[int, int]  # segment id -> its size in the previous version
    segment_of_cluster: np.ndarray  # int16, indexed by cluster
    segment_of_row: np.ndarray  # int16, each row's segment id, rows in the dataset's order


def match(fit: EngineFit, previous: LoadedVersion | None) -> Matched:
    ids, next_id, before = match_segments(previous, fit.transformer, fit.km.cluster_centers_)
    of_cluster = np.array(ids, dtype=np.int16)
    return Matched(ids, next_id, before, of_cluster, of_cluster[fit.label])


def match_segments(
    previous: LoadedVersion | None, transformer, centers: np.ndarray
) -> tuple[list[int], int, dict[int, int]]:
    """Stable ids for the new clusters: Hungarian assignment against the previous
    version's centroids (mapped through the new pipeline). Returns the id of each
    new cluster, the next unused id, and new id -> previous cluster size."""
    k = len(centers)
    if previous is None:
        return list(range(1, k + 1)), k + 1, {}
    prev_segments = previous.metadata.segments
    rows = [{**s.centroid, **s.mode} for s in prev_segments]
    frame = pd.DataFrame(rows, columns=list(transformer.feature_names_in_))
    prev_scaled = feat.transform(transformer, frame)
    cost = np.linalg.norm(centers[:, None, :] - prev_scaled[None, :, :], axis=2)
    r, c = linear_sum_assignment(cost)
    next_id = previous.metadata.next_segment_id  # defaults to one past the largest id
    ids: list[int | None] = [None] * k
    before: dict[int, int] = {}
    for i, j in zip(r, c, strict=True):
        if cost[i, j] <= MATCH_MAX:
            ids[i] = prev_segments[j].id
            before[ids[i]] = prev_segments[j].size
    out = []
    for i in range(k):
        if ids[i] is None:
            ids[i] = next_id
            next_id += 1
        out.append(int(ids[i]))
    return out, next_id, before


# --------------------------------------------------------------------------- profile


@dataclass
class Profiles:
    """Stage `profile`: what each cluster looks like (rows of the arrays: clusters)."""

    columns: list[np.ndarray]  # each numeric feature as float64, NaN missing
    sizes: np.ndarray
    means: np.ndarray  # (k, numeric) in original units
    overall: np.ndarray  # population mean of each numeric feature
    medians: pd.DataFrame | None  # of a sample, by cluster
    overall_median: np.ndarray  # of the same sample, each numeric feature
    modes: dict[str, pd.Series]  # per text feature, by cluster
    centroid: dict[str, np.ndarray]  # KMeans centres in original units
    z: np.ndarray  # (k, numeric) the centres in scaled units
    shares: list[FeatureShares]  # text values' shares per cluster
    text_traits: list[list]  # per cluster, the text values it stands out on
    flags: list[str]  # numeric columns that are yes/no flags


def profile(dataset: Dataset, fit: EngineFit, seed: int) -> Profiles:
    k, label, centers = fit.choice.k, fit.label, fit.km.cluster_centers_
    columns = [float_column(dataset.frame, c) for c in dataset.numeric]
    sums, counts = label_sums(columns, label.astype(np.intp), k)
    med_rows = selection.sample_rows(dataset.rows, MEDIAN_SAMPLE, seed)
    sample = dataset.frame.iloc[med_rows]
    grouped = sample.assign(_label=label[med_rows]).groupby("_label")
    scaled_order = feat.numeric_order(fit.transformer)
    shares = text_shares(dataset.frame, dataset.categorical, label, k)
    return Profiles(
        columns=columns,
        sizes=np.bincount(label, minlength=k),
        means=_ratio(sums, counts),
        overall=_ratio(sums.sum(0), counts.sum(0)),
        medians=grouped[dataset.numeric].median() if dataset.numeric else None,
        overall_median=sample[dataset.numeric].median().to_numpy(dtype=float),
        modes={
            c: grouped[c].agg(lambda s: s.mode().iloc[0] if s.notna().any() else None)
            for c in dataset.categorical
        },
        centroid=feat.to_original(fit.transformer, centers),
        z=(
            np.column_stack([centers[:, scaled_order.index(c)] for c in dataset.numeric])
            if dataset.numeric
            else np.zeros((k, 0))
        ),
        shares=shares,
        text_traits=distinct_traits(shares, k),
        flags=feat.flag_columns(dict(zip(dataset.numeric, columns, strict=True))),
    )


def label_sums(
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


def float_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric feature as float64 with NaN for missing; no copy when it already is."""
    return frame[name].to_numpy(dtype=np.float64, na_value=np.nan, copy=False)


# --------------------------------------------------------------------------- name


def name(
    dataset: Dataset,
    profiles: Profiles,
    ids: list[int],
    names_file: Path | None,
    labels: Labels = NO_LABELS,
) -> list[Naming]:
    """Stage `name`: a name, an action and traits per cluster; a names file wins.
    Names and actions read the labels; the traits keep the raw column names."""
    p = profiles
    log_kind = dataset.kind == "transactions"
    # 0/1 flags are named like text values ("Senior-Citizen"), not as high/low numbers
    plain = [j for j, c in enumerate(dataset.numeric) if c not in p.flags]
    flagged = flag_traits(p.means, p.overall, dataset.numeric, p.flags)
    texts = [
        [
            TextTrait(
                labels.column(t.feature), labels.value(t.feature, t.value), t.share, t.overall
            )
            for t in p.text_traits[i] + flagged[i]
        ]
        for i in range(len(ids))
    ]
    shown = [labels.column(c) for c in dataset.numeric]
    typical = (
        p.medians.reindex(range(len(ids)))[dataset.numeric].to_numpy(dtype=float)
        if p.medians is not None
        else np.full(p.means.shape, np.nan)
    )
    z = true_in_units(p.z, typical, p.overall_median, shown, log_kind, dataset.log)
    namings = name_segments(
        z[:, plain],
        [shown[j] for j in plain],
        noun=noun_for(shown, purchase_log=log_kind),
        purchase_log=log_kind,
        text_traits=texts,
    )
    if labels:
        namings = [
            Naming(n.name, n.action, [labels.raw_trait(t) for t in n.traits]) for n in namings
        ]
    return apply_overrides(namings, ids, load_overrides(names_file))


# --------------------------------------------------------------------------- describe


def describe(
    dataset: Dataset, profiles: Profiles, matched: Matched, namings: list[Naming]
) -> list[dict[str, Any]]:
    """Stage `describe`: the metadata's segments, by stable id."""
    p, ids, n = profiles, matched.ids, dataset.rows
    segments = []
    for i in sorted(range(len(ids)), key=lambda i: ids[i]):
        segments.append(
            {
                "id": ids[i],
                "cluster": i,
                "name": namings[i].name,
                "action": namings[i].action,
                "traits": namings[i].traits,
                "size": int(p.sizes[i]),
                "share": clean(p.sizes[i] / n),
                "mean": {c: clean(p.means[i, j]) for j, c in enumerate(dataset.numeric)},
                "median": {
                    c: clean(p.medians.loc[i, c])
                    if p.medians is not None and i in p.medians.index
                    else None
                    for c in dataset.numeric
                },
                "centroid": {c: clean(p.centroid[c][i]) for c in dataset.numeric},
                "z": {c: clean(p.z[i, j], 4) for j, c in enumerate(dataset.numeric)},
                "mode": {
                    c: (None if p.modes[c].get(i) is None else str(p.modes[c].get(i)))
                    for c in dataset.categorical
                },
                "text": segment_text(p.shares, i, p.text_traits[i]),
                "size_before": matched.size_before.get(ids[i]),
            }
        )
    return segments


def k_selection(choice: selection.KChoice, settings: Settings) -> dict[str, Any]:
    """How k was chosen, as the metadata keeps it."""
    return {
        "method": "fixed" if settings.fixed_k else "auto",
        "k_min": settings.k_min,
        "k_max": settings.k_max,
        "ks": choice.ks,
        "inertias": [clean(v, 2) for v in choice.inertias],
        "silhouettes": {str(kk): clean(v, 4) for kk, v in choice.silhouettes.items()},
        "knee": choice.knee,
        "reason": choice.reason,
        "sample_rows": choice.sample_rows,
    }


def elbow_fields(
    version: str, trained_at: str, k_selected: dict[str, Any], k: int
) -> dict[str, Any]:
    """`model.charts.version_charts.Elbow` fields: known as soon as k is chosen."""
    return {
        "version": version,
        "trained_at": trained_at,
        "ks": k_selected["ks"],
        "inertias": k_selected["inertias"],
        "silhouettes": {int(kk): v for kk, v in k_selected["silhouettes"].items() if v is not None},
        "chosen_k": k,
        "k_reason": k_selected["reason"],
        "k_min": k_selected["k_min"] if k_selected["method"] == "auto" else 1,
    }


def chart_fields(
    version: str,
    trained_at: str,
    segments: list[dict[str, Any]],
    k_selected: dict[str, Any],
    dataset: Dataset,
    fit: EngineFit,
    profiles: Profiles,
    matched: Matched,
    labels: Labels,
    rows: np.ndarray,
) -> dict[str, Any]:
    """`version_charts.ChartInput` fields as plain values (segments as (id, name, size)),
    for the cluster chart's `rows`: built without importing matplotlib, so they can
    be sent to the chart worker. Columns and values in `labels`."""
    p = profiles
    order = [s["cluster"] for s in segments]
    fields = {
        **elbow_fields(version, trained_at, k_selected, fit.choice.k),
        "segments": [(s["id"], s["name"], s["size"]) for s in segments],
        "points": fit.points(rows),
        "point_segments": matched.segment_of_row[rows],
        "centroids": fit.km.cluster_centers_[order],
        "feature_names": [str(n) for n in fit.transformer.get_feature_names_out()],
        "profile_features": list(dataset.numeric),
        "profile_z": p.z[order],
        "profile_means": p.means[order],
        "profile_overall": p.overall if dataset.numeric else None,
        "profile_flags": p.flags,
        # the features behind each name stay on the chart, however many columns there are
        "profile_keep": list(
            dict.fromkeys(
                t.rsplit(" ", 1)[0].split("=", 1)[0] for s in segments for t in s["traits"][:2]
            )
        ),
        # share columns of text values
        **chart_columns(p.shares, p.text_traits, order),
    }
    return labelled_chart_fields(fields, labels, dataset.categorical)


def labelled_chart_fields(fields: dict[str, Any], labels: Labels, categorical: list[str]):
    """`chart_fields` with every column and value a person reads in labels."""
    if not labels:
        return fields
    col = labels.column
    return {
        **fields,
        "feature_names": [labels.transformed(n, categorical) for n in fields["feature_names"]],
        "profile_features": [col(c) for c in fields["profile_features"]],
        "profile_flags": [col(c) for c in fields["profile_flags"]],
        "profile_keep": [col(c) for c in fields["profile_keep"]],
        "profile_text": [(col(f), labels.value(f, v)) for f, v in fields["profile_text"]],
    }


# --------------------------------------------------------------------------- score


def score(fit: EngineFit, n: int, seed: int) -> dict[str, float | None]:
    """Stage `score`: quality metrics on a sample of the scaled rows."""
    q_rows = selection.sample_rows(n, QUALITY_SAMPLE, seed + 2)
    xq, lq = fit.points(q_rows), fit.label[q_rows]
    multi = len(np.unique(lq)) >= 2
    return {
        "silhouette": clean(selection.silhouette(xq, lq, 5_000, seed), 4) if multi else None,
        "calinski_harabasz": clean(calinski_harabasz_score(xq, lq), 2) if multi else None,
        "davies_bouldin": clean(davies_bouldin_score(xq, lq), 4) if multi else None,
        "inertia": clean(fit.km.inertia_, 2),
    }


# --------------------------------------------------------------------------- compare


@dataclass
class IdOrder:
    """Assignments are stored in id order; customer files are often sorted already."""

    sort: np.ndarray | None  # the permutation that sorts the rows, None if sorted
    keys: np.ndarray  # the ids as stored (fixed width), sorted

    @classmethod
    def of(cls, ids) -> IdOrder:
        sort = _id_sort(ids)
        return cls(sort, fixed_width_ids(ids if sort is None else ids.take(sort)))

    def apply(self, a: np.ndarray) -> np.ndarray:
        return a if self.sort is None else a[self.sort]


def _id_sort(ids) -> np.ndarray | None:
    """The permutation that sorts the ids (Arrow strings, bytewise), or None when
    they are in order already (a check 20x cheaper than the sort)."""
    import pyarrow.compute as pc

    if len(ids) < 2 or pc.all(pc.greater(ids[1:], ids[:-1])).as_py():
        return None
    return pc.sort_indices(ids).to_numpy()


def compare(previous: LoadedVersion | None, order: IdOrder, matched: Matched) -> dict[str, Any]:
    """Stage `compare`: movers and ARI against the previous version, on the
    customers present in both, and what it had that this one has not."""
    segs = order.apply(matched.segment_of_row)
    if previous is None:
        out = {"previous": None, "moved": None, "moved_share": None, "ari": None, "common": 0}
    else:
        out = _movers(previous, order.keys, segs)
    out.update(
        k_before=previous.metadata.k if previous else None,
        silhouette_before=previous.metadata.quality.silhouette if previous else None,
        removed=[
            s.name
            for s in (previous.metadata.segments if previous else [])
            if s.id not in matched.ids
        ],
    )
    return out


def _movers(previous: LoadedVersion, keys: np.ndarray, segs: np.ndarray) -> dict[str, Any]:
    p_keys, p_segs = as_keys(previous.keys), np.asarray(previous.segments)
    if len(p_keys) == len(keys) and p_keys.dtype == keys.dtype and np.array_equal(p_keys, keys):
        a, b = p_segs, segs
    else:
        ia, ib = common_rows(p_keys, keys)
        a, b = p_segs[ia], segs[ib]
    moved = int((a != b).sum())
    return {
        "previous": previous.name,
        "common": len(a),
        "moved": moved,
        "moved_share": clean(moved / len(a)) if len(a) else None,
        "ari": clean(ari(a, b)) if len(a) else None,
    }


def ari(a: np.ndarray, b: np.ndarray) -> float:
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


# --------------------------------------------------------------------------- save


def save(
    out_dir: Path, fit: EngineFit, profiles: Profiles, matched: Matched, order: IdOrder
) -> None:
    """Stage `save`: every customer's assignment, distances, values and text codes
    in id order, and the fitted pipeline."""
    n = len(fit.label)
    of_cluster = matched.segment_of_cluster
    runner_up = np.where(fit.second >= 0, of_cluster[np.maximum(fit.second, 0)], -1)
    dist = np.empty((n, 2), dtype=np.float32)
    dist[:, 0], dist[:, 1] = order.apply(fit.d1), order.apply(fit.d2)
    values = np.empty((n, len(profiles.columns)), dtype=np.float32)
    for j, col in enumerate(profiles.columns):
        values[:, j] = order.apply(col)
    save_assignments(
        out_dir,
        ids=order.keys,
        segments=order.apply(matched.segment_of_row),
        runner_up=order.apply(runner_up.astype(np.int16)),
        distances=dist,
        values=values,
    )
    del dist, values
    if profiles.shares:  # each customer's text values (index into "text_levels"; -1 missing)
        codes = np.column_stack([order.apply(fs.codes) for fs in profiles.shares])
        np.save(out_dir / TEXT_CODES, codes, allow_pickle=False)
        del codes
    stored = copy.copy(fit.km)
    del stored.labels_  # one label per training row: 40 MB at 10M that predict never reads
    steps = (fit.transformer, FunctionTransformer(as_float32), stored)
    pipeline = Pipeline(list(zip(PIPELINE_STEPS, steps, strict=True)))
    joblib.dump(pipeline, out_dir / "pipeline.joblib")


# --------------------------------------------------------------------------- metadata


def metadata(
    *,
    version: str,
    trained_at: str,
    dataset: Dataset,
    settings: Settings,
    previous: LoadedVersion | None,
    fit: EngineFit,
    profiles: Profiles,
    matched: Matched,
    segments: list[dict[str, Any]],
    k_selected: dict[str, Any],
    quality: dict[str, Any],
    comparison: dict[str, Any],
    charts: dict[str, str],
    timings: dict[str, float],
    labels: Labels = NO_LABELS,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """Stage `metadata`: the version's metadata.json, held back as a candidate when
    a guardrail says so."""
    meta: dict[str, Any] = {
        "version": version,
        "trained_at": trained_at,
        "status": "served",
        "source": {"description": dataset.source, "digest": dataset.digest, "kind": dataset.kind},
        "rows": dataset.rows,
        "engine": fit.engine,
        "id_column": settings.id_column,
        "features": [*dataset.numeric, *dataset.categorical],
        "numeric": dataset.numeric,
        "categorical": dataset.categorical,
        "log_columns": feat.log_columns(fit.transformer),
        "flags": profiles.flags,
        "text_levels": {fs.feature: fs.levels for fs in profiles.shares},
        "labels": labels.columns,
        "value_labels": labels.values,
        "notes": list(notes or []),
        "k": fit.choice.k,
        "k_selection": k_selected,
        "quality": quality,
        "segments": segments,
        "next_segment_id": matched.next_id,
        "comparison": comparison,
        "timings": timings,
    }
    meta["guardrails"] = guardrails(meta, previous, settings)
    if meta["guardrails"]:
        meta["status"] = "candidate"
    meta["charts"] = charts
    return meta


def guardrails(meta: dict, previous: LoadedVersion | None, settings: Settings) -> list[str]:
    """Reasons to hold a new version back instead of serving it."""
    if previous is None:
        return []
    reasons = []
    before = previous.metadata.quality.silhouette
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
    k_before = previous.metadata.k
    if settings.fixed_k is None and abs(meta["k"] - k_before) > 1:
        reasons.append(f"k jumped from {k_before} to {meta['k']}")
    return reasons


def clean(x: float | None, digits: int = 6) -> float | None:
    """A finite float rounded for JSON; None for missing, NaN or infinite."""
    if x is None:
        return None
    x = float(x)
    return None if not np.isfinite(x) else round(x, digits)
