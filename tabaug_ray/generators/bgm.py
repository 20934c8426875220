"""Latent sampler of the VAE-BGM: a Bayesian Gaussian mixture on the encoder means.

Reference: ``BayesianGaussianMixture(n_components=latent_dim, reg_covar=1e-5, n_init=10,
max_iter=5000)`` fitted on the encoder means of the training rows; a sample is a draw from the
mixture plus Gaussian noise with the training rows' average encoder log-variance.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture


class LatentBGM:
    """Bayesian Gaussian mixture over latent means, plus the average encoder noise.

    Args:
        n_components: mixture components (reference: the latent size).
        reg_covar: covariance regularisation.
        n_init: EM restarts (the best is kept).
        max_iter: EM iterations per restart.
        seed: random_state of the mixture (the reference retried unseeded fits until one converged).
        max_tries: refits (seed, seed + 1, ...) while EM has not converged; the last is kept.
    """

    def __init__(
        self,
        *,
        n_components: int = 10,
        reg_covar: float = 1e-5,
        n_init: int = 10,
        max_iter: int = 5000,
        seed: int = 0,
        max_tries: int = 3,
    ) -> None:
        self.n_components = n_components
        self.reg_covar = reg_covar
        self.n_init = n_init
        self.max_iter = max_iter
        self.seed = seed
        self.max_tries = max_tries

    def fit(self, means: np.ndarray, logvars: np.ndarray) -> "LatentBGM":
        """Fit on encoder means ``[n, L]``; keep the mean log-variance ``[L]`` for the sampling noise."""
        means = np.asarray(means, dtype=np.float64)
        n_components = min(self.n_components, len(means))
        # NOTE[DIFF]: seeded, and at most `max_tries` fits (reference: up to 100 unseeded retries)
        for attempt in range(self.max_tries):
            bgm = BayesianGaussianMixture(
                n_components=n_components,
                reg_covar=self.reg_covar,
                n_init=self.n_init,
                max_iter=self.max_iter,
                random_state=self.seed + attempt,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                bgm.fit(means)
            if bgm.converged_:
                break
        self.bgm_ = bgm
        self.converged_ = bool(bgm.converged_)
        self.logvar_mean_ = np.asarray(logvars, dtype=np.float64).mean(axis=0)
        self._chol = np.linalg.cholesky(bgm.covariances_)  # covariance_type="full"
        return self

    def sample(self, n: int, *, rng: np.random.Generator) -> np.ndarray:
        """``n`` latent vectors ``[n, L]`` (float64): mixture draw + N(0, exp(mean log-variance)) noise.

        Components are drawn per row (rows come out shuffled, unlike sklearn's ``sample``), from ``rng``.
        """
        weights = self.bgm_.weights_ / self.bgm_.weights_.sum()
        comp = rng.choice(len(weights), size=n, p=weights)
        white = rng.standard_normal((n, self.bgm_.means_.shape[1]))
        z = self.bgm_.means_[comp] + np.einsum("nij,nj->ni", self._chol[comp], white)
        return z + rng.standard_normal(z.shape) * np.exp(0.5 * self.logvar_mean_)
