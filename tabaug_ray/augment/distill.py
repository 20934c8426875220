"""FAST-DAD-style distillation rows: MUNGE / SPUNGE samples labelled by the teacher.

FAST-DAD (Fakoor et al., "Fast, Accurate, and Simple Models for Tabular Data via Augmented
Distillation", NeurIPS 2020) is what AutoGluon's `TabularPredictor.distill(augment_method=...)`
implements: synthetic rows from MUNGE (Bucilua et al., KDD 2006: each row swaps features with its
nearest neighbour, numeric values drawn around the neighbour's) or SPUNGE (AutoGluon's simpler
variant: a fraction of each row's features resampled from the column's values, numeric ones
with Gaussian noise), labelled by the teacher, and a student fitted on real + synthetic rows.

# NOTE[DIFF]: we take distill's *augmentation* step and keep our own teacher (the config's, e.g.
# TPOT) and our own students, so that `distill_*` differs from `mlda` only in how x' is drawn
# (Gibbs-like feature swaps vs Gaussian noise). `TabularPredictor.distill` itself would make an
# AutoGluon ensemble the teacher and AutoGluon models the students.

Library use and where we patch around it (AutoGluon 1.6.3):
- SPUNGE is `autogluon.core.augmentation.distill_utils.spunge_augment`, the function `distill`
  calls. It draws from NumPy's *global* RNG: we seed it with the unit's seed and restore the global
  state afterwards. It maps integer-coded categories to NaN (it restores categories through
  `astype(str)`, so integer categories never match): we hand it string categories and map back.
- MUNGE: AutoGluon's `munge_augment` raises `TypeError: AbstractModel.__init__() got an unexpected
  keyword argument 'features'` (its source says "likely doesn't work anymore"), so `distill(
  augment_method="munge")` fails. Ours follows its algorithm and defaults (perturb_prob 0.5,
  s = 1; neighbours by scikit-learn's NearestNeighbors on z-scored numeric and one-hot
  categorical features), vectorised and seeded.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Literal

import numpy as np

from tabaug_ray.augment.base import Augmenter
from tabaug_ray.augment.mlda import _check_fitted_teacher
from tabaug_ray.errors import TabaugError


@contextlib.contextmanager
def _global_numpy_seed(seed: int) -> Iterator[None]:
    """Seed NumPy's global RNG (AutoGluon's augmenters use it) and restore its state afterwards."""
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        np.random.set_state(state)


def spunge_rows(X: np.ndarray, categorical: tuple[int, ...], n: int, *, seed: int, frac_perturb: float = 0.1,
                continuous_feature_noise: float = 0.1) -> np.ndarray:
    """`n` SPUNGE rows from AutoGluon's `spunge_augment` (its defaults), as a float matrix."""
    import pandas as pd
    from autogluon.common.features.feature_metadata import FeatureMetadata
    from autogluon.core.augmentation.distill_utils import spunge_augment

    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    levels: dict[int, np.ndarray] = {}
    for j in categorical:
        codes = np.rint(X[:, j]).astype(np.int64)
        levels[j] = np.unique(codes)
        frame[f"f{j}"] = pd.Categorical([f"c{c}" for c in codes], categories=[f"c{c}" for c in levels[j]])
    with _global_numpy_seed(seed):
        out = spunge_augment(frame, FeatureMetadata.from_df(frame), num_augmented_samples=n,
                             frac_perturb=frac_perturb, continuous_feature_noise=continuous_feature_noise)
    rows = np.empty((n, X.shape[1]))
    for j in range(X.shape[1]):
        col = out[f"f{j}"]
        if j in levels:
            if col.isna().any():
                raise TabaugError(f"SPUNGE produced missing categories in column {j}")
            rows[:, j] = [int(v[1:]) for v in col.astype(str)]
        else:
            rows[:, j] = col.to_numpy(dtype=np.float64)
    return rows


def munge_rows(X: np.ndarray, categorical: tuple[int, ...], n: int, *, seed: int, perturb_prob: float = 0.5,
               s: float = 1.0) -> np.ndarray:
    """`n` MUNGE rows: row i % len(X) and its nearest neighbour; each feature is swapped with
    probability `perturb_prob` (how many: Binomial(d, p), which ones: uniform, as AutoGluon's
    munge_augment), a swapped numeric value drawn from N(neighbour, |x - neighbour| / s)."""
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    numeric = [j for j in range(X.shape[1]) if j not in categorical]
    parts = []
    if numeric:
        sd = X[:, numeric].std(axis=0)
        parts.append((X[:, numeric] - X[:, numeric].mean(axis=0)) / np.where(sd > 0, sd, 1.0))
    for j in categorical:
        parts.append((X[:, [j]] == np.unique(X[:, j])[None, :]).astype(np.float64))
    space = np.hstack(parts)
    neighbour = NearestNeighbors(n_neighbors=2).fit(space).kneighbors(space, return_distance=False)[:, 1]
    base = np.arange(n) % len(X)
    out, near = X[base].copy(), X[neighbour[base]]
    d = X.shape[1]
    k = rng.binomial(d, perturb_prob, size=n)
    order = rng.random((n, d)).argsort(axis=1)
    swap = order < k[:, None]  # k uniformly chosen features per row
    draw = near + rng.normal(size=out.shape) * (np.abs(out - near) / s)
    cat = np.zeros(d, dtype=bool)
    cat[list(categorical)] = True
    new = np.where(cat[None, :], near, draw)
    return np.where(swap, new, out)


class DistillAugmenter(Augmenter):
    """FAST-DAD rows: x' from MUNGE or SPUNGE on the training rows, y' = teacher.predict(x').

    Args:
        teacher: a fitted regressor with `predict` (shared, never refitted).
        method: "spunge" (AutoGluon's `spunge_augment`) or "munge" (see the module docstring).
        frac_perturb: SPUNGE's fraction of features resampled per row (AutoGluon: 0.1).
        continuous_feature_noise: SPUNGE's numeric noise in standard deviations (AutoGluon: 0.1).
        perturb_prob: MUNGE's swap probability per feature (AutoGluon: 0.5).
        s: MUNGE's spread divisor (AutoGluon: 1.0).
    """

    def __init__(self, *, teacher: Any, method: Literal["spunge", "munge"] = "spunge", frac_perturb: float = 0.1,
                 continuous_feature_noise: float = 0.1, perturb_prob: float = 0.5, s: float = 1.0) -> None:
        self.teacher = teacher
        self.method = method
        self.frac_perturb = frac_perturb
        self.continuous_feature_noise = continuous_feature_noise
        self.perturb_prob = perturb_prob
        self.s = s

    def _fit(self) -> None:
        if self.method not in ("spunge", "munge"):
            raise TabaugError(f"method must be 'spunge' or 'munge', got {self.method=}")
        for name in ("frac_perturb", "perturb_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise TabaugError(f"{name} must be in [0, 1], got {name}={getattr(self, name)!r}")
        if not (self.s > 0 and self.continuous_feature_noise >= 0):
            raise TabaugError(f"need s > 0 and continuous_feature_noise >= 0, got {self.s=}, "
                              f"{self.continuous_feature_noise=}")
        _check_fitted_teacher(self.teacher, self.X_.shape[1])

    def _augment(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        if self.method == "spunge":
            x_new = spunge_rows(self.X_, self.categorical_, n, seed=seed, frac_perturb=self.frac_perturb,
                                continuous_feature_noise=self.continuous_feature_noise)
        else:
            x_new = munge_rows(self.X_, self.categorical_, n, seed=seed, perturb_prob=self.perturb_prob, s=self.s)
        return x_new, self.teacher.predict(x_new)
