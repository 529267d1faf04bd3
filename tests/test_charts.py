"""Charts: valid PNGs of the right size, not blank, every segment named, colours
tied to segment ids, a stratified sample that keeps small segments."""

from __future__ import annotations

import functools
import itertools
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.image import imread
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from model.charts import CHARTS
from model.charts import version_charts as charts
from model.charts.style import (
    INK,
    PALETTE,
    format_compact,
    segment_color,
    segment_marker,
    text_width_pt,
)
from model.charts.version_charts import (
    ChartInput,
    ChartSegment,
    Elbow,
    build_clusters,
    build_elbow,
    build_profiles,
    chart_sample,
    clusters_plan,
    elbow_plan,
    heat_map_plan,
    profiles_plan,
    render_all,
)

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["High-Income Shoppers", "Budget Regulars", "Young Big Spenders", "Careful Seniors"]
PROFILE_FEATURES = ["Age", "Annual Income (k$)", "Spending Score (1-100)", "orders", "basket"]
# Original units of the synthetic features: scale and offset per column.
SCALE = np.array([8.0, 15_000.0, 12.0, 3.0, 40.0, 1.0, 1.0, 1.0])
OFFSET = np.array([40.0, 60_000.0, 50.0, 10.0, 120.0, 0.0, 0.0, 0.0])


def make_input(
    n: int = 3000,
    k: int = 4,
    d: int = 5,
    seed: int = 0,
    names: list[str] | None = None,
    ids: list[int] | None = None,
    display_order: list[int] | None = None,
    version: str = "v3",
) -> ChartInput:
    """A ChartInput from make_blobs + KMeans, shaped like the trainer's output.

    `ids[j]` is the stable id of KMeans cluster j and `names[j]` its name;
    `display_order` lists cluster numbers in the order segments are shown.
    """
    names = names or [NAMES[j] if j < len(NAMES) else f"Segment {j}" for j in range(k)]
    ids = list(range(k)) if ids is None else ids
    order = list(range(k)) if display_order is None else display_order
    x, _ = make_blobs(n_samples=n, n_features=d, centers=k, cluster_std=1.5, random_state=seed)
    raw = np.zeros(n, int)
    if k > 1:
        raw = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(x)
    original = x * SCALE[:d] + OFFSET[:d]
    scaled = (x - x.mean(0)) / x.std(0)
    seg_of_point = np.asarray(ids)[raw]
    features = PROFILE_FEATURES[:d] if d <= len(PROFILE_FEATURES) else [f"f{i}" for i in range(d)]
    mu, sd = original.mean(0), original.std(0)
    means = np.array([original[raw == j].mean(0) for j in order])
    ks = list(range(1, 9))
    inertias = [float(n * d / kk**1.3) for kk in ks]
    return ChartInput(
        version=version,
        trained_at="2026-11-27T08:30:00+00:00",
        segments=[
            ChartSegment(id=ids[j], name=names[j], size=int((raw == j).sum())) for j in order
        ],
        ks=ks,
        inertias=inertias,
        silhouettes={kk: 0.3 + 0.1 * (kk == k) for kk in ks if kk >= 2},
        chosen_k=k,
        k_reason=f"knee of the inertia curve at k={k} (silhouette 0.40)",
        points=scaled,
        point_segments=seg_of_point,
        centroids=np.array([scaled[raw == j].mean(0) for j in order]),
        feature_names=[f.lower().split(" (")[0].replace(" ", "_") for f in features],
        profile_features=features,
        profile_z=(means - mu) / sd,
        profile_means=means,
        profile_overall=mu,
    )


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def assert_good_png(path: Path) -> None:
    assert path.is_file()
    assert png_size(path) == (1200, 800)
    assert path.stat().st_size < 300_000, f"{path.name}: {path.stat().st_size} bytes"
    pixels = imread(path)[..., :3]
    assert pixels.var() > 0.003, f"{path.name} looks blank"
    assert (pixels.min(axis=2) < 0.9).mean() > 0.01, f"{path.name} is almost all white"


def texts(fig: Figure) -> str:
    """Every text the figure shows (titles, labels, tick labels, legend), whitespace joined."""
    parts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    return " ".join(" ".join(parts).split())


def norm(text: str) -> str:
    return " ".join(text.split())


def rgb(color) -> tuple[float, float, float]:
    arr = np.asarray(color, dtype=float).reshape(-1)
    return tuple(np.round(arr[:3], 3)) if arr.size >= 3 else to_rgb(color)


