"""Rendering answers into replies: pure functions over hand-made answers."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from bot import render
from bot.commands import TABLE, Usage
from bot.reply import Reply
from model.answers import (
    CustomerAnswer,
    Export,
    FeatureValue,
    History,
    Membership,
    PredictAnswer,
    RetrainResult,
    Rollback,
    SegmentInfo,
    Summary,
)
from model.errors import DataError, NotFound
from tests.conftest import change, version_info

HOSTILE = "<!channel> & <@U123> <https://evil.example|click>"


def segment(i: int = 1, name: str = "High-Income Shoppers", **kw) -> SegmentInfo:
    base = dict(
        id=i,
        name=name,
        action="Promote premium lines.",
        size=360,
        share=0.18,
        profile={"age": 46.2, "annual_income": 152_400.0, "orders_per_year": 14.6},
        typical={"age": 46.0, "annual_income": 150_000.0, "orders_per_year": 14.0},
        distinct=["annual_income high"],
    )
    base.update(kw)
    return SegmentInfo(**base)


def membership(runner: SegmentInfo | None = None) -> Membership:
    if runner is None:
        runner = segment(2, "Frequent Shoppers")
    return Membership(
        distance=0.84, runner_up=runner, runner_up_distance=1.62, margin=0.48, clarity="clear"
    )


def customer_answer(**kw) -> CustomerAnswer:
    base = dict(
        customer_id="00042",
        segment=segment(),
        values=[
            FeatureValue("age", 51.0, 46.0),
            FeatureValue("annual_income", 72_400.0, 150_000.0),
            FeatureValue("orders_per_year", None, 14.0),
        ],
        membership=membership(),
        version="v3",
        as_of="2025-11-27T08:13:11+00:00",
    )
    base.update(kw)
    return CustomerAnswer(**base)


def summary_answer(k: int = 2, name: str = "High-Income Shoppers", **kw) -> Summary:
    base = dict(
        version="v3",
        trained_at="2025-11-27T08:13:11+00:00",
        rows=2000,
        k=k,
        k_reason="knee of the inertia curve at k=2",
        features=["age", "annual_income"],
        quality={
            "silhouette": 0.46,
            "davies_bouldin": 0.87,
            "calinski_harabasz": 1600.0,
            "inertia": 4000.0,
        },
        segments=[segment(i + 1, f"{name} {i + 1}") for i in range(k)],
        source="customers.csv",
    )
    base.update(kw)
    return Summary(**base)


def retrain_answer(**kw) -> RetrainResult:
    sizes = [
        {"id": 1, "name": "A", "size": 1200, "before": 1100},
        {"id": 5, "name": "New Ones", "size": 800, "before": None},
    ]
    base = dict(
        version=version_info(),
        served=True,
        unchanged_data=False,
        held_back=[],
        change=change(sizes=sizes, moved_share=0.06, common=None, rows_before=None),
        summary=summary_answer(),
    )
    base.update(kw)
    return RetrainResult(**base)


def all_replies(text: str = HOSTILE) -> list[Reply]:
    """One reply of every kind, with `text` wherever outside text can appear."""
    seg = segment(
        1, text, action=text, profile={text: 1.0}, typical={text: 2.0}, distinct=[f"{text} high"]
    )
    member = Membership(0.5, seg, 0.9, 0.4, "clear")
    values = [FeatureValue(text, text, text)]
    return [
        render.customer(
            customer_answer(
                customer_id=text,
                segment=seg,
                values=values,
                membership=member,
                version=text,
                as_of=text,
            )
        ),
        render.predict(
            PredictAnswer(
                given={text: text},
                imputed=[text],
                segment=seg,
                values=values,
                membership=member,
                version=text,
                as_of=text,
            )
        ),
        render.summary(summary_answer(name=text, k_reason=text, source=text, version=text)),
        render.history(
            History([version_info(text, sizes={text: 1}, note=text, status=text)], served=text)
        ),
        render.retrain_result(retrain_answer(), served_before=text),
        render.retrain_result(retrain_answer(served=False, held_back=[text]), served_before=text),
        render.retrain_failed(DataError(text), text),
        render.rollback(Rollback(version_info(text), previous=text)),
        render.export(Export(segment=seg, filename=text, csv=b"x", rows=1, version=text)),
        render.chart("elbow", Path("elbow.png"), text),
        render.usage(Usage(text, "/segment")),
        render.usage(Usage(text)),
        render.error(NotFound(text)),
        render.help_reply(),
        render.not_admin(TABLE[-2]),
        render.working(TABLE[-2], text),
        render.retrain_progress(text, 0.5),
    ]


def _outside_escapes(s: str) -> str:
    return re.sub(r"&(amp|lt|gt);", "", s)


@pytest.mark.parametrize("reply", all_replies(), ids=lambda r: r.text[:30])
def test_nothing_outside_can_trigger_a_mention_or_link(reply: Reply) -> None:
    for surface in (reply.text, json.dumps(reply.blocks, ensure_ascii=False)):
        bare = _outside_escapes(surface)
        assert "<" not in bare and ">" not in bare and "&" not in bare, surface


@pytest.mark.parametrize("reply", all_replies(), ids=lambda r: r.text[:30])
def test_blocks_keep_to_slack_limits(reply: Reply) -> None:
    assert reply.text.strip()
    assert 0 < len(reply.blocks) <= 50
    for block in reply.blocks:
        assert block["type"] in {"section", "context", "divider", "header", "actions"}
        if block["type"] == "actions":  # buttons: Slack allows 25 elements, 75-char labels
            assert 0 < len(block["elements"]) <= 25
            assert all(len(e.get("text", {}).get("text", "")) <= 75 for e in block["elements"])
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
    json.loads(reply.to_json())  # always serialisable


def test_unescape_shows_what_slack_displays() -> None:
    reply = render.error(NotFound("no customer with id '<!channel> & co'"))
    assert reply.text == "No customer with id '&lt;!channel&gt; &amp; co'."
    assert render.unescape(reply.text) == "No customer with id '<!channel> & co'."


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (72_400, "72.4k"),
        (72_000, "72k"),
        (150_000, "150k"),
        (1_234, "1,234"),
        (999_999, "1M"),
        (1_250_000, "1.2M"),
        (2.5e9, "2.5B"),
        (34.0, "34"),
        (34.56, "34.6"),
        (4.256, "4.26"),
        (0.004, "0.004"),
        (-12.5, "-12.5"),
        (None, "—"),
        (float("nan"), "—"),
        ("Female", "Female"),
    ],
)
def test_numbers_read_like_people_write_them(value, text: str) -> None:
    assert render.number(value) == text


def test_shares_counts_dates() -> None:
    assert render.share(0.1575) == "16%" and render.share(0.004) == "0.4%"
    assert render.share(None) == "—" and render.share(1.0) == "100%"
    assert render.count(1234567) == "1,234,567"
    assert render.date("2025-11-07T08:13:11+00:00") == "7 Nov 2025"
    assert render.date("2025-11-07T08:13:11+00:00", with_time=True) == "7 Nov 2025 08:13 UTC"
    assert render.date("not a date") == "not a date"
    assert render.bar(0.5, 10) == "▰" * 5 + "▱" * 5


# ---- what each answer says -----------------------------------------------------------------
def test_customer_reply() -> None:
    reply = render.customer(customer_answer())
    assert reply.visibility == "ephemeral" and reply.ok
    text = reply.text
    assert text.startswith("Customer `00042` is in High-Income Shoppers (segment 1, 18%")
    # the trait behind the name first, the customer's value beside the segment's typical one
    assert "annual_income 72.4k (typical 150k), age 51 (typical 46)" in text
    assert "orders_per_year missing (typical 14)" in text
    assert "clear: distance 0.84" in text and "Frequent Shoppers" in text
    assert "margin 48%" in text
    assert "Suggested action: Promote premium lines." in text
    assert "Model v3, as of 27 Nov 2025" in text
    fields = reply.blocks[1]["fields"]
    assert fields[0]["text"] == "*annual_income*\n72.4k  ·  typical 150k"
    assert reply.data["customer_id"] == "00042" and reply.data["kind"] == "customer"


def test_customer_reply_with_one_segment() -> None:
    answer = customer_answer(membership=Membership(0.3, None, None, None, "only segment"))
    assert "there is no other segment" in render.customer(answer).text


def test_predict_reply_names_filled_in_features() -> None:
    answer = PredictAnswer(
        given={"age": 34.0, "annual_income": 72_000.0},
        imputed=["orders_per_year"],
        segment=segment(),
        values=[
            FeatureValue("age", 34.0, 46.0),
            FeatureValue("orders_per_year", None, 14.0, imputed=True),
        ],
        membership=membership(),
        version="v3",
        as_of="2025-11-27T08:13:11+00:00",
    )
    reply = render.predict(answer)
    assert reply.visibility == "ephemeral"
    assert reply.text.startswith(
        "A prospect with age=34, annual_income=72k would be in High-Income Shoppers"
    )
    assert "Filled in (not given, so the model used typical values): orders_per_year" in reply.text
    assert "orders_per_year filled in (typical 14)" in reply.text
    full = replace(answer, imputed=[])
    assert "nothing, every feature was given" in render.predict(full).text


def test_summary_reply() -> None:
    reply = render.summary(summary_answer(k=3))
    assert reply.visibility == "in_channel"
    text = reply.text
    assert text.startswith("3 customer segments in model v3, trained 27 Nov 2025 on 2,000")
    assert "Why 3: knee of the inertia curve at k=2" in text
    assert "silhouette 0.46 (reasonable separation)" in text and "Davies–Bouldin 0.87" in text
    for i in (1, 2, 3):
        assert f"{i}. High-Income Shoppers {i}: 360 customers (18%)" in text
    assert "annual_income 152k · age 46.2 · orders_per_year 14.6" in text
    assert text.count("Action: Promote premium lines.") == 3
    assert reply.data["k"] == 3 and len(reply.data["segments"]) == 3


def test_summary_of_many_segments_fits_one_message() -> None:
    reply = render.summary(summary_answer(k=60))
    assert len(reply.blocks) == 50
    assert reply.blocks[-1]["type"] == "context"
    assert "60. High-Income Shoppers 60" in reply.text  # the text fallback keeps them all


def test_history_reply() -> None:
    versions = [
        version_info("v4", served=False, status="candidate", note="silhouette fell"),
        version_info("v3"),
        version_info("v2", served=False, status="previous", moved=None, ari=None),
    ]
    reply = render.history(History(versions, served="v3"))
    assert reply.visibility == "in_channel"
    assert "3 trained version(s); serving v3" in reply.text
    assert "v4 (candidate, not served)" in reply.text and "Held back: silhouette fell" in reply.text
    assert "v3 (served) · 27 Nov 2025 08:13 UTC · 2,000 rows · k=4" in reply.text
    assert "moved 120 (6%), ARI 0.91" in reply.text
    assert "A 1,200, B 800" in reply.text
    assert "No trained versions yet" in render.history(History([], None)).text


def test_retrain_replies() -> None:
    served = render.retrain_result(retrain_answer(), served_before="v2")
    assert served.visibility == "in_channel" and served.ok
    assert "Retrained: v3 is now served (2,000 customers, k=4" in served.text
    assert "A 1,200 (+100), New Ones 800 (new)" in served.text
    assert "Gone: Old Ones" in served.text
    assert "Customers who changed segment: 120 (6%), ARI 0.91" in served.text

    held = render.retrain_result(
        retrain_answer(served=False, held_back=["k jumped from 4 to 7"]), served_before="v2"
    )
    assert "held it back: k jumped from 4 to 7. v2 is still served" in held.text
    assert "/segments rollback v3" in held.text

    same = render.retrain_result(retrain_answer(unchanged_data=True, change=None, summary=None))
    assert same.text == (
        "No new data since v3 (same content), so nothing was retrained; v3 is still served.\n"
        "`/segments retrain force` retrains anyway."
    )

    failed = render.retrain_failed(DataError("column 'age' is missing\nmore detail"), "v2")
    assert failed.text == "Retrain failed: column 'age' is missing. v2 is still served."
    assert not failed.ok
    crashed = render.retrain_failed(RuntimeError("/secret/path"), None)
    assert "/secret/path" not in crashed.text and "no model is served yet" in crashed.text


def test_progress_and_acknowledgements() -> None:
    progress = render.retrain_progress("choosing k", 0.25)
    assert progress.text == "Retraining… choosing k ▰▰▱▱▱▱▱▱▱▱ 25%" and progress.deferred
    ack = render.working(next(s for s in TABLE if s.verb == "chart"), "elbow")
    assert ack.deferred and ack.visibility == "ephemeral" and "elbow" in ack.text


def test_export_and_chart_carry_files() -> None:
    seg = segment()
    reply = render.export(Export(seg, "segment-1.csv", b"customer_id\n1\n", 1, "v3"))
    assert (
        reply.files[0].read() == b"customer_id\n1\n" and reply.files[0].filename == "segment-1.csv"
    )
    assert reply.data["csv"] is None  # bytes travel as the file
    assert json.loads(reply.to_json())["files"][0]["bytes"] == len(b"customer_id\n1\n")
    chart = render.chart("profiles", Path("/m/v3/profiles.png"), "v3")
    assert chart.visibility == "in_channel"
    assert chart.files[0].filename == "profiles-v3.png"
    assert chart.data == {
        "kind": "chart",
        "chart": "profiles",
        "version": "v3",
        "path": "/m/v3/profiles.png",
    }


def test_errors_are_one_friendly_line() -> None:
    reply = render.error(NotFound("no customer with id '7' in v3\nsecond line"))
    assert reply.text == "No customer with id '7' in v3." and not reply.ok
    assert reply.visibility == "ephemeral"
    crash = render.error(KeyError("internal detail"))
    assert crash.text == render.GENERIC_FAILURE
    assert "internal detail" not in crash.to_json()


def test_refusals() -> None:
    spec = next(s for s in TABLE if s.verb == "retrain")
    reply = render.not_admin(spec)
    assert not reply.ok and reply.visibility == "ephemeral"
    assert "only segbot admins" in reply.text and "nothing was changed" in reply.text
    where = render.channel_not_allowed(["C1", "C2"])
    assert "<#C1>, <#C2>" in where.text  # channel links are ours, not user text


def test_help_lists_the_table() -> None:
    reply = render.help_reply()
    text = render.unescape(reply.text)
    for spec in TABLE:
        assert spec.syntax in text


@pytest.mark.parametrize("reply", all_replies(), ids=lambda r: r.text[:30])
def test_blocks_pass_slack_sdks_own_checks(reply: Reply) -> None:
    """The hand-built blocks of the hot paths (kept as dicts: building them through
    slack_sdk.models costs ~60x more per block) pass the library's limit checks."""
    from slack_sdk.models.blocks import Block

    for block in reply.blocks:
        parsed = Block.parse(block)
        assert parsed is not None and parsed.to_dict()["type"] == block["type"]
