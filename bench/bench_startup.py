"""Time from starting `segbot serve --http` to `GET /healthz` answering 200, with an
already trained model, beside the minimal Bolt app of bench/bench_http.py (same
ASGI wrapper and uvicorn settings, nothing to load) started the same way.

    python bench/bench_startup.py --model-dir bench/.data/models/1M [--repeats 3]
        [--json out.json]

Slack's Web API is bench/slack_stub.py on 127.0.0.1 (auth.test answers ok).
Each start is a fresh process; the clock starts just before the process is
spawned and stops at the first 200 from /healthz (polled every 10 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.slack_stub import SlackStub  # noqa: E402

BOT_TOKEN = "xoxb-bench-token"
SECRET = "bench-signing-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_healthy(argv: list[str], env: dict[str, str], timeout: float = 120) -> float:
    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in argv]
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env={**env, "PORT": str(port)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while time.perf_counter() - started < timeout:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{argv[:4]} exited with {proc.returncode}: {proc.stderr.read()}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{argv[:4]} not healthy after {timeout:.0f} s")
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", required=True, help="a model dir with a served version")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args(argv)

    segbot = str(Path(sys.executable).with_name("segbot"))
    servers = {"segbot": [segbot, "serve", "--http"]}
    if not args.no_baseline:
        servers["minimal Bolt app"] = [
            sys.executable,
            str(ROOT / "bench" / "bench_http.py"),
            "--serve-baseline",
            "{port}",
        ]
    results: dict[str, dict] = {}
    with SlackStub() as slack:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SEGBOT_"))}
        env.update(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=slack.api_url,
            SEGBOT_MODEL_DIR=str(Path(args.model_dir).resolve()),
            SEGBOT_HOST="127.0.0.1",
        )
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            for name, cmd in servers.items():
                took = time_to_healthy(cmd, env)
                results.setdefault(name, {"runs_s": []})["runs_s"].append(round(took, 3))
    for r in results.values():
        r["median_s"] = round(statistics.median(r["runs_s"]), 3)
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
