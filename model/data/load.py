"""Loading and validating customer data.

Sources (``settings.data``, docs/interface.md §5):

- ``None``: the bundled sample, ``model.data.sample.generate(5000, seed=42)``;
- a ``.csv`` file (also ``.tsv`` and compressed ``.csv.gz``/``.zip``/``.bz2``/``.xz``/
  ``.zst``; the separator of a plain ``.csv`` is sniffed from its header line, so
  ``;``-separated exports work too);
- a ``.parquet`` file (or a folder of Parquet files);
- a SQLAlchemy URL (``sqlite:///file.db``, ``postgresql://...``) with
  ``settings.data_query`` holding a table name (no whitespace: quoted by
  SQLAlchemy, ``schema.table`` allowed) or a SQL query; rows are streamed in
  chunks.

Rules, each broken rule a `DataError` whose message is one line naming the
column or rows and the problem (worded in `model.data.rules`, which the Spark
engine checks against too):

- the id column is read as text, never through float ("00042" stays "00042");
  whole numbers stored as numbers in Parquet or SQL become "42", not "42.0";
  missing or blank ids and duplicate ids are errors (a transaction log is
  checked once it is turned into one row per customer);
- ``SEGBOT_ID_COLUMN=@row`` (`ROW_IDS`): the data has no id column and the
  1-based row numbers, as text ("1", "2", ...), are the ids. "@row" always means
  this, even if a column has that name. Rows count in the order read: a file's
  order, or a SQL query's (which needs an ORDER BY to be the same every time).
  Not for a transaction log, whose rows are purchases, not customers;
- features are ``settings.features`` when given, in that order; otherwise every
  numeric column but the id and a saved pandas index (a Parquet
  ``__index_level_0__``, or a CSV's first column with a blank header, which
  pandas calls "Unnamed: 0"). Text columns are skipped unless listed; a listed
  text column becomes categorical (at most `rules.MAX_CATEGORIES` distinct values),
  its values trimmed (" Male" and "Male" are one value in training, the stored
  pipeline and predictions);
- a column that is mostly numbers but has some text is "text in a numeric
  column", an error naming the column, how many rows, and the first few;
- blank strings count as missing; missing feature values are fine (the model
  imputes them) but a feature with no value at all is an error when listed and
  skipped (with a note) otherwise;
- infinite numbers (``inf`` in a CSV, a division by zero upstream) are treated
  as missing, with a note in `Dataset.notes` and a logged warning;
- at least 2 rows, and at least as many as a fixed ``--k``/``SEGBOT_K``.

Rows named in messages are counted from 1, the header not counted ("row 1" is
the first data row); for CSV files they are given as the line in the file
("line 2" is the first data row), which is also the row a spreadsheet shows.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from model.config import Settings
from model.data import rules
from model.data.ids import ROW_IDS, id_strings
from model.data.messages import SHOW, at_rows, did_you_mean, name_list, one_line, quote
from model.data.rules import PANDAS_INDEX
from model.errors import DataError
from model.training.coded import as_codes
from model.training.feature_spread import reason_to_leave_out

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

SAMPLE_ROWS = 5000
SAMPLE_SEED = 42
SAMPLE_SOURCE = f"bundled sample ({SAMPLE_ROWS:,} synthetic customers, seed {SAMPLE_SEED})"
SQL_CHUNK_ROWS = 100_000
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_COMPRESSION = (".gz", ".bz2", ".zip", ".xz", ".zst")
PARQUET_SUFFIXES = (".parquet", ".pq")
URL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


@dataclass
class Dataset:
    """Validated customers: ids, the feature columns, and where they came from."""

    id_array: pa.Array  # the ids as Arrow strings (one chunk), exactly as in the data
    frame: pd.DataFrame  # feature columns only, RangeIndex; numeric float64, categorical object
    numeric: list[str]
    categorical: list[str]
    source: str  # human description; database passwords masked
    digest: str  # sha256 of ids + features: unchanged data, same digest
    kind: str  # "customers" | "transactions"
    notes: list[str] = field(default_factory=list)  # things fixed up on the way (one line each)
    # A purchase log's scale (model.data.transactions.log_scale): span_days, typical_gap_days
    log: dict[str, float] = field(default_factory=dict)
    _ids: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def ids(self) -> np.ndarray:
        """The ids as an object array of str, exactly as in the data.

        Made on first use: training works on `id_array` and never needs 10M
        Python strings (~1.3 s and ~700 MB to make)."""
        if self._ids is None:
            self._ids = self.id_array.to_numpy(zero_copy_only=False)
        return self._ids

    @property
    def rows(self) -> int:
        return len(self.id_array)

    @property
    def features(self) -> list[str]:
        return list(self.frame.columns)


@dataclass
class _Raw:
    frame: pd.DataFrame
    source: str
    where: Callable[[int], str]  # 0-based position -> "line 7" / "row 6"
    aggregated: bool = False  # a purchase log already turned into one row per customer


def at_row(i: int) -> str:
    return f"row {i + 1}"


def at_line(i: int) -> str:
    return f"line {i + 2}"


# --------------------------------------------------------------------------- public


def load_dataset(settings: Settings) -> Dataset:
    """Read `settings.data` and validate it into a `Dataset` (see module doc)."""
    started = time.perf_counter()
    raw = read_raw(settings, push_down=True)
    where, source, table, aggregated = raw.where, raw.source, raw.frame, raw.aggregated
    del raw  # from here `table` is the only reference: rebinding it frees the raw rows
    if settings.data_kind == "transactions" and not aggregated:
        # One row per purchase -> one row per customer with settings.id_column and
        # feature columns (recency, frequency, ...); SEGBOT_FEATURES then picks among
        # those, and rows named in messages are rows of that per-customer table.
        from model.data.transactions import customer_features

        table = customer_features(table, settings, where=where, source=source)
        where = at_row
    dataset = _validate(table, settings, source, where)
    dataset.notes[:0] = table.attrs.get("notes", [])  # returns netted off, rows left out...
    dataset.log = table.attrs.get("log", {})
    del table
    _release_arrow_memory()
    log.info(
        "loaded %s rows x %s features from %s in %.1fs",
        f"{dataset.rows:,}",
        len(dataset.features),
        dataset.source,
        time.perf_counter() - started,
    )
    return dataset


def _release_arrow_memory() -> None:
    """Hand memory Arrow freed while reading back to the OS. Its allocator keeps
    freed pages for reuse, but training allocates through numpy, not Arrow: at 10M
    customers ~750 MB of RSS would otherwise stay held for nothing."""
    import pyarrow as pa

    with contextlib.suppress(AttributeError, NotImplementedError):
        pa.default_memory_pool().release_unused()


def read_source(settings: Settings) -> pd.DataFrame:
    """The raw table of `settings.data`: a CSV/Parquet file, a database table or
    query, or the bundled sample when no source is set.

    For a customers table with `settings.features` listed only the id and those
    columns are read; otherwise every column. The id column is text.
    """
    return read_raw(settings).frame


def describe_source(settings: Settings) -> str:
    """A one-line description of `settings.data` that is safe to show (no password)."""
    data = settings.data
    if data is None or not str(data).strip():
        return SAMPLE_SOURCE
    if URL_PATTERN.match(str(data)):
        return mask_url(str(data))
    return str(data)


# --------------------------------------------------------------------------- reading


def read_raw(settings: Settings, push_down: bool = False) -> _Raw:
    """The raw table; with `push_down` a purchase log in a database may come
    aggregated already (model.data.transactions_sql)."""
    data = None if settings.data is None else str(settings.data).strip()
    if not data:
        if settings.data_kind == "transactions":
            raise DataError(
                "the bundled sample is a customers table; set SEGBOT_DATA (or --data) "
                "to a transaction log, or SEGBOT_DATA_KIND=customers"
            )
        from model.data.sample import generate

        frame = generate(SAMPLE_ROWS, seed=SAMPLE_SEED)
        wanted = wanted_columns(list(frame.columns), settings, SAMPLE_SOURCE)
        if wanted is not None:
            frame = frame[wanted]
        return _Raw(frame, SAMPLE_SOURCE, at_row)
    if URL_PATTERN.match(data):
        return _read_sql(data, settings, push_down)
    path = Path(data).expanduser()
    name = path.name.lower()
    base = name
    for suffix in _COMPRESSION:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    if base.endswith(CSV_SUFFIXES):
        return _Raw(_read_csv(path, settings, compressed=base != name), str(path), at_line)
    if name.endswith(PARQUET_SUFFIXES):
        return _Raw(_read_parquet(path, settings), str(path), at_row)
    if not path.exists() and path.suffix == "":
        raise DataError(f"data file not found: {path}")
    raise DataError(
        f"cannot read {str(path)!r}: unknown file type {path.suffix or '(none)'!r}; "
        "use a .csv or .parquet file, or a database URL such as sqlite:///file.db"
    )


def wanted_columns(
    available: list[str], settings: Settings, source: str, reading: bool = True
) -> list[str] | None:
    """Check the id column and the listed features exist; return the columns to
    read (None = all of them).

    A transaction log (`reading` a raw table that is not a customers table) is
    read whole: its features are listed against the per-customer table built
    from it, which is checked again with `reading=False`.
    """
    id_column = settings.id_column
    row_ids = id_column == ROW_IDS
    if not row_ids and id_column not in available:
        no_ids = (  # a purchase log's rows are purchases: their numbers name no customer
            ""
            if settings.data_kind == "transactions"
            else f", or --id-column {ROW_IDS} if the data has no id column"
        )
        raise DataError(
            f"id column {id_column!r} not found in {source} (set SEGBOT_ID_COLUMN or "
            f"--id-column{no_ids}{did_you_mean(id_column, available, '; ')}); "
            f"the columns are: {name_list(available)}"
        )
    if reading and settings.data_kind == "transactions":
        from model.data.transactions import transaction_columns

        return transaction_columns(available, settings, source)  # id, date, amount[, quantity]
    if not settings.features or (reading and settings.data_kind != "customers"):
        return None
    if not row_ids and id_column in settings.features:
        raise DataError(
            f"{id_column!r} is the id column; it cannot also be a feature "
            "(remove it from SEGBOT_FEATURES / --features)"
        )
    seen: set[str] = set()
    for name in settings.features:
        if name not in available:
            raise DataError(
                f"unknown feature {name!r} in SEGBOT_FEATURES / --features"
                f"{did_you_mean(name, available, ' (', ')')}; "
                f"the columns are: {name_list(available)}"
            )
        if name in seen:
            raise DataError(f"feature {name!r} is listed twice in SEGBOT_FEATURES / --features")
        seen.add(name)
    return list(settings.features) if row_ids else [id_column, *settings.features]


def sniff_separator(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.readline(1 << 16).decode("utf-8", errors="replace")
    counts = {sep: head.count(sep) for sep in (",", ";", "\t", "|")}
    if counts[","]:
        return ","
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _read_csv(path: Path, settings: Settings, compressed: bool) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a CSV file")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty")
    if ".tsv" in path.name.lower():
        sep = "\t"
    elif compressed:
        sep = ","
    else:
        sep = sniff_separator(path)

    def read(encoding: str, **options) -> pd.DataFrame:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            return pd.read_csv(
                path,
                sep=sep,
                encoding=encoding,
                dtype={} if settings.id_column == ROW_IDS else {settings.id_column: "str"},
                **options,
            )

    for encoding in ("utf-8", "latin-1"):
        try:
            header = list(read(encoding, nrows=0).columns)
            wanted = wanted_columns(header, settings, str(path))
            arrow = encoding == "utf-8" and not compressed  # Arrow reads UTF-8 files only
            fast = _read_csv_arrow(path, sep, settings, header, wanted) if arrow else None
            return fast if fast is not None else read(encoding, usecols=wanted)
        except UnicodeDecodeError:
            continue  # a Windows export: every byte is a latin-1 character
        except pd.errors.EmptyDataError:
            raise DataError(f"{path} is empty: no header line and no rows") from None
        except (pd.errors.ParserError, ValueError, OSError) as exc:
            raise DataError(f"cannot read {path}: {one_line(exc)}") from None
    raise AssertionError("unreachable: latin-1 decodes every byte")


# pandas' default missing-value markers (`pd.read_csv`'s na_values), so both readers
# agree on what is missing.
_CSV_MISSING = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip


def _read_csv_arrow(
    path: Path, sep: str, settings: Settings, header: list[str], wanted: list[str] | None
) -> pd.DataFrame | None:
    """The table `pd.read_csv` would give, read by Arrow's multi-threaded reader
    (a 1M-row file: half the time, BENCHMARKS.md), or None when Arrow cannot promise
    the same frame and pandas should read it: a malformed line, bytes that are not
    UTF-8, dates or true/false (Arrow types them, pandas keeps text), a blank or
    repeated header name (pandas renames those). pandas then reports any problem in
    its own words."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    listed = set(wanted or ())
    columns = header if wanted is None else [c for c in header if c in listed]  # file order
    if len(set(header)) != len(header) or any(c.startswith("Unnamed: ") for c in header):
        return None
    text = {} if settings.id_column == ROW_IDS else {settings.id_column: pa.string()}
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf8"),
            parse_options=pacsv.ParseOptions(delimiter=sep),
            convert_options=pacsv.ConvertOptions(
                column_types=text,
                include_columns=columns,
                null_values=_CSV_MISSING,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError, KeyError, OSError):
        return None
    if table.column_names != columns:
        return None
    for i, column in enumerate(table.schema):
        kind = column.type
        if pa.types.is_null(kind):  # no value at all: pandas gives float64 NaN
            table = table.set_column(i, column.name, table.column(i).cast(pa.float64()))
        elif not (pa.types.is_int64(kind) or pa.types.is_float64(kind) or pa.types.is_string(kind)):
            return None  # true/false, a date, a time...: pandas reads those differently
    return table.to_pandas()


