"""Segments over time: one customer's segment in every stored version, the customers who
moved between two segments at a retrain, each segment's share across versions, and the
from-segment x to-segment flows between a version and the one it was compared with.

Everything is read from the stored assignment arrays (sorted ids, memory-mapped): a
customer's history is one binary search per version; the flows of a version are one
vectorised intersection of two sorted id arrays, counted once and kept beside the
version as `flows.json` (so they survive the deletion of the older version).
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from model.answers import (
    CustomerHistory,
    Flows,
    Movers,
    SegmentRef,
    Stretch,
    Trend,
    TrendVersion,
    VersionSegment,
)
from model.errors import NoModel, NotFound
from model.versions.metadata import MetadataError, Segment, VersionMeta
from model.versions.registry import METADATA, Registry, version_number
from model.versions.version import LoadedVersion, as_keys, common_rows

log = logging.getLogger(__name__)

FLOWS_FILE = "flows.json"
FLOWS_CHART = "flows.png"
TREND_PREFIX = "trend-"  # trend-<key>.png in the served version's folder
NO_MODEL = "no model is trained yet: run `segbot train` (or ask an admin to retrain)"
FindSegment = Callable[[str, list[Segment]], Segment]


# ---- statuses and version names -------------------------------------------------------------
def version_status(name: str, meta: VersionMeta, served: str | None) -> str:
    """served; candidate (held back, never served); rolled back (served once, newer than the
    served one); earlier."""
    if name == served:
        return "served"
    if meta.status == "candidate":
        return "candidate"
    if served is not None and version_number(name) > version_number(served):
        return "rolled back"
    return "earlier"


def resolve_version(text: str, versions: list[str]) -> str:
    """'v3', 'V3' or '3' -> 'v3' when stored; else one line with the closest stored names."""
    raw = text.strip()
    stored = ", ".join(versions) if len(versions) <= 8 else f"{versions[0]} to {versions[-1]}"
    try:
        number = version_number(raw if not raw.isdigit() else f"v{raw}")
    except NotFound:
        close = difflib.get_close_matches(raw.lower(), versions, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]}? " if close else ""
        raise NotFound(
            f"'{raw}' is not a version name; {hint}stored versions: {stored or 'none'}"
        ) from None
    name = f"v{number}"
    if name in versions:
        return name
    if not versions:
        raise NotFound(f"no version {name}: nothing is trained yet")
    nearest = min(versions, key=lambda v: (abs(version_number(v) - number), -version_number(v)))
    raise NotFound(f"no version {name}; did you mean {nearest}? stored versions: {stored}")


def _ref(seg: Segment) -> SegmentRef:
    return SegmentRef(id=seg.id, name=seg.name)


def _atomic_write(path: Path, data: bytes) -> None:
    """Temp file in the same folder + rename: readers see the old file or the new one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def csv_field(text: str) -> str:
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


