"""Crash safety: `segbot train` killed with SIGKILL at random moments.

Each trial starts the real `segbot train` on one model directory and kills it, either
after a random delay in [0, a typical training time] or at a moment picked by watching
the directory: right after the staging folder `.tmp-v<N>-<pid>` appears, while the
arrays are being written, and once `metadata.json` is written (the fsync, rename and
switch of CURRENT follow within milliseconds). After every kill:

- CURRENT names a complete version, and a fresh `SegmentService` loads it and answers
  a lookup (matching that version's stored assignment) and a summary;
- every `v<N>` folder has its `metadata.json`, and only those count as versions;
- what the kill left (`.tmp-*`, `.CURRENT.*.tmp`) is ignored by readers and removed by
  the next trainer (checked at the end with one uninterrupted `segbot train`).

Short by default: 3 trials at moments watched for in the directory (the staging folder,
the arrays, metadata.json), each of which must kill a trainer that has not finished (a
random delay cannot promise that on a loaded machine: training takes 2 s or 50 s). The
long variant (marked `slow`: `-m slow` or `SEGBOT_LONG=1`) runs 24 (or
SEGBOT_CRASH_TRIALS). Each trial's moment and outcome is printed (`-s`) and written to
`crash-trials.jsonl` in the test's temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pytest

from model.service import SegmentService
from model.versions.registry import Registry
from model.versions.version import LoadedVersion
from tests.conftest import make_settings, run_segbot, segbot_command, segbot_env

LONG_TRIALS = int(os.environ.get("SEGBOT_CRASH_TRIALS", "24"))
KINDS = ("random", "writing", "switching", "renamed", "staging")
VERSION_DIR = re.compile(r"^v\d+$")


@dataclass
class Trial:
    number: int
    kind: str
    delay: float | None = None  # seconds after start (random) or after the trigger
    triggered: bool | None = None  # the watched moment came before the trainer ended
    killed_at: float | None = None  # seconds after start
    exit: int | None = None
    served_before: str | None = None
    served_after: str | None = None
    landed: str = ""  # where the kill landed, judged from what it left
    leftovers: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)


def served(root: Path) -> str | None:
    return Registry(root).served()


def leftovers(root: Path) -> list[str]:
    return sorted(
        p.name for p in root.iterdir() if p.name.startswith(".") and p.name != ".train.lock"
    )


def staging_dirs(root: Path, pid: int | None = None) -> list[Path]:
    """Staging folders; of one trainer only, given its pid (not what an earlier one left)."""
    pattern = ".tmp-v*" if pid is None else f".tmp-v*-{pid}"
    return [p for p in root.glob(pattern) if p.is_dir()]


def start_train(root: Path, data: Path, cwd: Path) -> subprocess.Popen:
    env = segbot_env(SEGBOT_KEEP_VERSIONS=3)  # retain() deletes old versions: kill that too
    return subprocess.Popen(
        [*segbot_command(), "train", "--data", str(data), "--model-dir", str(root)],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill reaches any helper too
    )


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def wait_until(proc: subprocess.Popen, condition, timeout: float = 60) -> bool:
    """Poll every millisecond; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.001)
    raise AssertionError("the trigger never came")


def _has(root: Path, pid: int, name: str) -> bool:
    return any((p / name).exists() for p in staging_dirs(root, pid))


