"""Train one version: an engine's fit, then the shared stages (`model.training.stages`):
match -> profile -> name -> describe -> score -> compare -> save -> charts ->
metadata.json.

`train_version` writes everything into a staging folder; the registry renames
it into place. Nothing here decides what is served.
"""

from __future__ import annotations

import atexit
import functools
import gc
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model import imports
from model.charts.worker import ChartWorker, draw_here
from model.config import Settings
from model.data.labels import read_labels
from model.training import coded
from model.versions.metadata import VersionMeta
from model.versions.version import LoadedVersion

if TYPE_CHECKING:
    from model.data.load import Dataset
    from model.training import selection
    from model.training.stages import EngineFit

__all__ = [
    "CHART_WORKER",
    "WAITING_FOR_CHARTS",
    "Laps",
    "Progress",
    "train_version",
    "use_chart_worker",
]

Progress = Callable[[str, float], None]
log = logging.getLogger(__name__)

# At exit, CPython's last garbage collections walk every object the imports made:
# 0.3-0.4 s of every `segbot train` with scikit-learn loaded. Nothing left then
# needs the cyclic GC (open files are closed by refcounting or the OS), so skip it.
atexit.register(gc.freeze)

CHART_WORKER = True  # draw charts in a second process (False: in this one)
WAITING_FOR_CHARTS = "drawing charts"  # the stage in which the trainer waits for them


def use_chart_worker(on: bool) -> None:
    """Draw charts in a second process (the default) or in this one: a benchmark
    compares the two."""
    global CHART_WORKER
    CHART_WORKER = on


def _noop(stage: str, fraction: float) -> None:
    pass