def gid_colors(fig: Figure, prefix: str = "segment-") -> dict[int, tuple[float, float, float]]:
    """Segment id -> colour of the artists tagged `segment-<id>` (scatter or swatch)."""
    out: dict[int, tuple[float, float, float]] = {}
    for artist in fig.findobj(lambda a: str(a.get_gid() or "").startswith(prefix)):
        seg = int(str(artist.get_gid())[len(prefix) :])
        color = artist.get_facecolor()
        color = rgb(color[0] if np.ndim(color) == 2 else color)
        assert out.setdefault(seg, color) == color
    return out


@pytest.fixture(scope="module")
def inp() -> ChartInput:
    return make_input()


@pytest.fixture(scope="module")
def rendered(inp: ChartInput, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return render_all(tmp_path_factory.mktemp("charts"), inp)


# --- files -----------------------------------------------------------------


def test_render_all_writes_three_good_pngs(rendered: dict[str, Path]) -> None:
    assert set(rendered) == set(CHARTS)
    for name, path in rendered.items():
        assert path.name == f"{name}.png"
        assert_good_png(path)
    if sys.platform != "win32":  # readable by the bot and anyone serving the files
        assert all(p.stat().st_mode & 0o444 == 0o444 for p in rendered.values())
    leftovers = [p.name for p in next(iter(rendered.values())).parent.iterdir()]
    assert sorted(leftovers) == sorted(f"{n}.png" for n in CHARTS)


def test_the_elbow_alone_is_the_same_picture(
    inp: ChartInput, rendered: dict[str, Path], tmp_path: Path
) -> None:
    # training draws the elbow from its own fields before the segments exist
    elbow = charts.Elbow(**{f: getattr(inp, f) for f in charts.Elbow.__dataclass_fields__})
    assert render_all(tmp_path / "a", elbow) == {"elbow": tmp_path / "a" / "elbow.png"}
    assert (tmp_path / "a" / "elbow.png").read_bytes() == rendered["elbow"].read_bytes()
    paths = render_all(tmp_path / "b", inp, ("clusters", "profiles"))
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["clusters.png", "profiles.png"]
    assert paths["profiles"].read_bytes() == rendered["profiles"].read_bytes()
    with pytest.raises(ValueError, match="ks has 2 values but inertias has 1"):
        charts.Elbow("v1", inp.trained_at, [1, 2], [5.0], {}, 1, "")


def test_failed_save_keeps_the_previous_png(
    inp: ChartInput, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = render_all(tmp_path, inp)
    before = {name: p.read_bytes() for name, p in paths.items()}

    def crash(fd: int) -> None:  # the new PNG is written but never made durable
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(charts.os, "fsync", crash)
    with pytest.raises(RuntimeError, match="disk on fire"):
        render_all(tmp_path, inp)
    assert {name: p.read_bytes() for name, p in paths.items()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.png" for n in CHARTS)


def test_renders_from_worker_threads(tmp_path: Path) -> None:
    inputs = [make_input(n=800, seed=s) for s in (1, 2)]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            render_all(tmp_path / str(i), inputs[i])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    for i in range(2):
        for name in CHARTS:
            assert_good_png(tmp_path / str(i) / f"{name}.png")


def test_model_charts_imports_nothing_slack() -> None:
    code = (
        "import sys, model.charts.version_charts\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('slack_bolt', 'slack_sdk', 'bot')]\n"
        "assert not bad, bad\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# --- what the figures say ---------------------------------------------------


def test_elbow_shows_version_date_and_why_k(inp: ChartInput) -> None:
    fig = build_elbow(inp)
    shown = texts(fig)
    assert "v3" in shown
    assert "27 Nov 2026" in shown
    assert inp.k_reason in shown
    assert f"k = {inp.chosen_k}" in shown
    assert "Silhouette" in shown
    vlines = [
        line
        for line in fig.findobj(lambda a: hasattr(a, "get_xdata") and hasattr(a, "get_linestyle"))
        if line.get_linestyle() == ":"
    ]
    assert any(list(v.get_xdata()) == [inp.chosen_k, inp.chosen_k] for v in vlines)


def test_elbow_greys_out_the_ks_auto_did_not_try(inp: ChartInput) -> None:
    def grey_spans(fig: Figure) -> list[tuple[float, float]]:
        return [
            (round(p.get_x(), 2), round(p.get_x() + p.get_width(), 2)) for p in fig.axes[0].patches
        ]

    assert "not tried by auto" not in texts(build_elbow(inp))  # k_min=1: nothing greyed
    assert grey_spans(build_elbow(inp)) == []
    fig = build_elbow(ChartInput(**{**inp.__dict__, "k_min": 3}))
    assert "not tried by auto: k < 3" in texts(fig)
    # ks start at 1, axis from 0.6: grey from there to halfway between k=2 and k=3
    assert grey_spans(fig) == [(0.6, 2.5)]


def test_clusters_legend_names_every_segment_with_its_size(inp: ChartInput) -> None:
    fig = build_clusters(inp)
    (ax,) = [a for a in fig.axes if a.get_legend() is not None]
    labels = [norm(t.get_text()) for t in ax.get_legend().get_texts()]
    for seg, label in zip(inp.segments, labels, strict=False):
        assert seg.name in label
        assert f"{seg.size:,}" in label
    assert "PC1" in ax.get_xlabel() and "%" in ax.get_xlabel()
    assert "PC2" in ax.get_ylabel()


def test_cluster_axes_name_the_top_loading_feature_with_sign() -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(500, 3)) * np.array([10.0, 1.0, 0.1])
    pts[:, 0] *= -1
    base = make_input(n=500, k=2, d=3)
    inp = ChartInput(
        **{
            **base.__dict__,
            "points": pts,
            "point_segments": (pts[:, 1] > 0).astype(int),
            "feature_names": ["annual_income", "age", "gender_Female"],
        }
    )
    ax = build_clusters(inp).axes[0]
    assert "annual_income" in ax.get_xlabel()
    assert "age" in ax.get_ylabel()
    assert "gender_Female" not in ax.get_xlabel()
    assert ax.get_xlabel().count("+") + ax.get_xlabel().count("\u2212") >= 1


def test_profiles_name_every_segment_and_feature(inp: ChartInput) -> None:
    fig = build_profiles(inp)
    ticks = " ".join(
        norm(t.get_text()) for ax in fig.axes for t in ax.get_yticklabels() + ax.get_xticklabels()
    )
    for seg in inp.segments:
        assert seg.name in ticks
    for feature in inp.profile_features:
        assert norm(feature) in ticks.replace("_ ", "_")
    cells = texts(fig)
    assert format_compact(inp.profile_means[0, 1]) in cells  # e.g. "72.4k"


# --- profiles: many columns, labels, flags -----------------------------------


def profile_input(
    features: list[str],
    z: np.ndarray,
    means: np.ndarray | None = None,
    overall: np.ndarray | None = None,
    **extra,
) -> ChartInput:
    """A 3-segment ChartInput whose profile columns are exactly `features` / `z`."""
    base = make_input(n=600, k=3, d=3)
    f = len(features)
    return ChartInput(
        **{
            **base.__dict__,
            "profile_features": features,
            "profile_z": z,
            "profile_means": np.full((3, f), 5.0) if means is None else means,
            "profile_overall": np.full(f, 5.0) if overall is None else overall,
            **extra,
        }
    )


def heat_map(fig: Figure):
    (ax,) = [a for a in fig.axes if a.images]
    return ax


def column_labels(fig: Figure) -> list[str]:
    fig.canvas.draw()
    return [t.get_text() for t in heat_map(fig).get_xticklabels()]


def name_of(label: str) -> str:
    """The feature name a column label shows (its lines but the "all:" one)."""
    return " ".join(label.split("\n")[:-1]).replace(" ", "_")


def many_features() -> tuple[list[str], np.ndarray, list[int]]:
    """85 features; |z| is 0.1 except for 20 columns with known, distinct |z| (the
    strongest first, some negative), so the top n for any n <= 20 is known."""
    rng = np.random.default_rng(7)
    features = [f"feature_{j:02d}" for j in range(85)]
    z = np.full((3, 85), 0.1)
    strongest = [int(j) for j in rng.permutation(85)[:20]]
    for rank, j in enumerate(strongest):
        z[rank % 3, j] = (-1) ** rank * (3.0 - 0.1 * rank)  # 3.0, -2.9, 2.8, ...
    return features, z, strongest


def test_profiles_with_85_features_show_the_cap_chosen_by_largest_z() -> None:
    features, z, strongest = many_features()
    fig = build_profiles(profile_input(features, z))
    labels = column_labels(fig)
    n = len(labels)
    assert heat_map(fig).images[0].get_array().shape == (3, n)
    assert 6 <= n <= charts.PROFILE_MAX_COLUMNS
    assert f"{n} of 85 features shown: those that differ most between segments." in texts(fig)
    shown = [name_of(label) for label in labels]
    # The n strongest by |z| (signs alternate), in data order.
    assert shown == [features[j] for j in sorted(strongest[:n])]


def test_profiles_honour_the_column_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    # Width alone would allow ~10 columns here; the cap is what stops at 4.
    monkeypatch.setattr(charts, "PROFILE_MAX_COLUMNS", 4)
    features, z, strongest = many_features()
    fig = build_profiles(profile_input(features, z))
    shown = [name_of(label) for label in column_labels(fig)]
    assert shown == [features[j] for j in sorted(strongest[:4])]
    assert "4 of 85 features shown" in texts(fig)


def test_profiles_keep_the_features_named_in_profile_keep() -> None:
    features, z, strongest = many_features()
    weak = next(j for j in range(85) if j not in strongest)
    inp = profile_input(features, z, profile_keep=[features[weak], "not a feature"])
    shown = [name_of(label) for label in column_labels(build_profiles(inp))]
    n = len(shown)
    assert shown == [features[j] for j in sorted([weak, *strongest[: n - 1]])]


def test_profiles_text_columns_count_towards_the_cap() -> None:
    features, z, _strongest = many_features()
    inp = profile_input(
        features[:10],
        z[:, :10] * 0 + 0.05,
        profile_text=[("plan", f"P{j}") for j in range(8)],
        # Shares 0.5 against 0.5 overall (z = 0) except P3: 0.9 vs 0.5 (z = 0.8).
        profile_text_shares=np.array([[0.9 if j == 3 else 0.5 for j in range(8)]] * 3),
        profile_text_overall=np.full(8, 0.5),
    )
    fig = build_profiles(inp)
    labels = column_labels(fig)
    assert len(labels) <= charts.PROFILE_MAX_COLUMNS
    assert any("= P3" in norm(label) for label in labels)
    assert f"{len(labels)} of 18 columns shown" in texts(fig)


def test_profiles_under_the_cap_show_every_column_and_no_caption() -> None:
    fig = build_profiles(make_input(d=5))
    assert len(column_labels(fig)) == 5
    assert " shown:" not in texts(fig)


LONG_NAMES = [
    "monthly_charges",
    "Annual Income (k$)",
    "Spending Score (1-100)",
    "days_since_last_order",
    "number of customer service calls made in the last twelve months",
    "total_charges",
    "average basket value per visit",
    "PPERSAUT",
    "Customer Lifetime Value",
]


def test_profile_labels_break_only_between_words() -> None:
    f = len(LONG_NAMES)
    z = np.linspace(-2, 2, 3 * f).reshape(3, f)
    fig = build_profiles(profile_input(LONG_NAMES, z, overall=np.full(f, 2280.0)))
    labels = column_labels(fig)
    assert len(labels) == f  # 9 columns of short words fit
    for name, label in zip(LONG_NAMES, labels, strict=True):
        *body, last = label.split("\n")
        assert last == "all: 2.28k"  # on its own last line
        assert 1 <= len(body) <= 3
        words = " ".join(body).split()
        original = name.replace("_", " ").split()  # capitalisation kept as given
        assert "…" not in " ".join(words[:-1])  # an ellipsis only at the very end
        for word in words:
            assert word.rstrip("…") in original, (name, label)  # whole words only
        if "…" not in label:
            assert words == original
    assert "months" not in " ".join(labels)  # the 11-word name was shortened
    # Neighbouring labels do not overlap, and the font is at least 9 pt.
    ticks = heat_map(fig).get_xticklabels()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ticks]
    for left, right in itertools.pairwise(boxes):
        assert left.x1 <= right.x0, "column labels overlap"
    assert min(t.get_fontsize() for t in ticks) >= 9


def test_text_columns_are_labelled_feature_equals_value() -> None:
    inp = profile_input(
        ["tenure"],
        np.array([[1.0], [0.0], [-1.0]]),
        profile_text=[("contract", "Month-to-month"), ("payment_method", "Electronic check")],
        profile_text_shares=np.array([[0.9, 0.5], [0.5, 0.3], [0.1, 0.2]]),
        profile_text_overall=np.array([0.55, 0.34]),
    )
    labels = [norm(label) for label in column_labels(build_profiles(inp))]
    assert labels[1] in (
        "contract = Month-to-month all: 55%",
        "contract = Month- to-month all: 55%",
    )
    assert labels[2] in (
        "payment method = Electronic check all: 34%",
        "payment method = Electronic check all: 34%".replace("= ", "=\u00a0"),
    )


def test_wrap_words_breaks_hyphens_between_letters_only() -> None:
    measure = functools.partial(text_width_pt, size=9)
    width = measure("Month-to-") - 1
    lines, exact, whole = charts._wrap_words("Month-to-month", width, 3, measure)
    assert (lines, exact, whole) == (["Month-", "to-month"], True, True)
    width = measure("Score (1-") + 1  # room for "(1-" but never split inside "(1-100)"
    lines, _exact, _whole = charts._wrap_words("Score (1-100)", width, 3, measure)
    assert lines == ["Score", "(1-100)"]
    lines, exact, whole = charts._wrap_words("one two three four", measure("one two"), 1, measure)
    assert (lines, exact, whole) == (["one…"], False, True)


def test_flag_columns_are_annotated_as_percentages() -> None:
    features = ["tenure", "senior_citizen"]
    means = np.array([[13.6, 0.054], [59.3, 1.0], [29.8, 0.0034]])
    inp = profile_input(
        features,
        np.array([[-1.0, -0.3], [1.0, 2.3], [0.0, -0.4]]),
        means=means,
        overall=np.array([32.4, 0.1621]),
        profile_flags=["senior_citizen"],
    )
    fig = build_profiles(inp)
    cells = [t.get_text() for t in heat_map(fig).texts]
    assert cells == ["13.6", "5%", "59.3", "100%", "29.8", "0.3%"]
    labels = column_labels(fig)
    assert labels[1].split("\n")[-1] == "all: 16%"
    assert labels[0].split("\n")[-1] == "all: 32.4"
    # Without the flag the same column shows plain averages.
    plain = build_profiles(profile_input(features, inp.profile_z, means=means))
    assert "0.054" in [t.get_text() for t in heat_map(plain).texts]


def test_same_id_same_colour_in_every_chart_and_version() -> None:
    a = make_input(seed=3)
    # Next version: the same segments (same ids and names) shown in another order.
    b = make_input(seed=3, display_order=[2, 0, 3, 1], version="v4")
    # Another model where the ids are permuted over the clusters.
    c = make_input(seed=3, ids=[3, 2, 0, 1], version="v5")
    seen: dict[str, dict[int, tuple[float, float, float]]] = {}
    for label, inp in (("a", a), ("b", b), ("c", c)):
        for kind, build in (("clusters", build_clusters), ("profiles", build_profiles)):
            colours = gid_colors(build(inp))
            assert set(colours) == {s.id for s in inp.segments}, (label, kind)
            for seg_id, colour in colours.items():
                assert colour == rgb(to_rgb(segment_color(seg_id))), (label, kind, seg_id)
            seen[f"{label}-{kind}"] = colours
    assert seen["a-clusters"] == seen["a-profiles"] == seen["b-clusters"] == seen["b-profiles"]
    by_name = {
        inp.version: {s.name: seen[f"{lbl}-clusters"][s.id] for s in inp.segments}
        for lbl, inp in (("a", a), ("c", c))
    }
    assert by_name["v3"] != by_name["v5"]  # colour follows the id, not the name or position
    # The legend swatches follow the same colours, in display order.
    fig = build_clusters(b)
    (ax,) = [x for x in fig.axes if x.get_legend() is not None]
    handles = ax.get_legend().legend_handles[: len(b.segments)]
    for seg, handle in zip(b.segments, handles, strict=True):
        assert rgb(to_rgb(handle.get_markerfacecolor())) == rgb(to_rgb(segment_color(seg.id)))


# --- plans: what a chart shows, worked out without drawing ------------------


def test_elbow_plan_sorts_limits_and_marks_the_chosen_k() -> None:
    elbow = Elbow(
        version="v2",
        trained_at="2026-11-27T08:30:00+00:00",
        ks=[3, 1, 2, 6, 5, 4, 7],
        inertias=[40.0, 100.0, 60.0, 30.0, 32.0, 35.0, float("nan")],  # k=7: not finite
        silhouettes={2: 0.3, 3: 0.5, 4: 0.4, 5: float("nan")},
        chosen_k=3,
        k_reason="knee at 3",
        k_min=2,
    )
    plan = elbow_plan(elbow)
    assert plan.note is None and plan.subtitle == "Chosen k = 3: knee at 3"
    assert plan.title == "Choosing k · v2, trained 27 Nov 2026 08:30 UTC"
    assert list(plan.ks) == [1, 2, 3, 4, 5, 6]
    assert list(plan.inertias) == [100, 60, 40, 35, 32, 30]
    assert plan.xticks == [1, 2, 3, 4, 5, 6] and plan.xlim == pytest.approx((0.6, 6.4))
    # from 0; above the highest inertia by 2.2 pads of 8% of the range (70): 12.32
    assert plan.ylim == pytest.approx((0.0, 112.32))
    # k=1 greyed out: from the axis' left edge to halfway to k_min, labelled in between
    assert plan.not_tried == pytest.approx((0.6, 1.5, 1.05))
    assert list(plan.silhouette_ks) == [2, 3, 4] and list(plan.silhouettes) == [0.3, 0.5, 0.4]
    # pad max(15% of 0.2, 0.05) = 0.05: from 0 (below 0.25) to 0.5 + 2.5 pads
    assert plan.silhouette_ylim == pytest.approx((0.0, 0.625))
    assert plan.silhouette_at_chosen == 0.5 and not plan.silhouette_missing
    assert plan.chosen_in_range and plan.chosen_inertia == 40.0
    assert plan.label_right  # k=3 is left of the middle (3.5): the label goes right


def test_elbow_plan_without_a_search_is_a_note() -> None:
    plan = elbow_plan(Elbow("v1", "2026-11-27T08:30:00Z", [], [], {}, 4, ""))
    assert plan.note == "k was fixed at 4: no search over k to show"
    assert plan.subtitle == "Chosen k = 4"


def test_clusters_plan_groups_points_by_segment_in_drawing_order() -> None:
    # Two features: the 2-D projection only rotates, so distances stay as they were.
    points = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0], [-2.0, 5.0], [4.0, -1.0]])
    inp = ChartInput(
        version="v1",
        trained_at="2026-11-27T08:30:00+00:00",
        segments=[ChartSegment(5, "Loyal", 10), ChartSegment(2, "New", 30)],
        ks=[2],
        inertias=[1.0],
        silhouettes={},
        chosen_k=2,
        k_reason="",
        points=points,
        point_segments=np.array([2, 5, 2, 9, 2]),  # 9: no such segment
        centroids=np.array([[3.0, 4.0], [5 / 3, 0.0]]),
        feature_names=["age", "income"],
        profile_features=[],
        profile_z=np.empty((2, 0)),
        profile_means=np.empty((2, 0)),
    )
    plan = clusters_plan(inp)
    assert not plan.empty and not plan.one_feature
    assert plan.subtitle.startswith("5 of 40 customers, sampled per segment")
    assert "(100% of variance)" in plan.subtitle
    # the most points first (drawn underneath), the stray ones in grey below all
    assert [(g.segment_id, g.color, g.zorder, g.x.size) for g in plan.groups] == [
        (2, segment_color(2), 2.0, 3),
        (5, segment_color(5), 2.01, 1),
        (None, "#BBBBBB", 1.5, 1),
    ]
    new = plan.groups[0]
    xy = np.column_stack([new.x, new.y])
    assert np.linalg.norm(xy[0] - xy[1]) == pytest.approx(np.linalg.norm(points[0] - points[2]))
    assert np.linalg.norm(xy[1] - xy[2]) == pytest.approx(np.linalg.norm(points[2] - points[4]))
    assert [c[0] for c in plan.centroids] == [5, 2]
    assert [e.label for e in plan.legend] == ["Loyal\n10 · 25%", "New\n30 · 75%"]
    assert [e.marker for e in plan.legend] == [segment_marker(5), segment_marker(2)]


