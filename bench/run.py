"""segbot's benchmark suite: one command, one table, one plot.

    python bench/run.py                          # 5k, 100k, 1M and 10M customers
    python bench/run.py --sizes 5k,100k,1m       # a subset
    python bench/run.py --quick                  # seconds-long smoke (what CI runs)

Writes bench/results/latest.md (Markdown tables), latest.json (every number) and
latest.png (wall time and peak memory against customers, log-log), and prints
the Markdown. Inputs are synthetic customers (`segbot sample-data --seed 7`),
generated once and cached in bench/.data/ (gitignored) with the trained models.

What runs, all in this one invocation so every comparison shares the machine:

1. Training end to end, per size: `segbot train --data <parquet>` as a child
   process (wall time around it, peak RSS by GNU time), --repeats times, median
   quoted; then the seed-style baseline (bench/baseline.py: pandas, median
   imputation, StandardScaler, KMeans(n_init=10) for k=1..10 on all rows, the
   final fit at the knee), once, capped at --baseline-cap seconds: a capped run
   is completed by extrapolation from its finished k's and the previous size's
   per-k times, and the table says so. Then bench/inertia.py: the final inertia
   of segbot's version against KMeans(n_init=10) at the same k on the same matrix.
2. Lookups (bench/bench_lookup.py): p50/p99 of `SegmentService.lookup(id)` over
   10,000 random existing ids at the largest size up to 1M, beside a pandas
   boolean-mask lookup.
3. Start-up (bench/bench_startup.py): `segbot serve --http` to /healthz 200
   with that model, beside bench_http.py's minimal Bolt app.
4. HTTP (bench/bench_http.py, from the bot's side of the project): signed
   `/segment customer <id>` and "Show segment" clicks from 20 keep-alive clients
   against segbot and the minimal Bolt app answering a constant (Slack is
   bench/slack_stub.py in its own process).
5. Charts: drawing all three charts in the largest training (metadata.json
   timings "charts_render": the chart worker's time to draw the PNGs; "charts"
   is how long the trainer then still waited for them).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    DATA,
    PY,
    ROOT,
    SEGBOT,
    data_file,
    fresh_dir,
    label,
    load_average,
    machine,
    measure,
    median,
    parse_size,
)

STAGES = ("features", "choose_k", "fit", "naming", "compare", "save", "charts")
TRAIN_TARGETS = {1_000_000: 5.0, 10_000_000: 60.0}  # seconds
SPEEDUP_TARGET = 10.0  # at 1M
MEMORY_TARGET_MB = 3 * 1024  # at 10M
INERTIA_TARGET = 0.01
LOOKUP_P99_TARGET_MS = 1.0
STARTUP_TARGET_S = 3.0
HTTP_P99_RATIO_TARGET = 1.5
CHARTS_TARGET_S = 2.0
CSV_SPEEDUP_TARGET = 12.0  # 1M from CSV, median of the pairs' ratios
ASK_TARGET_S = 0.7


# --------------------------------------------------------------------------- training


def segbot_train(data: Path, model_dir: Path, what: str):
    """One `segbot train` into a fresh model folder: the measured run and its metadata."""
    fresh_dir(model_dir)
    run = measure(
        [SEGBOT, "train", "--data", str(data), "--model-dir", str(model_dir)],
        env={"SEGBOT_SEED": "0"},
    )
    if not run.ok():
        raise SystemExit(f"segbot train failed ({what}):\n{run.stderr[-3000:]}")
    return run, json.loads((model_dir / "v1" / "metadata.json").read_text())


def train_ours(data: Path, rows: int, repeats: int) -> dict:
    runs = []
    model_dir = DATA / "models" / label(rows)
    for i in range(repeats):
        run, meta = segbot_train(data, model_dir, f"{rows:,} rows")
        runs.append(
            {
                **run.as_dict(),
                "timings": meta["timings"],
                "k": meta["k"],
                "inertia": meta["quality"]["inertia"],
                "silhouette": meta["quality"]["silhouette"],
            }
        )
        print(
            f"  segbot train {label(rows)} #{i + 1}: {run.wall_s:.2f} s, "
            f"{run.peak_mb:.0f} MB, k={meta['k']} (load avg {run.load_before:.1f})",
            flush=True,
        )
    walls = [r["wall_s"] for r in runs]
    middle = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
    return {
        "rows": rows,
        "model_dir": str(model_dir),
        "runs": runs,
        "wall_s": median(walls),
        "peak_mb": median([r["peak_mb"] for r in runs if r["peak_mb"] is not None]),
        "k": middle["k"],
        "timings": middle["timings"],
        "median_run_wall_s": middle["wall_s"],
    }


def train_baseline(data: Path, rows: int, cap: float, previous: dict | None) -> dict:
    out = DATA / f"baseline_{rows}.json"
    out.unlink(missing_ok=True)
    run = measure(
        [PY, str(ROOT / "bench" / "baseline.py"), "--data", str(data), "--json", str(out)],
        timeout=cap,
    )
    progress = json.loads(out.read_text()) if out.exists() else {}
    result = {"rows": rows, **run.as_dict(), "progress": progress, "extrapolated": False}
    if run.ok() and progress.get("done"):
        result.update(wall=run.wall_s, k=progress["k"], note="")
        print(
            f"  baseline {label(rows)}: {run.wall_s:.1f} s, {run.peak_mb:.0f} MB, k={progress['k']}"
        )
        return result
    if not run.timed_out:
        raise SystemExit(f"baseline failed at {rows:,} rows:\n{run.stderr[-3000:]}")
    result.update(extrapolate(progress, rows, run.wall_s, previous))
    print(f"  baseline {label(rows)}: capped at {cap:.0f} s; {result['note']}", flush=True)
    return result


def extrapolate(progress: dict, rows: int, capped_at: float, previous: dict | None) -> dict:
    """A capped baseline's total: what ran, plus the k's it did not reach scaled
    from the previous size by the ratio measured on the k's both sizes finished."""
    done = {e["k"]: e["seconds"] for e in progress.get("elbow", [])}
    if previous is None or not previous.get("progress", {}).get("elbow"):
        return {
            "wall": None,
            "k": None,
            "extrapolated": True,
            "note": "no smaller size to scale from",
        }
    before = {e["k"]: e["seconds"] for e in previous["progress"]["elbow"]}
    scale = rows / previous["rows"]
    both = [k for k in done if k in before]
    if both and sum(before[k] for k in both) > 0:
        scale = sum(done[k] for k in both) / sum(before[k] for k in both)
    missing = [k for k in before if k not in done]
    estimated = {k: before[k] * scale for k in missing}
    k = previous.get("k") or 3
    final = done.get(k, estimated.get(k, 0.0))  # the final fit repeats the elbow's fit at k
    prefix = progress.get("import_s", 0) + progress.get("read_s", 0) + progress.get("prepare_s", 0)
    if not progress.get("elbow"):  # capped before the elbow: scale the whole run
        total = previous["wall"] * rows / previous["rows"]
        note = (
            f"extrapolated ×{rows / previous['rows']:g} from {label(previous['rows'])} "
            "(capped before k=1 finished)"
        )
    else:
        total = prefix + sum(done.values()) + sum(estimated.values()) + final
        note = (
            f"extrapolated: capped at {capped_at:.0f} s after k=1..{max(done)}, "
            f"k={min(missing) if missing else '-'}..{max(before)} and the final fit scaled "
            f"×{scale:.1f} from {label(previous['rows'])}"
        )
    return {"wall": total, "k": k, "extrapolated": True, "note": note, "scale": scale}


