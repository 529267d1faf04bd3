"""Events: mentions, direct messages, and the App Home tab.

Slack needs a 200 within 3 seconds and redelivers otherwise, so every event is
acknowledged at once and answered from a pool: a hung Slack never holds the
thread that took the request. Each event is answered once, however often Slack
delivers it: a delivery is a repeat only if its event_id was seen. (Socket Mode
marks every first delivery `retry_attempt: 0`, which Bolt passes on as
X-Slack-Retry-Num "0"; and a retry of an event this process never received, say
while it was down, is the only delivery there will be.)
"""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import render, views
from bot.phrases import strip_mentions
from bot.slack.after_ack import planned_later
from bot.slack.context import Segbot, of
from bot.slack.delivery import (
    Destination,
    NotInChannel,
    file_uploads,
    joined,
    slack_error,
)
from model import CHARTS


def register(app: App) -> None:
    app.event("app_mention")(app_mention)
    app.event("message")(direct_message)
    app.event("app_home_opened")(app_home_opened)


def _first_delivery(segbot: Segbot, body: dict[str, Any]) -> bool:
    """False for a redelivery: the first one is already answered or being answered."""
    return segbot.seen.first(body.get("event_id"))


def _said(event: dict[str, Any]) -> str:
    # Mentions first (they are markup), then Slack's escaping of &, < and >.
    return render.unescape(strip_mentions(event.get("text") or ""))


def app_mention(
    event: dict[str, Any],
    body: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    """`@segbot customer 1234` in a channel: answered where it was said (in its thread
    when it was said in one); customer answers ephemeral to the asker; charts there."""
    segbot = of(context)
    if not _first_delivery(segbot, body):
        logger.info("ignored a redelivered mention")
        return
    if event.get("subtype") or event.get("bot_id"):  # edits, bots (the bot itself too)
        return
    user, channel = event.get("user", ""), event.get("channel", "")
    dest = Destination(
        client=client,
        respond=None,
        channel=channel,
        user=user,
        # Not the mention's own ts: an ephemeral in a thread without replies is not shown.
        thread_ts=event.get("thread_ts"),
    )
    planned_later(
        segbot,
        lambda: segbot.router.plan_said(_said(event), user=user, channel=channel, slack=True),
        dest,
        lambda outcome: logger.info("mention from %s in %s: %s", user, channel, outcome),
        note=True,
    )


def direct_message(
    event: dict[str, Any],
    body: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    """A direct message to the bot: answered with normal messages in the DM. Only plain
    messages from people count: no edits, joins, bot messages (the bot's own answers
    arrive here too) or other subtypes."""
    if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
        return
    segbot = of(context)
    user = event.get("user", "")
    if not user or user == context.bot_user_id:
        return
    if not _first_delivery(segbot, body):
        logger.info("ignored a redelivered direct message")
        return
    channel = event.get("channel", "")
    dest = Destination(
        client=client,
        respond=None,
        channel=channel,
        user=user,
        thread_ts=event.get("thread_ts"),
        dm=True,
    )
    planned_later(
        segbot,
        lambda: segbot.router.plan_said(_said(event), user=user, channel=channel, slack=True),
        dest,
        lambda outcome: logger.info("direct message from %s: %s", user, outcome),
        note=True,
    )


def app_home_opened(
    event: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    """The Home tab, published fresh on every opening: after a retrain, whoever opens
    it sees the new version."""
    if event.get("tab") != "home":  # the Messages tab opens this event too
        return
    segbot = of(context)
    user = event.get("user", "")
    if segbot.posts.reserve():
        segbot.posts.submit(lambda: publish_home(segbot, client, user, logger))


def publish_home(segbot: Segbot, client: WebClient, user: str, logger: Logger) -> None:
    """Always publishes: with the charts when Slack can show them, else without (a
    refused view is followed at once by one without images, whose buttons post the
    charts to the viewer's DM)."""
    service = segbot.router.service
    admin = segbot.router.is_admin(user, slack=True)
    if not service.ready:
        client.views_publish(user_id=user, view=views.home(None, None, {}, admin=admin))
        return
    summary, history = service.summary(), service.history()
    charts = home_charts(segbot, client, summary.version, logger)
    try:
        client.views_publish(user_id=user, view=views.home(summary, history, charts, admin=admin))
    except SlackApiError as exc:
        if not charts:
            raise
        logger.warning(
            "Slack refused App Home with the charts of %s (%s); published without them",
            summary.version,
            slack_error(exc) or exc,
        )
        segbot.charts.forget(summary.version)
        client.views_publish(user_id=user, view=views.home(summary, history, {}, admin=admin))
    logger.info("published App Home for %s (%s)", user, summary.version)


def home_charts(segbot: Segbot, client: WebClient, version: str, logger: Logger) -> dict[str, str]:
    """The version's charts as Slack file ids the tab may show, else {}.

    Slack shows a file in a block only once it has processed it, and only to people who
    can see it (a file shared in no channel is the bot's alone). So the charts are shared
    once per version into SEGBOT_ANNOUNCE_CHANNEL, which the team reads, in the
    background, and shown once `files.info` says Slack has processed them (scope
    files:read). Without that channel the tab offers chart buttons instead."""
    channel = (segbot.router.settings.announce_channel or "").strip()
    if not channel:
        return {}
    cache = segbot.charts
    with cache.lock:
        if cache.version != version:
            cache.start(version)
            if segbot.slow.reserve():
                segbot.slow.submit(lambda: share_charts(segbot, client, channel, version, logger))
            return {}
        if cache.ready:
            return dict(cache.files)
        files = dict(cache.files)
    if len(files) < len(CHARTS) or not all(
        _processed(client, file_id, logger) for file_id in files.values()
    ):
        return {}
    with cache.lock:
        if cache.version != version:
            return {}
        cache.ready = True
    return files


def share_charts(
    segbot: Segbot, client: WebClient, channel: str, version: str, logger: Logger
) -> None:
    """Share the version's charts into `channel` (joining it if public) for App Home."""
    try:
        service = segbot.router.service
        files = render.chart_files({n: str(service.chart(n, version)) for n in CHARTS}, version)
        uploads = file_uploads(files)
        dest = Destination(client=client, respond=None, channel=channel, user="")
        done = joined(
            dest,
            lambda: client.files_upload_v2(
                channel=channel,
                file_uploads=uploads,
                initial_comment=f"Charts of {version}, as segbot's App Home shows them",
            ),
        )
        ids = [f["id"] for f in done.get("files") or []]
    except NotInChannel as exc:
        logger.warning(
            "App Home shows no charts: cannot share them in SEGBOT_ANNOUNCE_CHANNEL %s (%s)",
            channel,
            exc,
        )
        return
    except Exception as exc:  # a tab without charts beats no tab
        logger.warning("could not share the charts of %s for App Home: %s", version, exc)
        return
    with segbot.charts.lock:
        if segbot.charts.version == version and len(ids) == len(CHARTS):
            segbot.charts.files = dict(zip(CHARTS, ids, strict=True))


def _processed(client: WebClient, file_id: str, logger: Logger) -> bool:
    """Slack has processed the file: files.info gives its mimetype only then."""
    try:
        return bool(client.files_info(file=file_id)["file"].get("mimetype"))
    except SlackApiError as exc:
        logger.warning("files.info %s failed (%s): App Home shows no charts", file_id, exc)
        return False
