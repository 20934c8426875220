"""TVAE (``ctgan.TVAE``, Xu et al. 2019) behind the generator contract, with a warm start.

What the adapter adds around the library (each a patch, not a re-implementation):

- Model space in, model space out: ``fit`` hands TVAE a table of original values
  (``schema.inverse_transform``) with the bernoulli / categorical columns as discrete columns;
  ``sample`` maps its rows back with ``schema.transform``.
- Seeding: ``fit`` and ``sample`` run under ctgan's ``set_random_state`` (numpy and torch global
  states, restored afterwards) with streams derived from ``seed``; the data transformer transforms
  in-process (``ctgan.py``'s ``_Transformer``), so the same seed gives the same rows.
- Warm start (Pre-train): ``TVAE.fit`` builds a new transformer, encoder and decoder on every call
  and keeps no encoder. While ``fit(X, init=pretrained)`` runs, the three constructors it looks up
  in ``ctgan.synthesizers.tvae`` are replaced by factories returning copies of the pre-trained
  transformer (frozen), encoder and decoder; the encoder built by every fit is kept
  (``encoder_``) so a later fit can start from it. Adam starts fresh.
"""

from __future__ import annotations

import contextlib
import copy
import time
import warnings
from typing import Sequence

import ctgan.synthesizers.tvae as _tvae_module
import numpy as np
from ctgan import TVAE

from tabaug_ray.errors import TabaugError
from tabaug_ray.generators.base import Generator, discrete_names
from tabaug_ray.generators.ctgan import _PATCH_LOCK, _threads, _Transformer
from tabaug_ray.seeds import derive_seed

_FIT, _SAMPLE = 21, 22  # spawn keys of the seed tree


@contextlib.contextmanager
def _patched(init: "TVAEGenerator | None", captured: dict):
    original = {k: getattr(_tvae_module, k) for k in ("DataTransformer", "Encoder", "Decoder")}

    def make_transformer():
        if init is None:
            return _Transformer()
        t = copy.deepcopy(init.model_.transformer)
        t.frozen = True
        return t

    def build(name: str, *args):
        # the classes call super(Encoder, self) by the module-global name: restore it meanwhile
        current = getattr(_tvae_module, name)
        setattr(_tvae_module, name, original[name])
        try:
            return original[name](*args)
        finally:
            setattr(_tvae_module, name, current)

    def make_encoder(*args):
        captured["encoder"] = build("Encoder", *args) if init is None else copy.deepcopy(init.encoder_)
        return captured["encoder"]

    def make_decoder(*args):
        return build("Decoder", *args) if init is None else copy.deepcopy(init.model_.decoder)

    with _PATCH_LOCK:
        _tvae_module.DataTransformer, _tvae_module.Encoder = make_transformer, make_encoder
        _tvae_module.Decoder = make_decoder
        try:
            yield
        finally:
            for k, v in original.items():
                setattr(_tvae_module, k, v)


class TVAEGenerator(Generator):
    """TVAE, seeded, warm-startable (see the module docstring).

    Args:
        epochs: training epochs (library default 300).
        batch_size: rows per step.
        embedding_dim: latent size.
        compress_dims: encoder hidden widths.
        decompress_dims: decoder hidden widths.
        l2scale: Adam weight decay.
        loss_factor: weight of the reconstruction loss.
        n_threads: torch / BLAS threads.
    """

    name = "tvae"
    warm_start = True

    def __init__(self, *, epochs: int = 300, batch_size: int = 500, embedding_dim: int = 128,
                 compress_dims: Sequence[int] = (128, 128), decompress_dims: Sequence[int] = (128, 128),
                 l2scale: float = 1e-5, loss_factor: float = 2.0, n_threads: int | None = None) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.embedding_dim = embedding_dim
        self.compress_dims = compress_dims
        self.decompress_dims = decompress_dims
        self.l2scale = l2scale
        self.loss_factor = loss_factor
        self.n_threads = n_threads

    def fit(self, X: np.ndarray, *, schema, seed: int, init: "TVAEGenerator | None" = None) -> "TVAEGenerator":
        if self.epochs < 0 or self.batch_size < 1:
            raise TabaugError(f"TVAEGenerator: need epochs >= 0 and batch_size >= 1, got {self.epochs=}, "
                              f"{self.batch_size=}")
        if init is not None and (not isinstance(init, TVAEGenerator) or
                                 (init.embedding_dim, tuple(init.compress_dims), tuple(init.decompress_dims))
                                 != (self.embedding_dim, tuple(self.compress_dims), tuple(self.decompress_dims))):
            raise TabaugError("TVAEGenerator.fit: init must be a fitted TVAEGenerator of the same architecture")
        start = time.perf_counter()
        model = TVAE(embedding_dim=self.embedding_dim, compress_dims=tuple(self.compress_dims),
                     decompress_dims=tuple(self.decompress_dims), l2scale=self.l2scale, batch_size=self.batch_size,
                     epochs=self.epochs, loss_factor=self.loss_factor, enable_gpu=False)
        model.set_random_state(derive_seed(int(seed), _FIT) % 2**32)
        captured: dict = {}
        with _patched(init, captured), _threads(self.n_threads), warnings.catch_warnings():
            # categories the pre-training rows lacked: all-zero one-hot blocks (see ctgan.py)
            warnings.filterwarnings("ignore", message="The data contains .* new categories")
            model.fit(schema.inverse_transform(X), discrete_names(schema))
        self.model_, self.encoder_, self.schema_ = model, captured["encoder"], schema
        self.fit_metrics_ = {}
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        self._check_fitted()
        model = copy.copy(self.model_)
        model.transformer = copy.deepcopy(self.model_.transformer)  # rdt advances its random states
        model.set_random_state(derive_seed(int(seed), _SAMPLE) % 2**32)
        with _threads(self.n_threads), _PATCH_LOCK:
            rows = model.sample(int(n))
        return self.schema_.transform(rows)
