"""The pieces every reply is built from: numbers, shares and dates for people,
Block Kit blocks, and the `Reply` with its visibility.

Each part of a reply is written once, in mrkdwn; the blocks and the fallback text are
both derived from it (`bot.mrkdwn`). Who sees a reply is the command table's
(`commands.visibility`); the exceptions are named once here: failures, refusals and
acknowledgements go to the asker only (`ASKER`), announcements to the channel
(`CHANNEL`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bot import actions, commands
from bot.mrkdwn import blocks as mrkdwn
from bot.mrkdwn import literal, plain
from bot.reply import Reply, Visibility

MAX_BLOCKS = 50  # Slack's limit per message
SECTION_LIMIT = 2900  # Slack allows 3000 characters in a section's text


# ---- formatting for people ------------------------------------------------------------------
def esc(text: object) -> str:
    """Slack's three control characters only: for plain-text labels and views, which
    show a string as it is. Replies write outside strings with `literal`."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """What Slack displays for escaped text: for the shell and `segbot ask`."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@functools.lru_cache(maxsize=4096)  # a lookup formats ~16 numbers, most of them typicals
def number(x: float | int | str | None) -> str:
    """72400 -> 72.4k, 1234 -> 1,234, 34.0 -> 34, 4.256 -> 4.26."""
    if x is None:
        return "—"
    if isinstance(x, str):
        return literal(x)
    x = float(x)
    if not math.isfinite(x):
        return "—"
    sign, a = ("-" if x < 0 else ""), abs(x)
    if a >= 999_500_000_000_000:  # beyond trillions: no 300-digit "B" numbers
        return f"{sign}{a:.2e}"
    for limit, unit, suffix in (
        (999_500_000_000, 1e12, "T"),
        (999_500_000, 1e9, "B"),
        (999_500, 1e6, "M"),
        (1e4, 1e3, "k"),
    ):
        if a >= limit:
            scaled = a / unit
            text = f"{scaled:.0f}" if scaled >= 100 else f"{scaled:.1f}".removesuffix(".0")
            return f"{sign}{text}{suffix}"
    if a >= 100 or a.is_integer():
        return f"{sign}{a:,.0f}"
    if a >= 10:
        return f"{sign}{a:.1f}".removesuffix(".0")
    if a < 0.01:
        return f"{sign}{a:.1g}"
    return f"{sign}{a:.2f}".rstrip("0").rstrip(".")


def fixed(x: float, digits: int = 2) -> str:
    """0.9134 -> '0.91'; never '-0.00' for a value that rounds to zero."""
    return f"{round(x, digits) + 0.0:.{digits}f}"


def count(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def share(x: float | None) -> str:
    """0.1575 -> 16%, 0.004 -> 0.4%."""
    if x is None:
        return "—"
    pct = x * 100
    if 0 < abs(pct) < 1:
        return f"{pct:.1f}%"
    return f"{pct:.0f}%"


def date(iso: str, with_time: bool = False) -> str:
    """'2025-11-27T08:13:11+00:00' -> '27 Nov 2025' (or with '08:13 UTC')."""
    try:
        when = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return literal(iso)
    text = f"{when.day} {when:%b %Y}"
    if with_time:
        zone = when.tzname() or ""
        text += f" {when:%H:%M}" + (" UTC" if zone in ("UTC", "UTC+00:00") else f" {zone}")
    return text.rstrip()


def bar(fraction: float, width: int = 10) -> str:
    done = max(0, min(width, round(fraction * width)))
    return "▰" * done + "▱" * (width - done)


# ---- Block Kit pieces ----------------------------------------------------------------------
def section(text: str) -> dict[str, Any]:
    text = mrkdwn(text)
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def fields(items: Sequence[str], text: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": mrkdwn(item)[:1990]} for item in items[:10]],
    }
    if text:
        block["text"] = {"type": "mrkdwn", "text": mrkdwn(text)[:SECTION_LIMIT]}
    return block


def context(*parts: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": mrkdwn(p)} for p in parts if p],
    }


def cap(blocks: list[dict[str, Any]], note: str, limit: int = MAX_BLOCKS) -> list[dict[str, Any]]:
    if len(blocks) <= limit:
        return blocks
    return [*blocks[: limit - 1], context(note)]


def with_actions(blocks: list[dict[str, Any]], elements: list, note: str) -> list[dict[str, Any]]:
    """Blocks capped to leave room for one actions block, placed before the last
    (context) block."""
    capped = cap(blocks, note, MAX_BLOCKS - 1)
    if not elements:
        return capped
    return [*capped[:-1], actions.actions_block(elements), capped[-1]]


ASKER: Visibility = "ephemeral"  # failures, refusals, acknowledgements, customer ids
CHANNEL: Visibility = "in_channel"  # announcements: posted in the channel, whoever asked


def make_reply(
    text: Iterable[str],
    blocks: list[dict[str, Any]],
    *,
    verb: str | None = None,
    visibility: Visibility | None = None,
    answer: object | None = None,
    ok: bool = True,
    data: dict[str, Any] | None = None,
    **extra: Any,
) -> Reply:
    """`text`: the same mrkdwn parts as the blocks, in the fallback's layout; made plain
    here. Visibility: given, else the table's for `verb`, else the asker only."""
    if visibility is None:
        visibility = commands.visibility(verb) if verb else ASKER
    return Reply(
        text=plain("\n".join(text)),
        blocks=blocks,
        visibility=visibility,
        ok=ok,
        answer=answer,
        details=data,
        **extra,
    )


def only_you(verb: str) -> str:
    """The footnote of an answer only its asker sees."""
    return "only you can see this" if commands.visibility(verb) == "ephemeral" else ""


def quality_words(silhouette: float | None) -> str:
    if silhouette is None:
        return "no silhouette (one segment)"
    word = "strong" if silhouette >= 0.5 else "reasonable" if silhouette >= 0.25 else "weak"
    return f"silhouette {silhouette:.2f} ({word} separation)"
