"""Write-back: the served version's assignments, pushed to where the team works.

SEGBOT_WRITE_BACK names the target: a SQLAlchemy URL (SQLite or PostgreSQL; the
table is SEGBOT_WRITE_BACK_TABLE) or a .csv/.parquet path. The rows and columns
are `model.versions.export`'s.

After each switch of the served version the service calls `WriteBack.schedule`;
the rows are written in a background thread (not a daemon: a one-shot command
finishes its write-back before exiting), one writer at a time across processes
(a file lock in the model directory). What is written is whatever CURRENT names
when the lock is taken, so a late writer never puts back an older version.

"Behind" is read from the target itself, not from a marker of ours: the
`version` column of the table's first row (or the Parquet file's metadata, the
CSV's first row). Anything other than the served version's name is behind, so
a failed write-back is retried at the next switch or start, and a restored or
dropped table is rewritten.

Readers never see a half-written table. Databases: rows go into a new table
`<table>_new_<hex>` (SQLite: executemany in chunks in one transaction;
PostgreSQL: COPY FREEZE), then one transaction drops `<table>_previous`, renames
`<table>` to `<table>_previous` and the new table to `<table>`. Files: a
temporary file renamed in; the old file is first hard-linked to
`<name>_previous.<ext>`. A process killed at any point leaves at most a
`<table>_new_<hex>` table (or a hidden temporary file), which the next write-back
removes.

A failure (database down, no rights) is logged with the URL's password masked,
handed to the listeners (the bot announces it), and changes nothing served.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from model.errors import SegbotError
from model.versions.export import (
    COLUMNS,
    FORMATS,
    assignment_batches,
    dead_writers_temp_files,
    file_version,
    temp_path,
    write_batches,
)
from model.versions.registry import Registry
from model.versions.version import LoadedVersion

log = logging.getLogger(__name__)

TABLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
LOCK_FILE = ".write-back.lock"
LOCK_WAIT = 30 * 60  # seconds to wait for another process's write-back
SQLITE_CHUNK = 50_000  # rows per executemany: Python tuples, so smaller than Arrow's batches
SWAP_LOCK_TIMEOUT = "5s"  # PostgreSQL: a reader's open transaction blocks the rename...
SWAP_TRIES = 12  # ...so wait a little, let queued readers through, and try again
CONNECT_TIMEOUT = 10  # seconds


class WriteBackError(SegbotError):
    """The write-back target cannot be used as configured."""


@dataclass(frozen=True)
class WriteBackResult:
    version: str | None  # the served version written (or found already there)
    target: str  # where, password masked
    rows: int | None = None  # rows written; None when nothing was written
    up_to_date: bool = False  # the target already held this version
    error: str | None = None  # one line, password masked

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def line(self) -> str:
        if self.error is not None:
            served = f"still serving {self.version}" if self.version else "serving is unchanged"
            return (
                f"write-back of {self.version or 'the served version'} to {self.target} "
                f"failed: {self.error}; {served}, CURRENT unchanged; retrying at the next switch"
            )
        if self.up_to_date:
            return f"{self.target} already holds {self.version}"
        return f"wrote {self.rows:,} rows of {self.version} to {self.target}"


# ---- targets ---------------------------------------------------------------------------------
def _mask(url: str) -> str:
    from model.data.load import mask_url

    return mask_url(url)


class FileTarget:
    def __init__(self, path: Path):
        self.path = path

    def describe(self) -> str:
        return str(self.path)

    @property
    def previous(self) -> Path:
        return self.path.with_name(f"{self.path.stem}_previous{self.path.suffix}")

    def written_version(self) -> str | None:
        try:
            return file_version(self.path)
        except Exception:  # unreadable: behind, and the write says what is wrong
            return None

    def write(self, v: LoadedVersion) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Ours from before, and what writers killed mid-write left (named by their pid).
        stale = [temp_path(self.path), *dead_writers_temp_files(self.path)]
        for leftover in [*stale, *dead_writers_temp_files(self.previous)]:
            leftover.unlink(missing_ok=True)
        if self.path.is_file():
            # Keep the old file as <name>_previous first; the real name never disappears.
            link = temp_path(self.previous)
            link.unlink(missing_ok=True)
            try:
                os.link(self.path, link)
            except OSError:  # a file system without hard links
                import shutil

                shutil.copy2(self.path, link)
            os.replace(link, self.previous)
        return write_batches(assignment_batches(v), self.path, v.name)


class SqlTarget:
    """A table in SQLite or PostgreSQL, swapped in by renames in one transaction."""

    def __init__(self, url: str, table: str):
        import sqlalchemy as sa

        self.masked = _mask(url)
        try:
            self.url = sa.make_url(url)
        except sa.exc.ArgumentError:
            raise WriteBackError(
                f"SEGBOT_WRITE_BACK={self.masked} is not a database URL or a .csv/.parquet path"
            ) from None
        self.backend = self.url.get_backend_name()
        if self.backend not in ("sqlite", "postgresql"):
            raise WriteBackError(
                f"SEGBOT_WRITE_BACK={self.masked}: write-back supports SQLite and PostgreSQL "
                f"URLs (or a .csv/.parquet path), not {self.backend}"
            )
        self.table = table
        self.previous = f"{table}_previous"

    def describe(self) -> str:
        return f"{self.table} in {self.masked}"

    def clean(self, message: str) -> str:
        secret = self.url.password
        return message.replace(str(secret), "***") if secret else message

    # ---- connections (DB-API, autocommit; transactions are explicit) ----------------------
    def connect(self) -> Any:
        if self.backend == "sqlite":
            import sqlite3

            database = self.url.database or ":memory:"
            con = sqlite3.connect(database, timeout=30, isolation_level=None)
            # Rename only the table: views and triggers keep naming `<table>`, the swap's point.
            con.execute("PRAGMA legacy_alter_table = ON")
            return con
        import psycopg

        dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT)

    def _tables(self, con: Any, like: str) -> list[str]:
        if self.backend == "sqlite":
            rows = con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ? ESCAPE '\\'",
                (like,),
            ).fetchall()
        else:
            rows = con.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename LIKE %s",
                (like,),
            ).fetchall()
        return [r[0] for r in rows]

    def _columns(self, con: Any, table: str) -> list[str]:
        if self.backend == "sqlite":
            return [r[1] for r in con.execute(f'PRAGMA table_info("{table}")').fetchall()]
        rows = con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()
        return [r[0] for r in rows]

    def written_version(self, con: Any = None) -> str | None:
        own = con is None
        con = con or self.connect()
        try:
            columns = self._columns(con, self.table)
            if not columns:
                return None
            if set(columns) != set(COLUMNS):
                raise WriteBackError(
                    f"table {self.table} exists but was not written by segbot (columns: "
                    f"{', '.join(columns)}); drop it or set SEGBOT_WRITE_BACK_TABLE to another name"
                )
            row = con.execute(f'SELECT version FROM "{self.table}" LIMIT 1').fetchone()
            return row[0] if row else None
        finally:
            if own:
                con.close()

    # ---- the write -------------------------------------------------------------------------
    def write(self, v: LoadedVersion) -> int:
        con = self.connect()
        try:
            self.written_version(con)  # refuses a table of someone else's under our name
            # Tables a killed writer left behind (only one writer runs: the file lock).
            escaped = self.table.replace("_", "\\_")
            for stale in self._tables(con, f"{escaped}\\_new\\_%"):
                con.execute(f'DROP TABLE IF EXISTS "{stale}"')
            new = f"{self.table}_new_{secrets.token_hex(4)}"
            log.info("write-back: loading %s into %s", v.name, new)
            if self.backend == "sqlite":
                rows = self._load_sqlite(con, new, v)
                self._swap_sqlite(con, new)
            else:
                rows = self._load_postgres(con, new, v)
                self._swap_postgres(con, new)
            return rows
        finally:
            con.close()

    def _load_sqlite(self, con: Any, new: str, v: LoadedVersion) -> int:
        rows = 0
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(
                f'CREATE TABLE "{new}" (customer_id TEXT PRIMARY KEY, segment_id INTEGER NOT NULL, '
                "segment TEXT NOT NULL, version TEXT NOT NULL, distance REAL NOT NULL, "
                "runner_up TEXT)"
            )
            insert = f'INSERT INTO "{new}" ({", ".join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)'
            for batch in assignment_batches(v, SQLITE_CHUNK):
                columns = [column.to_pylist() for column in batch.columns]
                con.executemany(insert, zip(*columns, strict=True))
                rows += batch.num_rows
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return rows

    def _swap_sqlite(self, con: Any, new: str) -> None:
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(f'DROP TABLE IF EXISTS "{self.previous}"')
            if self._columns(con, self.table):
                con.execute(f'ALTER TABLE "{self.table}" RENAME TO "{self.previous}"')
            con.execute(f'ALTER TABLE "{new}" RENAME TO "{self.table}"')
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _load_postgres(self, con: Any, new: str, v: LoadedVersion) -> int:
        import io

        import pyarrow as pa
        import pyarrow.csv as pacsv

        options = pacsv.WriteOptions(include_header=False)  # nulls: empty, unquoted = NULL
        rows = 0
        with con.transaction():
            con.execute(
                f'CREATE TABLE "{new}" (customer_id text NOT NULL, segment_id integer NOT NULL, '
                "segment text NOT NULL, version text NOT NULL, distance double precision NOT NULL, "
                "runner_up text)"
            )
            with con.cursor() as cur:
                # FREEZE (allowed: the table was created in this transaction): the rows are
                # visible to every snapshot, so a REPEATABLE READ transaction that began before
                # the swap and reads the table after it sees the new rows, not an empty table.
                columns = ", ".join(COLUMNS)
                sql = f'COPY "{new}" ({columns}) FROM STDIN WITH (FORMAT csv, FREEZE)'
                with cur.copy(sql) as copy:
                    for batch in assignment_batches(v):
                        buf = io.BytesIO()
                        pacsv.write_csv(pa.Table.from_batches([batch]), buf, options)
                        copy.write(buf.getbuffer())
                        rows += batch.num_rows
            con.execute(f'ALTER TABLE "{new}" ADD PRIMARY KEY (customer_id)')
            self._copy_grants(con, new)
        con.execute(f'ANALYZE "{new}"')
        return rows

    def _copy_grants(self, con: Any, new: str) -> None:
        """The new table gets the old one's grants, so readers keep reading it."""
        from psycopg import sql

        grants = con.execute(
            "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
            "WHERE table_schema = current_schema() AND table_name = %s AND grantee <> current_user",
            (self.table,),
        ).fetchall()
        for grantee, privilege in grants:
            who = sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee)
            con.execute(
                sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(privilege), sql.Identifier(new), who)
            )

    def _swap_postgres(self, con: Any, new: str) -> None:
        import psycopg

        for attempt in range(1, SWAP_TRIES + 1):
            try:
                with con.transaction():
                    con.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
                    con.execute(f'DROP TABLE IF EXISTS "{self.previous}"')
                    con.execute(f'ALTER TABLE IF EXISTS "{self.table}" RENAME TO "{self.previous}"')
                    con.execute(f'ALTER TABLE "{new}" RENAME TO "{self.table}"')
                return
            except psycopg.errors.LockNotAvailable:
                if attempt == SWAP_TRIES:
                    raise
                log.info("write-back: %s is busy (a reader's transaction); retrying", self.table)
                time.sleep(1.0)


