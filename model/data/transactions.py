"""Purchase logs to per-customer features (``SEGBOT_DATA_KIND=transactions``).

A transaction log has one row per purchase: a customer id, a date and an
amount, optionally a quantity (columns named by ``SEGBOT_ID_COLUMN``,
``SEGBOT_DATE_COLUMN``, ``SEGBOT_AMOUNT_COLUMN`` and ``SEGBOT_QUANTITY_COLUMN``;
without the last, a column called ``quantity`` or ``qty``, in any case, is used
when there is one). `customer_features` turns it into one row per customer:

================  ==============================================================
recency_days      days from the customer's last purchase to the as-of day
frequency         number of distinct days with a purchase
monetary_total    net amount spent: purchases minus returns, never below 0
avg_order_value   monetary_total / frequency (spend per purchase day; 0 if none)
tenure_days       days from the customer's first purchase to the as-of day
items             quantity bought minus quantity returned, never below 0
                  (only when there is a quantity column)
================  ==============================================================

Rules:

- **As-of day.** ``SEGBOT_AS_OF`` (a date) when set, else the latest date in the
  log. With ``SEGBOT_AS_OF`` rows dated after that day are left out, so the
  features are the ones the customers had on that day.
- **Days.** Everything is counted in whole calendar days: a purchase on the
  as-of day has recency 0. Dates and datetimes without a timezone are taken as
  written; values with a UTC offset (``2024-03-01T23:30:00+02:00``, ``...Z``) or
  from a timezone-aware column are converted to UTC first. Text dates must be
  ISO 8601 (``2024-03-01``, ``2024-03-01 14:05:09``, with ``T``, fractions of a
  second or an offset); ``01/03/2024`` is refused rather than guessed.
- **Frequency is distinct purchase days.** Several rows on one day (the lines
  of one basket, or two orders the same day) count once. Every log has a date,
  not every log has an order number, and exports with one row per order line
  would otherwise count lines instead of visits.
- **Returns.** A row with a negative amount is a return. It reduces the
  monetary total (and items, by its quantity whatever its sign), but it is not
  a purchase: it counts for neither frequency, recency nor tenure. A customer
  whose returns outweigh their purchases has a monetary total of 0. A customer
  with returns only (who bought before the log begins) is kept, with frequency
  0 and monetary total 0, recency and tenure counted from their returns. A row
  with amount 0 is a purchase.
- **Values.** Every row needs an id, a date and an amount (and a quantity when
  one is used); a missing or unreadable one is a `DataError` naming the column,
  how many rows and the first few (row number and value). Ids are text, kept
  exactly as written ("00042" stays "00042").

Speed and memory: ids are factorised once into integer codes; dates become
int64 day numbers (Arrow parses ISO text); every aggregate is a ``np.bincount``
except first/last day and distinct days, which come from one sort of the
purchase rows' ``code * span + day`` keys. No Python runs per customer or per
row: 10M rows take a few seconds (see bench/bench_transactions.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from model.config import Settings
from model.data.ids import ROW_IDS, id_strings
from model.data.messages import at_rows, did_you_mean, first_values, name_list, plural
from model.errors import DataError

log = logging.getLogger(__name__)

FEATURES = (
    "recency_days",
    "frequency",
    "monetary_total",
    "avg_order_value",
    "tenure_days",
    "items",
)
DEFAULT_FEATURES = ("recency_days", "frequency", "monetary_total", "tenure_days")
"""Segmented on unless SEGBOT_FEATURES lists others: recency, frequency and
monetary value (RFM) plus tenure. avg_order_value is monetary_total / frequency
and items mostly follows the money, so adding them by default would count
spend two or three times in KMeans' distances; list them to use them."""
QUANTITY_NAMES = ("quantity", "qty")
"""Column names (any case) used as the quantity when SEGBOT_QUANTITY_COLUMN is unset."""

ISO_HINT = "YYYY-MM-DD, optionally with a time and a UTC offset"
_UNITS_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def _row(i: int) -> str:
    return f"row {i + 1}"


# --------------------------------------------------------------------------- columns


