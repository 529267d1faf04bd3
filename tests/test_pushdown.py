"""Purchase logs aggregated inside the database (model.data.transactions_sql) against
the in-process aggregation (model.data.transactions) and hand-computed values, on a
real SQLite file and a real PostgreSQL server (tests marked `postgres`; see
tests/test_sql_sources.py for how the server is found)."""

from __future__ import annotations

import logging
import os
import random
import secrets
import sqlite3
from collections.abc import Iterator
from io import StringIO

import numpy as np
import pandas as pd
import pytest

import model.data.transactions_sql
from model.config import Settings
from model.data.load import load_dataset
from model.data.sample_transactions import generate_transactions
from model.data.transactions import FEATURES
from model.errors import DataError
from tests.test_sql_sources import pg_url_or_skip
from tests.test_transactions import EXPECTED, LOG

EVERY = ",".join(FEATURES)
PUSHED = "inside the database"
FELL_BACK = "no push-down to the database"

# Harder cases beside test_transactions.LOG: leading zeros ("042" and "42" are two
# customers), offsets crossing midnight both ways, a return-only customer, rows after
# the as-of day 2024-03-05, zero amounts, fractional quantities.
EXTRA = """\
customer_id,date,amount,quantity
042,2024-03-04T23:30:00-05:00,12.50,1
042,2024-03-05T03:00:00,7.25,2
42,2024-03-05T00:30:00+01:00,0,1
42,2024-01-01,3.10,0.5
0,2024-02-29 12:00:00Z,-8.00,-2
0,2024-02-28,-1.00,1
Q-7,2024-03-06,99.00,3
Q-7,2024-02-01T12:00:00.250,1.00,1
Q-8,2024-03-07,5.00,1
"""


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("SEGBOT_") and name != "SEGBOT_TEST_PG_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def settings(**values) -> Settings:
    values.setdefault("features", EVERY)
    return Settings(_env_file=None, data_kind="transactions", **values)


def text_log(*parts: str) -> pd.DataFrame:
    frames = [pd.read_csv(StringIO(part), dtype=str) for part in parts]
    return pd.concat(frames, ignore_index=True)


