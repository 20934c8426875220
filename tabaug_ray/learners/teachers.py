"""Teachers: regressors that label synthetic rows (TPOT, AutoGluon, a fast tree model).

Every teacher follows one contract: a keyword-only constructor that only stores parameters,
`fit(X, y, *, categorical=()) -> self` on a numeric float matrix (categorical columns integer-coded,
their indices in `categorical`) and `predict(X) -> 1-D float64 array`. A fitted teacher holds only
in-memory sklearn / LightGBM / AutoGluon objects (no files, no processes), so it pickles and can be
shared as a Ray object by many augmenters.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from typing import Any, Literal, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from tabaug_ray import plugins as _plugins
from tabaug_ray.errors import TabaugError
from tabaug_ray.learners._common import as_matrix, as_xy, check_categorical, check_positive, quiet
from tabaug_ray.learners._encoding import one_hot_encoder


class _Teacher:
    """Shared `predict` and checks; subclasses set `model_` (an object with `predict`) in `fit`."""

    model_: Any
    n_features_in_: int

    def predict(self, X: object) -> np.ndarray:
        """Predict targets of the rows of `X` (same columns as in `fit`)."""
        if not hasattr(self, "model_"):
            raise TabaugError(f"{type(self).__name__} is not fitted: call fit(X, y) first")
        x = as_matrix(X, "X")
        if x.shape[1] != self.n_features_in_:
            raise TabaugError(f"X has {x.shape[1]} columns, the teacher was fitted on {self.n_features_in_}")
        if x.shape[0] == 0:
            return np.zeros(0)
        return np.asarray(self._predict(x), dtype=np.float64).reshape(-1)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return self.model_.predict(x)


class FastTeacher(_Teacher):
    """A fast tree-ensemble teacher: LightGBM with small-data settings, LightGBM with its default
    settings ("lightgbm_default": the MLDA reports' gradient-boosting reference on real rows), or
    sklearn's ExtraTrees.

    LightGBM settings (1,000 trees at learning rate 0.02, 15 leaves, min 3 rows per leaf, 70 % row and
    column subsampling, L2 = 2) beat LightGBM's defaults by about 5 % RMSE on 8 regression datasets at
    500 training rows. Categorical columns go to LightGBM as categorical features; ExtraTrees sees
    their integer codes.

    Args:
        kind: "lightgbm", "lightgbm_default" or "extra_trees".
        seed: random seed of the model.
        n_jobs: threads the model may use.
    """

    def __init__(self, *, kind: Literal["lightgbm", "lightgbm_default", "extra_trees"] = "lightgbm", seed: int = 0,
                 n_jobs: int = 1) -> None:
        self.kind = kind
        self.seed = seed
        self.n_jobs = n_jobs

    def fit(self, X: object, y: object, *, categorical: Sequence[int] = ()) -> "FastTeacher":
        x, t = as_xy(X, y)
        cat = check_categorical(categorical, x.shape[1])
        if self.n_jobs < 1:
            raise TabaugError(f"n_jobs must be >= 1, got {self.n_jobs=}")
        if self.kind == "lightgbm":
            from lightgbm import LGBMRegressor

            model = LGBMRegressor(
                n_estimators=1000, learning_rate=0.02, num_leaves=15, min_child_samples=3, subsample=0.7,
                subsample_freq=1, colsample_bytree=0.7, reg_lambda=2.0, min_data_per_group=5,
                random_state=self.seed, n_jobs=self.n_jobs, verbose=-1,
            )
            with quiet():
                model.fit(x, t, categorical_feature=list(cat) if cat else "auto")
        elif self.kind == "lightgbm_default":
            from lightgbm import LGBMRegressor

            model = LGBMRegressor(random_state=self.seed, n_jobs=self.n_jobs, verbose=-1)
            with quiet():
                model.fit(x, t, categorical_feature=list(cat) if cat else "auto")
        elif self.kind == "extra_trees":
            from sklearn.ensemble import ExtraTreesRegressor

            model = ExtraTreesRegressor(n_estimators=300, random_state=self.seed, n_jobs=self.n_jobs).fit(x, t)
        else:
            raise TabaugError(f"unknown FastTeacher kind {self.kind!r}; expected 'lightgbm', 'lightgbm_default' or "
                              "'extra_trees'")
        self.model_ = model
        self.n_features_in_ = x.shape[1]
        return self

    def _predict(self, x: np.ndarray) -> np.ndarray:
        if self.kind.startswith("lightgbm"):
            with quiet():
                return self.model_.predict(x)
        return self.model_.predict(x)


def _import_tpot() -> None:
    """Run in each Dask worker before the search (see `TPOTTeacher._search`)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tpot  # noqa: F401


class TPOTTeacher(_Teacher):
    """TPOT 1.1 (`TPOTRegressor`) searching sklearn pipelines under a time budget.

    Process model: each `fit` starts its own Dask `LocalCluster` and closes it before returning.
    With `dask="processes"` (default) the cluster runs `n_jobs` single-threaded worker processes
    (spawned; their nannies and the scheduler live in this process; about 0.5 GB each): Dask sets
    OMP/MKL/OpenBLAS threads to 1 in the workers, so the search uses about `n_jobs` CPUs whatever
    the environment, and closing the cluster kills an evaluation still running at the deadline.
    With `dask="threads"` the workers are threads of this process: no extra process, half the
    memory and faster for tiny budgets IF `OMP_NUM_THREADS=1` (Ray sets it to a task's `num_cpus`);
    otherwise each evaluation runs OpenMP on all cores (2-3x slower on a busy machine), and an
    evaluation still running at the deadline keeps burning CPU after `fit` returns (until it ends
    or hits `max_eval_time_mins`).
    The dashboard is off, logs and warnings are silenced, and scripts that use `dask="processes"`
    need an `if __name__ == "__main__":` guard (workers are spawned). Dask's nanny writes
    OMP/MKL/OpenBLAS_NUM_THREADS=1 into this process's `os.environ` and never undoes it; `fit`
    restores the environment. Workers import TPOT before the search clock starts; with a budget
    too small for any evaluation (e.g. 0.01 min) TPOT evaluates nothing and `fallback` applies.

    Wall time is about `max_time_mins` plus cluster start-up (`startup_seconds_`: 1-12 s, worker
    spawn + TPOT import) plus the final refit of the chosen pipeline, which TPOT runs in THIS
    process; `fit` and `predict` hold OpenMP/BLAS to `n_jobs` threads here (threadpoolctl): left at
    all cores on a busy 2-core machine, one refit took 65 s instead of 0.6 s. The search stops at
    `generations` or `max_time_mins`, whichever comes first.
    Budgets: `max_time_mins` (wall clock, the paper's) makes the search depend on the machine's
    speed and load: how many pipelines are evaluated, and which are cut off by
    `max_eval_time_mins`, differ from run to run, so the chosen pipeline (and every number
    downstream) is not reproducible. The *deterministic budget* `max_time_mins=None` with
    `generations` set evaluates exactly `population_size` pipelines per generation for
    `generations` generations, with no per-evaluation time limit unless `max_eval_time_mins` is
    given (which would make it wall-clock again): for a fixed `seed` and `n_jobs=1` two fits give
    the same pipeline and bit-identical predictions (tested).

    Categorical columns are one-hot encoded (sklearn `OneHotEncoder`, unseen codes -> zeros) before
    TPOT sees them; the encoder is part of the fitted model.

    Args:
        max_time_mins: search budget in minutes (the paper used 10); `None`: no time limit, the
            deterministic budget `generations` x `population_size` (then `generations` is required).
        budget: "time" (`max_time_mins`, wall clock) or "generations" (deterministic: `max_time_mins`
            is ignored, as if None; the spelling for TOML configs, which have no null).
        generations: upper bound on generations (`None`: until the time budget ends).
        population_size: pipelines per generation.
        n_jobs: parallel pipeline evaluations (Dask workers).
        cv: cross-validation folds that score each pipeline.
        search_space: a TPOT 1.1 search-space name: "linear" (TPOT's default: selector, transformers,
            optional stacked inner regressors, final regressor from the full regressor set incl.
            LightGBM / XGBoost / forests), "linear-light" (fast estimators only: linear models, KNN,
            a decision tree), "graph", "graph-light".
        inner_regressors: allow stacked inner regressors (TPOT's default for "linear" is True; False
            makes every evaluation much cheaper).
        max_eval_time_mins: time limit of one pipeline evaluation (`None`: `max_time_mins / 3`, or no
            limit under the deterministic budget).
        dask: "processes" or "threads" (see above).
        memory_limit: Dask worker memory limit (e.g. "4GB"; `None`: no limit).
        fallback: FastTeacher kind fitted if TPOT ends without any usable pipeline (budget too small);
            `fallback_used_` records it and a RuntimeWarning is issued; `None` raises instead.
        seed: TPOT's `random_state` (also the CV folds and the fallback's seed).
    """

    def __init__(
        self,
        *,
        max_time_mins: float | None = 10.0,
        budget: Literal["time", "generations"] = "time",
        generations: int | None = None,
        population_size: int = 50,
        n_jobs: int = 1,
        cv: int = 5,
        search_space: str = "linear",
        inner_regressors: bool = True,
        max_eval_time_mins: float | None = None,
        dask: Literal["processes", "threads"] = "processes",
        memory_limit: str | None = None,
        fallback: Literal["lightgbm", "extra_trees"] | None = "extra_trees",
        seed: int = 0,
    ) -> None:
        self.max_time_mins = max_time_mins
        self.budget = budget
        self.generations = generations
        self.population_size = population_size
        self.n_jobs = n_jobs
        self.cv = cv
        self.search_space = search_space
        self.inner_regressors = inner_regressors
        self.max_eval_time_mins = max_eval_time_mins
        self.dask = dask
        self.memory_limit = memory_limit
        self.fallback = fallback
        self.seed = seed

    @property
    def time_limit_mins(self) -> float | None:
        """The wall-clock budget TPOT gets (None under the deterministic budget)."""
        return None if self.budget == "generations" else self.max_time_mins

    def _check(self) -> None:
        if self.budget not in ("time", "generations"):
            raise TabaugError(f"budget must be 'time' or 'generations', got {self.budget=}")
        if self.time_limit_mins is None:
            if self.generations is None:
                raise TabaugError("TPOT needs a budget: max_time_mins, or generations (x population_size) with "
                                  "max_time_mins = None")
        else:
            check_positive(self.max_time_mins, "max_time_mins")
        if self.generations is not None and self.generations < 1:
            raise TabaugError(f"generations must be >= 1 or None, got {self.generations=}")
        if self.population_size < 2:
            raise TabaugError(f"population_size must be >= 2, got {self.population_size=}")
        if self.n_jobs < 1:
            raise TabaugError(f"n_jobs must be >= 1, got {self.n_jobs=}")
        if self.cv < 2:
            raise TabaugError(f"cv must be >= 2, got {self.cv=}")
        if self.dask not in ("processes", "threads"):
            raise TabaugError(f"dask must be 'processes' or 'threads', got {self.dask=}")
        if self.fallback not in (None, "lightgbm", "extra_trees"):
            raise TabaugError(f"fallback must be 'lightgbm', 'extra_trees' or None, got {self.fallback=}")

    def fit(self, X: object, y: object, *, categorical: Sequence[int] = ()) -> "TPOTTeacher":
        self._check()
        x, t = as_xy(X, y)
        cat = check_categorical(categorical, x.shape[1])
        if x.shape[0] < 2 * self.cv:
            raise TabaugError(f"TPOT needs at least 2*cv rows, got {x.shape[0]} rows with {self.cv=}")
        from sklearn.pipeline import make_pipeline

        encoder = one_hot_encoder(cat)
        xe = encoder.fit_transform(x) if encoder is not None else x
        start = time.perf_counter()
        # TPOT refits the chosen pipeline in THIS process, where OpenMP (HistGradientBoosting, ...)
        # would use every core: on a busy 2-core machine that refit took 65 s instead of 0.6 s.
        with threadpool_limits(limits=self.n_jobs):
            pipeline = self._search(xe, t)
        self.search_seconds_ = time.perf_counter() - start  # includes startup_seconds_ and the final refit
        self.fallback_used_ = pipeline is None
        if pipeline is None:
            if self.fallback is None:
                raise TabaugError(f"TPOT found no usable pipeline within {self.max_time_mins=}; raise the budget")
            warnings.warn(f"TPOT found no usable pipeline within {self.max_time_mins=} min; "
                          f"using the {self.fallback} fallback teacher", RuntimeWarning, stacklevel=2)
            pipeline = FastTeacher(kind=self.fallback, seed=self.seed, n_jobs=self.n_jobs).fit(xe, t).model_
        self.pipeline_ = pipeline
        self.model_ = make_pipeline(encoder, pipeline) if encoder is not None else pipeline
        self.n_features_in_ = x.shape[1]
        return self

    def _predict(self, x: np.ndarray) -> np.ndarray:
        with threadpool_limits(limits=self.n_jobs), quiet():
            return self.model_.predict(x)

    def _eval_limit(self) -> float:
        """Per-evaluation limit in minutes: given, else a third of the time budget, else none (deterministic).

        "None" is passed as `inf`: TPOT 1.1's evaluation loop multiplies the limit by 60 (None fails there)."""
        if self.max_eval_time_mins is not None:
            return self.max_eval_time_mins
        return float("inf") if self.time_limit_mins is None else self.time_limit_mins / 3

    def _search(self, x: np.ndarray, t: np.ndarray):
        """Run TPOT; return its refitted best sklearn pipeline, or None if it found none."""
        with quiet("distributed", "tpot", "tornado", "asyncio", level=logging.CRITICAL):
            import dask
            from distributed import Client, LocalCluster
            from tpot import TPOTRegressor

            # Worker processes read PYTHONWARNINGS at start-up: this silences TPOT's import-time
            # pkg_resources warning there; Dask's own defaults (OMP/MKL/OpenBLAS threads = 1) are kept.
            environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), "PYTHONWARNINGS": "ignore"}
            # Dask's nanny writes these variables into THIS process's os.environ before spawning a
            # worker and never restores them (a Ray worker would keep OMP_NUM_THREADS=1 for later
            # tasks): we restore them when the cluster is closed.
            saved_env = {k: os.environ.get(k) for k in environ}
            cluster = client = None
            start = time.perf_counter()
            try:
                with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
                    cluster = LocalCluster(
                        n_workers=self.n_jobs, threads_per_worker=1, processes=self.dask == "processes",
                        dashboard_address=None, silence_logs=logging.CRITICAL, memory_limit=self.memory_limit,
                    )
                client = Client(cluster)
                # Import TPOT (and with it sklearn, LightGBM, XGBoost) in every worker BEFORE TPOT's
                # clock starts: a fresh worker under load needs seconds for it, and counted against
                # `max_eval_time_mins` it made every first evaluation time out.
                client.run(_import_tpot)
                self.startup_seconds_ = time.perf_counter() - start
                est = TPOTRegressor(
                    search_space=self.search_space, scorers=["neg_mean_squared_error"], scorers_weights=[1],
                    cv=self.cv, max_time_mins=self.time_limit_mins, max_eval_time_mins=self._eval_limit(),
                    n_jobs=self.n_jobs, client=client, verbose=0, random_state=self.seed,
                    allow_inner_regressors=self.inner_regressors, generations=self.generations,
                    population_size=self.population_size,
                )
                try:
                    est.fit(x, t)
                except Exception as exc:  # TPOT raises a bare Exception when nothing could be evaluated
                    if "No individuals could be evaluated" not in str(exc):
                        raise
                    return None
                pipeline = getattr(est, "fitted_pipeline_", None)
            finally:
                if client is not None:
                    client.close()
                if cluster is not None:
                    cluster.close()
                for key, value in saved_env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
        # NOTE: TPOT's estimator (population, Dask futures, evaluation table) is dropped on purpose:
        # we keep only the refitted sklearn pipeline, which is small and pickles.
        return pipeline


