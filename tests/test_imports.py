"""model.imports: the server's late imports of scikit-learn and matplotlib take turns.

Two threads importing scikit-learn at once can deadlock in CPython's module locks
(Python raises `_DeadlockError` in one of them): once, a retrain clicked right after
start failed that way while the warm-up was unpickling the pipeline. The race itself
is too rare to provoke on demand, so these tests check the structure that prevents
it: every such import waits for the lock.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from model import imports
from model.service import SegmentService
from model.training import train as training
from model.versions.version import StoredPipeline
from tests.conftest import make_settings, run_fresh


class WatchedLock:
    """imports.LOCK as the code under test takes it (`with imports.LOCK:`), noting
    when the thread `watched` asks for it."""

    def __init__(self, lock) -> None:
        self.lock, self.watched = lock, None
        self.asked = threading.Event()

    def __enter__(self):
        if threading.current_thread() is self.watched:
            self.asked.set()
        return self.lock.__enter__()

    def __exit__(self, *exc):
        return self.lock.__exit__(*exc)


def finishes_only_after_the_lock_is_released(work, monkeypatch: pytest.MonkeyPatch) -> None:
    """`work` on another thread, while this one holds the lock: it asks for the lock and
    does not finish until it is released."""
    lock = WatchedLock(imports.LOCK)
    monkeypatch.setattr(imports, "LOCK", lock)
    done = threading.Event()

    def run() -> None:
        work()
        done.set()

    with lock.lock:
        lock.asked.clear()
        lock.watched = thread = threading.Thread(target=run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not (lock.asked.is_set() or done.is_set()):
            assert time.monotonic() < deadline, "neither asked for the lock nor finished"
            time.sleep(0.01)
        assert lock.asked.is_set() and not done.is_set(), "it did not wait for the lock"
    assert done.wait(60)
    thread.join(5)


def test_unpickling_a_pipeline_waits_for_the_lock(
    trained_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = []
    path = trained_model_dir / "v1" / "pipeline.joblib"
    finishes_only_after_the_lock_is_released(
        lambda: loaded.append(StoredPipeline.load(path)), monkeypatch
    )
    assert loaded[0].sklearn.named_steps  # a real fitted pipeline came back


def test_the_late_imports_of_a_service_wait_for_the_lock(
    trained_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = SegmentService(make_settings(trained_model_dir))
    finishes_only_after_the_lock_is_released(service.trend, monkeypatch)  # matplotlib
    finishes_only_after_the_lock_is_released(
        lambda: imports.load("model.training.train"), monkeypatch
    )


def test_each_late_import_of_the_service_goes_through_the_lock(
    model_dir: Path, sample_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At each call site, not only in the helper: a plain import there would undo the
    lock for that path. Each call's late imports are recorded by a spy on `load`."""
    loaded: list[str] = []
    real_load = imports.load

    def spy(module: str):
        loaded.append(module)
        return real_load(module)

    monkeypatch.setattr(imports, "load", spy)
    service = SegmentService(make_settings(model_dir, sample_csv))

    def late_imports(call) -> list[str]:
        loaded.clear()
        call()
        return list(loaded)

    retrain = late_imports(lambda: service.retrain(force=True))  # v2, compared with v1
    assert {"model.data.load", "model.training.train"} <= set(retrain), retrain
    assert "model.charts.over_time_charts" in late_imports(lambda: service.flows("v2"))
    assert "model.charts.over_time_charts" in late_imports(service.trend)
    assert "model.training.pipeline" in late_imports(lambda: service.predict({"age": "34"}))


def test_a_chart_is_found_without_importing_matplotlib(trained_model_dir: Path) -> None:
    """The chart list has a home that imports nothing heavy: finding a stored chart
    (every "Show chart" click) costs no matplotlib import in a process that has none."""
    code = (
        "import sys; from model import SegmentService, Settings; "
        f"s = SegmentService(Settings(_env_file=None, model_dir={str(trained_model_dir)!r})); "
        "print(s.chart('elbow').name, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == ["elbow.png", "False"]


def test_load_is_import_module() -> None:
    assert imports.load("json") is json


_TRAIN_AND_WATCH = """
import json, sys
from bot import cli
from model import imports
from model.service import SegmentService

events = []
real_retrain, real_start = SegmentService.retrain, imports.Background.start

def retrain(self, progress=None, force=False):
    events.append(("retrain", "bot.router" in sys.modules))

    def report(stage, fraction):
        events.append((stage, "bot.router" in sys.modules))
        progress(stage, fraction)

    return real_retrain(self, progress=report, force=force)

def start(self):
    events.append(("import " + self.name, "bot.router" in sys.modules))
    real_start(self)

SegmentService.retrain, imports.Background.start = retrain, start
code = cli.main(["train", "--model-dir", "models"])
print(json.dumps({"code": code, "events": events}))
"""


def test_segbot_train_imports_the_router_while_waiting_for_its_charts(tmp_path: Path) -> None:
    # The printed summary needs bot.router (~0.15 s of imports): `segbot train` imports
    # it on a thread once the trainer only waits for its chart process, not before.
    output, result = run_fresh(_TRAIN_AND_WATCH, tmp_path)
    assert "customer segments in model v1" in output
    events = [tuple(e) for e in result["events"]]
    assert result["code"] == 0
    names = [name for name, _ in events]
    started = names.index("import bot.router")
    assert started == names.index(training.WAITING_FOR_CHARTS) + 1
    assert not any(imported for _, imported in events[: started + 1])  # not imported before


def test_a_background_import_that_fails_raises_where_the_module_is_needed() -> None:
    later = imports.Background("tests.no_such_module_here")
    later.start()
    with pytest.raises(ModuleNotFoundError, match="no_such_module_here"):
        later.module()
    assert imports.Background("json").module() is __import__("json")  # never started
