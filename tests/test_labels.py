"""A data dictionary (`--labels`) and integer-coded columns (`--categorical`), end to end.

The table, worked out by hand: 300 customers in three groups of 100.

    group  INK (income)      KLT (a code)   reads as
    A      20 + i % 5        1              low income, students
    B      80 + i % 5        2              high income, retirees
    C      50 + i % 5        3              middle income, workers

With KLT read as categories, each group is 100% one code against 33% overall: a
text trait of strength (1 - 1/3) / sqrt(1/3 * 2/3) = 1.41 beside INK's |z| of
1.22 (A, B) or 0 (C). So A and B are named by both (income first, who they are),
C by its code alone. With the labels file, INK reads "Annual income" (the income
concept: "High-Income"/"Low-Income") and the codes read "Student", "Retiree",
"Worker".
"""

import json

import numpy as np
import pandas as pd
import pytest

from model.data.labels import read_labels
from model.errors import DataError
from model.training.coded import looks_like_code
from tests.conftest import run_segbot, segbot_env

LABELS = """column,value,label
customer_id,,Customer number
INK,,Annual income
KLT,,Customer type
KLT,1,Student
KLT,2,Retiree
KLT,3,Worker
NOPE,,A column this extract does not have
"""
EXPORT_COLUMNS = ["customer_id", "segment_id", "segment", "version", "distance", "runner_up"]


def table() -> pd.DataFrame:
    rows = []
    for code, base in ((1, 20), (2, 80), (3, 50)):
        rows += [(base + i % 5, code) for i in range(100)]
    frame = pd.DataFrame(rows, columns=["INK", "KLT"])
    frame.insert(0, "customer_id", [f"{i:04d}" for i in range(len(frame))])
    return frame


def segbot(tmp_path, *args):
    done = run_segbot(list(args), env=segbot_env(), cwd=tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def trained(tmp_path):
    table().to_csv(tmp_path / "customers.csv", index=False)
    (tmp_path / "labels.csv").write_text(LABELS, encoding="utf-8")
    out = segbot(
        tmp_path,
        "train",
        "--data",
        "customers.csv",
        "--model-dir",
        "models",
        "--labels",
        "labels.csv",
        "--categorical",
        "KLT",
    )
    meta = json.loads((tmp_path / "models" / "v1" / "metadata.json").read_text())
    return tmp_path, out, meta


def test_labels_name_the_segments_and_coded_columns_are_never_averaged(trained):
    _, out, meta = trained
    names = sorted(s["name"] for s in meta["segments"])
    assert names == [
        "High-Income Retiree Customers",
        "Low-Income Student Customers",
        "Worker Customers",
    ]
    assert meta["numeric"] == ["INK"] and meta["categorical"] == ["KLT"]
    for s in meta["segments"]:
        assert set(s["mean"]) == {"INK"}  # the code has shares, not a mean
        assert set(s["text"]) == {"KLT"}
        # stored traits keep the raw names: readers of metadata match them to columns
        assert all(t.split(" ")[0].split("=")[0] in ("INK", "KLT") for t in s["traits"])
    by_name = {s["name"]: s for s in meta["segments"]}
    assert "KLT=1 high" in by_name["Low-Income Student Customers"]["traits"]
    assert by_name["Low-Income Student Customers"]["mean"]["INK"] == pytest.approx(22.0)
    # the unknown column is one line, not an error
    assert "Note: labels file labels.csv: 1 column not in the data, ignored ('NOPE')" in out
    # what a person reads: labels; never the raw codes
    assert "Annual income" in out and "INK" not in out and "KLT" not in out


def test_answers_read_labels_and_the_export_keeps_raw_names(trained):
    tmp_path, _, _ = trained
    shown = segbot(tmp_path, "ask", "--model-dir", "models", "/segments show Worker")
    assert "Annual income" in shown and "Customer type" in shown and "Worker" in shown
    assert "INK" not in shown and "KLT" not in shown
    answer = json.loads(
        segbot(tmp_path, "ask", "--model-dir", "models", "--json", "/segment customer 0007")
    )["data"]
    values = {v["feature"]: v["value"] for v in answer["values"]}
    assert values == {"Annual income": 22.0, "Customer type": "Student"}
    segbot(tmp_path, "export", "--model-dir", "models", "--out", "all.csv")
    export = pd.read_csv(tmp_path / "all.csv", dtype=str)
    assert list(export.columns) == EXPORT_COLUMNS  # raw names, not "Customer number"
    first = export.set_index("customer_id").loc["0000"]
    assert first["segment"] == "Low-Income Student Customers"


def test_a_column_that_looks_like_a_code_gets_a_hint_and_is_not_guessed(tmp_path):
    table().to_csv(tmp_path / "customers.csv", index=False)
    (tmp_path / "labels.csv").write_text(LABELS, encoding="utf-8")
    out = segbot(
        tmp_path, "train", "--data", "customers.csv", "--model-dir", "m", "--labels", "labels.csv"
    )
    meta = json.loads((tmp_path / "m" / "v1" / "metadata.json").read_text())
    assert meta["numeric"] == ["INK", "KLT"] and meta["categorical"] == []
    hint = (
        "Note: 'KLT' looks like a code and was averaged as a number; --categorical KLT "
        "(SEGBOT_CATEGORICAL) reads it as categories"
    )
    assert hint in out.splitlines()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name,label\nINK,Income\n", "the header must be column,label or column,value,label"),
        ("", "is empty"),
    ],
)
def test_a_bad_labels_file_is_one_line(tmp_path, text, problem):
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=problem):
        read_labels(path, ["INK"])
    with pytest.raises(DataError, match="labels file not found"):
        read_labels(tmp_path / "missing.csv", ["INK"])


