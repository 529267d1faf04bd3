"""Getting a finished reply to Slack after the acknowledgement.

Where it goes is the `Place` the command came from (bot.reply.Place.how): a
slash command or a click answers through its `response_url` (Bolt's `respond`),
falling back to the Web API when that fails; a mention in its thread (ephemeral
answers to the asker only, in that thread); a DM, App Home, modal or shortcut
in the user's DM with the bot. Files go into the conversation with
`files_upload_v2`. When the bot is not in the channel it joins a public one
and tries once more, or tells the user to invite it. A failure reaches the
user as one line; the trace goes to the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import render
from bot.reply import Place, Reply

log = logging.getLogger(__name__)
T = TypeVar("T")

NOT_A_MEMBER = {"not_in_channel", "channel_not_found", "is_archived"}
INVITE = (
    "I'm not in this conversation, so I can't post {what} here. "
    "Invite me with `/invite @segbot` and try again."
)
UPLOAD_FAILED = "I couldn't upload {what} to Slack; the error is logged. Please try again."
PROGRESS_INTERVAL = 1.0  # seconds between progress edits; chat.update is rate limited


class NotInChannel(Exception):
    """The bot cannot post here and could not join."""


@dataclass(frozen=True)
class Destination:
    """Where one command's answers go: its place, and the means to get there."""

    client: WebClient
    respond: Respond | None
    channel: str | None  # None: the user's DM with the bot
    user: str
    thread_ts: str | None = None
    dm: bool = False  # the command came from a DM: every answer is a normal message there

    @property
    def place(self) -> Place:
        return Place(
            user=self.user,
            channel=self.channel,
            thread_ts=self.thread_ts,
            has_response_url=self.respond is not None,
            dm=self.dm,
        )

    def conversation(self) -> str:
        """The channel to post in; the user's DM with the bot is opened when needed."""
        if self.channel is not None:
            return self.channel
        return str(self.client.conversations_open(users=self.user)["channel"]["id"])


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error", "")) if exc.response is not None else ""


def joined(dest: Destination, action: Callable[[], T]) -> T:
    """Run a Web API call that needs membership; join a public channel once if needed."""
    try:
        return action()
    except SlackApiError as exc:
        if _error(exc) not in NOT_A_MEMBER:
            raise
        if _error(exc) != "not_in_channel":  # private or archived: joining cannot help
            raise NotInChannel(_error(exc)) from exc
    if dest.channel is None or dest.dm:  # a DM cannot be joined
        raise NotInChannel("not_in_channel")
    try:
        dest.client.conversations_join(channel=dest.channel)
    except SlackApiError as exc:
        # Private channels and DMs cannot be joined; only an invitation helps.
        log.info("could not join %s: %s", dest.channel, _error(exc))
        raise NotInChannel(_error(exc)) from exc
    log.info("joined %s to post there", dest.channel)
    try:
        return action()
    except SlackApiError as exc:
        if _error(exc) in NOT_A_MEMBER:
            raise NotInChannel(_error(exc)) from exc
        raise


def send(reply: Reply, dest: Destination) -> None:
    """Text and blocks, with the reply's visibility, where the place says."""
    if dest.respond is not None and dest.place.how(reply.visibility) == "respond":
        try:
            resp = dest.respond(
                text=reply.text,
                blocks=reply.blocks,
                response_type=reply.visibility,
                replace_original=False,
                thread_ts=dest.thread_ts,
            )
            if resp.status_code == 200:
                return
            log.warning("response_url answered %s; using the Web API", resp.status_code)
        except Exception as exc:
            log.warning("response_url failed (%s); using the Web API", type(exc).__name__)
    post(reply, dest)


def post(reply: Reply, dest: Destination) -> None:
    """Through the Web API: ephemeral to the asker (in the thread), a message in the
    conversation (in the thread), or a message in the user's DM with the bot."""
    how = dest.place.how(reply.visibility)
    if how == "ephemeral" or (how == "respond" and reply.visibility == "ephemeral"):
        dest.client.chat_postEphemeral(
            channel=dest.channel,
            user=dest.user,
            text=reply.text,
            blocks=reply.blocks,
            thread_ts=dest.thread_ts,
        )
        return
    channel = dest.conversation()
    joined(
        dest,
        lambda: dest.client.chat_postMessage(
            channel=channel, text=reply.text, blocks=reply.blocks, thread_ts=dest.thread_ts
        ),
    )


def deliver(reply: Reply, dest: Destination) -> None:
    """A finished reply: its files into the conversation (with the text as the comment),
    or the text alone."""
    if not reply.files or not reply.ok:
        send(reply, dest)
        return
    what = "the chart" if reply.files[0].filename.endswith(".png") else "the file"
    try:
        channel = dest.conversation()
        for i, file in enumerate(reply.files):
            content = file.read()
            joined(
                dest,
                lambda file=file, content=content, first=(i == 0): dest.client.files_upload_v2(
                    channel=channel,
                    file=content,
                    filename=file.filename,
                    title=file.title,
                    initial_comment=reply.text if first else None,
                    thread_ts=dest.thread_ts,
                ),
            )
    except NotInChannel:
        send(render.refusal(INVITE.format(what=what)), dest)
    except Exception:
        log.exception("uploading %s failed", reply.files[0].filename)
        send(render.refusal(UPLOAD_FAILED.format(what=what)), dest)


class ProgressMessage:
    """A message in the channel that shows a retrain's progress, then its result."""

    def __init__(self, dest: Destination):
        self.dest = dest
        self.ts: str | None = None
        self.channel = dest.channel
        self._last = 0.0

    def start(self, reply: Reply) -> None:
        try:
            self.channel = self.dest.conversation()
            resp = joined(
                self.dest,
                lambda: self.dest.client.chat_postMessage(
                    channel=self.channel,
                    text=reply.text,
                    blocks=reply.blocks,
                    thread_ts=self.dest.thread_ts,
                ),
            )
        except Exception as exc:
            # Progress is a courtesy; the result still arrives through response_url.
            log.warning("no progress message in %s: %s", self.dest.channel, exc)
            return
        self.ts, self.channel = resp["ts"], resp.get("channel", self.channel)
        self._last = time.monotonic()

    def update(self, stage: str, fraction: float) -> None:
        """The retrain's progress callback: never raises, never floods Slack."""
        now = time.monotonic()
        if self.ts is None or (now - self._last < PROGRESS_INTERVAL and fraction < 1):
            return
        self._last = now
        try:
            self._edit(render.retrain_progress(stage, fraction))
        except Exception as exc:
            log.warning("progress update failed: %s", exc)

    def finish(self, reply: Reply) -> None:
        if self.ts is not None:
            try:
                self._edit(reply)
                return
            except Exception as exc:
                log.warning("could not edit the progress message: %s", exc)
        send(reply, self.dest)

    def _edit(self, reply: Reply) -> Any:
        return self.dest.client.chat_update(
            channel=self.channel, ts=self.ts, text=reply.text, blocks=reply.blocks
        )
