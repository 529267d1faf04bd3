"""A dummy Slack Web API on 127.0.0.1 for benchmarks: every method answers ok.

`segbot serve --http` calls auth.test once at start-up (Bolt checks the token);
point SLACK_API_URL at `SlackStub().start().api_url` and it gets a valid answer
without leaving the machine. Nothing is recorded: this is for timing, not tests
(the test suite's richer fake is tests/slack_fake.py).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AUTH_TEST = {
    "ok": True,
    "url": "https://bench.slack.invalid/",
    "team": "bench",
    "user": "segbot",
    "team_id": "T0BENCH",
    "user_id": "U0BENCH",
    "bot_id": "B0BENCH",
    "is_enterprise_install": False,
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        method = self.path.rstrip("/").rsplit("/", 1)[-1]
        body = json.dumps(AUTH_TEST if method == "auth.test" else {"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, format: str, *args) -> None:
        pass


class SlackStub:
    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    def start(self) -> SlackStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SlackStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
