"""The contract of a version: what `metadata.json` holds, typed.

Every training engine writes this layout (through the shared stages in
`model.training.stages`) and everything that answers from a version reads it through
`VersionMeta`, never through raw keys. Three rules:

- Reading is tolerant of age: a field that versions from earlier releases did
  not write takes the default documented beside it (text shares, flags, the
  engine, `k_min`... arrived later), so every stored version keeps loading.
- Reading is strict about types: a wrong type is one `MetadataError` line that
  names the file and the field ("segments[2].size should be a valid integer,
  not 'abc'"). Types are checked as JSON has them (no "3" for 3).
- Writing round-trips: `to_dict(from_dict(m)) == m`, with the keys in the order
  they came in and no default added, so a file rewritten through this model
  (`Registry.update_metadata`) is byte-for-byte what its writer wrote, and older
  segbot processes, the write-back and export read it as before.

`from_dict(m, complete=True)` is the writer's check: every field a version of
this release must have is present and nothing unknown is there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from model.errors import SegbotError

FILE = "metadata.json"  # in each version folder; written last, so it marks a complete version


def _number(value: Any) -> Any:
    # Floats as written, ints left as ints (a file reads back exactly as it was);
    # one check instead of a float|int union, whose errors come one per member.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("number_type", "Input should be a number")
    return value


def _number_or_none(value: Any) -> Any:
    return None if value is None else _number(value)


Number = Annotated[float, PlainValidator(_number), PlainSerializer(lambda x: x)]
OptNumber = Annotated[float | None, PlainValidator(_number_or_none), PlainSerializer(lambda x: x)]


class MetadataError(SegbotError):
    """A version's metadata.json cannot be read as a version (wrong type, not JSON...)."""


class _Part(BaseModel):
    """Frozen (versions are shared between threads), strict, and dumping only what
    was read, in the order it was read. Unknown keys are kept: a newer release may
    have written them, and a rewrite must not drop them."""

    model_config = ConfigDict(strict=True, frozen=True, extra="allow")
    # fields a complete version may still leave out (see `missing_fields`)
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()
    _order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        part = handler(data)
        if isinstance(data, dict):
            part._order = tuple(data)
        return part

    def to_dict(self) -> dict[str, Any]:
        """What was read (or built), keys in the same order; defaults filled in for
        older versions are not added."""
        return self.model_dump(exclude_unset=True)

    @model_serializer(mode="wrap")
    def _in_read_order(self, handler: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        out = handler(self)
        if not self._order:
            return out
        ordered = {key: out[key] for key in self._order if key in out}
        ordered.update((key, value) for key, value in out.items() if key not in ordered)
        return ordered


class Source(_Part):
    description: str = ""  # the path or URL (password masked) trained from
    digest: str = ""  # content digest: unchanged data trains nothing
    kind: Literal["customers", "transactions"] = "customers"


class Engine(_Part):
    """Which engine trained the version. Versions before the Spark engine: local."""

    OPTIONAL = frozenset({"master", "spark"})
    name: Literal["local", "spark"] = "local"
    master: str | None = None  # spark only: the master URL
    spark: str | None = None  # spark only: its version


class KSelection(_Part):
    method: Literal["auto", "fixed"] = "auto"
    k_min: int | None = None  # None: trained before SEGBOT_K_MIN (auto started at 2)
    k_max: int | None = None
    ks: list[int] = []  # the k tried
    inertias: list[OptNumber] = []  # per k in `ks`
    silhouettes: dict[str, OptNumber] = {}  # k (as JSON has it, a string) -> score
    knee: int | None = None
    reason: str = ""  # one sentence: why this k
    sample_rows: int | None = None


class Quality(_Part):
    """Scores of the fitted segments (None: not measurable, e.g. a single segment)."""

    silhouette: OptNumber = None
    calinski_harabasz: OptNumber = None
    davies_bouldin: OptNumber = None
    inertia: OptNumber = None

    def scores(self) -> dict[str, float | None]:
        """Every score by name (None where not stored)."""
        return {name: getattr(self, name) for name in type(self).model_fields}


class OtherShare(_Part):
    """The values of a text feature not stored one by one, together."""

    share: OptNumber = None
    overall: Number = 0.0


class DistinctValue(_Part):
    value: str
    share: OptNumber = None
    overall: Number = 0.0


class TextEntry(_Part):
    """One text feature in one segment (model.training.text_shares.segment_text)."""

    OPTIONAL = frozenset({"other"})
    values: dict[str, OptNumber] = {}  # value -> share of the segment (None: no values)
    overall: dict[str, Number] = {}  # value -> share of all customers
    other: OtherShare | None = None  # present only when some values were left out
    missing: int = 0  # the segment's customers with no value
    distinct: list[DistinctValue] = []  # the values that set the segment apart


class Segment(_Part):
    id: int  # stable across versions
    cluster: int | None = None  # the KMeans cluster (pipeline's centre) it is
    name: str
    action: str = ""
    traits: list[str] = []  # what the name was made from, e.g. "annual_income high"
    size: int = 0
    share: Number = 0.0  # of all customers, 0..1
    mean: dict[str, OptNumber] = {}  # numeric feature -> mean in original units
    median: dict[str, OptNumber] = {}
    centroid: dict[str, OptNumber] = {}
    z: dict[str, OptNumber] = {}  # the centre in scaled units
    mode: dict[str, str | None] = {}  # text feature -> most common value
    text: dict[str, TextEntry] = {}  # text feature -> shares; none before text shares
    size_before: int | None = None  # its size in the previous version (None: new)


class Comparison(_Part):
    """Against the version served when this one was trained (all None for the first)."""

    previous: str | None = None
    moved: int | None = None
    moved_share: OptNumber = None
    ari: OptNumber = None
    common: int = 0  # customers in both: what `moved_share` is a share of
    k_before: int | None = None
    silhouette_before: OptNumber = None
    removed: list[str] = []  # previous segments with no match


class VersionMeta(_Part):
    """metadata.json of one version. Field order is the order training writes them."""

    version: str
    trained_at: str = ""  # ISO 8601, UTC
    status: Literal["served", "candidate"] = "served"  # candidate: held back by a guardrail
    source: Source = Source()
    rows: int = 0  # default: the segments' sizes added up
    engine: Engine = Engine()
    id_column: str = "customer_id"  # "@row": ids are row numbers
    features: list[str] = []  # default: numeric, then categorical
    numeric: list[str] = []  # in the order of the stored `values.npy` columns
    categorical: list[str] = []  # text features, in the order of `text.npy` columns
    log_columns: list[str] = []  # scaled as log1p: a prospect's value cannot be negative
    flags: list[str] = []  # 0/1 features: means are shares; none before flags
    text_levels: dict[str, list[str]] = {}  # text feature -> its values; none before them
    labels: dict[str, str] = {}  # column -> what a person reads (model.data.labels); none before
    value_labels: dict[str, dict[str, str]] = {}  # coded column -> value -> label
    notes: list[str] = []  # one line each: what training left out or fixed, and why
    k: int = 0  # default: the number of segments
    k_selection: KSelection = KSelection()
    quality: Quality = Quality()
    segments: list[Segment]  # display order: by stable id
    next_segment_id: int = 0  # default: one past the largest segment id
    comparison: Comparison = Comparison()
    timings: dict[str, Number] = {}  # seconds per training stage
    guardrails: list[str] = []  # why it was held back
    charts: dict[str, str] = {}  # chart name -> file in the version folder

    def model_post_init(self, context: Any) -> None:
        # Defaults worked out from other fields (later in the file, so no default_factory).
        # Set past pydantic, so they stay "unset" and `to_dict` does not add them.
        derived = {
            "rows": lambda: sum(s.size for s in self.segments),
            "features": lambda: [*self.numeric, *self.categorical],
            "k": lambda: len(self.segments),
            "next_segment_id": lambda: max((s.id for s in self.segments), default=0) + 1,
        }
        for name, value in derived.items():
            if name not in self.model_fields_set:
                self.__dict__[name] = value()

    # ---- reading and writing ----------------------------------------------------------------
    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], where: str = "metadata", complete: bool = False
    ) -> VersionMeta:
        """Parse `data`; `where` names it in the error ("v3/metadata.json"). With
        `complete`, also require every field this release writes and nothing unknown:
        what a training engine must hand over before the file is written."""
        try:
            meta = cls.model_validate(data)
        except ValidationError as exc:
            raise MetadataError(f"{where} is unusable: {_first_problem(exc)}") from None
        if complete:
            missing = missing_fields(meta)
            if missing:
                raise MetadataError(
                    f"{where} is incomplete: {', '.join(missing[:5])}"
                    + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                )
        return meta

    # ---- questions readers ask --------------------------------------------------------------
    @cached_property
    def segments_by_id(self) -> dict[int, Segment]:
        # a cached_property, not a pydantic private attribute: reading one of those
        # costs ~6 µs, a tenth of a whole lookup
        return {s.id: s for s in self.segments}

    def segment(self, segment_id: int) -> Segment:
        """The segment with this stable id (KeyError if there is none)."""
        return self.segments_by_id[int(segment_id)]

    def segment_of_cluster(self, cluster: int) -> Segment:
        return next(s for s in self.segments if s.cluster == cluster)


