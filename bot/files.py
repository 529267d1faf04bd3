"""Files that come with a reply, saved for the shell and `segbot ask`."""

from __future__ import annotations

from pathlib import Path

from bot.reply import Reply


def save_files(reply: Reply, out: str | Path | None) -> list[Path]:
    """Into `out` when given. Without it, a chart is already a file in the model folder
    and is shown where it is; made-up files (exports) go to the current folder."""
    saved = []
    for file in reply.files:
        if out is None and file.path is not None:
            saved.append(file.path.resolve())
            continue
        folder = Path(out) if out is not None else Path.cwd()
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / Path(file.filename).name  # never a path from elsewhere
        target.write_bytes(file.read())
        saved.append(target.resolve())
    return saved