def inertia_check(data: Path, model_dir: str, cap: float) -> dict:
    out = DATA / "inertia.json"
    out.unlink(missing_ok=True)
    run = measure(
        [
            PY,
            str(ROOT / "bench" / "inertia.py"),
            "--data",
            str(data),
            "--model-dir",
            model_dir,
            "--json",
            str(out),
        ],
        timeout=cap,
    )
    if not run.ok() or not out.exists():
        return {"ratio": None, "note": "timed out" if run.timed_out else run.stderr[-500:]}
    result = json.loads(out.read_text())
    print(f"  inertia ratio: {result['ratio']:.5f} (reference fit {result['reference_fit_s']} s)")
    return result


def csv_pairs(rows: int, pairs: int, cap: float) -> dict:
    """The path a new user takes: `segbot train --data customers.csv` (a CSV from
    `segbot sample-data`) and the seed-style baseline reading the same CSV, run as
    `pairs` back-to-back pairs so each ratio compares the same minutes of the machine."""
    data = data_file(rows, suffix=".csv")
    model_dir = DATA / "models" / f"csv_{label(rows)}"
    out = DATA / f"baseline_csv_{rows}.json"
    runs = []
    for i in range(pairs):
        ours, meta = segbot_train(data, model_dir, "CSV")
        out.unlink(missing_ok=True)
        base = measure(
            [PY, str(ROOT / "bench" / "baseline.py"), "--data", str(data), "--json", str(out)],
            timeout=cap,
        )
        if not base.ok():
            raise SystemExit(f"baseline (CSV) failed or timed out:\n{base.stderr[-3000:]}")
        progress = json.loads(out.read_text())
        runs.append(
            {
                "segbot": {**ours.as_dict(), "timings": meta["timings"], "k": meta["k"]},
                "baseline": {**base.as_dict(), "read_s": progress["read_s"], "k": progress["k"]},
                "ratio": base.wall_s / ours.wall_s,
            }
        )
        print(
            f"  CSV pair {i + 1}: segbot {ours.wall_s:.2f} s, {ours.peak_mb:.0f} MB; baseline "
            f"{base.wall_s:.1f} s, {base.peak_mb:.0f} MB; {base.wall_s / ours.wall_s:.1f}× "
            f"(load avg {ours.load_before:.1f})",
            flush=True,
        )
    return {
        "rows": rows,
        "data": str(data),
        "runs": runs,
        "segbot_s": median([r["segbot"]["wall_s"] for r in runs]),
        "baseline_s": median([r["baseline"]["wall_s"] for r in runs]),
        "ratio": median([r["ratio"] for r in runs]),
        "model_dir": str(model_dir),
    }


