"""The shortcuts taken for speed give the same answers as the code they replace.

Each fast path in the core is checked against the straightforward
version: sklearn's own transform, kneed's knee, sklearn's ARI and KMeans, numpy
string arrays.
"""

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from model.data.sample import generate
from model.training import pipeline as feat
from model.training import selection
from model.training.stages import ari, label_sums
from model.versions.metadata import VersionMeta
from model.versions.version import LoadedVersion, common_rows, decode_ids, fixed_width_ids


@pytest.mark.parametrize("categorical", [[], ["gender"]])
def test_fast_transform_is_identical_to_sklearns(categorical, monkeypatch):
    df = generate(5000, seed=11)
    numeric = [c for c in df.columns if c not in ("customer_id", "gender")]
    t = feat.fit_transformer(df, numeric, categorical)
    assert feat.log_columns(t)  # both the plain and the log branch are exercised
    monkeypatch.setattr(feat, "TRANSFORM_CHUNK", 1500)  # several chunks
    fast = feat.transform(t, df)
    slow = feat._transform_sklearn(t, df)
    assert fast.dtype == np.float32
    assert np.array_equal(fast, slow)


def test_transform_falls_back_when_the_imputer_dropped_a_column():
    df = pd.DataFrame({"a": np.arange(10.0), "b": [np.nan] * 10})
    t = feat.build_transformer(["a", "b"], [], [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t.fit(df)
        assert feat._numeric_plan(t) is None
        assert np.array_equal(feat.transform(t, df), feat._transform_sklearn(t, df))


def test_find_knee_matches_kneed():
    from kneed import KneeLocator

    rng = np.random.default_rng(3)
    for trial in range(400):
        n = int(rng.integers(3, 14))
        ks = list(range(1, n + 1))
        if trial % 3 == 0:
            y = np.sort(rng.random(n))[::-1] * 1000
        elif trial % 3 == 1:
            y = 1000 / np.arange(1, n + 1) ** rng.uniform(0.2, 3) + rng.normal(0, 5, n)
        else:
            y = np.round(np.sort(rng.random(n))[::-1] * 10)  # ties and flat stretches
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            knee = KneeLocator(ks, list(y), curve="convex", direction="decreasing").knee
        expected = int(knee) if knee is not None else None
        assert selection.find_knee(ks, list(y)) == expected, (ks, list(y))
    assert selection.find_knee([1, 2, 3], [5.0, 5.0, 5.0]) is None


def test_cached_silhouette_equals_the_one_off():
    x, _ = make_blobs(8000, n_features=4, centers=5, random_state=2)
    x = x.astype(np.float32)
    scorer = selection.SampledSilhouette(x, 2000, seed=1)
    for k in (2, 3, 5):
        labels = KMeans(k, n_init=1, random_state=0).fit(x).labels_
        assert scorer.score(labels) == selection.silhouette(x, labels, 2000, seed=1)


def test_lloyd_on_all_rows_agrees_with_sklearn():
    x, _ = make_blobs(80_000, n_features=5, centers=4, cluster_std=2.0, random_state=6)
    x = x.astype(np.float32)
    km, (label, d1, second, d2) = selection.fit_final_with_distances(x, 4, seed=0)
    rows = selection.sample_rows(len(x), selection.SELECT_SAMPLE, 1)
    start = KMeans(4, n_init=10, random_state=0).fit(x[rows]).cluster_centers_
    ref = KMeans(4, init=start, n_init=1).fit(x)
    assert km.inertia_ == pytest.approx(ref.inertia_, rel=1e-3)
    assert (km.predict(x) == label).mean() > 0.9999
    assert np.array_equal(km.labels_, label)
    assert np.allclose(d1**2, km.transform(x).min(1) ** 2, rtol=1e-3, atol=1e-3)
    assert (d2 >= d1).all() and (second != label).all()


def test_ari_is_sklearns():
    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(1, 400))
        a = rng.integers(1, int(rng.integers(2, 8)), n).astype(np.int16)
        b = a.copy() if rng.random() < 0.3 else rng.integers(1, 6, n).astype(np.int16)
        assert ari(a, b) == adjusted_rand_score(a, b)


def test_label_sums_skip_missing_values():
    col = np.array([1.0, np.nan, 3.0, 4.0, np.nan])
    labels = np.array([0, 0, 1, 1, 1])
    sums, counts = label_sums([col], labels, 2)
    assert sums[:, 0].tolist() == [1.0, 7.0] and counts[:, 0].tolist() == [1, 2]


def test_fixed_width_ids_keep_every_id_and_arrows_order():
    ids = ["C2", "00042", "7", "ünïcødé", "a b", "0007", "Z" * 30, "é"]
    for arrow_type in (pa.string(), pa.large_string()):
        arr = pa.array(ids, type=arrow_type)
        keys = fixed_width_ids(arr)
        assert keys.dtype.kind == "S"
        assert decode_ids(keys).tolist() == ids
        order = np.argsort(keys, kind="stable")
        import pyarrow.compute as pc

        assert order.tolist() == pc.sort_indices(arr).to_pylist()
    same = fixed_width_ids(pa.array(["C001", "C002", "C003"]).slice(1))
    assert same.tolist() == [b"C002", b"C003"]


def _version(keys: np.ndarray) -> LoadedVersion:
    n = len(keys)
    return LoadedVersion(
        name="v1",
        path=None,  # type: ignore[arg-type]
        metadata=VersionMeta(version="v1", segments=[]),
        keys=keys,
        segments=np.ones(n, dtype=np.int16),
        runner_up=np.full(n, -1, dtype=np.int16),
        distances=np.zeros((n, 2), dtype=np.float32),
        values=np.zeros((n, 0), dtype=np.float32),
    )


@pytest.mark.parametrize("stored", ["S", "U"])
def test_lookup_by_exact_id_with_bytes_and_str_ids(stored):
    ids = sorted(["00042", "42", "C1", "C10", "ünï"], key=lambda s: s.encode())
    keys = fixed_width_ids(pa.array(ids)) if stored == "S" else np.array(ids)
    v = _version(keys)
    for i, cid in enumerate(ids):
        assert v.row_of(cid) == i
    for missing in ("0042", "C", "C100", "C10 ", "ünïx", "", "\udcff"):
        assert v.row_of(missing) is None
    assert v.ids.tolist() == ids
    assert v.id_strings(np.array([1, 3])).tolist() == [ids[1], ids[3]]


def test_common_rows_across_id_widths():
    old = np.array(["A1", "A3", "B2", "ünï"], dtype="U")
    old_keys = fixed_width_ids(pa.array(sorted(old.tolist(), key=str.encode)))
    new_keys = fixed_width_ids(pa.array(["A1", "A2", "A3", "B22", "ünï"]))
    ia, ib = common_rows(old_keys, new_keys)
    assert old_keys[ia].tolist() == new_keys[ib].tolist() == [b"A1", b"A3", "ünï".encode()]


def test_dataset_ids_are_python_strings_on_demand(tmp_path):
    from model.config import Settings
    from model.data.load import load_dataset
    from model.data.sample import write_sample

    path = write_sample(tmp_path / "c.parquet", rows=300, seed=1)
    data = load_dataset(Settings(_env_file=None, SEGBOT_DATA=str(path)))
    assert data._ids is None  # nothing made until asked
    assert data.ids.dtype == object and data.ids[0] == "C00000001"
    assert data.ids.tolist() == data.id_array.to_pylist()
