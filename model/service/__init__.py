"""The one object every adapter uses: Slack, the shell, the CLI and the scheduler.

`SegmentService` is a facade over parts with one job each, kept private so that
adapters depend on this one surface: `serving.py` (which version is served, the swap,
the write-back a switch sets off), `queries.py` (a customer, a prospect, a summary, a
segment and its members, a stored chart), `versions.py` (the history list),
`over_time.py` (segments across versions, with their charts) and `changes.py`
(retrain, rollback).

Thread safety: the served version is one immutable `LoadedVersion` reference.
Each query reads it once, so an answer comes wholly from one version even while
a retrain swaps in the next. Retrains are serialised by a lock in this process
and a file lock across processes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from model.answers import (
    CustomerAnswer,
    CustomerHistory,
    Export,
    Flows,
    History,
    Movers,
    PredictAnswer,
    RetrainResult,
    Rollback,
    Summary,
    Trend,
    VersionInfo,
)
from model.config import Settings
from model.data.labels import Labels
from model.service.changes import Changes, Progress
from model.service.over_time import OverTime
from model.service.queries import Queries
from model.service.serving import Serving
from model.service.versions import Versions
from model.versions.metadata import Segment
from model.versions.over_time import SegmentsOverTime
from model.versions.registry import Registry
from model.versions.version import LoadedVersion

if TYPE_CHECKING:
    from model.versions.write_back import WriteBack, WriteBackResult

__all__ = ["SegmentService"]

log = logging.getLogger(__name__)


class SegmentService:
    def __init__(self, settings: Settings):
        self.settings = settings  # read at each retrain: a caller may swap it
        self.registry = Registry(Path(settings.model_dir))
        self._serving = Serving(settings, self.registry)
        self._queries = Queries(self._serving)
        self._versions = Versions(self.registry)
        self._over_time = OverTime(self.registry, self._queries.find_segment)
        self._changes = Changes(self._serving, self._versions, self._queries, self._over_time)

    # ---- which version is served (serving.py) ----------------------------------------------
    @property
    def write_back(self) -> WriteBack | None:
        """SEGBOT_WRITE_BACK's writer: every switch is also written to the team's target."""
        return self._serving.write_back

    def _version(self) -> LoadedVersion:
        return self._serving.version()

    def refresh(self) -> bool:
        """Pick up a switch made by another process. True if the served version changed."""
        return self._serving.refresh()

    def catch_up_write_back(self, *, quiet: bool) -> None:
        self._serving.catch_up_write_back(quiet=quiet)

    def on_write_back(self, listener: Callable[[WriteBackResult], None]) -> None:
        """`listener` gets each write-back's result (SEGBOT_WRITE_BACK; none without it)."""
        self._serving.on_write_back(listener)

    def write_back_outcome(self) -> WriteBackResult | None:
        return self._serving.write_back_outcome()

    def on_switch(self, listener: Callable[[str], None]) -> None:
        self._serving.on_switch(listener)

    @property
    def ready(self) -> bool:
        return self._serving.ready

    @property
    def served_version(self) -> str | None:
        return self._serving.version().name if self.ready else None

    @property
    def is_retraining(self) -> bool:
        return self._serving.changing.locked()

    def ensure_model(self, progress: Progress | None = None) -> None:
        """Train a first version when none exists (serve on a fresh install)."""
        if not self.ready:
            log.info("no trained model yet; training one first")
            self.retrain(progress=progress, force=True)

    # ---- queries (queries.py, versions.py) -------------------------------------------------
    def features(self) -> list[str]:
        return self._queries.features()

    def prospect_inputs(self) -> tuple[list[str], dict[str, list[str]]]:
        return self._queries.prospect_inputs()

    def prospect_labels(self) -> Labels:
        return self._queries.prospect_labels()

    def lookup(self, customer_id: str) -> CustomerAnswer:
        return self._queries.lookup(customer_id)

    def predict(self, values: dict[str, str | float]) -> PredictAnswer:
        return self._queries.predict(values)

    def summary(self, version: str | None = None) -> Summary:
        return self._queries.summary(version)

    def chart(self, name: str, version: str | None = None) -> Path:
        return self._queries.chart(name, version)

    def find_segment(self, text: str, segments: list[Segment] | None = None) -> Segment:
        return self._queries.find_segment(text, segments)

    def export(self, segment: str) -> Export:
        return self._queries.export(segment)

    def version_info(self, name: str, served: str | None = None) -> VersionInfo:
        return self._versions.version_info(name, served)

    def history(self) -> History:
        return self._versions.history()

    # ---- segments over time (over_time.py) -------------------------------------------------
    @property
    def over_time(self) -> SegmentsOverTime:
        return self._over_time.segments

    def customer_history(self, customer_id: str) -> CustomerHistory:
        return self.over_time.customer_history(customer_id)

    def movers(
        self, source: str, target: str, version: str | None = None, with_ids: bool = False
    ) -> Movers:
        return self.over_time.movers(source, target, version, with_ids=with_ids)

    def flows(self, version: str | None = None) -> Flows:
        return self._over_time.flows(version)

    def trend(self) -> Trend:
        return self._over_time.trend()

    # ---- changes (changes.py) --------------------------------------------------------------
    def retrain(self, progress: Progress | None = None, force: bool = False) -> RetrainResult:
        """Re-read the data, train, and serve the result unless a guardrail holds it back.
        Without `force`, unchanged data trains nothing; a failure changes nothing served."""
        return self._changes.retrain(self.settings, progress, force)

    def rollback(self, version: str) -> Rollback:
        return self._changes.rollback(version)
