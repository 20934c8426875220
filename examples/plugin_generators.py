"""An example generator plugin: a class-conditional Gaussian mixture (scikit-learn).

Name it in a config as ``"examples.plugin_generators:ClassConditionalGMM"`` (run from the
repository root, or put the folder on PYTHONPATH / ship it with Ray's ``runtime_env``):

    [inductive_bias]
    models = ["vae_bgm", "examples.plugin_generators:ClassConditionalGMM"]
    model_params = { "examples.plugin_generators:ClassConditionalGMM" = { n_components = 3 } }

It follows ``tabaug_ray.plugins.GeneratorProtocol``: model-space rows in and out, every random
choice from ``seed``. Per class of the target column (the whole table as one class when the target
is numeric), a ``GaussianMixture`` is fitted on the other columns with the categorical ones
one-hot; a sampled row takes each categorical column's most likely category.
"""

from __future__ import annotations

import numpy as np
from sklearn.mixture import GaussianMixture


class ClassConditionalGMM:
    """Class prior x per-class Gaussian mixture.

    Args:
        n_components: mixture components per class (fewer when a class has fewer rows).
        covariance_type: scikit-learn's covariance_type.
        n_threads: accepted for the runtime's thread setting (unused).
    """

    version = "0.1"  # part of the unit keys: bump it when the numbers change

    def __init__(self, *, n_components: int = 3, covariance_type: str = "full", n_threads: int | None = None) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.n_threads = n_threads

    def _encode(self, X: np.ndarray) -> np.ndarray:
        parts = []
        for j in self.features_:
            c = self.columns_[j]
            parts.append(np.eye(c.n_categories)[X[:, j].astype(int)] if c.kind == "categorical" else X[:, [j]])
        return np.concatenate(parts, axis=1) if parts else np.zeros((len(X), 0))

    def fit(self, X: np.ndarray, *, schema, seed: int) -> "ClassConditionalGMM":
        X = np.asarray(X, dtype=np.float64)
        self.columns_ = list(schema.columns)
        names = [c.name for c in self.columns_]
        target = getattr(getattr(schema, "schema", None), "target", None)
        self.target_ = names.index(target) if target in names and self.columns_[names.index(target)].kind != "gaussian" else None
        self.features_ = [j for j in range(len(names)) if j != self.target_]
        labels = X[:, self.target_].astype(int) if self.target_ is not None else np.zeros(len(X), dtype=int)
        self.classes_, counts = np.unique(labels, return_counts=True)
        self.prior_ = counts / counts.sum()
        self.mixtures_ = []
        for k, label in enumerate(self.classes_):
            rows = self._encode(X[labels == label])
            mixture = GaussianMixture(n_components=max(1, min(self.n_components, len(rows) // 2)),
                                      covariance_type=self.covariance_type, reg_covar=1e-3, random_state=seed + k)
            self.mixtures_.append(mixture.fit(rows) if len(rows) > 1 else None)
            if len(rows) <= 1:
                self.mixtures_[-1] = rows
        return self

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(n, self.prior_)
        out = np.zeros((n, len(self.columns_)), dtype=np.float32)
        start = 0
        for label, mixture, m in zip(self.classes_, self.mixtures_, counts):
            if m == 0:
                continue
            if isinstance(mixture, np.ndarray):
                encoded = np.repeat(mixture, m, axis=0)
            else:
                mixture.random_state = int(rng.integers(2**31 - 1))
                encoded = mixture.sample(m)[0]
                encoded = encoded[rng.permutation(m)]  # sklearn's sample is grouped by component
            block, pos = out[start:start + m], 0
            for j in self.features_:
                c = self.columns_[j]
                width = c.n_categories if c.kind == "categorical" else 1
                values = encoded[:, pos:pos + width]
                if c.kind == "categorical":
                    block[:, j] = values.argmax(axis=1)
                elif c.kind == "bernoulli":
                    block[:, j] = (values[:, 0] > 0.5).astype(np.float32)
                else:
                    block[:, j] = values[:, 0]
                pos += width
            if self.target_ is not None:
                block[:, self.target_] = label
            start += m
        return out[rng.permutation(n)]
