import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from model import selection


def test_auto_finds_the_number_of_well_separated_groups():
    x, _ = make_blobs(4000, n_features=5, centers=4, cluster_std=1.0, random_state=1)
    choice = selection.choose_k(x.astype(np.float32), k_max=10, fixed_k=None)
    assert choice.k == 4
    assert choice.ks == list(range(1, 11)) and len(choice.inertias) == 10
    assert all(a >= b for a, b in zip(choice.inertias, choice.inertias[1:], strict=False))
    assert set(choice.silhouettes) == set(range(2, 11))
    assert "k=4" in choice.reason


def test_a_fixed_k_is_honoured_and_says_so():
    x, _ = make_blobs(2000, n_features=3, centers=4, random_state=2)
    choice = selection.choose_k(x, k_max=10, fixed_k=7)
    assert choice.k == 7 and choice.ks == [7]
    assert "k=7 was set" in choice.reason


def test_large_data_fit_is_within_one_percent_of_full_kmeans():
    x, _ = make_blobs(120_000, n_features=6, centers=6, cluster_std=2.5, random_state=3)
    x = x.astype(np.float32)
    assert len(x) > selection.SELECT_SAMPLE  # the sample-then-refine path
    ours = selection.fit_final(x, 6, seed=0)
    full = KMeans(6, n_init=10, random_state=0).fit(x)
    assert ours.inertia_ <= full.inertia_ * 1.01


def test_distances_agree_with_predict_and_rank_the_runner_up():
    x, _ = make_blobs(3000, n_features=4, centers=3, random_state=4)
    x = x.astype(np.float32)
    km = selection.fit_final(x, 3)
    label, d1, second, d2 = selection.distances(km, x, chunk=1000)
    assert (label == km.predict(x)).mean() > 0.999
    assert (second != label).all() and (d2 >= d1).all()
    full = km.transform(x)
    assert np.allclose(d1, full[np.arange(len(x)), label], atol=1e-3)


def test_sampled_silhouette_equals_sklearns_on_the_same_rows():
    from sklearn.metrics import silhouette_score

    x, y = make_blobs(6000, n_features=5, centers=4, cluster_std=3.0, random_state=5)
    x = x.astype(np.float32)
    rows = selection.sample_rows(len(x), 2500, 7)
    ours = selection.silhouette(x, y, 2500, seed=7)
    assert ours == pytest.approx(silhouette_score(x[rows], y[rows]), abs=1e-4)
    assert selection.silhouette(x, np.zeros(len(x), dtype=int)) is None