def _read_parquet(path: Path, settings: Settings) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    if not path.exists():
        raise DataError(f"data file not found: {path}")
    try:
        dataset = pads.dataset(path, format="parquet")
        available = [n for n in dataset.schema.names if not PANDAS_INDEX.match(n)]
        wanted = wanted_columns(available, settings, str(path))
        table = dataset.to_table(columns=wanted)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read {path} as Parquet: {one_line(exc)}") from None
    # Ids stored as integers become their digits ("42"), never a float ("42.0").
    index = (
        -1 if settings.id_column == ROW_IDS else table.schema.get_field_index(settings.id_column)
    )
    column = table.column(index) if index >= 0 else None
    if column is not None and (
        pa.types.is_integer(column.type) or pa.types.is_dictionary(column.type)
    ):
        table = table.set_column(index, settings.id_column, pc.cast(column, pa.string()))
    frame = table.to_pandas(
        ignore_metadata=True,
        split_blocks=True,
        self_destruct=True,
        # Parquet dates of a purchase log: datetime64, not 10M datetime.date objects.
        date_as_object=settings.data_kind != "transactions",
    )
    del table
    return frame


def mask_url(text: str) -> str:
    import sqlalchemy as sa

    try:
        return sa.make_url(text).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: hide anything between "://" and "@"
        return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", text)


