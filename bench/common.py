"""Shared helpers for the benchmark suite: sizes, cached data, measured children."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

# As the `segbot` entry point does (bot/cli.py), for benchmarks that train in-process.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
DATA = BENCH / ".data"  # gitignored: generated inputs, trained models, scratch
PY = sys.executable
SEGBOT = str(Path(PY).with_name("segbot"))
SEED = 7
TIME = "/usr/bin/time"


def parse_size(text: str) -> int:
    """'5k' -> 5000, '1m' -> 1000000, '2500' -> 2500."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
    if not match:
        raise ValueError(f"not a size: {text!r} (use e.g. 5k, 100k, 1m, 10m)")
    number, unit = float(match.group(1)), match.group(2).lower()
    return int(number * {"": 1, "k": 1_000, "m": 1_000_000}[unit])


def label(rows: int) -> str:
    """5000 -> '5k', 1000000 -> '1M'."""
    if rows >= 1_000_000 and rows % 100_000 == 0:
        return f"{rows / 1_000_000:g}M"
    if rows >= 1_000 and rows % 100 == 0:
        return f"{rows / 1_000:g}k"
    return str(rows)


def data_file(rows: int, seed: int = SEED, suffix: str = ".parquet") -> Path:
    """Synthetic customers as Parquet (or `suffix` ".csv"), made once by
    `segbot sample-data` and cached."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"customers_{rows}_s{seed}{suffix}"
    if not path.exists():
        print(f"  generating {rows:,} customers -> {path.relative_to(ROOT)}", flush=True)
        subprocess.run(
            [SEGBOT, "sample-data", "--rows", str(rows), "--seed", str(seed), "--out", str(path)],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
        )
    return path


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


@dataclass
class Run:
    """One child process: wall time, peak RSS, CPU time, exit status."""

    cmd: list[str]
    wall_s: float
    peak_mb: float | None  # max(GNU time's peak of the process, sampled sum over its tree)
    cpu_s: float | None
    returncode: int
    timed_out: bool
    load_before: float
    stdout: str = field(default="", repr=False)
    stderr: str = field(default="", repr=False)

    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def as_dict(self) -> dict:
        out = asdict(self)
        out.pop("stdout"), out.pop("stderr")
        return out


def measure(
    cmd: list[str],
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
) -> Run:
    """Run `cmd` to completion (or `timeout`), measuring wall time around the child and
    its peak RSS with GNU time. The child is started by /usr/bin/time, not forked
    from this (larger) process: Linux carries a parent's peak RSS into a vforked
    child's ru_maxrss, so measuring our own children directly would over-report."""
    load = load_average()
    with tempfile.NamedTemporaryFile("r", suffix=".time", delete=False) as handle:
        stats_path = handle.name
    full = [TIME, "-f", "%M %U %S", "-o", stats_path, *cmd] if Path(TIME).exists() else cmd
    started = time.perf_counter()
    proc = subprocess.Popen(
        full,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a timeout stops the whole group, children included
    )
    sampler = _TreeRss(proc.pid)
    sampler.start()
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        # Stop the measured command, not GNU time: it then still reports the peak RSS.
        for pid in _children(proc.pid) or [proc.pid]:
            os.kill(pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
    wall = time.perf_counter() - started
    sampler.stop()
    peak = cpu = None
    try:
        fields = Path(stats_path).read_text().split()
        # GNU time writes "Command exited with non-zero status N" first on failure
        numbers = [float(f) for f in fields if re.fullmatch(r"\d+(\.\d+)?", f)][-3:]
        if len(numbers) == 3:
            peak, cpu = numbers[0] / 1024, numbers[1] + numbers[2]
    except (OSError, ValueError):
        pass
    finally:
        Path(stats_path).unlink(missing_ok=True)
    if sampler.peak_mb and (peak is None or sampler.peak_mb > peak):
        peak = sampler.peak_mb
    return Run(full[-len(cmd) :], wall, peak, cpu, proc.returncode, timed_out, load, out, err)


class _TreeRss(threading.Thread):
    """Samples the summed RSS of every process in a session (the measured command and
    any helper it starts, such as segbot's chart worker) every 50 ms. GNU time only
    reports the largest single process."""

    def __init__(self, session: int) -> None:
        super().__init__(daemon=True)
        self.session = session
        self.peak_mb = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
        while not self._done.wait(0.05):
            total = 0
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    stat = Path(entry.path, "stat").read_text()
                    fields = stat[stat.rindex(")") + 2 :].split()
                    if int(fields[3]) != self.session:  # field 6 of stat: session id
                        continue
                    total += int(Path(entry.path, "statm").read_text().split()[1])
                except (OSError, ValueError, IndexError):
                    continue
            self.peak_mb = max(self.peak_mb, total * page_mb)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=1)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    info: dict[str, str] = {"cpus": str(os.cpu_count())}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
        if models:
            info["cpu"] = models[0].strip()
    except OSError:
        pass
    try:
        mem = Path("/proc/meminfo").read_text()
        kb = int(re.search(r"MemTotal:\s+(\d+)", mem).group(1))  # type: ignore[union-attr]
        info["memory"] = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    info["os"] = f"{platform.system()} {platform.release()}"
    info["python"] = platform.python_version()
    versions = subprocess.run(
        [
            PY,
            "-c",
            "import json, numpy, pandas, pyarrow, sklearn, matplotlib; print(json.dumps({"
            "'numpy': numpy.__version__, 'pandas': pandas.__version__, "
            "'pyarrow': pyarrow.__version__, 'scikit-learn': sklearn.__version__, "
            "'matplotlib': matplotlib.__version__}))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if versions.returncode == 0:
        info.update(json.loads(versions.stdout))
    return info
