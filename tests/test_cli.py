"""The `segbot` command line on real files: train, sample-data, bad settings."""

import json
import subprocess
import sys

import pytest

MALL = "tests/data/mall_customers.csv"


def segbot(*args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=240,
    )


def test_train_on_the_mall_data_with_its_own_header(tmp_path):
    models = tmp_path / "models"
    done = segbot("train", "--data", MALL, "--id-column", "CustomerID", "--model-dir", str(models))
    assert done.returncode == 0, done.stderr
    meta = json.loads((models / "v1" / "metadata.json").read_text())
    assert meta["features"] == ["Age", "Annual Income (k$)", "Spending Score (1-100)"]
    assert meta["rows"] == 200 and 2 <= meta["k"] <= 10
    names = [s["name"] for s in meta["segments"]]
    assert len(set(names)) == len(names)
    assert any("High-Income" in n for n in names)
    for name in names:  # the printed summary lists every segment
        assert name in done.stdout
    assert (models / "CURRENT").read_text().strip() == "v1"
    for chart in ("elbow", "clusters", "profiles"):
        assert (models / "v1" / f"{chart}.png").stat().st_size > 10_000
    ask = segbot("ask", "--model-dir", str(models), "--json", "/segment customer 42")
    assert ask.returncode == 0, ask.stderr
    assert json.loads(ask.stdout)["data"]["customer_id"] == "42"


def test_sample_data_is_deterministic_and_csv_or_parquet(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for path in (a, b):
        assert (
            segbot("sample-data", "--rows", "300", "--seed", "9", "--out", str(path)).returncode
            == 0
        )
    assert a.read_bytes() == b.read_bytes()
    assert a.read_text().splitlines()[0].replace('"', "").startswith("customer_id,age,")
    pq = tmp_path / "c.parquet"
    assert segbot("sample-data", "--rows", "300", "--out", str(pq)).returncode == 0
    assert pq.read_bytes()[:4] == b"PAR1"
    bad = segbot("sample-data", "--rows", "10", "--out", str(tmp_path / "c.xlsx"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--k", "abc"], {}, "setting SEGBOT_K / --k: must be 'auto'"),
        (["--k-max", "1"], {}, "setting SEGBOT_K_MAX / --k-max"),
        ([], {"SEGBOT_DATA_KIND": "orders"}, "setting SEGBOT_DATA_KIND / --kind"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(tmp_path, args, env, expected):
    import os

    done = segbot(
        "train", "--model-dir", str(tmp_path / "m"), *args, env={**os.environ, **env}, cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "m").exists()