# ---- stored versions, loaded once -----------------------------------------------------------
class StoredVersions:
    """Every stored version, memory-mapped once and reloaded only when its metadata.json
    changes (a rewrite) or it is deleted. Loading is a few mmaps, but a history question
    touches every version and must stay in the low milliseconds."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._lock = threading.Lock()
        self._loaded: dict[str, tuple[tuple[int, int], LoadedVersion]] = {}

    def get(self, name: str) -> LoadedVersion:
        path = self.registry.path(name)
        try:
            st = (path / METADATA).stat()
        except FileNotFoundError:
            raise NotFound(f"version {name} is no longer stored") from None
        stamp = (st.st_mtime_ns, st.st_ino)
        held = self._loaded.get(name)
        if held is not None and held[0] == stamp:
            return held[1]
        version = LoadedVersion.load(path)
        with self._lock:
            self._loaded[name] = (stamp, version)
        return version

    def all(self) -> list[LoadedVersion]:
        """Oldest first; forgets versions that were deleted."""
        names = self.registry.versions()
        with self._lock:
            for gone in set(self._loaded) - set(names):
                del self._loaded[gone]
        return [self.get(n) for n in names]


class SegmentsOverTime:
    def __init__(self, registry: Registry, find_segment: FindSegment):
        self.registry = registry
        self.stored = StoredVersions(registry)
        self.find_segment = find_segment  # the service's matching: ids, names, did you mean

    def _served(self, versions: list[LoadedVersion]) -> str:
        served = self.registry.served()
        if served is None or not versions:
            raise NoModel(NO_MODEL)
        return served

    # ---- one customer ------------------------------------------------------------------------
    def customer_history(self, customer_id: str) -> CustomerHistory:
        customer_id = customer_id.strip()
        versions = self.stored.all()
        served = self._served(versions)
        rows: list[VersionSegment] = []
        for v in versions:
            row = v.row_of(customer_id)
            seg = None if row is None else _ref(v.segment(int(v.segments[row])))
            status = version_status(v.name, v.metadata, served)
            rows.append(VersionSegment(v.name, v.metadata.trained_at, status, seg))
        if all(r.segment is None for r in rows):
            span = versions[0].name if len(versions) == 1 else f"{versions[0].name} to "
            span += versions[-1].name if len(versions) > 1 else ""
            raise NotFound(f"no customer with id '{customer_id}' in any stored version ({span})")
        return CustomerHistory(
            customer_id=customer_id,
            versions=rows,
            stretches=stretches(rows, served),
            served=served,
        )

    # ---- flows between two versions --------------------------------------------------------
    def version(self, text: str | None) -> LoadedVersion:
        """A stored version by name, the served one by default."""
        names = self.registry.versions()
        if text is None or not text.strip():
            served = self.registry.served()
            if served is None:
                raise NoModel(NO_MODEL)
            return self.stored.get(served)
        return self.stored.get(resolve_version(text, names))

    @staticmethod
    def previous_of(v: LoadedVersion) -> str:
        previous = v.metadata.comparison.previous
        if not previous:
            raise NotFound(f"nothing to compare {v.name} with: it is the first version")
        return str(previous)

    def flows(self, version: str | None = None) -> Flows:
        """The flow matrix of a version against the one it was compared with when trained."""
        v = self.version(version)
        previous = self.previous_of(v)
        cached = _read_flows(v.path / FLOWS_FILE, v.name, previous)
        if cached is not None:
            return cached
        try:
            prev = self.stored.get(previous)
        except NotFound:
            raise NotFound(
                f"{previous}, which {v.name} was compared with, is no longer stored, "
                f"so the moves at {v.name} cannot be counted"
            ) from None
        flows = count_flows(prev, v)
        try:
            _atomic_write(v.path / FLOWS_FILE, json.dumps(_flows_json(flows)).encode())
        except OSError as exc:  # a read-only model folder: answer without keeping it
            log.warning("cannot keep %s's flows in %s: %s", v.name, v.path, exc)
        return flows

    def movers(
        self, source: str, target: str, version: str | None = None, with_ids: bool = False
    ) -> Movers:
        v = self.version(version)
        flows = self.flows(v.name)
        previous = flows.previous
        # <from> is matched against the segments of the version compared with (it may be
        # deleted by now: its names are kept with the flows)
        before = [Segment(id=s.id, name=s.name) for s in flows.sources]
        src = _ref(self._find(source, before, "in " + previous))
        dst = _ref(self._find(target, v.metadata.segments, "in " + v.name))
        i = next(i for i, s in enumerate(flows.sources) if s.id == src.id)
        j = next(j for j, t in enumerate(flows.targets) if t.id == dst.id)
        n, size = flows.counts[i][j], sum(flows.counts[i])
        filename = csv = None
        if with_ids:
            csv = self._movers_csv(v, previous, src, dst)
            filename = f"movers-{src.id}-to-{dst.id}-{v.name}.csv"
        return Movers(
            version=v.name,
            previous=previous,
            source=src,
            target=dst,
            count=int(n),
            source_size=int(size),
            share=round(n / size, 6) if size else None,
            left=max(flows.source_sizes[i] - size, 0),
            filename=filename,
            csv=csv,
        )

    def _find(self, text: str, segments: list[Segment], where: str) -> Segment:
        try:
            return self.find_segment(text, segments)
        except NotFound as exc:
            message = str(exc)
            # say which version's segments were searched: the two ends may differ
            raise NotFound(message.replace("; ", f" {where}; ", 1)) from None

    def _movers_csv(
        self, v: LoadedVersion, previous: str, src: SegmentRef, dst: SegmentRef
    ) -> bytes:
        prev = self.stored.get(previous)
        ia, ib = _common(prev, v)
        mask = np.asarray(prev.segments)[ia] == src.id
        mask &= np.asarray(v.segments)[ib] == dst.id
        ids = v.id_strings(ib[mask])
        id_column = v.metadata.id_column
        head = f"{csv_field(id_column)},from_segment_id,from_segment,to_segment_id,to_segment\n"
        tail = f",{src.id},{csv_field(src.name)},{dst.id},{csv_field(dst.name)}\n"
        return (head + "".join(csv_field(str(c)) + tail for c in ids)).encode("utf-8")

    # ---- every version ----------------------------------------------------------------------
    def trend(self) -> Trend:
        metas, unreadable = [], []
        for name in self.registry.versions():
            try:
                metas.append((name, self.registry.metadata(name)))
            except MetadataError:  # left out and named, as history lists it
                unreadable.append(name)
        if not metas:
            raise NoModel(NO_MODEL)
        served = self.registry.served()
        names: dict[int, str] = {}
        points = []
        for name, meta in metas:  # oldest first, so the newest name wins
            rows = meta.rows or 1
            shares = {}
            for s in meta.segments:
                names[s.id] = s.name
                shares[s.id] = round(s.size / rows, 6)
            points.append(
                TrendVersion(
                    name, meta.trained_at, version_status(name, meta, served), rows, shares
                )
            )
        return Trend(
            versions=points,
            segments=[SegmentRef(i, names[i]) for i in sorted(names)],
            served=served,
            unreadable=unreadable,
        )

    def trend_chart_path(self, trend: Trend) -> Path:
        """Where the trend of this set of versions (and which one is served) is kept."""
        key = json.dumps(
            [[t.version, t.status, t.trained_at] for t in trend.versions], separators=(",", ":")
        )
        digest = hashlib.sha1(key.encode()).hexdigest()[:12]
        home = trend.served or trend.versions[-1].version
        return self.registry.path(home) / f"{TREND_PREFIX}{digest}.png"


def stretches(rows: list[VersionSegment], served: str) -> list[Stretch]:
    """Runs of the same segment over the versions that were served up to the served one
    (candidates and rolled-back versions left out), newest first."""
    timeline = [
        r
        for r in rows
        if r.version == served
        or (r.status == "earlier" and version_number(r.version) < version_number(served))
    ]
    out: list[list[VersionSegment]] = []
    for r in timeline:
        key = None if r.segment is None else r.segment.id
        if out and (None if out[-1][-1].segment is None else out[-1][-1].segment.id) == key:
            out[-1].append(r)
        else:
            out.append([r])
    return [
        # named as the newest version of the run has it
        Stretch(run[-1].segment, run[0].version, run[-1].version, run[0].trained_at)
        for run in reversed(out)
    ]


def _common(prev: LoadedVersion, v: LoadedVersion) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the same customers in both versions (both id arrays are sorted)."""
    p_keys, keys = as_keys(prev.keys), as_keys(v.keys)
    if len(p_keys) == len(keys) and p_keys.dtype == keys.dtype and np.array_equal(p_keys, keys):
        rows = np.arange(len(keys), dtype=np.intp)
        return rows, rows
    return common_rows(p_keys, keys)


