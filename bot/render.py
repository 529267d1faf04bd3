"""The service's answers as replies people read: Block Kit plus its plain-text fallback.

Pure functions, no I/O. Each part of a reply is written once, in mrkdwn; the blocks
and the fallback text are both derived from it (`bot.mrkdwn`). Every string that
comes from outside the code (what a user typed, customer ids, column and segment
names from the data) goes through `literal`, so nothing can turn into `<!channel>`,
a mention, a link or stray bold, and it reads exactly as written in both forms.

Who sees a reply is the command table's (`commands.visibility`); the exceptions are
named once here: failures, refusals and acknowledgements go to the asker only, and
so does customer data (ids).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import actions, commands, phrases
from bot.commands import Spec, Usage
from bot.mrkdwn import blocks as mrkdwn
from bot.mrkdwn import literal, plain, with_code
from bot.reply import Reply, ReplyFile, Visibility
from model import (
    ROW_IDS,
    CustomerAnswer,
    CustomerHistory,
    Export,
    FeatureValue,
    Flows,
    History,
    Membership,
    Movers,
    NotFound,
    PredictAnswer,
    RetrainResult,
    Rollback,
    SegbotError,
    SegmentInfo,
    Summary,
    TextShare,
    Trend,
    VersionInfo,
    biggest_flows,
    to_dict,
)

if TYPE_CHECKING:
    from model import WriteBackResult

KEY_VALUES = 8  # features shown for one customer; fields beyond ~10 stop reading well
PROFILE_VALUES = 6  # features per segment in the summary
TEXT_VALUES = 3  # distinctive text values per segment in the summary
MAX_BLOCKS = 50  # Slack's limit per message
SECTION_LIMIT = 2900  # Slack allows 3000 characters in a section's text
GENERIC_FAILURE = "Something went wrong on our side; the error is logged."
CHART_TITLES = {
    "elbow": "Elbow chart: how many segments, and why",
    "clusters": "Customers by segment (2-D map)",
    "profiles": "Segment profiles against the average",
    "flows": "Where customers went at this retrain",
    "trend": "Segment shares across versions",
}


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


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def _cap(blocks: list[dict[str, Any]], note: str, limit: int = MAX_BLOCKS) -> list[dict[str, Any]]:
    if len(blocks) <= limit:
        return blocks
    return [*blocks[: limit - 1], context(note)]


def _with_actions(blocks: list[dict[str, Any]], elements: list, note: str) -> list[dict[str, Any]]:
    """Blocks capped to leave room for one actions block, placed before the last
    (context) block."""
    capped = _cap(blocks, note, MAX_BLOCKS - 1)
    if not elements:
        return capped
    return [*capped[:-1], actions.actions_block(elements), capped[-1]]


ASKER: Visibility = "ephemeral"  # failures, refusals, acknowledgements, customer ids
CHANNEL: Visibility = "in_channel"  # announcements: posted in the channel, whoever asked


def _reply(
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


# ---- one customer, one prospect --------------------------------------------------------------
def _trait_features(segment: SegmentInfo) -> list[str]:
    return [t.rsplit(" ", 1)[0] for t in segment.distinct]


def key_values(
    values: list[FeatureValue], segment: SegmentInfo, limit: int = KEY_VALUES
) -> list[FeatureValue]:
    """The features behind the segment's name first, then the text features the
    segment stands out on, then the rest in data order."""
    first = _trait_features(segment)
    first += [t.feature for t in distinct_text(segment) if t.feature not in first]
    ranked = sorted(
        values, key=lambda v: first.index(v.feature) if v.feature in first else len(first)
    )
    return ranked[:limit]


def _value(v: FeatureValue) -> str:
    if v.value is None:
        return "filled in" if v.imputed else "missing"
    return number(v.value)


def distinct_text(segment: SegmentInfo) -> list[TextShare]:
    """The text values that set the segment apart, largest gain over everyone first."""
    return sorted(
        (t for t in segment.text if t.distinct and t.share is not None),
        key=lambda t: -(t.share - t.overall),
    )


def text_share(t: TextShare) -> str:
    """'Student = Yes 31% vs 10% overall'."""
    return (
        f"{literal(t.feature)} = {literal(t.value)} {share(t.share)} vs {share(t.overall)} overall"
    )


def _text_here(v: FeatureValue, segment: SegmentInfo) -> str:
    """For a customer's text value: how common it is in the segment and overall."""
    if not isinstance(v.value, str):
        return ""
    for t in segment.text:
        if t.feature == v.feature and t.value == v.value and t.share is not None:
            return f" · {share(t.share)} of segment, {share(t.overall)} overall"
    return ""


