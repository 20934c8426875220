"""Classifier-based estimator of KL(real ‖ synthetic) and JS(real, synthetic).

A discriminator D learns to tell M real rows (label 1) from M synthetic rows (label 0). With equal
class sizes its odds D/(1 − D) estimate the density ratio p_real/p_syn, so on L held-out rows per side

    KL(real ‖ syn) ≈ mean over real rows of logit D                                (nats)
    JS(real, syn)  ≈ ½[(1 + mean log₂ D(x_real)) + (1 + mean log₂(1 − D(x_syn)))]   (bits, D clipped ≥ 1e-7)

L more rows per side form the validation split for early stopping. Small negative values are
estimation error. The discriminator's ROC-AUC on the estimation rows is the C2ST statistic.

Departures from the reference code (each also marked `# NOTE[DIFF]` where it happens):
- one discriminator gives both KL and JS (both come from the same density ratio); the reference
  trained one per divergence;
- the R repeats train as one batched model (`BatchedMLP`), each seeded, instead of R unseeded runs
  one after another;
- Adam at 3e-3 on mini-batches of at most 512 rows with early stopping on the validation BCE after
  every epoch (patience ≈ 100 optimiser steps, min_delta 1e-3, best weights restored) instead of
  Adam at 1e-3, full batch, up to 10,000 epochs with patience 1,000. On N(0, I) vs N(mu, I) this
  reaches the closed-form KL within a few per cent in 5–15 epochs; the reference needed about
  30 minutes per repeat. Subtle differences read low: on Letter's Big data JS 0.136 against 0.285
  with lr 1e-3 and patience_steps 3,000 (experiments set these with `[evaluation] judge`);
- each repeat draws its own M / L / L split of the rows (`resplit=True`), so the spread over
  repeats includes the sampling of rows; `resplit=False` reuses one split like the reference;
- columns are z-scored with the real training rows' statistics (`standardize=True`).
Calibration was checked on the Gaussian cases: the temperature that minimises the validation BCE
lies within 0.95–1.11, so the logits are neither over- nor under-confident.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from tabaug_ray.errors import TabaugError
from tabaug_ray.evaluate.judges import JUDGES, still_improving

_DEFAULT = JUDGES["default"]

PRESETS: dict[str, tuple[int, int]] = {"reliable": (7_500, 1_000), "realistic": (100, 100)}
"""Validation sizes (M, L) of the paper: `reliable` and the low-resource `realistic`."""

_LOG2_EPS = math.log2(1e-7)


@dataclass(frozen=True)
class DivergenceResult:
    """Divergence estimates over R repeats: means, standard deviations (numpy's ddof=0) and per-repeat values.

    `seconds` is the wall time of the call that produced the result (shared by all results of one
    `estimate_many` call); `epochs` the best epoch per repeat (weights restored from it) and
    `epochs_trained` the epoch at which each repeat stopped.
    """

    kl: float
    kl_std: float
    js: float
    js_std: float
    auc: float
    auc_std: float
    m: int
    l: int
    kl_repeats: tuple[float, ...] = field(repr=False)
    js_repeats: tuple[float, ...] = field(repr=False)
    auc_repeats: tuple[float, ...] = field(repr=False)
    epochs: tuple[int, ...] = field(repr=False)
    epochs_trained: tuple[int, ...] = field(repr=False, default=())
    seconds: float = 0.0
    best_bce: tuple[float, ...] = field(repr=False, default=())
    js_se: tuple[float, ...] = field(repr=False, default=())
    improving: tuple[bool, ...] = field(repr=False, default=())

    @property
    def repeats(self) -> int:
        return len(self.kl_repeats)

    def warnings(self) -> list[str]:
        """Self-diagnosis: a judge cut off while its validation BCE still fell, or repeats that
        disagree by more than their standard errors explain (`judges.repeats_disagree`)."""
        from tabaug_ray.evaluate.judges import DISAGREE_Z, repeats_disagree

        out = []
        cut = [r for r, flag in enumerate(self.improving) if flag]
        if cut:
            out.append(f"judge warning: {len(cut)} of {self.repeats} repeats stopped at the epoch limit with their "
                       f"validation BCE still falling (repeats {cut}); the divergences may read low: raise max_epochs")
        if self.js_se and repeats_disagree(np.array(self.js_repeats), np.array(self.js_se)):
            out.append(f"judge warning: the {self.repeats} repeats' JS spread (std {np.std(self.js_repeats, ddof=1):.3g}) "
                       f"exceeds {DISAGREE_Z:g}x their standard errors (~{np.sqrt(np.mean(np.square(self.js_se))):.3g}); "
                       "the estimate is unstable: more rows (M, L) or more repeats")
        return out

    def to_dict(self) -> dict:
        """Plain JSON-able dict (lists for the per-repeat values)."""
        return {
            "kl": self.kl, "kl_std": self.kl_std, "js": self.js, "js_std": self.js_std,
            "auc": self.auc, "auc_std": self.auc_std, "m": self.m, "l": self.l, "repeats": self.repeats,
            "kl_repeats": list(self.kl_repeats), "js_repeats": list(self.js_repeats),
            "auc_repeats": list(self.auc_repeats), "epochs": list(self.epochs),
            "epochs_trained": list(self.epochs_trained), "seconds": self.seconds,
            "best_bce": list(self.best_bce), "js_se": list(self.js_se), "improving": list(self.improving),
            "warnings": self.warnings(),
        }


class DivergenceEstimator:
    """Estimate KL and JS divergences between real and synthetic rows with one batched discriminator.

    Args:
        m: training rows per side (M).
        l: estimation rows per side (L); L more rows per side are the validation split.
        repeats: R, independent repeats (seeded); their mean and std are reported.
        hidden: widths of the discriminator blocks (Linear → BatchNorm → Dropout → LeakyReLU(0.2)).
        dropout: dropout probability in every block (reference 0.5).
        lr: Adam learning rate (reference 1e-3).
        batch_size: largest mini-batch over the 2M training rows; an epoch has ceil(2M / batch_size)
            equal batches (full batch for the realistic preset, as in the reference).
        max_epochs: upper bound on epochs.
        patience: epochs without a decrease of the validation BCE by more than `min_delta` before a
            repeat stops; `None` picks `max(min_patience, ceil(patience_steps / batches_per_epoch))`
            (4 epochs for the reliable preset, 100 full-batch epochs for the realistic one).
        patience_steps, min_patience: see `patience`.
        max_patience_epochs: if set, a derived patience is at most this many epochs (the default
            judge: 200, which only binds when an epoch has fewer than 3 batches, i.e. the
            `realistic` preset: 200 instead of 600 one-step epochs, same readings at a third of
            the time on the known-density cases; docs/METHODS.md).
        min_delta: smallest decrease of the validation BCE (nats) that counts as an improvement.
        resplit: if True each repeat draws its own M/L/L split of the rows; if False all repeats
            share one split and differ only in initialisation, mini-batch order and dropout (reference).
        standardize: z-score every column with the mean/std of the real training rows of each repeat.
        seed: seed of every random choice (splits, initial weights, batches, dropout).
        n_threads: torch threads while training; `None` uses the CPUs this process may run on.
        calibrate: Platt-scale each repeat's logits (slope and offset minimising the BCE on its
            validation rows) before reading KL and JS from them: the discriminator's logits are
            shrunk by early stopping, and a mean logit reads KL low by the shrinkage (on 50 weakly
            different marginals KL 0.148 -> 0.205 nats against the true 0.223).
        kl_epochs: if > 0, after the BCE training fine-tune each repeat's network for at most this
            many epochs on the NWJ objective E_P[T] - E_Q[exp(T - 1)] (T = 1 + logit, optimum
            logit = log p/q; exp's argument clipped at 20), early-stopped on the validation NWJ, and
            read KL as the mean fine-tuned logit over the real estimation rows; JS, AUC and the
            diagnostics still come from the BCE-trained network. BCE saturates where the classifier
            is already confident, so its logits stay small in the tails of P that carry KL; NWJ's
            gradient on real rows does not vanish there.
        kl_lr, kl_patience_steps: Adam learning rate and patience (optimiser steps) of that fine-tuning.
    """

    def __init__(
        self,
        *,
        m: int = 7_500,
        l: int = 1_000,
        repeats: int = 5,
        hidden: Sequence[int] = (256, 64, 32),
        # NOTE[DIFF]: the defaults are the 'default' judge of `judges.JUDGES` (dropout 0.1, Adam 1e-3 on
        # 512-row batches, patience ~600 steps, Platt-calibrated logits), chosen on the known-density
        # suite (benchmarks/judge_calibration.py, README); the reference's full-batch judge is
        # `judges.JUDGES["reference"]`.
        dropout: float = _DEFAULT["dropout"],
        lr: float = _DEFAULT["lr"],
        batch_size: int = _DEFAULT["batch_size"],
        max_epochs: int = _DEFAULT["max_epochs"],
        patience: int | None = None,
        patience_steps: int = _DEFAULT["patience_steps"],
        min_patience: int = 3,
        max_patience_epochs: int | None = _DEFAULT.get("max_patience_epochs"),
        min_delta: float = 1e-3,
        resplit: bool = _DEFAULT["resplit"],
        standardize: bool = True,
        seed: int = 0,
        n_threads: int | None = None,
        calibrate: bool = _DEFAULT["calibrate"],
        kl_epochs: int = _DEFAULT.get("kl_epochs", 0),
        kl_lr: float = _DEFAULT.get("kl_lr", 1e-3),
        kl_patience_steps: int = _DEFAULT.get("kl_patience_steps", 1_500),
    ) -> None:
        self.calibrate = calibrate
        self.kl_epochs = kl_epochs
        self.kl_lr = kl_lr
        self.kl_patience_steps = kl_patience_steps
        self.m = m
        self.l = l
        self.repeats = repeats
        self.hidden = tuple(hidden)
        self.dropout = dropout
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.patience_steps = patience_steps
        self.min_patience = min_patience
        self.max_patience_epochs = max_patience_epochs
        self.min_delta = min_delta
        self.resplit = resplit
        self.standardize = standardize
        self.seed = seed
        self.n_threads = n_threads

    @classmethod
    def from_preset(cls, preset: str, **kwargs) -> "DivergenceEstimator":
        """An estimator with the (M, L) of a preset: `reliable` (7,500, 1,000) or `realistic` (100, 100)."""
        if preset not in PRESETS:
            raise TabaugError(f"unknown divergence preset {preset!r}; expected one of {sorted(PRESETS)}")
        m, l = PRESETS[preset]
        return cls(m=m, l=l, **kwargs)

    @property
    def rows_needed(self) -> int:
        """Rows needed per side: M + 2L."""
        return self.m + 2 * self.l

    def estimate(self, real: np.ndarray, synthetic: np.ndarray) -> DivergenceResult:
        """Estimate KL(real ‖ synthetic) in nats and JS in bits.

        A side with more than M + 2L rows contributes a random subset of M + 2L rows per repeat
        (one subset for all repeats when `resplit=False`).

        Args:
            real: (n_real, d) numeric matrix, n_real >= M + 2L.
            synthetic: (n_syn, d) numeric matrix, n_syn >= M + 2L.
        """
        return self.estimate_many([(real, synthetic)])[0]

    def estimate_many(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[DivergenceResult]:
        """Estimate several (real, synthetic) pairs of the same width in one batched model (P·R copies).

        The rows of pair p are split with `SeedSequence([seed, p])`; initial weights, batch orders
        and dropout come from one generator shared by the batch, so a pair's numbers depend on its
        position in `pairs` (and are reproducible for the same `pairs` and seed).

        Args:
            pairs: (real, synthetic) matrices, every matrix with at least M + 2L rows.
        """
        self._check_params()
        if not pairs:
            return []
        widths = set()
        for i, (real, syn) in enumerate(pairs):
            for name, x in (("real", real), ("synthetic", syn)):
                what = name if len(pairs) == 1 else f"pair {i} {name}"
                _check_matrix(x, what)
                if x.shape[0] < self.rows_needed:
                    raise TabaugError(
                        f"{what} data has {x.shape[0]} rows but the divergence estimate needs M + 2L = "
                        f"{self.m} + 2·{self.l} = {self.rows_needed} rows per side (m={self.m}, l={self.l})"
                    )
                widths.add(x.shape[1])
        if len(widths) != 1:
            raise TabaugError(f"real and synthetic matrices must have the same number of columns, got {sorted(widths)}")
        start = time.perf_counter()
        splits = [self._split(real, syn, p) for p, (real, syn) in enumerate(pairs)]
        kl, js, auc, fit, js_se = _train_and_estimate(
            train=np.concatenate([s[0] for s in splits]),
            val=np.concatenate([s[1] for s in splits]),
            est=np.concatenate([s[2] for s in splits]),
            m=self.m, l=self.l, hidden=self.hidden, dropout=self.dropout, lr=self.lr,
            batch_size=self.batch_size, max_epochs=self.max_epochs, patience=self.patience,
            patience_steps=self.patience_steps, min_patience=self.min_patience,
            max_patience=self.max_patience_epochs, min_delta=self.min_delta,
            seed=self.seed, n_threads=self.n_threads, calibrate=self.calibrate,
            kl_epochs=self.kl_epochs, kl_lr=self.kl_lr, kl_patience_steps=self.kl_patience_steps,
        )
        seconds = time.perf_counter() - start
        out = []
        r = self.repeats
        for p in range(len(pairs)):
            sl = slice(p * r, (p + 1) * r)
            out.append(
                DivergenceResult(
                    kl=float(np.mean(kl[sl])), kl_std=float(np.std(kl[sl])),
                    js=float(np.mean(js[sl])), js_std=float(np.std(js[sl])),
                    auc=float(np.mean(auc[sl])), auc_std=float(np.std(auc[sl])),
                    m=self.m, l=self.l,
                    kl_repeats=tuple(float(v) for v in kl[sl]), js_repeats=tuple(float(v) for v in js[sl]),
                    auc_repeats=tuple(float(v) for v in auc[sl]),
                    epochs=tuple(int(v) for v in fit.best_epoch[sl]),
                    epochs_trained=tuple(int(v) for v in fit.stop_epoch[sl]),
                    seconds=seconds, best_bce=tuple(float(v) for v in fit.best_loss[sl]),
                    js_se=tuple(float(v) for v in js_se[sl]),
                    improving=tuple(still_improving(int(b), int(e), self.max_epochs, fit.patience)
                                    for b, e in zip(fit.best_epoch[sl], fit.stop_epoch[sl])),
                )
            )
        return out

    def _check_params(self) -> None:
        if self.m < 1 or self.l < 1:
            raise TabaugError(f"divergence sizes must be positive, got m={self.m}, l={self.l}")
        if self.repeats < 1:
            raise TabaugError(f"divergence repeats must be >= 1, got repeats={self.repeats}")
        if self.n_threads is not None and self.n_threads < 1:
            raise TabaugError(f"n_threads must be >= 1, got n_threads={self.n_threads}")
        if self.batch_size < 2:
            raise TabaugError(f"batch_size must be >= 2 (BatchNorm), got batch_size={self.batch_size}")

    def _split(self, real: np.ndarray, syn: np.ndarray, pair: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per repeat: (train (R, 2M, d+1), val (R, 2L, d+1), est (R, 2L, d+1)); last column is the label.

        Real rows come first in every block (est: L real then L synthetic rows).
        """
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, pair]))
        m, l = self.m, self.l
        trains, vals, ests = [], [], []
        perms = None
        for _ in range(self.repeats):
            if perms is None or self.resplit:
                # NOTE[DIFF]: by default every repeat draws its own rows (the reference reused one split)
                perms = [rng.permutation(x.shape[0])[: m + 2 * l] for x in (real, syn)]
            parts = []
            for x, perm, label in ((real, perms[0], 1.0), (syn, perms[1], 0.0)):
                rows = np.asarray(x[perm], dtype=np.float64)
                parts.append((rows[:m], rows[m : m + l], rows[m + l :], label))
            if self.standardize:
                mu = parts[0][0].mean(axis=0)
                sd = parts[0][0].std(axis=0)
                sd = np.where(sd > 1e-12, sd, 1.0)
            else:
                mu, sd = 0.0, 1.0
            labelled = [
                [np.column_stack([(block - mu) / sd, np.full(len(block), label)]) for block in blocks]
                for *blocks, label in parts
            ]
            trains.append(np.concatenate([labelled[0][0], labelled[1][0]]))
            vals.append(np.concatenate([labelled[0][1], labelled[1][1]]))
            ests.append(np.concatenate([labelled[0][2], labelled[1][2]]))
        return (np.stack(trains).astype(np.float32), np.stack(vals).astype(np.float32),
                np.stack(ests).astype(np.float32))


