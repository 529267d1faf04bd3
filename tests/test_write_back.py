"""Write-back (SEGBOT_WRITE_BACK): the served version's rows in a SQLite or PostgreSQL
table, or a CSV/Parquet file, swapped in whole after every switch.

Expected rows are worked out here from the version's `.npy` arrays and
metadata.json with numpy alone (not through `model.versions.export`), or from the real
`segbot ask` answers. PostgreSQL tests need SEGBOT_TEST_PG_URL (`source
.ci/postgres.sh`); they skip without it, and fail under CI=true.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from model.service import SegmentService
from model.versions.write_back import WriteBackError
from tests.conftest import make_settings, run_segbot, segbot_command, segbot_env
from tests.test_sql_sources import pg_url_or_skip

LONG_KILLS = 12  # the slow variants' kills (each a `segbot train`, ~8 s)
Row = tuple[int, str, str, float, str | None]  # segment_id, segment, version, distance, runner_up


# ---- expected rows, worked out from the stored arrays ---------------------------------------
def stored_rows(model_dir: Path, version: str) -> dict[str, Row]:
    folder = model_dir / version
    meta = json.loads((folder / "metadata.json").read_text())
    names = {s["id"]: s["name"] for s in meta["segments"]}
    ids = np.load(folder / "ids.npy")
    segments = np.load(folder / "segments.npy")
    runner = np.load(folder / "runner_up.npy")
    dist = np.load(folder / "distances.npy")
    out = {}
    for i in range(len(ids)):
        cid = ids[i].decode() if isinstance(ids[i], bytes) else str(ids[i])
        out[cid] = (
            int(segments[i]),
            names[int(segments[i])],
            meta["version"],
            round(float(dist[i, 0]), 6),
            names[int(runner[i])] if runner[i] >= 0 else None,
        )
    return out


def clone_version(model_dir: Path, source: str, target: str, drop_first: int) -> None:
    """A second stored version: `source` without its first `drop_first` customers, so
    the two differ in row count as well as in name."""
    import shutil

    shutil.copytree(model_dir / source, model_dir / target)
    folder = model_dir / target
    for name in ("ids", "segments", "runner_up", "distances", "values"):
        array = np.load(folder / f"{name}.npy")
        np.save(folder / f"{name}.npy", array[drop_first:])
    meta = json.loads((folder / "metadata.json").read_text())
    meta["version"] = target
    meta["rows"] -= drop_first
    (folder / "metadata.json").write_text(json.dumps(meta))


@pytest.fixture
def two_versions(served_copy) -> tuple[Path, Path]:
    """(model dir, data): v1 (2,000 customers, served) and v2 (its last 1,900)."""
    model_dir, data = served_copy
    clone_version(model_dir, "v1", "v2", drop_first=100)
    return model_dir, data


def sqlite_rows(db: Path, table: str) -> dict[str, Row]:
    with sqlite3.connect(db) as con:
        rows = con.execute(f"SELECT * FROM {table}").fetchall()
    return {r[0]: (r[1], r[2], r[3], round(r[4], 6), r[5]) for r in rows}


def sqlite_tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as con:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def service_for(model_dir: Path, data: Path, target: str, table: str = "customer_segments"):
    return SegmentService(
        make_settings(model_dir, data, SEGBOT_WRITE_BACK=target, SEGBOT_WRITE_BACK_TABLE=table)
    )


def current(model_dir: Path) -> str:
    return (model_dir / "CURRENT").read_text().strip()


# ---- what another reader sees while a write-back runs --------------------------------------
def swap_back_and_forth(
    service: SegmentService, read: Callable[[threading.Event], None] | None = None
) -> None:
    """v1, v2, v1 served in turn, each write-back waited for; meanwhile, when given,
    `read(stop)` runs on another thread until `stop` is set."""
    stop = threading.Event()
    reader = threading.Thread(target=read, args=(stop,)) if read else None
    if reader:
        reader.start()
    try:
        for version in ("v1", "v2", "v1"):
            service.rollback(version)
            assert service.write_back.wait().ok
    finally:
        stop.set()
        if reader:
            reader.join()


class Pauses:
    """Stretches chosen steps of a write-back (a `pause`-second sleep right after
    them) so a reader polling meanwhile surely looks in between; the windows are kept
    (time.time(), which other processes share) to prove the reader did look then."""

    def __init__(self, pause: float = 0.3):
        self.pause = pause
        self.windows: list[tuple[float, float]] = []

    def after(self) -> None:
        start = time.time()
        time.sleep(self.pause)
        self.windows.append((start, time.time()))

    def looks_inside(self, times: list[float]) -> list[int]:
        """How many of `times` fall in each window."""
        return [sum(start <= t <= end for t in times) for start, end in self.windows]


class WatchedConnection:
    """A write-back's SQLite connection that calls `hook(sql, done)` before (done False)
    and after (done True) each statement it runs."""

    def __init__(self, con, hook: Callable[[str, bool], object]):
        self.con, self.hook = con, hook

    def execute(self, sql: str, *args):
        self.hook(sql, False)
        cursor = self.con.execute(sql, *args)
        self.hook(sql, True)
        return cursor

    def __getattr__(self, name: str):
        return getattr(self.con, name)


def watch_statements(monkeypatch: pytest.MonkeyPatch, hook: Callable[[str, bool], object]) -> None:
    from model.versions.write_back import SqlTarget

    connect = SqlTarget.connect
    monkeypatch.setattr(
        SqlTarget, "connect", lambda target: WatchedConnection(connect(target), hook)
    )


# Polls the table in its own process (autocommit, no transaction of its own) until
# the stop file appears; prints what it saw: [time, [count, versions, version] or error].
_POLL_SQLITE = """
import json, os, sqlite3, sys, time
db, stop = sys.argv[1], sys.argv[2]
con = sqlite3.connect(db, isolation_level=None, timeout=30)
query = "SELECT count(*), count(DISTINCT version), min(version) FROM customer_segments"
seen = []
print("polling", flush=True)
while not os.path.exists(stop):
    try:
        seen.append([time.time(), list(con.execute(query).fetchone())])
    except sqlite3.Error as exc:
        seen.append([time.time(), str(exc)])
    time.sleep(0.002)
