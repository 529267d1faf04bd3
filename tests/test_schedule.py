"""Scheduled retrains: the cron, the schedule firing, what is announced
(checked against each version's metadata.json), failures, guardrails, rollback,
history and retention, one retrain at a time, and `segbot serve` end to end
against the local Slack fake (a fast test trigger, and a real one-minute cron
under `-m slow`)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from apscheduler.triggers.interval import IntervalTrigger

from bot import render
from bot.announce import Announcer
from bot.reply import Reply
from bot.router import Router
from bot.schedule import (
    TEST_EVERY_ENV,
    Schedule,
    claim_slot,
    cron_trigger,
    retrain_trigger,
)
from model.errors import SegbotError
from model.service import SegmentService
from model.versions.version import LoadedVersion
from tests.conftest import (
    ADMIN,
    APP_TOKEN,
    BOT_TOKEN,
    CHANNEL,
    SIGNING_SECRET,
    Bot,
    make_settings,
    run_segbot,
    segbot_command,
    segbot_env,
    signed_headers,
    slash_body,
    start_http_bot,
    stop_bot,
)
from tests.slack_fake import SlackFake

ANNOUNCE = "C0ANNOUNCE"
UTC_TZ = ZoneInfo("UTC")


# ---- helpers ---------------------------------------------------------------------------------
class Posted:
    """An announcer's `post` that keeps what it was given and lets a test wait for it."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self._changed = threading.Condition()

    def __call__(self, reply: Reply) -> None:
        with self._changed:
            self.replies.append(reply)
            self._changed.notify_all()

    def wait_for(self, match: Callable[[Reply], bool], timeout: float = 60) -> Reply:
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((r for r in self.replies if match(r)), None), timeout
            )
        assert found, f"no such announcement; got {[r.text[:80] for r in self.replies]}"
        return found


def write_atomic(path: Path, frame: pd.DataFrame) -> None:
    """A new data file in one step, so a retrain never reads half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)


def read(data: Path) -> pd.DataFrame:
    return pd.read_csv(data, dtype={"customer_id": str})


def shrink(data: Path, rows: int = 150) -> None:
    """New data: the last `rows` customers are gone."""
    write_atomic(data, read(data).iloc[:-rows])


def scramble(data: Path) -> None:
    """New data without structure: each column shuffled on its own (silhouette drops)."""
    frame = read(data)
    rng = np.random.default_rng(0)
    for column in frame.columns:
        if column not in ("customer_id", "gender"):
            frame[column] = rng.permutation(frame[column].to_numpy())
    write_atomic(data, frame)


@pytest.fixture
def data(tmp_path: Path, sample_csv: Path) -> Path:
    target = tmp_path / "customers.csv"
    shutil.copy(sample_csv, target)
    return target


def service_for(model_dir: Path, data: Path, **extra: object) -> SegmentService:
    return SegmentService(make_settings(model_dir, data, SEGBOT_ADMINS=ADMIN, **extra))


def metadata(model_dir: Path, version: str) -> dict[str, Any]:
    return json.loads((model_dir / version / "metadata.json").read_text())


def announced_charts(model_dir: Path, version: str) -> set[Path]:
    """The version's charts, and the flow chart when it replaced another version."""
    meta = metadata(model_dir, version)
    names = list(meta["charts"].values())
    if meta["comparison"]["previous"]:
        names.append("flows.png")
    return {model_dir / version / name for name in names}


def expected_size_change(size: int, before: int | None) -> str:
    if before is None:
        return "new"
    if size == before:
        return "unchanged"
    return f"{size - before:+,}, {100 * (size - before) / before:+.1f}%"


