"""The chart worker (model.charts.worker) draws a version's charts in its own process
(and a copy it forks); when it cannot (killed, hung, broken at start), training draws
them itself.

Each test records who drew: the worker's answer carries the pid of the process that
drew each chart, and `training.draw_here` (the in-process fallback) is spied on.
Without that, a worker that always died would pass, the fallback standing in for it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from model.charts import worker as chart_worker
from model.charts.worker import ChartWorker
from model.training import train as training
from tests.conftest import run_fresh, segbot_command, segbot_env

CHARTS = ("elbow", "clusters", "profiles")


class Frozen(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


@pytest.fixture
def spy(monkeypatch):
    """Records the started workers, what each answered, and in-process drawings."""
    seen = {"workers": [], "answers": [], "here": []}
    start, result, here = ChartWorker.start.__func__, ChartWorker.result, training.draw_here

    def spied_start(cls):
        worker = start(cls)
        seen["workers"].append(worker)
        return worker

    def spied_result(self):
        answer = result(self)
        seen["answers"].append(answer)
        return answer

    def spied_here(*args, **kwargs):
        drawn = here(*args, **kwargs)
        seen["here"].append(drawn)
        return drawn

    monkeypatch.setattr(ChartWorker, "start", classmethod(spied_start))
    monkeypatch.setattr(ChartWorker, "result", spied_result)
    monkeypatch.setattr(training, "draw_here", spied_here)
    monkeypatch.setattr(training, "datetime", Frozen)  # the charts show the minute
    return seen


def train(tmp_path, name, progress=None):
    from model.config import Settings
    from model.data.load import load_dataset

    settings = Settings(_env_file=None, SEGBOT_MODEL_DIR=str(tmp_path / "models"))
    data = load_dataset(settings)  # the bundled 5,000-customer sample
    out = tmp_path / name
    out.mkdir()
    return training.train_version(data, settings, None, out, "v1", progress), out


def assert_charts(meta, out):
    assert meta["charts"] == {n: f"{n}.png" for n in CHARTS}
    for file in meta["charts"].values():
        assert (out / file).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert meta["timings"]["charts_render"] > 0
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files


def at_stage(stage, action):
    """A progress callback that runs `action` once, when training reports `stage`."""

    def progress(name, fraction):
        if name == stage:
            action()

    return progress


def test_the_worker_draws_in_its_own_process_and_a_copy_side_by_side(tmp_path, spy):
    meta, out = train(tmp_path, "worker")
    assert_charts(meta, out)
    (worker,) = spy["workers"]
    (drawn,) = spy["answers"]
    assert drawn is not None and drawn.charts == meta["charts"]
    assert spy["here"] == []  # the fallback never ran
    # the elbow and cluster charts by the worker, the profile chart at the same time
    # by a process the worker forked (neither of them the trainer)
    assert drawn.drawn_by["elbow"] == drawn.drawn_by["clusters"] == worker.process.pid
    assert drawn.drawn_by["profiles"] not in (worker.process.pid, os.getpid())


@pytest.mark.parametrize("how", ["raises", "hangs"])
def test_a_forked_drawing_that_fails_is_reported(tmp_path, monkeypatch, how):
    # Run here: the forked copy inherits a `render_all` that fails (or hangs: its
    # deadline ends it) on the profile chart; it says nothing but its exit status,
    # and the worker's side names the chart.
    from model.charts import version_charts as charts
    from model.training import stages

    captured = []
    real_fields = stages.chart_fields

    def chart_fields(*args):
        captured.append(real_fields(*args))
        return captured[-1]

    monkeypatch.setattr(stages, "chart_fields", chart_fields)
    train(tmp_path, "v1")
    real_render = charts.render_all

    def broken_profiles(out, inp, names=charts.CHARTS):
        if "profiles" in names:
            if how == "hangs":
                time.sleep(3600)
            raise ValueError("no profiles today")
        return real_render(out, inp, names)

    monkeypatch.setattr(charts, "render_all", broken_profiles)
    monkeypatch.setattr(chart_worker, "FORKED_DEADLINE", 2)
    again = tmp_path / "again"
    started = time.monotonic()
    with pytest.raises(chart_worker.ForkedDrawingFailed, match="drawing the profiles chart"):
        chart_worker.draw_side_by_side(again, captured[0], ("elbow",), "profiles")
    assert time.monotonic() - started < 60
    assert sorted(p.name for p in again.iterdir()) == ["clusters.png"]  # its own part done


def test_the_worker_knows_the_charts_by_their_names(tmp_path):
    from model.charts import version_charts as charts

    assert chart_worker.CHARTS == charts.CHARTS == CHARTS
    # The names live in `model.charts` itself so that the trainer can import the worker
    # before its pool starts without paying for matplotlib.
    _out, heavy = run_fresh(
        "import json, sys; import model.charts.worker; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib')))",
        tmp_path,
    )
    assert heavy == []


_FORK_AND_HANG = """
import os, time
from model.charts import worker as chart_worker
from model.charts import version_charts as charts

