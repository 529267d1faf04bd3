"""Synthetic customers (model.data.sample): deterministic, realistic, written safely."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.data.sample import BLOCK_ROWS, COLUMNS, MISSING, generate, write_sample
from model.errors import DataError

NUMERIC = [c for c in COLUMNS if c not in ("customer_id", "gender")]


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return generate(20_000, seed=42)


def test_same_seed_same_rows_other_seed_other_rows():
    pd.testing.assert_frame_equal(generate(2000, seed=7), generate(2000, seed=7))
    assert not generate(2000, seed=7).equals(generate(2000, seed=8))


def test_rows_do_not_depend_on_how_they_are_asked_for():
    whole = generate(BLOCK_ROWS + 100, seed=3)
    # a slice that straddles two generator blocks
    part = generate(150, seed=3, start=BLOCK_ROWS - 50)
    pd.testing.assert_frame_equal(part, whole.iloc[BLOCK_ROWS - 50 :].reset_index(drop=True))
    assert part["customer_id"].iloc[0] == f"C{BLOCK_ROWS - 49:08d}"
    assert len(generate(0)) == 0


def test_columns_and_dtypes(customers):
    assert list(customers.columns) == COLUMNS
    assert isinstance(customers.index, pd.RangeIndex)
    ids = customers["customer_id"]
    assert pd.api.types.is_string_dtype(ids.dtype)
    assert ids.iloc[0] == "C00000001" and ids.is_unique and ids.notna().all()
    assert set(customers["gender"].dropna()) == {"Female", "Male", "Other"}
    for name in NUMERIC:
        assert customers[name].dtype == np.float64, name
    assert customers["age"].min() >= 18 and customers["age"].max() <= 90
    assert (customers["orders_per_year"] >= 1).all()
    assert (customers["tenure_months"] >= 1).all()


def test_a_few_percent_missing(customers):
    for name, share in MISSING.items():
        assert abs(customers[name].isna().mean() - share) < 0.01, name
    for name in ("customer_id", "orders_per_year", "total_spend", "tenure_months"):
        assert customers[name].notna().all(), name


def test_outliers_exist(customers):
    assert (customers["annual_income"] > 250_000).sum() > 10  # ~0.2% extreme incomes
    spend = customers["total_spend"]
    assert spend.max() > 10 * spend.quantile(0.99)


def test_total_spend_follows_orders_basket_and_tenure(customers):
    full = customers.dropna(subset=["avg_order_value"])
    expected = full["orders_per_year"] * full["avg_order_value"] * full["tenure_months"] / 12
    assert np.corrcoef(np.log(full["total_spend"]), np.log(expected))[0, 1] > 0.95


def test_latent_groups_are_there(customers):
    c = customers
    share = {
        "high income": (c["annual_income"] > 100_000).mean(),
        "frequent": ((c["orders_per_year"] >= 30) & (c["days_since_last_purchase"] <= 15)).mean(),
        "low income occasional": (
            (c["annual_income"] < 35_000) & (c["orders_per_year"] <= 5)
        ).mean(),
        "young big spenders": ((c["age"] <= 28) & (c["avg_order_value"] >= 90)).mean(),
        "lapsed": (c["days_since_last_purchase"] >= 300).mean(),
    }
    assert 0.12 < share["high income"] < 0.25, share
    assert share["frequent"] > 0.15, share
    assert share["low income occasional"] > 0.2, share
    assert share["young big spenders"] > 0.07, share
    assert 0.1 < share["lapsed"] < 0.25, share


def test_groups_separate_after_log_scaling(customers):
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    x = customers[NUMERIC].head(2500)
    x = np.log1p(x.fillna(x.median()))
    z = ((x - x.mean()) / x.std()).to_numpy()
    scores = {}
    for k in (4, 5):
        labels = KMeans(k, n_init=3, random_state=0).fit_predict(z)
        scores[k] = silhouette_score(z, labels)
    assert scores[5] > 0.4 and scores[5] > scores[4], scores


def test_parquet_round_trip_and_chunks(tmp_path):
    one_go = write_sample(tmp_path / "one.parquet", rows=1200, seed=5)
    chunked = write_sample(tmp_path / "chunked.parquet", rows=1200, seed=5, chunk_rows=500)
    expected = generate(1200, seed=5)
    pd.testing.assert_frame_equal(pd.read_parquet(one_go), expected)
    pd.testing.assert_frame_equal(pd.read_parquet(chunked), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunked.parquet", "one.parquet"]


def test_csv_round_trip_and_chunks(tmp_path):
    one_go = write_sample(tmp_path / "one.csv", rows=1200, seed=5)
    chunked = write_sample(tmp_path / "chunked.csv", rows=1200, seed=5, chunk_rows=500)
    assert one_go.read_bytes() == chunked.read_bytes()  # one header, same rows
    assert one_go.read_text().count("customer_id") == 1
    assert one_go.read_text().splitlines()[0] == ",".join(f'"{c}"' for c in COLUMNS)
    back = pd.read_csv(one_go, dtype={"customer_id": "str"})
    expected = generate(1200, seed=5)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False, check_exact=False, rtol=1e-12)


def test_unknown_extension_is_one_line_error(tmp_path):
    with pytest.raises(DataError) as caught:
        write_sample(tmp_path / "customers.xlsx", rows=10)
    message = str(caught.value)
    assert "\n" not in message and ".csv" in message and ".parquet" in message
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_half_file(tmp_path):
    (tmp_path / "out.csv").mkdir()  # the final move onto a folder fails
    with pytest.raises(OSError):
        write_sample(tmp_path / "out.csv", rows=100)
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    assert list((tmp_path / "out.csv").iterdir()) == []


def test_existing_file_is_replaced_whole(tmp_path):
    target = tmp_path / "c.parquet"
    write_sample(target, rows=50, seed=1)
    write_sample(target, rows=70, seed=2)
    pd.testing.assert_frame_equal(pd.read_parquet(target), generate(70, seed=2))
