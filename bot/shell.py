"""`segbot shell`: the bot in a terminal, through the same router as Slack.

Reads command lines (`/segment customer 1234`, or without the slash) and plain
phrasings ("which segment is customer 1234?", see bot.phrases) from stdin until
EOF, `exit` or `quit`. The local user is the operator, so admin commands are allowed.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import TextIO

from bot.files import save_files
from bot.progress import terminal_progress
from bot.render import unescape
from bot.router import Router
from bot.settings import BotSettings
from model import SegmentService

log = logging.getLogger(__name__)
PROMPT = "segbot> "
BANNER = "segbot shell: type /segments help for commands, exit to leave."


def _lines(stdin: TextIO, interactive: bool) -> Iterator[str]:
    if not interactive:
        yield from stdin
        return
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
    while True:
        try:
            yield input(PROMPT)
        except EOFError:
            print()
            return


def train_first(service: SegmentService) -> None:
    """A fresh install has no model: train one (on the bundled sample without data)."""
    if service.ready:
        return
    source = service.settings.data or "the bundled sample data"
    print(f"No trained model yet: training one on {source} first…", file=sys.stderr)
    with terminal_progress() as progress:
        service.ensure_model(progress)


def run_shell(
    settings: BotSettings,
    out: str | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    service: SegmentService | None = None,
) -> int:
    """`service`: one shared with other work (`segbot serve --shell` runs its schedule
    on the same one), else a new one."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    service = service or SegmentService(settings)
    router = Router(service, settings)
    train_first(service)
    interactive = stdin.isatty()
    if interactive:
        print(BANNER, file=stdout)
    for raw in _lines(stdin, interactive):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower() in ("exit", "quit", "/exit", "/quit"):
            break
        if line.lower() in ("help", "?"):
            line = "/segments help"
        with terminal_progress() as progress:
            reply = router.handle_said(line, progress=progress)
        print(unescape(reply.text), file=stdout)
        for path in save_files(reply, out) if reply.ok else []:
            print(f"file: {path}", file=stdout)
        if not interactive:
            print(file=stdout)  # a blank line between answers keeps piped output readable
        stdout.flush()
    return 0
