"""Shares of text (categorical) feature values per segment, and which stand out.

For every listed text feature: the share of each value among a segment's
customers and among all customers, counted with one `bincount` per feature (no
Python loop over rows; ~1 s per feature at 10M customers, most of it
`pd.factorize`). Missing values are left out of both shares and counted
separately, so "31% Yes" means 31% of the customers whose value is known.

Values are trimmed (" Male" and "Male" are one value). `model.data.load` trims them
already; doing it again here keeps frames built elsewhere (tests, tools) right.

Which values set a segment apart (`distinct_traits`), per segment and feature:

- a value is notable when its share in the segment is at least `NOTABLE_GAIN`
  (10 percentage points) above its overall share, or at least `RARE_GAIN`
  (5 points) above and at least `RARE_LIFT` (2) times it (a rare value that is
  concentrated in the segment: 3% overall, 9% here);
- at most `MAX_PER_FEATURE` notable values per feature, the largest gain first;
- a segment's traits are listed by gain, largest first, across features.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from model.training.naming import TextTrait

NOTABLE_GAIN = 0.10
RARE_GAIN = 0.05
RARE_LIFT = 2.0
MAX_PER_FEATURE = 2
MAX_STORED = 8  # values kept per feature in the metadata; the rest are summed as "other"
DIGITS = 4


@dataclass(frozen=True)
class FeatureShares:
    """One text feature across k clusters."""

    feature: str
    levels: list[str]  # trimmed values, most common overall first
    counts: np.ndarray  # (k, L) customers of each cluster with each value
    missing: np.ndarray  # (k,) customers of each cluster with no value
    codes: np.ndarray  # (n,) int16 per row: index into `levels`, -1 when missing

    @property
    def known(self) -> np.ndarray:
        """(k,) customers of each cluster with a value."""
        return self.counts.sum(1)

    @property
    def shares(self) -> np.ndarray:
        """(k, L) share of each value among a cluster's customers with a value (NaN: none)."""
        known = self.known[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(known > 0, self.counts / np.maximum(known, 1), np.nan)

    @property
    def overall(self) -> np.ndarray:
        """(L,) share of each value among all customers with a value."""
        totals = self.counts.sum(0)
        return totals / max(int(totals.sum()), 1)


def _codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Per row the index of its trimmed value (-1: missing or blank), and the values."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    trimmed = [str(u).strip() for u in uniques]
    # Merge values that differ only by surrounding spaces; blanks become missing.
    merged, levels = pd.factorize(pd.Series(trimmed, dtype=object).replace("", np.nan))
    remap = np.append(merged, -1).astype(np.int64)  # code -1 stays -1
    return remap[codes], [str(v) for v in levels]


def text_shares(
    frame: pd.DataFrame, categorical: list[str], labels: np.ndarray, k: int
) -> list[FeatureShares]:
    """Counts of every value of each categorical column per cluster label (0..k-1)."""
    labels = np.asarray(labels, dtype=np.int64)
    out = []
    for name in categorical:
        codes, levels = _codes(frame[name])
        width = len(levels) + 1  # slot 0: missing
        table = np.bincount(labels * width + (codes + 1), minlength=k * width).reshape(k, width)
        counts = table[:, 1:]
        order = sorted(range(len(levels)), key=lambda j: (-int(counts[:, j].sum()), levels[j]))
        small = np.int16 if width < 2**15 else np.int32
        rank = np.empty(width, dtype=small)  # old code + 1 -> new code
        rank[0] = -1
        rank[np.asarray(order, dtype=np.int64) + 1] = np.arange(len(levels), dtype=small)
        out.append(
            FeatureShares(
                feature=name,
                levels=[levels[j] for j in order],
                counts=counts[:, order],
                missing=table[:, 0].copy(),
                codes=rank[codes + 1],
            )
        )
    return out


def _notable(share: float, overall: float) -> bool:
    gain = share - overall
    return gain >= NOTABLE_GAIN - 1e-12 or (
        gain >= RARE_GAIN - 1e-12 and share >= RARE_LIFT * overall
    )


def distinct_traits(shares: list[FeatureShares], k: int) -> list[list[TextTrait]]:
    """Per cluster (0..k-1), the values that set it apart (module doc), largest gain first."""
    out: list[list[TextTrait]] = []
    for i in range(k):
        traits: list[TextTrait] = []
        for fs in shares:
            share, overall = fs.shares[i], fs.overall
            notable = [
                j
                for j in range(len(fs.levels))
                if np.isfinite(share[j]) and _notable(float(share[j]), float(overall[j]))
            ]
            notable.sort(key=lambda j: -(share[j] - overall[j]))
            traits += [
                TextTrait(fs.feature, fs.levels[j], float(share[j]), float(overall[j]))
                for j in notable[:MAX_PER_FEATURE]
            ]
        traits.sort(key=lambda t: -(t.share - t.overall))
        out.append(traits)
    return out


def _round(x: float) -> float:
    return round(float(x), DIGITS)


def segment_text(shares: list[FeatureShares], i: int, traits: list[TextTrait]) -> dict[str, Any]:
    """The metadata of cluster i: per feature its value shares, everyone's, and what stands out.

    {feature: {"values": {value: share}, "overall": {value: share},
               "other": {"share": s, "overall": o}  (only when values were left out),
               "missing": n, "distinct": [{"value", "share", "overall"}]}}
    At most `MAX_STORED` values: the distinct ones, then the most common here or overall.
    """
    out: dict[str, Any] = {}
    for fs in shares:
        share, overall = fs.shares[i], fs.overall
        mine = [t for t in traits if t.feature == fs.feature]
        first = [fs.levels.index(t.value) for t in mine]
        rest = sorted(
            (j for j in range(len(fs.levels)) if j not in first),
            key=lambda j: -max(np.nan_to_num(share[j]), overall[j]),
        )
        kept = sorted([*first, *rest][:MAX_STORED])  # back to overall order
        entry: dict[str, Any] = {
            "values": {
                fs.levels[j]: (None if np.isnan(share[j]) else _round(share[j])) for j in kept
            },
            "overall": {fs.levels[j]: _round(overall[j]) for j in kept},
        }
        if len(kept) < len(fs.levels):
            left = [j for j in range(len(fs.levels)) if j not in kept]
            entry["other"] = {
                "share": None if np.isnan(share).all() else _round(np.nansum(share[left])),
                "overall": _round(overall[left].sum()),
            }
        entry["missing"] = int(fs.missing[i])
        entry["distinct"] = [
            {"value": t.value, "share": _round(t.share), "overall": _round(t.overall)} for t in mine
        ]
        out[fs.feature] = entry
    return out


MAX_CHART_COLUMNS = 6  # share columns in the profiles chart, beside the numeric ones


def chart_columns(
    shares: list[FeatureShares], traits: list[list[TextTrait]], order: list[int]
) -> dict[str, Any]:
    """`model.charts.version_charts.ChartInput` share columns: one per value that sets some segment
    apart (the largest gains when there are more than `MAX_CHART_COLUMNS`), in
    feature order; rows follow `order` (clusters in display order).

    A feature with two values gets one column, its less common value: the other
    column would be its mirror image ("No" = 100% - "Yes")."""
    levels = {fs.feature: fs.levels for fs in shares}
    best: dict[tuple[str, str], float] = {}
    for cluster in traits:
        for t in cluster:
            both = levels[t.feature]
            key = (t.feature, both[1] if len(both) == 2 else t.value)
            best[key] = max(best.get(key, 0.0), t.share - t.overall)
    chosen = set(sorted(best, key=lambda key: -best[key])[:MAX_CHART_COLUMNS])
    columns, share_cols, overall = [], [], []
    for fs in shares:
        for j, value in enumerate(fs.levels):
            if (fs.feature, value) in chosen:
                columns.append((fs.feature, value))
                share_cols.append(fs.shares[order, j])
                overall.append(fs.overall[j])
    k = len(order)
    return {
        "profile_text": columns,
        "profile_text_shares": np.column_stack(share_cols) if share_cols else np.zeros((k, 0)),
        "profile_text_overall": np.asarray(overall, dtype=float),
    }