def _segment_line(segment: SegmentInfo) -> str:
    return f"*{literal(segment.name)}* (segment {segment.id}, {share(segment.share)} of customers)"


def _clarity(m: Membership) -> str:
    if m.runner_up is None:
        return f"{m.clarity}: there is no other segment (distance {number(m.distance)})"
    return (
        f"{m.clarity}: distance {number(m.distance)} to its centre; the runner-up "
        f"*{literal(m.runner_up.name)}* is at {number(m.runner_up_distance)} "
        f"(margin {share(m.margin)})"
    )


def _only_you(verb: str) -> str:
    """The footnote of an answer only its asker sees."""
    return "only you can see this" if commands.visibility(verb) == "ephemeral" else ""


def _member(
    verb: str,
    head: str,
    answer: CustomerAnswer | PredictAnswer,
    note: str | None = None,
    buttons: dict[str, Any] | None = None,
) -> Reply:
    """One customer or prospect: the same parts as blocks and as text, formatted once."""
    rows = [
        (literal(v.feature), _value(v), number(v.typical) + _text_here(v, answer.segment))
        for v in key_values(answer.values, answer.segment)
    ]
    clarity = _clarity(answer.membership)
    action = literal(answer.segment.action)
    as_of = date(answer.as_of)
    version = literal(answer.version)
    blocks = [
        section(head),
        fields([f"*{f}*\n{value}  ·  typical {typical}" for f, value, typical in rows]),
        *([section(note)] if note else []),
        section(f"*How clearly:* {clarity}"),
        section(f"*Suggested action:* {action}"),
        *([buttons] if buttons else []),
        context(" · ".join(filter(None, [f"Model {version}", f"as of {as_of}", _only_you(verb)]))),
    ]
    text = [
        head,
        "  " + ", ".join(f"{f} {value} (typical {typical})" for f, value, typical in rows),
        *(["  " + note] if note else []),
        f"  How clearly: {clarity}",
        f"  Suggested action: {action}",
        f"  Model {version}, as of {as_of}",
    ]
    return _reply(text, blocks, verb=verb, answer=answer)


def customer(answer: CustomerAnswer, admin: bool = False) -> Reply:
    """Buttons: show the segment, the customer's history; for admins, export it."""
    head = f"Customer `{literal(answer.customer_id)}` is in {_segment_line(answer.segment)}"
    seg = answer.segment
    buttons = _customer_buttons(seg.id, seg.name, admin)
    value = actions.history_value(answer.customer_id)
    *others, history = buttons["elements"]
    # an id too long for a button value gets no History button
    long_id = len(value) > actions.MAX_VALUE
    elements = others if long_id else [*others, {**history, "value": value}]
    return _member("customer", head, answer, buttons={**buttons, "elements": elements})


@functools.lru_cache(maxsize=512)
def _customer_buttons(segment: int, name: str, admin: bool) -> dict[str, Any]:
    """Built and checked by slack_sdk once per segment, not on every lookup (that was a
    quarter of a lookup's time over HTTP). Shared between replies: read-only; the last
    element is the "History" button, whose value each answer sets to its customer."""
    elements = actions.show_segment([(segment, name)])
    if admin:
        elements.append(actions.button(f"Export {name}", actions.EXPORT, str(segment)))
    elements.append(actions.history_button(""))
    return actions.actions_block(elements)


