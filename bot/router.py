"""One router for every surface: command text in, `Reply` out.

Slack, `segbot shell` and `segbot ask` all come through here, so what a person
sees in the shell is what Slack shows. Slack needs one more thing: slow work is
acknowledged at once and run afterwards, so `plan` returns a `Job` for it and
the Slack listener decides where it runs; `handle` simply runs it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import render
from bot.commands import Command, Usage, parse
from bot.reply import Reply
from model.config import Settings
from model.errors import NoModel, RetrainInProgress, SegbotError
from model.service import SegmentService

if TYPE_CHECKING:
    from bot.announce import Announcer

log = logging.getLogger(__name__)
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Job:
    """Slow work that passed every check: acknowledge with `ack`, then call `run`."""

    command: Command
    ack: Reply
    run: Callable[[Progress | None], Reply]


class Router:
    def __init__(
        self,
        service: SegmentService,
        settings: Settings | None = None,
        announcer: Announcer | None = None,
    ):
        self.service = service
        self.settings = settings or service.settings
        # Slack modes: a retrain's outcome is announced in SEGBOT_ANNOUNCE_CHANNEL too.
        self.announcer = announcer

    # ---- entry points --------------------------------------------------------------------
    def handle(
        self,
        command_line: str,
        *,
        text: str | None = None,
        user: str | None = None,
        channel: str | None = None,
        slack: bool = False,
        progress: Progress | None = None,
    ) -> Reply:
        """Answer one command completely (slow work included)."""
        planned = self.plan(command_line, text=text, user=user, channel=channel, slack=slack)
        return planned.run(progress) if isinstance(planned, Job) else planned

    def plan(
        self,
        command_line: str,
        *,
        text: str | None = None,
        user: str | None = None,
        channel: str | None = None,
        slack: bool = False,
    ) -> Reply | Job:
        """Parse and check access; answer quick commands, return a Job for slow ones.

        In Slack modes SEGBOT_ALLOWED_CHANNELS and SEGBOT_ADMINS apply; the local
        shell and `segbot ask` run as the operator, who may do everything."""
        parsed = parse(command_line, text)
        if isinstance(parsed, Usage):
            return render.usage(parsed)
        refused = self.refusal(parsed, user=user, channel=channel, slack=slack)
        if refused is not None:
            log.info("refused %s %s for user %s in %s", parsed.command, parsed.verb, user, channel)
            return refused
        # The local shell and `segbot ask` run as the operator, an admin.
        admin = not slack or user in self.settings.admins
        if not parsed.spec.slow:
            return self.run(parsed, user=user, admin=admin)
        if parsed.verb == "retrain" and self.service.is_retraining:
            # Said now rather than after a queue wait; the service checks again anyway.
            return render.error(RetrainInProgress("a retrain is already running; wait for it"))
        return Job(
            command=parsed,
            ack=render.working(parsed.spec, parsed.arg),
            run=lambda progress=None: self.run(parsed, progress, user=user, admin=admin),
        )

    def refusal(
        self, command: Command, *, user: str | None, channel: str | None, slack: bool
    ) -> Reply | None:
        if not slack or command.verb == "help":
            return None
        allowed = self.settings.allowed_channels
        if allowed and channel not in allowed:
            return render.channel_not_allowed(allowed)
        if command.spec.admin and user not in self.settings.admins:
            return render.not_admin(command.spec)
        return None

    # ---- running a parsed command ----------------------------------------------------------
    def run(
        self,
        command: Command,
        progress: Progress | None = None,
        *,
        user: str | None = None,
        admin: bool = True,
    ) -> Reply:
        """Call the service and render its answer; every failure becomes a one-line reply.
        `admin`: whether admin-only extras (the movers' ids) may be given."""
        started = time.perf_counter()
        try:
            reply = self._answer(command, progress, user, admin)
        except NoModel as exc:
            training = NoModel("the first model is still training; try again in a minute")
            reply = render.error(training if self.service.is_retraining else exc)
        except Exception as exc:
            if not isinstance(exc, SegbotError):
                log.exception("%s %s failed", command.command, command.verb)
            if command.verb == "retrain" and not isinstance(exc, RetrainInProgress):
                reply = render.retrain_failed(exc, self._served())
                if self.announcer is not None:
                    self.announcer.failed(exc, self._served(), by=user or "")
            else:
                reply = render.error(exc)
        log.debug(
            "%s %s -> %s in %.1f ms",
            command.command,
            command.verb,
            "ok" if reply.ok else "not ok",
            (time.perf_counter() - started) * 1000,
        )
        return reply

    def _answer(
        self, command: Command, progress: Progress | None, user: str | None, admin: bool = True
    ) -> Reply:
        service, verb, arg = self.service, command.verb, command.arg
        if verb == "help":
            return render.help_reply()
        if verb == "customer":
            return render.customer(service.lookup(arg or ""))
        if verb == "customer_history":
            return render.customer_history(service.customer_history(arg or ""))
        if verb == "movers":
            v = command.values
            answer = service.movers(v["from"], v["to"], v.get("version"), with_ids=admin)
            return render.movers(answer, admin=admin)
        if verb == "trend":
            return render.trend(service.trend())
        if verb == "flows":
            return render.flows(service.flows(arg))
        if verb == "predict":
            return render.predict(service.predict(dict(command.values)))
        if verb == "summary":
            return render.summary(service.summary())
        if verb == "history":
            return render.history(service.history())
        if verb == "chart":
            path = service.chart(arg or "clusters")
            return render.chart(arg or "clusters", path, path.parent.name)
        if verb == "export":
            return render.export(service.export(arg or ""))
        if verb == "rollback":
            rolled = service.rollback(arg or "")
            if self.announcer is not None:
                self.announcer.rolled_back(rolled, by=user or "")
            return render.rollback(rolled)
        if verb == "retrain":
            before = service.served_version
            result = service.retrain(progress=progress, force=arg == "force")
            if self.announcer is not None:
                self.announcer.retrained(result, by=user or "")
            return render.retrain_result(result, before)
        raise AssertionError(f"no handler for {verb}")  # the table and this list disagree

    def _served(self) -> str | None:
        try:
            return self.service.served_version
        except Exception:  # reporting a failure must not fail in turn
            return None

    # ---- for `segbot train` ----------------------------------------------------------------
    def summary_text(self) -> str:
        """The /segments summary reply as plain text."""
        return render.summary_text(self.service.summary())