def test_profiles_plan_and_heat_map_without_drawing() -> None:
    inp = ChartInput(
        **{
            **make_input(n=300, k=2, d=2).__dict__,
            "profile_features": ["age", "is_member"],
            "profile_z": np.array([[2.0, 0.1], [-0.5, np.nan]]),
            "profile_means": np.array([[34.5, 0.25], [61.0, 0.004]]),
            "profile_flags": ["is_member"],
            "profile_text": [("plan", "Gold")],
            "profile_text_shares": np.array([[0.8], [0.2]]),
            "profile_text_overall": np.array([0.5]),
        }
    )
    plan = profiles_plan(inp)
    # a share column's z: the gap to everyone's share over sqrt(0.5 * 0.5)
    np.testing.assert_allclose(plan.z, [[2.0, 0.1, 0.6], [-0.5, np.nan, -0.6]])
    assert plan.cells == [["34.5", "25%", "80%"], ["61", "0.4%", "20%"]]
    assert [s[0] for s in plan.swatches] == [0, 1] and plan.caption_lines == 1
    heat = heat_map_plan(inp, plan, 600.0)
    assert heat.columns == [0, 1, 2] and heat.caption == plan.subtitle
    assert heat.divider == 1.5  # between the two averages and the share
    # cells 200 x 207 pt: numbers at the largest size, 19 pt
    assert heat.text_fs == 19.0
    by_cell = {(c.row, c.column): c for c in heat.texts}
    assert len(by_cell) == 6 and by_cell[0, 1].text == "25%"
    assert by_cell[0, 0].color == "white" and by_cell[0, 0].bold  # +2 sd: dark red
    assert by_cell[0, 1].color == INK and not by_cell[0, 1].bold  # near average
    assert not by_cell[1, 1].bold  # no z: grey, plain
    assert heat_map_plan(inp, plan, 60.0).texts == []  # 20 pt wide cells: no numbers


