"""Retrain announcements: what they say (pure rendering), when the `Announcer` speaks,
and how `SlackChannel` posts them (message, then charts) against the local Slack fake."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import pytest

from bot import render
from bot.announce import Announcer
from bot.reply import Reply
from bot.slack.announce import SlackChannel, for_slack
from bot.slack.app import web_client
from model.answers import RetrainResult, Rollback
from model.errors import DataError
from tests.conftest import BOT_TOKEN, change, make_settings, version_info
from tests.slack_fake import SlackFake


def result(tmp_path: Path | None = None, **kw: object) -> RetrainResult:
    charts = {}
    if tmp_path is not None:
        for name in ("elbow", "clusters", "profiles"):
            path = tmp_path / f"{name}.png"
            path.write_bytes(b"\x89PNG fake " + name.encode())
            charts[name] = str(path)
    base: dict[str, object] = dict(
        version=version_info(),
        served=True,
        unchanged_data=False,
        held_back=[],
        change=change(),
        summary=None,
        charts=charts,
    )
    base.update(kw)
    return RetrainResult(**base)  # type: ignore[arg-type]


# ---- what an announcement says ---------------------------------------------------------------
def test_a_served_version_is_announced_with_every_number(tmp_path: Path) -> None:
    reply = render.announcement(result(tmp_path))
    lines = reply.text.splitlines()
    assert lines[0] == "Scheduled retrain: v3 is now served (was v2)."
    assert lines[1] == (
        "Customers: 2,000 (+150 against v2) · Segments: k=4, unchanged · "
        "Quality: silhouette 0.46 (reasonable separation), +0.02 from 0.44"
    )
    assert lines[2] == "Moved segment: 120 of 1,850 customers (6%); adjusted Rand index 0.91"
    assert lines[3:8] == [
        "Segment sizes:",
        "  • A: 1,200 (+100, +9.1%)",
        "  • Steady: 500 (unchanged)",
        "  • New Ones: 300 (new)",
        "  • Old Ones: gone (no segment matches it now)",
    ]
    assert lines[8] == "Charts of v3 follow: elbow, clusters, profiles"
    assert reply.visibility == "in_channel" and reply.ok
    # the charts travel as files, named and titled by version
    assert [f.filename for f in reply.files] == [
        "elbow-v3.png",
        "clusters-v3.png",
        "profiles-v3.png",
    ]
    assert all("(v3)" in f.title and f.path.is_file() for f in reply.files)
    # the blocks say the same: facts as fields, sizes as a list
    blocks = json.dumps(reply.blocks, ensure_ascii=False)
    for piece in ("*v3* is now served (was v2)", "*Moved segment*\\n120 of 1,850", "+9.1%"):
        assert piece in blocks


def test_k_changes_and_silhouette_drops_are_spelled_out() -> None:
    reply = render.announcement(
        result(
            version=version_info(k=5, silhouette=0.41, rows=1700),
            change=change(k_before=4, k_after=5, silhouette_before=0.44, rows_before=1850),
        )
    )
    assert "Customers: 1,700 (-150 against v2)" in reply.text
    assert "Segments: k=5, was 4" in reply.text
    assert "silhouette 0.41 (reasonable separation), -0.03 from 0.44" in reply.text
    same = render.announcement(result(change=change(silhouette_before=0.46, ari=-0.0004)))
    assert "silhouette 0.46 (reasonable separation), same as v2" in same.text
    assert "adjusted Rand index 0.00" in same.text  # not "-0.00"


def test_the_first_version_has_nothing_to_compare() -> None:
    first = change(
        previous=None,
        k_before=None,
        silhouette_before=None,
        sizes=[{"id": 1, "name": "A", "size": 2000, "before": None}],
        removed=[],
        moved=None,
        moved_share=None,
        ari=None,
        common=None,
        rows_before=None,
    )
    reply = render.announcement(result(change=first))
    assert reply.text.splitlines()[0] == "Scheduled retrain: v3 is now served (the first version)."
    assert "Customers: 2,000 · Segments: k=4 · Quality" in reply.text
    assert "Moved segment" not in reply.text and "• A: 2,000\n" in reply.text + "\n"


def test_a_held_back_version_says_why_and_how_to_serve_it(tmp_path: Path) -> None:
    held = result(
        tmp_path,
        served=False,
        held_back=["silhouette fell from 0.47 to 0.11 (more than 0.05)"],
        version=version_info(served=False, status="candidate", silhouette=0.11),
    )
    reply = render.announcement(held)
    lines = reply.text.splitlines()
    assert lines[0] == "Scheduled retrain: trained v3 but held it back; v2 is still served."
    assert lines[1] == "Why: silhouette fell from 0.47 to 0.11 (more than 0.05)."
    assert lines[2] == "To serve v3 anyway, an admin can run `/segments rollback v3`."
    assert "Quality: silhouette 0.11 (weak separation), -0.33 from 0.44" in reply.text
    assert len(reply.files) == 3  # the candidate's charts, to judge it by


def test_unchanged_data_is_one_line() -> None:
    same = result(unchanged_data=True, served=True, change=None)
    reply = render.announcement(same)
    assert reply.text == (
        "Scheduled retrain: no new data since v3 (the data's content is unchanged), "
        "so nothing was retrained; v3 is still served."
    )
    assert reply.files == [] and len(reply.blocks) == 1


def test_a_failure_is_one_line_with_what_is_still_served() -> None:
    reply = render.announcement_failed(DataError("column 'age' is missing\nmore"), "v2")
    assert reply.text == "Scheduled retrain failed: column 'age' is missing. v2 is still served."
    assert not reply.ok and reply.visibility == "in_channel"
    crash = render.announcement_failed(RuntimeError("disk at /srv/secret"), None)
    assert "/srv/secret" not in crash.to_json()
    assert crash.text.startswith("Scheduled retrain failed: something went wrong on our side")
    assert crash.text.endswith("no model is served yet.")


def test_who_asked_is_named() -> None:
    reply = render.announcement(result(), by="UADMIN01")
    assert reply.text.startswith("Retrain requested by <@UADMIN01>: v3 is now served")
    assert render.announcement(result(), by="").text.startswith("Retrain: v3 is now served")
    failed = render.announcement_failed(DataError("no rows"), "v2", by="UADMIN01")
    assert failed.text == "Retrain requested by <@UADMIN01> failed: no rows. v2 is still served."
    rolled = render.announcement_rollback(
        Rollback(version_info("v2", status="served"), previous="v3"), by="UADMIN01"
    )
    assert rolled.text.startswith("Rollback by <@UADMIN01>: v2 is served again (trained 27 Nov")
    assert rolled.text.endswith("; v3 is no longer served.")


def test_nothing_from_the_data_can_mention_anyone(tmp_path: Path) -> None:
    evil = "<!channel> & <@U999>"
    reply = render.announcement(
        result(
            tmp_path,
            served=False,
            held_back=[f"segment {evil!r} holds only 0.2% of customers"],
            change=change(sizes=[{"id": 1, "name": evil, "size": 5, "before": 9}], removed=[evil]),
        ),
        by="UADMIN01",
    )
    failed = render.announcement_failed(DataError(evil), evil, by="UADMIN01")
    for r in (reply, failed):
        for surface in (r.text, json.dumps(r.blocks, ensure_ascii=False)):
            bare = re.sub(r"&(amp|lt|gt);", "", surface.replace("<@UADMIN01>", ""))
            assert "<" not in bare and ">" not in bare and "&" not in bare, surface


# ---- when the announcer speaks -----------------------------------------------------------------
class Posted(list):
    def __call__(self, reply: Reply) -> None:
        self.append(reply)


def test_unchanged_data_is_announced_for_the_schedule_only() -> None:
    same = result(unchanged_data=True, change=None)
    posted = Posted()
    announcer = Announcer(posted)
    assert announcer.retrained(same) is not None  # the schedule: "no new data"
    assert announcer.retrained(same, by="UADMIN01") is None  # the admin has their answer
    assert len(posted) == 1 and "no new data since v3" in posted[0].text

    quiet = Announcer(posted, announce_unchanged=False)  # SEGBOT_ANNOUNCE_UNCHANGED=false
    assert quiet.retrained(same) is None
    quiet.retrained(result())  # changes are always announced
    assert len(posted) == 2 and "now served" in posted[1].text


def test_the_setting_reaches_the_announcer(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, SEGBOT_ANNOUNCE_UNCHANGED="false")
    assert Announcer.for_settings(settings, None).announce_unchanged is False
    # without SEGBOT_ANNOUNCE_CHANNEL, Slack modes announce in the log only
    assert for_slack(settings, client=None).post is None


def test_a_failing_post_is_logged_and_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken(reply: Reply) -> None:
        raise ConnectionError("Slack is down")

    with caplog.at_level(logging.INFO, logger="bot.announce"):
        reply = Announcer(broken, where="C0ANNOUNCE").retrained(result())
    assert reply is not None
    assert "announcing in C0ANNOUNCE: Scheduled retrain: v3 is now served" in caplog.text
    assert "could not post the announcement in C0ANNOUNCE" in caplog.text


# ---- posting in Slack ----------------------------------------------------------------------------
def channel(fake: SlackFake, tmp_path: Path, name: str = "C0ANNOUNCE") -> SlackChannel:
    settings = make_settings(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=fake.api_url)
    return SlackChannel(web_client(settings), name)


def test_slack_channel_posts_the_message_then_the_charts(
    slack_fake: SlackFake, tmp_path: Path
) -> None:
    reply = render.announcement(result(tmp_path))
    channel(slack_fake, tmp_path)(reply)
    [message] = slack_fake.called("chat.postMessage")
    assert message.params["channel"] == "C0ANNOUNCE"
    assert message.params["text"] == reply.text
    blocks = message.params["blocks"]
    assert (json.loads(blocks) if isinstance(blocks, str) else blocks) == reply.blocks
    [complete] = slack_fake.called("files.completeUploadExternal")
    assert complete.params["channel_id"] == "C0ANNOUNCE"
    assert complete.params["initial_comment"] == "Charts of v3"
    files = json.loads(complete.params["files"])
    assert [f["title"] for f in files] == [f.title for f in reply.files]
    assert [slack_fake.uploads[f["id"]] for f in files] == [f.read() for f in reply.files]
    assert message.at < complete.at


def test_slack_channel_joins_a_public_channel_and_asks_for_a_private_invite(
    slack_fake: SlackFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    slack_fake.outside.add("C0PUBLIC")
    channel(slack_fake, tmp_path, "C0PUBLIC")(render.announcement(result()))
    assert [c.params["channel"] for c in slack_fake.called("conversations.join")] == ["C0PUBLIC"]
    assert [c.result["ok"] for c in slack_fake.called("chat.postMessage")] == [False, True]

    slack_fake.outside.add("G0PRIVATE")
    slack_fake.private.add("G0PRIVATE")
    with caplog.at_level(logging.ERROR, logger="bot.announce"):
        channel(slack_fake, tmp_path, "G0PRIVATE")(render.announcement(result()))
    assert "cannot post in SEGBOT_ANNOUNCE_CHANNEL G0PRIVATE" in caplog.text
    assert "/invite @segbot" in caplog.text


def test_announcing_in_slack_never_holds_the_caller(slack_fake: SlackFake, tmp_path: Path) -> None:
    """An admin's rollback is answered in the slash command's acknowledgement: its
    announcement is posted on a thread of its own, in order, however slow Slack is."""
    settings = make_settings(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=slack_fake.api_url,
        SEGBOT_ANNOUNCE_CHANNEL="C0ANNOUNCE",
    )
    announcer = for_slack(settings, web_client(settings))
    slack_fake.latency["chat.postMessage"] = 1.0
    started = time.monotonic()
    announcer.rolled_back(Rollback(version_info("v2", status="served"), previous="v3"), by="U1")
    announcer.retrained(result())
    assert time.monotonic() - started < 0.5
    first, second = slack_fake.wait_for(
        lambda: slack_fake.called("chat.postMessage")[1:] and slack_fake.called("chat.postMessage")
    )
    assert "v2" in first.params["text"] and "Scheduled retrain" in second.params["text"]


def test_app_home_shows_the_charts_a_served_versions_announcement_shared(
    slack_fake: SlackFake, tmp_path: Path
) -> None:
    """The retrain announcement shares the new version's charts in the channel App Home
    reads them from: the tab shows those files, once processed, and shares none again.
    A held-back version's charts are not offered (the tab shows the served one)."""
    from bot.slack.context import HomeCharts

    home = HomeCharts()
    post = SlackChannel(
        web_client(
            make_settings(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=slack_fake.api_url)
        ),
        "C0ANNOUNCE",
        home,
    )
    post(render.announcement(result(tmp_path, served=False, held_back=["worse"])))
    assert home.version is None and not home.files
    post(render.announcement(result(tmp_path)))
    [complete] = slack_fake.called("files.completeUploadExternal")[1:]
    shared = [f["id"] for f in json.loads(complete.params["files"])]
    assert home.version == "v3"
    assert home.files == dict(zip(("elbow", "clusters", "profiles"), shared, strict=True))
    # The tab: those very files once Slack has processed them, nothing shared again
    # (slow=None: an attempt to share would fail here).
    from types import SimpleNamespace

    from bot.slack.listeners.events import home_charts

    settings = SimpleNamespace(announce_channel="C0ANNOUNCE")
    segbot = SimpleNamespace(charts=home, router=SimpleNamespace(settings=settings), slow=None)
    time.sleep(slack_fake.file_processing)
    shown = home_charts(segbot, post.client, "v3", logging.getLogger("test"))  # type: ignore[arg-type]
    assert shown == home.files and len(slack_fake.called("files.completeUploadExternal")) == 2
