"""One trained version as the service holds it: metadata, pipeline and assignments.

Assignments are plain `.npy` arrays sorted by customer id and memory-mapped, so
loading a 1M-customer version costs milliseconds and a lookup is a binary
search, with no dict of a million Python objects to unpickle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np

ARRAYS = ("ids", "segments", "runner_up", "distances", "values")


def save_assignments(out_dir: Path, **arrays: np.ndarray) -> None:
    for name in ARRAYS:
        np.save(out_dir / f"{name}.npy", arrays[name], allow_pickle=False)


@dataclass
class LoadedVersion:
    name: str
    path: Path
    meta: dict[str, Any]
    ids: np.ndarray  # sorted customer ids (str)
    segments: np.ndarray  # stable segment id per customer
    runner_up: np.ndarray
    distances: np.ndarray  # (n, 2): own centre, runner-up centre
    values: np.ndarray  # (n, f) numeric features in original units, NaN = missing
    by_id: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    _pipeline: Any = field(default=None, repr=False)

    @classmethod
    def load(cls, path: Path) -> LoadedVersion:
        meta = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
        arrays = {
            name: np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            for name in ARRAYS
        }
        by_id = {s["id"]: s for s in meta["segments"]}
        return cls(name=meta["version"], path=path, meta=meta, by_id=by_id, **arrays)

    @property
    def pipeline(self):
        # Loaded on first predict: lookups and summaries never need it.
        if self._pipeline is None:
            self._pipeline = joblib.load(self.path / "pipeline.joblib")
        return self._pipeline

    def row_of(self, customer_id: str) -> int | None:
        i = int(np.searchsorted(self.ids, customer_id))
        if i < len(self.ids) and self.ids[i] == customer_id:
            return i
        return None

    def segment(self, segment_id: int) -> dict[str, Any]:
        return self.by_id[int(segment_id)]

    def segment_of_cluster(self, cluster: int) -> dict[str, Any]:
        return next(s for s in self.meta["segments"] if s["cluster"] == cluster)
