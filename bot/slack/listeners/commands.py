"""`/segment` and `/segments`.

Every command is acknowledged on the thread that received it, well within
Slack's 3 seconds: quick answers go in the acknowledgement itself; slow work is
acknowledged with a short note and delivered from the slow-work pool.
"""

from __future__ import annotations

import time
from logging import Logger
from typing import Any

from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient

from bot import render
from bot.reply import Reply
from bot.router import Job, Router
from bot.slack.delivery import Destination, ProgressMessage, deliver
from bot.slack.work import SlowWork

BUSY = "I'm busy with other charts and exports right now; please try again in a minute."


def register(app: App, router: Router, slow: SlowWork) -> None:
    # Bolt passes listener arguments by parameter name, hence this exact signature.
    def slash_command(
        ack: Ack,
        command: dict[str, Any],
        respond: Respond,
        client: WebClient,
        logger: Logger,
        request: BoltRequest,
    ) -> None:
        started = time.perf_counter()
        user, channel = command.get("user_id", ""), command.get("channel_id", "")
        # Slack sends &, < and > escaped; the router wants what the user typed.
        text = render.unescape(command.get("text", ""))
        planned = router.plan(command["command"], text=text, user=user, channel=channel, slack=True)
        if isinstance(planned, Reply):
            _ack(ack, planned)
            outcome = "answered" if planned.ok else "refused or failed"
        elif request.headers.get("x-slack-retry-num"):
            # The first delivery is already being worked on; never start the work twice.
            ack()
            outcome = "ignored a Slack retry"
        elif not slow.reserve():
            _ack(ack, render.refusal(BUSY))
            outcome = "busy"
        else:
            _ack(ack, planned.ack)
            dest = Destination(client=client, respond=respond, channel=channel, user=user)
            slow.submit(lambda: run_job(planned, dest))
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

    app.command("/segment")(slash_command)
    app.command("/segments")(slash_command)


def _ack(ack: Ack, reply: Reply) -> None:
    ack(text=reply.text, blocks=reply.blocks, response_type=reply.visibility)


def run_job(job: Job, dest: Destination) -> None:
    """Slow work after the acknowledgement: a retrain shows progress in the channel."""
    if job.command.verb != "retrain":
        deliver(job.run(None), dest)
        return
    progress = ProgressMessage(dest)
    progress.start(render.retrain_progress("starting", 0.0))
    reply = job.run(progress.update)
    progress.finish(reply)
