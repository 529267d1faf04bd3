import csv
import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from model.config import Settings
from model.data.load import load_dataset
from model.data.sample import generate
from model.errors import DataError, InputError, NotFound
from model.service import SegmentService


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("svc")
    data = root / "customers.csv"
    generate(2500, seed=5).to_csv(data, index=False)
    settings = Settings(SEGBOT_DATA=str(data), SEGBOT_MODEL_DIR=str(root / "models"))
    SegmentService(settings).retrain(force=True)
    return root, data


@pytest.fixture
def service(trained, tmp_path):
    root, data = trained
    shutil.copytree(root / "models", tmp_path / "models")
    return SegmentService(
        Settings(SEGBOT_DATA=str(data), SEGBOT_MODEL_DIR=str(tmp_path / "models"))
    )


def test_lookup_matches_what_the_stored_pipeline_predicts(service):
    ds = load_dataset(service.settings)
    version = service._version()
    pipe = version.model.sklearn
    predicted = pipe.predict(ds.frame)  # KMeans cluster of each row
    cluster_to_id = {s.cluster: s.id for s in version.metadata.segments}
    for i in range(0, ds.rows, 97):
        answer = service.lookup(ds.ids[i])
        assert answer.segment.id == cluster_to_id[int(predicted[i])]
        assert answer.version == "v1" and answer.as_of == version.metadata.trained_at
        assert answer.membership.runner_up.id != answer.segment.id
        assert 0 <= answer.membership.margin <= 1


def test_lookup_shows_the_customers_values_beside_typical_ones(service):
    ds = load_dataset(service.settings)
    answer = service.lookup(ds.ids[3])
    values = {v.feature: v for v in answer.values}
    assert set(values) == set(ds.numeric)
    expected = ds.frame.iloc[3]
    for f, v in values.items():
        if pd.isna(expected[f]):
            assert v.value is None
        else:
            assert v.value == pytest.approx(expected[f], rel=1e-5)
        assert v.typical == answer.segment.typical[f]


def test_unknown_customer_is_not_found(service):
    with pytest.raises(NotFound, match="no customer with id 'nobody'"):
        service.lookup("nobody")


def test_predict_imputes_what_is_missing_and_rejects_bad_input(service):
    answer = service.predict({"annual_income": "160000", "avg_order_value": "230"})
    assert set(answer.imputed) == set(service.features()) - {"annual_income", "avg_order_value"}
    assert "High-Income" in answer.segment.name
    with pytest.raises(InputError, match="unknown feature 'shoe_size'"):
        service.predict({"shoe_size": "9"})
    with pytest.raises(InputError, match="age must be a number"):
        service.predict({"age": "old"})


def test_summary_sizes_add_up(service):
    summary = service.summary()
    assert sum(s.size for s in summary.segments) == summary.rows == 2500
    assert summary.k == len(summary.segments)
    assert len({s.name for s in summary.segments}) == summary.k
    assert abs(sum(s.share for s in summary.segments) - 1) < 1e-6


def test_unchanged_data_trains_nothing(service):
    result = service.retrain()
    assert result.unchanged_data and service.registry.versions() == ["v1"]


def test_retrain_keeps_segment_identity_when_rows_are_reordered(service, tmp_path):
    before = {s.name: s.id for s in service.summary().segments}
    shuffled = pd.read_csv(service.settings.data, dtype={"customer_id": str})
    shuffled = shuffled.sample(frac=1, random_state=1)
    path = tmp_path / "shuffled.csv"
    shuffled.to_csv(path, index=False)
    service.settings = service.settings.model_copy(update={"data": str(path)})
    result = service.retrain()
    assert result.served and result.version.version == "v2"
    after = {s.name: s.id for s in service.summary().segments}
    assert after == before
    assert result.change.ari > 0.95 and result.change.moved_share < 0.05
    assert service.lookup(shuffled["customer_id"].iloc[0]).version == "v2"


