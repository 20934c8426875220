"""MAML over the Low-data seeds: each seed's synthetic set is a task; theta_0 = the best meta-parameters.

Reference (``maml_vae.py`` of the authors' code): tasks = the S seeds' synthetic sets; per task one
fixed support / query split (300 / 9,700 rows); ``inner_steps`` (50) full-batch SGD steps at
``alpha`` (1e-3) on the support rows, with fresh reparameterisation noise and decoder dropout at every
step; the query loss of the adapted weights; meta-gradient summed over tasks (second order by
default); outer Adam at ``gamma`` (1e-3); the *pre-update* parameters with the lowest mean query loss
are kept; stop after ``patience`` (10) meta-iterations without improvement. The reference starts
from a fresh random initialisation (``start="random"``).

Observed on Adult (N = 300): from a random start the first inner SGD step at alpha = 1e-3 diverges
(loss ~3e11: the encoder's log-variance saturates at 10, so z is huge and every gaussian std sits at
its 1e-5 floor), the network saturates, every later gradient is exactly zero, the meta-gradient is
exactly zero (norm 0.0 at the start; 8e3 with alpha = 1e-6) and the "meta-learnt" theta_0 is the
random start: the query loss changes between meta-iterations only through the fresh noise. Even
from the Low-data weights, SGD at 1e-3 raises the loss (gradient norms ~1e5). This probably explains the reference's weak MAML results;
sweep ``alpha`` (around 1e-6 is stable), ``start`` and ``inner_max_norm``.

Implementation: the functional ``negative_elbo`` on the parameters of all S tasks at once.
``batching="stacked"`` (default) gives every task its own copy of theta along a leading dimension
and runs the batched form of the loss (batched matrix products) with ``torch.autograd.grad``;
``batching="vmap"`` is the textbook ``torch.func.vmap(torch.func.grad(task_objective))``. Both give
the same meta-gradient (tests/test_bias.py). Tasks are spread over ``n_threads`` worker threads with
one intra-op thread each and per-task gradients are summed in task order, so results do not depend
on the thread count. One second-order meta-iteration on Adult (10 tasks, 300 support rows, 50 steps,
9,700 query rows), loaded 2-core machine: stacked 4.1 s wall vs vmap 10.7 s; 4.2 CPU-s stacked vs
7.8 with ``torch.func.grad`` on the stacked loss (one thread). Inside the full pipeline: 5.6 CPU-s
per meta-iteration, 3.7 with ``n_query=1000``; first order is about 3x cheaper. The backward pass
through the 50 inner steps is ~80 % of the time.
"""

from __future__ import annotations

import time
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.func import grad, vmap

from tabaug_ray.bias.common import (
    MAML_INIT,
    MAML_NOISE,
    MAML_SPLIT,
    BiasInit,
    check_synthetic,
    state_of,
    synthetic_sets,
    threads_of,
)
from tabaug_ray.errors import TabaugError
from tabaug_ray.generators import PARAM_NAMES, VAEBGM, derive_seed, init_params, negative_elbo

Start = Literal["random", "avg", "best"]
Batching = Literal["stacked", "vmap"]


