"""Names and suggested actions a marketer understands.

A segment is described by how its centre differs from the population on each
feature, in standard deviations of the scaled feature (after the log transform
for money-like columns). Column names are mapped to concepts (income, spend,
frequency, recency, ...) by keywords, so "Annual Income (k$)" and
"annual_income" both read as income.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.errors import DataError

# Below this many standard deviations a difference is not worth naming.
NOTABLE = 0.45

# concept -> (keywords matched as whole words, word when high, word when low)
CONCEPTS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "recency": (
        (
            "days_since",
            "days since",
            "recency",
            "last_purchase",
            "last purchase",
            "last_order",
            "since_last",
            "inactive",
        ),
        "Lapsed",
        "Recent",
    ),
    "income": (("income", "salary", "earning", "wage"), "High-Income", "Low-Income"),
    "frequency": (
        (
            "orders",
            "frequency",
            "purchases",
            "visits",
            "transactions",
            "order_count",
            "num_orders",
            "count",
        ),
        "Frequent",
        "Occasional",
    ),
    "aov": (
        (
            "avg_order",
            "average_order",
            "aov",
            "order_value",
            "basket",
            "avg_amount",
            "average_amount",
            "mean_amount",
        ),
        "Big-Basket",
        "Small-Basket",
    ),
    "spend": (
        (
            "spend",
            "spending",
            "monetary",
            "revenue",
            "total",
            "amount",
            "value",
            "sales",
            "clv",
            "ltv",
        ),
        "High-Spending",
        "Low-Spending",
    ),
    "tenure": (
        ("tenure", "first_purchase", "since_first", "member", "months", "loyalty"),
        "Long-Standing",
        "New",
    ),
    "items": (("items", "quantity", "units"), "Bulk", "Light"),
    "age": (("age",), "Older", "Young"),
}

ACTIONS: dict[tuple[str, str], str] = {
    ("champions", "+"): "Reward them: VIP perks, early access and referral asks.",
    ("at_risk", "+"): "Win them back now: personal outreach and a time-limited offer.",
    ("frequency", "+"): "Enrol them in the loyalty programme and reward repeat visits.",
    ("frequency", "-"): "Nudge a next purchase with reminders and a first-repeat discount.",
    ("income", "+"): "Promote premium lines and personalised recommendations.",
    ("income", "-"): "Lead with value bundles, discount codes and free-shipping thresholds.",
    ("spend", "+"): "Treat as VIPs: exclusive offers, early access and concierge service.",
    ("spend", "-"): "Grow basket size with cross-sell bundles and entry-level offers.",
    ("aov", "+"): "Offer premium upgrades and bundles that match their big baskets.",
    ("aov", "-"): "Raise basket size with add-on suggestions and volume discounts.",
    ("recency", "+"): "Run a win-back campaign with a time-limited offer.",
    ("recency", "-"): "Keep the momentum: follow up with related products while interest is fresh.",
    ("tenure", "+"): "Thank long-standing customers: anniversary rewards and loyalty tiers.",
    ("tenure", "-"): "Onboard them: a welcome series that drives a second purchase.",
    ("items", "+"): "Offer bulk pricing and subscriptions.",
    ("items", "-"): "Suggest complementary items to grow each order.",
    ("age", "+"): "Use channels and products that fit an established audience.",
    ("age", "-"): "Reach them on social and mobile with trend-led products.",
}
# Two traits together can call for a different action than either alone.
COMBINED_ACTIONS: dict[frozenset[tuple[str, str]], str] = {
    frozenset(
        {("income", "+"), ("spend", "-")}
    ): "Untapped budget: premium recommendations and personal offers to win more of it.",
    frozenset(
        {("income", "-"), ("spend", "+")}
    ): "Keep them loyal with rewards; watch discount depth, they already stretch to buy.",
    frozenset(
        {("tenure", "+"), ("recency", "+")}
    ): "Win back long-standing customers with a personal 'we miss you' offer.",
}
DEFAULT_ACTION = "Keep them engaged with the regular newsletter and seasonal offers."


@dataclass(frozen=True)
class TextTrait:
    """A value of a text feature that is over-represented in a segment
    ("Student = Yes: 31% of the segment vs 10% overall")."""

    feature: str  # column as in the data, e.g. "Student"
    value: str  # trimmed value, e.g. "Yes"
    share: float  # of the segment's customers, 0..1
    overall: float  # of all customers, 0..1


@dataclass(frozen=True)
class Naming:
    name: str
    action: str
    traits: list[str]  # e.g. ["annual_income high", "orders_per_year low"]


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


def concept_of(column: str) -> str | None:
    """The first concept with a keyword that appears as whole words in the column name."""
    tokens = _tokens(column)
    for concept, (keywords, _, _) in CONCEPTS.items():
        for kw in keywords:
            want = _tokens(kw)
            if any(tokens[i : i + len(want)] == want for i in range(len(tokens))):
                return concept
    return None


def _pretty(column: str) -> str:
    words = re.sub(r"\(.*?\)", "", column).replace("_", " ").split()
    return " ".join(w.capitalize() for w in words) or column


def _word(column: str, sign: str) -> str:
    concept = concept_of(column)
    if concept:
        _, high, low = CONCEPTS[concept]
        return high if sign == "+" else low
    return f"{'High' if sign == '+' else 'Low'}-{_pretty(column)}"


# Traits that say the same thing twice; only the stronger one goes into a name.
# (concept, sign) pairs in one group mean the same ("Frequent" ~ "Recent").
SAME_MEANING = (
    {("spend", "+"), ("aov", "+"), ("items", "+")},
    {("spend", "-"), ("aov", "-"), ("items", "-")},
    {("frequency", "+"), ("recency", "-")},
    {("frequency", "-"), ("recency", "+")},
)
# Who they are reads before how they shop: "High-Income Frequent Shoppers".
WORD_ORDER = ("income", "age", "tenure")


def _traits(z: np.ndarray, features: list[str]) -> list[tuple[str, str, float]]:
    """(feature, sign, |z|) of notable differences, strongest first; one per concept."""
    seen, out = set(), []
    for j in np.argsort(-np.abs(z), kind="stable"):
        if abs(z[j]) < NOTABLE:
            break
        key = concept_of(features[j]) or features[j]
        if key in seen:
            continue
        seen.add(key)
        out.append((features[j], "+" if z[j] > 0 else "-", float(abs(z[j]))))
    return out


def _nameable(traits: list[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
    """Drop traits that repeat the meaning of a stronger one."""
    kept: list[tuple[str, str, float]] = []
    for f, sign, size in traits:
        pair = (concept_of(f) or f, sign)
        if any(
            pair in group and (concept_of(g) or g, gs) in group
            for group in SAME_MEANING
            for g, gs, _ in kept
        ):
            continue
        kept.append((f, sign, size))
    return kept


def _rfm_name(signs: dict[str, str]) -> tuple[str, str] | None:
    """Purchase-log names (RFM and tenure) where a segment fits one."""
    r, f, m = signs.get("recency"), signs.get("frequency"), signs.get("spend")
    if r == "-" and f == "+" and m in ("+", None):
        return "Champions", ACTIONS[("champions", "+")]
    if r == "+" and (f == "+" or m == "+"):
        return "At Risk", ACTIONS[("at_risk", "+")]
    if m == "+" and f != "+" and r != "+":
        return "Big Spenders", ACTIONS[("spend", "+")]
    if signs.get("tenure") == "-" and r != "+" and m != "+":
        return "New Customers", ACTIONS[("tenure", "-")]
    return None


def _compose(traits: list[tuple[str, str, float]], depth: int, noun: str) -> str:
    chosen = traits[:depth]
    chosen.sort(key=lambda t: (concept_of(t[0]) not in WORD_ORDER,))
    words = [_word(f, s) for f, s, _ in chosen]
    return " ".join([*words, noun]) if words else f"Typical {noun}"


def name_segments(
    z: np.ndarray, features: list[str], noun: str = "Shoppers", purchase_log: bool = False
) -> list[Naming]:
    """Unique names for each row of z (segments × features, standardised centres).

    With `purchase_log` (recency/frequency/monetary features from transactions),
    the classic RFM names ("Champions", "At Risk") are used where they fit.
    """
    k = z.shape[0]
    traits = [_traits(z[i], features) for i in range(k)]
    words = [_nameable(t) for t in traits]
    # One word, or two when the second difference is nearly as strong as the first.
    depth = [
        min(2, len(w)) if len(w) >= 2 and w[1][2] >= 0.6 * w[0][2] else min(1, len(w))
        for w in words
    ]
    names = [_compose(words[i], depth[i], noun) for i in range(k)]
    # Deepen names until unique (add the next trait), then number what is left.
    for _ in range(4):
        dupes = {n for n in names if names.count(n) > 1}
        if not dupes:
            break
        for i in range(k):
            if names[i] in dupes and depth[i] < len(words[i]):
                depth[i] += 1
                names[i] = _compose(words[i], depth[i], noun)
    signs = [{concept_of(f) or f: s for f, s, _ in t} for t in traits]
    rfm = [_rfm_name(s) if purchase_log else None for s in signs]
    for i in range(k):
        if rfm[i] and sum(1 for r in rfm if r and r[0] == rfm[i][0]) == 1:
            names[i] = rfm[i][0]
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if names.count(n) > 1:
            seen[n] = seen.get(n, 0) + 1
            names[i] = f"{n} {seen[n]}"
    out = []
    for i in range(k):
        if rfm[i] and names[i] == rfm[i][0]:
            action = rfm[i][1]
        elif words[i]:
            pairs = [(concept_of(f) or "", s) for f, s, _ in words[i][: depth[i]]]
            action = COMBINED_ACTIONS.get(frozenset(pairs)) or ACTIONS.get(pairs[0], DEFAULT_ACTION)
        else:
            action = DEFAULT_ACTION
        described = [f"{f} {'high' if s == '+' else 'low'}" for f, s, _ in traits[i][:3]]
        out.append(Naming(names[i], action, described))
    return out


def load_overrides(path: Path | None) -> dict[str, dict[str, str]]:
    """A small TOML file: a table per segment, keyed by segment id or generated name.

    [1]
    name = "Premium Prospects"
    ["Low-Income Occasional Shoppers"]
    action = "Send the student discount."
    """
    if path is None or not Path(path).exists():
        return {}
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"names file {path}: {exc}") from None
    out = {}
    for key, table in data.items():
        if not isinstance(table, dict) or not set(table) <= {"name", "action"}:
            raise DataError(f"names file {path}: [{key}] may only set name and action")
        out[str(key)] = {k: str(v) for k, v in table.items()}
    return out


def apply_overrides(
    namings: list[Naming], ids: list[int], overrides: dict[str, dict[str, str]]
) -> list[Naming]:
    out = []
    for naming, seg_id in zip(namings, ids, strict=True):
        o = overrides.get(str(seg_id)) or overrides.get(naming.name) or {}
        out.append(
            Naming(o.get("name", naming.name), o.get("action", naming.action), naming.traits)
        )
    names = [n.name for n in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"names file gives more than one segment the name {dupes[0]!r}")
    return out
