"""Per-seed mode: each seed of a VAE-BGM ensemble trained as its own Ray task, for clusters with
many cores (the default trains all seeds as one batched model inside one task).

A seed trained alone gives the same weights as inside the batch (VAEBGM guarantees it), so the
mode changes where the work runs, not the numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _fit_member(cls: type, params: dict, x: np.ndarray, init: Any, member: int) -> Any:
    from tabaug_ray.distributed.executor import set_threads

    set_threads(1)
    return cls(**{**params, "n_threads": 1}).fit(x, init=init, members=[member])


def fit_per_seed(generator: Any, x: np.ndarray, *, init: Any = None) -> Any:
    """Fit `generator` (an unfitted VAEBGM) with one Ray task per seed and merge the parts."""
    import ray

    remote = ray.remote(_fit_member).options(num_cpus=1)
    cls, params = type(generator), generator.get_params()
    x_ref, init_ref = ray.put(x), ray.put(init)
    parts = ray.get([remote.remote(cls, params, x_ref, init_ref, m) for m in range(generator.n_seeds)])
    return type(generator).combine(parts)