# --- edge cases -------------------------------------------------------------


@functools.cache
def edge_cases() -> dict[str, ChartInput]:
    """Built on first use (not at collection), then shared."""
    one = make_input(n=600, k=1, d=4)
    one.ks, one.inertias, one.silhouettes = [1], [123.0], {}
    single_feature = make_input(n=600, k=3, d=1)
    nan_sil = make_input(n=600, k=3)
    nan_sil.silhouettes = {kk: float("nan") for kk in nan_sil.silhouettes}
    half_nan = make_input(n=600, k=3)
    half_nan.silhouettes = {2: float("nan"), 3: 0.41, 4: 0.2}
    long_names = make_input(
        n=600,
        k=3,
        names=[
            "Extremely Loyal High-Income Weekend Shoppers Who Buy Premium Electronics",
            "X" * 80,
            "Short",
        ],
    )
    many = make_input(n=3000, k=14, d=8)
    fixed_k = make_input(n=600, k=4)
    fixed_k.ks, fixed_k.inertias, fixed_k.silhouettes = [], [], {}
    big = make_input(n=30_000, k=4, d=3)  # more points than drawn
    nan_profile = make_input(n=600, k=3)
    nan_profile.profile_z[:, 1] = np.nan
    nan_profile.profile_means[0, 0] = np.nan
    return {
        "k=1": one,
        "one feature": single_feature,
        "nan silhouettes": nan_sil,
        "some nan silhouettes": half_nan,
        "long names": long_names,
        "14 segments, 8 features": many,
        "k fixed, no search": fixed_k,
        "30k points": big,
        "nan profile": nan_profile,
    }


