"""Slack mrkdwn written once, shown two ways: in blocks, and as the plain-text fallback.

Slack's rules (api.slack.com/reference/surfaces/formatting): `&`, `<` and `>` are
control characters and are sent as entities; `*bold*`, `_italic_`, `~strike~` and
`` `code` `` have no escape at all. So every string from outside the code (a segment
name, a customer id, a column name, what someone typed) goes through `literal`: the
control characters become entities, and its own marks are held as private-use
placeholders while a reply is written. The marks left in a finished string are then
the code's own, and each form is one pass at the edge:

- `blocks`: inside a code span a placeholder is the character itself (Slack formats
  nothing there, so an id in code is exact), and so is a `*`, `_` or `~` between two
  letters or digits (Slack never formats inside a word: `annual_income`, `A*1`);
  anywhere else it becomes a look-alike (`*` → `∗`, the substitutes jsx-slack uses;
  Slack's date-fallback trick garbles on Android), so `Big *Spenders*` reads as
  written and the bold around it holds;
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
_HELD = re.compile("[\ue000-\ue004]")
_IN_WORD = re.compile("(?<=\\w)[\ue000-\ue002](?=\\w)")
_RAW = {STAR: "*", LOW: "_", TILDE: "~"}

_LITERAL = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "*": STAR,
        "_": LOW,
        "~": TILDE,
        "`": TICK,
        # the placeholders themselves, should the data hold them, are not marks
        **{chr(c): "\ufffd" for c in range(0xE000, 0xE005)},
    }
)
_OUTSIDE_CODE = str.maketrans(
    {STAR: "\u2217", LOW: "\u02cd", TILDE: "\u223c", TICK: "\u02cb", QUOTE: "\u00ad"}
)
_INSIDE_CODE = str.maketrans({STAR: "*", LOW: "_", TILDE: "~", TICK: "\u02cb", QUOTE: ""})
# Code spans keep their backticks: `/segments history` reads as a command in plain text.
_PLAIN = str.maketrans(
    {"*": None, "_": None, "~": None, STAR: "*", LOW: "_", TILDE: "~", TICK: "`", QUOTE: None}
)
_CODE_MARKS = str.maketrans({TICK: "`"})


def literal(text: object) -> str:
    """A string from outside, to be shown exactly as written in both forms."""
    held = str(text).translate(_LITERAL)
    return QUOTE + held if held.startswith("&gt;") else held


def with_code(text: object) -> str:
    """A message the code wrote around outside words (a parser's complaint): its
    backticks stay code spans, everything else is `literal`."""
    return literal(text).translate(_CODE_MARKS)


def blocks(text: str) -> str:
    """The mrkdwn a block carries."""
    if _HELD.search(text) is None:  # the common case: nothing from outside needs it
        return text
    parts = text.split("`")  # odd parts are inside code spans: the code's own backticks
    return "`".join(
        part.translate(_INSIDE_CODE)
        if i % 2
        else _IN_WORD.sub(lambda m: _RAW[m.group()], part).translate(_OUTSIDE_CODE)
        for i, part in enumerate(parts)
    )


def plain(text: str) -> str:
    """The fallback text: the code's marks dropped, outside strings as written."""
    return text.translate(_PLAIN)
