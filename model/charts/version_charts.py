"""Charts of a trained version: elbow, clusters, profiles.

Rendered once when a version is trained and stored with it; the bot serves the
stored PNGs. The look (sizes, inks, a segment's colour from its id, the figure
lock) is `model.charts.style`, shared with the over-time charts.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from model.charts import CHARTS
from model.charts.style import (
    FIGSIZE,
    FIGURE_LOCK,
    FS_LABEL,
    FS_LEGEND,
    FS_SUBTITLE,
    FS_TICK,
    GRID,
    INK,
    MINUS,
    MUTED_INK,
    PALETTE,
    format_compact,
    luminance,
    new_figure,
    segment_color,
    segment_marker,
    shorten,
    style_axes,
    text_width_pt,
    titles,
)

MAX_POINTS = 20_000  # most points drawn in the cluster chart
PROFILE_MAX_COLUMNS = 12  # most heat-map columns; beyond this cells get too thin to read
PNG_SOFT_LIMIT = 240_000  # bytes; above it a chart is saved with a 256-colour palette


_INERTIA_COLOR = "#0072B2"
_SILHOUETTE_COLOR = "#D55E00"
_UNKNOWN_SEGMENT_COLOR = "#BBBBBB"
_Z_CLIP = 2.0


@dataclass
class ChartSegment:
    id: int  # stable segment id across versions; the colour is tied to it
    name: str  # e.g. "High-Income Shoppers"
    size: int


@dataclass
class Elbow:
    """What the elbow chart needs: known once k is chosen, so training has it drawn
    while the final fit runs (the other charts wait for the segments' names)."""

    version: str
    trained_at: str
    ks: list[int]
    inertias: list[float]
    silhouettes: dict[int, float]
    chosen_k: int
    k_reason: str
    k_min: int = 1

    def __post_init__(self) -> None:
        self.ks = [int(v) for v in self.ks]
        self.inertias = [float(v) for v in self.inertias]
        if len(self.ks) != len(self.inertias):
            raise ValueError(f"ks has {len(self.ks)} values but inertias has {len(self.inertias)}")
        self.silhouettes = {int(key): float(val) for key, val in dict(self.silhouettes).items()}
        self.chosen_k = int(self.chosen_k)


@dataclass
class ChartInput:
    version: str  # e.g. "v3"
    trained_at: str  # ISO 8601 UTC, e.g. "2026-11-27T08:30:00+00:00"
    segments: list[ChartSegment]  # display order; centroid/profile rows follow it
    ks: list[int]  # elbow: k values tried; may be a single k when k was fixed
    inertias: list[float]  # inertia per k (on the sample used to choose k)
    silhouettes: dict[int, float]  # k -> silhouette (k >= 2 only; may be empty)
    chosen_k: int
    k_reason: str  # one line, e.g. "knee of the inertia curve at k=4 (silhouette 0.42)"
    points: np.ndarray  # (m, d) transformed features of a sample, m <= 20_000
    point_segments: np.ndarray  # (m,) segment ids of those points
    centroids: np.ndarray  # (k, d) same transformed space, rows in `segments` order
    feature_names: list[str]  # d names of the transformed columns
    profile_features: list[str]  # original (numeric) feature names
    profile_z: np.ndarray  # (k, f) (segment mean - population mean) / population std
    profile_means: np.ndarray  # (k, f) segment means in original units
    # Optional: population mean per profile feature (original units). When given it
    # is shown under each feature name so "72.4k" can be read against "all: 60.6k".
    profile_overall: np.ndarray | None = None
    # Optional: customers in the version when `segments` sizes do not add up to it.
    total_customers: int | None = None
    # Optional: smallest k `auto` could choose; the elbow greys out the ks below it.
    k_min: int = 1
    # Optional share columns for text features, drawn after the numeric ones: per
    # column (feature, value), each segment's share of customers with that value
    # (k, t) and everyone's share (t,), 0..1 (model.training.text_shares.chart_columns).
    profile_text: list[tuple[str, str]] | None = None
    profile_text_shares: np.ndarray | None = None
    profile_text_overall: np.ndarray | None = None
    # Optional: numeric profile features whose values are all 0/1; their means are
    # shown as percentages ("5%") rather than "0.054".
    profile_flags: list[str] | None = None
    # Optional: features that must stay on the profiles chart when it has more columns
    # than fit (e.g. those a segment's name is built from); a text feature keeps its
    # share columns.
    profile_keep: list[str] | None = None

    def __post_init__(self) -> None:
        k = len(self.segments)
        elbow = self.elbow  # checks and normalises the elbow's fields
        self.ks, self.inertias = elbow.ks, elbow.inertias
        self.silhouettes, self.chosen_k = elbow.silhouettes, elbow.chosen_k

        centroids = np.asarray(self.centroids, dtype=float)
        if centroids.ndim == 1:
            centroids = centroids.reshape(k, -1) if k else centroids.reshape(0, 0)
        if centroids.shape[0] != k:
            raise ValueError(f"centroids has {centroids.shape[0]} rows for {k} segments")
        d = len(self.feature_names)
        if centroids.shape[1] != d:
            raise ValueError(f"centroids has {centroids.shape[1]} columns for {d} feature_names")
        self.centroids = centroids

        points = np.asarray(self.points, dtype=float)
        if points.size == 0:
            points = np.empty((0, d))
        elif points.ndim == 1:
            points = points.reshape(-1, 1)
        if points.shape[1] != d:
            raise ValueError(f"points has {points.shape[1]} columns for {d} feature_names")
        self.points = points
        labels = np.asarray(self.point_segments).reshape(-1)
        self.point_segments = labels.astype(np.int64, copy=False)
        if self.point_segments.shape[0] != points.shape[0]:
            raise ValueError(
                f"point_segments has {self.point_segments.shape[0]} values "
                f"for {points.shape[0]} points"
            )

        f = len(self.profile_features)
        for name in ("profile_z", "profile_means"):
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.size == 0:
                arr = np.empty((k, f))
            if arr.shape != (k, f):
                raise ValueError(f"{name} has shape {arr.shape}, expected ({k}, {f})")
            setattr(self, name, arr)
        if self.profile_overall is not None:
            overall = np.asarray(self.profile_overall, dtype=float).reshape(-1)
            if overall.shape != (f,):
                raise ValueError(f"profile_overall has {overall.shape[0]} values for {f} features")
            self.profile_overall = overall
        self.profile_text = [(str(a), str(b)) for a, b in (self.profile_text or [])]
        t = len(self.profile_text)
        text_shares = np.asarray(
            self.profile_text_shares if self.profile_text_shares is not None else [], dtype=float
        )
        if text_shares.size == 0:
            text_shares = np.empty((k, t))
        if text_shares.shape != (k, t):
            raise ValueError(
                f"profile_text_shares has shape {text_shares.shape}, expected ({k}, {t})"
            )
        text_overall = np.asarray(
            self.profile_text_overall if self.profile_text_overall is not None else [],
            dtype=float,
        ).reshape(-1)
        if text_overall.shape != (t,):
            raise ValueError(f"profile_text_overall has {text_overall.shape[0]} values for {t}")
        self.profile_text_shares, self.profile_text_overall = text_shares, text_overall
        self.profile_flags = [str(v) for v in self.profile_flags or []]
        self.profile_keep = [str(v) for v in self.profile_keep or []]

    @property
    def elbow(self) -> Elbow:
        return Elbow(
            self.version,
            self.trained_at,
            self.ks,
            self.inertias,
            self.silhouettes,
            self.chosen_k,
            self.k_reason,
            self.k_min,
        )


# ---------------------------------------------------------------------------
# The cluster chart's sample


def chart_sample(
    point_segments: np.ndarray, max_points: int = MAX_POINTS, seed: int = 0
) -> np.ndarray:
    """Indices (sorted) of a deterministic sample stratified by segment.

    At most `max_points` indices. Each segment first keeps
    min(its size, max_points // (4 k)) points, so small segments stay visible;
    the rest of the budget is shared in proportion to what each segment has left.
    """
    if max_points < 0:
        raise ValueError(f"max_points must be >= 0, got {max_points}")
    labels = np.asarray(point_segments).reshape(-1)
    n = labels.shape[0]
    if n <= max_points:
        return np.arange(n, dtype=np.intp)
    segment_ids, counts = _label_counts(labels)
    quotas = _allocate(counts, max_points)
    rng = np.random.default_rng(seed)
    picked: list[np.ndarray] = []
    for seg, count, quota in zip(segment_ids, counts, quotas, strict=True):
        if quota == 0:
            continue
        members = np.flatnonzero(labels == seg)
        if quota < count:
            members = rng.choice(members, size=int(quota), replace=False)
        picked.append(members)
    if not picked:
        return np.empty(0, dtype=np.intp)
    out = np.concatenate(picked).astype(np.intp, copy=False)
    out.sort()
    return out


def _label_counts(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if labels.dtype.kind in "iub" and labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        if lo >= 0 and hi < 1_000_000:  # fast path: one pass, no sort
            counts = np.bincount(labels, minlength=hi + 1)
            ids = np.flatnonzero(counts)
            return ids, counts[ids]
    return np.unique(labels, return_counts=True)


def _allocate(counts: np.ndarray, budget: int) -> np.ndarray:
    """Split `budget` over segments with `counts` members (sum(counts) > budget)."""
    counts = np.asarray(counts, dtype=np.int64)
    k = len(counts)
    floor = budget // (4 * k) if k else 0
    if floor == 0 and budget >= k:
        floor = 1
    base = np.minimum(counts, floor)
    remaining = budget - int(base.sum())
    spare = counts - base
    if remaining <= 0 or spare.sum() == 0:
        return base
    if spare.sum() <= remaining:
        return counts.copy()
    share = spare * (remaining / spare.sum())
    extra = np.floor(share).astype(np.int64)
    left = remaining - int(extra.sum())
    if left > 0:
        order = np.argsort(-(share - extra), kind="stable")[:left]
        extra[order] += 1
    return base + np.minimum(extra, spare)


# ---------------------------------------------------------------------------
# Rendering


def render_all(
    out_dir: Path, inp: ChartInput | Elbow, names: tuple[str, ...] = CHARTS
) -> dict[str, Path]:
    """Write elbow.png, clusters.png and profiles.png (or those in `names`) into
    `out_dir`; an `Elbow` alone draws the elbow chart.

    Each file is written to a temporary file in the same folder and moved into
    place with os.replace, so a crash never leaves a half-written PNG.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    builders: dict[str, Callable[[ChartInput], Figure]] = {
        "elbow": build_elbow,
        "clusters": build_clusters,
        "profiles": build_profiles,
    }
    if isinstance(inp, Elbow):
        names = tuple(n for n in names if n == "elbow")
    paths: dict[str, Path] = {}
    with FIGURE_LOCK:
        for name in names:
            fig = builders[name](inp)
            paths[name] = save_png(fig, out / f"{name}.png", title=f"segbot {inp.version} {name}")
    return paths


def save_png(fig: Figure, path: Path, title: str | None = None) -> Path:
    """Save `fig` as an RGB PNG at `path` atomically (temp file + os.replace).

    A dense scatter of 20k semi-transparent points compresses badly (~300 KB);
    when the exact image is over PNG_SOFT_LIMIT bytes it is stored with a
    256-colour palette instead (~80 KB, no visible change on a scatter). Charts
    with smooth gradients stay well under the limit and keep their exact colours.
    """
    path = Path(path)
    with FIGURE_LOCK:
        canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
        canvas.draw()
        image = Image.fromarray(np.array(canvas.buffer_rgba())[..., :3])
    info = PngInfo()
    info.add_text("Title", title or path.stem)
    info.add_text("Software", "segbot")
    data = _encode_png(image, info)
    if len(data) > PNG_SOFT_LIMIT:
        data = _encode_png(
            image.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE), info
        )
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png.tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes 0600; charts are meant to be read by others
            os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    return path


def _encode_png(image: Image.Image, info: PngInfo) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info, compress_level=6)
    return buf.getvalue()


def _format_date(ts: str) -> str:
    try:
        dt = datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    except ValueError:
        return str(ts)
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return f"{dt.day} {dt:%b %Y %H:%M} UTC"


def _clean_feature(name: str, width: int = 26) -> str:
    name = str(name)
    if "__" in name:  # ColumnTransformer prefixes such as "num__age"
        name = name.split("__", 1)[1]
    return shorten(name, width)


def _int_text(n: int) -> str:
    return f"{n:,}" if n < 100_000 else format_compact(n)


# --- elbow -----------------------------------------------------------------


@dataclass
class ElbowPlan:
    """What the elbow chart shows, worked out without drawing."""

    title: str
    subtitle: str
    chosen_k: int
    k_min: int
    ks: np.ndarray  # the ks tried (finite, ascending) and their inertia
    inertias: np.ndarray
    note: str | None = None  # instead of a curve: k was fixed, nothing was searched
    xticks: list[float] | None = None  # None: too many ks to label each; integer ticks
    xlim: tuple[float, float] | None = None
    ylim: tuple[float, float] | None = None
    not_tried: tuple[float, float, float] | None = None  # ks auto could not choose: span, label x
    silhouette_ks: np.ndarray = field(default_factory=lambda: np.empty(0))  # k >= 2, finite
    silhouettes: np.ndarray = field(default_factory=lambda: np.empty(0))
    silhouette_ylim: tuple[float, float] | None = None
    silhouette_at_chosen: float | None = None
    silhouette_missing: bool = False  # say "not available" in the legend
    chosen_in_range: bool = False  # the chosen k falls on the x axis: mark it
    chosen_inertia: float | None = None  # and it was tried: circle its point
    label_right: bool = True  # the "k = n" label goes on the emptier side of the curve


def elbow_plan(inp: ChartInput | Elbow) -> ElbowPlan:
    inp = inp.elbow if isinstance(inp, ChartInput) else inp
    reason = " ".join(inp.k_reason.split())
    subtitle = shorten(
        f"Chosen k = {inp.chosen_k}: {reason}" if reason else f"Chosen k = {inp.chosen_k}",
        720,  # points: the width of the plot area
        lines=2,
        measure=functools.partial(text_width_pt, size=FS_SUBTITLE),
    )
    title = f"Choosing k · {inp.version}, trained {_format_date(inp.trained_at)}"
    ks = np.asarray(inp.ks, dtype=float)
    inertias = np.asarray(inp.inertias, dtype=float)
    ok = np.isfinite(ks) & np.isfinite(inertias)
    ks, inertias = ks[ok], inertias[ok]
    order = np.argsort(ks)
    ks, inertias = ks[order], inertias[order]
    plan = ElbowPlan(
        title,
        subtitle,
        inp.chosen_k,
        inp.k_min,
        ks,
        inertias,
        xticks=list(ks) if ks.size <= 20 else None,
    )
    if ks.size == 0:
        plan.note = f"k was fixed at {inp.chosen_k}: no search over k to show"
        return plan
    if ks.size == 1:
        plan.xlim = (ks[0] - 1, ks[0] + 1)
        plan.ylim = (0, inertias[0] * 1.25 if inertias[0] > 0 else 1)
    else:
        lo, hi = float(inertias.min()), float(inertias.max())
        pad = (hi - lo) * 0.08 or max(abs(hi) * 0.1, 1.0)
        # From 0: a cropped axis would make every drop look like an elbow.
        plan.ylim = (0.0 if lo >= 0 else lo - pad, hi + pad * 2.2)
        plan.xlim = (ks[0] - 0.4, ks[-1] + 0.4)
        if ks[0] < inp.k_min <= ks[-1]:
            # The curve starts at k=1 (the knee needs it) but auto only chose from
            # k_min up: grey out the rest so a knee at 2 that was passed over reads so.
            plan.not_tried = (
                ks[0] - 0.4,
                inp.k_min - 0.5,
                (ks[0] - 0.4 + inp.k_min - 0.5) / 2,
            )

    sil = sorted((k, v) for k, v in inp.silhouettes.items() if math.isfinite(v) and k >= 2)
    if sil:
        plan.silhouette_ks = np.array([k for k, _ in sil], dtype=float)
        plan.silhouettes = sv = np.array([v for _, v in sil], dtype=float)
        slo, shi = float(sv.min()), float(sv.max())
        spad = max((shi - slo) * 0.15, 0.05)
        plan.silhouette_ylim = (min(0.0, slo - spad), max(shi + spad * 2.5, 0.1))
        plan.silhouette_at_chosen = dict(sil).get(inp.chosen_k)
    else:
        plan.silhouette_missing = bool(inp.silhouettes) or ks.size > 1

    chosen = float(inp.chosen_k)
    plan.chosen_in_range = ks[0] - 0.5 <= chosen <= ks[-1] + 0.5
    match = np.flatnonzero(ks == chosen)
    if plan.chosen_in_range and match.size:
        plan.chosen_inertia = float(inertias[match[0]])
        plan.label_right = chosen <= (ks[0] + ks[-1]) / 2 or ks.size == 1
    return plan


def build_elbow(inp: ChartInput | Elbow) -> Figure:
    """Inertia per k with the chosen k marked and why; silhouette on a second axis."""
    plan = elbow_plan(inp)
    with FIGURE_LOCK:
        fig = new_figure()
        ax = fig.add_subplot()
        style_axes(ax)
        titles(fig, ax, plan.title, plan.subtitle)
        if plan.note is not None:
            _draw_note(ax, plan.note)
            ax.set_axis_off()
            return fig
        handles = [_draw_inertia(ax, plan)]
        if plan.silhouette_ks.size:
            handles.append(_draw_silhouette(ax, plan))
        elif plan.silhouette_missing:
            handles.append(Line2D([], [], linestyle="none", label="Silhouette: not available"))
        if plan.chosen_in_range:
            handles.append(_draw_chosen_k(ax, plan))
        ax.legend(
            handles=handles,
            loc="upper right",
            fontsize=FS_LEGEND,
            frameon=True,
            framealpha=0.92,
            edgecolor="#DDDDDD",
        )
        return fig


def _draw_note(ax: Axes, text: str) -> None:
    ax.text(
        0.5,
        0.5,
        text,
        ha="center",
        va="center",
        fontsize=FS_LABEL,
        color=MUTED_INK,
        transform=ax.transAxes,
    )


def _draw_inertia(ax: Axes, plan: ElbowPlan) -> Line2D:
    (line,) = ax.plot(
        plan.ks,
        plan.inertias,
        color=_INERTIA_COLOR,
        linewidth=3,
        marker="o",
        markersize=9,
        label="Inertia (lower = tighter segments)",
        zorder=3,
    )
    ax.set_xlabel("Number of segments (k)", fontsize=FS_LABEL, color=INK)
    ax.set_ylabel("Inertia", fontsize=FS_LABEL, color=_INERTIA_COLOR)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_compact(v)))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.grid(axis="y", **GRID)
    ax.set_axisbelow(True)
    if plan.xticks is not None:
        ax.set_xticks(plan.xticks)
        ax.set_xticklabels([str(int(v)) for v in plan.xticks])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(*plan.xlim)
    ax.set_ylim(*plan.ylim)
    if plan.not_tried is not None:
        start, end, label_x = plan.not_tried
        ax.axvspan(start, end, color="#DDDDDD", alpha=0.6, zorder=0, lw=0)
        ax.text(
            label_x,
            0.03,
            f"not tried by auto:\nk < {plan.k_min}",
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=FS_LEGEND,
            color=MUTED_INK,
            zorder=2,
        )
    return line


def _draw_silhouette(ax: Axes, plan: ElbowPlan) -> Line2D:
    ax2 = ax.twinx()
    ax2.tick_params(labelsize=FS_TICK, colors=INK, length=4)
    for side in ("top", "left"):
        ax2.spines[side].set_visible(False)
    ax2.spines["right"].set_color("#888888")
    (line,) = ax2.plot(
        plan.silhouette_ks,
        plan.silhouettes,
        color=_SILHOUETTE_COLOR,
        linewidth=2.5,
        linestyle="--",
        marker="s",
        markersize=8,
        label="Silhouette (higher = better separated)",
        zorder=2,
    )
    ax2.set_ylabel("Silhouette", fontsize=FS_LABEL, color=_SILHOUETTE_COLOR)
    ax2.set_ylim(*plan.silhouette_ylim)
    ax2.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.2f}"))
    if plan.silhouette_at_chosen is not None:
        ax2.plot(
            [plan.chosen_k],
            [plan.silhouette_at_chosen],
            marker="s",
            markersize=14,
            markerfacecolor="none",
            markeredgecolor=_SILHOUETTE_COLOR,
            markeredgewidth=2.5,
            zorder=4,
        )
    ax.set_zorder(ax2.get_zorder() + 1)  # inertia line on top
    ax.patch.set_visible(False)
    return line


def _draw_chosen_k(ax: Axes, plan: ElbowPlan) -> Line2D:
    chosen = float(plan.chosen_k)
    vline = ax.axvline(
        chosen,
        color=INK,
        linestyle=":",
        linewidth=2,
        zorder=1,
        label=f"Chosen k = {plan.chosen_k}",
    )
    if plan.chosen_inertia is not None:
        y = plan.chosen_inertia
        ax.plot(
            [chosen],
            [y],
            marker="o",
            markersize=20,
            markerfacecolor="none",
            markeredgecolor=INK,
            markeredgewidth=2.5,
            zorder=5,
        )
        right = plan.label_right
        ax.annotate(
            f"k = {plan.chosen_k}",
            xy=(chosen, y),
            xytext=(28 if right else -28, 34),
            textcoords="offset points",
            ha="left" if right else "right",
            fontsize=FS_LABEL,
            fontweight="bold",
            color=INK,
            arrowprops={"arrowstyle": "-", "color": INK, "linewidth": 1.5},
            zorder=6,
        )
    return vline


# --- clusters --------------------------------------------------------------


def _pca(x: np.ndarray, n_components: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, components (c, d) with a deterministic sign, explained variance ratio (c,)."""
    mean = x.mean(axis=0) if x.shape[0] else np.zeros(x.shape[1])
    centred = x - mean
    d = x.shape[1]
    c = min(n_components, d)
    if x.shape[0] < 2:
        return mean, np.eye(d)[:c], np.zeros(c)
    _u, s, vt = np.linalg.svd(centred, full_matrices=False)
    var = s**2
    total = float(var.sum())
    ratio = var / total if total > 0 else np.zeros_like(var)
    comps = vt[:c].copy()
    if comps.shape[0] < c:  # fewer rows than columns: pad with unit vectors
        comps = np.vstack([comps, np.eye(d)[comps.shape[0] : c]])
        ratio = np.concatenate([ratio, np.zeros(c - len(ratio))])
    for row in comps:  # largest loading positive, like sklearn's svd_flip
        j = int(np.argmax(np.abs(row)))
        if row[j] < 0:
            row *= -1
    return mean, comps, ratio[:c]


def _pc_label(
    i: int, comp: np.ndarray, ratio: float, names: list[str], two_lines: bool = False
) -> str:
    order = np.argsort(-np.abs(comp), kind="stable")
    top = [int(order[0])]
    if len(order) > 1 and abs(comp[order[1]]) >= 0.5 * abs(comp[order[0]]):
        top.append(int(order[1]))
    parts = [("+" if comp[j] >= 0 else MINUS) + _clean_feature(names[j], 24) for j in top]
    sep = "\n" if two_lines else " · "
    return f"PC{i + 1} · {ratio:.0%} of variance{sep}mostly {', '.join(parts)}"


@dataclass
class PointGroup:
    """Points drawn in one colour: a segment's, or those of no known segment."""

    x: np.ndarray
    y: np.ndarray
    color: str
    marker: str | None  # None: matplotlib's default
    zorder: float
    segment_id: int | None  # None: points of no known segment


@dataclass
class LegendEntry:
    marker: str
    color: str
    label: str


@dataclass
class ClustersPlan:
    """What the cluster chart shows, worked out without drawing."""

    title: str
    subtitle: str
    empty: bool = True  # nothing to plot: the titles and a note only
    one_feature: bool = False  # x is the feature, y a random spread
    xlabel: str = ""
    ylabel: str = ""
    point_size: float = 0.0
    alpha: float = 0.0
    # in drawing order: the most points first, so smaller segments stay on top
    groups: list[PointGroup] = field(default_factory=list)
    centroids: list[tuple[int, float, float]] = field(default_factory=list)  # (id, x, y)
    legend: list[LegendEntry] = field(default_factory=list)
    legend_fs: float = 0.0
    legend_spacing: float = 0.0


def clusters_plan(inp: ChartInput) -> ClustersPlan:
    points, labels = inp.points, inp.point_segments
    if points.shape[0] > MAX_POINTS:
        keep = chart_sample(labels, MAX_POINTS)
        points, labels = points[keep], labels[keep]
    finite = np.all(np.isfinite(points), axis=1)
    points, labels = points[finite], labels[finite]
    m, d = points.shape
    total = inp.total_customers or sum(int(s.size) for s in inp.segments) or m
    shown = (
        f"All {m:,} customers"
        if m >= total
        else f"{_int_text(m)} of {_int_text(total)} customers, sampled per segment"
    )
    title = f"Segments in 2-D · {inp.version}"
    plan = ClustersPlan(title, shown)
    if d == 0 or (m == 0 and inp.centroids.shape[0] == 0):
        return plan
    plan.empty = False

    fit_on = points if m >= 2 else inp.centroids
    mean, comps, ratio = _pca(fit_on, 2)
    xy = (points - mean) @ comps.T
    cxy = (inp.centroids - mean) @ comps.T
    names = list(inp.feature_names)
    if d == 1:
        rng = np.random.default_rng(0)
        xy = np.column_stack([xy[:, 0], rng.uniform(-1.0, 1.0, size=m)])
        cxy = np.column_stack([cxy[:, 0], np.zeros(cxy.shape[0])])
        plan.one_feature = True
        plan.xlabel = f"{_clean_feature(names[0], 40)} (scaled)"
        plan.ylabel = "random spread (one feature only)"
        explained = "one feature: points spread vertically at random"
    else:
        plan.xlabel = _pc_label(0, comps[0], ratio[0], names)
        plan.ylabel = _pc_label(1, comps[1], ratio[1], names, two_lines=True)
        explained = f"PCA of the scaled features ({float(ratio.sum()):.0%} of variance)"
    plan.subtitle = f"{shown} · {explained}"
    if text_width_pt(plan.subtitle, FS_SUBTITLE) > 520:  # wider than the plot area
        plan.subtitle = f"{shown}\n{explained}"

    # Point style: big and opaque for a few hundred points, small and light for 20k.
    plan.point_size = float(np.clip(16_000 / max(m, 1), 5.0, 40.0))
    plan.alpha = float(np.clip(1.25 - 0.22 * math.log10(max(m, 10)), 0.3, 0.85))
    in_sample = {s.id: int(np.count_nonzero(labels == s.id)) for s in inp.segments}
    draw_order = sorted(inp.segments, key=lambda s: -in_sample[s.id])  # small on top
    for z, seg in enumerate(draw_order):
        mask = labels == seg.id
        if mask.any():
            color, marker = segment_color(seg.id), segment_marker(seg.id)
            plan.groups.append(
                PointGroup(xy[mask, 0], xy[mask, 1], color, marker, 2 + z * 0.01, seg.id)
            )
    stray = ~np.isin(labels, [s.id for s in inp.segments])
    if stray.any():
        plan.groups.append(
            PointGroup(xy[stray, 0], xy[stray, 1], _UNKNOWN_SEGMENT_COLOR, None, 1.5, None)
        )
    plan.centroids = [(seg.id, cx, cy) for seg, (cx, cy) in zip(inp.segments, cxy, strict=True)]
    plan.legend_fs, plan.legend_spacing, plan.legend = _clusters_legend(inp.segments)
    return plan


def _clusters_legend(segments: list[ChartSegment]) -> tuple[float, float, list[LegendEntry]]:
    """Font size, line spacing and entries: each segment's name, size and share."""
    total_size = sum(int(s.size) for s in segments) or 1
    k = len(segments)
    # Up to 8 segments: name and size on two lines. More: one line each, smaller.
    if k <= 8:
        legend_fs, name_width, sep, spacing = FS_LEGEND, 26, "\n", 0.9
    elif k <= 16:
        legend_fs, name_width, sep, spacing = 13, 26, " · ", 0.5
    else:
        legend_fs, name_width, sep, spacing = 11, 22, " · ", 0.35
    entries = [
        LegendEntry(
            segment_marker(seg.id),
            segment_color(seg.id),
            f"{shorten(seg.name, name_width, lines=2 if k <= 8 else 1)}{sep}"
            f"{_int_text(int(seg.size))} · {int(seg.size) / total_size:.0%}",
        )
        for seg in segments
    ]
    return legend_fs, spacing, entries


def build_clusters(inp: ChartInput) -> Figure:
    """2-D PCA projection of the sample, coloured by segment, centroids marked."""
    plan = clusters_plan(inp)
    with FIGURE_LOCK:
        fig = new_figure()
        ax = fig.add_subplot()
        style_axes(ax)
        if plan.empty:
            titles(fig, ax, plan.title, plan.subtitle)
            _draw_note(ax, "nothing to plot")
            ax.set_xticks([])
            ax.set_yticks([])
            return fig
        _draw_cluster_axes(ax, plan)
        titles(fig, ax, plan.title, plan.subtitle)
        _draw_points(ax, plan)
        _draw_clusters_legend(ax, plan)
        return fig


def _draw_cluster_axes(ax: Axes, plan: ClustersPlan) -> None:
    if plan.one_feature:
        ax.set_xlabel(plan.xlabel, fontsize=FS_LABEL)
        ax.set_ylabel(plan.ylabel, fontsize=FS_LABEL, color=MUTED_INK)
        ax.set_yticks([])
        ax.set_ylim(-1.6, 1.6)
    else:
        ax.set_xlabel(plan.xlabel, fontsize=FS_LABEL)
        ax.set_ylabel(plan.ylabel, fontsize=FS_LABEL)
    ax.grid(True, **GRID)
    ax.set_axisbelow(True)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
    if not plan.one_feature:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6))


