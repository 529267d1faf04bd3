"""What real Slack does, end to end, in both modes (docs/interface.md §7): `segbot serve`
as a real process, driven over HTTP (signed requests) and over Socket Mode (envelopes
shaped as Slack sends them, `retry_attempt: 0` included), against the strict Slack fake
(tests/slack_fake.py), which refuses what Slack refuses: posting where the bot is not a
member, ephemerals in threads without replies (ok, but not shown), files in blocks before
they are processed or where the reader cannot see them, expired trigger_ids.

Each test is run in both modes; the bot is started once per mode.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.router import Router
from model.service import SegmentService
from tests import slack_payloads as P
from tests.conftest import (
    ADMIN,
    CHANNEL,
    USER,
    Bot,
    copy_served,
    make_settings,
    signed_headers,
    slash_payload,
    start_http_bot,
    stop_bot,
    wait_logged,
)
from tests.slack_fake import Call, SlackFake
from tests.test_socket_mode import SocketModeServer, socket_bot_running, socket_mode_server

ANNOUNCE = "C0ANNOUNCE"  # a public channel the bot is in: App Home's charts are shared there
PAIR_DM = "DPAIR0001"  # a DM between two people: the bot is not part of it
_ids = itertools.count(1)


@dataclass
class Slack:
    """Plays Slack's side for one running bot, in either mode; each call returns the
    seconds until the acknowledgement and the acknowledgement's payload."""

    mode: str
    fake: SlackFake
    model_dir: Path
    log: Path
    bot: Bot | None = None
    socket: SocketModeServer | None = None

    def _deliver(self, kind: str, payload: dict[str, Any], retry: int = 0) -> tuple[float, Any]:
        started = time.monotonic()
        if self.bot is not None:
            if kind == "events_api":
                body, headers = P.json_request(payload)
                if retry:
                    headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "x"})
            elif kind == "interactive":
                body, headers = P.form_request(payload)
            else:
                body = urlencode(payload)
                headers = signed_headers(body)
            status, text = self.bot.post(body, headers)
            assert status == 200, text
            return time.monotonic() - started, json.loads(text) if text else {}
        assert self.socket is not None
        envelope_id = f"env-{next(_ids)}"
        if kind == "slash_commands":
            envelope = {
                "envelope_id": envelope_id,
                "type": kind,
                "accepts_response_payload": True,
                "payload": payload,
            }
        else:
            retried = {"retry_attempt": retry, "retry_reason": "timeout"} if retry else {}
            envelope = P.envelope(kind, payload, envelope_id, **retried)
        self.socket.outgoing.put(envelope)
        ack = self.socket.ack_for(envelope_id)
        return time.monotonic() - started, ack.get("payload") or {}

    def event(self, payload: dict[str, Any], retry: int = 0) -> float:
        return self._deliver("events_api", payload, retry)[0]

    def interact(self, payload: dict[str, Any]) -> tuple[float, Any]:
        return self._deliver("interactive", payload)

    def slash(self, command: str, text: str, **kw: Any) -> tuple[float, Any]:
        payload = slash_payload(command, text, **kw)
        payload["trigger_id"] = self.fake.trigger_id()
        return self._deliver("slash_commands", payload)

    def logged(self, text: str, count: int = 1) -> None:
        wait_logged(self.log, text, count, timeout=30)


@pytest.fixture(scope="module", params=["http", "socket"])
def slack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    trained_model_dir: Path,
    sample_csv: Path,
    module_slack_fake: SlackFake,
) -> Iterator[Slack]:
    fake = module_slack_fake
    tmp = tmp_path_factory.mktemp(f"real-slack-{request.param}")
    model_dir, data = copy_served(trained_model_dir, sample_csv, tmp)
    env = {"SEGBOT_ADMINS": ADMIN, "SEGBOT_ANNOUNCE_CHANNEL": ANNOUNCE}
    if request.param == "http":
        bot = start_http_bot(tmp, fake, model_dir, data, **env)
        try:
            bot.wait_ready(warm=True)
            yield Slack("http", fake, model_dir, bot.log, bot=bot)
        finally:
            stop_bot(bot)
        return
    with (
        socket_mode_server(fake) as state,
        socket_bot_running(
            state, tmp, fake, SEGBOT_MODEL_DIR=model_dir, SEGBOT_DATA=data, **env
        ) as log,
    ):
        driver = Slack("socket", fake, model_dir, log, socket=state)
        driver.slash("/segment", "predict age=30")  # warm, as HTTP mode's wait_ready does
        yield driver


@pytest.fixture
def fake(slack: Slack) -> SlackFake:
    slack.fake.reset()
    return slack.fake


@pytest.fixture
def local(slack: Slack) -> Router:
    return Router(SegmentService(make_settings(slack.model_dir)))


def view_of(call: Call) -> dict[str, Any]:
    view = call.params["view"]
    return json.loads(view) if isinstance(view, str) else view


def posted(fake: SlackFake, method: str, **params: Any) -> list[Call]:
    """Calls of `method` Slack accepted whose parameters include `params`."""
    return [
        c
        for c in fake.called(method)
        if c.ok and all(c.params.get(k) == v for k, v in params.items())
    ]


