"""Customer ids as text, whatever the source stored them as."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

ROW_IDS = "@row"
"""SEGBOT_ID_COLUMN / --id-column value: no id column, the 1-based row numbers are the ids."""


def id_strings(series: pd.Series) -> pd.Series:
    """Ids as text (pandas str dtype, NaN when missing), whole numbers without ".0"."""
    import pandas as pd  # here: readers of ROW_IDS alone need no pandas

    dtype = series.dtype
    if pd.api.types.is_float_dtype(dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[~np.isnan(values)]
        if np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 2**53):
            return series.astype("Int64").astype("str")
    return series.astype("str")
