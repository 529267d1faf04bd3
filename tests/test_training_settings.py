"""What the training settings do, on data whose answer is known by construction:
customers in five far-apart blobs (so five segments, and which customers share one),
trained in process through `SegmentService.retrain`.

- SEGBOT_K_MAX caps the elbow curve and the choice;
- SEGBOT_K fixes k: only that k is fitted, whatever the data says;
- SEGBOT_SEED: the same seed gives the same assignments, and it is the seed every
  KMeans fit uses (and the stored pipeline keeps);
- SEGBOT_NAMES_FILE renames segments, by id or by generated name, at the next training.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.cluster import KMeans

from model.errors import DataError
from model.service import SegmentService
from model.versions.registry import Registry
from tests.conftest import make_settings

# Five blobs: the corners of a square 300 wide and its centre, spread 3, so no two are
# ever confused. (Six on a 3 x 2 grid would do too, but auto's knee lands at 4 there and
# it picks 5: the Kneedle knee of a curve falling in near-equal steps.)
CENTERS = {
    "A": (100.0, 100.0),
    "B": (400.0, 100.0),
    "C": (100.0, 400.0),
    "D": (400.0, 400.0),
    "E": (250.0, 250.0),
}
PER_BLOB = 40


def blob_of(cid: str) -> str:
    return cid[0]


def write_blobs(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["customer_id", "spend", "visits"])
        for blob, (x, y) in CENTERS.items():
            for i in range(PER_BLOB):
                out.writerow(
                    [
                        f"{blob}{i:03d}",
                        round(x + rng.normal(0, 3), 2),
                        round(y + rng.normal(0, 3), 2),
                    ]
                )
    return path


def meta(root: Path, version: str) -> dict:
    return json.loads((root / version / "metadata.json").read_text())


def assignments(root: Path, version: str) -> dict[str, int]:
    ids = np.load(root / version / "ids.npy")
    segments = np.load(root / version / "segments.npy")
    return {i.decode(): int(s) for i, s in zip(ids, segments, strict=True)}


def train(root: Path, data: Path, **settings: object) -> SegmentService:
    service = SegmentService(make_settings(root, data, **settings))
    service.retrain(force=True)
    return service


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_blobs(tmp_path_factory.mktemp("blobs") / "blobs.csv")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, blobs: Path) -> Path:
    """The five blobs trained with the defaults (v1). Read-only: copy before changing."""
    root = tmp_path_factory.mktemp("default") / "models"
    train(root, blobs)
    return root


def test_defaults_find_the_five_blobs(trained: Path) -> None:
    m = meta(trained, "v1")
    assert m["k"] == 5 and m["k_selection"]["method"] == "auto"
    assert m["k_selection"]["ks"] == list(range(1, 11))  # SEGBOT_K_MAX defaults to 10
    # every segment is exactly one blob
    by_segment: dict[int, set[str]] = {}
    for cid, seg in assignments(trained, "v1").items():
        by_segment.setdefault(seg, set()).add(blob_of(cid))
    assert sorted(len(b) for b in by_segment.values()) == [1] * 5
    assert sorted(s["size"] for s in m["segments"]) == [PER_BLOB] * 5


def test_k_max_caps_the_elbow_and_the_choice(tmp_path: Path, blobs: Path) -> None:
    root = tmp_path / "models"
    train(root, blobs, SEGBOT_K_MAX="4")
    m = meta(root, "v1")
    assert m["k_selection"]["k_max"] == 4
    assert m["k_selection"]["ks"] == [1, 2, 3, 4] and len(m["k_selection"]["inertias"]) == 4
    assert 3 <= m["k"] <= 4 and len(m["segments"]) == m["k"]  # five blobs, but at most 4
    # fewer segments than blobs: whole blobs are merged, none is split
    blobs_of: dict[str, set[int]] = {}
    for cid, seg in assignments(root, "v1").items():
        blobs_of.setdefault(blob_of(cid), set()).add(seg)
    assert all(len(segs) == 1 for segs in blobs_of.values()), blobs_of


def test_a_fixed_k_is_the_only_k_fitted(tmp_path: Path, blobs: Path) -> None:
    root = tmp_path / "models"
    train(root, blobs, SEGBOT_K="3")
    m = meta(root, "v1")
    assert m["k"] == 3 and len(m["segments"]) == 3  # not the five the data holds
    assert m["k_selection"]["method"] == "fixed" and m["k_selection"]["ks"] == [3]
    assert m["k_selection"]["reason"].startswith("k=3 was set")
    assert len(set(assignments(root, "v1").values())) == 3


def test_the_seed_reaches_every_kmeans_and_repeats_the_assignments(
    tmp_path: Path, sample_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Overlapping groups (the bundled sample's customers, not the blobs): where the seed
    # could matter at all.
    data = tmp_path / "customers.csv"
    with sample_csv.open() as src, data.open("w") as dst:
        dst.writelines(line for i, line in enumerate(src) if i <= 600)
    seeds: list[object] = []
    fit = KMeans.fit

    def spy(self, *args, **kwargs):
        seeds.append(self.random_state)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(KMeans, "fit", spy)
    first, second = tmp_path / "a", tmp_path / "b"
    train(first, data, SEGBOT_SEED="7")
    assert seeds and set(seeds) == {7}, seeds  # every fit: the elbow's and the final one
    train(second, data, SEGBOT_SEED="7")

    assert assignments(first, "v1") == assignments(second, "v1")
    for array in ("distances.npy", "runner_up.npy"):
        assert np.array_equal(np.load(first / "v1" / array), np.load(second / "v1" / array))
    a, b = meta(first, "v1"), meta(second, "v1")
    assert [s["centroid"] for s in a["segments"]] == [s["centroid"] for s in b["segments"]]
    pipeline = joblib.load(first / "v1" / "pipeline.joblib")
    stored = [step for step in pipeline.named_steps.values() if isinstance(step, KMeans)]
    assert [km.random_state for km in stored] == [7]


def test_a_names_file_renames_segments_at_the_next_training(
    tmp_path: Path, trained: Path, blobs: Path
) -> None:
    root = tmp_path / "models"
    shutil.copytree(trained, root)
    before = meta(root, "v1")["segments"]
    by_id, by_name = before[0], before[1]
    names = tmp_path / "team-names.toml"  # outside the model directory: only the setting finds it
    names.write_text(
        f'[{by_id["id"]}]\nname = "Far Corner"\naction = "Call them first."\n'
        f'["{by_name["name"]}"]\nname = "Middle Ground"\n',
        encoding="utf-8",
    )
    service = train(root, blobs, SEGBOT_NAMES_FILE=str(names))
    after = {s["id"]: s for s in meta(root, "v2")["segments"]}
    # the same blobs, so the same segment ids (identity is kept across retrains)
    assert set(after) == {s["id"] for s in before}
    assert after[by_id["id"]]["name"] == "Far Corner"
    assert after[by_id["id"]]["action"] == "Call them first."
    assert after[by_name["id"]]["name"] == "Middle Ground"
    assert after[by_name["id"]]["action"] == by_name["action"]  # only the name was given
    for s in before[2:]:
        assert after[s["id"]]["name"] == s["name"]  # the others as generated

    # a customer of the renamed segment is answered with the team's name and action
    cid = next(c for c, seg in assignments(root, "v2").items() if seg == by_id["id"])
    answer = service.lookup(cid)
    assert answer.version == "v2"
    assert (answer.segment.name, answer.segment.action) == ("Far Corner", "Call them first.")


def test_a_broken_names_file_is_one_line_and_stores_nothing(
    tmp_path: Path, trained: Path, blobs: Path
) -> None:
    root = tmp_path / "models"
    shutil.copytree(trained, root)
    names = tmp_path / "names.toml"
    names.write_text('[1]\ncolour = "blue"\n', encoding="utf-8")
    service = SegmentService(make_settings(root, blobs, SEGBOT_NAMES_FILE=str(names)))
    with pytest.raises(DataError) as caught:
        service.retrain(force=True)
    assert str(caught.value) == f"names file {names}: [1] may only set name and action"
    registry = Registry(root)
    assert registry.versions() == ["v1"] and registry.served() == "v1"
    assert not list(root.glob(".tmp-*"))
