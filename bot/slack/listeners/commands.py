"""`/segment` and `/segments`.

Every command is acknowledged on the thread that received it, well within
Slack's 3 seconds: quick answers go in the acknowledgement itself; slow work is
acknowledged with a short note and delivered from the slow-work pool.
`/segment predict` with no values opens the prospect modal at once.
"""

from __future__ import annotations

import re
import time
from logging import Logger
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltRequest, Respond
from slack_sdk import WebClient

from bot import render
from bot.reply import Reply
from bot.slack.after_ack import BUSY, run_job
from bot.slack.context import of
from bot.slack.delivery import Destination
from bot.slack.listeners.shortcuts import open_prospect_modal

PREDICT_WORDS = ("predict", "prospect")


def register(app: App) -> None:
    # One listener for both: Bolt tries listeners in turn, each match costing a round of
    # argument injection, so every listener less is time saved on every request.
    app.command(re.compile(r"^/segments?$"))(slash_command)


def slash_command(
    ack: Ack,
    command: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    logger: Logger,
    request: BoltRequest,
) -> None:
    started = time.perf_counter()
    segbot = of(context)
    user, channel = command.get("user_id", ""), command.get("channel_id", "")
    # Slack sends &, < and > escaped; the router wants what the user typed.
    text = render.unescape(command.get("text", ""))
    if command["command"] == "/segment" and text.strip().lower() in PREDICT_WORDS:
        # No values: the prospect modal, opened now (a trigger_id lasts 3 seconds).
        refused = segbot.router.refusal_for("/segment", "predict", user=user, channel=channel)
        if refused is not None:
            _ack(ack, refused)
        else:
            ack()
            dest = Destination(client=client, respond=respond, channel=channel, user=user)
            open_prospect_modal(segbot, command.get("trigger_id", ""), dest, logger)
        outcome = "opening the prospect modal" if refused is None else "refused"
        logger.info("%s predict from %s in %s: %s", command["command"], user, channel, outcome)
        return
    planned = segbot.router.plan(
        command["command"], text=text, user=user, channel=channel, slack=True
    )
    if isinstance(planned, Reply):
        _ack(ack, planned)
        outcome = "answered" if planned.ok else "refused or failed"
    elif request.headers.get("x-slack-retry-num"):
        # The first delivery is already being worked on; never start the work twice.
        ack()
        outcome = "ignored a Slack retry"
    elif not segbot.slow.reserve():
        _ack(ack, render.refusal(BUSY))
        outcome = "busy"
    else:
        _ack(ack, planned.ack)
        dest = Destination(client=client, respond=respond, channel=channel, user=user)
        segbot.slow.submit(lambda: run_job(planned, dest))
        outcome = "queued"
    logger.info(
        "%s %s from %s in %s: %s in %.0f ms",
        command["command"],
        text.split(" ", 1)[0][:20] if text else "",
        user,
        channel,
        outcome,
        (time.perf_counter() - started) * 1000,
    )


def _ack(ack: Ack, reply: Reply) -> None:
    ack(text=reply.text, blocks=reply.blocks, response_type=reply.visibility)
