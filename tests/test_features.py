import numpy as np
import pandas as pd

from model.data.sample import generate
from model.training import pipeline as feat


def _frame(n=3000):
    df = generate(n, seed=3)
    numeric = [c for c in df.columns if c not in ("customer_id", "gender")]
    return df, numeric


def test_money_columns_are_log_transformed_and_age_is_not():
    df, numeric = _frame()
    logged = feat.skewed_columns(df, numeric)
    assert "total_spend" in logged and "annual_income" in logged
    assert "age" not in logged


def test_missing_values_are_imputed_with_the_median_and_output_is_scaled():
    df, numeric = _frame()
    assert df["age"].isna().any()
    t = feat.fit_transformer(df, numeric, [])
    x = feat.transform(t, df)
    assert x.dtype == np.float32 and not np.isnan(x).any()
    assert np.allclose(x[:, : len(numeric)].mean(0), 0, atol=1e-3)
    assert np.allclose(x[:, : len(numeric)].std(0), 1, atol=1e-2)
    # a missing age lands exactly where the median age does
    two = df.iloc[:2].copy()
    two["age"] = [np.nan, float(df["age"].median())]
    j = feat.numeric_order(t).index("age")
    pair = feat.transform(t, two)
    assert np.isclose(pair[0, j], pair[1, j])


def test_categorical_features_are_one_hot_encoded():
    df, numeric = _frame()
    t = feat.fit_transformer(df, numeric, ["gender"])
    names = list(t.get_feature_names_out())
    assert {"gender_Female", "gender_Male"} <= set(names)
    x = feat.transform(t, df)
    onehot = x[:, [names.index("gender_Female"), names.index("gender_Male")]]
    assert set(np.unique(onehot)) <= {0.0, 1.0}


def test_a_prospect_is_transformed_exactly_like_its_training_row():
    df, numeric = _frame()
    t = feat.fit_transformer(df, numeric, ["gender"])
    x = feat.transform(t, df)
    row = df.iloc[7]
    values = {c: row[c] for c in [*numeric, "gender"] if pd.notna(row[c])}
    single = t.transform(feat.prospect_frame(t, values))
    assert np.allclose(single[0], x[7], atol=1e-5)


def test_centres_map_back_to_original_units():
    df, numeric = _frame()
    t = feat.fit_transformer(df, numeric, [])
    x = feat.transform(t, df)
    back = feat.to_original(t, x[:5].astype(np.float64))
    for c in ("age", "total_spend"):
        original = df[c].iloc[:5].to_numpy()
        ok = ~np.isnan(original)
        assert np.allclose(back[c][ok], original[ok], rtol=1e-4)
