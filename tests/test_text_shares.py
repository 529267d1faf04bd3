"""Text (categorical) features made visible: shares per segment, what stands out,
and where people see them (metadata, summary, --json, customer answer, chart)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from bot import render
from model.answers import FeatureValue, SegmentInfo, TextShare
from model.data.load import load_dataset
from model.errors import InputError
from model.service import SegmentService
from model.training.naming import TextTrait
from model.training.text_shares import chart_columns, distinct_traits, segment_text, text_shares
from model.versions.version import LoadedVersion
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[1]
MALL = ROOT / "tests" / "data" / "mall_customers.csv"
MALL_FEATURES = "Gender,Age,Annual Income (k$),Spending Score (1-100)"
STUDENT_FEATURES = "Student,Married,Age,Income"


def students_csv(path: Path, n: int = 600, seed: int = 7) -> Path:
    """Customers where being a student drives a segment: 20% students, all young and
    on a low income; Married is written untidily (" Single", blanks, missing)."""
    rng = np.random.default_rng(seed)
    student = np.where(rng.random(n) < 0.2, "Yes", "No")
    age = np.where(student == "Yes", rng.normal(21, 1.5, n), rng.normal(46, 9, n))
    income = np.where(student == "Yes", rng.normal(12, 3, n), rng.normal(62, 15, n))
    married = np.where(rng.random(n) < np.where(student == "Yes", 0.05, 0.6), "Married", "Single")
    married = married.astype(object)
    married[::37] = " " + married[::37]  # " Single" is "Single"
    married[5::50] = None
    married[7::61] = "  "  # blank counts as missing
    frame = pd.DataFrame(
        {
            "id": [f"K{i:04d}" for i in range(n)],
            "Student": student,
            "Married": married,
            "Age": age.round(0),
            "Income": income.round(1),
        }
    )
    # Not in id order: the stored per-customer values must follow the ids, not the rows.
    frame.sample(frac=1, random_state=seed).to_csv(path, index=False)
    return path


def hand_shares(csv: Path, id_column: str, feature: str, version: LoadedVersion) -> pd.DataFrame:
    """Per segment id, the share of each trimmed value among customers with a value,
    counted with pandas from the file and the stored assignments (not the trainer's code)."""
    data = pd.read_csv(csv, dtype={id_column: str})
    stored = pd.DataFrame({id_column: version.ids, "segment": np.asarray(version.segments)})
    joined = data.merge(stored, on=id_column)
    values = joined[feature].astype("string").str.strip().replace("", pd.NA)
    known = joined.assign(value=values).dropna(subset=["value"])
    return pd.crosstab(known["segment"], known["value"], normalize="index")


# ---- the counting itself ---------------------------------------------------------------------
def test_shares_are_the_hand_counted_ones_with_trimmed_values_and_missing_left_out():
    frame = pd.DataFrame(
        {
            "Gender": [" Male", "Male", "Female", np.nan, "Female ", "", "Male", "Female"],
            "Student": ["Yes", "No", "No", "No", "Yes", "Yes", "No", "No"],
        }
    )
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    gender, student = text_shares(frame, ["Gender", "Student"], labels, 2)
    # Cluster 0: Male, Male, Female, (missing); cluster 1: Female, (blank), Male, Female.
    assert gender.levels == ["Female", "Male"]  # 3 each: ties in name order, no " Male"
    assert gender.counts.tolist() == [[1, 2], [2, 1]]
    assert gender.missing.tolist() == [1, 1]
    np.testing.assert_allclose(gender.shares, [[1 / 3, 2 / 3], [2 / 3, 1 / 3]])
    assert gender.overall.tolist() == pytest.approx([0.5, 0.5])  # of the 6 with a value
    assert student.levels == ["No", "Yes"]
    np.testing.assert_allclose(student.shares, [[0.75, 0.25], [0.5, 0.5]])
    assert student.overall.tolist() == pytest.approx([5 / 8, 3 / 8])
    # Each row's code points at its trimmed value; -1 where it is missing or blank.
    assert gender.codes.tolist() == [1, 1, 0, -1, 0, -1, 1, 0]


def test_a_cluster_with_no_value_has_no_share_and_no_trait():
    frame = pd.DataFrame({"Plan": ["Gold", "Gold", None, None]})
    (plan,) = text_shares(frame, ["Plan"], np.array([0, 0, 1, 1]), 2)
    assert np.isnan(plan.shares[1]).all() and plan.missing.tolist() == [0, 2]
    assert distinct_traits([plan], 2) == [[], []]
    assert segment_text([plan], 1, [])["Plan"]["values"] == {"Gold": None}


def _frame_with(counts: dict[str, tuple[int, int]]) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows with value v: counts[v][0] in cluster 0 and counts[v][1] in cluster 1."""
    values, labels = [], []
    for value, (in0, in1) in counts.items():
        values += [value] * (in0 + in1)
        labels += [0] * in0 + [1] * in1
    return pd.DataFrame({"f": values}), np.array(labels)


def test_a_value_stands_out_by_ten_points_or_by_doubling_a_rare_share():
    # Cluster 0 has 100 rows, cluster 1 has 900; overall shares are counts / 1000.
    frame, labels = _frame_with(
        {"A": (50, 350), "B": (10, 10), "C": (30, 430), "D": (10, 110)},
    )
    # A: 50% here vs 40% overall (+10 points): stands out.
    # B: 10% vs 2% (+8 points, 5x): stands out as a rare value.
    # C: 30% vs 46%, D: 10% vs 12%: below everyone.
    (fs,) = text_shares(frame, ["f"], labels, 2)
    here = {t.value: (t.share, t.overall) for t in distinct_traits([fs], 2)[0]}
    assert here == {"A": pytest.approx((0.5, 0.4)), "B": pytest.approx((0.1, 0.02))}
    # Largest gain first: A (+10) before B (+8).
    assert [t.value for t in distinct_traits([fs], 2)[0]] == ["A", "B"]
    # Just under both bars: +9 points at 1.2x, and +4 points at 3x.
    frame, labels = _frame_with({"A": (49, 351), "B": (6, 14), "C": (45, 535)})
    (fs,) = text_shares(frame, ["f"], labels, 2)
    assert distinct_traits([fs], 2)[0] == []
    # +6 points: at 2.5x (10% vs 4%) it stands out, at 1.8x (14% vs 7.8%) it does not.
    frame, labels = _frame_with({"E": (10, 30), "F": (14, 64), "G": (76, 806)})
    (fs,) = text_shares(frame, ["f"], labels, 2)
    assert [t.value for t in distinct_traits([fs], 2)[0]] == ["E"]


def test_values_that_stand_out_are_ordered_by_gain_across_features():
    # Cluster 0 has 100 rows, cluster 1 has 900.
    # f: A is 50% here vs 40% overall (+10 points); g: X is 40% vs 10% (+30 points).
    f = ["A"] * 50 + ["B"] * 50 + ["A"] * 350 + ["B"] * 550
    g = ["X"] * 40 + ["Y"] * 60 + ["X"] * 60 + ["Y"] * 840
    labels = np.array([0] * 100 + [1] * 900)
    shares = text_shares(pd.DataFrame({"f": f, "g": g}), ["f", "g"], labels, 2)
    traits = distinct_traits(shares, 2)[0]
    assert [(t.feature, t.value) for t in traits] == [("g", "X"), ("f", "A")]
    assert [(t.share, t.overall) for t in traits] == [
        pytest.approx((0.4, 0.1)),
        pytest.approx((0.5, 0.4)),
    ]


def test_at_most_two_values_per_feature_stand_out():
    frame, labels = _frame_with({"A": (30, 0), "B": (30, 0), "C": (30, 0), "D": (10, 900)})
    (fs,) = text_shares(frame, ["f"], labels, 2)
    traits = distinct_traits([fs], 2)
    # A, B, C: 30% each vs 3% overall; two kept (equal gains: the data's order).
    assert [t.value for t in traits[0]] == ["A", "B"]
    # D: 900 of 900 in cluster 1 (100%) vs 910 of 1000 (91%): +9 points, 1.1x: no.
    assert traits[1] == []


def test_metadata_keeps_eight_values_and_sums_the_rest_as_other():
    levels = [f"v{j:02d}" for j in range(12)]
    counts = {v: (1 + j, 20 - j) for j, v in enumerate(levels)}
    counts["v11"] = (40, 0)  # v11 stands out in cluster 0
    frame, labels = _frame_with(counts)
    shares = text_shares(frame, ["f"], labels, 2)
    traits = distinct_traits(shares, 2)
    entry = segment_text(shares, 0, traits[0])["f"]
    assert len(entry["values"]) == 8 and "v11" in entry["values"]
    size0 = sum(c[0] for c in counts.values())
    assert entry["values"]["v11"] == pytest.approx(round(40 / size0, 4))
    assert entry["distinct"][0]["value"] == "v11"
    left_out = [v for v in levels if v not in entry["values"]]
    assert entry["other"]["share"] == pytest.approx(
        sum(counts[v][0] for v in left_out) / size0, abs=1e-4
    )
    total = sum(sum(c) for c in counts.values())
    assert entry["other"]["overall"] == pytest.approx(
        sum(sum(counts[v]) for v in left_out) / total, abs=1e-4
    )
    assert entry["missing"] == 0


def test_chart_has_one_column_per_standing_out_value_and_one_for_a_yes_no_feature():
    frame = pd.DataFrame(
        {
            "Student": ["Yes"] * 8 + ["No"] * 2 + ["No"] * 30,
            "Plan": ["Gold"] * 10 + ["Basic"] * 15 + ["Plus"] * 15,
        }
    )
    labels = np.array([0] * 10 + [1] * 15 + [2] * 15)
    shares = text_shares(frame, ["Student", "Plan"], labels, 3)
    traits = distinct_traits(shares, 3)
    # Cluster 1 stands out on Student = No (100% vs 80%) and Plan = Basic; the chart
    # shows Student once, as its less common value, "Yes".
    assert TextTrait("Student", "No", 1.0, 0.8) in traits[1]
    columns = chart_columns(shares, traits, order=[2, 0, 1])
    assert columns["profile_text"] == [
        ("Student", "Yes"),
        ("Plan", "Basic"),  # a feature's values: most common overall first
        ("Plan", "Plus"),
        ("Plan", "Gold"),
    ]
    assert columns["profile_text_shares"][:, 0].tolist() == pytest.approx([0.0, 0.8, 0.0])
    assert columns["profile_text_overall"].tolist() == pytest.approx(
        [8 / 40, 15 / 40, 15 / 40, 10 / 40]
    )


def test_loading_trims_text_values(tmp_path):
    path = tmp_path / "c.csv"
    pd.DataFrame(
        {"id": ["1", "2", "3", "4"], "Gender": [" Male", "Male ", "Female", " "], "x": [1, 2, 3, 4]}
    ).to_csv(path, index=False)
    data = load_dataset(
        make_settings(tmp_path, path, SEGBOT_ID_COLUMN="id", SEGBOT_FEATURES="Gender,x")
    )
    column = data.frame["Gender"]
    assert column.iloc[:3].tolist() == ["Male", "Male", "Female"] and pd.isna(column.iloc[3])


# ---- trained versions ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def students(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("students")
    csv = students_csv(root / "students.csv")
    settings = make_settings(
        root / "models", csv, SEGBOT_ID_COLUMN="id", SEGBOT_FEATURES=STUDENT_FEATURES, SEGBOT_K=4
    )
    SegmentService(settings).retrain(force=True)
    return root / "models", csv


@pytest.fixture
def student_service(students, tmp_path) -> SegmentService:
    models, csv = students
    shutil.copytree(models, tmp_path / "models")
    return SegmentService(
        make_settings(
            tmp_path / "models",
            csv,
            SEGBOT_ID_COLUMN="id",
            SEGBOT_FEATURES=STUDENT_FEATURES,
            SEGBOT_K=4,
        )
    )


def test_metadata_shares_match_a_count_of_the_file(students):
    models, csv = students
    version = LoadedVersion.load(models / "v1")
    for feature in ("Student", "Married"):
        expected = hand_shares(csv, "id", feature, version)
        data = pd.read_csv(csv)[feature].astype("string").str.strip().replace("", pd.NA)
        overall = data.value_counts(normalize=True)
        for seg in version.metadata.segments:
            entry = seg.text[feature]
            assert set(entry.values) == set(expected.columns)  # "Single" once, trimmed
            for value, got in entry.values.items():
                assert got == pytest.approx(expected.loc[seg.id, value], abs=1e-4)
                assert entry.overall[value] == pytest.approx(overall[value], abs=1e-4)
    missing = sum(s.text["Married"].missing for s in version.metadata.segments)
    assert missing == len(range(5, 600, 50)) + len(range(7, 600, 61))  # None and blanks


def test_the_student_segment_stands_out_on_students(students):
    models, _ = students
    meta = json.loads((models / "v1" / "metadata.json").read_text())
    standing = [
        (s["name"], d)
        for s in meta["segments"]
        for d in s["text"]["Student"]["distinct"]
        if d["value"] == "Yes"
    ]
    assert len(standing) == 1, standing
    _, trait = standing[0]
    assert trait["share"] >= 0.9 and trait["overall"] == pytest.approx(0.2, abs=0.04)


def test_summary_shows_what_the_segments_stand_out_on(student_service):
    answer = student_service.summary()
    student = next(
        s for s in answer.segments if any(t.value == "Yes" and t.distinct for t in s.text)
    )
    shown = next(t for t in student.text if t.feature == "Student" and t.value == "Yes")
    line = f"Student = Yes {render.share(shown.share)} vs {render.share(shown.overall)} overall"
    reply = render.summary(answer)
    assert line in reply.text
    assert any(line in json.dumps(b) for b in reply.blocks)
    assert len(reply.blocks) <= render.MAX_BLOCKS
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in reply.blocks)


def test_customer_answer_shows_the_customers_own_text_values(student_service, students):
    _, csv = students
    data = pd.read_csv(csv, dtype={"id": str}).set_index("id")
    for cid in ("K0000", "K0005", "K0007", "K0037", "K0100"):
        answer = student_service.lookup(cid)
        values = {v.feature: v for v in answer.values}
        for feature in ("Student", "Married"):
            raw = data.loc[cid, feature]
            want = None if pd.isna(raw) or not str(raw).strip() else str(raw).strip()
            assert values[feature].value == want, (cid, feature)
        text = render.customer(answer).text
        assert f"Student {values['Student'].value} (typical " in text


def test_a_prospect_text_value_is_trimmed_and_matched_to_the_datas_spelling(student_service):
    answer = student_service.predict({"Age": "21", "Income": "11", "student": "  yes "})
    assert answer.given["Student"] == "Yes"
    assert any(
        t.feature == "Student" and t.value == "Yes" and t.distinct for t in answer.segment.text
    )
    with pytest.raises(InputError, match="Student is one of No, Yes, not 'maybe'"):
        student_service.predict({"Student": "maybe"})


def test_versions_trained_before_text_shares_still_load_and_answer(student_service):
    path = student_service.registry.path("v1")
    meta = json.loads((path / "metadata.json").read_text())
    for seg in meta["segments"]:
        del seg["text"]
    del meta["text_levels"]
    (path / "metadata.json").write_text(json.dumps(meta))
    (path / "text.npy").unlink()
    summary = student_service.summary()
    assert all(s.text == [] for s in summary.segments)
    assert "Student = " not in render.summary(summary).text
    answer = student_service.lookup("K0000")
    assert [v.feature for v in answer.values] == ["Age", "Income"]
    assert student_service.predict({"Student": " Yes"}).given == {"Student": "Yes"}


def test_mall_gender_shares_per_segment(tmp_path):
    settings = make_settings(
        tmp_path / "models",
        MALL,
        SEGBOT_ID_COLUMN="CustomerID",
        SEGBOT_FEATURES=MALL_FEATURES,
        SEGBOT_K=5,  # fixed: quicker, and k is not what this test is about
    )
    service = SegmentService(settings)
    service.retrain(force=True)
    version = LoadedVersion.load(tmp_path / "models" / "v1")
    expected = hand_shares(MALL, "CustomerID", "Gender", version)
    genders = pd.read_csv(MALL)["Gender"].value_counts()
    assert genders.to_dict() == {"Female": 112, "Male": 88}
    for info in service.summary().segments:
        got = {t.value: (t.share, t.overall) for t in info.text}
        assert got == {
            g: (pytest.approx(expected.loc[info.id, g], abs=1e-4), pytest.approx(n / 200))
            for g, n in genders.items()
        }
    reply = render.summary(service.summary())
    assert "Gender" in reply.text  # shown either as standing out or as the overall mix
    lookup = service.lookup("1")
    assert {v.feature: v.value for v in lookup.values}["Gender"] == "Male"


def _segbot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=240,
    )


def _check_json_summary(models: Path) -> None:
    ask = _segbot("ask", "--model-dir", str(models), "--json", "/segments summary")
    assert ask.returncode == 0, ask.stderr
    payload = json.loads(ask.stdout)
    shares = [t for s in payload["data"]["segments"] for t in s["text"]]
    assert {"feature", "value", "share", "overall", "distinct", "missing"} <= set(shares[0])
    yes = [t for t in shares if t["feature"] == "Student" and t["value"] == "Yes" and t["distinct"]]
    assert len(yes) == 1 and yes[0]["share"] >= 0.9
    assert f"Student = Yes {render.share(yes[0]['share'])} vs" in payload["text"]


def test_ask_json_summary_through_the_cli(student_service):
    _check_json_summary(student_service.registry.root)


def test_train_then_ask_json_through_the_cli(tmp_path):
    csv = students_csv(tmp_path / "students.csv")
    models = tmp_path / "models"
    train = _segbot(
        "train", "--data", str(csv), "--id-column", "id", "--features", STUDENT_FEATURES,
        "--model-dir", str(models),
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    assert "Student = Yes" in train.stdout
    _check_json_summary(models)


# ---- rendering and the chart -----------------------------------------------------------------
def _segment(**kw) -> SegmentInfo:
    base = dict(
        id=1,
        name="Students",
        action="Campus offers.",
        size=200,
        share=0.2,
        profile={"Age": 21.0},
        typical={"Age": 21.0},
        distinct=["Age low"],
        text=[
            TextShare("Student", "No", 0.69, 0.9, False),
            TextShare("Student", "Yes", 0.31, 0.1, True),
            TextShare("Plan <b>", "<!channel>", 0.5, 0.2, True, missing=100),
        ],
    )
    base.update(kw)
    return SegmentInfo(**base)


def test_render_summary_line_is_escaped_and_states_missing_values():
    from tests.test_render import summary_answer

    reply = render.summary(summary_answer(segments=[_segment()]))
    assert "Student = Yes 31% vs 10% overall" in reply.text
    # Half the segment has no Plan value: its share is of the other half, and says so.
    assert "Plan &lt;b&gt; = &lt;!channel&gt; 50% vs 20% overall (of the 50% with a value)" in (
        reply.text
    )
    assert "<!channel>" not in json.dumps(reply.blocks)
    # Largest gain first: Plan (+30 points) before Student (+21).
    assert reply.text.index("Plan") < reply.text.index("Student = Yes")


def test_render_customer_shows_text_value_typical_and_shares():
    from tests.test_render import customer_answer

    answer = customer_answer(
        segment=_segment(),
        values=[FeatureValue("Age", 22.0, 21.0), FeatureValue("Student", "Yes", "No")],
    )
    reply = render.customer(answer)
    assert "Student Yes (typical No · 31% of segment, 10% overall)" in reply.text
    assert any("Student" in json.dumps(b) for b in reply.blocks)


def test_profiles_chart_has_a_share_column_per_standing_out_value(tmp_path):
    from model.charts.version_charts import build_profiles, save_png
    from tests.test_charts import assert_good_png, make_input, texts

    inp = make_input(k=4, d=3)
    inp.profile_text = [("Student", "Yes"), ("Plan", "Gold")]
    inp.profile_text_shares = np.array([[0.94, 0.10], [0.0, 0.5], [0.2, 0.2], [0.0, 0.0]])
    inp.profile_text_overall = np.array([0.2, 0.2])
    fig = build_profiles(inp)
    ax = fig.axes[1]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert len(labels) == 3 + 2
    assert labels[3] == "Student\n=\xa0Yes\nall: 20%" and labels[4] == "Plan\n=\xa0Gold\nall: 20%"
    cells = [t.get_text() for t in ax.texts]
    for share_text in ("94%", "10%", "50%", "0%"):
        assert share_text in cells
    assert "94%" in texts(fig)
    # Colour: above everyone's share red, below blue, equal white-ish.
    image = ax.get_images()[0]
    colour = image.cmap(image.norm(image.get_array()))
    red, blue = colour[0, 3, :3], colour[3, 3, :3]
    assert red[0] > red[2] and blue[2] > blue[0]
    assert np.allclose(colour[2, 4, :3], to_rgb(image.cmap(0.5)[:3]), atol=0.05)
    # (0.94 - 0.2) / sqrt(0.2 * 0.8) = 1.85 sd: a share column uses the numeric scale.
    assert float(image.get_array()[0, 3]) == pytest.approx(1.85, abs=1e-6)
    path = save_png(fig, tmp_path / "profiles.png")
    assert_good_png(path)


def test_profiles_chart_with_only_text_features(tmp_path):
    from model.charts.version_charts import build_profiles, save_png
    from tests.test_charts import assert_good_png, make_input

    inp = make_input(k=3, d=1)
    inp.profile_features, inp.profile_z = [], np.zeros((3, 0))
    inp.profile_means, inp.profile_overall = np.zeros((3, 0)), np.zeros(0)
    inp.profile_text = [("Student", "Yes")]
    inp.profile_text_shares = np.array([[1.0], [0.0], [0.1]])
    inp.profile_text_overall = np.array([0.3])
    fig = build_profiles(inp)
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["Student\n=\xa0Yes\nall: 30%"]
    assert_good_png(save_png(fig, tmp_path / "p.png"))
