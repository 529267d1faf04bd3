"""Train one version: features -> k -> KMeans -> identities -> names -> files.

`train_version` writes everything into a staging folder; the registry renames
it into place. Nothing here decides what is served.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from model import features as feat
from model import selection
from model.config import Settings
from model.naming import apply_overrides, load_overrides, name_segments
from model.version import LoadedVersion, save_assignments

if TYPE_CHECKING:
    from model.load import Dataset

Progress = Callable[[str, float], None]

MATCH_MAX = 1.5  # scaled units: farther than this, a cluster is a new segment
QUALITY_SAMPLE = 30_000
MEDIAN_SAMPLE = 200_000


def _noop(stage: str, fraction: float) -> None:
    pass


def _nanmeans(values: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per-label means ignoring NaN, without a copy per segment."""
    out = np.full((k, values.shape[1]), np.nan)
    for j in range(values.shape[1]):
        col = values[:, j]
        ok = ~np.isnan(col)
        sums = np.bincount(labels[ok], weights=col[ok], minlength=k)
        counts = np.bincount(labels[ok], minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return out


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


def _compare(previous: LoadedVersion | None, ids: np.ndarray, segs: np.ndarray) -> dict:
    """Movers and ARI on the customers present in both versions."""
    if previous is None:
        return {"previous": None, "moved": None, "moved_share": None, "ari": None, "common": 0}
    p_ids, p_segs = previous.ids, previous.segments
    if len(p_ids) == len(ids) and np.array_equal(p_ids, ids):
        a, b = np.asarray(p_segs), segs
    else:
        _, ia, ib = np.intersect1d(p_ids, ids, assume_unique=True, return_indices=True)
        a, b = np.asarray(p_segs)[ia], segs[ib]
    moved = int((a != b).sum())
    return {
        "previous": previous.name,
        "common": len(a),
        "moved": moved,
        "moved_share": _clean(moved / len(a)) if len(a) else None,
        "ari": _clean(adjusted_rand_score(a, b)) if len(a) else None,
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
) -> dict[str, Any]:
    progress = progress or _noop
    seed = settings.seed
    timings: dict[str, float] = {}
    t = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[stage] = round(now - t, 3)
        t = now

    progress("building features", 0.10)
    transformer = feat.fit_transformer(dataset.frame, dataset.numeric, dataset.categorical, seed)
    x = feat.transform(transformer, dataset.frame)
    lap("features")

    progress("choosing k", 0.25)
    choice = selection.choose_k(x, settings.k_max, settings.fixed_k, seed)
    lap("choose_k")

    progress(f"fitting {choice.k} segments on {len(x):,} customers", 0.55)
    km = selection.fit_final(x, choice.k, seed)
    label, d1, second, d2 = selection.distances(km, x)
    lap("fit")

    progress("naming segments", 0.75)
    k = choice.k
    seg_ids, next_id, before = match_segments(previous, transformer, km.cluster_centers_)
    label_to_segment = np.array(seg_ids, dtype=np.int16)
    values = dataset.frame[dataset.numeric].to_numpy(dtype=np.float64, na_value=np.nan)
    means = _nanmeans(values, label.astype(np.intp), k)
    sizes = np.bincount(label, minlength=k)
    med_rows = selection.sample_rows(len(x), MEDIAN_SAMPLE, seed)
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
    log_kind = dataset.kind == "transactions"
    namings = name_segments(
        z, dataset.numeric, noun="Customers" if log_kind else "Shoppers", purchase_log=log_kind
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
                "share": _clean(sizes[i] / len(x)),
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
                "size_before": before.get(seg_ids[i]),
            }
        )
    lap("naming")

    progress("scoring and comparing", 0.82)
    q_rows = selection.sample_rows(len(x), QUALITY_SAMPLE, seed + 2)
    xq, lq = x[q_rows], label[q_rows]
    multi = len(np.unique(lq)) >= 2
    quality = {
        "silhouette": _clean(selection.silhouette(xq, lq, 5_000, seed), 4) if multi else None,
        "calinski_harabasz": _clean(calinski_harabasz_score(xq, lq), 2) if multi else None,
        "davies_bouldin": _clean(davies_bouldin_score(xq, lq), 4) if multi else None,
        "inertia": _clean(km.inertia_, 2),
    }
    seg_of_row = label_to_segment[label]
    sort = _argsort_ids(dataset.ids)
    sorted_ids = np.asarray(dataset.ids[sort], dtype=str)
    comparison = _compare(previous, sorted_ids, seg_of_row[sort])
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
    save_assignments(
        out_dir,
        ids=sorted_ids,
        segments=seg_of_row[sort],
        runner_up=np.where(second >= 0, label_to_segment[np.maximum(second, 0)], -1)[sort].astype(
            np.int16
        ),
        distances=np.column_stack([d1, d2])[sort].astype(np.float32),
        values=values[sort].astype(np.float32),
    )
    pipeline = Pipeline(
        [
            ("features", transformer),
            ("float32", FunctionTransformer(feat.as_float32)),
            ("kmeans", km),
        ]
    )
    joblib.dump(pipeline, out_dir / "pipeline.joblib")
    trained_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    meta: dict[str, Any] = {
        "version": version,
        "trained_at": trained_at,
        "status": "served",
        "source": {"description": dataset.source, "digest": dataset.digest, "kind": dataset.kind},
        "rows": len(x),
        "id_column": settings.id_column,
        "features": [*dataset.numeric, *dataset.categorical],
        "numeric": dataset.numeric,
        "categorical": dataset.categorical,
        "log_columns": feat.log_columns(transformer),
        "k": k,
        "k_selection": {
            "method": "fixed" if settings.fixed_k else "auto",
            "k_max": settings.k_max,
            "ks": choice.ks,
            "inertias": [_clean(v, 2) for v in choice.inertias],
            "silhouettes": {str(kk): _clean(v, 4) for kk, v in choice.silhouettes.items()},
            "knee": choice.knee,
            "reason": choice.reason,
            "sample_rows": choice.sample_rows,
        },
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
    meta["charts"] = _render_charts(
        meta, x, label, label_to_segment, km, transformer, z, means, dataset, out_dir, seed
    )
    lap("charts")
    meta["timings"] = timings
    # metadata.json last: a folder without it is not a version.
    (out_dir / "metadata.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    progress("done", 1.0)
    return meta


def _names_file(settings: Settings) -> Path | None:
    if settings.names_file is not None:
        return settings.names_file
    default = Path(settings.model_dir) / "names.toml"
    return default if default.exists() else None


def _argsort_ids(ids: np.ndarray) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.sort_indices(pa.array(ids, type=pa.string())).to_numpy()


def _render_charts(
    meta, x, label, label_to_segment, km, transformer, z, means, dataset, out_dir, seed
) -> dict[str, str]:
    from model import charts

    seg_of_row = label_to_segment[label]
    rows = charts.chart_sample(seg_of_row, seed=seed)
    by_cluster = {s["cluster"]: s for s in meta["segments"]}
    order = [s["cluster"] for s in meta["segments"]]
    inp = charts.ChartInput(
        version=meta["version"],
        trained_at=meta["trained_at"],
        segments=[
            charts.ChartSegment(by_cluster[i]["id"], by_cluster[i]["name"], by_cluster[i]["size"])
            for i in order
        ],
        ks=meta["k_selection"]["ks"],
        inertias=meta["k_selection"]["inertias"],
        silhouettes={
            int(kk): v for kk, v in meta["k_selection"]["silhouettes"].items() if v is not None
        },
        chosen_k=meta["k"],
        k_reason=meta["k_selection"]["reason"],
        points=x[rows],
        point_segments=seg_of_row[rows],
        centroids=km.cluster_centers_[order],
        feature_names=[str(n) for n in transformer.get_feature_names_out()],
        profile_features=list(dataset.numeric),
        profile_z=z[order],
        profile_means=means[order],
        profile_overall=np.nanmean(
            dataset.frame[dataset.numeric].to_numpy(np.float64, na_value=np.nan), axis=0
        )
        if dataset.numeric
        else None,
    )
    return {name: path.name for name, path in charts.render_all(out_dir, inp).items()}
