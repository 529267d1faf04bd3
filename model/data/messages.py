"""Wording of data problems: the small pieces every one-line `DataError` is built from.

Shared by the rules of a customers table (`model.data.rules`, which both engines
check), the local reader (`model.data.load`) and the readers of purchase logs
(`model.data.transactions`, `model.data.transactions_sql`), so that a column, a row
or a list of names reads the same whatever the source.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

SHOW = 3  # how many offending rows or values a message quotes

Where = Callable[[int], str]
"""A 0-based position -> the row as users see it ("line 7" in a CSV file, "row 6")."""


def one_line(exc: object) -> str:
    """An exception's text on one line (its type's name when it has none)."""
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def first_values(where: Where, values: pd.Series, positions: Sequence[int]) -> str:
    """ "line 5: 'abc', line 9: 'n/a'": the first SHOW offending rows, for one-line messages."""
    return values_at(where, [(i, values.iat[int(i)]) for i in positions[:SHOW]])


def values_at(where: Where, first: Sequence[tuple[int, object]]) -> str:
    """ "line 5: 'abc', line 9: 'n/a'": the first SHOW (position, value) pairs."""
    return ", ".join(f"{where(int(i))}: {quote(v)}" for i, v in first[:SHOW])


def at_rows(where: Where, positions: Sequence[int]) -> str:
    """ "line 5, line 9": the first SHOW `positions`."""
    return ", ".join(where(int(i)) for i in positions[:SHOW])


def quote(value: object, width: int = 40) -> str:
    text = repr(str(value))
    return text if len(text) <= width else text[: width - 2] + "…'"


def name_list(names: Iterable[str], limit: int = 30) -> str:
    """Column names, comma-separated; quoted only when a name would read ambiguously."""
    names = list(names)
    shown = ", ".join(repr(str(n)) if _needs_quotes(str(n)) else str(n) for n in names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def _needs_quotes(name: str) -> bool:
    return name == "" or name != name.strip() or "," in name or not name.isprintable()


def did_you_mean(name: str, available: list[str], before: str = "", after: str = "") -> str:
    """ "did you mean 'Annual Income'?" for the closest column (case, spaces and symbols
    ignored first), wrapped in `before`/`after`; "" when nothing is close."""

    def key(text: str) -> str:
        return re.sub(r"[\W_]+", "", text.lower())

    same = [c for c in available if key(c) == key(name)]
    if same:
        return f"{before}did you mean {same[0]!r}?{after}"
    close = difflib.get_close_matches(name, available, n=1, cutoff=0.75)
    return f"{before}did you mean {close[0]!r}?{after}" if close else ""


def plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"
