"""The Spark engine (`--engine spark`): same answers as the local engine, in local
mode and on a real standalone cluster, the same one-line errors, and a clear line
when the cluster cannot be reached.

They need pyspark and Java. Without them they are skipped, saying why, except
under CI (CI=true), where a missing one fails.

Cost: a JVM takes seconds to start, so the in-process tests share one local[2]
session (the `spark` fixture), and exactly one test trains through the real CLI:
on the standalone cluster, which needs its own driver anyway.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from model.data.load import load_dataset
from model.errors import DataError
from model.training import pipeline as feat
from tests import test_sql_sources as sql_sources
from tests.conftest import free_port, make_settings, run_segbot, segbot_env

pytestmark = pytest.mark.spark


def spark_or_skip() -> None:
    missing = [
        what
        for what, ok in (
            ("pyspark (pip install 'segbot[spark]')", importlib.util.find_spec("pyspark")),
            ("java", shutil.which("java") or os.environ.get("JAVA_HOME")),
        )
        if not ok
    ]
    if not missing:
        return
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but {', '.join(missing)} is missing: .ci/run should install it")
    pytest.skip(f"Spark tests need {' and '.join(missing)}")


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    """One local[2] session for the in-process tests of this module."""
    spark_or_skip()
    from model.training import spark_engine

    folder = tmp_path_factory.mktemp("spark")
    settings = make_settings(folder, SEGBOT_SPARK_MASTER="local[2]")
    with spark_engine._session(settings, folder / "spark.log") as session:
        yield session


def _use_session(monkeypatch: pytest.MonkeyPatch, spark) -> None:
    """Make the service use the module's session instead of starting (and stopping) one."""
    from model.training import spark_engine

    monkeypatch.setattr(spark_engine, "_session", lambda *a: contextlib.nullcontext(spark))
    monkeypatch.setattr(spark_engine, "check_master", lambda master: None)


@pytest.fixture
def shared_session(spark, monkeypatch):
    _use_session(monkeypatch, spark)
    return spark


# --------------------------------------------------------------------------- features


def test_spark_features_equal_the_stored_pipeline_row_by_row(spark):
    from model.training.spark_engine import spark_features

    rng = np.random.default_rng(3)
    n = 400
    spend = rng.lognormal(3, 1.2, n)  # skewed, non-negative: log1p
    age = rng.normal(40, 12, n)  # plain
    spend[[5, 17]] = np.nan
    age[[3]] = np.nan
    plan = rng.choice(["basic", "pro", "team"], n).astype(object)
    plan[[8, 9]] = None
    frame = pd.DataFrame({"spend": spend, "age": age, "plan": pd.Series(plan, dtype=object)})
    transformer = feat.fit_transformer(frame, ["spend", "age"], ["plan"], seed=0)
    assert feat.log_columns(transformer) == ["spend"]
    local = feat.transform(transformer, frame)

    rows = [
        {"spend": None if np.isnan(s) else float(s), "age": None if np.isnan(a) else float(a),
         "plan": p, "pos": i}
        for i, (s, a, p) in enumerate(zip(spend, age, plan, strict=True))
    ]  # fmt: skip
    df = spark.createDataFrame(rows, "spend double, age double, plan string, pos int")
    out = df.select("pos", *spark_features(transformer)).orderBy("pos").toPandas()
    remote = out.drop(columns="pos").to_numpy(dtype=np.float64)
    assert remote.shape == local.shape == (n, 5)
    np.testing.assert_allclose(remote, local, atol=1e-5)

    # worked out by hand for row 5 (spend missing: the median of the present values)
    present = spend[~np.isnan(spend)]
    logs = np.log1p(np.where(np.isnan(spend), np.median(present), spend))
    expected = (np.log1p(np.median(present)) - logs.mean()) / logs.std()
    assert feat.numeric_order(transformer) == ["age", "spend"]  # plain, then log columns
    assert remote[5, 1] == pytest.approx(expected, abs=1e-5)
    # row 8: plan missing -> the most frequent plan's one-hot column
    counts = pd.Series(plan).value_counts()
    levels = sorted(counts.index)
    assert list(remote[8, 2:]) == [1.0 if lv == counts.idxmax() else 0.0 for lv in levels]


# --------------------------------------------------------------------------- bad input


def _local_and_spark_errors(settings) -> tuple[str, str]:
    from model.training.spark_engine import spark_fit

    with pytest.raises(DataError) as local:
        load_dataset(settings)
    with pytest.raises(DataError) as remote:
        spark_fit(settings)
    return str(local.value), str(remote.value)


