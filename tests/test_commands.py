"""The command table and the parser: pure, no model needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bot
from bot.commands import TABLE, Command, Usage, help_lines, parse, parse_values


def cmd(line: str, text: str | None = None) -> Command:
    parsed = parse(line, text)
    assert isinstance(parsed, Command), parsed
    return parsed


def usage(line: str) -> Usage:
    parsed = parse(line)
    assert isinstance(parsed, Usage), parsed
    return parsed


@pytest.mark.parametrize(
    ("line", "verb", "arg"),
    [
        ("/segment customer 42", "customer", "42"),
        ("/segment 42", "customer", "42"),
        ("/segment customer 00042", "customer", "00042"),  # ids are kept exactly
        ("/segment   customer   C-17  ", "customer", "C-17"),
        ('/segment customer "AB 12"', "customer", "AB 12"),
        ("/segment customer help", "customer", "help"),  # an id that is also a word
        ("/SEGMENT Customer x9", "customer", "x9"),
        ("segment 42", "customer", "42"),  # the slash is optional (shell)
        ("/segments", "summary", None),
        ("/segments summary", "summary", None),
        ("/segments elbow", "chart", "elbow"),
        ("/segments clusters", "chart", "clusters"),
        ("/segments chart", "chart", "clusters"),
        ("/segments chart profiles", "chart", "profiles"),
        ("/segments profiles", "chart", "profiles"),
        ("/segments history", "history", None),
        ("/segments retrain", "retrain", None),
        ("/segments rollback v3", "rollback", "v3"),
        ("/segments export High-Income Shoppers", "export", "High-Income Shoppers"),
        ('/segments export "Bargain Hunters"', "export", "Bargain Hunters"),
        ("/segments help", "help", None),
        ("/segment help", "help", None),
    ],
)
def test_commands_parse(line: str, verb: str, arg: str | None) -> None:
    parsed = cmd(line)
    assert (parsed.verb, parsed.arg) == (verb, arg)


def test_slack_form_equals_the_whole_line() -> None:
    assert cmd("/segments", "summary") == cmd("/segments summary")
    assert cmd("/segment", "customer 00042") == cmd("/segment customer 00042")
    assert cmd("/segments", "") == cmd("/segments summary")


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("age=34 annual_income=72000", {"age": "34", "annual_income": "72000"}),
        ("age = 34", {"age": "34"}),
        ('"Annual Income (k$)"=70 Age=19', {"Annual Income (k$)": "70", "Age": "19"}),
        ("Annual Income (k$)=70 Age=19", {"Annual Income (k$)": "70", "Age": "19"}),
        ("“Annual Income (k$)”=70", {"Annual Income (k$)": "70"}),  # typographic quotes
        ("gender='Non binary' age=40", {"gender": "Non binary", "age": "40"}),
        ("income=72,000", {"income": "72,000"}),
    ],
)
def test_predict_values(text: str, values: dict[str, str]) -> None:
    parsed = cmd(f"/segment predict {text}")
    assert parsed.verb == "predict" and parsed.values == values


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("/segment", "which customer"),
        ("/segment customer", "which customer"),
        ("/segment AB 12", "one customer id at a time"),
        ('/segment customer "AB', "unbalanced quotes"),
        ("/segment predict", "give the prospect's values"),
        ("/segment predict age", "expected feature=value, not 'age'"),
        ("/segment predict age=", "age has no value"),
        ("/segment predict =5", "expected feature=value"),
        ("/segment predict age=1 AGE=2", "AGE is given twice"),
        ("/segments elbo", "did you mean `/segments elbow`"),
        ("/segments customer 12", "`customer` belongs to `/segment`"),
        ("/segment summary", "`summary` belongs to `/segments`"),
        ("/segments retrain now", "takes nothing after it"),
        ("/segments rollback", "which version"),
        ("/segments export", "which segment"),
        ("/segments chart pie", "no chart 'pie'"),
        ("/segmentz 1", "unknown command '/segmentz'"),
        ("", "type a command"),
    ],
)
def test_malformed_input_gets_a_usage_line(line: str, says: str) -> None:
    assert says in usage(line).problem


def test_usage_names_the_command_it_is_about() -> None:
    assert usage("/segments elbo").command == "/segments"
    assert usage("/segment predict x").command == "/segment"
    assert usage("/nope").command is None


def test_table_drives_help_and_access() -> None:
    syntaxes = [s for s, _ in help_lines()]
    for line in (
        "/segment customer <id>",
        "/segment predict <feature>=<value> …",
        "/segments summary",
        "/segments elbow",
        "/segments clusters",
        "/segments profiles",
        "/segments history",
        "/segments retrain",
        "/segments rollback <version>",
        "/segments export <segment>",
        "/segments help",
    ):
        assert line in syntaxes
    admin = {s.verb for s in TABLE if s.admin}
    assert admin == {"retrain", "rollback", "export"}
    slow = {s.verb for s in TABLE if s.slow}
    assert slow == {"chart", "retrain", "export", "movers", "trend", "flows"}
    ephemeral = {s.verb for s in TABLE if s.visibility == "ephemeral"}
    assert {"customer", "customer_history", "predict", "help", "export"} == ephemeral


def test_every_usage_hint_parses() -> None:
    """The help text shows forms the parser accepts (placeholders filled in)."""
    fill = {
        "<id>": "42",
        "<feature>=<value> …": "age=3",
        "<version>": "v1",
        "<segment>": "Champions",
    }
    for syntax, _ in help_lines():
        line = syntax
        for placeholder, value in fill.items():
            line = line.replace(placeholder, value)
        assert isinstance(parse(line), Command), line


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["/segment", "/segments", "segment", "/segments export", "/x", ""]),
    st.text(max_size=80),
)
def test_parse_never_raises(command: str, text: str) -> None:
    parsed = parse(command, text)
    assert isinstance(parsed, Command | Usage)
    if isinstance(parsed, Usage):
        assert "\n" not in parsed.problem or "\n" in text


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(
            st.characters(
                blacklist_characters="=\"'“”„‘’", blacklist_categories=("Cc", "Zs", "Zl", "Zp")
            ),
            min_size=1,
            max_size=12,
        ),
        st.from_regex(r"[0-9A-Za-z.,_-]{1,8}", fullmatch=True),
        min_size=1,
        max_size=4,
    )
)
def test_quoted_names_round_trip(values: dict[str, str]) -> None:
    if len({k.lower() for k in values}) < len(values):
        return  # case-insensitive duplicates are refused, tested above
    text = " ".join(f'"{k}"={v}' for k, v in values.items())
    assert parse_values(text) == values


def test_manifest_declares_both_commands_and_every_form() -> None:
    import yaml

    manifest = yaml.safe_load((Path(bot.__file__).parent / "manifest.yml").read_text())
    hints = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert set(hints) == {"/segment", "/segments"}
    for spec in TABLE:
        for word in spec.words:
            if word not in ("chart", "prospect"):  # aliases stay out of the short hint
                assert word in hints[spec.command]["usage_hint"], word
        assert not hints[spec.command]["should_escape"]  # ids arrive as typed
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "files:write", "channels:join"} <= scopes
    assert manifest["settings"]["socket_mode_enabled"] is True


def test_manifest_declares_events_interactivity_shortcuts_and_app_home() -> None:
    import yaml

    manifest = yaml.safe_load((Path(bot.__file__).parent / "manifest.yml").read_text())
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events == {"app_mention", "message.im", "app_home_opened"}
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    shortcuts = {s["callback_id"]: s["type"] for s in manifest["features"]["shortcuts"]}
    assert shortcuts == {
        "segbot_lookup": "global",
        "segbot_predict": "global",
        "segbot_find_in_message": "message",
    }
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] and home["messages_tab_enabled"]
    assert not home["messages_tab_read_only_enabled"]  # people can DM the bot
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "im:history", "im:write", "chat:write", "files:write"} <= scopes
