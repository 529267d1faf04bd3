"""Telling the team what a retrain did, in SEGBOT_ANNOUNCE_CHANNEL.

`Announcer` decides what is worth saying (settings such as SEGBOT_ANNOUNCE_UNCHANGED)
and hands a rendered `Reply` to a `Post`: `bot.slack.announce.SlackChannel` in Slack
modes, `terminal` in the local shell; nothing here reaches Slack. What is said is
rendered by pure functions in `bot.render` (`announcement`, `announcement_failed`),
so tests need no Slack at all.

An announcement is a courtesy, never part of the retrain: a failure to post is
logged and the retrain's outcome stands.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from bot import render
from bot.files import save_files
from bot.reply import Reply
from bot.settings import BotSettings
from model import RetrainResult, Rollback

if TYPE_CHECKING:
    from model import WriteBackResult

log = logging.getLogger(__name__)
Post = Callable[[Reply], None]


class Announcer:
    def __init__(self, post: Post | None, *, announce_unchanged: bool = True, where: str = ""):
        self.post = post
        self.announce_unchanged = announce_unchanged
        self.where = where or ("the log only" if post is None else "the announcement channel")

    @classmethod
    def for_settings(cls, settings: BotSettings, post: Post | None, where: str = "") -> Announcer:
        return cls(post, announce_unchanged=settings.announce_unchanged, where=where)

    def retrained(self, result: RetrainResult, *, by: str | None = None) -> Reply | None:
        """A finished retrain. `by`: None for the schedule, else who asked ("" for the
        local operator). Unchanged data is announced for scheduled runs only (unless
        SEGBOT_ANNOUNCE_UNCHANGED is false): whoever asked by hand has their answer."""
        if result.unchanged_data and (by is not None or not self.announce_unchanged):
            log.info("no new data since %s; nothing to announce", result.version.version)
            return None
        return self._send(render.announcement(result, by))

    def failed(
        self, exc: BaseException, still_served: str | None, *, by: str | None = None
    ) -> Reply:
        return self._send(render.announcement_failed(exc, still_served, by))

    def rolled_back(self, answer: Rollback, *, by: str | None = None) -> Reply:
        return self._send(render.announcement_rollback(answer, by))

    def write_back(self, result: WriteBackResult) -> Reply | None:
        """A finished write-back: only a failure is worth a message (success is logged)."""
        return None if result.ok else self._send(render.announcement_write_back_failed(result))

    def _send(self, reply: Reply) -> Reply:
        log.info("announcing in %s: %s", self.where, render.unescape(reply.text.splitlines()[0]))
        if self.post is not None:
            try:
                self.post(reply)
            except Exception:
                log.exception("could not post the announcement in %s", self.where)
        return reply


def terminal(stream: TextIO | None = None, out: str | None = None) -> Post:
    """The local shell's announcements: printed between answers, charts saved as files."""

    def post(reply: Reply) -> None:
        target = stream or sys.stdout
        lines = [render.unescape(reply.text)]
        lines += [f"file: {path}" for path in (save_files(reply, out) if reply.ok else [])]
        print("\n" + "\n".join(lines), file=target, flush=True)

    return post
