"""The server's late imports of heavy libraries (pandas, scikit-learn, SciPy,
matplotlib), one thread at a time.

`segbot serve` imports scikit-learn lazily, from whichever thread first needs it:
the warm-up after start, a retrain, a prospect, a pipeline being unpickled. Two
threads importing the same package tree at once can take CPython's per-module
import locks in opposite orders (unpickling imports `sklearn.cluster._kmeans` before
its package; `from sklearn.cluster import KMeans` the package first), and Python
then raises `_DeadlockError` in one of them: a retrain clicked while the warm-up was
importing failed with "deadlock detected by _ModuleLock('sklearn.cluster._kmeans')".
Those imports take this lock, so they take turns; once a module is imported, taking
it again is a dictionary lookup under an uncontended lock.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from types import ModuleType

LOCK = threading.RLock()  # re-entrant: an import under it may unpickle, and so on


def load(module: str) -> ModuleType:
    """`importlib.import_module(module)`, one thread at a time."""
    with LOCK:
        return importlib.import_module(module)


class Background:
    """`load(module)` on a thread from `start()`, for a moment this process would
    otherwise spend waiting; `module()` waits for that import (or, if it was never
    started or failed, imports here and raises as `load` would)."""

    def __init__(self, module: str) -> None:
        self.name = module
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._load, name=f"import {self.name}")
            self._thread.daemon = True
            self._thread.start()

    def _load(self) -> None:
        with contextlib.suppress(BaseException):  # imported again, and raised, by module()
            load(self.name)

    def module(self) -> ModuleType:
        if self._thread is not None:
            self._thread.join()
        return load(self.name)
