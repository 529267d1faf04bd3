"""The talking grammar (bot.phrases), clicks and modals building commands directly, the
router's entry points with their rights, and where Slack answers go (Place.how).
Pure: no Slack to talk to."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot import actions, phrases, render, views
from bot.commands import SEGMENT, SEGMENTS, Command, Usage, build
from bot.router import Job, Router
from bot.slack.delivery import Place
from model.service import SegmentService
from tests.conftest import ADMIN, USER, make_settings


# ---- the grammar -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("said", "line"),
    [
        # command lines without the slash command
        ("customer 1234", "/segment customer 1234"),
        ("summary", "/segments summary"),
        ("elbow", "/segments elbow"),
        ("show 2", "/segments show 2"),
        ("export High spenders", "/segments export High spenders"),
        ("retrain force", "/segments retrain force"),
        ("segment customer 42", "/segment customer 42"),
        ("segment 00042", "/segment 00042"),
        ("/segments clusters", "/segments clusters"),
        # plain phrasings
        ("which segment is customer 1234?", "/segment customer 1234"),
        ("Which segment is 00042 in?", "/segment customer 00042"),
        ("what segment does customer AB-1 belong to?", "/segment customer AB-1"),
        ("segment of 00042", "/segment customer 00042"),
        ("the segment for customer C00000007.", "/segment customer C00000007"),
        ("please look up 42", "/segment customer 42"),
        ("show me the clusters", "/segments clusters"),
        ("show me the elbow chart", "/segments elbow"),
        ("the profiles chart", "/segments profiles"),
        ("how many segments", "/segments summary"),
        ("How many segments are there?", "/segments summary"),
        ("show me the segments", "/segments summary"),
        ("overview", "/segments summary"),
        ("tell me about segment High spenders", "/segments show High spenders"),
        ("versions", "/segments history"),
        ("help", "/segments help"),
        ("what can you do?", "/segments help"),
    ],
)
def test_grammar(said: str, line: str) -> None:
    assert phrases.command_line(said) == line


ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SLACK_DOC = (ROOT / "docs" / "slack.md").read_text()


def documented_phrasings() -> list[tuple[str, str]]:
    """docs/slack.md's table of plain phrasings: (what you say, the command it answers as)."""
    rows = re.findall(r"^\| `([^`]+)` \| `(/[^`]+)` \|$", SLACK_DOC, re.MULTILINE)
    assert len(rows) >= 15, "docs/slack.md's phrasing table moved or changed shape"
    return rows


@pytest.mark.parametrize(("said", "line"), documented_phrasings())
def test_every_documented_phrasing_answers_as_documented(said: str, line: str, router) -> None:
    assert phrases.command_line(said) == line
    said_reply, line_reply = router.handle_said(said), router.handle(line)
    assert (said_reply.ok, said_reply.text) == (line_reply.ok, line_reply.text)
    assert [f.filename for f in said_reply.files] == [f.filename for f in line_reply.files]


@pytest.mark.parametrize(
    ("name", "doc", "least"), [("README.md", README, 1), ("docs/slack.md", SLACK_DOC, 2)]
)
def test_the_mention_examples_are_in_the_phrasing_table(name: str, doc: str, least: int) -> None:
    found = re.findall(r"`@segbot ([^`]+)`", doc)
    mentioned = {" ".join(said.split()) for said in found} - {"…"}  # "@segbot …": any
    assert len(mentioned) >= least, name
    assert mentioned <= {said for said, _ in documented_phrasings()}, name


@pytest.mark.parametrize("said", ["", "   ", "sing me a song", "hello there", "which is best"])
def test_unknown_phrasing_is_none(said: str) -> None:
    assert phrases.command_line(said) is None


def test_leading_mentions_are_stripped_but_not_others() -> None:
    assert phrases.strip_mentions("<@U0BOT> customer 1") == "customer 1"
    assert phrases.strip_mentions("<@U0BOT|segbot>  <@U0BOT> hi <@U1>") == "hi <@U1>"


