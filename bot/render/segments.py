"""The segments of the served version: the summary of all of them and one in detail."""

from __future__ import annotations

from collections.abc import Sequence

from bot import actions
from bot.mrkdwn import literal
from bot.render.pieces import (
    cap,
    context,
    count,
    date,
    fields,
    make_reply,
    number,
    quality_words,
    section,
    share,
    unescape,
    with_actions,
)
from bot.reply import Reply
from model import ROW_IDS, SegmentInfo, Summary, TextShare

PROFILE_VALUES = 6  # features per segment in the summary
TEXT_VALUES = 3  # distinctive text values per segment in the summary


def trait_features(segment: SegmentInfo) -> list[str]:
    return [t.rsplit(" ", 1)[0] for t in segment.distinct]


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


def _profile(segment: SegmentInfo, flags: Sequence[str] = ()) -> str:
    """Mean values, the features behind the name first; a 0/1 flag's mean as a share."""
    first = [t.split("=", 1)[0] for t in trait_features(segment)]
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
    return make_reply(
        text,
        with_actions(blocks, elements, "More segments than fit in one message."),
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
    first = trait_features(seg)
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
    return make_reply(text, cap(blocks, "More than fits in one message."), verb="show", answer=seg)


def summary_text(answer: Summary) -> str:
    return unescape(summary(answer).text)
