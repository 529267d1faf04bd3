"""Segments over time: a customer's history, movers, flows and trend charts, announcements.

Three versions are trained on hand-made data: customers sit in three far-apart blobs, so
which blob (and so which segment) each customer is in, in each version, is known by
construction. Counts are checked against that construction and against a recount from
the stored `.npy` files done here with plain Python sets.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from bot import render
from bot.commands import Usage, parse
from bot.router import Router
from model.answers import RetrainResult
from model.charts.over_time_charts import build_flows, build_trend
from model.charts.style import segment_color
from model.errors import NotFound
from model.service import SegmentService
from tests.conftest import ADMIN, USER, make_settings, run_segbot, segbot_env

CENTERS = {"A": (20.0, 20.0), "B": (200.0, 20.0), "C": (20.0, 200.0)}
BASE = {f"C{i:03d}": "ABC"[i % 3] for i in range(1, 181)}
# v2: C008 leaves, C050A arrives (in B); 13 customers move
MOVES_V2 = {
    **{f"C{i:03d}": "C" for i in (3, 6, 9, 12, 15, 18, 21)},  # A -> C (7)
    **{f"C{i:03d}": "C" for i in (1, 4, 7, 10)},  # B -> C (4)
    **{f"C{i:03d}": "A" for i in (2, 5)},  # C -> A (2)
}
V1 = dict(BASE)
V2 = {k: v for k, v in {**BASE, **MOVES_V2, "C050A": "B"}.items() if k != "C008"}
# v3: C050A leaves again; 3 customers move
V3 = {k: v for k, v in {**V2, "C001": "A", "C003": "B", "C024": "B"}.items() if k != "C050A"}
DATA = {"v1": V1, "v2": V2, "v3": V3}


def write_blobs(path: Path, blobs: dict[str, str], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["customer_id", "spend", "visits"])
        for cid, blob in sorted(blobs.items()):
            x, y = CENTERS[blob]
            out.writerow([cid, round(x + rng.normal(0, 2), 2), round(y + rng.normal(0, 2), 2)])
    return path


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[RetrainResult]]:
    """v1, v2, v3 trained (k=3) on the three hand-made files; v3 served. Read-only."""
    tmp = tmp_path_factory.mktemp("history")
    root = tmp / "models"
    results = []
    for i, name in enumerate(DATA, start=1):
        data = write_blobs(tmp / f"{name}.csv", DATA[name], seed=i)
        service = SegmentService(make_settings(root, data, SEGBOT_K="3"))
        results.append(service.retrain(force=True))
    assert [r.version.version for r in results] == ["v1", "v2", "v3"]
    assert all(r.served for r in results), [r.held_back for r in results]
    return root, results


def blob_segments(root: Path, version: str) -> dict[str, int]:
    """Blob -> segment id in `version`: the segment whose stored centre is nearest the
    blob's centre (from metadata only, not from the code under test)."""
    meta = json.loads((root / version / "metadata.json").read_text())
    out = {}
    for blob, (x, y) in CENTERS.items():
        nearest = min(
            meta["segments"],
            key=lambda s: (s["centroid"]["spend"] - x) ** 2 + (s["centroid"]["visits"] - y) ** 2,
        )
        out[blob] = nearest["id"]
    assert len(set(out.values())) == 3, out  # the blobs are far apart: one segment each
    return out


def expected_segment(root: Path, version: str, cid: str) -> int | None:
    blob = DATA[version].get(cid)
    return None if blob is None else blob_segments(root, version)[blob]


def recount(root: Path, before: str, after: str, a: int, b: int) -> tuple[int, set[str]]:
    """Customers in segment `a` at `before` and `b` at `after`, from the .npy files."""

    def load(version: str) -> dict[str, int]:
        ids = np.load(root / version / "ids.npy")
        segs = np.load(root / version / "segments.npy")
        return {
            (i.decode() if isinstance(i, bytes) else str(i)): int(s)
            for i, s in zip(ids, segs, strict=True)
        }

    old, new = load(before), load(after)
    moved = {c for c in old.keys() & new.keys() if old[c] == a and new[c] == b}
    return len(moved), moved


def router(root: Path) -> Router:
    settings = make_settings(root, SEGBOT_ADMINS=ADMIN)
    return Router(SegmentService(settings), settings)