def test_bad_input_gives_the_local_engines_one_line_errors(shared_session, tmp_path):
    from model.service import SegmentService

    csv = tmp_path / "customers.csv"
    lines = ["customer_id,age,income,city"]
    lines += [f"c{i},{20 + i % 50},{1000 + i},Oslo" for i in range(60)]
    lines[13] = "c12,twelve,1012,Oslo"  # line 14 of the file
    lines[41] = "c40, n/a ,1040,Oslo"
    csv.write_text("\n".join(lines) + "\n")
    models = tmp_path / "models"

    cases = {
        "missing id": make_settings(models, csv, SEGBOT_ID_COLUMN="cust_id"),
        "missing feature": make_settings(models, csv, SEGBOT_FEATURES="age,incme"),
        "text in numbers": make_settings(models, csv, SEGBOT_FEATURES="age,income"),
    }
    expected_start = {
        "missing id": "id column 'cust_id' not found in",
        "missing feature": "unknown feature 'incme' in SEGBOT_FEATURES / --features (did you",
        "text in numbers": "column 'age' has text where numbers are expected in 2 rows "
        "(line 14: 'twelve', line 42: 'n/a')",
    }
    for case, settings in cases.items():
        local, remote = _local_and_spark_errors(settings)
        assert remote == local, case
        assert remote.startswith(expected_start[case]), remote
        assert "\n" not in remote
        # through the service: nothing stored
        with pytest.raises(DataError):
            SegmentService(settings).retrain(force=True)
        stored = [p.name for p in models.iterdir()] if models.exists() else []
        assert not [name for name in stored if name.startswith("v") or name == "CURRENT"]


def _spark_notes(spark, settings) -> list[str]:
    """The notes of the Spark engine's checks alone (no training)."""
    from model.training.spark_engine import _read, _validate

    raw, source, where = _read(spark, settings)
    return _validate(raw, settings, source, where)[3]


def _bad_tables(folder: Path) -> dict[str, tuple[Path, dict, str]]:
    """One broken rule each: (file, settings, the message worked out by hand)."""
    folder.mkdir(parents=True, exist_ok=True)

    def csv(name: str, lines: list[str]) -> Path:
        path = folder / f"{name}.csv"
        path.write_text("\n".join(lines) + "\n")
        return path

    ok = [f"c{i},{20 + i},{100 + i}" for i in range(6)]
    cities = [f"c{i},{20 + i},city{i}" for i in range(120)]  # 120 different values
    when = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(5), "D")
    dated = folder / "dated.parquet"
    pd.DataFrame({"customer_id": list("abcde"), "age": range(5), "since": when}).to_parquet(dated)
    empty_ids = ["customer_id,age,spend", *ok]
    empty_ids[2], empty_ids[5] = ",21,101", "  ,24,104"  # lines 3 and 6
    return {
        "empty ids": (
            csv("empty_ids", empty_ids),
            {},
            "id column 'customer_id' is empty in 2 rows (line 3, line 6); every customer "
            "needs an id",
        ),
        "dates listed": (
            dated,
            {"SEGBOT_FEATURES": "age,since"},
            "column 'since' holds dates or times, not numbers or categories; for a purchase "
            "log set SEGBOT_DATA_KIND=transactions (or --kind)",
        ),
        "listed column with no value": (
            csv("blank", ["customer_id,age,spend", *[f"c{i},{i}, " for i in range(5)]]),
            {"SEGBOT_FEATURES": "age,spend"},
            "feature column 'spend' has no values: it is missing in every row",
        ),
        "too many categories": (
            csv("cities", ["customer_id,age,city", *cities]),
            {"SEGBOT_FEATURES": "age,city"},
            "column 'city' has 120 different values; a categorical feature can have at "
            "most 100 (is it an id or free text?)",
        ),
        "only text": (
            csv("text", ["customer_id,city,plan", "a,Oslo,pro", "b,Rome,team"]),
            {},
            "no usable feature column in {source}: no numeric column besides the id "
            "'customer_id'; text columns city, plan are used only when listed in "
            "SEGBOT_FEATURES / --features; the columns are: customer_id, city, plan",
        ),
        "one row": (
            csv("one", ["customer_id,age,spend", ok[0]]),
            {},
            "{source} has only 1 row; segmenting needs at least 2",
        ),
        "k above the rows": (
            csv("few", ["customer_id,age,spend", *ok]),
            {"SEGBOT_K": "8"},
            "{source} has 6 rows but SEGBOT_K / --k asks for 8 segments; lower --k (or set "
            "it to auto) or add rows",
        ),
        "header only": (csv("header", ["customer_id,age,spend"]), {}, "{source} has no rows"),
    }