def _draw_points(ax: Axes, plan: ClustersPlan) -> None:
    for group in plan.groups:
        coll = ax.scatter(
            group.x,
            group.y,
            s=plan.point_size,
            color=group.color,
            marker=group.marker,
            alpha=plan.alpha,
            linewidths=0,
            rasterized=True,  # no effect on PNG; keeps an SVG/PDF export small
            zorder=group.zorder,
        )
        if group.segment_id is not None:
            coll.set_gid(f"segment-{group.segment_id}")
    for seg_id, cx, cy in plan.centroids:
        marker = ax.scatter(
            [cx],
            [cy],
            s=340,
            marker="X",
            color=segment_color(seg_id),
            edgecolors=INK,
            linewidths=2,
            zorder=10,
        )
        marker.set_gid(f"centroid-{seg_id}")


def _draw_clusters_legend(ax: Axes, plan: ClustersPlan) -> None:
    fs = plan.legend_fs
    handles = [
        Line2D(
            [],
            [],
            linestyle="",
            marker=entry.marker,
            markersize=fs - 1,
            markerfacecolor=entry.color,
            markeredgecolor=entry.color,
            label=entry.label,
        )
        for entry in plan.legend
    ]
    handles.append(
        Line2D(
            [],
            [],
            linestyle="",
            marker="X",
            markersize=fs + 1,
            markerfacecolor="white",
            markeredgecolor=INK,
            markeredgewidth=2,
            label="segment centre",
        )
    )
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0,
        fontsize=fs,
        frameon=False,
        labelspacing=plan.legend_spacing,
        handletextpad=0.4,
        title="Segment · customers",
        title_fontsize=fs,
        alignment="left",
    )