# ---- mentions and DMs ---------------------------------------------------------------------------
def test_a_top_level_mention_is_answered_in_the_channel(
    slack: Slack, fake: SlackFake, local: Router
) -> None:
    slack.event(P.event_callback(P.mention("summary")))
    [sent] = fake.wait_for(lambda: posted(fake, "chat.postMessage", channel=CHANNEL))
    assert not sent.params.get("thread_ts")  # where it was asked, not in a new thread
    assert sent.params["text"] == local.handle("/segments summary").text


def test_a_customer_question_is_answered_where_the_asker_sees_it(
    slack: Slack, fake: SlackFake, local: Router, customer_ids: list[str]
) -> None:
    cid = customer_ids[3]
    name = local.service.lookup(cid).segment.name
    slack.event(P.event_callback(P.mention(f"which segment is customer {cid}?")))
    [seen] = fake.wait_for(lambda: fake.seen_by(USER))
    assert seen.method == "chat.postEphemeral" and seen.params["channel"] == CHANNEL
    assert name in seen.params["text"] and not seen.params.get("thread_ts")

    # Asked inside a thread that has replies: the private answer goes in that thread.
    thread = "1700000000.000100"
    fake.thread_replied(CHANNEL, thread)
    slack.event(P.event_callback(P.mention(f"customer {cid}", thread_ts=thread)))
    seen = fake.wait_for(lambda: fake.seen_by(USER)[1:])
    assert seen[0].params["thread_ts"] == thread and name in seen[0].params["text"]
    assert all(c.shown for c in fake.called("chat.postEphemeral"))
    assert not posted(fake, "chat.postMessage")  # nothing for the whole channel


def test_a_chart_asked_for_by_a_top_level_mention_is_noted_and_shared_in_the_channel(
    slack: Slack, fake: SlackFake
) -> None:
    slack.event(P.event_callback(P.mention("show me the elbow chart")))
    fake.wait_for(lambda: fake.shared_in(CHANNEL))
    [note] = fake.wait_for(lambda: fake.seen_by(USER))  # "working on it", seen by the asker
    assert "elbow" in note.params["text"].lower()
    [done] = posted(fake, "files.completeUploadExternal")
    assert not done.params.get("thread_ts")
    assert list(fake.uploads.values()) == [(slack.model_dir / "v1" / "elbow.png").read_bytes()]


def test_a_dm_is_answered_in_the_dm(slack: Slack, fake: SlackFake, local: Router) -> None:
    slack.event(P.event_callback(P.direct("how many segments are there?")))
    [sent] = fake.wait_for(lambda: posted(fake, "chat.postMessage"))
    assert sent.params["channel"] == "D" + USER
    assert sent.params["text"] == local.handle("/segments summary").text


def test_an_event_is_answered_once_and_a_retry_of_an_unseen_event_is_answered(
    slack: Slack, fake: SlackFake
) -> None:
    first = P.event_callback(P.direct("summary"))
    slack.event(first)
    fake.wait_for(lambda: posted(fake, "chat.postMessage"))
    slack.event(first, retry=1)  # Slack thought the first delivery was lost
    slack.logged("ignored a redelivered direct message")
    # The bot was down when Slack first sent this one: its retry is all there is.
    missed = P.event_callback(P.direct("history"))
    slack.event(missed, retry=2)
    sent = fake.wait_for(lambda: posted(fake, "chat.postMessage")[1:])
    assert len(sent) == 1 and "v1" in sent[0].params["text"]
    assert len(posted(fake, "chat.postMessage")) == 2


# ---- files meant for one person -----------------------------------------------------------------
def test_an_admins_export_reaches_the_admins_dm_and_nothing_is_shared_in_the_channel(
    slack: Slack, fake: SlackFake, local: Router
) -> None:
    seconds, ack = slack.slash(
        "/segments", "export 1", user=ADMIN, response_url=fake.response_url("export")
    )
    assert seconds < 3 and ack["response_type"] == "ephemeral"
    [file_id] = fake.wait_for(lambda: fake.shared_in("D" + ADMIN))
    assert fake.uploads[file_id] == local.service.export("1").csv
    pointer = fake.wait_for(lambda: fake.responses_to("export"))[-1]
    assert pointer["response_type"] == "ephemeral" and "direct message" in pointer["text"]
    assert fake.shared_in(CHANNEL) == []
    assert not posted(fake, "files.completeUploadExternal", channel_id=CHANNEL)


