"""The generator contract every pipeline uses, and the registry of built-in generators.

Every generator works in the *model space* (``tabaug_ray.data.schema``: one float column per schema
column, gaussians z-scored, bernoullis 0/1, categoricals integer codes)::

    gen = Cls(**params)                                   # keyword-only, stores parameters only
    gen.fit(X, *, schema=transform, seed=seed)           # X: model-space rows; returns self
    gen.fit(X, *, schema=transform, seed=seed, init=g)   # only if Cls.warm_start: start from g
    rows = gen.sample(n, *, seed=seed)                    # float model-space matrix [n, D]

``schema`` is the fitted model-space transform (``TabularTransform``): ``schema.columns`` are the
``ColumnSpec`` s (name, kind, n_categories, categories) and ``schema.inverse_transform(X)`` /
``schema.transform(frame)`` convert to and from a table of original values for libraries that
want one (CTGAN, TVAE, ARF do; the conversion happens inside the adapter, never in a pipeline).

Capabilities are class attributes, and pipelines ask them, never the name:

- ``warm_start``: ``fit(..., init=fitted)`` continues from another fitted generator of the class
  (the Pre-train technique: fit on the Low-data generator's synthetic rows, then on the real rows).
- ``weights``: a seed ensemble with stacked weights (VAE-BGM): the weight-space techniques AVG,
  MAML and DRS (``tabaug_ray.bias``), and Pre-train through theta_0.
- ``seed_tasks``: its seeds may train as separate Ray tasks (``execution.seed_tasks``).
- ``config_section``: the config section holding its parameters (``vae``, ``ctgan``), else
  ``inductive_bias.model_params[name]``; ``dataset_params``: per-dataset overrides (``latent_dim``).

A built-in generator is one module in this package defining a ``Generator`` subclass with a
``name``: the registry finds it (adding one touches that file and its test). Users' generators
need only the ``GeneratorProtocol`` (``tabaug_ray.plugins``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from tabaug_ray.errors import TabaugError


class Generator:
    """Base class of the built-in generators (capability defaults; see the module docstring)."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = ""  # "" for built-ins: CODE_VERSION covers them
    warm_start: ClassVar[bool] = False
    weights: ClassVar[bool] = False
    seed_tasks: ClassVar[bool] = False
    config_section: ClassVar[str | None] = None
    dataset_params: ClassVar[tuple[str, ...]] = ()

    fit_metrics_: dict[str, float]

    def fit(self, X: np.ndarray, *, schema: Any, seed: int, init: Any = None) -> "Generator":
        raise NotImplementedError

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        raise NotImplementedError

    def get_params(self) -> dict:
        """Constructor arguments (scikit-learn style)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {k: getattr(self, k) for k in names if hasattr(self, k)}

    def _check_fitted(self) -> None:
        if not hasattr(self, "fit_metrics_"):
            raise TabaugError(f"{type(self).__name__} is not fitted: call fit first")


def techniques(cls: type) -> tuple[str, ...]:
    """The inductive-bias techniques a generator class supports, from its capabilities."""
    if getattr(cls, "weights", False):
        return ("pretrain", "avg", "maml", "drs")
    if getattr(cls, "warm_start", False):
        return ("pretrain",)
    return ()


def check_rows(rows: Any, columns, *, who: str) -> np.ndarray:
    """A generator's sample as float32 model space: shape, finite values, valid codes (one-line errors)."""
    from tabaug_ray.generators.vae_bgm import check_model_space

    try:
        return check_model_space(np.asarray(rows, dtype=np.float32), columns)
    except TabaugError as exc:
        raise TabaugError(f"generator {who}: sample() returned invalid model-space rows: {exc}") from None


def discrete_names(schema: Any) -> list[str]:
    """Names of the bernoulli / categorical columns (what table-based libraries one-hot encode)."""
    return [c.name for c in schema.columns if c.kind != "gaussian"]


@lru_cache(maxsize=1)
def builtin_generators() -> dict[str, type]:
    """Every ``Generator`` subclass with a ``name`` defined in a module of this package."""
    import tabaug_ray.generators as package

    found: dict[str, type] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, Generator) and obj.__module__ == module.__name__
                    and obj.name):
                if obj.name in found:
                    raise TabaugError(f"generator name {obj.name!r} is defined twice ({found[obj.name]}, {obj})")
                found[obj.name] = obj
    return found


def accepted(cls: type, params: dict) -> dict:
    """``params`` restricted to what ``cls``'s constructor accepts (runtime settings such as n_threads)."""
    sig = inspect.signature(cls)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return dict(params)
    return {k: v for k, v in params.items() if k in sig.parameters}