# --- profiles --------------------------------------------------------------


def _percent(x: float) -> str:
    """0.314 -> "31%", 0.004 -> "0.4%", NaN -> "–"."""
    if not math.isfinite(x):
        return "\u2013"
    pct = 100 * x
    return f"{pct:.1f}%" if 0 < pct < 1 else f"{pct:.0f}%"


_PROFILE_MIN_FS = 9.0  # smallest column-label font; below this Slack previews blur
_WORD_BREAK = re.compile(r"(?<=[^\W\d]-)(?=[^\W\d])|(?<=/)(?=\w)")  # inside one word
_NBSP = "\u00a0"  # joins "=" to a value's first word so a line never starts with a bare "="


def _pretty_feature(name: str) -> str:
    """ "monthly_charges" -> "monthly charges"; the user's capitalisation is kept."""
    name = str(name)
    if "__" in name:  # ColumnTransformer prefixes such as "num__age"
        name = name.split("__", 1)[1]
    return " ".join(name.replace("_", " ").split())


def _wrap_words(
    text: str, width: float, lines: int, measure: Callable[[str], float]
) -> tuple[list[str], bool, bool]:
    """Greedy wrap of `text` into at most `lines` lines no wider than `width`.

    Breaks only between words, after a slash, and after a hyphen between letters
    ("Month-" / "to-month", never "(1-" / "100)"). Returns (lines, exact, whole):
    `exact` is False when something was left out (marked "…" after the last whole
    word kept); `whole` is False when one word wider than `width` had to be cut
    inside (the last resort).
    """
    units: list[tuple[str, str]] = []  # (piece, what joins it to the previous piece)
    for word in re.split(r"[ \t\r\n]+", str(text).strip()):
        parts = [part for part in _WORD_BREAK.split(word) if part]
        units += [(part, " " if i == 0 else "") for i, part in enumerate(parts)]
    if not units:
        return [""], True, True
    exact = whole = True

    def join(row: list[tuple[str, str]]) -> str:
        return "".join((glue if i else "") + piece for i, (piece, glue) in enumerate(row))

    def cut(piece: str) -> str:
        while len(piece) > 1 and measure(piece + "…") > width:
            piece = piece[:-1]
        return piece + "…"

    rows: list[list[tuple[str, str]]] = [[]]
    for piece, glue in units:
        if measure(piece) > width:
            piece, exact, whole = cut(piece), False, False
        if not rows[-1] or measure(join([*rows[-1], (piece, glue)])) <= width:
            rows[-1].append((piece, glue))
        else:
            rows.append([(piece, glue)])
    if len(rows) > lines:
        exact = False
        rows = rows[:lines]
        while True:  # "…" right after the last whole piece that still fits
            last = [(piece.rstrip("…"), glue) for piece, glue in rows[-1]]
            while len(last) > 1 and measure(join(last) + "…") > width:
                last.pop()
            end = (last[-1][0].rstrip("-/") + "…", last[-1][1])
            if measure(join([*last[:-1], end])) <= width:
                rows[-1] = [*last[:-1], end]
                break
            if len(rows) == 1:
                rows[-1], whole = [(cut(last[0][0]), "")], False
                break
            rows.pop()  # no room for "…" on this line: end the previous one with it
    return [join(row) for row in rows], exact, whole


