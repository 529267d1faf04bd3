"""A small, bounded pool for slow work (charts, exports, retrains).

Quick answers run on the thread that received the request; slow work waits
here, apart from them, so a retrain or a burst of chart requests never holds up
a lookup. Admission is bounded too: when the queue is full the user is told to
try again instead of waiting behind an ever longer line.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class SlowWork:
    def __init__(self, workers: int = 2, queued: int = 8):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="segbot-slow")
        self._slots = threading.BoundedSemaphore(workers + queued)

    def reserve(self) -> bool:
        """Claim a place before acknowledging, so the acknowledgement never promises
        work that then cannot be queued."""
        return self._slots.acquire(blocking=False)

    def submit(self, work: Callable[[], None]) -> Future:
        """Run `work` on the pool; call only after a successful `reserve`."""

        def run() -> None:
            try:
                work()
            except Exception:
                # Delivery code answers the user itself; this only keeps the trace.
                log.exception("slow work failed")
            finally:
                self._slots.release()

        return self._pool.submit(run)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
