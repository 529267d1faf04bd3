"""Buttons and menus: their action ids, the elements, and the command a click runs.

A click builds its `Command` directly from the action id and value (no round trip
through text); the router then checks the clicker's rights as for a typed command.
Pure: elements are built with `slack_sdk.models`, which checks Slack's limits.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    Option,
    StaticSelectElement,
)

from bot.commands import SEGMENT, SEGMENTS, Command, Usage, build
from model import CHARTS

PREFIX = "segbot_"
CHART = PREFIX + "chart"  # value: elbow | clusters | profiles
SHOW = PREFIX + "show"  # value: a segment id (button), or the selected option (menu)
EXPORT = PREFIX + "export"  # value: a segment id
CUSTOMER = PREFIX + "customer"  # value: a customer id
HISTORY = PREFIX + "history"  # value: a customer id
RETRAIN = PREFIX + "retrain"  # value: "" or "force"
ROLLBACK = PREFIX + "rollback"  # value: a version

# action id -> (command, word of the table row)
ROWS: dict[str, tuple[str, str]] = {
    CHART: (SEGMENTS, "chart"),
    SHOW: (SEGMENTS, "show"),
    EXPORT: (SEGMENTS, "export"),
    CUSTOMER: (SEGMENT, "customer"),
    HISTORY: (SEGMENT, "customer_history"),
    RETRAIN: (SEGMENTS, "retrain"),
    ROLLBACK: (SEGMENTS, "rollback"),
}
MAX_BUTTONS = 5  # more segments than this get a menu instead of one button each
# Button labels of `model.CHARTS`, in its order.
CHART_LABELS = {"elbow": "Elbow chart", "clusters": "Clusters", "profiles": "Profiles"}


def value_of(action: dict[str, Any]) -> str:
    """A button's value, or a menu's selected option's."""
    if "selected_option" in action:
        return str((action.get("selected_option") or {}).get("value") or "")
    return str(action.get("value") or "")


def command_for(action_id: str, value: str) -> Command | Usage:
    """The command a click runs. Values come from Slack: checked like typed text."""
    action_id = action_id_base(action_id)
    row = ROWS.get(action_id)
    if row is None:
        return Usage("that button is not one of segbot's")
    command, word = row
    if action_id == HISTORY:
        return build(command, word, unquote(value))
    if action_id == CHART:
        return build(command, word, value or None)
    return build(command, word, value)


def _clip(text: str, limit: int = 75) -> str:
    """A label from the data: clipped to Slack's 75 characters, and escaped like any
    text from outside (Slack shows &lt; as < in plain text too)."""
    escaped = _esc(text)
    while len(escaped) > limit:  # shorten before escaping, so no entity is cut in half
        text = text[: len(text) - max(1, (len(escaped) - limit) // 5)]
        escaped = _esc(text.rstrip("…") + "…")
    return escaped


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def chart_buttons() -> list[ButtonElement]:
    return [
        ButtonElement(text=CHART_LABELS[name], action_id=f"{CHART}_{name}", value=name)
        for name in CHARTS
    ]


def show_segment(segments: list[tuple[int, str]]) -> list[ButtonElement | StaticSelectElement]:
    """ "Show segment": one button each for a few segments, a menu for many."""
    if len(segments) <= MAX_BUTTONS - 2:
        return [
            ButtonElement(text=_clip(f"Show {name}"), action_id=f"{SHOW}_{sid}", value=str(sid))
            for sid, name in segments
        ]
    return [
        StaticSelectElement(
            placeholder="Show segment…",
            action_id=SHOW,
            options=[
                Option(text=_clip(f"{sid}. {name}"), value=str(sid)) for sid, name in segments[:100]
            ],
        )
    ]


MAX_VALUE = 2000  # Slack's limit on a button's value


def history_value(customer_id: str) -> str:
    """A customer id as a "History" button's value: percent-encoded, since a value is
    sent back as is and ids may hold characters Slack treats as markup (<, >, &)."""
    return quote(customer_id, safe="")


def history_button(customer_id: str) -> ButtonElement:
    return button("History", HISTORY, history_value(customer_id))


def button(label: str, action_id: str, value: str, *, danger: bool = False) -> ButtonElement:
    return ButtonElement(
        text=_clip(label), action_id=action_id, value=value, style="danger" if danger else None
    )


def confirmed(label: str, action_id: str, value: str, question: str) -> ButtonElement:
    """A button behind a confirmation dialog (retrain, rollback)."""
    return ButtonElement(
        text=_clip(label),
        action_id=action_id,
        value=value,
        style="danger",
        confirm=ConfirmObject(
            title="Are you sure?", text=question, confirm="Yes, do it", deny="Cancel"
        ),
    )


def actions_block(elements: list, block_id: str | None = None) -> dict[str, Any]:
    return ActionsBlock(elements=elements[:25], block_id=block_id).to_dict()


def action_id_base(action_id: str) -> str:
    """'segbot_chart_elbow' -> 'segbot_chart': ids in one message must be unique, so
    buttons of one kind carry a suffix."""
    for base in sorted(ROWS, key=len, reverse=True):
        if action_id == base or action_id.startswith(base + "_"):
            return base
    return action_id
