"""Who sees an answer comes from the command table, and the router reaches no Slack."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from bot import commands
from bot.commands import TABLE, Spec
from bot.router import Router
from model.service import SegmentService
from tests.conftest import ADMIN, USER, make_settings


def line_for(spec: Spec, cid: str) -> str:
    """A command line that selects `spec` and succeeds on the two-version model below."""
    lines = {
        ("customer", "customer"): f"/segment customer {cid}",
        ("customer_history", "customer"): f"/segment customer {cid} history",
        ("customer", ""): f"/segment {cid}",
        ("predict", "predict"): "/segment predict age=30",
        ("help", "help"): f"{spec.command} help",
        ("summary", "summary"): "/segments summary",
        ("chart", "elbow"): "/segments elbow",
        ("chart", "clusters"): "/segments clusters",
        ("chart", "profiles"): "/segments profiles",
        ("show", "show"): "/segments show 1",
        ("history", "history"): "/segments history",
        ("movers", "movers"): "/segments movers 1 1",
        ("trend", "trend"): "/segments trend",
        ("flows", "flows"): "/segments flows",
        ("retrain", "retrain"): "/segments retrain" + (" force" if spec.usage else ""),
        ("rollback", "rollback"): "/segments rollback v1",
        ("export", "export"): "/segments export 1",
    }
    return lines[(spec.verb, spec.words[0] if spec.words else "")]


def test_every_answer_is_seen_as_its_table_row_says(
    model_dir: Path, sample_csv: Path, customer_ids: list[str]
) -> None:
    r = Router(SegmentService(make_settings(model_dir, sample_csv, SEGBOT_ADMINS=ADMIN)))
    assert r.handle("/segments retrain force").ok  # v2, so movers, trend and flows answer
    for spec in TABLE:
        line = line_for(spec, customer_ids[0])
        # An admin in Slack, so admin rows answer; movers as a member (no ids, below).
        user = USER if spec.verb == "movers" else ADMIN
        reply = r.handle(line, user=user, channel="C1", slack=True)
        assert reply.ok, (line, reply.text)
        assert reply.visibility == spec.visibility, line


def test_customer_ids_go_to_the_asker_only(model_dir: Path, sample_csv: Path) -> None:
    r = Router(SegmentService(make_settings(model_dir, sample_csv)))
    assert r.handle("/segments retrain force").ok
    reply = r.handle("/segments movers 1 1")  # the local operator: an admin, so the ids
    assert reply.ok and reply.files and reply.visibility == "ephemeral"
    assert commands.visibility("movers") == "in_channel"


def test_a_verb_has_one_visibility() -> None:
    assert commands.visibility("customer") == "ephemeral"
    assert commands.visibility("customer_history") == "ephemeral"
    assert commands.visibility("summary") == "in_channel"
    assert {s.visibility for s in TABLE if s.verb == "help"} == {"ephemeral"}  # every help row


def test_a_missing_version_points_to_the_history(trained_model_dir: Path) -> None:
    r = Router(SegmentService(make_settings(trained_model_dir)))
    hint = "`/segments history` lists the stored versions."
    rollback = r.handle("/segments rollback v9")
    assert not rollback.ok and rollback.text == f"Version v9 does not exist.\n{hint}"
    assert rollback.blocks[-1]["elements"][0]["text"] == hint
    flows = r.handle("/segments flows v9")
    assert not flows.ok and flows.text.endswith(f"\n{hint}")
    # a customer is not a version: no pointer to the history
    assert "history" not in r.handle("/segment customer nobody-here").text


def test_the_router_reaches_no_slack() -> None:
    """Importing the router loads no Slack adapter, no Bolt and no announcer."""
    code = (
        "import sys, bot.router; "
        "print(sorted(m for m in sys.modules if m.startswith(('bot.slack', 'slack_bolt', "
        "'bot.announce'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_core_names_no_slash_command() -> None:
    """The core's messages (its string literals, docstrings aside) name no command."""
    for path in sorted((Path(__file__).parent.parent / "model").glob("*.py")):
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
            ):
                assert "/segment" not in node.value, (path.name, node.value)
