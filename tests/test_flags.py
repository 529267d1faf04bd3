"""Yes/no (0/1) columns read as shares and names, and the noun fits the data."""

import json

import numpy as np
import pandas as pd
import pytest

from model.training.naming import TextTrait, flag_traits, noun_for
from model.training.pipeline import flag_columns
from tests.conftest import run_segbot, segbot_env


def test_flag_columns_are_the_0_1_columns_with_both_values():
    nan = np.nan
    columns = {
        "senior": np.array([0, 1, 0, nan, 1.0]),
        "all_zero": np.array([0, 0, 0, 0.0]),  # one value only: nothing to compare
        "counts": np.array([0, 1, 2, 1.0]),
        "half": np.array([0, 0.5, 1.0]),
        "churned": np.array([1, 1, 0.0]),
    }
    assert flag_columns(columns) == ["senior", "churned"]


def test_flag_columns_look_past_the_first_values():
    # flag_columns rules most columns out from their first values; whatever comes
    # later must still count (compared with the definition: known values are {0, 1})
    rng = np.random.default_rng(3)
    flags = rng.integers(0, 2, 5000).astype(float)
    late_two = flags.copy()
    late_two[4000] = 2.0  # 0/1 for the first thousands of rows, then a 2
    nan_head = flags.copy()
    nan_head[:2000] = np.nan  # nothing known up front
    late_ones = np.zeros(5000)
    late_ones[-3:] = 1.0  # both values, the second only at the end
    counts = rng.integers(0, 5, 5000).astype(float)
    columns = {
        "flags": flags,
        "late_two": late_two,
        "nan_head": nan_head,
        "late_ones": late_ones,
        "counts": counts,
    }
    expected = [n for n, c in columns.items() if set(np.unique(c[~np.isnan(c)])) == {0.0, 1.0}]
    assert expected == ["flags", "nan_head", "late_ones"]
    assert flag_columns(columns) == expected


def test_flag_traits_take_the_side_a_segment_leans_to():
    means = np.array([[0.9, 40.0], [0.05, 30.0]])
    overall = np.array([0.2, 35.0])
    got = flag_traits(means, overall, ["senior", "age"], ["senior"])
    assert got[0] == [TextTrait("senior", "Yes", 0.9, 0.2)]
    assert got[1][0].value == "No"
    assert got[1][0].share == pytest.approx(0.95) and got[1][0].overall == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("features", "log", "noun"),
    [
        (["Age", "Annual Income (k$)", "Spending Score (1-100)"], False, "Shoppers"),
        (["Income", "Limit", "Rating", "Cards", "Age", "Education", "Balance"], False, "Customers"),
        (["tenure", "monthly_charges", "senior_citizen"], False, "Customers"),
        (["tenure", "total_charges"], False, "Customers"),  # "total" alone is no shop
        (["age", "total_spend"], False, "Shoppers"),
        (["age", "orders_per_year", "avg_order_value"], False, "Shoppers"),
        (["recency_days", "frequency", "monetary_total"], True, "Customers"),
    ],
)
def test_the_noun_fits_the_data(features, log, noun):
    assert noun_for(features, purchase_log=log) == noun


def test_a_flag_that_sets_a_segment_apart_names_it_and_reads_as_a_share(tmp_path):
    # Three groups by construction; only the third has senior citizens (all of it).
    rng = np.random.default_rng(3)
    n = 150
    frame = pd.DataFrame(
        {
            "monthly_charges": np.r_[
                rng.normal(20, 2, n), rng.normal(90, 3, n), rng.normal(55, 3, n)
            ],
            "tenure": np.r_[rng.normal(60, 4, n), rng.normal(5, 2, n), rng.normal(30, 3, n)],
            "senior_citizen": np.r_[np.zeros(n), np.zeros(n), np.ones(n)].astype(int),
        }
    )
    data = tmp_path / "plans.csv"
    frame.to_csv(data, index=False)
    env = segbot_env(SEGBOT_MODEL_DIR=tmp_path / "models")
    train = run_segbot(["train", "--data", str(data), "--id-column", "@row"], env=env, cwd=tmp_path)
    assert train.returncode == 0, train.stderr
    meta = json.loads((tmp_path / "models" / "v1" / "metadata.json").read_text())
    assert meta["flags"] == ["senior_citizen"] and meta["k"] == 3
    seniors = [s for s in meta["segments"] if s["mean"]["senior_citizen"] == 1.0]
    assert len(seniors) == 1 and seniors[0]["size"] == n
    assert "Senior-Citizen" in seniors[0]["name"] and "High-Senior" not in seniors[0]["name"]
    assert not any("Senior" in s["name"] for s in meta["segments"] if s is not seniors[0])
    assert all(s["name"].endswith("Customers") for s in meta["segments"])
    summary = run_segbot(["ask", "/segments summary"], env=env, cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr
    lines = summary.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if seniors[0]["name"] in line)
    assert "senior_citizen 100%" in lines[at + 1]
    assert "senior_citizen 0%" in summary.stdout  # the other segments, as shares too


def test_unknown_column_names_still_get_distinct_actions_that_name_them(tmp_path, sample_csv):
    """The bundled sample with every column renamed to an opaque code: no concept
    applies, so each action must be written from the segment's own columns."""
    frame = pd.read_csv(sample_csv, dtype={"customer_id": str})
    codes = {
        c: f"ZQ{i}X" for i, c in enumerate(frame.columns) if c not in ("customer_id", "gender")
    }
    frame.rename(columns=codes).to_csv(tmp_path / "coded.csv", index=False)
    env = segbot_env(SEGBOT_MODEL_DIR=tmp_path / "models")
    train = run_segbot(["train", "--data", str(tmp_path / "coded.csv")], env=env, cwd=tmp_path)
    assert train.returncode == 0, train.stderr
    meta = json.loads((tmp_path / "models" / "v1" / "metadata.json").read_text())
    actions = [s["action"] for s in meta["segments"]]
    assert meta["k"] >= 3 and len(set(actions)) == len(actions)
    for segment in meta["segments"]:
        named = [code for code in codes.values() if code in segment["action"]]
        assert named, segment  # the action says which columns set the segment apart
        assert all(code in segment["name"] or code in segment["action"] for code in named)
    assert not any(a.startswith("Keep them engaged with the regular newsletter") for a in actions)
