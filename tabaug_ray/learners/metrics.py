"""Regression metrics for the students and teachers."""

from __future__ import annotations

import numpy as np

from tabaug_ray.learners._common import as_target


def regression_metrics(y_true: object, y_pred: object) -> dict[str, float]:
    """RMSE, MAE and R² of `y_pred` against `y_true`.

    R² is 1 - SSE / SST with SST around the mean of `y_true` (NaN when `y_true` is constant).
    """
    t = as_target(y_true, len(np.asarray(y_true)), "y_true")
    p = as_target(y_pred, t.shape[0], "y_pred")
    err = p - t
    sse = float(np.sum(err**2))
    sst = float(np.sum((t - t.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(sse / t.shape[0])),
        "mae": float(np.mean(np.abs(err))),
        "r2": float(1.0 - sse / sst) if sst > 0 else float("nan"),
    }
