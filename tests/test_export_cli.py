"""`segbot export [--version vN] --out FILE`: every customer's assignment as csv or
parquet, compared with the version's `.npy` arrays read here with numpy alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.cli import main
from model.versions.export import CHUNK_ROWS, assignment_batches
from model.versions.version import LoadedVersion
from tests.conftest import run_segbot, segbot_env
from tests.test_write_back import clone_version


def expected_frame(model_dir: Path, version: str) -> pd.DataFrame:
    folder = model_dir / version
    meta = json.loads((folder / "metadata.json").read_text())
    names = {s["id"]: s["name"] for s in meta["segments"]}
    ids = np.load(folder / "ids.npy")
    segments = np.load(folder / "segments.npy").astype(int)
    runner = np.load(folder / "runner_up.npy").astype(int)
    dist = np.load(folder / "distances.npy")[:, 0].astype(float)
    return pd.DataFrame(
        {
            "customer_id": [i.decode() for i in ids],
            "segment_id": segments,
            "segment": [names[s] for s in segments],
            "version": version,
            "distance": np.round(dist, 6),
            "runner_up": [names[r] if r >= 0 else None for r in runner],
        }
    )


def read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype={"customer_id": str, "runner_up": object})
        return frame.astype({"runner_up": object}).where(frame.notna(), None)
    return pd.read_parquet(path)


@pytest.fixture
def two_versions(served_copy) -> Path:
    model_dir, _ = served_copy
    clone_version(model_dir, "v1", "v2", drop_first=100)
    (model_dir / "CURRENT").write_text("v2\n")
    return model_dir


def test_export_cli_writes_the_stored_rows_as_csv_and_parquet(two_versions, tmp_path):
    model_dir = two_versions
    env = segbot_env(SEGBOT_MODEL_DIR=model_dir)
    done = run_segbot(["export", "--out", "served.csv"], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "wrote 1,900 rows of v2 to served.csv"
    header = (tmp_path / "served.csv").read_text().splitlines()[0]
    assert header == '"customer_id","segment_id","segment","version","distance","runner_up"'
    got = read(tmp_path / "served.csv")
    pd.testing.assert_frame_equal(got, expected_frame(model_dir, "v2"), check_dtype=False)

    out = tmp_path / "old.parquet"
    assert main(["export", "--version", "1", "--out", str(out), "--model-dir", str(model_dir)]) == 0
    pd.testing.assert_frame_equal(read(out), expected_frame(model_dir, "v1"), check_dtype=False)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--version", "v12"],
            "version v12 does not exist; did you mean v2? stored versions: v1, v2",
        ),
        (["--version", "0"], "version v0 does not exist; did you mean v1?"),
        (["--version", "banana"], "version banana does not exist; stored versions: v1, v2"),
        (["--out", "x.xlsx"], "the file name must end in .csv or .parquet, not .xlsx"),
        (["--out", "no/such/folder/x.csv"], "folder"),
        (["--out", "."], "must end in .csv or .parquet"),
    ],
)
def test_export_errors_are_one_line_and_exit_2(
    two_versions, tmp_path, monkeypatch, capsys, args, expected
):
    monkeypatch.chdir(tmp_path)
    argv = ["export", "--model-dir", str(two_versions)]
    argv += args if "--out" in args else [*args, "--out", "x.csv"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("segbot: ") and expected in err and "\n" not in err, err
    assert not (tmp_path / "x.csv").exists()


def test_export_into_a_read_only_folder_is_one_line(two_versions, tmp_path, capsys):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    assert main(["export", "--model-dir", str(two_versions), "--out", f"{blocked}/x.csv"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"folder {blocked} does not exist" in err and "\n" not in err


def test_export_with_no_model_says_so(tmp_path, capsys):
    assert main(["export", "--model-dir", str(tmp_path / "none"), "--out", "x.csv"]) == 2
    assert "no model is trained yet" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_customers_without_a_runner_up_get_an_empty_one(two_versions, tmp_path, suffix):
    """runner_up -1 (stored when there is no second-nearest segment, as with k=1) is
    written empty, not as the name of segment 0. The trainer numbers segments from 1;
    the stored format allows 0, so v2's are renumbered from 0 here."""
    folder = two_versions / "v2"
    meta = json.loads((folder / "metadata.json").read_text())
    for segment in meta["segments"]:
        segment["id"] -= 1
    meta.pop("next_segment_id", None)
    (folder / "metadata.json").write_text(json.dumps(meta))
    np.save(folder / "segments.npy", np.load(folder / "segments.npy") - 1)
    runner = np.load(folder / "runner_up.npy") - 1
    runner[::7] = -1
    np.save(folder / "runner_up.npy", runner)
    out = tmp_path / f"served{suffix}"
    assert main(["export", "--model-dir", str(two_versions), "--out", str(out)]) == 0
    got = read(out)
    expected = expected_frame(two_versions, "v2")
    runner_ups = [[None if pd.isna(x) else x for x in f["runner_up"]] for f in (got, expected)]
    assert runner_ups[0] == runner_ups[1] and runner_ups[0].count(None) == 272
    rest = [f.drop(columns="runner_up") for f in (got, expected)]
    pd.testing.assert_frame_equal(*rest, check_dtype=False)


