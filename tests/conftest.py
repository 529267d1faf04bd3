"""Shared fixtures: sample data, one trained model per session, a Slack fake, and
helpers to run the real `segbot` command and to sign Slack requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

# As the `segbot` entry point does (bot/cli.py): tests train in-process beside threads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bot.settings import BotSettings
from model.answers import Change, VersionInfo
from model.config import Settings
from tests.slack_fake import SlackFake

BOT_TOKEN = "xoxb-test-0000-bot-secret-token"
APP_TOKEN = "xapp-test-0000-app-secret-token"
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
ADMIN = "UADMIN01"
USER = "UUSER001"
CHANNEL = "C0GENERAL"
LONG = os.environ.get("SEGBOT_LONG", "") not in ("", "0")


def pytest_configure(config: pytest.Config) -> None:
    # pyproject's addopts deselect the `slow` tests; SEGBOT_LONG=1 keeps them in the run
    # (an explicit `-m` other than the default is left as given).
    if LONG and config.option.markexpr == "not slow":
        config.option.markexpr = ""


# ---- data and models ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def sample_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 synthetic customers (seed 1)."""
    from model.data.sample import write_sample

    path = tmp_path_factory.mktemp("data") / "customers.csv"
    write_sample(path, rows=2000, seed=1)
    return path


class IsolatedSettings(BotSettings):
    """Settings (the core's and the bot's) from the values given only: no environment,
    no .env file."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **others):  # type: ignore[override]
        return (init_settings,)


def make_settings(model_dir: Path, data: Path | None = None, **extra: object) -> BotSettings:
    values: dict[str, object] = {"SEGBOT_MODEL_DIR": str(model_dir), **extra}
    if data is not None:
        values["SEGBOT_DATA"] = str(data)
    return IsolatedSettings(**values)


@pytest.fixture
def no_segbot_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test passes counts: no SEGBOT_* variables, no .env file (it runs in
    `tmp_path`)."""
    for name in list(os.environ):
        if name.startswith("SEGBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def data_error(settings: Settings) -> str:
    """The message of the DataError that loading `settings` raises; one line."""
    from model.data.load import load_dataset
    from model.errors import DataError

    with pytest.raises(DataError) as caught:
        load_dataset(settings)
    message = str(caught.value)
    assert message and "\n" not in message and message == message.strip()
    return message


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory, sample_csv: Path) -> Path:
    """A model directory with one trained version (v1) of `sample_csv`. Read-only:
    copy it (`model_dir`) before changing anything."""
    from model.service import SegmentService

    root = tmp_path_factory.mktemp("trained") / "models"
    SegmentService(make_settings(root, sample_csv)).retrain(force=True)
    return root