def test_a_failing_data_source_keeps_the_served_version(service, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,age\n1,30\n1,31\n")
    service.settings = service.settings.model_copy(update={"data": str(bad)})
    with pytest.raises(DataError, match="duplicate"):
        service.retrain()
    assert service.registry.versions() == ["v1"] and service.served_version == "v1"
    assert not list(service.registry.root.glob(".tmp-*"))


def test_a_held_back_candidate_is_stored_but_never_served_nor_compared_with(service):
    v1 = service._version()
    service.settings = service.settings.model_copy(update={"min_segment_share": 0.6})
    held = service.retrain(force=True)
    assert not held.served and held.version.version == "v2"
    assert "holds only" in held.held_back[0]
    candidate = json.loads((service.registry.path("v2") / "metadata.json").read_text())
    assert candidate["status"] == "candidate" and candidate["guardrails"] == held.held_back
    assert [v.status for v in service.history().versions] == ["candidate", "served"]
    # lookups keep answering from v1's stored rows
    for cid in ("C00000001", "C00000250", "C00002500"):
        answer = service.lookup(cid)
        assert answer.version == "v1" and answer.segment.id == int(v1.segments[v1.row_of(cid)])
    assert service.summary().version == "v1" and service.export("1").version == "v1"

    # the next retrain is measured against what customers were served (v1), not v2
    service.settings = service.settings.model_copy(update={"min_segment_share": 0.0})
    served = service.retrain(force=True)
    assert served.served and served.version.version == "v3"
    assert served.change.previous == "v1"
    stored = json.loads((service.registry.path("v3") / "metadata.json").read_text())
    assert stored["comparison"]["previous"] == "v1"

    # and a rollback can still serve the candidate
    rolled = service.rollback("v2")
    assert rolled.previous == "v3" and service.served_version == "v2"


def test_another_process_switch_is_noticed(service):
    other = SegmentService(service.settings)
    assert other.served_version == "v1"
    service.retrain(force=True)
    other._checked = 0  # skip the once-a-second throttle
    assert other.served_version == "v2"


def test_export_lists_exactly_the_segments_customers(service):
    seg = service.summary().segments[0]
    export = service.export(str(seg.id))
    lines = export.csv.decode().splitlines()
    assert lines[0].startswith("customer_id,")
    assert len(lines) - 1 == seg.size == export.rows
    assert service.export(seg.name.lower()).rows == seg.size
    with pytest.raises(NotFound, match="no segment 'zzz'"):
        service.export("zzz")


def test_ids_keep_leading_zeros(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"{i:05d}" for i in range(1, 301)]
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "x": rng.normal(size=300),
            "y": np.r_[rng.normal(0, 1, 150), rng.normal(8, 1, 150)],
        }
    )
    path = tmp_path / "zeros.csv"
    frame.to_csv(path, index=False)
    svc = SegmentService(Settings(SEGBOT_DATA=str(path), SEGBOT_MODEL_DIR=str(tmp_path / "m")))
    svc.retrain(force=True)
    assert svc.lookup("00042").customer_id == "00042"
    with pytest.raises(NotFound):
        svc.lookup("42")


def test_export_quotes_ids_only_where_csv_needs_it(tmp_path):
    """Ids with a comma, a quote or a line break are quoted (quotes doubled), other ids
    are written as they are; the segment name is always quoted."""
    rng = np.random.default_rng(0)
    odd = {7: "A,7", 8: 'B"8', 9: "C\n9"}
    ids = [odd.get(i, f"c{i:03d}") for i in range(300)]
    frame = pd.DataFrame(
        {"customer_id": ids, "x": np.r_[rng.normal(0, 1, 150), rng.normal(8, 1, 150)]}
    )
    path = tmp_path / "odd.csv"
    frame.to_csv(path, index=False)
    svc = SegmentService(Settings(SEGBOT_DATA=str(path), SEGBOT_MODEL_DIR=str(tmp_path / "m")))
    svc.retrain(force=True)
    seg = svc.lookup("A,7").segment
    text = svc.export(str(seg.id)).csv.decode()
    name = seg.name.replace('"', '""')
    assert text.startswith("customer_id,segment_id,segment\n")
    assert f'"A,7",{seg.id},"{name}"\n' in text
    assert f'"B""8",{seg.id},"{name}"\n' in text
    assert f'"C\n9",{seg.id},"{name}"\n' in text
    assert f'\nc010,{seg.id},"{name}"\n' in text
    rows = list(csv.reader(io.StringIO(text)))[1:]
    members = sorted(i for i in ids if svc.lookup(i).segment.id == seg.id)
    assert sorted(r[0] for r in rows) == members


def test_history_follows_a_rewritten_metadata_file(model_dir):
    """version_info is kept between calls (every "Show segment" click asks for the
    history), but a version whose metadata.json is rewritten is read again."""
    svc = SegmentService(Settings(SEGBOT_MODEL_DIR=str(model_dir)))
    name = svc.served_version
    first = svc.history().versions[0]
    assert first.version == name and first.note == ""
    assert svc.history().versions[0] is first  # kept, not parsed again
    svc.registry.update_metadata(name, guardrails=["held back by hand", "twice"])
    again = svc.history().versions[0]
    assert again.note == "held back by hand; twice"
    assert again.sizes == first.sizes