def predict(answer: PredictAnswer) -> Reply:
    given = ", ".join(f"{literal(k)}={number(v)}" for k, v in answer.given.items())
    head = f"A prospect with {given} would be in {_segment_line(answer.segment)}"
    filled = (
        f"*Filled in* (not given, so the model used typical values): "
        f"{', '.join(literal(f) for f in answer.imputed)}"
        if answer.imputed
        else "*Filled in:* nothing, every feature was given"
    )
    return _member("predict", head, answer, filled)


# ---- aggregates ----------------------------------------------------------------------------
def quality_words(silhouette: float | None) -> str:
    if silhouette is None:
        return "no silhouette (one segment)"
    word = "strong" if silhouette >= 0.5 else "reasonable" if silhouette >= 0.25 else "weak"
    return f"silhouette {silhouette:.2f} ({word} separation)"


def _profile(segment: SegmentInfo, flags: Sequence[str] = ()) -> str:
    """Mean values, the features behind the name first; a 0/1 flag's mean as a share."""
    first = [t.split("=", 1)[0] for t in _trait_features(segment)]
    names = sorted(segment.profile, key=lambda f: first.index(f) if f in first else len(first))
    return " · ".join(
        f"{literal(f)} {share(v) if f in flags and v is not None else number(v)}"
        for f in names[:PROFILE_VALUES]
        for v in [segment.profile[f]]
    )


def _text_profile(segment: SegmentInfo) -> str:
    """'Student = Yes 31% vs 10% overall · ...': what its text values stand out on."""
    parts = []
    for t in distinct_text(segment)[:TEXT_VALUES]:
        known = 1 - t.missing / segment.size if segment.size else 1.0
        # Shares count customers with a value; say so when many have none.
        parts.append(
            text_share(t) + (f" (of the {share(known)} with a value)" if known < 0.95 else "")
        )
    return " · ".join(parts)


def _alike_text(segments: list[SegmentInfo]) -> str:
    """Text features on which no segment stands out, with everyone's mix, so a listed
    feature is never silently absent: 'Gender: no segment differs much from the
    overall mix (Female 56%, Male 44%).'"""
    overall: dict[str, dict[str, float]] = {}
    stands_out: set[str] = set()
    for s in segments:
        for t in s.text:
            overall.setdefault(t.feature, {})[t.value] = t.overall
            if t.distinct:
                stands_out.add(t.feature)
    parts = []
    for feature, mix in overall.items():
        if feature in stands_out:
            continue
        top = sorted(mix.items(), key=lambda item: -item[1])[:TEXT_VALUES]
        shown = ", ".join(f"{literal(value)} {share(p)}" for value, p in top)
        parts.append(f"{literal(feature)}: no segment differs much from the overall mix ({shown})")
    return "; ".join(parts) + "." if parts else ""


def summary(answer: Summary) -> Reply:
    q = answer.quality
    quality = quality_words(q.get("silhouette"))
    if q.get("davies_bouldin") is not None:
        quality += f", Davies–Bouldin {q['davies_bouldin']:.2f} (lower is better)"
    head = (
        f"*{answer.k} customer segments* in model {literal(answer.version)}, trained "
        f"{date(answer.trained_at)} on {count(answer.rows)} customers"
    )
    why = f"Why {answer.k}: {literal(answer.k_reason)}. Quality: {quality}."
    blocks = [section(head), context(why)]
    text = [head, why]
    if answer.id_column == ROW_IDS:  # trained with no id column
        ids = "Ids are row numbers of the data (no id column): customer 7 is the 7th row."
        blocks.append(context(ids))
        text.append(ids)
    for s in answer.segments:
        line = f"*{s.id}. {literal(s.name)}*: {count(s.size)} customers ({share(s.share)})"
        profile = _profile(s, answer.flags)
        words = _text_profile(s)
        profile += f"\n{words}" if profile and words else words
        blocks.append(section(f"{line}\n{profile}\n_{literal(s.action)}_"))
        profile_text = profile.replace("\n", "\n    ")
        text.append(f"{line}\n    {profile_text}\n    Action: {literal(s.action)}")
    alike = _alike_text(answer.segments)
    if alike:
        blocks.append(context(alike))
        text.append(alike)
    blocks.append(
        context(
            f"Source: {literal(answer.source)} · `/segment customer &lt;id&gt;` for one "
            "customer · `/segments help` for more"
        )
    )
    elements = [
        *actions.chart_buttons(),
        *actions.show_segment([(s.id, s.name) for s in answer.segments]),
    ]
    return _reply(
        text,
        _with_actions(blocks, elements, "More segments than fit in one message."),
        verb="summary",
        answer=answer,
    )


