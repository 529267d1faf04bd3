"""Names and suggested actions a marketer understands.

A segment is described by how its centre differs from the population on each
feature, in standard deviations of the scaled feature (after the log transform
for money-like columns). Column names are mapped to concepts (income, spend,
frequency, recency, balance, ...) by keywords, so "Annual Income (k$)" and
"annual_income" both read as income.

Matching a column to a concept (`concept_of`): the name is split into lower-case
words (on punctuation and camelCase: "NumOfProducts" -> num of products); a
keyword matches when all its words appear consecutively. The longest matching
keyword wins ("credit limit" beats "limit"); the generic words in `GENERIC`
("total", "value", ...) lose to any other keyword; ties go to the concept listed
first.

Text features: a `TextTrait` (a value over-represented in a segment) sets the
segment apart when the segment is mostly that value and much more so than
everyone: share >= `TEXT_SHARE` and share - overall >= `TEXT_GAIN`. Its strength
is put on the same scale as a numeric |z|: (share - overall) / sqrt(overall *
(1 - overall)), i.e. the z of the segment's centre on the value's 0/1 column
(100% Students vs 10% overall: 0.9 / 0.3 = 3.0). Such a value reads as a word in
the name ("Student", "Non-Student" for Yes/No columns, else the value: "Female")
and appears in `Naming.traits` as "<feature>=<value> high", so a reader that
takes `t.rsplit(" ", 1)[0]` as the feature name gets "Student=Yes", which names
no numeric column.

Actions: every segment gets a different sentence within one call. Each segment
lists candidate actions (RFM, a combined pair, its concepts' actions, their second
lines (`SECOND_ACTIONS`), then a sentence in its columns' own words: "Stand out on
high Balance and high Limit: ...", or the lever a text column's name suggests:
"Contract Month-to-month (95% vs 55% overall): offer a longer contract ...");
first choices are handed out before second ones, a contested sentence to the
segment with the stronger trait; a segment left without one gets its first
candidate marked as a separate test cell with its (unique) name.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from model.errors import DataError

# Below this many standard deviations a difference is not worth naming.
NOTABLE = 0.45
# A text value sets a segment apart when it is most of the segment and this much above everyone.
TEXT_SHARE = 0.5
TEXT_GAIN = 0.25
# Words before the noun, at most: longer names stop being readable.
MAX_WORDS = 4
# ...and their parts ("Farm-Liability-Policies" is three): long labels name fewer traits.
MAX_NAME_PARTS = 6
# A numeric difference names a segment only when the segment's median is also this
# far from everyone's median, for amounts, counts and durations (`QUANTITIES`): the
# data's own units ("tenure 482 days" against 500 overall is no difference a
# marketer can use, however few standard deviations tenure spans). Medians, not
# means: a few big spenders move the overall mean of a money column past most
# segments' typical customer.
MATERIAL = 0.10
# Purchase logs, against the log itself: "New" only when the segment's typical
# customer first bought in the last quarter of the log's span; "Lapsed"/"At Risk"
# only when its typical customer has not bought for two of the customers' typical
# gaps between purchases; "Recent" within one gap.
NEW_PART_OF_SPAN = 0.25
LAPSED_GAPS = 2.0

# concept -> (keywords matched as whole words, word when high, word when low).
# Listed order breaks ties between equally long keywords: the specific concepts
# (credit, household, returns, ...) come before frequency and spend so that
# "orders_returned" reads as returns and "NumDealsPurchases" as discount use.
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
    "credit_limit": (("limit", "credit limit", "credit line"), "High-Limit", "Low-Limit"),
    "balance": (("balance", "balances", "outstanding", "debt"), "High-Balance", "Low-Balance"),
    "rating": (
        ("rating", "credit score", "credit rating", "fico", "creditworthiness"),
        "High-Rating",
        "Low-Rating",
    ),
    "products": (
        ("cards", "products", "accounts", "policies", "holdings"),
        "Multi-Product",
        "Few-Product",
    ),
    "education": (
        ("education", "educ", "schooling", "degree"),
        "Highly-Educated",
        "Less-Educated",
    ),
    "household": (
        (
            "household",
            "household members",
            "family",
            "children",
            "kids",
            "dependents",
            "kidhome",
            "teenhome",
        ),
        "Large-Household",
        "Small-Household",
    ),
    "returns": (
        ("returns", "returned", "refund", "refunds", "return rate"),
        "High-Return",
        "Low-Return",
    ),
    "discount": (
        (
            "discount",
            "discounts",
            "coupon",
            "coupons",
            "promo",
            "promos",
            "promotion",
            "promotions",
            "voucher",
            "vouchers",
            "deals",
        ),
        "Deal-Seeking",
        "Full-Price",
    ),
    "visits": (
        ("visits", "visit", "sessions", "session", "logins", "login", "active member", "app opens"),
        "Engaged",
        "Disengaged",
    ),
    "support": (
        (
            "complaints",
            "complaint",
            "complain",
            "tickets",
            "support tickets",
            "service calls",
            "custserv",
        ),
        "Support-Heavy",
        "Self-Serve",
    ),
    "email": (
        ("opens", "open rate", "clicks", "click rate", "click through", "ctr"),
        "Email-Responsive",
        "Email-Unresponsive",
    ),
    "churn": (("churn", "attrition"), "Churn-Prone", "Stable"),
    "satisfaction": (("satisfaction", "csat", "nps", "net promoter"), "Satisfied", "Dissatisfied"),
    "frequency": (
        (
            "orders",
            "frequency",
            "purchases",
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
# Concepts measured from zero (an amount, a count or a duration): their level means something.
QUANTITIES = frozenset(
    {
        "income",
        "credit_limit",
        "balance",
        "products",
        "household",
        "returns",
        "visits",
        "frequency",
        "aov",
        "spend",
        "tenure",
        "items",
        "age",
        "recency",
    }
)
# Words that turn a measure around or cut out a band of it.
QUALIFIERS = frozenset(
    {"low", "high", "no", "non", "not", "without", "under", "over", "below", "above", "less"}
)
# Words that qualify many columns ("total_returns", "order_value"): any other keyword beats them.
GENERIC = frozenset({"total", "value", "amount", "count", "months"})

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
    ("credit_limit", "+"): "Promote premium cards and larger purchases they can spread over time.",
    ("credit_limit", "-"): "Offer a limit review after steady use, and credit-building products.",
    (
        "balance",
        "+",
    ): "Offer instalment plans and balance-transfer deals; check risk before raising limits.",
    ("balance", "-"): "Activate the card: spend-based rewards and a first-purchase bonus.",
    ("rating", "+"): "Pre-approve them for premium products and better rates.",
    ("rating", "-"): "Offer secured or credit-builder products with money-management tips.",
    (
        "products",
        "+",
    ): "Reward the whole relationship: a multi-product discount and one consolidated offer.",
    ("products", "-"): "Cross-sell a second product with a bundle discount.",
    ("education", "+"): "Lead with detailed, information-rich content and professional products.",
    ("education", "-"): "Keep messages short and practical, with clear step-by-step offers.",
    ("household", "+"): "Promote family packs, multi-buy offers and household bundles.",
    ("household", "-"): "Offer single-size packs and convenience products.",
    (
        "returns",
        "+",
    ): "Cut returns: better size guides and product details, exchanges before refunds.",
    ("returns", "-"): "Reward their confidence: early access to new lines and easy reorders.",
    (
        "discount",
        "+",
    ): "Time coupons to promo windows and test whether smaller discounts still convert.",
    ("discount", "-"): "Skip the discounts: lead with new arrivals, quality and service.",
    ("visits", "+"): "Convert their visits: personalised recommendations and saved-cart reminders.",
    ("visits", "-"): "Bring them back online with app-only offers and reminder emails.",
    (
        "support",
        "+",
    ): "Fix their issues first: a proactive service follow-up before any sales message.",
    ("support", "-"): "Keep service self-serve and use contacts for offers.",
    ("email", "+"): "Make email their main channel: more frequent, personalised sends.",
    ("email", "-"): "Reach them off email (SMS, app push, retargeting) and clean the list.",
    ("churn", "+"): "Act before they leave: a retention offer and a personal check-in.",
    ("churn", "-"): "Ask for referrals while they are settled, and upsell gently.",
    ("satisfaction", "+"): "Ask for reviews and testimonials: they are happy advocates.",
    (
        "satisfaction",
        "-",
    ): "Recover the relationship: ask what went wrong and fix it before selling.",
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
    frozenset(
        {("balance", "+"), ("credit_limit", "-")}
    ): "Near their limit: offer a balance transfer or instalments before raising credit.",
    frozenset(
        {("credit_limit", "+"), ("balance", "-")}
    ): "Unused credit: spend-based rewards and offers to put the card to work.",
}
# A second sentence for a concept, so two segments that share their strongest trait
# (two lapsed groups) each get a concrete action rather than one a template.
SECOND_ACTIONS: dict[tuple[str, str], str] = {
    ("recency", "+"): (
        "Try one last reactivation on another channel (SMS, post or retargeting), then "
        "stop mailing those who do not respond."
    ),
    ("recency", "-"): "Ask for a review or a referral while the purchase is fresh.",
    ("frequency", "+"): "Offer a subscription or auto-replenishment for what they buy most.",
    ("frequency", "-"): "Send a replenishment reminder timed to when they last bought.",
    ("spend", "+"): "Give them a personal account contact and first look at premium lines.",
    ("spend", "-"): "Test a free-shipping threshold just above their usual basket.",
    ("income", "+"): "Lead with quality and service, not price, in every message.",
    ("income", "-"): "Show the price first and offer instalments on bigger items.",
    ("tenure", "+"): "Invite them to a members' preview and ask what would keep them.",
    ("tenure", "-"): "Follow up their first purchase with a how-to and a second-order offer.",
    ("aov", "+"): "Show them bundles and premium versions of what they already buy.",
    ("aov", "-"): "Suggest a matching add-on at checkout.",
    ("age", "+"): "Use email and print, with clear service and delivery promises.",
    ("age", "-"): "Use social and short video, with quick checkout on mobile.",
    ("products", "+"): "Review their products together and consolidate them into one plan.",
    ("products", "-"): "Offer the product most often bought next, with a bundle price.",
}
# Text columns whose name says which lever a marketer pulls: (keywords, what to do
# for the customers with that value). The value is put first ("Contract
# Month-to-month (88% vs 55% overall): ..."), so two segments never read alike.
LEVERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("contract", "term", "commitment"), "offer a longer contract at a loyalty price"),
    (
        ("payment", "pay", "billing"),
        "make paying easier (automatic payment, a reminder before each bill)",
    ),
    (
        ("plan", "tier", "package", "subscription", "membership"),
        "show them the next plan up and what it adds",
    ),
    (
        ("channel", "source", "device", "platform", "browser", "app"),
        "run the campaign on that channel first",
    ),
    (
        ("region", "city", "state", "country", "location", "store", "branch", "zip", "area"),
        "run a local offer and stock what sells there",
    ),
    (
        ("category", "product", "brand", "department", "genre", "line"),
        "lead with new arrivals and bundles from it",
    ),
    (("service", "internet", "phone"), "offer add-ons to that service with a free first month"),
    (
        ("policy", "policies", "insurance", "cover", "coverage"),
        "offer the cover they do not have yet, with a multi-policy discount",
    ),
)
DEFAULT_ACTION = "Keep them engaged with the regular newsletter and seasonal offers."
# The tail of an action written from a segment's own columns.
TEST_TAIL = "test it against the regular offers."
OWN_WORDS_TAIL = f"build one campaign around that and {TEST_TAIL}"
YES = frozenset({"yes", "y", "true", "t", "1"})
NO = frozenset({"no", "n", "false", "f", "0"})


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
    traits: list[str]  # e.g. ["annual_income high", "orders_per_year low", "Student=Yes high"]


@dataclass(frozen=True)
class _Trait:
    """One difference of a segment: a numeric feature above/below average, or a text value."""

    feature: str
    sign: str  # "+" or "-"
    size: float  # |z|; for a text value its z on the value's 0/1 column
    text: TextTrait | None = None

    @property
    def concept(self) -> str | None:
        return None if self.text else concept_of(self.feature)

    @property
    def key(self) -> str:
        """What two traits must not share: a concept, a column, or a text feature."""
        return f"{self.feature}=" if self.text else (self.concept or self.feature)


def _tokens(text: str) -> list[str]:
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", text)  # camelCase
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


@lru_cache(maxsize=4096)
def concept_of(column: str) -> str | None:
    """The concept whose longest keyword appears as whole words in the column name
    (generic words count least; ties go to the concept listed first). A name that
    qualifies its measure ("Low education", "Income under 30k": a share of people
    with little of it) has no concept: "high" of it is not "High-Income"."""
    tokens = _tokens(column)
    if QUALIFIERS.intersection(tokens):
        return None
    best, best_len = None, 0.0
    for concept, (keywords, _, _) in CONCEPTS.items():
        for kw in keywords:
            want = _tokens(kw)
            if any(tokens[i : i + len(want)] == want for i in range(len(tokens))):
                length = 0.5 if kw in GENERIC else float(len(want))
                if length > best_len:
                    best, best_len = concept, length
    return best


def _pretty(column: str) -> str:
    """Column as words: "annual_income" -> "Annual Income"; codes stay as written ("MOPLLAAG")."""
    words = re.sub(r"\(.*?\)", "", column).replace("_", " ").split()
    return " ".join(w if w != w.lower() else w.capitalize() for w in words) or column


def _text_word(t: TextTrait) -> str:
    """Student=Yes -> "Student", Student=No -> "Non-Student", Gender=Female -> "Female"."""
    value = t.value.strip()
    if value.lower() in YES | NO:
        words = _pretty(t.feature).split()
        if len(words) > 1 and words[0].lower() in ("is", "has"):
            words = words[1:]
        word = "-".join(words)
        return word if value.lower() in YES else f"Non-{word}"
    return "-".join(_pretty(value).split()) or value


def _word(t: _Trait) -> str:
    if t.text:
        return _text_word(t.text)
    if t.concept:
        _, high, low = CONCEPTS[t.concept]
        return high if t.sign == "+" else low
    if QUALIFIERS.intersection(_tokens(t.feature)):  # "More-Low-Education", not "High-Low-..."
        return f"{'More' if t.sign == '+' else 'Less'}-{'-'.join(_pretty(t.feature).split())}"
    return f"{'High' if t.sign == '+' else 'Low'}-{'-'.join(_pretty(t.feature).split())}"


def _phrase(t: _Trait) -> str:
    """The trait in the column's own words: "high Balance", "Student Yes (100% vs 10% overall)"."""
    if t.text:
        x = t.text
        return f"{_pretty(x.feature)} {x.value} ({x.share:.0%} vs {x.overall:.0%} overall)"
    if QUALIFIERS.intersection(_tokens(t.feature)):
        return f"{'more' if t.sign == '+' else 'less'} {_pretty(t.feature)}"
    return f"{'high' if t.sign == '+' else 'low'} {_pretty(t.feature)}"