def test_candidate_ids_skip_markup_and_words_without_digits() -> None:
    text = "Call C001 and <@U123> re <https://x.io/7|order 7>; 42, C001 again, x-9."
    assert phrases.candidate_ids(text) == ["C001", "42", "x-9"]


def test_every_example_is_understood() -> None:
    for example in phrases.EXAMPLES:
        assert phrases.command_line(example) is not None, example


# ---- clicks and modals build commands directly ------------------------------------------------
def test_buttons_build_the_command_of_their_row() -> None:
    elbow = actions.command_for("segbot_chart_elbow", "elbow")
    assert isinstance(elbow, Command) and (elbow.verb, elbow.arg) == ("chart", "elbow")
    show = actions.command_for("segbot_show", "3")
    assert isinstance(show, Command) and (show.command, show.verb, show.arg) == (
        SEGMENTS,
        "show",
        "3",
    )
    rollback = actions.command_for("segbot_rollback_2", "v1")
    assert isinstance(rollback, Command) and rollback.spec.admin and rollback.arg == "v1"
    assert isinstance(actions.command_for("segbot_nope", "1"), Usage)
    assert isinstance(actions.command_for("segbot_show", "  "), Usage)
    assert isinstance(actions.command_for("segbot_chart_x", "pie"), Usage)
    assert isinstance(actions.command_for("segbot_customer", "x" * 201), Usage)


def test_a_menu_choice_is_its_selected_value() -> None:
    assert actions.value_of({"selected_option": {"value": "4"}}) == "4"
    assert actions.value_of({"value": "2"}) == "2"
    assert actions.value_of({"selected_option": None}) == ""


def test_build_matches_parse_for_typed_equivalents() -> None:
    from bot.commands import parse

    assert build(SEGMENT, "customer", "00042") == parse("/segment customer 00042")
    assert build(SEGMENTS, "show", "2") == parse("/segments show 2")
    assert build(SEGMENT, "predict", values={"age": "34"}) == parse("/segment predict age=34")


def test_prospect_modal_values_and_errors() -> None:
    modal = views.prospect_modal(["age", "income"], {"Student": ["No", "Yes"]})
    assert [b["block_id"] for b in modal["blocks"]] == ["f0", "f1", "f2"]
    assert [o["value"] for o in modal["blocks"][2]["element"]["options"]] == ["No", "Yes"]
    state = {
        "f0": {"value": {"value": "3o"}},
        "f1": {"value": {"value": "72,000"}},
        "f2": {"value": {"selected_option": {"value": "Yes"}}},
    }
    view = {"private_metadata": modal["private_metadata"], "state": {"values": state}}
    values, errors = views.prospect_values(view)
    assert values == {"income": "72,000", "Student": "Yes"}
    assert errors == {"f0": "age must be a number, not '3o'"}
    empty = {"private_metadata": modal["private_metadata"], "state": {"values": {}}}
    assert views.prospect_values(empty) == ({}, {"f0": "Give at least one value"})


def test_where_answers_go() -> None:
    slash = Place(user=USER, channel="C1", has_response_url=True)
    assert slash.how("ephemeral") == slash.how("in_channel") == "respond"
    mention = Place(user=USER, channel="C1", thread_ts="1.2")
    assert (mention.how("ephemeral"), mention.how("in_channel")) == ("ephemeral", "message")
    assert Place(user=USER, channel="D1", dm=True).how("ephemeral") == "dm"
    assert Place(user=USER).how("in_channel") == "dm"  # App Home, modals: the user's DM
    assert Place(user=USER, view_id="V1").how("ephemeral") == "view"


# ---- the router's entry points: the clicker's rights -------------------------------------------
@pytest.fixture
def router(model_dir) -> Router:
    return Router(SegmentService(make_settings(model_dir, SEGBOT_ADMINS=ADMIN)))


