"""Text and blocks from one source: outside strings with Slack's marks in them read
exactly as written in the fallback text and in the blocks, in every kind of reply.

The blocks are read back with a small model of what Slack shows, written here from
Slack's rules (not from bot.mrkdwn): nothing is formatted inside a `code span`; a
`*`, `_` or `~` is a formatting mark unless it sits between two letters or digits;
the look-alikes `∗ ˍ ∼ ˋ` show as what they look like; the soft hyphen is invisible;
`&amp; &lt; &gt;` show as `& < >`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import mrkdwn, render
from bot.commands import TABLE, Usage
from bot.reply import Reply
from model.answers import (
    CustomerAnswer,
    CustomerHistory,
    Export,
    FeatureValue,
    Flows,
    History,
    Membership,
    Movers,
    PredictAnswer,
    Rollback,
    SegmentRef,
    Stretch,
    Trend,
    TrendVersion,
    VersionSegment,
)
from model.errors import DataError, NotFound
from tests.conftest import change, version_info
from tests.test_render import retrain_answer, segment, summary_answer

EXPORT = next(s for s in TABLE if s.verb == "export")  # admins only, takes a segment
NAME = "Big *Spenders* <x>"  # a segment name with bold marks and a control character
CID = "A*1"  # a customer id with a mark inside
WHEN = "2026-10-12T08:00:00+00:00"
# The name as the blocks must carry it, worked out by hand from the rules above.
NAME_IN_BLOCKS = "Big \u2217Spenders\u2217 &lt;x&gt;"

FORMAT_MARK = re.compile(r"(?<!\w)[*_~]|[*_~](?!\w)")  # a mark Slack would format with
LOOKS_LIKE = str.maketrans({"\u2217": "*", "\u02cd": "_", "\u223c": "~", "\u02cb": "`"})


def shown(block_text: str) -> str:
    """What Slack displays for one mrkdwn text, formatting left out."""
    out = []
    for i, part in enumerate(block_text.split("`")):
        if i % 2 == 0:  # outside code spans: the formatting marks are not shown
            part = FORMAT_MARK.sub("", part)
        part = part.translate(LOOKS_LIKE).replace("\u00ad", "")
        out.append(part.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    return "".join(out)


def block_texts(reply: Reply) -> list[str]:
    texts = []
    for block in reply.blocks:
        if "text" in block and block["type"] == "section":
            texts.append(block["text"]["text"])
        texts += [f["text"] for f in block.get("fields", [])]
        if block["type"] == "context":
            texts += [e["text"] for e in block["elements"]]
    return texts


def member(seg_name: str = NAME) -> dict:
    seg = segment(1, seg_name)
    return dict(
        segment=seg,
        values=[FeatureValue("annual_income", 72_400.0, 150_000.0)],
        membership=Membership(0.5, segment(2, "Frequent Shoppers"), 0.9, 0.4, "clear"),
        version="v3",
        as_of=WHEN,
    )


def every_reply() -> list[tuple[str, Reply, list[str]]]:
    """(kind, reply, the outside strings it shows) for every kind of reply."""
    seg, ref = segment(1, NAME), SegmentRef(1, NAME)
    found = CustomerAnswer(customer_id=CID, **member())
    sizes = [{"id": 1, "name": NAME, "size": 1200, "before": 1100}]
    retrained = retrain_answer(change=change(sizes=sizes, moved_share=0.06, common=None))
    held = retrain_answer(served=False, held_back=[f"{NAME} shrank"], change=change(sizes=sizes))
    history = CustomerHistory(
        customer_id=CID,
        versions=[VersionSegment("v1", WHEN, "served", ref)],
        stretches=[Stretch(ref, "v1", "v1", WHEN)],
        served="v1",
    )
    flows = Flows("v2", "v1", [ref], [ref, SegmentRef(2, "B")], [[3, 4]], [7], 7, 0, 0)
    movers = Movers("v2", "v1", ref, SegmentRef(2, "B"), 5, 50, 0.1, 0)
    trend = Trend([TrendVersion("v1", WHEN, "served", 100, {1: 0.5})], [ref], "v1")
    failure = DataError(f"column {NAME} is empty")
    return [
        ("customer", render.customer(found), [CID, NAME]),
        ("customer admin", render.customer(found, admin=True), [CID, NAME]),
        (
            "predict",
            render.predict(PredictAnswer(given={"age": 30.0}, imputed=[], **member())),
            [NAME],
        ),
        ("customers found", render.customers_found([found]), [CID, NAME]),
        ("customer history", render.customer_history(history), [CID, NAME]),
        ("summary", render.summary(summary_answer(k=1, segments=[seg])), [NAME]),
        ("show", render.segment(seg, "v3", [("v3", 360)]), [NAME]),
        ("history", render.history(History([version_info(sizes={NAME: 1})], "v3")), [NAME]),
        ("movers", render.movers(movers, admin=False), [NAME]),
        ("trend", render.trend(trend), [NAME]),
        ("flows", render.flows(flows), [NAME]),
        ("export", render.export(Export(seg, "x.csv", b"", 1, "v3")), [NAME]),
        ("chart", render.chart("elbow", Path("elbow.png"), "v3"), []),
        ("retrain", render.retrain_result(retrained), [NAME]),
        ("retrain held back", render.retrain_result(held, "v2"), [NAME]),
        ("retrain failed", render.retrain_failed(failure, "v2"), [NAME]),
        ("rollback", render.rollback(Rollback(version_info(), previous="v2")), []),
        ("announcement", render.announcement(retrained), [NAME]),
        ("announcement held", render.announcement(held), [NAME]),
        ("announcement failed", render.announcement_failed(failure, "v2"), [NAME]),
        ("announcement rollback", render.announcement_rollback(Rollback(version_info(), None)), []),
        ("usage", render.usage(Usage(f"no {NAME} here", "/segment")), [NAME]),
        ("error", render.error(NotFound(f"no segment '{NAME}'")), [NAME]),
        ("help", render.help_reply(), []),
        ("refusal", render.not_admin(EXPORT), []),
        ("working", render.working(EXPORT, NAME), [NAME]),
        ("progress", render.retrain_progress(NAME, 0.5), [NAME]),
        ("not understood", render.not_understood(), []),
    ]


REPLIES = every_reply()


@pytest.mark.parametrize(("kind", "reply", "strings"), REPLIES, ids=[r[0] for r in REPLIES])
def test_the_fallback_text_shows_outside_strings_exactly(
    kind: str, reply: Reply, strings: list[str]
) -> None:
    text = render.unescape(reply.text)
    for s in strings:
        assert s in text, kind
    rest = text
    for s in strings:
        rest = rest.replace(s, "")
    # no stray marks: nothing Slack would format with, no look-alike, no placeholder
    assert FORMAT_MARK.search(rest) is None, rest
    assert not re.search("[\u2217\u02cd\u223c\u02cb\u00ad\ue000-\uf8ff]", text), text


@pytest.mark.parametrize(("kind", "reply", "strings"), REPLIES, ids=[r[0] for r in REPLIES])
def test_the_blocks_show_outside_strings_exactly_and_keep_their_bold(
    kind: str, reply: Reply, strings: list[str]
) -> None:
    texts = block_texts(reply)
    everything = "\n".join(shown(t) for t in texts)
    for s in strings:
        assert s in everything, kind
    for t in texts:
        outside_code = t.split("`")[::2]
        for mark in "*_~":  # every bold, italic and strike closes
            marks = sum(len(re.findall(rf"(?<!\w)\{mark}|\{mark}(?!\w)", p)) for p in outside_code)
            assert marks % 2 == 0, (mark, t)
        assert not re.search("[\ue000-\uf8ff]", t), t


def test_the_name_is_bold_as_a_whole_and_the_id_exact_in_code() -> None:
    reply = render.customer(CustomerAnswer(customer_id=CID, **member()))
    head = reply.blocks[0]["text"]["text"]
    assert head.startswith(f"Customer `A*1` is in *{NAME_IN_BLOCKS}* (segment 1, ")
    assert reply.text.startswith("Customer `A*1` is in Big *Spenders* &lt;x&gt; (segment 1, ")


def test_literal_blocks_plain_by_hand() -> None:
    cases = {
        # outside string: (in bold in the blocks, in a code span, the plain text)
        "annual_income": ("*annual_income*", "`annual_income`", "annual_income"),
        "A*1": ("*A*1*", "`A*1`", "A*1"),
        NAME: (f"*{NAME_IN_BLOCKS}*", "`Big *Spenders* &lt;x&gt;`", "Big *Spenders* &lt;x&gt;"),
        "_x": ("*\u02cdx*", "`_x`", "_x"),
        "a`b": ("*a\u02cbb*", "`a\u02cbb`", "a`b"),
        "~gone~": ("*\u223cgone\u223c*", "`~gone~`", "~gone~"),
        ">quote": ("*\u00ad&gt;quote*", "`&gt;quote`", "&gt;quote"),
    }
    for raw, (bold, code, text) in cases.items():
        held = mrkdwn.literal(raw)
        assert mrkdwn.blocks(f"*{held}*") == bold, raw
        assert mrkdwn.blocks(f"`{held}`") == code, raw
        assert mrkdwn.plain(f"*{held}*") == text, raw
    # the code's own marks: kept in the blocks, bold dropped and code kept in the text
    assert mrkdwn.blocks("*Why:* `/segments history`") == "*Why:* `/segments history`"
    assert mrkdwn.plain("*Why:* _see_ `/segments history`") == "Why: see `/segments history`"
    # a complaint the parser wrote keeps its code spans; the user's words stay literal
    held = mrkdwn.with_code("`*x*` belongs to `/segment`")
    assert mrkdwn.blocks(held) == "`*x*` belongs to `/segment`"


def test_the_app_home_shows_outside_strings_exactly_and_keeps_its_bold() -> None:
    from bot import views

    summary = summary_answer(segments=[segment(1, NAME), segment(2, "Plain")])
    view = views.home(summary, None, {}, admin=False)
    texts = [
        t
        for b in view["blocks"]
        for t in ([b["text"]["text"]] if b["type"] == "section" else [])
        + [e["text"] for e in b.get("elements", []) if b["type"] == "context"]
    ]
    line = next(t for t in texts if "Spenders" in t)
    assert line.startswith(f"*1. {NAME_IN_BLOCKS}*:"), line  # worked out by hand
    assert shown(line).startswith(f"1. {NAME}:")
