"""What people can type: the command table and a pure parser.

The table is the one source for parsing, access rules, visibility and help text,
so `/segments help` can never drift from what the router accepts.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from bot.reply import Visibility

SEGMENT = "/segment"
SEGMENTS = "/segments"
COMMANDS = (SEGMENT, SEGMENTS)


@dataclass(frozen=True)
class Spec:
    """One row of the table."""

    command: str  # "/segment" or "/segments"
    verb: str  # what `Command.verb` is set to
    usage: str  # arguments as shown in help, e.g. "<id>"
    help: str
    words: tuple[str, ...] = ()  # words that select it; () for the default form
    admin: bool = False
    slow: bool = False  # acknowledged at once, delivered afterwards
    visibility: Visibility = "in_channel"
    example: str = ""

    @property
    def syntax(self) -> str:
        word = self.words[0] if self.words else ""
        return " ".join(part for part in (self.command, word, self.usage) if part)


TABLE: tuple[Spec, ...] = (
    Spec(
        SEGMENT,
        "customer",
        "<id>",
        "a customer's segment, how clearly they belong, what to do",
        words=("customer",),
        visibility="ephemeral",
        example="/segment customer 00042",
    ),
    Spec(
        SEGMENT,
        "customer_history",
        "<id> history",
        "that customer's segment in every stored version, and since when",
        words=("customer",),
        visibility="ephemeral",
        example="/segment customer 00042 history",
    ),
    Spec(
        SEGMENT,
        "customer",
        "<id>",
        "the same, short form",
        visibility="ephemeral",
        example="/segment 00042",
    ),
    Spec(
        SEGMENT,
        "predict",
        "<feature>=<value> …",
        "the segment for a prospect; missing features are filled in and named",
        words=("predict", "prospect"),
        visibility="ephemeral",
        example='/segment predict age=34 annual_income=72000  ("names with spaces"=1 work too)',
    ),
    Spec(SEGMENT, "help", "", "this help", words=("help",), visibility="ephemeral"),
    Spec(
        SEGMENTS,
        "summary",
        "",
        "every segment: size, share, profile, suggested action",
        words=("summary",),
        example="/segments",
    ),
    Spec(
        SEGMENTS,
        "chart",
        "",
        "elbow chart: how many segments, and why",
        words=("elbow",),
        slow=True,
    ),
    Spec(
        SEGMENTS,
        "chart",
        "",
        "the customers on a 2-D map, coloured by segment (also `chart`)",
        words=("clusters", "chart"),
        slow=True,
    ),
    Spec(
        SEGMENTS,
        "chart",
        "",
        "each segment's profile against the average",
        words=("profiles",),
        slow=True,
    ),
    Spec(
        SEGMENTS,
        "show",
        "<segment>",
        "one segment in detail: size, share, profile, its size across versions, action",
        words=("show",),
        example="/segments show 2",
    ),
    Spec(
        SEGMENTS,
        "history",
        "",
        "trained versions, their quality and what changed",
        words=("history",),
    ),
    Spec(
        SEGMENTS,
        "movers",
        "<from> <to> [<version>]",
        "how many customers moved between two segments at a retrain (admins: their ids as CSV)",
        words=("movers",),
        slow=True,
        example='/segments movers "Big Spenders" "At Risk" v5  (or: movers 2 to 4)',
    ),
    Spec(
        SEGMENTS,
        "trend",
        "",
        "chart of each segment's share across versions",
        words=("trend",),
        slow=True,
    ),
    Spec(
        SEGMENTS,
        "flows",
        "[<version>]",
        "chart of where each segment's customers went at a retrain",
        words=("flows",),
        slow=True,
        example="/segments flows v5",
    ),
    Spec(
        SEGMENTS,
        "retrain",
        "",
        "retrain now from the configured data (admins)",
        words=("retrain",),
        admin=True,
        slow=True,
    ),
    Spec(
        SEGMENTS,
        "retrain",
        "force",
        "retrain even if the data has not changed (admins)",
        words=("retrain",),
        admin=True,
        slow=True,
    ),
    Spec(
        SEGMENTS,
        "rollback",
        "<version>",
        "serve an earlier version again (admins)",
        words=("rollback",),
        admin=True,
        example="/segments rollback v3",
    ),
    Spec(
        SEGMENTS,
        "export",
        "<segment>",
        "CSV of a segment's customer ids (admins)",
        words=("export",),
        admin=True,
        slow=True,
        visibility="ephemeral",
        example="/segments export High-Income Shoppers",
    ),
    Spec(SEGMENTS, "help", "", "this help", words=("help",), visibility="ephemeral"),
)

# `/segments chart` is an alias of `clusters`; the chart files are named after the others.
CHART_WORDS = {
    "elbow": "elbow",
    "clusters": "clusters",
    "chart": "clusters",
    "profiles": "profiles",
}


def _visibilities() -> dict[str, Visibility]:
    """Who sees each verb's answer; a verb has one, whichever row selected it."""
    seen: dict[str, Visibility] = {}
    for spec in TABLE:
        if seen.setdefault(spec.verb, spec.visibility) != spec.visibility:
            raise ValueError(f"the table's rows for {spec.verb} disagree on visibility")
    return seen


