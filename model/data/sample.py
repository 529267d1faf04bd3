"""Synthetic customers: the bundled sample and `segbot sample-data`.

Customers are drawn from latent groups that a segmentation should find again
after log-scaling and standardising:

- high-income shoppers (high income, big baskets, long tenure),
- frequent shoppers (many orders, bought a few days ago),
- low-income occasional shoppers (small income, few small orders),
- young big spenders (18-28, big baskets, new customers),
- lapsed customers (used to buy, nothing for a year or more).

A few percent of values are missing (age, gender, income, average order value,
recency) and 0.2% of rows carry an extreme income or total spend.

Rows are generated in fixed blocks of `BLOCK_ROWS`, each with its own random
generator seeded by `(seed, block number)`. Row *i* of a seed is therefore the
same whichever way the rows are asked for: `generate(10, start=5)` equals rows
5..14 of `generate(100)`, and a file written in chunks has the same content as
one written in one go.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np
import pandas as pd

from model.errors import DataError

BLOCK_ROWS = 1 << 16
SUFFIXES = (".csv", ".parquet")

COLUMNS = [
    "customer_id",
    "age",
    "gender",
    "annual_income",
    "orders_per_year",
    "avg_order_value",
    "total_spend",
    "days_since_last_purchase",
    "tenure_months",
]

# Latent groups. Money and counts are log-normal: (median, sigma of the log).
GROUPS = ("high_income", "frequent", "low_income_occasional", "young_big_spenders", "lapsed")
_WEIGHTS = np.array([0.18, 0.24, 0.30, 0.12, 0.16])
_AGE = np.array([[46, 9], [36, 10], [41, 14], [23, 3], [50, 12]], dtype=float)  # mean, sd
_INCOME = np.array([[150_000, 0.22], [62_000, 0.25], [26_000, 0.2], [42_000, 0.25], [72_000, 0.3]])
_ORDERS = np.array([[14, 0.3], [55, 0.25], [3, 0.35], [22, 0.3], [1.5, 0.35]])
_AOV = np.array([[220, 0.25], [55, 0.25], [28, 0.3], [140, 0.25], [95, 0.3]])
_RECENCY = np.array([[25, 0.5], [4, 0.5], [80, 0.4], [8, 0.5], [480, 0.25]])
_TENURE = np.array([[60, 0.35], [40, 0.35], [18, 0.5], [8, 0.45], [70, 0.35]])

GENDERS = np.array(["Female", "Male", "Other"], dtype=object)
_GENDER_P = np.array([0.50, 0.46, 0.04])

# Share of missing values per column, and of outlier rows.
MISSING = {
    "age": 0.03,
    "gender": 0.02,
    "annual_income": 0.04,
    "avg_order_value": 0.015,
    "days_since_last_purchase": 0.02,
}
OUTLIER_SHARE = 0.002


def _lognormal(rng: np.random.Generator, params: np.ndarray, group: np.ndarray) -> np.ndarray:
    median, sigma = params[group, 0], params[group, 1]
    return median * np.exp(sigma * rng.standard_normal(group.size))


def _block(seed: int, block: int) -> dict[str, np.ndarray]:
    """All columns but the id for rows block*BLOCK_ROWS .. +BLOCK_ROWS."""
    rng = np.random.default_rng([seed, block])
    n = BLOCK_ROWS
    group = rng.choice(len(GROUPS), size=n, p=_WEIGHTS)

    age = np.clip(np.rint(_AGE[group, 0] + _AGE[group, 1] * rng.standard_normal(n)), 18, 90)
    # Young big spenders are young by definition.
    young = group == GROUPS.index("young_big_spenders")
    age[young] = np.clip(age[young], 18, 28)
    gender = GENDERS[rng.choice(len(GENDERS), size=n, p=_GENDER_P)]
    income = np.clip(np.rint(_lognormal(rng, _INCOME, group) / 10) * 10, 18_000, 250_000)
    orders = np.maximum(np.rint(_lognormal(rng, _ORDERS, group)), 1)
    aov = np.round(np.clip(_lognormal(rng, _AOV, group), 5, None), 2)
    recency = np.rint(_lognormal(rng, _RECENCY, group))
    tenure = np.maximum(np.rint(_lognormal(rng, _TENURE, group)), 1)
    # Lifetime spend: orders a year x basket x years as a customer, with noise.
    spend = orders * aov * np.maximum(tenure, 1) / 12 * np.exp(0.1 * rng.standard_normal(n))

    # Outliers: extreme incomes and extreme spends.
    odd = rng.random(n) < OUTLIER_SHARE
    income[odd] = np.rint(income[odd] * rng.uniform(5, 20, odd.sum()))
    odd = rng.random(n) < OUTLIER_SHARE
    spend[odd] *= rng.uniform(10, 50, odd.sum())
    spend = np.round(spend, 2)

    columns: dict[str, np.ndarray] = {
        "age": age,
        "gender": gender,
        "annual_income": income,
        "orders_per_year": orders,
        "avg_order_value": aov,
        "total_spend": spend,
        "days_since_last_purchase": recency,
        "tenure_months": tenure,
    }
    for name, share in MISSING.items():
        hole = rng.random(n) < share
        columns[name][hole] = np.nan
    return columns


def generate(rows: int, seed: int = 42, start: int = 0) -> pd.DataFrame:
    """Synthetic customers `start .. start+rows-1` for `seed` (see module doc).

    `customer_id` is a string: "C" and the 1-based row number, zero-padded to 8
    digits ("C00000001"). Other columns are float64 except `gender` (str, with
    missing values as NaN).
    """
    if rows < 0 or start < 0:
        raise ValueError("rows and start must be ≥ 0")
    stop = start + rows
    first, last = start // BLOCK_ROWS, max(start, stop - 1) // BLOCK_ROWS
    parts: dict[str, list[np.ndarray]] = {name: [] for name in COLUMNS[1:]}
    for block in range(first, last + 1) if rows else ():
        lo = max(start - block * BLOCK_ROWS, 0)
        hi = min(stop - block * BLOCK_ROWS, BLOCK_ROWS)
        for name, values in _block(seed, block).items():
            parts[name].append(values[lo:hi])

    number = pd.Series(np.arange(start + 1, stop + 1, dtype=np.int64))
    data: dict[str, object] = {"customer_id": ("C" + number.astype(str).str.zfill(8)).array}
    for name in COLUMNS[1:]:
        values = np.concatenate(parts[name]) if parts[name] else np.array([], dtype=float)
        if name == "gender":
            data[name] = pd.array(values.astype(object), dtype="str")
        else:
            data[name] = values.astype(np.float64, copy=False)
    return pd.DataFrame(data, columns=COLUMNS)


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"cannot write {path.name!r}: the file name must end in .csv or .parquet")
    return suffix


def write_sample(path: Path, rows: int = 5000, seed: int = 42, chunk_rows: int = 500_000) -> Path:
    """Write `rows` synthetic customers to `path` (.csv or .parquet) and return it.

    Rows are written `chunk_rows` at a time, so memory stays bounded whatever
    `rows` is. The file is first written next to `path` under a temporary name
    and moved into place at the end: a failed run leaves no half file.
    """
    path = Path(path)
    suffix = _suffix(path)
    if rows < 1:
        raise DataError(f"cannot write a sample of {rows} rows: ask for at least 1")
    if chunk_rows < 1:
        raise DataError(f"chunk_rows must be at least 1, not {chunk_rows}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise DataError(f"cannot write {path}: folder {folder} does not exist")

    tmp = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    # 0o666 and O_EXCL: the usual permissions (umask applies), never someone else's file.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            chunks = (
                generate(min(chunk_rows, rows - start), seed=seed, start=start)
                for start in range(0, rows, chunk_rows)
            )
            if suffix == ".csv":
                _write_csv(handle, chunks)
            else:
                _write_parquet(handle, chunks)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _schema():
    import pyarrow as pa

    text = ("customer_id", "gender")
    return pa.schema([(c, pa.string() if c in text else pa.float64()) for c in COLUMNS])


def _write_csv(handle, chunks) -> None:
    # Arrow's writer is several times faster than DataFrame.to_csv; whole numbers
    # come out as "22", not "22.0", text is quoted, missing values are empty.
    import pyarrow as pa
    import pyarrow.csv as pacsv

    schema = _schema()
    with pacsv.CSVWriter(handle, schema) as writer:  # the header once, then each chunk
        for frame in chunks:
            writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))


def _write_parquet(handle, chunks) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema()
    with pq.ParquetWriter(handle, schema, compression="zstd", use_dictionary=["gender"]) as writer:
        for frame in chunks:
            writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