def ask_startup(model_dir: str, repeats: int) -> dict:
    """`segbot ask "/segments summary"` one-shot, beside a bare interpreter start."""
    env = {"SEGBOT_MODEL_DIR": model_dir}
    ask = [measure([SEGBOT, "ask", "/segments summary"], env=env) for _ in range(repeats)]
    if not all(r.ok() for r in ask):
        raise SystemExit(f"segbot ask failed:\n{ask[-1].stderr[-2000:]}")
    bare = [measure([PY, "-c", "pass"]) for _ in range(repeats)]
    result = {
        "runs_s": [r.wall_s for r in ask],
        "median_s": median([r.wall_s for r in ask]),
        "python_s": median([r.wall_s for r in bare]),
        "peak_mb": median([r.peak_mb for r in ask if r.peak_mb is not None]),
    }
    print(f"  segbot ask: {result['median_s']:.2f} s (python -c pass {result['python_s']:.2f} s)")
    return result


# --------------------------------------------------------------------------- serving


def bench_json(script: str, what: str, *args: str) -> dict:
    """Run one bench/ script in its own process and read the JSON it writes."""
    out = DATA / f"{Path(script).stem}.json"
    run = measure([PY, str(ROOT / "bench" / script), *args, "--json", str(out)])
    if not run.ok():
        raise SystemExit(f"{what} bench failed:\n{run.stderr[-3000:]}")
    return json.loads(out.read_text())


def lookups(model_dir: str, calls: int) -> dict:
    result = bench_json(
        "bench_lookup.py", "lookup", "--model-dir", model_dir, "--calls", str(calls)
    )
    print(f"  lookup p50 {result['segbot']['p50_ms']} ms, p99 {result['segbot']['p99_ms']} ms")
    return result


def startup(model_dir: str, repeats: int) -> dict:
    result = bench_json(
        "bench_startup.py", "start-up", "--model-dir", model_dir, "--repeats", str(repeats)
    )
    print(f"  serve --http -> /healthz 200: {result['segbot']['median_s']} s")
    return result


def http(rows: int, clients: int, seconds: float) -> dict:
    out = DATA / "http.json"
    out.unlink(missing_ok=True)
    run = measure(
        [
            PY,
            str(ROOT / "bench" / "bench_http.py"),
            "--rows",
            str(rows),
            "--clients",
            str(clients),
            "--seconds",
            str(seconds),
            "--json",
            str(out),
        ]
    )
    if not out.exists():
        return {"error": (run.stderr or run.stdout)[-1000:]}
    result = json.loads(out.read_text())
    seg = result["results"].get("segbot", {})
    print(
        f"  HTTP segbot p50 {seg.get('p50_ms')} ms, p99 {seg.get('p99_ms')} ms, "
        f"errors {seg.get('errors')}"
    )
    return result


# --------------------------------------------------------------------------- report


HTTP_CASES = (  # bench_http.py's result keys, per case
    ("", "HTTP /segment customer"),
    (" (click)", 'HTTP "Show segment" click'),
)


def _http_row(h: dict | None, case: str, what: str) -> list[str]:
    """One summary row per HTTP case: segbot beside the minimal Bolt app."""
    results = (h or {}).get("results", {})
    s, b = results.get(f"segbot{case}"), results.get(f"minimal Bolt app{case}", {})
    target = f"p99 ≤ {HTTP_P99_RATIO_TARGET:g}× baseline, 0 errors"
    if not s:
        why = (h or {}).get("error", "not run")
        note = why.splitlines()[-1][:80] if why else "not run"
        return [f"{what}, 20 clients", "—", note, "—", "—", target, "—"]
    ratio = s["p99_ms"] / b["p99_ms"] if b.get("p99_ms") else None
    met = s.get("errors") == 0 and (ratio is None or ratio <= HTTP_P99_RATIO_TARGET)
    return [
        f"{what}, {h['clients']} clients: p50 / p99, errors",
        label(h["rows"]),
        f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f} ms, {s['errors']} errors ({s['rps']:.0f} req/s)",
        f"{b['p50_ms']:.1f} / {b['p99_ms']:.1f} ms, {b['errors']} errors (minimal Bolt app)"
        if b
        else "—",
        f"p99 {ratio:.2f}×" if ratio else "—",
        target,
        _ok(met),
    ]