EDGE_CASE_NAMES = [
    "k=1",
    "one feature",
    "nan silhouettes",
    "some nan silhouettes",
    "long names",
    "14 segments, 8 features",
    "k fixed, no search",
    "30k points",
    "nan profile",
]


@pytest.mark.parametrize("case", EDGE_CASE_NAMES)
def test_edge_cases_render(case: str, tmp_path: Path) -> None:
    inp = edge_cases()[case]
    for path in render_all(tmp_path, inp).values():
        assert_good_png(path)


def test_long_names_are_shortened_but_recognisable() -> None:
    inp = edge_cases()["long names"]
    shown = texts(build_clusters(inp)) + " " + texts(build_profiles(inp))
    assert "Extremely Loyal" in shown
    assert "…" in shown
    assert "Short" in shown


def test_one_feature_plots_against_jitter() -> None:
    ax = build_clusters(edge_cases()["one feature"]).axes[0]
    assert "age" in ax.get_xlabel().lower()
    assert "one feature" in ax.get_ylabel()


def test_cluster_chart_draws_at_most_max_points() -> None:
    fig = build_clusters(edge_cases()["30k points"])
    drawn = sum(len(c.get_offsets()) for c in gid_colors_artists(fig))
    assert drawn == charts.MAX_POINTS
    assert "20,000 of 30,000 customers" in texts(fig)


