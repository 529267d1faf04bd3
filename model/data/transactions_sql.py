"""Purchase logs in a database aggregated there: push-down of `model.data.transactions`.

With ``SEGBOT_DATA_KIND=transactions`` and a SQLAlchemy URL, `customer_features_sql`
computes the per-customer features of `model.data.transactions` (same rules: as-of day,
distinct purchase days, returns, items) with a GROUP BY in the database, built
with SQLAlchemy Core, so only one row per customer crosses the wire instead of
every purchase. Two scans of the log: one checks every row (missing ids, dates
and amounts that are not dates or numbers: the same one-line errors as
in-process, with a COUNT and the first rows) and finds the as-of day; the
second groups by customer.

Dialects:

- **SQLite** stores dates as text: ``date()``/``julianday()`` read ISO 8601
  (offsets converted to UTC), checked against a GLOB shape and a round trip of the
  day (``2024-02-30`` would otherwise become 1 March). Amounts stored as text go
  through a small Python function registered on the connection (SQLite has no
  strict number parser); integer or real values are used as they are.
- **PostgreSQL**: the day number is ``CAST(... AS date) - DATE '1970-01-01'`` of
  the date, of a ``timestamp`` as written, and of ``timezone('UTC', ...)`` of a
  ``timestamptz`` (its UTC wall time: the session's time zone plays no part; a
  cast to date is ~2x faster than epoch arithmetic on numerics); text dates are
  checked with a regular expression and cast to ``timestamptz`` when they carry
  an offset, else to ``timestamp``. Text amounts are checked with a regular
  expression. Sums are exact (``numeric``, or integers): the same totals whatever
  order parallel workers add rows in, so unchanged data keeps its digest.

Anything else returns None after one log line saying why, and the caller
aggregates in-process: another dialect, a query the database will not run as a
subquery, a column type whose text form SQL would not give the same (a numeric
date, a fractional or ``char(n)`` id), date text in a form only the in-process
parser reads (``20240101``), or an error of the database while aggregating.

Customers come sorted by id (numerically for ids of digits or of one fixed
pattern, as in-process for the usual id formats; else as text).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from model.config import Settings
from model.data.messages import SHOW, values_at
from model.data.messages import plural as _plural
from model.data.transactions import (
    ISO_HINT,
    as_of_day,
    check_listed_features,
    day_numbers,
    features_frame,
    integer_keys,
    iso_date,
    transaction_columns,
)
from model.errors import DataError

log = logging.getLogger(__name__)

FETCH_ROWS = 100_000  # customers per fetch
_EPOCH_JULIAN = 2440587.5  # julianday('1970-01-01')
_WHITESPACE = " \t\r\n"

_PG_TEXT = {"text", "character varying", "name", "unknown"}
_PG_INTEGER = {"smallint", "integer", "bigint"}
_PG_FLOAT = {"real", "double precision", "numeric"}
_PG_DATE_TEXT = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$"
)
_PG_OFFSET = r"(Z|[+-][0-9]{2}:[0-9]{2})$"
_PG_NUMBER = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
# SQLite: an ISO date, then nothing or a time; date() checks the rest.
_SQLITE_DAY = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
_SQLITE_NUMBER_FUNCTION = "segbot_number"


PUSHDOWN = True  # False: always aggregate in-process (a benchmark compares the two)


def use_pushdown(on: bool) -> None:
    global PUSHDOWN
    PUSHDOWN = on


class _NoPushDown(Exception):
    """Push-down cannot be expressed for this source: aggregate in-process."""


def customer_features_sql(
    engine, query: str, source: str, settings: Settings, clean: Callable[[BaseException], str]
) -> pd.DataFrame | None:
    """The per-customer table of `model.data.transactions.customer_features`, computed
    in the database; None (after a log line saying why) when it cannot be.

    `query` is SEGBOT_DATA_QUERY: a table name (no whitespace) or a SQL query.
    Raises `DataError` for bad data exactly as the in-process path would.
    """
    import sqlalchemy as sa

    if not PUSHDOWN:
        log.info("no push-down to the database for %s: switched off; aggregating here", source)
        return None
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            plan = _plan(connection, query, source, settings)
            frame = plan.run()
    except _NoPushDown as why:
        log.info(
            "no push-down to the database for %s: %s; aggregating in-process",
            source,
            clean(_NoPushDown(str(why))),  # the password masked, not its cause's words
        )
        return None
    except sa.exc.SQLAlchemyError as exc:
        log.info(
            "no push-down to the database for %s: the database refused the aggregation "
            "(%s); aggregating in-process",
            source,
            clean(exc),
        )
        return None
    log.info(
        "aggregated %s purchase rows into %s customers inside the database in %.1fs",
        f"{plan.rows:,}",
        f"{len(frame):,}",
        time.perf_counter() - started,
    )
    return frame


def _plan(connection, query: str, source: str, settings: Settings) -> _Plan:
    """The plan for the connection's dialect; `_NoPushDown` when none is written here."""
    dialect = connection.dialect
    if dialect.name == "sqlite":
        if dialect.driver != "pysqlite":
            raise _NoPushDown(f"the SQLite driver {dialect.driver} is not sqlite3")
        return _SQLitePlan(connection, query, source, settings)
    if dialect.name == "postgresql":
        return _PostgresPlan(connection, query, source, settings)
    raise _NoPushDown(f"no SQL written for the {dialect.name} dialect")