class AutoGluonTeacher(_Teacher):
    """AutoGluon's TabularPredictor (its tabular model zoo plus a weighted ensemble) under a time budget.

    Bagging and stacking are off, folds would be fitted sequentially in-process, `num_cpus` is
    explicit and `num_gpus` 0, so AutoGluon never starts or joins Ray. It fits in a temporary
    directory that is removed before `fit` returns (the best model stays in memory). Model types
    whose package is not installed (e.g. CatBoost, FastAI) are excluded. AutoGluon holds out part
    of the training rows to rank models and weight the ensemble (its default split, seeded).

    Args:
        time_limit: seconds for `fit` (AutoGluon's budget; it may overrun by a second or two).
        presets: AutoGluon presets (default "medium_quality").
        hyperparameters: AutoGluon hyperparameters; `None` uses AutoGluon's "default" zoo (the one
            "medium_quality" trains) with `seed` written into every model.
        seed: seed of AutoGluon's holdout split and of every model.
        num_cpus: CPUs AutoGluon may use.
    """

    def __init__(self, *, time_limit: float = 600.0, presets: str = "medium_quality",
                 hyperparameters: str | dict | None = None, seed: int = 0, num_cpus: int = 1) -> None:
        self.time_limit = time_limit
        self.presets = presets
        self.hyperparameters = hyperparameters
        self.seed = seed
        self.num_cpus = num_cpus

    def fit(self, X: object, y: object, *, categorical: Sequence[int] = ()) -> "AutoGluonTeacher":
        from tabaug_ray.learners import _autogluon as ag

        check_positive(self.time_limit, "time_limit")
        if self.num_cpus < 1:
            raise TabaugError(f"num_cpus must be >= 1, got {self.num_cpus=}")
        x, t = as_xy(X, y)
        self.categorical_ = check_categorical(categorical, x.shape[1])
        self.categories_ = {j: np.unique(np.rint(x[:, j]).astype(np.int64)) for j in self.categorical_}
        hp = self.hyperparameters
        if hp is None:
            from autogluon.tabular.configs.hyperparameter_configs import get_hyperparameter_config

            hp = ag.seeded(get_hyperparameter_config("default"), self.seed)
        self.model_ = ag.fit_predictor(
            ag.make_frame(x, self.categorical_, self.categories_, t), time_limit=self.time_limit,
            seed=self.seed, num_cpus=self.num_cpus, presets=self.presets, hyperparameters=hp,
        )
        self.n_features_in_ = x.shape[1]
        return self

    def _predict(self, x: np.ndarray) -> np.ndarray:
        from tabaug_ray.learners import _autogluon as ag

        with quiet("autogluon"), threadpool_limits(limits=self.num_cpus):
            return self.model_.predict(ag.make_frame(x, self.categorical_, self.categories_)).to_numpy()


TEACHERS: dict[str, type] = {"tpot": TPOTTeacher, "autogluon": AutoGluonTeacher, "fast": FastTeacher,
                             "lightgbm": FastTeacher, "lightgbm_default": FastTeacher, "extra_trees": FastTeacher}


def make_teacher(name: str, **params: Any) -> _Teacher:
    """A teacher by name: "tpot", "autogluon", "fast" (FastTeacher, `kind` in params), or the
    shortcuts "lightgbm" / "lightgbm_default" / "extra_trees" (FastTeacher of that kind)."""
    if name not in TEACHERS and _plugins.is_plugin("teacher", name):  # a user's class (tabaug_ray.plugins)
        return _plugins.build("teacher", name, **params)
    if name not in TEACHERS:
        raise TabaugError(f"unknown teacher {name!r}; expected one of {sorted(TEACHERS)}")
    if name in ("lightgbm", "lightgbm_default", "extra_trees"):
        params = {**params, "kind": name}
    try:
        return TEACHERS[name](**params)
    except TypeError as exc:
        raise TabaugError(f"teacher {name!r}: bad parameters {sorted(params)} ({exc})") from exc