def _read_sql(text: str, settings: Settings, push_down: bool = False) -> _Raw:
    import sqlalchemy as sa

    masked = mask_url(text)
    try:
        url = sa.make_url(text)
    except sa.exc.ArgumentError as exc:
        raise DataError(f"cannot use {masked} as a database URL: {one_line(exc)}") from None
    query = (settings.data_query or "").strip()
    if not query:
        raise DataError(
            "SEGBOT_DATA is a database URL; set SEGBOT_DATA_QUERY (or --query) "
            "to a table name or SQL query"
        )
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = Path(url.database)
        if not url.database.startswith("file:") and not database.exists():
            # SQLite would quietly create an empty database there.
            raise DataError(f"database file not found: {database} (from {masked})")

    if url.drivername == "postgresql" and not _importable("psycopg2") and _importable("psycopg"):
        # "postgresql://" means psycopg2 to SQLAlchemy; segbot[postgres] installs psycopg 3.
        url = url.set(drivername="postgresql+psycopg")
    secret = url.password

    def clean(exc: BaseException) -> str:
        message = db_message(exc)
        return message.replace(str(secret), "***") if secret else message

    try:
        engine = sa.create_engine(url)
    except (sa.exc.NoSuchModuleError, ImportError) as exc:
        hint = " (pip install 'segbot[postgres]')" if url.get_backend_name() == "postgresql" else ""
        raise DataError(
            f"cannot connect to {masked}: no database driver for {url.drivername!r}: "
            f"{clean(exc)}{hint}"
        ) from None
    except Exception as exc:
        raise DataError(f"cannot connect to {masked}: {clean(exc)}") from None
    try:
        return _query(engine, query, masked, clean, settings, push_down)
    finally:
        engine.dispose()


