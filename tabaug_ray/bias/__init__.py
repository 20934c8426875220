"""Artificial inductive bias: initialisations theta_0 from a fitted Low-data VAE-BGM ensemble.

Every technique has the same call::

    state, info = TECHNIQUES[name](low, synthetic=sets, seed=seed, vae_params=overrides, n_threads=t, **options)
    generator = finetune(state, X_real, vae_params=low.get_params(), seed=low.seed)

where ``sets = synthetic_sets(low, 10_000, seed=seed)`` is sampled once and shared (pretrain uses the
best member's set, MAML every set as a task, DRS their pool; AVG ignores it).
"""

from tabaug_ray.bias.common import BiasInit, finetune, member_samples, synthetic_sets, vae_params_of
from tabaug_ray.bias.drs import drs_init, drs_rows
from tabaug_ray.bias.maml import adapted_query_loss, maml_init, maml_start, maml_tasks, meta_gradient
from tabaug_ray.bias.transfer import SYNTHETIC_FIT_DEFAULTS, average_init, pretrain_init, pretrain_rows

TECHNIQUES = {"pretrain": pretrain_init, "avg": average_init, "maml": maml_init, "drs": drs_init}

__all__ = [
    "SYNTHETIC_FIT_DEFAULTS",
    "TECHNIQUES",
    "BiasInit",
    "adapted_query_loss",
    "average_init",
    "drs_init",
    "drs_rows",
    "finetune",
    "maml_init",
    "maml_start",
    "maml_tasks",
    "member_samples",
    "meta_gradient",
    "pretrain_init",
    "pretrain_rows",
    "synthetic_sets",
    "vae_params_of",
]