def _profile_columns(inp: ChartInput, all_z: np.ndarray, n: int) -> list[int]:
    """The `n` columns that set segments apart most (largest |z| in any segment),
    those named in `profile_keep` first; returned in data order."""
    total = all_z.shape[1]
    if n >= total:
        return list(range(total))
    score = np.nan_to_num(np.abs(all_z), nan=0.0).max(axis=0)  # a NaN column scores 0
    keep = set(inp.profile_keep or [])
    names = list(inp.profile_features) + [feature for feature, _v in inp.profile_text]
    kept = np.array([names[j] in keep for j in range(total)])
    order = np.lexsort((np.arange(total), -score, ~kept))
    return sorted(int(j) for j in order[:n])


def _profile_labels(
    inp: ChartInput, cols: list[int], width: float, size: float
) -> tuple[list[str], bool, bool]:
    """Column labels at font `size` for columns `cols` of the numeric+text columns.

    Name (up to 3 lines; a text column "feature" then "= value", up to 2 lines each)
    and "all: <overall>" alone on the last line. Returns (labels, exact, fits):
    `fits` is False when an "all:" line or a single word is wider than `width`.
    """
    measure = functools.partial(text_width_pt, size=size)
    f_num = len(inp.profile_features)
    flags = set(inp.profile_flags or [])
    labels: list[str] = []
    exact = fits = True
    for j in cols:
        if j < f_num:
            name = inp.profile_features[j]
            body, ok, whole = _wrap_words(_pretty_feature(name), width, 3, measure)
            overall = None
            if inp.profile_overall is not None:
                value = inp.profile_overall[j]
                overall = _percent(value) if name in flags else format_compact(value)
        else:
            feature, value = inp.profile_text[j - f_num]
            value_words = " ".join(str(value).split()) or "(blank)"
            # "= Electronic" is too wide for a narrow column: "payment / method =" then
            # "Electronic / check" still reads as one phrase.
            for head_text, tail_text in (
                (_pretty_feature(feature), f"={_NBSP}{value_words}"),
                (f"{_pretty_feature(feature)} =", value_words),
            ):
                head, ok1, whole1 = _wrap_words(head_text, width, 2, measure)
                tail, ok2, whole2 = _wrap_words(tail_text, width, 2, measure)
                body, ok, whole = head + tail, ok1 and ok2, whole1 and whole2
                if whole:
                    break
            overall = _percent(inp.profile_text_overall[j - f_num])
        lines = list(body)
        if overall is not None:
            all_line = f"all: {overall}"
            fits = fits and measure(all_line) <= width
            lines.append(all_line)
        exact, fits = exact and ok, fits and whole
        labels.append("\n".join(lines))
    return labels, exact, fits


