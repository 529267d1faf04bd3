"""Getting a finished reply to Slack after the acknowledgement.

Where it goes is the `Place` the command came from (`Place.how`): a
slash command or a click answers through its `response_url` (Bolt's `respond`),
which works in any conversation, the bot a member or not; a mention where it was
said (in its thread only when it was said in a thread: Slack shows an ephemeral
message in a thread only once that thread has replies); a DM, App Home, modal or
shortcut in the user's DM with the bot.

Files are never ephemeral: a file shared into a conversation is seen by all its
members. So a reply meant for one person (an export, an admin's movers CSV) sends its
file to the asker's DM with the bot and leaves a private pointer where they asked;
a public chart goes into the conversation, or, where the bot cannot post (a DM
between two people, a private channel it was not invited to), to the asker's DM,
with a pointer saying so. No path ends in silence: a failure reaches the user as
one line; the trace goes to the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import render
from bot.reply import Reply, ReplyFile, Visibility

log = logging.getLogger(__name__)
T = TypeVar("T")

NOT_A_MEMBER = {"not_in_channel", "channel_not_found", "is_archived"}
SENT_TO_DM = "I sent {what} to you in a direct message from me."
CANNOT_POST = "I can't post in this conversation, so I sent {what} to you in a direct message."
INVITE_HINT = " Invite me with `/invite @segbot` to have it shared here."
UPLOAD_FAILED = "I couldn't upload {what} to Slack; the error is logged. Please try again."
PROGRESS_INTERVAL = 1.0  # seconds between progress edits; chat.update is rate limited


# How a reply goes out; `Place.how` decides it from where the command came from.
How = Literal["respond", "message", "ephemeral", "dm", "view"]


@dataclass(frozen=True)
class Place:
    """Where a command came from, and so where its answers go (Slack surfaces only).

    - a slash command, a click on a message or a message shortcut: its `response_url`
      (ephemeral stays ephemeral), which reaches any conversation, the bot a member or
      not; the Web API in `channel` only when that fails;
    - a mention: where it was said, in its thread (`thread_ts`) only when it was said in
      one (Slack shows an ephemeral in a thread only once the thread has replies);
      ephemeral answers to the asker only;
    - a direct message to the bot (`dm`): normal messages, only the asker sees them;
    - App Home, modals and shortcuts without a conversation: the user's DM with the bot;
    - `view_id`: a view to update instead (a modal's answer)."""

    user: str
    channel: str | None = None  # None: the user's DM with the bot, opened when needed
    thread_ts: str | None = None
    has_response_url: bool = False  # slash commands, clicks on messages, message shortcuts
    dm: bool = False
    view_id: str | None = None

    def how(self, visibility: Visibility) -> How:
        if self.view_id:
            return "view"
        if self.has_response_url:
            return "respond"
        if self.channel is None or self.dm:
            return "dm"
        return "ephemeral" if visibility == "ephemeral" else "message"


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
        return self.own_dm()

    def own_dm(self) -> str:
        """The asker's DM with the bot (scope im:write)."""
        return str(self.client.conversations_open(users=self.user)["channel"]["id"])

    @property
    def private(self) -> bool:
        """Only the asker reads this conversation: their DM with the bot."""
        return self.channel is None or self.dm

    @property
    def invitable(self) -> bool:
        """The bot can be invited here: a channel, not a DM between people."""
        return self.channel is not None and not self.channel.startswith("D")

    def to_own_dm(self) -> Destination:
        return Destination(client=self.client, respond=None, channel=None, user=self.user)


def slack_error(exc: BaseException) -> str:
    """Slack's error code for a refused Web API call ("not_in_channel"), else ""."""
    if isinstance(exc, SlackApiError) and exc.response is not None:
        return str(exc.response.get("error", ""))
    return ""


def joined(dest: Destination, action: Callable[[], T]) -> T:
    """Run a Web API call that needs membership; join a public channel once if needed."""
    try:
        return action()
    except SlackApiError as exc:
        if slack_error(exc) not in NOT_A_MEMBER:
            raise
        if slack_error(exc) != "not_in_channel":  # private or archived: joining cannot help
            raise NotInChannel(slack_error(exc)) from exc
    if dest.channel is None or dest.dm:  # a DM cannot be joined
        raise NotInChannel("not_in_channel")
    try:
        dest.client.conversations_join(channel=dest.channel)
    except SlackApiError as exc:
        # Private channels and DMs cannot be joined; only an invitation helps.
        log.info("could not join %s: %s", dest.channel, slack_error(exc))
        raise NotInChannel(slack_error(exc)) from exc
    log.info("joined %s to post there", dest.channel)
    try:
        return action()
    except SlackApiError as exc:
        if slack_error(exc) in NOT_A_MEMBER:
            raise NotInChannel(slack_error(exc)) from exc
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
    try:
        post(reply, dest)
    except NotInChannel as exc:
        if dest.private:
            raise
        # Nowhere to say it where it was asked (the response_url is spent or failed):
        # the asker's DM with the bot, rather than silence.
        log.info("cannot post in %s (%s): answering in the asker's DM", dest.channel, exc)
        post(reply, dest.to_own_dm())


def post(reply: Reply, dest: Destination) -> None:
    """Through the Web API: ephemeral to the asker (in the thread, when there is one),
    a message in the conversation, or a message in the user's DM with the bot."""
    how = dest.place.how(reply.visibility)
    if how == "ephemeral" or (how == "respond" and reply.visibility == "ephemeral"):
        try:
            dest.client.chat_postEphemeral(
                channel=dest.channel,
                user=dest.user,
                text=reply.text,
                blocks=reply.blocks,
                thread_ts=dest.thread_ts,
            )
        except SlackApiError as exc:
            if slack_error(exc) in NOT_A_MEMBER:
                raise NotInChannel(slack_error(exc)) from exc
            raise
        return
    channel = dest.conversation()
    joined(
        dest,
        lambda: dest.client.chat_postMessage(
            channel=channel, text=reply.text, blocks=reply.blocks, thread_ts=dest.thread_ts
        ),
    )


def file_uploads(files: list[ReplyFile]) -> list[dict[str, Any]]:
    """Files as `files_upload_v2(file_uploads=...)` takes several in one message."""
    return [{"file": f.read(), "filename": f.filename, "title": f.title} for f in files]


def _upload(reply: Reply, dest: Destination, channel: str, thread_ts: str | None) -> None:
    """The reply's files into `channel`, its text as the first file's comment."""
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
                thread_ts=thread_ts,
            ),
        )


