"""The trivial references every benchmark needs: `independent` and `bootstrap`.

Both are a line of numpy (``Generator.choice``) on the training rows; no library does less.
"""

from __future__ import annotations

import numpy as np

from tabaug_ray.generators.base import Generator


class _RowsGenerator(Generator):
    def __init__(self) -> None:
        pass

    def fit(self, X: np.ndarray, *, schema, seed: int, init=None):
        self.X_ = np.asarray(X, dtype=np.float32).copy()
        self.fit_metrics_ = {}
        return self


class IndependentGenerator(_RowsGenerator):
    """Each column drawn from its own empirical marginal (training values with replacement, every column
    independently): right marginals, no dependence between columns."""

    name = "independent"

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        self._check_fitted()
        rng = np.random.default_rng(seed)
        rows = rng.integers(0, len(self.X_), size=(int(n), self.X_.shape[1]))
        return np.take_along_axis(self.X_, rows, axis=0) if n else self.X_[:0]


class BootstrapGenerator(_RowsGenerator):
    """Training rows resampled with replacement: the copy-everything upper bound on fidelity and lower
    bound on privacy."""

    name = "bootstrap"

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        self._check_fitted()
        return self.X_[np.random.default_rng(seed).integers(0, len(self.X_), size=int(n))]
