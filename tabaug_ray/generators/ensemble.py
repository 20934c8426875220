"""Train S seeds of the VAE as ONE batched model (stacked weights, batched matrix products).

Each seed (member) has its own initialisation, its own data order and noise (its own numpy
Generator), its own early stopping and its own best state; the train/validation split is shared by
all members (one per fit). A member that stops is removed from the working set, so it stops
changing and stops costing compute. A member's numbers depend only on its own generator, never on
which other members train beside it: with one intra-op thread (``train_members`` enforces it)
training member 3 alone gives member 3 of a 10-seed batch bit for bit (tests/test_vae_bgm.py).
NOTE[DIFF]: the reference fed the training rows in a fixed order; here each member reshuffles every
epoch (no effect when one batch holds all rows, as with N = 300).

Why stacked ``torch.baddbmm`` rather than ``torch.func.vmap(grad(...))``: one forward + backward of
10 members on 240 Adult rows measured 7.8 vs 12.1 ms (2 threads) and 15.9 vs 19.1 ms (1 thread,
CPU time); ``benchmarks/ensemble_speed.py`` prints both. The work is compute-bound (about 48 MFLOP
per member and epoch), so batching saves the per-op overhead (about 40 % of a lone member's epoch),
not the arithmetic; the larger gain comes from spreading members over threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from tabaug_ray.config import VAESection
from tabaug_ray.generators.vae import DROPOUT, GRAD_CLIP, PARAM_NAMES, HeadLayout, negative_elbo

_D = VAESection()  # defaults: the config's [vae] section, their one home
_NOISE_BYTES = 4 << 20  # per member and noise chunk: epochs of noise are drawn in chunks of this size


@dataclass
class EnsembleResult:
    """What ``train_ensemble`` returns (one entry per member, in the order of the generators).

    Args:
        params: stacked parameters ``[S, ...]``: best-validation weights if ``restore_best``, else final.
        best_val_loss: lowest validation loss seen per member (the loss at epoch 0 if no epoch ran).
        final_val_loss: validation loss of the last epoch per member.
        epochs: epochs trained per member.
        best_epoch: epoch (1-based) of the lowest validation loss per member (0: none).
    """

    params: dict[str, Tensor]
    best_val_loss: np.ndarray
    final_val_loss: np.ndarray
    epochs: np.ndarray
    best_epoch: np.ndarray


def _chunk_epochs(n_train: int, n_val_rows: int, latent_dim: int, hidden_dim: int, max_epochs: int) -> int:
    per_epoch = 8 * n_train + 4 * n_train * latent_dim + 2 * n_train * hidden_dim + 4 * n_val_rows * latent_dim
    return int(max(1, min(32, max_epochs, _NOISE_BYTES // per_epoch)))


class _Noise:
    """Chunks of epochs of randomness for the active members, drawn member by member.

    Per member and epoch: a row order, reparameterisation noise, a dropout mask (16-bit uniform
    integers: numpy's ``bytes`` is 5x faster than ``torch.rand``) and validation noise. A member's
    draws depend only on its own generator and the chunk length, never on the other members.
    """

    def __init__(self, gens, k, n_train, n_val_rows, latent_dim, hidden_dim, dropout) -> None:
        self.gens, self.k = list(gens), k
        self.shape = (n_train, n_val_rows, latent_dim, hidden_dim)
        self.threshold = int(np.ceil(dropout * 65536))  # NOTE[DIFF]: p quantised to 1/65536
        self.scale = 65536.0 / (65536 - self.threshold)  # E[mask] = 1 exactly
        self.active = np.arange(len(self.gens))
        self.bufs = None

    def draw(self) -> None:
        n, nv, lat, hid = self.shape
        s, k = len(self.active), self.k
        perm = np.empty((s, k, n), dtype=np.int64)
        eps = np.empty((s, k, n, lat), dtype=np.float32)
        mask = np.empty((s, k, n, hid), dtype=np.uint16)
        eps_val = np.empty((s, k, nv, lat), dtype=np.float32)
        for i, m in enumerate(self.active):
            g = self.gens[m]
            perm[i] = g.random((k, n)).argsort(axis=1)
            g.standard_normal(dtype=np.float32, out=eps[i])
            mask[i] = np.frombuffer(g.bytes(2 * k * n * hid), dtype=np.uint16).reshape(k, n, hid)
            g.standard_normal(dtype=np.float32, out=eps_val[i])
        self.bufs = [perm, eps, mask, eps_val]

    def epoch(self, j: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        perm, eps, mask, eps_val = (t[:, j] for t in self.bufs)
        mask = torch.from_numpy(mask >= self.threshold).to(torch.float32).mul_(self.scale)
        return torch.from_numpy(perm), torch.from_numpy(eps), mask, torch.from_numpy(eps_val)

    def keep(self, keep: np.ndarray) -> None:
        self.active = self.active[keep]
        self.bufs = [t[keep] for t in self.bufs]


class _Adam:
    """``torch.optim.Adam`` on the working (stacked) tensors, rebuilt when members leave.

    ``foreach`` rather than ``fused``: the fused CPU kernel rounds an element differently in its
    vector body and its scalar tail, so a member's numbers would depend on its position in the
    stack (measured 5e-10 after 20 steps); ``foreach`` is position-invariant (0.4 vs 0.16 ms a step
    for 10 members: about 2 % of an epoch).
    """

    def __init__(self, params: list[Tensor], lr: float, state: list[dict] | None = None) -> None:
        self.opt = torch.optim.Adam(params, lr=lr, foreach=True)
        for p, st in zip(params, state or []):
            if st:
                self.opt.state[p] = st

    def keep(self, params: list[Tensor], keep: Tensor, lr: float) -> "_Adam":
        old = [self.opt.state.get(p, {}) for p in self.opt.param_groups[0]["params"]]
        state = [{k: (v if k == "step" else v.index_select(0, keep)) for k, v in st.items()} for st in old]
        return _Adam(params, lr, state)


def train_ensemble(
    x_train: Tensor,
    x_val: Tensor,
    *,
    layout: HeadLayout,
    init: Mapping[str, Tensor],
    generators: Sequence[np.random.Generator],
    latent_dim: int,
    hidden_dim: int,
    lr: float = _D.lr,
    batch_size: int = _D.batch_size,
    max_epochs: int = _D.max_epochs,
    patience: int = _D.patience,
    min_delta: float = _D.min_delta,
    restore_best: bool = _D.restore_best,
    val_every_batch: bool = _D.val_every_batch,
    dropout: float = DROPOUT,
    grad_clip: float | None = GRAD_CLIP,
) -> EnsembleResult:
    """Train ``len(generators)`` members at once, each with the reference early stopping.

    Early stopping (reference ``EarlyStopper``): a validation loss below the best so far resets the
    counter; one above ``best + min_delta`` increments it; the member stops when it reaches ``patience``.

    Args:
        x_train: training rows ``[n_train, D]`` (float32, model space), shared by all members.
        x_val: validation rows ``[n_val, D]``.
        layout: head layout of the schema.
        init: stacked initial parameters ``[S, ...]`` by ``PARAM_NAMES``.
        generators: one numpy Generator per member (row order, reparameterisation noise, dropout).
        latent_dim: latent size L.
        hidden_dim: hidden width H.
        lr: Adam learning rate.
        batch_size: rows per training batch.
        max_epochs: upper bound of epochs.
        patience: early-stopping patience (epochs).
        min_delta: early-stopping tolerance on the epoch's validation loss.
        restore_best: return each member's best-validation weights (else the final ones).
        val_every_batch: as the reference, evaluate after every training batch and sum the
            validation losses of the epoch; False: evaluate once per epoch and multiply by the
            number of batches (same for one batch per epoch, as with N = 300).
        dropout: decoder dropout probability.
        grad_clip: clamp of the encoder activations' gradients; None = off.
    """
    n_members = len(generators)
    n_train, n_val = x_train.shape[0], x_val.shape[0]
    n_batches = -(-n_train // batch_size)
    n_evals = n_batches if val_every_batch else 1
    val_scale = 1.0 if val_every_batch else float(n_batches)
    names = list(PARAM_NAMES)

    final = {k: init[k].detach().to(torch.float32).clone() for k in names}
    best = {k: v.clone() for k, v in final.items()}
    best_val = np.full(n_members, np.inf)
    final_val = np.full(n_members, np.nan)
    epochs = np.zeros(n_members, dtype=np.int64)
    best_epoch = np.zeros(n_members, dtype=np.int64)
    counter = np.zeros(n_members, dtype=np.int64)

    def evaluate(p: Mapping[str, Tensor], eps: Tensor, xv: Tensor) -> Tensor:
        with torch.no_grad():
            return negative_elbo(p, xv, columns=layout, eps=eps, grad_clip=None)

    def val_rows(s: int) -> Tensor:
        return x_val.unsqueeze(0).expand(s, n_val, x_val.shape[1]).contiguous()

    if max_epochs <= 0 or n_members == 0:
        if n_members:
            eps0 = torch.from_numpy(np.stack([g.standard_normal((n_val, latent_dim), dtype=np.float32) for g in generators]))
            v = evaluate(final, eps0, val_rows(n_members)).numpy().astype(np.float64)
            best_val[:], final_val[:] = v, v
        return EnsembleResult(final, best_val, final_val, epochs, best_epoch)

    active = torch.arange(n_members)  # member ids in the working set, in order
    work = [final[k].clone().requires_grad_(True) for k in names]
    opt = _Adam(work, lr)
    xv = val_rows(n_members)
    k_chunk = _chunk_epochs(n_train, n_evals * n_val, latent_dim, hidden_dim, max_epochs)
    noise = _Noise(generators, k_chunk, n_train, n_evals * n_val, latent_dim, hidden_dim, dropout)
    for epoch in range(max_epochs):
        j = epoch % k_chunk
        if j == 0:
            noise.draw()
        perm, eps, mask, eps_val = noise.epoch(j)
        params = dict(zip(names, work))
        val_sum = None
        for b in range(n_batches):
            sl = slice(b * batch_size, min(n_train, (b + 1) * batch_size))
            xb = x_train[perm[:, sl]]
            loss = negative_elbo(params, xb, columns=layout, eps=eps[:, sl], dropout_mask=mask[:, sl], grad_clip=grad_clip)
            opt.opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.opt.step()
            if val_every_batch or b == n_batches - 1:
                e = b if val_every_batch else 0
                v = evaluate(params, eps_val[:, e * n_val : (e + 1) * n_val], xv)
                val_sum = v if val_sum is None else val_sum + v
        vals = (val_sum * val_scale).numpy().astype(np.float64)

        ids = active.numpy()
        epochs[ids] = epoch + 1
        final_val[ids] = vals
        improved = vals < best_val[ids]  # NaN never improves
        worse = ~improved & ~(vals <= best_val[ids] + min_delta)  # NOTE[DIFF]: NaN counts as worse
        counter[ids] = np.where(improved, 0, counter[ids] + worse)
        if improved.any():
            loc = torch.from_numpy(np.flatnonzero(improved))
            glob = active.index_select(0, loc)
            best_val[ids[improved]] = vals[improved]
            best_epoch[ids[improved]] = epoch + 1
            with torch.no_grad():
                for k, w in zip(names, work):
                    best[k].index_copy_(0, glob, w.detach().index_select(0, loc))
        stop = counter[ids] >= patience
        if stop.any():
            with torch.no_grad():
                loc = torch.from_numpy(np.flatnonzero(stop))
                for k, w in zip(names, work):
                    final[k].index_copy_(0, active.index_select(0, loc), w.detach().index_select(0, loc))
            keep_np = np.flatnonzero(~stop)
            keep = torch.from_numpy(keep_np)
            active = active.index_select(0, keep)
            if len(keep_np) == 0:
                break
            work = [w.detach().index_select(0, keep).requires_grad_(True) for w in work]
            opt = opt.keep(work, keep, lr)
            noise.keep(keep_np)
            xv = val_rows(len(keep_np))
    if len(active):
        with torch.no_grad():
            for k, w in zip(names, work):
                final[k].index_copy_(0, active, w.detach())
    return EnsembleResult(best if restore_best else final, best_val, final_val, epochs, best_epoch)


def train_members(
    x_train: Tensor,
    x_val: Tensor,
    *,
    init: Mapping[str, Tensor],
    generators: Sequence[np.random.Generator],
    n_threads: int = 1,
    **kwargs,
) -> EnsembleResult:
    """``train_ensemble`` with the members split over ``n_threads`` worker threads (seed parallelism).

    Each worker trains its share of the members as one batched model with ONE intra-op thread
    (``torch.set_num_threads(1)`` for the duration, restored after), so every member's numbers are
    bit-identical whatever the thread count and whichever members train beside it. Members are the
    unit of parallelism: with fewer members than threads the spare threads stay idle (intra-op
    threads would change the rounding, and on matrices this small they were slower here anyway:
    one member, 1,212 epochs, 5.6 s with 1 thread vs 9.8 s with 2 on a loaded 2-core machine).
    Members are dealt round-robin (0, T, 2T, ... to worker 0).

    Args:
        x_train, x_val, init, generators: as ``train_ensemble`` (``init`` stacked per member).
        n_threads: threads available to this call.
        **kwargs: the other ``train_ensemble`` arguments.
    """
    n = len(generators)
    workers = max(1, min(n_threads, n))
    groups = [np.arange(w, n, workers) for w in range(workers)]
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        def run(idx: np.ndarray) -> EnsembleResult:
            sel = torch.from_numpy(idx)
            return train_ensemble(
                x_train,
                x_val,
                init={k: v.index_select(0, sel) for k, v in init.items()},
                generators=[generators[i] for i in idx],
                **kwargs,
            )

        if workers == 1:
            return run(groups[0])
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(run, groups))
    finally:
        torch.set_num_threads(previous)
    order = torch.from_numpy(np.argsort(np.concatenate(groups)))
    cat = lambda f: np.concatenate([getattr(p, f) for p in parts])[order.numpy()]  # noqa: E731
    return EnsembleResult(
        params={k: torch.cat([p.params[k] for p in parts]).index_select(0, order) for k in PARAM_NAMES},
        best_val_loss=cat("best_val_loss"),
        final_val_loss=cat("final_val_loss"),
        epochs=cat("epochs"),
        best_epoch=cat("best_epoch"),
    )
