"""Announcements in SEGBOT_ANNOUNCE_CHANNEL, for the whole channel: what a retrain
did against the version served before, a rollback, a failed retrain or write-back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.mrkdwn import literal
from bot.render.errors import failure_line, failure_reply
from bot.render.files import chart_files
from bot.render.over_time import moves_lines
from bot.render.pieces import (
    CHANNEL,
    cap,
    context,
    count,
    fields,
    fixed,
    make_reply,
    quality_words,
    section,
    share,
)
from bot.render.versions import version_facts
from bot.reply import Reply
from model import RetrainResult, Rollback, SegbotError

if TYPE_CHECKING:
    from model import WriteBackResult


def announced_as(user: str | None) -> str:
    """Who a retrain is announced as: the schedule (None), the local operator (""),
    or the admin who asked in Slack (a user id, shown as a mention)."""
    if user is None:
        return "Scheduled retrain"
    if not user:
        return "Retrain"
    return f"Retrain requested by <@{literal(user)}>"


def signed(x: float, digits: int = 0) -> str:
    """+1,200 · -35 · ±0 · +0.02."""
    if round(x, digits) == 0:
        return f"±{0:.{digits}f}"
    return f"{x:+,.{digits}f}"


def size_change(size: int, before: int | None) -> str:
    """How one segment's size changed: 'new', 'unchanged' or '+20, +5.0%'."""
    if before is None:
        return "new"
    if size == before:
        return "unchanged"
    pct = f", {(size - before) / before:+.1%}" if before else ""
    return f"{signed(size - before)}{pct}"


def _facts(result: RetrainResult) -> list[tuple[str, str]]:
    """(label, value) for the announcement's numbers: customers, k, quality, movers."""
    v, c = result.version, result.change
    prev = literal(c.previous) if c is not None and c.previous else None
    rows = count(v.rows)
    if prev and c is not None and c.rows_before is not None:
        rows += f" ({signed(v.rows - c.rows_before)} against {prev})"
    k = f"k={v.k}"
    if prev and c is not None and c.k_before is not None:
        k += ", unchanged" if c.k_before == v.k else f", was {c.k_before}"
    quality = quality_words(v.silhouette)
    if prev and c is not None and v.silhouette is not None and c.silhouette_before is not None:
        delta = signed(v.silhouette - c.silhouette_before, 2)
        quality += (
            f", same as {prev}"
            if delta.startswith("±")
            else f", {delta} from {c.silhouette_before:.2f}"
        )
    facts = [("Customers", rows), ("Segments", k), ("Quality", quality)]
    if prev and c is not None and c.moved is not None:
        among = f" of {count(c.common)}" if c.common is not None else ""
        moved = f"{count(c.moved)}{among} customers ({share(c.moved_share)})"
        if c.ari is not None:
            moved += f"; adjusted Rand index {fixed(c.ari)}"
        facts.append(("Moved segment", moved))
    return facts


def _sizes(result: RetrainResult) -> list[str]:
    c = result.change
    if c is None:
        return []
    lines = []
    for s in c.sizes:
        change = f" ({size_change(s['size'], s.get('before'))})" if c.previous else ""
        lines.append(f"• {literal(s['name'])}: {count(s['size'])}{change}")
    lines.extend(f"• {literal(name)}: gone (no segment matches it now)" for name in c.removed)
    return lines


def announcement(result: RetrainResult, by: str | None = None) -> Reply:
    """What a retrain did, for the whole channel: the new version, its numbers against the
    one served before, each segment's size change, the movers and the refreshed charts;
    or why it was held back and how to serve it anyway; or that no data was new."""
    who, v, c = announced_as(by), result.version, result.change
    name = literal(v.version)
    if result.unchanged_data:
        line = (
            f"{who}: no new data since *{name}* (the data's content is unchanged), "
            f"so nothing was retrained; {name} is still served."
        )
        return make_reply([line], [section(line)], visibility=CHANNEL, answer=result)
    prev = literal(c.previous) if c is not None and c.previous else None
    if result.served:
        was = f" (was {prev})" if prev else " (the first version)"
        head, why = f"{who}: *{name}* is now served{was}.", []
    else:
        still = f"*{prev}* is still served" if prev else "no version is served"
        head = f"{who}: trained *{name}* but held it back; {still}."
        why = [
            f"*Why:* {literal('; '.join(result.held_back))}.",
            f"To serve {name} anyway, an admin can run `/segments rollback {name}`.",
        ]
    facts, sizes = _facts(result), _sizes(result)
    files = chart_files(result.charts, v.version)
    charts = (
        f"Charts of {name} follow: {', '.join(literal(n) for n in result.charts)}" if files else ""
    )
    blocks = [section(head)]
    if why:
        blocks.append(section("\n".join(why)))
    blocks.append(fields([f"*{label}*\n{value}" for label, value in facts]))
    if sizes:
        blocks.append(section("*Segment sizes*\n" + "\n".join(sizes)))
    moves = moves_lines(c.flows) if c is not None and c.previous else []
    if moves:
        blocks.append(section(f"*Biggest moves since {prev}*\n" + "\n".join(moves)))
    blocks.append(context(charts, "`/segments history` lists every version"))
    text = [
        head,
        *why,
        " · ".join(f"{label}: {value}" for label, value in facts[:3]),
        *(f"{label}: {value}" for label, value in facts[3:]),
        *(["Segment sizes:", *(f"  {line}" for line in sizes)] if sizes else []),
        *([f"Biggest moves since {prev}:", *(f"  {line}" for line in moves)] if moves else []),
        *([charts] if charts else []),
    ]
    return make_reply(
        text,
        cap(blocks, "More than fits in one message; see `/segments history`."),
        files=files,
        visibility=CHANNEL,
        answer=result,
    )


def announcement_rollback(answer: Rollback, by: str | None = None) -> Reply:
    """A rollback for the whole channel: which version is served now, and who chose it."""
    who = "Rollback" if not by else f"Rollback by <@{literal(by)}>"
    v = answer.version
    line = (
        f"{who}: *{literal(v.version)}* is served again ({version_facts(v)})"
        + (f"; {literal(answer.previous)} is no longer served" if answer.previous else "")
        + "."
    )
    return make_reply([line], [section(line)], visibility=CHANNEL, answer=answer)


def announcement_failed(
    exc: BaseException, still_served: str | None, by: str | None = None
) -> Reply:
    """A failed retrain for the whole channel: why, and which version is still served."""
    line = f"{announced_as(by)} failed: {failure_line(exc, still_served)}."
    # Only a SegbotError's message is written for people; others stay in the log.
    message = str(exc) if isinstance(exc, SegbotError) else None
    return failure_reply(line, "retrain_failed", exc, message, still_served, CHANNEL)


def announcement_write_back_failed(result: WriteBackResult) -> Reply:
    """A failed write-back (SEGBOT_WRITE_BACK) for the channel: where, why, and that
    serving is unchanged. The target is already masked (no password)."""
    line = f":warning: Write-back failed: {literal(result.line)}."
    data = {"kind": "write_back_failed", "version": result.version, "target": result.target}
    return make_reply([line], [section(line)], visibility=CHANNEL, ok=False, data=data)
