"""Socket Mode for real on loopback: `segbot serve --socket` asks the Slack fake's
`apps.connections.open` for a URL, connects to a websocket server in this test,
and acknowledges the envelopes it is sent."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from bot.router import Router
from model.service import SegmentService
from tests.conftest import (
    APP_TOKEN,
    BOT_TOKEN,
    CHANNEL,
    make_settings,
    segbot_command,
    segbot_env,
    slash_payload,
)
from tests.slack_fake import SlackFake


@dataclass
class SocketModeServer:
    """Plays Slack's side of one Socket Mode connection."""

    outgoing: queue.Queue = field(default_factory=queue.Queue)
    received: list[dict[str, Any]] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)
    paths: list[str] = field(default_factory=list)

    def handler(self, ws: ServerConnection) -> None:
        self.paths.append(ws.request.path if ws.request else "")
        ws.send(
            json.dumps(
                {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0SEGBOT"}}
            )
        )
        self.connected.set()
        reader = threading.Thread(target=self._read, args=(ws,), daemon=True)
        reader.start()
        while True:
            envelope = self.outgoing.get()
            if envelope is None:
                return
            ws.send(json.dumps(envelope))

    def _read(self, ws: ServerConnection) -> None:
        try:
            for message in ws:
                with self.changed:
                    self.received.append(json.loads(message))
                    self.changed.notify_all()
        except ConnectionClosed:  # the bot going away is not this test's concern
            pass

    def ack_for(self, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
        with self.changed:
            found = self.changed.wait_for(
                lambda: [m for m in self.received if m.get("envelope_id") == envelope_id],
                timeout=timeout,
            )
        assert found, f"no acknowledgement for {envelope_id}; got {self.received}"
        return found[0]


def slash_envelope(envelope_id: str, command: str, text: str, response_url: str) -> dict:
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": slash_payload(command, text, response_url=response_url),
    }


@contextmanager
def socket_mode_server(fake: SlackFake, path: str = "/link") -> Iterator[SocketModeServer]:
    """A Socket Mode server on a free loopback port, whose URL (ending in `path`) the
    Slack fake's `apps.connections.open` hands out."""
    state = SocketModeServer()
    server = serve(state.handler, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake.socket_url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}{path}"
    try:
        yield state
    finally:
        state.outgoing.put(None)
        server.shutdown()


@contextmanager
def socket_bot_running(
    state: SocketModeServer,
    tmp_path: Path,
    fake: SlackFake,
    args: tuple[str, ...] = ("serve", "--socket"),
    **env: Any,
) -> Iterator[Path]:
    """`segbot <args>` in Socket Mode against `fake`, connected to `state`'s websocket
    server; yields its log. Stopped with SIGTERM afterwards: it must exit 0, and log
    no traceback."""
    env = segbot_env(
        SLACK_APP_TOKEN=APP_TOKEN, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=fake.api_url, **env
    )
    log = tmp_path / "socket.log"
    proc = subprocess.Popen(
        [*segbot_command(), *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    try:
        assert state.connected.wait(30), log.read_text()
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        finally:
            proc.kill()
    assert proc.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()


@pytest.fixture
def socket_server(slack_fake: SlackFake) -> Iterator[SocketModeServer]:
    with socket_mode_server(slack_fake, "/link/?ticket=t1") as state:
        yield state


def test_socket_mode_acknowledges_envelopes_and_answers(
    tmp_path: Path, model_dir: Path, slack_fake: SlackFake, socket_server, customer_ids
) -> None:
    state = socket_server
    with socket_bot_running(
        state, tmp_path, slack_fake, ("-v", "serve"), SEGBOT_MODEL_DIR=model_dir
    ) as log:
        # SLACK_API_URL reached the Socket Mode client: the URL came from the fake.
        [opened] = slack_fake.called("apps.connections.open")
        assert opened.token == APP_TOKEN
        assert state.paths == ["/link/?ticket=t1"]

        local = Router(SegmentService(make_settings(model_dir)))
        state.outgoing.put(
            slash_envelope("env-1", "/segments", "summary", slack_fake.response_url("s1"))
        )
        ack = state.ack_for("env-1")
        assert ack["payload"]["response_type"] == "in_channel"
        assert ack["payload"]["text"] == local.handle("/segments summary").text

        cid = customer_ids[0]
        state.outgoing.put(slash_envelope("env-2", "/segment", cid, slack_fake.response_url("s2")))
        ack = state.ack_for("env-2")
        assert ack["payload"]["response_type"] == "ephemeral"
        assert local.handle(f"/segment {cid}").data["segment"]["name"] in ack["payload"]["text"]

        state.outgoing.put(
            slash_envelope("env-3", "/segments", "profiles", slack_fake.response_url("s3"))
        )
        ack = state.ack_for("env-3")
        assert ack["payload"]["response_type"] == "ephemeral"
        [done] = slack_fake.wait_for(lambda: slack_fake.called("files.completeUploadExternal"))
        assert done.params["channel_id"] == CHANNEL
        [png] = slack_fake.uploads.values()
        assert png == (model_dir / "v1" / "profiles.png").read_bytes()
    text = log.read_text()
    assert "connected to Slack in Socket Mode" in text
    assert APP_TOKEN not in text and BOT_TOKEN not in text
