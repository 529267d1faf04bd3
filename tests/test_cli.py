"""The `segbot` command line on real files: train, sample-data, bad settings."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

MALL = "tests/data/mall_customers.csv"


def segbot(*args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=240,
    )


def test_train_on_the_mall_data_with_its_own_header(tmp_path):
    models = tmp_path / "models"
    done = segbot("train", "--data", MALL, "--id-column", "CustomerID", "--model-dir", str(models))
    assert done.returncode == 0, done.stderr
    meta = json.loads((models / "v1" / "metadata.json").read_text())
    assert meta["features"] == ["Age", "Annual Income (k$)", "Spending Score (1-100)"]
    assert meta["rows"] == 200 and 2 <= meta["k"] <= 10
    names = [s["name"] for s in meta["segments"]]
    assert len(set(names)) == len(names)
    assert any("High-Income" in n for n in names)
    for name in names:  # the printed summary lists every segment
        assert name in done.stdout
    assert (models / "CURRENT").read_text().strip() == "v1"
    for chart in ("elbow", "clusters", "profiles"):
        assert (models / "v1" / f"{chart}.png").stat().st_size > 10_000
    ask = segbot("ask", "--model-dir", str(models), "--json", "/segment customer 42")
    assert ask.returncode == 0, ask.stderr
    assert json.loads(ask.stdout)["data"]["customer_id"] == "42"


def test_sample_data_is_deterministic_and_csv_or_parquet(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for path in (a, b):
        assert (
            segbot("sample-data", "--rows", "300", "--seed", "9", "--out", str(path)).returncode
            == 0
        )
    assert a.read_bytes() == b.read_bytes()
    assert a.read_text().splitlines()[0].replace('"', "").startswith("customer_id,age,")
    pq = tmp_path / "c.parquet"
    assert segbot("sample-data", "--rows", "300", "--out", str(pq)).returncode == 0
    assert pq.read_bytes()[:4] == b"PAR1"
    bad = segbot("sample-data", "--rows", "10", "--out", str(tmp_path / "c.xlsx"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--k", "abc"], {}, "setting SEGBOT_K / --k: must be 'auto'"),
        (["--k-max", "1"], {}, "setting SEGBOT_K_MAX / --k-max"),
        ([], {"SEGBOT_DATA_KIND": "orders"}, "setting SEGBOT_DATA_KIND / --kind"),
        (
            ["--k-min", "6", "--k-max", "5"],
            {},
            "SEGBOT_K_MIN / --k-min (6) is larger than SEGBOT_K_MAX / --k-max (5)",
        ),
        ([], {"SEGBOT_K_MIN": "11"}, "SEGBOT_K_MIN / --k-min (11) is larger than SEGBOT_K_MAX"),
        # a setting only the bot reads is checked as early, by the same rules
        ([], {"PORT": "abc"}, "setting PORT: Input should be a valid integer"),
        ([], {"SEGBOT_ANNOUNCE_UNCHANGED": "maybe"}, "setting SEGBOT_ANNOUNCE_UNCHANGED: Input"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(tmp_path, args, env, expected):
    import os

    done = segbot(
        "train", "--model-dir", str(tmp_path / "m"), *args, env={**os.environ, **env}, cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "m").exists()


def test_the_bots_settings_come_from_the_environment_env_and_flags(tmp_path, monkeypatch):
    from bot.cli import build_parser, load_settings
    from model import Settings

    for name in list(os.environ):
        if name.startswith(("SEGBOT_", "SLACK_")) or name == "PORT":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "SLACK_BOT_TOKEN=xoxb-from-dotenv-secret\nSEGBOT_ADMINS=U1, U2,\nPORT=8080\nSEGBOT_K=4\n"
    )
    monkeypatch.setenv("SEGBOT_ALLOWED_CHANNELS", "C1,C2")
    monkeypatch.setenv("SEGBOT_K", "3")  # the environment over .env, a flag over both
    settings = load_settings(build_parser().parse_args(["serve", "--http", "--k", "5"]))
    assert settings.slack_bot_token == "xoxb-from-dotenv-secret"
    assert (settings.admins, settings.allowed_channels) == (["U1", "U2"], ["C1", "C2"])
    assert (settings.port, settings.k) == (8080, "5")
    assert "xoxb" not in repr(settings)
    # the core's settings name nothing of Slack, nor who may do what where
    core = {info.alias for info in Settings.model_fields.values()}
    assert not [a for a in core if a.startswith("SLACK_") or a in ("SEGBOT_ADMINS", "PORT")]


def trained_k(tmp_path, name: str, *args: str) -> dict:
    models = tmp_path / name
    done = segbot("train", "--model-dir", str(models), *args)
    assert done.returncode == 0, done.stderr
    return json.loads((models / "v1" / "metadata.json").read_text())


@pytest.fixture(scope="module")
def two_groups_csv(tmp_path_factory) -> str:
    """Two far-apart groups: the curve bends at 2 and the silhouette is best at 2."""
    rng = np.random.default_rng(4)
    centre = np.repeat([[20.0, 100.0], [60.0, 900.0]], 150, axis=0)
    values = centre + rng.normal(size=(300, 2)) * [2.0, 20.0]
    data = tmp_path_factory.mktemp("two") / "two_groups.csv"
    pd.DataFrame(
        {"id": range(1, 301), "age": values[:, 0].round(1), "spend": values[:, 1].round(2)}
    ).to_csv(data, index=False)
    return str(data)


@pytest.mark.parametrize(
    ("args", "k", "reason"),
    [
        ([], 3, "the curve bends at k=2, below the smallest k tried (3); k=3 is the nearest"),
        (["--k-min", "2"], 2, "knee of the inertia curve at k=2"),
        (["--k", "2"], 2, "k=2 was set"),
    ],
    ids=["auto", "k-min-2", "k-2"],
)
def test_k_two_only_when_asked_for(tmp_path, two_groups_csv, args, k, reason):
    meta = trained_k(tmp_path, "m", "--data", two_groups_csv, "--id-column", "id", *args)
    assert meta["k"] == k
    assert meta["k_selection"]["reason"].startswith(reason)
    assert meta["k_selection"]["k_min"] == (2 if "--k-min" in args else 3)


def test_mall_income_and_spending_still_gives_five_segments(tmp_path):
    meta = trained_k(
        tmp_path,
        "m",
        "--data",
        MALL,
        "--id-column",
        "CustomerID",
        "--features",
        "Annual Income (k$),Spending Score (1-100)",
    )
    assert meta["k"] == 5  # five blobs, the textbook answer for these two columns
    assert meta["k_selection"]["reason"].startswith("knee of the inertia curve at k=5")


HEAVY = ("sklearn", "scipy", "matplotlib", "pandas")


def test_ask_answers_without_importing_what_only_training_and_charts_need(trained_model_dir):
    """`segbot ask` one-shot stays under 0.7 s by not importing scikit-learn, SciPy,
    matplotlib or pandas (~1.5 s together) for an answer that needs none of them."""
    program = (
        "import sys\n"
        "from bot.cli import main\n"
        "code = main(['ask', '/segments summary'])\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "print('HEAVY', code, heavy)\n"
    )
    env = {**os.environ, "SEGBOT_MODEL_DIR": str(trained_model_dir)}
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last == "HEAVY 0 []", done.stdout[-2000:]
    assert "customer segments in model v1" in done.stdout


def test_no_log_line_is_lost_while_serve_hands_logging_back(monkeypatch):
    """`serve` writes log records from one thread; at exit it puts the handlers back.
    A thread still logging then (a write-back finishing) must lose no line: once,
    the write-back's "already holds v1" vanished between the two."""
    import io
    import logging
    import threading

    from bot import cli

    stream = io.StringIO()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [logging.StreamHandler(stream)])
    monkeypatch.setattr(root, "level", logging.INFO)
    stop = cli._log_off_the_request_threads()
    assert stop is not None
    log = logging.getLogger("segbot.test.handback")
    started, count = threading.Event(), 20_000

    def chatter() -> None:
        for i in range(count):
            log.info("line %d", i)
            if i == 100:
                started.set()

    thread = threading.Thread(target=chatter)
    thread.start()
    started.wait(10)
    stop()  # while the other thread logs
    thread.join(30)
    lines = stream.getvalue().splitlines()
    assert sorted(int(line.split()[1]) for line in lines) == list(range(count))
