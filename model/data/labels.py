"""A data dictionary: readable labels for columns and for values of coded columns.

`SEGBOT_LABELS_FILE` / `--labels` is a CSV with a header row and either two
columns, `column,label`, or three, `column,value,label` (a row with an empty
value labels the column itself; a row with a value labels that value of a coded
column: `MOSTYPE,8,Middle class families`). Labels are what a person reads:
segment names, traits, actions, answers, charts. Stored data keeps the raw
names: assignments, exports and the write-back never see a label.

A row for a column the data does not have is a one-line warning (dictionaries
often describe more columns than one extract holds), not an error.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from model.errors import DataError


@dataclass(frozen=True)
class Labels:
    columns: dict[str, str] = field(default_factory=dict)  # column -> label
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> value -> label

    def column(self, name: str) -> str:
        return self.columns.get(name, name)

    def value(self, column: str, value: str) -> str:
        return self.values.get(column, {}).get(str(value), str(value))

    def trait(self, trait: str) -> str:
        """A stored trait ("MOSTYPE=8 high", "income low") in labels."""
        head, _, side = trait.rpartition(" ")
        if not head:
            return trait
        feature, eq, value = head.partition("=")
        shown = self.column(feature) + (f"={self.value(feature, value)}" if eq else "")
        return f"{shown} {side}"

    def raw_trait(self, trait: str) -> str:
        """`trait` written in labels back in raw names (the inverse of `trait`)."""
        head, _, side = trait.rpartition(" ")
        if not head or not self:
            return trait
        raw_column = {label: column for column, label in self.columns.items()}
        feature, eq, value = head.partition("=")
        feature = raw_column.get(feature, feature)
        if eq:
            raw_value = {label: v for v, label in self.values.get(feature, {}).items()}
            value = raw_value.get(value, value)
        return f"{feature}{eq}{value} {side}"

    def transformed(self, name: str, categorical: list[str]) -> str:
        """A fitted pipeline's column name ("num__income", "cat__MOSTYPE_8") in labels."""
        prefix, sep, rest = name.partition("__")
        if not sep:
            return self.column(name)
        if rest in self.columns:
            return f"{prefix}__{self.column(rest)}"
        for column in categorical:
            if rest.startswith(f"{column}_"):
                value = rest[len(column) + 1 :]
                return f"{prefix}__{self.column(column)}={self.value(column, value)}"
        return name

    def __bool__(self) -> bool:
        return bool(self.columns or self.values)

    @classmethod
    def of(cls, columns: dict[str, str], values: dict[str, dict[str, str]]) -> Labels:
        return cls(dict(columns), {c: dict(v) for c, v in values.items()})


NONE = Labels()


def read_labels(path: Path | None, available: list[str]) -> tuple[Labels, list[str]]:
    """The labels in `path` for the columns in `available`, and one warning line per
    problem that does not stop training (an unknown column, a label used twice)."""
    if path is None:
        return NONE, []
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise DataError(f"labels file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"labels file {path} cannot be read: {exc}") from None
    if not rows:
        raise DataError(f"labels file {path} is empty; it needs a header: column,label")
    header = [h.strip().lower() for h in rows[0]]
    if header not in (["column", "label"], ["column", "value", "label"]):
        raise DataError(
            f"labels file {path}: the header must be column,label or column,value,label, "
            f"not {','.join(rows[0])}"
        )
    known = set(available)
    columns: dict[str, str] = {}
    values: dict[str, dict[str, str]] = {}
    unknown: list[str] = []
    for row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row] + [""] * len(header)
        column, label = cells[0], cells[len(header) - 1]
        value = cells[1] if len(header) == 3 else ""
        if not column or not label:
            continue
        if column not in known:
            if column not in unknown:
                unknown.append(column)
            continue
        if value:
            values.setdefault(column, {})[value] = label
        else:
            columns[column] = label
    warnings = []
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        which = "column" if len(unknown) == 1 else "columns"
        warnings.append(
            f"labels file {path.name}: {len(unknown)} {which} not in the data, ignored ({shown})"
        )
    # Two columns read alike would be one in every name: keep the raw name beside the label.
    seen: dict[str, str] = {}
    for column, label in list(columns.items()):
        if label.lower() in seen:
            columns[column] = f"{label} ({column})"
        seen[label.lower()] = column
    return Labels(columns, values), warnings