class _Plan:
    """The SQL for one purchase log on one connection: the checks, the messages and
    the GROUP BY, over the expressions each dialect writes its own way (trimming,
    blank and bad dates, the day number, amounts and quantities)."""

    def __init__(self, connection, query: str, source: str, settings: Settings):
        import sqlalchemy as sa

        self.sa = sa
        self.connection = connection
        self.settings = settings
        self.source = source
        self.rows = 0
        self.source_sql = _source(connection, query)
        columns = list(self.source_sql.columns.keys())
        names = transaction_columns(columns, settings, source)
        self.id_name, self.date_name, self.amount_name, *rest = names
        self.quantity_name = rest[0] if rest else None
        check_listed_features(settings, has_items=self.quantity_name is not None)
        c = self.source_sql.c
        self.id, self.date, self.amount = c[self.id_name], c[self.date_name], c[self.amount_name]
        self.quantity = c[self.quantity_name] if self.quantity_name else None

    # ----------------------------------------------------------------- per dialect

    def trim(self, text):
        """`text` without the surrounding `_WHITESPACE`."""
        raise NotImplementedError

    def date_blank(self):
        raise NotImplementedError

    def date_bad(self):
        """A value that is there but is not a date SQL reads."""
        raise NotImplementedError

    def day(self):
        """Days since 1970-01-01 (UTC for values with an offset). Unguarded: for
        rows the checks passed (the checks themselves guard it with a CASE)."""
        raise NotImplementedError

    def _number_parts(self, column, role: str):
        """(blank, bad, value) of an amount or quantity column; `value` is only
        evaluated once the checks passed (no guard: it is in every aggregate)."""
        raise NotImplementedError

    def _type_checks(self, count) -> dict:
        """Counts, beside the shared checks, of values stored as push-down cannot read."""
        return {}

    def _refuse_types(self, found) -> None:
        """`_NoPushDown` when `_type_checks` found such values."""

    # ----------------------------------------------------------------- expressions

    def id_text(self):
        return self.sa.cast(self.id, self.sa.Text)

    def id_blank(self):
        return self.sa.or_(self.id.is_(None), self.trim(self.id_text()) == "")

    def _text_blank(self, column):
        sa = self.sa
        return sa.or_(column.is_(None), self.trim(sa.cast(column, sa.Text)) == "")

    def _bad(self, blank, good):
        """There (not `blank`) but not `good`."""
        sa = self.sa
        return sa.and_(sa.not_(blank), sa.not_(good))

    # ----------------------------------------------------------------- queries

    def run(self) -> pd.DataFrame:
        sa = self.sa
        settings = self.settings
        amount_blank, amount_bad, amount = self._number_parts(self.amount, "amount")
        qty_blank = qty_bad = qty = None
        if self.quantity is not None:
            qty_blank, qty_bad, qty = self._number_parts(self.quantity, "quantity")
        day = self.day()
        as_of_set = as_of_day(settings.as_of) if settings.as_of else None

        def count(condition):
            return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

        checks = {
            "rows": sa.func.count(),
            "id_blank": count(self.id_blank()),
            "date_bad": count(self.date_bad()),
            "date_blank": count(self.date_blank()),
            "amount_bad": count(amount_bad),
            "amount_blank": count(amount_blank),
        }
        if self.quantity is not None:
            checks["quantity_bad"] = count(qty_bad)
            checks["quantity_blank"] = count(qty_blank)
        checks.update(self._type_checks(count))
        valid_day = sa.case((sa.and_(sa.not_(self.date_blank()), sa.not_(self.date_bad())), day))
        checks["first_day"] = sa.func.min(valid_day)
        checks["last_day"] = sa.func.max(valid_day)
        if as_of_set is not None:
            checks["later"] = count(valid_day > as_of_set)
        found = dict(
            self.connection.execute(sa.select(*[v.label(k) for k, v in checks.items()]))
            .one()
            ._mapping
        )
        self.rows = int(found["rows"])
        self._refuse_types(found)
        if self.rows == 0:
            raise DataError(f"{self.source} has no rows")
        self._raise_bad_values(found, amount_bad, amount_blank, qty_bad, qty_blank)

        first_day, last_day = int(found["first_day"]), int(found["last_day"])
        notes: list[str] = []
        kept = sa.true()
        if as_of_set is not None:
            as_of = as_of_set
            later = int(found["later"])
            if later == self.rows:
                raise DataError(
                    f"every row of {self.source} is dated after SEGBOT_AS_OF {settings.as_of}"
                    f" (the first purchase is on {iso_date(first_day)})"
                )
            if later:
                notes.append(
                    f"{later:,} {_plural(later, 'row')} dated after SEGBOT_AS_OF "
                    f"{settings.as_of} left out"
                )
                kept = day <= as_of
        else:
            as_of = last_day

        # One row per customer: the features themselves, computed in the database.
        # COUNT(DISTINCT day) sorts the rows by customer, which PostgreSQL does faster
        # than a hash GROUP BY (customer, day) and then by customer; at 10M rows neither
        # a temporary table for the GROUP BY nor a larger work_mem makes it faster.
        rows = sa.select(
            self.id_text().label("cid"),
            day.label("day"),
            amount.label("amount"),
            *([qty.label("qty")] if self.quantity is not None else []),
        ).where(kept)
        rows = rows.subquery("segbot_rows")
        buy = rows.c.amount >= 0
        buy_day = sa.case((buy, rows.c.day))
        # Each aggregate once per customer (inner), the features from them (outer).
        sums = [
            rows.c.cid.label("cid"),
            sa.func.count(sa.distinct(buy_day)).label("frequency"),
            sa.func.coalesce(sa.func.max(buy_day), sa.func.max(rows.c.day)).label("last"),
            sa.func.coalesce(sa.func.min(buy_day), sa.func.min(rows.c.day)).label("first"),
            sa.func.sum(rows.c.amount).label("total"),
            count(sa.not_(buy)).label("returns"),
        ]
        if self.quantity is not None:
            signed = sa.case((buy, sa.func.abs(rows.c.qty)), else_=-sa.func.abs(rows.c.qty))
            sums.append(sa.func.sum(signed).label("items"))
        g = sa.select(*sums).group_by(rows.c.cid).subquery("segbot_customers")
        as_of_value = sa.literal(as_of, sa.BigInteger)
        money = sa.cast(sa.case((g.c.total > 0, g.c.total), else_=0), sa.Double)
        columns = [
            g.c.cid,
            sa.cast(as_of_value - g.c["last"], sa.Double).label("recency_days"),
            sa.cast(g.c.frequency, sa.Double).label("frequency"),
            money.label("monetary_total"),
            sa.case(
                (g.c.frequency > 0, money / sa.cast(g.c.frequency, sa.Double)), else_=0.0
            ).label("avg_order_value"),
            sa.cast(as_of_value - g.c["first"], sa.Double).label("tenure_days"),
            g.c.returns,
        ]
        if self.quantity is not None:
            items = sa.case((g.c["items"] > 0, g.c["items"]), else_=0)
            columns.append(sa.cast(items, sa.Double).label("items"))
        grouped = sa.select(*columns)

        parts: list[list] = []
        result = self.connection.execution_options(stream_results=True).execute(grouped)
        names = list(result.keys())
        while batch := result.fetchmany(FETCH_ROWS):
            # column by column: DataFrame.from_records walks SQLAlchemy rows slowly
            columns = list(zip(*batch, strict=True))
            del batch
            parts.append(
                [np.array(columns[0], dtype=object)]
                + [np.array(c, dtype=np.float64) for c in columns[1:]]
            )
            del columns
        data = {
            name: np.concatenate([part[i] for part in parts])
            if parts
            else np.empty(0, dtype=object if i == 0 else np.float64)
            for i, name in enumerate(names)
        }
        del parts
        table = _sorted_by_id(pd.DataFrame(data, copy=False))

        returns = table.pop("returns").to_numpy(dtype=np.int64)
        counts = {
            "returns": int(returns.sum()),
            "returns_only": int(((table["frequency"] == 0).to_numpy() & (returns > 0)).sum()),
        }
        ids = pd.Series(table.pop("cid").to_numpy(), dtype="str")
        features = {name: table[name].to_numpy(dtype=np.float64) for name in table.columns}
        return features_frame(
            ids, features, counts, notes, as_of, settings, self.source, self.id_name
        )

    def _raise_bad_values(self, found, amount_bad, amount_blank, qty_bad, qty_blank) -> None:
        """The in-process messages, in its order: ids, dates, amounts, quantities."""
        if found["id_blank"]:
            count = int(found["id_blank"])
            first = ", ".join(f"row {n}" for n, _ in self._first(self.id_blank(), self.id))
            raise DataError(
                f"id column {self.id_name!r} is empty in {count:,} {_plural(count, 'row')} "
                f"({first}); every purchase needs a customer id"
            )
        if found["date_bad"]:
            offending = self._first(self.date_bad(), self.date)
            values = pd.Series([value for _, value in offending], dtype=object)
            try:
                day_numbers(values, self.date_name)
            except DataError:
                pass  # in-process refuses them too
            else:
                shown = ", ".join(repr(str(v)) for v in values)
                raise _NoPushDown(f"dates written in a form SQL does not read ({shown})")
            count = int(found["date_bad"])
            raise DataError(
                f"date column {self.date_name!r} has {count:,} {_plural(count, 'value')} that "
                f"{'is not a date' if count == 1 else 'are not dates'} "
                f"({_shown(offending)}); write dates as {ISO_HINT}"
            )
        self._raise_missing(found, "date", self.date_name, self.date_blank())
        roles = [("amount", self.amount_name, self.amount, amount_bad, amount_blank)]
        if self.quantity is not None:
            roles.append(("quantity", self.quantity_name, self.quantity, qty_bad, qty_blank))
        for role, name, column, bad, blank in roles:
            if found[f"{role}_bad"]:
                count = int(found[f"{role}_bad"])
                raise DataError(
                    f"{role} column {name!r} has text where numbers are expected in {count:,} "
                    f"{_plural(count, 'row')} ({_shown(self._first(bad, column))})"
                )
            self._raise_missing(found, role, name, blank)

    def _raise_missing(self, found, role: str, name: str, blank) -> None:
        count = int(found[f"{role}_blank"])
        if count:
            first = ", ".join(f"row {n}" for n, _ in self._first(blank, self.sa.null()))
            raise DataError(
                f"{role} column {name!r} is empty in {count:,} {_plural(count, 'row')} "
                f"({first}); every purchase needs {'an' if role[0] in 'aeiou' else 'a'} {role}"
            )

    def _first(self, condition, column) -> list[tuple[int, object]]:
        """(row number from 1, raw value) of the first SHOW rows meeting `condition`,
        in the order the source gives its rows (only run when there are some)."""
        sa = self.sa
        numbered = sa.select(
            sa.func.row_number().over().label("n"),
            column.label("value"),
            sa.case((condition, 1), else_=0).label("hit"),
        ).subquery("segbot_numbered")
        query = (
            sa.select(numbered.c.n, numbered.c.value)
            .where(numbered.c.hit == 1)
            .order_by(numbered.c.n)
            .limit(SHOW)
        )
        return [(int(n), value) for n, value in self.connection.execute(query)]


