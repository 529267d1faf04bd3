"""The one object every adapter uses: Slack, the shell, the CLI and the scheduler.

Thread safety: the served version is one immutable `LoadedVersion` reference.
Each query reads it once, so an answer comes wholly from one version even while
a retrain swaps in the next. Retrains are serialised by a lock in this process
and a file lock across processes.
"""

from __future__ import annotations

import dataclasses
import difflib
import io
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model import imports
from model.answers import (
    Change,
    CustomerAnswer,
    CustomerHistory,
    Export,
    FeatureValue,
    Flows,
    History,
    Membership,
    Movers,
    PredictAnswer,
    RetrainResult,
    Rollback,
    SegmentInfo,
    Summary,
    TextShare,
    Trend,
    VersionInfo,
)
from model.charts import CHARTS
from model.config import Settings
from model.data.ids import ROW_IDS
from model.data.labels import NONE as NO_LABELS
from model.data.labels import Labels
from model.errors import InputError, NoModel, NotFound, RetrainInProgress
from model.versions.metadata import MetadataError, Segment, VersionMeta
from model.versions.over_time import SegmentsOverTime, biggest_flows
from model.versions.registry import Registry, normalise_version
from model.versions.version import TEXT_CODES, LoadedVersion

if TYPE_CHECKING:
    from model.versions.write_back import WriteBackResult

log = logging.getLogger(__name__)
Progress = Callable[[str, float], None]

# Another process may switch CURRENT; look at most this often (seconds).
POINTER_CHECK_INTERVAL = 1.0
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


def _value_label(labels: Labels, feature: str, value: Any) -> Any:
    return value if value is None else labels.value(feature, str(value))


def _num(x: Any) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x


