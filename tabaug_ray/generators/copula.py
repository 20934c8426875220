"""Gaussian copula (the ``copulas`` package) behind the generator contract.

``copulas.multivariate.GaussianMultivariate`` models numeric columns only. Like SDV's GaussianCopula,
the adapter maps every bernoulli / categorical column to a number first with rdt's
``UniformEncoder`` (each category gets a sub-interval of [0, 1] as wide as its training frequency;
a row's value is drawn uniformly inside it) and maps sampled numbers back to the category whose
interval holds them. Gaussian columns enter as they are (z-scored).

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
            model = GaussianMultivariate(distribution=getattr(univariate, DISTRIBUTIONS[self.distribution]),
                                         random_state=derive_seed(seed, _FIT) % 2**32)
            model.fit(frame)
        self.model_, self.columns_ = model, columns
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
