"""What each command does once it passed its checks: one handler per verb of the
command table (`bot.commands.TABLE`), each a few lines over the service and `render`.

The router picks the handler by the command's verb (`HANDLERS`) and turns whatever it
raises into a one-line reply; a handler only asks the service and renders the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot import render
from bot.commands import TABLE, Command
from bot.reply import Reply
from model import RetrainResult, Rollback, SegmentService

Progress = Callable[[str, float], None]


class Announcements(Protocol):
    """Told what an admin's retrain or rollback did (`bot.announce.Announcer` is one).
    Handlers only tell; where it is said (a Slack channel, the terminal) is the
    caller's, so no handler reaches Slack."""

    def retrained(self, result: RetrainResult, *, by: str | None = None) -> object: ...

    def failed(
        self, exc: BaseException, still_served: str | None, *, by: str | None = None
    ) -> object: ...

    def rolled_back(self, answer: Rollback, *, by: str | None = None) -> object: ...


@dataclass(frozen=True)
class Asked:
    """A command that passed every check, and what answering it may use."""

    command: Command
    service: SegmentService
    progress: Progress | None = None
    user: str | None = None
    admin: bool = False  # the asker may use admin commands (their buttons are shown)
    announcer: Announcements | None = None

    @property
    def arg(self) -> str:
        return self.command.arg or ""

    @property
    def by(self) -> str:
        """Who announcements name: the Slack user, or "" for the local operator."""
        return self.user or ""


def help_reply(asked: Asked) -> Reply:
    return render.help_reply()


def customer(asked: Asked) -> Reply:
    return render.customer(asked.service.lookup(asked.arg), admin=asked.admin)


def customer_history(asked: Asked) -> Reply:
    return render.customer_history(asked.service.customer_history(asked.arg))


def predict(asked: Asked) -> Reply:
    return render.predict(asked.service.predict(dict(asked.command.values)))


def summary(asked: Asked) -> Reply:
    return render.summary(asked.service.summary())


def show(asked: Asked) -> Reply:
    service = asked.service
    summary = service.summary()
    wanted = service.find_segment(asked.arg).id
    seg = next(s for s in summary.segments if s.id == wanted)
    # Sizes by name: identity is kept across retrains, and so are the names.
    across = [(v.version, v.sizes.get(seg.name)) for v in reversed(service.history().versions)]
    return render.segment(seg, summary.version, across)


def history(asked: Asked) -> Reply:
    return render.history(asked.service.history())


def chart(asked: Asked) -> Reply:
    name = asked.arg or "clusters"
    path = asked.service.chart(name)
    return render.chart(name, path, path.parent.name)


def movers(asked: Asked) -> Reply:
    v = asked.command.values
    answer = asked.service.movers(v["from"], v["to"], v.get("version"), with_ids=asked.admin)
    return render.movers(answer, admin=asked.admin)


def trend(asked: Asked) -> Reply:
    return render.trend(asked.service.trend())


def flows(asked: Asked) -> Reply:
    return render.flows(asked.service.flows(asked.command.arg))


def export(asked: Asked) -> Reply:
    return render.export(asked.service.export(asked.arg))


def rollback(asked: Asked) -> Reply:
    rolled = asked.service.rollback(asked.arg)
    if asked.announcer is not None:
        asked.announcer.rolled_back(rolled, by=asked.by)
    return render.rollback(rolled)


def retrain(asked: Asked) -> Reply:
    before = asked.service.served_version
    result = asked.service.retrain(progress=asked.progress, force=asked.arg == "force")
    if asked.announcer is not None:
        asked.announcer.retrained(result, by=asked.by)
    return render.retrain_result(result, before)


HANDLERS: dict[str, Callable[[Asked], Reply]] = {
    "help": help_reply,
    "customer": customer,
    "customer_history": customer_history,
    "predict": predict,
    "summary": summary,
    "show": show,
    "history": history,
    "chart": chart,
    "movers": movers,
    "trend": trend,
    "flows": flows,
    "export": export,
    "rollback": rollback,
    "retrain": retrain,
}

# Every row of the table is answered, and nothing else is: checked once, at import.
_UNMATCHED = {spec.verb for spec in TABLE} ^ HANDLERS.keys()
if _UNMATCHED:
    raise RuntimeError(f"the command table and HANDLERS disagree on {sorted(_UNMATCHED)}")
