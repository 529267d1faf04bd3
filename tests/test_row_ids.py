"""Files without an id column: `--id-column @row` makes the 1-based row numbers the ids.

Loading is checked in-process against values read independently (the csv module,
sqlite3); training, lookups and exports run the real `segbot` command.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.config import Settings
from model.data.load import ROW_IDS, load_dataset
from tests.conftest import data_error, run_segbot, segbot_env

MALL = Path(__file__).parent / "data" / "mall_customers.csv"
NUMERIC = ["Age", "Annual Income (k$)", "Spending Score (1-100)"]

pytestmark = pytest.mark.usefixtures("no_segbot_environment")


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def mall_rows() -> list[dict[str, str]]:
    """The Mall file's rows as the csv module reads them, CustomerID dropped."""
    with MALL.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        del row["CustomerID"]
    return rows


def write_without_ids(path: Path) -> Path:
    rows = mall_rows()
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# --------------------------------------------------------------------------- loading


def test_csv_rows_are_the_ids_and_every_numeric_column_a_feature(tmp_path):
    path = write_without_ids(tmp_path / "mall.csv")
    data = load_dataset(settings(data=str(path), id_column=ROW_IDS))
    rows = mall_rows()
    assert data.rows == len(rows) == 200
    assert list(data.ids) == [str(i) for i in range(1, 201)]
    assert data.numeric == NUMERIC and data.categorical == []  # Gender is text, not listed
    for number in (1, 2, 10, 200):
        expected = [float(rows[number - 1][c]) for c in NUMERIC]
        assert data.frame.iloc[number - 1].tolist() == expected