def segment(seg: SegmentInfo, version: str, across: Sequence[tuple[str, int | None]] = ()) -> Reply:
    """`/segments show`: one segment in detail. `across`: (version, size) oldest first,
    None where the version had no such segment."""
    head = (
        f"*{seg.id}. {literal(seg.name)}*: {count(seg.size)} customers ({share(seg.share)}) "
        f"in model {literal(version)}"
    )
    first = _trait_features(seg)
    names = sorted(seg.profile, key=lambda f: first.index(f) if f in first else len(first))
    rows = [
        f"*{literal(f)}*\n{number(seg.profile[f])}  ·  median {number(seg.typical.get(f))}"
        for f in names
    ]
    texts: dict[str, list[str]] = {}
    for t in seg.text:
        if t.share is not None:
            mark = " ★" if t.distinct else ""
            texts.setdefault(t.feature, []).append(
                f"{literal(t.value)} {share(t.share)} (overall {share(t.overall)}){mark}"
            )
    text_lines = [f"{literal(f)}: " + ", ".join(v) for f, v in texts.items()]
    sizes = [f"{literal(v)} {count(n) if n is not None else '—'}" for v, n in across]
    action = f"*Suggested action:* {literal(seg.action)}"
    blocks = [section(head)]
    for i in range(0, len(rows), 10):  # ten fields per section at most
        blocks.append(fields(rows[i : i + 10]))
    if text_lines:
        blocks.append(section("*Text features* (★ sets it apart)\n" + "\n".join(text_lines)))
    if sizes:
        blocks.append(section("*Size across versions:* " + " → ".join(sizes)))
    blocks.append(section(action))
    blocks.append(context("Mean · median in the data's own units"))
    text = [
        head,
        *("  " + r.replace("\n", " ") for r in rows),
        *(["  Text features: " + "; ".join(text_lines)] if text_lines else []),
        *(["  Size across versions: " + " → ".join(sizes)] if sizes else []),
        "  " + action,
    ]
    return _reply(text, _cap(blocks, "More than fits in one message."), verb="show", answer=seg)


def customers_found(found: Sequence[CustomerAnswer], limit: int = 20) -> Reply:
    """The message shortcut: each known customer id in a message and its segment."""
    if not found:
        line = "I found no known customer id in that message."
        return _reply([line], [section(line)], verb="customer", data={"found": []})
    lines = [
        f"`{literal(a.customer_id)}`: *{literal(a.segment.name)}* (segment {a.segment.id}, "
        f"{a.membership.clarity}) · _{literal(a.segment.action)}_"
        for a in found
    ]
    more = f" (the first {limit})" if len(found) >= limit else ""
    head = f"*{len(found)} customer(s)* in that message{more}, model {literal(found[0].version)}:"
    blocks = [section(head + "\n" + "\n".join(lines)), context(_only_you("customer").capitalize())]
    return _reply(
        [head, *lines],
        blocks,
        verb="customer",
        data={"found": [{"id": a.customer_id, "segment": a.segment.name} for a in found]},
    )