class _SQLitePlan(_Plan):
    """SQLite's expressions (dates as text, numbers through `segbot_number`; module doc)."""

    def __init__(self, connection, query: str, source: str, settings: Settings):
        super().__init__(connection, query, source, settings)
        _register_sqlite_number(connection)

    def trim(self, text):
        return self.sa.func.trim(text, _WHITESPACE)

    def date_blank(self):
        return self._text_blank(self.date)

    def date_bad(self):
        sa = self.sa
        text = self.date
        head = sa.func.substr(text, 1, 10)
        good = sa.and_(
            sa.func.typeof(text) == "text",
            text.op("GLOB")(_SQLITE_DAY + "*"),
            sa.or_(
                sa.func.length(text) == 10,
                text.op("GLOB")(_SQLITE_DAY + "[T ][0-9][0-9]:[0-9][0-9]*"),
            ),
            sa.func.date(text).is_not(None),
            sa.func.date(head) == head,
        )
        return self._bad(self.date_blank(), good)

    def day(self):
        sa = self.sa
        # date() applies the offset; julianday of a bare date is an exact .5.
        return sa.cast(sa.func.julianday(sa.func.date(self.date)) - _EPOCH_JULIAN, sa.Integer)

    def _number_parts(self, column, role: str):
        sa = self.sa
        kind = sa.func.typeof(column)
        parsed = getattr(sa.func, _SQLITE_NUMBER_FUNCTION)(column)  # NULL: not a number
        blank = sa.or_(
            column.is_(None),
            sa.and_(kind == "text", self.trim(column) == ""),
        )
        numeric = sa.or_(kind == "integer", sa.and_(kind == "real", parsed.is_not(None)))
        good = sa.or_(numeric, sa.and_(kind == "text", parsed.is_not(None)))
        value = sa.case((kind == "text", parsed), else_=sa.cast(column, sa.Double))
        return blank, self._bad(blank, good), value

    def _type_checks(self, count) -> dict:
        checks = {
            "id_odd": count(self._odd_type(self.id, ("integer", "text"))),
            "date_odd": count(self._odd_type(self.date, ("text",))),
            "amount_odd": count(self._odd_type(self.amount, ("integer", "real", "text"))),
        }
        if self.quantity is not None:
            checks["quantity_odd"] = count(
                self._odd_type(self.quantity, ("integer", "real", "text"))
            )
        return checks

    def _refuse_types(self, found) -> None:
        for role, name in (
            ("id", self.id_name),
            ("date", self.date_name),
            ("amount", self.amount_name),
            ("quantity", self.quantity_name),
        ):
            if found.get(f"{role}_odd"):
                raise _NoPushDown(
                    f"{role} column {name!r} holds values SQLite stores as numbers or blobs "
                    f"({found[f'{role}_odd']:,} rows)"
                )

    def _odd_type(self, column, allowed: tuple[str, ...]):
        """Values stored in a type push-down does not read the same (counted)."""
        sa = self.sa
        return sa.and_(column.is_not(None), sa.func.typeof(column).not_in(allowed))


