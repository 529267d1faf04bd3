"""Security, against `segbot -v serve --http` (DEBUG logging) and
`segbot serve --socket`, with the local Slack fake.

- Forged, tampered and stale requests get 401 and cause nothing: no Slack call, no
  response_url post, no retrain, no rollback, no export, nothing in the answer.
- Admin-only commands (retrain, rollback, export) are refused to others in both Slack
  modes, before any work is queued.
- Tokens and the signing secret never reach the log, at DEBUG, through every path that
  touches them (start-up, Web API calls, failed calls with traces, refused requests).
- Customer-level answers are ephemeral; exports go only to admins, into the
  conversation the request came from (not the announcement channel, not elsewhere).

Already covered elsewhere and not repeated: forged/stale/unsigned `/segments retrain`
(test_http_e2e), non-admin retrain and export over HTTP (test_http_e2e), all three admin
commands refused at the router (test_router), Socket Mode at INFO without tokens in the
log (test_socket_mode).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.render import unescape
from model.service import SegmentService
from tests.conftest import (
    ADMIN,
    APP_TOKEN,
    BOT_TOKEN,
    CHANNEL,
    SIGNING_SECRET,
    USER,
    Bot,
    copy_served,
    make_settings,
    segbot_command,
    segbot_env,
    signed_headers,
    slack_signature,
    slash_body,
    start_http_bot,
    stop_bot,
    stop_process,
    wait_logged,
)
from tests.slack_fake import SlackFake
from tests.test_socket_mode import SocketModeServer, slash_envelope, socket_mode_server

ANNOUNCE = "C0ANNOUNCE"
SECRETS = {
    "bot token": BOT_TOKEN,
    "app token": APP_TOKEN,
    "signing secret": SIGNING_SECRET,
    # parts too, in case something logs a token cut or prefixed differently
    "bot token body": BOT_TOKEN.removeprefix("xoxb-"),
    "app token body": APP_TOKEN.removeprefix("xapp-"),
    "signing secret tail": SIGNING_SECRET[-16:],
    # the (deprecated) verification token every slash command body carries
    "verification token": "legacy-verification-token",
}


def assert_no_secrets(text: str, where: str) -> None:
    for name, value in SECRETS.items():
        assert value not in text, f"the {name} is in {where}"
        assert value not in unescape(text), f"the {name} is in {where}"


@pytest.fixture(scope="module")
def fake() -> Iterator[SlackFake]:
    fake = SlackFake(bot_token=BOT_TOKEN, app_token=APP_TOKEN).start()
    yield fake
    fake.stop()


def launch(tmp: Path, fake: SlackFake, model_dir: Path, data: Path, **env: object) -> Bot:
    """`segbot -v serve --http`: DEBUG, the most the log ever says."""
    return start_http_bot(
        tmp,
        fake,
        model_dir,
        data,
        command=[*segbot_command(), "-v"],
        SEGBOT_ANNOUNCE_CHANNEL=ANNOUNCE,
        **env,
    )


@pytest.fixture(scope="module")
def bot(
    tmp_path_factory: pytest.TempPathFactory,
    trained_model_dir: Path,
    sample_csv: Path,
    fake: SlackFake,
) -> Iterator[Bot]:
    tmp = tmp_path_factory.mktemp("security")
    model_dir, data = copy_served(trained_model_dir, sample_csv, tmp)
    # a second version, so that a forged rollback would have somewhere to go
    shutil.copytree(trained_model_dir / "v1", model_dir / "v2")
    meta = json.loads((model_dir / "v2" / "metadata.json").read_text())
    meta["version"] = "v2"
    (model_dir / "v2" / "metadata.json").write_text(json.dumps(meta))
    (model_dir / "CURRENT").write_text("v2\n")
    bot = launch(tmp, fake, model_dir, data)
    try:
        bot.wait_ready(warm=True)
        yield bot
    finally:
        stop_bot(bot)


@pytest.fixture
def slack(bot: Bot, fake: SlackFake) -> SlackFake:
    fake.reset()
    return fake


def disk(model_dir: Path) -> tuple[list[str], str]:
    return sorted(p.name for p in model_dir.iterdir()), (model_dir / "CURRENT").read_text()


MARKER = "C0MARKER"


def log_size(bot: Bot) -> int:
    return len(bot.log.read_text())


def send_marker(bot: Bot, slack: SlackFake) -> None:
    """A genuine chart request sent after the others, waited for until its upload is
    done: the bot has read every request before it (its acknowledgement came after
    theirs) and started any slow work they queued (the pool takes work in order). So
    what the bot did not do by now, it is not about to."""
    bot.slash("/segments", "elbow", channel=MARKER, sink="marker")
    slack.wait_for(
        lambda: [
            c
            for c in slack.called("files.completeUploadExternal")
            if c.params["channel_id"] == MARKER
        ],
        timeout=60,
    )


def assert_only_the_marker_happened(bot: Bot, slack: SlackFake, since: int) -> None:
    """Slack saw the marker's upload and nothing else, and the bot's log, from `since`,
    records no command but the marker."""
    assert [c.method for c in slack.calls] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    assert slack.called("files.completeUploadExternal")[0].params["channel_id"] == MARKER
    assert len(slack.uploads) == 1 and {sink for sink, _ in slack.responses} <= {"marker"}
    commands = re.findall(
        r"segbot:\w+: (/segments? \w+) from \w+ in (\w+)", bot.log.read_text()[since:]
    )
    assert commands == [("/segments elbow", MARKER)], commands


# ---- forged and stale requests: 401, and nothing happens ----------------------------------
def forgeries(body: str) -> dict[str, tuple[str, dict[str, str]]]:
    """(body actually sent, headers) for every way a request can be wrong."""
    now = int(time.time())
    good = signed_headers(body)
    as_admin = body.replace(f"user_id={USER}", f"user_id={ADMIN}")
    return {
        "wrong secret": (body, signed_headers(body, secret="not-the-secret")),
        "stale (6 min old)": (body, signed_headers(body, timestamp=now - 6 * 60)),
        "from the future": (body, signed_headers(body, timestamp=now + 6 * 60)),
        "unsigned": (body, {"Content-Type": "application/x-www-form-urlencoded"}),
        # a real signature, for another body: the user id changed to an admin's
        "body tampered": (as_admin, good),
        # a real signature with the timestamp header moved to now
        "timestamp swapped": (
            body,
            {**signed_headers(body, timestamp=now - 600), "X-Slack-Request-Timestamp": str(now)},
        ),
        "other scheme": (
            body,
            {**good, "X-Slack-Signature": good["X-Slack-Signature"].replace("v0=", "v1=")},
        ),
        "truncated signature": (
            body,
            {**good, "X-Slack-Signature": good["X-Slack-Signature"][:-8]},
        ),
        "signature not ASCII": (body, {**good, "X-Slack-Signature": "v0=é" + "0" * 60}),
        "timestamp too long": (
            body,
            {
                **good,
                "X-Slack-Request-Timestamp": "9" * 5000,
                "X-Slack-Signature": slack_signature(SIGNING_SECRET, "9" * 5000, body),
            },
        ),
        "timestamp not a number": (
            body,
            {
                **good,
                "X-Slack-Request-Timestamp": "soon",
                "X-Slack-Signature": slack_signature(SIGNING_SECRET, "soon", body),
            },
        ),
    }


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("/segments", "retrain"),
        ("/segments", "rollback v1"),
        ("/segments", "export 1"),
        ("/segment", "customer {cid}"),
        ("/segments", "elbow"),
    ],
)
def test_forged_requests_get_401_and_cause_nothing(
    bot: Bot, slack: SlackFake, customer_ids: list[str], command: str, text: str
) -> None:
    text = text.format(cid=customer_ids[0])
    before, since = disk(bot.model_dir), log_size(bot)
    refused = bot.log.read_text().count("refused a request with")
    body = slash_body(command, text, user=USER, response_url=slack.response_url("forged"))
    names = [s.name for s in SegmentService(make_settings(bot.model_dir)).summary().segments]
    forged = forgeries(body)
    for what, (sent, headers) in forged.items():
        status, payload = bot.post(sent, headers)
        assert status == 401, what
        assert not any(n in payload for n in names) and customer_ids[0] not in payload, what
    bot.wait_logged("refused a request with", count=refused + len(forged))  # one each
    send_marker(bot, slack)
    assert_only_the_marker_happened(bot, slack, since)
    assert disk(bot.model_dir) == before
    assert bot.health() == (200, {"status": "ok", "version": "v2"})


def test_a_huge_body_is_refused_before_anything_reads_it(bot: Bot, slack: SlackFake) -> None:
    since = log_size(bot)
    body = slash_body("/segments", "retrain", user=ADMIN) + "&pad=" + "x" * 300_000
    status, _ = bot.post(body, signed_headers(body))
    assert status == 413
    send_marker(bot, slack)
    assert_only_the_marker_happened(bot, slack, since)
    assert disk(bot.model_dir)[1] == "v2\n"


# ---- admin-only commands ---------------------------------------------------------------------
def test_non_admins_cannot_roll_back_over_http(bot: Bot, slack: SlackFake) -> None:
    before = disk(bot.model_dir)
    ack = bot.slash("/segments", "rollback v1", user=USER)
    assert ack["response_type"] == "ephemeral" and "only segbot admins" in ack["text"]
    bot.wait_logged(f"refused /segments rollback for user {USER}")
    assert slack.calls == [] and disk(bot.model_dir) == before
    assert bot.health()[1]["version"] == "v2"


def test_the_admin_list_is_exact(bot: Bot, slack: SlackFake) -> None:
    """No prefix, case or whitespace tricks: only the listed id is an admin."""
    before = disk(bot.model_dir)
    for user in (ADMIN.lower(), ADMIN + "X", ADMIN[:-1], f" {ADMIN}", "", "USLACKBOT"):
        ack = bot.slash("/segments", "rollback v1", user=user)
        assert "only segbot admins" in ack["text"], user
    assert disk(bot.model_dir) == before and slack.calls == []


@pytest.fixture
def socket_bot(
    tmp_path: Path, model_dir: Path, slack_fake: SlackFake
) -> Iterator[tuple[SocketModeServer, subprocess.Popen, Path, Path]]:
    with socket_mode_server(slack_fake) as state:
        log = tmp_path / "socket.log"
        proc = subprocess.Popen(
            [*segbot_command(), "-v", "serve"],
            env=segbot_env(
                SLACK_APP_TOKEN=APP_TOKEN,
                SLACK_BOT_TOKEN=BOT_TOKEN,
                SLACK_API_URL=slack_fake.api_url,
                SEGBOT_MODEL_DIR=model_dir,
                SEGBOT_ADMINS=ADMIN,
            ),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
        )
        try:
            assert state.connected.wait(30), log.read_text()
            yield state, proc, model_dir, log
        finally:
            stop_process(proc)


def test_admin_commands_are_refused_to_others_in_socket_mode(
    socket_bot, slack_fake: SlackFake
) -> None:
    state, proc, model_dir, log = socket_bot
    before = disk(model_dir)
    slack_fake.calls.clear()
    for i, text in enumerate(("retrain", "rollback v1", "export 1")):
        envelope = slash_envelope(f"adm-{i}", "/segments", text, slack_fake.response_url("s"))
        state.outgoing.put(envelope)
        ack = state.ack_for(f"adm-{i}")
        assert ack["payload"]["response_type"] == "ephemeral"
        assert "only segbot admins" in ack["payload"]["text"], text
        wait_logged(log, f"refused /segments {text.split()[0]} for user {USER}", proc=proc)
    assert slack_fake.calls == [] and slack_fake.uploads == {} and disk(model_dir) == before

    # the same from an admin works: the export reaches the admin's DM with the bot
    envelope = slash_envelope("adm-ok", "/segments", "export 1", slack_fake.response_url("s"))
    envelope["payload"]["user_id"] = ADMIN
    state.outgoing.put(envelope)
    assert "Exporting" in state.ack_for("adm-ok")["payload"]["text"]
    [done] = slack_fake.wait_for(lambda: slack_fake.called("files.completeUploadExternal"))
    assert done.params["channel_id"] == "D" + ADMIN and done.ok
    stop_process(proc)
    assert_no_secrets(log.read_text(), "the Socket Mode log at DEBUG")


# ---- customer data: ephemeral, and exports only where they were asked for -------------------
def test_customer_level_answers_are_ephemeral(
    bot: Bot, slack: SlackFake, customer_ids: list[str]
) -> None:
    cid = customer_ids[1]
    for command, text in [
        ("/segment", f"customer {cid}"),
        ("/segment", cid),
        ("/segment", f'"{cid}"'),
        ("/segment", "customer NOT-A-CUSTOMER"),  # the "not found" echoes the id: ephemeral
        ("/segment", "predict age=30 annual_income=50000"),
        ("/segment", "prospect total_spend=900"),
        ("/segment", "predict shoe_size=9"),
        ("/segments", "export 1"),  # a non-admin: the refusal too
    ]:
        ack = bot.slash(command, text, user=USER)
        assert ack["response_type"] == "ephemeral", (command, text, ack["text"])
    send_marker(bot, slack)
    # nothing was posted to the channel, by any route: only the marker's chart
    assert [c.method for c in slack.calls] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    assert slack.called("files.completeUploadExternal")[0].params["channel_id"] == MARKER


@pytest.mark.parametrize("channel", [CHANNEL, "C0OTHER", "DPAIR0001", "G0PRIVATE"])
def test_exports_go_only_to_the_admins_dm(bot: Bot, slack: SlackFake, channel: str) -> None:
    """Files are never ephemeral: a CSV of customer ids shared into a conversation is
    seen by all its members, so it goes to the admin's DM with the bot, wherever asked,
    with a private pointer where they asked."""
    ack = bot.slash("/segments", "export 2", user=ADMIN, channel=channel, sink="export")
    assert ack["response_type"] == "ephemeral"
    [done] = slack.wait_for(lambda: slack.called("files.completeUploadExternal"))
    assert done.params["channel_id"] == "D" + ADMIN and done.ok
    [pointer] = slack.wait_for(lambda: slack.responses_to("export"))
    assert pointer["response_type"] == "ephemeral" and "direct message" in pointer["text"]
    assert [c.method for c in slack.calls] == [
        "conversations.open",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    [csv] = slack.uploads.values()
    expected = SegmentService(make_settings(bot.model_dir)).export("2")
    assert csv == expected.csv
    for call in slack.calls:  # no conversation but the admin's DM is named anywhere
        channels = {v for k, v in call.params.items() if "channel" in k}
        assert channels <= {"D" + ADMIN}, call.params


def test_an_export_is_never_posted_elsewhere_when_its_pointer_cannot_go_there(
    bot: Bot, slack: SlackFake
) -> None:
    """A private channel the bot is not in, and a response_url that fails: the CSV still
    goes to the admin's DM only, and the pointer too (never into another channel)."""
    slack.outside.add("G0LOCKED")
    slack.private.add("G0LOCKED")
    bot.slash("/segments", "export 1", user=ADMIN, channel="G0LOCKED", sink="broken-locked")
    [pointer] = slack.wait_for(lambda: slack.called("chat.postMessage"))
    assert pointer.params["channel"] == "D" + ADMIN and "direct message" in pointer.params["text"]
    assert slack.shared_in("D" + ADMIN) and not slack.shared_in("G0LOCKED")
    for call in slack.calls:
        channels = {v for k, v in call.params.items() if "channel" in k}
        assert channels <= {"G0LOCKED", "D" + ADMIN}, call.params
    assert not [c for c in slack.calls if c.ok and "G0LOCKED" in json.dumps(c.params)]