def _fit_profile_columns(
    inp: ChartInput, all_z: np.ndarray, axes_width_pt: float
) -> tuple[list[int], list[str], float]:
    """Choose the columns, their labels and the label font size.

    As many columns as fit (at most PROFILE_MAX_COLUMNS): every "all:" line and every
    word must fit its column at >= 9 pt. Then the largest font at which no label is
    shortened; failing that 9 pt, where the fewest words are left out.
    """
    total = all_z.shape[1]
    n_max = min(PROFILE_MAX_COLUMNS, total)
    floor = min(n_max, 6)  # fewer columns than this would hide too much; accept cuts
    for n in range(n_max, floor - 1, -1):
        cols = _profile_columns(inp, all_z, n)
        width = axes_width_pt / n - 5.0  # a little air between neighbouring labels
        start = 15.0 if n <= 5 else 13.0 if n <= 8 else 12.0
        sizes = np.arange(start, _PROFILE_MIN_FS - 0.01, -0.5)
        tried = [(size, *_profile_labels(inp, cols, width, size)) for size in sizes]
        for size, labels, exact, fits in tried:
            if exact and fits:
                return cols, labels, float(size)
        size, labels, _exact, fits = tried[-1]
        if fits or n == floor:
            return cols, labels, float(size)
    raise AssertionError("unreachable")  # the loop returns at n == floor


