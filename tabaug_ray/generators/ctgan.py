"""CTGAN (the ``ctgan`` package) behind the generator contract, with a pre-train -> fine-tune path that works.

``ctgan.CTGAN.fit`` builds a new data transformer, a new generator and a new discriminator on every
call, so the reference code's "fine-tuning" of a loaded model silently started from scratch (its
CTGAN Pre-train results equal Low data). Here ``fit(real, init=pretrained)`` really starts from the
pre-trained weights: while ``fit`` runs, the four constructors it looks up in
``ctgan.synthesizers.ctgan`` (``DataTransformer``, ``DataSampler``, ``Generator``, ``Discriminator``)
are temporarily replaced by factories that return a copy of the pre-trained transformer (its ``fit``
a no-op), the pre-trained generator and the pre-trained discriminator (the discriminator is a local
variable of ``fit``: the factory is how we keep it). The Adam optimisers start fresh, as the VAE's.

Categories and the pre-trained transformer: the encoding (one-hot blocks, the per-column mode-specific
normalisers) is the pre-trained one, fitted on the synthetic rows. A category of the real rows that
the synthetic rows lacked gets an all-zero one-hot block (rdt's behaviour): those rows still train
the networks, but that category is never generated; ``unseen_categories_`` lists such values (the
synthetic rows come from a VAE trained on the real rows, so normally there are none). Continuous
values outside the synthetic range are clipped by the normaliser to its outermost mode (+-4 std).
A category of the pre-trained encoding that the real rows lack has frequency 0: ctgan's
``sample_original_condvec`` then shifts every later category's index (it drops zero frequencies
from a flattened, padded matrix); ``_DataSampler`` fixes that (identical draws otherwise).

Randomness: ``seed`` seeds ctgan's ``set_random_state`` (numpy and torch global states inside
``fit`` / ``sample``) and rdt's transformers seed themselves from the data, so the same seed and
rows give the same weights and samples. Fits in one process are serialised by a lock (ctgan uses the
global random states and we patch its module).
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
import warnings
from typing import Iterable, Sequence

import ctgan.synthesizers.ctgan as _ctgan_module
import numpy as np
import pandas as pd
import torch
from ctgan import CTGAN
from ctgan.data_sampler import DataSampler
from ctgan.data_transformer import DataTransformer
from threadpoolctl import threadpool_limits

from tabaug_ray.errors import TabaugError
from tabaug_ray.generators.base import Generator, discrete_names
from tabaug_ray.seeds import derive_seed

_FIT, _SAMPLE = 11, 12  # spawn keys of the seed tree
_PATCH_LOCK = threading.RLock()
_ARCH = ("embedding_dim", "generator_dim", "discriminator_dim", "pac")


class _Transformer(DataTransformer):
    """ctgan's transformer, transforming in-process (no joblib worker processes: deterministic, and it
    keeps to the threads a Ray task has). ``frozen``: ``fit`` keeps the fitted (pre-trained) encoding."""

    frozen = False

    def fit(self, raw_data, discrete_columns=()):
        if not self.frozen:
            super().fit(raw_data, discrete_columns)

    def transform(self, raw_data):
        parts = self._synchronous_transform(raw_data, self._column_transform_info_list)
        return np.concatenate(parts, axis=1).astype(float)


class _DataSampler(DataSampler):
    """ctgan's sampler with ``sample_original_condvec`` correct when a category has frequency 0."""

    def sample_original_condvec(self, batch):
        if self._n_discrete_columns == 0:
            return None
        prob = np.concatenate([self._discrete_column_category_prob[i, :k] for i, k in enumerate(self._discrete_column_n_category)])
        prob = prob / prob.sum()
        idx = np.random.choice(np.arange(len(prob)), batch, p=prob)
        cond = np.zeros((batch, self._n_categories), dtype="float32")
        cond[np.arange(batch), idx] = 1
        return cond


@contextlib.contextmanager
def _patched(init: "CTGANGenerator | None", captured: dict):
    """Substitute the constructors ``CTGAN.fit`` calls; the discriminator it builds lands in ``captured``."""
    original = {name: getattr(_ctgan_module, name) for name in ("DataTransformer", "DataSampler", "Generator", "Discriminator")}

    def make_transformer():
        if init is None:
            return _Transformer()
        t = copy.deepcopy(init.model_._transformer)
        t.frozen = True
        return t

    def build(name: str, *args, **kwargs):
        # ctgan's __init__ calls super(Generator, self) by the module-global name: restore it meanwhile
        current = getattr(_ctgan_module, name)
        setattr(_ctgan_module, name, original[name])
        try:
            return original[name](*args, **kwargs)
        finally:
            setattr(_ctgan_module, name, current)

    def make_generator(embedding_dim, generator_dim, data_dim):
        if init is None:
            return build("Generator", embedding_dim, generator_dim, data_dim)
        return copy.deepcopy(init.model_._generator)

    def make_discriminator(input_dim, discriminator_dim, pac=10):
        if init is None:
            d = build("Discriminator", input_dim, discriminator_dim, pac=pac)
        else:
            d = copy.deepcopy(init.discriminator_)
        captured["discriminator"] = d
        return d

    with _PATCH_LOCK:
        _ctgan_module.DataTransformer, _ctgan_module.DataSampler = make_transformer, _DataSampler
        _ctgan_module.Generator, _ctgan_module.Discriminator = make_generator, make_discriminator
        try:
            yield
        finally:
            for name, value in original.items():
                setattr(_ctgan_module, name, value)


