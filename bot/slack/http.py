"""HTTP mode: an ASGI app for uvicorn with `POST /slack/events` and `GET /healthz`.

Slack requests go to Bolt's own ASGI adapter, which checks signatures and
timestamps. Its stock `dispatch` runs the synchronous Bolt app on the event
loop, which would serialise every request; here it runs on a bounded thread
pool instead, so a slow request never blocks `/healthz` or other lookups.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.asgi import SlackRequestHandler
from slack_bolt.adapter.asgi.http_request import AsgiHttpRequest

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
MAX_BODY = 256 * 1024  # slash commands and events are a few KB; refuse anything absurd
REQUEST_THREADS = 16

Health = Callable[[], tuple[int, dict[str, Any]]]


class _ThreadedSlackHandler(SlackRequestHandler):
    def __init__(self, app: App, executor: ThreadPoolExecutor):
        super().__init__(app, path=EVENTS_PATH)
        self._executor = executor

    async def dispatch(self, request: AsgiHttpRequest) -> BoltResponse:
        try:
            headers = request.get_headers()
        except UnicodeDecodeError:  # Bolt decodes headers as UTF-8 and would fail with a 500
            headers = None
        if headers is None or not _well_formed(headers):
            # slack_sdk's verifier raises on these too (int("soon"), compare_digest("é")):
            # a 500 and a trace for requests that are simply not from Slack.
            log.info("refused a request with malformed headers")
            return BoltResponse(status=401, body='{"error": "invalid request"}')
        body = bytearray()
        while True:
            chunk = await request.receive()
            if chunk["type"] != "http.request":  # the client went away
                return BoltResponse(status=400, body="")
            body.extend(chunk.get("body", b""))
            if len(body) > MAX_BODY:
                return BoltResponse(status=413, body="request too large")
            if not chunk.get("more_body", False):
                break
        bolt_request = BoltRequest(
            body=body.decode("utf-8", errors="replace"),
            query=request.query_string,
            headers=headers,
        )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.app.dispatch, bolt_request)


def _well_formed(headers: dict[str, Any]) -> bool:
    """The signature headers, when present, are what Slack sends: a timestamp of digits
    and an ASCII signature. (Missing ones are Bolt's to refuse.)"""
    stamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if stamp is not None and not (
        isinstance(stamp, str) and stamp.isascii() and stamp.isdigit() and len(stamp) <= 12
    ):
        return False
    return signature is None or (isinstance(signature, str) and signature.isascii())


class SegbotASGI:
    """`/healthz` answered here; everything else goes to Bolt (404 for unknown paths)."""

    def __init__(self, app: App, health: Health, threads: int = REQUEST_THREADS):
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="segbot-http")
        self.slack = _ThreadedSlackHandler(app, self.executor)
        self.health = health

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["path"] == HEALTH_PATH:
            await self._health(scope, send)
            return
        if scope["type"] == "websocket":  # nothing here speaks websocket; refuse politely
            await send({"type": "websocket.close", "code": 1003})
            return
        await self.slack(scope, receive, send)

    async def _health(self, scope: dict[str, Any], send: Callable) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            status, payload = 405, {"status": "method not allowed"}
        else:
            status, payload = self.health()
        body = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        head = scope["method"] == "HEAD"
        await send({"type": "http.response.body", "body": b"" if head else body})