def assert_announces(text: str, model_dir: Path, version: str, previous: str) -> None:
    """An announcement of `version` says what its metadata.json says, against `previous`."""
    meta, before = metadata(model_dir, version), metadata(model_dir, previous)
    comp = meta["comparison"]
    assert comp["previous"] == previous
    rows = meta["rows"] - before["rows"]
    rows_change = f"{rows:+,}" if rows else "±0"
    assert f"Customers: {meta['rows']:,} ({rows_change} against {previous})" in text
    k = "unchanged" if meta["k"] == before["k"] else f"was {before['k']}"
    assert f"Segments: k={meta['k']}, {k}" in text
    silhouette, was = meta["quality"]["silhouette"], before["quality"]["silhouette"]
    assert f"Quality: silhouette {silhouette:.2f}" in text
    delta = round(silhouette - was, 2)
    assert (f"same as {previous}" if delta == 0 else f"{delta:+.2f} from {was:.2f}") in text
    assert (
        f"Moved segment: {comp['moved']:,} of {comp['common']:,} customers "
        f"({render.share(comp['moved_share'])}); "
        f"adjusted Rand index {round(comp['ari'], 2) + 0.0:.2f}"
    ) in text
    for seg in meta["segments"]:
        change = expected_size_change(seg["size"], seg["size_before"])
        assert f"• {seg['name']}: {seg['size']:,} ({change})" in text
    for name in comp["removed"]:
        assert f"• {name}: gone" in text


# ---- the cron and the settings ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("cron", "fires"),
    [
        # 1 Jan 2025 is a Wednesday; standard cron numbers days from Sunday = 0 (or 7)
        ("0 6 * * 1", ["Mon 06 Jan 06:00", "Mon 13 Jan 06:00"]),
        ("30 6 * * 0", ["Sun 05 Jan 06:30", "Sun 12 Jan 06:30"]),
        ("30 6 * * 7", ["Sun 05 Jan 06:30", "Sun 12 Jan 06:30"]),
        (
            "0 9 * * 1-5",
            ["Wed 01 Jan 09:00", "Thu 02 Jan 09:00", "Fri 03 Jan 09:00", "Mon 06 Jan 09:00"],
        ),
        ("0 9 * * fri-sun", ["Fri 03 Jan 09:00", "Sat 04 Jan 09:00", "Sun 05 Jan 09:00"]),
        ("0 9 * * */3", ["Wed 01 Jan 09:00", "Sat 04 Jan 09:00", "Sun 05 Jan 09:00"]),
        # both day fields set: cron means either of them, not both at once
        ("0 6 10 * 1", ["Mon 06 Jan 06:00", "Fri 10 Jan 06:00", "Mon 13 Jan 06:00"]),
        ("*/20 * * * *", ["Wed 01 Jan 00:20", "Wed 01 Jan 00:40", "Wed 01 Jan 01:00"]),
    ],
)
def test_the_cron_means_what_standard_cron_means(cron: str, fires: list[str]) -> None:
    trigger = cron_trigger(cron, UTC_TZ)
    now, seen = datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC_TZ), []
    fire = trigger.get_next_fire_time(None, now)
    while len(seen) < len(fires):
        seen.append(fire.strftime("%a %d %b %H:%M"))
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    assert seen == fires


def test_the_cron_runs_in_the_configured_timezone(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, SEGBOT_RETRAIN_CRON="0 6 * * 1", SEGBOT_TIMEZONE="America/New_York"
    )
    trigger = retrain_trigger(settings)
    fire = trigger.get_next_fire_time(None, datetime(2025, 1, 1, tzinfo=UTC))
    assert fire.astimezone(UTC) == datetime(2025, 1, 6, 11, 0, tzinfo=UTC)  # 06:00 EST
    assert retrain_trigger(make_settings(tmp_path)) is None  # no cron: no schedule


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"SEGBOT_RETRAIN_CRON": "61 * * * *"}, "SEGBOT_RETRAIN_CRON='61 * * * *' is not a valid"),
        ({"SEGBOT_RETRAIN_CRON": "*/5 * * * * *"}, "(it has 6 fields, not 5)"),
        ({"SEGBOT_RETRAIN_CRON": "weekly"}, "(it has 1 fields, not 5)"),
        ({"SEGBOT_RETRAIN_CRON": "0 6 * * 8"}, "day of week '8' is not 0-7 or sun-sat"),
        (
            {"SEGBOT_RETRAIN_CRON": "0 6 * * 1", "SEGBOT_TIMEZONE": "Mars/Olympus"},
            "SEGBOT_TIMEZONE='Mars/Olympus' is not a known timezone",
        ),
    ],
)
def test_a_bad_cron_or_timezone_is_one_line_naming_the_setting(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    with pytest.raises(SegbotError) as err:
        retrain_trigger(make_settings(tmp_path, **env))
    assert says in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("mode", ["--shell", "--http"])
def test_serve_stops_at_start_on_a_bad_cron(tmp_path: Path, mode: str) -> None:
    env = segbot_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL="http://127.0.0.1:9/api/",  # never reached: the cron is checked first
        SEGBOT_MODEL_DIR=tmp_path / "models",
        SEGBOT_RETRAIN_CRON="0 25 * * *",
    )
    done = run_segbot(["serve", mode], env=env, cwd=tmp_path, stdin="", timeout=60)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("segbot: SEGBOT_RETRAIN_CRON='0 25 * * *' is not a valid cron")
    assert not (tmp_path / "models").exists()  # nothing trained, nothing started


