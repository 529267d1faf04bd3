"""What the service answers: plain data, no formatting.

The bot turns these into text and Block Kit (`bot.render`); `segbot ask --json`
prints them as they are (`dataclasses.asdict`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class TextShare:
    """One value of a text feature in a segment: "Student = Yes: 31% of the segment,
    10% of all customers". Shares count only customers with a value for the feature."""

    feature: str
    value: str
    share: float | None  # of the segment's customers, 0..1 (None: none has a value)
    overall: float  # of all customers, 0..1
    distinct: bool = False  # one of the values that set the segment apart
    missing: int = 0  # the segment's customers with no value for the feature


@dataclass(frozen=True)
class SegmentInfo:
    id: int  # stable across versions
    name: str
    action: str
    size: int
    share: float  # of all customers, 0..1
    profile: dict[str, float | None]  # feature -> mean in original units
    typical: dict[str, float | None]  # feature -> median in original units
    distinct: list[str] = field(
        default_factory=list
    )  # traits behind the name, e.g. "annual_income high"
    # Text features: the values stored per feature (most common first), those that
    # set the segment apart marked `distinct`. Empty for versions trained before.
    text: list[TextShare] = field(default_factory=list)


@dataclass(frozen=True)
class FeatureValue:
    feature: str
    value: float | str | None  # None: missing (imputed for the model)
    typical: float | str | None  # the segment's median (numeric) or most frequent (categorical)
    imputed: bool = False


@dataclass(frozen=True)
class Membership:
    """How clearly one customer (or prospect) belongs to its segment."""

    distance: float  # to its own segment's centre, in scaled units
    runner_up: SegmentInfo | None
    runner_up_distance: float | None
    margin: float | None  # (runner-up distance - own distance) / runner-up distance, 0..1
    clarity: str  # "clear", "moderate", "borderline"


@dataclass(frozen=True)
class CustomerAnswer:
    customer_id: str
    segment: SegmentInfo
    values: list[FeatureValue]
    membership: Membership
    version: str
    as_of: str  # when the version was trained (ISO)
    kind: str = "customer"


@dataclass(frozen=True)
class PredictAnswer:
    given: dict[str, float | str]
    imputed: list[str]
    segment: SegmentInfo
    values: list[FeatureValue]
    membership: Membership
    version: str
    as_of: str
    kind: str = "predict"


@dataclass(frozen=True)
class Summary:
    version: str
    trained_at: str
    rows: int
    k: int
    k_reason: str
    features: list[str]
    quality: dict[str, float | None]  # silhouette, calinski_harabasz, davies_bouldin, inertia
    segments: list[SegmentInfo]
    source: str
    id_column: str = "customer_id"  # "@row": no id column, ids are the data's row numbers
    flags: list[str] = field(default_factory=list)  # 0/1 features: profile values are shares
    kind: str = "summary"


@dataclass(frozen=True)
class VersionInfo:
    version: str
    trained_at: str
    rows: int
    k: int
    silhouette: float | None
    sizes: dict[str, int]  # segment name -> size
    served: bool
    status: str  # "served", "previous", "candidate"
    moved: int | None  # customers whose segment changed against the version before it
    moved_share: float | None
    ari: float | None  # adjusted Rand index against the version before it
    note: str = ""  # e.g. why a candidate was held back; why an unreadable one is
    data_digest: str = ""

    @classmethod
    def unreadable(cls, version: str, reason: str, served: bool) -> VersionInfo:
        """A stored version whose metadata.json cannot be read: listed, not hidden."""
        return cls(
            version=version,
            trained_at="",
            rows=0,
            k=0,
            silhouette=None,
            sizes={},
            served=served,
            status="unreadable",
            moved=None,
            moved_share=None,
            ari=None,
            note=reason,
        )


@dataclass(frozen=True)
class History:
    versions: list[VersionInfo]  # newest first
    served: str | None
    kind: str = "history"


