"""The Slack fake keeps Slack's rules (docs/interface.md §7): each rule, through
slack_sdk's own WebClient, as the bot meets it. A fake more lenient than Slack hides
bugs, so these say what it must refuse."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.conftest import BOT_TOKEN, CHANNEL, USER
from tests.slack_fake import SlackFake

PAIR_DM = "DPAIR0001"


@pytest.fixture
def client(slack_fake: SlackFake) -> Iterator[WebClient]:
    yield WebClient(token=BOT_TOKEN, base_url=slack_fake.api_url)


def error_of(call) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    return str(caught.value.response["error"])


def test_membership(client: WebClient, slack_fake: SlackFake) -> None:
    fake = slack_fake
    fake.outside.update({"C0OUT", "G0HIDDEN"})
    fake.private.add("G0HIDDEN")
    post = client.chat_postMessage
    assert error_of(lambda: post(channel="C0OUT", text="x")) == "not_in_channel"
    assert error_of(lambda: post(channel="G0HIDDEN", text="x")) == "channel_not_found"
    assert error_of(lambda: post(channel=PAIR_DM, text="x")) == "channel_not_found"
    assert error_of(lambda: client.chat_postEphemeral(channel=PAIR_DM, user=USER, text="x")) == (
        "channel_not_found"
    )
    assert error_of(lambda: client.files_upload_v2(channel=PAIR_DM, content="a,b")) == (
        "channel_not_found"
    )
    client.conversations_join(channel="C0OUT")  # a public channel can be joined
    assert post(channel="C0OUT", text="x")["ok"]
    assert error_of(lambda: client.conversations_join(channel="G0HIDDEN")) == (
        "method_not_supported_for_channel_type"
    )
    own = client.conversations_open(users=USER)["channel"]["id"]
    assert own == "D" + USER and post(channel=own, text="x")["ok"]


def test_an_ephemeral_in_a_thread_without_replies_is_not_shown(
    client: WebClient, slack_fake: SlackFake
) -> None:
    fake = slack_fake
    client.chat_postEphemeral(channel=CHANNEL, user=USER, text="a", thread_ts="1.000001")
    client.chat_postEphemeral(channel=CHANNEL, user=USER, text="b")
    fake.thread_replied(CHANNEL, "1.000002")
    client.chat_postEphemeral(channel=CHANNEL, user=USER, text="c", thread_ts="1.000002")
    client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts="1.000003")
    client.chat_postEphemeral(channel=CHANNEL, user=USER, text="d", thread_ts="1.000003")
    calls = fake.called("chat.postEphemeral")
    assert all(c.ok for c in calls)  # Slack says ok either way
    assert [c.params["text"] for c in calls if c.shown] == ["b", "c", "d"]
    assert [c.params["text"] for c in fake.seen_by(USER)] == ["b", "c", "d"]


def test_files_are_shown_in_blocks_only_once_processed_and_where_readers_see_them(
    client: WebClient, slack_fake: SlackFake
) -> None:
    fake = slack_fake
    fake.file_processing = 0.4
    nowhere = client.files_upload_v2(content=b"png", filename="a.png")["files"][0]["id"]
    public = client.files_upload_v2(channel=CHANNEL, content=b"png", filename="b.png")
    public_id = public["files"][0]["id"]
    assert client.files_info(file=public_id)["file"]["mimetype"] == ""  # not yet processed

    def home(file_id: str) -> dict:
        block = {"type": "image", "slack_file": {"id": file_id}, "alt_text": "chart"}
        return {"type": "home", "blocks": [block]}

    assert error_of(lambda: client.views_publish(user_id=USER, view=home(public_id))) == (
        "invalid_blocks"
    )
    time.sleep(0.45)
    assert client.files_info(file=public_id)["file"]["mimetype"] == "image/png"
    assert client.views_publish(user_id=USER, view=home(public_id))["ok"]
    # Shared in no channel: the bot's alone, never shown to anyone else.
    assert error_of(lambda: client.views_publish(user_id=USER, view=home(nowhere))) == (
        "invalid_blocks"
    )


def test_views_are_validated_and_trigger_ids_expire(
    client: WebClient, slack_fake: SlackFake
) -> None:
    fake = slack_fake
    modal = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Look up"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
    }
    long_title = {**modal, "title": {"type": "plain_text", "text": "x" * 25}}
    trigger = fake.trigger_id()
    assert error_of(lambda: client.views_open(trigger_id=trigger, view=long_title)) == (
        "invalid_arguments"
    )
    assert error_of(lambda: client.views_open(trigger_id="1.2.3", view=modal)) == (
        "invalid_trigger_id"
    )
    assert client.views_open(trigger_id=trigger, view=modal)["ok"]
    assert error_of(lambda: client.views_open(trigger_id=trigger, view=modal)) == (
        "exchanged_trigger_id"
    )
    stale = fake.trigger_id()
    fake.latency["views.open"] = 3.1  # the trigger expires on the way
    assert error_of(lambda: client.views_open(trigger_id=stale, view=modal)) == (
        "expired_trigger_id"
    )


def test_a_response_url_takes_five_posts(slack_fake: SlackFake) -> None:
    def post() -> int:
        body = json.dumps({"text": "x"}).encode()
        req = urllib.request.Request(slack_fake.response_url("five"), data=body, method="POST")
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert [post() for _ in range(6)] == [200, 200, 200, 200, 200, 404]
    assert len(slack_fake.responses_to("five")) == 5