def test_listed_features_and_a_column_named_at_row(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("@row,a,g\n100,1.5,x\n200,2.5,y\n300,,x\n")
    data = load_dataset(settings(data=str(path), id_column=ROW_IDS, features="g,a"))
    assert list(data.ids) == ["1", "2", "3"]
    assert data.features == ["g", "a"] and data.categorical == ["g"]
    # "@row" always means row numbers: a column of that name is only data.
    whole = load_dataset(settings(data=str(path), id_column=ROW_IDS))
    assert list(whole.ids) == ["1", "2", "3"] and whole.numeric == ["@row", "a"]


def test_a_saved_pandas_index_is_not_a_feature(tmp_path):
    frame = pd.DataFrame({"x": [3.0, 1.0, 2.0], "y": [7.0, 8.0, 9.0]}, index=[10, 11, 12])
    frame.to_csv(tmp_path / "indexed.csv")  # first header blank: pandas reads "Unnamed: 0"
    frame.to_parquet(tmp_path / "indexed.parquet")  # stored as __index_level_0__
    for name in ("indexed.csv", "indexed.parquet"):
        data = load_dataset(settings(data=str(tmp_path / name), id_column=ROW_IDS))
        assert data.features == ["x", "y"], name
        assert list(data.ids) == ["1", "2", "3"]
        assert data.frame["x"].tolist() == [3.0, 1.0, 2.0]
    # Listed, the index column is used like any other.
    listed = load_dataset(
        settings(data=str(tmp_path / "indexed.csv"), id_column=ROW_IDS, features="Unnamed: 0,x")
    )
    assert listed.frame["Unnamed: 0"].tolist() == [10.0, 11.0, 12.0]


def test_parquet_rows_are_the_ids(tmp_path):
    rows = mall_rows()
    frame = pd.DataFrame({c: [int(r[c]) for r in rows] for c in NUMERIC})
    frame.to_parquet(tmp_path / "mall.parquet", index=False)
    data = load_dataset(settings(data=str(tmp_path / "mall.parquet"), id_column=ROW_IDS))
    assert list(data.ids) == [str(i) for i in range(1, 201)]
    assert data.frame.iloc[6].tolist() == [float(rows[6][c]) for c in NUMERIC]
    as_csv = load_dataset(
        settings(data=str(write_without_ids(tmp_path / "m.csv")), id_column=ROW_IDS)
    )
    assert data.digest == as_csv.digest  # same rows, same numbers: same data


def test_sql_rows_count_in_the_query_order(tmp_path):
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE people (name TEXT, age REAL, spend REAL)")
        con.executemany(
            "INSERT INTO people VALUES (?, ?, ?)",
            [("ann", 30, 5.0), ("bob", 50, 1.0), ("cy", 20, 9.0), ("di", 40, 3.0)],
        )
    url = f"sqlite:///{db}"
    by_age = load_dataset(
        settings(
            data=url, data_query="SELECT age, spend FROM people ORDER BY age DESC", id_column="@row"
        )
    )
    assert list(by_age.ids) == ["1", "2", "3", "4"]
    assert by_age.frame["age"].tolist() == [50.0, 40.0, 30.0, 20.0]  # row 1 is the oldest
    table = load_dataset(settings(data=url, data_query="people", id_column="@row"))
    assert list(table.ids) == ["1", "2", "3", "4"] and table.numeric == ["age", "spend"]


def test_many_rows_make_ids_without_python_strings():
    from model.data.load import _row_numbers
    from model.versions.version import fixed_width_ids

    ids = _row_numbers(1_000_001)
    assert ids.type == "string" and len(ids) == 1_000_001
    assert ids[0].as_py() == "1" and ids[999_999].as_py() == "1000000"
    assert ids[-1].as_py() == "1000001"
    keys = fixed_width_ids(ids)
    assert keys.dtype == np.dtype("S7") and keys[12_344] == b"12345"


# --------------------------------------------------------------------------- errors


def test_missing_id_column_mentions_row_numbers(tmp_path):
    path = write_without_ids(tmp_path / "mall.csv")
    message = data_error(settings(data=str(path)))
    assert message == (
        f"id column 'customer_id' not found in {path} (set SEGBOT_ID_COLUMN or --id-column, "
        "or --id-column @row if the data has no id column); "
        "the columns are: Gender, Age, Annual Income (k$), Spending Score (1-100)"
    )
    hinted = data_error(settings(data=str(MALL)))
    assert "--id-column @row if the data has no id column; did you mean 'CustomerID'?)" in hinted


def test_row_numbers_are_not_for_a_transaction_log(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("customer_id,date,amount\nA,2024-01-01,3\nB,2024-01-02,4\n")
    message = data_error(settings(data=str(path), data_kind="transactions", id_column="@row"))
    assert message.startswith("--id-column @row (row numbers as ids) is for a customers table")
    # A log's own missing id column does not suggest @row.
    other = data_error(settings(data=str(path), data_kind="transactions", id_column="cid"))
    assert "@row" not in other and "id column 'cid' not found" in other


def test_no_feature_and_no_rows(tmp_path):
    text_only = tmp_path / "t.csv"
    text_only.write_text("name\nann\nbob\n")
    message = data_error(settings(data=str(text_only), id_column="@row"))
    assert message.startswith("no usable feature column in ") and "besides the id" not in message
    header = tmp_path / "h.csv"
    header.write_text("a,b\n")
    assert data_error(settings(data=str(header), id_column="@row")).endswith("has no rows")


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """`segbot train --id-column @row` on the Mall file without its CustomerID column."""
    folder = tmp_path_factory.mktemp("rowids")
    data = write_without_ids(folder / "mall.csv")
    env = segbot_env(SEGBOT_MODEL_DIR=folder / "models")
    done = run_segbot(["train", "--data", str(data), "--id-column", "@row"], env=env, cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "Ids are row numbers of the data (no id column)" in done.stdout
    return folder, env


def ask(trained, *args: str):
    folder, env = trained
    return run_segbot(["ask", *args], env=env, cwd=folder)


def customer(trained, number: str) -> dict:
    done = ask(trained, "--json", f"/segment customer {number}")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)["data"]


def test_a_row_number_finds_that_row(trained):
    rows = mall_rows()
    # "10" sorts before "2" as stored text; each must still find its own row.
    for number in ("7", "2", "10", "100", "200"):
        answer = customer(trained, number)
        assert answer["customer_id"] == number
        values = {v["feature"]: v["value"] for v in answer["values"]}
        assert values == {c: float(rows[int(number) - 1][c]) for c in NUMERIC}, number


def test_a_number_that_is_no_row_is_not_found(trained):
    for missing in ("0", "201", "007"):
        done = ask(trained, f"/segment customer {missing}")
        assert done.returncode == 1
        assert done.stdout.strip() == f"No customer with id '{missing}' in v1."


def test_summary_says_ids_are_row_numbers(trained):
    done = ask(trained, "--json", "/segments summary")
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["data"]["id_column"] == "@row" and reply["data"]["rows"] == 200
    assert "Ids are row numbers of the data (no id column)" in reply["text"]
    contexts = [b for b in reply["blocks"] if b["type"] == "context"]
    assert any("row numbers" in b["elements"][0]["text"] for b in contexts)


def test_exports_hold_every_row_once(trained):
    folder, _ = trained
    summary = json.loads(ask(trained, "--json", "/segments summary").stdout)["data"]
    # Stored assignments, read straight from the version's arrays.
    version = folder / "models" / summary["version"]
    stored_ids = np.load(version / "ids.npy").astype(str)
    stored_segments = np.load(version / "segments.npy")
    seen: list[int] = []
    for segment in summary["segments"]:
        out = folder / f"out-{segment['id']}"
        done = ask(trained, "--out", str(out), f"/segments export {segment['id']}")
        assert done.returncode == 0, done.stdout + done.stderr
        (path,) = out.glob("*.csv")
        with path.open(newline="") as handle:
            exported = list(csv.DictReader(handle))
        assert list(exported[0]) == ["row", "segment_id", "segment"]
        numbers = [int(r["row"]) for r in exported]
        assert len(numbers) == segment["size"] and numbers == sorted(numbers)  # 2 before 10
        assert {r["segment"] for r in exported} == {segment["name"]}
        expected = {int(i) for i in stored_ids[stored_segments == segment["id"]]}
        assert set(numbers) == expected
        seen += numbers
    assert sorted(seen) == list(range(1, 201))  # every row exactly once


def test_export_agrees_with_the_customer_answer(trained):
    folder, _ = trained
    answer = customer(trained, "42")
    segment = answer["segment"]
    out = folder / "out-42"
    done = ask(trained, "--out", str(out), f"/segments export {segment['id']}")
    assert done.returncode == 0, done.stderr
    (path,) = out.glob("*.csv")
    with path.open(newline="") as handle:
        assert "42" in {r["row"] for r in csv.DictReader(handle)}


def test_parquet_end_to_end(tmp_path):
    rows = mall_rows()
    frame = pd.DataFrame({c: [int(r[c]) for r in rows] for c in NUMERIC})
    frame["Gender"] = [r["Gender"] for r in rows]
    frame.to_parquet(tmp_path / "mall.parquet", index=False)
    env = segbot_env(SEGBOT_MODEL_DIR=tmp_path / "models", SEGBOT_ID_COLUMN="@row")
    done = run_segbot(["train", "--data", str(tmp_path / "mall.parquet")], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = run_segbot(["ask", "--json", "/segment customer 13"], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    values = {v["feature"]: v["value"] for v in json.loads(done.stdout)["data"]["values"]}
    assert values == {c: float(rows[12][c]) for c in NUMERIC}


def test_cli_errors_are_one_line(tmp_path):
    env = segbot_env(SEGBOT_MODEL_DIR=tmp_path / "models")
    data = write_without_ids(tmp_path / "mall.csv")
    done = run_segbot(["train", "--data", str(data)], env=env, cwd=tmp_path)
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "id column 'customer_id' not found" in line and "--id-column @row" in line
    log = tmp_path / "log.csv"
    log.write_text("customer_id,date,amount\nA,2024-01-01,3\nB,2024-01-02,4\n")
    done = run_segbot(
        ["train", "--data", str(log), "--kind", "transactions", "--id-column", "@row"],
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "is for a customers table, not a transaction log" in one_line(done.stderr)
    assert not list((tmp_path / "models").glob("v*"))  # nothing trained