# ---- the schedule fires and announces ----------------------------------------------------------
@pytest.fixture
def running() -> Iterator[Callable[[Schedule], Schedule]]:
    started: list[Schedule] = []

    def start(schedule: Schedule) -> Schedule:
        schedule.start()
        started.append(schedule)
        return schedule

    yield start
    for schedule in started:
        schedule.stop()


def test_the_schedule_fires_and_announces_what_changed(
    model_dir: Path, data: Path, running: Callable[[Schedule], Schedule]
) -> None:
    service, posted = service_for(model_dir, data), Posted()
    schedule = running(Schedule(service, Announcer(posted), IntervalTrigger(seconds=1)))
    assert schedule.next_run is not None

    same = posted.wait_for(lambda r: "no new data" in r.text)
    assert same.text == (
        "Scheduled retrain: no new data since v1 (the data's content is unchanged), "
        "so nothing was retrained; v1 is still served."
    )
    shrink(data)
    reply = posted.wait_for(lambda r: "is now served" in r.text)
    assert reply.text.startswith("Scheduled retrain: v2 is now served (was v1).")
    assert_announces(reply.text, model_dir, "v2", "v1")
    assert {f.path for f in reply.files} == announced_charts(model_dir, "v2")
    assert service.served_version == "v2"
    posted.wait_for(lambda r: "no new data since v2" in r.text)


def test_unchanged_data_can_stay_silent(model_dir: Path, data: Path) -> None:
    service = service_for(model_dir, data, SEGBOT_ANNOUNCE_UNCHANGED="false")
    posted = Posted()
    schedule = Schedule(service, Announcer.for_settings(service.settings, posted), None)
    schedule.run_retrain()
    assert posted.replies == []
    shrink(data)
    schedule.run_retrain()
    [reply] = posted.replies
    assert "v2 is now served" in reply.text


def test_a_failing_data_source_keeps_the_old_version_and_says_so(
    model_dir: Path, data: Path, customer_ids: list[str]
) -> None:
    service, posted = service_for(model_dir, data), Posted()
    broken = read(data)
    broken.loc[5, "customer_id"] = broken.loc[4, "customer_id"]  # a duplicate id
    write_atomic(data, broken)
    Schedule(service, Announcer(posted), None).run_retrain()
    [reply] = posted.replies
    assert reply.text.startswith("Scheduled retrain failed: ")
    assert reply.text.endswith(". v1 is still served.") and "\n" not in reply.text
    assert "duplicate" in reply.text
    assert service.registry.versions() == ["v1"] and service.served_version == "v1"
    assert not list(model_dir.glob(".tmp-*"))
    assert service.lookup(customer_ids[0]).version == "v1"  # queries carry on

    data.unlink()  # the source gone altogether
    Schedule(service, Announcer(posted), None).run_retrain()
    assert posted.replies[-1].text.startswith("Scheduled retrain failed: ")
    assert "customers.csv" in posted.replies[-1].text