def not_understood() -> Reply:
    """A mention or DM that is neither a command line nor a known phrasing."""
    tries = " · ".join(f"`{literal(e)}`" for e in phrases.EXAMPLES)
    line = f"Sorry, I didn't understand that. Try: {tries}"
    return _reply(
        [line],
        [section(line)],
        ok=False,
        data={"kind": "not_understood"},
    )


def summary_text(answer: Summary) -> str:
    return unescape(summary(answer).text)


def unreadable_line(v: VersionInfo) -> str:
    """A stored version whose metadata cannot be read, and why (history, App Home)."""
    return f"*{literal(v.version)}* (unreadable) · {literal(v.note)}"


def history(answer: History) -> Reply:
    if not answer.versions:
        return _reply(
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
    return _reply(text, blocks, verb="history", answer=answer)


def chart(name: str, path: Path, version: str) -> Reply:
    title = CHART_TITLES.get(name, name)
    line = f"{title} (model {literal(version)})"
    return _reply(
        [line],
        [section(line)],
        files=chart_files({name: str(path)}, version),
        verb="chart",
        data={"kind": "chart", "chart": name, "version": version, "path": str(path)},
    )


def _without_csv(answer: Export | Movers) -> dict[str, Any]:
    data = to_dict(answer)
    data["csv"] = None  # the bytes travel as the file, not inside the JSON
    return data


def export(answer: Export) -> Reply:
    line = (
        f"{count(answer.rows)} customers of *{literal(answer.segment.name)}* "
        f"(model {literal(answer.version)}) as {literal(answer.filename)}"
    )
    data = _without_csv(answer)
    return _reply(
        [line],
        [section(line)],
        files=[
            ReplyFile(
                filename=answer.filename,
                title=f"{answer.segment.name} ({answer.version})",
                content=answer.csv,
            )
        ],
        verb="export",
        data=data,
    )


def rollback(answer: Rollback) -> Reply:
    v = answer.version
    line = (
        f"Now serving *{literal(v.version)}* ({_version_facts(v)})"
        + (f"; was {literal(answer.previous)}" if answer.previous else "")
        + "."
    )
    return _reply([line], [section(line)], verb="rollback", answer=answer)


# ---- segments over time ---------------------------------------------------------------------
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
        filter(None, ["Oldest first; each version's own segment names", _only_you("customer")])
    )
    blocks = [section(head), section("\n".join(rows)), context(foot)]
    text = [head, *("  " + r for r in rows)]
    return _reply(text, blocks, verb="customer_history", answer=answer)


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
    data = _without_csv(answer)
    blocks = [section(head), *([context(*notes)] if notes else [])]
    return _reply(
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
    return _reply(
        [head, *lines],
        [section(head), section("\n".join(lines))],
        files=chart_files({"trend": answer.chart} if answer.chart else {}, last.version),
        verb="trend",
        answer=answer,
    )


def _move(m: dict[str, Any], verb: str = "") -> str:
    return f"{count(m['count'])} {verb}from {literal(m['from'])} to {literal(m['to'])}"


def moves_lines(moves: list[dict[str, Any]]) -> list[str]:
    return [f"• {_move(m, 'moved ')}" for m in moves]


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
    return _reply(
        [head, *lines],
        [section(head), section("\n".join(lines))],
        files=chart_files({"flows": answer.chart} if answer.chart else {}, answer.version),
        verb="flows",
        answer=answer,
    )


def _version_facts(v: VersionInfo) -> str:
    """A version in brief, as a rollback names it: when trained, k, and how well separated."""
    return f"trained {date(v.trained_at)}, k={v.k}, {quality_words(v.silhouette)}"


# ---- retrain --------------------------------------------------------------------------------
def retrain_progress(stage: str, fraction: float) -> Reply:
    line = f"Retraining… {literal(stage)} {bar(fraction)} {fraction:.0%}"
    return _reply([line], [section(line)], verb="retrain", deferred=True)


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
        lines.append("Biggest moves: " + "; ".join(_move(m) for m in c.flows))
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
    return _reply([head, *lines], blocks, verb="retrain", answer=result)


def _failure(exc: BaseException, still_served: str | None) -> str:
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
    line = f"Retrain failed: {_failure(exc, still_served)}."
    return _failure_reply(
        line, "error", exc, str(exc), still_served, commands.visibility("retrain")
    )


def _failure_reply(
    line: str,
    kind: str,
    exc: BaseException,
    message: str | None,
    still_served: str | None,
    visibility: Visibility,
) -> Reply:
    """A failed retrain as one line, `data` saying what failed and what is served now."""
    return _reply(
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


# ---- announcements in SEGBOT_ANNOUNCE_CHANNEL -----------------------------------------------
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


def chart_files(charts: dict[str, str], version: str) -> list[ReplyFile]:
    return [
        ReplyFile(
            filename=f"{name}-{version}.png",
            title=f"{CHART_TITLES.get(name, name)} ({version})",
            path=Path(path),
        )
        for name, path in charts.items()
    ]


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
        return _reply([line], [section(line)], visibility=CHANNEL, answer=result)
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
    return _reply(
        text,
        _cap(blocks, "More than fits in one message; see `/segments history`."),
        files=files,
        visibility=CHANNEL,
        answer=result,
    )


def announcement_rollback(answer: Rollback, by: str | None = None) -> Reply:
    """A rollback for the whole channel: which version is served now, and who chose it."""
    who = "Rollback" if not by else f"Rollback by <@{literal(by)}>"
    v = answer.version
    line = (
        f"{who}: *{literal(v.version)}* is served again ({_version_facts(v)})"
        + (f"; {literal(answer.previous)} is no longer served" if answer.previous else "")
        + "."
    )
    return _reply([line], [section(line)], visibility=CHANNEL, answer=answer)


def announcement_failed(
    exc: BaseException, still_served: str | None, by: str | None = None
) -> Reply:
    """A failed retrain for the whole channel: why, and which version is still served."""
    line = f"{announced_as(by)} failed: {_failure(exc, still_served)}."
    # Only a SegbotError's message is written for people; others stay in the log.
    message = str(exc) if isinstance(exc, SegbotError) else None
    return _failure_reply(line, "retrain_failed", exc, message, still_served, CHANNEL)


def announcement_write_back_failed(result: WriteBackResult) -> Reply:
    """A failed write-back (SEGBOT_WRITE_BACK) for the channel: where, why, and that
    serving is unchanged. The target is already masked (no password)."""
    line = f":warning: Write-back failed: {literal(result.line)}."
    data = {"kind": "write_back_failed", "version": result.version, "target": result.target}
    return _reply([line], [section(line)], visibility=CHANNEL, ok=False, data=data)


# ---- help, usage, refusals, failures ---------------------------------------------------------
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
    return _reply(
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
    return _reply(
        [line, hint],
        [section(line), context(hint)],
        ok=False,
        data={"kind": "usage", "problem": problem.problem, "command": problem.command},
    )


def pointer(reply: Reply, where: str) -> Reply:
    """Where a reply's files went when they could not go where they were asked for: the
    reply's own text, then `where`, for the asker alone."""
    blocks = [b for b in reply.blocks if b.get("type") != "actions"]
    return Reply(
        text=f"{reply.text}\n{where}",
        blocks=[*blocks, section(where)],
        visibility=ASKER,
        details={"kind": "pointer", "message": plain(where)},
    )


def refusal(message: str) -> Reply:
    return _reply(
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
        return _reply(
            [line, *([hint] if hint else [])],
            [section(line), *([context(hint)] if hint else [])],
            ok=False,
            data={"kind": "error", "error": type(exc).__name__, "message": str(exc)},
        )
    return _reply(
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
    return _reply(
        [what], [section(what)], deferred=True, data={"kind": "working", "verb": spec.verb}
    )
