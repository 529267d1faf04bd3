"""`auto` never serves a segment under SEGBOT_MIN_SEGMENT_SHARE, the first version included.

The table, worked out by hand: four groups of 100 customers on a grid around
(0, 0), (10, 0), (0, 10) and (10, 10) (each a 10 x 10 lattice, step 0.2), and 3
customers far out at (D, D). Four groups are the natural answer; a fifth segment
would hold the 3 far customers alone: 3 / 403 = 0.74% of customers, under the 1%
floor.

- D = 25: k=5 (the knee's better separated neighbour) isolates the three; k=4
  keeps every segment above the floor (the three join the (10, 10) group,
  103 customers), so auto picks 4.
- D = 60: so far out that every k from 3 to 10 gives the three a segment of
  their own; the final fit then lets them join their nearest segment: four
  segments of 100, 100, 100 and 103.
"""

import json

import numpy as np
import pandas as pd
import pytest

from model.training import selection
from tests.conftest import run_segbot, segbot_env

GROUPS = [(0, 0), (10, 0), (0, 10), (10, 10)]


def table(far: float) -> pd.DataFrame:
    step = np.arange(10) * 0.2 - 0.9
    rows = [(cx + a, cy + b) for cx, cy in GROUPS for a in step for b in step]
    rows += [(far + 0.1 * j, far) for j in range(3)]
    frame = pd.DataFrame(rows, columns=["x_score", "y_score"]).round(2)
    frame.insert(0, "customer_id", [f"c{i:03d}" for i in range(len(frame))])
    return frame


def train(tmp_path, frame: pd.DataFrame, *extra: str) -> dict:
    data = tmp_path / "customers.csv"
    frame.to_csv(data, index=False)
    done = run_segbot(
        ["train", "--data", str(data), "--model-dir", str(tmp_path / "models"), *extra],
        env=segbot_env(),
        cwd=tmp_path,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    return json.loads((tmp_path / "models" / "v1" / "metadata.json").read_text())


@pytest.mark.parametrize(
    ("far", "why"),
    [
        (25, "k=5 leaves a segment of 0.74% of customers, under the 1% floor, so k=4"),
        (60, "3 far-out customers joined their nearest segment rather than be one of their own"),
    ],
)
def test_three_far_customers_never_make_a_served_segment_of_their_own(tmp_path, far, why):
    frame = table(far)
    meta = train(tmp_path, frame)
    assert meta["status"] == "served"
    sizes = sorted(s["size"] for s in meta["segments"])
    assert sizes == [100, 100, 100, 103], meta["k_selection"]["reason"]
    assert why in meta["k_selection"]["reason"]
    # the three far customers are in the (10, 10) group's segment
    export = tmp_path / "out.csv"
    done = run_segbot(
        ["export", "--model-dir", str(tmp_path / "models"), "--out", str(export)],
        env=segbot_env(),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    segment = pd.read_csv(export, dtype=str).set_index("customer_id")["segment_id"]
    far_ids = frame["customer_id"].iloc[-3:]
    corner = frame["customer_id"].iloc[300:400]  # the (10, 10) group
    assert set(segment[far_ids]) == set(segment[corner]) and segment[corner].nunique() == 1


def test_without_the_floor_the_three_get_a_segment(tmp_path):
    meta = train(tmp_path, table(25), "--k", "5")
    assert sorted(s["size"] for s in meta["segments"]) == [3, 100, 100, 100, 100]


def test_the_nearest_k_that_clears_the_floor_replaces_one_that_does_not():
    smallest = {3: 0.25, 4: 0.25, 5: 0.007, 6: 0.007}
    k, reason = selection.clear_floor(5, "knee at 5", smallest, {4: 0.8}, range(3, 7), 0.01)
    assert k == 4
    assert reason == (
        "knee at 5; k=5 leaves a segment of 0.7% of customers, under the 1% floor, so k=4"
    )
    assert selection.clear_floor(4, "knee", smallest, {}, range(3, 7), 0.01) == (4, "knee")
    assert selection.clear_floor(5, "knee", smallest, {}, range(3, 7), 0.0) == (5, "knee")