# ---- customer history -----------------------------------------------------------------------
@pytest.mark.parametrize("cid", ["C001", "C003", "C004", "C008", "C050A"])
def test_history_lists_every_version_with_the_segment_known_by_construction(three, cid):
    root, _ = three
    answer = SegmentService(make_settings(root)).customer_history(cid)
    assert [v.version for v in answer.versions] == ["v1", "v2", "v3"]
    got = [None if v.segment is None else v.segment.id for v in answer.versions]
    assert got == [expected_segment(root, n, cid) for n in ("v1", "v2", "v3")]
    assert [v.status for v in answer.versions] == ["earlier", "earlier", "served"]
    assert answer.served == "v3"


def test_customer_added_in_v2_and_removed_in_v3(three):
    root, _ = three
    answer = SegmentService(make_settings(root)).customer_history("C050A")
    b2 = blob_segments(root, "v2")["B"]
    runs = [(s.segment.id if s.segment else None, s.first, s.last) for s in answer.stretches]
    assert runs == [(None, "v3", "v3"), (b2, "v2", "v2"), (None, "v1", "v1")]
    text = render.customer_history(answer).text
    name, when = answer.versions[1].segment.name, answer.versions[2].trained_at
    assert text.splitlines()[0] == (
        f"Customer `C050A`: not in the data since v3, {render.day(when, when)}; "
        f"before that {name}, v2; not in the data, v1."
    )
    assert render.customer_history(answer).visibility == "ephemeral"


def test_history_current_stretch_spans_versions(three):
    root, _ = three
    # C013 (B) never moves: one stretch since v1
    answer = SegmentService(make_settings(root)).customer_history("C013")
    assert [(s.first, s.last) for s in answer.stretches] == [("v1", "v3")]
    assert render.history_line(answer).startswith(f"*{answer.versions[2].segment.name}* since v1")


def test_history_of_unknown_customer_is_one_line(three):
    root, _ = three
    reply = router(root).handle("/segment customer NOPE history")
    assert not reply.ok
    assert reply.text == "No customer with id 'NOPE' in any stored version (v1 to v3)."