@dataclass(frozen=True)
class Change:
    """A new version compared with the one served before it."""

    previous: str | None
    k_before: int | None
    k_after: int
    silhouette_before: float | None
    silhouette_after: float | None
    sizes: list[dict[str, Any]]  # {id, name, size, before} per segment (before None if new)
    removed: list[str]  # names of previous segments with no match
    moved: int | None
    moved_share: float | None
    ari: float | None
    common: int | None = None  # customers in both versions: what `moved_share` is a share of
    rows_before: int | None = None  # customers in the previous version
    # biggest moves between two different segments, largest first:
    # {from_id, from, to_id, to, count}
    flows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RetrainResult:
    version: VersionInfo
    served: bool  # False when held back by a guardrail or data unchanged
    unchanged_data: bool
    held_back: list[str]  # guardrail reasons
    change: Change | None
    summary: Summary | None
    charts: dict[str, str] = field(default_factory=dict)  # chart name -> path
    kind: str = "retrain"


@dataclass(frozen=True)
class Export:
    segment: SegmentInfo
    filename: str
    csv: bytes
    rows: int
    version: str
    kind: str = "export"


@dataclass(frozen=True)
class Rollback:
    version: VersionInfo
    previous: str | None
    kind: str = "rollback"


def to_dict(answer: object) -> dict[str, Any]:
    return asdict(answer)  # type: ignore[call-overload]


# ---- segments over time (customer history, movers, trend, flows) ----------------------------
@dataclass(frozen=True)
class SegmentRef:
    """A segment as one version names it."""

    id: int
    name: str


@dataclass(frozen=True)
class VersionSegment:
    """One customer in one stored version."""

    version: str
    trained_at: str
    status: str  # "served", "earlier", "candidate" (never served), "rolled back"
    segment: SegmentRef | None  # None: the customer is not in that version's data


@dataclass(frozen=True)
class Stretch:
    """Consecutive served versions in which a customer had the same segment."""

    segment: SegmentRef | None  # None: not in the data
    first: str  # version
    last: str
    since: str  # trained_at of `first`


@dataclass(frozen=True)
class CustomerHistory:
    customer_id: str
    versions: list[VersionSegment]  # every stored version, oldest first
    stretches: list[Stretch]  # served versions only, newest first; [0] is the current one
    served: str
    kind: str = "customer_history"


@dataclass(frozen=True)
class Movers:
    """Customers in `source` at `previous` who are in `target` at `version`."""

    version: str
    previous: str  # the version `version` was compared with when it was trained
    source: SegmentRef  # named as in `previous`
    target: SegmentRef  # named as in `version`
    count: int
    source_size: int  # customers of `source` at `previous` still in the data at `version`
    share: float | None  # count / source_size
    left: int  # customers of `source` at `previous` no longer in the data
    filename: str | None = None  # the CSV of their ids (admins only)
    csv: bytes | None = None
    kind: str = "movers"


@dataclass(frozen=True)
class Flows:
    """Customers from each segment of `previous` to each segment of `version`."""

    version: str
    previous: str
    sources: list[SegmentRef]  # rows, as `previous` names them
    targets: list[SegmentRef]  # columns, as `version` names them
    counts: list[list[int]]  # counts[i][j]: from sources[i] to targets[j]
    source_sizes: list[int]  # customers of each source segment at `previous`
    common: int  # customers in both versions
    left: int  # in `previous` only
    joined: int  # in `version` only
    chart: str | None = None  # path of the PNG
    kind: str = "flows"

    @property
    def moved(self) -> int:
        """Customers whose segment changed (every count off the same-id cells)."""
        return sum(
            self.counts[i][j]
            for i, s in enumerate(self.sources)
            for j, t in enumerate(self.targets)
            if s.id != t.id
        )


@dataclass(frozen=True)
class TrendVersion:
    version: str
    trained_at: str
    status: str  # as in VersionSegment
    rows: int
    shares: dict[int, float]  # segment id -> share of that version's customers


@dataclass(frozen=True)
class Trend:
    versions: list[TrendVersion]  # oldest first
    segments: list[SegmentRef]  # every segment seen, named as the newest version has it
    served: str | None
    chart: str | None = None
    kind: str = "trend"
    unreadable: list[str] = field(default_factory=list)  # versions whose metadata is damaged