_VISIBILITY = _visibilities()


def visibility(verb: str) -> Visibility:
    """Who sees the answer to `verb`: the asker only ("ephemeral") or the channel."""
    return _VISIBILITY[verb]


@dataclass(frozen=True)
class Command:
    spec: Spec
    arg: str | None = None  # customer id, chart name, version or segment text
    values: dict[str, str] = field(default_factory=dict)  # predict: feature -> raw value

    @property
    def verb(self) -> str:
        return self.spec.verb

    @property
    def command(self) -> str:
        return self.spec.command


@dataclass(frozen=True)
class Usage:
    """Input that is not a command: say what went wrong and how to say it."""

    problem: str  # one line; may echo the user's text (escaped when rendered)
    command: str | None = None  # the command whose usage to show, None for both


# Slack clients may turn quotes into typographic ones; treat them as plain quotes.
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})
_PAIR = re.compile(
    r"""\s*(?:"(?P<qn>[^"]*)"|'(?P<sn>[^']*)'|(?P<n>[^=]+?))\s*=\s*"""
    r"""(?:"(?P<qv>[^"]*)"|'(?P<sv>[^']*)'|(?P<v>[^\s"']*))(?=\s|$)"""
)


def specs(command: str | None = None) -> list[Spec]:
    return [s for s in TABLE if command is None or s.command == command]


def _find(command: str, word: str) -> Spec | None:
    for spec in specs(command):
        if word in spec.words:
            return spec
    return None


def _by_verb(command: str, verb: str) -> Spec | None:
    return next((s for s in specs(command) if s.verb == verb), None)


def spec_for(command: str, word: str) -> Spec | None:
    """The table row a command word selects ("/segment", "predict")."""
    return _find(command, word)


def _words(command: str) -> list[str]:
    return [w for s in specs(command) for w in s.words]


def split_command(command_line: str) -> tuple[str | None, str]:
    """'/segments summary' -> ('/segments', 'summary'). The slash is optional."""
    text = command_line.translate(_QUOTES).strip()
    head, _, rest = text.partition(" ")
    name = "/" + head.lower().lstrip("/") if head else ""
    if name in COMMANDS:
        return name, rest.strip()
    return None, text


def _unquote(text: str) -> str | None:
    """One argument, quoted or not. None when quotes are unbalanced."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        inner = text[1:-1]
        return None if text[0] in inner else inner
    if text.count('"') % 2:
        return None
    return text


def parse_values(text: str) -> dict[str, str] | Usage:
    """`age=34 "Annual Income (k$)"=70 gender='Non binary'` -> {feature: raw value}.

    A name runs up to its `=`, so unquoted names may hold spaces; a value ends at
    whitespace unless quoted."""
    values: dict[str, str] = {}
    pos, text = 0, text.strip()
    while pos < len(text):
        match = _PAIR.match(text, pos)
        if match is None:
            rest = text[pos:].strip()
            return Usage(f"expected feature=value, not '{_clip(rest)}'", SEGMENT)
        name = next(g for g in (match["qn"], match["sn"], match["n"]) if g is not None).strip()
        value = next(g for g in (match["qv"], match["sv"], match["v"]) if g is not None)
        if not name:
            return Usage(
                f"a value without a feature name: '{_clip(match.group().strip())}'", SEGMENT
            )
        if value == "":
            return Usage(f"{_clip(name)} has no value; write {_clip(name)}=<number>", SEGMENT)
        if name.lower() in (n.lower() for n in values):
            return Usage(f"{_clip(name)} is given twice", SEGMENT)
        values[name] = value
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    if not values:
        return Usage("give the prospect's values, e.g. age=34 annual_income=72000", SEGMENT)
    return values


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _suggest(command: str, word: str) -> str:
    other = SEGMENTS if command == SEGMENT else SEGMENT
    if word in _words(other):
        return f"; `{word}` belongs to `{other}`: try `{other} {word} …`"
    close = difflib.get_close_matches(word, _words(command), n=1, cutoff=0.6)
    return f"; did you mean `{command} {close[0]}`?" if close else ""


def parse(command_line: str, text: str | None = None) -> Command | Usage:
    """Parse a whole line ("/segment customer 42"), or Slack's separate command and text."""
    if text is not None:
        command_line = f"{command_line} {text}"
    command, rest = split_command(command_line)
    if command is None:
        word = rest.split(" ", 1)[0] if rest else ""
        return Usage(f"unknown command '{_clip(word)}'" if word else "type a command")
    word, _, tail = rest.partition(" ")
    word_l, tail = word.lower(), tail.strip()
    if command == SEGMENT:
        return _parse_segment(word, word_l, tail)
    return _parse_segments(word_l, tail)


