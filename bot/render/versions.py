"""The stored versions: the history list, a rollback, a retrain's progress and result."""

from __future__ import annotations

from bot.mrkdwn import literal
from bot.render.over_time import move_line
from bot.render.pieces import (
    MAX_BLOCKS,
    bar,
    context,
    count,
    date,
    fixed,
    make_reply,
    number,
    quality_words,
    section,
    share,
)
from bot.reply import Reply
from model import History, RetrainResult, Rollback, VersionInfo


def unreadable_line(v: VersionInfo) -> str:
    """A stored version whose metadata cannot be read, and why (history, App Home)."""
    return f"*{literal(v.version)}* (unreadable) · {literal(v.note)}"


def history(answer: History) -> Reply:
    if not answer.versions:
        return make_reply(
            ["No trained versions yet."],
            [section("No trained versions yet.")],
            verb="history",
            answer=answer,
        )
    head = (
        f"*{len(answer.versions)} trained version(s)*; serving *{literal(answer.served or 'none')}*"
    )
    blocks, text = [section(head)], [head]
    for v in answer.versions[: MAX_BLOCKS - 3]:
        if v.status == "unreadable":
            line = unreadable_line(v)
            blocks.append(section(line))
            text.append(line)
            continue
        status = {
            "served": "served",
            "previous": "earlier",
            "candidate": "candidate, not served",
        }.get(v.status, literal(v.status))
        moved = ""
        if v.moved is not None:
            moved = f" · moved {count(v.moved)} ({share(v.moved_share)})"
            if v.ari is not None:
                moved += f", ARI {fixed(v.ari)}"
        line = (
            f"*{literal(v.version)}* ({status}) · {date(v.trained_at, with_time=True)} · "
            f"{count(v.rows)} rows · k={v.k} · {quality_words(v.silhouette)}{moved}"
        )
        sizes = ", ".join(f"{literal(n)} {count(c)}" for n, c in v.sizes.items())
        note = f"\n_Held back: {literal(v.note)}_" if v.note else ""
        blocks.append(section(f"{line}\n{sizes}{note}"))
        text.append(
            f"{line}\n    {sizes}" + (f"\n    Held back: {literal(v.note)}" if v.note else "")
        )
    if len(answer.versions) > MAX_BLOCKS - 3:
        blocks.append(context(f"and {len(answer.versions) - (MAX_BLOCKS - 3)} older versions"))
    blocks.append(context("Admins: `/segments rollback &lt;version&gt;` serves another version"))
    return make_reply(text, blocks, verb="history", answer=answer)


def rollback(answer: Rollback) -> Reply:
    v = answer.version
    line = (
        f"Now serving *{literal(v.version)}* ({version_facts(v)})"
        + (f"; was {literal(answer.previous)}" if answer.previous else "")
        + "."
    )
    return make_reply([line], [section(line)], verb="rollback", answer=answer)


def version_facts(v: VersionInfo) -> str:
    """A version in brief, as a rollback names it: when trained, k, and how well separated."""
    return f"trained {date(v.trained_at)}, k={v.k}, {quality_words(v.silhouette)}"


def retrain_progress(stage: str, fraction: float) -> Reply:
    line = f"Retraining… {literal(stage)} {bar(fraction)} {fraction:.0%}"
    return make_reply([line], [section(line)], verb="retrain", deferred=True)


def _change_lines(result: RetrainResult) -> list[str]:
    c = result.change
    if c is None:
        return []
    lines = []
    if c.previous:
        k = f"k {c.k_before} → {c.k_after}" if c.k_before != c.k_after else f"k={c.k_after}"
        lines.append(
            f"{k} · silhouette {number(c.silhouette_before)} → "
            f"{number(c.silhouette_after)} (against {literal(c.previous)})"
        )
    sizes = []
    for s in c.sizes:
        delta = ""
        if s.get("before") is not None:
            diff = s["size"] - s["before"]
            delta = f" ({'+' if diff >= 0 else ''}{count(diff)})"
        elif c.previous:
            delta = " (new)"
        sizes.append(f"{literal(s['name'])} {count(s['size'])}{delta}")
    lines.append("Segments: " + ", ".join(sizes))
    if c.removed:
        lines.append("Gone: " + ", ".join(literal(n) for n in c.removed))
    if c.moved is not None:
        ari = f", ARI {fixed(c.ari)}" if c.ari is not None else ""
        lines.append(
            f"Customers who changed segment: {count(c.moved)} ({share(c.moved_share)}){ari}"
        )
    if c.flows:
        lines.append("Biggest moves: " + "; ".join(move_line(m) for m in c.flows))
    return lines


def retrain_result(result: RetrainResult, served_before: str | None = None) -> Reply:
    v = result.version
    if result.unchanged_data:
        head = (
            f"No new data since *{literal(v.version)}* (same content), so nothing was "
            f"retrained; {literal(v.version)} is still served."
        )
        lines = ["`/segments retrain force` retrains anyway."]
    elif result.served:
        head = (
            f"Retrained: *{literal(v.version)}* is now served ({count(v.rows)} customers, "
            f"k={v.k}, {quality_words(v.silhouette)})."
        )
        lines = _change_lines(result)
    else:
        still = f"{literal(served_before)} is still served" if served_before else "nothing changed"
        head = (
            f"Trained *{literal(v.version)}* but held it back: "
            f"{literal('; '.join(result.held_back))}. {still}. To serve it anyway, an admin "
            f"can run `/segments rollback {literal(v.version)}`."
        )
        lines = _change_lines(result)
    blocks = [section(head)]
    if lines:
        blocks.append(section("\n".join(lines)))
    return make_reply([head, *lines], blocks, verb="retrain", answer=result)
