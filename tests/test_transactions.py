"""Purchase logs to per-customer features (model.data.transactions), from real files,
checked against values worked out by hand; every bad input with its message;
the whole path from `segbot train --kind transactions` to `/segment customer 00042`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.config import Settings
from model.data.load import load_dataset
from model.data.sample_transactions import (
    COLUMNS,
    GROUPS,
    generate_transactions,
    write_transactions,
)
from model.data.transactions import DEFAULT_FEATURES, FEATURES, customer_features, day_numbers
from tests.conftest import data_error, run_segbot, segbot_env

# A small log, worked out by hand below. The as-of day is its latest date, 2024-03-10.
LOG = """\
customer_id,date,amount,quantity
00042,2024-01-10,100.00,2
00042,2024-01-10 18:45:00,50.00,1
00042,2024-03-01T15:30:00,30.00,1
00042,2024-03-05,-20.00,-1
7,2024-02-15 09:00:00,80.00,4
00007,2024-02-20,10.00,1
B1,2024-03-10T23:30:00+02:00,5.00,1
B1,2024-03-02T01:00:00+05:00,5.00,2
R9,2024-02-01,-15.00,1
X,2024-02-05,10.00,1
X,2024-02-06,-30.00,3
"""
# id: (recency_days, frequency, monetary_total, avg_order_value, tenure_days, items)
EXPECTED = {
    # two purchases on 01-10 count as one day; the return on 03-05 is not a purchase
    # (recency from 03-01) but takes 20 off the money and 1 off the items
    "00042": (9, 2, 160.0, 80.0, 60, 3),
    "7": (24, 1, 80.0, 80.0, 24, 4),  # one purchase
    "00007": (19, 1, 10.0, 10.0, 19, 1),  # not the same customer as "7"
    # offsets: 23:30+02:00 is 21:30 UTC on 03-10; 01:00+05:00 is 20:00 UTC on 03-01
    "B1": (0, 2, 10.0, 5.0, 9, 3),
    "R9": (38, 0, 0.0, 0.0, 38, 0),  # returns only: kept, dated by the return
    "X": (34, 1, 0.0, 0.0, 34, 0),  # returned more than bought: money 0, items 0
}


pytestmark = pytest.mark.usefixtures("no_segbot_environment")


def settings(**values) -> Settings:
    return Settings(_env_file=None, data_kind="transactions", **values)


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def error(**values) -> str:
    """The one-line message of the DataError that loading these settings raises."""
    return data_error(settings(**values))


def by_id(frame: pd.DataFrame, id_column: str = "customer_id") -> dict[str, tuple]:
    names = [f for f in FEATURES if f in frame.columns]
    return {row[id_column]: tuple(float(row[n]) for n in names) for _, row in frame.iterrows()}


# --------------------------------------------------------------------------- features


def test_features_match_hand_computed_values(tmp_path):
    path = write(tmp_path / "orders.csv", LOG)
    data = load_dataset(settings(data=path, features=",".join(FEATURES)))
    assert data.kind == "transactions"
    assert data.features == list(FEATURES)
    got = dict(zip(data.ids, data.frame.to_numpy(dtype=float).tolist(), strict=True))
    assert sorted(got) == sorted(EXPECTED)
    for customer, values in EXPECTED.items():
        assert got[customer] == pytest.approx(values), customer
    # the returns and the returns-only customer are reported, not hidden
    assert any("3 returns" in note for note in data.notes)
    assert any("1 customer with returns only" in note for note in data.notes)


def test_ids_are_text_exactly_as_written(tmp_path):
    data = load_dataset(settings(data=write(tmp_path / "orders.csv", LOG)))
    assert data.ids.dtype == object
    assert "00042" in data.ids and "00007" in data.ids and "7" in data.ids
    assert "42" not in data.ids


def test_default_features_are_rfm_and_tenure(tmp_path):
    """avg_order_value and items repeat the money: they are used only when listed."""
    data = load_dataset(settings(data=write(tmp_path / "orders.csv", LOG)))
    assert data.features == list(DEFAULT_FEATURES)
    assert data.numeric == list(DEFAULT_FEATURES)
    listed = load_dataset(settings(data=str(tmp_path / "orders.csv"), features="items,frequency"))
    assert listed.features == ["items", "frequency"]


def test_same_log_from_parquet_with_real_timestamps(tmp_path):
    """Parquet with timezone-aware timestamps, integer amounts and another column order."""
    frame = pd.read_csv(_log_csv(tmp_path), dtype=str)
    frame["date"] = pd.to_datetime(frame["date"], format="ISO8601", utc=True)
    frame["amount"] = frame["amount"].astype(float)
    frame["quantity"] = frame["quantity"].astype("int64")
    frame = frame[["date", "quantity", "amount", "customer_id"]]
    frame.to_parquet(tmp_path / "orders.parquet", index=False)
    data = load_dataset(settings(data=str(tmp_path / "orders.parquet"), features="items"))
    assert dict(zip(data.ids, data.frame["items"], strict=True)) == {
        k: v[5] for k, v in EXPECTED.items()
    }
    csv = load_dataset(settings(data=_log_csv(tmp_path)))
    parquet = load_dataset(settings(data=str(tmp_path / "orders.parquet")))
    pd.testing.assert_frame_equal(_sorted(csv.ids, csv.frame), _sorted(parquet.ids, parquet.frame))


def _log_csv(tmp_path: Path) -> str:
    return write(tmp_path / "log.csv", LOG)


def _sorted(ids: np.ndarray, frame: pd.DataFrame) -> pd.DataFrame:
    order = np.argsort(ids, kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def test_as_of_leaves_later_rows_out(tmp_path):
    path = write(tmp_path / "orders.csv", LOG)
    data = load_dataset(settings(data=path, as_of="2024-02-20", features="frequency,recency_days"))
    got = dict(zip(data.ids, data.frame.to_numpy().tolist(), strict=True))
    # 00042 as it was on 02-20: one purchase day (01-10), 41 days ago; B1 had not bought yet
    assert got["00042"] == [1, 41]
    assert got["00007"] == [1, 0]
    assert "B1" not in got
    assert any("left out" in note and "2024-02-20" in note for note in data.notes)


def test_a_later_as_of_day_counts_from_that_day(tmp_path):
    path = write(tmp_path / "orders.csv", LOG)
    data = load_dataset(settings(data=path, as_of="2024-03-20T08:00:00"))
    got = dict(zip(data.ids, data.frame["recency_days"], strict=True))
    assert got["B1"] == 10 and got["00042"] == 19


def test_id_column_of_numbers_and_custom_column_names(tmp_path):
    path = write(
        tmp_path / "sales.csv",
        "Client ID;Order Date;Total (€);Units\n"
        "17;2024-05-01;12.5;1\n"
        "17;2024-05-03;7.5;2\n"
        "3;2024-05-03;1;1\n",
    )
    data = load_dataset(
        settings(
            data=path,
            id_column="Client ID",
            date_column="Order Date",
            amount_column="Total (€)",
            quantity_column="Units",
            features="frequency,monetary_total,items",
        )
    )
    got = dict(zip(data.ids, data.frame.to_numpy().tolist(), strict=True))
    assert got == {"17": [2, 20.0, 3], "3": [1, 1.0, 1]}


def test_a_quantity_column_is_found_by_name(tmp_path):
    frame = customer_features(
        pd.DataFrame(
            {
                "customer_id": ["a", "a", "b"],
                "date": ["2024-01-01", "2024-01-02", "2024-01-02"],
                "amount": [1.0, 2.0, 3.0],
                "Qty": [2, 3, 1],
            }
        ),
        settings(features="items"),
    )
    assert frame["items"].tolist() == [5.0, 1.0]


def test_day_numbers_of_every_date_form():
    day = int((np.datetime64("2024-03-01") - np.datetime64("1970-01-01")).astype(int))
    forms = [
        pd.Series(["2024-03-01"], dtype="str"),
        pd.Series(["2024-03-01T23:59:59.999999999"], dtype="str"),
        pd.Series(["2024-03-01 10:00"], dtype="str"),
        pd.Series(["2024-03-01T10:00:00Z"], dtype="str"),
        pd.Series(["2024-03-02T01:00:00+05:00"], dtype="str"),  # 20:00 UTC the day before
        pd.Series(["2024-03-01", "2024-03-01T12:00:00+01:00"], dtype="str"),  # mixed
        pd.Series(pd.to_datetime(["2024-03-01 22:00"])),
        pd.Series(pd.to_datetime(["2024-03-01 22:00"]).tz_localize("Asia/Tokyo")),
        pd.Series([pd.Timestamp("2024-03-01").date()], dtype=object),
        pd.Series(np.array(["2024-03-01"], dtype="datetime64[D]")),
    ]
    for series in forms:
        assert day_numbers(series, "date").tolist() == [day] * len(series), series.iloc[0]
    # a New York evening is the next morning in UTC
    evening = pd.to_datetime(["2024-03-01 22:00"]).tz_localize("America/New_York")
    assert day_numbers(pd.Series(evening), "date").tolist() == [day + 1]


@pytest.mark.parametrize(
    "ids",
    [
        ["00042", "00007", "00042", "12345", "00007"],  # zero-padded digits
        ["42", "7", "42", "123456789012345678", "7"],  # digits, no leading zeros
        ["042", "42", "0042", "42", "7", "07"],  # same number, different ids
        ["+42", "042", "-42", "42", " 42"],  # signs and spaces are text
        ["C0000042", "C0000007", "C0000042", "C1000000"],  # a prefix and digits
        ["AB-12x", "AB-13y", "AB-12x", "CD-12x"],  # one length, letters
        ["aaaaaaaaaa", "aaaaaaaaab", "baaaaaaaaa", "aaaaaaaaaa", "abababababa"[:10]],
        ["ünï", "uni", "ünï", "ÜNÏ"],  # beyond ASCII
        ["1", "100000000000000000", "5", "1"],  # far apart: hashed, not a table
        [f"{i:036x}" for i in (5, 3, 5, 1 << 100)],  # long ids (uuid-like)
    ],
)
def test_ids_are_grouped_exactly_as_written(ids):
    import pyarrow as pa

    from model.data.transactions import _factorize_ids

    expected_uniques = pd.unique(pd.Series(ids, dtype=object))
    # also as several Arrow chunks, as Parquet row groups arrive
    chunked = pa.chunked_array([pa.array(ids[:2]), pa.array(ids[2:])])
    for series in (pd.Series(ids, dtype="str"), pa.table({"x": chunked}).to_pandas()["x"]):
        codes, uniques = _factorize_ids(series, "id", lambda i: f"row {i + 1}")
        # the same partition of the rows, and each code names the row's own id
        assert list(uniques[codes]) == ids
        assert len(uniques) == len(expected_uniques) and uniques.is_unique


# --------------------------------------------------------------------------- bad input


HEADER = "customer_id,date,amount\n"


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        # columns
        (
            "id,date,amount\n1,2024-01-01,3\n",
            {},
            "id column 'customer_id' not found in",
        ),
        (
            "customer_id,day,amount\n1,2024-01-01,3\n",
            {},
            "date column 'date' not found in {path} (set SEGBOT_DATE_COLUMN or --date-column);"
            " the columns are: customer_id, day, amount",
        ),
        (
            "customer_id,Date,amount\n1,2024-01-01,3\n",
            {},
            "date column 'date' not found in {path} (set SEGBOT_DATE_COLUMN or --date-column;"
            " did you mean 'Date'?); the columns are: customer_id, Date, amount",
        ),
        (
            "customer_id,date,price\n1,2024-01-01,3\n",
            {},
            "amount column 'amount' not found in {path} (set SEGBOT_AMOUNT_COLUMN or "
            "--amount-column); the columns are: customer_id, date, price",
        ),
        (
            HEADER + "1,2024-01-01,3\n",
            {"quantity_column": "units"},
            "quantity column 'units' not found in {path} (set SEGBOT_QUANTITY_COLUMN);"
            " the columns are: customer_id, date, amount",
        ),
        (
            HEADER + "1,2024-01-01,3\n",
            {"amount_column": "date"},
            "column 'date' cannot be both the date and the amount column of a transaction log",
        ),
        # values
        (
            HEADER + "1,2024-01-01,3\n2,01/02/2024,4\n3,2024-01-03,5\n4,yesterday,6\n",
            {},
            "date column 'date' has 2 values that are not dates (line 3: '01/02/2024', "
            "line 5: 'yesterday'); write dates as YYYY-MM-DD, optionally with a time and a "
            "UTC offset",
        ),
        (
            HEADER + "1,2024-02-30,3\n",
            {},
            "date column 'date' has 1 value that is not a date (line 2: '2024-02-30'); "
            "write dates as YYYY-MM-DD",
        ),
        (
            HEADER + "1,2024-01-01,3\n2,,4\n3, ,5\n",
            {},
            "date column 'date' is empty in 2 rows (line 3, line 4); every purchase needs a date",
        ),
        (
            HEADER + "1,20240101,3\n2,20240102,4\n",
            {},
            "date column 'date' holds numbers, not dates (line 2: '20240101', line 3: "
            "'20240102'); write dates as YYYY-MM-DD",
        ),
        (
            HEADER + "1,2024-01-01,$3.50\n2,2024-01-01,4\n3,2024-01-01,n.a.\n"
            "4,2024-01-01,1\n5,2024-01-01,x\n6,2024-01-01,y\n",
            {},
            "amount column 'amount' has text where numbers are expected in 4 rows "
            "(line 2: '$3.50', line 4: 'n.a.', line 6: 'x')",
        ),
        (
            HEADER + "1,2024-01-01,3\n2,2024-01-01,\n",
            {},
            "amount column 'amount' is empty in 1 row (line 3); every purchase needs an amount",
        ),
        (
            "customer_id,date,amount,quantity\n1,2024-01-01,3,two\n2,2024-01-01,3,1\n",
            {},
            "quantity column 'quantity' has text where numbers are expected in 1 row "
            "(line 2: 'two')",
        ),
        (
            HEADER + "1,2024-01-01,3\n,2024-01-01,4\n3,2024-01-01,5\n  ,2024-01-02,1\n",
            {},
            "id column 'customer_id' is empty in 2 rows (line 3, line 5); "
            "every purchase needs a customer id",
        ),
        (HEADER, {}, "has no rows"),
        # settings
        (
            HEADER + "1,2024-01-01,3\n",
            {"as_of": "last tuesday"},
            "SEGBOT_AS_OF 'last tuesday' is not a date; write it as YYYY-MM-DD",
        ),
        (
            HEADER + "1,2024-01-01,3\n2,2024-01-05,3\n",
            {"as_of": "2023-12-31"},
            "every row of {path} is dated after SEGBOT_AS_OF 2023-12-31 (the first purchase "
            "is on 2024-01-01)",
        ),
        (
            HEADER + "1,2024-01-01,3\n",
            {"features": "recency_days,spend"},
            "unknown feature 'spend' in SEGBOT_FEATURES / --features; a transaction log "
            "gives: recency_days, frequency, monetary_total, avg_order_value, tenure_days",
        ),
        (
            HEADER + "1,2024-01-01,3\n",
            {"features": "items"},
            "unknown feature 'items' in SEGBOT_FEATURES / --features (it needs a quantity "
            "column: set SEGBOT_QUANTITY_COLUMN)",
        ),
        (
            HEADER + "1,2024-01-01,3\n1,2024-01-02,3\n",
            {},
            "{path} has purchases of only 1 customer; segmenting needs at least 2",
        ),
        (
            HEADER + "1,2024-01-01,3\n2,2024-01-02,3\n",
            {"k": "3"},
            "{path} has purchases of 2 customers but SEGBOT_K / --k asks for 3 segments",
        ),
    ],
)
def test_bad_input_gets_a_one_line_message(tmp_path, text, values, expected):
    path = write(tmp_path / "orders.csv", text)
    message = error(data=path, **values)
    assert expected.format(path=path) in message, message


def test_messages_count_every_bad_row_and_show_three(tmp_path):
    rows = "".join(f"{i},2024-13-{i:02d},1\n" for i in range(1, 11))
    message = error(data=write(tmp_path / "orders.csv", HEADER + rows))
    assert message.startswith("date column 'date' has 10 values that are not dates (")
    assert "line 2: '2024-13-01', line 3: '2024-13-02', line 4: '2024-13-03')" in message


def test_bad_values_in_parquet_are_named_by_row(tmp_path):
    pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "date": ["2024-01-01", "soon", None], "amount": [1, 2, 3]}
    ).to_parquet(tmp_path / "o.parquet")
    message = error(data=str(tmp_path / "o.parquet"))
    assert message == (
        "date column 'date' has 1 value that is not a date (row 2: 'soon'); "
        "write dates as YYYY-MM-DD, optionally with a time and a UTC offset"
    )
    pd.DataFrame(
        {"customer_id": ["a", "b"], "date": pd.to_datetime(["2024-01-01", None]), "amount": [1, 2]}
    ).to_parquet(tmp_path / "t.parquet")
    assert error(data=str(tmp_path / "t.parquet")) == (
        "date column 'date' is empty in 1 row (row 2); every purchase needs a date"
    )


# --------------------------------------------------------------------------- sample logs


def test_sample_logs_are_deterministic_and_look_like_exports():
    a = generate_transactions(500, seed=4)
    pd.testing.assert_frame_equal(a, generate_transactions(500, seed=4))
    assert not a.equals(generate_transactions(500, seed=5))
    assert list(a.columns) == COLUMNS
    assert a["customer_id"].str.fullmatch(r"\d{5}").all()
    assert a["customer_id"].nunique() == 500
    returns = a["amount"] < 0
    assert 0.005 < returns.mean() < 0.05
    assert (a.loc[returns, "quantity"] < 0).all() and (a.loc[~returns, "quantity"] > 0).all()
    assert a["date"].max() <= pd.Timestamp("2025-07-01")
    # rows come interleaved, not customer by customer
    assert (a["customer_id"] != a["customer_id"].shift()).mean() > 0.9
    assert len(GROUPS) == 5


def test_written_logs_have_exactly_the_rows_asked_for(tmp_path):
    csv = write_transactions(tmp_path / "o.csv", rows=3000, seed=2, chunk_rows=1000)
    parquet = write_transactions(tmp_path / "o.parquet", rows=3000, seed=2)
    a = pd.read_csv(csv, dtype={"customer_id": str}, parse_dates=["date"])
    b = pd.read_parquet(parquet)
    assert len(a) == len(b) == 3000
    assert a["customer_id"].tolist() == b["customer_id"].tolist()
    assert np.allclose(a["amount"], b["amount"])
    assert (a["date"].to_numpy() == b["date"].to_numpy()).all()
    assert not list(tmp_path.glob(".*tmp"))


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def orders_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("orders") / "orders.csv"
    write_transactions(path, rows=24_000, seed=3)
    return path


def test_segbot_train_names_transaction_segments(orders_csv, tmp_path):
    models = tmp_path / "models"
    done = run_segbot(
        ["train", "--kind", "transactions", "--data", str(orders_csv), "--model-dir", str(models)],
        env=segbot_env(),
        cwd=tmp_path,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    meta = json.loads((models / "v1" / "metadata.json").read_text())
    names = [s["name"] for s in meta["segments"]]
    assert meta["source"]["kind"] == "transactions"
    assert meta["features"] == list(DEFAULT_FEATURES)
    assert {"Champions", "At Risk"} <= set(names), names
    assert {"Big Spenders", "New Customers"} & set(names), names
    for name in names:
        assert name in done.stdout

    # "00042" stays "00042" from the file to the answer
    ask = run_segbot(
        ["ask", "/segment customer 00042", "--model-dir", str(models)],
        env=segbot_env(SEGBOT_DATA=orders_csv, SEGBOT_DATA_KIND="transactions"),
        cwd=tmp_path,
    )
    assert ask.returncode == 0, ask.stdout + ask.stderr
    assert "00042" in ask.stdout and any(name in ask.stdout for name in names)
    missing = run_segbot(
        ["ask", "/segment customer 42", "--model-dir", str(models)], env=segbot_env(), cwd=tmp_path
    )
    assert missing.returncode == 1 and "42" in missing.stdout


def test_a_bad_log_fails_train_with_the_message(tmp_path):
    path = write(tmp_path / "orders.csv", HEADER + "1,2024-01-01,3\n2,someday,4\n")
    done = run_segbot(
        ["train", "--kind", "transactions", "--data", path, "--model-dir", str(tmp_path / "m")],
        env=segbot_env(),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "segbot: date column 'date' has 1 value that is not a date (line 3: 'someday'); "
        "write dates as YYYY-MM-DD, optionally with a time and a UTC offset"
    )
    assert not (tmp_path / "m" / "v1").exists()


def test_train_flags_name_the_date_and_amount_columns(tmp_path):
    """`--date-column` and `--amount-column` at the command line (in process): the stored
    values are the hand-worked ones above, as of the log's latest day (2024-03-10)."""
    from bot.cli import main
    from model.versions.version import LoadedVersion

    renamed = LOG.replace("customer_id,date,amount,", "customer_id,Order Date,Total (€),", 1)
    path = write(tmp_path / "orders.csv", renamed)
    models = tmp_path / "models"
    argv = ["train", "--kind", "transactions", "--data", path, "--model-dir", str(models)]
    argv += ["--date-column", "Order Date", "--amount-column", "Total (€)", "--k", "2"]
    assert main(argv) == 0
    version = LoadedVersion.load(models / "v1")
    assert version.metadata.features == list(DEFAULT_FEATURES)
    columns = [FEATURES.index(f) for f in DEFAULT_FEATURES]
    for customer, expected in EXPECTED.items():
        stored = version.values[version.row_of(customer)].tolist()
        assert stored == [expected[i] for i in columns], customer