def target_for(settings: Any) -> FileTarget | SqlTarget | None:
    """The configured target, or None when write-back is off; a one-line
    WriteBackError for a setting that cannot work."""
    text = (settings.write_back or "").strip()
    if not text:
        return None
    table = (settings.write_back_table or "").strip()
    if not TABLE_RE.match(table):
        raise WriteBackError(
            f"SEGBOT_WRITE_BACK_TABLE={table!r}: use lower-case letters, digits and _ "
            "(at most 40 characters, not starting with a digit)"
        )
    if "://" in text:
        return SqlTarget(text, table)
    path = Path(text).expanduser()
    if path.suffix.lower() not in FORMATS:
        raise WriteBackError(
            f"SEGBOT_WRITE_BACK={text}: give a SQLAlchemy URL (sqlite:///..., postgresql://...) "
            "or a path ending in .csv or .parquet"
        )
    return FileTarget(path)


# ---- when and how ----------------------------------------------------------------------------
class WriteBack:
    """Keeps the target in step with the served version, off the request path."""

    def __init__(self, target: FileTarget | SqlTarget, registry: Registry):
        self.target = target
        self.registry = registry
        # Also write at this process's first load of a version when the target is behind:
        # set by `serve` (start) and `train`; one-shot questions leave it off.
        self.eager = False
        self.last: WriteBackResult | None = None
        self._listeners: list[Callable[[WriteBackResult], None]] = []
        self._lock = threading.Lock()
        self._pending = False
        self._thread: threading.Thread | None = None

    @classmethod
    def for_settings(cls, settings: Any, registry: Registry) -> WriteBack | None:
        target = target_for(settings)
        return None if target is None else cls(target, registry)

    def on_result(self, listener: Callable[[WriteBackResult], None]) -> None:
        self._listeners.append(listener)

    def schedule(self, version: str | None = None) -> None:
        """Bring the target up to date in the background. `version` is only the reason:
        what is written is whatever is served when the write starts."""
        with self._lock:
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="segbot-write-back", daemon=False
                )
                self._thread.start()

    def wait(self, timeout: float | None = None) -> WriteBackResult | None:
        """The last result once no write-back is running or pending."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.last

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
                self._pending = False
            result = self.sync()
            for listener in self._listeners:
                try:
                    listener(result)
                except Exception:
                    log.exception("a write-back listener failed")

    def sync(self) -> WriteBackResult:
        """Write the served version now unless the target already holds it. Never raises."""
        where = self.target.describe()
        served = self.registry.served()
        try:
            lock = FileLock(str(self.registry.root / LOCK_FILE))
            with lock.acquire(timeout=LOCK_WAIT):
                served = self.registry.served()
                if served is None:
                    result = WriteBackResult(None, where, up_to_date=True)
                elif self.target.written_version() == served:
                    result = WriteBackResult(served, where, up_to_date=True)
                else:
                    v = LoadedVersion.load(self.registry.path(served))
                    started = time.perf_counter()
                    rows = self.target.write(v)
                    log.debug("write-back took %.2f s", time.perf_counter() - started)
                    result = WriteBackResult(served, where, rows=rows)
        except Timeout:
            result = WriteBackResult(
                served, where, error="another segbot process has been writing back for too long"
            )
        except Exception as exc:
            result = WriteBackResult(served, where, error=self._message(exc))
        self.last = result
        if result.ok:
            log.info("%s", result.line)
        else:
            log.error("%s", result.line)
        return result

    def _message(self, exc: BaseException) -> str:
        from model.data.load import db_message

        message = str(exc) if isinstance(exc, SegbotError) else db_message(exc)
        message = " ".join(message.split()) or type(exc).__name__
        if isinstance(self.target, SqlTarget):
            message = self.target.clean(message)
        return message
