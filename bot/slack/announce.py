"""Announcements in SEGBOT_ANNOUNCE_CHANNEL: the Slack side of `bot.announce`.

`bot.announce.Announcer` decides what is said; this posts it in the channel.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_sdk import WebClient

from bot.announce import Announcer
from bot.reply import Reply
from bot.settings import BotSettings
from bot.slack.context import HomeCharts
from bot.slack.delivery import Destination, NotInChannel, file_uploads, joined

log = logging.getLogger(__name__)


class SlackChannel:
    """Posts announcements in one channel: the message (text and blocks) with
    chat.postMessage, then its charts in one files_upload_v2 call. Joins a public
    channel it is not in yet; a private one needs an invitation, which the log says."""

    def __init__(self, client: WebClient, channel: str, charts: HomeCharts | None = None):
        self.client = client
        self.channel = channel
        self.dest = Destination(client=client, respond=None, channel=channel, user="")
        self.charts = charts  # App Home shows a served version's charts shared here

    def __call__(self, reply: Reply) -> None:
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
            uploads = file_uploads(reply.files)
            version = getattr(getattr(reply.answer, "version", None), "version", "")
            done = joined(
                self.dest,
                lambda: client.files_upload_v2(
                    channel=channel,
                    file_uploads=uploads,
                    initial_comment=f"Charts of {version}" if version else None,
                ),
            )
            if self.charts is not None and version and getattr(reply.answer, "served", False):
                ids = [f["id"] for f in done.get("files") or []]
                names = [f.filename.removesuffix(f"-{version}.png") for f in reply.files]
                if len(ids) == len(names):
                    self.charts.offer(version, dict(zip(names, ids, strict=True)))
        except NotInChannel as exc:
            log.error(
                "cannot post in SEGBOT_ANNOUNCE_CHANNEL %s (%s): invite the bot there with "
                "`/invite @segbot`",
                channel,
                exc,
            )


class InOrder:
    """Posts on one thread of its own, in order: an admin's rollback is answered in the
    slash command's acknowledgement, which Slack must have within 3 s, so announcing it
    must not wait for the Web API on the thread that acknowledges."""

    def __init__(self, post: SlackChannel):
        self.post = post
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segbot-announce")

    def __call__(self, reply: Reply) -> None:
        self._thread.submit(self._post, reply)

    def _post(self, reply: Reply) -> None:
        try:
            self.post(reply)
        except Exception:
            log.exception("could not post the announcement in %s", self.post.channel)


def for_slack(
    settings: BotSettings, client: WebClient | None, charts: HomeCharts | None = None
) -> Announcer:
    """Announcements in SEGBOT_ANNOUNCE_CHANNEL when it is set, else in the log only.
    `charts`: App Home's, told of the served version's charts shared with an announcement."""
    channel = (settings.announce_channel or "").strip()
    if not channel:
        return Announcer.for_settings(settings, None)
    assert client is not None, "announcing in a channel needs a Web API client"
    post = InOrder(SlackChannel(client, channel, charts))
    return Announcer.for_settings(settings, post, where=channel)