print(json.dumps(seen))
"""


def test_sqlite_readers_in_another_process_never_find_the_table_missing_or_partial(
    two_versions, tmp_path, monkeypatch
):
    """A reader without a transaction of its own, polling from another process while
    the table is swapped back and forth: always one version, whole."""
    import sys

    model_dir, data = two_versions
    db = tmp_path / "crm.db"
    service = service_for(model_dir, data, f"sqlite:///{db}")
    service.rollback("v2")
    assert service.write_back.wait().ok
    pauses = Pauses()
    # Between the swap's two renames a reader would find no table, were they not one
    # transaction: a pause after each makes sure the reader looks there.
    watch_statements(
        monkeypatch, lambda sql, done: done and sql.startswith("ALTER") and pauses.after()
    )
    stop = tmp_path / "stop"
    poller = subprocess.Popen(
        [sys.executable, "-c", _POLL_SQLITE, str(db), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert poller.stdout is not None and poller.stdout.readline() == "polling\n"
        swap_back_and_forth(service)
    finally:
        stop.touch()
        out, err = poller.communicate(timeout=60)
    assert poller.returncode == 0, err
    seen = json.loads(out)
    whole = {(1900, 1, "v2"), (2000, 1, "v1")}
    wrong = [
        (t, what) for t, what in seen if not isinstance(what, list) or tuple(what) not in whole
    ]
    assert not wrong, wrong[:3]
    assert {tuple(what) for _, what in seen} == whole  # both versions seen, nothing else
    # Two renames per swap, three swaps: the reader looked inside every pause.
    inside = pauses.looks_inside([t for t, _ in seen])
    assert len(inside) == 6 and min(inside) >= 1, inside


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_target_file_is_there_and_whole_at_every_moment_of_a_write(
    two_versions, tmp_path, monkeypatch, suffix
):
    """A reader polling the file (another thread) while it is rewritten three times:
    the old file until the new one is renamed in, never no file."""
    import pandas as pd

    import model.versions.write_back

    model_dir, data = two_versions
    target = tmp_path / f"segments{suffix}"
    service = service_for(model_dir, data, str(target))
    service.rollback("v2")
    assert service.write_back.wait().ok
    pauses = Pauses()
    write_batches = model.versions.write_back.write_batches

    def paused_write(*args, **kwargs):
        pauses.after()  # the old file is already kept as _previous; the new one not begun
        return write_batches(*args, **kwargs)

    monkeypatch.setattr(model.versions.write_back, "write_batches", paused_write)
    seen: list[tuple[float, object]] = []

    def poll(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                frame = (
                    pd.read_csv(target, dtype={"customer_id": str})
                    if suffix == ".csv"
                    else pd.read_parquet(target)
                )
                what: object = (len(frame), frame["version"].nunique(), frame["version"].min())
            except Exception as exc:  # no file, or a partial one
                what = f"{type(exc).__name__}: {exc}"
            seen.append((time.time(), what))
            time.sleep(0.005)

    swap_back_and_forth(service, poll)
    whole = {(1900, 1, "v2"), (2000, 1, "v1")}
    wrong = [(t, what) for t, what in seen if what not in whole]
    assert not wrong, wrong[:3]
    inside = pauses.looks_inside([t for t, _ in seen])
    assert len(inside) == 3 and min(inside) >= 1, inside


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_killed_writers_temporary_files_are_removed_by_the_next_write(
    two_versions, tmp_path, suffix
):
    """A writer killed mid-file leaves `.segments.csv.<its pid>.tmp` (and the link to
    `_previous` it was making); the next write-back, another process, removes them."""
    import sys

    model_dir, data = two_versions
    target = tmp_path / f"segments{suffix}"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)  # a process that has exited, as a killed writer has
    left = [
        tmp_path / f".segments{suffix}.{pid}.tmp",
        tmp_path / f".segments_previous{suffix}.{pid}.tmp",
    ]
    for path in left:
        path.write_text("customer_id,segment_id\nC1,")  # cut off mid-row
    service = service_for(model_dir, data, str(target))
    service.rollback("v2")
    assert service.write_back.wait().rows == 1900
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_running_writers_temporary_file_is_left_alone(two_versions, tmp_path):
    """Another process still writing the same file (an export, say) keeps its
    `.segments.csv.<its pid>.tmp`: only a writer that no longer runs left garbage."""
    import sys

    model_dir, data = two_versions
    target = tmp_path / "segments.csv"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        writing = tmp_path / f".segments.csv.{other.pid}.tmp"
        writing.write_text("customer_id,segment_id\nC1,")  # mid-write
        service = service_for(model_dir, data, str(target))
        service.rollback("v2")
        assert service.write_back.wait().rows == 1900
        assert writing.read_text() == "customer_id,segment_id\nC1,"
    finally:
        other.kill()
        other.wait()


# Holds the write-back lock as another segbot process would, switches the served
# version to the one named on stdin while still holding it, then lets go.
_SWITCH_UNDER_THE_LOCK = """
import sys
from pathlib import Path
from filelock import FileLock
from model.versions.registry import Registry
from model.versions.write_back import LOCK_FILE
root = Path(sys.argv[1])
with FileLock(str(root / LOCK_FILE)):
    print("locked", flush=True)
    Registry(root).set_served(sys.stdin.readline().strip())
