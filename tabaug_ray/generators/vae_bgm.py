"""VAE-BGM generator: an ensemble of seeds trained as one batched model, sampled through a latent BGM.

Randomness: every choice derives from ``seed`` through ``numpy.random.SeedSequence(seed,
spawn_key=...)``: the train/validation split (one per fit, shared by all members), each member's
initialisation, each member's data order / reparameterisation noise / dropout, and each member's
BGM. A member's weights therefore do not depend on which other members are trained beside it
(``fit(X, members=[3])`` gives member 3 of ``fit(X)``), which lets a Ray task train one member.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from tabaug_ray.config import VAESection
from tabaug_ray.data.schema import ColumnSpec
from tabaug_ray.errors import TabaugError
from tabaug_ray.generators.bgm import LatentBGM
from tabaug_ray.generators.ensemble import train_members
from tabaug_ray.generators.vae import (
    DROPOUT,
    GRAD_CLIP,
    PARAM_NAMES,
    VAE,
    decode,
    encode,
    head_layout,
    init_params,
    negative_elbo,
    param_shapes,
    sample_columns,
)
from tabaug_ray.seeds import derive_seed

_SPLIT, _INIT, _NOISE, _BGM, _EVAL = range(5)  # spawn keys of the seed tree
_D = VAESection()  # the defaults live in one place: the config's [vae] section (the reference's settings)


def check_model_space(X: np.ndarray, columns: Sequence[ColumnSpec]) -> np.ndarray:
    """Validate a model-space matrix against its schema; returns it as float32.

    Raises:
        TabaugError: wrong shape, non-finite values, bernoulli outside {0, 1}, categorical codes
            not integers in [0, K).
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != len(columns):
        raise TabaugError(f"model-space matrix must be 2-D with {len(columns)} columns (one per ColumnSpec), got shape {X.shape}")
    if not np.isfinite(X).all():
        j = int(np.flatnonzero(~np.isfinite(X).all(axis=0))[0])
        raise TabaugError(f"column {columns[j].name!r} has non-finite values (NaN or inf)")
    for j, col in enumerate(columns):
        v = X[:, j]
        if col.kind == "bernoulli" and not np.isin(v, (0.0, 1.0)).all():
            raise TabaugError(f"bernoulli column {col.name!r} must hold 0/1, found {v[~np.isin(v, (0.0, 1.0))][0]!r}")
        if col.kind == "categorical":
            bad = (v != np.round(v)) | (v < 0) | (v >= col.n_categories)
            if bad.any():
                raise TabaugError(
                    f"categorical column {col.name!r} must hold integer codes in [0, {col.n_categories}), found {v[bad][0]!r}"
                )
    return X


