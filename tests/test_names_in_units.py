"""Names true in the data's own units, and features with no business difference left out.

Purchase logs made by hand, as of 2024-12-31 (the latest purchase); 100 customers
per group, customer i of a group buying on day 1 + i % 28 of the months listed:

- "loyal":  every month from January 2023 to December 2024, 50 each;
- "early":  once in January 2023, 20;
- later groups as each test says.

The loyal customers buy every month: the typical gap between purchases is about
30 days (model.data.transactions.log_scale), and the log spans 730 days, so "New"
needs a typical first purchase within its last 182 days (a quarter), and
"Lapsed" a typical last purchase 60 days or more ago.
"""

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from model.training.naming import true_in_units
from tests.conftest import run_segbot, segbot_env

RFM = "recency_days,frequency,monetary_total,tenure_days"


def months(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    out, (y, m) = [], first
    while (y, m) <= last:
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def group(prefix: str, when: list[tuple[int, int]], amount: float) -> list[tuple]:
    return [
        (f"{prefix}{i:03d}", date(y, m, 1 + i % 28).isoformat(), amount)
        for i in range(100)
        for y, m in when
    ]


def log(*groups: list[tuple]) -> pd.DataFrame:
    rows = [row for g in groups for row in g] + [("loyal000", "2024-12-31", 50.0)]
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount"])


LOYAL = group("loyal", months((2023, 1), (2024, 12)), 50.0)
EARLY = group("early", [(2023, 1)], 20.0)


def train(tmp_path, frame: pd.DataFrame, *extra: str) -> tuple[str, dict]:
    """The first version trained on `frame` (a model folder of its own)."""
    frame.to_csv(tmp_path / "orders.csv", index=False)
    models = tmp_path / f"m{len(list(tmp_path.glob('m*')))}"
    args = ["train", "--kind", "transactions", "--data", "orders.csv", "--model-dir", str(models)]
    done = run_segbot(
        [*args, *extra],
        env=segbot_env(),
        cwd=tmp_path,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads((models / "v1" / "metadata.json").read_text())


def names(meta: dict) -> list[str]:
    return [s["name"] for s in meta["segments"]]


def test_one_cohort_leaves_tenure_out_and_names_no_one_new(tmp_path):
    # every first purchase in January to March 2023: tenure 641 to 730 days
    march = group("march", [(2023, 3)], 20.0)
    out, meta = train(tmp_path, log(LOYAL, EARLY, march))
    note = "tenure_days left out: every first purchase falls within 86 days (tenure 644 to 730"
    assert note in out
    assert "tenure_days" not in meta["numeric"]
    assert not any("New" in n for n in names(meta))
    # listed, it is kept
    _, listed = train(tmp_path, log(LOYAL, EARLY, march), "--features", RFM)
    assert "tenure_days" in listed["numeric"]


def test_first_bought_long_ago_is_not_new_however_few_deviations_it_is(tmp_path):
    # July 2023: tenure ~540 days against ~720, far from the log's last 182 days
    july = group("july", [(2023, 7)], 20.0)
    _, meta = train(tmp_path, log(LOYAL, EARLY, july), "--features", RFM)
    assert not any("New" in n for n in names(meta)), names(meta)
    july_segment = next(
        s for s in meta["segments"] if s["median"]["tenure_days"] < 600
    )  # the July customers have a segment of their own
    assert july_segment["size"] == 100


def test_a_real_recent_cohort_is_new(tmp_path):
    # first (and only) purchases in November and December 2024: tenure 0 to 60 days
    recent = group("recent", [(2024, 11), (2024, 12)], 30.0)
    _, meta = train(tmp_path, log(LOYAL, EARLY, recent))
    segment = {s["name"]: s for s in meta["segments"]}
    new = [n for n in segment if "New" in n]
    assert len(new) == 1, list(segment)
    assert segment[new[0]]["size"] == 100
    assert segment[new[0]]["median"]["tenure_days"] <= 61


@pytest.mark.parametrize(
    ("median", "named"),
    [
        (482.0, False),  # 3.6% under the overall 500: no difference in the data's units
        (449.0, True),  # 10.2% under
        (560.0, True),
    ],
)
def test_a_quantity_names_a_segment_only_when_its_median_is_10_percent_away(median, named):
    z = np.array([[-1.2 if median < 500 else 1.2]])
    out = true_in_units(z, np.array([[median]]), np.array([500.0]), ["monthly_spend"])
    assert (out[0, 0] != 0) == named


def test_a_score_is_not_a_quantity_and_keeps_its_z():
    # no level: a credit score 3% apart may still be a real difference
    out = true_in_units(np.array([[1.0]]), np.array([[720.0]]), np.array([700.0]), ["fico"])
    assert out[0, 0] == 1.0


@pytest.mark.parametrize(
    ("z", "median", "kept"),
    [
        (1.0, 59.0, False),  # under two typical gaps of 30 days: not lapsed
        (1.0, 60.0, True),
        (-1.0, 30.0, True),  # within one gap: recent
        (-1.0, 31.0, False),
    ],
)
def test_lapsed_and_recent_are_measured_in_typical_gaps(z, median, kept):
    scale = {"span_days": 730.0, "typical_gap_days": 30.0}
    out = true_in_units(
        np.array([[z]]), np.array([[median]]), np.array([200.0]), ["recency_days"], True, scale
    )
    assert (out[0, 0] != 0) == kept
