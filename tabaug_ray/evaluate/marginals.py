"""Cheap per-column and pairwise fidelity metrics (the ones users of synthcity and SDMetrics expect).

- numeric columns: two-sample Kolmogorov-Smirnov statistic (scipy's `ks_2samp`, missing values dropped);
- categorical columns: total variation distance ½ Σ |p_real(c) − p_syn(c)| over the categories of
  both tables (missing is a category);
- pairwise correlations: mean |ρ_real − ρ_syn| of Pearson correlations over pairs of numeric columns
  (SDMetrics' CorrelationSimilarity is 1 − this / 2 per pair).

All three are distances in [0, 1] (correlation difference in [0, 2]); 0 means identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from tabaug_ray.data.schema import ColumnSpec
from tabaug_ray.errors import TabaugError


@dataclass(frozen=True)
class MarginalReport:
    """Per-column distances and their summaries (NaN when no column of that type exists)."""

    ks: dict[str, float] = field(default_factory=dict)
    tv: dict[str, float] = field(default_factory=dict)
    corr_diff: float = float("nan")

    @property
    def ks_mean(self) -> float:
        return float(np.mean(list(self.ks.values()))) if self.ks else float("nan")

    @property
    def tv_mean(self) -> float:
        return float(np.mean(list(self.tv.values()))) if self.tv else float("nan")

    def summary(self) -> dict[str, float]:
        """The scalar metrics: ks_mean, ks_max, tv_mean, tv_max, corr_diff."""
        return {
            "ks_mean": self.ks_mean,
            "ks_max": float(max(self.ks.values())) if self.ks else float("nan"),
            "tv_mean": self.tv_mean,
            "tv_max": float(max(self.tv.values())) if self.tv else float("nan"),
            "corr_diff": self.corr_diff,
        }

    def to_dict(self) -> dict:
        return {**self.summary(), "ks": dict(self.ks), "tv": dict(self.tv)}


def marginal_distances(
    real: pd.DataFrame, synthetic: pd.DataFrame, *, categorical: Sequence[str] = ()
) -> MarginalReport:
    """KS / TV per column and the pairwise-correlation difference of two tables with the same columns.

    Args:
        real, synthetic: the tables (column types decided as in `encode.column_types`).
        categorical: columns to treat as categorical even if they hold numbers.
    """
    from tabaug_ray.evaluate.encode import category_labels, numeric_values, column_types

    types = column_types(real, synthetic, categorical=categorical)
    numeric = {c: (numeric_values(real[c]), numeric_values(synthetic[c])) for c, t in types.items() if t == "numeric"}
    cats = {c: (category_labels(real[c]).to_numpy(), category_labels(synthetic[c]).to_numpy())
            for c, t in types.items() if t == "categorical"}
    return _report(numeric, cats)


def marginal_distances_model_space(
    real: np.ndarray, synthetic: np.ndarray, columns: Sequence[ColumnSpec]
) -> MarginalReport:
    """The same metrics on model-space matrices: gaussian columns get KS, bernoulli and categorical TV.

    Args:
        real, synthetic: (n, len(columns)) model-space matrices.
        columns: their schema.
    """
    for name, x in (("real", real), ("synthetic", synthetic)):
        if x.ndim != 2 or x.shape[1] != len(columns):
            raise TabaugError(f"{name} matrix has shape {x.shape} but the schema has {len(columns)} columns")
    numeric, cats = {}, {}
    for j, spec in enumerate(columns):
        if spec.kind == "gaussian":
            numeric[spec.name] = (real[:, j].astype(float), synthetic[:, j].astype(float))
        else:
            cats[spec.name] = (np.rint(real[:, j]).astype(np.int64), np.rint(synthetic[:, j]).astype(np.int64))
    return _report(numeric, cats)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample KS statistic on the finite values (1.0 if one side has none and the other has some)."""
    from scipy.stats import ks_2samp

    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) == 0 or len(b) == 0:
        return 0.0 if len(a) == len(b) else 1.0
    return float(ks_2samp(a, b).statistic)


def total_variation(a: np.ndarray, b: np.ndarray) -> float:
    """½ Σ_c |p_a(c) − p_b(c)| over the union of the values of `a` and `b`."""
    pa = pd.Series(a).value_counts(normalize=True)
    pb = pd.Series(b).value_counts(normalize=True)
    pa, pb = pa.align(pb, fill_value=0.0)
    return float(0.5 * np.abs(pa.to_numpy() - pb.to_numpy()).sum())


def correlation_difference(real: np.ndarray, synthetic: np.ndarray) -> float:
    """Mean |ρ_real − ρ_syn| over column pairs (rows with a missing value dropped; NaN if < 2 columns).

    Pairs where a correlation is undefined (a constant column) are skipped.
    """
    if real.shape[1] < 2:
        return float("nan")
    cr = _corr(real)
    cs = _corr(synthetic)
    iu = np.triu_indices(real.shape[1], k=1)
    diff = np.abs(cr[iu] - cs[iu])
    diff = diff[np.isfinite(diff)]
    return float(diff.mean()) if len(diff) else float("nan")


def _corr(x: np.ndarray) -> np.ndarray:
    x = x[np.all(np.isfinite(x), axis=1)]
    if len(x) < 2:
        return np.full((x.shape[1], x.shape[1]), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.corrcoef(x, rowvar=False)


def _report(numeric: dict[str, tuple[np.ndarray, np.ndarray]], cats: dict[str, tuple[np.ndarray, np.ndarray]]) -> MarginalReport:
    ks = {c: ks_statistic(r, s) for c, (r, s) in numeric.items()}
    tv = {c: total_variation(r, s) for c, (r, s) in cats.items()}
    if len(numeric) >= 2:
        real = np.column_stack([r for r, _ in numeric.values()])
        syn = np.column_stack([s for _, s in numeric.values()])
        corr = correlation_difference(real, syn)
    else:
        corr = float("nan")
    return MarginalReport(ks=ks, tv=tv, corr_diff=corr)