def test_both_engines_word_each_broken_rule_the_same(spark, tmp_path):
    """The same bad table to the local loader and to the Spark engine's checks: the
    same line, and the line worked out by hand."""
    from model.training.spark_engine import spark_fit

    for case, (path, extra, expected) in _bad_tables(tmp_path / "data").items():
        settings = make_settings(tmp_path / "models", path, **extra)
        with pytest.raises(DataError) as local:
            load_dataset(settings)
        with pytest.raises(DataError) as remote:
            spark_fit(settings, spark=spark)
        assert str(local.value) == expected.format(source=path), case
        assert str(remote.value) == str(local.value), case


def test_both_engines_note_the_same_fixes(spark, tmp_path):
    """Infinite values (missing, with a note) and a column with no value (skipped,
    with a note): the same notes from both engines."""
    path = tmp_path / "notes.csv"
    lines = ["customer_id,age,spend,empty"]
    lines += [f"c{i},{20 + i % 7},{100 + 3 * i}," for i in range(12)]
    lines[4] = "c3,inf,109,"  # line 5
    lines[9] = "c8,-inf,124,"  # line 10
    path.write_text("\n".join(lines) + "\n")
    settings = make_settings(tmp_path / "models", path)
    expected = [
        "column 'age': 2 infinite values treated as missing (line 5, line 10)",
        "column 'empty' skipped: it is missing in every row",
    ]
    assert [n for n in load_dataset(settings).notes if n in expected] == expected
    assert _spark_notes(spark, settings) == expected


def test_duplicate_ids_are_refused_by_both_engines(spark, tmp_path):
    """Same rule and wording around the duplicates; the local engine names their
    lines, Spark how many rows each has (finding lines would cost it a pass)."""
    from model.training.spark_engine import spark_fit

    path = tmp_path / "twice.csv"
    path.write_text("customer_id,age\nc1,30\nc2,40\nc1,50\nc3,60\n")
    settings = make_settings(tmp_path / "models", path)
    with pytest.raises(DataError) as local:
        load_dataset(settings)
    with pytest.raises(DataError) as remote:
        spark_fit(settings, spark=spark)
    start, end = "id column 'customer_id' has 1 duplicate id (", "); a customers table needs"
    assert str(local.value) == start + "'c1' on line 2, line 4" + end + " one row per customer"
    assert str(remote.value) == start + "'c1' on 2 rows" + end + " one row per customer"


# --------------------------------------------------------------------------- same answer


@pytest.fixture(scope="module")
def trained(spark, tmp_path_factory):
    """The bundled sample trained by both engines through the service, in this
    process: the local engine, and Spark local[2] on the module's session."""
    from model.service import SegmentService

    root = tmp_path_factory.mktemp("engines")
    runs = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        _use_session(monkeypatch, spark)
        for engine, extra in (("local", {}), ("spark", {"SEGBOT_SPARK_MASTER": "local[2]"})):
            models = root / engine
            SegmentService(make_settings(models, SEGBOT_ENGINE=engine, **extra)).retrain(force=True)
            runs[engine] = models
    return runs


def _stored(models: Path) -> tuple[dict, np.ndarray, np.ndarray]:
    meta = json.loads((models / "v1" / "metadata.json").read_text())
    return meta, np.load(models / "v1" / "ids.npy"), np.load(models / "v1" / "segments.npy")


def _assert_same_answer(spark_models: Path, local_models: Path) -> dict:
    meta_s, ids_s, seg_s = _stored(spark_models)
    meta_l, ids_l, seg_l = _stored(local_models)
    assert np.array_equal(ids_s, ids_l)  # both sorted by id
    assert adjusted_rand_score(seg_l, seg_s) >= 0.95
    assert meta_s["k"] == meta_l["k"]
    inertia_s, inertia_l = meta_s["quality"]["inertia"], meta_l["quality"]["inertia"]
    assert abs(inertia_s - inertia_l) <= 0.01 * inertia_l
    assert sorted(s["name"] for s in meta_s["segments"]) == sorted(
        s["name"] for s in meta_l["segments"]
    )
    # an independent inertia: squared distances of the stored rows to their centres
    d = np.load(spark_models / "v1" / "distances.npy")[:, 0].astype(np.float64)
    assert float(d @ d) == pytest.approx(inertia_s, rel=1e-4)
    return meta_s