def quantity_column(available: list[str], settings: Settings) -> str | None:
    """The quantity column: SEGBOT_QUANTITY_COLUMN, else `quantity`/`qty` if present."""
    if settings.quantity_column:
        return settings.quantity_column
    taken = {settings.id_column, settings.date_column, settings.amount_column}
    for name in available:
        if name.strip().lower() in QUANTITY_NAMES and name not in taken:
            return name
    return None


def transaction_columns(available: list[str], settings: Settings, source: str) -> list[str]:
    """The columns a transaction log needs, in the order id, date, amount[, quantity];
    a `DataError` naming the first one missing and listing the columns there are."""
    if settings.id_column == ROW_IDS:  # each row is a purchase: its number names no customer
        raise DataError(
            f"--id-column {ROW_IDS} (row numbers as ids) is for a customers table, not a "
            "transaction log: set SEGBOT_ID_COLUMN / --id-column to the column naming "
            "the customer of each purchase"
        )
    roles = [
        ("id", settings.id_column, "SEGBOT_ID_COLUMN or --id-column"),
        ("date", settings.date_column, "SEGBOT_DATE_COLUMN or --date-column"),
        ("amount", settings.amount_column, "SEGBOT_AMOUNT_COLUMN or --amount-column"),
    ]
    quantity = quantity_column(available, settings)
    if quantity is not None:
        roles.append(("quantity", quantity, "SEGBOT_QUANTITY_COLUMN"))
    seen: dict[str, str] = {}
    for role, name, how in roles:
        if name not in available:
            raise DataError(
                f"{role} column {name!r} not found in {source} (set {how}"
                f"{did_you_mean(name, available, '; ')}); the columns are: {name_list(available)}"
            )
        if name in seen:
            raise DataError(
                f"column {name!r} cannot be both the {seen[name]} and the {role} column "
                "of a transaction log"
            )
        seen[name] = role
    return [name for _, name, _ in roles]


# --------------------------------------------------------------------------- public


def customer_features(
    table: pd.DataFrame,
    settings: Settings,
    *,
    where: Callable[[int], str] = _row,
    source: str = "the transaction log",
) -> pd.DataFrame:
    """One row per customer: the id column (text) and the features of the module doc.

    `table` has one row per purchase; `where` names a 0-based row position in
    messages ("line 7" for a CSV file, "row 6" otherwise). Customers come sorted
    by id for the usual id formats, else in order of appearance. Things worth
    knowing (returns netted off, rows after the as-of day left out) are listed
    in ``frame.attrs["notes"]``; the as-of day in ``frame.attrs["as_of"]``.
    """
    columns = [str(c) for c in table.columns]
    if list(table.columns) != columns:
        table = table.set_axis(columns, axis=1)
    id_column, date_column, amount_column, *rest = transaction_columns(columns, settings, source)
    quantity = rest[0] if rest else None
    check_listed_features(settings, has_items=quantity is not None)
    if len(table) == 0:
        raise DataError(f"{source} has no rows")

    codes, ids = _factorize_ids(table[id_column], id_column, where)
    days = day_numbers(table[date_column], date_column, where)
    amount = _numbers(table[amount_column], amount_column, "amount", where)
    qty = _numbers(table[quantity], quantity, "quantity", where) if quantity else None

    notes: list[str] = []
    if settings.as_of:
        as_of = as_of_day(settings.as_of)
        keep = days <= as_of
        if not keep.all():
            left_out = int(len(keep) - keep.sum())
            if left_out == len(keep):
                raise DataError(
                    f"every row of {source} is dated after SEGBOT_AS_OF {settings.as_of}"
                    f" (the first purchase is on {iso_date(int(days.min()))})"
                )
            notes.append(
                f"{left_out:,} {plural(left_out, 'row')} dated after SEGBOT_AS_OF "
                f"{settings.as_of} left out"
            )
            codes, days, amount = codes[keep], days[keep], amount[keep]
            qty = qty[keep] if qty is not None else None
    else:
        as_of = int(days.max())

    features, counts = aggregate(codes, len(ids), days, amount, qty, as_of)
    present = features.pop("present", None)
    if present is not None:
        ids = ids[present].reset_index(drop=True)
        features = {name: values[present] for name, values in features.items()}
    return features_frame(ids, features, counts, notes, as_of, settings, source, id_column)


