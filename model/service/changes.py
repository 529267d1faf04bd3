"""Changing which version is served: a retrain (train, then serve unless a guardrail
holds it back) and a rollback. Retrains are serialised by `Serving.changing` in this
process and by the registry's file lock across processes; any failure leaves the served
version as it was."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from model import imports
from model.answers import Change, RetrainResult, Rollback
from model.config import Settings
from model.errors import NotFound, RetrainInProgress
from model.service.over_time import OverTime
from model.service.queries import Queries
from model.service.serving import Serving
from model.service.versions import Versions
from model.versions.metadata import VersionMeta
from model.versions.over_time import biggest_flows
from model.versions.registry import normalise_version

log = logging.getLogger(__name__)
Progress = Callable[[str, float], None]


class Changes:
    def __init__(self, serving: Serving, versions: Versions, queries: Queries, over_time: OverTime):
        self.serving, self.registry = serving, serving.registry
        self.versions, self.queries, self.over_time = versions, queries, over_time

    def retrain(
        self, settings: Settings, progress: Progress | None = None, force: bool = False
    ) -> RetrainResult:
        """Re-read the data, train, and serve the result unless a guardrail holds it back.

        Without `force`, unchanged data (same digest as the served version) trains nothing.
        """
        if not self.serving.changing.acquire(blocking=False):
            raise RetrainInProgress("a retrain is already running; wait for it to finish")
        try:
            with self.registry.train_lock():
                return self._retrain_locked(settings, progress, force)
        finally:
            self.serving.changing.release()

    def _retrain_locked(
        self, settings: Settings, progress: Progress | None, force: bool
    ) -> RetrainResult:
        load_dataset = imports.load("model.data.load").load_dataset  # pandas, pyarrow

        report = progress or (lambda stage, fraction: None)
        report("loading data", 0.02)
        fit = None
        if settings.engine == "spark":  # reads, checks and clusters on the cluster
            spark_fit = imports.load("model.training.spark_engine").spark_fit
            dataset, fit = spark_fit(settings, report)
        else:
            dataset = load_dataset(settings)
        previous = self.serving.load_served()
        if (
            previous is not None
            and not force
            and (previous.metadata.source.digest == dataset.digest)
        ):
            info = self.versions.version_info(previous.name)
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
            written = train_version(dataset, settings, previous, tmp, name, report, fit)
            meta = VersionMeta.from_dict(written, f"{name}/metadata.json")
        held = list(meta.guardrails)
        if not held:
            self.registry.set_served(name)
            self.serving.refresh()
        charts = {c: str(self.registry.path(name) / f) for c, f in meta.charts.items()}
        flows = self._flows(name, charts)  # before `retain` may delete the previous
        self.registry.retain(settings.keep_versions)
        info = self.versions.version_info(name)
        change = change_of(meta, previous.metadata.rows if previous else None)
        return RetrainResult(
            version=info,
            served=not held,
            unchanged_data=False,
            held_back=held,
            change=dataclasses.replace(change, flows=flows),
            summary=self.queries.summary(name),
            charts=charts,
        )

    def _flows(self, name: str, charts: dict[str, str]) -> list[dict[str, Any]]:
        """The new version's biggest moves, and its flow chart among `charts`. A courtesy
        for the announcement: a failure here never fails the retrain."""
        try:
            flows = self.over_time.flows(name)
        except NotFound:  # the first version: nothing to compare with
            return []
        except Exception:
            log.exception("could not count or draw the flows of %s", name)
            return []
        if flows.chart:
            charts["flows"] = flows.chart
        return biggest_flows(flows)

    def rollback(self, version: str) -> Rollback:
        """Serve any stored version again (a held-back candidate included)."""
        name = normalise_version(version)
        if name not in self.registry.versions():
            raise NotFound(f"version {name} does not exist")
        if not self.serving.changing.acquire(blocking=False):
            raise RetrainInProgress("a retrain is running; roll back when it has finished")
        try:
            before = self.registry.served()
            self.registry.set_served(name)
            self.serving.refresh()
        finally:
            self.serving.changing.release()
        return Rollback(version=self.versions.version_info(name), previous=before)


def change_of(meta: VersionMeta, rows_before: int | None = None) -> Change:
    """What a retrain changed, from the new version's comparison with the previous."""
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
