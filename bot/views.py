"""Views: the App Home tab and the modals, built with `slack_sdk.models`.

Pure functions (no I/O): the library checks Slack's limits (titles, labels,
block counts) when a view is turned into a dict. Text from the data is escaped
like the replies': `literal` for outside strings in mrkdwn, `esc` in plain-text labels.
"""

from __future__ import annotations

import json
import math
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    ImageBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot import actions, mrkdwn, render
from bot.mrkdwn import literal
from bot.render import count, date, esc, quality_words, share
from model import NO_LABELS, History, Labels, Summary

LOOKUP = "segbot_lookup"  # callback ids (docs/interface.md §2)
PREDICT = "segbot_predict"
CUSTOMER_BLOCK, CUSTOMER_INPUT = "customer", "id"
VALUE_INPUT = "value"
MAX_FEATURES = 98  # a modal holds 100 blocks: the inputs and a line on what is left out
MAX_METADATA = 3000  # private_metadata's limit, in characters
MAX_OPTIONS = 100  # a static select holds 100 options
HOME_BLOCKS = 100  # and so does the App Home tab
HOME_VERSIONS = 5


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=mrkdwn.blocks(text)[: render.SECTION_LIMIT])


def _label(text: str, limit: int = 75) -> str:
    """Plain-text labels and titles: escaped, clipped to Slack's limit."""
    text = esc(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- modals -----------------------------------------------------------------------------------
def lookup_modal() -> dict[str, Any]:
    return View(
        type="modal",
        callback_id=LOOKUP,
        title="Look up a customer",
        submit="Look up",
        close="Cancel",
        blocks=[
            InputBlock(
                block_id=CUSTOMER_BLOCK,
                label="Customer id",
                element=PlainTextInputElement(
                    action_id=CUSTOMER_INPUT, placeholder="e.g. 00042", max_length=200
                ),
                hint="The answer comes to you privately, in a direct message from segbot.",
            )
        ],
    ).to_dict()


def lookup_id(state: dict[str, Any]) -> str:
    """The customer id typed into the lookup modal."""
    entry = state.get("values", {}).get(CUSTOMER_BLOCK, {}).get(CUSTOMER_INPUT, {})
    return str(entry.get("value") or "").strip()


def _metadata(features: list[str], numeric: list[str]) -> str:
    wanted = {"features": features, "numeric": [f for f in features if f in numeric]}
    return json.dumps(wanted, separators=(",", ":"), ensure_ascii=False)


def _fitting(features: list[str], numeric: list[str]) -> tuple[list[str], str]:
    """The most features (in order) that Slack's modal and its private_metadata can
    carry, and that metadata: the answer reads the inputs it showed from it, so it must
    stay whole JSON, never cut."""
    low, high = 0, min(len(features), MAX_FEATURES)
    while low < high:  # the largest count whose metadata fits
        mid = (low + high + 1) // 2
        if len(_metadata(features[:mid], numeric)) <= MAX_METADATA:
            low = mid
        else:
            high = mid - 1
    return features[:low], _metadata(features[:low], numeric)


def prospect_modal(
    numeric: list[str], text: dict[str, list[str]], labels: Labels = NO_LABELS
) -> dict[str, Any]:
    """One input per feature of the served model: a text box for numbers, a menu of the
    known values for text features. Every input is optional (the model fills in the rest).
    The features go in private_metadata, so the answer reads the inputs it showed; when
    there are more than the modal can carry, it says how many are left to the model.
    Inputs and menu options read the data dictionary's labels; values stay raw."""
    every = [*numeric, *text]
    features, metadata = _fitting(every, numeric)
    blocks: list[Any] = []
    for i, feature in enumerate(features):
        if text.get(feature):
            element: Any = StaticSelectElement(
                action_id=VALUE_INPUT,
                placeholder="Choose…",
                options=[
                    Option(text=_label(labels.value(feature, v)), value=str(v)[:150])
                    for v in text[feature][:MAX_OPTIONS]
                ],
            )
        else:
            element = PlainTextInputElement(
                action_id=VALUE_INPUT, placeholder="a number" if feature in numeric else "a value"
            )
        blocks.append(
            InputBlock(
                block_id=f"f{i}",
                label=_label(labels.column(feature), 2000),
                element=element,
                optional=True,
            )
        )
    left = every[len(features) :]
    if left:
        names = ", ".join(left[:5]) + (", …" if len(left) > 5 else "")
        blocks.append(
            ContextBlock(
                elements=[
                    _md(
                        f"{len(left)} more feature(s) not shown here ({literal(names)}): "
                        "the model fills them in. `/segment predict feature=value ...` "
                        "takes any of them."
                    )
                ]
            )
        )
    return View(
        type="modal",
        callback_id=PREDICT,
        title="Segment a prospect",
        submit="Segment",
        close="Cancel",
        private_metadata=metadata,
        blocks=blocks
        or [SectionBlock(text="No model is served yet, so there are no features to fill in.")],
    ).to_dict()


def prospect_values(view: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(feature -> value, block id -> error) from a submitted prospect modal. Numbers are
    checked here, so a typo is shown beside its input (response_action: errors)."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    features, numeric = list(meta.get("features", [])), set(meta.get("numeric", []))
    state = (view.get("state") or {}).get("values", {})
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for i, feature in enumerate(features):
        entry = state.get(f"f{i}", {}).get(VALUE_INPUT, {}) or {}
        raw = entry.get("value")
        if raw is None and entry.get("selected_option"):
            raw = entry["selected_option"].get("value")
        raw = str(raw or "").strip()
        if not raw:
            continue
        if feature in numeric:
            try:
                number = float(raw.replace(",", "").replace("_", ""))
            except ValueError:
                errors[f"f{i}"] = f"{feature} must be a number, not '{raw[:40]}'"
                continue
            if not math.isfinite(number):
                errors[f"f{i}"] = f"{feature} must be a finite number"
                continue
        values[feature] = raw
    if not values and not errors and features:
        errors["f0"] = "Give at least one value"
    return values, errors


# ---- App Home ---------------------------------------------------------------------------------
def home(
    summary: Summary | None,
    history: History | None,
    charts: dict[str, str],
    *,
    admin: bool,
) -> dict[str, Any]:
    """The App Home tab: the served version, its segments, charts (files uploaded once per
    version, shown by `slack_file` id), the last versions and what changed, and for
    admins Retrain and Rollback behind a confirmation."""
    blocks: list[Any] = [HeaderBlock(text="segbot: customer segments")]
    if summary is None:
        blocks.append(
            SectionBlock(text=_md("No model is served yet; the first one is being trained."))
        )
        return View(type="home", blocks=blocks).to_dict()
    q = summary.quality
    blocks.append(
        SectionBlock(
            text=_md(
                f"Serving *{literal(summary.version)}*, trained {date(summary.trained_at)} on "
                f"{count(summary.rows)} customers · *{summary.k} segments* · "
                f"{quality_words(q.get('silhouette'))}"
            )
        )
    )
    blocks.append(ContextBlock(elements=[_md(f"Why {summary.k}: {literal(summary.k_reason)}")]))
    blocks.append(DividerBlock())
    for s in summary.segments[:40]:
        blocks.append(
            SectionBlock(
                text=_md(
                    f"*{s.id}. {literal(s.name)}*: {count(s.size)} customers ({share(s.share)})\n"
                    f"_{literal(s.action)}_"
                )
            )
        )
    blocks.append(
        ActionsBlock(elements=actions.show_segment([(s.id, s.name) for s in summary.segments])[:25])
    )
    blocks.append(DividerBlock())
    for name, file_id in charts.items():
        title = render.CHART_TITLES.get(name, name)
        blocks.append(
            ImageBlock(
                slack_file={"id": file_id},
                alt_text=_label(title, 2000),
                title=_label(f"{title} ({summary.version})", 2000),
            )
        )
    if not charts:
        blocks.append(ActionsBlock(elements=actions.chart_buttons()))
    if history is not None and history.versions:
        blocks.append(DividerBlock())
        blocks.append(SectionBlock(text=_md("*Last versions*")))
        for v in history.versions[:HOME_VERSIONS]:
            if v.status == "unreadable":
                blocks.append(ContextBlock(elements=[_md(render.unreadable_line(v))]))
                continue
            moved = ""
            if v.moved is not None:
                moved = f" · {count(v.moved)} customers changed segment ({share(v.moved_share)})"
            note = f"\n_Held back: {literal(v.note)}_" if v.note else ""
            blocks.append(
                ContextBlock(
                    elements=[
                        _md(
                            f"*{literal(v.version)}* ({literal(v.status)}) · "
                            f"{date(v.trained_at)} · {count(v.rows)} rows · k={v.k} · "
                            f"{quality_words(v.silhouette)}{moved}{note}"
                        )
                    ]
                )
            )
    if admin:
        elements: list[Any] = [
            actions.confirmed(
                "Retrain now",
                actions.RETRAIN,
                "",
                "Retrain from the configured data now? The new version is served if it "
                "passes the checks.",
            )
        ]
        earlier = [
            v
            for v in (history.versions if history else [])
            if not v.served and v.status != "unreadable"
        ]
        for v in earlier[:4]:
            elements.append(
                actions.confirmed(
                    f"Roll back to {v.version}",
                    f"{actions.ROLLBACK}_{len(elements)}",
                    v.version,
                    f"Serve {esc(v.version)} again instead of {esc(summary.version)}?",
                )
            )
        blocks.append(DividerBlock())
        blocks.append(SectionBlock(text=_md("*Admin*")))
        blocks.append(ActionsBlock(elements=elements))
    return View(type="home", blocks=blocks[:HOME_BLOCKS]).to_dict()