class Laps:
    """Seconds per training stage: `lap("fit")` records the time since the last lap."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self._t, 3)
        self._t = now


def train_version(
    dataset: Dataset,
    settings: Settings,
    previous: LoadedVersion | None,
    out_dir: Path,
    version: str,
    progress: Progress | None = None,
    fit: EngineFit | None = None,
) -> dict[str, Any]:
    """Train (or, given an engine's `fit`, finish) one version into `out_dir`."""
    from threadpoolctl import threadpool_limits

    # Charts are drawn by a second process, started first: it imports matplotlib
    # while this one imports scikit-learn and SciPy (~1 s of one core, which is why
    # model.training.stages is imported only here), then draws while this one trains (see
    # model.charts.worker).
    worker = ChartWorker.start() if CHART_WORKER else None
    try:
        imports.load("model.training.stages")
        # gc.freeze: the ~200k objects made by importing scikit-learn, SciPy and pandas
        # are not garbage; while training, the cyclic GC's full collections skip them
        # (0.1 s at 1M customers). Unfrozen afterwards, so nothing is kept for good.
        gc.freeze()
        # One BLAS thread: our matrix products are small or memory-bound, and
        # OpenBLAS threads spin while they wait, so on 2 shared cores a second
        # thread makes distances() 5x and the silhouette 2x slower, never faster.
        # (KMeans parallelises with OpenMP, which this leaves alone.)
        with threadpool_limits(limits=1, user_api="blas"):
            return _train(
                dataset, settings, previous, out_dir, version, progress or _noop, worker, fit
            )
    finally:
        gc.unfreeze()
        if worker is not None:
            worker.close()


def _train(
    dataset: Dataset,
    settings: Settings,
    previous: LoadedVersion | None,
    out_dir: Path,
    version: str,
    progress: Progress,
    worker: ChartWorker | None,
    fit: EngineFit | None,
) -> dict[str, Any]:
    """The stages in order; each lap names the time since the previous one."""
    from model.training import stages  # imported by train_version

    seed = settings.seed
    lap = Laps()
    trained_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    # Read before the fit: a bad labels file is an error now, not after minutes of work
    labels, notes = read_labels(settings.labels_file, [settings.id_column, *dataset.features])
    notes = [*dataset.notes, *notes]

    def draw_elbow(choice: selection.KChoice) -> None:
        if worker is not None:
            k_selected = stages.k_selection(choice, settings)
            worker.elbow(out_dir, stages.elbow_fields(version, trained_at, k_selected, choice.k))

    if fit is None:  # the elbow is drawn while the final fit runs
        fit = _fit_local(dataset, settings, progress, lap, draw_elbow)
    else:
        lap.timings.update(fit.timings)
        draw_elbow(fit.choice)

    progress("naming segments", 0.75)
    k_selected = stages.k_selection(fit.choice, settings)
    matched = stages.match(fit, previous)
    if worker is not None:  # the sample is picked while segments are named
        worker.sample(matched.segment_of_row, seed)
    profiles = stages.profile(dataset, fit, seed)
    namings = stages.name(dataset, profiles, matched.ids, _names_file(settings), labels)
    segments = stages.describe(dataset, profiles, matched, namings)
    chart_fields = functools.partial(
        stages.chart_fields, version, trained_at, segments, k_selected, dataset, fit, profiles,
        matched, labels,
    )  # fmt: skip
    if worker is not None:
        worker.render(out_dir, chart_fields)  # drawn while the trainer scores and saves
    lap("naming")

    progress("scoring and comparing", 0.82)
    quality = stages.score(fit, dataset.rows, seed)
    order = stages.IdOrder.of(dataset.id_array)
    comparison = stages.compare(previous, order, matched)
    lap("compare")

    progress("saving", 0.88)
    stages.save(out_dir, fit, profiles, matched, order)
    lap("save")

    progress(WAITING_FOR_CHARTS, 0.92)
    drawn = worker.result() if worker is not None else None
    if drawn is None:  # no worker, or it failed: draw here
        drawn = draw_here(out_dir, chart_fields, matched.segment_of_row, seed)
    log.debug("charts drawn in %.2f s by processes %s", drawn.seconds, drawn.drawn_by)
    lap.timings["charts_render"] = round(drawn.seconds, 3)
    lap("charts")
    meta = stages.metadata(
        version=version,
        trained_at=trained_at,
        dataset=dataset,
        settings=settings,
        previous=previous,
        fit=fit,
        profiles=profiles,
        matched=matched,
        segments=segments,
        k_selected=k_selected,
        quality=quality,
        comparison=comparison,
        charts=drawn.charts,
        timings=lap.timings,
        labels=labels,
        notes=[*notes, *coded.hints(dataset.numeric, profiles.columns, labels.values)],
    )
    # The contract any engine must meet (model.versions.metadata): complete and well typed,
    # checked before the file exists, so a reader never meets a half-made version.
    VersionMeta.from_dict(meta, f"{version}/metadata.json", complete=True)
    # metadata.json last: a folder without it is not a version.
    (out_dir / "metadata.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    progress("done", 1.0)
    return meta


def _fit_local(
    dataset: Dataset,
    settings: Settings,
    progress: Progress,
    lap: Laps,
    chosen: Callable[[selection.KChoice], None],
) -> EngineFit:
    """The local engine: features, k and KMeans on every row in this process."""
    from model.training import pipeline as feat
    from model.training import selection
    from model.training.stages import EngineFit

    seed = settings.seed
    progress("building features", 0.10)
    transformer = feat.fit_transformer(dataset.frame, dataset.numeric, dataset.categorical, seed)
    x = feat.transform(transformer, dataset.frame)
    lap("features")

    progress("choosing k", 0.25)
    choice = selection.choose_k(
        x,
        settings.k_max,
        settings.fixed_k,
        seed,
        k_min=settings.k_min,
        min_share=settings.min_segment_share,
    )
    lap("choose_k")
    floor = settings.min_segment_share if settings.fixed_k is None else 0.0
    # The elbow is drawn while the final fit runs, unless that fit will change k
    crumbs = choice.smallest.get(choice.k, 1.0) < floor
    if not crumbs:
        chosen(choice)

    progress(f"fitting {choice.k} segments on {len(x):,} customers", 0.55)
    km, found = selection.fit_final_with_distances(x, choice.k, seed)
    km, found = selection.without_crumbs(x, km, found, choice, floor, seed, settings.k_min)
    if crumbs:
        chosen(choice)
    label, d1, second, d2 = found
    lap("fit")
    return EngineFit(transformer, choice, km, label, d1, second, d2, x.__getitem__)


def _names_file(settings: Settings) -> Path | None:
    if settings.names_file is not None:
        return settings.names_file
    default = Path(settings.model_dir) / "names.toml"
    return default if default.exists() else None
