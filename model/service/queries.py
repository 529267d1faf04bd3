"""Questions about the served version (or a named one): a customer's segment, a
prospect's, the summary, a segment by name and its members as a CSV, a stored chart.

Each answer reads the served version once (`Serving.version`), so it comes wholly
from one version even while a retrain swaps in the next.
"""

from __future__ import annotations

import difflib
import io
from pathlib import Path
from typing import Any

import numpy as np

from model.answers import (
    CustomerAnswer,
    Export,
    FeatureValue,
    Membership,
    PredictAnswer,
    SegmentInfo,
    Summary,
    TextShare,
)
from model.charts import CHARTS
from model.data.ids import ROW_IDS
from model.data.labels import NONE as NO_LABELS
from model.data.labels import Labels
from model.errors import InputError, NotFound
from model.service.serving import Serving
from model.versions.metadata import Segment, VersionMeta
from model.versions.version import TEXT_CODES, LoadedVersion

# A prospect's value beyond this is a typo or a test, not a customer, in any unit.
MAX_PROSPECT_VALUE = 1e15


def clarity(margin: float | None) -> str:
    if margin is None:
        return "only segment"
    if margin >= 0.25:
        return "clear"
    if margin >= 0.08:
        return "moderate"
    return "borderline"


def labels_of(meta: VersionMeta) -> Labels:
    """The version's data dictionary: what a person reads for a column or value."""
    if not meta.labels and not meta.value_labels:
        return NO_LABELS
    return Labels.of(meta.labels, meta.value_labels)


def segment_info(seg: Segment, labels: Labels = NO_LABELS) -> SegmentInfo:
    col = labels.column
    return SegmentInfo(
        id=seg.id,
        name=seg.name,
        action=seg.action,
        size=seg.size,
        share=seg.share,
        profile={col(f): v for f, v in seg.mean.items()},
        typical={col(f): v for f, v in seg.median.items()},
        distinct=[labels.trait(t) for t in seg.traits],
        text=text_shares(seg, labels),
    )


def text_shares(seg: Segment, labels: Labels = NO_LABELS) -> list[TextShare]:
    """A segment's stored text-value shares (none for versions trained before them)."""
    out = []
    for feature, entry in seg.text.items():
        distinct = {d.value for d in entry.distinct}
        for value, overall in entry.overall.items():
            out.append(
                TextShare(
                    feature=labels.column(feature),
                    value=labels.value(feature, value),
                    share=entry.values.get(value),
                    overall=overall,
                    distinct=value in distinct,
                    missing=entry.missing,
                )
            )
    return out


def _text_value(feature: str, raw: object, text_levels: dict[str, list[str]]) -> str:
    """A prospect's text value as training saw it: trimmed, and spelt like the data's
    value when only its case differs ("yes" -> "Yes")."""
    text = str(raw).strip()
    if not text:
        raise InputError(f"{feature} needs a value")
    levels = text_levels.get(feature)
    if not levels or text in levels:
        return text  # versions without the levels: trimmed is all we can do
    same = [level for level in levels if level.casefold() == text.casefold()]
    if len(same) == 1:
        return same[0]
    raise InputError(f"{feature} is one of {', '.join(levels[:20])}, not '{text}'")


def _number(feature: str, raw: object, logged: set[str]) -> float:
    """A prospect's numeric value, or a one-line reason it cannot be placed."""
    try:
        number = float(str(raw).replace(",", "").replace("_", ""))
    except ValueError:
        raise InputError(f"{feature} must be a number, not '{raw}'") from None
    if not np.isfinite(number):
        raise InputError(f"{feature} must be a finite number, not '{raw}'")
    if abs(number) > MAX_PROSPECT_VALUE:
        raise InputError(f"{feature}={raw} is far outside any value in the data")
    if number < 0 and feature in logged:
        # log1p of a negative is NaN (or -inf): no distance, no segment
        raise InputError(
            f"{feature} cannot be negative: the model learned it from values of 0 or more"
        )
    return number


def _value_label(labels: Labels, feature: str, value: Any) -> Any:
    return value if value is None else labels.value(feature, str(value))


def _num(x: Any) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x


