"""Modal submissions: the lookup and the prospect.

Input problems are shown in the modal beside the input (`response_action:
errors`); a good answer closes the modal and arrives in the user's DM with the
bot (a modal has no conversation to answer in).
"""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot import render, views
from bot.commands import SEGMENT, build
from bot.reply import Reply
from bot.slack.after_ack import later
from bot.slack.context import of
from bot.slack.delivery import Destination

MAX_ERROR = 150  # Slack shows a short line under the input


def register(app: App) -> None:
    app.view(views.LOOKUP)(lookup_submitted)
    app.view(views.PREDICT)(predict_submitted)


def _error(reply: Reply) -> str:
    """The reply's first line, still escaped: what the user typed stays text."""
    text = reply.text.splitlines()[0] if reply.text else render.GENERIC_FAILURE
    if len(text) > MAX_ERROR:  # cut before an entity rather than through it
        text = text[: MAX_ERROR - 1]
        text = text[: text.rfind("&")] if text.rfind("&") > text.rfind(";") else text
        text += "…"
    return text


def _submitted(
    ack: Ack, planned: Any, block: str, user: str, client: WebClient, context: BoltContext
) -> str:
    if not isinstance(planned, Reply):  # lookups and prospects are quick; never slow work
        ack()
        return later(of(context), planned, _dm(client, user), note=True)
    if not planned.ok:
        ack(response_action="errors", errors={block: _error(planned)})
        return "shown in the modal"
    ack()
    return later(of(context), planned, _dm(client, user))


def _dm(client: WebClient, user: str) -> Destination:
    return Destination(client=client, respond=None, channel=None, user=user)


def lookup_submitted(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    user = body["user"]["id"]
    command = build(SEGMENT, "customer", views.lookup_id(view.get("state") or {}))
    planned = of(context).router.plan_command(command, user=user, channel=None, slack=True)
    outcome = _submitted(ack, planned, views.CUSTOMER_BLOCK, user, client, context)
    logger.info("%s from %s: %s", views.LOOKUP, user, outcome)


def predict_submitted(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    user = body["user"]["id"]
    values, errors = views.prospect_values(view)
    if errors:
        ack(response_action="errors", errors=errors)
        logger.info("%s from %s: %d input(s) to fix", views.PREDICT, user, len(errors))
        return
    command = build(SEGMENT, "predict", values=values)
    planned = of(context).router.plan_command(command, user=user, channel=None, slack=True)
    outcome = _submitted(ack, planned, "f0", user, client, context)
    logger.info("%s from %s: %s", views.PREDICT, user, outcome)
