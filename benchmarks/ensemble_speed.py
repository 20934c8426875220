"""Batched vs sequential training of a 10-seed VAE ensemble on 300 Adult rows, to early stopping.

Prints ONE JSON line: batched_seconds, sequential_seconds, ratio, epochs (per seed), plus the
threads, CPU seconds, load averages and a per-step timing of stacked bmm vs torch.func.vmap(grad).

Two sequential baselines, both one seed after another:
- ``sequential_seconds``: our own single-member fits (``fit(X, members=[s])``), the same lean
  training code as the batch with S = 1: the strict comparison (``ratio``).
- ``reference_style_seconds``: the usual PyTorch loop of the reference code (one ``nn.Module`` per
  seed, ``DataLoader`` with batch 256, ``Adam``, a validation pass per epoch), run for exactly the
  epochs each seed trained in the batch, so the work is the same (``ratio_vs_reference_style``).

    python benchmarks/ensemble_speed.py [--threads 2] [--seeds 10] [--rows 300]

Data: adult.csv.gz from $TABAUG_DATA_DIR or ../shared/datasets beside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tabaug_ray.data.schema import ColumnSpec
from tabaug_ray.generators import PARAM_NAMES, VAEBGM, head_layout, init_params, negative_elbo

REPO = Path(__file__).resolve().parents[1]


def adult_model_space(rows: int, seed: int) -> tuple[np.ndarray, list[ColumnSpec]]:
    """``rows`` Adult rows: z-scored numerics, 0/1 for 2-valued, integer codes (missing = own code)."""
    data_dir = Path(os.environ.get("TABAUG_DATA_DIR") or REPO.parent / "shared" / "datasets")
    df = pd.read_csv(data_dir / "adult.csv.gz").sample(n=rows, random_state=seed).reset_index(drop=True)
    cols, data = [], []
    for name in df.columns:
        s = df[name]
        if pd.api.types.is_numeric_dtype(s):
            v = s.to_numpy(float)
            data.append((v - v.mean()) / (v.std() or 1.0))
            cols.append(ColumnSpec(name, "gaussian"))
        else:
            codes, uniq = pd.factorize(s.fillna("<missing>"), sort=True)
            data.append(codes.astype(float))
            cols.append(ColumnSpec(name, "bernoulli" if len(uniq) == 2 else "categorical", len(uniq)))
    return np.stack(data, axis=1).astype(np.float32), cols


def step_ms(X: np.ndarray, cols: list[ColumnSpec], n_seeds: int, repeats: int = 20) -> dict[str, float]:
    """One forward + backward of n_seeds members on 240 rows: stacked baddbmm vs vmap(grad(...))."""
    lay = head_layout(cols)
    per = [init_params(lay, latent_dim=10, hidden_dim=256, generator=torch.Generator().manual_seed(s)) for s in range(n_seeds)]
    stacked = {k: torch.stack([p[k] for p in per]) for k in PARAM_NAMES}
    g = torch.Generator().manual_seed(0)
    x = torch.from_numpy(X[:240]).expand(n_seeds, 240, X.shape[1]).contiguous()
    eps = torch.randn((n_seeds, 240, 10), generator=g)
    mask = (torch.rand((n_seeds, 240, 256), generator=g) >= 0.2).float() / 0.8
    leaf = {k: v.clone().requires_grad_(True) for k, v in stacked.items()}

    def bmm() -> None:
        for v in leaf.values():
            v.grad = None
        negative_elbo(leaf, x, columns=lay, eps=eps, dropout_mask=mask).sum().backward()

    vg = torch.func.vmap(torch.func.grad(lambda p, xb, e, m: negative_elbo(p, xb, columns=lay, eps=e, dropout_mask=m)))
    out = {}
    for name, fn in (("stacked_bmm", bmm), ("vmap_grad", lambda: vg(stacked, x, eps, mask))):
        for _ in range(3):
            fn()
        best = np.inf
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        out[name] = round(best * 1e3, 2)
    return out


def reference_style_seconds(X: np.ndarray, cols: list[ColumnSpec], epochs: list[int], *, seed: int) -> float:
    """The reference code's way: per seed an nn.Module, a DataLoader and a validation pass per epoch."""
    from torch.utils.data import DataLoader, TensorDataset

    from tabaug_ray.generators.vae import VAE

    n_val = int(round(0.2 * len(X)))
    total = 0.0
    for s, n_epochs in enumerate(epochs):
        torch.manual_seed(seed + s)
        x = torch.from_numpy(X[np.random.default_rng(seed + s).permutation(len(X))])
        train, val = x[n_val:], x[:n_val]
        start = time.perf_counter()
        model = VAE(columns=cols)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loader = DataLoader(TensorDataset(train), batch_size=256, shuffle=True)
        for _ in range(n_epochs):
            model.train()
            for (xb,) in loader:
                loss = model(xb)
                opt.zero_grad()
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                float(model(val))
        total += time.perf_counter() - start
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    X, cols = adult_model_space(args.rows, args.seed)
    kw = dict(columns=cols, n_seeds=args.seeds, seed=args.seed, n_threads=args.threads)
    VAEBGM(**kw, max_epochs=2).fit(X)  # warm-up: one-time imports and allocations
    load_before = os.getloadavg()

    cpu = time.process_time()
    batched = VAEBGM(**kw).fit(X)
    batched_cpu = time.process_time() - cpu

    cpu = time.process_time()
    seq_seconds, seq_epochs, max_diff = 0.0, [], 0.0
    for s in range(args.seeds):  # one seed after another: single-member fits of the same seeds
        one = VAEBGM(**kw).fit(X, members=[s])
        seq_seconds += one.fit_seconds_
        seq_epochs.append(int(one.epochs_[s]))
        a, b = one.state_dict(s), batched.state_dict(s)
        max_diff = max(max_diff, max(float((a[k] - b[k]).abs().max()) for k in PARAM_NAMES))
    seq_cpu = time.process_time() - cpu
    reference = reference_style_seconds(X, cols, batched.epochs_.tolist(), seed=args.seed)
    load_after = os.getloadavg()

    print(
        json.dumps(
            {
                "batched_seconds": round(batched.fit_seconds_, 3),
                "sequential_seconds": round(seq_seconds, 3),
                "ratio": round(seq_seconds / batched.fit_seconds_, 3),
                "reference_style_seconds": round(reference, 3),
                "ratio_vs_reference_style": round(reference / batched.fit_seconds_, 3),
                "epochs": batched.epochs_.tolist(),
                "sequential_epochs": seq_epochs,
                "max_weight_diff_batched_vs_sequential": max_diff,
                "batched_cpu_seconds": round(batched_cpu, 3),
                "sequential_cpu_seconds": round(seq_cpu, 3),
                "threads": args.threads,
                "rows": args.rows,
                "step_ms_10_seeds": step_ms(X, cols, args.seeds),
                "loadavg_before": [round(v, 2) for v in load_before],
                "loadavg_after": [round(v, 2) for v in load_after],
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