def features_frame(
    ids: pd.Series,
    features: dict[str, np.ndarray],
    counts: dict[str, int],
    notes: list[str],
    as_of: int,
    settings: Settings,
    source: str,
    id_column: str,
) -> pd.DataFrame:
    """The per-customer table from aggregated features (one value per id): the
    checks on the number of customers, the notes, and the features kept. Shared
    by the in-process aggregation and the SQL push-down (model.data.transactions_sql)."""
    customers = len(ids)
    if customers < 2:
        raise DataError(
            f"{source} has purchases of only {customers} customer; segmenting needs at least 2"
        )
    if settings.fixed_k is not None and customers < settings.fixed_k:
        raise DataError(
            f"{source} has purchases of {customers} customers but SEGBOT_K / --k asks for "
            f"{settings.fixed_k} segments; lower --k (or set it to auto) or add customers"
        )
    if counts["returns"]:
        r = counts["returns"]
        notes.append(
            f"{r:,} {plural(r, 'return')} (negative amounts) netted off the monetary total"
        )
    if counts["returns_only"]:
        c = counts["returns_only"]
        notes.append(f"{c:,} {plural(c, 'customer')} with returns only, kept with frequency 0")
    for note in notes:
        log.info("%s", note)

    data: dict[str, object] = {id_column: ids}
    for name in FEATURES if settings.features else DEFAULT_FEATURES:
        if name in features:
            data[name] = features[name]
    frame = pd.DataFrame(data, copy=False)
    frame.attrs["notes"] = notes
    frame.attrs["as_of"] = iso_date(as_of)
    frame.attrs["log"] = log_scale(features)
    return frame


def log_scale(features: dict[str, np.ndarray]) -> dict[str, float]:
    """What "new" and "lapsed" mean in this log: its span (days from the earliest
    first purchase to the as-of day) and the customers' typical gap between
    purchases (the median over repeat customers of their days between first and
    last purchase per further purchase day; 0 when nobody bought twice)."""
    tenure, recency = features["tenure_days"], features["recency_days"]
    frequency = features["frequency"]
    repeat = frequency >= 2
    gaps = (tenure[repeat] - recency[repeat]) / (frequency[repeat] - 1)
    return {
        "span_days": float(tenure.max()) if tenure.size else 0.0,
        "typical_gap_days": float(np.median(gaps)) if gaps.size else 0.0,
    }


