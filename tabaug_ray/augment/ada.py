"""ADA, Anchor Data Augmentation (Schneider et al., NeurIPS 2023), used offline.

Official code (`ADA.transform_numpy`, `clustered_anchor`, `get_gammas`): the anchor matrix A is
the one-hot encoding of a k-means clustering of [X, y]; for each gamma,
X~ = (I + (sqrt(gamma) - 1) P_A)(X - mean) / (1 + (sqrt(gamma) - 1) rowsum(P_A)) + mean, and the same
for y. With one-hot anchors P_A replaces a row by its cluster mean and rowsum(P_A) = 1, so this
reduces to x~ = m_c + (x - m_c) / sqrt(gamma), y~ = m_c^y + (y - m_c^y) / sqrt(gamma), with m_c the
row's cluster mean: gamma > 1 pulls rows towards their cluster mean, gamma < 1 pushes them out.
Gammas (`get_gammas(alpha, n)`): n/2 values from alpha down in steps of (alpha - 1)/(n/2), then
their reciprocals. Offline, the official code returns the len(gamma) transformed copies of the N
training rows plus the originals: (len(gamma) + 1) * N rows.
"""

from __future__ import annotations

import math

import numpy as np

from tabaug_ray.augment.base import Augmenter
from tabaug_ray.errors import TabaugError


def ada_gammas(alpha: float, n_gammas: int) -> list[float]:
    """The official gamma grid: n_gammas // 2 values from alpha downwards, then their reciprocals.

    Values are rounded to 4 digits, as in the official `get_gammas`.
    """
    steps = int(n_gammas / 2)
    step = (alpha - 1.0) / steps
    gammas = [round(alpha - i * step, 4) for i in range(steps)]
    return gammas + [round(1.0 / g, 4) for g in reversed(gammas)]


class ADAAugmenter(Augmenter):
    """Anchor Data Augmentation with one-hot k-means anchors, offline.

    `augment(n, seed)` clusters the rows (k-means seeded from `seed`), transforms all N training
    rows for each of the G = len(gammas) values of gamma, and returns n of these G * N transformed
    rows: drawn without replacement if n <= G * N (n = G * N gives exactly the official offline
    output minus its N original rows, in random order), otherwise every transformed row
    floor(n / (G * N)) times plus a draw without replacement for the remainder. The originals are
    never returned (the pipeline adds the real rows itself).

    Args:
        n_clusters: k of the k-means anchors (capped at the number of rows; typical 4-40).
        alpha: gamma range [1/alpha, alpha] (typical 1.1-4).
        n_gammas: number of gamma values (even; half above 1, half below).
        standardize: if True k-means runs on z-scored [numeric X, y] (each column divided by its
            standard deviation). # NOTE[DIFF]: the official code clusters the raw [X, y], where the
            largest-scale column decides the clusters; the transform itself uses raw values.
    """

    def __init__(self, *, n_clusters: int = 10, alpha: float = 2.0, n_gammas: int = 10,
                 standardize: bool = True) -> None:
        self.n_clusters = n_clusters
        self.alpha = alpha
        self.n_gammas = n_gammas
        self.standardize = standardize

    def _fit(self) -> None:
        if self.n_clusters < 1:
            raise TabaugError(f"n_clusters must be >= 1, got {self.n_clusters=}")
        if not (math.isfinite(self.alpha) and self.alpha > 1):
            raise TabaugError(f"alpha must be > 1, got {self.alpha=}")
        if self.n_gammas < 2 or self.n_gammas % 2:
            raise TabaugError(f"n_gammas must be an even number >= 2, got {self.n_gammas=}")
        self.gammas_ = np.asarray(ada_gammas(self.alpha, self.n_gammas))

    def cluster(self, *, seed: int) -> np.ndarray:
        """k-means labels of the training rows on [numeric X, y] (the one-hot anchors), seeded."""
        from sklearn.cluster import KMeans

        data = np.column_stack([self.X_[:, list(self.numeric_)], self.y_])
        if self.standardize:
            scale = data.std(axis=0)
            data = (data - data.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
        k = min(self.n_clusters, data.shape[0])
        return KMeans(n_clusters=k, n_init="auto", random_state=seed).fit_predict(data)

    def transformed(self, *, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """All G * N transformed rows: (X~, y~, source row index, gamma index), gamma-major order."""
        labels = self.cluster(seed=seed)
        k = labels.max() + 1
        counts = np.bincount(labels, minlength=k)[:, None]
        num = np.asarray(self.numeric_, dtype=np.int64)
        mx = np.zeros((k, num.size))
        np.add.at(mx, labels, self.X_[:, num])
        mx /= counts
        my = np.bincount(labels, weights=self.y_, minlength=k) / counts[:, 0]
        n_rows = self.X_.shape[0]
        xs, ys = [], []
        for gamma in self.gammas_:
            shrink = 1.0 / math.sqrt(gamma)
            x = self.X_.copy()  # NOTE[DIFF]: categorical columns keep their value (a shrunk code is no category)
            x[:, num] = mx[labels] + (self.X_[:, num] - mx[labels]) * shrink
            xs.append(x)
            ys.append(my[labels] + (self.y_ - my[labels]) * shrink)
        source = np.tile(np.arange(n_rows), self.gammas_.size)
        gamma_idx = np.repeat(np.arange(self.gammas_.size), n_rows)
        return np.vstack(xs), np.concatenate(ys), source, gamma_idx

    def _augment(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        x_all, y_all, _, _ = self.transformed(seed=seed)
        total = x_all.shape[0]
        rng = np.random.default_rng([seed, 1])
        whole, rest = divmod(n, total)
        pick = np.concatenate([np.tile(np.arange(total), whole), rng.choice(total, size=rest, replace=False)])
        pick = rng.permutation(pick)
        return x_all[pick], y_all[pick]
