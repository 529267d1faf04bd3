"""Functions every stored pipeline names by import path.

`pipeline.joblib` pickles them as `model.features.<name>`, so every version on disk
(and the versions of earlier releases) finds them here: they stay at this path.
"""

import numpy as np


def as_float32(x: np.ndarray) -> np.ndarray:
    """KMeans is fitted in float32; the stored pipeline casts so predict gets the same."""
    return np.asarray(x, dtype=np.float32)
