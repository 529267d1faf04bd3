"""Feature pipeline: impute, log-transform skewed money-like columns, scale, one-hot.

The fitted `ColumnTransformer` is stored with each version and is the only way
data reaches KMeans, so a prospect typed in Slack is transformed exactly like
the training rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

# A column is log-transformed when it is non-negative and this skewed: money,
# counts and durations usually are, and KMeans would otherwise split on outliers.
SKEW_THRESHOLD = 1.0
# Fitting the imputer and scaler on this many rows gives the same medians and
# scales to well under 1% while keeping training linear in one pass.
FIT_SAMPLE = 200_000
TRANSFORM_CHUNK = 1_000_000


def skewed_columns(frame: pd.DataFrame, numeric: list[str]) -> list[str]:
    """Non-negative numeric columns whose skewness exceeds SKEW_THRESHOLD."""
    out = []
    for col in numeric:
        values = frame[col].to_numpy(dtype=np.float64, na_value=np.nan)
        values = values[np.isfinite(values)]
        if values.size < 3 or values.min() < 0:
            continue
        std = values.std()
        if std == 0:
            continue
        skew = float(np.mean(((values - values.mean()) / std) ** 3))
        if skew > SKEW_THRESHOLD:
            out.append(col)
    return out


def build_transformer(
    numeric: list[str], categorical: list[str], log_columns: list[str]
) -> ColumnTransformer:
    plain = [c for c in numeric if c not in log_columns]
    parts: list[tuple[str, object, list[str]]] = []
    if plain:
        parts.append(
            (
                "num",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                plain,
            )
        )
    if log_columns:
        parts.append(
            (
                "log",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median")),
                        ("log", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
                        ("scale", StandardScaler()),
                    ]
                ),
                log_columns,
            )
        )
    if categorical:
        parts.append(
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                categorical,
            )
        )
    # verbose_feature_names_out=False keeps the user's column names in charts.
    return ColumnTransformer(parts, verbose_feature_names_out=False, sparse_threshold=0.0)


def numeric_order(transformer: ColumnTransformer) -> list[str]:
    """Numeric input columns in the order their scaled values come out."""
    return [
        c for name, _, cols in transformer.transformers_ if name in ("num", "log") for c in cols
    ]


def categorical_columns(transformer: ColumnTransformer) -> list[str]:
    return [c for name, _, cols in transformer.transformers_ if name == "cat" for c in cols]


def fit_transformer(
    frame: pd.DataFrame, numeric: list[str], categorical: list[str], seed: int = 0
) -> ColumnTransformer:
    sample = frame
    if len(frame) > FIT_SAMPLE:
        rows = np.random.default_rng(seed).choice(len(frame), FIT_SAMPLE, replace=False)
        sample = frame.iloc[np.sort(rows)]
    transformer = build_transformer(numeric, categorical, skewed_columns(sample, numeric))
    transformer.fit(_prepared(sample, numeric, categorical))
    return transformer


def transform(transformer: ColumnTransformer, frame: pd.DataFrame) -> np.ndarray:
    """Transform in chunks into one float32 matrix (KMeans runs in float32)."""
    numeric, categorical = numeric_order(transformer), categorical_columns(transformer)
    n_out = len(transformer.get_feature_names_out())
    out = np.empty((len(frame), n_out), dtype=np.float32)
    for start in range(0, len(frame), TRANSFORM_CHUNK):
        chunk = frame.iloc[start : start + TRANSFORM_CHUNK]
        out[start : start + len(chunk)] = transformer.transform(
            _prepared(chunk, numeric, categorical)
        )
    return out


def _prepared(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """Numeric as float64 with NaN for missing; categorical as object with None."""
    data = {c: frame[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in numeric}
    for c in categorical:
        col = frame[c].astype(object)
        data[c] = col.where(col.notna(), None).to_numpy(dtype=object)
    return pd.DataFrame(data, columns=[*numeric, *categorical])


def prospect_frame(transformer: ColumnTransformer, values: dict[str, object]) -> pd.DataFrame:
    """One row with every input column; what is not given stays missing (imputed)."""
    row = {}
    for col in transformer.feature_names_in_:
        value = values.get(col)
        row[col] = [value if value is not None else np.nan]
    return pd.DataFrame(row)


def as_float32(x: np.ndarray) -> np.ndarray:
    """KMeans is fitted in float32; the stored pipeline casts so predict gets the same."""
    return np.asarray(x, dtype=np.float32)


def to_original(transformer: ColumnTransformer, centers: np.ndarray) -> dict[str, np.ndarray]:
    """Undo scaling (and the log) of the numeric part of scaled centres: per column,
    the centre in the units of the data."""
    out: dict[str, np.ndarray] = {}
    col = 0
    for name, pipe, columns in transformer.transformers_:
        if name not in ("num", "log"):
            continue
        scaler = pipe.named_steps["scale"]
        for j, c in enumerate(columns):
            values = centers[:, col] * scaler.scale_[j] + scaler.mean_[j]
            out[c] = np.expm1(values) if name == "log" else values
            col += 1
    return out


def log_columns(transformer: ColumnTransformer) -> list[str]:
    return [c for name, _, cols in transformer.transformers_ if name == "log" for c in cols]
