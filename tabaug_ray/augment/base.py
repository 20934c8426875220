"""The augmenter contract, the "none" augmenter and the synthetic-volume helper.

An augmenter has a keyword-only constructor that only stores parameters,
`fit(X, y, *, categorical=()) -> self` on the real training rows (numeric float matrix,
categorical columns integer-coded, their indices in `categorical`), and
`augment(n, *, seed) -> (X_new, y_new)` returning ONLY the `n` new synthetic rows; the pipeline
concatenates real and synthetic rows (and passes them to the student separately).
Same seed -> same rows.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np

from tabaug_ray.errors import TabaugError
from tabaug_ray.learners._common import as_xy, check_categorical

_MULTIPLE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*[xX]\s*$")


def resolve_volume(volume: int | float | str, n_train: int) -> int:
    """Number of synthetic rows for a volume setting.

    Args:
        volume: an int row count (500), a float multiple of the training size (2.0), or a string:
            a row count ("500") or a multiple with an "x" suffix ("2x", "0.5x").
        n_train: number of real training rows.

    Multiples are rounded to the nearest integer row count.
    """
    if n_train < 0:
        raise TabaugError(f"n_train must be >= 0, got {n_train=}")
    if isinstance(volume, bool):
        raise TabaugError(f"volume must be a row count or a multiple like '2x', got {volume=}")
    if isinstance(volume, (int, np.integer)):
        rows = int(volume)
    elif isinstance(volume, (float, np.floating)):
        if not math.isfinite(volume) or volume < 0:
            raise TabaugError(f"volume multiple must be finite and >= 0, got {volume=}")
        rows = int(round(float(volume) * n_train))
    elif isinstance(volume, str):
        match = _MULTIPLE.match(volume)
        if match:
            rows = int(round(float(match.group(1)) * n_train))
        elif volume.strip().isdigit():
            rows = int(volume.strip())
        else:
            raise TabaugError(f"volume must be a row count ('500') or a multiple ('2x'), got {volume=}")
    else:
        raise TabaugError(f"volume must be an int, float or string, got {type(volume).__name__}: {volume!r}")
    if rows < 0:
        raise TabaugError(f"volume must be >= 0 rows, got {volume=}")
    return rows


class Augmenter:
    """Base class: stores the training rows in `fit`; subclasses implement `_fit` and `_augment`."""

    X_: np.ndarray
    y_: np.ndarray
    categorical_: tuple[int, ...]

    def fit(self, X: object, y: object, *, categorical: Sequence[int] = ()) -> "Augmenter":
        """Learn what the augmenter needs from the real training rows `X, y`."""
        self.X_, self.y_ = as_xy(X, y)
        self.categorical_ = check_categorical(categorical, self.X_.shape[1])
        self.numeric_ = tuple(j for j in range(self.X_.shape[1]) if j not in self.categorical_)
        self._fit()
        return self

    def _fit(self) -> None:
        """Subclass hook, called at the end of `fit`."""

    def augment(self, n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """`n` synthetic rows `(X_new, y_new)` (float64, shapes (n, d) and (n,)), drawn with `seed`."""
        if not hasattr(self, "X_"):
            raise TabaugError(f"{type(self).__name__} is not fitted: call fit(X, y) first")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise TabaugError(f"n must be an int >= 0, got {n=}")
        if n == 0:
            return self._empty()
        x_new, y_new = self._augment(int(n), seed)
        return np.asarray(x_new, dtype=np.float64), np.asarray(y_new, dtype=np.float64).reshape(-1)

    def _augment(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Subclass hook: `n` >= 1 rows; all randomness from `seed` (e.g. `np.random.default_rng(seed)`)."""
        raise NotImplementedError

    def _empty(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((0, self.X_.shape[1])), np.zeros(0)


class NoAugmenter(Augmenter):
    """The "none" baseline: no synthetic rows, whatever `n` is (always empty arrays of the right width)."""

    def __init__(self) -> None:
        pass

    def augment(self, n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "X_"):
            raise TabaugError("NoAugmenter is not fitted: call fit(X, y) first")
        return self._empty()
