"""Draw a version's charts in a second process, off training's critical path.

Charts were a third of `segbot train` at 1M customers, most of it importing
matplotlib and drawing, which need nothing from training but the final numbers.
`ChartWorker` starts a one-process pool when training starts, before the trainer
imports scikit-learn; the process imports matplotlib meanwhile (on the other
core), draws the elbow chart (it needs only k) while the final fit runs, picks the
cluster chart's points while segments are named, and draws the other two while
the trainer scores, sorts and saves: the cluster chart itself, the profile chart
in a forked copy of itself (matplotlib already imported), side by side. Any
failure (no process, a crash, an exception, a timeout) makes the trainer draw
the charts itself with `draw_here`: the same files either way.

The pool uses the spawn start method: a forked copy of a trainer holding
gigabytes of arrays and BLAS/OpenMP threads is neither cheap nor safe. Like any
spawned process, the worker re-imports the main script, so a script that trains
must do so under `if __name__ == "__main__":` (segbot's own entry points do).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.charts import CHARTS

log = logging.getLogger(__name__)

ChartFields = Callable[[np.ndarray], dict[str, Any]]  # chart rows -> ChartInput fields


@dataclass(frozen=True)
class Drawn:
    """A version's charts as drawn: chart name -> file name (in `model.charts.CHARTS`
    order), seconds spent drawing (summed over processes), and chart name -> the
    process that drew it (the worker, a process it forked, or the trainer)."""

    charts: dict[str, str]
    seconds: float
    drawn_by: dict[str, int]

    @property
    def pids(self) -> set[int]:
        return set(self.drawn_by.values())

    @staticmethod
    def merge(*parts: Drawn) -> Drawn:
        """Charts drawn in parts, as one (charts in their usual order)."""
        files = {name: file for part in parts for name, file in part.charts.items()}
        return Drawn(
            {name: files[name] for name in CHARTS if name in files},
            sum(part.seconds for part in parts),
            {name: pid for part in parts for name, pid in part.drawn_by.items()},
        )


def draw(out_dir: str | Path, fields: dict[str, Any], skip: tuple[str, ...] = ()) -> Drawn:
    """Write the PNGs from `version_charts.ChartInput` fields given as plain values
    (segments as (id, name, size) tuples), or the elbow chart alone from
    `version_charts.Elbow` fields, in whichever process runs it; charts in `skip` not."""
    from model.charts import version_charts as charts

    started = time.perf_counter()
    if "segments" in fields:
        fields = {**fields, "segments": [charts.ChartSegment(*s) for s in fields["segments"]]}
        inp: charts.ChartInput | charts.Elbow = charts.ChartInput(**fields)
    else:
        inp = charts.Elbow(**fields)
    names = tuple(name for name in charts.CHARTS if name not in skip)
    paths = charts.render_all(Path(out_dir), inp, names)
    files = {name: path.name for name, path in paths.items()}
    return Drawn(files, time.perf_counter() - started, dict.fromkeys(files, os.getpid()))


class ForkedDrawingFailed(RuntimeError):
    """The process forked to draw one chart did not deliver it."""


FORKED_DEADLINE = 120  # seconds; drawing one chart takes well under one


def draw_side_by_side(
    out_dir: str | Path, fields: dict[str, Any], skip: tuple[str, ...], apart: str
) -> Drawn:
    """`draw`, with the chart `apart` drawn at the same time by a forked copy of
    this process: the worker has matplotlib imported and the trainer is waiting
    for the last charts, so two cores draw instead of one. Elsewhere than Linux
    (no fork, or one that system libraries do not survive), one after the other."""
    if not sys.platform.startswith("linux"):
        return draw(out_dir, fields, skip)
    read_end, write_end = os.pipe()
    # The fork happens outside version_charts' lock (taken only while drawing), and this
    # process's only other thread waits on the trainer's sentinel, holding no lock.
    worker = os.getpid()
    pid = os.fork()
    if pid == 0:  # the copy: draw one chart, hand back what was drawn, leave at once
        code = 1
        try:
            signal.alarm(FORKED_DEADLINE)  # whatever happens, it does not outlive this
            _die_with(worker)
            os.close(read_end)
            others = tuple(name for name in CHARTS if name != apart)
            with os.fdopen(write_end, "wb") as out:
                pickle.dump(draw(out_dir, fields, others), out)
            code = 0
        finally:
            os._exit(code)  # no atexit, no flushing of the pool's pipes it shares
    os.close(write_end)
    try:
        here = draw(out_dir, fields, (*skip, apart))
    finally:
        with os.fdopen(read_end, "rb") as answer:
            data = answer.read()
        _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        raise ForkedDrawingFailed(f"the process drawing the {apart} chart failed")
    return Drawn.merge(here, pickle.loads(data))


def _die_with(parent: int) -> None:
    """Be killed when `parent` dies (Linux's PR_SET_PDEATHSIG): a worker killed on a
    timeout takes its copy along, so no drawing outlives the trainer's decision."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before that took effect
        os._exit(1)


def draw_here(out_dir: Path, chart_fields: ChartFields, seg_of_row: np.ndarray, seed: int) -> Drawn:
    """Draw the charts in this process (no worker, or the worker failed)."""
    return draw(out_dir, chart_fields(_sample(seg_of_row, seed)))


def prepare_worker() -> None:
    """The worker's initializer: leave with the trainer, and import matplotlib (most
    of the wait) before the first task."""
    threading.Thread(target=_exit_with_trainer, daemon=True).start()
    # The exit's last collections walk every object matplotlib made: 1.2 s of the
    # trainer's wait for a worker to end, 0.1 s without (as in model.training.train).
    atexit.register(gc.freeze)
    import model.charts.version_charts  # noqa: F401


def _exit_with_trainer() -> None:
    # A pool's worker waits for tasks on a pipe it holds both ends of, so it would
    # outlive a killed trainer for good; the sentinel pipe closes when the trainer dies.
    trainer = multiprocessing.parent_process()
    if trainer is not None:
        trainer.join()
        os._exit(1)


def _sample(seg_of_row: np.ndarray, seed: int) -> np.ndarray:
    from model.charts import version_charts as charts

    return charts.chart_sample(seg_of_row, seed=seed)


class ChartWorker:
    """One spawned process that draws the elbow chart, samples the cluster chart's
    rows, then draws the other two side by side (`draw_side_by_side`).

    Use: `start()` as training starts, `elbow()` once k is chosen (optional),
    `sample()` once every row has its segment, `render()` once the chart fields are
    known, `result()` when the version is saved, `close()` always. `result()` is
    None after any failure: draw with `draw_here`.
    """

    TIMEOUT = 600.0  # seconds for any one answer; drawing takes about one

    def __init__(self, pool: ProcessPoolExecutor, process: multiprocessing.Process | None):
        self._pool = pool
        self.process = process  # to kill it on a timeout; None if it could not be told
        self._elbow: Future | None = None
        self._rows: Future | None = None
        self._drawn: Future | None = None
        self.failed = False

    @classmethod
    def start(cls) -> ChartWorker | None:
        """A worker importing matplotlib already, or None if none can be started."""
        before = set(multiprocessing.active_children())
        try:
            pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=prepare_worker,
            )
            pool.submit(int)  # the pool starts its process on the first task
        except OSError as exc:
            log.warning("cannot start the chart worker (%s); charts are drawn in process", exc)
            return None
        new = list(set(multiprocessing.active_children()) - before)
        return cls(pool, new[0] if len(new) == 1 else None)

    def elbow(self, out_dir: Path, fields: dict[str, Any]) -> None:
        """Draw the elbow chart from `version_charts.Elbow` fields while the final fit runs."""
        self._elbow = self._submit(draw, str(out_dir), fields)

    def sample(self, seg_of_row: np.ndarray, seed: int) -> None:
        """Ask for the rows of the cluster chart (`charts.chart_sample` over every row)."""
        self._rows = self._submit(_sample, seg_of_row, seed)

    def render(self, out_dir: Path, chart_fields: ChartFields) -> None:
        """Send the chart fields for the sampled rows; the worker draws meanwhile, the
        profile chart in a copy of itself."""
        rows = self._wait(self._rows, "sampling the points")
        if rows is not None:
            skip = ("elbow",) if self._elbow is not None else ()
            fields = chart_fields(rows)
            self._drawn = self._submit(draw_side_by_side, str(out_dir), fields, skip, "profiles")

    def result(self) -> Drawn | None:
        """The drawn charts, or None if the worker failed at any step."""
        elbow = self._wait(self._elbow, "drawing the elbow chart")
        rest = self._wait(self._drawn, "drawing")
        if rest is None or elbow is None:  # a failure (then both are None), or no elbow apart
            return rest
        return Drawn.merge(elbow, rest)

    def close(self) -> None:
        """Stop the worker: at once if it failed or its charts were never collected."""
        collected = self._drawn is not None and self._drawn.done() and not self.failed
        if not collected:
            self._kill()
        self._pool.shutdown(wait=not collected, cancel_futures=True)

    def _submit(self, fn: Callable, *args: Any) -> Future | None:
        if self.failed:
            return None
        try:
            return self._pool.submit(fn, *args)
        except Exception as exc:  # a broken pool says so here
            self._fail("starting a task", exc)
            return None

    def _wait(self, future: Future | None, what: str) -> Any:
        if future is None or self.failed:
            return None
        try:
            return future.result(timeout=self.TIMEOUT)
        except Exception as exc:  # whatever went wrong there, the trainer can still draw
            self._fail(what, exc)
            return None

    def _fail(self, what: str, exc: BaseException) -> None:
        self.failed = True
        self._kill()
        reason = str(exc) or type(exc).__name__
        log.warning(
            "the chart worker failed while %s (%s); drawing the charts in this process",
            what,
            reason,
        )

    def _kill(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()
            self.process.join()