def maml_tasks(synthetic: Sequence[np.ndarray], *, n_support: int = 300, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Split each task's rows once into support and query rows (a seeded permutation per task).

    Sets of unequal length are cut to the shortest (tasks are stacked).

    Returns:
        support ``[S, n_support, D]`` and query ``[S, n - n_support, D]`` float32 tensors.
    """
    n = min(len(s) for s in synthetic)
    if not 1 <= n_support < n:
        raise TabaugError(f"maml: n_support must lie in [1, {n}) (rows per task), got {n_support=}")
    support, query = [], []
    for t, rows in enumerate(synthetic):
        perm = np.random.default_rng(derive_seed(seed, MAML_SPLIT, t)).permutation(n)
        rows = np.asarray(rows[:n], dtype=np.float32)
        support.append(rows[perm[:n_support]])
        query.append(rows[perm[n_support:]])
    return torch.from_numpy(np.stack(support)), torch.from_numpy(np.stack(query))


def maml_start(low: VAEBGM, start: Start = "random", *, seed: int = 0) -> dict[str, Tensor]:
    """The meta-parameters' start: a fresh seeded initialisation (reference), the members' mean, or the best member."""
    if start == "random":
        gen = torch.Generator().manual_seed(derive_seed(seed, MAML_INIT))
        return dict(init_params(low.layout_, latent_dim=low.latent_dim, hidden_dim=low.hidden_dim, generator=gen))
    if start == "avg":
        return {k: v.mean(dim=0) for k, v in low.stacked_state().items()}
    if start == "best":
        return dict(low.state_dict("best"))
    raise TabaugError(f"maml: start must be 'random', 'avg' or 'best', got {start=}")


class _TaskNoise:
    """Per-task randomness, one torch.Generator per task: inner and query noise, the query subsample.

    A task's draws depend only on its own generator, so the numbers do not depend on how tasks are
    spread over worker threads.
    """

    def __init__(self, seed: int, n_tasks: int, *, latent_dim: int, hidden_dim: int, dropout: float) -> None:
        self.gens = [torch.Generator().manual_seed(derive_seed(seed, MAML_NOISE, t)) for t in range(n_tasks)]
        self.latent_dim, self.hidden_dim, self.dropout = latent_dim, hidden_dim, dropout

    def _mask(self, gen: torch.Generator, *shape: int) -> Tensor:
        keep = torch.empty((*shape, self.hidden_dim)).bernoulli_(1.0 - self.dropout, generator=gen)
        return keep.mul_(1.0 / (1.0 - self.dropout))

    def draw(self, t: int, support: Tensor, query: Tensor, steps: int, n_query: int | None) -> tuple[Tensor, ...]:
        """Task ``t``'s next meta-iteration: (support, query rows, eps_s, mask_s, eps_q, mask_q)."""
        gen = self.gens[t]
        if n_query is not None and n_query < len(query):
            # NOTE[DIFF]: a fresh random subset of the task's query rows per meta-iteration
            # (reference: all 9,700 every time); the query pass costs ~40 % of a second-order iteration.
            query = query[torch.randperm(len(query), generator=gen)[:n_query]]
        ns, nq = len(support), len(query)
        eps_s = torch.randn((steps, ns, self.latent_dim), generator=gen)
        mask_s = self._mask(gen, steps, ns)
        eps_q = torch.randn((nq, self.latent_dim), generator=gen)
        return support, query, eps_s, mask_s, eps_q, self._mask(gen, nq)


def _clip_norm(g: dict[str, Tensor], max_norm: float | None, *, stacked: bool) -> dict[str, Tensor]:
    """Scale each task's inner gradient to an L2 norm of at most ``max_norm`` (None: unchanged)."""
    if max_norm is None:
        return g
    if stacked:
        sq = sum(v.flatten(1).square().sum(1) for v in g.values())
        scale = (max_norm / (sq.sqrt() + 1e-12)).clamp(max=1.0)
        return {k: v * scale.view(-1, *([1] * (v.dim() - 1))) for k, v in g.items()}
    sq = sum(v.square().sum() for v in g.values())
    scale = (max_norm / (sq.sqrt() + 1e-12)).clamp(max=1.0)
    return {k: v * scale for k, v in g.items()}


def _meta_stacked(theta, support, query, eps_s, mask_s, eps_q, mask_q, *, cfg) -> tuple[dict[str, Tensor], Tensor]:
    """Per-task meta-gradients ``[s, ...]`` and query losses ``[s]``: the tasks as one stacked model.

    ``theta`` holds one copy of the meta-parameters per task (leading dimension s), so each task's
    gradient is computed apart and the caller sums them in a fixed order.
    """
    leaf = {k: v.detach().clone().requires_grad_(True) for k, v in theta.items()}
    phi = dict(leaf)
    for k in range(cfg["steps"]):
        loss = negative_elbo(phi, support, columns=cfg["layout"], eps=eps_s[:, k], dropout_mask=mask_s[:, k], grad_clip=cfg["grad_clip"])
        g = torch.autograd.grad(loss.sum(), list(phi.values()), create_graph=not cfg["first_order"])
        g = _clip_norm(dict(zip(phi, g)), cfg["inner_max_norm"], stacked=True)
        # first order: g carries no graph, so d(phi)/d(theta) is the identity (FOMAML)
        phi = {n: phi[n] - cfg["alpha"] * g[n] for n in phi}
    lq = negative_elbo(phi, query, columns=cfg["layout"], eps=eps_q, dropout_mask=mask_q, grad_clip=cfg["grad_clip"])
    grads = torch.autograd.grad(lq.sum(), list(leaf.values()))
    return dict(zip(leaf, grads)), lq.detach()


def _meta_vmap(theta, support, query, eps_s, mask_s, eps_q, mask_q, *, cfg) -> tuple[dict[str, Tensor], Tensor]:
    """The same with ``torch.func``: ``vmap`` over tasks of ``grad`` of the per-task objective."""

    def loss(p, x, e, m):
        return negative_elbo(p, x, columns=cfg["layout"], eps=e, dropout_mask=m, grad_clip=cfg["grad_clip"])

    def task(p, xs, xq, es, ms, eq, mq):
        for k in range(cfg["steps"]):
            g = grad(loss)(p, xs, es[k], ms[k])
            if cfg["first_order"]:
                g = {n: v.detach() for n, v in g.items()}
            g = _clip_norm(g, cfg["inner_max_norm"], stacked=False)
            p = {n: p[n] - cfg["alpha"] * g[n] for n in p}
        value = loss(p, xq, eq, mq)
        return value, value

    grads, losses = vmap(grad(task, has_aux=True))(
        {k: v.detach() for k, v in theta.items()}, support, query, eps_s, mask_s, eps_q, mask_q
    )
    return grads, losses.detach()


def _meta_gradient(meta, theta, support, query, noise: _TaskNoise, *, cfg, n_query, n_threads: int):
    """Meta-gradient summed over tasks and per-task query losses, tasks spread over worker threads.

    Like ``train_members``: each worker draws its tasks' noise and runs them as one batch with ONE
    intra-op thread, and the per-task gradients are summed in task order, so the numbers do not
    depend on ``n_threads``.
    """
    s = support.shape[0]
    workers = max(1, min(n_threads, s))
    groups = [list(range(w, s, workers)) for w in range(workers)]

    def run(idx: list[int]):
        draws = [noise.draw(t, support[t], query[t], cfg["steps"], n_query) for t in idx]
        batch = [torch.stack(parts) for parts in zip(*draws)]
        stacked = {k: v.detach().unsqueeze(0).expand(len(idx), *v.shape) for k, v in theta.items()}
        return meta(stacked, *batch, cfg=cfg)

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if workers == 1:
            parts = [run(groups[0])]
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=workers) as pool:
                parts = list(pool.map(run, groups))
    finally:
        torch.set_num_threads(previous)
    order = torch.argsort(torch.tensor([t for g in groups for t in g]))
    per_task = {k: torch.cat([p[0][k] for p in parts]).index_select(0, order) for k in PARAM_NAMES}
    losses = torch.cat([p[1] for p in parts]).index_select(0, order)
    return {k: v.sum(dim=0) for k, v in per_task.items()}, losses