def run_trial(trial: Trial, root: Path, data: Path, cwd: Path, typical: float) -> None:
    rng = random.Random(trial.number * 7919)
    trial.served_before = served(root)
    before = set(Registry(root).versions())
    proc = start_train(root, data, cwd)
    started = time.monotonic()
    if trial.kind == "random":
        trial.delay = round(rng.uniform(0, typical), 3)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=trial.delay)
    else:
        pid = proc.pid
        renamed = lambda: bool(set(Registry(root).versions()) - before)  # noqa: E731
        trigger = {
            # the trainer's own staging folder appeared: training, then writing
            "staging": lambda: bool(staging_dirs(root, pid)),
            # the arrays are being saved
            "writing": lambda: _has(root, pid, "ids.npy") or _has(root, pid, "segments.npy"),
            # metadata.json is written: fsync, rename and the switch of CURRENT follow
            "switching": lambda: _has(root, pid, "metadata.json") or renamed(),
            # the new version folder is in place: CURRENT is being switched, then
            # old versions beyond SEGBOT_KEEP_VERSIONS are deleted
            "renamed": renamed,
        }[trial.kind]
        trial.delay = {
            "staging": rng.uniform(0, 0.5),
            "writing": rng.uniform(0, 0.02),
            "switching": rng.uniform(0, 0.03),
        }.get(trial.kind, 0.0)
        trial.delay = round(trial.delay, 4)
        trial.triggered = wait_until(proc, trigger)
        if trial.triggered and trial.delay:
            time.sleep(trial.delay)
    trial.killed_at = round(time.monotonic() - started, 3)
    kill(proc)
    trial.exit = proc.returncode
    trial.served_after = served(root)
    trial.leftovers = leftovers(root)
    trial.versions = Registry(root).versions()
    new = set(trial.versions) - before
    if trial.exit == 0:
        trial.landed = "finished before the kill"
    elif trial.served_after != trial.served_before:
        trial.landed = "after the switch" + (
            " (while deleting old versions)"
            if any(n.startswith(".tmp-deleted") for n in trial.leftovers)
            else ""
        )
    elif new:
        trial.landed = "after the rename, before the switch"
    elif any((p / "metadata.json").exists() for p in staging_dirs(root)):
        trial.landed = "written, before the rename"
    elif staging_dirs(root):
        trial.landed = "while training and writing"
    else:
        trial.landed = "before the staging folder"


def check_served_version_answers(
    root: Path, customer_ids: list[str], before: str | None, planted: tuple[str, ...] = ()
) -> None:
    registry = Registry(root)
    name = registry.served()
    assert name is not None, f"nothing served after the kill: {sorted(os.listdir(root))}"
    pointer = (root / "CURRENT").read_text().strip()
    assert pointer == name and (root / name / "metadata.json").is_file()
    if before is not None:  # never goes back, never names something new and half-made
        assert int(name[1:]) >= int(before[1:])

    # Only complete folders count as versions; the kill leaves no v<N> without metadata.
    v_dirs = [p.name for p in root.iterdir() if VERSION_DIR.match(p.name)]
    v_dirs = [v for v in v_dirs if v not in planted]
    assert registry.versions() == sorted(v_dirs, key=lambda v: int(v[1:]))
    for v in v_dirs:
        assert (root / v / "metadata.json").is_file(), f"{v} has no metadata.json"
        loaded = LoadedVersion.load(root / v)
        rows = loaded.metadata.rows
        assert len(loaded.keys) == len(loaded.segments) == len(loaded.values) == rows
        assert (root / v / "pipeline.joblib").is_file()
        for chart in loaded.metadata.charts.values():
            assert (root / v / chart).is_file()

    service = SegmentService(make_settings(root))
    summary = service.summary()
    assert summary.version == name and sum(s.size for s in summary.segments) == summary.rows
    stored = LoadedVersion.load(root / name)
    for cid in customer_ids[:5]:
        answer = service.lookup(cid)
        assert answer.version == name
        assert answer.segment.id == int(stored.segments[stored.row_of(cid)])
    assert service.history().served == name