def _described(t: _Trait) -> str:
    """Naming.traits entry; the feature name is everything before the last space."""
    if t.text:
        return f"{t.feature}={t.text.value} high"
    return f"{t.feature} {'high' if t.sign == '+' else 'low'}"


def text_strength(t: TextTrait) -> float:
    """(share - overall) / sd of the value's 0/1 column: comparable with a numeric |z|."""
    p = min(max(t.overall, 0.0), 1.0)
    return (t.share - p) / math.sqrt(max(p * (1 - p), 1e-6))


def sets_apart(t: TextTrait) -> bool:
    return t.share >= TEXT_SHARE and t.share - t.overall >= TEXT_GAIN


# Traits that say the same thing twice; only the stronger one goes into a name.
# (concept, sign) pairs in one group mean the same ("Frequent" ~ "Recent").
SAME_MEANING = (
    {("spend", "+"), ("aov", "+"), ("items", "+")},
    {("spend", "-"), ("aov", "-"), ("items", "-")},
    {("frequency", "+"), ("recency", "-")},
    {("frequency", "-"), ("recency", "+")},
    {("rating", "+"), ("credit_limit", "+")},  # limits are set from the rating
    {("rating", "-"), ("credit_limit", "-")},
)
# Who they are reads before how they shop: "High-Income Frequent Shoppers"; text
# values last, next to the noun: "High-Balance Student Shoppers".
WORD_ORDER = ("income", "age", "tenure", "education", "household")


