"""The rules a customers table must meet, in the words users see.

Both engines check a table against these: the local loader (`model.data.load`,
on pandas) and the Spark engine (`model.training.spark_engine`, on a Spark
DataFrame). Each works out what it can cheaply — column names, counts, the
positions of the first offending rows — and hands them here, so a broken rule
reads the same whichever engine found it. No pandas, no Spark: a check raises its
`DataError` or returns it to raise, and `all_missing` adds its note to `notes`.

Positions are 0-based rows in the order read; `where` turns one into what the
user sees ("line 7" in a CSV file, "row 6" elsewhere).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from model.data.ids import ROW_IDS
from model.data.messages import Where, at_rows, name_list, plural, values_at
from model.errors import DataError

MAX_CATEGORIES = 100
"""A listed text feature with more distinct values than this is refused: it is
most likely an identifier or free text, and one-hot encoding it would explode."""

PANDAS_INDEX = re.compile(r"^__index_level_\d+__$")
CSV_INDEX = "Unnamed: 0"  # pandas' name for a blank first header: `DataFrame.to_csv`'s index


def feature_candidates(columns: Sequence[str], id_column: str) -> list[str]:
    """The features when none are listed: every column but the id and a saved pandas
    index (a Parquet ``__index_level_0__``, or a CSV's blank first header)."""
    return [
        c
        for i, c in enumerate(columns)
        if (id_column == ROW_IDS or c != id_column)
        and not PANDAS_INDEX.match(c)
        and not (i == 0 and c == CSV_INDEX)
    ]


def check_unique_columns(columns: Sequence[str], source: str) -> None:
    if len(set(columns)) != len(columns):
        twice = sorted({c for c in columns if columns.count(c) > 1})
        raise DataError(f"{source} has more than one column named {name_list(twice)}")


def no_rows(source: str) -> DataError:
    return DataError(f"{source} has no rows")


def empty_ids(id_column: str, count: int, positions: Sequence[int], where: Where) -> DataError:
    """`count` rows have no id (missing or blank); `positions`: the first of them."""
    return DataError(
        f"id column {id_column!r} is empty in {count:,} {plural(count, 'row')} "
        f"({at_rows(where, positions)}); every customer needs an id"
    )


def duplicate_ids(id_column: str, groups: int, shown: Iterable[str]) -> DataError:
    """`groups` ids appear more than once; `shown`: a few of them, each with where."""
    return DataError(
        f"id column {id_column!r} has {groups:,} duplicate {plural(groups, 'id')} "
        f"({'; '.join(shown)}); a customers table needs one row per customer"
    )


def dates_listed(name: str) -> DataError:
    """A date or time column listed as a feature (one not listed is skipped)."""
    return DataError(
        f"column {name!r} holds dates or times, not numbers or categories; "
        "for a purchase log set SEGBOT_DATA_KIND=transactions (or --kind)"
    )


def mostly_text(present: int, not_numbers: int) -> bool:
    """Whether a text column is text (not numbers with some typos): when at least
    half of its `present` values are `not_numbers`."""
    return 2 * not_numbers >= present


def text_in_numbers(
    name: str, count: int, first: Sequence[tuple[int, object]], where: Where
) -> DataError:
    """`count` values of a numeric column are text; `first`: (position, value) of a few."""
    return DataError(
        f"column {name!r} has text where numbers are expected in {count:,} "
        f"{plural(count, 'row')} ({values_at(where, first)})"
    )


def infinite_note(name: str, count: int, positions: Sequence[int], where: Where) -> str:
    """The note for `count` infinite values, which count as missing."""
    return (
        f"column {name!r}: {count:,} infinite {plural(count, 'value')} "
        f"treated as missing ({at_rows(where, positions)})"
    )


def all_missing(name: str, listed: bool, notes: list[str]) -> None:
    """A column with no value at all: an error when listed, else skipped with a note."""
    if listed:
        raise DataError(f"feature column {name!r} has no values: it is missing in every row")
    notes.append(f"column {name!r} skipped: it is missing in every row")


def check_categories(name: str, count: int) -> None:
    """A categorical feature has `count` distinct values (at least that many)."""
    if count > MAX_CATEGORIES:
        raise DataError(
            f"column {name!r} has {count:,} different values; a categorical "
            f"feature can have at most {MAX_CATEGORIES} (is it an id or free text?)"
        )


def no_usable_feature(
    source: str, id_column: str, skipped_text: Sequence[str], columns: Sequence[str]
) -> DataError:
    """No feature is left; `skipped_text`: text columns left out because not listed."""
    hint = (
        f"; text columns {name_list(skipped_text)} are used only when listed in "
        "SEGBOT_FEATURES / --features"
        if skipped_text
        else ""
    )
    besides = "" if id_column == ROW_IDS else f" besides the id {id_column!r}"
    return DataError(
        f"no usable feature column in {source}: no numeric column{besides}"
        f"{hint}; the columns are: {name_list(columns)}"
    )


def check_enough_rows(n: int, source: str, fixed_k: int | None) -> None:
    """At least 2 rows, and at least as many as a fixed k asks for segments."""
    if n < 2:
        raise DataError(f"{source} has only 1 row; segmenting needs at least 2")
    if fixed_k is not None and n < fixed_k:
        raise DataError(
            f"{source} has {n} rows but SEGBOT_K / --k asks for {fixed_k} segments; "
            "lower --k (or set it to auto) or add rows"
        )
