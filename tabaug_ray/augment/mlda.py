"""MLDA (teacher-labelled noisy copies) and its ablation with the original labels.

MLDA ("Data Augmentation for Deep Learning Regression Tasks by Machine Learning Models",
arXiv 2501.03654): synthesise x' = x + eps with eps_j ~ N(0, (eta * sigma_j)^2) on every numeric
feature, sigma_j the feature's standard deviation on the training rows, base rows x drawn
uniformly with replacement; label x' with an AutoML teacher fitted on the training rows.
`NoiseAugmenter` draws the very same x' (same seed -> same rows) but keeps the base rows' labels,
which isolates what the teacher's labels add.

The feature sampler is pluggable (`FeatureSampler`): the default `GaussianNoiseSampler` implements
the paper's noise; another sampler (e.g. rows sampled from a VAE-BGM generator) turns
`MLDAAugmenter` into "generator + teacher labels" without other changes.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, Sequence

import numpy as np

from tabaug_ray.augment.base import Augmenter
from tabaug_ray.errors import TabaugError
from tabaug_ray.learners._common import as_matrix, check_categorical


class FeatureSampler(Protocol):
    """Draws synthetic feature rows (no labels) like the training rows."""

    def fit(self, X: np.ndarray, y: np.ndarray, *, categorical: Sequence[int] = ()) -> "FeatureSampler": ...

    def sample(self, n: int, *, seed: int) -> np.ndarray: ...


class GaussianNoiseSampler:
    """x' = x + eps, eps_j ~ N(0, (eta * sigma_j)^2), x a training row drawn uniformly with replacement.

    Numeric features: sigma_j is the feature's standard deviation over the training rows (ddof 0);
    constant features stay constant. The paper adds noise to every feature and says nothing about
    categorical ones; Gaussian noise on an integer code would create codes that do not exist, so
    categorical features (integer-coded) are handled by `categorical_mode`:

    - "resample" (default): with probability eta the value is redrawn from the column's empirical
      distribution over the training rows (it may come back unchanged), otherwise kept. It is the
      categorical analogue of a perturbation of size eta: the teacher then labels category changes
      near the data, and every synthetic code is a code seen in training.
    - "keep": the base row's category is kept (only numeric features are perturbed).

    Integer-valued numeric features (counts, ages) get continuous noise, as in the paper.

    Args:
        eta: noise scale relative to each feature's standard deviation (paper: 0.01, 0.05, 0.1).
        categorical_mode: "resample" or "keep" (see above).
    """

    def __init__(self, *, eta: float = 0.05, categorical_mode: Literal["resample", "keep"] = "resample") -> None:
        self.eta = eta
        self.categorical_mode = categorical_mode

    def fit(self, X: object, y: object = None, *, categorical: Sequence[int] = ()) -> "GaussianNoiseSampler":
        if not (np.isfinite(self.eta) and self.eta >= 0):
            raise TabaugError(f"eta must be a finite number >= 0, got {self.eta=}")
        if self.categorical_mode not in ("resample", "keep"):
            raise TabaugError(f"categorical_mode must be 'resample' or 'keep', got {self.categorical_mode=}")
        if self.categorical_mode == "resample" and self.eta > 1:
            raise TabaugError(f"eta is also the resampling probability of categorical values: need eta <= 1, "
                              f"got {self.eta=}")
        self.X_ = as_matrix(X, "X")
        if self.X_.shape[0] < 1:
            raise TabaugError("GaussianNoiseSampler needs at least one training row")
        self.categorical_ = check_categorical(categorical, self.X_.shape[1])
        self.numeric_ = np.array([j for j in range(self.X_.shape[1]) if j not in self.categorical_], dtype=np.int64)
        self.sigma_ = self.X_[:, self.numeric_].std(axis=0)
        return self

    def sample_with_base(self, n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """`n` noisy rows and the indices of the training rows they were drawn from."""
        if not hasattr(self, "X_"):
            raise TabaugError("GaussianNoiseSampler is not fitted: call fit(X) first")
        rng = np.random.default_rng(seed)
        n_rows = self.X_.shape[0]
        base = rng.integers(0, n_rows, size=n)
        out = self.X_[base].copy()
        noise = rng.standard_normal((n, self.numeric_.size))
        out[:, self.numeric_] += noise * (self.eta * self.sigma_)
        cat = np.asarray(self.categorical_, dtype=np.int64)
        if cat.size and self.categorical_mode == "resample":
            redraw = rng.random((n, cat.size)) < self.eta
            donors = rng.integers(0, n_rows, size=(n, cat.size))
            out[:, cat] = np.where(redraw, self.X_[donors, cat], out[:, cat])
        return out, base

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        """`n` noisy rows."""
        return self.sample_with_base(n, seed=seed)[0]


class GeneratorSampler:
    """Feature rows sampled from a fitted generator (`tabaug_ray.generators` contract, or a plugin)
    over the feature columns' model space (as the learners see it): the `mlda_<generator>` augmenters.

    Args:
        generator: a fitted generator; `sample(n, seed=seed)` gives model-space feature rows.
    """

    def __init__(self, *, generator: Any) -> None:
        self.generator = generator

    def fit(self, X: np.ndarray, y: np.ndarray | None = None, *, categorical=()) -> "GeneratorSampler":
        return self  # fitted once by its producer unit and shared

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        return np.asarray(self.generator.sample(n, seed=seed), dtype=np.float64)


def _check_fitted_teacher(teacher: Any, n_features: int) -> None:
    if not callable(getattr(teacher, "predict", None)):
        raise TabaugError(f"teacher must have a predict method, got {type(teacher).__name__}")
    # scikit-learn's convention: a fitted estimator has attributes ending in "_".
    is_fitted = getattr(teacher, "__sklearn_is_fitted__", None)
    fitted = is_fitted() if callable(is_fitted) else any(
        k.endswith("_") and not k.startswith("__") for k in vars(teacher))
    if not fitted:
        raise TabaugError(f"MLDA needs an already fitted teacher; {type(teacher).__name__} is not fitted")
    width = getattr(teacher, "n_features_in_", n_features)
    if width != n_features:
        raise TabaugError(f"the teacher was fitted on {width} features, the augmenter gets {n_features}")


class MLDAAugmenter(Augmenter):
    """Teacher-labelled synthetic rows: x' from a feature sampler, y' = teacher.predict(x').

    The teacher is passed in ALREADY FITTED on the same training rows and is never refitted, so
    one teacher can be shared by many augmenters (etas, volumes, samplers).

    Args:
        teacher: a fitted regressor with `predict` (e.g. a `tabaug_ray.learners` teacher).
        eta: noise scale of the default `GaussianNoiseSampler` (ignored when `sampler` is given).
        categorical_mode: categorical handling of the default sampler ("resample" or "keep").
        sampler: a `FeatureSampler` replacing the Gaussian noise (e.g. a VAE-BGM generator).
        refit_sampler: if True `fit` fits `sampler` on the training rows; False uses it as given
            (already fitted, e.g. shared by several augmenters).
    """

    def __init__(self, *, teacher: Any, eta: float = 0.05,
                 categorical_mode: Literal["resample", "keep"] = "resample",
                 sampler: FeatureSampler | None = None, refit_sampler: bool = True) -> None:
        self.teacher = teacher
        self.eta = eta
        self.categorical_mode = categorical_mode
        self.sampler = sampler
        self.refit_sampler = refit_sampler

    def _fit(self) -> None:
        _check_fitted_teacher(self.teacher, self.X_.shape[1])
        if self.sampler is None:
            self.sampler_ = GaussianNoiseSampler(eta=self.eta, categorical_mode=self.categorical_mode)
            self.sampler_.fit(self.X_, self.y_, categorical=self.categorical_)
        else:
            self.sampler_ = self.sampler
            if self.refit_sampler:
                self.sampler_.fit(self.X_, self.y_, categorical=self.categorical_)

    def _augment(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        x_new = as_matrix(self.sampler_.sample(n, seed=seed), "sampled X")
        if x_new.shape != (n, self.X_.shape[1]):
            raise TabaugError(f"the sampler returned shape {x_new.shape}, expected {(n, self.X_.shape[1])}")
        return x_new, self.teacher.predict(x_new)


class NoiseAugmenter(Augmenter):
    """The same noisy rows as `MLDAAugmenter` with the default sampler (same seed -> same x'),
    labelled with the ORIGINAL label of each row's base row (noise-only ablation).

    Args:
        eta: noise scale relative to each feature's standard deviation.
        categorical_mode: categorical handling ("resample" or "keep"), as in `GaussianNoiseSampler`.
    """

    def __init__(self, *, eta: float = 0.05, categorical_mode: Literal["resample", "keep"] = "resample") -> None:
        self.eta = eta
        self.categorical_mode = categorical_mode

    def _fit(self) -> None:
        self.sampler_ = GaussianNoiseSampler(eta=self.eta, categorical_mode=self.categorical_mode)
        self.sampler_.fit(self.X_, self.y_, categorical=self.categorical_)

    def _augment(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        x_new, base = self.sampler_.sample_with_base(n, seed=seed)
        return x_new, self.y_[base]


