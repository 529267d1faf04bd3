"""Mentions, DMs, buttons, modals, shortcuts and App Home end to end over HTTP:
`segbot serve --http` as a real process, signed Events API and interactivity requests,
and the local Slack fake recording what the bot does in return."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot import render
from bot.render import unescape
from bot.router import Router
from model.service import SegmentService
from tests import slack_payloads as P
from tests.conftest import (
    ADMIN,
    CHANNEL,
    USER,
    Bot,
    copy_served,
    make_settings,
    signed_headers,
    slash_payload,
    start_http_bot,
    stop_bot,
)
from tests.slack_fake import Call, SlackFake


@pytest.fixture(scope="module")
def service(bot: Bot) -> SegmentService:
    return SegmentService(make_settings(bot.model_dir))


def send_event(bot: Bot, event: dict[str, Any], **kw: Any) -> dict[str, Any]:
    payload = P.event_callback(event, **kw)
    body, headers = P.json_request(payload)
    started = time.monotonic()
    status, text = bot.post(body, headers)
    assert time.monotonic() - started < 3 and status == 200, text
    return payload


def interact(bot: Bot, payload: dict[str, Any]) -> tuple[int, str]:
    body, headers = P.form_request(payload)
    started = time.monotonic()
    status, text = bot.post(body, headers)
    assert time.monotonic() - started < 3, "Slack needs the acknowledgement within 3 s"
    return status, text


class Logged:
    """What the bot logs from now on: each listener logs the outcome of a request once
    it is done (a mention or DM after its answer was delivered), so waiting for that
    line proves nothing more comes of it, where sleeping and seeing nothing proves
    little."""

    def __init__(self, bot: Bot):
        self.bot, self.before = bot, bot.log.read_text()

    def wait(self, line: str, times: int = 1) -> None:
        self.bot.wait_logged(line, self.before.count(line) + times)


def marker_dm(bot: Bot, fake: SlackFake) -> Call:
    """A DM from a person, answered: sent after requests that must come to nothing, and
    handled after them (the listener decides before acknowledging; the posting pool
    takes work in order), its answer is the positive signal that they were handled."""
    logged = Logged(bot)
    send_event(bot, P.direct("help"))
    logged.wait(f"direct message from {USER}: answered")
    [answer] = [c for c in fake.called("chat.postMessage") if "segment" in c.params["text"]]
    return answer


POSTS = ("chat.postMessage", "chat.postEphemeral", "files.completeUploadExternal")


# ---- url_verification -----------------------------------------------------------------------
def test_url_verification_echoes_the_challenge(bot: Bot) -> None:
    body, headers = P.json_request(
        {"token": "t", "challenge": "c-3f9a", "type": "url_verification"}
    )
    status, text = bot.post(body, headers)
    assert status == 200 and json.loads(text) == {"challenge": "c-3f9a"}


# ---- mentions -----------------------------------------------------------------------------------
def test_mention_customer_is_ephemeral_to_the_asker_where_asked(
    bot: Bot, fake: SlackFake, service: SegmentService, customer_ids: list[str]
) -> None:
    cid = customer_ids[4]
    logged = Logged(bot)
    send_event(bot, P.mention(f"customer {cid}"))
    [sent] = fake.wait_for(lambda: fake.called("chat.postEphemeral"))
    expected = service.lookup(cid)
    assert sent.params["channel"] == CHANNEL and sent.params["user"] == USER
    # Not in the mention's own thread: it has no replies, and Slack would not show it.
    assert not sent.params.get("thread_ts") and sent.shown
    assert f"`{cid}`" in sent.params["text"] and expected.segment.name in sent.params["text"]
    logged.wait(f"mention from {USER} in {CHANNEL}: answered")  # delivered, and done
    assert not fake.called("chat.postMessage")  # nothing for the whole channel


def test_mention_in_a_thread_answers_in_that_thread(bot: Bot, fake: SlackFake) -> None:
    send_event(bot, P.mention("how many segments are there?", thread_ts="1700000000.000100"))
    [sent] = fake.wait_for(lambda: fake.called("chat.postMessage"))
    assert sent.params["thread_ts"] == "1700000000.000100"
    local = Router(SegmentService(make_settings(bot.model_dir))).handle("/segments summary")
    assert sent.params["text"] == local.text  # the summary, as the slash command shows it


def test_mention_chart_is_shared_where_asked(bot: Bot, fake: SlackFake) -> None:
    send_event(bot, P.mention("show me the clusters"))
    [done] = fake.wait_for(lambda: fake.called("files.completeUploadExternal"))
    assert done.params["channel_id"] == CHANNEL and not done.params.get("thread_ts")
    [png] = fake.uploads.values()
    assert png == (bot.model_dir / "v1" / "clusters.png").read_bytes()


def test_mention_unknown_phrasing_says_what_to_try(bot: Bot, fake: SlackFake) -> None:
    send_event(bot, P.mention("sing me a song"))
    [sent] = fake.wait_for(lambda: fake.called("chat.postEphemeral"))
    assert "Try:" in sent.params["text"] and "customer 1234" in sent.params["text"]


def test_mention_cannot_make_the_bot_mention_anyone(bot: Bot, fake: SlackFake) -> None:
    # Slack escapes what people type; the echo must stay escaped.
    send_event(bot, P.mention("customer &lt;!channel&gt;"))
    [sent] = fake.wait_for(lambda: fake.called("chat.postEphemeral"))
    assert "<!channel>" not in json.dumps(sent.params)
    assert "&lt;!channel&gt;" in sent.params["text"]


# ---- direct messages ----------------------------------------------------------------------------
def test_dm_plain_phrasing_gets_a_normal_message(
    bot: Bot, fake: SlackFake, service: SegmentService, customer_ids: list[str]
) -> None:
    cid = customer_ids[7]
    logged = Logged(bot)
    send_event(bot, P.direct(f"which segment is customer {cid}?"))
    [sent] = fake.wait_for(lambda: fake.called("chat.postMessage"))
    assert sent.params["channel"] == "D" + USER
    assert "thread_ts" not in sent.params  # a plain DM is answered plainly
    assert service.lookup(cid).segment.name in sent.params["text"]
    logged.wait(f"direct message from {USER}: answered")
    assert not fake.called("chat.postEphemeral")


@pytest.mark.parametrize(
    "extra",
    [
        {"user": P.BOT_USER, "bot_id": P.BOT_ID},  # the bot's own answer
        {"bot_id": "B0OTHER"},  # another bot
        {"subtype": "message_changed"},  # an edit
        {"subtype": "channel_join"},
        {"subtype": "bot_message", "bot_id": P.BOT_ID},
    ],
)
def test_bots_edits_and_other_subtypes_are_ignored(
    bot: Bot, fake: SlackFake, extra: dict[str, Any]
) -> None:
    send_event(bot, P.direct("summary", **extra))
    send_event(bot, P.mention("summary", **extra))
    answer = marker_dm(bot, fake)
    assert [c for m in POSTS for c in fake.called(m)] == [answer]


def test_a_redelivered_event_is_answered_once(bot: Bot, fake: SlackFake) -> None:
    payload = P.event_callback(P.direct("summary"))
    body, headers = P.json_request(payload)
    assert bot.post(body, headers)[0] == 200
    fake.wait_for(lambda: fake.called("chat.postMessage"))
    retry = {**P.json_request(payload)[1], "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "x"}
    logged = Logged(bot)
    assert bot.post(body, retry)[0] == 200
    assert bot.post(*P.json_request(payload))[0] == 200  # same event id, no retry header
    logged.wait("ignored a redelivered direct message", 2)  # decided before the ack
    assert len(fake.called("chat.postMessage")) == 1


# ---- buttons ------------------------------------------------------------------------------------
def test_summary_buttons_run_their_commands(bot: Bot, fake: SlackFake) -> None:
    ack = bot.slash("/segments", "summary")
    [buttons] = [b for b in ack["blocks"] if b["type"] == "actions"]
    ids = [e["action_id"] for e in buttons["elements"]]
    assert ids[:3] == ["segbot_chart_elbow", "segbot_chart_clusters", "segbot_chart_profiles"]
    elbow = buttons["elements"][0]
    status, _ = interact(
        bot,
        P.block_actions(elbow["action_id"], elbow["value"], response_url=fake.response_url("c")),
    )
    assert status == 200
    [done] = fake.wait_for(lambda: fake.called("files.completeUploadExternal"))
    assert done.params["channel_id"] == CHANNEL
    assert list(fake.uploads.values()) == [(bot.model_dir / "v1" / "elbow.png").read_bytes()]


def test_show_segment_from_an_ephemeral_answer_stays_ephemeral(
    bot: Bot, fake: SlackFake, service: SegmentService, customer_ids: list[str]
) -> None:
    ack = bot.slash("/segment", customer_ids[0])
    [buttons] = [b for b in ack["blocks"] if b["type"] == "actions"]
    show, history = buttons["elements"]  # not an admin: no Export
    assert history["action_id"] == "segbot_history"
    assert show["action_id"].startswith("segbot_show")
    click = P.block_actions(
        show["action_id"], show["value"], ephemeral=True, response_url=fake.response_url("e")
    )
    assert interact(bot, click)[0] == 200
    [answer] = fake.wait_for(lambda: fake.responses_to("e"))
    segment = service.lookup(customer_ids[0]).segment
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith(f"{segment.id}. {segment.name}: {segment.size:,} customers")
    assert "Suggested action: " + segment.action in unescape(answer["text"])


def test_show_segment_menu_choice(bot: Bot, fake: SlackFake, service: SegmentService) -> None:
    segment = service.summary().segments[-1]
    click = P.block_actions(
        "segbot_show", str(segment.id), select=True, response_url=fake.response_url("m")
    )
    assert interact(bot, click)[0] == 200
    [answer] = fake.wait_for(lambda: fake.responses_to("m"))
    assert answer["response_type"] == "in_channel"
    assert answer["text"].startswith(f"{segment.id}. {segment.name}")
    assert "Size across versions: v1 " in answer["text"]


def test_admin_buttons_follow_the_clickers_rights(
    bot: Bot, fake: SlackFake, customer_ids: list[str]
) -> None:
    admin_ack = bot.slash("/segment", customer_ids[0], user=ADMIN)
    [buttons] = [b for b in admin_ack["blocks"] if b["type"] == "actions"]
    export = next(e for e in buttons["elements"] if e["action_id"] == "segbot_export")
    # The same button clicked by someone else: refused, nothing exported.
    url = fake.response_url("refused")
    logged = Logged(bot)
    assert (
        interact(bot, P.block_actions("segbot_export", export["value"], response_url=url))[0] == 200
    )
    [refused] = fake.wait_for(lambda: fake.responses_to("refused"))
    assert "only segbot admins" in refused["text"] and refused["response_type"] == "ephemeral"
    logged.wait(f"click segbot_export from {USER} in {CHANNEL}: refused or failed")
    assert not fake.called("files.completeUploadExternal")
    # By the admin: the CSV goes to the conversation.
    url = fake.response_url("ok")
    click = P.block_actions("segbot_export", export["value"], user=ADMIN, response_url=url)
    assert interact(bot, click)[0] == 200
    fake.wait_for(lambda: fake.called("files.completeUploadExternal"))
    [csv] = fake.uploads.values()
    assert csv == SegmentService(make_settings(bot.model_dir)).export(export["value"]).csv


def test_the_history_button_answers_that_customers_history_privately(
    bot: Bot, fake: SlackFake, customer_ids: list[str]
) -> None:
    cid = customer_ids[5]
    ack = bot.slash("/segment", cid, user=USER)
    [buttons] = [b for b in ack["blocks"] if b["type"] == "actions"]
    history = next(e for e in buttons["elements"] if e["action_id"] == "segbot_history")
    url = fake.response_url("history")
    click = P.block_actions("segbot_history", history["value"], response_url=url)
    assert interact(bot, click)[0] == 200
    [answer] = fake.wait_for(lambda: fake.responses_to("history"))
    expected = SegmentService(make_settings(bot.model_dir)).customer_history(cid)
    assert answer["response_type"] == "ephemeral"
    assert f"Customer `{cid}`" in answer["text"] and expected.served in answer["text"]
    name = expected.versions[-1].segment.name
    assert render.esc(name) in answer["text"] or name in answer["text"]


def test_a_forged_button_value_gets_one_line(bot: Bot, fake: SlackFake) -> None:
    url = fake.response_url("odd")
    assert (
        interact(bot, P.block_actions("segbot_chart_x", "&lt;!channel&gt;", response_url=url))[0]
        == 200
    )
    [answer] = fake.wait_for(lambda: fake.responses_to("odd"))
    assert answer["text"].startswith("Sorry, I didn't get that: no chart")
    assert "<!channel>" not in json.dumps(answer)


def test_non_admin_retrain_click_from_app_home_changes_nothing(bot: Bot, fake: SlackFake) -> None:
    assert interact(bot, P.block_actions("segbot_retrain", "", channel=None))[0] == 200
    [sent] = fake.wait_for(lambda: fake.called("chat.postMessage"))
    assert sent.params["channel"] == "D" + USER  # App Home clicks are answered in the DM
    assert "only segbot admins" in sent.params["text"]
    assert sorted(p.name for p in bot.model_dir.glob("v*")) == ["v1"]


# ---- shortcuts and modals -----------------------------------------------------------------------
def test_lookup_shortcut_opens_a_modal_and_answers_in_a_dm(
    bot: Bot, fake: SlackFake, service: SegmentService, customer_ids: list[str]
) -> None:
    assert interact(bot, P.shortcut("segbot_lookup", trigger_id=fake.trigger_id()))[0] == 200
    [opened] = fake.wait_for(lambda: fake.called("views.open"))  # right after the ack
    assert opened.ok, opened.result
    view = (
        json.loads(opened.params["view"])
        if isinstance(opened.params["view"], str)
        else opened.params["view"]
    )
    assert view["callback_id"] == "segbot_lookup" and view["title"]["text"] == "Look up a customer"

    cid = customer_ids[2]
    status, text = interact(
        bot, P.view_submission("segbot_lookup", {"customer": {"id": {"value": cid}}})
    )
    assert status == 200 and text == ""  # closes the modal
    [sent] = fake.wait_for(lambda: fake.called("chat.postMessage"))
    assert [c.params["users"] for c in fake.called("conversations.open")] == [USER]
    assert sent.params["channel"] == "D" + USER
    assert service.lookup(cid).segment.name in sent.params["text"]


def test_lookup_of_an_unknown_id_is_shown_in_the_modal(bot: Bot, fake: SlackFake) -> None:
    logged = Logged(bot)
    status, text = interact(
        bot, P.view_submission("segbot_lookup", {"customer": {"id": {"value": "nope-42"}}})
    )
    assert status == 200
    answer = json.loads(text)
    assert answer["response_action"] == "errors"
    assert answer["errors"]["customer"].startswith("No customer with id 'nope-42'")
    logged.wait(f"segbot_lookup from {USER}: shown in the modal")  # logged before the ack
    assert not [c for m in POSTS for c in fake.called(m)]


def test_prospect_modal_has_an_input_per_feature_and_validates_numbers(
    bot: Bot, fake: SlackFake, service: SegmentService
) -> None:
    assert interact(bot, P.shortcut("segbot_predict", trigger_id=fake.trigger_id()))[0] == 200
    [opened] = fake.wait_for(lambda: fake.called("views.open"))
    assert opened.ok, opened.result
    view = opened.params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    labels = [b["label"]["text"] for b in view["blocks"]]
    assert labels == service.features()
    values = {"f0": {"value": {"value": "old"}}, "f1": {"value": {"value": "72000"}}}
    status, text = interact(
        bot, P.view_submission("segbot_predict", values, metadata=view["private_metadata"])
    )
    answer = json.loads(text)
    assert answer == {
        "response_action": "errors",
        "errors": {"f0": f"{labels[0]} must be a number, not 'old'"},
    }
    values["f0"] = {"value": {"value": "34"}}
    status, text = interact(
        bot, P.view_submission("segbot_predict", values, metadata=view["private_metadata"])
    )
    assert status == 200 and text == ""
    [sent] = fake.wait_for(lambda: fake.called("chat.postMessage"))
    expected = service.predict({labels[0]: "34", labels[1]: "72000"})
    assert sent.params["channel"] == "D" + USER
    assert f"would be in *{expected.segment.name}*" in json.dumps(sent.params["blocks"])


def test_slash_predict_without_values_opens_the_modal(bot: Bot, fake: SlackFake) -> None:
    payload = slash_payload("/segment", "predict")
    payload["trigger_id"] = trigger = fake.trigger_id()
    body = urlencode(payload)
    status, text = bot.post(body, signed_headers(body))
    assert status == 200 and text == ""
    [opened] = fake.wait_for(lambda: fake.called("views.open"))
    assert opened.params["trigger_id"] == trigger and opened.ok


def test_find_in_message_answers_privately(
    bot: Bot, fake: SlackFake, service: SegmentService, customer_ids: list[str]
) -> None:
    a, b = customer_ids[10], customer_ids[11]
    text = f"Call {a} and <@U123> about order 77-XYZ; also {b}, then {a} again."
    url = fake.response_url("found")
    assert (
        interact(bot, P.message_action("segbot_find_in_message", text, response_url=url))[0] == 200
    )
    [answer] = fake.wait_for(lambda: fake.responses_to("found"))
    assert answer["response_type"] == "ephemeral"
    lines = answer["text"].splitlines()
    assert lines[0].startswith("2 customer(s) in that message")
    assert lines[1].startswith(f"`{a}`: {service.lookup(a).segment.name}")  # ids in code
    assert lines[2].startswith(f"`{b}`: {service.lookup(b).segment.name}")


# ---- App Home -----------------------------------------------------------------------------------
def test_app_home_shows_the_served_version_and_admin_actions(
    bot: Bot, fake: SlackFake, service: SegmentService
) -> None:
    send_event(bot, P.home_opened(ADMIN))
    [published] = fake.wait_for(lambda: fake.called("views.publish"))
    view = published.params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert published.params["user_id"] == ADMIN and published.result["ok"]
    text = json.dumps(view)
    summary = service.summary()
    assert "Serving *v1*" in text and f"*{summary.k} segments*" in text
    for s in summary.segments:
        assert f"*{s.id}. {s.name}*: {s.size:,} customers" in text
    # No SEGBOT_ANNOUNCE_CHANNEL to share charts in: buttons that send them to a DM, and
    # no file uploaded where nobody could see it (tests/test_real_slack.py: with one).
    assert not [b for b in view["blocks"] if b["type"] == "image"] and not fake.uploads
    assert '"action_id": "segbot_chart_elbow"' in text
    assert '"action_id": "segbot_retrain"' in text and '"confirm"' in text

    send_event(bot, P.home_opened(USER))
    fake.wait_for(lambda: len(fake.called("views.publish")) == 2)
    second = fake.called("views.publish")[1].params["view"]
    second = json.loads(second) if isinstance(second, str) else second
    assert "segbot_retrain" not in json.dumps(second)  # not an admin


def test_messages_tab_opening_publishes_nothing(bot: Bot, fake: SlackFake) -> None:
    send_event(bot, P.home_opened(USER, tab="messages"))
    send_event(bot, P.home_opened(ADMIN))  # the marker: handled after, and published
    [published] = fake.wait_for(lambda: fake.called("views.publish"))
    assert published.params["user_id"] == ADMIN


# ---- a hung Slack -------------------------------------------------------------------------------
def test_a_hung_slack_still_leaves_lookups_answering(
    tmp_path: Path, trained_model_dir: Path, sample_csv: Path, customer_ids: list[str]
) -> None:
    """Every answer to a mention waits on a Web API that does not answer; events are still
    acknowledged at once and slash-command lookups still answered in their ack."""
    from tests.conftest import BOT_TOKEN
    from tests.test_robust_slack import SlowSlackFake

    fake = SlowSlackFake(bot_token=BOT_TOKEN).start()
    model_dir, data = copy_served(trained_model_dir, sample_csv, tmp_path)
    bot = start_http_bot(tmp_path, fake, model_dir, data)
    try:
        bot.wait_ready(warm=True)
        fake.delay("chat.postEphemeral", 20, times=100)
        fake.delay("chat.postMessage", 20, times=100)
        for i in range(12):  # more than the posting pool has workers
            send_event(bot, P.mention(f"customer {customer_ids[i]}"))
            send_event(bot, P.direct("summary"))
        time.sleep(0.5)  # the posting pool is full of calls Slack does not answer
        for cid in customer_ids[20:25]:
            ack = bot.slash("/segment", cid)  # asserts the 3-second acknowledgement
            assert f"`{cid}`" in ack["text"]
        assert bot.health()[0] == 200
    finally:
        stop_bot(bot)
        fake.stop()


# ---- App Home after a retrain -------------------------------------------------------------------
def view_of(call) -> dict[str, Any]:
    view = call.params["view"]
    return json.loads(view) if isinstance(view, str) else view


def test_retrain_and_rollback_from_app_home_and_the_tab_follows(
    tmp_path: Path, trained_model_dir: Path, sample_csv: Path, slack_fake: SlackFake
) -> None:
    fake = slack_fake
    model_dir, data = copy_served(trained_model_dir, sample_csv, tmp_path)
    bot = start_http_bot(tmp_path, fake, model_dir, data)
    try:
        bot.wait_ready()
        send_event(bot, P.home_opened(ADMIN))
        [first] = fake.wait_for(lambda: fake.called("views.publish"))
        assert "Serving *v1*" in json.dumps(view_of(first)) and first.ok

        lines = data.read_text().splitlines(keepends=True)
        data.write_text("".join(lines[:-100]))  # new data, so a new version is trained
        assert (
            interact(bot, P.block_actions("segbot_retrain", "", user=ADMIN, channel=None))[0] == 200
        )
        done = fake.wait_for(
            lambda: [c for c in fake.called("chat.update") if "Retrained" in c.params["text"]],
            timeout=60,
        )[0]
        assert done.params["channel"] == "D" + ADMIN  # progress and result in the admin's DM
        assert "1,900 customers" in done.params["text"]

        send_event(bot, P.home_opened(USER))
        fake.wait_for(lambda: len(fake.called("views.publish")) == 2)
        second = json.dumps(view_of(fake.called("views.publish")[1]))
        assert "Serving *v2*" in second and "*v1* (previous)" in second

        home = view_of(fake.called("views.publish")[0])
        send_event(bot, P.home_opened(ADMIN))
        fake.wait_for(lambda: len(fake.called("views.publish")) == 3)
        admin_home = view_of(fake.called("views.publish")[2])
        [rollback] = [
            e
            for b in admin_home["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"].startswith("segbot_rollback")
        ]
        assert rollback["value"] == "v1" and rollback["confirm"]["title"]["text"] == "Are you sure?"
        assert home != admin_home
        click = P.block_actions(rollback["action_id"], "v1", user=ADMIN, channel=None)
        assert interact(bot, click)[0] == 200
        fake.wait_for(
            lambda: [
                c for c in fake.called("chat.postMessage") if "Now serving" in c.params["text"]
            ]
        )
        assert bot.health()[1]["version"] == "v1"
    finally:
        stop_bot(bot)


def test_an_unexpected_failure_is_logged_once_and_told_in_one_line(
    bot: Bot, fake: SlackFake
) -> None:
    """The one @app.error handler: a payload the listener cannot handle (no user) gets the
    generic line through its response_url, and the trace goes to the log."""
    payload = P.message_action(
        "segbot_find_in_message", "C1", response_url=fake.response_url("boom")
    )
    del payload["user"]
    status, _ = interact(bot, payload)
    assert status in (200, 500)
    [told] = fake.wait_for(lambda: fake.responses_to("boom"))
    assert told == {"text": render.GENERIC_FAILURE, "response_type": "ephemeral"}
    log = bot.log.read_text()
    assert "handling a message_action failed" in log and "KeyError: 'user'" in log


def test_shortcuts_open_no_modal_where_channels_are_allow_listed(
    tmp_path: Path, trained_model_dir: Path, sample_csv: Path, slack_fake: SlackFake
) -> None:
    """Shortcuts have no conversation: with SEGBOT_ALLOWED_CHANNELS set, the lookup and
    prospect modals are refused (told in the DM), and no view is opened."""
    fake = slack_fake
    model_dir, data = copy_served(trained_model_dir, sample_csv, tmp_path)
    bot = start_http_bot(tmp_path, fake, model_dir, data, SEGBOT_ALLOWED_CHANNELS=CHANNEL)
    try:
        bot.wait_ready()
        for callback in ("segbot_lookup", "segbot_predict"):
            assert interact(bot, P.shortcut(callback, trigger_id=fake.trigger_id()))[0] == 200
        told = fake.wait_for(lambda: fake.seen_by(USER)[1:])
        assert all("segbot answers only in" in c.params["text"] for c in told)
        assert not fake.called("views.open")
    finally:
        stop_bot(bot)