print("switched", flush=True)
"""


def test_a_writer_that_waited_for_the_lock_writes_what_is_served_then(
    two_versions, tmp_path, monkeypatch
):
    """The writer reads "v1 served", then waits for the lock while another process
    switches to v2: it must write v2, or the CRM keeps v1 while the bot serves v2."""
    import sys

    model_dir, data = two_versions
    db = tmp_path / "crm.db"
    write_back = service_for(model_dir, data, f"sqlite:///{db}").write_back
    registry = write_back.registry
    first_look = threading.Event()
    served = registry.served

    def watched_served():
        first_look.set()
        return served()

    monkeypatch.setattr(registry, "served", watched_served)
    other = subprocess.Popen(
        [sys.executable, "-c", _SWITCH_UNDER_THE_LOCK, str(model_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert other.stdout is not None and other.stdout.readline() == "locked\n"
    results = []
    writer = threading.Thread(target=lambda: results.append(write_back.sync()))
    writer.start()
    assert first_look.wait(30)  # it has seen v1 served and is waiting for the lock
    out, err = other.communicate("v2\n", timeout=60)
    assert other.returncode == 0 and out == "switched\n", err
    writer.join(60)
    assert results[0].version == "v2" and results[0].rows == 1900, results
    assert sqlite_rows(db, "customer_segments") == stored_rows(model_dir, "v2")


def leftover_load(con, table: str) -> None:
    """What a writer killed while loading leaves: `<table>_new_<hex>`, part filled."""
    con.execute(
        f"CREATE TABLE {table}_new_0badf00d (customer_id TEXT, segment_id INTEGER, "
        "segment TEXT, version TEXT, distance REAL, runner_up TEXT)"
    )
    con.execute(f"INSERT INTO {table}_new_0badf00d VALUES ('C1', 0, 'x', 'v0', 0.5, NULL)")


def test_a_killed_writers_leftover_table_is_dropped_by_the_next_write(two_versions, tmp_path):
    model_dir, data = two_versions
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as con:
        leftover_load(con, "customer_segments")
        con.execute("CREATE TABLE customer_segments_newer (kept INTEGER)")  # not ours
    service = service_for(model_dir, data, f"sqlite:///{db}")
    service.rollback("v2")
    assert service.write_back.wait().ok
    assert sqlite_tables(db) == {"customer_segments", "customer_segments_newer"}


@pytest.mark.postgres
def test_a_killed_writers_leftover_postgres_table_is_dropped_by_the_next_write(
    two_versions, pg_table
):
    import psycopg

    url, table = pg_table
    model_dir, data = two_versions
    with psycopg.connect(pg_dsn(url), autocommit=True) as con:
        leftover_load(con, table)
    service = service_for(model_dir, data, url, table)
    service.rollback("v2")
    assert service.write_back.wait().ok
    assert pg_tables(url, table) == {table}


# ---- PostgreSQL ------------------------------------------------------------------------------
def pg_dsn(url: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def pg_table() -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL, a fresh table name); the table and its companions dropped after."""
    import psycopg

    url = pg_url_or_skip()
    table = f"cs_{secrets.token_hex(4)}"
    yield url, table
    with psycopg.connect(pg_dsn(url), autocommit=True) as con:
        for (name,) in con.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (f"{table}%",)
        ).fetchall():
            con.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')


def pg_rows(url: str, table: str) -> dict[str, Row]:
    import psycopg

    with psycopg.connect(pg_dsn(url)) as con:
        rows = con.execute(f"SELECT * FROM {table}").fetchall()
    return {r[0]: (r[1], r[2], r[3], round(r[4], 6), r[5]) for r in rows}


def pg_tables(url: str, prefix: str) -> set[str]:
    import psycopg

    with psycopg.connect(pg_dsn(url)) as con:
        found = con.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (f"{prefix}%",)
        ).fetchall()
    return {r[0] for r in found}