def _query(
    engine,
    query: str,
    masked: str,
    clean: Callable[[BaseException], str],
    settings: Settings,
    push_down: bool = False,
) -> _Raw:
    """Stream a table (a name without whitespace) or a SQL query into one frame."""
    import sqlalchemy as sa

    statement: object
    if re.search(r"\s", query) or query.startswith(('"', "`", "[")):
        statement = query  # SQL as written (pandas runs a string as driver SQL)
        source = f"{masked} (query)"
    else:
        schema, _, name = query.rpartition(".")
        table = sa.table(name, schema=schema or None)  # quoted by SQLAlchemy as needed
        source = f"{masked} (table {query})"
        selected = [sa.text("*")]
        try:
            found = sa.inspect(engine).get_columns(name, schema=schema or None)
        except sa.exc.NoSuchTableError:
            missing = _missing_table(engine, schema or None, name)
            raise DataError(
                f"table {query!r} not found in {masked}; {missing or 'check its name'}"
            ) from None
        except sa.exc.DBAPIError as exc:  # cannot connect, no permission...
            raise DataError(f"cannot read from {masked}: {clean(exc)}") from None
        except Exception:  # a dialect that cannot inspect: the query below tells
            found = []
        if found:
            wanted = wanted_columns([c["name"] for c in found], settings, source)
            if wanted is not None:  # read only the id and the listed features
                selected = [sa.column(c) for c in wanted]
        statement = sa.select(*selected).select_from(table)

    if push_down and settings.data_kind == "transactions":
        # One row per customer computed in the database; None: it cannot be, read every row.
        from model.data.transactions_sql import customer_features_sql

        frame = customer_features_sql(engine, query, source, settings, clean)
        if frame is not None:
            return _Raw(frame, source, at_row, aggregated=True)

    chunks: list[pd.DataFrame] = []
    wanted: list[str] | None = None
    try:
        # stream_results: a server-side cursor where the database has one (PostgreSQL);
        # rows arrive SQL_CHUNK_ROWS at a time and only the needed columns are kept.
        with engine.connect().execution_options(stream_results=True) as connection:
            for chunk in pd.read_sql(statement, connection, chunksize=SQL_CHUNK_ROWS):
                if not chunks:
                    wanted = wanted_columns([str(c) for c in chunk.columns], settings, source)
                if wanted is not None and list(chunk.columns) != wanted:
                    chunk = chunk[wanted]
                if settings.id_column in chunk.columns and settings.id_column != ROW_IDS:
                    # per chunk: a chunk with a NULL id turns whole-number ids into floats
                    chunk[settings.id_column] = id_strings(chunk[settings.id_column])
                chunks.append(chunk)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError, OSError) as exc:
        raise DataError(f"cannot read from {masked}: {clean(exc)}") from None
    if not chunks:
        raise rules.no_rows(source)
    frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    del chunks
    return _Raw(frame, source, at_row)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _missing_table(engine, schema: str | None, name: str) -> str | None:
    """'the tables are: ...' when `name` is not a table or view; None if it exists
    (or the database cannot tell)."""
    import sqlalchemy as sa

    try:
        inspector = sa.inspect(engine)
        names = inspector.get_table_names(schema=schema) + inspector.get_view_names(schema=schema)
    except Exception:
        return None
    if name in names or name.lower() in {n.lower() for n in names}:
        return None
    return f"the tables are: {name_list(sorted(names))}" if names else "the database has no tables"


