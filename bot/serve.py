"""`segbot serve`: Socket Mode, HTTP mode or the local shell (docs/interface.md §3).

With no trained model yet, the first one is trained in the background once the
bot is up, so HTTP mode's `/healthz` says 503 until it is ready and commands
meanwhile get a "still training" line rather than silence.

In every mode `bot.schedule.Schedule` runs alongside: retrains on
SEGBOT_RETRAIN_CRON, announced in SEGBOT_ANNOUNCE_CHANNEL (the terminal in the
shell), and a watch that picks up versions served by other processes.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from typing import Any
from urllib.error import URLError

from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError

from bot.settings import BotSettings
from model import SegbotError, SegmentService

log = logging.getLogger(__name__)
MODES = ("socket", "http", "shell")


def choose_mode(settings: BotSettings, forced: str | None = None) -> str:
    """Socket Mode with an app token, HTTP with a bot token and signing secret,
    else the shell. A forced mode must have what it needs."""
    bot, secret, app_token = (
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token,
    )
    if forced == "shell":
        return "shell"
    if forced == "socket" or (forced is None and app_token):
        needs = (("SLACK_APP_TOKEN", app_token), ("SLACK_BOT_TOKEN", bot))
        missing = [name for name, value in needs if not value]
        if missing:
            raise SegbotError(f"Socket Mode needs {' and '.join(missing)}")
        return "socket"
    if forced == "http" or (forced is None and bot and secret):
        needs = (("SLACK_BOT_TOKEN", bot), ("SLACK_SIGNING_SECRET", secret))
        missing = [name for name, value in needs if not value]
        if missing:
            raise SegbotError(f"HTTP mode needs {' and '.join(missing)}")
        return "http"
    if bot:
        log.warning(
            "SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) nor "
            "SLACK_SIGNING_SECRET (HTTP mode); starting the local shell"
        )
    return "shell"


class Startup:
    """Trains the first model in the background and says how that is going."""

    def __init__(self, service: SegmentService):
        self.service = service
        self.status = "starting"
        self.detail: str | None = None

    def begin(self, wait_for: Any = None) -> None:
        """Start training if there is no model. `wait_for`: a uvicorn server whose
        socket should be listening first, so health checks see 503, not refusals."""
        if self.service.ready:
            self.status = "ok"
            threading.Thread(
                target=self._warm, args=(wait_for,), name="segbot-warm-up", daemon=True
            ).start()
            return
        threading.Thread(
            target=self._train, args=(wait_for,), name="segbot-first-training", daemon=True
        ).start()

    def _warm(self, server: Any = None) -> None:
        """Answer one prospect now, so the first real one does not wait seconds for
        scikit-learn to import and the pipeline to load (Slack allows 3). Once the
        server listens: importing meanwhile held its start back by 1.5 s, one in three."""
        _wait_until_listening(server)
        try:
            segment = self.service.summary().segments[0]
            feature, value = next((f, v) for f, v in segment.typical.items() if v is not None)
            self.service.predict({feature: str(value)})
        except Exception:
            log.warning("warm-up failed; the first prospect will be slower", exc_info=True)
        # What is imported and loaded by now lives as long as the server. Frozen, the
        # garbage collector stops walking those ~150k objects (NumPy, pandas,
        # scikit-learn, Bolt) on every full collection, otherwise a ~80 ms pause for all
        # requests in flight each time (it shows in the HTTP benchmark's p99).
        gc.freeze()

    def _train(self, server: Any) -> None:
        _wait_until_listening(server)
        self.status = "training"
        source = self.service.settings.data or "the bundled sample data"
        log.info("no trained model yet: training the first one on %s", source)
        try:
            self.service.ensure_model(_log_progress)
        except SegbotError as exc:
            self.status, self.detail = "failed", str(exc)
            log.error("first training failed: %s", exc)
            return
        except Exception:
            self.status, self.detail = "failed", "internal error; see the log"
            log.exception("first training failed")
            return
        self.status = "ok"
        log.info("ready: serving %s", self.service.served_version)
        self._warm()

    def health(self) -> tuple[int, dict[str, Any]]:
        version = self.service.served_version
        if version is not None:
            return 200, {"status": "ok", "version": version}
        body: dict[str, Any] = {"status": self.status if self.status != "ok" else "starting"}
        if self.detail:
            body["detail"] = self.detail
        return 503, body


def _wait_until_listening(server: Any) -> None:
    """Until a uvicorn `server` has its socket open (or stops); at once without one."""
    while server is not None and not server.started and not server.should_exit:
        time.sleep(0.05)


def _log_progress(stage: str, fraction: float) -> None:
    log.info("first training: %s (%.0f%%)", stage, fraction * 100)


def _stop_event() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def run_serve(settings: BotSettings, mode: str | None = None) -> int:
    from bot import announce
    from bot.schedule import Schedule, retrain_trigger

    mode = choose_mode(settings, mode)
    trigger = retrain_trigger(settings)  # a bad cron or timezone stops here, in one line
    service = SegmentService(settings)
    service.catch_up_write_back(quiet=False)  # a target left behind is caught up at start
    if mode == "shell":
        from bot.shell import run_shell

        log.info("no Slack tokens for Socket Mode or HTTP mode: starting the local shell")
        terminal = announce.Announcer.for_settings(
            settings, announce.terminal(), where="the terminal"
        )
        _announce_write_backs(service, terminal)
        schedule = Schedule(service, terminal, trigger)
        schedule.start()
        try:
            return run_shell(settings, service=service)
        finally:
            schedule.stop()

    from bot.router import Router
    from bot.slack.announce import for_slack
    from bot.slack.app import build_app
    from bot.slack.context import HomeCharts
    from bot.slack.work import SlowWork

    slow = SlowWork()
    router = Router(service, settings)
    charts = HomeCharts()  # App Home's, and the announcer's charts of a served version
    try:
        app = build_app(settings, router, slow, charts)
    except BoltError as exc:
        raise SegbotError(f"Slack did not accept SLACK_BOT_TOKEN: {exc}") from None
    except (URLError, OSError) as exc:
        raise SegbotError(f"cannot reach Slack at {settings.slack_api_url}: {exc}") from None
    # Scheduled and manual retrains (and rollbacks) are announced the same way.
    announcer = for_slack(settings, app.client, charts)
    router.announcer = announcer
    _announce_write_backs(service, announcer)
    schedule = Schedule(service, announcer, trigger)
    startup = Startup(service)
    schedule.start()
    try:
        if mode == "http":
            _run_http(app, settings, startup)
        else:
            _run_socket(app, settings, startup)
    finally:
        schedule.stop()
        slow.shutdown(wait=False)
    return 0


def _announce_write_backs(service: SegmentService, announcer: Any) -> None:
    """A failed write-back (SEGBOT_WRITE_BACK) is said where retrains are announced."""
    service.on_write_back(announcer.write_back)


def _run_http(app: Any, settings: BotSettings, startup: Startup) -> None:
    import uvicorn

    from bot.slack.http import SegbotASGI

    config = uvicorn.Config(
        SegbotASGI(app, startup.health),
        host=settings.host,
        port=settings.port,
        log_config=None,  # log through our own handlers and format
        access_log=False,  # one line per command comes from the listener instead
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    startup.begin(wait_for=server)
    server.run()


def _run_socket(app: Any, settings: BotSettings, startup: Startup) -> None:
    from bot.slack.socket import connect

    stop = _stop_event()
    try:
        handler = connect(app, settings)
    except SlackApiError as exc:
        raise SegbotError(
            f"Slack refused the Socket Mode connection: {exc.response.get('error')}"
        ) from None
    log.info("connected to Slack in Socket Mode")
    startup.begin()
    try:
        stop.wait()
    finally:
        log.info("disconnecting")
        handler.close()
