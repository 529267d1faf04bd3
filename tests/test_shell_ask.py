"""`segbot ask`, `segbot shell` and `segbot serve` without tokens, as real processes."""

from __future__ import annotations

import json
from pathlib import Path

from bot.render import unescape
from bot.router import Router
from model.service import SegmentService
from tests.conftest import make_settings, run_segbot, segbot_env

PNG = b"\x89PNG\r\n\x1a\n"


def test_ask_prints_the_reply_text(
    tmp_path: Path, trained_model_dir: Path, customer_ids: list[str]
) -> None:
    env = segbot_env(SEGBOT_MODEL_DIR=trained_model_dir)
    local = Router(SegmentService(make_settings(trained_model_dir)))
    for line in ("/segments summary", f"/segment customer {customer_ids[0]}"):
        done = run_segbot(["ask", line], env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout == unescape(local.handle(line).text) + "\n"
        assert "Traceback" not in done.stderr


def test_ask_json_has_the_whole_reply_and_the_answer(
    tmp_path: Path, trained_model_dir: Path
) -> None:
    done = run_segbot(
        ["ask", "/segments summary", "--json"],
        env=segbot_env(SEGBOT_MODEL_DIR=trained_model_dir),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert set(reply) >= {"text", "blocks", "files", "visibility", "ok", "data"}
    assert reply["visibility"] == "in_channel" and reply["ok"] is True
    assert reply["blocks"][0]["type"] == "section"
    data = reply["data"]
    meta = json.loads((trained_model_dir / "v1" / "metadata.json").read_text())
    assert data["version"] == "v1" and data["k"] == meta["k"] == len(data["segments"])
    for segment, stored in zip(data["segments"], meta["segments"], strict=True):
        assert {"id", "name", "size"} <= set(segment)
        assert (segment["id"], segment["name"], segment["size"]) == (
            stored["id"],
            stored["name"],
            stored["size"],
        )
    assert sum(s["size"] for s in data["segments"]) == meta["rows"]


def test_ask_out_saves_the_chart(tmp_path: Path, trained_model_dir: Path) -> None:
    out = tmp_path / "charts"
    done = run_segbot(
        ["ask", "/segments elbow", "--out", str(out)],
        env=segbot_env(SEGBOT_MODEL_DIR=trained_model_dir),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    saved = out / "elbow-v1.png"
    assert saved.read_bytes() == (trained_model_dir / "v1" / "elbow.png").read_bytes()
    assert saved.read_bytes().startswith(PNG)
    assert done.stdout.splitlines()[-1] == str(saved.resolve())


def test_ask_exit_codes(tmp_path: Path, trained_model_dir: Path) -> None:
    env = segbot_env(SEGBOT_MODEL_DIR=trained_model_dir)
    cases = {
        "/segment predict age=30": 0,
        "/segment customer no-such-customer": 1,  # not found
        "/segments frobnicate": 1,  # usage
    }
    for line, code in cases.items():
        done = run_segbot(["ask", line], env=env, cwd=tmp_path)
        assert done.returncode == code, (line, done.stdout, done.stderr)
        assert done.stdout.strip() and "Traceback" not in done.stdout + done.stderr
    missing = run_segbot(
        ["ask", "/segments"], env=segbot_env(SEGBOT_MODEL_DIR=tmp_path / "none"), cwd=tmp_path
    )
    assert missing.returncode == 1 and "no model is trained yet" in missing.stdout.lower()


def test_shell_reads_commands_from_stdin(
    tmp_path: Path, model_dir: Path, customer_ids: list[str]
) -> None:
    out = tmp_path / "out"
    cid = customer_ids[1]
    script = (
        "\n".join(
            [
                "/segments summary",
                "",
                f"segment customer {cid}",  # the slash is optional
                "/segments elbow",
                "/segments export 1",
                "/segments nonsense",
                "exit",
                "/segments history",  # never reached
            ]
        )
        + "\n"
    )
    done = run_segbot(
        ["shell", "--out", str(out)],
        env=segbot_env(SEGBOT_MODEL_DIR=model_dir),
        cwd=tmp_path,
        stdin=script,
    )
    assert done.returncode == 0, done.stderr
    local = Router(SegmentService(make_settings(model_dir)))
    answers = done.stdout.split("\n\n")
    assert answers[0] == unescape(local.handle("/segments summary").text)
    assert answers[1] == unescape(local.handle(f"/segment customer {cid}").text)
    assert answers[2].endswith(f"file: {(out / 'elbow-v1.png').resolve()}")
    assert (out / "elbow-v1.png").read_bytes().startswith(PNG)
    [csv] = out.glob("segment-1-*.csv")
    assert csv.read_bytes() == SegmentService(make_settings(model_dir)).export("1").csv
    assert answers[4].startswith("Sorry, I didn't get that")
    assert "trained version" not in done.stdout  # stopped at `exit`


def test_shell_retrains_as_the_operator(tmp_path: Path, model_dir: Path, sample_csv: Path) -> None:
    data = tmp_path / "customers.csv"
    data.write_text("".join(sample_csv.read_text().splitlines(keepends=True)[:-100]))
    done = run_segbot(
        ["shell"],
        env=segbot_env(SEGBOT_MODEL_DIR=model_dir, SEGBOT_DATA=data, SEGBOT_ADMINS="USOMEONE"),
        cwd=tmp_path,
        stdin="/segments retrain\n/segments rollback v1\n",
    )
    assert done.returncode == 0, done.stderr
    assert "Retrained: v2 is now served (1,900 customers" in done.stdout
    assert "Now serving v1" in done.stdout and "was v2" in done.stdout
    assert (model_dir / "CURRENT").read_text().strip() == "v1"


def test_serve_without_tokens_trains_first_then_is_a_shell(tmp_path: Path) -> None:
    """A newcomer's first run: no tokens, no data, no model."""
    done = run_segbot(
        ["serve"],
        env=segbot_env(SEGBOT_MODEL_DIR=tmp_path / "models"),
        cwd=tmp_path,
        stdin="/segments\n/segments help\n",
    )
    assert done.returncode == 0, done.stderr
    assert "training one on the bundled sample data first" in done.stderr
    assert "customer segments in model v1" in done.stdout
    assert "5,000 customers" in done.stdout
    assert "/segment predict <feature>=<value>" in done.stdout