def db_message(exc: BaseException) -> str:
    """The database's own words from a (possibly wrapped) SQLAlchemy error."""
    import sqlalchemy as sa

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sa.exc.DBAPIError) and seen.orig is not None:
            return one_line(seen.orig)
        if isinstance(seen, sa.exc.SQLAlchemyError):
            return one_line(re.split(r"\[SQL:|\(Background on", str(seen))[0])
        seen = seen.__cause__ or seen.__context__
    return one_line(exc)


# --------------------------------------------------------------------------- validation


def _validate(
    frame: pd.DataFrame, settings: Settings, source: str, where: Callable[[int], str]
) -> Dataset:
    kind = settings.data_kind
    id_column = settings.id_column
    columns = [str(c) for c in frame.columns]
    if list(frame.columns) != columns:
        frame = frame.set_axis(columns, axis=1)
    n = len(frame)
    if len(columns) == 0 or n == 0:
        raise rules.no_rows(source)
    wanted_columns(columns, settings, source, reading=False)
    rules.check_unique_columns(columns, source)

    row_ids = id_column == ROW_IDS
    ids = _row_numbers(n) if row_ids else _check_ids(id_strings(frame[id_column]), id_column, where)

    listed = bool(settings.features)
    names = settings.features if listed else rules.feature_candidates(columns, id_column)
    data: dict[str, np.ndarray | pd.Series] = {}
    numeric: list[str] = []
    categorical: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # name -> (codes, levels)
    notes: list[str] = []
    skipped_text: list[str] = []
    declared = _declared_codes(settings, columns, names, source)
    for name in names:
        kind_of, values = _feature(frame[name], name, listed or name in declared, where, notes)
        if kind_of == "numeric" and name in declared:
            kind_of, values = "categorical", _categories(as_codes(values, name), name)
        if kind_of == "numeric":
            numeric.append(name)
            data[name] = values
        elif kind_of == "categorical":
            codes, levels = categorical[name] = values
            # One str object per level, shared by the rows: fast and light on memory.
            # Object dtype (not pandas' str) is what sklearn's encoders expect.
            lookup = np.append(levels, np.nan)  # code -1 (missing) -> NaN
            data[name] = pd.Series(lookup[codes], dtype=object, copy=False)
        elif kind_of == "text":
            skipped_text.append(name)

    if not listed:
        _leave_out_flat(data, numeric, categorical, kind == "transactions", notes)
    if not data:
        raise rules.no_usable_feature(source, id_column, skipped_text, columns)
    if skipped_text:
        log.info("text columns not used as features (not listed): %s", ", ".join(skipped_text))
    rules.check_enough_rows(n, source, settings.fixed_k)

    # Listed order, or the table's order; numeric and categorical keep that order.
    features = pd.DataFrame(data, columns=list(data), copy=False)
    return Dataset(
        id_array=ids,
        frame=features,
        numeric=numeric,
        categorical=list(categorical),
        source=source,
        digest=digest_of(kind, ids, features, categorical),
        kind=kind,
        notes=notes,
    )