def _check_matrix(x: np.ndarray, what: str) -> None:
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise TabaugError(f"{what}: expected a 2-D numpy array, got {type(x).__name__} with shape {np.shape(x)}")
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise TabaugError(f"{what}: expected a numeric matrix, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise TabaugError(f"{what}: non-finite value {float(x[tuple(bad)])} at row {bad[0]}, column {bad[1]}")


def _train_and_estimate(
    *, train: np.ndarray, val: np.ndarray, est: np.ndarray, m: int, l: int, hidden: Sequence[int],
    dropout: float, lr: float, batch_size: int, max_epochs: int, patience: int | None,
    patience_steps: int, min_patience: int, min_delta: float, seed: int, n_threads: int | None,
    max_patience: int | None = None,
    calibrate: bool = False, kl_epochs: int = 0, kl_lr: float = 1e-3, kl_patience_steps: int = 1_500,
) -> tuple:
    """Train C = train.shape[0] discriminators as one batched model; return per-copy kl, js, auc, the
    `FitSummary` (best / last epoch, best validation BCE) and the standard error of each copy's JS.

    # NOTE[DIFF]: one discriminator per repeat serves both KL and JS (the reference trained two).
    """
    import torch
    from sklearn.metrics import roc_auc_score

    from tabaug_ray.evaluate.batched_mlp import BatchedMLP, fit_early_stopping, torch_threads

    with torch_threads(n_threads):
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 1]).generate_state(1)[0]))
        n_copies, n_train, width = train.shape
        d = width - 1
        xt = torch.from_numpy(train[..., :d])
        yt = torch.from_numpy(train[..., d:])
        xv = torch.from_numpy(val[..., :d])
        yv = torch.from_numpy(val[..., d:])
        xe = torch.from_numpy(est[..., :d])
        model = BatchedMLP(n_copies=n_copies, d_in=d, hidden=hidden, d_out=1, dropout=dropout, generator=gen)

        def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(dim=(1, 2))

        fit = fit_early_stopping(
            model, loss_fn, x_train=xt, y_train=yt, x_val=xv, y_val=yv, lr=lr, batch_size=batch_size,
            max_epochs=max_epochs, patience=patience, patience_steps=patience_steps,
            min_patience=min_patience, min_delta=min_delta, generator=gen, max_patience=max_patience,
        )
        with torch.no_grad():
            z = model(xe).squeeze(-1).double()
            if calibrate:
                zv = model(xv).squeeze(-1).double()
                a, b = platt_scale(zv, yv.squeeze(-1).double())
                z = a[:, None] * z + b[:, None]
        kl = z[:, :l].mean(dim=1)
        if kl_epochs > 0:
            fit_early_stopping(
                model, nwj_loss, x_train=xt, y_train=yt, x_val=xv, y_val=yv, lr=kl_lr, batch_size=batch_size,
                max_epochs=kl_epochs, patience=None, patience_steps=kl_patience_steps, min_patience=min_patience,
                min_delta=1e-4, generator=gen,
            )
            with torch.no_grad():
                kl = model(xe[:, :l]).squeeze(-1).double().mean(dim=1)
    z_real, z_syn = z[:, :l], z[:, l:]
    log2_d_real = torch.clamp(torch.nn.functional.logsigmoid(z_real) / math.log(2), min=_LOG2_EPS)
    log2_1md_syn = torch.clamp(torch.nn.functional.logsigmoid(-z_syn) / math.log(2), min=_LOG2_EPS)
    js = 0.5 * ((1 + log2_d_real.mean(dim=1)) + (1 + log2_1md_syn.mean(dim=1)))
    # standard error of each copy's JS from its own estimation rows: JS is the mean of two means
    js_se = 0.5 * torch.sqrt(log2_d_real.var(dim=1) / l + log2_1md_syn.var(dim=1) / l)
    y = np.r_[np.ones(l), np.zeros(l)]
    zn = z.numpy()
    auc = np.array([roc_auc_score(y, zn[c]) for c in range(n_copies)])
    return kl.numpy(), js.numpy(), auc, fit, js_se.numpy()