@dataclass
class ProfilesPlan:
    """What the profiles chart shows before its layout is known: every column a segment
    could be profiled on (numeric averages, then shares of text values) and the rows."""

    title: str
    subtitle: str
    z: np.ndarray  # (k, total) distance from everyone in standard deviations; NaN: none
    cells: list[list[str]]  # (k, total) the numbers written in the cells
    swatches: list[tuple[int, str, str | None]]  # (id, colour, marker if the colour repeats)
    row_labels: list[str]  # segment names and shares
    row_fs: float
    caption_lines: int  # the caption's room, kept before the columns are chosen
    cmap: Colormap
    norm: Normalize

    @property
    def empty(self) -> bool:
        return self.z.size == 0


@dataclass
class CellText:
    row: int
    column: int
    text: str
    color: str
    bold: bool


@dataclass
class HeatMap:
    """The profiles chart's columns once the heat map's width is known."""

    columns: list[int]  # indices into the plan's columns, in data order
    labels: list[str]
    label_fs: float
    caption: str
    z: np.ndarray  # (k, shown) the plan's z of the columns shown
    texts: list[CellText]  # empty when the cells are too small to read
    text_fs: float
    divider: float | None  # x of the line between numeric averages and text shares


def profiles_plan(inp: ChartInput) -> ProfilesPlan:
    k, f_num = inp.profile_z.shape
    t = len(inp.profile_text)
    total = f_num + t  # numeric columns, then one share column per text value
    subtitle = (
        "Numbers are segment averages. Colour: how far above (red) or below (blue) "
        "the average of all customers."
        if t == 0
        else "Numbers are segment averages; % the share with that value. Colour: above "
        "(red) or below (blue) all customers."
    )
    # A share column is coloured like a numeric one: the gap to everyone's share in
    # standard deviations of the 0/1 "has this value" column, sqrt(p (1 - p)).
    p_all = inp.profile_text_overall
    with np.errstate(invalid="ignore", divide="ignore"):
        text_z = (inp.profile_text_shares - p_all) / np.sqrt(p_all * (1 - p_all))
    all_z = np.hstack([inp.profile_z, np.where(np.isfinite(text_z), text_z, np.nan)])
    flags = set(inp.profile_flags or [])
    cells = [
        [
            _percent(inp.profile_means[i, j])
            if inp.profile_features[j] in flags
            else format_compact(inp.profile_means[i, j])
            for j in range(f_num)
        ]
        + [_percent(inp.profile_text_shares[i, j]) for j in range(t)]
        for i in range(k)
    ]
    total_size = sum(int(s.size) for s in inp.segments) or 1
    name_lines = 3 if k <= 6 else 2 if k <= 8 else 1
    name_width = 22 if k <= 8 else 30
    return ProfilesPlan(
        title=f"What sets each segment apart · {inp.version}",
        subtitle=subtitle,
        z=all_z if k and total else np.empty((0, 0)),
        cells=cells,
        swatches=[
            (
                seg.id,
                segment_color(seg.id),
                segment_marker(seg.id) if seg.id >= len(PALETTE) or seg.id < 0 else None,
            )
            for seg in inp.segments
        ],
        row_labels=[
            f"{shorten(seg.name, name_width, lines=name_lines)} ({int(seg.size) / total_size:.0%})"
            for seg in inp.segments
        ],
        row_fs=FS_TICK if k <= 10 else max(9, FS_TICK - (k - 10)),
        caption_lines=2 if total > PROFILE_MAX_COLUMNS else 1,
        cmap=colormaps["RdBu_r"].with_extremes(bad="#E5E5E5"),
        norm=Normalize(vmin=-_Z_CLIP, vmax=_Z_CLIP),
    )