@pytest.fixture
def model_dir(trained_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the trained model directory, for tests that change it."""
    target = tmp_path / "models"
    shutil.copytree(trained_model_dir, target)
    return target


def copy_served(trained_model_dir: Path, sample_csv: Path, tmp: Path) -> tuple[Path, Path]:
    """Private copies of the trained model directory and its data in `tmp`, for a
    process that serves (and may retrain) them."""
    model_dir, data = tmp / "models", tmp / "customers.csv"
    shutil.copytree(trained_model_dir, model_dir)
    shutil.copy(sample_csv, data)
    return model_dir, data


@pytest.fixture
def served_copy(tmp_path: Path, trained_model_dir: Path, sample_csv: Path) -> tuple[Path, Path]:
    """`copy_served` into this test's `tmp_path`: a model directory serving v1, and its data."""
    return copy_served(trained_model_dir, sample_csv, tmp_path)


@pytest.fixture(scope="session")
def customer_ids(sample_csv: Path) -> list[str]:
    """The first 50 customer ids of `sample_csv`, as written in the data."""
    import csv

    with sample_csv.open(newline="") as fh:
        rows = csv.DictReader(fh)
        return [row["customer_id"] for _, row in zip(range(50), rows, strict=False)]


# ---- hand-made answers, for rendering ----------------------------------------------------
def version_info(name: str = "v3", **kw: object) -> VersionInfo:
    base: dict[str, object] = dict(
        version=name,
        trained_at="2025-11-27T08:13:11+00:00",
        rows=2000,
        k=4,
        silhouette=0.46,
        sizes={"A": 1200, "B": 800},
        served=True,
        status="served",
        moved=120,
        moved_share=0.06,
        ari=0.91,
    )
    base.update(kw)
    return VersionInfo(**base)  # type: ignore[arg-type]


def change(**kw: object) -> Change:
    """v3 against v2: one segment grew, one stayed, one is new, one is gone."""
    base: dict[str, object] = dict(
        previous="v2",
        k_before=4,
        k_after=4,
        silhouette_before=0.44,
        silhouette_after=0.46,
        sizes=[
            {"id": 1, "name": "A", "size": 1200, "before": 1100},
            {"id": 2, "name": "Steady", "size": 500, "before": 500},
            {"id": 5, "name": "New Ones", "size": 300, "before": None},
        ],
        removed=["Old Ones"],
        moved=120,
        moved_share=0.0649,
        ari=0.91,
        common=1850,
        rows_before=1850,
    )
    base.update(kw)
    return Change(**base)  # type: ignore[arg-type]


# ---- the Slack fake ----------------------------------------------------------------------
@pytest.fixture
def slack_fake() -> Iterator[SlackFake]:
    fake = SlackFake(bot_token=BOT_TOKEN, app_token=APP_TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def module_slack_fake() -> Iterator[SlackFake]:
    fake = SlackFake(bot_token=BOT_TOKEN, app_token=APP_TOKEN).start()
    yield fake
    fake.stop()


# ---- running the real thing --------------------------------------------------------------
def segbot_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m bot`."""
    script = Path(sys.executable).parent / "segbot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def segbot_env(**values: object) -> dict[str, str]:
    """The current environment without any Slack or segbot settings, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SEGBOT_"))}
    env.pop("PORT", None)
    env.update({k: str(v) for k, v in values.items() if v is not None})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_segbot(
    args: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*segbot_command(), *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_fresh(script: str, cwd: Path, timeout: float = 300) -> tuple[str, Any]:
    """`script` in a fresh interpreter (nothing imported yet) in `cwd`, which must end
    well; its output, and its last line read as JSON."""
    run = subprocess.run(
        [sys.executable, "-c", script],
        env=segbot_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout, json.loads(run.stdout.strip().splitlines()[-1])


def wait_logged(
    log: Path, text: str, count: int = 1, timeout: float = 30, proc: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while log.read_text().count(text) < count:
        assert proc is None or proc.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, f"never logged {count}x: {text}"
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(
    url: str, status: int = 200, timeout: float = 60, proc: subprocess.Popen | None = None
) -> float:
    """Poll `url` until it answers `status`; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"segbot exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == status:
                    return time.monotonic() - started
        except urllib.error.HTTPError as exc:
            if exc.code == status:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer {status} within {timeout}s")


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---- `segbot serve --http` against the Slack fake ----------------------------------------
@dataclass
class Bot:
    url: str
    proc: subprocess.Popen
    fake: SlackFake
    model_dir: Path
    data: Path
    log: Path

    def post(self, body: str, headers: dict[str, str]) -> tuple[int, str]:
        req = urllib.request.Request(
            f"{self.url}/slack/events", data=body.encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def slash(
        self,
        command: str,
        text: str,
        *,
        user: str = USER,
        channel: str = CHANNEL,
        sink: str = "sink",
        timed: bool = True,
    ) -> dict[str, Any]:
        """A correctly signed slash command; returns the acknowledgement's JSON. `timed`:
        assert Slack's 3 s; not while the bot trains on the same two cores, where the
        acknowledgement's content is what the test checks."""
        body = slash_body(
            command, text, user=user, channel=channel, response_url=self.fake.response_url(sink)
        )
        started = time.monotonic()
        status, payload = self.post(body, signed_headers(body))
        if timed:
            assert time.monotonic() - started < 3, "Slack needs the acknowledgement within 3 s"
        assert status == 200, payload
        return json.loads(payload)

    def wait_logged(self, text: str, count: int = 1, timeout: float = 30) -> None:
        """Wait until the bot's log holds `text` `count` times: its own record of a
        decision (a refusal, say), after which nothing more follows from that request.
        A proof to wait for, where sleeping and then seeing nothing proves little."""
        wait_logged(self.log, text, count, timeout, self.proc)

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def wait_ready(self, *, warm: bool = False) -> None:
        """Wait until `/healthz` says 200. With `warm`, also send one predict, untimed: the
        bot warms up the predict path in the background after start (importing
        scikit-learn takes seconds), so that later timed acknowledgements measure
        answers, not a cold start."""
        wait_http(f"{self.url}/healthz", 200, timeout=60, proc=self.proc)
        if warm:
            body = slash_body("/segment", "predict age=30")
            assert self.post(body, signed_headers(body))[0] == 200


def start_http_bot(
    tmp: Path,
    fake: SlackFake,
    model_dir: Path,
    data: Path,
    *,
    command: list[str] | None = None,
    **extra_env: object,
) -> Bot:
    """Start `<command> serve --http` (`segbot` by default) on a free loopback port, its
    Web API calls going to `fake` and its stderr to `tmp/serve-<port>.log`. `extra_env`
    adds settings or replaces the defaults. Does not wait: see `Bot.wait_ready`."""
    port = free_port()
    values: dict[str, object] = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.api_url,
        "PORT": port,
        "SEGBOT_HOST": "127.0.0.1",
        "SEGBOT_MODEL_DIR": model_dir,
        "SEGBOT_DATA": data,
        "SEGBOT_ADMINS": ADMIN,
        **extra_env,
    }
    log = tmp / f"serve-{port}.log"
    proc = subprocess.Popen(
        [*(command or segbot_command()), "serve", "--http"],
        env=segbot_env(**values),
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    return Bot(f"http://127.0.0.1:{port}", proc, fake, model_dir, data, log)


def stop_bot(bot: Bot) -> None:
    stop_process(bot.proc)


@pytest.fixture(scope="module")
def bot(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    trained_model_dir: Path,
    sample_csv: Path,
    module_slack_fake: SlackFake,
) -> Iterator[Bot]:
    """A module's `serve --http` on a copy of the session's model, warmed up so timed
    acknowledgements measure answers; stopped when the module is done. (Modules that
    need other settings define their own `bot`.)"""
    tmp = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    model_dir, data = copy_served(trained_model_dir, sample_csv, tmp)
    bot = start_http_bot(tmp, module_slack_fake, model_dir, data)
    try:
        bot.wait_ready(warm=True)
        yield bot
    finally:
        stop_bot(bot)


@pytest.fixture
def fake(bot: Bot) -> SlackFake:
    """The running bot's Slack fake, cleared of earlier calls."""
    bot.fake.reset()
    return bot.fake


# ---- signed slash commands ---------------------------------------------------------------
def slack_signature(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slash_payload(
    command: str, text: str, *, user: str = USER, channel: str = CHANNEL, response_url: str = ""
) -> dict[str, str]:
    """A slash command's fields as Slack sends them: a form body over HTTP, the payload
    of an envelope in Socket Mode."""
    return {
        "token": "legacy-verification-token",
        "team_id": "T0FAKE",
        "team_domain": "fake",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": "someone",
        "command": command,
        "text": text,
        "api_app_id": "A0SEGBOT",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": "1.2.3",
    }


def slash_body(
    command: str, text: str, *, user: str = USER, channel: str = CHANNEL, response_url: str = ""
) -> str:
    return urlencode(
        slash_payload(command, text, user=user, channel=channel, response_url=response_url)
    )


def signed_headers(
    body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(secret, ts, body),
    }