def _parse_segment(word: str, word_l: str, tail: str) -> Command | Usage:
    if not word:
        return Usage("which customer? give an id", SEGMENT)
    if word_l == "help":
        return Command(_find(SEGMENT, "help"))  # type: ignore[arg-type]
    if word_l in ("predict", "prospect"):
        values = parse_values(tail)
        if isinstance(values, Usage):
            return values
        return Command(_find(SEGMENT, "predict"), values=values)  # type: ignore[arg-type]
    if word_l == "customer":
        if not tail:
            return Usage("which customer? give an id", SEGMENT)
        return _customer(tail)
    if word_l in _words(SEGMENTS) and not tail:
        return Usage(f"`{word_l}` belongs to `{SEGMENTS}`: try `{SEGMENTS} {word_l}`", SEGMENT)
    return _customer(f"{word} {tail}".strip())


def _customer(text: str) -> Command | Usage:
    history = _HISTORY.search(text)
    if history is not None:  # `<id> history`; an id alone may still be "history"
        text = text[: history.start()]
    customer_id = _unquote(text)
    if customer_id is None:
        return Usage(f"unbalanced quotes in '{_clip(text)}'", SEGMENT)
    if not customer_id.strip():
        return Usage("which customer? give an id", SEGMENT)
    if " " in text.strip() and customer_id == text.strip():
        # Unquoted spaces are far more often a typo than an id with spaces.
        return Usage(
            f"one customer id at a time, not '{_clip(text)}' "
            '(quote an id that has spaces: "AB 12")',
            SEGMENT,
        )
    # ids are kept exactly, leading zeros and all
    if history is not None:
        spec = _by_verb(SEGMENT, "customer_history")
        return Command(spec, arg=customer_id)
    return Command(_find(SEGMENT, "customer"), arg=customer_id)  # type: ignore[arg-type]


def _parse_segments(word_l: str, tail: str) -> Command | Usage:
    if not word_l:
        return Command(_find(SEGMENTS, "summary"))  # type: ignore[arg-type]
    spec = _find(SEGMENTS, word_l)
    if spec is None:
        return Usage(
            f"unknown `{SEGMENTS}` option '{_clip(word_l)}'" + _suggest(SEGMENTS, word_l), SEGMENTS
        )
    if spec.verb == "chart":
        if word_l == "chart" and tail:  # `/segments chart elbow` reads naturally too
            if tail.lower() not in CHART_WORDS:
                return Usage(
                    f"no chart '{_clip(tail)}'; charts: elbow, clusters, profiles", SEGMENTS
                )
            return Command(spec, arg=CHART_WORDS[tail.lower()])
        return _no_tail(spec, tail) or Command(spec, arg=CHART_WORDS[word_l])
    if spec.verb == "retrain" and tail:
        if tail.lower() == "force":
            return Command(next(s for s in specs(SEGMENTS) if s.usage == "force"), arg="force")
        return Usage(
            f"`{SEGMENTS} retrain` takes nothing after it but `force`, not '{_clip(tail)}'",
            SEGMENTS,
        )
    if spec.verb == "movers":
        return _movers(spec, tail)
    if spec.verb == "flows":
        if not tail:
            return Command(spec)
        if len(tail.split()) > 1:
            return Usage(
                f"`{SEGMENTS} flows` takes one version at most, not '{_clip(tail)}'", SEGMENTS
            )
        return Command(spec, arg=tail)
    if spec.verb in ("rollback", "export", "show"):
        arg = _unquote(tail) if tail else ""
        if arg is None:
            return Usage(f"unbalanced quotes in '{_clip(tail)}'", SEGMENTS)
        if not arg.strip():
            what = (
                "which version? e.g. v3"
                if spec.verb == "rollback"
                else "which segment? give its name or number"
            )
            return Usage(f"{what}: `{spec.syntax}`", SEGMENTS)
        return Command(spec, arg=arg.strip())
    return _no_tail(spec, tail) or Command(spec)


