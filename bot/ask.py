"""`segbot ask "<command line>"`: one command through the router, printed."""

from __future__ import annotations

import json

from bot.files import save_files
from bot.progress import terminal_progress
from bot.render import unescape
from bot.router import Router
from bot.settings import BotSettings
from model import SegmentService


def run_ask(settings: BotSettings, command_line: str, as_json: bool, out: str | None) -> int:
    """Exit 0 on an answer, 1 on a usage, not-found or other refusal."""
    router = Router(SegmentService(settings), settings)
    with terminal_progress() as progress:
        reply = router.handle_said(command_line, progress=progress)
    saved = save_files(reply, out) if reply.ok else []
    if as_json:
        payload = reply.to_dict()
        for entry, path in zip(payload["files"], saved, strict=True):
            entry["saved"] = str(path)
        print(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
    else:
        print(unescape(reply.text))
        for path in saved:
            print(path)
    return 0 if reply.ok else 1
