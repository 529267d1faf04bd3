"""Shortcuts (docs/interface.md §2): `segbot_lookup` and `segbot_predict` open modals,
`segbot_find_in_message` answers privately about the customer ids in a message.

A modal opens right after the acknowledgement, at once, on a pool of its own (a
trigger_id expires in 3 seconds, so never behind queued answers): the listener only
acknowledges, so Slack hears back before any Web API call, however slow Slack is (as
in bolt-python's lazy_modals_app example). A view that cannot open is logged and
told to the user.
"""

from __future__ import annotations

from collections.abc import Callable
from logging import Logger
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import render, views
from bot.slack.after_ack import BUSY, later, planned_later
from bot.slack.context import Segbot, of
from bot.slack.delivery import Destination, send, slack_error
from model import NoModel

FIND_IN_MESSAGE = "segbot_find_in_message"
VIEW_FAILED = "I couldn't open the {what} form (Slack said `{error}`); please try again."


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
    dm = Destination(client=client, respond=None, channel=None, user=user)
    open_modal(of(context), shortcut["trigger_id"], views.lookup_modal, "lookup", dm, logger)


def predict_shortcut(
    ack: Ack, shortcut: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    ack()
    user = shortcut["user"]["id"]
    if _refused(of(context), "predict", user, client):
        return
    dm = Destination(client=client, respond=None, channel=None, user=user)
    open_prospect_modal(of(context), shortcut["trigger_id"], dm, logger)


def open_prospect_modal(segbot: Segbot, trigger_id: str, dest: Destination, logger: Logger) -> None:
    """One input per feature of the served model (reading it takes microseconds)."""

    def view() -> dict[str, Any]:
        service = segbot.router.service
        try:
            numeric, text = service.prospect_inputs()
            labels = service.prospect_labels()
        except NoModel:
            return views.prospect_modal([], {})
        return views.prospect_modal(numeric, text, labels)

    open_modal(segbot, trigger_id, view, "prospect", dest, logger)


def open_modal(
    segbot: Segbot,
    trigger_id: str,
    view: Callable[[], dict[str, Any]],
    what: str,
    dest: Destination,
    logger: Logger,
) -> None:
    """Open a modal on the modals pool, now; a failure is logged and told at `dest`."""
    if not segbot.modals.reserve():
        later(segbot, render.refusal(BUSY), dest)
        logger.warning("no thread free to open the %s modal for %s", what, dest.user)
        return

    def work() -> None:
        try:
            dest.client.views_open(trigger_id=trigger_id, view=view())
        except Exception as exc:
            error = slack_error(exc) or type(exc).__name__
            logger.warning("could not open the %s modal for %s: %s", what, dest.user, error)
            send(render.refusal(VIEW_FAILED.format(what=what, error=error)), dest)
            return
        logger.info("opened the %s modal for %s", what, dest.user)

    segbot.modals.submit(work)


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
    dest = Destination(
        client=client,
        respond=respond if shortcut.get("response_url") else None,
        channel=channel,
        user=user,
        thread_ts=(shortcut.get("message") or {}).get("thread_ts"),
    )
    planned_later(
        segbot,
        lambda: segbot.router.find_customers(text, user=user, channel=channel),
        dest,
        lambda done: logger.info("%s from %s in %s: %s", FIND_IN_MESSAGE, user, channel, done),
    )
