"""Integer-coded columns: categories written as numbers ("customer subtype" 1-41).

A column listed in `SEGBOT_CATEGORICAL` / `--categorical` is read as text values
("8", not 8.0): one-hot in the model, shares per segment like any text feature,
never averaged. A column that only looks like a code gets a one-line hint naming
the flag; segbot never decides on its own that a number is a code.
"""

from __future__ import annotations

import re

import numpy as np

from model.errors import DataError

# An integer column with at most this many distinct values may be a code...
HINT_MAX_LEVELS = 60
# ...when a word of its name ends in one of these (MOSTYPE) or the labels file labels
# its values. Only a hint: a wrong one costs a line, and nothing is decided by it.
CODE_WORDS = frozenset({"type", "code", "class", "segment", "category", "group"})


def as_codes(values: np.ndarray, name: str) -> np.ndarray:
    """A declared coded column's numbers as text, whole numbers without ".0"; NaN
    stays missing. A value with a fraction is no code: an error naming it."""
    present = ~np.isnan(values)
    whole = values[present]
    fraction = whole != np.round(whole)
    if fraction.any():
        raise DataError(
            f"column {name!r} is listed in SEGBOT_CATEGORICAL / --categorical but has "
            f"values with a fraction (e.g. {whole[fraction][0]:g}); codes are whole numbers"
        )
    out = np.full(len(values), np.nan, dtype=object)
    out[present] = [str(int(v)) for v in whole]
    return out


def _words(name: str) -> set[str]:
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return {w for w in re.split(r"[^a-z0-9]+", name.lower()) if w}


def _says_code(name: str) -> bool:
    """A word of the name is, or ends in, a code word: "customer_type", "MOSTYPE"."""
    return any(word.endswith(code) for word in _words(name) for code in CODE_WORDS)


def looks_like_code(name: str, values: np.ndarray, value_labels: bool) -> bool:
    """An integer column with few distinct values whose name or labels say code."""
    if not (value_labels or _says_code(name)):
        return False
    present = values[~np.isnan(values)]
    if present.size == 0 or (present != np.round(present)).any():
        return False
    return 2 < len(np.unique(present)) <= HINT_MAX_LEVELS


def hints(numeric: list[str], columns: list[np.ndarray], value_labels: dict) -> list[str]:
    """One line naming the numeric features that look like codes, or none."""
    found = [
        name
        for name, values in zip(numeric, columns, strict=True)
        if looks_like_code(name, values, name in value_labels)
    ]
    if not found:
        return []
    listed = ", ".join(repr(c) for c in found[:5]) + (" …" if len(found) > 5 else "")
    one = len(found) == 1
    return [
        f"{listed} {'looks like a code' if one else 'look like codes'} and "
        f"{'was' if one else 'were'} averaged as {'a number' if one else 'numbers'}; "
        f"--categorical {','.join(found)} (SEGBOT_CATEGORICAL) reads "
        f"{'it' if one else 'them'} as categories"
    ]
