"""Slack's Events API and interactivity payloads, as Slack sends them, for the end-to-end
tests over HTTP (signed bodies) and Socket Mode (envelopes)."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from tests.conftest import CHANNEL, SIGNING_SECRET, USER, slack_signature

BOT_USER = "U0BOT"  # what tests/slack_fake.py's auth.test says the bot is
BOT_ID = "B0BOT"
_ids = itertools.count(1)


def _ts() -> str:
    return f"{int(time.time())}.{next(_ids):06d}"


def event_callback(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": "T0FAKE",
        "api_app_id": "A0SEGBOT",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_ids):08d}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": "T0FAKE", "user_id": BOT_USER, "is_bot": True}],
    }


def mention(text: str, *, user: str = USER, channel: str = CHANNEL, **extra: Any) -> dict:
    ts = _ts()
    return {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "event_ts": ts,
        "channel": channel,
        **extra,
    }


def direct(text: str, *, user: str = USER, **extra: Any) -> dict:
    ts = _ts()
    return {
        "type": "message",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel": "D" + user,
        **extra,
    }


def home_opened(user: str = USER, tab: str = "home") -> dict:
    return {"type": "app_home_opened", "user": user, "channel": "D" + user, "tab": tab}


def block_actions(
    action_id: str,
    value: str,
    *,
    user: str = USER,
    channel: str | None = CHANNEL,
    ephemeral: bool = False,
    response_url: str = "",
    thread_ts: str | None = None,
    select: bool = False,
) -> dict[str, Any]:
    """A click on a button (or a menu choice) in a message; channel None: in App Home."""
    action: dict[str, Any] = {"action_id": action_id, "block_id": "b1", "action_ts": _ts()}
    if select:
        action.update(type="static_select", selected_option={"value": value, "text": {}})
    else:
        action.update(type="button", value=value)
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": "T0FAKE"},
        "api_app_id": "A0SEGBOT",
        "token": "legacy-verification-token",
        "trigger_id": "1.2.3",
        "team": {"id": "T0FAKE", "domain": "fake"},
        "actions": [action],
    }
    if channel is None:
        payload["container"] = {"type": "view", "view_id": "V0HOME"}
        payload["view"] = {"id": "V0HOME", "type": "home"}
    else:
        container = {
            "type": "message",
            "message_ts": _ts(),
            "channel_id": channel,
            "is_ephemeral": ephemeral,
        }
        if thread_ts:
            container["thread_ts"] = thread_ts
        payload.update(
            container=container,
            channel={"id": channel, "name": "general"},
            response_url=response_url,
        )
    return payload


def shortcut(callback_id: str, *, user: str = USER, trigger_id: str = "1.2.3") -> dict:
    return {
        "type": "shortcut",
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "user": {"id": user, "username": "someone", "team_id": "T0FAKE"},
        "team": {"id": "T0FAKE", "domain": "fake"},
        "token": "legacy-verification-token",
        "action_ts": _ts(),
    }


def message_action(
    callback_id: str, text: str, *, user: str = USER, channel: str = CHANNEL, response_url: str
) -> dict:
    return {
        "type": "message_action",
        "callback_id": callback_id,
        "trigger_id": "1.2.3",
        "user": {"id": user, "name": "someone"},
        "team": {"id": "T0FAKE", "domain": "fake"},
        "channel": {"id": channel, "name": "general"},
        "message": {"type": "message", "user": "UOTHER", "text": text, "ts": _ts()},
        "response_url": response_url,
        "token": "legacy-verification-token",
        "action_ts": _ts(),
    }


def view_submission(
    callback_id: str, values: dict[str, dict[str, Any]], *, user: str = USER, metadata: str = ""
) -> dict[str, Any]:
    """`values`: block id -> {action id: state}, as Slack reports a modal's inputs."""
    return {
        "type": "view_submission",
        "team": {"id": "T0FAKE", "domain": "fake"},
        "user": {"id": user, "username": "someone", "team_id": "T0FAKE"},
        "api_app_id": "A0SEGBOT",
        "token": "legacy-verification-token",
        "trigger_id": "1.2.3",
        "view": {
            "id": "V0MODAL",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": metadata,
            "state": {"values": values},
            "blocks": [],
        },
    }


# ---- over HTTP: signed bodies ----------------------------------------------------------------
def json_request(payload: dict[str, Any]) -> tuple[str, dict[str, str]]:
    body = json.dumps(payload)
    return body, _signed(body, "application/json")


def form_request(payload: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Interactivity: a form with one field, `payload`, holding the JSON."""
    body = urlencode({"payload": json.dumps(payload)})
    return body, _signed(body, "application/x-www-form-urlencoded")


def _signed(body: str, ctype: str) -> dict[str, str]:
    ts = str(int(time.time()))
    return {
        "Content-Type": ctype,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(SIGNING_SECRET, ts, body),
    }


# ---- over Socket Mode: envelopes -------------------------------------------------------------
def envelope(kind: str, payload: dict[str, Any], envelope_id: str, **extra: Any) -> dict:
    """`kind`: events_api or interactive. Events carry `retry_attempt` 0 and an empty
    `retry_reason` on their first delivery, as Slack sends them (python-slack-sdk's
    recorded envelopes); pass `retry_attempt=1, retry_reason="timeout"` for a retry."""
    retry = {"retry_attempt": 0, "retry_reason": ""} if kind == "events_api" else {}
    return {
        "envelope_id": envelope_id,
        "type": kind,
        "accepts_response_payload": kind != "events_api",
        "payload": payload,
        **retry,
        **extra,
    }
