"""Adversarial random forests (``arfpy``, Watson et al. 2023) behind the generator contract.

What the adapter patches around ``arfpy`` 0.1.1 (a small, unmaintained-since-2023 library):

- ``arfpy.arf`` calls ``np.in1d``, which numpy 2.4 removed: the module's ``np`` is replaced by a
  proxy of numpy that adds ``in1d = numpy.isin`` (numpy itself is not changed).
- Seeding: arfpy draws from numpy's global random state (pandas ``sample``, ``np.random.choice``,
  scipy's ``rvs``) and its forests take ``random_state`` through ``**kwargs``; ``fit`` and
  ``sample`` seed the global state from streams derived from ``seed`` under a lock and restore it
  afterwards, and the forest gets its own derived ``random_state``. Same seed, same rows.
- Table in, model space out: bernoulli / categorical columns enter as pandas categoricals (arfpy's
  factors, sampled from leaf class frequencies), gaussian columns as the z-scored floats; sampled
  categories are mapped back to their integer codes.
"""

from __future__ import annotations

import contextlib
import threading
import types
import warnings

import numpy as np
import pandas as pd

from tabaug_ray.errors import TabaugError
from tabaug_ray.generators.base import Generator
from tabaug_ray.seeds import derive_seed

_FIT, _FOREST, _SAMPLE = 41, 42, 43
_LOCK = threading.Lock()


class _NumpyWithIn1d(types.ModuleType):
    """numpy, plus the ``in1d`` arfpy still calls."""

    in1d = staticmethod(np.isin)

    def __getattr__(self, name):
        return getattr(np, name)


@contextlib.contextmanager
def _global_seed(seed: int):
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        np.random.set_state(state)


def _arf_module():
    import arfpy.arf as module

    if not isinstance(module.np, _NumpyWithIn1d):
        module.np = _NumpyWithIn1d("numpy")
    return module


class ARFGenerator(Generator):
    """Adversarial random forest: ``arf`` (fit) + ``forde`` (density) + ``forge`` (sample).

    Args:
        num_trees: trees per forest (arfpy default 30).
        delta: tolerance: stop when the discriminator's OOB accuracy is < 0.5 + delta.
        max_iters: adversarial rounds at most.
        min_node_size: minimum rows per leaf.
        n_threads: the forests' ``n_jobs``.
    """

    name = "arf"

    def __init__(self, *, num_trees: int = 30, delta: float = 0.0, max_iters: int = 10, min_node_size: int = 5,
                 n_threads: int | None = None) -> None:
        self.num_trees = num_trees
        self.delta = delta
        self.max_iters = max_iters
        self.min_node_size = min_node_size
        self.n_threads = n_threads

    def fit(self, X: np.ndarray, *, schema, seed: int, init=None) -> "ARFGenerator":
        if self.num_trees < 1 or self.min_node_size < 1 or self.max_iters < 0 or not 0 <= self.delta <= 0.5:
            raise TabaugError(f"ARFGenerator: need num_trees >= 1, min_node_size >= 1, max_iters >= 0 and "
                              f"0 <= delta <= 0.5, got {self.get_params()}")
        module = _arf_module()
        self.columns_ = list(schema.columns)
        X = np.asarray(X, dtype=np.float64)
        frame = pd.DataFrame({c.name: (X[:, j] if c.kind == "gaussian" else
                                       pd.Categorical(X[:, j].astype(int), categories=range(c.n_categories)))
                              for j, c in enumerate(self.columns_)})
        with _LOCK, _global_seed(derive_seed(seed, _FIT)):
            model = module.arf(x=frame, num_trees=self.num_trees, delta=self.delta, max_iters=self.max_iters,
                               min_node_size=self.min_node_size, verbose=False, n_jobs=self.n_threads or 1,
                               random_state=derive_seed(seed, _FOREST) % 2**32)
            model.forde()
        self.model_ = model
        self.fit_metrics_ = {}
        return self

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        self._check_fitted()
        with _LOCK, _global_seed(derive_seed(int(seed), _SAMPLE)):
            rows = self.model_.forge(int(n))
        out = np.empty((int(n), len(self.columns_)), dtype=np.float32)
        for j, c in enumerate(self.columns_):
            col = rows[c.name]
            out[:, j] = col.cat.codes.to_numpy() if c.kind != "gaussian" else pd.to_numeric(col).to_numpy(float)
        return out
