"""Lookup latency over HTTP on loopback: signed `/segment customer <id>` requests (and
button clicks: signed `block_actions` for "Show segment") from concurrent keep-alive
clients against `segbot serve --http`, beside a minimal Bolt app on the same server stack
that answers a constant (and acknowledges the click).

    python bench/bench_http.py --rows 100000            # 20 clients, 20 s each side, per case
    python bench/bench_http.py --rows 1000000 --clients 20 --seconds 30 --json out.json
    python bench/bench_http.py --cases click --seconds 10 --rounds 2

Each case alternates between the two servers (both started first) in --rounds slices
of --seconds / --rounds, so load from elsewhere on a shared machine hits both alike.

What is timed is what the clients see: request sent -> HTTP response read.

- lookup: segbot answers in the acknowledgement itself (the Block Kit answer); the
  minimal app acknowledges with a constant ephemeral text.
- click: both acknowledge at once with an empty 200, then post one answer to the
  click's response_url from a small thread pool (segbot: plan the command, look it up,
  render, post; the minimal app: a constant text). Posting happens off the measured
  path but in the same process, so its CPU competes with the requests, as in
  production; the answers counted at the stub are reported beside the latencies.

Everything runs on 127.0.0.1: the data is synthetic (model.data.sample), the model is trained
here, and Slack (Web API and response_urls) is bench/slack_stub.py in its own process,
so answering the servers costs neither them nor the load generator any CPU time.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BOT_TOKEN = "xoxb-bench-token"
SECRET = "bench-signing-secret"


# ---- the minimal baseline app: same ASGI wrapper and uvicorn settings, constant answer ----
def serve_baseline(port: int) -> None:
    import logging
    from concurrent.futures import ThreadPoolExecutor

    import uvicorn
    from slack_bolt import App

    from bot.settings import BotSettings
    from bot.slack.app import web_client
    from bot.slack.http import SegbotASGI

    settings = BotSettings(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=os.environ["SLACK_API_URL"])
    app = App(
        client=web_client(settings),
        signing_secret=SECRET,
        process_before_response=True,
        logger=logging.getLogger("baseline"),
    )

    @app.command("/segment")
    def constant(ack) -> None:
        ack(text="ok", response_type="ephemeral")

    posts = ThreadPoolExecutor(max_workers=4)  # segbot posts its answers from 4 threads

    @app.action("segbot_show")
    def clicked(ack, respond) -> None:
        ack()
        posts.submit(respond, text="ok", response_type="ephemeral", replace_original=False)

    asgi = SegbotASGI(app, lambda: (200, {"status": "ok", "version": "baseline"}))
    uvicorn.run(
        asgi, host="127.0.0.1", port=port, log_config=None, access_log=False, timeout_keep_alive=30
    )


# ---- load generation --------------------------------------------------------------------
def signed(command: str, text: str) -> tuple[bytes, dict[str, str]]:
    body = urlencode(
        {
            "team_id": "T0BENCH",
            "channel_id": "C0BENCH",
            "user_id": "U0BENCH",
            "command": command,
            "text": text,
            "response_url": "http://127.0.0.1:9/none",
            "trigger_id": "1.2.3",
            "api_app_id": "A0BENCH",
        }
    )
    ts = str(int(time.time()))
    sig = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return body.encode(), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={sig}",
    }


def signed_click(segment: str, response_url: str) -> tuple[bytes, dict[str, str]]:
    """A click on "Show segment" in an ephemeral answer, as Slack posts it."""
    payload = {
        "type": "block_actions",
        "user": {"id": "U0BENCH", "team_id": "T0BENCH"},
        "api_app_id": "A0BENCH",
        "team": {"id": "T0BENCH"},
        "trigger_id": "1.2.3",
        "container": {"type": "message", "channel_id": "C0BENCH", "is_ephemeral": True},
        "channel": {"id": "C0BENCH"},
        "response_url": response_url,
        "actions": [{"action_id": "segbot_show", "type": "button", "value": segment}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    ts = str(int(time.time()))
    sig = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return body.encode(), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={sig}",
    }


def click_maker(segments: list[str], response_url: str):
    return lambda rng: signed_click(rng.choice(segments), response_url)


def _key(server: str, case: str) -> str:
    """Results by server, the lookup under the plain name (as bench/run.py reads it)."""
    return server if case == "lookup" else f"{server} ({case})"


def load(
    port: int,
    ids: list[str],
    clients: int,
    seconds: float,
    expect: str,
    make=None,
) -> dict:
    """`make(rng)` -> (body, headers) of one request; a lookup of a random id by default."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(clients)
    stop_at = [0.0]

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, bad = [], []
        start_gate.wait()
        while time.perf_counter() < stop_at[0]:
            body, headers = make(rng) if make else signed("/segment", f"customer {rng.choice(ids)}")
            t = time.perf_counter()
            try:
                conn.request("POST", "/slack/events", body=body, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
                took = time.perf_counter() - t
                if resp.status != 200 or expect.encode() not in payload:
                    bad.append(f"{resp.status}: {payload[:120]!r}")
                else:
                    mine.append(took)
            except (OSError, http.client.HTTPException) as exc:
                bad.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    stop_at[0] = time.perf_counter() + seconds + 0.5  # the gate opens within milliseconds
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    return {"ms": [x * 1000 for x in latencies], "errors": errors, "wall": wall}


def stats(rounds: list[dict]) -> dict:
    """Latency percentiles over every request of every round; req/s over their time."""
    ms = sorted(x for r in rounds for x in r["ms"])
    errors = [e for r in rounds for e in r["errors"]]
    wall = sum(r["wall"] for r in rounds)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, int(p / 100 * len(ms)))] if ms else float("nan")

    return {
        "requests": len(ms),
        "errors": len(errors),
        "first_errors": errors[:3],
        "rps": round(len(ms) / wall, 1),
        "p50_ms": round(pct(50), 2),
        "p90_ms": round(pct(90), 2),
        "p99_ms": round(pct(99), 2),
        "max_ms": round(ms[-1], 2) if ms else None,
        "mean_ms": round(statistics.fmean(ms), 2) if ms else None,
    }