# ---- conversations the bot is not in ------------------------------------------------------------
def test_a_command_and_clicks_in_a_dm_between_two_people_are_answered(
    slack: Slack, fake: SlackFake, local: Router
) -> None:
    # A chart asked for in a DM between two people: the bot cannot share it there, so it
    # goes to the asker's DM with the bot, and the asker is told where.
    slack.slash("/segments", "elbow", channel=PAIR_DM, response_url=fake.response_url("cmd"))
    [chart] = fake.wait_for(lambda: fake.shared_in("D" + USER))
    assert fake.uploads[chart] == (slack.model_dir / "v1" / "elbow.png").read_bytes()
    pointer = fake.wait_for(lambda: fake.responses_to("cmd"))[-1]
    assert "direct message" in pointer["text"] and "/invite" not in pointer["text"]

    # A click on an answer there: through the click's response_url.
    show = P.block_actions(
        "segbot_show", "1", channel=PAIR_DM, response_url=fake.response_url("show")
    )
    slack.interact(show)
    [shown] = fake.wait_for(lambda: fake.responses_to("show"))
    segment = local.service.summary().segments[0]
    assert shown["text"].startswith(f"1. {segment.name}")

    chart_click = P.block_actions(
        "segbot_chart_clusters", "clusters", channel=PAIR_DM, response_url=fake.response_url("cc")
    )
    slack.interact(chart_click)
    fake.wait_for(lambda: fake.shared_in("D" + USER)[1:])
    fake.wait_for(lambda: fake.responses_to("cc"))
    assert fake.shared_in(PAIR_DM) == []
    refused = [c for c in fake.calls if not c.ok and c.method != "files.info"]
    assert all(c.result["error"] == "channel_not_found" for c in refused)


# ---- acknowledgements ------------------------------------------------------------------------
def test_a_shortcut_is_acknowledged_at_once_while_views_open_is_slow(
    slack: Slack, fake: SlackFake
) -> None:
    fake.latency["views.open"] = 2.0
    seconds, _ = slack.interact(P.shortcut("segbot_lookup", trigger_id=fake.trigger_id()))
    assert seconds < 0.8, f"acknowledged after {seconds:.2f} s"
    [opened] = fake.wait_for(lambda: fake.called("views.open"), timeout=10)
    assert opened.ok, opened.result  # opened in time with its trigger_id

    seconds, _ = slack.slash("/segment", "predict", response_url=fake.response_url("p"))
    assert seconds < 0.8, f"acknowledged after {seconds:.2f} s"
    opened = fake.wait_for(lambda: fake.called("views.open")[1:], timeout=10)[0]
    assert opened.ok, opened.result


def test_a_view_that_cannot_open_is_told_to_the_user(slack: Slack, fake: SlackFake) -> None:
    fake.latency["views.open"] = 3.5  # the trigger_id expires on the way
    slack.interact(P.shortcut("segbot_predict", trigger_id=fake.trigger_id()))
    [told] = fake.wait_for(lambda: fake.seen_by(USER), timeout=15)
    assert told.params["channel"] == "D" + USER and "try again" in told.params["text"]
    slack.logged("could not open the prospect modal")


# ---- App Home --------------------------------------------------------------------------------
def test_app_home_publishes_on_the_first_opening_then_shows_the_charts(
    slack: Slack, fake: SlackFake
) -> None:
    slack.event(P.event_callback(P.home_opened(USER)))
    first = fake.wait_for(lambda: posted(fake, "views.publish", user_id=USER))[0]
    assert "Serving *v1*" in json.dumps(view_of(first))
    # The charts are shared into the announcement channel (the viewers can read it);
    # once Slack has processed them, a later opening shows them.
    fake.wait_for(lambda: len(fake.shared_in(ANNOUNCE)) == 3)
    images = home_images(slack, fake)
    assert {b["slack_file"]["id"] for b in images} == set(fake.shared_in(ANNOUNCE))
    assert all(c.ok for c in fake.called("views.publish"))


def test_a_home_tab_slack_refuses_is_published_again_without_images(
    slack: Slack, fake: SlackFake
) -> None:
    """Last in this module: after it, this bot shows no charts for v1 (it does not share
    again what Slack refused)."""
    # Not everyone reads a private channel, so App Home may not show files shared there.
    fake.private.add(ANNOUNCE)
    deadline = time.monotonic() + 15
    while not [c for c in fake.called("views.publish") if not c.ok]:
        assert time.monotonic() < deadline, "Slack never refused a view"
        home_images(slack, fake, within=0)
        time.sleep(0.2)
    calls = fake.called("views.publish")
    refused = next(i for i, c in enumerate(calls) if not c.ok)
    again = fake.wait_for(lambda: fake.called("views.publish")[refused + 1 :])[0]
    assert calls[refused].result["error"] == "invalid_blocks" and again.ok
    view = view_of(again)
    assert not [b for b in view["blocks"] if b["type"] == "image"]
    assert "segbot_chart_elbow" in json.dumps(view)  # buttons: the charts to the viewer's DM
    slack.logged("published without them")


def home_images(slack: Slack, fake: SlackFake, within: float = 15) -> list[dict[str, Any]]:
    """Open the Home tab until it shows images (or `within` seconds pass); the images."""
    deadline = time.monotonic() + within
    while True:
        before = len(posted(fake, "views.publish", user_id=USER))
        slack.event(P.event_callback(P.home_opened(USER)))
        fake.wait_for(lambda b=before: len(posted(fake, "views.publish", user_id=USER)) > b)
        view = view_of(posted(fake, "views.publish", user_id=USER)[-1])
        images = [b for b in view["blocks"] if b["type"] == "image"]
        if images or time.monotonic() > deadline:
            return images
        time.sleep(0.2)