def gid_colors_artists(fig: Figure) -> list:
    return fig.findobj(lambda a: str(a.get_gid() or "").startswith("segment-"))


def test_bad_shapes_are_named() -> None:
    base = make_input(n=300, k=2, d=3)
    with pytest.raises(ValueError, match="centroids"):
        ChartInput(**{**base.__dict__, "centroids": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="point_segments"):
        ChartInput(**{**base.__dict__, "point_segments": np.zeros(5, int)})
    with pytest.raises(ValueError, match="profile_z"):
        ChartInput(**{**base.__dict__, "profile_z": np.zeros((2, 1))})
    with pytest.raises(ValueError, match="inertias"):
        ChartInput(**{**base.__dict__, "inertias": [1.0]})


def test_silhouette_keys_from_json_are_accepted() -> None:
    base = make_input(n=300, k=2, d=3)
    inp = ChartInput(**{**base.__dict__, "silhouettes": {"2": 0.5, "3": 0.4}})
    assert inp.silhouettes == {2: 0.5, 3: 0.4}


# --- sampling, colours, numbers ---------------------------------------------


def test_chart_sample_keeps_small_segments_and_respects_max_points() -> None:
    sizes = {0: 200_000, 1: 50_000, 7: 300, 42: 7}
    labels = np.concatenate([np.full(n, seg) for seg, n in sizes.items()])
    labels = labels[np.random.default_rng(1).permutation(labels.size)]
    idx = chart_sample(labels, max_points=20_000)
    assert idx.size == 20_000
    assert np.all(np.diff(idx) > 0)  # sorted, unique
    assert idx.min() >= 0 and idx.max() < labels.size
    picked = dict(zip(*np.unique(labels[idx], return_counts=True), strict=True))
    assert picked[7] == 300 and picked[42] == 7  # small segments kept whole
    floor = 20_000 // (4 * len(sizes))  # every segment's guaranteed share
    # What is left after the guaranteed shares is split in proportion to size.
    assert (picked[0] - floor) / (picked[1] - floor) == pytest.approx(
        (sizes[0] - floor) / (sizes[1] - floor), rel=0.01
    )
    np.testing.assert_array_equal(idx, chart_sample(labels, max_points=20_000))
    assert not np.array_equal(idx, chart_sample(labels, max_points=20_000, seed=1))


def test_chart_sample_floor_for_each_segment() -> None:
    labels = np.concatenate([np.full(100_000, 3), np.full(5_000, 9)])
    idx = chart_sample(labels, max_points=1_000)
    counts = dict(zip(*np.unique(labels[idx], return_counts=True), strict=True))
    assert sum(counts.values()) == 1_000
    assert counts[9] >= 1_000 // 8  # max_points / (4 k)


@pytest.mark.parametrize(
    ("labels", "max_points", "expected"),
    [
        (np.array([5, 5, 1]), 10, 3),  # fewer points than the budget: all of them
        (np.repeat([0, 1, 2, 3], 10), 3, 3),  # budget smaller than k
        (np.repeat([-1, 1000, 10**9], 50), 30, 30),  # any integer ids
        (np.arange(100), 0, 0),
        (np.array([], dtype=int), 10, 0),
    ],
)
def test_chart_sample_edges(labels: np.ndarray, max_points: int, expected: int) -> None:
    idx = chart_sample(labels, max_points=max_points)
    assert idx.size == expected
    assert len(set(idx.tolist())) == idx.size


def test_segment_colours_are_distinct_and_stable() -> None:
    first = [segment_color(i) for i in range(len(PALETTE))]
    assert len(set(first)) == len(PALETTE) >= 12
    assert all(c.startswith("#") and len(c) == 7 for c in first)
    assert segment_color(3) == segment_color(3) == PALETTE[3]
    assert segment_color(len(PALETTE) + 1) == PALETTE[1]
    # A reused colour comes with another marker, so segments 1 and 13 still differ.
    assert segment_marker(1) != segment_marker(len(PALETTE) + 1)
    assert segment_marker(1) == segment_marker(2)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (34, "34"),
        (34.25, "34.2"),
        (0.4312, "0.43"),
        (3.5, "3.5"),
        (724.6, "725"),
        (72_400, "72.4k"),
        (1_234_567, "1.23M"),
        (999_999, "1M"),
        (-5_100, "\u22125.1k"),
        (0, "0"),
        (float("nan"), "–"),
        (None, "–"),
    ],
)
def test_format_compact(value: float | None, text: str) -> None:
    assert format_compact(value) == text
