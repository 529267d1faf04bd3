"""Queries during a retrain: 20 threads look customers up while a
retrain runs and switches versions. No lookup may fail, and every answer must come
wholly from one version: its segment, runner-up, distance, values and as-of date must
all be that version's stored row for the customer (checked afterwards against both
versions' arrays), and no thread may see the old version after it has seen the new.

The normal suite runs one in-process retrain with at least 1,000 lookups, and one
retrain by another process (`segbot train`), which the service picks up through CURRENT.
The long variants (marked `slow`: `-m slow` or `SEGBOT_LONG=1`) run three retrains in a
row with at least 10,000 lookups, and more lookups around the other process's retrain.
"""

from __future__ import annotations

import math
import random
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from model.service import SegmentService
from model.versions.version import LoadedVersion
from tests.conftest import make_settings, segbot_command, segbot_env

THREADS = 20


@dataclass(frozen=True)
class Seen:
    thread: int
    seq: int
    customer_id: str
    version: str
    segment: int
    segment_name: str
    runner_up: int | None
    distance: float
    values: tuple[float | None, ...]
    as_of: str


def changed_data(sample_csv: Path, out: Path, seed: int) -> Path:
    """The same customers with one another's values (rows shuffled under the ids), so
    most of them change segment and the two versions are easy to tell apart."""
    frame = pd.read_csv(sample_csv, dtype={"customer_id": str})
    features = [c for c in frame.columns if c != "customer_id"]
    frame[features] = frame[features].sample(frac=1, random_state=seed).to_numpy()
    frame.to_csv(out, index=False)
    return out


def settings_for(model_dir: Path, data: Path):
    # Guardrails off: the changed data must be served, not held back as a candidate.
    return make_settings(
        model_dir, data, SEGBOT_MAX_SILHOUETTE_DROP=1.0, SEGBOT_MIN_SEGMENT_SHARE=0.0
    )


class Lookups:
    """THREADS threads looking customers up until `done` is set and each has made at
    least `each` lookups, `tail` of them after `done`; every answer and error is kept."""

    def __init__(
        self, service: SegmentService, ids: list[str], each: int, pause: float, tail: int = 10
    ):
        self.service, self.ids, self.each, self.pause = service, ids, each, pause
        self.tail = tail
        self.done = threading.Event()
        self.go = threading.Event()
        self.seen: list[Seen] = []
        self.summaries: list[tuple[str, int, tuple[int, ...]]] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(THREADS)
        ]

    def start(self) -> Lookups:
        for t in self.threads:
            t.start()
        return self

    def join(self) -> None:
        for t in self.threads:
            t.join(120)
            assert not t.is_alive(), "a lookup thread hung"

    def _run(self, number: int) -> None:
        rng = random.Random(number)
        self.go.wait(60)
        seq = after = 0
        while not (self.done.is_set() and seq >= self.each and after >= self.tail):
            after += self.done.is_set()
            cid = rng.choice(self.ids)
            try:
                a = self.service.lookup(cid)
                seen = Seen(
                    number,
                    seq,
                    cid,
                    a.version,
                    a.segment.id,
                    a.segment.name,
                    a.membership.runner_up.id if a.membership.runner_up else None,
                    a.membership.distance,
                    tuple(v.value for v in a.values),
                    a.as_of,
                )
                summary = None
                if seq % 10 == 0:
                    s = self.service.summary()
                    summary = (s.version, s.k, tuple(seg.size for seg in s.segments))
            except Exception as exc:  # every failure counts; none is expected
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            else:
                with self._lock:
                    self.seen.append(seen)
                    if summary:
                        self.summaries.append(summary)
            seq += 1
            time.sleep(self.pause)


def check_wholly_from_one_version(lookups: Lookups, root: Path) -> dict[str, int]:
    assert lookups.errors == [], lookups.errors[:5]
    versions: dict[str, LoadedVersion] = {}
    counts: dict[str, int] = {}
    for s in lookups.seen:
        v = versions.get(s.version) or versions.setdefault(
            s.version, LoadedVersion.load(root / s.version)
        )
        counts[s.version] = counts.get(s.version, 0) + 1
        row = v.row_of(s.customer_id)
        assert row is not None, s
        assert s.segment == int(v.segments[row]), s
        assert s.segment_name == v.segment(s.segment).name, s
        runner = int(v.runner_up[row])
        assert s.runner_up == (runner if runner >= 0 else None), s
        assert s.distance == round(float(v.distances[row, 0]), 3), s
        assert s.as_of == v.metadata.trained_at, s
        stored = [None if math.isnan(x) else float(x) for x in v.values[row]]
        assert list(s.values) == stored, s
    for version, k, sizes in lookups.summaries:
        meta = (versions.get(version) or LoadedVersion.load(root / version)).metadata
        assert k == meta.k and sizes == tuple(seg.size for seg in meta.segments)
    # the swap is one reference: once a thread has seen a newer version, never an older
    by_thread: dict[int, list[Seen]] = {}
    for s in lookups.seen:
        by_thread.setdefault(s.thread, []).append(s)
    for seen in by_thread.values():
        numbers = [int(s.version[1:]) for s in sorted(seen, key=lambda s: s.seq)]
        assert numbers == sorted(numbers), "a thread went back to an older version"
    return counts