def _row_numbers(n: int) -> pa.Array:
    """ "1", "2", ..., str(n): the ids of a table without an id column (Arrow turns
    10M numbers into text in under a second; no Python string per row)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.string())


def _arrow_text(ids: pd.Series) -> pa.Array:
    """A pandas str Series as one Arrow string array (zero-copy when Arrow-backed)."""
    import pyarrow as pa

    text = pa.array(ids, from_pandas=True)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        text = text.cast(pa.large_string())
    return text


def _check_ids(ids: pd.Series, id_column: str, where: Callable[[int], str]) -> pa.Array:
    """No missing or blank id, no id twice (also true of a per-customer table
    built from transactions); the ids as one Arrow string array."""
    import pyarrow.compute as pc

    text = _arrow_text(ids)
    # Blank: what pandas' str.strip() (Arrow's utf8_trim_whitespace) leaves empty.
    blank = pc.equal(pc.binary_length(pc.utf8_trim_whitespace(text)), 0)
    if text.null_count or pc.any(blank).as_py():
        missing = ids.isna().to_numpy() | (ids.str.strip() == "").fillna(False).to_numpy(dtype=bool)
    else:
        missing = np.zeros(0, dtype=bool)
    if missing.any():
        raise rules.empty_ids(id_column, int(missing.sum()), np.flatnonzero(missing), where)
    if not _unique(text):
        mask = ids.duplicated(keep=False).to_numpy()
        duplicated = ids[mask]
        groups = duplicated.groupby(duplicated, sort=False).indices
        rows = np.flatnonzero(mask)
        shown = []
        for value, within in list(groups.items())[:SHOW]:
            positions = rows[within]
            shown.append(
                f"{quote(value)} on {at_rows(where, positions)}"
                + (", …" if len(positions) > SHOW else "")
            )
        raise rules.duplicate_ids(id_column, len(groups), shown)
    return text


def _unique(ids) -> bool:
    """Whether no id appears twice; fast for sorted ids and for ids made of digits."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(ids) < 2 or pc.all(pc.greater(ids[1:], ids[:-1])).as_py():
        return True
    if pc.all(pc.match_substring_regex(ids, r"^[0-9]{1,18}$")).as_py():
        numbers = np.sort(pc.cast(ids, pa.int64()).to_numpy())
        if (numbers[1:] != numbers[:-1]).all():
            return True  # else "042" and "42" may only look the same: ask the strings
    return pc.count_distinct(ids).as_py() == len(ids)


