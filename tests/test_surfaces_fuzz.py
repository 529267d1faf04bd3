"""Fuzzing what people say and click: random mention/DM texts through
`Router.plan_said` and random button ids and values through `actions.command_for` and
`Router.plan_command`, as a Slack user and as an admin, on a real trained model.

Every input gives an answer or a one-line reply, never an exception; no reply holds a raw
`<`, `>` or an `&` that is not an entity (nothing said or clicked becomes `<!channel>`, a
mention or a link); blocks keep to Slack's limits.

A few hundred examples by default; `-m slow` (or SEGBOT_LONG=1) runs 5,000 of each
(`.ci/run` runs them, within its 30 minutes).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import actions, phrases
from bot.commands import Command
from bot.reply import Reply
from bot.router import Job, Router
from model.service import SegmentService
from tests.conftest import ADMIN, USER, make_settings

SHORT_EXAMPLES = 200
LONG_EXAMPLES = 5_000
RAW = re.compile(r"[<>]|&(?!(?:amp|lt|gt);)")


def check(reply: Reply) -> None:
    assert isinstance(reply, Reply) and reply.text.strip()
    for surface in (reply.text, json.dumps(reply.blocks, ensure_ascii=False)):
        assert RAW.search(surface) is None, surface
        assert "<!channel>" not in surface and "<!here>" not in surface
    assert len(reply.blocks) <= 50
    for block in reply.blocks:
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25


@pytest.fixture(scope="module")
def router(trained_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Router:
    # A private copy: fuzzed admin clicks may roll back (never retrain: see below).
    root = tmp_path_factory.mktemp("fuzz-surfaces") / "models"
    shutil.copytree(trained_model_dir, root)
    return Router(SegmentService(make_settings(root, SEGBOT_ADMINS=ADMIN)))


@pytest.fixture(scope="module")
def vocabulary(router: Router, customer_ids: list[str]) -> list[str]:
    names = [s.name for s in router.service.summary().segments]
    return [
        *customer_ids[:5],
        *names,
        *(w for s in names for w in s.split()),
        *phrases.EXAMPLES,
        "customer", "segment", "segments", "which", "is", "of", "for", "show", "me", "the",
        "elbow", "clusters", "profiles", "chart", "summary", "history", "help", "export",
        "rollback", "v1", "v2", "predict", "age=30", "how many", "?", "<!channel>", "<!here>",
        "<@U123>", "&", "&amp;", "<https://evil.example|x>", "*bold*", "`code`", "\n", "🙂",
    ]  # fmt: skip


def said_texts(vocabulary: list[str]) -> st.SearchStrategy[str]:
    words = st.lists(st.sampled_from(vocabulary) | st.text(max_size=12), max_size=8)
    mention = st.sampled_from(["", "<@U0BOT> ", "<@U0BOT|segbot> "])
    return st.builds(lambda m, w: m + " ".join(w), mention, words) | st.text(max_size=120)


def _answer(planned: Reply | Job, run_jobs: bool) -> Reply:
    if isinstance(planned, Reply):
        return planned
    check(planned.ack)
    if planned.command.verb == "retrain" or not run_jobs:
        return planned.ack  # retrains are tested elsewhere; a fuzz run must not train
    return planned.run(None)


def _said_test(examples: int):
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(data=st.data())
    def run(router: Router, vocabulary: list[str], data: st.DataObject) -> None:
        text = data.draw(said_texts(vocabulary))
        user = data.draw(st.sampled_from([USER, ADMIN]))
        said = phrases.strip_mentions(text)
        check(_answer(router.plan_said(said, user=user, channel="C1", slack=True), True))

    return run


def _click_test(examples: int):
    ids = [*actions.ROWS, *(f"{a}_{n}" for a in actions.ROWS for n in ("1", "x")), "segbot_x"]

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(data=st.data())
    def run(router: Router, vocabulary: list[str], data: st.DataObject) -> None:
        action_id = data.draw(st.sampled_from(ids) | st.text(max_size=30))
        value = data.draw(st.sampled_from(vocabulary) | st.text(max_size=300))
        select = data.draw(st.booleans())
        action = (
            {"action_id": action_id, "selected_option": {"value": value}}
            if select
            else {"action_id": action_id, "value": value}
        )
        user = data.draw(st.sampled_from([USER, ADMIN]))
        command = actions.command_for(action["action_id"], actions.value_of(action))
        planned = router.plan_command(command, user=user, channel=None, slack=True)
        check(_answer(planned, run_jobs=False))
        if user == USER and isinstance(command, Command) and command.spec.admin:
            # the clicker's rights hold: nothing admin runs for someone else
            assert isinstance(planned, Reply) and "only segbot admins" in planned.text

    return run


def test_fuzz_said(router: Router, vocabulary: list[str]) -> None:
    _said_test(SHORT_EXAMPLES)(router, vocabulary)


def test_fuzz_clicks(router: Router, vocabulary: list[str]) -> None:
    _click_test(SHORT_EXAMPLES)(router, vocabulary)


@pytest.mark.slow
def test_fuzz_said_long(router: Router, vocabulary: list[str]) -> None:
    _said_test(LONG_EXAMPLES)(router, vocabulary)


@pytest.mark.slow
def test_fuzz_clicks_long(router: Router, vocabulary: list[str]) -> None:
    _click_test(LONG_EXAMPLES)(router, vocabulary)
