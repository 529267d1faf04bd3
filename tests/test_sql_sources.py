"""Customers and purchase logs from SQL databases through segbot's own path
(`load_dataset`, `segbot train --data URL --query ...`): a real SQLite file and a
real PostgreSQL server.

The PostgreSQL tests use SEGBOT_TEST_PG_URL (`.ci/run` starts a throwaway server
and sets it: `source .ci/postgres.sh` does the same by hand). Without it they are
skipped, and say so, except under CI (CI=true), where a missing server fails.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

import model.data.load
from model.config import Settings
from model.data.load import load_dataset
from model.data.sample import generate
from model.data.sample_transactions import write_transactions
from model.data.transactions import FEATURES
from tests.conftest import run_segbot, segbot_env
from tests.test_transactions import EXPECTED, LOG

# customers with ids as text, leading zeros and all
CUSTOMERS = generate(300, seed=11).assign(
    customer_id=[f"{i:05d}" for i in range(1, 301)],
    age=lambda f: f["age"].astype("Int64"),
)[["customer_id", "age", "annual_income", "total_spend", "days_since_last_purchase"]]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("SEGBOT_") and name != "SEGBOT_TEST_PG_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def log_frame() -> pd.DataFrame:
    from io import StringIO

    return pd.read_csv(StringIO(LOG), dtype=str)


def features_by_id(data) -> dict[str, list[float]]:
    return dict(zip(data.ids, data.frame.to_numpy(dtype=float).tolist(), strict=True))


def assert_expected(data) -> None:
    got = features_by_id(data)
    assert sorted(got) == sorted(EXPECTED)
    for customer, values in EXPECTED.items():
        assert got[customer] == pytest.approx(values), customer


class ChunkCounter:
    """Wraps pandas.read_sql: the chunk size asked for and how many chunks came."""

    def __init__(self, monkeypatch, rows: int):
        self.sizes: list[int] = []
        self.chunks = 0
        real = pd.read_sql
        monkeypatch.setattr(model.data.load, "SQL_CHUNK_ROWS", rows)

        def counting(*args, **kwargs):
            self.sizes.append(kwargs.get("chunksize"))
            for chunk in real(*args, **kwargs):
                self.chunks += 1
                yield chunk

        monkeypatch.setattr(pd, "read_sql", counting)


def in_process(monkeypatch) -> None:
    """No push-down (model.data.transactions_sql): every purchase row is streamed."""
    import model.data.transactions_sql

    monkeypatch.setattr(model.data.transactions_sql, "customer_features_sql", lambda *a, **k: None)


# --------------------------------------------------------------------------- SQLite


@pytest.fixture
def shop_db(tmp_path) -> str:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as con:
        CUSTOMERS.to_sql("customers", con, index=False)
        log_frame().assign(amount=lambda f: f["amount"].astype(float)).to_sql(
            "orders", con, index=False
        )
        con.execute('CREATE TABLE "Order Lines" AS SELECT * FROM orders')
    return f"sqlite:///{path}"


def test_sqlite_customers_by_table_and_by_query(shop_db):
    table = load_dataset(settings(data=shop_db, data_query="customers", k="3"))
    assert table.rows == 300 and table.ids[41] == "00042"
    assert table.numeric == list(CUSTOMERS.columns[1:])
    query = load_dataset(
        settings(data=shop_db, data_query="SELECT * FROM customers WHERE age >= 40")
    )
    assert 0 < query.rows < 300 and (query.frame["age"] >= 40).all()
    assert table.source.endswith("(table customers)") and query.source.endswith("(query)")


def test_sqlite_transactions_by_table_and_by_query(shop_db):
    every = ",".join(FEATURES)
    by_table = load_dataset(
        settings(data=shop_db, data_query="orders", data_kind="transactions", features=every)
    )
    assert_expected(by_table)
    by_query = load_dataset(
        settings(
            data=shop_db,
            data_query='SELECT customer_id, date, amount, quantity FROM "Order Lines"',
            data_kind="transactions",
            features=every,
        )
    )
    assert_expected(by_query)


def test_train_query_flag_trains_on_the_rows_it_selects(shop_db, tmp_path):
    """`segbot train --data URL --query SQL` (in process): the version holds exactly the
    customers the query selects, counted here with pandas on the same table."""
    from bot.cli import main

    chosen = CUSTOMERS[(CUSTOMERS["age"] >= 40) & (CUSTOMERS["annual_income"] < 60_000)]
    assert 20 < len(chosen) < 150  # a real selection, neither all nor nearly none
    query = "SELECT * FROM customers WHERE age >= 40 AND annual_income < 60000"
    models = tmp_path / "models"
    argv = ["train", "--data", shop_db, "--query", query, "--model-dir", str(models)]
    assert main([*argv, "--k", "3"]) == 0
    meta = json.loads((models / "v1" / "metadata.json").read_text())
    assert meta["rows"] == len(chosen) and meta["source"]["description"].endswith("(query)")
    stored = [i.decode() for i in np.load(models / "v1" / "ids.npy")]
    assert sorted(stored) == sorted(chosen["customer_id"])


def test_sqlite_rows_come_in_chunks_with_only_the_needed_columns(shop_db, monkeypatch):
    in_process(monkeypatch)
    counter = ChunkCounter(monkeypatch, rows=4)
    data = load_dataset(
        settings(data=shop_db, data_query="SELECT * FROM orders", data_kind="transactions")
    )
    assert data.rows == len(EXPECTED)
    assert counter.sizes == [4] and counter.chunks == 3  # 11 rows, 4 at a time


def test_sqlite_bad_values_are_named_by_row(tmp_path):
    path = tmp_path / "bad.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE orders (customer_id TEXT, date TEXT, amount REAL)")
        con.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)",
            [("1", "2024-01-01", 3), ("2", "2024-31-01", 4), ("3", "2024-01-02", 5)],
        )
    from model.errors import DataError

    with pytest.raises(DataError) as caught:
        load_dataset(
            settings(data=f"sqlite:///{path}", data_query="orders", data_kind="transactions")
        )
    assert str(caught.value) == (
        "date column 'date' has 1 value that is not a date (row 2: '2024-31-01'); "
        "write dates as YYYY-MM-DD, optionally with a time and a UTC offset"
    )


# --------------------------------------------------------------------------- PostgreSQL


def pg_url_or_skip() -> str:
    """SEGBOT_TEST_PG_URL; else skip (saying why), or fail under CI."""
    url = os.environ.get("SEGBOT_TEST_PG_URL", "").strip()
    if url:
        return url
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(
            "CI=true but SEGBOT_TEST_PG_URL is not set: .ci/run should have started "
            "PostgreSQL (see .ci/postgres.sh)"
        )
    pytest.skip(
        "no PostgreSQL server: SEGBOT_TEST_PG_URL is not set "
        "(`source .ci/postgres.sh` starts a throwaway one and sets it)"
    )


@pytest.fixture(scope="module")
def pg_url() -> str:
    return pg_url_or_skip()


@pytest.fixture(scope="module")
def pg(pg_url, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(url, schema): a fresh schema with customers, orders (timestamptz, numeric),
    orders_by_day (date) and a generated log `big_orders`; dropped afterwards."""
    import psycopg
    import sqlalchemy as sa

    schema = f"segbot_{secrets.token_hex(4)}"
    dsn = sa.make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    log = log_frame()
    generated = tmp_path_factory.mktemp("pg") / "orders.csv"
    write_transactions(generated, rows=24_000, seed=3)
    big = pd.read_csv(generated, dtype=str)
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("SET TIME ZONE 'UTC'")
        con.execute(f"CREATE SCHEMA {schema}")
        con.execute(
            f"CREATE TABLE {schema}.customers (customer_id text PRIMARY KEY, age integer, "
            "annual_income numeric(12, 2), total_spend double precision, "
            "days_since_last_purchase real)"
        )
        con.execute(
            f"CREATE TABLE {schema}.orders (customer_id text, date timestamptz, "
            "amount numeric(12, 2), quantity integer)"
        )
        con.execute(
            f"CREATE TABLE {schema}.big_orders (customer_id text, date timestamp, "
            "amount numeric(12, 2), quantity integer)"
        )
        with con.cursor() as cur:
            with cur.copy(f"COPY {schema}.customers FROM STDIN") as copy:
                for row in CUSTOMERS.itertuples(index=False):
                    copy.write_row([None if pd.isna(v) else str(v) for v in row])
            with cur.copy(f"COPY {schema}.orders FROM STDIN") as copy:
                for row in log.itertuples(index=False):
                    copy.write_row(list(row))
            with cur.copy(f"COPY {schema}.big_orders FROM STDIN") as copy:
                for row in big.itertuples(index=False):
                    copy.write_row(list(row))
        # the same log with plain dates (the UTC day of each purchase)
        con.execute(
            f"CREATE TABLE {schema}.orders_by_day AS SELECT customer_id, "
            f"(date AT TIME ZONE 'UTC')::date AS day, amount, quantity FROM {schema}.orders"
        )
    yield pg_url, schema
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.postgres
def test_postgres_customers_by_table_and_by_query(pg):
    url, schema = pg
    table = load_dataset(settings(data=url, data_query=f"{schema}.customers"))
    assert table.rows == 300 and "00042" in table.ids
    assert table.numeric == list(CUSTOMERS.columns[1:])
    expected = CUSTOMERS.set_index("customer_id")
    got = pd.DataFrame(table.frame.to_numpy(), index=table.ids, columns=table.numeric)
    assert np.allclose(
        got.loc[expected.index].to_numpy(dtype=float),
        expected.to_numpy(dtype=float),
        equal_nan=True,
        rtol=1e-6,
    )
    query = load_dataset(
        settings(
            data=url,
            data_query=f"SELECT customer_id, age, annual_income FROM {schema}.customers "
            "WHERE age < 40",
        )
    )
    assert query.numeric == ["age", "annual_income"] and (query.frame["age"] < 40).all()


