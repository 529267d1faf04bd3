"""A local fake of the parts of Slack the bot talks to, on 127.0.0.1 only.

- Web API under `/api/<method>` (form or JSON bodies, bearer tokens checked):
  auth.test, chat.postMessage, chat.update, chat.postEphemeral (with thread_ts),
  conversations.join, conversations.open (a DM "D" + user id), views.open,
  views.update, views.publish, files.getUploadURLExternal -> an upload URL on this
  server -> files.completeUploadExternal, files.info, apps.connections.open (answers
  with `socket_url`).
- `/upload/<file id>`: receives the raw file bytes, as Slack's upload URLs do.
- `/response/<name>`: a `response_url` sink that records the JSON posted to it
  (and answers 500 when the name starts with "broken").

It refuses what Slack refuses (docs/interface.md §7), so a bot that only works
against a lenient fake fails here:
- Membership: the bot is in every channel except those in `outside` (public ones
  answer `not_in_channel`, and `conversations.join` fixes that; those also in `private`
  cannot be joined). Of direct messages it is in its own only: "D" + a user id
  ("DU…", what conversations.open answers); any other "D…" is a DM between people:
  `channel_not_found`, for messages, ephemerals and files alike.
- An ephemeral message with a `thread_ts` is shown only if that thread has replies
  (the bot's, or a person's: `thread_replied`); otherwise Slack answers ok and shows
  nothing, recorded as `Call.shown = False`.
- Files are processed `file_processing` seconds after completeUploadExternal
  (files.info's `mimetype` is empty until then). A block may show a file
  (`slack_file`) only once it is processed and shared where the reader can see it:
  a public channel for everyone (App Home), else `invalid_blocks`. A file shared in
  no channel is the uploader's alone.
- Views are validated by slack_sdk's models (title length, 1-100 blocks, ...); a
  `trigger_id` must come from `trigger_id()` and is good for 3 s, once.
- A response_url takes 5 posts.
- `latency[method] = seconds` makes every call of a method that slow; `fail(method,
  ...)` makes the next calls fail with a given HTTP status, for retry tests.
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
    shown: bool = True  # False: Slack took it (ok) but nobody sees it

    @property
    def ok(self) -> bool:
        return bool(self.result.get("ok"))


TRIGGER_TTL = 3.0  # seconds a trigger_id can open a view
RESPONSE_URL_POSTS = 5
PROCESSING = 0.5  # seconds until an uploaded file can be shown in blocks


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
        self.latency: dict[str, float] = {}
        self.file_processing = PROCESSING
        self.files: dict[str, dict[str, Any]] = {}  # id -> completed: title, shared in, when
        self._threads: set[tuple[str, str]] = set()  # (channel, ts) with replies
        self._triggers: dict[str, float] = {}  # trigger id -> issued (monotonic); used: -1
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
            self.latency.clear()
            self.file_processing = PROCESSING
            self.files.clear()
            self._threads.clear()
            self._triggers.clear()
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

    def trigger_id(self) -> str:
        """A trigger_id as Slack puts in a click, shortcut or slash command: good for
        TRIGGER_TTL seconds and one view."""
        trigger = f"{next(self._ids)}.{int(time.time())}.fake"
        with self._changed:
            self._triggers[trigger] = time.monotonic()
        return trigger

    def thread_replied(self, channel: str, ts: str) -> None:
        """A person replied in the thread of `ts` (a mention inside a thread is one)."""
        with self._changed:
            self._threads.add((channel, ts))

    def shared_in(self, channel: str) -> list[str]:
        """Ids of the files shared into `channel`, in order."""
        with self._changed:
            return [i for i, f in self.files.items() if channel in f["channels"]]

    def seen_by(self, user: str) -> list[Call]:
        """What `user` can see that the bot sent privately or in their DM with it: shown
        ephemerals to them, and messages in their DM."""
        with self._changed:
            return [
                c
                for c in self.calls
                if c.ok
                and c.shown
                and (
                    (c.method == "chat.postEphemeral" and c.params.get("user") == user)
                    or (c.method == "chat.postMessage" and c.params.get("channel") == "D" + user)
                )
            ]

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
        if channel.startswith("D"):  # only its own DMs: "D" + a user id
            return channel[1:2] == "U"
        return channel not in self.outside

    def _not_member(self, channel: str) -> dict[str, Any] | None:
        """Slack's answer when the bot cannot post in `channel`, else None."""
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if self._member(channel):
            return None
        hidden = channel.startswith("D") or channel in self.private
        return {"ok": False, "error": "channel_not_found" if hidden else "not_in_channel"}

    def _public(self, channel: str) -> bool:
        return channel[:1] == "C" and channel not in self.private

    def _can_see(self, file_id: str, reader: str | None) -> bool:
        """A block may show this file to `reader` (None: whoever reads the channel the
        message goes to, which must be a channel the file is shared in)."""
        f = self.files.get(file_id)
        if f is None or time.monotonic() < f["processed_at"]:
            return False
        if reader is None:
            return bool(f["channels"])
        return any(self._public(c) or c == "D" + reader for c in f["channels"])

    def _bad_files(self, blocks: Any, reader: str | None) -> list[str]:
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return []
        bad = []
        for i, block in enumerate(blocks or []):
            ref = block.get("slack_file") if isinstance(block, dict) else None
            if ref and not self._can_see(str(ref.get("id", "")), reader):
                bad.append(f"invalid slack file [json-pointer:/blocks/{i}/slack_file]")
        return bad

    def _invalid_blocks(self, errors: list[str]) -> dict[str, Any]:
        return {"ok": False, "error": "invalid_blocks", "errors": errors}

    def api(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        wait = self.latency.get(method, 0.0)
        if wait:
            time.sleep(wait)
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
        refused = self._not_member(channel)
        if refused is not None:
            return refused
        bad = self._bad_files(p.get("blocks"), None)
        if bad:
            return self._invalid_blocks(bad)
        if p.get("thread_ts"):
            self._threads.add((channel, str(p["thread_ts"])))
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
        refused = self._not_member(str(p["channel"]))
        if refused is not None:
            return refused
        bad = self._bad_files(p.get("blocks"), str(p["user"]))
        if bad:
            return self._invalid_blocks(bad)
        return {"ok": True, "message_ts": self._ts()}

    def _shown(self, method: str, params: dict[str, Any]) -> bool:
        """Slack answers ok to an ephemeral in a thread without replies, and shows nothing."""
        if method != "chat.postEphemeral" or not params.get("thread_ts"):
            return True
        return (str(params.get("channel")), str(params["thread_ts"])) in self._threads

    def _conversations_open(self, p: dict[str, Any]) -> dict[str, Any]:
        users = str(p.get("users", ""))
        if not users or "," in users:
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "channel": {"id": "D" + users}}

    def _view(self, p: dict[str, Any]) -> dict[str, Any] | None:
        """The view if slack_sdk's models accept it, as Slack checks it."""
        from slack_sdk.errors import SlackObjectFormationError
        from slack_sdk.models.views import View

        view = p.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            return None
        if not isinstance(view.get("blocks"), list):
            return None
        try:
            View(**view).validate_json()
        except (SlackObjectFormationError, TypeError, KeyError):
            return None
        return view

    def _trigger(self, trigger: str) -> str | None:
        """Why a trigger_id cannot open a view now, or None; uses it up."""
        issued = self._triggers.get(trigger)
        if issued is None:
            return "invalid_trigger_id"
        if issued < 0:
            return "exchanged_trigger_id"
        if time.monotonic() - issued > TRIGGER_TTL:
            return "expired_trigger_id"
        self._triggers[trigger] = -1.0
        return None

    def _views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        view = self._view(p)
        if view is None or not p.get("trigger_id"):
            return {"ok": False, "error": "invalid_arguments"}
        refused = self._trigger(str(p["trigger_id"]))
        if refused is not None:
            return {"ok": False, "error": refused}
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
        bad = self._bad_files(view["blocks"], str(p["user_id"]))
        if bad:
            return self._invalid_blocks(bad)
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
        if channel:
            refused = self._not_member(channel)
            if refused is not None:
                return refused
            if p.get("thread_ts"):
                self._threads.add((channel, str(p["thread_ts"])))
        ready = time.monotonic() + self.file_processing
        for f in files:  # processed later; the answer has no mimetype yet
            self.files[f["id"]] = {
                "title": f.get("title"),
                "channels": [channel] if channel else [],
                "processed_at": ready,
            }
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    def _files_info(self, p: dict[str, Any]) -> dict[str, Any]:
        f = self.files.get(str(p.get("file", "")))
        if f is None:
            return {"ok": False, "error": "file_not_found"}
        processed = time.monotonic() >= f["processed_at"]
        channels = list(f["channels"])
        return {
            "ok": True,
            "file": {
                "id": p["file"],
                "title": f["title"],
                "mimetype": "image/png" if processed else "",
                "channels": [c for c in channels if c[:1] == "C"],
                "ims": [c for c in channels if c[:1] == "D"],
                "is_public": any(self._public(c) for c in channels),
            },
        }

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
                        used = sum(1 for sink, _ in fake.responses if sink == name)
                        if used >= RESPONSE_URL_POSTS:
                            self._reply(404, b"used_url", "text/plain")
                            return
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
                shown = body.get("ok") is True and fake._shown(method, params)
                fake._record(Call(method, params, token, body, shown=shown))
                self._reply(status, json.dumps(body).encode(), headers=headers)

        return Handler