def crash_trials(
    count: int,
    tmp_path: Path,
    trained_model_dir: Path,
    sample_csv: Path,
    customer_ids: list[str],
    kinds: tuple[str, ...] = KINDS,
) -> list[Trial]:
    root = tmp_path / "models"
    shutil.copytree(trained_model_dir, root)

    # One uninterrupted run first: how long training takes here, for the random delays.
    started = time.monotonic()
    done = run_segbot(
        ["train", "--data", str(sample_csv), "--model-dir", str(root)],
        env=segbot_env(SEGBOT_KEEP_VERSIONS=3),
        cwd=tmp_path,
    )
    typical = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert served(root) == "v2"

    trials: list[Trial] = []
    record = tmp_path / "crash-trials.jsonl"
    print(f"\ntypical `segbot train`: {typical:.2f} s")
    for number in range(1, count + 1):
        trial = Trial(number, kinds[(number - 1) % len(kinds)])
        run_trial(trial, root, sample_csv, tmp_path, typical)
        trials.append(trial)
        with record.open("a") as fh:
            fh.write(json.dumps(asdict(trial)) + "\n")
        print(
            f"trial {number:2d} {trial.kind:9s} delay={trial.delay!s:6s} "
            f"killed at {trial.killed_at:5.2f}s exit={trial.exit} -> {trial.landed}; "
            f"served {trial.served_before} -> {trial.served_after}; left {trial.leftovers}"
        )
        check_served_version_answers(root, customer_ids, trial.served_before)
        # A trainer cleans what the one before it left before it starts writing, so
        # leftovers never pile up: at most one staging folder and one deleted version.
        assert len(trial.leftovers) <= 3, trial.leftovers

    # The next trainer, left alone, cleans up and serves a new version.
    last = served(root)
    done = run_segbot(
        ["train", "--data", str(sample_csv), "--model-dir", str(root)],
        env=segbot_env(SEGBOT_KEEP_VERSIONS=3),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert leftovers(root) == [], leftovers(root)
    assert int(served(root)[1:]) > int(last[1:])
    check_served_version_answers(root, customer_ids, last)
    landed = {}
    for t in trials:
        landed[t.landed] = landed.get(t.landed, 0) + 1
    print(f"{len(trials)} trials, 0 errors; where the kills landed: {landed}")
    return trials


def test_kill_train_at_random_moments(
    tmp_path: Path, trained_model_dir: Path, sample_csv: Path, customer_ids: list[str]
) -> None:
    kinds = ("staging", "writing", "switching")
    trials = crash_trials(3, tmp_path, trained_model_dir, sample_csv, customer_ids, kinds)
    assert tuple(t.kind for t in trials) == kinds
    # Every kill landed while the trainer still ran: the moment watched for came, and
    # SIGKILL ended the trainer, not its own exit.
    for t in trials:
        assert t.triggered and t.exit == -signal.SIGKILL, t
        assert t.landed != "finished before the kill", t


@pytest.mark.slow
def test_kill_train_at_random_moments_long(
    tmp_path: Path,
    trained_model_dir: Path,
    sample_csv: Path,
    customer_ids: list[str],
) -> None:
    trials = crash_trials(LONG_TRIALS, tmp_path, trained_model_dir, sample_csv, customer_ids)
    assert len(trials) >= 20
    kinds = {t.landed for t in trials}
    # the kills really reached the dangerous parts, not only the start-up
    assert "while training and writing" in kinds or "written, before the rename" in kinds


# ---- what a crash (or a person) can leave behind ------------------------------------------
def test_leftovers_are_ignored_and_the_next_trainer_cleans_them(
    tmp_path: Path, model_dir: Path, sample_csv: Path, customer_ids: list[str]
) -> None:
    # What killed trainers leave: a staging folder (with and without metadata), an
    # unfinished CURRENT, a half-deleted old version...
    staged = model_dir / ".tmp-v2-99999"
    shutil.copytree(model_dir / "v1", staged)
    (staged / "segments.npy").write_bytes(b"\x93NUMPY half")
    (model_dir / ".tmp-v3-99998").mkdir()
    (model_dir / ".CURRENT.99999.tmp").write_text("v2")
    (model_dir / ".tmp-deleted-v0-99997").mkdir()
    # ...and what an unfinished copy (a restore in progress, say) can: a version folder
    # without metadata.json. It is not a version, and its name is not reused.
    (model_dir / "v2").mkdir()
    np.save(model_dir / "v2" / "segments.npy", np.zeros(3, dtype=np.int16))

    registry = Registry(model_dir)
    assert registry.versions() == ["v1"] and registry.served() == "v1"
    service = SegmentService(make_settings(model_dir))
    assert service.lookup(customer_ids[0]).version == "v1"
    assert [v.version for v in service.history().versions] == ["v1"]
    assert service.summary().version == "v1"

    done = run_segbot(
        ["train", "--data", str(sample_csv), "--model-dir", str(model_dir)],
        env=segbot_env(),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert leftovers(model_dir) == []
    assert registry.served() == "v3" and registry.versions() == ["v1", "v3"]
    assert (model_dir / "v2").is_dir()  # not ours to delete: it may still be being copied
    check_served_version_answers(model_dir, customer_ids, "v1", planted=("v2",))
