"""Domain-Randomized Search: one ensemble trained on rows drawn from the pool of all seeds' synthetic sets."""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numpy as np

from tabaug_ray.bias.common import DRS_FIT, DRS_ROWS, BiasInit, check_synthetic, fit_on_rows, state_of, synthetic_sets, vae_params_of
from tabaug_ray.bias.transfer import SYNTHETIC_FIT_DEFAULTS
from tabaug_ray.errors import TabaugError
from tabaug_ray.generators import VAEBGM, derive_seed


def drs_rows(synthetic: Sequence[np.ndarray], n: int | None = None, *, seed: int = 0) -> np.ndarray:
    """``n`` rows drawn without replacement from the pool (concatenation) of the synthetic sets.

    Args:
        synthetic: one set per Low-data member.
        n: rows to draw (None: the size of the first set, i.e. one seed's worth, as the reference).
        seed: seed of the draw.
    """
    pool = np.concatenate([np.asarray(s, dtype=np.float32) for s in synthetic])
    n = len(synthetic[0]) if n is None else int(n)
    if not 2 <= n <= len(pool):
        raise TabaugError(f"drs: need 2 <= n <= {len(pool)} pooled rows, got {n=}")
    pick = np.random.default_rng(derive_seed(seed, DRS_ROWS)).choice(len(pool), size=n, replace=False)
    return pool[np.sort(pick)]


def drs_init(
    low: VAEBGM,
    *,
    synthetic: Sequence[np.ndarray] | None = None,
    n_synthetic: int = 10_000,
    n_rows: int | None = None,
    seed: int = 0,
    vae_params: Mapping[str, Any] | None = None,
    n_threads: int | None = None,
) -> BiasInit:
    """DRS: pool every member's synthetic set, draw one set's worth of rows, train an ensemble; theta_0 = its best seed.

    Args:
        low: fitted Low-data generator.
        synthetic: ``synthetic_sets(low, ...)``; None: sampled here (``n_synthetic`` rows per member).
        n_synthetic: rows per member when sampling (reference 10,000).
        n_rows: rows drawn from the pool (None: the size of one set; reference 10,000 of 100,000).
        seed: seed of the sampling, the draw and the ensemble.
        vae_params: overrides of ``low``'s constructor arguments (on top of ``SYNTHETIC_FIT_DEFAULTS``).
        n_threads: threads (None: ``low``'s).
    """
    start = time.perf_counter()
    sets = synthetic_sets(low, n_synthetic, seed=seed) if synthetic is None else check_synthetic(low, synthetic)
    rows = drs_rows(sets, n_rows, seed=seed)
    params = vae_params_of(low, {**SYNTHETIC_FIT_DEFAULTS, **dict(vae_params or {})}, n_threads=n_threads)
    model, info = fit_on_rows(rows, {**params, "seed": derive_seed(seed, DRS_FIT)})
    info.update(technique="drs", pool_rows=int(sum(len(s) for s in sets)), seconds=time.perf_counter() - start)
    return BiasInit(state_of(model.state_dict("best")), info)
