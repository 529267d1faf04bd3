"""Mentions, DMs, clicks, modals and shortcuts in Socket Mode: the same payloads as over
HTTP, as envelopes through the loopback websocket server of tests/test_socket_mode.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.service import SegmentService
from tests import slack_payloads as P
from tests.conftest import (
    ADMIN,
    CHANNEL,
    USER,
    make_settings,
    wait_logged,
)
from tests.slack_fake import SlackFake
from tests.test_socket_mode import SocketModeServer, socket_bot_running, socket_mode_server


@pytest.fixture
def socket_bot(
    tmp_path: Path, model_dir: Path, slack_fake: SlackFake
) -> Iterator[tuple[SocketModeServer, Path]]:
    with (
        socket_mode_server(slack_fake) as state,
        socket_bot_running(
            state, tmp_path, slack_fake, SEGBOT_MODEL_DIR=model_dir, SEGBOT_ADMINS=ADMIN
        ) as log,
    ):
        yield state, log


def test_every_surface_over_socket_mode(
    socket_bot: tuple[SocketModeServer, Path],
    slack_fake: SlackFake,
    model_dir: Path,
    customer_ids: list[str],
) -> None:
    (state, log), fake = socket_bot, slack_fake
    service = SegmentService(make_settings(model_dir))
    cid = customer_ids[5]

    # A mention (its first delivery: retry_attempt 0): acknowledged, then answered
    # ephemerally where it was said, which is where the asker sees it.
    payload = P.event_callback(P.mention(f"which segment is customer {cid}?"))
    state.outgoing.put(P.envelope("events_api", payload, "ev-1"))
    assert state.ack_for("ev-1")["envelope_id"] == "ev-1"
    [sent] = fake.wait_for(lambda: fake.called("chat.postEphemeral"))
    assert sent.shown and sent.params["user"] == USER and not sent.params.get("thread_ts")
    assert service.lookup(cid).segment.name in sent.params["text"]

    # The same event redelivered (Socket Mode's retry_attempt): not answered again.
    state.outgoing.put(
        P.envelope("events_api", payload, "ev-2", retry_attempt=1, retry_reason="timeout")
    )
    state.ack_for("ev-2")
    wait_logged(log, "ignored a redelivered mention")
    # The bot's own DM answer arriving as an event: ignored; a DM from a person after it
    # is answered, and is the only message posted.
    own = P.event_callback(P.direct("summary", user=P.BOT_USER, bot_id=P.BOT_ID))
    state.outgoing.put(P.envelope("events_api", own, "ev-3"))
    state.ack_for("ev-3")

    # A click: answered through the response_url, with the clicker's rights.
    click = P.block_actions("segbot_export", "1", response_url=fake.response_url("click"))
    state.outgoing.put(P.envelope("interactive", click, "ia-1"))
    state.ack_for("ia-1")
    [refused] = fake.wait_for(lambda: fake.responses_to("click"))
    assert "only segbot admins" in refused["text"]
    show = P.block_actions("segbot_show", "2", ephemeral=True, response_url=fake.response_url("s"))
    state.outgoing.put(P.envelope("interactive", show, "ia-2"))
    state.ack_for("ia-2")
    [shown] = fake.wait_for(lambda: fake.responses_to("s"))
    segment = next(s for s in service.summary().segments if s.id == 2)
    assert shown["response_type"] == "ephemeral"
    assert shown["text"].startswith(f"2. {segment.name}")

    # A shortcut opens its modal; a bad submission is answered in the modal itself.
    shortcut = P.shortcut("segbot_lookup", trigger_id=fake.trigger_id())
    state.outgoing.put(P.envelope("interactive", shortcut, "ia-3"))
    state.ack_for("ia-3")
    [opened] = fake.wait_for(lambda: fake.called("views.open"))
    assert opened.ok, opened.result
    view = opened.params["view"]
    assert (json.loads(view) if isinstance(view, str) else view)["callback_id"] == "segbot_lookup"
    bad = P.view_submission("segbot_lookup", {"customer": {"id": {"value": "nobody"}}})
    state.outgoing.put(P.envelope("interactive", bad, "ia-4"))
    ack = state.ack_for("ia-4")
    assert ack["payload"]["response_action"] == "errors"
    assert ack["payload"]["errors"]["customer"].startswith("No customer with id 'nobody'")

    # A DM: a normal message in the DM.
    state.outgoing.put(P.envelope("events_api", P.event_callback(P.direct("summary")), "ev-4"))
    state.ack_for("ev-4")
    [dm] = fake.wait_for(lambda: fake.called("chat.postMessage"))
    assert dm.params["channel"] == "D" + USER and "customer segments" in dm.params["text"]
    assert CHANNEL not in [c.params.get("channel") for c in fake.called("chat.postMessage")]
    assert len(fake.called("chat.postEphemeral")) == 1
