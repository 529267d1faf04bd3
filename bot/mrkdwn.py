"""Slack mrkdwn written once, shown two ways: in blocks, and as the plain-text fallback.

Slack's rules (api.slack.com/reference/surfaces/formatting): `&`, `<` and `>` are
control characters and are sent as entities; `*bold*`, `_italic_`, `~strike~` and
`` `code` `` have no escape at all, but a mark between two letters or digits formats
nothing (`annual_income`, `A*1`). So every string from outside the code (a segment
name, a customer id, a column name, what someone typed) goes through `literal`: the
control characters become entities, and its marks that could format (at a word's
edge; a backtick anywhere) are held as private-use placeholders while a reply is
written. The code writes its own marks at word edges, so each form is one pass at
the end:

- `blocks`: inside a code span a placeholder is the character itself (Slack formats
  nothing there, so an id in code is exact); elsewhere a look-alike (`*` → `∗`, the
  substitutes jsx-slack uses; Slack's date-fallback trick garbles on Android), so
  `Big *Spenders*` reads as written and the bold around it holds;
- `plain`: the code's bold, italic and strike marks are dropped (code spans keep their
  backticks) and each placeholder is its character again, so the fallback reads
  naturally and shows ids exactly.

Both forms keep the entities: the fallback travels to Slack too, and the shell
prints it through `unescape`.
"""

from __future__ import annotations

import re

# Placeholders for an outside string's * _ ~ `, and for the soft hyphen that keeps a
# leading "&gt;" from starting a block quote.
STAR, LOW, TILDE, TICK, QUOTE = "\ue000", "\ue001", "\ue002", "\ue003", "\ue004"

_LITERAL = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "`": TICK,
    # the placeholders themselves, should the data hold them, are not marks
    **{chr(c): "\ufffd" for c in range(0xE000, 0xE005)},
}
_HOLD = {"*": STAR, "_": LOW, "~": TILDE}
_OUTSIDE_CODE = {STAR: "\u2217", LOW: "\u02cd", TILDE: "\u223c", TICK: "\u02cb", QUOTE: "\u00ad"}
_INSIDE_CODE = {STAR: "*", LOW: "_", TILDE: "~", TICK: "\u02cb", QUOTE: ""}
# Code spans keep their backticks: `/segments history` reads as a command in plain text.
_PLAIN = {STAR: "*", LOW: "_", TILDE: "~", TICK: "`", QUOTE: ""}
# Character classes only: the regex engine scans them fast, and Python runs only for a
# match (str.translate looks up every character: ~40 µs a reply part; a look-behind
# in the pattern is slower still).
_TO_LITERAL = re.compile("[&<>`*_~\ue000-\ue004]")
_TO_PLAIN = re.compile("[*_~\ue000-\ue004]")
_HELD_ONLY = re.compile("[\ue000-\ue004]")


def _in_word(text: str, at: int) -> bool:
    """Whether the mark at `at` sits between two letters or digits: it formats nothing."""
    if not 0 < at < len(text) - 1:
        return False
    before, after = text[at - 1], text[at + 1]
    return (before.isalnum() or before == "_") and (after.isalnum() or after == "_")


def _to_literal(m: re.Match[str]) -> str:
    char = m.group()
    if char in _HOLD:
        return char if _in_word(m.string, m.start()) else _HOLD[char]
    return _LITERAL[char]


def _to_plain(m: re.Match[str]) -> str:
    char = m.group()
    if char in _PLAIN:
        return _PLAIN[char]
    return char if _in_word(m.string, m.start()) else ""  # the code's mark: dropped


def _to_outside_code(m: re.Match[str]) -> str:
    char = m.group()
    if char != TICK and char != QUOTE and _in_word(m.string, m.start()):
        return _INSIDE_CODE[char]  # between letters after all, where the reply put it
    return _OUTSIDE_CODE[char]


def _to_inside_code(m: re.Match[str]) -> str:
    return _INSIDE_CODE[m.group()]


def literal(text: object) -> str:
    """A string from outside, to be shown exactly as written in both forms."""
    held = _TO_LITERAL.sub(_to_literal, str(text))
    return QUOTE + held if held.startswith("&gt;") else held


def with_code(text: object) -> str:
    """A message the code wrote around outside words (a parser's complaint): its
    backticks stay code spans, everything else is `literal`."""
    return literal(text).replace(TICK, "`")


def blocks(text: str) -> str:
    """The mrkdwn a block carries."""
    if _HELD_ONLY.search(text) is None:  # the common case: nothing from outside needs it
        return text
    parts = text.split("`")  # odd parts are inside code spans: the code's own backticks
    return "`".join(
        _HELD_ONLY.sub(_to_inside_code if i % 2 else _to_outside_code, part)
        for i, part in enumerate(parts)
    )


def plain(text: str) -> str:
    """The fallback text: the code's marks dropped, outside strings as written. (The
    code writes its marks at word edges; a mark inside a word is an outside string's.)"""
    return _TO_PLAIN.sub(_to_plain, text)
