"""The Bolt app: one Web API client (SLACK_API_URL, retries) and the listeners."""

from __future__ import annotations

import logging
from collections.abc import Callable
from logging import Logger
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot import render
from bot.router import Router
from bot.settings import BotSettings
from bot.slack.context import KEY, HomeCharts, Segbot
from bot.slack.listeners import register_listeners
from bot.slack.work import SlowWork
from model import SegbotError

WEB_API_TIMEOUT = 30  # seconds per call; uploads of big exports need a while
# Answers to events and clicks waiting for the posting pool. Bounded so a hung Slack
# cannot grow memory without end (each holds one reply), but deep enough that a burst of clicks
# is answered late rather than dropped (at 64, the HTTP benchmark's flood loses a
# third).
POSTS_QUEUED = 4096


def web_client(settings: BotSettings) -> WebClient:
    """Every Web API call goes to SLACK_API_URL and is retried on 429 (after the
    Retry-After Slack asks for), 5xx and dropped connections."""
    base_url = settings.slack_api_url
    if not base_url.endswith("/"):
        base_url += "/"  # slack_sdk appends method names to it as they are
    return WebClient(
        token=settings.slack_bot_token,
        base_url=base_url,
        timeout=WEB_API_TIMEOUT,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class _ClientGivenOnPurpose(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN from the environment goes unused when it is given
    a client; the client carries that very token, so the warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


class _NoRequestBodies(logging.Filter):
    """Bolt logs the whole body of a request whose signature fails: for a real request
    refused over clock skew, that is Slack's verification token and a response_url that
    can post to the channel. Keep the fact, not the body."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Invalid request signature detected"):
            record.msg = "refused a request with an invalid or expired signature"
            record.args = ()
        return True


def _quiet_refusals() -> None:
    logger = logging.getLogger("slack_bolt.RequestVerification")
    if not any(isinstance(f, _NoRequestBodies) for f in logger.filters):
        logger.addFilter(_NoRequestBodies())


class _Provide(Middleware):
    """Listeners find the router and pools in their context (bot.slack.context). A
    Middleware subclass, not an `@app.use` function: Bolt calls it directly, where a
    function would cost a round of argument injection on every request."""

    def __init__(self, segbot: Segbot):
        self.segbot = segbot

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        req.context[KEY] = self.segbot
        return next()


def build_app(
    settings: BotSettings, router: Router, slow: SlowWork, charts: HomeCharts | None = None
) -> App:
    """`charts`: App Home's chart files, shared with the announcer (bot.slack.announce),
    whose retrain announcements share the same charts in the same channel."""
    if not settings.slack_bot_token:
        raise SegbotError("SLACK_BOT_TOKEN is not set")
    bolt_log = logging.getLogger("bot.slack.bolt")
    bolt_log.addFilter(_ClientGivenOnPurpose())
    # At DEBUG, Bolt and the Socket Mode client log whole payloads, which carry Slack's
    # verification token and response_urls; `segbot -v` must not put those in a log.
    for name in ("bot.slack.bolt", "slack_bolt", "slack_sdk.socket_mode"):
        logging.getLogger(name).setLevel(logging.INFO)
    _quiet_refusals()
    app = App(
        name="segbot",
        client=web_client(settings),
        # Only HTTP mode checks signatures; Socket Mode connections are authenticated
        # by the app-level token instead.
        signing_secret=settings.slack_signing_secret or "",
        # Bolt sends the acknowledgement when the listener returns. Listeners acknowledge
        # with the answer itself and make no Web API call before returning: posts, views
        # (views.open with its 3-second trigger_id), uploads and announcements run on
        # pools after it (bot.slack.context). So Bolt need not run them on a second
        # thread and poll for the ack every 10 ms, as it does without this.
        process_before_response=True,
        logger=bolt_log,
    )
    segbot = Segbot(
        router=router,
        slow=slow,
        posts=SlowWork(workers=4, queued=POSTS_QUEUED),
        charts=charts or HomeCharts(),
    )

    app.use(_Provide(segbot))

    @app.error
    def failed(error: Exception, body: dict[str, Any], respond: Any, logger: Logger) -> None:
        """The one handler for anything a listener did not expect: the trace to the log,
        one line to the user where there is somewhere to say it."""
        kind = body.get("type") or body.get("command") or "request"
        logger.error("handling a %s failed", kind, exc_info=error)
        if respond is not None and body.get("response_url"):
            try:
                respond(text=render.GENERIC_FAILURE, response_type="ephemeral")
            except Exception as exc:  # the user is already failed once; keep the first trace
                logger.warning("could not tell the user about the failure: %s", exc)

    register_listeners(app)
    return app
