"""An MLP of Linear → BatchNorm → Dropout → LeakyReLU blocks, R independent copies in one module.

The R copies (repeats / seeds) are stacked along a leading dimension and run with `torch.baddbmm`,
so R small networks train as one model: one kernel call per layer instead of R, and one Adam whose
element-wise update equals R independent Adams when the loss is the sum of the R per-copy losses.

# NOTE[DIFF]: the reference trains one `nn.Sequential` per repeat, one after another. Here BatchNorm
# is written out for the stacked form (per-copy batch statistics over dim 1, per-copy running
# statistics, PyTorch's momentum 0.1 and eps 1e-5) with a hand-written backward, and dropout masks
# come from an explicit `torch.Generator` so that the same seed gives the same numbers. The result
# equals R `nn.Sequential(Linear, BatchNorm1d, Dropout, LeakyReLU, …)` modules (tested).
# `torch.func.vmap` over `nn.BatchNorm1d` cannot update running statistics in place (functorch
# drops them), and the stacked form is what makes one CPU step for R copies cheap.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn


class BatchedMLP(nn.Module):
    """R independent MLPs of `(Linear, BatchNorm1d, Dropout, LeakyReLU)` blocks and a linear head.

    Args:
        n_copies: R, the number of independent networks.
        d_in: input width.
        hidden: widths of the hidden blocks (the reference: 256, 64, 32).
        d_out: output width (1 logit for a discriminator, K for a K-class classifier).
        dropout: dropout probability inside every block.
        negative_slope: LeakyReLU slope.
        generator: torch.Generator for the initial weights (PyTorch's default Linear init).
    """

    def __init__(
        self,
        *,
        n_copies: int,
        d_in: int,
        hidden: Sequence[int] = (256, 64, 32),
        d_out: int = 1,
        dropout: float = 0.5,
        negative_slope: float = 0.2,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if n_copies < 1 or d_in < 1 or d_out < 1:
            raise ValueError(f"BatchedMLP needs positive sizes, got {n_copies=}, {d_in=}, {d_out=}")
        if not 0.0 <= dropout or round(256 * dropout) >= 256:
            raise ValueError(f"dropout must be in [0, 1), got {dropout=}")
        self.n_copies = n_copies
        self.dropout = dropout
        self.negative_slope = negative_slope
        widths = [d_in, *hidden, d_out]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.gammas = nn.ParameterList()
        self.betas = nn.ParameterList()
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            bound = 1.0 / math.sqrt(a)  # = nn.Linear's kaiming_uniform(a=sqrt(5)) and bias init
            w = (torch.rand(n_copies, a, b, generator=generator) * 2 - 1) * bound
            c = (torch.rand(n_copies, 1, b, generator=generator) * 2 - 1) * bound
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(c))
            if i < len(hidden):
                self.gammas.append(nn.Parameter(torch.ones(n_copies, 1, b)))
                self.betas.append(nn.Parameter(torch.zeros(n_copies, 1, b)))
                self.register_buffer(f"running_mean{i}", torch.zeros(n_copies, 1, b))
                self.register_buffer(f"running_var{i}", torch.ones(n_copies, 1, b))
        self.n_hidden = len(hidden)

    def forward(
        self, x: Tensor, *, copies: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Map `x` of shape (R', B, d_in) to (R', B, d_out); BatchNorm and dropout follow `self.training`.

        Args:
            x: inputs, one slice per copy.
            copies: indices (long, shape (R',)) of the copies to run, in the order of `x`'s slices;
                `None` runs all R copies. Only these copies' running statistics are updated.
            generator: source of the dropout masks.
        """

        def pick(t: Tensor) -> Tensor:
            return t if copies is None else t[copies]

        h = x
        for i in range(self.n_hidden):
            h = torch.baddbmm(pick(self.biases[i]), h, pick(self.weights[i]))
            rm = getattr(self, f"running_mean{i}")
            rv = getattr(self, f"running_var{i}")
            gamma, beta = pick(self.gammas[i]), pick(self.betas[i])
            if self.training:
                mask = _dropout_mask(h.shape, self.dropout, generator) if self.dropout > 0 else None
                h, mean, var = _TrainBlock.apply(h, gamma, beta, mask, self.negative_slope)
                with torch.no_grad():
                    n = h.shape[1]
                    new_rm = 0.9 * pick(rm) + 0.1 * mean
                    new_rv = 0.9 * pick(rv) + 0.1 * var * (n / max(n - 1, 1))
                    if copies is None:
                        rm.copy_(new_rm)
                        rv.copy_(new_rv)
                    else:
                        rm[copies] = new_rm
                        rv[copies] = new_rv
            else:
                # BatchNorm with running statistics as one fused multiply-add: y = h·scale + shift
                scale = gamma * torch.rsqrt(pick(rv) + _BN_EPS)
                h = nn.functional.leaky_relu(torch.addcmul(beta - pick(rm) * scale, h, scale), self.negative_slope)
        return torch.baddbmm(pick(self.biases[-1]), h, pick(self.weights[-1]))

    def snapshot(self) -> dict[str, Tensor]:
        """A detached copy of all parameters and running statistics (for restoring the best epoch)."""
        return {k: v.detach().clone() for k, v in self.state_dict().items()}

    @torch.no_grad()
    def update_snapshot(self, snapshot: dict[str, Tensor], improved: Tensor) -> None:
        """Copy the current values of the copies where `improved` (bool, shape (R,)) into `snapshot`."""
        for k, v in self.state_dict().items():
            snapshot[k][improved] = v[improved]


_BN_EPS = 1e-5


class _TrainBlock(torch.autograd.Function):
    """BatchNorm (batch statistics) → dropout → LeakyReLU on an (R, B, F) tensor, with a hand-written backward.

    Autograd of the same composition makes about twice as many passes over the (R, B, F)
    activations per block and keeps more of them alive; this is the standard BatchNorm backward
    with the batch reductions done as bmm's.
    Returns the output and the (detached) batch mean and biased variance, shape (R, 1, F).
    """

    @staticmethod
    def forward(ctx, h: Tensor, gamma: Tensor, beta: Tensor, mask: Tensor | None, slope: float):
        n = h.shape[1]
        avg = torch.full((h.shape[0], 1, n), 1.0 / n, dtype=h.dtype)
        # batch statistics as bmm's with a row of 1/B: much faster on CPU than mean/var over the
        # middle dimension of an (R, B, F) tensor
        mean = torch.bmm(avg, h)
        var = (torch.bmm(avg, h * h) - mean * mean).clamp_min_(0.0)
        inv = torch.rsqrt(var + _BN_EPS)
        xhat = torch.addcmul(-mean * inv, h, inv)
        y = torch.addcmul(beta, xhat, gamma)
        out = nn.functional.leaky_relu(y, slope)
        if mask is not None:
            out.mul_(mask)
        ctx.save_for_backward(xhat, y, mask, gamma, inv, avg)
        ctx.slope = slope
        return out, mean, var

    @staticmethod
    def backward(ctx, g_out: Tensor, _g_mean: Tensor, _g_var: Tensor):
        xhat, y, mask, gamma, inv, avg = ctx.saved_tensors
        g = g_out * mask if mask is not None else g_out
        g_y = torch.ops.aten.leaky_relu_backward(g, y, ctx.slope, False)
        m1 = torch.bmm(avg, g_y)  # mean over the batch of dL/dy
        m2 = torch.bmm(avg, g_y * xhat)  # mean over the batch of dL/dy · xhat
        n = g_y.shape[1]
        g_gamma = m2 * n
        g_beta = m1 * n
        # dL/dh = gamma · inv · (dL/dy − mean(dL/dy) − xhat · mean(dL/dy · xhat))
        g_h = torch.addcmul(g_y - m1, xhat, m2, value=-1.0).mul_(gamma * inv)
        return g_h, g_gamma, g_beta, None, None


def _dropout_mask(shape: torch.Size, p: float, generator: torch.Generator | None) -> Tensor:
    """Inverted-dropout mask (0 or 1/(1 − p')) with p' = round(256·p)/256 (exact for p = 0.5).

    Random bytes come from one `randint` of int64 viewed as uint8, which on CPU is several times
    faster than `torch.rand(shape) >= p` or `F.dropout`.
    """
    threshold = round(256 * p)
    n = math.prod(shape)
    words = torch.randint(-(2**63), 2**63 - 1, ((n + 7) // 8,), generator=generator, dtype=torch.int64)
    byte = words.view(torch.uint8)[:n].view(shape)
    # float(byte) >= threshold  <=>  clamp(byte - threshold + 1, 0, 1) == 1, for integer bytes
    return byte.float().sub_(threshold - 1).clamp_(0.0, 1.0).mul_(256.0 / (256 - threshold))


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def reduce_page_faults(threshold_mb: int = 256) -> bool:
    """Keep freed memory in glibc's heap instead of returning it to the OS (process-wide).

    Training allocates and frees many activation tensors of a few MB per step; glibc serves those
    with fresh `mmap`s whose pages fault in again every time (measured here: ~20 % of an epoch's CPU
    time, more under load). Raising M_MMAP_THRESHOLD and M_TRIM_THRESHOLD (what the environment
    variables MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ do at start-up) avoids it, at the
    price of keeping up to `threshold_mb` of freed memory. Returns False where glibc is absent.
    Called by the `evaluate` command and the benchmark, not by the estimator itself (a process-wide
    setting is the caller's decision); in Ray workers set the two environment variables instead.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_threshold = -1, -3
        size = int(threshold_mb) << 20
        return bool(libc.mallopt(m_mmap_threshold, size)) and bool(libc.mallopt(m_trim_threshold, size))
    except (OSError, AttributeError):
        return False


@contextlib.contextmanager
def torch_threads(n_threads: int | None) -> Iterator[int]:
    """Run the block with `n_threads` torch threads (`None`: `available_cpus()`), then restore the old setting."""
    n = available_cpus() if n_threads is None else n_threads
    if n < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads=}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class FitSummary:
    """What `fit_early_stopping` did, per copy: best epoch (its weights are loaded), last epoch, best
    validation loss; and the patience in epochs it used."""

    best_epoch: Tensor
    stop_epoch: Tensor
    best_loss: Tensor
    patience: int = 0


def fit_early_stopping(
    model: BatchedMLP,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    *,
    x_train: Tensor,
    y_train: Tensor,
    x_val: Tensor,
    y_val: Tensor,
    lr: float,
    batch_size: int,
    max_epochs: int,
    patience: int | None,
    patience_steps: int,
    min_patience: int,
    min_delta: float,
    generator: torch.Generator,
    max_patience: int | None = None,
) -> FitSummary:
    """Train the R copies of `model` with Adam and mini-batches, each with its own early stopping.

    Every epoch each copy sees its rows in its own random order; after every epoch the validation
    loss is computed in eval mode. A copy stops when its validation loss has not improved by more
    than `min_delta` for `patience` epochs; the weights (and BatchNorm statistics) of its lowest
    validation loss are restored at the end.

    Args:
        model: the R copies to train in place.
        loss_fn: (logits (R', B, d_out), targets (R', B, …)) → per-copy mean loss, shape (R',).
        x_train, y_train: (R, n, d) inputs and (R, n, …) targets, one slice per copy.
        x_val, y_val: the validation rows, same layout.
        lr: Adam learning rate.
        batch_size: largest mini-batch; an epoch has ceil(n / batch_size) batches of equal size (±1).
        max_epochs: upper bound on epochs.
        patience: epochs without improvement before a copy stops; `None` means
            `max(min_patience, ceil(patience_steps / batches_per_epoch))`.
        patience_steps, min_patience: see `patience`.
        min_delta: smallest decrease of the validation loss that counts as an improvement.
        generator: source of the batch orders and dropout masks.
        max_patience: if set, the derived patience (`patience=None`) is at most this many epochs
            (but at least `min_patience`): on a few hundred rows an epoch is one step, and
            `patience_steps` alone would wait hundreds of epochs.
    """
    n_copies, n_train = x_train.shape[:2]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    if n_train < 2 or batch_size < 2:
        raise ValueError(f"BatchNorm needs >= 2 rows per batch, got {n_train=}, {batch_size=}")
    # ceil(n / batch_size) batches of nearly equal size (differing by at most one row): no row is
    # dropped and no batch is a tiny remainder
    n_batches = math.ceil(n_train / batch_size)
    if patience is None:
        patience = max(min_patience, math.ceil(patience_steps / n_batches))
        if max_patience is not None:
            patience = max(min_patience, min(patience, max_patience))
    best_loss = torch.full((n_copies,), float("inf"))  # lowest validation loss: its weights are kept
    best_epoch = torch.zeros(n_copies, dtype=torch.long)
    ref_loss = torch.full((n_copies,), float("inf"))  # last loss that improved by more than min_delta
    ref_epoch = torch.zeros(n_copies, dtype=torch.long)
    stop_epoch = torch.full((n_copies,), max_epochs, dtype=torch.long)
    snapshot = model.snapshot()
    active = torch.arange(n_copies)
    xa, ya, xva, yva = x_train, y_train, x_val, y_val
    for epoch in range(1, max_epochs + 1):
        # while every copy trains, run them all without indexing: `t[active]` on every weight is a
        # copy forward and an index_put backward per layer (bit-identical numbers; ~7 % less time on a one-batch epoch)
        run = None if len(active) == n_copies else active
        model.train()
        order = torch.argsort(torch.rand(len(active), n_train, generator=generator), dim=1)
        for idx in torch.tensor_split(order, n_batches, dim=1):
            xb = torch.take_along_dim(xa, idx[..., None], dim=1)
            yb = torch.take_along_dim(ya, idx.view(*idx.shape, *([1] * (ya.dim() - 2))), dim=1)
            # the sum over copies of each copy's mean loss: every copy gets its own gradient
            loss = loss_fn(model(xb, copies=run, generator=generator), yb).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            vloss = loss_fn(model(xva, copies=run), yva)
        improved = torch.zeros(n_copies, dtype=torch.bool)
        improved[active] = vloss < best_loss[active]
        if bool(improved.any()):
            best_loss[improved] = vloss[improved[active]]
            best_epoch[improved] = epoch
            model.update_snapshot(snapshot, improved)
        significant = vloss < ref_loss[active] - min_delta
        ref_loss[active[significant]] = vloss[significant]
        ref_epoch[active[significant]] = epoch
        done = (epoch - ref_epoch[active]) >= patience
        if bool(done.any()):
            # a stopped copy leaves the batch while the others keep training, so the cost is the
            # sum of the copies' epochs, not R times the slowest copy's
            stop_epoch[active[done]] = epoch
            active = active[~done]
            if len(active) == 0:
                break
            xa, ya, xva, yva = x_train[active], y_train[active], x_val[active], y_val[active]
    model.load_state_dict(snapshot)
    model.eval()
    return FitSummary(best_epoch=best_epoch, stop_epoch=stop_epoch, best_loss=best_loss, patience=patience)