def differing(root: Path, a: str, b: str, ids: list[str]) -> int:
    """How many of `ids` are in different segments in versions a and b."""
    va, vb = LoadedVersion.load(root / a), LoadedVersion.load(root / b)
    return sum(int(va.segments[va.row_of(c)]) != int(vb.segments[vb.row_of(c)]) for c in ids)


def retrain_under_load(
    model_dir: Path, data: Path, retrains: int, each: int, pause: float
) -> tuple[Lookups, list[str]]:
    service = SegmentService(settings_for(model_dir, data))
    ids = [str(i) for i in LoadedVersion.load(model_dir / "v1").ids]
    ids = random.Random(0).sample(ids, 300)
    lookups = Lookups(service, ids, each=each, pause=pause)
    switches: list[str] = []
    service.on_switch(switches.append)
    service.lookup(ids[0])  # loaded before the clock starts, like a running bot
    lookups.start()
    try:
        for i in range(retrains):
            if i:
                changed_data(data, data, seed=100 + i)  # new numbers for each retrain
            started = threading.Event()

            def progress(stage: str, fraction: float, started=started) -> None:
                started.set()

            results: list = []

            def retrain(progress=progress, results=results) -> None:
                results.append(service.retrain(progress=progress, force=True))

            worker = threading.Thread(target=retrain)
            worker.start()
            assert started.wait(60)
            lookups.go.set()
            worker.join(300)
            assert not worker.is_alive() and results and results[0].served
    finally:
        lookups.done.set()
        lookups.join()
    return lookups, ids


def test_lookups_during_a_retrain_come_wholly_from_one_version(
    model_dir: Path, sample_csv: Path, tmp_path: Path
) -> None:
    data = changed_data(sample_csv, tmp_path / "changed.csv", seed=1)
    lookups, ids = retrain_under_load(model_dir, data, retrains=1, each=50, pause=0.01)
    counts = check_wholly_from_one_version(lookups, model_dir)
    total = sum(counts.values())
    print(f"\n{total} lookups from {THREADS} threads during one retrain, 0 errors: {counts}")
    assert total >= 1000 and set(counts) == {"v1", "v2"}
    assert counts["v1"] > 0 and counts["v2"] >= THREADS * 10
    assert differing(model_dir, "v1", "v2", ids) > 100  # the check can tell them apart


@pytest.mark.slow
def test_lookups_during_three_retrains_long(
    model_dir: Path, sample_csv: Path, tmp_path: Path
) -> None:
    data = changed_data(sample_csv, tmp_path / "changed.csv", seed=1)
    lookups, _ = retrain_under_load(model_dir, data, retrains=3, each=500, pause=0.002)
    counts = check_wholly_from_one_version(lookups, model_dir)
    total = sum(counts.values())
    print(f"\n{total} lookups from {THREADS} threads during three retrains, 0 errors: {counts}")
    assert total >= 10_000 and set(counts) == {"v1", "v2", "v3", "v4"}


@pytest.mark.parametrize(
    "each", [pytest.param(20, id="short"), pytest.param(100, marks=pytest.mark.slow, id="long")]
)
def test_lookups_while_another_process_retrains(
    model_dir: Path, sample_csv: Path, tmp_path: Path, each: int
) -> None:
    """The bot answering while `segbot train` (cron, an operator) switches CURRENT."""
    data = changed_data(sample_csv, tmp_path / "changed.csv", seed=2)
    service = SegmentService(settings_for(model_dir, data))
    ids = random.Random(1).sample([str(i) for i in LoadedVersion.load(model_dir / "v1").ids], 300)
    switched = threading.Event()
    service.on_switch(lambda name: switched.set() if name == "v2" else None)
    service.lookup(ids[0])
    # each thread keeps looking up until v2 is seen, then `tail` more from v2
    lookups = Lookups(service, ids, each=each, pause=0.005).start()
    lookups.go.set()
    try:
        done = subprocess.run(
            [*segbot_command(), "train", "--data", str(data), "--model-dir", str(model_dir)],
            env=segbot_env(SEGBOT_MAX_SILHOUETTE_DROP=1.0, SEGBOT_MIN_SEGMENT_SHARE=0.0),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        # the lookups themselves look at CURRENT once a second (POINTER_CHECK_INTERVAL)
        assert switched.wait(30), "the lookups never picked up v2"
    finally:
        lookups.done.set()
        lookups.join()
    counts = check_wholly_from_one_version(lookups, model_dir)
    print(f"\n{sum(counts.values())} lookups while another process retrained: {counts}")
    assert set(counts) == {"v1", "v2"} and sum(counts.values()) >= THREADS * each
    assert counts["v2"] >= THREADS * lookups.tail  # every thread answered from v2 at the end
    assert differing(model_dir, "v1", "v2", ids) > 100  # the check can tell them apart
