"""Which version is served: the one `LoadedVersion` every query reads, swapped when
CURRENT changes (here or in another process), the listeners told of a switch, and
the write-back a switch sets off."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from model.config import Settings
from model.errors import NoModel, NotFound
from model.versions.registry import Registry, normalise_version
from model.versions.version import LoadedVersion

if TYPE_CHECKING:
    from model.versions.write_back import WriteBack, WriteBackResult

log = logging.getLogger(__name__)

# Another process may switch CURRENT; look at most this often (seconds).
POINTER_CHECK_INTERVAL = 1.0


class Serving:
    """The served version as one immutable reference: a query reads it once, so its
    answer comes wholly from one version even while a retrain swaps in the next."""

    def __init__(self, settings: Settings, registry: Registry):
        self.registry = registry
        self._current: LoadedVersion | None = None
        self._swap_lock = threading.Lock()
        # Held by a retrain or a rollback: the switches this process makes.
        self.changing = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._listeners: list[Callable[[str], None]] = []
        # SEGBOT_WRITE_BACK: every switch is also written to the team's table or file.
        self.write_back: WriteBack | None = None
        if getattr(settings, "write_back", None):
            from model.versions.write_back import WriteBack

            self.write_back = WriteBack.for_settings(settings, registry)

    def version(self) -> LoadedVersion:
        """The served version, looking for a switch by another process at most once
        every POINTER_CHECK_INTERVAL."""
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

    def stored(self, version: str) -> LoadedVersion:
        """A stored version by name ("v3", "3"); the served one is not loaded again."""
        name = normalise_version(version)
        if name not in self.registry.versions():
            raise NotFound(f"version {name} does not exist")
        current = self._current
        if current is not None and current.name == name:
            return current
        return LoadedVersion.load(self.registry.path(name))

    def load_served(self) -> LoadedVersion | None:
        """The version CURRENT names, read from disk (what a retrain compares with)."""
        name = self.registry.served()
        if name is None:
            return None
        return LoadedVersion.load(self.registry.path(name))

    @property
    def ready(self) -> bool:
        try:
            self.version()
        except NoModel:
            return False
        return True

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
        # hold `changing`) or seen from another process, or for `serve` and `train` the
        # first load, brings the write-back up to date.
        wb = self.write_back
        if wb is not None and (before is not None or wb.eager or self.changing.locked()):
            wb.schedule(name)
        return True

    def on_switch(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def catch_up_write_back(self, *, quiet: bool) -> None:
        """At start-up (`segbot train`, `segbot serve`): also write back the version
        served at start-up, in case the target was left behind. `quiet`: the caller reports the
        outcome (`write_back_outcome`), so the write-back logs nothing itself."""
        if self.write_back is None:
            return
        self.write_back.eager = True
        if quiet:
            logging.getLogger(self.write_back.__module__).setLevel(logging.CRITICAL)

    def on_write_back(self, listener: Callable[[WriteBackResult], None]) -> None:
        if self.write_back is not None:
            self.write_back.on_result(listener)

    def write_back_outcome(self) -> WriteBackResult | None:
        """The last write-back's result once it has finished; None without one."""
        return None if self.write_back is None else self.write_back.wait()
