"""Features that carry no business difference are left out of clustering.

KMeans scales every feature to one standard deviation, so a feature that hardly
varies weighs as much as one that does: in a log of one cohort, whose customers
all first bought within three months, tenure ranges 462-545 days, and 20 days
of it becomes "1 sd" and splits otherwise identical customers. Left out by
default (listing a feature in SEGBOT_FEATURES / --features keeps it), each with
one line saying why:

- a constant column: every customer has the same value;
- an amount, count or duration whose middle 90% of customers (5th to 95th
  percentile) spans less than `NEGLIGIBLE` of its median. This only makes sense
  where zero means none: purchase-log features, and customer columns whose name
  says money, a count or a duration (income, spend, orders, tenure, age, ...). A
  year, a score or a coordinate has no such level, and is never left out for it.
"""

from __future__ import annotations

import numpy as np

from model.training.naming import QUANTITIES, concept_of

# The middle 90% of customers within a quarter of the typical value: any two
# segments' typical values then differ by less than that, and names need 10%
# (model.training.naming.MATERIAL) for a gap to count at all.
NEGLIGIBLE = 0.25


def reason_to_leave_out(name: str, values: np.ndarray, purchase_log: bool) -> str | None:
    """Why `name` should not split customers, in one line, or None to keep it."""
    present = values[np.isfinite(values)]
    if present.size == 0:
        return None
    low, high = float(present.min()), float(present.max())
    if low == high:
        who = "every customer" if present.size == values.size else "every customer with a value"
        return f"{name} left out: {who} has the same value ({low:g})"
    if not purchase_log and concept_of(name) not in QUANTITIES:
        return None
    p5, median, p95 = np.percentile(present, [5, 50, 95])
    if low < 0 or median <= 0 or (p95 - p5) >= NEGLIGIBLE * median:
        return None
    if name == "tenure_days" and purchase_log:
        return (
            f"{name} left out: every first purchase falls within {high - low:,.0f} days "
            f"(tenure {low:,.0f} to {high:,.0f} days); list it in --features to keep it"
        )
    return (
        f"{name} left out: 90% of customers lie between {p5:,.4g} and {p95:,.4g}, within "
        f"{(p95 - p5) / median:.0%} of the typical {median:,.4g}; list it in --features "
        "to keep it"
    )