real = charts.render_all

def hang_on_profiles(out, inp, names=charts.CHARTS):
    if "profiles" in names:
        time.sleep(3600)
    return real(out, inp, names)

charts.render_all = hang_on_profiles
fields = {"version": "v1", "trained_at": "2026-12-01T00:00:00+00:00", "ks": [1, 2, 3],
          "inertias": [3.0, 2.0, 1.5], "silhouettes": {2: 0.5}, "chosen_k": 2, "k_reason": "-"}
print(os.getpid(), flush=True)
chart_worker.draw_side_by_side("out", fields, (), "profiles")
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_forked_copy_dies_with_the_worker(tmp_path):
    # A worker killed on a timeout must take the copy drawing beside it along (its
    # own deadline is minutes away): otherwise the copy could still write a chart
    # into a folder the trainer has moved on from.
    proc = subprocess.Popen(
        [sys.executable, "-c", _FORK_AND_HANG],
        env=segbot_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    copies: list[int] = []
    with reaped(proc, copies):
        assert int(proc.stdout.readline()) == proc.pid
        deadline = time.monotonic() + 60
        while not (tmp_path / "out" / "elbow.png").exists() or not copies:
            assert time.monotonic() < deadline and proc.poll() is None
            copies[:] = children(proc.pid)
            time.sleep(0.05)
        assert all(alive(pid) for pid in copies)  # drawing (hanging) beside the worker
        assert_gone_with(proc, copies, within=10)


def test_worker_and_in_process_charts_are_the_same_pictures(tmp_path, spy, monkeypatch):
    _, a = train(tmp_path, "worker")
    assert os.getpid() not in spy["answers"][0].pids and spy["here"] == []
    monkeypatch.setattr(training, "CHART_WORKER", False)
    _, b = train(tmp_path, "here")
    assert len(spy["workers"]) == 1  # no second worker
    assert [d.pids for d in spy["here"]] == [{os.getpid()}]
    for name in CHARTS:
        assert (a / f"{name}.png").read_bytes() == (b / f"{name}.png").read_bytes(), name


def test_the_elbow_is_drawn_apart_while_the_final_fit_runs(tmp_path, spy, monkeypatch):
    # The elbow needs only k, so it is sent as soon as k is chosen, before the final
    # fit; the merged answer still lists the charts in their usual order.
    calls, stages_seen = [], []
    for name in ("elbow", "render"):
        real = getattr(ChartWorker, name)

        def spied(self, *args, _real=real, _name=name):
            calls.append((_name, stages_seen[-1]))
            return _real(self, *args)

        monkeypatch.setattr(ChartWorker, name, spied)
    meta, out = train(tmp_path, "apart", lambda stage, fraction: stages_seen.append(stage))
    assert [call for call, _ in calls] == ["elbow", "render"]
    assert calls[0][1] == "choosing k"  # sent once k is chosen, before "fitting ..."
    assert any(stage.startswith("fitting") for stage in stages_seen)
    assert_charts(meta, out)
    assert list(meta["charts"]) == list(CHARTS)
    assert spy["answers"][0].drawn_by["elbow"] == spy["workers"][0].process.pid
    assert spy["here"] == []


def test_a_failed_elbow_leaves_all_three_charts_to_the_trainer(tmp_path, spy, caplog, monkeypatch):
    from model.training import stages

    real, sent = stages.elbow_fields, []

    def broken_once(*args):
        fields = real(*args)
        if not sent:  # the fields sent to the worker: inertias one short, Elbow refuses them
            fields = {**fields, "inertias": fields["inertias"][:-1]}
        sent.append(fields)
        return fields

    monkeypatch.setattr(stages, "elbow_fields", broken_once)
    meta, out = train(tmp_path, "elbow")
    assert_charts(meta, out)
    assert spy["answers"] == [None]
    assert [d.pids for d in spy["here"]] == [{os.getpid()}]
    assert set(spy["here"][0].charts) == set(CHARTS)  # the elbow too, drawn again here
    assert "chart worker failed while drawing the elbow chart" in caplog.text


@pytest.mark.parametrize(
    ("stage", "failed_while"),
    [
        # the pool notices the death when the sample is waited for, or already when the
        # elbow is sent right after it: which one comes first is up to the scheduler
        ("naming segments", "sampling the points|starting a task"),
        ("saving", "drawing"),  # the charts were being drawn
    ],
)
def test_a_killed_worker_leaves_the_drawing_to_the_trainer(
    tmp_path, spy, caplog, stage, failed_while
):
    def kill():
        os.kill(spy["workers"][0].process.pid, signal.SIGKILL)

    meta, out = train(tmp_path, "killed", at_stage(stage, kill))
    assert_charts(meta, out)
    assert spy["answers"] == [None]
    assert [d.pids for d in spy["here"]] == [{os.getpid()}]
    assert re.search(f"chart worker failed while ({failed_while})", caplog.text)
    assert spy["workers"][0].process.exitcode == -signal.SIGKILL


def test_a_hung_worker_times_out_and_is_killed(tmp_path, spy, caplog, monkeypatch):
    monkeypatch.setattr(ChartWorker, "TIMEOUT", 1.0)

    def stop():
        os.kill(spy["workers"][0].process.pid, signal.SIGSTOP)

    meta, out = train(tmp_path, "hung", at_stage("naming segments", stop))
    assert_charts(meta, out)
    assert [d.pids for d in spy["here"]] == [{os.getpid()}]
    assert "chart worker failed while sampling the points (TimeoutError)" in caplog.text
    process = spy["workers"][0].process
    assert not process.is_alive() and process.exitcode == -signal.SIGKILL


def test_a_failed_import_of_the_stages_stops_the_worker(tmp_path, spy, monkeypatch):
    # The worker starts before scikit-learn is imported: when that import fails, the
    # worker must not be left running.
    from model import imports

    real = imports.load

    def load(module):
        if module == "model.training.stages":
            raise ImportError("no scikit-learn here")
        return real(module)

    monkeypatch.setattr(training.imports, "load", load)
    with pytest.raises(ImportError, match="no scikit-learn here"):
        train(tmp_path, "no-sklearn")
    (worker,) = spy["workers"]
    worker.process.join(timeout=30)
    assert not worker.process.is_alive()


def _broken_start() -> None:
    raise ImportError("no matplotlib here")


def test_a_worker_that_cannot_start_leaves_the_drawing_to_the_trainer(
    tmp_path, spy, caplog, monkeypatch
):
    # the pool pickles its initializer by name: the worker imports this module and fails
    monkeypatch.setattr(chart_worker, "prepare_worker", _broken_start)
    meta, out = train(tmp_path, "broken")
    assert_charts(meta, out)
    assert spy["answers"] == [None]
    assert [d.pids for d in spy["here"]] == [{os.getpid()}]
    assert "chart worker failed" in caplog.text


def children(pid: int) -> list[int]:
    """Live child processes of `pid` (zombies count as gone)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[1]) == pid:
                out.append(int(stat.parent.name))
    return out


@contextlib.contextmanager
def reaped(proc: subprocess.Popen, pids: list[int]):
    """Whatever the test asserted, `proc` and the processes in `pids` end with it."""
    try:
        yield
    finally:
        proc.kill()
        proc.wait(timeout=30)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def assert_gone_with(proc: subprocess.Popen, pids: list[int], within: float) -> None:
    """Kill `proc` alone; its descendants `pids` must be gone `within` seconds."""
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if alive(pid)]


def is_worker(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    return False


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_worker_leaves_with_a_killed_trainer(tmp_path):
    proc = subprocess.Popen(
        [*segbot_command(), "train", "--model-dir", str(tmp_path / "models")],
        env=segbot_env(),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    helpers: list[int] = []
    with reaped(proc, helpers):
        deadline = time.monotonic() + 60
        while not any(map(is_worker, helpers)) and proc.poll() is None:
            assert time.monotonic() < deadline, "the trainer started no chart worker"
            helpers[:] = children(proc.pid)  # the worker and multiprocessing's tracker
            time.sleep(0.01)
        assert any(map(is_worker, helpers)), "the trainer finished before the worker was seen"
        assert_gone_with(proc, helpers, within=30)  # the trainer alone killed, as by OOM


_STARTS_FIRST = """
import json, sys
from pathlib import Path
from model.training import train as training
from model.charts.worker import ChartWorker
from model.config import Settings
from model.data.load import load_dataset

before = "sklearn" in sys.modules  # model.training.train alone must not import it
seen = []
real = ChartWorker.start.__func__

def start(cls):
    seen.append("sklearn" in sys.modules)
    return real(cls)

ChartWorker.start = classmethod(start)
settings = Settings(_env_file=None, SEGBOT_MODEL_DIR="models")
out = Path("v1")
out.mkdir()
meta = training.train_version(load_dataset(settings), settings, None, out, "v1")
print(json.dumps({"before": before, "at_start": seen, "charts": sorted(meta["charts"])}))
"""


def test_the_workers_start_before_scikit_learn_is_imported(tmp_path):
    # Importing scikit-learn and SciPy takes the trainer ~1 s of one core: the chart
    # processes import matplotlib on the other meanwhile, so they must start first.
    _, seen = run_fresh(_STARTS_FIRST, tmp_path)
    assert seen == {"before": False, "at_start": [False], "charts": sorted(CHARTS)}