_HISTORY = re.compile(r"\s+history\s*$", re.IGNORECASE)
_TOKEN = re.compile(r""""(?P<dq>[^"]*)"|'(?P<sq>[^']*)'(?=\s|$)|(?P<bare>\S+)""")
_VERSION = re.compile(r"^[vV]\d+$")


def _tokens(text: str) -> list[tuple[str, bool]] | None:
    """Words, quoted ones kept whole: [(text, quoted)]. None for unbalanced quotes."""
    if text.count('"') % 2:
        return None
    out = []
    for match in _TOKEN.finditer(text):
        quoted = match["bare"] is None
        out.append(
            (match["dq"] if match["dq"] is not None else match["sq"] or match["bare"], quoted)
        )
    return out


def _movers(spec: Spec, tail: str) -> Command | Usage:
    """`<from> <to> [<version>]`: names with spaces quoted, or `<from> to <to>`."""
    how = (
        f'name two segments, e.g. `{SEGMENTS} movers 2 4`, `{SEGMENTS} movers "Big Spenders" '
        f'"At Risk" v5` or `{SEGMENTS} movers Big Spenders to At Risk`'
    )
    tokens = _tokens(tail)
    if tokens is None:
        return Usage(f"unbalanced quotes in '{_clip(tail)}'", SEGMENTS)
    version = None
    split = [i for i, (word, quoted) in enumerate(tokens) if not quoted and word.lower() == "to"]
    if split and 0 < split[0] < len(tokens) - 1:
        before, after = tokens[: split[0]], tokens[split[0] + 1 :]
        if len(after) > 1 and not after[-1][1] and _VERSION.match(after[-1][0]):
            version, after = after[-1][0], after[:-1]
        source = " ".join(word for word, _ in before)
        target = " ".join(word for word, _ in after)
    elif len(tokens) in (2, 3):
        source, target = tokens[0][0], tokens[1][0]
        version = tokens[2][0] if len(tokens) == 3 else None
    else:
        return Usage(how, SEGMENTS)
    if not source.strip() or not target.strip():
        return Usage(how, SEGMENTS)
    values = {"from": source.strip(), "to": target.strip()}
    if version is not None:
        values["version"] = version
    return Command(spec, values=values)


def _no_tail(spec: Spec, tail: str) -> Usage | None:
    if tail:
        return Usage(
            f"`{spec.command} {spec.words[0]}` takes nothing after it, not '{_clip(tail)}'",
            spec.command,
        )
    return None


MAX_ARG = 200  # a customer id, segment or version from a click; Slack allows 2,000


def build(
    command: str, word: str, arg: str | None = None, values: dict[str, str] | None = None
) -> Command | Usage:
    """A command from its parts, for clicks and modals (no round trip through text).

    `word` selects the row by its verb, else as a typed word would; `arg` is checked as
    `parse` checks it, since a button's value or a modal's input comes from outside too."""
    # by verb first: rows that share a typed word ("customer", "customer_history") differ in it
    spec = _by_verb(command, word) or _find(command, word) if command in COMMANDS else None
    if spec is None:
        return Usage(
            f"unknown action '{_clip(str(word))}'", command if command in COMMANDS else None
        )
    arg = arg.strip() if isinstance(arg, str) else None
    if arg is not None and len(arg) > MAX_ARG:
        return Usage(f"'{_clip(arg)}' is too long", command)
    if spec.verb == "chart":
        chart = CHART_WORDS.get((arg or word).lower())
        if chart is None:
            return Usage(
                f"no chart '{_clip(arg or word)}'; charts: elbow, clusters, profiles", command
            )
        return Command(spec, arg=chart)
    if spec.verb == "predict":
        values = {k.strip(): str(v).strip() for k, v in (values or {}).items() if str(v).strip()}
        if not values:
            return Usage("give the prospect's values, e.g. age=34 annual_income=72000", SEGMENT)
        return Command(spec, values=values)
    if spec.verb == "retrain":
        return Command(spec, arg="force" if arg == "force" else None)
    if spec.usage.startswith("<"):
        if not arg:
            return Usage(f"`{spec.syntax}` needs {spec.usage}", command)
        return Command(spec, arg=arg)
    return Command(spec)


def help_lines(command: str | None = None) -> list[tuple[str, str]]:
    """(syntax, what it does) for each row, for the help reply."""
    return [
        (spec.syntax, spec.help)
        for spec in specs(command)
        # one help line is enough when both commands are listed
        if not (spec.verb == "help" and command is None and spec.command == SEGMENT)
    ]
