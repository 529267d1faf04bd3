"""The benchmark suite still runs: `python bench/run.py --quick` (a few seconds, tiny
data, nothing timed against a target) writes its table, data and plot."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SUMMARY_HEADER = (
    "| measurement | customers | segbot | baseline | segbot vs baseline | target | met |"
)
SUMMARY_ROWS = (
    "| training wall time | 2k |",
    "| training peak memory | 2k |",
    "| final inertia at k=",
    "| lookup(id) p50 / p99 | 2k |",
    "| `serve --http` to /healthz 200 |",
    "| HTTP /segment customer",
    "| charts: all three, in training | 2k |",
)


def test_quick_run_writes_the_table_and_the_plot(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (out / "latest.md").read_text(encoding="utf-8")
    lines = table.splitlines()
    assert SUMMARY_HEADER in lines
    for row in SUMMARY_ROWS:
        matching = [line for line in lines if line.startswith(row)]
        assert matching, f"no summary row starting {row!r}"
        assert matching[0].count("|") == SUMMARY_HEADER.count("|")
    assert "## Training end to end" in table and "### Where segbot's time goes" in table
    assert table in proc.stdout  # printed too
    results = json.loads((out / "latest.json").read_text())
    assert results["training"][0]["rows"] == 2000 and results["baseline"][0]["k"]
    assert results["lookup"]["segbot"]["calls"] == 1000
    assert (out / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_csv_read_benchmark_compares_the_same_frame(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_csv_read.py"),
            "--rows",
            "2k",
            "--repeats",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| segbot (Arrow) |" in proc.stdout and "| pd.read_csv |" in proc.stdout
    assert "same frame; Arrow" in proc.stdout
