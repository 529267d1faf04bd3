"""`segbot serve`: which mode it picks, and how HTTP mode reports readiness."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bot.serve import Startup, choose_mode
from model.errors import SegbotError
from model.service import SegmentService
from tests.conftest import make_settings


@pytest.mark.parametrize(
    ("env", "forced", "mode"),
    [
        ({}, None, "shell"),
        ({"SLACK_BOT_TOKEN": "b", "SLACK_SIGNING_SECRET": "s"}, None, "http"),
        ({"SLACK_BOT_TOKEN": "b", "SLACK_APP_TOKEN": "a"}, None, "socket"),
        (
            {"SLACK_BOT_TOKEN": "b", "SLACK_APP_TOKEN": "a", "SLACK_SIGNING_SECRET": "s"},
            None,
            "socket",
        ),
        ({"SLACK_BOT_TOKEN": "b"}, None, "shell"),  # half a configuration: warn, use the shell
        ({"SLACK_BOT_TOKEN": "b", "SLACK_APP_TOKEN": "a"}, "http", None),
        ({"SLACK_BOT_TOKEN": "b", "SLACK_SIGNING_SECRET": "s"}, "socket", None),
        ({"SLACK_APP_TOKEN": "a"}, None, None),  # Socket Mode without a bot token
        ({"SLACK_BOT_TOKEN": "b", "SLACK_APP_TOKEN": "a"}, "shell", "shell"),
    ],
)
def test_mode_follows_the_tokens(
    tmp_path: Path, env: dict[str, str], forced: str | None, mode: str | None
) -> None:
    settings = make_settings(tmp_path, **env)
    if mode is None:
        with pytest.raises(SegbotError, match="needs"):
            choose_mode(settings, forced)
    else:
        assert choose_mode(settings, forced) == mode


def test_health_is_ok_with_the_served_version(trained_model_dir: Path) -> None:
    startup = Startup(SegmentService(make_settings(trained_model_dir)))
    startup.begin()
    assert startup.health() == (200, {"status": "ok", "version": "v1"})


def test_health_says_why_the_first_training_failed(tmp_path: Path) -> None:
    service = SegmentService(make_settings(tmp_path / "models", tmp_path / "missing.csv"))
    startup = Startup(service)
    assert startup.health() == (503, {"status": "starting"})
    startup.begin()
    deadline = time.monotonic() + 30
    while startup.status not in ("failed", "ok") and time.monotonic() < deadline:
        time.sleep(0.05)
    status, body = startup.health()
    assert status == 503 and body["status"] == "failed"
    assert "missing.csv" in body["detail"]


def test_the_warm_up_waits_until_the_server_listens(served_copy, monkeypatch) -> None:
    """The warm-up imports scikit-learn: run while uvicorn opened its socket, it held the
    first /healthz back by 1.5 s in one start of three. It starts once the server listens."""
    model_dir, data = served_copy
    service = SegmentService(make_settings(model_dir, data))

    class Server:
        """uvicorn.Server's two flags; `polled` once the warm-up found it not listening
        three times: proof that it is waiting, not merely late."""

        def __init__(self) -> None:
            self.should_exit, self.listening, self.looks = False, False, 0
            self.polled = threading.Event()

        @property
        def started(self) -> bool:
            self.looks += 1
            if self.looks >= 3 and not self.listening:
                self.polled.set()
            return self.listening

    server = Server()
    seen: list[bool] = []
    real = service.predict

    def predict(values):
        seen.append(server.started)
        return real(values)

    monkeypatch.setattr(service, "predict", predict)
    startup = Startup(service)
    startup.begin(wait_for=server)
    assert startup.health()[0] == 200  # serving already; only the warm-up waits
    assert server.polled.wait(30)
    assert seen == []
    server.listening = True
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        time.sleep(0.02)
    assert seen == [True]