class VAEBGM:
    """VAE-BGM generator with ``n_seeds`` seeds trained as one batched model; the best seed is sampled.

    Args:
        columns: the schema, one ``ColumnSpec`` per model-space column.
        latent_dim: latent size (reference: 10; 15 King, 20 News).
        hidden_dim: hidden width of encoder and decoder.
        n_seeds: ensemble members (seeds) of a full fit.
        lr: Adam learning rate.
        batch_size: rows per training batch.
        max_epochs: epoch limit per member.
        patience: early-stopping patience in epochs.
        min_delta: early-stopping tolerance on the epoch's summed validation loss.
        val_fraction: share of the rows held out for validation (one split per fit, all members).
        restore_best: keep each member's lowest-validation-loss weights and pick the best seed on
            them. NOTE[DIFF]: the reference kept the final weights and picked on the final loss.
        val_every_batch: reference validation (after every batch, summed over the epoch); False:
            once per epoch times the number of batches (identical when one batch holds the data).
        dropout: decoder dropout probability.
        grad_clip: clamp of the encoder activations' gradients (reference 1000); None = off.
        n_components: BGM components (None: ``latent_dim``, as the reference).
        reg_covar: BGM covariance regularisation.
        n_init: BGM restarts.
        max_iter: BGM EM iterations.
        seed: root of every random choice. NOTE[DIFF]: the reference's seeds were unseeded runs.
        n_threads: threads for training and sampling (None: ``torch.get_num_threads()``); members
            are spread over them, one intra-op thread each (see ``train_members``).
    """

    def __init__(
        self,
        *,
        columns: Sequence[ColumnSpec],
        latent_dim: int = _D.latent_dim,
        hidden_dim: int = _D.hidden_dim,
        n_seeds: int = _D.n_seeds,
        lr: float = _D.lr,
        batch_size: int = _D.batch_size,
        max_epochs: int = _D.max_epochs,
        patience: int = _D.patience,
        min_delta: float = _D.min_delta,
        val_fraction: float = _D.val_fraction,
        restore_best: bool = _D.restore_best,
        val_every_batch: bool = _D.val_every_batch,
        dropout: float = DROPOUT,
        grad_clip: float | None = GRAD_CLIP,
        n_components: int | None = _D.n_components,
        reg_covar: float = _D.reg_covar,
        n_init: int = _D.n_init,
        max_iter: int = _D.max_iter,
        seed: int = 0,
        n_threads: int | None = None,
    ) -> None:
        self.columns = columns
        self.latent_dim = latent_dim
        self.hidden_dim = hidden_dim
        self.n_seeds = n_seeds
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.min_delta = min_delta
        self.val_fraction = val_fraction
        self.restore_best = restore_best
        self.val_every_batch = val_every_batch
        self.dropout = dropout
        self.grad_clip = grad_clip
        self.n_components = n_components
        self.reg_covar = reg_covar
        self.n_init = n_init
        self.max_iter = max_iter
        self.seed = seed
        self.n_threads = n_threads

    _PARAMS = (
        "columns latent_dim hidden_dim n_seeds lr batch_size max_epochs patience min_delta val_fraction "
        "restore_best val_every_batch dropout grad_clip n_components reg_covar n_init max_iter seed n_threads"
    ).split()

    def get_params(self) -> dict:
        """Constructor arguments (scikit-learn style)."""
        return {k: getattr(self, k) for k in self._PARAMS}

    # ------------------------------------------------------------------ checks and set-up
    def _check_params(self) -> None:
        for name in ("latent_dim", "hidden_dim", "n_seeds", "batch_size", "n_init", "max_iter"):
            if int(getattr(self, name)) < 1:
                raise TabaugError(f"VAEBGM: {name} must be >= 1, got {getattr(self, name)=}")
        if self.max_epochs < 0 or self.patience < 1:
            raise TabaugError(f"VAEBGM: need max_epochs >= 0 and patience >= 1, got {self.max_epochs=}, {self.patience=}")
        if not 0.0 < self.val_fraction < 1.0:
            raise TabaugError(f"VAEBGM: val_fraction must lie in (0, 1), got {self.val_fraction=}")
        if not 0.0 <= self.dropout < 1.0:
            raise TabaugError(f"VAEBGM: dropout must lie in [0, 1), got {self.dropout=}")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise TabaugError(f"VAEBGM: seed must be a non-negative integer, got {self.seed=}")

    def _members(self, members: Iterable[int] | None) -> np.ndarray:
        if members is None:
            return np.arange(self.n_seeds)
        m = np.unique(np.asarray(list(members), dtype=np.int64))
        if m.size == 0 or m.min() < 0 or m.max() >= self.n_seeds:
            raise TabaugError(f"VAEBGM: members must be seed indices in [0, {self.n_seeds}), got {list(members)!r}")
        return m

    def _prepare(self, X: np.ndarray, members: Iterable[int] | None) -> None:
        self._check_params()
        self.columns_ = tuple(self.columns)
        self.layout_ = head_layout(self.columns_)
        X = check_model_space(X, self.columns_)
        n = X.shape[0]
        n_val = int(round(self.val_fraction * n))
        if n_val < 1 or n_val >= n:
            raise TabaugError(f"VAEBGM: {n} rows with val_fraction={self.val_fraction} leave {n_val} validation rows; need 1 .. n-1")
        order = np.random.default_rng(derive_seed(self.seed, _SPLIT)).permutation(n)
        self.val_index_, self.train_index_ = np.sort(order[:n_val]), np.sort(order[n_val:])
        x = torch.from_numpy(X)
        self._x_train, self._x_val = x[self.train_index_], x[self.val_index_]
        self.n_features_in_ = X.shape[1]
        self.members_ = self._members(members)
        self.bgm_ = {}
        self.bgm_seconds_ = 0.0

    def _stack_init(self, init: Mapping[str, Tensor] | None) -> dict[str, Tensor]:
        members = self.members_
        if init is None:
            per = [
                init_params(
                    self.layout_,
                    latent_dim=self.latent_dim,
                    hidden_dim=self.hidden_dim,
                    generator=torch.Generator().manual_seed(derive_seed(self.seed, _INIT, int(m))),
                )
                for m in members
            ]
            return {k: torch.stack([p[k] for p in per]) for k in PARAM_NAMES}
        shapes = param_shapes(self.n_features_in_, self.layout_.width, latent_dim=self.latent_dim, hidden_dim=self.hidden_dim)
        missing = [k for k in PARAM_NAMES if k not in init]
        if missing:
            raise TabaugError(f"VAEBGM init: missing parameters {missing}; expected the keys of VAE.state_dict()")
        out = {}
        for k, shape in shapes.items():
            t = torch.as_tensor(init[k]).detach().to(torch.float32)
            if tuple(t.shape) == shape:
                out[k] = t.unsqueeze(0).expand(len(members), *shape).clone()
            elif tuple(t.shape) == (self.n_seeds, *shape):
                out[k] = t.index_select(0, torch.from_numpy(members)).clone()
            elif tuple(t.shape) == (len(members), *shape):
                out[k] = t.clone()
            else:
                raise TabaugError(
                    f"VAEBGM init: {k!r} has shape {tuple(t.shape)}; expected {shape} (one state for all seeds), "
                    f"({self.n_seeds}, *{shape}) (all seeds) or ({len(members)}, *{shape}) (the trained members)"
                )
        return out

    def _threads(self) -> int:
        return int(self.n_threads) if self.n_threads else torch.get_num_threads()

    def _set_results(self, params, best_val, final_val, epochs, best_epoch) -> None:
        full = lambda fill, v, dt: self._scatter(np.full(self.n_seeds, fill, dtype=dt), v)  # noqa: E731
        self.params_ = params
        self.val_loss_ = full(np.nan, best_val, np.float64)
        self.final_val_loss_ = full(np.nan, final_val, np.float64)
        self.epochs_ = full(0, epochs, np.int64)
        self.best_epoch_ = full(0, best_epoch, np.int64)
        pick = self.val_loss_ if self.restore_best else self.final_val_loss_
        scores = np.where(np.isnan(pick[self.members_]), np.inf, pick[self.members_])
        self.best_seed_ = int(self.members_[int(np.argmin(scores))])

    def _scatter(self, arr: np.ndarray, values: np.ndarray) -> np.ndarray:
        arr[self.members_] = values
        return arr

    # ------------------------------------------------------------------ fit
    def fit(self, X: np.ndarray, *, init: Mapping[str, Tensor] | None = None, members: Iterable[int] | None = None) -> "VAEBGM":
        """Train the members on the model-space rows ``X`` until each stops early.

        Args:
            X: model-space matrix ``[n, D]`` (gaussian z-scored, bernoulli 0/1, categorical codes).
            init: initial weights: ONE state dict (``VAE.state_dict()`` keys) broadcast to every
                member, or a stacked state with a leading seed dimension (``n_seeds`` or
                ``len(members)``). None: each member's own seeded initialisation. Adam starts fresh.
            members: seed indices to train (default all ``n_seeds``); member ``s`` gets the same
                weights as in a full fit.
        """
        start = time.perf_counter()
        self._prepare(X, members)
        stacked = self._stack_init(init)
        gens = [np.random.default_rng(derive_seed(self.seed, _NOISE, int(m))) for m in self.members_]
        res = train_members(
            self._x_train,
            self._x_val,
            init=stacked,
            generators=gens,
            n_threads=self._threads(),
            layout=self.layout_,
            latent_dim=self.latent_dim,
            hidden_dim=self.hidden_dim,
            lr=self.lr,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            patience=self.patience,
            min_delta=self.min_delta,
            restore_best=self.restore_best,
            val_every_batch=self.val_every_batch,
            dropout=self.dropout,
            grad_clip=self.grad_clip,
        )
        self._set_results(res.params, res.best_val_loss, res.final_val_loss, res.epochs, res.best_epoch)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    # ------------------------------------------------------------------ building from weights
    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Tensor],
        X: np.ndarray,
        *,
        members: Iterable[int] | None = None,
        val_loss: np.ndarray | None = None,
        **params,
    ) -> "VAEBGM":
        """A fitted generator from given weights, without training (e.g. weights from another process).

        Args:
            state: one state dict (used for every member) or a stacked state, as ``fit``'s ``init``.
            X: the model-space rows the weights were trained on (the split is re-derived from ``seed``).
            members: seed indices the state holds (default all ``n_seeds``).
            val_loss: per-member validation loss (in ``members`` order); None: evaluated on the
                validation rows with seeded noise.
            **params: constructor arguments.
        """
        self = cls(**params)
        start = time.perf_counter()
        self._prepare(X, members)
        stacked = self._stack_init(state)
        if val_loss is None:
            eps = torch.from_numpy(
                np.stack(
                    [
                        np.random.default_rng(derive_seed(self.seed, _EVAL, int(m))).standard_normal(
                            (len(self._x_val), self.latent_dim), dtype=np.float32
                        )
                        for m in self.members_
                    ]
                )
            )
            x_val = self._x_val.unsqueeze(0).expand(len(self.members_), *self._x_val.shape).contiguous()
            with torch.no_grad():
                val_loss = negative_elbo(stacked, x_val, columns=self.layout_, eps=eps).numpy()
        val_loss = np.asarray(val_loss, dtype=np.float64)
        zeros = np.zeros(len(self.members_), dtype=np.int64)
        self._set_results(stacked, val_loss, val_loss, zeros, zeros)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    @classmethod
    def combine(cls, parts: Sequence["VAEBGM"]) -> "VAEBGM":
        """Merge fits of disjoint members (e.g. one Ray task per seed) into one ensemble.

        All parts must have equal constructor arguments (``n_threads`` aside) and training rows.
        """
        if not parts:
            raise TabaugError("VAEBGM.combine: no parts given")
        first = parts[0]
        same = lambda p: {k: v for k, v in p.get_params().items() if k != "n_threads"}  # noqa: E731
        for p in parts[1:]:
            diff = sorted(k for k, v in same(p).items() if v != same(first)[k])
            if diff:
                raise TabaugError(f"VAEBGM.combine: parts differ in constructor arguments {diff}")
            if not (torch.equal(p._x_train, first._x_train) and torch.equal(p._x_val, first._x_val)):
                raise TabaugError("VAEBGM.combine: parts were fitted on different rows")
        members = np.concatenate([p.members_ for p in parts])
        if len(np.unique(members)) != len(members):
            raise TabaugError(f"VAEBGM.combine: members overlap: {sorted(members.tolist())}")
        order = np.argsort(members)
        out = cls(**first.get_params())
        for k in ("columns_", "layout_", "val_index_", "train_index_", "_x_train", "_x_val", "n_features_in_"):
            setattr(out, k, getattr(first, k))
        out.members_ = members[order]
        idx = torch.from_numpy(order)
        params = {k: torch.cat([p.params_[k] for p in parts]).index_select(0, idx) for k in PARAM_NAMES}
        take = lambda a: np.concatenate([getattr(p, a)[p.members_] for p in parts])[order]  # noqa: E731
        out._set_results(params, take("val_loss_"), take("final_val_loss_"), take("epochs_"), take("best_epoch_"))
        out.bgm_ = {m: b for p in parts for m, b in p.bgm_.items()}
        out.bgm_seconds_ = sum(p.bgm_seconds_ for p in parts)
        out.fit_seconds_ = sum(p.fit_seconds_ for p in parts)
        return out

    # ------------------------------------------------------------------ weights
    def _index(self, member: int | str) -> int:
        if not hasattr(self, "params_"):
            raise TabaugError("VAEBGM is not fitted: call fit first")
        m = self.best_seed_ if member == "best" else member
        hits = np.flatnonzero(self.members_ == m) if isinstance(m, (int, np.integer)) else []
        if len(hits) == 0:
            raise TabaugError(f"VAEBGM: member {member!r} was not trained; trained members: {self.members_.tolist()}")
        return int(hits[0])

    def _member_params(self, member: int | str) -> dict[str, Tensor]:
        i = self._index(member)
        return {k: v[i] for k, v in self.params_.items()}

    def state_dict(self, member: int | str = "best") -> "OrderedDict[str, Tensor]":
        """One member's weights as a ``VAE`` state dict ("best" = ``best_seed_``)."""
        return OrderedDict((k, v.clone()) for k, v in self._member_params(member).items())

    def stacked_state(self) -> dict[str, Tensor]:
        """All trained members' weights, leading dimension in ``members_`` order."""
        return {k: v.clone() for k, v in self.params_.items()}

    def module(self, member: int | str = "best") -> VAE:
        """One member as a plain ``VAE`` module in evaluation mode."""
        vae = VAE(columns=self.columns_, latent_dim=self.latent_dim, hidden_dim=self.hidden_dim, dropout=self.dropout, grad_clip=self.grad_clip)
        vae.load_state_dict(self.state_dict(member))
        return vae.eval()

    # ------------------------------------------------------------------ sampling
    def latent(self, member: int | str = "best") -> LatentBGM:
        """The member's latent BGM, fitted on first use on the encoder means of the training rows."""
        m = self.members_[self._index(member)]
        if int(m) not in self.bgm_:
            start = time.perf_counter()
            from threadpoolctl import threadpool_limits

            with torch.no_grad():
                mu, logvar = encode(self._member_params(int(m)), self._x_train, columns=self.layout_, grad_clip=None)
            # One BLAS/OpenMP thread whatever n_threads: on matrices this small (n x latent_dim)
            # extra threads only add synchronisation; on a 2-core machine 10 BGM fits + samples
            # took 88 s with 2 threads vs 3.7 s with 1, with identical samples.
            with threadpool_limits(1):
                self.bgm_[int(m)] = LatentBGM(
                    n_components=self.n_components or self.latent_dim,
                    reg_covar=self.reg_covar,
                    n_init=self.n_init,
                    max_iter=self.max_iter,
                    seed=derive_seed(self.seed, _BGM, int(m)) % (2**31),
                ).fit(mu.numpy(), logvar.numpy())
            self.bgm_seconds_ += time.perf_counter() - start
        return self.bgm_[int(m)]

    def sample(self, n: int, *, seed: int, member: int | str = "best") -> np.ndarray:
        """``n`` synthetic model-space rows (float32 ``[n, D]``) from one member.

        A latent mean is drawn from the member's BGM, noise with the training rows' average encoder
        variance is added, the decoder runs without dropout, and each column is *sampled* from its
        head (normal / bernoulli / categorical).

        Args:
            n: rows to draw.
            seed: seed of this draw (same seed, same rows).
            member: "best" (``best_seed_``) or a trained seed index.
        """
        if n < 0:
            raise TabaugError(f"VAEBGM.sample: n must be >= 0, got {n=}")
        from threadpoolctl import threadpool_limits

        bgm = self.latent(member)
        rng = np.random.default_rng(seed)
        with threadpool_limits(1):  # see `latent`: one BLAS thread is faster here, same numbers
            z = bgm.sample(n, rng=rng)
        previous = torch.get_num_threads()
        torch.set_num_threads(self._threads())
        try:
            with torch.no_grad():
                out = decode(self._member_params(member), torch.from_numpy(z.astype(np.float32)))
        finally:
            torch.set_num_threads(previous)
        return sample_columns(out.numpy(), self.layout_, rng)
