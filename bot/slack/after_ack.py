"""What happens after Slack's acknowledgement: quick replies go through the posting
pool, slow work through the slow-work pool, each delivered to its `Destination`."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot import render
from bot.reply import Reply
from bot.router import Job
from bot.slack.context import Segbot
from bot.slack.delivery import Destination, ProgressMessage, deliver, send

log = logging.getLogger(__name__)
BUSY = "I'm busy with other charts and exports right now; please try again in a minute."


def later(segbot: Segbot, planned: Reply | Job, dest: Destination, *, note: bool = False) -> str:
    """Deliver `planned` after the acknowledgement; `note`: say first that slow work
    has started (surfaces whose acknowledgement cannot carry text). Returns the outcome
    for the log line."""
    if isinstance(planned, Reply):
        if not segbot.posts.reserve():
            log.warning("too many answers waiting for Slack; dropped one for %s", dest.user)
            return "dropped (Slack not answering)"
        segbot.posts.submit(lambda: deliver(planned, dest))
        return "answered" if planned.ok else "refused or failed"
    if not segbot.slow.reserve():
        if segbot.posts.reserve():
            segbot.posts.submit(lambda: send(render.refusal(BUSY), dest))
        return "busy"
    job = planned

    def work() -> None:
        if note and job.command.verb != "retrain":  # a retrain shows its own progress
            send(job.ack, dest)
        run_job(job, dest)

    segbot.slow.submit(work)
    return "queued"


def planned_later(
    segbot: Segbot,
    plan: Callable[[], Reply | Job],
    dest: Destination,
    done: Callable[[str], None],
    *,
    note: bool = False,
) -> None:
    """Plan and answer off the request thread, so the acknowledgement (an empty 200 for
    events and clicks) carries no work at all; `done(outcome)` logs how it went."""
    if not segbot.posts.reserve():
        done("dropped (Slack not answering)")
        return

    def work() -> None:
        planned = plan()
        if isinstance(planned, Reply):
            deliver(planned, dest)
            done("answered" if planned.ok else "refused or failed")
            return
        done(later(segbot, planned, dest, note=note))

    segbot.posts.submit(work)


def run_job(job: Job, dest: Destination) -> None:
    """Slow work after the acknowledgement: a retrain shows progress in the conversation."""
    if job.command.verb != "retrain":
        deliver(job.run(None), dest)
        return
    progress = ProgressMessage(dest)
    progress.start(render.retrain_progress("starting", 0.0))
    reply = job.run(progress.update)
    progress.finish(reply)