def test_a_click_runs_with_the_clickers_rights(router: Router) -> None:
    export = actions.command_for(actions.EXPORT, "1")
    refused = router.plan_command(export, user=USER, channel="C1", slack=True)
    assert isinstance(refused, type(render.refusal(""))) and not refused.ok
    assert "only segbot admins" in refused.text
    assert isinstance(router.plan_command(export, user=ADMIN, channel="C1", slack=True), Job)
    retrain = actions.command_for(actions.RETRAIN, "")
    assert not router.plan_command(retrain, user=USER, channel=None, slack=True).ok


def test_the_history_button_carries_any_id_back_exactly() -> None:
    for cid in ("00042", "A*1", "<!channel> & <@U1>", "é 12", "50%"):
        value = actions.history_button(cid).value
        assert not set(value) & set("<>&* ")
        command = actions.command_for(actions.HISTORY, value)
        assert command.spec.verb == "customer_history" and command.arg == cid


def test_customer_buttons_depend_on_who_asks(router: Router, customer_ids: list[str]) -> None:
    def buttons(user: str) -> list[str]:
        reply = router.plan_said(f"customer {customer_ids[0]}", user=user, channel="C1", slack=True)
        [block] = [b for b in reply.blocks if b["type"] == "actions"]
        return [e["action_id"] for e in block["elements"]]

    assert [a.split("_")[1] for a in buttons(USER)] == ["show", "history"]
    assert [a.split("_")[1] for a in buttons(ADMIN)] == ["show", "export", "history"]


def test_said_and_typed_give_the_same_answer(router: Router, customer_ids: list[str]) -> None:
    cid = customer_ids[3]
    said = router.plan_said(f"which segment is customer {cid}?", user=USER, channel="C", slack=True)
    typed = router.plan("/segment", text=cid, user=USER, channel="C", slack=True)
    assert said.text == typed.text
    assert not router.plan_said("sing", user=USER, channel="C", slack=True).ok


def test_show_segment_in_detail(router: Router) -> None:
    service = router.service
    seg = service.summary().segments[1]
    reply = router.handle(f"/segments show {seg.id}")
    assert reply.ok and reply.visibility == "in_channel"
    lines = render.unescape(reply.text).splitlines()
    assert lines[0] == (
        f"{seg.id}. {seg.name}: {seg.size:,} customers ({round(seg.share * 100):.0f}%) in model v1"
    )
    assert f"  Size across versions: v1 {seg.size:,}" in lines
    assert lines[-1] == f"  Suggested action: {seg.action}"
    for feature in seg.profile:
        assert any(line.startswith(f"  {feature} ") for line in lines), feature
    assert router.handle(f"/segments show {seg.name}").text == reply.text
    missing = router.handle("/segments show nothing-like-it")
    assert not missing.ok and "No segment 'nothing-like-it'" in missing.text


def test_find_customers_in_a_message(router: Router, customer_ids: list[str]) -> None:
    a, b = customer_ids[0], customer_ids[1]
    reply = router.find_customers(f"{a}, 99999999, {b}, {a}", user=USER, channel="C1")
    assert reply.visibility == "ephemeral"
    assert [f["id"] for f in reply.data["found"]] == [a, b]
    many = " ".join(customer_ids[:30])
    assert len(router.find_customers(many, user=USER, channel="C1").data["found"]) == 20


def test_show_segment_lists_text_shares_and_sizes_across_versions() -> None:
    from model.answers import SegmentInfo, TextShare

    seg = SegmentInfo(
        id=2,
        name="Students <3",
        action="Offer & discount",
        size=300,
        share=0.15,
        profile={"age": 21.4},
        typical={"age": 21.0},
        text=[
            TextShare("Student", "Yes", 0.62, 0.10, distinct=True),
            TextShare("Student", "No", 0.38, 0.90),
        ],
    )
    reply = render.segment(seg, "v3", [("v1", None), ("v2", 280), ("v3", 300)])
    assert reply.text.splitlines() == [
        "2. Students &lt;3: 300 customers (15%) in model v3",
        "  age 21.4  ·  median 21",
        "  Text features: Student: Yes 62% (overall 10%) ★, No 38% (overall 90%)",
        "  Size across versions: v1 — → v2 280 → v3 300",
        "  Suggested action: Offer &amp; discount",
    ]