def generated() -> pd.DataFrame:
    """A generated log (~3,000 rows, a few hundred customers, 2% returns) with dates
    as ISO text: many rows per customer, so push-down fetches far fewer rows."""
    log = generate_transactions(150, seed=5)
    log["date"] = log["date"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return log


def unpadded_log() -> pd.DataFrame:
    """Customers 1..25 written without leading zeros ("9" before "10" as numbers, after
    it as text), two purchases each, rows in no particular order."""
    customers = list(range(1, 26))
    random.Random(3).shuffle(customers)
    rows = [
        (str(c), f"2024-01-{day:02d}T10:00:00", f"{c}.50", "1")
        for day in (3, 17)
        for c in customers
    ]
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount", "quantity"])


UNPADDED_ORDER = [str(c) for c in range(1, 26)]  # by the number each id writes


class _Logged:
    """caplog at INFO for model.data.transactions_sql (the fixture sets the handler)."""

    def __enter__(self):
        self.logger = logging.getLogger("model.data.transactions_sql")
        self.level = self.logger.level
        self.logger.setLevel(logging.INFO)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


LOGGED = _Logged()


def in_process(monkeypatch) -> None:
    monkeypatch.setattr(model.data.transactions_sql, "customer_features_sql", lambda *a, **k: None)


def load_both(monkeypatch, caplog, **values):
    """(pushed down, in-process) datasets of the same settings; checks the log says
    push-down happened."""
    with caplog.at_level(logging.INFO, logger="model.data.transactions_sql"):
        caplog.clear()
        pushed = load_dataset(settings(**values))
        assert PUSHED in caplog.text and FELL_BACK not in caplog.text, caplog.text
    with monkeypatch.context() as patch:
        in_process(patch)
        local = load_dataset(settings(**values))
    return pushed, local


def assert_same(pushed, local) -> None:
    """Every feature of every customer within 1e-9, the same notes; the same order
    for ids of the usual formats, which in-process sorts."""
    assert pushed.features == local.features
    assert pushed.notes == local.notes
    pushed_by_id, local_by_id = by_id(pushed), by_id(local)
    assert sorted(pushed_by_id) == sorted(local_by_id)
    for customer, values in local_by_id.items():
        assert np.allclose(pushed_by_id[customer], values, rtol=1e-9, atol=1e-9), customer
    if pushed.rows > 100:  # generated ids "00001", ...
        assert list(pushed.ids) == list(local.ids)


def by_id(data) -> dict[str, list[float]]:
    return dict(zip(data.ids, data.frame.to_numpy(dtype=float).tolist(), strict=True))


class FetchCounter:
    """Rows SQLAlchemy fetched from the database, per statement, counted where
    every fetch of a cursor result passes (fetchone/fetchmany/fetchall)."""

    def __init__(self, monkeypatch):
        from sqlalchemy.engine.cursor import CursorResult

        self.rows: list[tuple[str, int]] = []
        for name in ("_fetchone_impl", "_fetchmany_impl", "_fetchall_impl"):
            real = getattr(CursorResult, name)

            def counting(result, *args, _real=real, _name=name, **kwargs):
                got = _real(result, *args, **kwargs)
                n = (got is not None) if _name == "_fetchone_impl" else len(got)
                self.rows.append((result.context.statement, int(n)))
                return got

            monkeypatch.setattr(CursorResult, name, counting)

    def from_table(self, table: str) -> int:
        return sum(
            n
            for statement, n in self.rows
            if table in statement and not statement.lstrip().upper().startswith("PRAGMA")
        )


# --------------------------------------------------------------------------- SQLite


@pytest.fixture
def shop(tmp_path) -> str:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as con:
        log = text_log(LOG, EXTRA)
        typed = log.assign(amount=log["amount"].astype(float), quantity=log["quantity"])
        typed.assign(quantity=typed["quantity"].astype(float)).to_sql("orders", con, index=False)
        log.to_sql("orders_text", con, index=False)  # every value stored as text
        generated().to_sql("big", con, index=False)
    return f"sqlite:///{path}"


def test_sqlite_pushdown_gives_the_hand_computed_features(shop, monkeypatch, caplog):
    with caplog.at_level(logging.INFO, logger="model.data.transactions_sql"):
        data = load_dataset(
            settings(
                data=shop,
                data_query="SELECT * FROM orders WHERE customer_id IN "
                "('00042', '7', '00007', 'B1', 'R9', 'X')",
            )
        )
    assert PUSHED in caplog.text
    got = by_id(data)
    assert sorted(got) == sorted(EXPECTED)
    for customer, values in EXPECTED.items():
        assert got[customer] == pytest.approx(values, abs=1e-9), customer


@pytest.mark.parametrize("table", ["orders", "orders_text", "big"])
@pytest.mark.parametrize("as_of", [None, "2024-03-05"])
def test_sqlite_pushdown_equals_in_process(shop, monkeypatch, caplog, table, as_of):
    if table == "big" and as_of:
        as_of = "2025-01-31"
    pushed, local = load_both(monkeypatch, caplog, data=shop, data_query=table, as_of=as_of)
    assert_same(pushed, local)
    if table != "big":
        ids = set(pushed.ids)
        assert {"042", "42", "0"} <= ids  # leading zeros kept; a returns-only customer kept
        assert ("Q-8" in ids) == (as_of is None)  # only bought after the as-of day
        if as_of:
            assert "3 rows dated after SEGBOT_AS_OF 2024-03-05 left out" in pushed.notes[0]


def test_sqlite_pushdown_orders_unpadded_ids_by_number_as_in_process(tmp_path, monkeypatch, caplog):
    """The row order feeds the data digest and the sample: push-down must give
    in-process's order, by the number an unpadded id writes, not as text."""
    path = tmp_path / "unpadded.db"
    with sqlite3.connect(path) as con:
        unpadded_log().to_sql("orders", con, index=False)
    pushed, local = load_both(monkeypatch, caplog, data=f"sqlite:///{path}", data_query="orders")
    assert list(local.ids) == UNPADDED_ORDER
    assert list(pushed.ids) == UNPADDED_ORDER
    assert_same(pushed, local)


def test_sqlite_query_text_is_run_as_written(shop, caplog):
    """Colons are not bind parameters; a trailing semicolon is fine."""
    query = "SELECT * FROM orders WHERE customer_id <> ':x' AND date >= '2024-01-01 00:00';"
    with caplog.at_level(logging.INFO, logger="model.data.transactions_sql"):
        data = load_dataset(settings(data=shop, data_query=query))
    assert PUSHED in caplog.text and data.rows == len(set(text_log(LOG, EXTRA)["customer_id"]))


def test_sqlite_pushdown_by_hand_on_the_extra_rows(shop):
    """Offsets and as-of rules worked out by hand on EXTRA (as-of day 2024-03-05)."""
    data = load_dataset(settings(data=shop, data_query="orders", as_of="2024-03-05T18:00:00+00:00"))
    got = by_id(data)
    # (recency, frequency, monetary, avg, tenure, items)
    # 042: 23:30-05:00 on 03-04 is 04:30 UTC on 03-05, and 03:00 on 03-05: one day
    assert got["042"] == pytest.approx([0, 1, 19.75, 19.75, 0, 3])
    # 42: 00:30+01:00 on 03-05 is 23:30 UTC on 03-04; amount 0 is a purchase
    assert got["42"] == pytest.approx([1, 2, 3.10, 1.55, 64, 1.5])
    # 0: returns only, dated by the returns (02-29 and 02-28); items -|-2| - |1| -> 0
    assert got["0"] == pytest.approx([5, 0, 0, 0, 6, 0])
    # the 03-06 purchase is after the as-of day
    assert got["Q-7"] == pytest.approx([33, 1, 1.0, 1.0, 33, 1])


def test_sqlite_only_one_row_per_customer_is_fetched(shop, monkeypatch, caplog):
    rows = len(generated())
    counter = FetchCounter(monkeypatch)
    data = load_dataset(settings(data=shop, data_query="big"))
    pushed = counter.from_table("big")
    # one row per customer, plus the row of the checks
    assert pushed == data.rows + 1, counter.rows
    counter.rows.clear()
    in_process(monkeypatch)
    assert load_dataset(settings(data=shop, data_query="big")).rows == data.rows
    assert counter.from_table("big") == rows  # the counter sees every purchase streamed
    assert rows > 5 * data.rows


def test_sqlite_falls_back_with_a_log_line(tmp_path, caplog):
    """Dates stored as numbers cannot be read as ISO text in SQL: in-process gives
    its own message; a query SQLite refuses as a subquery falls back and works."""
    path = tmp_path / "odd.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE orders (customer_id TEXT, date INTEGER, amount REAL)")
        con.executemany("INSERT INTO orders VALUES (?, ?, ?)", [("1", 20240101, 3.0)] * 3)
        text_log(LOG).to_sql("log", con, index=False)
    url = f"sqlite:///{path}"
    numbers = "date column 'date' holds numbers, not dates"
    with LOGGED, pytest.raises(DataError, match=numbers):
        load_dataset(settings(data=url, data_query="orders", features=None))
    assert (
        "no push-down to the database for sqlite:///" in caplog.text
        and "date column 'date' holds values SQLite stores as numbers or blobs (3 rows)"
        in caplog.text
        and "aggregating in-process" in caplog.text
    ), caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="model.data.transactions_sql"):
        # a closing comment swallows the rest of a subquery: SQLite runs it alone only
        data = load_dataset(settings(data=url, data_query="SELECT * FROM log -- the shop's log"))
    assert sorted(data.ids) == sorted(EXPECTED)
    assert "the database does not take the query as a subquery" in caplog.text, caplog.text