@contextlib.contextmanager
def _threads(n: int | None):
    previous = torch.get_num_threads()
    n = int(n) if n else previous
    torch.set_num_threads(n)
    try:
        with threadpool_limits(n):
            yield
    finally:
        torch.set_num_threads(previous)


class CTGANGenerator:
    """CTGAN on table rows (original values: ctgan does its own transforms), seeded, with a real fine-tuning path.

    Args:
        epochs: training epochs (ctgan and SDV default 300; the paper used 1,000).
        batch_size: rows per step; even and a multiple of ``pac``.
        generator_dim: widths of the generator's residual layers.
        discriminator_dim: widths of the discriminator's layers.
        pac: rows the discriminator judges together.
        embedding_dim: size of the generator's noise input.
        generator_lr: generator Adam learning rate.
        generator_decay: generator weight decay.
        discriminator_lr: discriminator Adam learning rate.
        discriminator_decay: discriminator weight decay.
        discriminator_steps: discriminator updates per generator update.
        log_frequency: sample conditional categories by log frequency.
        seed: root of every random choice.
        n_threads: torch / BLAS threads during fit and sample (None: unchanged).
    """

    def __init__(
        self,
        *,
        epochs: int = 300,
        batch_size: int = 500,
        generator_dim: Sequence[int] = (256, 256),
        discriminator_dim: Sequence[int] = (256, 256),
        pac: int = 10,
        embedding_dim: int = 128,
        generator_lr: float = 2e-4,
        generator_decay: float = 1e-6,
        discriminator_lr: float = 2e-4,
        discriminator_decay: float = 1e-6,
        discriminator_steps: int = 1,
        log_frequency: bool = True,
        seed: int = 0,
        n_threads: int | None = None,
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.generator_dim = generator_dim
        self.discriminator_dim = discriminator_dim
        self.pac = pac
        self.embedding_dim = embedding_dim
        self.generator_lr = generator_lr
        self.generator_decay = generator_decay
        self.discriminator_lr = discriminator_lr
        self.discriminator_decay = discriminator_decay
        self.discriminator_steps = discriminator_steps
        self.log_frequency = log_frequency
        self.seed = seed
        self.n_threads = n_threads

    _PARAMS = (
        "epochs batch_size generator_dim discriminator_dim pac embedding_dim generator_lr generator_decay "
        "discriminator_lr discriminator_decay discriminator_steps log_frequency seed n_threads"
    ).split()

    def get_params(self) -> dict:
        """Constructor arguments (scikit-learn style)."""
        return {k: getattr(self, k) for k in self._PARAMS}

    def _check_params(self) -> None:
        if self.epochs < 0:
            raise TabaugError(f"CTGANGenerator: epochs must be >= 0, got {self.epochs=}")
        if self.pac < 1 or self.batch_size < 2 or self.batch_size % 2 or self.batch_size % self.pac:
            raise TabaugError(
                f"CTGANGenerator: batch_size must be even and a multiple of pac, got {self.batch_size=}, {self.pac=}"
            )
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise TabaugError(f"CTGANGenerator: seed must be a non-negative integer, got {self.seed=}")

    def _check_frame(self, frame: pd.DataFrame, discrete: list[str], init: "CTGANGenerator | None") -> None:
        if not isinstance(frame, pd.DataFrame) or frame.empty:
            raise TabaugError(f"CTGANGenerator.fit: expected a non-empty pandas DataFrame, got {type(frame).__name__}")
        missing = [c for c in discrete if c not in frame.columns]
        if missing:
            raise TabaugError(f"CTGANGenerator.fit: discrete_columns {missing} are not columns of the table")
        continuous = [c for c in frame.columns if c not in discrete]
        nulls = [c for c in continuous if frame[c].isna().any()]
        if nulls:
            raise TabaugError(f"CTGANGenerator.fit: continuous columns {nulls} have missing values; impute them first")
        if init is None:
            return
        if not hasattr(init, "model_"):
            raise TabaugError("CTGANGenerator.fit: init is not fitted")
        diff = [k for k in _ARCH if tuple(np.atleast_1d(getattr(self, k))) != tuple(np.atleast_1d(getattr(init, k)))]
        if diff:
            raise TabaugError(f"CTGANGenerator.fit: init differs in architecture {diff}; they must be equal to fine-tune")
        if list(frame.columns) != init.columns_ or sorted(discrete) != sorted(init.discrete_columns_):
            raise TabaugError(
                f"CTGANGenerator.fit: columns {list(frame.columns)} / discrete {sorted(discrete)} differ from the "
                f"pre-trained model's {init.columns_} / {sorted(init.discrete_columns_)}"
            )

    def fit(
        self, frame: pd.DataFrame, *, discrete_columns: Iterable[str] = (), init: "CTGANGenerator | None" = None
    ) -> "CTGANGenerator":
        """Train on table rows.

        Args:
            frame: the rows, original values (no missing values in continuous columns).
            discrete_columns: categorical / binary columns (one-hot encoded by ctgan).
            init: a fitted ``CTGANGenerator`` (e.g. pre-trained on synthetic rows) to fine-tune from:
                its data transformer, generator and discriminator weights are the start (copied, not
                changed); the optimisers start fresh. Architecture and columns must match.
        """
        self._check_params()
        discrete = list(discrete_columns)
        self._check_frame(frame, discrete, init)
        start = time.perf_counter()
        model = CTGAN(
            embedding_dim=self.embedding_dim,
            generator_dim=tuple(self.generator_dim),
            discriminator_dim=tuple(self.discriminator_dim),
            generator_lr=self.generator_lr,
            generator_decay=self.generator_decay,
            discriminator_lr=self.discriminator_lr,
            discriminator_decay=self.discriminator_decay,
            batch_size=self.batch_size,
            discriminator_steps=self.discriminator_steps,
            log_frequency=self.log_frequency,
            epochs=self.epochs,
            pac=self.pac,
            enable_gpu=False,
        )
        model.set_random_state(derive_seed(self.seed, _FIT) % 2**32)
        self.unseen_categories_ = self._unseen(frame, discrete, init) if init is not None else {}
        captured: dict = {}
        with _patched(init, captured), _threads(self.n_threads), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The data contains .* new categories")
            model.fit(frame, discrete)
        self.model_ = model
        self.discriminator_ = captured["discriminator"]
        self.columns_ = list(frame.columns)
        self.dtypes_ = frame.dtypes.to_dict()
        self.discrete_columns_ = discrete
        self.fine_tuned_ = init is not None
        self.loss_values_ = model.loss_values
        self.fit_seconds_ = time.perf_counter() - start
        if self.unseen_categories_:
            warnings.warn(
                f"CTGANGenerator.fit: categories absent from the pre-training rows are encoded as all zeros and "
                f"never generated: {self.unseen_categories_}",
                stacklevel=2,
            )
        return self

    @staticmethod
    def _unseen(frame: pd.DataFrame, discrete: list[str], init: "CTGANGenerator") -> dict[str, list]:
        known = {
            info.column_name: {None if pd.isna(v) else v for v in info.transform.dummies}
            for info in init.model_._transformer._column_transform_info_list
            if info.column_type == "discrete"
        }
        out = {}
        for col in discrete:
            values = {None if pd.isna(v) else v for v in pd.unique(frame[col])}
            new = sorted(values - known[col], key=str)
            if new:
                out[col] = new
        return out

    def sample(self, n: int, *, seed: int) -> pd.DataFrame:
        """``n`` synthetic rows with the training table's columns and dtypes (same seed, same rows)."""
        if not hasattr(self, "model_"):
            raise TabaugError("CTGANGenerator is not fitted: call fit first")
        if n < 0:
            raise TabaugError(f"CTGANGenerator.sample: n must be >= 0, got {n=}")
        if n == 0:
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in self.dtypes_.items()})
        model = copy.copy(self.model_)  # shallow: only the random state and the transformer change
        model._transformer = copy.deepcopy(self.model_._transformer)  # rdt advances its random states
        model.set_random_state(derive_seed(int(seed), _SAMPLE) % 2**32)
        with _threads(self.n_threads), _PATCH_LOCK:
            rows = model.sample(int(n))
        return rows[self.columns_].reset_index(drop=True)


