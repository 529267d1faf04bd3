"""HTTP mode end to end: `segbot serve --http` as a real process under uvicorn, signed
slash commands over loopback, and a local fake of Slack's Web API (tests/slack_fake.py)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bot.render import unescape
from bot.router import Router
from model.service import SegmentService
from tests.conftest import (
    ADMIN,
    BOT_TOKEN,
    CHANNEL,
    SIGNING_SECRET,
    USER,
    Bot,
    make_settings,
    signed_headers,
    slash_body,
    start_http_bot,
    stop_bot,
)
from tests.slack_fake import SlackFake


def local_router(model_dir: Path) -> Router:
    return Router(SegmentService(make_settings(model_dir)))


# ---- quick answers -------------------------------------------------------------------------
def test_healthz_names_the_served_version(bot: Bot) -> None:
    assert bot.health() == (200, {"status": "ok", "version": "v1"})


def test_summary_is_in_channel_and_matches_the_shell(bot: Bot, fake: SlackFake) -> None:
    ack = bot.slash("/segments", "summary")
    assert ack["response_type"] == "in_channel"
    local = local_router(bot.model_dir).handle("/segments summary")
    assert ack["text"] == local.text  # Slack shows what the shell prints
    assert ack["blocks"] == local.blocks
    for segment in local.data["segments"]:
        assert segment["name"] in ack["text"]
    assert bot.slash("/segments", "")["text"] == ack["text"]  # bare /segments is the summary


def test_lookup_is_ephemeral_and_names_segment_version_and_action(
    bot: Bot, fake: SlackFake, customer_ids: list[str]
) -> None:
    service = SegmentService(make_settings(bot.model_dir))
    for cid in customer_ids[:3]:
        expected = service.lookup(cid)
        for text in (f"customer {cid}", cid):
            ack = bot.slash("/segment", text)
            assert ack["response_type"] == "ephemeral"
            assert f"`{cid}`" in ack["text"]
            assert expected.segment.name in ack["text"]
            assert expected.segment.action in ack["text"]
            assert "v1" in ack["text"] and expected.membership.clarity in ack["text"]
    assert fake.calls == []  # answered in the acknowledgement, no Web API call


def test_prospect_says_what_was_filled_in(bot: Bot, fake: SlackFake) -> None:
    ack = bot.slash("/segment", 'predict age=34 "annual_income"=72000')
    assert ack["response_type"] == "ephemeral"
    assert "A prospect with age=34, annual_income=72k would be in" in ack["text"]
    assert "Filled in" in ack["text"] and "orders_per_year" in ack["text"]


def test_bad_prospect_values_get_one_line(bot: Bot, fake: SlackFake) -> None:
    ack = bot.slash("/segment", "predict shoe_size=44")
    assert ack["response_type"] == "ephemeral"
    assert ack["text"].startswith("Unknown feature 'shoe_size'")
    assert "Traceback" not in ack["text"]
    ack = bot.slash("/segment", "predict age=old")
    assert "must be a number" in ack["text"]


def test_malformed_text_gets_usage(bot: Bot, fake: SlackFake) -> None:
    for command, text in [
        ("/segments", "frobnicate"),
        ("/segment", ""),
        ("/segment", "predict age"),
        ("/segments", "rollback"),
    ]:
        ack = bot.slash(command, text)
        assert ack["response_type"] == "ephemeral"
        assert ack["text"].startswith("Sorry, I didn't get that"), ack["text"]
        assert "Try `/segment" in ack["text"]  # code spans keep their backticks in text


def test_echoed_text_cannot_mention_anyone(bot: Bot, fake: SlackFake) -> None:
    # Slack sends &, < and > escaped; the bot must send them back escaped too.
    ack = bot.slash("/segment", "customer &lt;!channel&gt;")
    assert "<!channel>" not in json.dumps(ack)
    assert "&lt;!channel&gt;" in ack["text"]
    ack = bot.slash("/segment", "predict &lt;@U999&gt;=1")
    assert "<@U999>" not in json.dumps(ack)
    assert "&lt;@U999&gt;" in ack["text"]


def test_unknown_path_is_404(bot: Bot) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{bot.url}/nope", timeout=5)
    assert err.value.code == 404


# ---- signatures --------------------------------------------------------------------------
def test_forged_and_stale_requests_are_refused_without_side_effects(
    bot: Bot, fake: SlackFake
) -> None:
    body = slash_body("/segments", "retrain", user=ADMIN, response_url=fake.response_url("x"))
    forged = signed_headers(body, secret="not-the-secret")
    stale = signed_headers(body, timestamp=int(time.time()) - 6 * 60)
    unsigned = {"Content-Type": "application/x-www-form-urlencoded"}
    refused = bot.log.read_text().count("refused a request with")
    for headers in (forged, stale, unsigned):
        status, _ = bot.post(body, headers)
        assert status == 401
    # Refused before any listener ran, each logged as such: the 401 is the whole outcome.
    # A genuine request after them is answered, and is all Slack ever saw.
    bot.wait_logged("refused a request with", refused + 3)
    assert "would be in" in bot.slash("/segment", "predict age=30")["text"]
    assert fake.calls == [] and fake.responses == []
    assert sorted(p.name for p in bot.model_dir.glob("v*")) == ["v1"]


# ---- slow work: charts, exports --------------------------------------------------------------
def test_chart_is_uploaded_as_png(bot: Bot, fake: SlackFake) -> None:
    ack = bot.slash("/segments", "elbow")
    assert ack["response_type"] == "ephemeral" and "elbow" in ack["text"]
    done = fake.wait_for(lambda: fake.called("files.completeUploadExternal"))
    complete = done[0].params
    assert complete["channel_id"] == CHANNEL
    assert "Elbow chart" in complete["initial_comment"]
    [(file_id, sent)] = fake.uploads.items()
    assert json.loads(complete["files"])[0]["id"] == file_id
    assert sent == (bot.model_dir / "v1" / "elbow.png").read_bytes()
    assert sent.startswith(b"\x89PNG")


def test_chart_alias_and_profiles(bot: Bot, fake: SlackFake) -> None:
    bot.slash("/segments", "chart")
    bot.slash("/segments", "profiles")
    fake.wait_for(lambda: len(fake.called("files.completeUploadExternal")) == 2)
    sent = sorted(fake.uploads.values(), key=len)
    expected = sorted(
        [(bot.model_dir / "v1" / f"{n}.png").read_bytes() for n in ("clusters", "profiles")],
        key=len,
    )
    assert sent == expected


def test_chart_in_a_public_channel_joins_first(bot: Bot, fake: SlackFake) -> None:
    fake.outside.add("C0PUBLIC")
    bot.slash("/segments", "clusters", channel="C0PUBLIC")
    fake.wait_for(lambda: len(fake.called("files.completeUploadExternal")) == 2)
    first, retried = fake.called("files.completeUploadExternal")
    assert first.result["error"] == "not_in_channel"
    assert retried.result["ok"] and retried.params["channel_id"] == "C0PUBLIC"
    [join] = fake.called("conversations.join")
    assert join.params["channel"] == "C0PUBLIC" and first.at < join.at < retried.at


def test_chart_in_a_private_channel_goes_to_the_askers_dm_with_an_invitation_hint(
    bot: Bot, fake: SlackFake
) -> None:
    fake.outside.add("G0PRIVATE")
    fake.private.add("G0PRIVATE")
    bot.slash("/segments", "elbow", channel="G0PRIVATE", sink="private")
    [answer] = fake.wait_for(lambda: fake.responses_to("private"))
    assert "direct message" in answer["text"] and "/invite @segbot" in answer["text"]
    assert answer["response_type"] == "ephemeral"
    [chart] = fake.shared_in("D" + USER)
    assert fake.uploads[chart] == (bot.model_dir / "v1" / "elbow.png").read_bytes()
    assert not fake.called("conversations.join")  # a private channel cannot be joined
    [attempt, sent] = fake.called("files.completeUploadExternal")
    assert attempt.result["error"] == "channel_not_found" and sent.ok


def test_a_slack_retry_never_starts_slow_work_twice(bot: Bot, fake: SlackFake) -> None:
    body = slash_body("/segments", "elbow", response_url=fake.response_url("retry"))
    headers = {**signed_headers(body), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"}
    before = bot.log.read_text().count("ignored a Slack retry")
    status, payload = bot.post(body, headers)
    assert status == 200 and payload == ""
    bot.wait_logged("ignored a Slack retry", before + 1)  # decided before the ack
    assert fake.calls == [] and fake.uploads == {}


def test_rate_limited_upload_is_retried_after_retry_after(bot: Bot, fake: SlackFake) -> None:
    fake.fail(
        "files.completeUploadExternal",
        status=429,
        headers={"Retry-After": "1"},
        body={"ok": False, "error": "ratelimited"},
    )
    bot.slash("/segments", "elbow")
    fake.wait_for(lambda: len(fake.called("files.completeUploadExternal")) == 2)
    limited, retried = fake.called("files.completeUploadExternal")
    assert limited.result["error"] == "ratelimited" and retried.result["ok"]
    assert retried.at - limited.at >= 1.0  # waited as Slack asked


def test_failing_response_url_falls_back_to_the_web_api(bot: Bot, fake: SlackFake) -> None:
    fake.outside.add("G0SECRET")
    fake.private.add("G0SECRET")
    # A chart asked for in a private channel the bot is not in, whose response_url fails:
    # the chart goes to the asker's DM, and the pointer too, since Slack refuses the
    # bot's ephemeral in a channel it is not in.
    bot.slash("/segments", "profiles", channel="G0SECRET", sink="broken-url")
    [pointer] = fake.wait_for(lambda: [c for c in fake.called("chat.postMessage") if c.ok])
    assert pointer.params["channel"] == "D" + USER
    assert (
        "direct message" in pointer.params["text"] and "/invite @segbot" in pointer.params["text"]
    )
    [refused] = fake.called("chat.postEphemeral")
    assert (
        refused.params["channel"] == "G0SECRET" and refused.result["error"] == "channel_not_found"
    )
    assert len(fake.responses_to("broken-url")) == 1 and fake.shared_in("D" + USER)


def test_export_only_for_admins_into_their_dm(bot: Bot, fake: SlackFake) -> None:
    ack = bot.slash("/segments", "export 1")
    assert ack["response_type"] == "ephemeral" and "only segbot admins" in ack["text"]
    bot.wait_logged(f"refused /segments export for user {USER}")
    assert fake.calls == []

    bot.slash("/segments", "export 1", user=ADMIN, sink="export")
    [done] = fake.wait_for(lambda: fake.called("files.completeUploadExternal"))
    assert done.params["channel_id"] == "D" + ADMIN  # files are never ephemeral: to a DM
    [pointer] = fake.wait_for(lambda: fake.responses_to("export"))
    assert pointer["response_type"] == "ephemeral" and "direct message" in pointer["text"]
    [csv] = fake.uploads.values()
    expected = SegmentService(make_settings(bot.model_dir)).export("1")
    assert csv == expected.csv
    assert csv.decode().count("\n") == expected.rows + 1


# ---- retrain: admins only, progress, result ------------------------------------------------
def test_non_admin_retrain_is_refused_and_changes_nothing(bot: Bot, fake: SlackFake) -> None:
    ack = bot.slash("/segments", "retrain", user=USER)
    assert ack["response_type"] == "ephemeral"
    assert "only segbot admins" in ack["text"]
    bot.wait_logged(f"refused /segments retrain for user {USER}")
    assert fake.calls == []
    assert sorted(p.name for p in bot.model_dir.glob("v*")) == ["v1"]
    assert bot.health()[1]["version"] == "v1"


def test_admin_retrain_shows_progress_then_the_result(bot: Bot, fake: SlackFake) -> None:
    # New data (fewer customers), so the retrain really trains a new version.
    lines = bot.data.read_text().splitlines(keepends=True)
    bot.data.write_text("".join(lines[:-150]))

    ack = bot.slash("/segments", "retrain", user=ADMIN)
    assert ack["response_type"] == "ephemeral" and "Retraining started" in ack["text"]
    [posted] = fake.wait_for(lambda: fake.called("chat.postMessage"))
    assert posted.params["channel"] == CHANNEL
    assert posted.params["text"].startswith("Retraining…")
    final = fake.wait_for(
        lambda: [c for c in fake.called("chat.update") if "Retrained" in c.params["text"]],
        timeout=60,
    )[0]
    assert final.params["channel"] == CHANNEL and final.params["ts"]
    assert "*v2* is now served" in json.dumps(final.params["blocks"])
    assert "1,850 customers" in final.params["text"]
    assert bot.health() == (200, {"status": "ok", "version": "v2"})

    history = bot.slash("/segments", "history")
    assert history["response_type"] == "in_channel"
    assert "v2 (served)" in history["text"] and "v1 (earlier)" in history["text"]


def test_secrets_never_reach_the_log(bot: Bot) -> None:
    log = unescape(bot.log.read_text())
    assert "Uvicorn running" in log
    assert BOT_TOKEN not in log and SIGNING_SECRET not in log
    assert "Traceback" not in log


# ---- a fresh install: health is 503 until the first model is trained -------------------------
def test_serve_trains_first_and_health_says_503_meanwhile(
    tmp_path: Path, sample_csv: Path, slack_fake: SlackFake
) -> None:
    bot = start_http_bot(tmp_path, slack_fake, tmp_path / "models", sample_csv)
    try:
        seen: list[tuple[int, dict[str, Any]]] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert bot.proc.poll() is None, bot.log.read_text()
            try:
                seen.append(bot.health())
            except OSError:
                time.sleep(0.05)
                continue
            if seen[-1][0] == 200:
                break
            if len(seen) == 1:  # asked while the bot trains: the answer, not its speed
                ack = bot.slash("/segments", "summary", timed=False)
                assert ack["response_type"] == "ephemeral"
                assert "still training" in ack["text"] or "no model" in ack["text"].lower()
            time.sleep(0.1)
        assert seen[0][0] == 503 and seen[0][1]["status"] in ("starting", "training")
        assert seen[-1] == (200, {"status": "ok", "version": "v1"})
        assert bot.slash("/segments", "summary")["response_type"] == "in_channel"
    finally:
        stop_bot(bot)
