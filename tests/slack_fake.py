"""A local fake of the parts of Slack the bot talks to, on 127.0.0.1 only.

- Web API under `/api/<method>` (form or JSON bodies, bearer tokens checked):
  auth.test, chat.postMessage, chat.update, chat.postEphemeral (with thread_ts),
  conversations.join, conversations.open (a DM "D" + user id), views.open,
  views.update, views.publish (checked: a view needs a type and blocks),
  files.getUploadURLExternal -> an upload URL on this server -> files.completeUploadExternal,
  apps.connections.open (answers with `socket_url`).
- `/upload/<file id>`: receives the raw file bytes, as Slack's upload URLs do.
- `/response/<name>`: a `response_url` sink that records the JSON posted to it
  (and answers 500 when the name starts with "broken").

Channel membership: the bot is in every channel except those in `outside`; of
those, channels in `private` cannot be joined. `fail(method, ...)` makes the next
calls of a method fail with a given HTTP status, for retry tests.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None
    result: dict[str, Any] = field(default_factory=dict)  # what the fake answered
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Failure:
    times: int
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class SlackFake:
    def __init__(self, bot_token: str = "xoxb-fake-bot-token", app_token: str = "xapp-fake"):
        self.bot_token = bot_token
        self.app_token = app_token
        self.socket_url: str | None = None
        self.calls: list[Call] = []
        self.uploads: dict[str, bytes] = {}  # file id -> bytes received at its upload URL
        self.responses: list[tuple[str, dict[str, Any]]] = []  # (sink name, body)
        self.outside: set[str] = set()
        self.private: set[str] = set()
        self._failures: dict[str, _Failure] = {}
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> SlackFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.url}/response/{name}"

    # ---- test controls -------------------------------------------------------------------
    def reset(self) -> None:
        with self._changed:
            self.calls.clear()
            self.uploads.clear()
            self.responses.clear()
            self.outside.clear()
            self.private.clear()
            self._failures.clear()

    def fail(
        self,
        method: str,
        *,
        times: int = 1,
        status: int = 500,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._failures[method] = _Failure(
            times, status, body or {"ok": False, "error": "fatal"}, headers or {}
        )

    def called(self, method: str) -> list[Call]:
        with self._changed:
            return [c for c in self.calls if c.method == method]

    def responses_to(self, name: str) -> list[dict[str, Any]]:
        with self._changed:
            return [body for sink, body in self.responses if sink == name]

    def wait_for(self, predicate, timeout: float = 10.0):
        """Block until `predicate()` is truthy (re-checked on every request); return it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out after {timeout}s; calls: {[c.method for c in self.calls]}"
                    )
                self._changed.wait(left)

    # ---- Web API -------------------------------------------------------------------------
    def _record(self, call: Call) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._ids):06d}"

    def _member(self, channel: str) -> bool:
        return channel not in self.outside

    def api(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        failure = self._failures.get(method)
        if failure is not None and failure.times > 0:
            failure.times -= 1
            return failure.status, failure.body, failure.headers
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != expected:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        return 200, handler(params), {}

    def _auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.test/",
            "team": "Fake",
            "user": "segbot",
            "team_id": "T0FAKE",
            "user_id": "U0BOT",
            "bot_id": "B0BOT",
        }

    def _apps_connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        if not self.socket_url:
            return {"ok": False, "error": "socket_url_not_set"}
        return {"ok": True, "url": self.socket_url}

    def _chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = p.get("channel", "")
        if not self._member(channel):
            return {"ok": False, "error": "not_in_channel"}
        ts = self._ts()
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "message": {"text": p.get("text"), "ts": ts},
        }

    def _chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": p.get("channel"), "ts": p.get("ts"), "text": p.get("text")}

    def _chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("channel") or not p.get("user"):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "message_ts": self._ts()}

    def _conversations_open(self, p: dict[str, Any]) -> dict[str, Any]:
        users = str(p.get("users", ""))
        if not users or "," in users:
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "channel": {"id": "D" + users}}

    def _view(self, p: dict[str, Any]) -> dict[str, Any] | None:
        view = p.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            return None
        if not isinstance(view.get("blocks"), list) or len(view["blocks"]) > 100:
            return None
        return view

    def _views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        view = self._view(p)
        if view is None or not p.get("trigger_id"):
            return {"ok": False, "error": "invalid_arguments"}
        if str(p["trigger_id"]).startswith("expired"):
            return {"ok": False, "error": "expired_trigger_id"}
        return {"ok": True, "view": {**view, "id": f"V{next(self._ids):08d}"}}

    def _views_update(self, p: dict[str, Any]) -> dict[str, Any]:
        view = self._view(p)
        if view is None or not (p.get("view_id") or p.get("external_id")):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "view": {**view, "id": p.get("view_id")}}

    def _views_publish(self, p: dict[str, Any]) -> dict[str, Any]:
        view = self._view(p)
        if view is None or view["type"] != "home" or not p.get("user_id"):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "view": {**view, "id": f"V{next(self._ids):08d}"}}

    def _conversations_join(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = p.get("channel", "")
        if channel in self.private:
            return {"ok": False, "error": "method_not_supported_for_channel_type"}
        self.outside.discard(channel)
        return {"ok": True, "channel": {"id": channel, "is_member": True}}

    def _files_getUploadURLExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("filename") or not str(p.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ids):08d}"
        return {"ok": True, "file_id": file_id, "upload_url": f"{self.url}/upload/{file_id}"}

    def _files_completeUploadExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        files = json.loads(p.get("files", "[]"))
        if any(f["id"] not in self.uploads for f in files):
            return {"ok": False, "error": "file_not_found"}
        channel = p.get("channel_id")
        if channel and not self._member(channel):
            return {"ok": False, "error": "not_in_channel"}
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    # ---- HTTP plumbing -------------------------------------------------------------------
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _reply(
                self,
                status: int,
                body: bytes,
                ctype: str = "application/json",
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urlparse(self.path).path
                if path.startswith("/upload/"):
                    file_id = path.rsplit("/", 1)[1]
                    with fake._changed:
                        fake.uploads[file_id] = raw
                        fake._changed.notify_all()
                    self._reply(200, f"OK - {len(raw)}".encode(), "text/plain")
                    return
                if path.startswith("/response/"):
                    name = path.rsplit("/", 1)[1]
                    with fake._changed:
                        fake.responses.append((name, json.loads(raw or b"{}")))
                        fake._changed.notify_all()
                    if name.startswith("broken"):  # an expired or failing response_url
                        self._reply(500, b"internal_error", "text/plain")
                    else:
                        self._reply(200, b"ok", "text/plain")
                    return
                if not path.startswith("/api/"):
                    self._reply(404, b'{"ok":false,"error":"not_found"}')
                    return
                method = path[len("/api/") :]
                ctype = self.headers.get("Content-Type", "")
                if "json" in ctype:
                    params = json.loads(raw or b"{}")
                else:
                    params = dict(parse_qsl(raw.decode(), keep_blank_values=True))
                    params.update(parse_qsl(urlparse(self.path).query))
                auth = self.headers.get("Authorization", "")
                token = (
                    auth.removeprefix("Bearer ")
                    if auth.startswith("Bearer ")
                    else (params.get("token"))
                )
                status, body, headers = fake.api(method, params, token)
                fake._record(Call(method, params, token, body))
                self._reply(status, json.dumps(body).encode(), headers=headers)

        return Handler
