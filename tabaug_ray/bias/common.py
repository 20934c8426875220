"""What the four techniques share: the result type, seeds, synthetic sets, ensembles on rows, fine-tuning.

Every technique turns a fitted Low-data ``VAEBGM`` (S seeds trained on the N real rows) into an
initialisation theta_0 (ONE seed's state dict, ``PARAM_NAMES`` keys); ``finetune`` then trains S seeds
from theta_0 on the real rows with the ordinary procedure (fresh Adam, early stopping; the BGM is
fitted on the fine-tuned encoder when the generator is first sampled).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np
import torch
from torch import Tensor

from tabaug_ray.errors import TabaugError
from tabaug_ray.generators import PARAM_NAMES, VAEBGM, derive_seed

# spawn keys of the techniques' seed streams (under the caller's seed; distinct from VAEBGM's 0..4)
SYNTHETIC, PRETRAIN_FIT, DRS_ROWS, DRS_FIT, MAML_SPLIT, MAML_INIT, MAML_NOISE = range(101, 108)


class BiasInit(NamedTuple):
    """A technique's result: ``theta_0`` (one seed's ``VAE`` state dict) and a small JSON-able ``info``."""

    state: "OrderedDict[str, Tensor]"
    info: dict[str, Any]


def vae_params_of(low: VAEBGM, overrides: Mapping[str, Any] | None = None, *, n_threads: int | None = None) -> dict:
    """Constructor arguments for a new ensemble: ``low``'s, updated by ``overrides``.

    Args:
        low: the fitted Low-data generator (its architecture must be kept: theta_0 initialises it).
        overrides: ``VAEBGM`` constructor arguments to change (e.g. ``n_seeds``, ``val_every_batch``).
        n_threads: threads (None: ``overrides``' or ``low``'s).
    """
    params = {**low.get_params(), **dict(overrides or {})}
    for key in ("columns", "latent_dim", "hidden_dim"):
        same = tuple(params[key]) == tuple(low.columns) if key == "columns" else params[key] == getattr(low, key)
        if not same:
            raise TabaugError(f"vae_params: {key} must equal the Low-data generator's (theta_0 initialises it), got {key}={params[key]!r}")
    if n_threads is not None:
        params["n_threads"] = n_threads
    return params


def member_samples(low: VAEBGM, member: int, n: int, *, seed: int) -> np.ndarray:
    """``n`` synthetic model-space rows of one Low-data member (seeded by ``seed`` and the member index)."""
    return low.sample(n, seed=derive_seed(seed, SYNTHETIC, int(member)), member=int(member))


def synthetic_sets(low: VAEBGM, n: int, *, seed: int) -> list[np.ndarray]:
    """Each trained member's ``n`` synthetic rows, in ``low.members_`` order (fits each member's BGM once).

    Sample once and pass the list to ``pretrain_init`` / ``maml_init`` / ``drs_init``: pretrain uses the
    best member's set, MAML every set as a task, DRS the pool of all sets.

    Args:
        low: fitted Low-data generator.
        n: rows per member (reference: 10,000).
        seed: seed of the draws (member ``m`` draws with ``derive_seed(seed, SYNTHETIC, m)``).
    """
    if n < 1:
        raise TabaugError(f"synthetic_sets: need n >= 1 rows per member, got {n=}")
    return [member_samples(low, int(m), n, seed=seed) for m in low.members_]


def best_index(low: VAEBGM) -> int:
    """Position of ``low.best_seed_`` in ``low.members_`` (and in ``synthetic_sets``)."""
    return int(np.flatnonzero(low.members_ == low.best_seed_)[0])


def threads_of(low: VAEBGM, n_threads: int | None = None) -> int:
    """``n_threads``, else ``low``'s, else torch's."""
    return int(n_threads or low.n_threads or torch.get_num_threads())


def check_synthetic(low: VAEBGM, synthetic: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Validate ``synthetic`` (one set per trained member of ``low``, same columns)."""
    sets = [np.asarray(s, dtype=np.float32) for s in synthetic]
    if len(sets) != len(low.members_):
        raise TabaugError(
            f"synthetic: expected one set per trained Low-data member ({len(low.members_)}), got {len(sets)} sets"
        )
    for i, s in enumerate(sets):
        if s.ndim != 2 or s.shape[1] != low.n_features_in_ or len(s) < 2:
            raise TabaugError(f"synthetic set {i} has shape {s.shape}; expected (n >= 2, {low.n_features_in_})")
    return sets


def state_of(params: Mapping[str, Tensor]) -> "OrderedDict[str, Tensor]":
    """A detached float32 copy in ``PARAM_NAMES`` order."""
    return OrderedDict((k, params[k].detach().float().clone().contiguous()) for k in PARAM_NAMES)


def fit_on_rows(rows: np.ndarray, params: Mapping[str, Any]) -> tuple[VAEBGM, dict[str, Any]]:
    """Train a fresh ensemble on ``rows`` (e.g. synthetic rows); returns it and the info of its best seed."""
    start = time.perf_counter()
    model = VAEBGM(**params).fit(rows)
    info = {
        "seconds": time.perf_counter() - start,
        "n_rows": int(len(rows)),
        "n_seeds": int(len(model.members_)),
        "best_seed": int(model.best_seed_),
        "val_loss": float(model.val_loss_[model.best_seed_]),
        "epochs": [int(e) for e in model.epochs_[model.members_]],
    }
    return model, info


def finetune(theta_0: Mapping[str, Tensor], X_real: np.ndarray, *, vae_params: Mapping[str, Any], seed: int,
             fit: Callable | None = None) -> VAEBGM:
    """Train ``vae_params['n_seeds']`` seeds from ``theta_0`` on the real rows (fresh Adam, early stopping).

    Use the Low-data generator's constructor arguments and seed (``low.get_params()``, ``low.seed``) to
    get the same train/validation split, data order and noise as Low data: the only difference from
    Low data is then the initial weights, as in the paper.

    Args:
        theta_0: one seed's state dict (``PARAM_NAMES`` keys), broadcast to every seed.
        X_real: the N real model-space rows.
        vae_params: ``VAEBGM`` constructor arguments (``columns`` included; ``seed`` is replaced).
        seed: seed of the fine-tuning ensemble.
        fit: ``fit(model, X, init=...)`` fitting the ensemble elsewhere (``RunContext.fit_ensemble``:
            one Ray task per seed); None fits it here.
    """
    model = VAEBGM(**{**dict(vae_params), "seed": seed})
    return fit(model, X_real, init=theta_0) if fit is not None else model.fit(X_real, init=theta_0)
