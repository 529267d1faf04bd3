"""Shortcuts (docs/interface.md §2): `segbot_lookup` and `segbot_predict` open modals,
`segbot_find_in_message` answers privately about the customer ids in a message.

Modals open inside the listener, right after the acknowledgement: a trigger_id
expires in 3 seconds, so never through a pool (as in bolt-python's
lazy_modals_app example, the slow part comes after the view is open).
"""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import render, views
from bot.slack.answer import later
from bot.slack.context import Segbot, of
from bot.slack.delivery import Destination
from model.errors import NoModel

FIND_IN_MESSAGE = "segbot_find_in_message"


def register(app: App) -> None:
    app.shortcut(views.LOOKUP)(lookup_shortcut)
    app.shortcut(views.PREDICT)(predict_shortcut)
    app.shortcut(FIND_IN_MESSAGE)(find_in_message)


def _refused(segbot: Segbot, word: str, user: str, client: WebClient) -> bool:
    """Shortcuts have no channel; SEGBOT_ALLOWED_CHANNELS, when set, keeps them off."""
    refused = segbot.router.refusal_for("/segment", word, user=user, channel=None)
    if refused is None:
        return False
    later(segbot, refused, Destination(client=client, respond=None, channel=None, user=user))
    return True


def lookup_shortcut(
    ack: Ack, shortcut: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    ack()
    user = shortcut["user"]["id"]
    if _refused(of(context), "customer", user, client):
        return
    client.views_open(trigger_id=shortcut["trigger_id"], view=views.lookup_modal())
    logger.info("opened the lookup modal for %s", user)


def predict_shortcut(
    ack: Ack, shortcut: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    ack()
    if _refused(of(context), "predict", shortcut["user"]["id"], client):
        return
    open_prospect_modal(client, of(context), shortcut["trigger_id"], logger)


def open_prospect_modal(client: WebClient, segbot: Segbot, trigger_id: str, logger: Logger) -> None:
    """One input per feature of the served model (reading it takes microseconds)."""
    try:
        numeric, text = segbot.router.service.prospect_inputs()
    except NoModel:
        numeric, text = [], {}
    client.views_open(trigger_id=trigger_id, view=views.prospect_modal(numeric, text))
    logger.info("opened the prospect modal (%d features)", len(numeric) + len(text))


def find_in_message(
    ack: Ack,
    shortcut: dict[str, Any],
    client: WebClient,
    respond: Respond,
    context: BoltContext,
    logger: Logger,
) -> None:
    """Privately: through the response_url as an ephemeral message, which needs no
    membership of the channel."""
    ack()
    segbot = of(context)
    user = shortcut["user"]["id"]
    channel = (shortcut.get("channel") or {}).get("id")
    text = render.unescape((shortcut.get("message") or {}).get("text") or "")
    reply = segbot.router.find_customers(text, user=user, channel=channel)
    dest = Destination(
        client=client,
        respond=respond if shortcut.get("response_url") else None,
        channel=channel,
        user=user,
        thread_ts=(shortcut.get("message") or {}).get("thread_ts"),
    )
    outcome = later(segbot, reply, dest)
    logger.info("%s from %s in %s: %s", FIND_IN_MESSAGE, user, channel, outcome)
