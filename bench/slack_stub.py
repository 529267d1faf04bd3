"""A dummy Slack on 127.0.0.1 for benchmarks: every Web API method answers ok, and
`/response/<name>` is a response_url that accepts anything.

`segbot serve --http` calls auth.test once at start-up (Bolt checks the token);
point SLACK_API_URL at `SlackStub().start().api_url` and it gets a valid answer
without leaving the machine. Only counts are kept (posts per Web API method and to
response_urls, read with `GET /stats`): this is for timing, not tests (the test
suite's richer fake is tests/slack_fake.py).

Run it as its own process, so answering the servers under test costs them no CPU
time in their own interpreter or the benchmark's:

    python bench/slack_stub.py        # prints its base URL, serves until killed
"""

from __future__ import annotations

import json
import threading
from collections import Counter
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
    counts: Counter  # set per server in SlackStub
    lock: threading.Lock

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        parts = self.path.strip("/").split("/")
        key = "response_url" if parts[0] == "response" else parts[-1]
        with self.lock:
            self.counts[key] += 1
        self._json(AUTH_TEST if key == "auth.test" else {"ok": True})

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/stats":
            with self.lock:
                self._json(dict(self.counts))
            return
        self.do_POST()

    def _json(self, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        pass


class SlackStub:
    def __init__(self) -> None:
        handler = type("Handler", (_Handler,), {"counts": Counter(), "lock": threading.Lock()})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

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


if __name__ == "__main__":
    stub = SlackStub()
    print(stub.url, flush=True)
    stub._server.serve_forever()  # until terminated