def heat_map_plan(inp: ChartInput, plan: ProfilesPlan, axes_width_pt: float) -> HeatMap:
    """The columns that fit `axes_width_pt` points, their labels, and the cell texts."""
    k, total = plan.z.shape
    f_num = len(inp.profile_features)
    cols, labels, label_fs = _fit_profile_columns(inp, plan.z, axes_width_pt)
    f = len(cols)
    caption = plan.subtitle
    if f < total:
        what = "features" if total == f_num else "columns"
        caption += f"\n{f} of {total} {what} shown: those that differ most between segments."
    shown_z = plan.z[:, cols]
    # Cell numbers: as large as the cells allow.
    cell_w_pt = axes_width_pt / f
    cell_h_pt = 0.72 * FIGSIZE[1] * 72 / k
    texts = []
    if cell_w_pt >= 24 and cell_h_pt >= 12:
        for i in range(k):
            for j in range(f):
                zij = shown_z[i, j]
                dark = math.isfinite(zij) and luminance(plan.cmap(plan.norm(zij))) < 0.45
                bold = math.isfinite(zij) and abs(zij) >= 1
                texts.append(CellText(i, j, plan.cells[i][cols[j]], "white" if dark else INK, bold))
    n_num_shown = sum(1 for j in cols if j < f_num)
    return HeatMap(
        columns=cols,
        labels=labels,
        label_fs=label_fs,
        caption=caption,
        z=shown_z,
        texts=texts,
        text_fs=float(np.clip(min(cell_w_pt / 4.2, cell_h_pt / 2.2, 19), 7, 19)),
        divider=n_num_shown - 0.5 if 0 < n_num_shown < f else None,
    )


