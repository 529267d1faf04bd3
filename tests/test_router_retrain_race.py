"""A second retrain that slips past the router's early check: `/segments retrain` is
planned (a Job) while nothing trains, another retrain starts before the Job runs, and
the service's own lock refuses the Job with a one-line answer; nothing new is stored.
A rollback asked for during a retrain is refused the same way."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.reply import Reply
from bot.router import Job, Router
from model.service import SegmentService
from model.versions.registry import Registry
from tests.conftest import ADMIN, make_settings
from tests.test_write_back import clone_version


class Announcements:
    """Records what the router would announce (any Announcer method)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: self.calls.append(name)


@pytest.fixture
def announced() -> Announcements:
    return Announcements()


@pytest.fixture
def router(model_dir: Path, sample_csv: Path, announced: Announcements) -> Router:
    settings = make_settings(model_dir, sample_csv, SEGBOT_ADMINS=ADMIN)
    return Router(SegmentService(settings), settings, announced)  # type: ignore[arg-type]


class Stop(Exception):
    """Ends the held retrain once the test is done: nothing of it needs training."""


@pytest.fixture
def retraining(router: Router) -> Iterator[tuple[threading.Event, threading.Thread]]:
    """A retrain (not started yet) that holds at its first progress report until the
    test is done, then stops; and the event that says it is holding."""
    holding, release = threading.Event(), threading.Event()

    def hold(stage: str, fraction: float) -> None:
        holding.set()
        release.wait(60)
        raise Stop

    def retrain() -> None:
        with contextlib.suppress(Stop):
            router.service.retrain(progress=hold, force=True)

    first = threading.Thread(target=retrain)
    yield holding, first
    release.set()
    if first.is_alive():
        first.join(60)
        assert not first.is_alive()


def test_a_retrain_planned_before_another_started_is_refused_by_the_service(
    router: Router, retraining, model_dir: Path, announced: Announcements
) -> None:
    holding, first = retraining
    job = router.plan("/segments retrain", user=ADMIN, channel="C1", slack=True)
    assert isinstance(job, Job)  # nothing trained yet: the early check let it through
    first.start()
    assert holding.wait(60)

    reply = job.run(None)
    assert isinstance(reply, Reply) and not reply.ok
    assert reply.text == "A retrain is already running; wait for it to finish."
    assert reply.data["error"] == "RetrainInProgress"
    assert announced.calls == []  # not announced as a failed retrain either
    # nothing new: no staging folder of the refused job, v1 still served
    registry = Registry(model_dir)
    assert registry.served() == "v1" and registry.versions() == ["v1"]
    # the held retrain waits at "loading data", before it makes a staging folder
    assert not list(model_dir.glob(".tmp-*"))


def test_a_rollback_during_a_retrain_is_refused_and_serves_what_it_did(
    router: Router, retraining, model_dir: Path
) -> None:
    clone_version(model_dir, "v1", "v2", drop_first=100)  # a second version, untrained
    registry = Registry(model_dir)
    registry.set_served("v2")
    holding, first = retraining
    assert router.service.served_version == "v2"

    first.start()
    assert holding.wait(60)
    reply = router.handle("/segments rollback v1", user=ADMIN, channel="C1", slack=True)
    assert not reply.ok
    assert reply.text == "A retrain is running; roll back when it has finished."
    assert registry.served() == "v2" and router.service.served_version == "v2"
    assert (model_dir / "CURRENT").read_text().strip() == "v2"
