"""What people say to the bot, as command lines: a small, documented grammar.

Mentions (`@segbot customer 1234`), direct messages, `segbot shell` and
`segbot ask` accept the command lines without the slash command, and these
plain phrasings (case and a trailing `?`, `.` or `!` do not matter):

| said                                                   | means                        |
|--------------------------------------------------------|------------------------------|
| which/what segment is (customer) <id>, … is <id> in    | `/segment customer <id>`     |
| segment of/for (customer) <id>, look up (customer) <id>| `/segment customer <id>`     |
| (show me) the elbow / clusters / profiles (chart)      | `/segments elbow` …          |
| how many segments (are there), (show me) the segments, | `/segments summary`          |
| overview, list segments                                |                              |
| show/describe/tell me about segment <segment>          | `/segments show <segment>`   |
| (show) versions, model history                         | `/segments history`          |
| help, what can you do, ?                               | `/segments help`             |

Anything else is not understood (None), and the caller says what to try.
Pure functions: no Slack, no service.
"""

from __future__ import annotations

import re

from bot.commands import SEGMENT, SEGMENTS, specs

_MENTION = re.compile(r"^\s*(?:<@[A-Z0-9]+(?:\|[^>]*)?>\s*)+")
_FILLER = r"(?:please\s+|can\s+you\s+|could\s+you\s+|hey\s+|segbot,?\s+)*"
_ID = r"(?P<id>\"[^\"]+\"|'[^']+'|[^\s?!.,]+(?:\.[^\s?!.,]+)*)"
_CHART = r"(?P<chart>elbow|clusters?|cluster\s+map|profiles?|segment\s+profiles)"

# (pattern, command line template), tried in order; the first full match wins.
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(_FILLER + pattern + r"\s*[?!.]*\s*$", re.IGNORECASE), line)
    for pattern, line in (
        (
            r"(?:which|what)\s+segment\s+(?:is|does|for|has)\s+(?:the\s+)?(?:customer\s+)?"
            + _ID
            + r"(?:\s+(?:in|belong\s+to|belongs\s+to))?",
            SEGMENT + " customer {id}",
        ),
        (
            r"(?:which|what)\s+segment\s+(?:is\s+)?(?:the\s+)?customer\s+" + _ID + r"(?:\s+in)?",
            SEGMENT + " customer {id}",
        ),
        (
            r"(?:the\s+)?segment\s+(?:of|for)\s+(?:the\s+)?(?:customer\s+)?" + _ID,
            SEGMENT + " customer {id}",
        ),
        (
            r"(?:look\s*up|find|check)\s+(?:the\s+)?(?:customer\s+)?" + _ID,
            SEGMENT + " customer {id}",
        ),
        (
            r"(?:(?:show|give|send|draw|plot)\s+(?:me\s+)?)?(?:the\s+)?"
            + _CHART
            + r"(?:\s+(?:chart|plot|graph|picture))?",
            SEGMENTS + " {chart}",
        ),
        (
            r"(?:(?:show|give|list|describe)\s+(?:me\s+)?)?(?:all\s+)?(?:the\s+)?segments"
            r"(?:\s+summary)?",
            SEGMENTS + " summary",
        ),
        (
            r"how\s+many\s+segments(?:\s+(?:are\s+there|do\s+we\s+have|there\s+are))?",
            SEGMENTS + " summary",
        ),
        (r"(?:an?\s+)?(?:overview|summary\s+of\s+(?:the\s+)?segments)", SEGMENTS + " summary"),
        (
            r"(?:show(?:\s+me)?|describe|tell\s+me\s+about|details\s+of)\s+segment\s+(?P<seg>.+?)",
            SEGMENTS + " show {seg}",
        ),
        (
            r"(?:(?:show\s+(?:me\s+)?)?(?:the\s+)?(?:model\s+)?(?:versions|history))",
            SEGMENTS + " history",
        ),
        (r"(?:help|what\s+can\s+you\s+do|how\s+does\s+this\s+work|\?+)", SEGMENTS + " help"),
    )
)

EXAMPLES = (
    "customer 1234",
    "which segment is customer 1234?",
    "summary",
    "show me the elbow chart",
    "segment of 00042",
    "help",
)


_MARKUP = re.compile(r"<[^>]*>")  # mentions, channel links, URLs: never customer ids
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.]*[A-Za-z0-9]|[0-9]")
MAX_CANDIDATES = 500


def candidate_ids(text: str) -> list[str]:
    """Words of a message that may be customer ids (they hold a digit), in order, once
    each: for the message shortcut. Slack markup (<@U1>, <https://…>) is skipped."""
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(_MARKUP.sub(" ", text)):
        if any(c.isdigit() for c in token) and token not in seen:
            seen[token] = None
            if len(seen) >= MAX_CANDIDATES:
                break
    return list(seen)


def strip_mentions(text: str) -> str:
    """'<@U0BOT> customer 42' -> 'customer 42' (only the mentions in front)."""
    return _MENTION.sub("", text, count=1).strip()


def _first_words() -> dict[str, str]:
    words = {}
    for spec in specs():
        for word in spec.words:
            words.setdefault(word, spec.command)
    words["help"] = SEGMENTS  # either help does; /segments lists both commands
    return words


_WORDS = _first_words()


def command_line(text: str) -> str | None:
    """A command line for what was said, or None when it is not understood.

    Slash command lines pass through; a line starting with a command word gets its
    slash command; a plain phrasing is matched against the grammar above."""
    said = " ".join(text.split())
    if not said:
        return None
    head = said.split(" ", 1)[0].lower()
    if head.startswith("/"):
        return said
    phrased = _phrase(said)
    if phrased is not None:
        return phrased
    word = head.rstrip("?!.")
    if word in _WORDS:
        return f"{_WORDS[word]} {said.rstrip('?!')}"
    if head in ("segment", "segments"):  # "segment customer 4": the slash is optional
        return "/" + said
    return None


def _phrase(said: str) -> str | None:
    for pattern, line in _PHRASES:
        match = pattern.match(said)
        if match is None:
            continue
        found = {k: v for k, v in match.groupdict().items() if v is not None}
        if "chart" in found:
            found["chart"] = _chart(found["chart"])
        if "seg" in found:
            found["seg"] = found["seg"].strip()
        return line.format(**found)
    return None


def _chart(said: str) -> str:
    said = said.lower()
    if said.startswith("elbow"):
        return "elbow"
    if "profile" in said:
        return "profiles"
    return "clusters"