def test_sqlite_dates_only_the_in_process_parser_reads_fall_back(tmp_path, caplog):
    path = tmp_path / "compact.db"
    with sqlite3.connect(path) as con:
        text_log(LOG).assign(date=["20240110"] * 11).to_sql("log", con, index=False)
    with caplog.at_level(logging.INFO, logger="model.data.transactions_sql"):
        data = load_dataset(settings(data=f"sqlite:///{path}", data_query="log"))
    assert data.rows == len(EXPECTED)
    assert "dates written in a form SQL does not read ('20240110'" in caplog.text


BAD = [
    # (column, values replacing rows 2, 5 and 9 of LOG, in-process message)
    (
        "date",
        ["2024-31-01", "", "03/01/2024"],
        "date column 'date' has 2 values that are not dates (row 2: '2024-31-01', "
        "row 9: '03/01/2024'); write dates as YYYY-MM-DD, optionally with a time and a UTC "
        "offset",
    ),
    ("date", ["", None, " "], "date column 'date' is empty in 3 rows (row 2, row 5, row 9); "),
    (
        "amount",
        ["12,50", "abc", None],
        "amount column 'amount' has text where numbers are expected in 2 rows "
        "(row 2: '12,50', row 5: 'abc')",
    ),
    ("amount", [" ", "5", None], "amount column 'amount' is empty in 2 rows (row 2, row 9); "),
    (
        "quantity",
        ["1", "two", "3"],
        "quantity column 'quantity' has text where numbers are expected in 1 row (row 5: 'two')",
    ),
    (
        "customer_id",
        [" ", "7", None],
        "id column 'customer_id' is empty in 2 rows (row 2, row 9); every purchase needs a",
    ),
]


