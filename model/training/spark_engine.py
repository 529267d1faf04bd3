"""The Spark training engine (`--engine spark`, docs/interface.md §5).

What runs where:

- executors: reading the source (Parquet/CSV file or folder, a database through
  Spark's JDBC reader), the checks of `model.data.load` (missing columns, text in a
  numeric column, empty or duplicate ids), the features (median impute, log1p,
  scaling, one-hot as Spark SQL expressions), MLlib's `KMeans` (Lloyd) on the
  assembled feature vectors from the driver sample's centres, and each row's own and
  runner-up cluster (Spark SQL expressions against the centres), sorted by id and
  written as Parquet. No Python runs on the executors and no row passes through
  Python on the way (Python workers start only to point at the rows named in an
  error message);
- driver: a sample of at most `pipeline.FIT_SAMPLE` rows, on which the
  scikit-learn `ColumnTransformer` is fitted exactly as the local engine fits
  it (the Spark expressions are built from its fitted statistics, so the stored
  pipeline predicts a prospect as Spark assigned the rows) and k is chosen by
  `selection.choose_k`; then the Parquet is read back in batches into the
  per-row arrays, and `model.training.train` finishes the version with the stages it
  shares with the local engine (matching, naming, quality, files, charts).

pyspark is imported only here and only when this engine runs. Spark's own logs
and the JVM's output go to `<model dir>/spark.log`. Memory: the driver holds the
sample and the final per-row arrays (what the version folder stores); set
`SPARK_DRIVER_MEMORY` / `SPARK_EXECUTOR_MEMORY` (or `spark-defaults.conf` in
`SPARK_CONF_DIR`) for big tables.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from model.config import Settings
from model.data import load, messages, rules
from model.data.ids import ROW_IDS
from model.errors import DataError, SegbotError
from model.training import pipeline as feat
from model.training import selection

if TYPE_CHECKING:
    from model.training.stages import EngineFit

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'segbot[spark]'"
CONNECT_TIMEOUT = 5.0  # seconds per master address
KMEANS_MAX_ITER = 300  # as the local engine's Lloyd
KMEANS_TOL = 1e-6  # largest centre move (scaled units); ml's default 1e-4 stops early
SHUFFLE_PARTITIONS = 16  # the id sort and duplicate check; Spark's 200 is slow on small data
LOG_CONFIG = Path(__file__).with_name("spark-log4j2.properties")
POSTGRES_JAR = Path("/usr/share/java/postgresql.jar")  # Debian: libpostgresql-jdbc-java

_ID = "__segbot_id"
_FEATURE = "__segbot_f{}"
_NUMERIC_TYPES = ("byte", "short", "int", "long", "float", "double", "decimal", "boolean")


class SparkUnavailable(SegbotError):
    """pyspark or Java is missing, or the Spark master cannot be reached."""


Progress = Callable[[str, float], None]


# --------------------------------------------------------------------------- public


def spark_fit(
    settings: Settings, progress: Progress | None = None, spark: Any = None
) -> tuple[load.Dataset, EngineFit]:
    """Read, check and cluster `settings.data` on Spark: the validated dataset (ids
    sorted) and the fit for `train.train_version`. `spark`: a session to use
    (tests); otherwise one is started for `settings.spark_master` and stopped."""
    progress = progress or (lambda stage, fraction: None)
    _require_pyspark()
    if settings.data_kind == "transactions":
        raise DataError(
            "--engine spark trains on a customers table; aggregate the purchase log with "
            "--engine local, or give Spark one row per customer"
        )
    master = settings.spark_master
    if spark is None:
        check_master(master)
    log_path = Path(settings.model_dir) / "spark.log"
    with _session(settings, log_path) if spark is None else contextlib.nullcontext(spark) as s:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="PySpark does not yet fully support")
                return _fit(s, settings, progress, master)
        except SegbotError:
            raise
        except Exception as exc:  # Py4J / Spark failures: one line, details in the log
            with contextlib.suppress(OSError), log_path.open("a") as handle:
                traceback.print_exc(file=handle)
            raise SegbotError(
                f"Spark training on {master} failed: {_first_line(exc)} (details in {log_path})"
            ) from None


def check_master(master: str) -> None:
    """For a standalone master (spark://host:port[,host:port]): fail at once, naming
    the URL, when no address answers (Spark itself retries for a minute)."""
    if not master.startswith("spark://"):
        return
    reasons = []
    for address in master[len("spark://") :].split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT):
                return
        except ValueError:
            reasons.append(f"{address!r} is not host:port")
        except OSError as exc:
            reasons.append(exc.strerror or type(exc).__name__)
    raise SparkUnavailable(
        f"cannot reach the Spark master {master} ({'; '.join(reasons)}); "
        "check SEGBOT_SPARK_MASTER / --spark-master; the served version is unchanged"
    )


def spark_features(transformer, prefix: str = _FEATURE) -> list:
    """Spark columns equal to `feat.transform(transformer, ...)`: one per output
    column, from the fitted statistics (imputed value, log1p, mean and scale;
    most frequent value and levels of a text column). Missing is null (or NaN)."""
    from pyspark.sql import functions as F

    out = []
    for name, pipe, columns in transformer.transformers_:
        if name in ("num", "log"):
            impute, scale = pipe.named_steps["impute"], pipe.named_steps["scale"]
            for j, c in enumerate(columns):
                col = F.col(c).cast("double")
                v = F.when(col.isNull() | F.isnan(col), F.lit(float(impute.statistics_[j])))
                v = v.otherwise(col)
                if name == "log":
                    v = F.log1p(v)
                out.append((v - float(scale.mean_[j])) / float(scale.scale_[j]))
        elif name == "cat":
            impute, onehot = pipe.named_steps["impute"], pipe.named_steps["onehot"]
            for j, c in enumerate(columns):
                v = F.coalesce(F.col(c), F.lit(str(impute.statistics_[j])))
                for level in onehot.categories_[j]:
                    out.append(F.when(v == F.lit(str(level)), 1.0).otherwise(0.0))
    return [col.alias(prefix.format(i)) for i, col in enumerate(out)]


# --------------------------------------------------------------------------- session


def _require_pyspark() -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "does not yet fully support pandas >= 3"
            import pyspark  # noqa: F401
    except ImportError:
        raise SparkUnavailable(
            f"--engine spark needs pyspark, which is not installed: {INSTALL_HINT}"
        ) from None


@contextlib.contextmanager
def _session(settings: Settings, log_path: Path):
    """A SparkSession for `settings.spark_master`, quiet: no UI, no console
    progress, log4j at ERROR, and the JVM's stdout/stderr in `log_path`."""
    from pyspark.sql import SparkSession

    master = settings.spark_master
    log_path.parent.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.master(master).appName("segbot-train")
    for key, value in _conf(master).items():
        builder = builder.config(key, value)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    with _jvm_output_to(log_path), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            spark = builder.getOrCreate()
        except Exception as exc:
            raise SparkUnavailable(
                f"cannot start Spark for {master}: {_first_line(exc)} "
                f"(is Java installed? details in {log_path})"
            ) from None
    try:
        spark.sparkContext.setLogLevel("ERROR")
        yield spark
    finally:
        with _jvm_output_to(log_path):
            spark.stop()


def _conf(master: str) -> dict[str, str]:
    conf = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.ansi.enabled": "false",  # a cast of "abc" to double is null, not an error
        "spark.sql.shuffle.partitions": str(SHUFFLE_PARTITIONS),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.pyspark.python": sys.executable,
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG_CONFIG}",
    }
    host = urlsplit(master.replace("spark://", "http://", 1)).hostname if "://" in master else ""
    if host in ("127.0.0.1", "localhost"):  # executors must reach the driver on loopback too
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    if POSTGRES_JAR.exists():
        conf["spark.jars"] = str(POSTGRES_JAR)
    return conf