def test_a_degraded_model_is_held_back_then_served_by_an_admin_rollback(
    model_dir: Path, data: Path
) -> None:
    service, posted = service_for(model_dir, data), Posted()
    announcer = Announcer(posted)
    scramble(data)
    Schedule(service, announcer, None).run_retrain()
    [held] = posted.replies
    lines = held.text.splitlines()
    assert lines[0] == "Scheduled retrain: trained v2 but held it back; v1 is still served."
    reasons = metadata(model_dir, "v2")["guardrails"]
    assert reasons and reasons[0].startswith("silhouette fell from")
    assert lines[1] == f"Why: {'; '.join(reasons)}."
    assert lines[2] == "To serve v2 anyway, an admin can run `/segments rollback v2`."
    assert_announces(held.text, model_dir, "v2", "v1")
    assert service.served_version == "v1"

    router = Router(service, service.settings, announcer)
    history = router.handle("/segments history", user="UUSER001", channel=CHANNEL, slack=True)
    assert "v2 (candidate, not served)" in history.text
    assert f"Held back: {reasons[0]}" in history.text
    assert "v1 (served)" in history.text

    refused = router.handle("/segments rollback v2", user="UUSER001", channel=CHANNEL, slack=True)
    assert not refused.ok and service.served_version == "v1"
    rolled = router.handle("/segments rollback v2", user=ADMIN, channel=CHANNEL, slack=True)
    assert rolled.ok and service.served_version == "v2"
    assert posted.replies[-1].text.startswith(f"Rollback by <@{ADMIN}>: v2 is served again")
    assert "v2 (served)" in router.handle("/segments history").text
    router.handle("/segments rollback v1", user=ADMIN, channel=CHANNEL, slack=True)
    assert service.served_version == "v1"  # any stored version, either way


def test_a_tiny_segment_holds_back_too(model_dir: Path, data: Path) -> None:
    # a fixed k: `auto` chooses k so that every segment clears the floor
    service = service_for(model_dir, data, SEGBOT_MIN_SEGMENT_SHARE="0.3", SEGBOT_K="5")
    posted = Posted()
    shrink(data)
    Schedule(service, Announcer(posted), None).run_retrain()
    [held] = posted.replies
    assert "trained v2 but held it back" in held.text and "holds only" in held.text
    assert service.served_version == "v1"


