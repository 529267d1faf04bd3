"""One trained version as the service holds it: metadata, pipeline and assignments.

Assignments are plain `.npy` arrays sorted by customer id and memory-mapped, so
loading a 1M-customer version costs milliseconds and a lookup is a binary
search, with no dict of a million Python objects to unpickle.

Customer ids are stored as fixed-width UTF-8 bytes (numpy ``S<width>``, NUL
padded): a quarter of the size of numpy's ``U`` strings (4 bytes a character),
and bytewise order is the order Arrow sorts them in. Versions written with
``U`` ids still load and answer lookups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from model import imports
from model.versions.metadata import Segment, VersionMeta, read_metadata

# The stored pipeline's steps, in order: the fitted ColumnTransformer, a cast to
# float32, the fitted KMeans. Only `StoredPipeline` looks inside it.
PIPELINE_STEPS = ("features", "float32", "kmeans")
ARRAYS = ("ids", "segments", "runner_up", "distances", "values")
# (n, text features) int16, rows in id order: each customer's text values as codes
# into metadata "text_levels"; -1 missing.
TEXT_CODES = "text.npy"
_DECODE_CHUNK = 1 << 20


def save_assignments(out_dir: Path, **arrays: np.ndarray) -> None:
    for name in ARRAYS:
        np.save(out_dir / f"{name}.npy", arrays[name], allow_pickle=False)


def fixed_width_ids(ids) -> np.ndarray:
    """Arrow strings (no nulls) -> numpy ``S<width>`` holding each id's UTF-8 bytes.

    Copies straight from Arrow's buffers: no Python string per id. Ids of one
    width (zero-padded numbers, UUIDs) are a single reshape; otherwise bytes are
    scattered into place a million rows at a time.
    """
    import pyarrow as pa

    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        ids = ids.cast(pa.large_string())
    n = len(ids)
    offsets_dtype = np.int64 if pa.types.is_large_string(ids.type) else np.int32
    _, offsets_buffer, data_buffer = ids.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offsets_dtype)[ids.offset : ids.offset + n + 1]
    offsets = offsets.astype(np.int64)
    data = (
        np.frombuffer(data_buffer, dtype=np.uint8)
        if data_buffer is not None
        else np.zeros(0, np.uint8)
    )
    lengths = np.diff(offsets)
    width = max(int(lengths.max()) if n else 1, 1)
    if n and (lengths == width).all():
        return data[offsets[0] : offsets[-1]].view(f"S{width}").copy()
    out = np.zeros(n, dtype=f"S{width}")
    flat = out.view(np.uint8)
    for start in range(0, n, _DECODE_CHUNK):
        stop = min(start + _DECODE_CHUNK, n)
        lens = lengths[start:stop]
        first, last = offsets[start], offsets[stop]
        # destination of each byte: its row's slot start, plus its place in the id
        row_start = np.arange(start, stop, dtype=np.int64) * width - (offsets[start:stop] - first)
        dest = np.repeat(row_start, lens) + np.arange(last - first, dtype=np.int64)
        flat[dest] = data[first:last]
    return out


def decode_ids(keys: np.ndarray) -> np.ndarray:
    """Stored ids as numpy ``str`` (``U``), whichever way they were stored."""
    keys = np.asarray(keys)
    if keys.dtype.kind == "U":
        return keys
    try:
        return keys.astype(f"U{max(keys.dtype.itemsize, 1)}")  # ASCII: one C loop
    except UnicodeDecodeError:
        import pyarrow as pa

        text = pa.array(keys, type=pa.binary()).cast(pa.string())
        return np.asarray(text.to_numpy(zero_copy_only=False), dtype=str)


def common_rows(p_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of two sorted, duplicate-free id arrays that hold the same id.

    A binary search of each new id among the previous ones: O(n log n) compares
    with no concatenation and re-sort of both arrays, as `np.intersect1d` does."""
    if len(p_keys) == 0 or len(keys) == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    width = max(p_keys.dtype.itemsize, keys.dtype.itemsize)
    wide = np.dtype(f"S{width}")
    p_keys = p_keys if p_keys.dtype == wide else p_keys.astype(wide)
    keys = keys if keys.dtype == wide else keys.astype(wide)
    pos = np.minimum(np.searchsorted(p_keys, keys), len(p_keys) - 1)
    hit = p_keys[pos] == keys
    return pos[hit], np.flatnonzero(hit)