@contextlib.contextmanager
def _jvm_output_to(log_path: Path):
    """Point this process's fds 1 and 2 at `log_path` while a JVM is started or
    stopped: the JVM (and Python workers it forks) inherit them, so Spark's
    output lands in the log while the terminal (and the progress bar) stays ours."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log_path, "ab") as handle:
        try:
            os.dup2(handle.fileno(), 1)
            os.dup2(handle.fileno(), 2)
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


# --------------------------------------------------------------------------- reading


def _read(spark, settings: Settings):
    """(Spark DataFrame, source description, row -> "line 7"/"row 6")."""
    data = None if settings.data is None else str(settings.data).strip()
    if not data:
        from model.data.sample import generate

        frame = generate(load.SAMPLE_ROWS, seed=load.SAMPLE_SEED)
        return spark.createDataFrame(frame), load.SAMPLE_SOURCE, load.at_row
    if load.URL_PATTERN.match(data):
        return _read_jdbc(spark, data, settings)
    path = Path(data).expanduser()
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    name = path.name.lower()
    base = re.sub(r"\.(gz|bz2|xz|zst)$", "", name)
    if path.is_file() and base.endswith(load.CSV_SUFFIXES):
        sep = "\t" if base.endswith(".tsv") else load.sniff_separator(path)
        if base != name:
            sep = ","
        frame = spark.read.csv(str(path), header=True, sep=sep, inferSchema=False)
        return frame, str(path), load.at_line
    if path.is_dir() or name.endswith(load.PARQUET_SUFFIXES):
        return spark.read.parquet(str(path)), str(path), load.at_row
    raise DataError(
        f"cannot read {str(path)!r} with --engine spark: unknown file type "
        f"{path.suffix or '(none)'!r}; use .csv/.parquet files or a PostgreSQL URL"
    )


def _read_jdbc(spark, url: str, settings: Settings):
    masked = load.mask_url(url)
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise DataError(
            f"--engine spark reads databases through JDBC and supports PostgreSQL URLs, not "
            f"{scheme}: ({masked}); export the table to Parquet or use --engine local"
        )
    if not settings.data_query:
        raise DataError(f"{masked} is a database: set SEGBOT_DATA_QUERY / --query to a table")
    if not POSTGRES_JAR.exists():
        raise DataError(
            f"--engine spark needs PostgreSQL's JDBC driver ({POSTGRES_JAR}, Debian package "
            "libpostgresql-jdbc-java) to read " + masked
        )
    jdbc = f"jdbc:postgresql://{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
    reader = spark.read.format("jdbc").option("url", jdbc).option("driver", "org.postgresql.Driver")
    if parts.username:
        reader = reader.option("user", parts.username)
    if parts.password:
        reader = reader.option("password", parts.password)
    query = settings.data_query.strip()
    key = "query" if re.search(r"\s", query) else "dbtable"
    try:
        return reader.option(key, query).load(), masked, load.at_row
    except Exception as exc:
        raise DataError(f"cannot read from {masked}: {_first_line(exc)}") from None


# --------------------------------------------------------------------------- checks


def _validate(df, settings: Settings, source: str, where):
    """The rules of `model.data.rules` on a Spark DataFrame, as the local loader
    checks them: the same messages, mostly in the same order. Returns
    (clean DataFrame: id text, numeric double (null = missing), text trimmed
    (null = missing); numeric names, {text name: sorted levels}, notes, rows)."""
    from pyspark.sql import functions as F

    id_column = settings.id_column
    if id_column == ROW_IDS:
        raise DataError(f"--engine spark needs an id column (--id-column {ROW_IDS} is local)")
    if settings.categorical:
        raise DataError(
            "SEGBOT_CATEGORICAL / --categorical is read by the local engine only; "
            "train with --engine local, or cast the codes to text in the source"
        )
    columns = list(df.columns)
    wanted = load.wanted_columns(columns, settings, source)
    rules.check_unique_columns(columns, source)
    if wanted is not None:
        df = df.select(*[F.col(_q(c)) for c in wanted])
    types = dict(df.dtypes)
    listed = bool(settings.features)
    names = settings.features or rules.feature_candidates(columns, id_column)

    def trimmed(c: str):
        t = F.trim(F.col(_q(c)).cast("string"))
        return F.when(t == "", None).otherwise(t)

    def raw_number(c: str):
        if types[c].startswith(_NUMERIC_TYPES):
            return F.col(_q(c)).cast("double")
        return trimmed(c).cast("double")

    def number(c: str):  # infinite -> missing, as in the local engine
        v = raw_number(c)
        return F.when(F.isnan(v) | (F.abs(v) == float("inf")), None).otherwise(v)

    # one pass: rows, ids, and per column the values present / numbers / infinities
    id_text = _id_text(F, F.col(_q(id_column)), types[id_column])
    aggs = [F.count(F.lit(1)).alias("n"), F.count(F.when(id_text.isNull(), 1)).alias("no_id")]
    kinds: dict[str, str] = {}
    for i, c in enumerate(names):
        t = types[c]
        if t.startswith(("date", "timestamp")):
            if listed:
                raise rules.dates_listed(c)
            continue
        kinds[c] = "numeric" if t.startswith(_NUMERIC_TYPES) else "string"
        raw = raw_number(c)
        is_number = F.count(F.when(raw.isNotNull() & ~F.isnan(raw), 1))
        present = is_number if kinds[c] == "numeric" else F.count(trimmed(c))
        aggs += [present.alias(f"p{i}"), is_number.alias(f"v{i}")]
        aggs.append(F.count(number(c)).alias(f"f{i}"))
    stats = df.agg(*aggs).first().asDict()
    n = int(stats["n"])
    if n == 0:
        raise rules.no_rows(source)
    if stats["no_id"]:
        rows = _first_rows(df, id_text.isNull())
        raise rules.empty_ids(id_column, int(stats["no_id"]), [i for i, _ in rows], where)

    numeric, text, notes, skipped = [], [], [], []
    for i, c in enumerate(names):
        if c not in kinds:
            continue
        present, numbers, finite = (int(stats[f"{x}{i}"]) for x in "pvf")
        if present == 0:
            rules.all_missing(c, listed, notes)
            continue
        if kinds[c] == "string":
            bad = present - numbers
            if rules.mostly_text(present, bad):
                if listed:
                    text.append(c)
                else:
                    skipped.append(c)
                continue
            if bad:
                hit = trimmed(c).isNotNull() & (raw_number(c).isNull() | F.isnan(raw_number(c)))
                raise rules.text_in_numbers(c, bad, _first_rows(df, hit, trimmed(c)), where)
        if finite < numbers:  # infinite values: missing, as in the local engine
            rows = _first_rows(df, F.abs(raw_number(c)) == float("inf"))
            note = rules.infinite_note(c, numbers - finite, [r for r, _ in rows], where)
            notes.append(note)
            log.warning(note)
        if finite == 0:
            rules.all_missing(c, listed, notes)
            continue
        numeric.append(c)
    levels: dict[str, list[str]] = {}
    for c in text:
        values = [
            r[0] for r in df.select(trimmed(c)).distinct().limit(rules.MAX_CATEGORIES + 1).collect()
        ]
        values = [v for v in values if v is not None]
        if len(values) > rules.MAX_CATEGORIES:  # count them all only to say how many
            rules.check_categories(c, df.select(trimmed(c)).dropna().distinct().count())
        levels[c] = values
    if not numeric and not levels:
        raise rules.no_usable_feature(source, id_column, skipped, columns)
    rules.check_enough_rows(n, source, settings.fixed_k)
    # listed order (or the table's), numeric and text keep it
    order = [c for c in names if c in numeric or c in levels]
    clean = df.select(
        id_text.alias(_ID),
        *[(number(c) if c in numeric else trimmed(c)).alias(c) for c in order],
    )
    twice = clean.groupBy(_ID).count().filter("count > 1")
    dupes = twice.limit(messages.SHOW).collect()
    if dupes:
        shown = [f"{messages.quote(r[_ID])} on {r['count']} rows" for r in dupes]
        raise rules.duplicate_ids(id_column, twice.count(), shown)
    numeric = [c for c in order if c in numeric]
    levels = {c: levels[c] for c in order if c in levels}
    return clean, numeric, levels, notes, n


def _id_text(F, col, dtype: str):
    """Ids as text like `ids.id_strings`: whole numbers without ".0"; blank is null."""
    if dtype in ("float", "double"):
        col = F.when(col == F.floor(col), col.cast("long").cast("string")).otherwise(
            col.cast("string")
        )
    else:
        col = col.cast("string")
    return F.when(F.trim(col) == "", None).otherwise(col)


def _first_rows(df, condition, value=None) -> list[tuple[int, Any]]:
    """The first `messages.SHOW` (0-based position, value) where `condition` holds, in
    the order the source holds the rows (only on the way to an error message)."""
    from pyspark.sql import functions as F

    picked = df.select(condition.alias("hit"), (value if value is not None else F.lit(None)))
    hits = picked.rdd.zipWithIndex().filter(lambda t: bool(t[0][0])).take(messages.SHOW)
    return [(int(i), row[1]) for row, i in hits]


def _q(name: str) -> str:
    """A column name for `F.col`: backquoted, so dots and spaces are literal."""
    return "`" + name.replace("`", "``") + "`"


# --------------------------------------------------------------------------- training


def _fit(spark, settings: Settings, progress: Progress, master: str):
    from model.training.stages import EngineFit
    from model.training.train import Laps

    seed = settings.seed
    lap = Laps()
    timings = lap.timings

    progress("reading data on Spark", 0.04)
    raw, source, where = _read(spark, settings)
    clean, numeric, levels, notes, n = _validate(raw, settings, source, where)
    categorical = list(levels)
    clean = clean.persist()
    lap("spark_load")

    progress("building features", 0.10)
    sample = _driver_frame(_sample(clean, n, feat.FIT_SAMPLE, seed), numeric, categorical)
    transformer = feat.fit_transformer(sample, numeric, categorical, seed)
    xs = feat.transform(transformer, sample)
    lap("features")

    progress("choosing k", 0.25)
    choice = selection.choose_k(
        xs,
        settings.k_max,
        settings.fixed_k,
        seed,
        k_min=settings.k_min,
        min_share=settings.min_segment_share,
    )
    del xs
    lap("choose_k")

    progress(f"fitting {choice.k} segments on {n:,} customers (Spark)", 0.45)
    columns = spark_features(transformer)
    names = [_FEATURE.format(i) for i in range(len(columns))]
    scaled = clean.select("*", *columns)
    centers = _kmeans(scaled, names, choice.k, seed, choice.centers.get(choice.k))
    lap("fit")

    progress("assigning every customer (Spark)", 0.60)
    out_dir = Path(tempfile.mkdtemp(prefix=".spark-assign-", dir=_tmp_root(settings)))
    try:
        _assign(scaled, names, centers, numeric, categorical, out_dir / "rows")
        lap("assign")
        progress("collecting assignments", 0.70)
        ids, frame, label, d1, second, d2, codes = _read_back(
            out_dir / "rows", n, numeric, categorical, levels
        )
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
        clean.unpersist()
    lap("collect")

    km = selection.fitted_kmeans(centers.astype(np.float32), seed)
    km.inertia_ = float(np.dot(d1.astype(np.float64), d1.astype(np.float64)))
    dataset = load.Dataset(
        id_array=ids,
        frame=frame,
        numeric=numeric,
        categorical=categorical,
        source=source,
        digest=load.digest_of("customers", ids, frame, codes),
        kind="customers",
        notes=notes,
    )

    def points(rows: np.ndarray) -> np.ndarray:  # scaled rows, made on demand on the driver
        return feat.transform(transformer, frame.iloc[rows])

    fit = EngineFit(
        transformer=transformer,
        choice=choice,
        km=km,
        label=label,
        d1=d1,
        second=second,
        d2=d2,
        points=points,
        engine={"name": "spark", "master": master, "spark": spark.version},
        timings=timings,
    )
    return dataset, fit


def _tmp_root(settings: Settings) -> str:
    """Where executors write the assignments: beside the versions (a shared disk on a
    cluster) unless SEGBOT_SPARK_TMP names another folder all machines see."""
    root = os.environ.get("SEGBOT_SPARK_TMP") or str(settings.model_dir)
    Path(root).mkdir(parents=True, exist_ok=True)
    return root


def _sample(df, n: int, size: int, seed: int) -> pd.DataFrame:
    if n > size:  # a little more than needed, then cut: Spark's sample is Bernoulli
        df = df.sample(False, min(1.0, 1.1 * size / n), seed).limit(size)
    return df.drop(_ID).toPandas()


def _driver_frame(frame: pd.DataFrame, numeric: list[str], categorical: list[str]):
    """Columns as `load.Dataset.frame` holds them: float64 with NaN, object with NaN."""
    data: dict[str, Any] = {
        c: frame[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in numeric
    }
    for c in categorical:
        col = frame[c].astype(object)
        data[c] = pd.Series(col.where(col.notna(), np.nan).to_numpy(dtype=object), dtype=object)
    return pd.DataFrame(data, columns=[*numeric, *categorical])


def _kmeans(scaled, names: list[str], k: int, seed: int, start: np.ndarray | None) -> np.ndarray:
    """Centres of Spark MLlib's KMeans (Lloyd) on every row, in the JVM, from
    `start`: the centres `selection.choose_k` already fitted on the driver sample,
    as the local engine starts its Lloyd from a sample's centres. From good
    centres one run suffices; Spark's own k-means|| starts each cost a run of
    jobs before Lloyd's, and a single one can end far above the local engine's
    inertia (bench/bench_spark.py times both engines).

    pyspark.ml KMeans takes no initial centres, so this calls mllib's in the JVM
    through py4j; the vectors go from the DataFrame to mllib's RDD with Spark's
    own converter (`DatasetUtils.columnToOldVector`, what ml KMeans uses), so no
    row passes through Python (pyspark.mllib's `KMeans.train` would pickle
    every row to Python workers and back). That converter is Spark-internal
    (`private[spark]` in Scala, callable through py4j; checked in 4.3.0): a
    release without it fails the fit with one line naming it."""
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import functions as F

    if k == 1:  # one centre is the mean
        return np.array([scaled.agg(*[F.avg(c) for c in names]).first()], dtype=np.float64)
    vectors = VectorAssembler(inputCols=names, outputCol="__features").transform(
        scaled.select(*names)
    )
    sc = scaled.sparkSession.sparkContext
    jvm = sc._jvm
    rdd = jvm.org.apache.spark.ml.util.DatasetUtils.columnToOldVector(vectors._jdf, "__features")
    rdd.persist(jvm.org.apache.spark.storage.StorageLevel.MEMORY_AND_DISK())
    try:
        algo = (
            jvm.org.apache.spark.mllib.clustering.KMeans()
            .setK(k)
            .setMaxIterations(KMEANS_MAX_ITER)
            .setEpsilon(KMEANS_TOL)
            .setSeed(seed)
        )
        if start is not None and len(start) == k:
            algo = algo.setInitialModel(
                jvm.org.apache.spark.mllib.clustering.KMeansModel(_jvm_vectors(sc, start))
            )
        model = algo.run(rdd)
    finally:
        rdd.unpersist(False)
    log.info("Spark KMeans: cost %.6g, %d iterations", model.trainingCost(), model.numIter())
    return np.array([list(c.toArray()) for c in model.clusterCenters()], dtype=np.float64)


def _jvm_vectors(sc, rows: np.ndarray):
    """A java.util.List of mllib dense vectors (the initial centres)."""
    gateway, jvm = sc._gateway, sc._jvm
    out = jvm.java.util.ArrayList()
    for row in np.asarray(rows, dtype=np.float64):
        values = gateway.new_array(gateway.jvm.double, len(row))
        for i, v in enumerate(row):
            values[i] = float(v)
        out.add(jvm.org.apache.spark.mllib.linalg.Vectors.dense(values))
    return out


def _assign(scaled, names, centers, numeric, categorical, path: Path) -> None:
    """`assignments` sorted by id, written as Parquet by the executors."""
    # ids compare as UTF-8 bytes in Spark, as in Arrow: the files come out in id order
    assignments(scaled, names, centers, numeric, categorical).orderBy(_ID).write.parquet(str(path))


def assignments(scaled, names, centers, numeric, categorical):
    """Each row's id, values, own and runner-up cluster and distances, as Spark
    SQL expressions against the centres: no Python on the executors, and no
    per-row array: `least` of the k squared distances, then a CASE that names
    the first cluster at that distance (ties go to the lower index, as a sort
    would), then the same again with the own cluster left out (`least` skips
    nulls)."""
    from pyspark.sql import functions as F

    k = len(centers)
    values = [_q(c) for c in numeric + categorical]
    sq = [f"__sq{j}" for j in range(k)]
    squared = [
        sum(((F.col(n) - float(c[i])) ** 2 for i, n in enumerate(names)), F.lit(0.0)).alias(sq[j])
        for j, c in enumerate(centers)
    ]

    def first_at(distance, columns):  # the lowest j whose column equals `distance`
        chain = F.when(columns[0][1] == distance, F.lit(columns[0][0]))
        for j, col in columns[1:]:
            chain = chain.when(col == distance, F.lit(j))
        return chain

    rows = scaled.select(_ID, *values, *squared)  # each distance computed once per row
    d = [(j, F.col(s)) for j, s in enumerate(sq)]
    rows = rows.select(
        _ID, *values, *sq, (F.least(*[c for _, c in d]) if k > 1 else d[0][1]).alias("__m1")
    )
    rows = rows.select(_ID, *values, *sq, "__m1", first_at(F.col("__m1"), d).alias("__label"))
    if k == 1:
        return rows.select(
            _ID,
            *values,
            F.col("__label").cast("short").alias("__label"),
            F.sqrt("__m1").cast("float").alias("__d1"),
            F.lit(-1).cast("short").alias("__second"),
            F.lit(None).cast("float").alias("__d2"),
        )
    others = [(j, F.when(F.col("__label") != j, c)) for j, c in d]
    rows = rows.select(
        _ID, *values, *sq, "__m1", "__label", F.least(*[c for _, c in others]).alias("__m2")
    )
    return rows.select(
        _ID,
        *values,
        F.col("__label").cast("short").alias("__label"),
        F.sqrt("__m1").cast("float").alias("__d1"),
        first_at(F.col("__m2"), others).cast("short").alias("__second"),
        F.sqrt("__m2").cast("float").alias("__d2"),
    )


def _read_back(path: Path, n: int, numeric, categorical, levels):
    """The sorted Parquet parts into the per-row arrays, batch by batch: the driver
    holds the arrays and one batch, never a DataFrame of every row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = sorted(p for p in path.glob("part-*.parquet"))
    label = np.empty(n, dtype=np.int16)
    second = np.empty(n, dtype=np.int16)
    d1 = np.empty(n, dtype=np.float32)
    d2 = np.empty(n, dtype=np.float32)
    values = {c: np.empty(n, dtype=np.float64) for c in numeric}
    codes = {c: np.empty(n, dtype=np.int64) for c in categorical}
    lookup = {c: pd.Index(levels[c]) for c in categorical}
    ids: list[pa.Array] = []
    at = 0
    for part in parts:
        for batch in pq.ParquetFile(part).iter_batches(batch_size=262_144):
            m = batch.num_rows
            cols = dict(zip(batch.schema.names, batch.columns, strict=True))
            ids.append(cols[_ID])
            label[at : at + m] = cols["__label"].to_numpy(zero_copy_only=False)
            second[at : at + m] = cols["__second"].to_numpy(zero_copy_only=False)
            d1[at : at + m] = cols["__d1"].to_numpy(zero_copy_only=False)
            d2[at : at + m] = cols["__d2"].fill_null(np.nan).to_numpy(zero_copy_only=False)
            for c in numeric:
                values[c][at : at + m] = cols[c].fill_null(np.nan).to_numpy(zero_copy_only=False)
            for c in categorical:
                codes[c][at : at + m] = lookup[c].get_indexer(
                    cols[c].to_pandas().to_numpy(dtype=object)
                )
            at += m
    if at != n:
        raise SegbotError(f"Spark wrote {at:,} assignments for {n:,} customers")
    id_array = pa.concat_arrays(ids).cast(pa.large_string()) if ids else pa.array([], pa.string())
    data: dict[str, Any] = dict(values)
    cat_codes = {}
    for c in categorical:
        level_values = np.asarray(levels[c], dtype=object)
        cat_codes[c] = (codes[c], level_values)
        data[c] = pd.Series(np.append(level_values, np.nan)[codes[c]], dtype=object, copy=False)
    frame = pd.DataFrame(data, columns=[*numeric, *categorical], copy=False)
    return id_array, frame, label, d1, second, d2, cat_codes


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("at ", "Traceback")):
            return line[:300]
    return type(exc).__name__
