"""Generators: the VAE-BGM (seed ensembles trained as one batched model)."""

from tabaug_ray.generators.bgm import LatentBGM
from tabaug_ray.generators.ensemble import EnsembleResult, train_ensemble, train_members
from tabaug_ray.generators.vae import (
    PARAM_NAMES,
    VAE,
    HeadLayout,
    decode,
    draw_noise,
    encode,
    head_layout,
    init_params,
    log_likelihood,
    negative_elbo,
    sample_columns,
)
from tabaug_ray.generators.vae_bgm import VAEBGM, check_model_space, derive_seed

__all__ = [
    "PARAM_NAMES",
    "VAE",
    "VAEBGM",
    "EnsembleResult",
    "HeadLayout",
    "LatentBGM",
    "check_model_space",
    "decode",
    "derive_seed",
    "draw_noise",
    "encode",
    "head_layout",
    "init_params",
    "log_likelihood",
    "negative_elbo",
    "sample_columns",
    "train_ensemble",
    "train_members",
]