def test_two_columns_with_one_label_stay_apart(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("column,label\nA1,Income\nA2,income\n", encoding="utf-8")
    labels, warnings = read_labels(path, ["A1", "A2"])
    assert labels.columns == {"A1": "Income", "A2": "income (A2)"} and warnings == []
    assert labels.trait("A2 high") == "income (A2) high"
    assert labels.raw_trait("income (A2) high") == "A2 high"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--categorical", "KLX"], "unknown column 'KLX' in SEGBOT_CATEGORICAL / --categorical"),
        (
            ["--categorical", "KLT", "--features", "INK"],
            "column 'KLT' is in SEGBOT_CATEGORICAL / --categorical but not in SEGBOT_FEATURES",
        ),
        (["--categorical", "INK"], "has values with a fraction (e.g. 20.5); codes are whole"),
    ],
)
def test_a_bad_categorical_setting_is_one_line(tmp_path, args, message):
    frame = table().astype({"INK": float})
    frame.loc[5, "INK"] = 20.5
    frame.to_csv(tmp_path / "customers.csv", index=False)
    done = run_segbot(
        ["train", "--data", "customers.csv", "--model-dir", "m", *args],
        env=segbot_env(),
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("name", "values", "hint"),
    [
        ("MOSTYPE", [1.0, 8.0, 33.0, 41.0], True),  # a word ending in "type"
        ("customer_segment", [1.0, 2.0, 3.0], True),
        ("plan_code", [1.0, 2.0, 2.5], False),  # a fraction: no code
        ("plan_code", [1.0, 2.0], False),  # two values read as a flag
        ("orders", [1.0, 2.0, 3.0], False),  # nothing says code
    ],
)
def test_the_code_hint(name, values, hint):
    assert looks_like_code(name, np.array(values), value_labels=False) == hint


def test_the_prospect_form_reads_labels_and_answers_by_raw_names(trained):
    """The "Segment a prospect" modal: inputs and menu options in the dictionary's words,
    what is submitted still keyed by the raw column and value."""
    from bot import views
    from model.config import Settings
    from model.service import SegmentService

    root, _, _ = trained
    service = SegmentService(Settings(SEGBOT_MODEL_DIR=str(root / "models")))
    numeric, text = service.prospect_inputs()
    modal = views.prospect_modal(numeric, text, service.prospect_labels())
    inputs = {b["block_id"]: b for b in modal["blocks"] if b["type"] == "input"}
    assert [b["label"]["text"] for b in inputs.values()] == ["Annual income", "Customer type"]
    menu = inputs["f1"]["element"]
    assert [(o["text"]["text"], o["value"]) for o in menu["options"]] == [
        ("Student", "1"),
        ("Retiree", "2"),
        ("Worker", "3"),
    ]
    state = {"f1": {"value": {"selected_option": {"value": "2"}}}}
    values, errors = views.prospect_values(
        {"private_metadata": modal["private_metadata"], "state": {"values": state}}
    )
    assert errors == {} and values == {"KLT": "2"}
    assert "Retiree" in service.predict(values).segment.name