def _feature(
    column: pd.Series,
    name: str,
    listed: bool,
    where: Callable[[int], str],
    notes: list[str],
) -> tuple[str, object]:
    """("numeric", float64 values) | ("categorical", (codes, levels)) | ("text" | "skip", None)."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        values = column.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    elif pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        if listed:
            raise rules.dates_listed(name)
        return "skip", None
    else:
        text = column.astype("str").str.strip()
        text = text.mask(text == "")
        present = text.notna().to_numpy()
        if not present.any():
            return _all_missing(name, listed, notes)
        numbers = _as_numbers(text, present)
        if numbers is None:  # mostly text
            if not listed:
                return "text", None
            return "categorical", _categories(text, name)
        bad = present & np.isnan(numbers)
        if bad.any():
            first = [(i, text.iat[i]) for i in np.flatnonzero(bad)[:SHOW]]
            raise rules.text_in_numbers(name, int(bad.sum()), first, where)
        values = numbers

    infinite = np.isinf(values)
    if infinite.any():
        count = int(infinite.sum())
        values = np.where(infinite, np.nan, values)
        note = rules.infinite_note(name, count, np.flatnonzero(infinite), where)
        notes.append(note)
        log.warning(note)
    if np.isnan(values).all():
        return _all_missing(name, listed, notes)
    return "numeric", values


def _leave_out_flat(
    data: dict,
    numeric: list[str],
    categorical: dict[str, tuple[np.ndarray, np.ndarray]],
    purchase_log: bool,
    notes: list[str],
) -> None:
    """Features not listed that carry no difference (model.training.feature_spread) leave
    `data`, `numeric` and `categorical`, one note each; unless none would be left."""
    reasons = {name: reason_to_leave_out(name, data[name], purchase_log) for name in numeric}
    for name, (_, levels) in categorical.items():
        if len(levels) == 1:
            reasons[name] = f"{name} left out: every customer has the same value ({levels[0]})"
    out = [name for name in data if reasons.get(name)]
    if not out or len(out) == len(data):
        return
    for name in out:
        del data[name]
        categorical.pop(name, None)
        if name in numeric:
            numeric.remove(name)
        notes.append(reasons[name])
        log.info(reasons[name])


def _categories(text, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes (missing: -1) and levels of a categorical feature's text values."""
    codes, levels = pd.factorize(pd.Series(text, dtype=object, copy=False))
    rules.check_categories(name, len(levels))
    return codes, np.asarray(levels, dtype=object)