NWJ_CLIP = 20.0
"""Largest logit inside exp() of the NWJ objective (bounds the variance of the synthetic rows' term)."""


def nwj_loss(logits, target):
    """Per-copy negative NWJ bound, -(E_P[s] + 1 - E_Q[exp(s)]) with s = logit = T - 1 (label 1 = P).

    Its minimiser is s = log p/q, and its gradient on P's rows is constant (no sigmoid saturation).
    logits, target: (C, B, 1). Returns (C,).
    """
    import torch

    n_p = target.sum(dim=(1, 2)).clamp_min(1.0)
    n_q = (1 - target).sum(dim=(1, 2)).clamp_min(1.0)
    e_p = (target * logits).sum(dim=(1, 2)) / n_p
    e_q = ((1 - target) * torch.exp(logits.clamp(max=NWJ_CLIP))).sum(dim=(1, 2)) / n_q
    return -(e_p + 1.0 - e_q)


def platt_scale(z, y, *, iters: int = 50):
    """Per copy, the slope a and offset b minimising the BCE of a·z + b on (z, y) against Platt's
    smoothed targets (Platt 1999, as scikit-learn's sigmoid calibration: (n₊ + 1) / (n₊ + 2) for
    label 1, 1 / (n₋ + 2) for label 0), by Newton's method with step halving.

    The smoothed targets keep the minimum finite: with the raw 0/1 labels a validation split that
    the discriminator separates perfectly has no minimiser, and plain Newton drove the slope to
    ~1e9 (Letter, reliable preset: KL read 3e10 nats and JS -0.57 bits on 1 repeat in 5; 0.3.0-0.5.0).
    z, y: (C, n) float64 tensors (logits, labels 0/1). Returns two (C,) tensors.
    """
    import torch

    c, n = z.shape
    n_pos = y.sum(dim=1, keepdim=True)
    t = torch.where(y > 0.5, (n_pos + 1) / (n_pos + 2), 1 / (n - n_pos + 2))
    feats = torch.stack([z, torch.ones_like(z)], dim=-1)  # (C, n, 2)

    def loss(theta):
        s = (feats * theta[:, None, :]).sum(-1)
        return torch.nn.functional.binary_cross_entropy_with_logits(s, t, reduction="none").mean(dim=1)

    theta = torch.zeros(c, 2, dtype=torch.float64)
    theta[:, 0] = 1.0
    current = loss(theta)
    for _ in range(iters):
        p = torch.sigmoid((feats * theta[:, None, :]).sum(-1))
        grad = (feats * (p - t)[..., None]).sum(1) / n
        w = (p * (1 - p))[..., None, None]
        hess = (feats[..., :, None] * feats[..., None, :] * w).sum(1) / n + 1e-9 * torch.eye(2, dtype=torch.float64)
        step = torch.linalg.solve(hess, grad)
        scale = torch.ones(c, 1, dtype=torch.float64)
        for _ in range(30):  # halve each copy's step until its loss does not rise
            trial = loss(theta - scale * step)
            worse = trial > current + 1e-12
            if not worse.any():
                break
            scale = torch.where(worse[:, None], scale / 2, scale)
        theta, current = theta - scale * step, loss(theta - scale * step)
    return theta[:, 0], theta[:, 1]
