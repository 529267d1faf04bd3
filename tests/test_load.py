"""Loading and validating data (model.data.load) from real files and a real SQLite database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.config import Settings
from model.data.load import SAMPLE_SOURCE, describe_source, load_dataset, read_source
from model.data.sample import generate, write_sample
from tests.conftest import data_error

MALL = Path(__file__).parent / "data" / "mall_customers.csv"
MALL_NUMERIC = ["Age", "Annual Income (k$)", "Spending Score (1-100)"]


pytestmark = pytest.mark.usefixtures("no_segbot_environment")


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def write_csv(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def error(**values) -> str:
    """The message of the DataError that loading these settings raises; one line."""
    return data_error(settings(**values))


# --------------------------------------------------------------------------- sources


def test_default_is_the_bundled_sample():
    data = load_dataset(settings())
    assert data.source == SAMPLE_SOURCE == "bundled sample (5,000 synthetic customers, seed 42)"
    assert data.rows == 5000 and data.kind == "customers"
    assert data.ids.dtype == object and data.ids[0] == "C00000001"
    assert data.numeric == [
        "age",
        "annual_income",
        "orders_per_year",
        "avg_order_value",
        "total_spend",
        "days_since_last_purchase",
        "tenure_months",
    ]
    assert data.categorical == []  # gender is text: used only when listed
    assert isinstance(data.frame.index, pd.RangeIndex)
    assert list(data.frame.columns) == data.numeric
    assert all(data.frame[c].dtype == np.float64 for c in data.numeric)
    assert describe_source(settings()) == SAMPLE_SOURCE


def test_csv_and_parquet_give_the_same_dataset(tmp_path):
    csv = write_sample(tmp_path / "c.csv", rows=800, seed=3)
    parquet = write_sample(tmp_path / "c.parquet", rows=800, seed=3)
    a = load_dataset(settings(data=str(csv)))
    b = load_dataset(settings(data=str(parquet)))
    assert a.source == str(csv) and b.source == str(parquet)
    assert list(a.ids) == list(b.ids) == list(generate(800, seed=3)["customer_id"])
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert a.digest == b.digest  # the digest is about content, not file format
    assert a.digest == load_dataset(settings(data=str(csv))).digest


def test_digest_changes_with_the_data(tmp_path):
    frame = generate(300, seed=1)
    frame.to_parquet(tmp_path / "a.parquet")
    frame.loc[7, "age"] = 99
    frame.to_parquet(tmp_path / "b.parquet")
    a = load_dataset(settings(data=str(tmp_path / "a.parquet")))
    b = load_dataset(settings(data=str(tmp_path / "b.parquet")))
    assert len(a.digest) == 64 and a.digest != b.digest


def test_listed_features_read_only_those_columns(tmp_path):
    digests = set()
    for name in ("c.csv", "c.parquet"):
        path = write_sample(tmp_path / name, rows=200)
        chosen = settings(data=str(path), features="gender,annual_income")
        assert list(read_source(chosen).columns) == ["customer_id", "gender", "annual_income"]
        data = load_dataset(chosen)
        assert list(data.frame.columns) == ["gender", "annual_income"]
        assert data.numeric == ["annual_income"] and data.categorical == ["gender"]
        assert data.frame["gender"].dtype == object
        assert set(data.frame["gender"].dropna()) == {"Female", "Male", "Other"}
        assert data.frame["gender"].isna().any()  # missing stays missing
        digests.add(data.digest)
    assert len(digests) == 1


def test_mall_customers_numeric_features():
    data = load_dataset(settings(data=str(MALL), id_column="CustomerID"))
    assert data.rows == 200
    assert data.numeric == MALL_NUMERIC and data.categorical == []
    assert list(data.ids[:3]) == ["1", "2", "3"]
    assert data.frame["Annual Income (k$)"].iloc[0] == 15.0


def test_mall_customers_with_gender_listed():
    data = load_dataset(
        settings(data=str(MALL), id_column="CustomerID", features="Gender,Annual Income (k$),Age")
    )
    assert list(data.frame.columns) == ["Gender", "Annual Income (k$)", "Age"]
    assert data.categorical == ["Gender"] and data.numeric == ["Annual Income (k$)", "Age"]
    assert set(data.frame["Gender"]) == {"Male", "Female"}


def test_leading_zeros_stay(tmp_path):
    path = write_csv(tmp_path / "z.csv", "id,spend\n00042,1.5\n7,2\n0007,3\n")
    data = load_dataset(settings(data=path, id_column="id"))
    assert list(data.ids) == ["00042", "7", "0007"]
    assert all(type(i) is str for i in data.ids)
    frame = pd.DataFrame({"id": ["00042", "007"], "spend": [1.0, 2.0]})
    frame.to_parquet(tmp_path / "z.parquet")
    assert list(load_dataset(settings(data=str(tmp_path / "z.parquet"), id_column="id")).ids) == [
        "00042",
        "007",
    ]


def test_whole_number_ids_never_become_floats(tmp_path):
    pd.DataFrame({"id": [10, 20, 30], "x": [1.0, 2.0, 3.0]}).to_parquet(tmp_path / "i.parquet")
    assert list(load_dataset(settings(data=str(tmp_path / "i.parquet"), id_column="id")).ids) == [
        "10",
        "20",
        "30",
    ]
    pd.DataFrame({"id": [1.0, 2.0], "x": [1.0, 2.0]}).to_parquet(tmp_path / "f.parquet")
    assert list(load_dataset(settings(data=str(tmp_path / "f.parquet"), id_column="id")).ids) == [
        "1",
        "2",
    ]


@pytest.fixture
def database(tmp_path) -> str:
    frame = generate(500, seed=9)
    frame["customer_id"] = [f"{i:05d}" for i in range(500)]  # text ids with leading zeros
    with sqlite3.connect(tmp_path / "shop.db") as connection:
        frame.to_sql("customers", connection, index=False)
        pd.DataFrame({"n": [5, 6, 7], "v": [1.0, 2.0, 3.0]}).to_sql(
            "numbers", connection, index=False
        )
        frame.head(50).rename(columns={"annual_income": "Annual Income (k$)"}).to_sql(
            "Shop-Customers", connection, index=False
        )
    return f"sqlite:///{tmp_path / 'shop.db'}"


def test_sqlite_table_name(database):
    data = load_dataset(settings(data=database, data_query="customers"))
    assert data.rows == 500 and data.ids[42] == "00042"
    assert "age" in data.numeric and "gender" not in data.numeric
    assert data.source.endswith("(table customers)")
    expected = load_dataset(settings(data=database, data_query="customers"))
    assert data.digest == expected.digest


def test_sqlite_query_and_integer_ids(database):
    data = load_dataset(
        settings(
            data=database,
            data_query="SELECT customer_id, gender, age FROM customers WHERE age >= 40",
            features=["gender", "age"],
        )
    )
    assert 0 < data.rows < 500 and (data.frame["age"] >= 40).all()
    assert data.categorical == ["gender"] and data.numeric == ["age"]
    numbers = load_dataset(settings(data=database, data_query="numbers", id_column="n"))
    assert list(numbers.ids) == ["5", "6", "7"]


def test_sqlite_table_name_that_needs_quoting_and_listed_features(database):
    chosen = settings(data=database, data_query="Shop-Customers", features="Annual Income (k$)")
    assert list(read_source(chosen).columns) == ["customer_id", "Annual Income (k$)"]
    data = load_dataset(chosen)
    assert data.rows == 50 and data.numeric == ["Annual Income (k$)"]


def test_sqlite_rows_are_streamed_in_chunks(database, monkeypatch):
    import model.data.load

    whole = load_dataset(settings(data=database, data_query="customers"))
    monkeypatch.setattr(model.data.load, "SQL_CHUNK_ROWS", 64)
    chunked = load_dataset(settings(data=database, data_query="customers"))
    assert chunked.digest == whole.digest and list(chunked.ids) == list(whole.ids)


def test_database_url_without_query():
    assert error(data="sqlite:///shop.db") == (
        "SEGBOT_DATA is a database URL; set SEGBOT_DATA_QUERY (or --query) "
        "to a table name or SQL query"
    )


def test_unknown_table_lists_the_tables(database):
    message = error(data=database, data_query="customer")
    assert "'customer' not found" in message and "customers, numbers" in message


def test_bad_query_is_one_line(database):
    message = error(data=database, data_query="SELECT nothing FROM customers")
    assert "nothing" in message


def test_missing_sqlite_file(tmp_path):
    message = error(data=f"sqlite:///{tmp_path / 'none.db'}", data_query="t")
    assert "not found" in message and "none.db" in message
    assert not (tmp_path / "none.db").exists()  # not created by the attempt


def test_connection_failure_hides_the_password():
    url = "postgresql://shop:s3cret-pw@127.0.0.1:9/shop"
    message = error(data=url, data_query="customers")
    assert "s3cret-pw" not in message and "127.0.0.1" in message
    assert "s3cret-pw" not in describe_source(settings(data=url))


def test_semicolon_csv_and_latin1(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_bytes("id;Région;dépense\n1;Île;3.5\n2;Nord;4\n".encode("latin-1"))
    data = load_dataset(settings(data=str(path), id_column="id", features="Région,dépense"))
    assert list(data.frame["Région"]) == ["Île", "Nord"] and data.numeric == ["dépense"]


def test_compressed_and_tab_separated_csv(tmp_path):
    frame = generate(100, seed=4)
    frame.to_csv(tmp_path / "c.csv.gz", index=False)
    frame.to_csv(tmp_path / "c.tsv", index=False, sep="\t")
    expected = load_dataset(settings()).numeric
    for name in ("c.csv.gz", "c.tsv"):
        data = load_dataset(settings(data=str(tmp_path / name)))
        assert data.rows == 100 and data.numeric == expected


def test_infinite_values_are_treated_as_missing(tmp_path):
    # (y has two known values: one alone would be a constant column, left out)
    path = write_csv(tmp_path / "i.csv", "customer_id,x,y\na,1,inf\nb,2,3\nc,3,-inf\nd,4,5\n")
    data = load_dataset(settings(data=path))
    assert np.isnan(data.frame["y"].to_numpy()[[0, 2]]).all()
    assert data.notes == ["column 'y': 2 infinite values treated as missing (line 2, line 4)"]


def test_numbers_stored_as_text_are_numbers(tmp_path):
    frame = pd.DataFrame({"customer_id": ["a", "b", "c"], "x": [" 1", "2.5", None]})
    frame.to_parquet(tmp_path / "t.parquet")
    data = load_dataset(settings(data=str(tmp_path / "t.parquet")))
    assert data.numeric == ["x"]
    assert data.frame["x"].tolist()[:2] == [1.0, 2.5] and np.isnan(data.frame["x"].iloc[2])


# --------------------------------------------------------------------------- bad data


def test_missing_file(tmp_path):
    message = error(data=str(tmp_path / "nope.csv"))
    assert message.startswith("data file not found") and "nope.csv" in message


def test_unknown_extension(tmp_path):
    message = error(data=str(write_csv(tmp_path / "c.xlsx", "x")))
    assert "'.xlsx'" in message and ".csv" in message and ".parquet" in message


def test_empty_file(tmp_path):
    assert "is empty" in error(data=write_csv(tmp_path / "e.csv", ""))


def test_header_only(tmp_path):
    assert "has no rows" in error(data=write_csv(tmp_path / "h.csv", "customer_id,x\n"))


def test_parquet_without_rows(tmp_path):
    pd.DataFrame({"customer_id": pd.Series([], dtype="str"), "x": []}).to_parquet(
        tmp_path / "e.parquet"
    )
    assert error(data=str(tmp_path / "e.parquet")).endswith("e.parquet has no rows")


def test_not_a_parquet_file(tmp_path):
    message = error(data=write_csv(tmp_path / "p.parquet", "customer_id,x\n1,2\n"))
    assert "Parquet" in message


def test_missing_id_column_lists_columns():
    message = error(data=str(MALL))
    assert "id column 'customer_id' not found" in message
    assert "SEGBOT_ID_COLUMN" in message and "did you mean 'CustomerID'?" in message
    assert "or --id-column @row if the data has no id column" in message
    assert "CustomerID, Gender, Age, Annual Income (k$), Spending Score (1-100)" in message


def test_a_csv_saved_with_its_pandas_index_does_not_use_it(tmp_path):
    # `DataFrame.to_csv` writes the index under a blank header: pandas reads "Unnamed: 0".
    path = write_csv(tmp_path / "i.csv", ",customer_id,x\n0,a,1.5\n1,b,2.5\n")
    data = load_dataset(settings(data=path))
    assert data.features == ["x"] and list(data.ids) == ["a", "b"]
    # Not first, a blank header is a column like any other.
    later = load_dataset(
        settings(data=write_csv(tmp_path / "j.csv", "customer_id,x,\na,1,2\nb,3,4\n"))
    )
    assert later.features == ["x", "Unnamed: 2"]


def test_missing_ids(tmp_path):
    path = write_csv(tmp_path / "m.csv", "customer_id,x\na,1\n,2\nc,3\n  ,4\n")
    message = error(data=path)
    assert message.startswith("id column 'customer_id' is empty in 2 rows (line 3, line 5)")


def test_duplicate_ids(tmp_path):
    path = write_csv(tmp_path / "d.csv", "customer_id,x\n7,1\n8,2\n7,3\n9,4\n8,5\n7,6\n")
    message = error(data=path)
    assert "id column 'customer_id' has 2 duplicate ids" in message
    assert "'7' on line 2, line 4, line 7" in message and "'8' on line 3, line 6" in message


def test_duplicate_text_ids_unsorted(tmp_path):
    path = write_csv(tmp_path / "d.csv", "customer_id,x\nb,1\na,2\nb,3\n")
    assert "1 duplicate id ('b' on line 2, line 4)" in error(data=path)


def test_no_usable_feature(tmp_path):
    path = write_csv(tmp_path / "n.csv", "customer_id,Gender\n1,Male\n2,Female\n")
    message = error(data=path)
    assert message.startswith("no usable feature column")
    assert "'Gender'" not in message and "Gender" in message and "SEGBOT_FEATURES" in message


def test_all_missing_feature(tmp_path):
    path = write_csv(tmp_path / "a.csv", "customer_id,x,y\n1,1,\n2,2,\n3,3,\n")
    message = error(data=path, features="x,y")
    assert message == "feature column 'y' has no values: it is missing in every row"
    # Not listed: skipped, with a note.
    data = load_dataset(settings(data=path))
    assert data.numeric == ["x"] and "'y' skipped" in data.notes[0]


def test_text_in_a_numeric_column(tmp_path):
    rows = [f"{i},{20 + i}" for i in range(1, 12)]
    rows[3] = "4,abc"
    rows[7] = "8,forty"
    path = write_csv(tmp_path / "t.csv", "customer_id,age\n" + "\n".join(rows) + "\n")
    message = error(data=path)
    assert message == (
        "column 'age' has text where numbers are expected in 2 rows "
        "(line 5: 'abc', line 9: 'forty')"
    )
    # The same when the column is listed, and from a Parquet file (rows counted from 1).
    assert error(data=path, features="age") == message
    pd.read_csv(path, dtype=str).to_parquet(tmp_path / "t.parquet")
    assert "(row 4: 'abc', row 8: 'forty')" in error(data=str(tmp_path / "t.parquet"))


def test_unknown_feature(tmp_path):
    message = error(data=str(MALL), id_column="CustomerID", features="Age,Income")
    assert message.startswith("unknown feature 'Income' in SEGBOT_FEATURES / --features")
    assert "Annual Income (k$)" in message


def test_id_column_as_feature():
    message = error(data=str(MALL), id_column="CustomerID", features="CustomerID,Age")
    assert "'CustomerID' is the id column" in message


def test_fewer_rows_than_k(tmp_path):
    path = write_csv(tmp_path / "k.csv", "customer_id,x\n1,1\n2,2\n3,3\n")
    message = error(data=path, k="5")
    assert "3 rows" in message and "--k" in message and "SEGBOT_K" in message
    assert load_dataset(settings(data=path, k="3")).rows == 3


def test_a_single_row(tmp_path):
    path = write_csv(tmp_path / "one.csv", "customer_id,x\n1,1\n")
    assert "only 1 row" in error(data=path)


def test_too_many_categories(tmp_path):
    frame = pd.DataFrame({"customer_id": [str(i) for i in range(300)]})
    frame["email"] = [f"user{i}@example.com" for i in range(300)]
    frame["x"] = 1.0
    frame.to_parquet(tmp_path / "e.parquet")
    message = error(data=str(tmp_path / "e.parquet"), features="email,x")
    assert "column 'email' has 300 different values" in message


def test_dates_are_not_features(tmp_path):
    frame = pd.DataFrame(
        {"customer_id": ["a", "b"], "x": [1.0, 2.0], "d": pd.to_datetime(["2024-01-01"] * 2)}
    )
    frame.to_parquet(tmp_path / "d.parquet")
    assert load_dataset(settings(data=str(tmp_path / "d.parquet"))).numeric == ["x"]
    assert "column 'd' holds dates" in error(data=str(tmp_path / "d.parquet"), features="x,d")


def test_bundled_sample_is_not_a_transaction_log():
    assert "transaction" in error(data_kind="transactions")


# --------------------------------------------------------------------------- CSV readers
# A plain CSV is read by Arrow's multi-threaded reader when it gives the very frame
# pandas would; anything else goes to pandas, whose reading and messages are the rule.


@pytest.fixture
def full_reads(monkeypatch) -> list[str]:
    """Paths of the whole-file reads that went to pandas (not its header-only peeks)."""
    import model.data.load

    reads: list[str] = []
    real = pd.read_csv

    def counting(path, *args, **kwargs):
        if kwargs.get("nrows") != 0:
            reads.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(model.data.load.pd, "read_csv", counting)
    return reads


MIXED_CSV = (
    "customer_id,age,income,city,score,empty,note\n"
    '"00042",31,1200.5,"Lyon",7,,"a, b"\n'
    "00043,NA,None,,8,,\n"
    '00044,<NA>,"900",Paris,n/a,,x\n'
    "00045,40,1e3, Nice ,9,,NULL\n"
)


def test_arrow_reads_a_plain_csv_as_pandas_does(tmp_path, full_reads):
    path = write_csv(tmp_path / "mixed.csv", MIXED_CSV)
    frame = read_source(settings(data=path))
    assert full_reads == []  # Arrow read it: pandas only peeked at the header
    expected = pd.DataFrame(
        {
            "customer_id": pd.array(["00042", "00043", "00044", "00045"], dtype="str"),
            "age": [31.0, np.nan, np.nan, 40.0],
            "income": [1200.5, np.nan, 900.0, 1000.0],
            "city": pd.array(["Lyon", np.nan, "Paris", " Nice "], dtype="str"),
            "score": [7.0, 8.0, np.nan, 9.0],
            "empty": [np.nan] * 4,
            "note": pd.array(["a, b", np.nan, "x", np.nan], dtype="str"),
        }
    )
    pd.testing.assert_frame_equal(frame, expected)
    reference = pd.read_csv(path, dtype={"customer_id": "str"})  # the old reader
    pd.testing.assert_frame_equal(frame, reference)


def test_arrow_reads_listed_columns_in_file_order(tmp_path, full_reads):
    path = write_csv(tmp_path / "mixed.csv", MIXED_CSV)
    frame = read_source(settings(data=path, features=["score", "age"]))
    assert full_reads == []
    assert list(frame.columns) == ["customer_id", "age", "score"]  # as pandas' usecols
    assert frame["score"].tolist()[:2] == [7.0, 8.0]


def test_text_late_in_a_numeric_column_is_named_as_before(tmp_path, full_reads):
    # ~2.3 MB, past Arrow's first 1 MB block: "age" looks like whole numbers until
    # the text near the end; Arrow reads the column as text, and the check that names
    # text in a numeric column sees what it saw from pandas.
    lines = [f"{i},{20 + i % 50},{i % 7}" for i in range(1, 200_001)]
    lines[199_990] = "199991,forty,3"
    path = write_csv(tmp_path / "late_text.csv", "customer_id,age,income\n" + "\n".join(lines))
    message = error(data=path)
    assert full_reads == []
    assert message.startswith("column 'age' has text where numbers are expected in 1 row")
    assert "line 199992: 'forty'" in message


def test_a_malformed_line_is_read_and_reported_by_pandas(tmp_path, full_reads):
    path = write_csv(tmp_path / "bad.csv", "customer_id,age\n1,20\n2,30\n3,40,7\n")
    message = error(data=path)
    assert full_reads == [path]  # Arrow gave up; pandas' words name the line
    assert message == (
        f"cannot read {path}: Error tokenizing data. C error: Expected 2 fields in line 4, saw 3"
    )


def test_dates_and_repeated_names_go_to_pandas(tmp_path, full_reads):
    dated = write_csv(
        tmp_path / "d.csv", "customer_id,age,since\n1,20,2024-01-05\n2,30,2024-02-01\n"
    )
    frame = read_source(settings(data=dated))
    assert full_reads == [dated]  # Arrow would make the dates timestamps; pandas keeps text
    assert frame["since"].tolist() == ["2024-01-05", "2024-02-01"]
    twice = write_csv(tmp_path / "t.csv", "customer_id,age,age\n1,20,21\n2,30,31\n")
    assert list(read_source(settings(data=twice)).columns) == ["customer_id", "age", "age.1"]
    assert full_reads == [dated, twice]
