"""One router for every surface: command text in, `Reply` out.

Slack, `segbot shell` and `segbot ask` all come through here, so what a person
sees in the shell is what Slack shows. Slack needs one more thing: slow work is
acknowledged at once and run afterwards, so the `plan*` entry points return a
`Job` for it and the Slack listener decides where it runs; `handle` simply runs it.

Entry points: `plan` (a slash command's text), `plan_said` (a mention, a DM, a
shell line: command lines without the slash, or plain phrasings), and
`plan_command` (a `Command` built directly by a click or a modal, no round trip
through text). All check access the same way, with the asker's identity; what a
command then does is its verb's handler's (`bot.handlers`). Where the answer goes is
the caller's (in Slack: `bot.slack.delivery.Place`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot import phrases, render
from bot.commands import Command, Usage, parse, spec_for
from bot.handlers import HANDLERS, Announcements, Asked, Progress
from bot.reply import Reply
from bot.settings import BotSettings
from model import CustomerAnswer, NoModel, NotFound, RetrainInProgress, SegbotError, SegmentService

log = logging.getLogger(__name__)
MAX_FOUND = 20  # customers answered for one message (the message shortcut)


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
        settings: BotSettings | None = None,
        announcer: Announcements | None = None,
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

    def handle_said(self, said: str, *, progress: Progress | None = None) -> Reply:
        """`segbot shell` and `segbot ask`: a command line or a plain phrasing, answered
        completely, as the local operator."""
        planned = self.plan_said(said)
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
        return self.plan_command(parse(command_line, text), user=user, channel=channel, slack=slack)

    def plan_said(
        self,
        said: str,
        *,
        user: str | None = None,
        channel: str | None = None,
        slack: bool = False,
    ) -> Reply | Job:
        """What someone said to the bot (a mention, a DM, a shell line): a command line
        with or without its slash command, or a plain phrasing (bot.phrases)."""
        line = phrases.command_line(said)
        if line is None:
            return render.not_understood()
        return self.plan(line, user=user, channel=channel, slack=slack)

    def plan_command(
        self,
        parsed: Command | Usage,
        *,
        user: str | None = None,
        channel: str | None = None,
        slack: bool = False,
    ) -> Reply | Job:
        """A command built directly (a click, a modal) or parsed: check access, then
        answer it or return its Job."""
        if isinstance(parsed, Usage):
            return render.usage(parsed)
        refused = self.refusal(parsed, user=user, channel=channel, slack=slack)
        if refused is not None:
            log.info("refused %s %s for user %s in %s", parsed.command, parsed.verb, user, channel)
            return refused
        admin = self.is_admin(user, slack=slack)
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

    def refusal_for(
        self, command: str, word: str, *, user: str | None, channel: str | None
    ) -> Reply | None:
        """Whether a Slack user may use a command here, before its modal opens."""
        spec = spec_for(command, word)
        assert spec is not None, f"no {command} {word} in the table"
        return self.refusal(Command(spec), user=user, channel=channel, slack=True)

    def find_customers(
        self, text: str, *, user: str | None, channel: str | None, slack: bool = True
    ) -> Reply:
        """The segments of every known customer id in a message (at most MAX_FOUND)."""
        refused = self.refusal_for("/segment", "customer", user=user, channel=channel)
        if slack and refused is not None:
            return refused
        found: list[CustomerAnswer] = []
        try:
            for candidate in phrases.candidate_ids(text):
                try:
                    found.append(self.service.lookup(candidate))
                except NotFound:
                    continue
                if len(found) >= MAX_FOUND:
                    break
        except NoModel as exc:
            return render.error(exc)
        return render.customers_found(found, limit=MAX_FOUND)

    def is_admin(self, user: str | None, *, slack: bool) -> bool:
        """The local operator may do everything; in Slack, SEGBOT_ADMINS only."""
        return not slack or (user is not None and user in self.settings.admins)

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
        admin: bool = False,
    ) -> Reply:
        """Call the service and render its answer; every failure becomes a one-line reply.
        `admin`: the asker may use admin commands (their buttons are shown)."""
        started = time.perf_counter()
        try:
            asked = Asked(command, self.service, progress, user, admin, self.announcer)
            reply = HANDLERS[command.verb](asked)
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
                reply = render.error(exc, render.next_step(command.spec, exc))
        log.debug(
            "%s %s -> %s in %.1f ms",
            command.command,
            command.verb,
            "ok" if reply.ok else "not ok",
            (time.perf_counter() - started) * 1000,
        )
        return reply

    def _served(self) -> str | None:
        try:
            return self.service.served_version
        except Exception:  # reporting a failure must not fail in turn
            return None

    # ---- for `segbot train` ----------------------------------------------------------------
    def summary_text(self) -> str:
        """The /segments summary reply as plain text."""
        return render.summary_text(self.service.summary())