class _PostgresPlan(_Plan):
    """PostgreSQL's expressions (typed columns, regular expressions; module doc)."""

    def __init__(self, connection, query: str, source: str, settings: Settings):
        super().__init__(connection, query, source, settings)
        self.types = self._types()

    def _types(self) -> dict[str, str]:
        sa = self.sa
        roles = {"id": self.id, "date": self.date, "amount": self.amount}
        if self.quantity is not None:
            roles["quantity"] = self.quantity
        probe = sa.select(
            *[sa.cast(sa.func.pg_typeof(col), sa.Text).label(role) for role, col in roles.items()]
        ).limit(1)
        row = self.connection.execute(probe).first()
        if row is None:
            raise DataError(f"{self.source} has no rows")
        types = dict(row._mapping)
        if types["id"] not in _PG_TEXT | _PG_INTEGER | {"uuid"}:
            raise _NoPushDown(f"id column {self.id_name!r} is of type {types['id']}")
        if types["date"] not in _PG_TEXT | {
            "date",
            "timestamp without time zone",
            "timestamp with time zone",
        }:
            raise _NoPushDown(f"date column {self.date_name!r} is of type {types['date']}")
        for role in ("amount", "quantity"):
            if role in types and types[role] not in _PG_TEXT | _PG_INTEGER | _PG_FLOAT:
                name = self.amount_name if role == "amount" else self.quantity_name
                raise _NoPushDown(f"{role} column {name!r} is of type {types[role]}")
        return types

    def trim(self, text):
        return self.sa.func.btrim(text, _WHITESPACE)

    def date_blank(self):
        if self.types["date"] in _PG_TEXT:
            return self._text_blank(self.date)
        return self.date.is_(None)

    def date_bad(self):
        if self.types["date"] not in _PG_TEXT:
            return self.sa.false()  # a date or timestamp type holds only dates
        return self._bad(self.date_blank(), self.date.op("~")(_PG_DATE_TEXT))

    def day(self):
        sa = self.sa
        kind = self.types["date"]
        epoch = sa.literal_column("DATE '1970-01-01'")  # a constant, not a per-row cast
        if kind == "date":
            return self.date - epoch
        if kind == "timestamp with time zone":
            # timezone('UTC', ...): the UTC wall time, whatever the session's time zone
            stamp = sa.func.timezone("UTC", self.date)
        elif kind in _PG_TEXT:
            stamp = sa.case(
                (
                    self.date.op("~")(_PG_OFFSET),
                    sa.func.timezone("UTC", sa.cast(self.date, sa.DateTime(timezone=True))),
                ),
                else_=sa.cast(self.date, sa.DateTime()),
            )
        else:  # timestamp without time zone: as written
            stamp = self.date
        return sa.cast(stamp, sa.Date) - epoch

    def _number_parts(self, column, role: str):
        """Sums of exact numerics: the same totals whatever order (parallel) workers
        add rows in, so unchanged data keeps its digest."""
        sa = self.sa
        kind = self.types[role]
        if kind in _PG_TEXT:
            blank = self._text_blank(column)
            value = sa.cast(self.trim(column), sa.Numeric)
            return blank, self._bad(blank, column.op("~")(_PG_NUMBER)), value
        if kind in _PG_INTEGER:
            return column.is_(None), sa.false(), column  # integer sums are exact
        # real, double precision, numeric: NaN counts as missing, infinities as bad, as
        # they do in-process (they arrive as float NaN and inf).
        # Constants as SQL literals: a bound '1970-01-01'::varchar cast to a type is
        # evaluated again on every row; numeric -> float8 goes through text (slow).
        same = "numeric" if kind == "numeric" else "float8"
        blank = sa.or_(column.is_(None), column == sa.literal_column(f"'NaN'::{same}"))
        if kind != "numeric":
            bad = sa.func.abs(column) == sa.literal_column("'Infinity'::float8")
        elif self.connection.dialect.server_version_info >= (14,):  # numeric infinities
            bad = sa.func.abs(column) == sa.literal_column("'Infinity'::numeric")
        else:
            bad = sa.false()
        bad = sa.and_(sa.not_(blank), bad)
        value = column if kind == "numeric" else sa.cast(column, sa.Numeric)
        return blank, bad, value