def wait_health(port: int, proc: subprocess.Popen, timeout: float = 300) -> float:
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - began
        except OSError:
            pass
        time.sleep(0.02)
    raise SystemExit("server never became healthy")


def stub_stats(stub_url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{stub_url}/stats", timeout=5) as r:
        return json.loads(r.read())


def settle(stub_url: str, timeout: float = 30) -> int:
    """Wait until answers stop arriving at the stub (a backlog from the last load must not
    run into the next); returns the response_url posts counted so far."""
    last, began = -1, time.perf_counter()
    while time.perf_counter() - began < timeout:
        now = stub_stats(stub_url).get("response_url", 0)
        if now == last:
            return now
        last = now
        time.sleep(0.3)
    return last


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, help="customers in the model")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20, help="load duration per server")
    ap.add_argument("--rounds", type=int, default=4, help="alternating slices per case and server")
    ap.add_argument("--no-baseline", action="store_true", help="skip the constant-answer app")
    ap.add_argument(
        "--cases", default="lookup,click", help="comma-separated: lookup, click (both by default)"
    )
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--serve-baseline", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return 0

    import pandas as pd

    from model import SegmentService, Settings, write_sample

    work = Path(tempfile.mkdtemp(prefix="segbot-bench-"))
    data, models = work / "customers.parquet", work / "models"
    print(f"training a {args.rows:,}-customer model in {work} …", flush=True)
    write_sample(data, rows=args.rows, seed=7)
    t = time.perf_counter()
    SegmentService(Settings(SEGBOT_DATA=str(data), SEGBOT_MODEL_DIR=str(models))).retrain(
        force=True
    )
    print(f"  trained in {time.perf_counter() - t:.1f} s", flush=True)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if not set(cases) <= {"lookup", "click"}:
        raise SystemExit("--cases takes lookup and/or click")
    served = SegmentService(Settings(SEGBOT_MODEL_DIR=str(models)))
    segments = [str(s.id) for s in served.summary().segments]
    step = max(1, args.rows // 5000)
    ids = pd.read_parquet(data, columns=["customer_id"])["customer_id"].astype(str)[::step].tolist()

    stub = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "slack_stub.py")],
        stdout=subprocess.PIPE,
        text=True,
    )
    stub_url = stub.stdout.readline().strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SEGBOT_"))}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=f"{stub_url}/api/",
        SEGBOT_MODEL_DIR=str(models),
        SEGBOT_HOST="127.0.0.1",
    )
    results: dict[str, dict] = {}
    servers = {"segbot": [sys.executable, "-m", "bot", "serve", "--http"]}
    if not args.no_baseline:
        servers["minimal Bolt app"] = [sys.executable, __file__, "--serve-baseline", "{port}"]
    procs: dict[str, tuple[subprocess.Popen, int, float]] = {}
    try:
        # Both servers up at once (an idle one costs nothing); each case then alternates
        # between them in --rounds slices, so a change in the shared machine's load hits
        # both alike instead of whichever ran at that minute.
        for name, cmd in servers.items():
            port = free_port()
            argv = [c.replace("{port}", str(port)) for c in cmd]
            proc = subprocess.Popen(
                argv,
                env={**env, "PORT": str(port)},
                cwd=work,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs[name] = (proc, port, 0.0)
            ready = wait_health(port, proc)
            procs[name] = (proc, port, ready)
            if name == "segbot":  # let the background warm-up (scikit-learn) finish
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("POST", "/slack/events", *signed("/segment", "predict age=30"))
                conn.getresponse().read()
                conn.close()
                time.sleep(1)
        for case in cases:
            rounds: dict[str, list[dict]] = {name: [] for name in procs}
            answers: dict[str, int] = dict.fromkeys(procs, 0)
            for r in range(args.rounds):
                for name, (_proc, port, _ready) in procs.items():
                    if case == "click":
                        make = click_maker(segments, f"{stub_url}/response/bench")
                        expect = ""  # an empty acknowledgement; the answer follows
                    else:
                        make, expect = None, "is in" if name == "segbot" else '"ok"'
                    if r == 0:
                        load(port, ids, args.clients, 2, expect, make)  # warm-up, not counted
                    before = settle(stub_url)
                    rounds[name].append(
                        load(port, ids, args.clients, args.seconds / args.rounds, expect, make)
                    )
                    if case == "click":  # answers posted to response_url, all of them
                        answers[name] += settle(stub_url) - before
            for name, (_proc, _port, ready) in procs.items():
                result = stats(rounds[name])
                result["healthz_after_s"] = round(ready, 2)
                if case == "click":
                    result["answers"] = answers[name]
                key = _key(name, case)
                results[key] = result
                print(f"  {key}: {result}", flush=True)
        for proc, _port, _ready in procs.values():
            proc.terminate()
            proc.wait(15)
    finally:
        for proc, _port, _ready in procs.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(15)
        stub.terminate()
        stub.wait(15)

    print(
        f"\n/segment customer <id> and a 'Show segment' click over HTTP on loopback: "
        f"{args.rows:,} customers, {args.clients} keep-alive clients, {args.seconds:g} s, "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| server | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | answers |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {r['requests']:,} | {r['rps']} | {r['p50_ms']} | {r['p90_ms']} | "
            f"{r['p99_ms']} | {r['max_ms']} | {r['errors']} | {r.get('answers', '—')} |"
        )
    ratios = {}
    for case in cases:
        base = results.get(_key("minimal Bolt app", case))
        if base:
            ratio = results[_key("segbot", case)]["p99_ms"] / base["p99_ms"]
            print(f"\np99 segbot / minimal Bolt app, {case}: {ratio:.2f}x")
            ratios["value" if case == "lookup" else case] = round(ratio, 2)
    if ratios:
        results["p99_ratio"] = ratios
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "rows": args.rows,
                    "clients": args.clients,
                    "seconds": args.seconds,
                    "results": results,
                },
                indent=2,
            )
        )
    return 0 if all(r.get("errors", 0) == 0 for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