# ---- secrets and the log ---------------------------------------------------------------------
def test_no_secret_in_the_debug_log(bot: Bot, slack: SlackFake, customer_ids: list[str]) -> None:
    # touch every path that handles a token or the secret, then read the whole log
    bot.slash("/segment", customer_ids[0])
    bot.slash("/segments", "elbow")
    slack.wait_for(lambda: slack.called("files.completeUploadExternal"))
    slack.fail("files.getUploadURLExternal", times=5, status=500)  # a failure with a trace
    bot.slash("/segments", "profiles", sink="failed")
    slack.wait_for(lambda: slack.responses_to("failed"), timeout=20)
    body = slash_body("/segments", "retrain", user=ADMIN)
    bot.post(body, signed_headers(body, secret="forged"))
    text = bot.log.read_text()
    assert "DEBUG" in text and "files.getUploadURLExternal" in text  # it is the verbose log
    assert_no_secrets(text, "the HTTP mode log at DEBUG")
    # refused requests are logged as a fact, not with their body (whose response_url
    # could post to the channel)
    assert "refused a request with an invalid or expired signature" in text
    assert "response%2Fforged" not in text and "/response/forged" not in text


def test_no_secret_in_the_log_when_slack_refuses_the_token(
    tmp_path: Path, model_dir: Path, sample_csv: Path, fake: SlackFake
) -> None:
    wrong = "xoxb-wrong-1111-revoked-token-value"
    bot = launch(tmp_path, fake, model_dir, sample_csv, SLACK_BOT_TOKEN=wrong)
    try:
        code = bot.proc.wait(timeout=60)
    finally:
        if bot.proc.poll() is None:
            stop_bot(bot)
    text = bot.log.read_text()
    assert code != 0
    assert "SLACK_BOT_TOKEN" in text.splitlines()[-1]  # says which setting, not its value
    assert wrong not in text and wrong.removeprefix("xoxb-") not in text
    assert_no_secrets(text, "the log of a refused start")
    assert not re.search(r"xox[bpa]-[\w-]{6,}", text)