def build_profiles(inp: ChartInput) -> Figure:
    """Heat map of standardised segment means, annotated with original-unit means,
    then one column per text value with each segment's share of it.

    With more columns than fit, only those that differ most between segments are
    shown, in data order (so a column keeps its place from version to version) and
    the caption says how many were left out.
    """
    plan = profiles_plan(inp)
    with FIGURE_LOCK:
        fig = new_figure()
        if plan.empty:
            ax = fig.add_subplot()
            titles(fig, ax, plan.title, plan.subtitle)
            _draw_note(ax, "no numeric features to profile")
            ax.set_axis_off()
            return fig

        grid = fig.add_gridspec(1, 2, width_ratios=[1, 40])
        ax_sw = fig.add_subplot(grid[0, 0])
        ax = fig.add_subplot(grid[0, 1], sharey=ax_sw)
        fig.get_layout_engine().set(wspace=0.0)
        # Not an axes title: constrained layout would widen the narrow swatch column
        # to fit it. A figure-level caption at the bottom takes no column's width.
        titles(fig, ax_sw, plan.title, "")
        _draw_swatches(ax_sw, plan)
        _draw_colour_bar(fig, ax, plan)
        # The heat map's width is known only after layout (segment names and colour
        # bar take the rest), and it decides how many columns can be read.
        _caption(fig, "\n".join([plan.subtitle] * plan.caption_lines))
        # Before measuring: the shared y axis would repeat the segment names here.
        ax.tick_params(axis="y", which="both", left=False, labelleft=False)
        fig.draw_without_rendering()
        heat = heat_map_plan(inp, plan, ax.get_window_extent().width * 72 / fig.dpi)
        _caption(fig, heat.caption)
        _draw_heat_map(ax, plan, heat)
        return fig


def _caption(fig: Figure, text: str) -> None:
    fig.supxlabel(text, x=0.01, ha="left", fontsize=FS_SUBTITLE, color=MUTED_INK)


def _draw_swatches(ax_sw: Axes, plan: ProfilesPlan) -> None:
    """A colour swatch per segment (tied to its id), with the names as tick labels."""
    k = len(plan.swatches)
    for i, (seg_id, color, marker) in enumerate(plan.swatches):
        patch = Rectangle((0.0, i - 0.42), 1.0, 0.84, facecolor=color, edgecolor="none")
        patch.set_gid(f"segment-{seg_id}")
        ax_sw.add_patch(patch)
        if marker is not None:  # colour reused: show the marker too
            ax_sw.plot(
                [0.5],
                [i],
                marker=marker,
                markersize=8,
                color="white",
                markeredgecolor=INK,
                linestyle="",
            )
    ax_sw.set_xlim(0, 1)
    ax_sw.set_ylim(k - 0.5, -0.5)
    ax_sw.set_xticks([])
    ax_sw.set_yticks(np.arange(k), plan.row_labels, fontsize=plan.row_fs)
    ax_sw.tick_params(axis="y", which="both", length=0, colors=INK, pad=6)
    for spine in ax_sw.spines.values():
        spine.set_visible(False)


def _draw_colour_bar(fig: Figure, ax: Axes, plan: ProfilesPlan) -> None:
    cbar = fig.colorbar(
        ScalarMappable(norm=plan.norm, cmap=plan.cmap),
        ax=ax,
        shrink=0.85,
        pad=0.015,
        aspect=25,
        extend="both",
    )
    cbar.set_ticks([-2, -1, 0, 1, 2])
    cbar.set_ticklabels([f"{MINUS}2 sd", f"{MINUS}1 sd", "average", "+1 sd", "+2 sd"])
    cbar.ax.tick_params(labelsize=FS_TICK - 1, length=0)
    cbar.outline.set_visible(False)


def _draw_heat_map(ax: Axes, plan: ProfilesPlan, heat: HeatMap) -> None:
    k, f = heat.z.shape
    ax.imshow(
        np.ma.masked_invalid(np.clip(heat.z, -_Z_CLIP, _Z_CLIP)),
        cmap=plan.cmap,
        norm=plan.norm,
        aspect="auto",
        interpolation="nearest",
    )
    for cell in heat.texts:
        ax.text(
            cell.column,
            cell.row,
            cell.text,
            ha="center",
            va="center",
            fontsize=heat.text_fs,
            color=cell.color,
            fontweight="bold" if cell.bold else "normal",
        )
    # Thin white lines between cells.
    ax.set_xticks(np.arange(-0.5, f, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, k, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=2)
    ax.tick_params(which="minor", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if heat.divider is not None:  # numeric averages | shares of text values
        ax.axvline(heat.divider, color=INK, linewidth=2.5)
    ax.set_xticks(np.arange(f))
    # Top-aligned so the "all:" lines of neighbouring columns share one baseline row.
    ax.set_xticklabels(heat.labels, fontsize=heat.label_fs, va="top", linespacing=1.15)
    ax.tick_params(axis="x", length=0, colors=INK, pad=8)
