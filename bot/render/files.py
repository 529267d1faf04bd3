"""Replies that carry files: a chart, a segment's export, and the pointer left where
files could not go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.mrkdwn import literal, plain
from bot.render.pieces import ASKER, count, make_reply, section
from bot.reply import Reply, ReplyFile
from model import Export, Movers, to_dict

CHART_TITLES = {
    "elbow": "Elbow chart: how many segments, and why",
    "clusters": "Customers by segment (2-D map)",
    "profiles": "Segment profiles against the average",
    "flows": "Where customers went at this retrain",
    "trend": "Segment shares across versions",
}


def chart(name: str, path: Path, version: str) -> Reply:
    title = CHART_TITLES.get(name, name)
    line = f"{title} (model {literal(version)})"
    return make_reply(
        [line],
        [section(line)],
        files=chart_files({name: str(path)}, version),
        verb="chart",
        data={"kind": "chart", "chart": name, "version": version, "path": str(path)},
    )


def without_csv(answer: Export | Movers) -> dict[str, Any]:
    data = to_dict(answer)
    data["csv"] = None  # the bytes travel as the file, not inside the JSON
    return data


def export(answer: Export) -> Reply:
    line = (
        f"{count(answer.rows)} customers of *{literal(answer.segment.name)}* "
        f"(model {literal(answer.version)}) as {literal(answer.filename)}"
    )
    data = without_csv(answer)
    return make_reply(
        [line],
        [section(line)],
        files=[
            ReplyFile(
                filename=answer.filename,
                title=f"{answer.segment.name} ({answer.version})",
                content=answer.csv,
            )
        ],
        verb="export",
        data=data,
    )


def chart_files(charts: dict[str, str], version: str) -> list[ReplyFile]:
    return [
        ReplyFile(
            filename=f"{name}-{version}.png",
            title=f"{CHART_TITLES.get(name, name)} ({version})",
            path=Path(path),
        )
        for name, path in charts.items()
    ]


def pointer(reply: Reply, where: str) -> Reply:
    """Where a reply's files went when they could not go where they were asked for: the
    reply's own text, then `where`, for the asker alone."""
    blocks = [b for b in reply.blocks if b.get("type") != "actions"]
    return Reply(
        text=f"{reply.text}\n{where}",
        blocks=[*blocks, section(where)],
        visibility=ASKER,
        details={"kind": "pointer", "message": plain(where)},
    )
