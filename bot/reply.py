"""What the router answers, for every surface: Slack, the shell and `segbot ask`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Visibility = Literal["ephemeral", "in_channel"]


@dataclass(frozen=True)
class ReplyFile:
    """A file that goes with a reply: a chart on disk, or bytes made for this reply."""

    filename: str
    title: str
    path: Path | None = None
    content: bytes | None = None

    def read(self) -> bytes:
        if self.content is not None:
            return self.content
        assert self.path is not None, "a ReplyFile needs a path or content"
        return self.path.read_bytes()

    def to_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "title": self.title,
            "path": str(self.path) if self.path is not None else None,
            "bytes": len(self.content) if self.content is not None else None,
        }


@dataclass(frozen=True)
class Reply:
    text: str  # plain-text fallback (notifications, the shell); already escaped for Slack
    blocks: list[dict[str, Any]] = field(default_factory=list)
    files: list[ReplyFile] = field(default_factory=list)
    visibility: Visibility = "ephemeral"
    ok: bool = True  # False: usage, refusal, not found or failure
    deferred: bool = False  # an acknowledgement: the real answer follows
    answer: object | None = field(default=None, repr=False, compare=False)  # the service's
    details: dict[str, Any] | None = None  # plain data for replies without an answer

    @property
    def data(self) -> dict[str, Any] | None:
        """The answer as plain data. Built on demand: Slack never needs it, and turning a
        whole answer into dicts costs more than rendering it."""
        if self.answer is not None:
            return asdict(self.answer)  # type: ignore[call-overload]
        return self.details

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "blocks": self.blocks,
            "files": [f.to_dict() for f in self.files],
            "visibility": self.visibility,
            "ok": self.ok,
            "deferred": self.deferred,
            "data": self.data,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, default=_plain)


def _plain(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot put {type(value).__name__} in JSON")
