"""Synthetic purchase logs for tests and benchmarks (`--kind transactions`).

Customers are drawn from latent groups that RFM features should find again:

- champions: bought recently, often, for years;
- at risk: used to buy often, nothing for 7 to 15 months;
- big spenders: few purchases, big baskets;
- new customers: first purchase in the last seven weeks, one or two orders;
- occasional: a few small purchases now and then.

Columns: ``customer_id`` (text, digits zero-padded to at least 5: "00042"),
``date`` (a datetime with a time of day), ``amount`` (2 decimals; about 2% of
rows are returns with a negative amount) and ``quantity`` (whole units,
negative on returns). Rows come in random order, customers interleaved, as in a
real export; the log ends on `END`.

Write one: ``python -m model.data.sample_transactions --rows 100000 --out orders.csv``.

Deterministic per seed: the customers (group, how many purchases, when) come
from one generator seeded by ``(seed, customers)``; the rows are made in
blocks of `BLOCK_ROWS`, each with its own generator, so a file written in
chunks has the same rows whatever the chunk size.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from model.errors import DataError

BLOCK_ROWS = 1 << 16
END = np.datetime64("2025-06-30", "D")
RETURN_SHARE = 0.02
COLUMNS = ["customer_id", "date", "amount", "quantity"]

GROUPS = ("champions", "at_risk", "big_spenders", "new_customers", "occasional")
_WEIGHTS = np.array([0.15, 0.15, 0.10, 0.20, 0.40])
# purchases: (median, sigma of the log); basket: (median, sigma of the log)
_PURCHASES = np.array([[30, 0.25], [12, 0.25], [3, 0.25], [1.3, 0.3], [3, 0.3]])
_BASKET = np.array([[80, 0.25], [70, 0.25], [600, 0.25], [50, 0.25], [25, 0.25]])
# days before END of the last purchase, and from the first to the last: (low, high)
_LAST = np.array([[0, 10], [220, 450], [5, 50], [0, 20], [70, 300]])
_SPAN = np.array([[700, 1500], [400, 1200], [300, 1000], [0, 30], [150, 700]])
_MEAN_ROWS = float(_WEIGHTS @ (_PURCHASES[:, 0] * np.exp(_PURCHASES[:, 1] ** 2 / 2)))


def id_width(customers: int) -> int:
    return max(5, len(str(customers)))


class _Plan:
    """Who buys: each customer's group, purchase count, first/last day, basket;
    and `owner`, the customer of each row, shuffled."""

    def __init__(self, customers: int, seed: int):
        rng = np.random.default_rng([seed, customers, 0])
        self.customers = customers
        self.seed = seed
        group = rng.choice(len(GROUPS), size=customers, p=_WEIGHTS)
        self.group = group
        median, sigma = _PURCHASES[group, 0], _PURCHASES[group, 1]
        count = np.maximum(np.rint(median * np.exp(sigma * rng.standard_normal(customers))), 1)
        self.count = count.astype(np.int64)
        lo, hi = _LAST[group, 0], _LAST[group, 1]
        self.last = np.rint(lo + (hi - lo) * rng.random(customers)).astype(np.int64)
        lo, hi = _SPAN[group, 0], _SPAN[group, 1]
        span = np.rint(lo + (hi - lo) * rng.random(customers)).astype(np.int64)
        self.span = np.where(self.count == 1, 0, span)
        median, sigma = _BASKET[group, 0], _BASKET[group, 1]
        self.basket = median * np.exp(sigma * rng.standard_normal(customers))
        owner = np.repeat(np.arange(customers, dtype=np.int32), self.count)
        rng.shuffle(owner)
        self.owner = owner
        width = id_width(customers)
        import pyarrow as pa
        import pyarrow.compute as pc

        numbers = pa.array(np.arange(1, customers + 1, dtype=np.int64)).cast(pa.string())
        self.ids = pc.utf8_lpad(numbers, width=width, padding="0")

    @property
    def rows(self) -> int:
        return len(self.owner)

    def block(self, number: int):
        """Rows number*BLOCK_ROWS .. +BLOCK_ROWS as an Arrow table."""
        import pyarrow as pa

        rng = np.random.default_rng([self.seed, self.customers, 1, number])
        who = self.owner[number * BLOCK_ROWS : (number + 1) * BLOCK_ROWS]
        n = len(who)
        # Purchases spread over the customer's active span; the time of day 08:00-22:00.
        back = self.last[who] + np.rint(self.span[who] * rng.random(n)).astype(np.int64)
        seconds = (END - back).astype("datetime64[s]") + rng.integers(8 * 3600, 22 * 3600, n)
        quantity = 1 + rng.poisson(1.2, n)
        amount = np.round(self.basket[who] * np.exp(0.3 * rng.standard_normal(n)), 2)
        amount = np.maximum(amount, 0.5)
        back_out = rng.random(n) < RETURN_SHARE
        amount[back_out] *= -1
        quantity[back_out] *= -1
        return pa.table(
            {
                "customer_id": self.ids.take(pa.array(who)),
                "date": pa.array(seconds, type=pa.timestamp("s")),
                "amount": pa.array(amount, type=pa.float64()),
                "quantity": pa.array(quantity.astype(np.int64)),
            }
        )

    def tables(self, rows: int | None = None, chunk_rows: int = 1 << 20) -> Iterator:
        """Arrow tables of about `chunk_rows` rows, the first `rows` rows in all."""
        import pyarrow as pa

        stop = self.rows if rows is None else min(rows, self.rows)
        per = max(1, chunk_rows // BLOCK_ROWS)
        blocks = (stop + BLOCK_ROWS - 1) // BLOCK_ROWS
        for first in range(0, blocks, per):
            parts = [self.block(b) for b in range(first, min(first + per, blocks))]
            table = pa.concat_tables(parts)
            end = min(stop - first * BLOCK_ROWS, table.num_rows)
            yield table.slice(0, end)


def _to_pandas(table) -> pd.DataFrame:
    frame = table.to_pandas()
    frame["customer_id"] = frame["customer_id"].astype("str")
    return frame


def generate_transactions(customers: int, seed: int = 42) -> pd.DataFrame:
    """Every purchase of `customers` synthetic customers (about 8 each), in
    random order. Columns `COLUMNS`; ids "00001".. (see module doc)."""
    if customers < 1:
        raise ValueError("customers must be ≥ 1")
    import pyarrow as pa

    plan = _Plan(customers, seed)
    return _to_pandas(pa.concat_tables(plan.tables()))


def customers_for(rows: int) -> int:
    """How many customers make about `rows` purchases."""
    return max(1, int(rows / _MEAN_ROWS))


def write_transactions(path: Path, rows: int, seed: int = 42, chunk_rows: int = 1 << 20) -> Path:
    """Write exactly `rows` purchases to `path` (.csv or .parquet), `chunk_rows`
    at a time (memory stays bounded); atomically, as `model.data.sample.write_sample`."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise DataError(f"cannot write {path.name!r}: the file name must end in .csv or .parquet")
    if rows < 1:
        raise DataError(f"cannot write a log of {rows} rows: ask for at least 1")
    customers = customers_for(rows)
    plan = _Plan(customers, seed)
    while plan.rows < rows:  # small logs can fall short of the average: add customers
        customers = int(customers * 1.2) + 1
        plan = _Plan(customers, seed)
    folder = path.parent if str(path.parent) else Path(".")
    tmp = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        tables = plan.tables(rows, chunk_rows)
        first = next(tables)
        if suffix == ".parquet":
            with pq.ParquetWriter(tmp, first.schema, compression="zstd") as writer:
                writer.write_table(first)
                for table in tables:
                    writer.write_table(table)
        else:
            options = pacsv.WriteOptions(quoting_style="needed")
            with pacsv.CSVWriter(tmp, first.schema, write_options=options) as writer:
                writer.write_table(first)
                for table in tables:
                    writer.write_table(table)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m model.data.sample_transactions",
        description="Write a synthetic purchase log (csv or parquet by extension).",
    )
    parser.add_argument("--rows", type=int, default=100_000, help="purchases (rows)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", required=True, help="output file, .csv or .parquet")
    args = parser.parse_args(argv)
    try:
        path = write_transactions(Path(args.out), rows=args.rows, seed=args.seed)
    except DataError as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    print(f"wrote {args.rows:,} purchases to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