def _s(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x >= 100:
        return f"{x:,.0f} s"
    return f"{x:.{digits}f} s"


def _mb(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x / 1024:.2f} GB" if x >= 1024 else f"{x:.0f} MB"


def _times(ratio: float | None, better: str, worse: str) -> str:
    """2.0 -> '2.0× faster'; 0.5 -> '2.0× slower'."""
    if not ratio:
        return "—"
    return f"{ratio:.1f}× {better}" if ratio >= 1 else f"{1 / ratio:.1f}× {worse}"


def _ok(flag: bool | None) -> str:
    return "—" if flag is None else ("✅" if flag else "❌")


def summary_rows(res: dict) -> list[list[str]]:
    rows: list[list[str]] = []
    base_by = {b["rows"]: b for b in res["baseline"]}
    inertia_by = {i["rows"]: i for i in res["inertia"] if i.get("rows")}
    for t in res["training"]:
        n = t["rows"]
        b = base_by.get(n, {})
        bw = b.get("wall")
        speed = bw / t["wall_s"] if bw else None
        target = TRAIN_TARGETS.get(n)
        goal, met = "—", None
        if n == 1_000_000:
            goal = f"≤ {target:g} s and ≥ {SPEEDUP_TARGET:g}× faster"
            met = t["wall_s"] <= target and (speed is None or speed >= SPEEDUP_TARGET)
        elif target:
            goal, met = f"≤ {target:g} s", t["wall_s"] <= target
        base_txt = _s(bw) + (" (extrapolated)" if b.get("extrapolated") and bw else "")
        rows.append(
            [
                "training wall time",
                label(n),
                _s(t["wall_s"]),
                base_txt,
                _times(speed, "faster", "slower"),
                goal,
                _ok(met),
            ]
        )
    for t in res["training"]:
        n = t["rows"]
        b = base_by.get(n, {})
        goal = f"≤ {MEMORY_TARGET_MB / 1024:g} GB" if n == 10_000_000 else "—"
        met = t["peak_mb"] <= MEMORY_TARGET_MB if n == 10_000_000 else None
        peak = _mb(b.get("peak_mb")) + (" (at the cap)" if b.get("extrapolated") else "")
        ratio = _times(b["peak_mb"] / t["peak_mb"], "less", "more") if b.get("peak_mb") else "—"
        rows.append(
            ["training peak memory", label(n), _mb(t["peak_mb"]), peak, ratio, goal, _ok(met)]
        )
    for t in res["training"]:
        i = inertia_by.get(t["rows"])
        if not i or i.get("ratio") is None:
            continue
        excess = i["ratio"] - 1
        rows.append(
            [
                f"final inertia at k={i['k']}",
                label(t["rows"]),
                f"{i['ours']:,.0f}",
                f"{i['reference']:,.0f}",
                f"{excess:+.3%}",
                "within 1%",
                _ok(excess <= INERTIA_TARGET),
            ]
        )
    cv = res.get("csv")
    if cv:
        rows.append(
            [
                f"training wall time from CSV (median of {len(cv['runs'])} pairs)",
                label(cv["rows"]),
                _s(cv["segbot_s"]),
                _s(cv["baseline_s"]),
                f"{cv['ratio']:.1f}× faster",
                f"≥ {CSV_SPEEDUP_TARGET:g}× faster",
                _ok(cv["ratio"] >= CSV_SPEEDUP_TARGET),
            ]
        )
    ask = res.get("ask")
    if ask:
        rows.append(
            [
                '`segbot ask "/segments summary"` one-shot',
                label(res["serving_rows"]),
                _s(ask["median_s"]),
                f"{_s(ask['python_s'])} (`python -c pass`)",
                f"+{ask['median_s'] - ask['python_s']:.2f} s",
                f"≤ {ASK_TARGET_S:g} s",
                _ok(ask["median_s"] <= ASK_TARGET_S),
            ]
        )
    lk = res.get("lookup")
    if lk:
        s, b = lk["segbot"], lk.get("baseline") or {}
        rows.append(
            [
                "lookup(id) p50 / p99",
                label(lk["customers"]),
                f"{s['p50_ms'] * 1000:.0f} / {s['p99_ms'] * 1000:.0f} µs",
                f"{b['p50_ms']:.1f} / {b['p99_ms']:.1f} ms (pandas mask)" if b else "—",
                f"{b['p99_ms'] / s['p99_ms']:.0f}× faster p99" if b else "—",
                f"p99 ≤ {LOOKUP_P99_TARGET_MS:g} ms",
                _ok(s["p99_ms"] <= LOOKUP_P99_TARGET_MS),
            ]
        )
    else:
        rows.append(["lookup(id) p50 / p99", "—", "not run", "—", "—", "p99 ≤ 1 ms", "—"])
    st = res.get("startup")
    if st:
        s, b = st["segbot"]["median_s"], st.get("minimal Bolt app", {}).get("median_s")
        rows.append(
            [
                "`serve --http` to /healthz 200",
                label(res["serving_rows"]),
                _s(s),
                f"{_s(b)} (minimal Bolt app)" if b else "—",
                f"+{s - b:.2f} s" if b else "—",
                f"≤ {STARTUP_TARGET_S:g} s",
                _ok(s <= STARTUP_TARGET_S),
            ]
        )
    else:
        rows.append(["`serve --http` to /healthz 200", "—", "not run", "—", "—", "≤ 3 s", "—"])
    h = res.get("http")
    for case, what in HTTP_CASES:
        rows.append(_http_row(h, case, what))
    if res["training"]:
        big = res["training"][-1]
        tm = big["timings"]
        charts = tm.get("charts_render", tm.get("charts"))
        waited = f" ({_s(tm['charts'])} on the trainer's path)" if "charts_render" in tm else ""
        rows.append(
            [
                "charts: all three, in training",
                label(big["rows"]),
                _s(charts) + waited,
                "—",
                "—",
                f"≤ {CHARTS_TARGET_S:g} s",
                _ok(charts <= CHARTS_TARGET_S if big["rows"] >= 10_000_000 else None)
                if charts is not None
                else "—",
            ]
        )
    return rows


def table(header: list[str], rows: list[list[str]], align: str) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


SUMMARY_HEADER = [
    "measurement",
    "customers",
    "segbot",
    "baseline",
    "segbot vs baseline",
    "target",
    "met",
]


DOC_BEGIN = "<!-- bench/run.py results: begin -->"
DOC_END = "<!-- bench/run.py results: end -->"


def update_doc(path: Path, text: str) -> None:
    """Replace what is between the markers in `path` with the tables (minus the title)."""
    doc = path.read_text(encoding="utf-8")
    if DOC_BEGIN not in doc or DOC_END not in doc:
        raise SystemExit(f"{path} has no {DOC_BEGIN} ... {DOC_END} section to update")
    body = text.split("\n", 2)[2].replace("\n## ", "\n### ").replace("\n### Where", "\n#### Where")
    body = body.replace("\n### Baseline per step", "\n#### Baseline per step")
    head, rest = doc.split(DOC_BEGIN, 1)
    tail = rest.split(DOC_END, 1)[1]
    path.write_text(f"{head}{DOC_BEGIN}\n{body.strip()}\n{DOC_END}{tail}", encoding="utf-8")


def speed_check() -> float:
    """Seconds for a fixed pure-Python loop in a fresh interpreter: how fast the host
    runs right now (shared VMs slow down and speed up), to read the runs against."""
    run = measure(
        [
            PY,
            "-c",
            "import time\nt = time.perf_counter()\ns = 0\n"
            "for i in range(10_000_000): s += i\nprint(time.perf_counter() - t)",
        ]
    )
    try:
        return float(run.stdout.strip())
    except ValueError:
        return float("nan")


def markdown(res: dict) -> str:
    m = res["machine"]
    parts = [
        "# segbot benchmarks",
        "",
        f"Run {res['started']} with `{res['command']}` ({res['total_s'] / 60:.1f} min). "
        f"Machine: {m.get('cpus')} CPUs ({m.get('cpu', '?')}), {m.get('memory', '?')} RAM, "
        f"{m.get('os', '')}; Python {m.get('python')}, numpy {m.get('numpy')}, pandas "
        f"{m.get('pandas')}, pyarrow {m.get('pyarrow')}, scikit-learn {m.get('scikit-learn')}. "
        f"1-minute load average at the start: {res['load_start']:.1f}"
        + (" (the machine was shared: expect noise)" if res["load_start"] > 0.5 else "")
        + ". Host speed check (a 10M-step Python loop, lower is faster): "
        + " s, ".join(f"{v:.2f}" for v in res.get("speed_check", []))
        + " s at the start and end of the run.",
        "",
        "## Summary",
        "",
        table(SUMMARY_HEADER, summary_rows(res), ["---", "--:", "--:", "--:", "--:", "---", ":-:"]),
        "",
        "## Training end to end",
        "",
        "`segbot train --data <parquet>` in a fresh model folder (load, features, k = 1..10, "
        "fit, naming, quality, save, charts, printed summary), median of "
        f"{res['repeats']} runs; the baseline is bench/baseline.py (seed style), one run. "
        "Peak memory is the larger of the process's maximum RSS (GNU time) and the "
        "summed RSS of it and its chart worker, sampled every 50 ms.",
        "",
    ]
    base_by = {b["rows"]: b for b in res["baseline"]}
    inertia_by = {i["rows"]: i for i in res["inertia"] if i.get("rows")}
    rows = []
    for t in res["training"]:
        b = base_by.get(t["rows"], {})
        i = inertia_by.get(t["rows"], {})
        runs = ", ".join(f"{r['wall_s']:.2f}" for r in t["runs"])
        rows.append(
            [
                label(t["rows"]),
                _s(t["wall_s"]),
                runs,
                _mb(t["peak_mb"]),
                (_s(b.get("wall")) + (" *" if b.get("extrapolated") else "")) if b else "—",
                _mb(b.get("peak_mb")) if b else "—",
                f"{b['wall'] / t['wall_s']:.1f}×" if b.get("wall") else "—",
                f"{t['k']} / {b.get('k') or '—'}",
                f"{i['ratio']:.5f}" if i.get("ratio") else "—",
                f"{median([r['load_before'] for r in t['runs']]):.1f}",
            ]
        )
    parts += [
        table(
            [
                "customers",
                "segbot (median)",
                "segbot runs (s)",
                "segbot peak",
                "baseline",
                "baseline peak",
                "speed-up",
                "k segbot / baseline",
                "inertia segbot / KMeans(n_init=10) at segbot's k",
                "load avg",
            ],
            rows,
            ["--:"] * 10,
        ),
        "",
    ]
    notes = [
        f"\\* {label(b['rows'])}: {b['note']}." for b in res["baseline"] if b.get("extrapolated")
    ]
    if notes:
        parts += [*notes, ""]
    cv = res.get("csv")
    if cv:
        rows = [
            [
                str(i + 1),
                _s(r["segbot"]["wall_s"]),
                _mb(r["segbot"]["peak_mb"]),
                _s(r["baseline"]["wall_s"], 1),
                _s(r["baseline"]["read_s"]),
                _mb(r["baseline"]["peak_mb"]),
                f"{r['ratio']:.1f}×",
                f"{r['segbot']['load_before']:.1f}",
            ]
            for i, r in enumerate(cv["runs"])
        ]
        rows.append(
            [
                "median",
                _s(cv["segbot_s"]),
                "",
                _s(cv["baseline_s"], 1),
                "",
                "",
                f"**{cv['ratio']:.1f}×**",
                "",
            ]
        )
        parts += [
            "### From CSV, as a new user runs it",
            "",
            f"`segbot train --data customers.csv` ({label(cv['rows'])} customers from "
            "`segbot sample-data --seed 7`) in a fresh model folder, then the baseline "
            "(bench/baseline.py, `pd.read_csv`) on the same file, back to back; the ratio "
            "is the median of the pairs' ratios.",
            "",
            table(
                [
                    "pair",
                    "segbot",
                    "segbot peak",
                    "baseline",
                    "its read_csv",
                    "baseline peak",
                    "speed-up",
                    "load avg",
                ],
                rows,
                ["--:"] * 8,
            ),
            "",
        ]

    def stages_row(customers: str, wall: float, tm: dict) -> list[str]:
        inside = sum(tm.get(s, 0) for s in STAGES)
        return [
            customers,
            _s(wall),
            _s(wall - inside),
            *[_s(tm.get(s)) for s in STAGES],
            _s(tm.get("charts_render")),
        ]

    rows = [
        stages_row(label(t["rows"]), t["median_run_wall_s"], t["timings"]) for t in res["training"]
    ]
    if cv:  # the pair whose segbot run is the median one
        mid = sorted(cv["runs"], key=lambda r: r["segbot"]["wall_s"])[len(cv["runs"]) // 2]
        wall, tm = mid["segbot"]["wall_s"], mid["segbot"]["timings"]
        rows.append(stages_row(f"{label(cv['rows'])} (CSV)", wall, tm))
    if rows:
        parts += [
            "### Where segbot's time goes",
            "",
            "Stages of the median run, from its metadata.json `timings`; *outside* is the rest "
            "of the process: interpreter start, imports, reading and validating the data file, "
            "printing the summary. Charts are drawn by a worker process while the trainer names, "
            "scores and saves: *charts* is the trainer's wait for them at the end, *drawing* "
            "the worker's time to draw all three.",
            "",
            table(
                ["customers", "process", "outside", *STAGES, "drawing"],
                rows,
                ["--:"] * (4 + len(STAGES)),
            ),
            "",
        ]
    if res["baseline"]:
        rows = []
        for b in res["baseline"]:
            p = b.get("progress", {})
            per_k = " · ".join(f"{e['seconds']:.1f}" for e in p.get("elbow", []))
            rows.append(
                [
                    label(b["rows"]),
                    _s(p.get("read_s")),
                    _s(p.get("prepare_s")),
                    per_k or "—",
                    _s(p.get("final_s")),
                    str(p.get("k", "—")),
                ]
            )
        parts += [
            "### Baseline per step",
            "",
            table(
                [
                    "customers",
                    "read_parquet",
                    "impute + scale",
                    "KMeans(n_init=10), k = 1, 2, … (s)",
                    "final fit",
                    "k at the knee",
                ],
                rows,
                ["--:", "--:", "--:", "---", "--:", "--:"],
            ),
            "",
        ]
    return "\n".join(parts)


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    ours_c, base_c, goal_c = "#0072B2", "#D55E00", "#009E73"
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 5), dpi=100)
    ours = res["training"]
    xs = [t["rows"] for t in ours]

    def annotate(ax, x, y, text, color, below=False):
        # segbot's values below and left of their points, the baseline's above and
        # right, so the two never overlap where the lines cross
        ax.annotate(
            text,
            (x, y),
            textcoords="offset points",
            xytext=(-5, -13) if below else (5, 5),
            ha="right" if below else "left",
            fontsize=8,
            color=color,
        )

    ax_t.plot(xs, [t["wall_s"] for t in ours], "o-", color=ours_c, label="segbot train")
    for t in ours:
        annotate(ax_t, t["rows"], t["wall_s"], f"{t['wall_s']:.1f} s", ours_c, below=True)
    measured = [b for b in res["baseline"] if b.get("wall") and not b.get("extrapolated")]
    guessed = [b for b in res["baseline"] if b.get("wall") and b.get("extrapolated")]
    if measured:
        ax_t.plot(
            [b["rows"] for b in measured],
            [b["wall"] for b in measured],
            "s-",
            color=base_c,
            label="seed-style baseline",
        )
    if guessed:
        line = measured[-1:] + guessed
        ax_t.plot(
            [b["rows"] for b in line],
            [b["wall"] for b in line],
            "s--",
            color=base_c,
            markerfacecolor="white",
            label="baseline, extrapolated past the cap",
        )
    for b in measured + guessed:
        annotate(ax_t, b["rows"], b["wall"], f"{b['wall']:.0f} s", base_c)
    shown_goal = False
    for n, goal in TRAIN_TARGETS.items():
        if xs and min(xs) <= n <= max(xs):
            ax_t.plot(
                [n],
                [goal],
                "_",
                color=goal_c,
                markersize=22,
                markeredgewidth=2.5,
                label=None if shown_goal else "target",
            )
            shown_goal = True
    ax_t.set(xscale="log", yscale="log", xlabel="customers", ylabel="wall time")
    ax_t.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} s"))
    ax_t.set_title("Training end to end (segbot train vs seed-style script)")

    ax_m.plot(xs, [t["peak_mb"] / 1024 for t in ours], "o-", color=ours_c, label="segbot train")
    for t in ours:
        annotate(ax_m, t["rows"], t["peak_mb"] / 1024, _mb(t["peak_mb"]), ours_c, below=True)
    base_mem = [b for b in res["baseline"] if b.get("peak_mb")]
    if base_mem:
        ax_m.plot(
            [b["rows"] for b in base_mem],
            [b["peak_mb"] / 1024 for b in base_mem],
            "s-",
            color=base_c,
            label="seed-style baseline",
        )
        for b in base_mem:
            annotate(ax_m, b["rows"], b["peak_mb"] / 1024, _mb(b["peak_mb"]), base_c)
    if xs and max(xs) >= 10_000_000:
        ax_m.plot(
            [10_000_000],
            [MEMORY_TARGET_MB / 1024],
            "_",
            color=goal_c,
            markersize=22,
            markeredgewidth=2.5,
            label="target",
        )
    ax_m.set(xscale="log", yscale="log", xlabel="customers", ylabel="peak RSS")
    ax_m.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} GB"))
    ax_m.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax_m.set_yticks([0.25, 0.5, 1, 2, 3, 4, 8])
    ax_m.set_title("Peak memory")
    for ax in (ax_t, ax_m):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=9, loc="upper left")
        ax.margins(x=0.12, y=0.15)
    m = res["machine"]
    fig.suptitle(
        f"segbot benchmarks, {res['started'][:10]}: {m.get('cpus')} CPUs ({m.get('cpu', '?')})"
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5k,100k,1m,10m", help="comma-separated, e.g. 5k,1m")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, no serving benchmarks")
    ap.add_argument("--repeats", type=int, default=3, help="segbot train runs per size")
    ap.add_argument("--baseline-cap", type=float, default=900, help="seconds per baseline run")
    ap.add_argument("--inertia-cap", type=float, default=900, help="seconds per inertia check")
    ap.add_argument(
        "--skip",
        default="",
        help="comma-separated parts to leave out: "
        "training, baseline, inertia, csv, lookup, ask, startup, http",
    )
    ap.add_argument("--csv-rows", default="1m", help="customers in the CSV pairs")
    ap.add_argument("--csv-pairs", type=int, default=3, help="segbot/baseline pairs from CSV")
    ap.add_argument("--lookup-calls", type=int, default=10_000)
    ap.add_argument("--http-clients", type=int, default=20)
    ap.add_argument("--http-seconds", type=float, default=20)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument(
        "--update-doc",
        metavar="FILE",
        help="also put the tables into FILE (e.g. BENCHMARKS.md) between its "
        f"{DOC_BEGIN} and {DOC_END} lines",
    )
    args = ap.parse_args(argv)

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    sizes = sorted({parse_size(s) for s in args.sizes.split(",") if s.strip()})
    if args.quick:
        sizes = [2_000]
        args.repeats = 1
        args.lookup_calls = 1_000
        args.csv_rows, args.csv_pairs = "2000", 1
        skip |= {"startup", "http"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    res: dict = {
        "started": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "command": "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "load_start": load_average(),
        "speed_check": [speed_check()],
        "sizes": sizes,
        "repeats": args.repeats,
        "training": [],
        "baseline": [],
        "inertia": [],
    }
    previous_baseline = None
    for rows in sizes if "training" not in skip else []:
        print(f"{label(rows)} customers", flush=True)
        data = data_file(rows)
        ours = train_ours(data, rows, args.repeats)
        res["training"].append(ours)
        if "baseline" not in skip:
            base = train_baseline(data, rows, args.baseline_cap, previous_baseline)
            res["baseline"].append(base)
            if not base["extrapolated"]:
                previous_baseline = base
        if "inertia" not in skip:
            res["inertia"].append(inertia_check(data, ours["model_dir"], args.inertia_cap))

    if "csv" not in skip:
        rows = parse_size(args.csv_rows)
        print(f"{label(rows)} customers from CSV, {args.csv_pairs} pairs", flush=True)
        res["csv"] = csv_pairs(rows, args.csv_pairs, args.baseline_cap)

    serving = [t for t in res["training"] if t["rows"] <= 1_000_000] or res["training"][:1]
    if not serving and res.get("csv"):
        serving = [res["csv"]]
    if serving:
        pick = serving[-1]
        res["serving_rows"] = pick["rows"]
        if "lookup" not in skip:
            print(f"lookups at {label(pick['rows'])}", flush=True)
            res["lookup"] = lookups(pick["model_dir"], args.lookup_calls)
        if "ask" not in skip:
            print(f"segbot ask one-shot at {label(pick['rows'])}", flush=True)
            res["ask"] = ask_startup(pick["model_dir"], 1 if args.quick else 5)
        if "startup" not in skip:
            print(f"serve --http start-up at {label(pick['rows'])}", flush=True)
            res["startup"] = startup(pick["model_dir"], 3)
        if "http" not in skip:
            print(
                f"HTTP at {label(pick['rows'])} (bench/bench_http.py trains its own model)",
                flush=True,
            )
            res["http"] = http(pick["rows"], args.http_clients, args.http_seconds)
            res["http"].setdefault("rows", pick["rows"])
            res["http"].setdefault("clients", args.http_clients)

    res["speed_check"].append(speed_check())
    res["total_s"] = time.perf_counter() - started
    text = markdown(res)
    (out / "latest.md").write_text(text + "\n", encoding="utf-8")
    if args.update_doc:
        update_doc(Path(args.update_doc), text)
    (out / "latest.json").write_text(json.dumps(res, indent=2, default=str), encoding="utf-8")
    if res["training"]:  # the plot is of training against customers
        plot(res, out / "latest.png")
    print()
    print(text)
    print(f"\nwrote {out / 'latest.md'}, latest.json and latest.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
