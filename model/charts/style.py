"""The look every chart shares: 1200x800 px, large fonts, inks and gridlines, a segment's
colour and marker from its stable id (the same in every chart and every version), numbers
in few characters, titles, and text fitted to a width.

Figures are `matplotlib.figure.Figure` on the Agg canvas (no pyplot, no global
rcParams), so drawing from a worker thread touches no shared plotting state; drawing is
still serialised by `FIGURE_LOCK`, as matplotlib does not promise thread safety.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

FIGSIZE = (12.0, 8.0)  # inches; at DPI this gives 1200x800 px
DPI = 100

# Okabe-Ito and Paul Tol colours, ordered greedily so that every prefix keeps the
# largest worst-case distance (CIELAB, normal vision and simulated deuteranopia,
# protanopia and tritanopia, Machado et al. 2009): >= 27 dE for the first 6,
# >= 22 for 8, >= 11 for all 12. No black or grey: those read as "other".
PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#882255",  # wine
    "#88CCEE",  # cyan
    "#DDCC77",  # sand
    "#EE6677",  # red
    "#332288",  # indigo
    "#997700",  # ochre
    "#CC79A7",  # pink
    "#009E73",  # bluish green
    "#117733",  # green
    "#AA3377",  # purple
)

# Sizes in points. At 100 dpi 1 pt = 1.39 px; a 1200 px chart shown ~500 px wide
# in Slack keeps a 15 pt tick label about 9 px high.
FS_TITLE = 22
FS_SUBTITLE = 15
FS_LABEL = 17
FS_TICK = 15
FS_LEGEND = 14

INK = "#222222"
MUTED_INK = "#555555"
GRID = {"color": "#DDDDDD", "linewidth": 0.8}

MINUS = "\u2212"
_CYCLE_MARKERS = ("o", "s", "^", "D")

FIGURE_LOCK = threading.RLock()
_TEXT_TO_PATH = TextToPath()


def segment_color(segment_id: int) -> str:
    """Colour of a segment, from its stable id (cycles after 12 segments)."""
    return PALETTE[int(segment_id) % len(PALETTE)]


def segment_marker(segment_id: int) -> str:
    """Point marker of a segment: changes with each cycle through the palette, so
    segments 0 and 12 (same colour) still differ in the cluster chart and legend."""
    return _CYCLE_MARKERS[(int(segment_id) // len(PALETTE)) % len(_CYCLE_MARKERS)]


def format_compact(value: float | None) -> str:
    """A number in few characters: 34, 34.2, 0.43, 72.4k, 1.23M, -5.1k; "–" if missing."""
    if value is None:
        return "–"
    x = float(value)
    if not math.isfinite(x):
        return "–"
    sign = MINUS if x < 0 else ""
    a = abs(x)
    units = ("", "k", "M", "B", "T")
    i = 0
    while a >= 1000 and i < len(units) - 1:
        a /= 1000
        i += 1
    text = _three_digits(a)
    if float(text) >= 1000 and i < len(units) - 1:  # 999.96 rounds up: promote
        a /= 1000
        i += 1
        text = _three_digits(a)
    if float(text) == 0:
        sign = ""
    return f"{sign}{text}{units[i]}"


def _three_digits(a: float) -> str:
    if a >= 100:
        return f"{a:.0f}"
    if a >= 10:
        text = f"{a:.1f}"
    elif a >= 1:
        text = f"{a:.2f}"
    elif a == 0:
        return "0"
    else:
        text = f"{a:.2g}"
        if "e" in text:
            return text
    return text.rstrip("0").rstrip(".") if "." in text else text


def new_figure() -> Figure:
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained", facecolor="white")
    FigureCanvasAgg(fig)
    fig.get_layout_engine().set(w_pad=0.12, h_pad=0.1)
    return fig


def titles(fig: Figure, ax: Axes, title: str, subtitle: str) -> None:
    fig.suptitle(title, x=0.01, ha="left", fontsize=FS_TITLE, fontweight="bold", color=INK)
    if subtitle:
        ax.set_title(subtitle, loc="left", fontsize=FS_SUBTITLE, color=MUTED_INK, pad=12)


def style_axes(ax: Axes) -> None:
    ax.tick_params(labelsize=FS_TICK, colors=INK, length=4)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#888888")


def shorten(text: str, width: float, lines: int = 1, measure: Callable[[str], float] = len) -> str:
    """Wrap `text` to at most `lines` lines no wider than `width`, ending in … if cut.

    `measure` gives a line's width (characters by default; points for tick labels).
    Breaks after spaces, underscores and slashes, so column names such as
    "days_since_last_order" wrap as "days_since_" / "last_order".
    """
    text = " ".join(str(text).split())
    pieces = [p for p in re.split(r"(?<=[ _/])", text) if p]

    def fits(line: str) -> bool:
        return measure(line.rstrip(" _/")) <= width

    wrapped: list[str] = []
    current = ""
    for piece in pieces:
        if not current or fits(current + piece):
            current += piece
            continue
        wrapped.append(current)
        current = piece
    wrapped.append(current)
    # Cut pieces that are too long on their own.
    out: list[str] = []
    for line in wrapped:
        while not fits(line) and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and not fits(line[:cut]):
                cut -= 1
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    out = [w.rstrip() for w in out if w.strip()] or [""]
    if len(out) > lines:
        out = out[:lines]
        last = out[-1].rstrip(" _/-")
        while last and not fits(last + "…"):
            last = last[:-1].rstrip(" _/-")
        out[-1] = last + "…"
    return "\n".join(out)


@functools.lru_cache(maxsize=4096)
def text_width_pt(text: str, size: float) -> float:
    """Width in points of one line of `text` in the default font at `size` pt."""
    width, _h, _d = _TEXT_TO_PATH.get_text_width_height_descent(
        text, FontProperties(size=size), ismath=False
    )
    return float(width)


def luminance(rgba: tuple[float, ...]) -> float:
    """WCAG relative luminance of an sRGB colour (0 black .. 1 white)."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