def as_keys(ids: np.ndarray) -> np.ndarray:
    """Stored ids as UTF-8 bytes, also for versions saved with numpy str ids."""
    if ids.dtype.kind == "S":
        return ids
    import pyarrow as pa

    return fixed_width_ids(pa.array(np.asarray(ids), type=pa.large_string()))


class StoredPipeline:
    """The fitted pipeline of a version, as a prospect is placed with it: each cluster
    centre's distance from given values. The one place that knows the pipeline's steps."""

    def __init__(self, pipeline: Any):
        self.sklearn = pipeline  # the fitted sklearn Pipeline itself, for tools that inspect it

    @classmethod
    def load(cls, path: Path) -> StoredPipeline:
        with imports.LOCK:  # unpickling imports scikit-learn's modules (model.imports)
            return cls(joblib.load(path))

    def distances(self, given: dict[str, float | str]) -> np.ndarray:
        """Distance (scaled units) to each cluster centre, by cluster number. Columns not
        in `given` are missing, imputed as in training. Values too far out for float32
        give inf or NaN distances: the caller decides what to say."""
        prospect_frame = imports.load("model.training.pipeline").prospect_frame

        steps = self.sklearn.named_steps
        frame = prospect_frame(steps[PIPELINE_STEPS[0]], given)
        centers = steps[PIPELINE_STEPS[-1]].cluster_centers_
        with np.errstate(over="ignore", invalid="ignore"):
            x = self.sklearn[:-1].transform(frame)
            return np.sqrt(((centers - x) ** 2).sum(1))


@dataclass
class LoadedVersion:
    name: str
    path: Path
    metadata: VersionMeta
    keys: np.ndarray  # sorted customer ids as stored: UTF-8 bytes ("S"), or "U" (older)
    segments: np.ndarray  # stable segment id per customer
    runner_up: np.ndarray
    distances: np.ndarray  # (n, 2): own centre, runner-up centre
    values: np.ndarray  # (n, f) numeric features in original units, NaN = missing
    _model: StoredPipeline | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: Path) -> LoadedVersion:
        meta = read_metadata(path)
        # Memory-mapped, but held as plain ndarray views of the maps: indexing a
        # np.memmap runs Python code per access (__getitem__, __array_finalize__),
        # ~1 µs each, and a lookup reads a dozen values.
        arrays = {
            name: np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False).view(np.ndarray)
            for name in ARRAYS
        }
        arrays["keys"] = arrays.pop("ids")
        return cls(name=meta.version, path=path, metadata=meta, **arrays)

    @property
    def ids(self) -> np.ndarray:
        """All sorted customer ids as numpy ``str``, decoded on each call (not kept:
        10M ids are 400 MB as ``U``); `id_strings` decodes only the rows asked for."""
        return decode_ids(self.keys)

    def id_strings(self, rows: np.ndarray) -> np.ndarray:
        """The ids of some rows (indices or a boolean mask) as numpy ``str``."""
        return decode_ids(np.asarray(self.keys)[rows])

    @property
    def model(self) -> StoredPipeline:
        """The fitted pipeline, to place prospects with."""
        # Loaded on first predict: lookups and summaries never need it.
        if self._model is None:
            self._model = StoredPipeline.load(self.path / "pipeline.joblib")
        return self._model

    def row_of(self, customer_id: str) -> int | None:
        keys = self.keys
        if keys.dtype.kind == "S":
            try:
                key: str | bytes = customer_id.encode("utf-8")
            except UnicodeEncodeError:
                return None
            if len(key) > keys.dtype.itemsize or key.endswith(b"\x00"):
                return None  # longer than every stored id (numpy would truncate it)
        else:
            key = customer_id
        i = int(np.searchsorted(keys, key))
        if i < len(keys) and keys[i] == key:
            return i
        return None

    def segment(self, segment_id: int) -> Segment:
        return self.metadata.segment(segment_id)

    def segment_of_cluster(self, cluster: int) -> Segment:
        return self.metadata.segment_of_cluster(cluster)
