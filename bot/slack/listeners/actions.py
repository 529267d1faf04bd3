"""Button and menu clicks: the same commands, built from the click, with the clicker's
identity and rights (a non-admin clicking an admin button is refused).

Acknowledged at once; the answer goes where the button was: a message's
response_url (in its thread; an ephemeral message's answers stay ephemeral), which
reaches any conversation, a DM between two people or a channel the bot was never
invited to included; or the user's DM with the bot for the App Home tab.
"""

from __future__ import annotations

import dataclasses
import re
from logging import Logger
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import actions
from bot.reply import Reply
from bot.router import Job
from bot.slack.after_ack import planned_later
from bot.slack.context import of
from bot.slack.delivery import Destination


def register(app: App) -> None:
    app.action(re.compile(f"^{actions.PREFIX}"))(clicked)


def clicked(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    ack()
    segbot = of(context)
    user = (body.get("user") or {}).get("id", "")
    container = body.get("container") or {}
    in_message = container.get("type") == "message" and body.get("channel")
    channel = (body.get("channel") or {}).get("id") if in_message else None
    command = actions.command_for(action.get("action_id", ""), actions.value_of(action))
    dest = Destination(
        client=client,
        respond=respond if in_message and body.get("response_url") else None,
        channel=channel,
        user=user,
        thread_ts=container.get("thread_ts"),
    )

    def plan() -> Reply | Job:
        planned = segbot.router.plan_command(command, user=user, channel=channel, slack=True)
        if container.get("is_ephemeral") and isinstance(planned, Reply):
            planned = dataclasses.replace(planned, visibility="ephemeral")
        return planned

    def done(outcome: str) -> None:
        logger.info("click %s from %s in %s: %s", action.get("action_id"), user, channel, outcome)

    planned_later(segbot, plan, dest, done, note=True)
