"""Versions on disk: one folder per trained version, and a pointer to the served one.

Layout under SEGBOT_MODEL_DIR:

    v1/ v2/ ...      complete versions (metadata.json written last, then the folder renamed in)
    .tmp-v3-<pid>/   a version being written; ignored and removed by the next trainer
    CURRENT          the served version's name, replaced atomically (write, fsync, rename)
    .train.lock      held while a process trains, so two processes never train at once

A crash at any instant leaves CURRENT naming a complete folder: folders appear
by rename, and CURRENT only ever names a folder that already exists.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from model.errors import NotFound, RetrainInProgress
from model.versions.metadata import FILE as METADATA
from model.versions.metadata import VersionMeta, read_metadata

VERSION_RE = re.compile(r"^v(\d+)$")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def version_number(name: str) -> int:
    match = VERSION_RE.match(name.strip().lower())
    if not match:
        raise NotFound(f"'{name}' is not a version name (versions look like v3)")
    return int(match.group(1))


def normalise_version(text: str) -> str:
    """Accept "v3", "V3" and "3"."""
    text = text.strip().lower()
    return f"v{int(text)}" if text.isdigit() else f"v{version_number(text)}"


class Registry:
    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def pointer(self) -> Path:
        return self.root / "CURRENT"

    def path(self, version: str) -> Path:
        return self.root / version

    def versions(self) -> list[str]:
        """Complete versions, oldest first."""
        if not self.root.is_dir():
            return []
        found = [
            p.name
            for p in self.root.iterdir()
            if VERSION_RE.match(p.name) and (p / METADATA).is_file()
        ]
        return sorted(found, key=version_number)

    def metadata(self, version: str) -> VersionMeta:
        """The version's metadata.json, typed (`MetadataError` if it is not one)."""
        if not (self.path(version) / METADATA).is_file():
            raise NotFound(f"version {version} does not exist")
        return read_metadata(self.path(version))

    def metadata_stamp(self, version: str) -> tuple[int, int, int] | None:
        """Changes whenever the version's metadata is rewritten (always by an atomic
        rename), so readers can keep what they parsed from it."""
        try:
            st = (self.path(version) / METADATA).stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    def served(self) -> str | None:
        """The served version, or None before the first training."""
        try:
            name = self.pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            name = ""
        if name and (self.path(name) / METADATA).is_file():
            return name
        return None

    def pointer_stamp(self) -> tuple[int, int] | None:
        """Cheap change detection for other processes' switches."""
        try:
            st = self.pointer.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_ino)

    def set_served(self, version: str) -> None:
        if not (self.path(version) / METADATA).is_file():
            raise NotFound(f"version {version} does not exist")
        write_atomic(self.pointer, (version + "\n").encode())

    def next_version(self) -> str:
        """One past every `v<N>` folder, complete or not: a folder without metadata.json
        (an unfinished copy, say) is not a version, but its name is taken."""
        taken = [p.name for p in self.root.iterdir()] if self.root.is_dir() else []
        numbers = [int(m.group(1)) for m in map(VERSION_RE.match, taken) if m]
        return f"v{max(numbers, default=0) + 1}"

    @contextlib.contextmanager
    def staging(self, version: str) -> Iterator[Path]:
        """A scratch folder that becomes `version` only if the block completes."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{version}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            yield tmp
            for f in tmp.iterdir():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
            _fsync_dir(tmp)
            final = self.path(version)
            if final.exists():
                raise RuntimeError(f"version folder {final} already exists")
            os.rename(tmp, final)
            _fsync_dir(self.root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @contextlib.contextmanager
    def train_lock(self) -> Iterator[None]:
        """One trainer per model directory, across processes."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / ".train.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise RetrainInProgress(
                "a retrain is already running (in this or another segbot process)"
            ) from None
        try:
            self.clean_partial()
            yield
        finally:
            lock.release()

    def clean_partial(self) -> list[str]:
        """Remove what a killed trainer left. Only call while holding the train lock."""
        removed = []
        for p in self.root.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
        for p in self.root.glob(".*.tmp"):
            p.unlink(missing_ok=True)
        return removed

    def update_metadata(self, version: str, **fields: Any) -> None:
        """Rewrite some fields; checked first, so a wrong type is never written."""
        meta = self.metadata(version).to_dict()
        meta.update(fields)
        VersionMeta.from_dict(meta, f"{version}/{METADATA} with {', '.join(fields)}")
        write_atomic(self.path(version) / METADATA, json.dumps(meta, indent=2).encode())

    def retain(self, keep: int) -> list[str]:
        """Delete the oldest versions beyond `keep`; never the served one."""
        served = self.served()
        versions = self.versions()
        doomed = [v for v in versions[: max(0, len(versions) - keep)] if v != served]
        for v in doomed:
            # Rename first so a half-deleted folder is never mistaken for a version.
            trash = self.root / f".tmp-deleted-{v}-{os.getpid()}"
            os.rename(self.path(v), trash)
            shutil.rmtree(trash, ignore_errors=True)
        return doomed
