"""Telling the team what a retrain did, in SEGBOT_ANNOUNCE_CHANNEL.

`Announcer` decides what is worth saying (settings such as SEGBOT_ANNOUNCE_UNCHANGED)
and hands a rendered `Reply` to a `Post`: `SlackChannel` in Slack modes, `terminal`
in the local shell. What is said is rendered by pure functions in `bot.render`
(`announcement`, `announcement_failed`), so tests need no Slack at all.

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
from model.answers import RetrainResult, Rollback
from model.config import Settings

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from model.write_back import WriteBackResult

log = logging.getLogger(__name__)
Post = Callable[[Reply], None]


class Announcer:
    def __init__(self, post: Post | None, *, announce_unchanged: bool = True, where: str = ""):
        self.post = post
        self.announce_unchanged = announce_unchanged
        self.where = where or ("the log only" if post is None else "the announcement channel")

    @classmethod
    def for_settings(cls, settings: Settings, post: Post | None, where: str = "") -> Announcer:
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


class SlackChannel:
    """Posts announcements in one channel: the message (text and blocks) with
    chat.postMessage, then its charts in one files_upload_v2 call. Joins a public
    channel it is not in yet; a private one needs an invitation, which the log says."""

    def __init__(self, client: WebClient, channel: str):
        from bot.slack.delivery import Destination

        self.client = client
        self.channel = channel
        self.dest = Destination(client=client, respond=None, channel=channel, user="")

    def __call__(self, reply: Reply) -> None:
        from bot.slack.delivery import NotInChannel, joined

        client, channel = self.client, self.channel
        try:
            joined(
                self.dest,
                lambda: client.chat_postMessage(
                    channel=channel, text=reply.text, blocks=reply.blocks, unfurl_links=False
                ),
            )
            if not reply.files:
                return
            uploads = [
                {"file": f.read(), "filename": f.filename, "title": f.title} for f in reply.files
            ]
            version = getattr(getattr(reply.answer, "version", None), "version", "")
            joined(
                self.dest,
                lambda: client.files_upload_v2(
                    channel=channel,
                    file_uploads=uploads,
                    initial_comment=f"Charts of {version}" if version else None,
                ),
            )
        except NotInChannel as exc:
            log.error(
                "cannot post in SEGBOT_ANNOUNCE_CHANNEL %s (%s): invite the bot there with "
                "`/invite @segbot`",
                channel,
                exc,
            )


def terminal(stream: TextIO | None = None, out: str | None = None) -> Post:
    """The local shell's announcements: printed between answers, charts saved as files."""

    def post(reply: Reply) -> None:
        target = stream or sys.stdout
        lines = [render.unescape(reply.text)]
        lines += [f"file: {path}" for path in (save_files(reply, out) if reply.ok else [])]
        print("\n" + "\n".join(lines), file=target, flush=True)

    return post


def for_slack(settings: Settings, client: WebClient | None) -> Announcer:
    """Announcements in SEGBOT_ANNOUNCE_CHANNEL when it is set, else in the log only."""
    channel = (settings.announce_channel or "").strip()
    if not channel:
        return Announcer.for_settings(settings, None)
    assert client is not None, "announcing in a channel needs a Web API client"
    return Announcer.for_settings(settings, SlackChannel(client, channel), where=channel)
