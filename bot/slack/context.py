"""What every listener needs, handed to it through Bolt's `context`.

Bolt passes listener arguments by name, so callbacks stay plain top-level
functions (importable, testable) and find the router and pools in
`context["segbot"]`, put there by one middleware in `build_app`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from bot.router import Router
from bot.slack.work import SlowWork

KEY = "segbot"


class Seen:
    """Event ids already handled: Slack redelivers an event it thinks was missed, with
    X-Slack-Retry-Num over HTTP or `retry_attempt` in Socket Mode, and the same event_id.
    Bounded, so a long-running bot does not grow."""

    def __init__(self, size: int = 2048):
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def first(self, event_id: str | None) -> bool:
        """True the first time an id is seen (and for events without one)."""
        if not event_id:
            return True
        with self._lock:
            if event_id in self._ids:
                return False
            self._ids[event_id] = None
            if len(self._ids) > self._size:
                self._ids.popitem(last=False)
            return True


class HomeCharts:
    """The served version's charts as Slack file ids for the App Home tab (image blocks
    reference them by `slack_file`): shared once per version, shown once `ready` (Slack
    has processed them). See bot.slack.listeners.events.home_charts."""

    def __init__(self) -> None:
        self.version: str | None = None
        self.files: dict[str, str] = {}  # chart name -> file id
        self.ready = False
        self.lock = threading.Lock()

    def start(self, version: str) -> None:
        """A new version: its charts are yet to be shared (call under `lock`)."""
        self.version, self.files, self.ready = version, {}, False

    def offer(self, version: str, files: dict[str, str]) -> None:
        """Charts of `version` already shared in the announcement channel (a retrain's
        announcement): the tab uses them rather than sharing the same charts again."""
        with self.lock:
            if self.version != version or not self.files:
                self.version, self.files, self.ready = version, dict(files), False

    def forget(self, version: str) -> None:
        """Slack refused these files in a view: show none for this version."""
        with self.lock:
            if self.version == version:
                self.files, self.ready = {}, False


@dataclass
class Segbot:
    router: Router
    slow: SlowWork  # charts, exports, retrains
    # Web API calls made after an acknowledgement (answers to mentions, clicks, modals):
    # a hung Slack fills this pool, never the threads that take requests.
    posts: SlowWork
    # views.open after the acknowledgement: apart from `posts`, so a modal opens at once
    # (its trigger_id lasts 3 s) even while answers queue for a slow Slack.
    modals: SlowWork = field(default_factory=lambda: SlowWork(workers=4, queued=16))
    seen: Seen = field(default_factory=Seen)
    charts: HomeCharts = field(default_factory=HomeCharts)


def of(context: Any) -> Segbot:
    return context[KEY]