@pytest.mark.postgres
def test_postgres_transactions_by_table_and_by_query(pg):
    url, schema = pg
    every = ",".join(FEATURES)
    by_table = load_dataset(
        settings(data=url, data_query=f"{schema}.orders", data_kind="transactions", features=every)
    )
    assert_expected(by_table)  # timestamptz and numeric(12, 2)
    by_query = load_dataset(
        settings(
            data=url,
            data_query=f"SELECT customer_id, day, amount, quantity FROM {schema}.orders_by_day",
            data_kind="transactions",
            date_column="day",
            features=every,
        )
    )
    assert_expected(by_query)  # date


@pytest.mark.postgres
def test_postgres_streams_through_a_server_side_cursor_in_chunks(pg, monkeypatch):
    import sqlalchemy as sa

    url, schema = pg
    cursors: list[tuple[str, str]] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        cursors.append((type(cursor).__name__, statement))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", seen)
    try:
        in_process(monkeypatch)
        counter = ChunkCounter(monkeypatch, rows=5000)
        data = load_dataset(
            settings(data=url, data_query=f"{schema}.big_orders", data_kind="transactions")
        )
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", seen)
    assert data.rows > 2000
    assert counter.chunks == 5  # 24,000 rows, 5,000 at a time
    reading = [name for name, statement in cursors if "big_orders" in statement]
    assert reading == ["ServerCursor"], cursors


