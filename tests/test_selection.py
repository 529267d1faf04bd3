from pathlib import Path

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from model.training import selection


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


# --- the k range: auto picks within k_min..k_max -----------------------------


def two_blobs(n: int = 2000, seed: int = 6) -> np.ndarray:
    """Two tight, far-apart groups: the inertia curve bends at k=2 and the
    silhouette is best at 2, so only k_min keeps auto from a high/low split."""
    x, _ = make_blobs(n, n_features=3, centers=[[0, 0, 0], [20, 20, 20]], random_state=seed)
    return x


def skewed_customers(n: int = 6000, seed: int = 8) -> np.ndarray:
    """Standardised log RFM of a log where 60% bought once: no clear groups."""
    rng = np.random.default_rng(seed)
    once = rng.random(n) < 0.6
    frequency = np.where(once, 1, 2 + rng.geometric(0.25, n))
    recency = rng.integers(0, 700, n)
    monetary = rng.lognormal(np.log(40), 0.8, n) * frequency
    x = np.log1p(np.column_stack([frequency, recency, monetary]).astype(float))
    return (x - x.mean(0)) / x.std(0)


@pytest.mark.parametrize(
    "data",
    [
        lambda: two_blobs(),
        lambda: skewed_customers(),
        lambda: make_blobs(400, n_features=6, centers=2, cluster_std=3.0, random_state=9)[0],
        lambda: np.random.default_rng(10).normal(size=(400, 5)),
    ],
    ids=["two-blobs", "skewed-log", "400-rows-two-groups", "400-rows-noise"],
)
@pytest.mark.parametrize("k_min", [3, 4])
def test_auto_never_chooses_fewer_than_k_min(data, k_min):
    choice = selection.choose_k(data(), k_max=10, fixed_k=None, k_min=k_min)
    assert k_min <= choice.k <= 10
    assert choice.ks == list(range(1, 11))  # the elbow still shows k=1 and 2


def test_two_groups_give_k_min_and_say_the_curve_bent_lower():
    choice = selection.choose_k(two_blobs(), k_max=8, fixed_k=None)
    assert choice.knee == 2 and max(choice.silhouettes, key=choice.silhouettes.get) == 2
    assert choice.k == 3
    assert choice.reason.startswith("the curve bends at k=2, below the smallest k tried (3)")
    assert "k=3" in choice.reason


def test_k_two_only_when_asked():
    x = two_blobs()
    assert selection.choose_k(x, k_max=8, fixed_k=None, k_min=2).k == 2
    fixed = selection.choose_k(x, k_max=8, fixed_k=2, k_min=3)
    assert fixed.k == 2 and fixed.reason.startswith("k=2 was set")


@pytest.mark.parametrize(
    ("rows", "expected_k"),
    [(2, 1), (3, 2), (4, 3)],
)
def test_fewer_customers_than_k_min_fall_back_with_a_reason(rows, expected_k):
    # Distinct customers on a line; k can be at most rows - 1 (one customer alone
    # in every segment but one tells nothing).
    x = np.arange(rows, dtype=float)[:, None] * np.array([[1.0, 2.0]])
    choice = selection.choose_k(x, k_max=10, fixed_k=None, k_min=3)
    assert choice.k == expected_k
    if expected_k < 3:
        assert "too few distinct customers" in choice.reason


def test_duplicates_count_once_when_there_are_fewer_distinct_customers_than_k_min():
    x = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 20, axis=0)
    choice = selection.choose_k(x, k_max=10, fixed_k=None, k_min=3)
    assert choice.k == 2
    assert choice.reason == "too few distinct customers for k=3, the smallest k tried; k=2"


@pytest.mark.parametrize(
    ("knee", "silhouettes", "k_min", "k", "reason"),
    [
        # a neighbour must be clearly better (>= 0.01) to replace the knee
        (
            3,
            {2: 0.41, 3: 0.350, 4: 0.355},
            3,
            3,
            "knee of the inertia curve at k=3 (silhouette 0.35)",
        ),
        (
            4,
            {2: 0.60, 3: 0.40, 4: 0.46, 5: 0.50},
            3,
            5,
            "knee of the inertia curve at k=4; k=5 next to it separates better"
            " (silhouette 0.50 vs 0.46)",
        ),
        # knee at 3, but 2 is allowed only with k_min=2
        (
            3,
            {2: 0.50, 3: 0.40, 4: 0.30},
            3,
            3,
            "knee of the inertia curve at k=3 (silhouette 0.40)",
        ),
        (
            3,
            {2: 0.50, 3: 0.40, 4: 0.30},
            2,
            2,
            "knee of the inertia curve at k=3; k=2 next to it separates better"
            " (silhouette 0.50 vs 0.40)",
        ),
        (
            2,
            {2: 0.60, 3: 0.40, 4: 0.45},
            3,
            4,
            "the curve bends at k=2, below the smallest k tried (3); k=4 separates better"
            " (silhouette 0.45 vs 0.40)",
        ),
        (None, {2: 0.60, 3: 0.30, 4: 0.35}, 3, 4, "no clear knee; best silhouette 0.35 at k=4"),
    ],
)
def test_the_rule_and_its_reason(knee, silhouettes, k_min, k, reason):
    got_k, got_reason = selection._pick(knee, silhouettes, k_min, hi=10)
    assert got_k == k
    assert got_reason.startswith(reason)


# --- the same k whatever the seed, on the real feature matrices --------------

MALL = "tests/data/mall_customers.csv"
MALL_INCOME_SPENDING = "Annual Income (k$),Spending Score (1-100)"


def feature_matrix(seed: int, **values) -> np.ndarray:
    """What `segbot train` clusters: the loaded table through the fitted transformer."""
    from model.data.load import load_dataset
    from model.training import pipeline as feat
    from tests.conftest import make_settings

    settings = make_settings(Path("unused"), SEGBOT_SEED=seed, **values)
    dataset = load_dataset(settings)
    transformer = feat.fit_transformer(
        dataset.frame, dataset.numeric, dataset.categorical, settings.seed
    )
    return feat.transform(transformer, dataset.frame)


@pytest.mark.parametrize(
    ("data", "expected_k"),
    [
        # the bundled sample is drawn from five latent groups (model.data.sample.GROUPS)
        ({}, 5),
        # income x spending score of the Mall data: five blobs, the textbook answer
        ({"SEGBOT_DATA": MALL, "SEGBOT_ID_COLUMN": "CustomerID",
          "SEGBOT_FEATURES": MALL_INCOME_SPENDING}, 5),
        # all three numeric columns: no single textbook answer, but no seed may move it
        # (3 k-means++ restarts gave 4 for seed 2 and 5 otherwise)
        ({"SEGBOT_DATA": MALL, "SEGBOT_ID_COLUMN": "CustomerID"}, 5),
    ],
    ids=["bundled-sample", "mall-income-spending", "mall-all"],
)  # fmt: skip
@pytest.mark.parametrize("seed", range(5))
def test_auto_chooses_the_same_k_for_every_seed(data, expected_k, seed):
    x = feature_matrix(seed, **data)
    assert selection.choose_k(x, k_max=10, fixed_k=None, seed=seed).k == expected_k
