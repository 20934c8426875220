"""One-hot encoding of integer-coded categorical columns (numeric columns pass through)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def one_hot_encoder(categorical: Sequence[int]):
    """An unfitted sklearn transformer: categorical columns one-hot (unseen codes -> all zeros),
    numeric columns passed through after them; `None` when there is nothing to encode."""
    if not categorical:
        return None
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    return ColumnTransformer(
        [("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64), list(categorical))],
        remainder="passthrough",
        sparse_threshold=0.0,
    )