_META = {"stacked": _meta_stacked, "vmap": _meta_vmap}


def _config(low: VAEBGM, *, alpha, inner_steps, first_order, inner_max_norm) -> dict[str, Any]:
    return {
        "layout": low.layout_,
        "alpha": float(alpha),
        "steps": int(inner_steps),
        "first_order": bool(first_order),
        "inner_max_norm": inner_max_norm,
        "grad_clip": low.grad_clip,
    }


def meta_gradient(
    theta: Mapping[str, Tensor],
    low: VAEBGM,
    support: Tensor,
    query: Tensor,
    *,
    alpha: float = 1e-3,
    inner_steps: int = 50,
    first_order: bool = False,
    inner_max_norm: float | None = None,
    n_query: int | None = None,
    batching: Batching = "stacked",
    seed: int = 0,
    n_threads: int | None = None,
) -> tuple[dict[str, Tensor], Tensor]:
    """One MAML evaluation at ``theta``: the meta-gradient (summed over tasks) and the per-task query losses.

    The noise is that of ``maml_init``'s first meta-iteration with the same ``seed``.

    Args:
        theta: meta-parameters (one seed's state dict).
        low: the Low-data generator (schema, sizes, dropout, gradient clamp).
        support, query: ``maml_tasks(...)``.
        alpha, inner_steps, first_order, inner_max_norm, n_query, batching: as ``maml_init``.
        seed: seed of the noise.
        n_threads: worker threads (None: ``low``'s).
    """
    if batching not in _META:
        raise TabaugError(f"maml: batching must be 'stacked' or 'vmap', got {batching=}")
    noise = _TaskNoise(seed, len(support), latent_dim=low.latent_dim, hidden_dim=low.hidden_dim, dropout=low.dropout)
    cfg = _config(low, alpha=alpha, inner_steps=inner_steps, first_order=first_order, inner_max_norm=inner_max_norm)
    return _meta_gradient(
        _META[batching], dict(theta), support, query, noise, cfg=cfg, n_query=n_query, n_threads=threads_of(low, n_threads)
    )


def adapted_query_loss(theta: Mapping[str, Tensor], low: VAEBGM, support: Tensor, query: Tensor, **kwargs) -> float:
    """The MAML objective at ``theta``: mean over tasks of the query loss after the inner SGD steps.

    For comparing initialisations on the same noise; ``kwargs`` as ``meta_gradient`` (first order is
    used by default: same value, cheaper).
    """
    kwargs.setdefault("first_order", True)
    return float(meta_gradient(theta, low, support, query, **kwargs)[1].mean())


