"""The version contract (model/versions/metadata.py): what training writes today parses strictly and
reads back byte for byte; versions written by an earlier release still load and answer;
a wrong type is one line naming the file and the field.

tests/data/release1-models was written by the first-round release (commit 5a5bab4, before
text shares, flags, k_min and the engine field) with
    SEGBOT_DATA=tests/data/mall_customers.csv SEGBOT_ID_COLUMN=CustomerID
    SEGBOT_FEATURES="Gender,Age,Annual Income (k$),Spending Score (1-100)"
    SEGBOT_K=4 segbot train; SEGBOT_K=5 segbot train
and kept as written, but for the PNGs (only v2's elbow chart is kept).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from bot.router import Router
from model.errors import NotFound
from model.service import SegmentService
from model.versions.metadata import MetadataError, VersionMeta, missing_fields
from model.versions.registry import Registry
from tests.conftest import make_settings

OLD = Path(__file__).parent / "data" / "release1-models"
MALL = Path(__file__).parent / "data" / "mall_customers.csv"
INCOME, SPENDING = "Annual Income (k$)", "Spending Score (1-100)"


@pytest.fixture
def old_dir(tmp_path: Path) -> Path:
    """A private copy: the service keeps flows and trend charts beside versions."""
    target = tmp_path / "models"
    shutil.copytree(OLD, target)
    return target


def raw(folder: Path, version: str) -> dict:
    return json.loads((folder / version / "metadata.json").read_text(encoding="utf-8"))


def stored_segment(folder: Path, customer_id: str) -> int:
    """The customer's segment read straight from the stored arrays (numpy only)."""
    ids = np.load(folder / "ids.npy")
    row = int(np.flatnonzero(ids == customer_id.encode())[0])
    return int(np.load(folder / "segments.npy")[row])


# ---- versions from an earlier release -------------------------------------------------------
def test_the_old_versions_lack_what_later_releases_added() -> None:
    """The test data really is old: these fields arrived later, and their defaults apply."""
    meta = VersionMeta.from_dict(raw(OLD, "v2"))
    later = {"engine", "flags", "text_levels", "labels", "value_labels", "notes"}
    later |= {"k_selection.k_min"}
    later |= {f"segments[{i}].text" for i in range(5)}
    assert set(missing_fields(meta)) == later
    assert meta.engine.name == "local" and meta.flags == [] and meta.text_levels == {}
    assert meta.labels == {} and meta.value_labels == {} and meta.notes == []
    assert meta.k_selection.k_min is None and all(s.text == {} for s in meta.segments)


def test_the_current_service_answers_from_an_old_release(old_dir: Path) -> None:
    service = SegmentService(make_settings(old_dir))
    stored = raw(old_dir, "v2")
    summary = service.summary()
    assert (summary.version, summary.k, summary.rows) == ("v2", 5, 200)
    assert summary.id_column == "CustomerID" and summary.flags == []
    assert [(s.id, s.name, s.size) for s in summary.segments] == [
        (s["id"], s["name"], s["size"]) for s in stored["segments"]
    ]
    assert summary.quality == stored["quality"]

    mall = pd.read_csv(MALL).set_index("CustomerID")
    for cid in ("1", "57", "200"):
        answer = service.lookup(cid)
        assert answer.segment.id == stored_segment(old_dir / "v2", cid)
        values = {v.feature: v.value for v in answer.values}
        for column in ("Age", INCOME, SPENDING):
            assert values[column] == mall.loc[int(cid), column]
        assert answer.as_of == stored["trained_at"]

    # predict: the segment the old pipeline itself (sklearn) puts this customer in
    row = mall.loc[[57], ["Age", INCOME, SPENDING, "Gender"]].reset_index(drop=True)
    cluster = int(joblib.load(old_dir / "v2" / "pipeline.joblib").predict(row)[0])
    expected = next(s["id"] for s in stored["segments"] if s["cluster"] == cluster)
    given = {c: str(row.loc[0, c]) for c in row.columns}
    assert service.predict(given).segment.id == expected
    imputed = service.predict({"Age": "30"})
    assert set(imputed.imputed) == {INCOME, SPENDING, "Gender"}

    # no stored text levels yet: a prospect's text values are the segments' modes
    modes = sorted({s["mode"]["Gender"] for s in stored["segments"]})
    assert service.prospect_inputs() == (["Age", INCOME, SPENDING], {"Gender": modes})
    assert service.chart("elbow").name == "elbow.png"
    with pytest.raises(NotFound, match="v2 has no clusters chart"):
        service.chart("clusters")