def test_local_mode_agrees_with_the_local_engine(trained):
    meta = _assert_same_answer(trained["spark"], trained["local"])
    assert meta["engine"] == {
        "name": "spark",
        "master": "local[2]",
        "spark": meta["engine"]["spark"],
    }
    assert json.loads((trained["local"] / "v1" / "metadata.json").read_text())["engine"] == {
        "name": "local"
    }


def test_assignments_are_spark_sql_equal_to_numpy_distances(spark, capsys):
    """Own and runner-up cluster with distances, worked out with numpy against the
    same centres; and the plan has no Python step (no UDF, no pandas map)."""
    from model.training.spark_engine import assignments

    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 3))
    centers = rng.normal(size=(4, 3))
    rows = [(f"c{i:03d}", *map(float, r)) for i, r in enumerate(x)]
    df = spark.createDataFrame(rows, "__segbot_id string, f0 double, f1 double, f2 double")
    names = ["f0", "f1", "f2"]

    out = assignments(df, names, centers, [], []).orderBy("__segbot_id").toPandas()
    d = np.sqrt(((x[:, None, :] - centers[None, :, :]) ** 2).sum(2))
    order = np.argsort(d, axis=1)
    rows_ = np.arange(len(x))
    assert list(out["__segbot_id"]) == [r[0] for r in rows]
    np.testing.assert_array_equal(out["__label"], order[:, 0])
    np.testing.assert_array_equal(out["__second"], order[:, 1])
    np.testing.assert_allclose(out["__d1"], d[rows_, order[:, 0]], rtol=1e-6)
    np.testing.assert_allclose(out["__d2"], d[rows_, order[:, 1]], rtol=1e-6)

    # a tie (the same centre twice): the lower index is own, the other runner-up at the
    # same distance, as a stable sort orders them
    twice = np.vstack([centers[0], centers[0], centers[1]])
    tied = assignments(df, names, twice, [], []).orderBy("__segbot_id").toPandas()
    d3 = np.sqrt(((x[:, None, :] - twice[None, :, :]) ** 2).sum(2))
    order3 = np.argsort(d3, axis=1, kind="stable")
    np.testing.assert_array_equal(tied["__label"], order3[:, 0])
    np.testing.assert_array_equal(tied["__second"], order3[:, 1])
    near0 = tied["__label"].to_numpy() == 0
    assert near0.any() and (tied["__second"].to_numpy()[near0] == 1).all()
    np.testing.assert_array_equal(tied["__d1"].to_numpy()[near0], tied["__d2"].to_numpy()[near0])

    one = assignments(df, names, centers[:1], [], []).toPandas()
    assert set(one["__label"]) == {0} and set(one["__second"]) == {-1}
    assert one["__d2"].isna().all()

    capsys.readouterr()
    assignments(df, names, centers, [], []).explain(mode="formatted")
    plan = capsys.readouterr().out
    assert "Project" in plan  # the plan was printed
    # (the test's own rows come from Python: its scan says so; no step above it may)
    for python_step in ("PythonUDF", "ArrowEvalPython", "BatchEvalPython", "MapInPandas"):
        assert python_step not in plan, plan


def test_the_fit_is_lloyd_from_the_centres_it_is_given(spark):
    """Four tight blobs at the corners of a wide rectangle, k=2: both the left/right
    and the top/bottom split are fixed points of Lloyd's iterations, so the start
    decides. From each start the Spark fit ends on that start's split, at the blob
    pairs' means (worked out from the construction), as numpy's Lloyd does."""
    from model.training.selection import lloyd
    from model.training.spark_engine import _kmeans

    rng = np.random.default_rng(11)
    corners = np.array([[-10.0, 1.0], [-10.0, -1.0], [10.0, 1.0], [10.0, -1.0]])
    x = np.vstack([c + rng.normal(scale=0.05, size=(50, 2)) for c in corners])
    blob = np.repeat(np.arange(4), 50)
    rows = [(f"c{i:03d}", *map(float, r)) for i, r in enumerate(x)]
    df = spark.createDataFrame(rows, "__segbot_id string, f0 double, f1 double")
    splits = {  # start -> the rows each final centre should hold
        ((-9.0, 0.5), (9.0, -0.5)): (blob < 2, blob >= 2),  # left / right
        ((0.0, 2.0), (0.0, -2.0)): (blob % 2 == 0, blob % 2 == 1),  # top / bottom
    }
    for start, members in splits.items():
        got = _kmeans(df, ["f0", "f1"], 2, 0, np.array(start))
        expected = np.array([x[m].mean(axis=0) for m in members])
        np.testing.assert_allclose(got, expected, atol=1e-6)
        numpy_lloyd, _ = lloyd(x, np.array(start), tol=1e-12)
        np.testing.assert_allclose(got, numpy_lloyd, atol=1e-4)