def _traits(z: np.ndarray, features: list[str], texts: list[TextTrait]) -> list[_Trait]:
    """Notable differences, strongest first; one per concept and one per text feature."""
    z = np.nan_to_num(np.asarray(z, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    seen, out = set(), []
    for j in np.argsort(-np.abs(z), kind="stable"):
        if abs(z[j]) < NOTABLE:
            break
        t = _Trait(features[j], "+" if z[j] > 0 else "-", float(abs(z[j])))
        if t.key not in seen:
            seen.add(t.key)
            out.append(t)
    for x in texts:
        t = _Trait(x.feature, "+", text_strength(x), x)
        if sets_apart(x) and t.key not in seen:
            seen.add(t.key)
            out.append(t)
    return sorted(out, key=lambda t: -t.size)  # stable: numeric first on a tie


def _nameable(traits: list[_Trait]) -> list[_Trait]:
    """Drop traits that repeat the meaning of a stronger one."""
    kept: list[_Trait] = []
    for t in traits:
        pair = (t.key, t.sign)
        if any(pair in group and (g.key, g.sign) in group for group in SAME_MEANING for g in kept):
            continue
        kept.append(t)
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


def _compose(traits: list[_Trait], depth: int, noun: str) -> str:
    chosen = sorted(
        traits[:depth],
        key=lambda t: (t.text is not None, t.concept not in WORD_ORDER),
    )
    words: list[str] = []
    for t in chosen:
        w = _word(t)
        if w.lower() not in {x.lower() for x in words} and w.lower() != noun.lower():
            words.append(w)
    if depth > 1 and sum(len(w.split("-")) for w in words) > MAX_NAME_PARTS:
        return _compose(traits, depth - 1, noun)  # long labels: the stronger traits only
    return " ".join([*words, noun]) if words else f"Typical {noun}"


def lever_of(feature: str) -> str | None:
    """What to do about a text column's value, when its name says (contract, plan...)."""
    tokens = _tokens(feature)
    for keywords, lever in LEVERS:
        if any(k in tokens for k in keywords):
            return lever
    return None


def _words_of(name: str) -> frozenset[str]:
    return frozenset(name.lower().split())


def _own_words(traits: list[_Trait]) -> str:
    """An action from what sets the segment apart, in its columns' own words: the
    lever its text value suggests when the column's name says one."""
    parts = [_phrase(t) for t in traits]
    listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    text = next((t.text for t in traits if t.text), None)
    lever = lever_of(text.feature) if text else None
    if text and lever:
        return f"{listed[0].upper()}{listed[1:]}: {lever}, and {TEST_TAIL}"
    if text:
        tail = f"tailor the offer and message to {_text_word(text)} customers and {TEST_TAIL}"
        return f"Stand out on {listed}: {tail}"
    return f"Stand out on {listed}: {OWN_WORDS_TAIL}"


def _typical_action(z: np.ndarray, features: list[str], texts: list[TextTrait]) -> str:
    """No notable trait: say so, and name the nearest-to-notable difference."""
    z = np.nan_to_num(np.asarray(z, dtype=float))
    near: list[tuple[float, str, str]] = []
    if z.size:
        j = int(np.argmax(np.abs(z)))
        if abs(z[j]) >= 0.05:
            t = _Trait(features[j], "+" if z[j] > 0 else "-", float(abs(z[j])))
            near.append((t.size, f"slightly {_phrase(t)}", _pretty(features[j])))
    above = [x for x in texts if x.share > x.overall]
    if above:
        x = max(above, key=text_strength)
        near.append(
            (
                text_strength(x),
                _phrase(_Trait(x.feature, "+", 0.0, x)),
                f"{_text_word(x)} customers",
            )
        )
    if not near:
        return (
            "Close to average on every measure: " + DEFAULT_ACTION[0].lower() + DEFAULT_ACTION[1:]
        )
    _, phrase, topic = max(near, key=lambda n: n[0])
    return (
        f"Close to average on every measure; nearest difference: {phrase}. Keep them on the "
        f"regular newsletter and test one offer built around {topic}."
    )


# Extra cost of a sentence in the segment's own words once its concepts' actions
# are listed: a concept action one rank lower is still the better advice.
OWN_WORDS_COST = 1.5
# A concept's second sentence ranks after its first choices but before the own-words one.
SECOND_COST = 0.5


def _candidates(
    words: list[_Trait], traits: list[_Trait], depth: int, rfm: str | None, typical: str
) -> list[tuple[str, float, float]]:
    """Actions for one segment: (sentence, cost, strength of its reason), best first."""
    out: list[tuple[str, float, float]] = []

    def add(sentence: str, strength: float, extra: float = 0.0) -> None:
        if all(sentence != s for s, _, _ in out):
            out.append((sentence, len(out) + extra, strength))

    if rfm:
        add(rfm, math.inf)  # RFM names are unique, so is their action
    known = [(t.concept, t.sign) for t in words[:depth] if t.concept]
    # A text value in the name colours the message of a concept's action.
    text = next((t.text for t in words[:depth] if t.text), None)
    voice = f" Tailor the message to {_text_word(text)} customers." if text else ""
    if len(known) == 2 and frozenset(known) in COMBINED_ACTIONS:
        add(COMBINED_ACTIONS[frozenset(known)] + voice, sum(t.size for t in words[:depth]))
    for t in [*words, *(t for t in traits if t not in words)]:
        # An unknown column or a text value: what sets them apart, in their own words.
        add(ACTIONS[(t.concept, t.sign)] + voice if t.concept else _own_words(traits[:2]), t.size)
    for t in words[:depth]:
        if (t.concept, t.sign) in SECOND_ACTIONS:
            add(SECOND_ACTIONS[(t.concept, t.sign)] + voice, t.size, SECOND_COST)
    if traits:
        add(_own_words(traits[:2]), traits[0].size, OWN_WORDS_COST)
        add(_own_words(traits[:3]), traits[0].size, OWN_WORDS_COST)
    else:
        add(typical, 0.0)
    return out


def _assign_actions(cands: list[list[tuple[str, float, float]]], names: list[str]) -> list[str]:
    """One different sentence per segment, at the least total cost (a contested
    sentence goes to the segment with the stronger reason when costs tie); a
    segment left without one gets its first choice as a test cell of its own."""
    from scipy.optimize import linear_sum_assignment  # lazy: scipy is slow to import

    k = len(cands)
    sentences = list(dict.fromkeys(s for options in cands for s, _, _ in options))
    column = {s: j for j, s in enumerate(sentences)}
    unusable = 1e6
    cost = np.full((k, max(len(sentences), 1)), unusable)
    for i, options in enumerate(cands):
        for s, c, strength in options:
            bonus = 0.5 if math.isinf(strength) else 0.5 * strength / (1 + strength)
            cost[i, column[s]] = c * (1 + bonus) - bonus  # stronger: keeps its first choice
    rows, cols = linear_sum_assignment(cost)
    chosen: list[str | None] = [None] * k
    for i, j in zip(rows, cols, strict=True):
        if cost[i, j] < unusable:
            chosen[i] = sentences[j]
    used = {s for s in chosen if s}
    out = []
    for i in range(k):
        sentence = chosen[i]
        if sentence is None:  # everything it could say is taken: a test cell of its own
            base = (cands[i][0][0] if cands[i] else DEFAULT_ACTION).rstrip(".")
            sentence, n = f"{base}; run it for {names[i]} as a separate test cell.", 2
            while sentence in used:
                sentence, n = f"{base}; run it for {names[i]} as test cell {n}.", n + 1
            used.add(sentence)
        out.append(sentence)
    return out


# Concepts that say the data is about shopping; without one, "Shoppers" would be
# the wrong word (a credit-card or phone-plan table's members are customers).
SHOPPING = frozenset({"spend", "frequency", "aov", "items", "recency", "discount", "returns"})


def true_in_units(
    z: np.ndarray,
    typical: np.ndarray,
    overall: np.ndarray,
    features: list[str],
    purchase_log: bool = False,
    scale: dict[str, float] | None = None,
) -> np.ndarray:
    """`z` (segments x features) with every difference that is not true in the data's
    own units set to 0, so it names nothing: a quantity whose segment median is within
    `MATERIAL` of the overall median; in a purchase log, "New" (tenure low) unless the
    segment's median customer first bought in the last `NEW_PART_OF_SPAN` of the log,
    "Lapsed" (recency high) unless its median recency is `LAPSED_GAPS` typical gaps
    between purchases or more, "Recent" (recency low) unless it is within one gap.
    `typical` holds the segments' medians, `overall` everyone's; `scale` the log's
    span_days and typical_gap_days (model.data.transactions.log_scale)."""
    out = np.array(z, dtype=float, copy=True)
    typical = np.asarray(typical, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j, feature in enumerate(features):
            concept = concept_of(feature)
            median = typical[:, j]
            span = every = 0.0
            if purchase_log and scale:
                span, every = scale.get("span_days", 0.0), scale.get("typical_gap_days", 0.0)
            if concept == "recency" and every > 0:  # absolute: most of a log may be lapsed
                out[(out[:, j] > 0) & ~(median >= LAPSED_GAPS * every), j] = 0.0
                out[(out[:, j] < 0) & ~(median <= every), j] = 0.0
                continue
            if concept == "tenure" and span > 0:
                new = out[:, j] < 0
                out[new & ~(median <= NEW_PART_OF_SPAN * span), j] = 0.0
            level = abs(float(overall[j]))
            if (purchase_log or concept in QUANTITIES) and level > 0:
                out[np.abs(median - overall[j]) < MATERIAL * level, j] = 0.0
    return out


def noun_for(features: list[str], purchase_log: bool = False) -> str:
    """ "Shoppers" when a column is about shopping by a specific word ("spend",
    "orders"); generic words alone ("total_charges") do not make a table a shop's."""
    specific = [" ".join(t for t in _tokens(f) if t not in GENERIC) for f in features]
    if not purchase_log and any(concept_of(f) in SHOPPING for f in specific if f):
        return "Shoppers"
    return "Customers"


def flag_traits(
    means: np.ndarray, overall: np.ndarray, features: list[str], flags: list[str]
) -> list[list[TextTrait]]:
    """Yes/no (0/1) columns as text values, one list per segment (row of `means`):
    the side a segment leans to, with its share against everyone's, so a flag is
    named like a text feature ("Senior-Citizen") and not as "High-Senior-Citizen"."""
    out: list[list[TextTrait]] = []
    for row in np.asarray(means, dtype=float):
        traits = []
        for f in flags:
            j = features.index(f)
            m, p = float(row[j]), float(overall[j])
            if not (np.isfinite(m) and np.isfinite(p)):
                continue
            yes = m >= p
            traits.append(
                TextTrait(f, "Yes" if yes else "No", m if yes else 1 - m, p if yes else 1 - p)
            )
        out.append(traits)
    return out


def name_segments(
    z: np.ndarray,
    features: list[str],
    noun: str = "Shoppers",
    purchase_log: bool = False,
    *,
    text_traits: list[list[TextTrait]] | None = None,
) -> list[Naming]:
    """Unique names and distinct actions for each row of z (segments × features,
    standardised centres).

    With `purchase_log` (recency/frequency/monetary features from transactions),
    the classic RFM names ("Champions", "At Risk") are used where they fit.
    `text_traits` has one list per row of z: text values over-represented in the
    segment (see the module doc for when one counts).
    """
    k = z.shape[0]
    texts = text_traits if text_traits is not None else [[] for _ in range(k)]
    if len(texts) != k:
        raise ValueError(f"text_traits has {len(texts)} lists for {k} segments")
    traits = [_traits(z[i], features, texts[i]) for i in range(k)]
    words = [_nameable(t) for t in traits]
    # One word, or two when the second difference is nearly as strong as the first.
    depth = [
        min(2, len(w)) if len(w) >= 2 and w[1].size >= 0.6 * w[0].size else min(1, len(w))
        for w in words
    ]
    names = [_compose(words[i], depth[i], noun) for i in range(k)]
    # Deepen names until unique (add the next trait), then number what is left. The
    # same words in another order are the same name ("Lapsed Low-Spending" and
    # "Low-Spending Lapsed"): one spelling, then numbers.
    for _ in range(MAX_WORDS):
        keys = [_words_of(n) for n in names]
        dupes = {key for key in keys if keys.count(key) > 1}
        if not dupes:
            break
        for i in range(k):
            if keys[i] in dupes and depth[i] < min(len(words[i]), MAX_WORDS):
                depth[i] += 1
                names[i] = _compose(words[i], depth[i], noun)
    spelling: dict[frozenset[str], str] = {}
    names = [spelling.setdefault(_words_of(n), n) for n in names]
    signs = [{t.key: t.sign for t in ts if not t.text} for ts in traits]
    rfm = [_rfm_name(s) if purchase_log else None for s in signs]
    for i in range(k):
        if rfm[i] and sum(1 for r in rfm if r and r[0] == rfm[i][0]) == 1:
            names[i] = rfm[i][0]
    seen: dict[str, int] = {}
    repeated = {n for n in names if names.count(n) > 1}
    for i, n in enumerate(names):
        if n in repeated:
            seen[n] = seen.get(n, 0) + 1
            names[i] = f"{n} {seen[n]}"
    cands = []
    for i in range(k):
        rfm_action = rfm[i][1] if rfm[i] and names[i] == rfm[i][0] else None
        typical = _typical_action(z[i], features, texts[i])
        cands.append(_candidates(words[i], traits[i], depth[i], rfm_action, typical))
    actions = _assign_actions(cands, names)
    return [Naming(names[i], actions[i], [_described(t) for t in traits[i][:3]]) for i in range(k)]


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