def test_history_and_flows_of_an_old_release(old_dir: Path) -> None:
    service = SegmentService(make_settings(old_dir))
    history = service.history()
    assert [(v.version, v.status, v.k) for v in history.versions] == [
        ("v2", "served", 5),
        ("v1", "previous", 4),
    ]
    assert history.versions[0].moved == raw(old_dir, "v2")["comparison"]["moved"]

    flows = service.over_time.flows("v2")
    before = np.load(old_dir / "v1" / "segments.npy")
    after = np.load(old_dir / "v2" / "segments.npy")  # same customers, same order
    assert [[int(((before == s.id) & (after == t.id)).sum()) for t in flows.targets]
            for s in flows.sources] == flows.counts  # fmt: skip
    assert service.customer_history("57").versions[0].segment.id == stored_segment(
        old_dir / "v1", "57"
    )
    assert service.find_segment("older").name == "Older Shoppers"


def test_old_files_read_back_byte_for_byte() -> None:
    for version in ("v1", "v2"):
        text = (OLD / version / "metadata.json").read_text(encoding="utf-8")
        meta = VersionMeta.from_dict(json.loads(text))
        assert json.dumps(meta.to_dict(), indent=2) == text


# ---- what the local engine writes today -----------------------------------------------------
@pytest.fixture(scope="module")
def trained_today(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two versions trained now on data with every kind of column: numbers, a 0/1 flag,
    a text feature with more values than are stored one by one ("other"), and a missing
    value; the second has a comparison with the first."""
    tmp = tmp_path_factory.mktemp("contract")
    frame = pd.read_csv(MALL)
    frame["Member"] = (frame["CustomerID"] % 3 == 0).astype(int)
    frame["City"] = [f"City {i % 11}" for i in range(len(frame))]
    frame.loc[5, "City"] = None
    data = tmp / "customers.csv"
    frame.to_csv(data, index=False)
    root = tmp / "models"
    for k in ("4", "5"):
        settings = make_settings(
            root,
            data,
            SEGBOT_ID_COLUMN="CustomerID",
            SEGBOT_FEATURES=f"Age,{INCOME},{SPENDING},Member,Gender,City",
            SEGBOT_K=k,
        )
        SegmentService(settings).retrain(force=True)
    return root


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_what_training_writes_parses_strictly_and_round_trips(
    trained_today: Path, version: str
) -> None:
    text = (trained_today / version / "metadata.json").read_text(encoding="utf-8")
    written = json.loads(text)
    meta = VersionMeta.from_dict(written, complete=True)
    assert meta.to_dict() == written
    assert json.dumps(meta.to_dict(), indent=2) == text  # byte for byte, keys in order
    # the data really had each kind of field
    assert meta.flags == ["Member"] and set(meta.categorical) == {"Gender", "City"}
    assert any(entry.other is not None for s in meta.segments for entry in s.text.values())
    assert (meta.comparison.previous is None) == (version == "v1")


def test_what_the_spark_engine_adds_is_in_the_contract(trained_today: Path) -> None:
    """The Spark engine writes the same file through the same stages, with its master and
    Spark's version in `engine` (model/training/spark_engine.py `EngineFit.engine`)."""
    written = raw(trained_today, "v2")
    written["engine"] = {"name": "spark", "master": "local[*]", "spark": "3.5.3"}
    meta = VersionMeta.from_dict(written, complete=True)
    assert (meta.engine.name, meta.engine.master) == ("spark", "local[*]")
    assert meta.to_dict() == written


def test_complete_names_what_a_writer_left_out(trained_today: Path) -> None:
    written = raw(trained_today, "v2")
    del written["flags"], written["segments"][1]["text"]
    written["comparison"]["surprise"] = 1
    with pytest.raises(MetadataError) as caught:
        VersionMeta.from_dict(written, "v2/metadata.json", complete=True)
    assert str(caught.value) == (
        "v2/metadata.json is incomplete: flags, segments[1].text, unknown key comparison.surprise"
    )
    VersionMeta.from_dict(written)  # reading stays tolerant


# ---- wrong types ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda m: m["segments"][1].update(size="many"),
            "segments[1].size should be a valid integer, not 'many'",
        ),
        (lambda m: m.update(rows="200"), "rows should be a valid integer, not '200'"),
        (
            lambda m: m["segments"][0]["mean"].update(Age="old"),
            "segments[0].mean.Age should be a number, not 'old'",
        ),
        (lambda m: m["quality"].update(silhouette=True), "quality.silhouette should be a number"),
        (lambda m: m.pop("segments"), "segments is missing"),
        (lambda m: m.update(status="maybe"), "status should be 'served' or 'candidate'"),
    ],
)
def test_a_wrong_type_is_one_clear_line(old_dir: Path, change, message: str) -> None:
    meta = raw(old_dir, "v2")
    change(meta)
    (old_dir / "v2" / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(MetadataError) as caught:
        SegmentService(make_settings(old_dir)).summary()
    assert str(caught.value).startswith(f"v2/metadata.json is unusable: {message}")
    assert "\n" not in str(caught.value)


def test_a_broken_version_reaches_the_user_as_one_line(old_dir: Path) -> None:
    (old_dir / "v2" / "metadata.json").write_text('{"version": "v2", "segm', encoding="utf-8")
    reply = Router(SegmentService(make_settings(old_dir))).handle("/segments summary")
    assert not reply.ok and reply.data["message"].startswith("v2/metadata.json is not valid JSON")
    assert "Traceback" not in reply.text and len(reply.text.splitlines()) == 1


def test_a_rewrite_with_a_wrong_type_is_refused_and_changes_nothing(old_dir: Path) -> None:
    path = old_dir / "v1" / "metadata.json"
    before = path.read_bytes()
    registry = Registry(old_dir)
    with pytest.raises(MetadataError, match="status should be 'served' or 'candidate'"):
        registry.update_metadata("v1", status="held")
    assert path.read_bytes() == before
    registry.update_metadata("v1", status="candidate")
    after = raw(old_dir, "v1")
    assert after == {**json.loads(before), "status": "candidate"}
    assert list(after) == list(json.loads(before))  # same keys, same order


def test_history_lists_an_unreadable_version_and_the_others(served_copy) -> None:
    """One broken metadata.json (here a size that is not a number) does not turn
    `/segments history` into one error line: that version is listed as unreadable with
    the reason, the others as usual, and App Home offers no rollback to it."""
    from bot import views
    from tests.test_write_back import clone_version

    model_dir, data = served_copy
    clone_version(model_dir, "v1", "v2", drop_first=100)
    (model_dir / "CURRENT").write_text("v2\n")
    broken = raw(model_dir, "v1")
    broken["segments"][1]["size"] = "many"
    (model_dir / "v1" / "metadata.json").write_text(json.dumps(broken), encoding="utf-8")

    service = SegmentService(make_settings(model_dir, data))
    history = service.history()
    assert [(v.version, v.status) for v in history.versions] == [
        ("v2", "served"),
        ("v1", "unreadable"),
    ]
    reason = "v1/metadata.json is unusable: segments[1].size should be a valid integer"
    assert history.versions[1].note.startswith(reason)
    assert history.versions[0].rows == 1900

    reply = Router(service).handle("/segments history")
    assert reply.ok and "v2 (served)" in reply.text and "1,900 rows" in reply.text
    assert f"v1 (unreadable) · {reason}" in reply.text and "Traceback" not in reply.text
    assert f"*v1* (unreadable) · {reason}" in json.dumps(reply.blocks, ensure_ascii=False)
    home = views.home(service.summary(), history, {}, admin=True)
    rollbacks = [
        e["value"]
        for b in home["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith("segbot_rollback")
    ]
    assert rollbacks == [] and "(unreadable)" in json.dumps(home)

    # the trend leaves it out and says so, instead of failing as a whole
    trend = service.trend()
    assert [t.version for t in trend.versions] == ["v2"] and trend.unreadable == ["v1"]
    said = Router(service).handle("/segments trend")
    assert (
        said.ok and "Left out, their files are damaged (see `/segments history`): v1" in said.text
    )
