"""VAE-BGM behind the generator contract (``base.Generator``): the model is ``VAEBGM`` itself."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from tabaug_ray.errors import TabaugError
from tabaug_ray.generators.base import Generator
from tabaug_ray.generators.vae_bgm import VAEBGM


class VAEBGMGenerator(Generator):
    """The VAE-BGM seed ensemble (``VAEBGM``): samples come from its best seed.

    Args:
        n_threads: torch threads of training and sampling.
        fit_runner: fits the ``VAEBGM`` elsewhere (``RunContext.fit_ensemble``: one Ray task per
            seed with ``execution.seed_tasks``); None fits it here. Where, not what: not a parameter
            of the results.
        **params: ``VAEBGM`` constructor arguments (the ``[vae]`` section; ``columns`` and ``seed``
            come from ``fit``).
    """

    name = "vae_bgm"
    warm_start = True
    weights = True
    seed_tasks = True
    config_section = "vae"
    dataset_params = ("latent_dim",)

    def __init__(self, *, n_threads: int | None = None, fit_runner: Callable | None = None, **params: Any) -> None:
        self.n_threads = n_threads
        self.fit_runner = fit_runner
        self.params = params

    def get_params(self) -> dict:
        return {**self.params, "n_threads": self.n_threads, "fit_runner": self.fit_runner}

    def fit(self, X: np.ndarray, *, schema: Any, seed: int, init: Any = None) -> "VAEBGMGenerator":
        """Train the ensemble on model-space rows ``X``.

        Args:
            init: None, a fitted ``VAEBGMGenerator`` (its best seed's weights start every seed:
                Pre-train by warm start) or theta_0 itself (a ``VAE`` state dict, as ``VAEBGM.fit``).
        """
        if isinstance(init, VAEBGMGenerator):
            init = init.ensemble_.state_dict("best")
        elif init is not None and not isinstance(init, Mapping):
            raise TabaugError(f"VAEBGMGenerator.fit: init must be a fitted VAEBGMGenerator or a state dict, "
                              f"got {type(init).__name__}")
        model = VAEBGM(columns=schema.columns, seed=seed, n_threads=self.n_threads, **self.params)
        fitted = self.fit_runner(model, X, init=init) if self.fit_runner else model.fit(X, init=init)
        return self._set(fitted)

    @classmethod
    def from_ensemble(cls, ensemble: VAEBGM) -> "VAEBGMGenerator":
        """A fitted generator around an already fitted ``VAEBGM`` (e.g. fine-tuned by ``bias.finetune``)."""
        params = {k: v for k, v in ensemble.get_params().items() if k not in ("columns", "seed", "n_threads")}
        return cls(n_threads=ensemble.n_threads, **params)._set(ensemble)

    def _set(self, ensemble: VAEBGM) -> "VAEBGMGenerator":
        self.ensemble_ = ensemble
        self.fit_metrics_ = {"val_loss": float(np.nanmin(ensemble.val_loss_))}
        return self

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        self._check_fitted()
        return self.ensemble_.sample(n, seed=seed)
