"""model.imports: the server's late imports of scikit-learn and matplotlib take turns.

Two threads importing scikit-learn at once can deadlock in CPython's module locks
(Python raises `_DeadlockError` in one of them): once, a retrain clicked right after
start failed that way while the warm-up was unpickling the pipeline. The race itself
is too rare to provoke on demand, so these tests check the structure that prevents
it: every such import waits for the lock.
"""

from __future__ import annotations

import threading
from pathlib import Path

from model import imports
from model.service import SegmentService
from model.version import StoredPipeline
from tests.conftest import make_settings


def finishes_only_after_the_lock_is_released(work) -> None:
    done = threading.Event()

    def run() -> None:
        work()
        done.set()

    with imports.LOCK:
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        assert not done.wait(0.5), "it did not wait for the lock"
    assert done.wait(60)
    thread.join(5)


def test_unpickling_a_pipeline_waits_for_the_lock(trained_model_dir: Path) -> None:
    loaded = []
    path = trained_model_dir / "v1" / "pipeline.joblib"
    finishes_only_after_the_lock_is_released(lambda: loaded.append(StoredPipeline.load(path)))
    assert loaded[0].sklearn.named_steps  # a real fitted pipeline came back


def test_the_late_imports_of_a_service_wait_for_the_lock(trained_model_dir: Path) -> None:
    service = SegmentService(make_settings(trained_model_dir))
    finishes_only_after_the_lock_is_released(lambda: service.chart("elbow"))
    finishes_only_after_the_lock_is_released(lambda: imports.load("model.training"))


def test_load_is_import_module() -> None:
    import json

    assert imports.load("json") is json