def test_unreachable_master_names_the_url_and_keeps_the_served_version(trained, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(trained["local"], models)
    before = (models / "CURRENT").read_text()
    port = free_port()  # nothing listens there
    url = f"spark://127.0.0.1:{port}"
    started = time.monotonic()
    done = run_segbot(
        ["train", "--engine", "spark", "--spark-master", url, "--model-dir", str(models)],
        env=segbot_env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert time.monotonic() - started < 30
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and url in lines[0], done.stderr
    assert "cannot reach the Spark master" in lines[0]
    assert (models / "CURRENT").read_text() == before
    assert sorted(p.name for p in models.iterdir() if p.name.startswith("v")) == ["v1"]


def test_without_pyspark_one_line_says_how_to_install(tmp_path):
    """No pyspark importable: one line with the pip command (a stub package that
    fails to import stands in for a missing one)."""
    stub = tmp_path / "stub" / "pyspark"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('No module named pyspark')\n")
    env = segbot_env(PYTHONPATH=str(tmp_path / "stub"))
    done = run_segbot(
        ["train", "--engine", "spark", "--model-dir", str(tmp_path / "m")], env=env, cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "segbot: --engine spark needs pyspark, which is not installed: pip install 'segbot[spark]'"
    ]


# --------------------------------------------------------------------------- a real cluster


@pytest.fixture
def standalone(tmp_path):
    """A Spark standalone master and one worker (1 core, 1 GB) on 127.0.0.1, started
    with the scripts that ship with pyspark, stopped afterwards."""
    spark_or_skip()
    from bench.spark_cluster import ClusterError, standalone_cluster

    try:
        with standalone_cluster(tmp_path, cores=1, memory="1g") as url:
            yield url
    except ClusterError as exc:
        pytest.fail(str(exc))


def test_trains_on_a_standalone_cluster_through_the_cli(standalone, trained, tmp_path):
    """The one real `segbot train --engine spark`: its own driver JVM on a real
    cluster, Spark's output kept out of the terminal, and the bot answers from it."""
    models = tmp_path / "models"
    done = run_segbot(
        ["train", "--engine", "spark", "--spark-master", standalone, "--model-dir", str(models)],
        env=segbot_env(),
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    meta = _assert_same_answer(models, trained["local"])
    assert meta["engine"]["master"] == standalone
    # Spark's logs went to the log file, not the terminal
    for noise in ("WARN", "log4j", "SparkContext", "FutureWarning", "Stage 0"):
        assert noise not in done.stderr and noise not in done.stdout, noise
    assert (models / "spark.log").stat().st_size > 0

    ids = np.load(models / "v1" / "ids.npy")
    segments = np.load(models / "v1" / "segments.npy")
    row = 41
    customer = ids[row].decode()
    names = {s["id"]: s["name"] for s in meta["segments"]}
    ask = run_segbot(
        ["ask", "--model-dir", str(models), "--json", f"/segment customer {customer}"],
        env=segbot_env(),
        cwd=tmp_path,
    )
    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    assert answer["data"]["customer_id"] == customer
    assert names[int(segments[row])] in answer["text"]


# --------------------------------------------------------------------------- JDBC

pg_url, pg = sql_sources.pg_url, sql_sources.pg  # its PostgreSQL fixtures


@pytest.mark.postgres
def test_reads_postgresql_through_jdbc_like_the_local_reader(pg, shared_session, tmp_path):
    from model.training.spark_engine import spark_fit

    url, schema = pg
    for query in (
        f"{schema}.customers",
        f"SELECT customer_id, age, annual_income FROM {schema}.customers WHERE age < 40",
    ):
        settings = make_settings(tmp_path, SEGBOT_DATA=url, SEGBOT_DATA_QUERY=query, SEGBOT_K="3")
        local = load_dataset(settings)
        remote, fit = spark_fit(settings)
        assert remote.numeric == local.numeric
        order = np.argsort(local.ids.astype(str), kind="stable")
        assert list(remote.ids) == list(local.ids[order])  # "00042" stays text
        np.testing.assert_allclose(
            remote.frame.to_numpy(dtype=float),
            local.frame.to_numpy(dtype=float)[order],
            rtol=1e-6,
            equal_nan=True,
        )
        assert len(fit.label) == local.rows and fit.choice.k == 3
