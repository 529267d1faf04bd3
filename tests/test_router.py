"""The router over a real trained model: access, visibility, slow work, failures."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from bot import render
from bot.commands import TABLE
from bot.handlers import HANDLERS
from bot.reply import Reply
from bot.router import Job, Router
from model.service import SegmentService
from tests.conftest import ADMIN, USER, make_settings


def router(model_dir: Path, data: Path | None = None, **settings: object) -> Router:
    return Router(SegmentService(make_settings(model_dir, data, **settings)))


def served(model_dir: Path) -> str:
    return (model_dir / "CURRENT").read_text().strip()


@pytest.fixture
def slack_router(model_dir: Path, sample_csv: Path) -> Router:
    return router(model_dir, sample_csv, SEGBOT_ADMINS=ADMIN)


def test_every_row_of_the_table_has_its_handler() -> None:
    """The router answers a command with its verb's handler: none missing, none extra."""
    assert {spec.verb for spec in TABLE} == set(HANDLERS)


def test_visibility_follows_the_kind_of_answer(
    trained_model_dir: Path, customer_ids: list[str]
) -> None:
    r = router(trained_model_dir)
    cid = customer_ids[0]
    assert r.handle(f"/segment customer {cid}").visibility == "ephemeral"
    assert r.handle("/segment predict age=30").visibility == "ephemeral"
    assert r.handle("/segment help").visibility == "ephemeral"
    for line in ("/segments", "/segments history", "/segments elbow"):
        reply = r.handle(line)
        assert reply.ok and reply.visibility == "in_channel", line
    assert r.handle("/segments nope").visibility == "ephemeral"


def test_lookup_keeps_ids_exactly(trained_model_dir: Path, customer_ids: list[str]) -> None:
    r = router(trained_model_dir)
    cid = customer_ids[3]
    reply = r.handle(f"/segment {cid}")
    assert reply.data["customer_id"] == cid and reply.data["version"] == "v1"
    padded = r.handle(f"/segment 0{cid}")
    assert not padded.ok and f"'0{cid}'" in padded.text


def test_predict_matches_feature_names_without_case(trained_model_dir: Path) -> None:
    reply = router(trained_model_dir).handle("/segment predict AGE=34 Annual_Income=72,000")
    assert reply.ok
    assert reply.data["given"] == {"age": 34.0, "annual_income": 72000.0}
    assert "orders_per_year" in reply.data["imputed"]


@pytest.mark.parametrize(
    "line", ["/segments retrain", "/segments rollback v1", "/segments export 1"]
)
def test_admin_commands_are_refused_to_others_in_slack(
    slack_router: Router, model_dir: Path, line: str
) -> None:
    before = sorted(p.name for p in model_dir.iterdir())
    reply = slack_router.handle(line, user=USER, channel="C1", slack=True)
    assert isinstance(reply, Reply) and not reply.ok
    assert reply.visibility == "ephemeral" and "only segbot admins" in reply.text
    assert reply.files == []
    assert sorted(p.name for p in model_dir.iterdir()) == before and served(model_dir) == "v1"
    planned = slack_router.plan(line, user=USER, channel="C1", slack=True)
    assert isinstance(planned, Reply)  # refused before any work is queued


def test_nobody_is_admin_in_slack_without_admins(model_dir: Path) -> None:
    reply = router(model_dir).handle("/segments rollback v1", user=ADMIN, slack=True)
    assert "only segbot admins" in reply.text


def test_the_local_operator_may_do_admin_things(model_dir: Path) -> None:
    r = router(model_dir)
    export = r.handle("/segments export 1")
    assert export.ok and export.files[0].read().startswith(b"customer_id,segment_id,segment\n")
    assert r.handle("/segments rollback v1").ok


def test_slow_commands_are_planned_as_jobs(slack_router: Router) -> None:
    for line, user in (
        ("/segments elbow", USER),
        ("/segments export 1", ADMIN),
        ("/segments retrain", ADMIN),
    ):
        job = slack_router.plan(line, user=user, channel="C1", slack=True)
        assert isinstance(job, Job), line
        assert job.ack.deferred and job.ack.visibility == "ephemeral"
    quick = slack_router.plan("/segments history", user=USER, channel="C1", slack=True)
    assert isinstance(quick, Reply) and quick.ok

    chart = slack_router.plan("/segments elbow", user=USER, channel="C1", slack=True)
    assert isinstance(chart, Job)
    reply = chart.run(None)
    assert reply.ok and reply.files[0].path.is_file() and reply.data["chart"] == "elbow"


def test_allowed_channels_apply_in_slack_only(model_dir: Path) -> None:
    r = router(model_dir, SEGBOT_ALLOWED_CHANNELS="C1,C2", SEGBOT_ADMINS=ADMIN)
    refused = r.handle("/segments", user=USER, channel="C9", slack=True)
    assert not refused.ok and "<#C1>, <#C2>" in refused.text
    assert r.handle("/segments retrain", user=ADMIN, channel="C9", slack=True).ok is False
    assert r.handle("/segments help", user=USER, channel="C9", slack=True).ok  # help anywhere
    assert r.handle("/segments", user=USER, channel="C2", slack=True).ok
    assert r.handle("/segments").ok  # the shell has no channel


def test_a_second_retrain_is_told_one_is_running(slack_router: Router) -> None:
    holding, release = threading.Event(), threading.Event()

    def slow_progress(stage: str, fraction: float) -> None:
        holding.set()
        release.wait(30)

    first = threading.Thread(
        target=slack_router.service.retrain, kwargs={"progress": slow_progress, "force": True}
    )
    first.start()
    try:
        assert holding.wait(30)
        reply = slack_router.plan("/segments retrain", user=ADMIN, channel="C1", slack=True)
        assert isinstance(reply, Reply) and not reply.ok
        assert "already running" in reply.text
        # through the slow path too (the check in plan raced, the service still refuses)
        job_reply = slack_router.run(slack_router.plan("/segments elbow").command)
        assert job_reply.ok  # queries keep working during a retrain
    finally:
        release.set()
        first.join(60)


def test_retrain_failure_says_what_is_still_served(model_dir: Path, tmp_path: Path) -> None:
    r = router(model_dir, tmp_path / "missing.csv")
    reply = r.handle("/segments retrain")
    assert not reply.ok and reply.visibility == "in_channel"
    assert reply.text.startswith("Retrain failed: ") and reply.text.endswith("v1 is still served.")
    assert "Traceback" not in reply.text and served(model_dir) == "v1"


def test_no_model_yet(tmp_path: Path) -> None:
    reply = router(tmp_path / "empty").handle("/segments summary")
    assert not reply.ok and reply.text.startswith("No model is trained yet")


def test_unexpected_failures_are_logged_not_shown(
    trained_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(SegmentService):
        def lookup(self, customer_id: str):
            raise RuntimeError("disk on fire at /srv/secret")

    r = Router(Broken(make_settings(trained_model_dir)))
    with caplog.at_level(logging.ERROR, logger="bot.router"):
        reply = r.handle("/segment customer 1")
    assert reply.text == render.GENERIC_FAILURE and not reply.ok
    assert "/srv/secret" not in reply.to_json()
    [record] = caplog.records
    assert record.exc_info and "disk on fire" in str(record.exc_info[1])


def test_summary_text_is_the_plain_summary(trained_model_dir: Path) -> None:
    r = router(trained_model_dir)
    text = r.summary_text()
    assert text == render.unescape(r.handle("/segments summary").text)
    assert "*" not in text and text.startswith(f"{r.service.summary().k} customer segments")