def waiting_swap(url: str, table: str, timeout: float = 60) -> None:
    """Wait until a write-back's rename of `table` waits for a lock, as PostgreSQL's
    own activity view shows it."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(pg_dsn(url), autocommit=True) as con:
        while not con.execute(
            "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            (f'ALTER TABLE IF EXISTS "{table}" RENAME%',),
        ).fetchone():
            assert time.monotonic() < deadline, "the swap never waited for the reader"
            time.sleep(0.05)


# ---- rows equal the bot's answers (real CLI) -------------------------------------------------
def ask_rows(ids: list[str], env: dict[str, str], cwd: Path) -> dict[str, Row]:
    """`segbot ask --json "/segment customer <id>"` for each id, run side by side."""
    procs = {
        cid: subprocess.Popen(
            [*segbot_command(), "ask", "--json", f"/segment customer {cid}"],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cid in ids
    }
    out = {}
    for cid, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        data = json.loads(stdout)["data"]
        runner = data["membership"]["runner_up"]
        out[cid] = (
            data["segment"]["id"],
            data["segment"]["name"],
            data["version"],
            data["membership"]["distance"],  # the answer shows 3 decimals
            runner["name"] if runner else None,
        )
    return out


def assert_rows_answer_like_ask(rows: dict[str, Row], env: dict[str, str], cwd: Path) -> None:
    sample = random.Random(5).sample(sorted(rows), 3)
    answers = ask_rows(sample, env, cwd)
    for cid in sample:
        seg_id, name, version, distance, runner = rows[cid]
        assert (seg_id, name, version, runner) == answers[cid][:3] + answers[cid][4:], cid
        assert round(distance, 3) == pytest.approx(answers[cid][3], abs=1e-9), cid


def test_sqlite_rollback_by_cli_writes_rows_equal_to_ask_answers(two_versions, tmp_path):
    model_dir, data = two_versions
    db = tmp_path / "crm.db"
    env = segbot_env(
        SEGBOT_MODEL_DIR=model_dir, SEGBOT_DATA=data, SEGBOT_WRITE_BACK=f"sqlite:///{db}"
    )
    done = run_segbot(["ask", "/segments rollback v2"], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert current(model_dir) == "v2"
    rows = sqlite_rows(db, "customer_segments")
    assert rows == stored_rows(model_dir, "v2")
    assert len(rows) == 1900
    assert_rows_answer_like_ask(rows, env, tmp_path)


# ---- swaps -----------------------------------------------------------------------------------
def test_sqlite_table_swaps_on_rollback_and_retrain(two_versions, tmp_path):
    model_dir, data = two_versions
    db = tmp_path / "crm.db"
    service = service_for(model_dir, data, f"sqlite:///{db}")
    service.rollback("v2")
    assert service.write_back.wait().ok
    assert sqlite_rows(db, "customer_segments") == stored_rows(model_dir, "v2")
    assert sqlite_tables(db) == {"customer_segments"}

    service.rollback("v1")
    assert service.write_back.wait().rows == 2000
    assert sqlite_rows(db, "customer_segments") == stored_rows(model_dir, "v1")
    assert sqlite_rows(db, "customer_segments_previous") == stored_rows(model_dir, "v2")

    result = service.retrain(force=True)  # the path scheduled retrains take
    assert result.served and result.version.version == "v3"
    assert service.write_back.wait().version == "v3"
    assert sqlite_rows(db, "customer_segments") == stored_rows(model_dir, "v3")
    assert sqlite_rows(db, "customer_segments_previous") == stored_rows(model_dir, "v1")
    assert sqlite_tables(db) == {"customer_segments", "customer_segments_previous"}


def test_a_view_on_the_sqlite_table_follows_the_swap(two_versions, tmp_path):
    """SQLite would rewrite a view to follow a renamed table; the swap must not."""
    model_dir, data = two_versions
    db = tmp_path / "crm.db"
    service = service_for(model_dir, data, f"sqlite:///{db}")
    service.rollback("v2")
    service.write_back.wait()
    with sqlite3.connect(db) as con:
        con.execute("CREATE VIEW seg_counts AS SELECT version, count(*) FROM customer_segments")
    service.rollback("v1")
    service.write_back.wait()
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT * FROM seg_counts").fetchall() == [("v1", 2000)]


def test_sqlite_reader_in_a_transaction_sees_one_table_whole(two_versions, tmp_path, monkeypatch):
    model_dir, data = two_versions
    db = tmp_path / "crm.db"
    service = service_for(model_dir, data, f"sqlite:///{db}")
    service.rollback("v2")
    service.write_back.wait()

    def look(con) -> tuple[int, int, str]:
        return con.execute(
            "SELECT count(*), count(DISTINCT version), min(version) FROM customer_segments"
        ).fetchone()

    reader = sqlite3.connect(db, isolation_level=None, timeout=30)
    reader.execute("BEGIN")
    assert look(reader) == (1900, 1, "v2")
    committing = threading.Event()
    watch_statements(monkeypatch, lambda sql, done: sql == "COMMIT" and committing.set())
    service.rollback("v1")  # the write-back runs in the background meanwhile
    # The new rows are loaded and about to be committed, which waits for the reader.
    assert committing.wait(30)
    assert look(reader) == (1900, 1, "v2")  # inside its transaction: the old table, whole
    assert service.write_back.last.version == "v2"  # nothing swapped yet
    reader.execute("COMMIT")
    assert service.write_back.wait().ok
    assert look(reader) == (2000, 1, "v1")
    reader.close()


@pytest.mark.postgres
def test_postgres_table_swaps_on_rollback_and_retrain(two_versions, pg_table):
    url, table = pg_table
    model_dir, data = two_versions
    service = service_for(model_dir, data, url, table)
    service.rollback("v2")
    assert service.write_back.wait().rows == 1900
    assert pg_rows(url, table) == stored_rows(model_dir, "v2")
    assert pg_tables(url, table) == {table}

    service.rollback("v1")
    assert service.write_back.wait().ok
    assert pg_rows(url, table) == stored_rows(model_dir, "v1")
    assert pg_rows(url, f"{table}_previous") == stored_rows(model_dir, "v2")

    service.retrain(force=True)
    assert service.write_back.wait().version == "v3"
    assert pg_rows(url, table) == stored_rows(model_dir, "v3")
    assert pg_rows(url, f"{table}_previous") == stored_rows(model_dir, "v1")
    assert pg_tables(url, table) == {table, f"{table}_previous"}


@pytest.mark.postgres
def test_postgres_readers_see_the_old_or_the_new_table_whole(two_versions, pg_table):
    """Readers in REPEATABLE READ, in a loop, while the table is swapped back and forth;
    and one that holds its transaction open across a swap."""
    import psycopg

    url, table = pg_table
    model_dir, data = two_versions
    service = service_for(model_dir, data, url, table)
    service.rollback("v2")
    service.write_back.wait()
    query = f"SELECT count(*), count(DISTINCT version), min(version) FROM {table}"
    whole = {(1900, 1, "v2"), (2000, 1, "v1")}

    seen: list[tuple] = []

    def read_in_a_loop(stop: threading.Event) -> None:
        with psycopg.connect(pg_dsn(url)) as con:
            while not stop.is_set():
                try:
                    with con.transaction():
                        con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                        first = con.execute(query).fetchone()
                        second = con.execute(query).fetchone()
                except psycopg.Error as exc:  # e.g. no such table, mid-swap
                    first = second = (type(exc).__name__,)
                seen.append((first, second))

    swap_back_and_forth(service, read_in_a_loop)
    assert len(seen) > 10
    for first, second in seen:
        assert first == second and first in whole, (first, second)
    assert {first for first, _ in seen} == whole  # both tables were seen

    # A transaction open across a swap keeps the old table; the swap waits for it.
    with psycopg.connect(pg_dsn(url)) as con:
        with con.transaction():
            con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            assert con.execute(query).fetchone() == (2000, 1, "v1")
            service.rollback("v2")
            waiting_swap(url, table)  # the swap's rename is queued behind this transaction
            assert con.execute(query).fetchone() == (2000, 1, "v1")
            assert service.write_back.last.version == "v1"  # not swapped yet
        assert service.write_back.wait().version == "v2"
        assert con.execute(query).fetchone() == (1900, 1, "v2")

    # A transaction whose snapshot predates the swap and first reads the table after it:
    # the new table, whole (a new table's rows would be invisible to it without FREEZE).
    with psycopg.connect(pg_dsn(url)) as con, con.transaction():
        con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        con.execute("SELECT 1")  # the snapshot is taken here
        service.rollback("v1")
        assert service.write_back.wait().version == "v1"
        assert con.execute(query).fetchone() == (2000, 1, "v1")


# ---- failures --------------------------------------------------------------------------------
def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def test_unreachable_database_leaves_serving_alone_and_says_so_in_one_line(served_copy, tmp_path):
    model_dir, data = served_copy
    url = f"postgresql://segbot:pw-VERY-SECRET@127.0.0.1:{closed_port()}/crm"
    env = segbot_env(SEGBOT_MODEL_DIR=model_dir, SEGBOT_DATA=data, SEGBOT_WRITE_BACK=url)
    done = run_segbot(["train"], env=env, cwd=tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr
    assert current(model_dir) == "v2"  # the retrain stands, served
    failures = [line for line in done.stderr.splitlines() if "write-back" in line]
    assert len(failures) == 1, done.stderr
    line = failures[0]
    assert "write-back of v2 to customer_segments in postgresql://segbot:***@127.0.0.1" in line
    assert "failed" in line and "still serving v2, CURRENT unchanged" in line
    assert "pw-VERY-SECRET" not in done.stdout + done.stderr
    ask = run_segbot(["ask", "/segments history"], env=env, cwd=tmp_path)
    assert ask.returncode == 0 and "pw-VERY-SECRET" not in ask.stdout + ask.stderr
    assert current(model_dir) == "v2"


def test_a_failed_write_back_is_retried_at_the_next_switch(two_versions, tmp_path):
    import pyarrow.parquet as pq

    model_dir, data = two_versions
    blocker = tmp_path / "out"
    blocker.write_text("a file where the folder should be")  # fails even for root
    target = blocker / "segments.parquet"
    service = service_for(model_dir, data, str(target))
    service.rollback("v2")
    failed = service.write_back.wait()
    assert not failed.ok and "out" in failed.error, failed
    assert "still serving v2, CURRENT unchanged" in failed.line
    assert current(model_dir) == "v2" and service.served_version == "v2"
    blocker.unlink()
    service.rollback("v1")
    assert service.write_back.wait().rows == 2000
    rows = pq.read_table(target).to_pylist()
    assert {r["customer_id"]: r["version"] for r in rows} == {
        cid: "v1" for cid in stored_rows(model_dir, "v1")
    }


def test_someone_elses_table_under_the_name_is_left_alone(two_versions, tmp_path):
    model_dir, data = two_versions
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE customer_segments (id INTEGER, label TEXT)")
        con.execute("INSERT INTO customer_segments VALUES (1, 'mine')")
    service = service_for(model_dir, data, f"sqlite:///{db}")
    service.rollback("v2")
    result = service.write_back.wait()
    assert not result.ok and "was not written by segbot" in result.error
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT * FROM customer_segments").fetchall() == [(1, "mine")]
    assert sqlite_tables(db) == {"customer_segments"}


@pytest.mark.parametrize(
    ("target", "table", "expected"),
    [
        ("mysql://u:hunter2@db/crm", "customer_segments", "SQLite and PostgreSQL URLs"),
        ("segments.xlsx", "customer_segments", "or a path ending in .csv or .parquet"),
        ("sqlite:///crm.db", "Customer-Segments", "SEGBOT_WRITE_BACK_TABLE='Customer-Segments'"),
    ],
)
def test_unusable_settings_are_one_line(served_copy, target, table, expected):
    model_dir, data = served_copy
    with pytest.raises(WriteBackError) as caught:
        service_for(model_dir, data, target, table)
    message = str(caught.value)
    assert expected in message and "\n" not in message and "hunter2" not in message


def test_a_one_shot_question_does_not_write_back(served_copy, tmp_path):
    """Only a switch (or `serve`/`train` starting) writes; a lookup never does."""
    model_dir, data = served_copy
    target = tmp_path / "segments.csv"
    service = service_for(model_dir, data, str(target))
    service.lookup(next(iter(stored_rows(model_dir, "v1"))))
    assert service.write_back.wait() is None and not target.exists()
    service.write_back.eager = True  # as `serve` sets it
    service.refresh()  # nothing switched: still nothing
    assert not target.exists()
    fresh = service_for(model_dir, data, str(target))
    fresh.write_back.eager = True
    fresh.lookup(next(iter(stored_rows(model_dir, "v1"))))
    assert fresh.write_back.wait().rows == 2000  # behind at start: caught up


# ---- files -----------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_file_write_back_swaps_and_keeps_the_previous_file(two_versions, tmp_path, suffix):
    import pandas as pd

    model_dir, data = two_versions
    target = tmp_path / f"segments{suffix}"
    previous = tmp_path / f"segments_previous{suffix}"
    service = service_for(model_dir, data, str(target))

    def read(path: Path) -> dict[str, Row]:
        frame = (
            pd.read_csv(path, dtype={"customer_id": str}, keep_default_na=False)
            if suffix == ".csv"
            else pd.read_parquet(path)
        )
        return {
            r.customer_id: (
                r.segment_id,
                r.segment,
                r.version,
                round(r.distance, 6),
                r.runner_up or None,
            )
            for r in frame.itertuples()
        }

    service.rollback("v2")
    assert service.write_back.wait().rows == 1900
    assert read(target) == stored_rows(model_dir, "v2") and not previous.exists()
    service.rollback("v1")
    service.write_back.wait()
    assert read(target) == stored_rows(model_dir, "v1")
    assert read(previous) == stored_rows(model_dir, "v2")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    # already up to date: nothing rewritten
    mtime = target.stat().st_mtime_ns
    assert service.write_back.sync().up_to_date and target.stat().st_mtime_ns == mtime


# ---- kill -9 during a write-back -------------------------------------------------------------
def kill_during_write_back(
    env: dict[str, str], cwd: Path, delay: float | None = None
) -> float | None:
    """Run `segbot -v train`; once its write-back starts, kill -9 it after `delay`
    seconds (None: let it finish). Returns how long its write-back took when it finished."""
    proc = subprocess.Popen(
        [*segbot_command(), "-v", "train"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    started = False
    for line in proc.stderr:
        if "write-back: loading" in line:
            started = True
            break
    assert started, "the write-back never started"
    if delay is not None:
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=240)
    took = re.search(r"write-back took ([0-9.]+) s", stderr)
    return float(took.group(1)) if took else None


class Tables:
    """What the tables hold after each kill: every table there whole (one version, equal
    to its stored arrays), and a table that existed once never missing again: the swap
    replaces it in one transaction."""

    def __init__(self, model_dir: Path, read):
        self.model_dir, self.read = model_dir, read
        self.existed = [False, False]

    def versions(self) -> list[str | None]:
        """The version each of (table, `_previous`) holds whole, None while not created."""
        tables = self.read()
        out: list[str | None] = []
        for i, rows in enumerate(tables):
            if rows is None:
                assert not self.existed[i], f"{('the table', '_previous')[i]} went missing"
                out.append(None)
                continue
            self.existed[i] = True
            versions = {r[2] for r in rows.values()}
            assert len(versions) == 1, versions
            version = versions.pop()
            assert rows == stored_rows(self.model_dir, version)
            out.append(version)
        return out


def kill_trials(model_dir: Path, data: Path, target: str, trials: int, read, **extra: str) -> int:
    """`trials` kills of `segbot train` during its write-back (the first as soon as it
    starts, then at random moments), each followed by a look at the tables; then an
    undisturbed run writes the served version whole and leaves no `_new_` table.
    Returns how many kills landed inside the write (the table still held the version
    before: the train had switched CURRENT, its rows never arrived)."""
    env = segbot_env(
        SEGBOT_MODEL_DIR=model_dir,
        SEGBOT_DATA=data,
        SEGBOT_WRITE_BACK=target,
        SEGBOT_K="4",
        **extra,
    )
    # An undisturbed run first: how long a write-back takes here, to aim the kills.
    took = kill_during_write_back(env, model_dir.parent)
    assert took is not None
    tables = Tables(model_dir, lambda: read()[:2])
    assert tables.versions()[0] == current(model_dir)
    rng = random.Random(12)
    interrupted = 0
    for trial in range(trials):
        # Every other kill early in the write (the load), the rest anywhere up to a little
        # past its end (the swap, and just after it).
        delay = 0.0 if trial == 0 else rng.uniform(0, took * (0.2 if trial % 2 else 1.2))
        kill_during_write_back(env, model_dir.parent, delay)
        interrupted += tables.versions()[0] != current(model_dir)
    done = run_segbot(["train"], env=env, cwd=model_dir.parent, timeout=240)
    assert done.returncode == 0, done.stderr
    assert tables.versions()[0] == current(model_dir)
    assert read()[2] == set()  # no killed load left behind
    return interrupted


def sqlite_reader(db: Path):
    """(table rows, `_previous` rows, `_new_` tables) of the SQLite file."""

    def read():
        tables = sqlite_tables(db) if db.exists() else set()
        leftovers = {t for t in tables if "_new_" in t}
        assert len(leftovers) <= 1, tables  # one killed load at most; the next removes it
        rows = tuple(
            sqlite_rows(db, t) if t in tables else None
            for t in ("customer_segments", "customer_segments_previous")
        )
        return (*rows, leftovers)

    return read


def pg_reader(url: str, table: str):
    def read():
        tables = pg_tables(url, table)
        rows = tuple(pg_rows(url, t) if t in tables else None for t in (table, f"{table}_previous"))
        return (*rows, {t for t in tables if t.startswith(f"{table}_new_")})

    return read


def test_kill_9_during_sqlite_write_back_never_leaves_a_partial_table(served_copy, tmp_path):
    model_dir, data = served_copy
    db = tmp_path / "crm.db"
    assert kill_trials(model_dir, data, f"sqlite:///{db}", 2, sqlite_reader(db)) >= 1


@pytest.mark.postgres
def test_kill_9_during_postgres_write_back_never_leaves_a_partial_table(served_copy, pg_table):
    url, table = pg_table
    model_dir, data = served_copy
    read = pg_reader(url, table)
    assert kill_trials(model_dir, data, url, 2, read, SEGBOT_WRITE_BACK_TABLE=table) >= 1


@pytest.mark.slow
def test_kill_9_during_write_back_many_times(served_copy, tmp_path):
    model_dir, data = served_copy
    db = tmp_path / "crm.db"
    interrupted = kill_trials(model_dir, data, f"sqlite:///{db}", LONG_KILLS, sqlite_reader(db))
    assert interrupted >= LONG_KILLS // 3, interrupted  # many kills landed inside the write


@pytest.mark.slow
@pytest.mark.postgres
def test_kill_9_during_postgres_write_back_many_times(served_copy, pg_table):
    url, table = pg_table
    model_dir, data = served_copy
    read = pg_reader(url, table)
    interrupted = kill_trials(model_dir, data, url, LONG_KILLS, read, SEGBOT_WRITE_BACK_TABLE=table)
    assert interrupted >= LONG_KILLS // 3, interrupted


# ---- PostgreSQL through the real CLI ---------------------------------------------------------
@pytest.mark.postgres
def test_postgres_train_by_cli_writes_rows_equal_to_ask_answers(served_copy, pg_table, tmp_path):
    url, table = pg_table
    model_dir, data = served_copy
    env = segbot_env(
        SEGBOT_MODEL_DIR=model_dir,
        SEGBOT_DATA=data,
        SEGBOT_WRITE_BACK=url,
        SEGBOT_WRITE_BACK_TABLE=table,
    )
    done = run_segbot(["train"], env=env, cwd=tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr
    assert f"wrote 2,000 rows of v2 to {table} in postgresql" in done.stdout
    rows = pg_rows(url, table)
    assert rows == stored_rows(model_dir, "v2")
    assert_rows_answer_like_ask(rows, env, tmp_path)


@pytest.mark.postgres
def test_postgres_swap_keeps_the_tables_grants(two_versions, pg_table):
    import psycopg

    url, table = pg_table
    model_dir, data = two_versions
    role = f"reader_{secrets.token_hex(3)}"
    service = service_for(model_dir, data, url, table)
    service.rollback("v2")
    service.write_back.wait()
    with psycopg.connect(pg_dsn(url), autocommit=True) as con:
        con.execute(f"CREATE ROLE {role}")
        try:
            con.execute(f"GRANT SELECT ON {table} TO {role}")
            service.rollback("v1")
            assert service.write_back.wait().ok
            check = "SELECT has_table_privilege(%s, %s, 'SELECT')"
            assert con.execute(check, (role, table)).fetchone() == (True,)
        finally:
            con.execute(f"DROP OWNED BY {role}")
            con.execute(f"DROP ROLE {role}")


def test_a_failed_write_back_is_announced_and_a_success_is_not():
    from bot.announce import Announcer
    from model.versions.write_back import WriteBackResult

    posted = []
    announcer = Announcer(posted.append)
    assert announcer.write_back(WriteBackResult("v3", "segments.csv", rows=10)) is None
    failed = WriteBackResult(
        "v3", "customer_segments in postgresql://u:***@db/crm", error="connection refused"
    )
    reply = announcer.write_back(failed)
    assert posted == [reply] and not reply.ok
    assert reply.text == (
        ":warning: Write-back failed: write-back of v3 to customer_segments in "
        "postgresql://u:***@db/crm failed: connection refused; still serving v3, CURRENT "
        "unchanged; retrying at the next switch."
    )


def test_serve_start_catches_up_a_target_left_behind(served_copy, tmp_path):
    """v1 is served but the table was never written (write-back was off, or failed):
    `segbot serve` writes it at start, without any switch."""
    model_dir, data = served_copy
    db = tmp_path / "crm.db"
    env = segbot_env(
        SEGBOT_MODEL_DIR=model_dir, SEGBOT_DATA=data, SEGBOT_WRITE_BACK=f"sqlite:///{db}"
    )
    done = run_segbot(["serve", "--shell"], env=env, cwd=tmp_path, stdin="exit\n")
    assert done.returncode == 0, done.stderr
    assert "wrote 2,000 rows of v1 to customer_segments" in done.stderr  # the log
    assert sqlite_rows(db, "customer_segments") == stored_rows(model_dir, "v1")
    again = run_segbot(["serve", "--shell"], env=env, cwd=tmp_path, stdin="exit\n")
    assert "customer_segments in sqlite" in again.stderr and "already holds v1" in again.stderr
    assert sqlite_tables(db) == {"customer_segments"}  # not rewritten: no _previous


@pytest.mark.postgres
def test_postgres_without_rights_fails_in_one_line_and_serving_goes_on(two_versions, pg_table):
    """A role that may read but not create tables: the write-back fails, says why,
    and the served version and CURRENT are what the rollback made them."""
    import psycopg
    import sqlalchemy as sa

    url, table = pg_table
    model_dir, data = two_versions
    role, schema = f"norights_{secrets.token_hex(3)}", f"ro_{secrets.token_hex(3)}"
    with psycopg.connect(pg_dsn(url), autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
        con.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw-of-{role}'")
        con.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        con.execute(f"ALTER ROLE {role} SET search_path = {schema}")
    try:
        limited = sa.make_url(url).set(username=role, password=f"pw-of-{role}")
        target = limited.render_as_string(hide_password=False)
        service = service_for(model_dir, data, target, table)
        service.rollback("v2")
        result = service.write_back.wait()
        assert not result.ok and "permission denied" in result.error, result
        assert f"pw-of-{role}" not in result.line and "\n" not in result.line
        assert current(model_dir) == "v2" and service.lookup("C00000150").version == "v2"
    finally:
        with psycopg.connect(pg_dsn(url), autocommit=True) as con:
            con.execute(f"DROP SCHEMA {schema} CASCADE")
            con.execute(f"DROP ROLE {role}")


def test_two_processes_seeing_one_switch_write_it_once(two_versions, tmp_path):
    """`serve` picks up a rollback made by another process while that one writes back:
    the file lock lets one write; the other finds the table up to date, so
    `_previous` still holds the version before the switch."""
    model_dir, data = two_versions
    db = tmp_path / "crm.db"
    one = service_for(model_dir, data, f"sqlite:///{db}")
    other = service_for(model_dir, data, f"sqlite:///{db}")
    other.write_back.eager = True
    assert other.served_version == "v1" and other.write_back.wait().rows == 2000
    one.rollback("v2")
    other.refresh()  # the watch in `serve`
    results = [one.write_back.wait(), other.write_back.wait()]
    assert sorted((r.rows or 0, r.up_to_date) for r in results) == [(0, True), (1900, False)]
    assert sqlite_rows(db, "customer_segments") == stored_rows(model_dir, "v2")
    assert sqlite_rows(db, "customer_segments_previous") == stored_rows(model_dir, "v1")