def _declared_codes(
    settings: Settings, columns: list[str], features: list[str], source: str
) -> set[str]:
    """SEGBOT_CATEGORICAL checked against the table and the features."""
    declared = settings.categorical
    if not declared:
        return set()
    if settings.data_kind == "transactions":
        raise DataError(
            "SEGBOT_CATEGORICAL / --categorical is for a customers table; a purchase log's "
            "features are computed from its dates and amounts"
        )
    for name in declared:
        if settings.features and name not in settings.features:
            raise DataError(
                f"column {name!r} is in SEGBOT_CATEGORICAL / --categorical but not in "
                "SEGBOT_FEATURES / --features; list it there too"
            )
        if name not in columns:
            raise DataError(
                f"unknown column {name!r} in SEGBOT_CATEGORICAL / --categorical"
                f"{did_you_mean(name, columns, ' (', ')')}; the columns are: {name_list(columns)}"
            )
        if name not in features:
            raise DataError(f"column {name!r} is the id column; it cannot be a category too")
    return set(declared)


def _as_numbers(text: pd.Series, present: np.ndarray) -> np.ndarray | None:
    """The numbers of a text column that is mostly numbers (NaN where a value is
    missing or is not a number), or None when it is mostly text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # A spread-out sample decides cheaply that a column of words is text.
    positions = np.flatnonzero(present)
    sample = [text.iat[i] for i in positions[:: max(1, len(positions) // 1000)]]
    numbers_in_sample = pd.to_numeric(pd.Series(sample, dtype=object), errors="coerce").notna()
    if rules.mostly_text(len(sample), len(sample) - int(numbers_in_sample.sum())):
        return None
    try:  # all numbers: Arrow converts 10M values in a blink
        return pc.cast(pa.array(text, from_pandas=True), pa.float64()).to_numpy(
            zero_copy_only=False
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
        pass
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = present & np.isnan(numbers)
    return None if rules.mostly_text(int(present.sum()), int(bad.sum())) else numbers


def _all_missing(name: str, listed: bool, notes: list[str]) -> tuple[str, None]:
    rules.all_missing(name, listed, notes)
    return "skip", None


def digest_of(
    kind: str,
    ids: pa.Array,
    features: pd.DataFrame,
    categorical: dict[str, tuple[np.ndarray, np.ndarray]],
) -> str:
    """sha256 over the ids and features, independent of the file format."""
    import pyarrow as pa

    digest = hashlib.sha256()
    digest.update(f"segbot-dataset-1\x00{kind}\x00{len(ids)}\x00".encode())
    # The ids' UTF-8 bytes and where each one ends, straight from Arrow's buffers.
    text = ids if ids.type == pa.large_string() else ids.cast(pa.large_string())
    _, offsets_buffer, data = text.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[
        text.offset : text.offset + len(text) + 1
    ]
    digest.update(memoryview(offsets - offsets[0]).cast("B"))
    digest.update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
    for name in features.columns:
        column = features[name]
        digest.update(f"\x01{name}\x00{column.dtype.kind}\x00".encode("utf-8", "surrogatepass"))
        if column.dtype.kind == "f":
            values = column.to_numpy(dtype=np.float64)
            nan = np.isnan(values)
            if nan.any():  # one NaN bit pattern, whatever the source wrote
                values = np.where(nan, np.nan, values)
            digest.update(memoryview(np.ascontiguousarray(values)).cast("B"))
        else:  # categorical: the sorted levels, then each row's place among them
            codes, levels = categorical[name]
            order = np.argsort(levels, kind="stable")
            rank = np.empty(len(levels) + 1, dtype=np.int32)
            rank[order] = np.arange(len(levels), dtype=np.int32)
            rank[-1] = -1  # missing
            digest.update("\x00".join(levels[order]).encode("utf-8", "surrogatepass"))
            digest.update(memoryview(rank[codes]).cast("B"))
    return digest.hexdigest()