def deliver(reply: Reply, dest: Destination) -> None:
    """A finished reply: its files (with the text as the comment), or the text alone.
    A reply for the asker alone sends its files to the asker's DM with the bot, with a
    pointer where they asked; a public one shares them in the conversation, or in the
    asker's DM when the bot cannot post there."""
    if not reply.files or not reply.ok:
        send(reply, dest)
        return
    what = "the chart" if reply.files[0].filename.endswith(".png") else "the file"
    try:
        if dest.private:
            _upload(reply, dest, dest.conversation(), dest.thread_ts)
            return
        if reply.visibility == "ephemeral":
            _to_own_dm(reply, dest, SENT_TO_DM.format(what=what))
            return
        try:
            _upload(reply, dest, dest.conversation(), dest.thread_ts)
        except NotInChannel:
            hint = INVITE_HINT if dest.invitable else ""
            _to_own_dm(reply, dest, CANNOT_POST.format(what=what) + hint)
    except Exception:
        log.exception("uploading %s failed", reply.files[0].filename)
        send(render.refusal(UPLOAD_FAILED.format(what=what)), dest)


def _to_own_dm(reply: Reply, dest: Destination, pointer: str) -> None:
    own = dest.to_own_dm()
    _upload(reply, own, own.conversation(), None)
    send(render.pointer(reply, pointer), dest)


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
