"""The shared training stages (model.training.stages) one at a time, on small inputs whose
answers are worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from model.config import Settings
from model.training import stages
from model.versions.metadata import VersionMeta
from model.versions.version import LoadedVersion, fixed_width_ids

ONE = np.zeros(0)


def version(ids: list[str], assigned: list[int], **meta) -> LoadedVersion:
    """A stored version with only what `compare` and `guardrails` read."""
    keys = fixed_width_ids(pa.array(sorted(ids, key=str.encode)))
    order = np.argsort([i.encode() for i in ids], kind="stable")
    meta = {"version": "v1", "k": 3, "quality": {"silhouette": 0.5}, "segments": [], **meta}
    seg = np.asarray(assigned, dtype=np.int16)[order]
    return LoadedVersion("v1", Path("."), VersionMeta.from_dict(meta), keys, seg, ONE, ONE, ONE)


def matched(ids: list[int], labels: list[int]) -> stages.Matched:
    of_cluster = np.asarray(ids, dtype=np.int16)
    return stages.Matched(ids, max(ids) + 1, {}, of_cluster, of_cluster[np.asarray(labels)])


def test_id_order_sorts_bytewise_and_leaves_sorted_ids_alone():
    ids = pa.array(["b", "a10", "a9", "é", "Z"])
    order = stages.IdOrder.of(ids)
    assert [k.decode() for k in order.keys] == ["Z", "a10", "a9", "b", "é"]  # UTF-8 bytes
    assert order.apply(np.array([0, 1, 2, 3, 4])).tolist() == [4, 1, 2, 0, 3]
    in_order = stages.IdOrder.of(pa.array(["A", "B", "C"]))
    assert in_order.sort is None
    values = np.array([3, 1, 2])
    assert in_order.apply(values) is values  # no copy when already sorted


def test_compare_counts_movers_on_the_customers_in_both():
    # previous: A->1, B->1, C->2, D->2; now: B, C, D, E (A gone, E new)
    previous = version(
        ["D", "A", "C", "B"],
        [2, 1, 2, 1],
        segments=[{"id": 1, "name": "Old One"}, {"id": 2, "name": "Old Two"}],
        k=2,
    )
    now = matched([1, 3], labels=[0, 0, 1, 1])  # E, B, C, D in the dataset's order
    order = stages.IdOrder.of(pa.array(["E", "B", "C", "D"]))
    out = stages.compare(previous, order, now)
    # common B, C, D: B stays in 1, C and D move 2 -> 3 (together: the same partition)
    assert out["previous"] == "v1" and out["common"] == 3 and out["moved"] == 2
    assert out["moved_share"] == 0.666667 and out["ari"] == 1.0
    assert out["k_before"] == 2 and out["silhouette_before"] == 0.5
    assert out["removed"] == ["Old Two"]  # segment 2 is not among the new ids


def test_compare_without_a_previous_version():
    out = stages.compare(None, stages.IdOrder.of(pa.array(["A"])), matched([1], [0]))
    assert out == {
        "previous": None,
        "moved": None,
        "moved_share": None,
        "ari": None,
        "common": 0,
        "k_before": None,
        "silhouette_before": None,
        "removed": [],
    }


@pytest.mark.parametrize(
    ("silhouette", "shares", "k", "expected"),
    [
        (0.48, [0.5, 0.5], 3, []),
        (0.40, [0.5, 0.5], 3, ["silhouette fell from 0.50 to 0.40 (more than 0.05)"]),
        (0.50, [0.995, 0.005], 3, ["segment 'Tiny' holds only 0.5% of customers"]),
        (0.50, [0.5, 0.5], 5, ["k jumped from 3 to 5"]),
    ],
)
def test_guardrails(silhouette, shares, k, expected):
    settings = Settings(_env_file=None)
    meta = {
        "quality": {"silhouette": silhouette},
        "k": k,
        "segments": [{"name": "Big", "share": shares[0]}, {"name": "Tiny", "share": shares[1]}],
    }
    assert stages.guardrails(meta, version(["A"], [1]), settings) == expected
    assert stages.guardrails(meta, None, settings) == []  # a first version is never held


def test_clean_rounds_and_drops_what_json_cannot_hold():
    assert stages.clean(1.23456789) == 1.234568
    assert stages.clean(np.float32(2.5), 2) == 2.5
    assert stages.clean(None) is None
    assert stages.clean(float("nan")) is None and stages.clean(np.inf) is None
