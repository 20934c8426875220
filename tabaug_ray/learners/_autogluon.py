"""Shared AutoGluon plumbing for the AutoGluon teacher and the AutoGluon NN student.

AutoGluon writes its models to a directory; we fit into a fresh temporary directory, load the
models we keep into memory (`persist`) and remove the directory before returning, so a fitted
learner holds no files, pickles (for Ray object refs) and leaves nothing behind. Bagging is off,
folds are fitted sequentially in-process and `num_cpus` is explicit, so AutoGluon never starts or
joins Ray (it would otherwise join a running Ray cluster).
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from typing import Any, Sequence

import numpy as np

LABEL = "__target__"

# AutoGluon model keys whose package may be absent; a missing one is excluded up front, otherwise
# AutoGluon prints an ImportError warning for it even at verbosity 0.
_OPTIONAL_MODELS = {"CAT": "catboost", "FASTAI": "fastai", "XGB": "xgboost", "GBM": "lightgbm"}

# The seed hyperparameter of each model type of AutoGluon's "default" zoo.
SEED_NAMES = {"GBM": "seed", "XGB": "seed", "CAT": "random_seed", "FASTAI": "random_seed",
              "RF": "random_state", "XT": "random_state", "NN_TORCH": "seed_value"}


def missing_model_types() -> list[str]:
    return [key for key, module in _OPTIONAL_MODELS.items() if importlib.util.find_spec(module) is None]


def seeded(hyperparameters: dict[str, Any], seed: int) -> dict[str, Any]:
    """A copy of an AutoGluon hyperparameter dict with `seed` set in every model we know the seed name of."""
    out: dict[str, Any] = {}
    for key, value in hyperparameters.items():
        configs = value if isinstance(value, list) else [value]
        name = SEED_NAMES.get(key)
        new = [({**cfg, name: seed} if name and isinstance(cfg, dict) else cfg) for cfg in configs]
        out[key] = new if isinstance(value, list) else new[0]
    return out


def feature_names(n_features: int) -> list[str]:
    return [f"f{j}" for j in range(n_features)]


def make_frame(X: np.ndarray, categorical: Sequence[int], categories: dict[int, np.ndarray],
               y: np.ndarray | None = None):
    """A DataFrame AutoGluon understands: categorical columns as pandas `category` with fixed categories."""
    import pandas as pd

    frame = pd.DataFrame(X, columns=feature_names(X.shape[1]))
    for j in categorical:
        codes = np.rint(X[:, j]).astype(np.int64)
        frame[f"f{j}"] = pd.Categorical(codes, categories=categories[j])
    if y is not None:
        frame[LABEL] = y
    return frame


def fit_predictor(train, *, tuning=None, time_limit: float, seed: int, num_cpus: int,
                  presets: str | None = None, hyperparameters: Any = None, fit_weighted_ensemble: bool = True):
    """Fit a regression TabularPredictor in a temporary directory; return it with its best model in memory."""
    from autogluon.tabular import TabularPredictor

    from tabaug_ray.errors import TabaugError
    from tabaug_ray.learners._common import quiet, torch_threads

    path = tempfile.mkdtemp(prefix="tabaug_ag_")
    try:
        import torch

        from threadpoolctl import threadpool_limits

        # OpenMP / BLAS code run outside AutoGluon's per-model thread settings is held to num_cpus too.
        with quiet("autogluon"), torch_threads(torch.get_num_threads()), threadpool_limits(limits=num_cpus):
            predictor = TabularPredictor(
                label=LABEL, problem_type="regression", eval_metric="root_mean_squared_error", path=path,
                verbosity=0, learner_kwargs={"random_state": seed},
            )
            predictor.fit(
                train, tuning_data=tuning, time_limit=time_limit, presets=presets, hyperparameters=hyperparameters,
                num_bag_folds=0, num_stack_levels=0, dynamic_stacking=False,
                num_cpus=num_cpus, num_gpus=0, fit_weighted_ensemble=fit_weighted_ensemble,
                ag_args_ensemble={"fold_fitting_strategy": "sequential_local"},
                excluded_model_types=missing_model_types(),
            )
            if not predictor.model_names():
                raise TabaugError(f"AutoGluon trained no model within {time_limit=} s; raise the time limit")
            predictor.persist(models="best")
    finally:
        shutil.rmtree(path, ignore_errors=True)
    return predictor