# ---- one retrain at a time ---------------------------------------------------------------------
def test_a_scheduled_run_while_a_retrain_runs_is_skipped_and_logged(
    model_dir: Path, data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service, posted = service_for(model_dir, data), Posted()
    holding, release = threading.Event(), threading.Event()

    def slow(stage: str, fraction: float) -> None:
        holding.set()
        release.wait(30)

    manual = threading.Thread(target=service.retrain, kwargs={"progress": slow, "force": True})
    manual.start()
    try:
        assert holding.wait(30)
        with caplog.at_level(logging.INFO, logger="bot.schedule"):
            Schedule(service, Announcer(posted), None).run_retrain()
        assert "scheduled retrain skipped: a retrain is already running" in caplog.text
        assert posted.replies == []
    finally:
        release.set()
        manual.join(60)
    assert service.registry.versions() == ["v1", "v2"]  # the manual one, and only it


def test_an_admin_asking_during_a_scheduled_retrain_is_told_politely(
    model_dir: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import model.data.load

    service, posted = service_for(model_dir, data), Posted()
    entered, release = threading.Event(), threading.Event()
    real_load = model.data.load.load_dataset

    def slow_load(settings: Any) -> Any:
        entered.set()
        release.wait(30)
        return real_load(settings)

    monkeypatch.setattr(model.data.load, "load_dataset", slow_load)
    scheduled = threading.Thread(target=Schedule(service, Announcer(posted), None).run_retrain)
    scheduled.start()
    try:
        assert entered.wait(30)
        router = Router(service, service.settings)
        for line in ("/segments retrain", "/segments retrain force"):
            reply = router.plan(line, user=ADMIN, channel=CHANNEL, slack=True)
            assert isinstance(reply, Reply) and not reply.ok
            assert reply.text == "A retrain is already running; wait for it."
    finally:
        release.set()
        scheduled.join(60)
    assert len(posted.replies) == 1  # the scheduled run still announced its outcome


def test_one_slot_is_run_once_by_processes_sharing_a_model_directory(
    model_dir: Path, data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trigger = cron_trigger("0 6 * * 1", UTC_TZ)
    a_posted, b_posted = Posted(), Posted()
    a = Schedule(service_for(model_dir, data), Announcer(a_posted), trigger)
    b = Schedule(service_for(model_dir, data), Announcer(b_posted), trigger)
    monday = datetime(2025, 1, 6, 6, 0, 0, 300_000, tzinfo=UTC_TZ)
    slot = a.slot(monday)
    assert slot == datetime(2025, 1, 6, 6, 0, tzinfo=UTC_TZ)
    assert b.slot(monday + timedelta(minutes=3)) == slot  # a late process: the same slot
    shrink(data)
    a.run_retrain(slot)
    with caplog.at_level(logging.INFO, logger="bot.schedule"):
        b.run_retrain(slot)
    assert "another segbot process has run it" in caplog.text
    assert [r.text.splitlines()[0] for r in a_posted.replies] == [
        "Scheduled retrain: v2 is now served (was v1)."
    ]
    assert b_posted.replies == []  # not a second "no new data since v2" for the same slot
    b.run_retrain(slot + timedelta(days=7))  # the next week is b's if it comes first
    assert "no new data since v2" in b_posted.replies[0].text
    assert not claim_slot(model_dir, slot) and claim_slot(model_dir, slot + timedelta(days=14))


# ---- switching, history, retention -------------------------------------------------------------
def test_queries_during_a_switch_come_wholly_from_one_version(
    model_dir: Path, data: Path, customer_ids: list[str]
) -> None:
    service = service_for(model_dir, data)
    shrink(data, 300)  # the customers asked about stay; some of them change segment
    answers, stop = [], threading.Event()

    def ask() -> None:
        while not stop.is_set():
            for cid in customer_ids:
                answers.append(service.lookup(cid))
            time.sleep(0.005)

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        result = service.retrain()
    finally:
        time.sleep(0.3)
        stop.set()
        asker.join(30)
    assert result.served and result.version.version == "v2"
    versions = {n: LoadedVersion.load(model_dir / n) for n in ("v1", "v2")}
    seen = set()
    for a in answers:
        v = versions[a.version]
        seen.add(a.version)
        assert a.as_of == v.metadata.trained_at
        assert a.segment.id == int(v.segments[v.row_of(a.customer_id)])
        assert a.segment.name == v.segment(a.segment.id).name
    assert seen == {"v1", "v2"}, "the lookups should straddle the switch"


def test_history_shows_every_version_and_retention_keeps_the_served_one(
    model_dir: Path, data: Path
) -> None:
    service = service_for(model_dir, data, SEGBOT_KEEP_VERSIONS="2")
    service.retrain(force=True)  # v2 served
    service.retrain(force=True)  # v3 served; v1 goes (two are kept)
    assert service.registry.versions() == ["v2", "v3"]
    service.rollback("v2")
    service.settings = service.settings.model_copy(update={"min_segment_share": 0.6})
    held = service.retrain(force=True)  # v4: a candidate
    assert not held.served
    # three kept: the last two, and the served one although it is older
    assert service.registry.versions() == ["v2", "v3", "v4"]
    service.retrain(force=True)  # v5: a candidate too; v3 goes, v2 stays (served)
    assert service.registry.versions() == ["v2", "v4", "v5"]

    text = Router(service).handle("/segments history").text
    lines = text.splitlines()
    assert lines[0] == "3 trained version(s); serving v2"
    for name, status in (("v5", "candidate, not served"), ("v4", "candidate, not served")):
        meta = metadata(model_dir, name)
        line = next(line for line in lines if line.startswith(f"{name} ("))
        assert line.startswith(f"{name} ({status}) · {render.date(meta['trained_at'], True)}")
        assert f"{meta['rows']:,} rows · k={meta['k']}" in line
        assert f"silhouette {meta['quality']['silhouette']:.2f}" in line
        assert f"moved {meta['comparison']['moved']:,}" in line
        assert f"ARI {meta['comparison']['ari']:.2f}" in line
    assert any(line.startswith("v2 (served)") for line in lines)
    assert text.count("Held back: segment") == 2


# ---- `segbot serve` end to end -------------------------------------------------------------------
def start_serve(tmp: Path, fake: SlackFake, model_dir: Path, data: Path, **env: object) -> Bot:
    """`segbot serve --http` announcing in ANNOUNCE, once `/healthz` says 200."""
    bot = start_http_bot(tmp, fake, model_dir, data, SEGBOT_ANNOUNCE_CHANNEL=ANNOUNCE, **env)
    bot.wait_ready()
    return bot


def announced(fake: SlackFake, match: Callable[[str], bool], timeout: float = 60) -> str:
    """The text of the first announcement in ANNOUNCE that `match`es."""
    calls = fake.wait_for(
        lambda: [
            c
            for c in fake.called("chat.postMessage")
            if c.params.get("channel") == ANNOUNCE
            and c.result.get("ok")
            and match(c.params["text"])
        ],
        timeout=timeout,
    )
    return calls[0].params["text"]


def assert_charts_uploaded(fake: SlackFake, model_dir: Path, version: str) -> None:
    expected = sorted(path.read_bytes() for path in announced_charts(model_dir, version))
    done = fake.wait_for(
        lambda: [
            c
            for c in fake.called("files.completeUploadExternal")
            if c.params.get("initial_comment") == f"Charts of {version}"
        ]
    )
    assert done[0].params["channel_id"] == ANNOUNCE
    ids = [f["id"] for f in json.loads(done[0].params["files"])]
    assert sorted(fake.uploads[i] for i in ids) == expected


def test_serve_retrains_on_schedule_and_announces_in_the_channel(
    tmp_path: Path, served_copy: tuple[Path, Path], slack_fake: SlackFake
) -> None:
    """The quick variant: the test hook fires every 2 s instead of the cron."""
    model_dir, data = served_copy
    bot = start_serve(tmp_path, slack_fake, model_dir, data, **{TEST_EVERY_ENV: 2})
    try:
        same = announced(slack_fake, lambda t: "no new data" in t)
        assert same.startswith("Scheduled retrain: no new data since v1")
        shrink(data)
        text = announced(slack_fake, lambda t: "is now served" in t)
        assert text.startswith("Scheduled retrain: v2 is now served (was v1).")
        assert_announces(text, model_dir, "v2", "v1")
        assert_charts_uploaded(slack_fake, model_dir, "v2")
        assert bot.health() == (200, {"status": "ok", "version": "v2"})
        announced(slack_fake, lambda t: "no new data since v2" in t)
    finally:
        stop_bot(bot)
    log = bot.log.read_text()
    assert "Traceback" not in log and BOT_TOKEN not in log


def test_an_admin_retrain_shows_progress_and_is_announced_and_retries_are_ignored(
    tmp_path: Path, served_copy: tuple[Path, Path], slack_fake: SlackFake
) -> None:
    model_dir, data = served_copy
    bot = start_serve(tmp_path, slack_fake, model_dir, data)
    slack_fake.reset()  # forget auth.test at start
    try:
        body = slash_body(
            "/segments", "retrain", user=ADMIN, response_url=slack_fake.response_url("r")
        )
        retry = {**signed_headers(body), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "x"}
        # A retry alone (its first delivery is being worked on) starts nothing: the bot
        # records its decision, after which nothing follows from that request.
        assert bot.post(body, retry) == (200, "")
        bot.wait_logged(f"/segments retrain from {ADMIN} in {CHANNEL}: ignored a Slack retry")
        assert slack_fake.calls == [] and sorted(p.name for p in model_dir.glob("v*")) == ["v1"]

        shrink(data)
        ack = bot.slash("/segments", "retrain", user=ADMIN)
        assert "Retraining started" in ack["text"]
        # Retried while it runs: never a second retrain (at most a polite "already running").
        status, payload = bot.post(body, {**retry, **signed_headers(body)})
        assert status == 200 and (payload == "" or "already running" in payload)
        # the requester's progress: one message, updated with chat.update to the result
        final = slack_fake.wait_for(
            lambda: [
                c for c in slack_fake.called("chat.update") if "Retrained" in c.params["text"]
            ],
            timeout=60,
        )[0]
        assert final.params["channel"] == CHANNEL and "v2 is now served" in final.params["text"]
        progress = [
            c for c in slack_fake.called("chat.postMessage") if c.params["channel"] == CHANNEL
        ]
        assert len(progress) == 1 and final.params["ts"] == progress[0].result["ts"]
        # and the channel's announcement, naming who asked
        text = announced(slack_fake, lambda t: "is now served" in t)
        assert text.startswith(f"Retrain requested by <@{ADMIN}>: v2 is now served (was v1).")
        assert_announces(text, model_dir, "v2", "v1")
        assert_charts_uploaded(slack_fake, model_dir, "v2")
        # one retrain only: of the three deliveries, one was queued, the retries were not
        outcomes = re.findall(
            rf"/segments retrain from {ADMIN} in {CHANNEL}: ([A-Za-z ]+) in \d+ ms",
            bot.log.read_text(),
        )
        assert outcomes[:2] == ["ignored a Slack retry", "queued"] and len(outcomes) == 3
        assert outcomes[2] in ("ignored a Slack retry", "refused or failed"), outcomes
        assert sorted(p.name for p in model_dir.glob("v*")) == ["v1", "v2"]

        # unchanged data: the admin hears it (and how to force one); the channel does not
        slack_fake.reset()
        bot.slash("/segments", "retrain", user=ADMIN)
        same = slack_fake.wait_for(
            lambda: [
                c for c in slack_fake.called("chat.update") if "No new data" in c.params["text"]
            ]
        )[0]
        assert "`/segments retrain force` retrains anyway" in same.params["text"]

        bot.slash("/segments", "retrain force", user=ADMIN)
        text = announced(slack_fake, lambda t: "is now served" in t)
        assert text.startswith(f"Retrain requested by <@{ADMIN}>: v3 is now served (was v2).")
        assert_announces(text, model_dir, "v3", "v2")
        # Announced after the unchanged one had finished: the channel heard only this.
        to_channel = [
            c for c in slack_fake.called("chat.postMessage") if c.params["channel"] == ANNOUNCE
        ]
        assert [c.params["text"] for c in to_channel] == [text]
    finally:
        stop_bot(bot)


def test_serve_in_the_shell_runs_the_schedule_too(
    tmp_path: Path, served_copy: tuple[Path, Path]
) -> None:
    model_dir, data = served_copy
    env = segbot_env(SEGBOT_MODEL_DIR=model_dir, SEGBOT_DATA=data, **{TEST_EVERY_ENV: 1})
    proc = subprocess.Popen(
        [*segbot_command(), "serve", "--shell"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "Scheduled retrain: no new data since v1" in line:
                break
        else:
            raise AssertionError("the shell never printed a scheduled retrain")
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(30)
    assert proc.returncode == 0


def test_serve_in_socket_mode_runs_the_schedule_too(
    tmp_path: Path, served_copy: tuple[Path, Path], slack_fake: SlackFake
) -> None:
    from tests.test_socket_mode import socket_mode_server

    model_dir, data = served_copy
    env = segbot_env(
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=slack_fake.api_url,
        SEGBOT_MODEL_DIR=model_dir,
        SEGBOT_DATA=data,
        SEGBOT_ANNOUNCE_CHANNEL=ANNOUNCE,
        **{TEST_EVERY_ENV: 1},
    )
    with socket_mode_server(slack_fake) as state:
        proc = subprocess.Popen(
            [*segbot_command(), "serve", "--socket"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert state.connected.wait(30)
            text = announced(slack_fake, lambda t: "no new data" in t)
            assert text.startswith("Scheduled retrain: no new data since v1")
        finally:
            proc.terminate()
            proc.wait(15)


@pytest.mark.slow
def test_serve_with_a_one_minute_cron_announces_a_change_then_no_new_data(
    tmp_path: Path, served_copy: tuple[Path, Path], slack_fake: SlackFake
) -> None:
    """The real thing: SEGBOT_RETRAIN_CRON="* * * * *", no test hook. Up to ~2.5 minutes."""
    model_dir, data = served_copy
    shrink(data)  # new data before the first scheduled run
    bot = start_serve(tmp_path, slack_fake, model_dir, data, SEGBOT_RETRAIN_CRON="* * * * *")
    try:
        text = announced(slack_fake, lambda t: "is now served" in t, timeout=100)
        print("\n--- announcement ---\n" + text + "\n---")
        assert text.startswith("Scheduled retrain: v2 is now served (was v1).")
        assert_announces(text, model_dir, "v2", "v1")
        assert_charts_uploaded(slack_fake, model_dir, "v2")
        same = announced(slack_fake, lambda t: "no new data" in t, timeout=100)
        print(same)
        assert same.startswith("Scheduled retrain: no new data since v2")
    finally:
        stop_bot(bot)
    log = bot.log.read_text()
    assert "scheduled retrains: * * * * *" in log and "Traceback" not in log
