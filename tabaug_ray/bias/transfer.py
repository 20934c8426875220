"""Transfer learning: pre-training on the best Low-data seed's synthetic rows, and model averaging."""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numpy as np

from tabaug_ray.bias.common import (
    PRETRAIN_FIT,
    BiasInit,
    best_index,
    check_synthetic,
    fit_on_rows,
    member_samples,
    state_of,
    vae_params_of,
)
from tabaug_ray.generators import VAEBGM, derive_seed

# Ensembles trained on 10,000 synthetic rows (pretrain, DRS): validate once per epoch.
# NOTE[DIFF]: the reference validated after every batch (32 evaluations of the 2,000 validation rows
# per epoch of 32 training batches, summed); once per epoch (times the batch count: same scale) cut
# an epoch from 211 to 97 CPU-ms per member on Adult. The early-stopping signal is a little noisier
# (one evaluation instead of a sum of 32).
SYNTHETIC_FIT_DEFAULTS: dict[str, Any] = {"val_every_batch": False}


def pretrain_rows(low: VAEBGM, *, synthetic: Sequence[np.ndarray] | None = None, n_synthetic: int = 10_000, seed: int = 0) -> np.ndarray:
    """The pre-training rows: the best Low-data seed's synthetic set (sampled if ``synthetic`` is None)."""
    if synthetic is not None:
        return check_synthetic(low, synthetic)[best_index(low)]
    return member_samples(low, low.best_seed_, n_synthetic, seed=seed)


def pretrain_init(
    low: VAEBGM,
    *,
    synthetic: Sequence[np.ndarray] | None = None,
    n_synthetic: int = 10_000,
    seed: int = 0,
    vae_params: Mapping[str, Any] | None = None,
    n_threads: int | None = None,
) -> BiasInit:
    """Pre-train: a fresh ensemble trained on the best Low-data seed's synthetic rows; theta_0 = its best seed.

    Args:
        low: fitted Low-data generator.
        synthetic: ``synthetic_sets(low, ...)`` (one set per member); None: sample the best member.
        n_synthetic: rows to sample when ``synthetic`` is None (reference 10,000: 8,000 train / 2,000 validation).
        seed: seed of the sampling and of the pre-training ensemble.
        vae_params: overrides of ``low``'s constructor arguments for the pre-training ensemble (on top
            of ``SYNTHETIC_FIT_DEFAULTS``), e.g. ``n_seeds``.
        n_threads: threads (None: ``low``'s).
    """
    start = time.perf_counter()
    rows = pretrain_rows(low, synthetic=synthetic, n_synthetic=n_synthetic, seed=seed)
    params = vae_params_of(low, {**SYNTHETIC_FIT_DEFAULTS, **dict(vae_params or {})}, n_threads=n_threads)
    model, info = fit_on_rows(rows, {**params, "seed": derive_seed(seed, PRETRAIN_FIT)})
    info.update(technique="pretrain", source_member=int(low.best_seed_), seconds=time.perf_counter() - start)
    return BiasInit(state_of(model.state_dict("best")), info)


def average_init(
    low: VAEBGM,
    *,
    synthetic: Sequence[np.ndarray] | None = None,
    n_synthetic: int = 10_000,
    seed: int = 0,
    vae_params: Mapping[str, Any] | None = None,
    n_threads: int | None = None,
) -> BiasInit:
    """AVG: the element-wise mean of the trained members' weights (no alignment, as the reference).

    The other arguments are accepted for a uniform call and unused.
    """
    start = time.perf_counter()
    stacked = low.stacked_state()
    state = state_of({k: v.mean(dim=0) for k, v in stacked.items()})
    info = {"technique": "avg", "n_members": int(len(low.members_)), "seconds": time.perf_counter() - start}
    return BiasInit(state, info)