class SegmentService:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.registry = Registry(Path(settings.model_dir))
        self._current: LoadedVersion | None = None
        self._swap_lock = threading.Lock()
        self._retrain_lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._listeners: list[Callable[[str], None]] = []
        self._text_codes: tuple[LoadedVersion, np.ndarray | None] | None = None
        # version_info by (version, served?, metadata file stamp): history() is asked on
        # every "Show segment" click, and parsing each version's JSON was most of it.
        self._infos: dict[tuple[str, bool, tuple[int, int, int]], VersionInfo] = {}
        # SEGBOT_WRITE_BACK: every switch below is also written to the team's table/file.
        self.write_back = None
        if getattr(settings, "write_back", None):
            from model.versions.write_back import WriteBack

            self.write_back = WriteBack.for_settings(settings, self.registry)

    # ---- which version is served ---------------------------------------------------------
    def _load_served(self) -> LoadedVersion | None:
        name = self.registry.served()
        if name is None:
            return None
        return LoadedVersion.load(self.registry.path(name))

    def _version(self) -> LoadedVersion:
        now = time.monotonic()
        if self._current is None or now - self._checked > POINTER_CHECK_INTERVAL:
            self._checked = now
            self.refresh()
        current = self._current
        if current is None:
            raise NoModel(
                "no model is trained yet: run `segbot train` (or ask an admin to retrain)"
            )
        return current

    def refresh(self) -> bool:
        """Pick up a switch made by another process. True if the served version changed."""
        stamp = self.registry.pointer_stamp()
        if stamp == self._stamp and self._current is not None:
            return False
        with self._swap_lock:
            stamp = self.registry.pointer_stamp()
            name = self.registry.served()
            if name is None or (self._current is not None and self._current.name == name):
                self._stamp = stamp
                return False
            before = self._current
            self._current = LoadedVersion.load(self.registry.path(name))
            self._stamp = stamp
        log.info("now serving %s", name)
        for listener in self._listeners:
            listener(name)
        # The one place the served version changes. A switch made here (retrain and rollback
        # hold the retrain lock) or seen from another process, or for `serve` and `train`
        # the first load, brings the write-back up to date.
        wb = self.write_back
        if wb is not None and (before is not None or wb.eager or self._retrain_lock.locked()):
            wb.schedule(name)
        return True

    def catch_up_write_back(self, *, quiet: bool) -> None:
        """For a one-shot run (`segbot train`): also write back the version served at
        start-up, in case the target was left behind. `quiet`: the caller reports the
        outcome (`write_back_outcome`), so the write-back logs nothing itself."""
        if self.write_back is None:
            return
        self.write_back.eager = True
        if quiet:
            logging.getLogger(self.write_back.__module__).setLevel(logging.CRITICAL)

    def write_back_outcome(self) -> WriteBackResult | None:
        """The last write-back's result once it has finished; None without one."""
        return None if self.write_back is None else self.write_back.wait()

    def on_switch(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    @property
    def ready(self) -> bool:
        try:
            self._version()
        except NoModel:
            return False
        return True

    @property
    def served_version(self) -> str | None:
        return self._version().name if self.ready else None

    @property
    def is_retraining(self) -> bool:
        return self._retrain_lock.locked()

    def ensure_model(self, progress: Progress | None = None) -> None:
        """Train a first version when none exists (serve on a fresh install)."""
        if not self.ready:
            log.info("no trained model yet; training one first")
            self.retrain(progress=progress, force=True)

    # ---- queries ---------------------------------------------------------------------------
    def features(self) -> list[str]:
        return list(self._version().metadata.features)

    def prospect_inputs(self) -> tuple[list[str], dict[str, list[str]]]:
        """What a prospect can be given: the numeric features, and each text feature with
        its known values (stored levels, else the segments' most common values)."""
        meta = self._version().metadata
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
        return labels_of(self._version().metadata)

    def lookup(self, customer_id: str) -> CustomerAnswer:
        v = self._version()
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
        v = self._version()
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
                        f"{feature} cannot be negative: the model learned it from values of 0 "
                        "or more"
                    )
                given[feature] = number
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

    def summary(self, version: str | None = None) -> Summary:
        v = self._version() if version is None else self._load(version)
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

    def _load(self, version: str) -> LoadedVersion:
        name = normalise_version(version)
        if name not in self.registry.versions():
            raise NotFound(f"version {name} does not exist")
        current = self._current
        if current is not None and current.name == name:
            return current
        return LoadedVersion.load(self.registry.path(name))

    def version_info(self, name: str, served: str | None = None) -> VersionInfo:
        is_served = name == (served if served is not None else self.registry.served())
        stamp = self.registry.metadata_stamp(name)
        key = (name, is_served, stamp) if stamp is not None else None
        known = self._infos.get(key) if key is not None else None
        if known is not None:
            return known
        info = self._version_info(name, is_served)
        if key is not None:
            if len(self._infos) >= 256:  # versions come and go; keep it bounded
                self._infos.clear()
            self._infos[key] = info
        return info

    def _version_info(self, name: str, is_served: bool) -> VersionInfo:
        meta = self.registry.metadata(name)
        comp = meta.comparison
        status = "served" if is_served else meta.status
        if status == "served" and not is_served:
            status = "previous"
        return VersionInfo(
            version=name,
            trained_at=meta.trained_at,
            rows=meta.rows,
            k=meta.k,
            silhouette=meta.quality.silhouette,
            sizes={s.name: s.size for s in meta.segments},
            served=is_served,
            status=status,
            moved=comp.moved,
            moved_share=comp.moved_share,
            ari=comp.ari,
            note="; ".join(meta.guardrails),
            data_digest=meta.source.digest,
        )

    def history(self) -> History:
        """Every stored version, newest first; one whose metadata.json cannot be read is
        listed as unreadable with the reason, so the others still show."""
        served = self.registry.served()
        versions = []
        for name in reversed(self.registry.versions()):
            try:
                versions.append(self.version_info(name, served))
            except MetadataError as exc:
                versions.append(VersionInfo.unreadable(name, str(exc), name == served))
        return History(versions=versions, served=served)

    def chart(self, name: str, version: str | None = None) -> Path:
        charts = CHARTS
        if name not in charts:
            raise NotFound(f"no chart called '{name}'; charts are: {', '.join(charts)}")
        v = self._version() if version is None else self._load(version)
        path = v.path / f"{name}.png"
        if not path.is_file():
            raise NotFound(f"{v.name} has no {name} chart")
        return path

    def find_segment(self, text: str, segments: list[Segment] | None = None) -> Segment:
        """A segment by id ("2"), exact name, or unambiguous start of a name, among
        `segments` (the served version's by default)."""
        if segments is None:
            segments = self._version().metadata.segments
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
        v = self._version()
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
            text = str(cid)
            if any(ch in text for ch in ',"\n'):
                text = '"' + text.replace('"', '""') + '"'
            buf.write(f'{text},{seg.id},"{name}"\n')
        slug = "".join(ch if ch.isalnum() else "-" for ch in seg.name.lower()).strip("-")
        return Export(
            segment=segment_info(seg, labels_of(v.metadata)),
            filename=f"segment-{seg.id}-{slug}-{v.name}.csv",
            csv=buf.getvalue().encode("utf-8"),
            rows=int(mask.sum()),
            version=v.name,
        )

    # ---- segments over time (model/versions/over_time.py) -----------------------------
    @property
    def over_time(self) -> SegmentsOverTime:
        if getattr(self, "_over_time", None) is None:
            self._over_time = SegmentsOverTime(self.registry, self.find_segment)
        return self._over_time

    def customer_history(self, customer_id: str) -> CustomerHistory:
        return self.over_time.customer_history(customer_id)

    def movers(
        self, source: str, target: str, version: str | None = None, with_ids: bool = False
    ) -> Movers:
        return self.over_time.movers(source, target, version, with_ids=with_ids)

    def flows(self, version: str | None = None) -> Flows:
        """The flows of a version (the served one by default) with their chart."""
        flows = self.over_time.flows(version)  # first: a first version has none (NotFound)
        flows_png = imports.load("model.charts.over_time_charts").flows_png  # matplotlib: ~0.5 s

        path = flows_png(flows, self.registry.path(flows.version))
        return dataclasses.replace(flows, chart=str(path))

    def trend(self) -> Trend:
        trend_png = imports.load("model.charts.over_time_charts").trend_png
        trend = self.over_time.trend()
        path = trend_png(trend, self.over_time.trend_chart_path(trend))
        return dataclasses.replace(trend, chart=str(path))

    def _retrain_flows(self, name: str, charts: dict[str, str]) -> list[dict[str, Any]]:
        """The new version's biggest moves, and its flow chart among `charts`. A courtesy
        for the announcement: a failure here never fails the retrain."""
        try:
            flows = self.flows(name)
        except NotFound:  # the first version: nothing to compare with
            return []
        except Exception:
            log.exception("could not count or draw the flows of %s", name)
            return []
        if flows.chart:
            charts["flows"] = flows.chart
        return biggest_flows(flows)

    # ---- changes ---------------------------------------------------------------------------
    def retrain(self, progress: Progress | None = None, force: bool = False) -> RetrainResult:
        """Re-read the data, train, and serve the result unless a guardrail holds it back.

        Without `force`, unchanged data (same digest as the served version) trains nothing.
        Any failure leaves the served version as it was.
        """
        if not self._retrain_lock.acquire(blocking=False):
            raise RetrainInProgress("a retrain is already running; wait for it to finish")
        try:
            with self.registry.train_lock():
                return self._retrain_locked(progress, force)
        finally:
            self._retrain_lock.release()

    def _retrain_locked(self, progress: Progress | None, force: bool) -> RetrainResult:
        load_dataset = imports.load("model.data.load").load_dataset  # pandas, pyarrow

        report = progress or (lambda stage, fraction: None)
        report("loading data", 0.02)
        fit = None
        if self.settings.engine == "spark":  # reads, checks and clusters on the cluster
            spark_fit = imports.load("model.training.spark_engine").spark_fit
            dataset, fit = spark_fit(self.settings, report)
        else:
            dataset = load_dataset(self.settings)
        previous = self._load_served()
        if (
            previous is not None
            and not force
            and (previous.metadata.source.digest == dataset.digest)
        ):
            info = self.version_info(previous.name)
            return RetrainResult(
                version=info,
                served=True,
                unchanged_data=True,
                held_back=[],
                change=None,
                summary=None,
            )
        # Late, as everything only a retrain needs (multiprocessing for the chart worker);
        # train_version imports scikit-learn itself, once its chart worker has started.
        train_version = imports.load("model.training.train").train_version

        name = self.registry.next_version()
        with self.registry.staging(name) as tmp:
            written = train_version(dataset, self.settings, previous, tmp, name, report, fit)
            meta = VersionMeta.from_dict(written, f"{name}/metadata.json")
        held = list(meta.guardrails)
        if not held:
            self.registry.set_served(name)
            self.refresh()
        charts = {c: str(self.registry.path(name) / f) for c, f in meta.charts.items()}
        flows = self._retrain_flows(name, charts)  # before `retain` may delete the previous
        self.registry.retain(self.settings.keep_versions)
        info = self.version_info(name)
        change = self._change(meta, previous.metadata.rows if previous else None)
        return RetrainResult(
            version=info,
            served=not held,
            unchanged_data=False,
            held_back=held,
            change=dataclasses.replace(change, flows=flows),
            summary=self.summary(name),
            charts=charts,
        )

    @staticmethod
    def _change(meta: VersionMeta, rows_before: int | None = None) -> Change:
        comp = meta.comparison
        return Change(
            previous=comp.previous,
            k_before=comp.k_before,
            k_after=meta.k,
            silhouette_before=comp.silhouette_before,
            silhouette_after=meta.quality.silhouette,
            sizes=[
                {"id": s.id, "name": s.name, "size": s.size, "before": s.size_before}
                for s in meta.segments
            ],
            removed=list(comp.removed),
            moved=comp.moved,
            moved_share=comp.moved_share,
            ari=comp.ari,
            common=comp.common,
            rows_before=rows_before,
        )

    def rollback(self, version: str) -> Rollback:
        """Serve any stored version again (a held-back candidate included)."""
        name = normalise_version(version)
        if name not in self.registry.versions():
            raise NotFound(f"version {name} does not exist")
        if not self._retrain_lock.acquire(blocking=False):
            raise RetrainInProgress("a retrain is running; roll back when it has finished")
        try:
            before = self.registry.served()
            self.registry.set_served(name)
            self.refresh()
        finally:
            self._retrain_lock.release()
        return Rollback(version=self.version_info(name), previous=before)
