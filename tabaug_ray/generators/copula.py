"""Gaussian copula (the ``copulas`` package) behind the generator contract.

``copulas.multivariate.GaussianMultivariate`` models numeric columns only. Like SDV's GaussianCopula,
the adapter maps every bernoulli / categorical column to a number first with rdt's
``UniformEncoder`` (each category gets a sub-interval of [0, 1] as wide as its training frequency;
a row's value is drawn uniformly inside it) and maps sampled numbers back to the category whose
interval holds them. Gaussian columns enter as they are (z-scored).

A degenerate marginal is refitted: copulas' ``BetaUnivariate`` fits loc, scale, a and b by
maximum likelihood (scipy) and can diverge to a point mass (measured: breast_cancer's ``mean
symmetry`` at N = 150 fitted a = 0.044, b = 5e7, loc = the column's maximum, so every sampled
row took that one value and the judge read JS = 1.0 for the whole unit, in 2 of 8 demo units).
After fitting, each column's marginal is checked against its training values with the
Kolmogorov-Smirnov statistic; a column above ``DEGENERATE_KS`` gets ``FALLBACK`` (a truncated
Gaussian on the column's range) and the copula is refitted with it (``fallback_columns_`` names them).

Seeding (the libraries seed only through numpy's global state): ``fit`` and ``sample`` set the
copula's and the encoders' random states from streams derived from ``seed``; ``copulas`` restores
the global state afterwards. Same seed, same rows.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pandas as pd

from tabaug_ray.errors import TabaugError
from tabaug_ray.generators.base import Generator
from tabaug_ray.seeds import derive_seed

_FIT, _ENCODE, _SAMPLE = 31, 32, 33
_LOCK = threading.Lock()  # the libraries use numpy's global random state
DEGENERATE_KS = 0.3  # a fitted marginal this far from its column is a failed fit, not a poor one
FALLBACK = "truncated_gaussian"
DISTRIBUTIONS = {"beta": "BetaUnivariate", "gaussian": "GaussianUnivariate", "truncated_gaussian": "TruncatedGaussian",
                 "kde": "GaussianKDE", "uniform": "UniformUnivariate", "best": "Univariate"}


class GaussianCopulaGenerator(Generator):
    """Gaussian copula with per-column marginals.

    Args:
        distribution: marginal family of every column: "beta" (SDV's default), "gaussian",
            "truncated_gaussian", "kde", "uniform" or "best" (copulas picks per column by KS test).
    """

    name = "gaussian_copula"

    def __init__(self, *, distribution: str = "beta") -> None:
        self.distribution = distribution

    def fit(self, X: np.ndarray, *, schema, seed: int, init=None) -> "GaussianCopulaGenerator":
        from copulas import univariate
        from copulas.multivariate import GaussianMultivariate
        from rdt.transformers.categorical import UniformEncoder

        if self.distribution not in DISTRIBUTIONS:
            raise TabaugError(f"GaussianCopulaGenerator: distribution must be one of {sorted(DISTRIBUTIONS)}, "
                              f"got {self.distribution=}")
        columns = list(schema.columns)
        frame = pd.DataFrame(np.asarray(X, dtype=np.float64), columns=[c.name for c in columns])
        self.encoders_ = {}
        with _LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for c in columns:
                if c.kind != "gaussian":
                    encoder = UniformEncoder()
                    encoder.set_random_state(np.random.RandomState(derive_seed(seed, _ENCODE) % 2**32), "transform")
                    codes = frame[[c.name]].astype(int)
                    encoder.fit(codes, c.name)
                    frame[c.name] = encoder.transform(codes)[c.name].to_numpy(float)
                    self.encoders_[c.name] = encoder
            family = getattr(univariate, DISTRIBUTIONS[self.distribution])
            model = GaussianMultivariate(distribution=family, random_state=derive_seed(seed, _FIT) % 2**32)
            model.fit(frame)
            bad = _degenerate_columns(model, frame)
            if bad:
                fallback = getattr(univariate, DISTRIBUTIONS[FALLBACK])
                model = GaussianMultivariate(distribution={c: (fallback if c in bad else family) for c in frame.columns},
                                             random_state=derive_seed(seed, _FIT) % 2**32)
                model.fit(frame)
        self.model_, self.columns_, self.fallback_columns_ = model, columns, bad
        self.fit_metrics_ = {}
        return self

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        self._check_fitted()
        with _LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model_.set_random_state(derive_seed(int(seed), _SAMPLE) % 2**32)
            rows = self.model_.sample(int(n))
            out = np.empty((int(n), len(self.columns_)), dtype=np.float32)
            for j, c in enumerate(self.columns_):
                if c.kind == "gaussian":
                    out[:, j] = rows[c.name].to_numpy(float)
                else:
                    u = rows[[c.name]].clip(0.0, 1.0 - 1e-12)
                    out[:, j] = self.encoders_[c.name].reverse_transform(u)[c.name].to_numpy(float)
        return out


def _degenerate_columns(model, frame: pd.DataFrame) -> list[str]:
    """Columns whose fitted marginal lies more than DEGENERATE_KS (KS statistic) from their values."""
    from scipy.stats import kstest

    bad = []
    for name, uni in zip(model.columns, model.univariates):
        values = frame[name].to_numpy(float)
        if np.ptp(values) > 0 and kstest(values, uni.cdf).statistic > DEGENERATE_KS:
            bad.append(name)
    return bad
