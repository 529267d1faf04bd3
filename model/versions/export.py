"""Every customer's assignment in one version, as rows for other tools.

The columns (docs/interface.md §6), shared by `segbot export` and the write-back:

    customer_id  text     the id as in the data
    segment_id   integer  the segment's stable id
    segment      text     the segment's name in that version
    version      text     the version, e.g. v3
    distance     float    to the segment's centre, in scaled units (6 decimals)
    runner_up    text     the next-closest segment's name; empty (NULL) with one segment

Rows come in Arrow record batches read straight from the version's memory-mapped
arrays, so 10M customers never sit in memory at once. Files are written to a
temporary name beside the target and renamed in: a reader sees the old file or
the new one, never half of one.
"""

from __future__ import annotations

import difflib
import glob
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from model.errors import InputError, NotFound
from model.versions.registry import VERSION_RE, Registry, normalise_version, version_number
from model.versions.version import LoadedVersion, decode_ids

COLUMNS = ("customer_id", "segment_id", "segment", "version", "distance", "runner_up")
SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("segment_id", pa.int32()),
        ("segment", pa.string()),
        ("version", pa.string()),
        ("distance", pa.float64()),
        ("runner_up", pa.string()),
    ]
)
FORMATS = (".csv", ".parquet")
VERSION_KEY = b"segbot_version"  # Parquet key-value metadata: which version a file holds
CHUNK_ROWS = 250_000  # ~15 MB of Arrow data per batch


def assignment_batches(v: LoadedVersion, chunk: int = CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
    """Every customer's row, `chunk` rows at a time, in customer id order."""
    chunk = max(1, int(chunk))
    by_id = v.metadata.segments_by_id
    table_size = (max(by_id) + 1) if by_id else 1
    # segment id -> name, as an Arrow array indexed by id (gaps: null, never read)
    names = pa.array([by_id[i].name if i in by_id else None for i in range(table_size)])
    version = pa.array([v.name])
    n = len(v.keys)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        segments = np.asarray(v.segments[start:stop]).astype(np.int32)
        runner = np.asarray(v.runner_up[start:stop]).astype(np.int32)
        no_runner = runner < 0
        distance = np.round(np.asarray(v.distances[start:stop, 0], dtype=np.float64), 6)
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(decode_ids(v.keys[start:stop]), type=pa.string()),
                pa.array(segments),
                names.take(pa.array(segments)),
                version.take(pa.array(np.zeros(stop - start, dtype=np.int8))),
                pa.array(distance),
                names.take(pa.array(np.maximum(runner, 0), mask=no_runner)),
            ],
            schema=SCHEMA,
        )


def file_format(path: Path) -> str:
    """'.csv' or '.parquet', or a one-line InputError naming the file."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"cannot write {path}: the file name must end in .csv or .parquet"
            + (f", not {suffix}" if suffix else "")
        )
    return suffix


def check_writable(path: Path) -> None:
    """A one-line InputError now, rather than a traceback after the rows are read."""
    folder = path.parent
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder")
    if not folder.is_dir():
        raise InputError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {path}: no permission to write in {folder}")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"cannot write {path}: the file is read-only")


def temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def dead_writers_temp_files(path: Path) -> list[Path]:
    """`temp_path`s of `path` left by processes that no longer run (killed mid-write).
    A running process's (an export to the same file, say) is not among them."""
    found = []
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = candidate.name[len(path.name) + 2 : -len(".tmp")]
        if pid.isdigit() and not _running(int(pid)):
            found.append(candidate)
    return found


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def write_batches(batches: Iterator[pa.RecordBatch], path: Path, version: str) -> int:
    """Write rows to `path` (csv or parquet by its suffix) through a temporary file
    renamed in at the end. Returns the number of rows."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    suffix = file_format(path)
    tmp = temp_path(path)
    rows = 0
    try:
        if suffix == ".parquet":
            schema = SCHEMA.with_metadata({VERSION_KEY: version.encode()})
            with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        else:
            with pacsv.CSVWriter(tmp, SCHEMA) as writer:
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return rows


def file_version(path: Path) -> str | None:
    """The version a file written by segbot holds, or None (no file, or empty)."""
    import csv

    if not path.is_file():
        return None
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        meta = pq.read_schema(path).metadata or {}
        found = meta.get(VERSION_KEY)
        return found.decode() if found else None
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        first = next(reader, None)
    if not header or not first or "version" not in header:
        return None
    return first[header.index("version")]


def resolve_version(registry: Registry, text: str | None) -> str:
    """A stored version's name from "v3", "3", or None for the served one."""
    stored = registry.versions()
    if not stored:
        raise NotFound("no model is trained yet: run `segbot train`")
    if text is None:
        served = registry.served()
        if served is None:
            raise NotFound("no version is served yet: run `segbot train`")
        return served
    try:
        name = normalise_version(text)
    except NotFound:
        name = text.strip()
    if name in stored:
        return name
    if VERSION_RE.match(name):  # a version that is not (or no longer) kept: the nearest one
        number = version_number(name)
        close = [min(stored, key=lambda s: (abs(version_number(s) - number), -version_number(s)))]
    else:
        close = difflib.get_close_matches(name, stored, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]}? " if close else ""
    raise NotFound(f"version {name} does not exist; {hint}stored versions: {', '.join(stored)}")


def export_version(registry: Registry, out: Path, version: str | None = None) -> tuple[str, int]:
    """`segbot export`: (version, rows) after writing every customer's row to `out`."""
    out = Path(out)
    file_format(out)
    name = resolve_version(registry, version)
    check_writable(out.resolve())
    v = LoadedVersion.load(registry.path(name))
    return name, write_batches(assignment_batches(v), out, name)