def test_prospect_form_offers_known_text_values_and_predicts_with_them(
    tmp_path, sample_csv
) -> None:
    """A model with a text feature: the form has a menu of its values, and a submission
    built from the form is the same prospect as the typed command."""
    settings = make_settings(
        tmp_path / "models", sample_csv, SEGBOT_FEATURES="age,annual_income,gender"
    )
    service = SegmentService(settings)
    service.retrain(force=True)
    numeric, text = service.prospect_inputs()
    assert numeric == ["age", "annual_income"]
    levels = sorted(
        {row.split(",")[2].strip('"') for row in sample_csv.read_text().splitlines()[1:]} - {""}
    )
    assert sorted(text["gender"]) == levels
    modal = views.prospect_modal(numeric, text)
    menu = modal["blocks"][2]["element"]
    assert (
        menu["type"] == "static_select" and [o["value"] for o in menu["options"]] == text["gender"]
    )
    state = {
        "f0": {"value": {"value": "34"}},
        "f2": {"value": {"selected_option": {"value": levels[0]}}},
    }
    values, errors = views.prospect_values(
        {"private_metadata": modal["private_metadata"], "state": {"values": state}}
    )
    assert errors == {}
    router = Router(service)
    clicked = router.plan_command(build(SEGMENT, "predict", values=values), user=USER, slack=True)
    typed = router.handle(f"/segment predict age=34 gender={levels[0]}")
    assert clicked.ok and clicked.text == typed.text


def test_modals_and_shortcuts_follow_the_channel_allow_list(model_dir) -> None:
    """Modals have no conversation: with SEGBOT_ALLOWED_CHANNELS set they are refused."""
    router = Router(SegmentService(make_settings(model_dir, SEGBOT_ALLOWED_CHANNELS="C1")))
    lookup = build(SEGMENT, "customer", "x")
    assert not router.plan_command(lookup, user=USER, channel=None, slack=True).ok
    assert router.refusal_for(SEGMENT, "predict", user=USER, channel=None) is not None
    assert router.refusal_for(SEGMENT, "predict", user=USER, channel="C1") is None


@pytest.mark.parametrize("width", [8, 60])
def test_a_prospect_modal_with_more_features_than_it_carries_says_what_it_left_out(
    width: int,
) -> None:
    """120 features (names of 8 or 60 characters): the modal shows what Slack's 100
    blocks and 3,000 characters of private_metadata can carry, the metadata stays whole
    JSON naming exactly the inputs shown, and a line says how many were left out."""
    numeric = [f"n{i:03d}".ljust(width, "x") for i in range(100)]
    text = {f"t{i:03d}".ljust(width, "y"): ["a", "b"] for i in range(20)}
    modal = views.prospect_modal(numeric, text)
    meta = json.loads(modal["private_metadata"])  # valid JSON, never cut
    assert len(modal["private_metadata"]) <= 3000 and len(modal["blocks"]) <= 100
    inputs = [b for b in modal["blocks"] if b["type"] == "input"]
    assert [b["label"]["text"] for b in inputs] == meta["features"]
    assert meta["features"] == [*numeric, *text][: len(inputs)]
    assert meta["numeric"] == [f for f in meta["features"] if f in numeric]
    [note] = [b for b in modal["blocks"] if b["type"] == "context"]
    assert note["elements"][0]["text"].startswith(f"{120 - len(inputs)} more feature(s)")
    # What is typed into the last input shown is read back by that feature's name.
    last = len(inputs) - 1
    state = {f"f{last}": {"value": {"value": "1"}}}
    if meta["features"][-1] in text:
        state = {f"f{last}": {"value": {"selected_option": {"value": "a"}}}}
    values, errors = views.prospect_values(
        {"private_metadata": modal["private_metadata"], "state": {"values": state}}
    )
    assert errors == {} and list(values) == [meta["features"][-1]]