def bad_log(column: str, values: list) -> pd.DataFrame:
    log = text_log(LOG).astype(object)
    for row, value in zip((1, 4, 8), values, strict=True):
        log.loc[row, column] = value
    return log


@pytest.mark.parametrize(("column", "values", "message"), BAD)
def test_sqlite_bad_values_give_the_in_process_message(
    tmp_path, monkeypatch, caplog, column, values, message
):
    path = tmp_path / "bad.db"
    with sqlite3.connect(path) as con:
        bad_log(column, values).to_sql("log", con, index=False)
    url = f"sqlite:///{path}"
    with LOGGED, pytest.raises(DataError) as pushed:
        load_dataset(settings(data=url, data_query="log"))
    assert FELL_BACK not in caplog.text, caplog.text
    in_process(monkeypatch)
    with pytest.raises(DataError) as local:
        load_dataset(settings(data=url, data_query="log"))
    assert str(pushed.value) == str(local.value)
    assert str(pushed.value).startswith(message)


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def pg(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(url, schema) with the logs typed as a database would type them."""
    import psycopg
    import sqlalchemy as sa

    url = pg_url_or_skip()
    schema = f"segbot_{secrets.token_hex(4)}"
    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    hard = text_log(LOG, EXTRA)
    big = generated()
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("SET TIME ZONE 'UTC'")
        con.execute(f"CREATE SCHEMA {schema}")
        tables = {
            "orders": "customer_id text, date timestamptz, amount numeric(12, 2), "
            "quantity double precision",
            "orders_text": "customer_id varchar(20), date text, amount text, quantity text",
            "big": "customer_id text, date timestamp, amount double precision, quantity integer",
        }
        for name, columns in tables.items():
            con.execute(f"CREATE TABLE {schema}.{name} ({columns})")
        with con.cursor() as cur:
            for name, frame in (("orders", hard), ("orders_text", hard), ("big", big)):
                with cur.copy(f"COPY {schema}.{name} FROM STDIN") as copy:
                    for row in frame.itertuples(index=False):
                        copy.write_row([None if pd.isna(v) else str(v) for v in row])
        con.execute(
            f"CREATE TABLE {schema}.orders_by_day AS SELECT customer_id::integer AS customer_id, "
            f"(date AT TIME ZONE 'UTC')::date AS day, amount::integer AS amount "
            f"FROM {schema}.orders WHERE customer_id ~ '^[0-9]+$'"
        )
    yield url, schema
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["orders", "orders_text", "big", "orders_by_day"])
@pytest.mark.parametrize("as_of", [None, "2024-03-05"])
@pytest.mark.parametrize("zone", ["UTC", "Asia/Kathmandu", "America/St_Johns"])
def test_postgres_pushdown_equals_in_process(pg, monkeypatch, caplog, table, as_of, zone):
    """Any session time zone (libpq's PGTZ): timestamptz, timestamp, date and text."""
    url, schema = pg
    monkeypatch.setenv("PGTZ", zone)
    if table == "big" and as_of:
        as_of = "2025-01-31"
    extra = {"date_column": "day"} if table == "orders_by_day" else {}
    if table == "orders_by_day":
        extra["features"] = ",".join(f for f in FEATURES if f != "items")
    values = dict(data=url, data_query=f"{schema}.{table}", as_of=as_of) | extra
    with caplog.at_level(logging.INFO, logger="model.data.transactions_sql"):
        caplog.clear()
        pushed = load_dataset(settings(**values))
        assert PUSHED in caplog.text and FELL_BACK not in caplog.text, caplog.text
    in_process(monkeypatch)
    local = load_dataset(settings(**values))
    assert_same(pushed, local)
    if table in ("orders", "orders_text") and not as_of:
        got = by_id(pushed)
        for customer, expected in EXPECTED.items():
            assert got[customer] == pytest.approx(expected, abs=1e-9), customer


@pytest.mark.postgres
@pytest.mark.parametrize("id_type", ["text", "integer"])
def test_postgres_pushdown_orders_unpadded_ids_by_number_as_in_process(
    pg, monkeypatch, caplog, id_type
):
    import psycopg
    import sqlalchemy as sa

    url, schema = pg
    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    table = f"{schema}.unpadded_{id_type}"
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(
            f"CREATE TABLE {table} (customer_id {id_type}, date timestamp, amount numeric, "
            "quantity integer)"
        )
        with con.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN") as copy:
            for row in unpadded_log().itertuples(index=False):
                copy.write_row(list(row))
    pushed, local = load_both(monkeypatch, caplog, data=url, data_query=table)
    assert list(local.ids) == UNPADDED_ORDER
    assert list(pushed.ids) == UNPADDED_ORDER
    assert_same(pushed, local)


@pytest.mark.postgres
def test_postgres_pushdown_of_a_query_by_hand(pg):
    url, schema = pg
    data = load_dataset(
        settings(
            data=url,
            data_query=f"SELECT * FROM {schema}.orders_text WHERE customer_id <> 'Q-8'",
            as_of="2024-03-05",
        )
    )
    got = by_id(data)
    assert got["042"] == pytest.approx([0, 1, 19.75, 19.75, 0, 3])
    assert got["42"] == pytest.approx([1, 2, 3.10, 1.55, 64, 1.5])
    assert got["0"] == pytest.approx([5, 0, 0, 0, 6, 0])
    assert "Q-8" not in got


@pytest.mark.postgres
def test_postgres_only_one_row_per_customer_is_fetched(pg, monkeypatch):
    url, schema = pg
    counter = FetchCounter(monkeypatch)
    data = load_dataset(settings(data=url, data_query=f"{schema}.big"))
    table = f"{schema}.big"
    assert counter.from_table("big") == data.rows + 2, counter.rows  # + type probe + checks
    counter.rows.clear()
    in_process(monkeypatch)
    load_dataset(settings(data=url, data_query=table))
    assert counter.from_table("big") == len(generated())


@pytest.mark.postgres
def test_postgres_falls_back_with_a_log_line(pg, caplog):
    url, schema = pg
    # 2024-02-30 has the shape of a date: the database's cast refuses it
    with LOGGED, pytest.raises(DataError) as caught:
        load_dataset(
            settings(
                data=url,
                data_query=f"SELECT customer_id, '2024-02-30'::text AS date, amount, "
                f"quantity FROM {schema}.orders_text",
            )
        )
    assert str(caught.value).startswith(
        "date column 'date' has 20 values that are not dates (row 1: '2024-02-30'"
    )
    assert "the database refused the aggregation" in caplog.text
    assert "date/time field value out of range" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="model.data.transactions_sql"):
        data = load_dataset(
            settings(
                data=url,
                # a closing comment swallows the rest of a subquery
                data_query=f"SELECT customer_id, date, amount, quantity FROM {schema}.orders "
                "-- the shop's orders",
            )
        )
    assert data.rows == len(set(text_log(LOG, EXTRA)["customer_id"]))
    assert FELL_BACK in caplog.text, caplog.text


@pytest.mark.postgres
@pytest.mark.parametrize(("column", "values", "message"), BAD)
def test_postgres_bad_values_give_the_in_process_message(
    pg, monkeypatch, caplog, column, values, message
):
    import psycopg
    import sqlalchemy as sa

    url, schema = pg
    name = f"bad_{secrets.token_hex(3)}"
    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(
            f"CREATE TABLE {schema}.{name} (customer_id text, date text, amount text, "
            "quantity text)"
        )
        with con.cursor() as cur, cur.copy(f"COPY {schema}.{name} FROM STDIN") as copy:
            for row in bad_log(column, values).itertuples(index=False):
                copy.write_row([None if v is None else str(v) for v in row])
    with LOGGED, pytest.raises(DataError) as pushed:
        load_dataset(settings(data=url, data_query=f"{schema}.{name}"))
    assert FELL_BACK not in caplog.text, caplog.text
    in_process(monkeypatch)
    with pytest.raises(DataError) as local:
        load_dataset(settings(data=url, data_query=f"{schema}.{name}"))
    assert str(pushed.value) == str(local.value)
    assert str(pushed.value).startswith(message)


@pytest.mark.postgres
def test_the_benchmark_runs_on_a_small_log(pg, tmp_path):
    """bench/bench_pushdown.py end to end at 2,000 rows: both paths, same customers,
    push-down fetching one row per customer (+ 2) and streaming every row."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    url, _ = pg
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "bench.json"
    script = str(root / "bench" / "bench_pushdown.py")
    args = ["--rows", "2k", "--url", url, "--dir", str(tmp_path), "--json", str(out)]
    done = subprocess.run(
        [sys.executable, script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    runs = {run["mode"]: run for run in json.loads(out.read_text())["runs"]}
    customers = runs["pushdown"]["customers"]
    assert runs["streamed"]["customers"] == customers
    assert runs["pushdown"]["rows_fetched"] == customers + 2
    assert runs["streamed"]["rows_fetched"] == 2000
