"""Shared fixtures: sample data, one trained model per session, a Slack fake, and
helpers to run the real `segbot` command and to sign Slack requests."""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from model.config import Settings
from tests.slack_fake import SlackFake

BOT_TOKEN = "xoxb-test-0000-bot-secret-token"
APP_TOKEN = "xapp-test-0000-app-secret-token"
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
ADMIN = "UADMIN01"
USER = "UUSER001"
CHANNEL = "C0GENERAL"


# ---- data and models ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def sample_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 synthetic customers (seed 1)."""
    from model.sample import write_sample

    path = tmp_path_factory.mktemp("data") / "customers.csv"
    write_sample(path, rows=2000, seed=1)
    return path


class IsolatedSettings(Settings):
    """Settings from the values given only: no environment, no .env file."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **others):  # type: ignore[override]
        return (init_settings,)


def make_settings(model_dir: Path, data: Path | None = None, **extra: object) -> Settings:
    values: dict[str, object] = {"SEGBOT_MODEL_DIR": str(model_dir), **extra}
    if data is not None:
        values["SEGBOT_DATA"] = str(data)
    return IsolatedSettings(**values)


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


@pytest.fixture(scope="session")
def customer_ids(sample_csv: Path) -> list[str]:
    """The first 50 customer ids of `sample_csv`, as written in the data."""
    import csv

    with sample_csv.open(newline="") as fh:
        rows = csv.DictReader(fh)
        return [row["customer_id"] for _, row in zip(range(50), rows, strict=False)]


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


# ---- signed slash commands ---------------------------------------------------------------
def slack_signature(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slash_body(
    command: str, text: str, *, user: str = USER, channel: str = CHANNEL, response_url: str = ""
) -> str:
    return urlencode(
        {
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