@pytest.mark.postgres
def test_postgres_url_without_a_driver_name_uses_psycopg(pg):
    url, schema = pg
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    data = load_dataset(settings(data=plain, data_query=f"{schema}.customers"))
    assert data.rows == 300


@pytest.mark.postgres
def test_segbot_train_and_ask_from_postgres(pg, tmp_path):
    url, schema = pg
    models = tmp_path / "models"
    env = segbot_env(
        SEGBOT_DATA=url,
        SEGBOT_DATA_QUERY=f"SELECT * FROM {schema}.big_orders",
        SEGBOT_DATA_KIND="transactions",
        SEGBOT_MODEL_DIR=models,
    )
    done = run_segbot(["train"], env=env, cwd=tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr
    meta = json.loads((models / "v1" / "metadata.json").read_text())
    names = {s["name"] for s in meta["segments"]}
    assert {"Champions", "At Risk"} <= names, names
    ask = run_segbot(["ask", "/segment customer 00042"], env=env, cwd=tmp_path)
    assert ask.returncode == 0, ask.stdout + ask.stderr
    assert "00042" in ask.stdout


def test_postgres_tests_say_why_they_skip(monkeypatch):
    """Outside CI, no server: skipped with the reason; under CI: a failure."""
    from _pytest.outcomes import Failed, Skipped

    monkeypatch.delenv("SEGBOT_TEST_PG_URL", raising=False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(Skipped, match="SEGBOT_TEST_PG_URL is not set"):
        pg_url_or_skip()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(Failed, match="CI=true but SEGBOT_TEST_PG_URL is not set"):
        pg_url_or_skip()