def test_rows_come_in_bounded_chunks(two_versions):
    """10M customers never sit in memory at once: batches of at most `chunk` rows."""
    v = LoadedVersion.load(two_versions / "v1")
    sizes = [b.num_rows for b in assignment_batches(v, chunk=300)]
    assert sizes == [300] * 6 + [200]
    assert max(b.num_rows for b in assignment_batches(v)) <= CHUNK_ROWS


def test_ids_with_commas_quotes_and_accents_survive_csv(two_versions, tmp_path):
    import csv

    model_dir = two_versions
    folder = model_dir / "v1"
    odd = ["a,b", 'say "hi"', "Zoë", "line\nbreak", "007"]
    ids = np.load(folder / "ids.npy")
    keys = [k.decode() for k in ids]
    keys[: len(odd)] = odd
    encoded = np.array(sorted(k.encode() for k in keys))  # stored sorted, as training does
    np.save(folder / "ids.npy", encoded)
    out = tmp_path / "odd.csv"
    assert (
        main(["export", "--version", "v1", "--out", str(out), "--model-dir", str(model_dir)]) == 0
    )
    with out.open(newline="", encoding="utf-8") as fh:
        got = [row["customer_id"] for row in csv.DictReader(fh)]
    assert got == [k.decode() for k in encoded]
    assert set(odd) <= set(got)


# ---- contents against ids known by construction --------------------------------------------
@pytest.fixture(scope="module")
def blobs_model(tmp_path_factory) -> Path:
    """180 customers in three far-apart blobs (tests.test_history's v1 data), k=3: which
    customers share a segment is known from the data alone. Read-only."""
    from model.service import SegmentService
    from tests.conftest import make_settings
    from tests.test_history import V1, write_blobs

    tmp = tmp_path_factory.mktemp("export-blobs")
    data = write_blobs(tmp / "blobs.csv", V1, seed=1)
    SegmentService(make_settings(tmp / "models", data, SEGBOT_K="3")).retrain(force=True)
    return tmp / "models"


def test_exports_hold_exactly_the_customers_of_each_blob(blobs_model, tmp_path):
    from model.service import SegmentService
    from tests.conftest import make_settings
    from tests.test_history import CENTERS, V1, blob_segments

    segment_of_blob = blob_segments(blobs_model, "v1")  # from the stored centres only
    names = {
        s["id"]: s["name"]
        for s in json.loads((blobs_model / "v1" / "metadata.json").read_text())["segments"]
    }

    # `segbot export`: every customer once, in the segment of their blob
    out = tmp_path / "all.csv"
    assert main(["export", "--out", str(out), "--model-dir", str(blobs_model)]) == 0
    rows = read(out)
    assert sorted(rows["customer_id"]) == sorted(V1) and len(rows) == 180
    for row in rows.itertuples():
        segment = segment_of_blob[V1[row.customer_id]]
        assert (row.segment_id, row.segment, row.version) == (segment, names[segment], "v1")
        assert row.runner_up in set(names.values()) - {names[segment]}

    # `/segments export <segment>`: that blob's customers, no one else
    service = SegmentService(make_settings(blobs_model))
    for blob in CENTERS:
        segment = segment_of_blob[blob]
        export = service.export(str(segment))
        lines = export.csv.decode().splitlines()
        assert lines[0] == "customer_id,segment_id,segment"
        ids = [line.split(",")[0] for line in lines[1:]]
        assert sorted(ids) == sorted(c for c, b in V1.items() if b == blob)
        assert {line.split(",", 1)[1] for line in lines[1:]} == {f'{segment},"{names[segment]}"'}
        assert export.rows == len(ids) == 60
