"""Events: mentions, direct messages, and the App Home tab.

Slack needs a 200 within 3 seconds and redelivers otherwise, so every event is
acknowledged at once and answered from a pool: a hung Slack never holds the
thread that took the request. Each event is answered once, however often Slack
delivers it (X-Slack-Retry-Num, Socket Mode's retry_attempt, the same event_id).
"""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest
from slack_sdk import WebClient

from bot import render, views
from bot.phrases import strip_mentions
from bot.slack.answer import planned_later
from bot.slack.context import Segbot, of
from bot.slack.delivery import Destination

CHART_NAMES = ("elbow", "clusters", "profiles")


def register(app: App) -> None:
    app.event("app_mention")(app_mention)
    app.event("message")(direct_message)
    app.event("app_home_opened")(app_home_opened)


def _first_delivery(segbot: Segbot, body: dict[str, Any], request: BoltRequest) -> bool:
    """False for a redelivery: the first one is already answered or being answered.
    (Bolt's own ignoring of retries is off for the sake of this log line.)"""
    fresh = segbot.seen.first(body.get("event_id"))
    return fresh and not request.headers.get("x-slack-retry-num")


def _said(event: dict[str, Any]) -> str:
    # Mentions first (they are markup), then Slack's escaping of &, < and >.
    return render.unescape(strip_mentions(event.get("text") or ""))


def app_mention(
    event: dict[str, Any],
    body: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
    request: BoltRequest,
) -> None:
    """`@segbot customer 1234` in a channel: answered in the mention's thread; customer
    answers ephemeral to the asker, in that thread; charts uploaded there."""
    segbot = of(context)
    if not _first_delivery(segbot, body, request):
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
        thread_ts=event.get("thread_ts") or event.get("ts"),
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
    request: BoltRequest,
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
    if not _first_delivery(segbot, body, request):
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
    service = segbot.router.service
    admin = segbot.router.is_admin(user, slack=True)
    if not service.ready:
        client.views_publish(user_id=user, view=views.home(None, None, {}, admin=admin))
        return
    summary, history = service.summary(), service.history()
    charts = home_charts(segbot, client, summary.version, logger)
    client.views_publish(user_id=user, view=views.home(summary, history, charts, admin=admin))
    logger.info("published App Home for %s (%s)", user, summary.version)


def home_charts(segbot: Segbot, client: WebClient, version: str, logger: Logger) -> dict[str, str]:
    """The version's charts as Slack file ids: uploaded once per version (without a
    channel, so they are shared nowhere) and shown in the tab by image blocks."""
    cache = segbot.charts
    with cache.lock:
        if cache.version == version:
            return dict(cache.files)
        files: dict[str, str] = {}
        for name in CHART_NAMES:
            try:
                path = segbot.router.service.chart(name, version)
                title = render.CHART_TITLES.get(name, name)
                done = client.files_upload_v2(
                    file=path.read_bytes(), filename=f"{name}-{version}.png", title=title
                )
                files[name] = done["files"][0]["id"] if done.get("files") else done["file"]["id"]
            except Exception as exc:  # a tab without a chart beats no tab
                logger.warning("could not upload the %s chart for App Home: %s", name, exc)
                return {}
        cache.version, cache.files = version, files
        return dict(files)
