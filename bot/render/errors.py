"""Replies that are not the service's answer: what went wrong (usage, refusals,
failures, a failed retrain) and how to ask (help, the acknowledgement of slow work).

Our own errors say what is wrong in one line; anything else gets a generic line
(the caller logs the trace), so no internals leak.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot import commands, phrases
from bot.commands import Spec, Usage
from bot.mrkdwn import literal, plain, with_code
from bot.render.pieces import context, make_reply, section
from bot.reply import Reply, Visibility
from model import NotFound, SegbotError

GENERIC_FAILURE = "Something went wrong on our side; the error is logged."


def not_understood() -> Reply:
    """A mention or DM that is neither a command line nor a known phrasing."""
    tries = " · ".join(f"`{literal(e)}`" for e in phrases.EXAMPLES)
    line = f"Sorry, I didn't understand that. Try: {tries}"
    return make_reply(
        [line],
        [section(line)],
        ok=False,
        data={"kind": "not_understood"},
    )


def failure_line(exc: BaseException, still_served: str | None) -> str:
    """Why a retrain failed and what is served now, in one line (no trailing stop)."""
    if isinstance(exc, SegbotError) and str(exc).strip():
        why = literal(str(exc).strip().splitlines()[0].rstrip("."))
    else:
        why = "something went wrong on our side (the error is logged)"
    served = (
        f"{literal(still_served)} is still served" if still_served else "no model is served yet"
    )
    return f"{why}. {served}"


def retrain_failed(exc: BaseException, still_served: str | None) -> Reply:
    """A failed retrain, said where the progress was shown: why, and what is served now."""
    line = f"Retrain failed: {failure_line(exc, still_served)}."
    return failure_reply(line, "error", exc, str(exc), still_served, commands.visibility("retrain"))


def failure_reply(
    line: str,
    kind: str,
    exc: BaseException,
    message: str | None,
    still_served: str | None,
    visibility: Visibility,
) -> Reply:
    """A failed retrain as one line, `data` saying what failed and what is served now."""
    return make_reply(
        [line],
        [section(line)],
        visibility=visibility,
        ok=False,
        data={
            "kind": kind,
            "error": type(exc).__name__,
            "message": message,
            "served": still_served,
        },
    )


def help_reply(command: str | None = None) -> Reply:
    groups = [command] if command else list(commands.COMMANDS)
    blocks, text = [], []
    for group in groups:
        lines = [
            f"`{literal(syntax)}`  {literal(about)}" for syntax, about in commands.help_lines(group)
        ]
        blocks.append(section(f"*{group}*\n" + "\n".join(lines)))
        text.append(group)
        text.extend(
            "  " + literal(f"{syntax:<36} {about}") for syntax, about in commands.help_lines(group)
        )
    examples = [s.example for s in commands.specs(command) if s.example]
    if examples:
        blocks.append(context("Examples: " + " · ".join(f"`{literal(e)}`" for e in examples)))
        text.append("Examples: " + " | ".join(literal(e) for e in examples))
    return make_reply(
        text,
        blocks,
        verb="help",
        data={"kind": "help", "command": command},
    )


def usage_hint(command: str | None) -> str:
    """`/segments summary | elbow | …`: every form of one command, on one line."""
    if command is None:
        return "The commands are `/segment` and `/segments`; try `/segments help`."
    forms = [syntax.removeprefix(command).strip() for syntax, _ in commands.help_lines(command)]
    return f"Try `{command} {literal(' | '.join(forms))}`."


def usage(problem: Usage) -> Reply:
    line = f"Sorry, I didn't get that: {with_code(problem.problem)}."
    hint = usage_hint(problem.command)
    return make_reply(
        [line, hint],
        [section(line), context(hint)],
        ok=False,
        data={"kind": "usage", "problem": problem.problem, "command": problem.command},
    )


def refusal(message: str) -> Reply:
    return make_reply(
        [message],
        [section(message)],
        ok=False,
        data={"kind": "refused", "message": plain(message)},
    )


def not_admin(spec: Spec) -> Reply:
    return refusal(
        f"Sorry, only segbot admins can use `{literal(spec.syntax)}`; nothing was changed. "
        "Ask an admin if it needs doing."
    )


def channel_not_allowed(allowed: Sequence[str]) -> Reply:
    where = ", ".join(f"<#{literal(c)}>" for c in allowed)
    return refusal(f"Sorry, segbot answers only in {where}.")


def error(exc: BaseException, hint: str = "") -> Reply:
    """A failure as one line. Our own errors say what is wrong; for anything else the
    user gets a generic line (the caller logs the trace), so no internals leak.
    `hint`: where to look next, in the bot's words (the core names no commands)."""
    if isinstance(exc, SegbotError) and str(exc).strip():
        message = str(exc).strip().splitlines()[0]
        message = message[0].upper() + message[1:]
        if not message.endswith((".", "?", "!")):
            message += "."
        line = literal(message)
        return make_reply(
            [line, *([hint] if hint else [])],
            [section(line), *([context(hint)] if hint else [])],
            ok=False,
            data={"kind": "error", "error": type(exc).__name__, "message": str(exc)},
        )
    return make_reply(
        [GENERIC_FAILURE],
        [section(GENERIC_FAILURE)],
        ok=False,
        data={"kind": "error", "error": "internal", "message": None},
    )


def next_step(spec: Spec, exc: BaseException) -> str:
    """Where to look after a failure, in the bot's words: the core's messages name no
    commands. A version that is not there: the list of stored ones."""
    if isinstance(exc, NotFound) and "<version>" in spec.usage:
        return "`/segments history` lists the stored versions."
    return ""


def working(spec: Spec, arg: str | None = None) -> Reply:
    """The immediate acknowledgement of slow work."""
    what = {
        "chart": f"Fetching the {literal(arg or 'chart')} chart…",
        "retrain": "Retraining started; progress follows here.",
        "export": f"Exporting {literal(arg or 'the segment')}…",
        "movers": "Counting the movers…",
        "trend": "Drawing the trend chart…",
        "flows": "Drawing the flow chart…",
    }.get(spec.verb, "Working on it…")
    return make_reply(
        [what], [section(what)], deferred=True, data={"kind": "working", "verb": spec.verb}
    )
