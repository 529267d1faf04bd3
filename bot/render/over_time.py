"""Segments over time: a customer's history across versions, movers between two
segments, the share trend and where customers went at a retrain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.mrkdwn import literal
from bot.render.files import chart_files, without_csv
from bot.render.pieces import ASKER, context, count, make_reply, only_you, section, share
from bot.reply import Reply, ReplyFile
from model import CustomerHistory, Flows, Movers, Trend, biggest_flows


def day(iso: str, newest: str | None = None) -> str:
    """'2026-10-12T…' -> '12 Oct', with the year when it is not `newest`'s year."""
    try:
        when = datetime.fromisoformat(iso)
        ref = datetime.fromisoformat(newest) if newest else None
    except (TypeError, ValueError):
        return literal(iso)
    return f"{when.day} {when:%b}" + (
        "" if ref is not None and ref.year == when.year else f" {when.year}"
    )


def _span(first: str, last: str) -> str:
    return literal(first) if first == last else f"{literal(first)} to {literal(last)}"


VERSION_STATUS = {
    "served": "served now",
    "candidate": "candidate, never served",
    "rolled back": "rolled back",
    "earlier": "",
}


def history_line(answer: CustomerHistory) -> str:
    """'*Champions* since v5, 12 Oct; before that *At Risk*, v3 to v4; not in the data, v1'."""
    newest = answer.versions[-1].trained_at
    parts = []
    for i, stretch in enumerate(answer.stretches):
        name = f"*{literal(stretch.segment.name)}*" if stretch.segment else "not in the data"
        if i == 0:
            parts.append(f"{name} since {literal(stretch.first)}, {day(stretch.since, newest)}")
        else:
            parts.append(f"{name}, {_span(stretch.first, stretch.last)}")
    return parts[0] + ("; before that " + "; ".join(parts[1:]) if len(parts) > 1 else "")


def customer_history(answer: CustomerHistory) -> Reply:
    head = f"Customer `{literal(answer.customer_id)}`: {history_line(answer)}."
    newest = answer.versions[-1].trained_at
    rows = []
    for v in answer.versions:
        seg = (
            f"*{literal(v.segment.name)}* (segment {v.segment.id})"
            if v.segment is not None
            else "not in the data"
        )
        status = VERSION_STATUS.get(v.status, literal(v.status))
        rows.append(
            f"{literal(v.version)} · {day(v.trained_at, newest)} · {seg}"
            + (f" · _{status}_" if status else "")
        )
    foot = " · ".join(
        filter(None, ["Oldest first; each version's own segment names", only_you("customer")])
    )
    blocks = [section(head), section("\n".join(rows)), context(foot)]
    text = [head, *("  " + r for r in rows)]
    return make_reply(text, blocks, verb="customer_history", answer=answer)


def movers(answer: Movers, admin: bool = True) -> Reply:
    """How many customers moved from one segment to another; the ids as a file (admins)."""
    src, dst = literal(answer.source.name), literal(answer.target.name)
    prev, ver = literal(answer.previous), literal(answer.version)
    of = (
        f"{share(answer.share)} of the {count(answer.source_size)} customers of *{src}* "
        f"in {prev} who are still in the data"
    )
    who = f"{count(answer.count)} customer{'s' * (answer.count != 1)}"
    if answer.source.id == answer.target.id:
        head = f"{who} stayed in *{src}* from {prev} to {ver}: {of}."
    else:
        head = f"{who} moved from *{src}* ({prev}) to *{dst}* ({ver}) at the {ver} retrain: {of}."
    notes = []
    if answer.left:
        notes.append(f"{count(answer.left)} more customers of {src} left the data.")
    files = []
    if answer.csv is not None and answer.filename:
        notes.append(f"Their ids: {literal(answer.filename)}")
        files.append(
            ReplyFile(
                filename=answer.filename,
                title=f"{answer.source.name} → {answer.target.name} ({answer.version})",
                content=answer.csv,
            )
        )
    elif not admin:
        notes.append("Admins can get their ids as a CSV with the same command.")
    data = without_csv(answer)
    blocks = [section(head), *([context(*notes)] if notes else [])]
    return make_reply(
        [head, *notes],
        blocks,
        files=files,
        verb="movers",
        # the ids are customer data: only the admin who asked sees them
        visibility=ASKER if files else None,
        data=data,
    )


def trend(answer: Trend) -> Reply:
    versions = answer.versions
    first, last = versions[0], versions[-1]
    head = (
        f"*Segment shares across {len(versions)} version(s)*, {literal(first.version)} to "
        f"{literal(last.version)}; serving {literal(answer.served or 'none')}"
    )
    lines = []
    for seg in answer.segments:
        seen = [v for v in versions if seg.id in v.shares]
        was, now = seen[0], last.shares.get(seg.id)
        since = f"{share(was.shares[seg.id])} in {literal(was.version)}"
        lines.append(
            f"{literal(seg.name)}: {since} → "
            + (f"{share(now)} in {literal(last.version)}" if now is not None else "gone")
        )
    skipped = [v.version for v in versions if v.status in ("candidate", "rolled back")]
    if skipped:
        lines.append(f"Not served (candidate or rolled back): {', '.join(map(literal, skipped))}")
    if answer.unreadable:
        names = ", ".join(map(literal, answer.unreadable))
        lines.append(f"Left out, their files are damaged (see `/segments history`): {names}")
    return _with_chart("trend", head, lines, answer.chart, last.version, answer)


def move_line(m: dict[str, Any], verb: str = "") -> str:
    return f"{count(m['count'])} {verb}from {literal(m['from'])} to {literal(m['to'])}"


def moves_lines(moves: list[dict[str, Any]]) -> list[str]:
    return [f"• {move_line(m, 'moved ')}" for m in moves]


def flows(answer: Flows) -> Reply:
    moved = answer.moved
    head = (
        f"*Where customers went at {literal(answer.version)}* "
        f"(against {literal(answer.previous)}): "
        f"{count(answer.common)} customers in both, {count(moved)} changed segment, "
        f"{count(answer.left)} left the data, {count(answer.joined)} new"
    )
    moves = moves_lines(biggest_flows(answer))
    lines = ["Biggest moves:", *moves] if moves else ["Nobody changed segment."]
    return _with_chart("flows", head, lines, answer.chart, answer.version, answer)


def _with_chart(
    verb: str, head: str, lines: list[str], chart: str | None, version: str, answer: object
) -> Reply:
    """A head and its lines, with the chart named after `verb` when one was drawn."""
    return make_reply(
        [head, *lines],
        [section(head), section("\n".join(lines))],
        files=chart_files({verb: chart} if chart else {}, version),
        verb=verb,
        answer=answer,
    )