def test_history_marks_rolled_back_and_candidate_versions(three, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(three[0], root)
    service = SegmentService(make_settings(root))
    service.rollback("v2")
    service.registry.update_metadata("v1", status="candidate")  # as if it was held back
    answer = service.customer_history("C001")
    assert [v.status for v in answer.versions] == ["candidate", "served", "rolled back"]
    # only what was served counts for "since": v2 alone
    assert [(s.first, s.last) for s in answer.stretches] == [("v2", "v2")]
    text = render.customer_history(answer).text
    assert "candidate, never served" in text and "rolled back" in text


def test_a_rewritten_metadata_is_read_again_by_a_running_service(three, tmp_path):
    """The stored versions are kept loaded between questions; a rewrite of one's
    metadata.json (here: held back as a candidate) shows in the next answer."""
    root = tmp_path / "models"
    shutil.copytree(three[0], root)
    service = SegmentService(make_settings(root))
    before = service.customer_history("C001")
    assert [v.status for v in before.versions] == ["earlier", "earlier", "served"]
    service.registry.update_metadata("v1", status="candidate")
    after = service.customer_history("C001")
    assert [v.status for v in after.versions] == ["candidate", "earlier", "served"]


# ---- movers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("version,previous", [("v2", "v1"), ("v3", "v2")])
def test_movers_equal_a_recount_from_the_stored_arrays(three, version, previous):
    root, _ = three
    service = SegmentService(make_settings(root))
    before, after = blob_segments(root, previous), blob_segments(root, version)
    old, new = DATA[previous], DATA[version]
    for x, a in before.items():
        for y, b in after.items():
            answer = service.movers(str(a), str(b), version)
            n, _ = recount(root, previous, version, a, b)
            by_construction = sum(1 for c in old.keys() & new.keys() if old[c] == x and new[c] == y)
            assert answer.count == n == by_construction, (x, y)
            staying = sum(1 for c in old.keys() & new.keys() if old[c] == x)
            assert answer.source_size == staying
            assert answer.share == pytest.approx(n / staying, abs=1e-6)
            assert answer.previous == previous and answer.csv is None
    # C008 (blob C) left at v2, C050A (blob B) at v3
    gone = {"v2": "C", "v3": "B"}[version]
    for x in CENTERS:
        answer = service.movers(str(before[x]), str(after[x]), version)
        assert answer.left == (x == gone), x


def test_movers_by_name_default_to_the_served_version(three):
    root, _ = three
    meta2 = json.loads((root / "v2" / "metadata.json").read_text())
    meta3 = json.loads((root / "v3" / "metadata.json").read_text())
    a, b = blob_segments(root, "v2")["C"], blob_segments(root, "v3")["A"]
    src = next(s["name"] for s in meta2["segments"] if s["id"] == a)
    dst = next(s["name"] for s in meta3["segments"] if s["id"] == b)
    reply = router(root).handle(f'/segments movers "{src}" "{dst}"')
    assert reply.ok, reply.text
    assert reply.data["version"] == "v3" and reply.data["count"] == 1  # C001: C -> A
    assert reply.text.startswith(f"1 customer moved from {src} (v2) to {dst} (v3)")
    # the `to` form, lower case
    again = router(root).handle(f"/segments movers {src.lower()} to {dst.lower()} v3")
    assert again.data["count"] == 1


def test_admins_get_the_ids_as_csv_and_others_only_the_count(three):
    root, _ = three
    a, b = blob_segments(root, "v1")["A"], blob_segments(root, "v2")["C"]
    line = f"/segments movers {a} {b} v2"
    _, expected = recount(root, "v1", "v2", a, b)
    assert expected == {f"C{i:03d}" for i in (3, 6, 9, 12, 15, 18, 21)}

    bot = router(root)
    admin = bot.handle(line, user=ADMIN, channel="C1", slack=True)
    assert admin.ok and len(admin.files) == 1 and admin.visibility == "ephemeral"
    rows = list(csv.DictReader(io.StringIO(admin.files[0].read().decode())))
    assert {r["customer_id"] for r in rows} == expected
    assert {(r["from_segment_id"], r["to_segment_id"]) for r in rows} == {(str(a), str(b))}
    assert admin.data["csv"] is None  # the bytes go as the file, not in the JSON

    user = bot.handle(line, user=USER, channel="C1", slack=True)
    assert user.ok and user.files == [] and user.data["csv"] is None
    assert user.data["count"] == 7 and "Admins can get their ids" in user.text
    assert user.visibility == "in_channel"


def test_movers_survive_the_deletion_of_the_older_version(three, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(three[0], root)
    a, b = blob_segments(root, "v1")["A"], blob_segments(root, "v2")["C"]
    shutil.rmtree(root / "v1")
    service = SegmentService(make_settings(root))
    assert service.movers(str(a), str(b), "v2").count == 7  # kept in v2/flows.json
    with pytest.raises(NotFound, match="v1 is no longer stored"):
        service.movers(str(a), str(b), "v2", with_ids=True)


@pytest.mark.parametrize(
    "line,expected",
    [
        ("/segments movers {typo} 1", "did you mean {name}?"),
        ("/segments movers 1 2 v9", "No version v9; did you mean v3?"),
        ("/segments movers 1 2 banana", "'banana' is not a version name"),
        ("/segments flows v7", "No version v7; did you mean v3?"),
        ("/segments flows v1", "Nothing to compare v1 with: it is the first version."),
        ("/segments movers 1", "name two segments"),
    ],
)
def test_bad_input_gets_one_friendly_line(three, line, expected):
    root, _ = three
    # <from> is matched against v2's segments: v3 was compared with v2
    meta2 = json.loads((root / "v2" / "metadata.json").read_text())
    name = meta2["segments"][0]["name"]
    typo = name[:3] + name[4:]  # one letter dropped
    line, expected = (s.format(typo=f'"{typo}"', name=name) for s in (line, expected))
    reply = router(root).handle(line)
    assert not reply.ok
    assert expected in reply.text, reply.text
    assert "Traceback" not in reply.text and len(reply.text.splitlines()) <= 2


# ---- charts ---------------------------------------------------------------------------------
def assert_good_png(path: Path) -> None:
    assert path.stat().st_size < 300_000
    with Image.open(path) as image:
        assert image.size == (1200, 800)
        pixels = np.asarray(image.convert("L"))
    assert (pixels < 200).mean() > 0.02, "almost blank"
    assert pixels.std() > 20


def test_flows_and_trend_charts_are_good_pngs_kept_by_version(three):
    root, _ = three
    service = SegmentService(make_settings(root))
    flows = service.flows("v2")
    assert Path(flows.chart) == root / "v2" / "flows.png"
    assert_good_png(Path(flows.chart))
    trend = service.trend()
    assert Path(trend.chart).parent == root / "v3" and Path(trend.chart).name.startswith("trend-")
    assert_good_png(Path(trend.chart))
    assert [t.version for t in trend.versions] == ["v1", "v2", "v3"]
    assert set(trend.versions[0].shares) == set(blob_segments(root, "v1").values())
    # the shares are the stored sizes over the rows
    meta = json.loads((root / "v2" / "metadata.json").read_text())
    assert trend.versions[1].shares == {
        s["id"]: pytest.approx(s["size"] / meta["rows"], abs=1e-6) for s in meta["segments"]
    }


def test_flow_counts_match_the_recount(three):
    root, _ = three
    flows = SegmentService(make_settings(root)).flows("v3")
    for i, s in enumerate(flows.sources):
        for j, t in enumerate(flows.targets):
            assert flows.counts[i][j] == recount(root, "v2", "v3", s.id, t.id)[0]
    assert (flows.common, flows.left, flows.joined) == (179, 1, 0)  # C050A left


def line_colors(fig) -> dict[int, tuple[float, ...]]:
    out = {}
    for artist in fig.findobj(lambda a: str(a.get_gid() or "").startswith("segment-")):
        out[int(artist.get_gid().split("-")[-1])] = to_rgb(artist.get_color())
    return out


def swatch_colors(fig, prefix: str) -> dict[int, tuple[float, ...]]:
    return {
        int(a.get_gid().split("-")[-1]): tuple(round(c, 3) for c in a.get_facecolor()[:3])
        for a in fig.findobj(lambda a: str(a.get_gid() or "").startswith(prefix))
    }


def test_flows_kept_for_another_pair_of_versions_are_counted_again(three, tmp_path):
    """A flows.json that is not this version's against its previous one (a folder
    copied over from another version) is not believed: the counts are made again."""
    root = tmp_path / "models"
    shutil.copytree(three[0], root)
    service = SegmentService(make_settings(root))
    service.flows("v3")  # keeps v3's flows (against v2) in v3/flows.json
    shutil.copy(root / "v3" / "flows.json", root / "v2" / "flows.json")
    flows = service.flows("v2")
    assert (flows.version, flows.previous) == ("v2", "v1")
    for i, s in enumerate(flows.sources):
        for j, t in enumerate(flows.targets):
            assert flows.counts[i][j] == recount(root, "v1", "v2", s.id, t.id)[0]
    assert (flows.common, flows.left, flows.joined) == (179, 1, 1)  # C008 left, C050A joined


def test_colours_are_tied_to_segment_ids_in_every_version(three):
    root, _ = three
    service = SegmentService(make_settings(root))
    want = {i: tuple(round(c, 3) for c in to_rgb(segment_color(i))) for i in range(1, 4)}
    trend = build_trend(service.over_time.trend())
    assert {i: tuple(round(c, 3) for c in rgb) for i, rgb in line_colors(trend).items()} == want
    for version in ("v2", "v3"):
        fig = build_flows(service.flows(version))
        assert swatch_colors(fig, "source-segment-") == want
        assert swatch_colors(fig, "target-segment-") == want


def test_trend_chart_is_redrawn_when_the_served_version_switches(three, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(three[0], root)
    service = SegmentService(make_settings(root))
    first = Path(service.trend().chart)
    assert Path(service.trend().chart) == first  # kept: not drawn again
    service.rollback("v2")
    trend = service.trend()
    assert Path(trend.chart) != first and Path(trend.chart).parent == root / "v2"
    assert [t.status for t in trend.versions] == ["earlier", "served", "rolled back"]
    fig = build_trend(trend)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert "rolled back" in labels[2] and "served" in labels[1]
    reply = render.trend(trend)
    assert "Not served (candidate or rolled back): v3" in reply.text
    assert reply.files and reply.files[0].path == Path(trend.chart)


# ---- announcements --------------------------------------------------------------------------
def test_retrain_announcement_names_the_biggest_flows_and_attaches_the_chart(three):
    root, results = three
    v2 = results[1]
    a, c = blob_segments(root, "v1")["A"], blob_segments(root, "v2")["C"]
    b, c_old = blob_segments(root, "v1")["B"], blob_segments(root, "v1")["C"]
    top = [(m["from_id"], m["to_id"], m["count"]) for m in v2.change.flows]
    assert top == [(a, c, 7), (b, c, 4), (c_old, blob_segments(root, "v2")["A"], 2)]
    reply = render.announcement(v2)
    first = v2.change.flows[0]
    assert f"  • 7 moved from {first['from']} to {first['to']}" in reply.text.splitlines()
    assert any(f.filename == "flows-v2.png" for f in reply.files)
    assert any("Biggest moves since v1" in b["text"]["text"] for b in reply.blocks if "text" in b)
    assert results[0].change.flows == []  # the first version has nothing to compare with
    # the admin who retrained sees them too
    assert (
        f"Biggest moves: 7 from {first['from']} to {first['to']}" in render.retrain_result(v2).text
    )


# ---- commands -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "line,verb,arg,values",
    [
        ("/segment customer 00042 history", "customer_history", "00042", {}),
        ("/segment 00042 History", "customer_history", "00042", {}),
        ('/segment customer "AB 12" history', "customer_history", "AB 12", {}),
        ("/segment customer history", "customer", "history", {}),
        ("/segments movers 1 2", "movers", None, {"from": "1", "to": "2"}),
        (
            '/segments movers "Big Spenders" "At Risk" v5',
            "movers",
            None,
            {"from": "Big Spenders", "to": "At Risk", "version": "v5"},
        ),
        (
            "/segments movers Big Spenders to At Risk",
            "movers",
            None,
            {"from": "Big Spenders", "to": "At Risk"},
        ),
        ("/segments trend", "trend", None, {}),
        ("/segments flows", "flows", None, {}),
        ("/segments flows v4", "flows", "v4", {}),
    ],
)
def test_parse(line, verb, arg, values):
    command = parse(line)
    assert not isinstance(command, Usage), command
    assert (command.verb, command.arg, dict(command.values)) == (verb, arg, values)


@pytest.mark.parametrize(
    "line",
    ["/segments movers", "/segments movers a b c d", "/segments flows v1 v2", "/segments trend x"],
)
def test_parse_refuses(line):
    assert isinstance(parse(line), Usage)


def test_help_lists_the_new_commands():
    text = render.unescape(render.help_reply().text)
    for syntax in (
        "/segment customer <id> history",
        "/segments movers <from> <to> [<version>]",
        "/segments trend",
        "/segments flows [<version>]",
    ):
        assert syntax in text


# ---- the real CLI ---------------------------------------------------------------------------
def test_segbot_ask_answers_history_and_movers(three, tmp_path):
    root, _ = three
    env = segbot_env(SEGBOT_MODEL_DIR=root)
    done = run_segbot(["ask", "/segment customer C050A history", "--json"], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)["data"]
    assert data["kind"] == "customer_history"
    assert [v["segment"] and v["segment"]["id"] for v in data["versions"]] == [
        None,
        blob_segments(root, "v2")["B"],
        None,
    ]
    a, b = blob_segments(root, "v1")["B"], blob_segments(root, "v2")["C"]
    done = run_segbot(
        ["ask", f"/segments movers {a} {b} v2", "--json", "--out", str(tmp_path / "out")],
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["data"]["count"] == 4
    saved = Path(reply["files"][0]["saved"]).read_text().splitlines()
    assert sorted(line.split(",")[0] for line in saved[1:]) == ["C001", "C004", "C007", "C010"]
    missing = run_segbot(["ask", "/segment customer NOPE history"], env=env, cwd=tmp_path)
    assert missing.returncode == 1 and "NOPE" in missing.stdout


def test_segbot_train_three_times_then_ask(tmp_path):
    """The whole path through the real CLI: three `segbot train`, then `segbot ask`."""
    root = tmp_path / "models"
    for i, name in enumerate(DATA, start=1):
        data = write_blobs(tmp_path / f"{name}.csv", DATA[name], seed=i)
        done = run_segbot(
            ["train", "--data", str(data), "--k", "3", "--model-dir", str(root)],
            env=segbot_env(),
            cwd=tmp_path,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    env = segbot_env(SEGBOT_MODEL_DIR=root)
    done = run_segbot(["ask", "/segment customer C008 history", "--json"], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = [v["segment"] and v["segment"]["id"] for v in json.loads(done.stdout)["data"]["versions"]]
    assert got == [blob_segments(root, "v1")["C"], None, None]
    for line in ("/segments flows", "/segments trend"):
        done = run_segbot(["ask", line, "--json"], env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert_good_png(Path(json.loads(done.stdout)["files"][0]["path"]))


def test_benchmark_quick_mode_runs(tmp_path):
    """`bench/bench_history.py --quick` builds its versions and measures (nothing timed
    against the target here: the machine is shared)."""
    import subprocess
    import sys

    bench = Path(__file__).resolve().parents[1] / "bench" / "bench_history.py"
    done = subprocess.run(
        [sys.executable, str(bench), "--quick", "--dir", str(tmp_path / "v")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout[done.stdout.index("{") :])
    assert result["rows"] == 20_000 and result["versions"] == 3
    assert result["history"]["calls"] == 500 and result["history"]["p99_ms"] > 0
    # the count the benchmark got equals a recount from its own files
    meta = json.loads((tmp_path / "v" / "v3" / "metadata.json").read_text())
    ids = {s["name"]: s["id"] for s in meta["segments"]}
    n, _ = recount(tmp_path / "v", "v2", "v3", ids["Champions"], ids["At Risk"])
    assert result["champions_to_at_risk"] == result["movers_csv_rows"] == n


def test_slack_movers_count_for_everyone_csv_for_admins(three, tmp_path, slack_fake):
    """`segbot serve --http` with signed slash commands and the fake Slack Web API."""
    from tests.conftest import CHANNEL, start_http_bot, stop_bot

    root = tmp_path / "models"
    shutil.copytree(three[0], root)
    bot = start_http_bot(tmp_path, slack_fake, root, three[0].parent / "v3.csv")
    try:
        bot.wait_ready()
        a, b = blob_segments(root, "v1")["A"], blob_segments(root, "v2")["C"]
        ack = bot.slash("/segments", f"movers {a} {b} v2", user=USER, sink="user")
        assert "Counting" in ack["text"]
        [answer] = slack_fake.wait_for(lambda: slack_fake.responses_to("user"))
        assert answer["text"].startswith("7 customers moved from")
        assert answer["response_type"] == "in_channel" and slack_fake.uploads == {}

        bot.slash("/segments", f"movers {a} {b} v2", user=ADMIN, sink="admin")
        [done] = slack_fake.wait_for(lambda: slack_fake.called("files.completeUploadExternal"))
        # Customer ids: to the admin's DM (a file in the channel is seen by all), with a
        # private pointer where they asked.
        assert done.params["channel_id"] == "D" + ADMIN != CHANNEL
        [pointer] = slack_fake.wait_for(lambda: slack_fake.responses_to("admin"))
        assert pointer["response_type"] == "ephemeral" and "direct message" in pointer["text"]
        assert pointer["text"].startswith("7 customers moved from")
        [sent] = slack_fake.uploads.values()
        ids = {line.split(",")[0] for line in sent.decode().splitlines()[1:]}
        assert ids == recount(root, "v1", "v2", a, b)[1]

        slack_fake.reset()
        bot.slash("/segments", "flows v2")
        slack_fake.wait_for(lambda: slack_fake.called("files.completeUploadExternal"))
        [png] = slack_fake.uploads.values()
        assert png == (root / "v2" / "flows.png").read_bytes()
    finally:
        stop_bot(bot)


@pytest.mark.parametrize(
    "line", ["/segment customer 1 history", "/segments movers 1 2", "/segments trend"]
)
def test_before_any_training_the_answer_says_so(tmp_path, line):
    reply = Router(SegmentService(make_settings(tmp_path / "empty"))).handle(line)
    assert not reply.ok and reply.text.startswith("No model is trained yet")
