"""Charts of segments over time: each segment's share across versions (trend) and the
from-segment x to-segment counts between a version and its predecessor (flows).

Drawn on demand (not at training) with the look of `model.charts.style` that a version's
charts share: 1200x800 px, large fonts, a segment's colour from its stable id. Kept
beside the versions they show: `vN/flows.png`, and `trend-<key>.png` in the served
version's folder, where the key changes whenever a version is added, removed or switched.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from model.answers import Flows, Trend
from model.charts.style import (
    FIGURE_LOCK,
    FS_LABEL,
    FS_LEGEND,
    FS_TICK,
    GRID,
    INK,
    MUTED_INK,
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
from model.charts.version_charts import save_png

log = logging.getLogger(__name__)

_NOT_SERVED = {"candidate", "rolled back"}
_BAND = "#ECECEC"


def _day(iso: str) -> str:
    try:
        when = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return ""
    return f"{when.day} {when:%b}"


def _percent(x: float, _pos: object = None) -> str:
    """0.34 -> 34%, 0.08 -> 8%, 0.016 -> 1.6%."""
    pct = x * 100
    whole = pct >= 10 or abs(pct - round(pct)) < 1e-9
    return f"{pct:.0f}%" if whole else f"{pct:.1f}%"


# ---- trend ----------------------------------------------------------------------------------
def build_trend(trend: Trend) -> Figure:
    """One line per segment id (its colour and marker), x = versions oldest first; versions
    never served or rolled back are shaded and labelled, the served one is bold."""
    with FIGURE_LOCK:
        fig = new_figure()
        ax = fig.add_subplot()
        style_axes(ax)
        versions = trend.versions
        n = len(versions)
        x = np.arange(n)
        first, last = _day(versions[0].trained_at), _day(versions[-1].trained_at)
        shaded = [t for t in versions if t.status in _NOT_SERVED]
        subtitle = f"Share of customers in each segment · {n} version{'s' * (n != 1)}"
        if first and n > 1:
            subtitle += f", {first} to {last}" if first != last else f", all on {first}"
        if shaded:
            subtitle += "\nGrey: not served (a held-back candidate, or rolled back)"
        titles(fig, ax, "Segments across versions", subtitle)

        for i, t in enumerate(versions):
            if t.status in _NOT_SERVED:
                ax.axvspan(i - 0.45, i + 0.45, color=_BAND, zorder=0, linewidth=0)
        top = 0.0
        latest = versions[-1].shares
        handles = []
        k = len(trend.segments)
        name_width = 24 if k <= 8 else 30
        # A small sideways step per segment, so equal shares do not hide each other.
        step = min(0.05, 0.3 / max(k, 1))
        for rank, seg in enumerate(trend.segments):
            y = np.array([t.shares.get(seg.id, np.nan) for t in versions], dtype=float)
            if np.isfinite(y).any():
                top = max(top, float(np.nanmax(y)))
            (line,) = ax.plot(
                x + (rank - (k - 1) / 2) * step,
                y,
                color=segment_color(seg.id),
                marker=segment_marker(seg.id),
                linewidth=3.2,
                markersize=10 if n <= 12 else 6,
                markeredgecolor="white",
                markeredgewidth=1.2,
                zorder=3,
            )
            line.set_gid(f"segment-{seg.id}")
            now = latest.get(seg.id)
            label = shorten(seg.name, name_width, lines=2 if k <= 8 else 1)
            label += f" · {_percent(now)}" if now is not None else " · gone"
            handles.append(
                Line2D(
                    [],
                    [],
                    color=segment_color(seg.id),
                    marker=segment_marker(seg.id),
                    linewidth=3.2,
                    markersize=10,
                    label=label,
                )
            )
        # Versions: name, date and whether it was served, under each point.
        labels = []
        days = [_day(t.trained_at) for t in versions]
        with_time = len(set(days)) < len(days)  # several versions a day: tell them apart
        for t, when in zip(versions, days, strict=True):
            parts = [t.version]
            if n <= 10:
                parts.append(f"{when} {t.trained_at[11:16]}".strip() if with_time else when)
            if t.status in _NOT_SERVED or t.status == "served":
                parts.append(t.status)
            labels.append("\n".join(p for p in parts if p))
        ax.set_xticks(x, labels, fontsize=FS_TICK if n <= 10 else 12)
        for tick, t in zip(ax.get_xticklabels(), versions, strict=True):
            if t.status == "served":
                tick.set_fontweight("bold")
            elif t.status in _NOT_SERVED:
                tick.set_color(MUTED_INK)
                tick.set_fontstyle("italic")
        ax.set_xlim(-0.6, n - 0.4)
        ax.set_ylim(0, max(top * 1.15, 0.05))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
        ax.yaxis.set_major_formatter(FuncFormatter(_percent))
        ax.set_ylabel("Share of customers", fontsize=FS_LABEL, color=INK)
        ax.grid(axis="y", **GRID)
        ax.set_axisbelow(True)
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0,
            fontsize=FS_LEGEND if k <= 8 else 12,
            frameon=False,
            labelspacing=0.9 if k <= 8 else 0.5,
            title=f"Segment · share in {versions[-1].version}",
            title_fontsize=FS_LEGEND if k <= 8 else 12,
            alignment="left",
        )
        return fig


# ---- flows ----------------------------------------------------------------------------------
def build_flows(flows: Flows) -> Figure:
    """Heat map of customer counts, rows = segments of the previous version, columns = the
    version's; colour and the percentage are the share of the row (where that segment's
    customers went), so a small segment's moves show as clearly as a large one's."""
    with FIGURE_LOCK:
        fig = new_figure()
        counts = np.asarray(flows.counts, dtype=float).reshape(
            len(flows.sources), len(flows.targets)
        )
        rows, cols = counts.shape
        title = f"Where customers went · {flows.previous} → {flows.version}"
        moved = flows.moved
        subtitle = (
            f"{format_compact(flows.common)} customers in both: "
            f"{format_compact(moved)} changed segment · "
            f"{format_compact(flows.left)} left the data · "
            f"{format_compact(flows.joined)} new in {flows.version}"
        )
        if rows == 0 or cols == 0:
            ax = fig.add_subplot()
            titles(fig, ax, title, subtitle)
            ax.set_axis_off()
            return fig
        grid = fig.add_gridspec(2, 2, width_ratios=[1, 36], height_ratios=[1, 26])
        ax_top = fig.add_subplot(grid[0, 1])
        ax_left = fig.add_subplot(grid[1, 0])
        ax = fig.add_subplot(grid[1, 1], sharex=ax_top, sharey=ax_left)
        fig.get_layout_engine().set(wspace=0.0, hspace=0.0)
        titles(fig, ax_top, title, "")
        fig.supxlabel(subtitle, x=0.01, ha="left", fontsize=15, color=MUTED_INK)

        totals = counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(totals > 0, counts / np.maximum(totals, 1), np.nan)
        cmap = colormaps["Blues"].with_extremes(bad="#F2F2F2")
        norm = PowerNorm(gamma=0.5, vmin=0.0, vmax=1.0)  # small moves still get colour
        image = ax.imshow(
            np.ma.masked_invalid(share),
            cmap=cmap,
            norm=norm,
            aspect="auto",
            interpolation="nearest",
        )
        cell_w = 0.75 * 12 * 72 / cols
        cell_h = 0.7 * 8 * 72 / rows
        fs = float(np.clip(min(cell_w / 4.5, cell_h / 2.6, 18), 7, 18))
        if cell_w >= 26 and cell_h >= 14:
            for i in range(rows):
                for j in range(cols):
                    s = share[i, j]
                    dark = math.isfinite(s) and luminance(cmap(norm(s))) < 0.4
                    same = flows.sources[i].id == flows.targets[j].id
                    text = format_compact(counts[i, j])
                    if counts[i, j] > 0 and cell_h >= 24:
                        text += f"\n{_percent(s)}"
                    ax.text(
                        j,
                        i,
                        text,
                        ha="center",
                        va="center",
                        fontsize=fs,
                        color="white" if dark else INK if counts[i, j] else "#999999",
                        # moves stand out; staying and empty cells do not
                        fontweight="bold" if counts[i, j] and not same else "normal",
                    )
        ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
        ax.grid(which="minor", color="white", linewidth=2)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xlabel(f"Segment in {flows.version}", fontsize=FS_LABEL, color=INK)

        # Colour swatches tied to the segment ids, with the names beside them.
        label_fs = FS_TICK if max(rows, cols) <= 6 else 13 if max(rows, cols) <= 9 else 11
        measure = functools.partial(text_width_pt, size=label_fs)
        for j, t in enumerate(flows.targets):
            patch = Rectangle((j - 0.46, 0), 0.92, 1, facecolor=segment_color(t.id), lw=0)
            patch.set_gid(f"target-segment-{t.id}")
            ax_top.add_patch(patch)
        ax_top.set_ylim(0, 1)
        ax_top.set_yticks([])
        ax_top.xaxis.set_ticks_position("top")
        slanted = cols > 6  # narrow columns: slanted names fit, wrapped ones would not
        ax_top.set_xticks(
            np.arange(cols),
            [
                shorten(t.name, 130, lines=1, measure=measure)
                if slanted
                else shorten(t.name, max(cell_w - 8, 40), lines=2, measure=measure)
                for t in flows.targets
            ],
            fontsize=label_fs,
            rotation=30 if slanted else 0,
            ha="left" if slanted else "center",
            rotation_mode="anchor" if slanted else "default",
        )
        ax_top.tick_params(axis="both", which="both", length=0, pad=4, colors=INK)
        for j, t in enumerate(flows.sources):
            patch = Rectangle((0, j - 0.46), 1, 0.92, facecolor=segment_color(t.id), lw=0)
            patch.set_gid(f"source-segment-{t.id}")
            ax_left.add_patch(patch)
        ax_left.set_xlim(0, 1)
        ax_left.set_xticks([])
        ax_left.set_yticks(
            np.arange(rows),
            [
                shorten(s.name, 170, lines=2, measure=measure) + f"\n{format_compact(totals[i, 0])}"
                for i, s in enumerate(flows.sources)
            ],
            fontsize=label_fs,
        )
        ax_left.set_ylim(rows - 0.5, -0.5)
        ax_left.tick_params(axis="both", which="both", length=0, pad=6, colors=INK)
        ax_left.set_ylabel(f"Segment in {flows.previous}", fontsize=FS_LABEL, color=INK)
        for a in (ax_top, ax_left):
            for spine in a.spines.values():
                spine.set_visible(False)
        cbar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.015, aspect=25)
        cbar.set_ticks([0, 0.05, 0.25, 0.5, 1.0])
        cbar.set_ticklabels(["0%", "5%", "25%", "50%", "100%"])
        cbar.ax.tick_params(labelsize=FS_TICK - 1, length=0)
        cbar.set_label("share of the row's customers", fontsize=FS_TICK, color=MUTED_INK)
        cbar.outline.set_visible(False)
        return fig


# ---- kept on disk ---------------------------------------------------------------------------
def _kept(path: Path, build, title: str) -> Path:
    """Draw into `path` unless it is there already; a model folder we cannot write to gets
    the chart in a temporary folder instead (drawn again next time)."""
    if path.is_file():
        return path
    fig = build()
    try:
        return save_png(fig, path, title=title)
    except OSError as exc:
        log.warning("cannot keep %s (%s); drawing it in a temporary folder", path, exc)
        return save_png(fig, Path(tempfile.mkdtemp(prefix="segbot-")) / path.name, title=title)


def flows_png(flows: Flows, folder: Path) -> Path:
    return _kept(
        folder / "flows.png",
        lambda: build_flows(flows),
        f"segbot {flows.version} flows from {flows.previous}",
    )


def trend_png(trend: Trend, path: Path) -> Path:
    """The trend chart at `path`; older trend charts in the same folder are removed."""
    if not path.is_file():
        for old in path.parent.glob(f"{path.name.split('-')[0]}-*.png"):
            if old != path:
                with contextlib.suppress(OSError):
                    old.unlink()
    return _kept(path, lambda: build_trend(trend), "segbot segment trend")