def count_flows(prev: LoadedVersion, v: LoadedVersion) -> Flows:
    """Vectorised: one intersection of the sorted ids, one bincount of (from, to) pairs."""
    ia, ib = _common(prev, v)
    a = np.asarray(prev.segments)[ia].astype(np.int64)
    b = np.asarray(v.segments)[ib].astype(np.int64)
    sources = sorted((_ref(s) for s in prev.metadata.segments), key=lambda s: s.id)
    targets = sorted((_ref(s) for s in v.metadata.segments), key=lambda s: s.id)
    # segment id -> row / column; ids are small non-negative ints
    top = max([s.id for s in sources + targets] + [int(a.max(initial=0)), int(b.max(initial=0))])
    row_of = np.full(top + 1, -1, dtype=np.int64)
    col_of = np.full(top + 1, -1, dtype=np.int64)
    row_of[[s.id for s in sources]] = np.arange(len(sources))
    col_of[[s.id for s in targets]] = np.arange(len(targets))
    r, c = row_of[a], col_of[b]
    if (r < 0).any() or (c < 0).any():
        raise ValueError(f"assignments of {prev.name}/{v.name} name a segment their metadata lacks")
    counts = np.bincount(r * len(targets) + c, minlength=len(sources) * len(targets))
    counts = counts.reshape(len(sources), len(targets))
    return Flows(
        version=v.name,
        previous=prev.name,
        sources=sources,
        targets=targets,
        counts=counts.tolist(),
        source_sizes=[prev.segment(s.id).size for s in sources],
        common=len(ia),
        left=len(prev.keys) - len(ia),
        joined=len(v.keys) - len(ib),
    )


def biggest_flows(flows: Flows, n: int = 3) -> list[dict[str, Any]]:
    """The largest moves between two different segments, largest first."""
    moves = [
        {"from_id": s.id, "from": s.name, "to_id": t.id, "to": t.name, "count": flows.counts[i][j]}
        for i, s in enumerate(flows.sources)
        for j, t in enumerate(flows.targets)
        if s.id != t.id and flows.counts[i][j] > 0
    ]
    moves.sort(key=lambda m: (-m["count"], m["from_id"], m["to_id"]))
    return moves[:n]


def _flows_json(flows: Flows) -> dict[str, Any]:
    return {
        "version": flows.version,
        "previous": flows.previous,
        "sources": [[s.id, s.name] for s in flows.sources],
        "targets": [[s.id, s.name] for s in flows.targets],
        "counts": flows.counts,
        "source_sizes": flows.source_sizes,
        "common": flows.common,
        "left": flows.left,
        "joined": flows.joined,
    }


def _read_flows(path: Path, version: str, previous: str) -> Flows | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["version"] != version or data["previous"] != previous:
            return None
        return Flows(
            version=version,
            previous=previous,
            sources=[SegmentRef(int(i), str(n)) for i, n in data["sources"]],
            targets=[SegmentRef(int(i), str(n)) for i, n in data["targets"]],
            counts=[[int(x) for x in row] for row in data["counts"]],
            source_sizes=[int(x) for x in data["source_sizes"]],
            common=int(data["common"]),
            left=int(data["left"]),
            joined=int(data["joined"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:  # damaged: count again
        log.warning("ignoring %s: %s", path, exc)
        return None
