"""One customer, one prospect, and the customers a message names: their segment,
the values behind it, how clearly they belong and what to do."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from bot import actions
from bot.mrkdwn import literal
from bot.render.pieces import context, date, fields, make_reply, number, only_you, section, share
from bot.render.segments import distinct_text, trait_features
from bot.reply import Reply
from model import CustomerAnswer, FeatureValue, Membership, PredictAnswer, SegmentInfo

KEY_VALUES = 8  # features shown for one customer; fields beyond ~10 stop reading well


def key_values(
    values: list[FeatureValue], segment: SegmentInfo, limit: int = KEY_VALUES
) -> list[FeatureValue]:
    """The features behind the segment's name first, then the text features the
    segment stands out on, then the rest in data order."""
    first = trait_features(segment)
    first += [t.feature for t in distinct_text(segment) if t.feature not in first]
    ranked = sorted(
        values, key=lambda v: first.index(v.feature) if v.feature in first else len(first)
    )
    return ranked[:limit]


def _value(v: FeatureValue) -> str:
    if v.value is None:
        return "filled in" if v.imputed else "missing"
    return number(v.value)


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
        context(" · ".join(filter(None, [f"Model {version}", f"as of {as_of}", only_you(verb)]))),
    ]
    text = [
        head,
        "  " + ", ".join(f"{f} {value} (typical {typical})" for f, value, typical in rows),
        *(["  " + note] if note else []),
        f"  How clearly: {clarity}",
        f"  Suggested action: {action}",
        f"  Model {version}, as of {as_of}",
    ]
    return make_reply(text, blocks, verb=verb, answer=answer)


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
    """Built and checked by slack_sdk once per segment, not on every lookup (building
    them costs a quarter of a lookup's time over HTTP). Shared between replies:
    read-only; the last element is the "History" button, whose value each answer sets
    to its customer."""
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


def customers_found(found: Sequence[CustomerAnswer], limit: int = 20) -> Reply:
    """The message shortcut: each known customer id in a message and its segment."""
    if not found:
        line = "I found no known customer id in that message."
        return make_reply([line], [section(line)], verb="customer", data={"found": []})
    lines = [
        f"`{literal(a.customer_id)}`: *{literal(a.segment.name)}* (segment {a.segment.id}, "
        f"{a.membership.clarity}) · _{literal(a.segment.action)}_"
        for a in found
    ]
    more = f" (the first {limit})" if len(found) >= limit else ""
    head = f"*{len(found)} customer(s)* in that message{more}, model {literal(found[0].version)}:"
    blocks = [section(head + "\n" + "\n".join(lines)), context(only_you("customer").capitalize())]
    return make_reply(
        [head, *lines],
        blocks,
        verb="customer",
        data={"found": [{"id": a.customer_id, "segment": a.segment.name} for a in found]},
    )