def maml_init(
    low: VAEBGM,
    *,
    synthetic: Sequence[np.ndarray] | None = None,
    n_synthetic: int = 10_000,
    seed: int = 0,
    vae_params: Mapping[str, Any] | None = None,
    n_threads: int | None = None,
    n_support: int = 300,
    n_query: int | None = None,
    inner_steps: int = 50,
    alpha: float = 1e-3,
    gamma: float = 1e-3,
    first_order: bool = False,
    max_meta_iters: int = 10_000,
    patience: int = 10,
    start: Start = "random",
    inner_max_norm: float | None = None,
    batching: Batching = "stacked",
) -> BiasInit:
    """MAML with the seeds' synthetic sets as tasks; theta_0 = the pre-update parameters of lowest mean query loss.

    Args:
        low: fitted Low-data generator.
        synthetic: ``synthetic_sets(low, ...)`` (one task per member); None: sampled here.
        n_synthetic: rows per member when sampling (reference 10,000).
        seed: seed of the sampling, the splits, the start and the noise.
        vae_params: unused (uniform call).
        n_threads: worker threads, tasks spread over them with one intra-op thread each (None: ``low``'s).
        n_support: support rows per task (reference 300; the rest are query rows).
        n_query: query rows per task and meta-iteration, a fresh random subset (None: all, as the reference).
        inner_steps: full-batch SGD steps on the support rows (reference 50).
        alpha: inner SGD learning rate (reference 1e-3; diverges on Adult, see the module docstring).
        gamma: outer Adam learning rate (reference 1e-3).
        first_order: first-order MAML (no second derivatives); reference: second order.
        max_meta_iters: meta-iteration limit (reference 10,000).
        patience: stop after this many meta-iterations in a row without a lower mean query loss.
        start: "random" (a fresh seeded initialisation, reference), "avg" (members' mean) or "best".
        inner_max_norm: clip each task's inner gradient to this L2 norm (None: off, as the reference).
        batching: "stacked" (batched loss over tasks, faster) or "vmap" (torch.func.vmap over tasks).
    """
    wall = time.perf_counter()
    for name, value, low_bound in (("inner_steps", inner_steps, 1), ("max_meta_iters", max_meta_iters, 1), ("patience", patience, 1)):
        if int(value) < low_bound:
            raise TabaugError(f"maml: {name} must be >= {low_bound}, got {name}={value!r}")
    if n_query is not None and n_query < 1:
        raise TabaugError(f"maml: n_query must be >= 1 or None, got {n_query=}")
    if batching not in _META:
        raise TabaugError(f"maml: batching must be 'stacked' or 'vmap', got {batching=}")
    if alpha < 0 or gamma <= 0:
        raise TabaugError(f"maml: need alpha >= 0 and gamma > 0, got {alpha=}, {gamma=}")
    sets = synthetic_sets(low, n_synthetic, seed=seed) if synthetic is None else check_synthetic(low, synthetic)
    support, query = maml_tasks(sets, n_support=n_support, seed=seed)
    cfg = _config(low, alpha=alpha, inner_steps=inner_steps, first_order=first_order, inner_max_norm=inner_max_norm)
    noise = _TaskNoise(seed, len(support), latent_dim=low.latent_dim, hidden_dim=low.hidden_dim, dropout=low.dropout)
    meta = _META[batching]

    theta = {k: v.detach().float().clone().requires_grad_(True) for k, v in maml_start(low, start, seed=seed).items()}
    opt = torch.optim.Adam([theta[k] for k in PARAM_NAMES], lr=gamma)
    best_loss, best_iter, best = np.inf, -1, state_of(theta)
    history: list[float] = []
    skipped = bad = 0
    threads = threads_of(low, n_threads)
    for it in range(int(max_meta_iters)):
        grads, losses = _meta_gradient(meta, theta, support, query, noise, cfg=cfg, n_query=n_query, n_threads=threads)
        mean = float(losses.mean())
        history.append(mean)
        if mean <= best_loss:  # the reference keeps ties too
            best_loss, best_iter, best, bad = mean, it, state_of(theta), 0
        else:
            bad += 1  # NaN never improves
            if bad >= patience:
                break
        if not all(bool(torch.isfinite(g).all()) for g in grads.values()):
            skipped += 1  # NOTE[DIFF]: a non-finite meta-gradient is skipped (the reference would apply it)
            continue
        opt.zero_grad(set_to_none=True)
        for k in PARAM_NAMES:
            theta[k].grad = grads[k]
        opt.step()
    info = {
        "technique": "maml",
        "seconds": time.perf_counter() - wall,
        "meta_iters": len(history),
        "best_iter": int(best_iter),
        "query_loss_init": history[0],
        "query_loss_best": float(best_loss),
        "query_losses": history,
        "skipped_updates": skipped,
        "n_tasks": int(support.shape[0]),
        "n_support": int(support.shape[1]),
        "n_query": int(query.shape[1] if n_query is None else min(n_query, query.shape[1])),
        "first_order": bool(first_order),
        "start": start,
    }
    return BiasInit(best, info)