def _shown(offending: list[tuple[int, object]]) -> str:
    """ "row 5: 'abc', row 9: 'n/a'", as the in-process reader writes it."""
    return values_at(lambda n: f"row {n}", offending)


def _source(connection, query: str):
    """The log as a selectable with named columns: a table, or the query as a subquery."""
    import sqlalchemy as sa

    if re.search(r"\s", query) or query.startswith(('"', "`", "[")):
        # As written: no ":name" bind parameters (a literal '10:30' stays as it is).
        text = query.strip().rstrip(";").strip().replace(":", "\\:")
        probe = sa.select(sa.text("*")).select_from(sa.text(f"({text}) AS segbot_probe")).limit(0)
        try:
            columns = list(connection.execute(probe).keys())
        except sa.exc.SQLAlchemyError as exc:
            connection.rollback()
            raise _NoPushDown(
                f"the database does not take the query as a subquery ({_first_line(exc)})"
            ) from None
        return sa.text(text).columns(*[sa.column(c) for c in columns]).subquery("segbot_log")
    schema, _, name = query.rpartition(".")
    found = sa.inspect(connection).get_columns(name, schema=schema or None)
    return sa.table(name, *[sa.column(c["name"]) for c in found], schema=schema or None)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return " ".join(str(orig).split())[:200]


def _register_sqlite_number(connection) -> None:
    """segbot_number(value): the float of a number written as text (surrounding
    blanks allowed), NULL for text that is not a finite number; in-process
    rules (Arrow's parser) without a regular expression SQLite lacks."""

    def number(value):
        if isinstance(value, int | float):
            return float(value) if math.isfinite(value) else None
        if not isinstance(value, str) or "_" in value:
            return None
        try:
            parsed = float(value.strip())
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None

    raw = connection.connection.driver_connection
    raw.create_function(_SQLITE_NUMBER_FUNCTION, 1, number, deterministic=True)


def _sorted_by_id(table: pd.DataFrame) -> pd.DataFrame:
    """Customers in the order in-process gives for the usual ids (by the number or
    the fixed pattern they write), else sorted as text."""
    import pyarrow as pa

    text = pa.chunked_array([pa.array(table["cid"].astype(object), type=pa.large_string())])
    keys = integer_keys(text) if len(table) else None
    order = (
        np.argsort(keys, kind="stable")
        if keys is not None
        else np.argsort(table["cid"].to_numpy(dtype=object), kind="stable")
    )
    return table.iloc[order].reset_index(drop=True)