def aggregate(
    codes: np.ndarray,
    k: int,
    days: np.ndarray,
    amount: np.ndarray,
    quantity: np.ndarray | None,
    as_of: int,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Per-customer features from row arrays (customer code 0..k-1, day number,
    float amount, float quantity). Rules in the module doc.

    Returns the feature arrays (plus ``present``, a boolean mask, when some
    codes have no row) and counts of return rows and returns-only customers.
    """
    codes = np.asarray(codes, dtype=np.intp)
    days = np.asarray(days)
    rows_per = np.bincount(codes, minlength=k)
    monetary = np.bincount(codes, weights=amount, minlength=k)
    np.maximum(monetary, 0.0, out=monetary)

    buy = amount >= 0
    returns = int(len(buy) - np.count_nonzero(buy))

    first = np.zeros(k, dtype=np.int64)
    last = np.zeros(k, dtype=np.int64)
    frequency = np.zeros(k, dtype=np.int64)
    if returns < len(buy):
        low = int(days.min())
        span = int(days.max()) - low + 1
        # One sort of (customer, day) keys of the purchases gives the distinct
        # pairs, hence each customer's purchase days, first day and last day.
        # uint32 keys sort faster and take half the memory: they fit up to about
        # 4 billion customer-days (3 million customers over 4 years).
        dtype = np.uint32 if k * span < 1 << 32 else np.int64
        key = codes.astype(dtype)
        key *= dtype(span)
        np.add(key, days, out=key, casting="unsafe")
        key -= dtype(low)
        if returns:
            key = key[buy]
        key.sort()
        fresh = np.empty(len(key), dtype=bool)
        fresh[0] = True
        np.not_equal(key[1:], key[:-1], out=fresh[1:])
        pairs = key[fresh]
        del key, fresh
        owner = pairs // dtype(span)
        new = np.empty(len(owner), dtype=bool)
        new[0] = True
        np.not_equal(owner[1:], owner[:-1], out=new[1:])
        start = np.flatnonzero(new)
        del new
        end = np.append(start[1:] - 1, len(owner) - 1)
        who = owner[start].astype(np.intp)
        del owner
        frequency[who] = np.diff(np.append(start, len(pairs)))
        first[who] = pairs[start] % span + low
        last[who] = pairs[end] % span + low
        del pairs

    only_returns = (frequency == 0) & (rows_per > 0)
    returns_only = int(only_returns.sum())
    if returns_only:  # few rows: their first and last day from their returns
        rows = only_returns[codes]
        c, d = codes[rows], days[rows]
        first[only_returns] = np.iinfo(np.int64).max
        last[only_returns] = np.iinfo(np.int64).min
        np.minimum.at(first, c, d)
        np.maximum.at(last, c, d)

    features: dict[str, np.ndarray] = {
        "recency_days": (as_of - last).astype(np.float64),
        "frequency": frequency.astype(np.float64),
        "monetary_total": monetary,
        "avg_order_value": np.divide(
            monetary, frequency, out=np.zeros(k, dtype=np.float64), where=frequency > 0
        ),
        "tenure_days": (as_of - first).astype(np.float64),
    }
    if quantity is not None:
        # Purchases add |quantity|, returns take it off: sum the quantities as
        # they are, then correct the (few) rows whose sign says otherwise.
        items = np.bincount(codes, weights=quantity, minlength=k)
        odd = np.flatnonzero((quantity < 0) == buy)
        if len(odd):
            items += np.bincount(codes[odd], weights=-2 * quantity[odd], minlength=k)
        features["items"] = np.maximum(items, 0.0, out=items)
    if (rows_per == 0).any():
        features["present"] = rows_per > 0
    return features, {"returns": returns, "returns_only": returns_only}


# --------------------------------------------------------------------------- columns in


def check_listed_features(settings: Settings, has_items: bool) -> None:
    derived = [f for f in FEATURES if has_items or f != "items"]
    seen: set[str] = set()
    for name in settings.features:
        if name not in derived:
            hint = (
                " (it needs a quantity column: set SEGBOT_QUANTITY_COLUMN)"
                if name == "items"
                else ""
            )
            raise DataError(
                f"unknown feature {name!r} in SEGBOT_FEATURES / --features{hint}; "
                f"a transaction log gives: {', '.join(derived)}"
            )
        if name in seen:
            raise DataError(f"feature {name!r} is listed twice in SEGBOT_FEATURES / --features")
        seen.add(name)


def _factorize_ids(
    series: pd.Series, name: str, where: Callable[[int], str]
) -> tuple[np.ndarray, pd.Series]:
    """Integer codes 0..k-1 for each row and the k distinct ids as text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
        series = id_strings(series)
    text = pa.array(series, from_pandas=True)
    if not isinstance(text, pa.ChunkedArray):
        text = pa.chunked_array([text])
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        text = pc.cast(text, pa.large_string())

    keys = integer_keys(text)
    if keys is not None:
        codes, first_rows = _dense_codes(keys)
        del keys
        uniques = text.take(pa.array(first_rows)).combine_chunks()
    else:  # any text: Arrow's hash table (one dictionary shared by the chunks)
        encoded = pc.dictionary_encode(text)
        codes = np.concatenate(
            [c.indices.fill_null(-1).to_numpy() for c in encoded.chunks] or [np.empty(0)]
        ).astype(np.intp)
        uniques = encoded.chunks[-1].dictionary if encoded.num_chunks else pa.array([], pa.string())
    missing = codes < 0
    blank = np.flatnonzero(pc.equal(pc.utf8_trim_whitespace(uniques), "").to_numpy(False))
    if len(blank):
        missing |= np.isin(codes, blank)
    if missing.any():
        count = int(missing.sum())
        first = at_rows(where, np.flatnonzero(missing))
        raise DataError(
            f"id column {name!r} is empty in {count:,} {plural(count, 'row')} ({first}); "
            "every purchase needs a customer id"
        )
    return codes, pd.Series(uniques.to_pandas(), dtype="str")


def integer_keys(text) -> np.ndarray | None:
    """An int64 per id that is equal exactly when the ids are, for the usual id
    formats, or None (then ids are hashed as text). Two cases, both exact:

    - digits only, at most 18, all of one length or none with a leading zero
      ("00042", "123456"): the number they write;
    - all of one length, at most 8 positions that differ between ids
      ("C00000042", "AB-1234"): those bytes (a decimal number when they are
      digits, then up to 18 positions).

    `text` is an Arrow ChunkedArray of strings; its buffers are read in place.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(text)
    if n == 0 or text.null_count:
        return None
    parts = []  # (offsets from 0, bytes) of each chunk
    for chunk in text.chunks:
        if len(chunk) == 0:
            continue
        _, offsets_buffer, data_buffer = chunk.buffers()
        wide = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(offsets_buffer, dtype=wide)[
            chunk.offset : chunk.offset + len(chunk) + 1
        ]
        data = (
            np.frombuffer(data_buffer, dtype=np.uint8)[int(offsets[0]) : int(offsets[-1])]
            if data_buffer is not None
            else np.empty(0, dtype=np.uint8)
        )
        parts.append((offsets - offsets[0], data))
    lengths = [np.diff(offsets) for offsets, _ in parts]
    shortest = min(int(x.min()) for x in lengths)
    longest = max(int(x.max()) for x in lengths)
    del lengths
    if shortest == 0:
        return None
    if longest <= 18 and all(d.min() >= 0x30 and d.max() <= 0x39 for _, d in parts):
        same_length = shortest == longest
        if same_length or not any(((d[o[:-1]] == 0x30) & (np.diff(o) > 1)).any() for o, d in parts):
            return pc.cast(text, pa.int64()).to_numpy()
    if shortest != longest or longest > 64:
        return None
    grids = [d.reshape(-1, longest) for _, d in parts]
    low = np.min([g.min(axis=0) for g in grids], axis=0)
    high = np.max([g.max(axis=0) for g in grids], axis=0)
    varying = np.flatnonzero(low != high)
    digits = bool((low[varying] >= 0x30).all() and (high[varying] <= 0x39).all())
    if len(varying) > (18 if digits else 8):
        return None
    key = np.zeros(n, dtype=np.int64)
    start = 0
    for grid in grids:
        part = key[start : start + len(grid)]
        for j in varying:
            if digits:
                part *= 10
                part += grid[:, j] - 0x30
            else:
                part <<= 8
                part |= grid[:, j]
        start += len(grid)
    return key


def _dense_codes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..k-1 of int64 keys and the first row of each code. A lookup table
    when the keys span a small range (ids then come sorted), else a hash table."""
    n = len(keys)
    low, high = int(keys.min()), int(keys.max())
    span = high - low + 1
    if span <= max(4 * n, 1 << 20) and span <= 1 << 28:
        offset = keys - low
        seen = np.zeros(span, dtype=bool)
        seen[offset] = True
        lookup = np.cumsum(seen, dtype=np.int32)
        lookup -= 1
        codes = lookup[offset].astype(np.intp)
        del lookup, seen, offset
    else:
        codes, _ = pd.factorize(keys, sort=False)
        codes = codes.astype(np.intp, copy=False)
    k = int(codes.max()) + 1
    first_rows = np.full(k, n, dtype=np.int64)
    np.minimum.at(first_rows, codes, np.arange(n, dtype=np.int64))
    return codes, first_rows


def day_numbers(series: pd.Series, name: str, where: Callable[[int], str] = _row) -> np.ndarray:
    """Days since 1970-01-01 (int32) of a date column: datetimes (naive or
    timezone-aware), dates, or ISO 8601 text. See the module doc for the rules."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        values = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        values = None  # mixed Python objects: let pandas read them
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values is not None and (
        pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
    ):
        shown = first_values(where, series, range(len(series)))
        raise DataError(
            f"date column {name!r} holds numbers, not dates ({shown}); write dates as {ISO_HINT}"
        )
    if values is not None and pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if values is not None and (
        pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    ):
        values = _parse_iso(values)
    if values is None or not (pa.types.is_timestamp(values.type) or pa.types.is_date(values.type)):
        values = _parse_slowly(series, name, where)
    if values.null_count:
        _missing(
            np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False)), name, "date", where
        )
    if pa.types.is_date(values.type):
        return pc.cast(pc.cast(values, pa.date32()), pa.int32()).to_numpy(zero_copy_only=False)
    # Timestamps are stored as UTC instants when timezone-aware, as written otherwise.
    ticks = pc.cast(values, pa.int64()).to_numpy()
    return np.floor_divide(ticks, _UNITS_PER_DAY[values.type.unit]).astype(np.int32)


def _parse_iso(text):
    """ISO 8601 text as an Arrow timestamp array, or None when Arrow's strict
    parser does not take every value (blanks, mixed offsets, other formats)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for target in (pa.timestamp("ns"), pa.timestamp("ns", tz="UTC")):
        try:
            return pc.cast(text, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return None


def _parse_slowly(series: pd.Series, name: str, where: Callable[[int], str]):
    """pandas' ISO 8601 parser (naive values as UTC); a DataError naming the rows
    that are blank or not ISO dates."""
    import pyarrow as pa

    stripped = series.astype("str").str.strip()
    blank = (stripped.isna() | (stripped == "")).to_numpy(dtype=bool, na_value=True)
    objects = series.astype(object).where(~blank, None)
    parsed = pd.to_datetime(objects, format="ISO8601", utc=True, errors="coerce")
    bad = ~blank & parsed.isna().to_numpy()
    if bad.any():
        count = int(bad.sum())
        shown = first_values(where, series, np.flatnonzero(bad))
        raise DataError(
            f"date column {name!r} has {count:,} {plural(count, 'value')} that "
            f"{'is not a date' if count == 1 else 'are not dates'} ({shown}); "
            f"write dates as {ISO_HINT}"
        )
    if blank.any():
        _missing(np.flatnonzero(blank), name, "date", where)
    return pa.array(parsed, from_pandas=True)


def _numbers(series: pd.Series, name: str, role: str, where: Callable[[int], str]) -> np.ndarray:
    """A float64 array of an amount or quantity column; a DataError for blanks,
    text and infinities, naming the rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
        raise DataError(f"{role} column {name!r} holds {dtype} values, not numbers")
    if dtype == np.float64:
        values = series.to_numpy()  # no copy
        text = None
    elif pd.api.types.is_numeric_dtype(dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        text = None
    else:
        text = series.astype("str").str.strip()
        text = text.mask(text == "")
        try:
            values = pc.cast(pa.array(text, from_pandas=True), pa.float64()).to_numpy(
                zero_copy_only=False
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            values = pd.to_numeric(text, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
    finite = np.isfinite(values)
    if finite.all():
        return values
    blank = np.isnan(values) if text is None else text.isna().to_numpy()
    bad = ~finite & ~blank
    if bad.any():
        count = int(bad.sum())
        shown = first_values(where, series, np.flatnonzero(bad))
        raise DataError(
            f"{role} column {name!r} has text where numbers are expected in {count:,} "
            f"{plural(count, 'row')} ({shown})"
        )
    _missing(np.flatnonzero(blank), name, role, where)
    raise AssertionError("unreachable")


def _missing(positions: np.ndarray, name: str, role: str, where: Callable[[int], str]) -> None:

    count = len(positions)
    first = at_rows(where, positions)
    raise DataError(
        f"{role} column {name!r} is empty in {count:,} {plural(count, 'row')} ({first}); "
        f"every purchase needs {'an' if role[0] in 'aeiou' else 'a'} {role}"
    )


def as_of_day(text: str) -> int:
    try:
        stamp = pd.to_datetime(str(text).strip(), format="ISO8601")
    except (ValueError, TypeError):
        stamp = pd.NaT
    if stamp is pd.NaT or pd.isna(stamp):
        raise DataError(f"SEGBOT_AS_OF {text!r} is not a date; write it as YYYY-MM-DD")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return int((stamp.normalize() - pd.Timestamp("1970-01-01")) // pd.Timedelta(days=1))


def iso_date(day: int) -> str:
    return str(np.datetime64(int(day), "D"))