class CTGANModel(Generator):
    """CTGAN behind the generator contract: model-space rows in and out, the table conversion inside.

    ``fit`` hands ctgan the rows as a table of original values (``schema.inverse_transform``: the
    transform's imputed values, original dtypes and labels), with the bernoulli / categorical columns
    as its discrete columns; ``sample`` maps ctgan's rows back with ``schema.transform``.

    Args:
        n_threads: torch / BLAS threads.
        **params: ``CTGANGenerator`` arguments (the ``[ctgan]`` section).
    """

    name = "ctgan"
    warm_start = True
    config_section = "ctgan"

    def __init__(self, *, n_threads: int | None = None, **params) -> None:
        self.n_threads = n_threads
        self.params = params

    def get_params(self) -> dict:
        return {**self.params, "n_threads": self.n_threads}

    def fit(self, X: np.ndarray, *, schema, seed: int, init: "CTGANModel | None" = None) -> "CTGANModel":
        model = CTGANGenerator(seed=seed, n_threads=self.n_threads, **self.params)
        self.model_ = model.fit(schema.inverse_transform(X), discrete_columns=discrete_names(schema),
                                init=None if init is None else init.model_)
        self.schema_ = schema
        self.fit_metrics_ = {}
        return self

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        self._check_fitted()
        return self.schema_.transform(self.model_.sample(n, seed=seed))