def missing_fields(part: BaseModel, at: str = "") -> list[str]:
    """Fields of a complete version that `part` lacks, and keys it has that no release
    writes, as paths in file order ("segments[0].text", "unknown key comparison.extra")."""
    out: list[str] = []
    optional = getattr(part, "OPTIONAL", frozenset())
    for name in type(part).model_fields:
        if name not in part.model_fields_set:
            if name not in optional:
                out.append(f"{at}{name}")
            continue
        value = getattr(part, name)
        if isinstance(value, list):
            items = [(f"[{i}]", item) for i, item in enumerate(value)]
        elif isinstance(value, dict):
            items = [(f"[{key}]", item) for key, item in value.items()]
        else:
            items = [("", value)]
        for suffix, item in items:
            if isinstance(item, BaseModel):
                out += missing_fields(item, f"{at}{name}{suffix}.")
    out += [f"unknown key {at}{key}" for key in part.model_extra or {}]
    return out


def _first_problem(exc: ValidationError) -> str:
    """The first real problem of a pydantic error, in one line."""
    errors = [e for e in exc.errors() if e["type"] != "default_factory_not_called"]
    error = errors[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    where = where or "the file"
    msg = str(error["msg"])
    if error["type"] == "missing":
        text = f"{where} is missing"
    elif msg.startswith("Input should"):
        given = repr(error["input"])
        given = given if len(given) <= 60 else given[:57] + "..."
        text = f"{where} should{msg[len('Input should') :]}, not {given}"
    else:
        text = f"{where}: {msg}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return text


def read_metadata(folder: Path) -> VersionMeta:
    """A version folder's metadata.json, typed; one `MetadataError` line if it is not
    JSON or not a version's metadata."""
    where = f"{folder.name}/{FILE}"
    try:
        data = json.loads((folder / FILE).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetadataError(f"{where} is not valid JSON: {exc}") from None
    return VersionMeta.from_dict(data, where)