def _csv_field(text: str) -> str:
    """An id as a CSV field: quoted only when it must be. (The csv module would also
    leave the segment name unquoted, which this file always quotes.)"""
    if any(ch in text for ch in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


class Queries:
    def __init__(self, serving: Serving):
        self.serving = serving
        self._text_codes: tuple[LoadedVersion, np.ndarray | None] | None = None

    def _of(self, version: str | None) -> LoadedVersion:
        return self.serving.version() if version is None else self.serving.stored(version)

    def features(self) -> list[str]:
        return list(self.serving.version().metadata.features)

    def prospect_inputs(self) -> tuple[list[str], dict[str, list[str]]]:
        """What a prospect can be given: the numeric features, and each text feature with
        its known values (stored levels, else the segments' most common values)."""
        meta = self.serving.version().metadata
        text: dict[str, list[str]] = {}
        for feature in meta.categorical:
            known = list(meta.text_levels.get(feature) or [])
            if not known:
                modes = (s.mode.get(feature) for s in meta.segments)
                known = sorted({str(m) for m in modes if m is not None})
            text[feature] = known
        return list(meta.numeric), text

    def prospect_labels(self) -> Labels:
        """The served version's data dictionary, for forms that show its features: what
        a person reads, while the values given stay keyed by the raw names."""
        return labels_of(self.serving.version().metadata)

    # ---- a customer, a prospect ------------------------------------------------------------
    def lookup(self, customer_id: str) -> CustomerAnswer:
        v = self.serving.version()
        customer_id = customer_id.strip()
        row = v.row_of(customer_id)
        if row is None:
            raise NotFound(f"no customer with id '{customer_id}' in {v.name}")
        seg = v.segment(int(v.segments[row]))
        meta = v.metadata
        labels = labels_of(meta)
        values = [
            FeatureValue(labels.column(f), _num(v.values[row, j]), seg.median.get(f))
            for j, f in enumerate(meta.numeric)
        ]
        codes = self._codes(v)
        if codes is not None:  # text features: the value, and the segment's most common one
            for j, (f, levels) in enumerate(meta.text_levels.items()):
                code = int(codes[row, j])
                values.append(
                    FeatureValue(
                        labels.column(f),
                        labels.value(f, levels[code]) if code >= 0 else None,
                        _value_label(labels, f, seg.mode.get(f)),
                    )
                )
        d1, d2 = (float(d) for d in v.distances[row])
        runner = int(v.runner_up[row])
        return CustomerAnswer(
            customer_id=customer_id,
            segment=segment_info(seg, labels),
            values=values,
            membership=self._membership(v, d1, runner, d2),
            version=v.name,
            as_of=meta.trained_at,
        )

    def _codes(self, v: LoadedVersion) -> np.ndarray | None:
        """The version's text codes (memory-mapped once per version), or None without them."""
        cached = self._text_codes
        if cached is not None and cached[0] is v:
            return cached[1]
        path = v.path / TEXT_CODES
        codes = None
        if v.metadata.text_levels and path.is_file():
            codes = np.load(path, mmap_mode="r", allow_pickle=False).view(np.ndarray)
        self._text_codes = (v, codes)  # one reference: safe to swap from any thread
        return codes

    def _membership(self, v: LoadedVersion, d1: float, runner: int, d2: float) -> Membership:
        if runner < 0 or np.isnan(d2):
            return Membership(round(d1, 3), None, None, None, clarity(None))
        margin = (d2 - d1) / d2 if d2 > 0 else 0.0
        return Membership(
            round(d1, 3),
            segment_info(v.segment(runner), labels_of(v.metadata)),
            round(d2, 3),
            round(margin, 3),
            clarity(margin),
        )

    def predict(self, values: dict[str, str | float]) -> PredictAnswer:
        v = self.serving.version()
        meta = v.metadata
        numeric, categorical = meta.numeric, meta.categorical
        known = {f.lower(): f for f in [*numeric, *categorical]}
        logged = set(meta.log_columns)
        given: dict[str, float | str] = {}
        for key, raw in values.items():
            feature = known.get(key.strip().lower())
            if feature is None:
                raise InputError(
                    f"unknown feature '{key}'; features are: {', '.join([*numeric, *categorical])}"
                )
            if feature in numeric:
                given[feature] = _number(feature, raw, logged)
            else:
                given[feature] = _text_value(feature, raw, meta.text_levels)
        if not given:
            raise InputError(
                "give at least one feature, e.g. " + " ".join(f"{f}=…" for f in numeric[:2])
            )
        d = v.model.distances(given)
        if not np.isfinite(d).all():
            # float32 overflow: a value so far out that no distance can be measured
            raise InputError("those values are too far outside the data to place a prospect")
        order = np.argsort(d)
        seg = v.segment_of_cluster(int(order[0]))
        runner = v.segment_of_cluster(int(order[1])).id if len(order) > 1 else -1
        d2 = float(d[order[1]]) if len(order) > 1 else float("nan")
        imputed = [f for f in [*numeric, *categorical] if f not in given]
        labels = labels_of(meta)
        shown = [
            FeatureValue(labels.column(f), given.get(f), seg.median.get(f), imputed=f not in given)
            for f in numeric
        ] + [
            FeatureValue(
                labels.column(f),
                _value_label(labels, f, given.get(f)),
                _value_label(labels, f, seg.mode.get(f)),
                imputed=f not in given,
            )
            for f in categorical
        ]
        return PredictAnswer(
            given=given,
            imputed=imputed,
            segment=segment_info(seg, labels),
            values=shown,
            membership=self._membership(v, float(d[order[0]]), runner, d2),
            version=v.name,
            as_of=meta.trained_at,
        )

    # ---- a version -------------------------------------------------------------------------
    def summary(self, version: str | None = None) -> Summary:
        v = self._of(version)
        meta = v.metadata
        labels = labels_of(meta)
        return Summary(
            version=v.name,
            trained_at=meta.trained_at,
            rows=meta.rows,
            k=meta.k,
            k_reason=meta.k_selection.reason,
            features=[labels.column(f) for f in meta.features],
            quality=meta.quality.scores(),
            segments=[segment_info(s, labels) for s in meta.segments],
            source=meta.source.description,
            id_column=meta.id_column,
            flags=[labels.column(f) for f in meta.flags],
        )

    def chart(self, name: str, version: str | None = None) -> Path:
        if name not in CHARTS:
            raise NotFound(f"no chart called '{name}'; charts are: {', '.join(CHARTS)}")
        v = self._of(version)
        path = v.path / f"{name}.png"
        if not path.is_file():
            raise NotFound(f"{v.name} has no {name} chart")
        return path

    # ---- a segment -------------------------------------------------------------------------
    def find_segment(self, text: str, segments: list[Segment] | None = None) -> Segment:
        """A segment by id ("2"), exact name, or unambiguous start of a name, among
        `segments` (the served version's by default)."""
        if segments is None:
            segments = self.serving.version().metadata.segments
        text = text.strip()
        if text.lstrip("#").isdigit():
            seg_id = int(text.lstrip("#"))
            by_id = next((s for s in segments if s.id == seg_id), None)
            if by_id is not None:
                return by_id
        exact = [s for s in segments if s.name.lower() == text.lower()]
        if exact:
            return exact[0]
        partial = [s for s in segments if s.name.lower().startswith(text.lower())] or [
            s for s in segments if text.lower() in s.name.lower()
        ]
        if len(partial) == 1:
            return partial[0]
        names = ", ".join(f"{s.id} {s.name}" for s in segments)
        if partial:
            raise NotFound(f"'{text}' matches several segments; say which: {names}")
        close = difflib.get_close_matches(
            text.lower(), [s.name.lower() for s in segments], n=1, cutoff=0.5
        )
        hint = next((f"did you mean {s.name}? " for s in segments if [s.name.lower()] == close), "")
        raise NotFound(f"no segment '{text}'; {hint}segments are: {names}")

    def export(self, segment: str) -> Export:
        """A segment's members as a CSV: id, segment id, segment name."""
        v = self.serving.version()
        seg = self.find_segment(segment, v.metadata.segments)
        mask = np.asarray(v.segments) == seg.id
        ids = v.id_strings(mask)  # decode only this segment's ids
        buf = io.StringIO()
        id_column = v.metadata.id_column
        if id_column == ROW_IDS:  # row numbers
            ids = ids[np.argsort(ids.astype(np.int64), kind="stable")]  # 2 before 10
        buf.write(f"{'row' if id_column == ROW_IDS else id_column},segment_id,segment\n")
        name = seg.name.replace('"', '""')
        for cid in ids:
            buf.write(f'{_csv_field(str(cid))},{seg.id},"{name}"\n')
        slug = "".join(ch if ch.isalnum() else "-" for ch in seg.name.lower()).strip("-")
        return Export(
            segment=segment_info(seg, labels_of(v.metadata)),
            filename=f"segment-{seg.id}-{slug}-{v.name}.csv",
            csv=buf.getvalue().encode("utf-8"),
            rows=int(mask.sum()),
            version=v.name,
        )
