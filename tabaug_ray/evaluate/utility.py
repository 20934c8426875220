"""Utility validation: train a model on synthetic rows, test it on real held-out rows.

- Classification (binary / multiclass): an MLP of (Linear → BatchNorm → Dropout(0.5) → LeakyReLU(0.2))
  blocks of 256, 64, 32 units and a K-class head; class-weighted cross-entropy (weights
  n / (K · n_c), sklearn's "balanced"); Adam 1e-3; early stopping on a validation split of its own
  training rows, best weights restored. Metrics: accuracy and macro-F1.
- Regression: a linear model fitted by least squares (MSE). Metrics: mse and r2.

The `real` reference is the same call with real training rows instead of synthetic ones.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from tabaug_ray.errors import TabaugError

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")


def infer_task(y: np.ndarray) -> Task:
    """`binary` for two distinct values, `multiclass` for more non-numeric values, else `regression`."""
    y = np.asarray(y)
    values = {v for v in y.tolist() if v == v}  # drop NaN
    if len(values) <= 2:
        return "binary"
    numeric = np.issubdtype(y.dtype, np.number) and not np.issubdtype(y.dtype, np.bool_)
    return "regression" if numeric else "multiclass"


def utility_scores(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    *,
    task: Task,
    seed: int = 0,
    hidden: Sequence[int] = (256, 64, 32),
    dropout: float = 0.5,
    lr: float = 1e-3,
    batch_size: int = 256,
    max_epochs: int = 1_000,
    patience: int | None = None,
    patience_steps: int = 200,
    min_delta: float = 1e-3,
    val_fraction: float = 0.2,
    n_threads: int | None = None,
) -> dict[str, float]:
    """Fit on (train_x, train_y), score on (test_x, test_y).

    Args:
        train_x, train_y: training rows (synthetic, or real for the `real` reference) and labels/targets.
        test_x, test_y: real held-out rows.
        task: `binary`, `multiclass` (MLP classifier: accuracy, macro_f1) or `regression`
            (least squares: mse, r2).
        seed: seed of the validation split, initial weights, batches and dropout.
        hidden, dropout, lr, batch_size, max_epochs: the MLP and its Adam training.
        patience: epochs without improvement of the validation loss by `min_delta` before stopping;
            `None` means `max(3, ceil(patience_steps / batches_per_epoch))`.
        patience_steps, min_delta: see `patience`.
        val_fraction: share of the training rows held out for early stopping (stratified when possible).
        n_threads: torch threads; `None` uses the CPUs this process may run on.
    """
    if task not in TASKS:
        raise TabaugError(f"unknown task {task!r}; expected one of {TASKS}")
    train_x, test_x = _matrix(train_x, "training features"), _matrix(test_x, "test features")
    if train_x.shape[1] != test_x.shape[1]:
        raise TabaugError(f"training and test features differ in width: {train_x.shape[1]} vs {test_x.shape[1]}")
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    if len(train_y) != len(train_x) or len(test_y) != len(test_x):
        raise TabaugError(
            f"features and targets differ in length: train {len(train_x)} vs {len(train_y)}, "
            f"test {len(test_x)} vs {len(test_y)}"
        )
    if len(test_x) == 0:
        raise TabaugError("no test rows")
    if task == "regression":
        return _regression(train_x, train_y, test_x, test_y)
    return _classification(
        train_x, train_y, test_x, test_y, binary=task == "binary", seed=seed, hidden=hidden, dropout=dropout,
        lr=lr, batch_size=batch_size, max_epochs=max_epochs, patience=patience, patience_steps=patience_steps,
        min_delta=min_delta, val_fraction=val_fraction, n_threads=n_threads,
    )


def utility_report(
    *,
    synthetic_x: np.ndarray,
    synthetic_y: np.ndarray,
    real_train_x: np.ndarray,
    real_train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    task: Task,
    seed: int = 0,
    **kwargs,
) -> dict[str, dict[str, float]]:
    """`{"synthetic": scores, "real": scores}`: train on synthetic vs on real rows, both tested on the same real rows.

    Args:
        synthetic_x, synthetic_y: synthetic training rows.
        real_train_x, real_train_y: real training rows (the reference).
        test_x, test_y: real held-out rows.
        task, seed, kwargs: as in `utility_scores` (the same seed for both models).
    """
    return {
        "synthetic": utility_scores(synthetic_x, synthetic_y, test_x, test_y, task=task, seed=seed, **kwargs),
        "real": utility_scores(real_train_x, real_train_y, test_x, test_y, task=task, seed=seed, **kwargs),
    }


def _matrix(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TabaugError(f"{what}: expected a 2-D numeric matrix, got dtype {x.dtype} and shape {x.shape}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise TabaugError(f"{what}: non-finite value at row {bad[0]}, column {bad[1]}")
    return x


def _regression(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> dict[str, float]:
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import mean_squared_error, r2_score

    ytr = _targets(train_y, "training")
    yte = _targets(test_y, "test")
    if len(train_x) < 2:
        raise TabaugError(f"regression needs >= 2 training rows, got {len(train_x)}")
    # NOTE[DIFF]: the reference trains one linear layer with Adam on MSE for 2,000 epochs; the
    # least-squares solution is the optimum that training approaches, reached exactly and at once.
    pred = LinearRegression().fit(train_x, ytr).predict(test_x)
    return {"mse": float(mean_squared_error(yte, pred)), "r2": float(r2_score(yte, pred))}


def _targets(y: np.ndarray, what: str) -> np.ndarray:
    try:
        y = y.astype(np.float64)
    except (TypeError, ValueError):
        raise TabaugError(f"regression {what} target is not numeric (dtype {y.dtype})") from None
    if not np.all(np.isfinite(y)):
        raise TabaugError(f"regression {what} target has {int((~np.isfinite(y)).sum())} missing or non-finite values")
    return y


def _classification(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, *, binary: bool,
    seed: int, hidden: Sequence[int], dropout: float, lr: float, batch_size: int, max_epochs: int,
    patience: int | None, patience_steps: int, min_delta: float, val_fraction: float, n_threads: int | None,
) -> dict[str, float]:
    import torch
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split

    from tabaug_ray.evaluate.batched_mlp import BatchedMLP, fit_early_stopping, torch_threads

    labels = np.concatenate([_labels(train_y), _labels(test_y)])
    classes, codes = np.unique(labels, return_inverse=True)
    k = len(classes)
    if binary and k > 2:
        raise TabaugError(f"task 'binary' but the target has {k} classes: {_preview(classes)}")
    ytr, yte = codes[: len(train_y)], codes[len(train_y) :]
    if not 0 < val_fraction < 1:
        raise TabaugError(f"val_fraction must be in (0, 1), got {val_fraction=}")
    n_val = int(round(val_fraction * len(train_x)))
    if n_val < 2 or len(train_x) - n_val < 2:
        raise TabaugError(f"too few training rows for a classifier with a validation split: {len(train_x)}")
    counts = np.bincount(ytr, minlength=k)
    present = counts[counts > 0]
    stratify = ytr if present.min() >= 2 and len(present) <= n_val and len(present) <= len(train_x) - n_val else None
    state = int(np.random.SeedSequence([seed, 3]).generate_state(1)[0] % (2**31))
    fit_idx, val_idx = train_test_split(np.arange(len(train_x)), test_size=n_val, random_state=state, stratify=stratify)
    mean = train_x[fit_idx].mean(axis=0)
    std = train_x[fit_idx].std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((x - mean) / std).astype(np.float32))[None]

    fit_counts = np.bincount(ytr[fit_idx], minlength=k).astype(np.float64)
    n_present = int((fit_counts > 0).sum())
    weights = np.where(fit_counts > 0, len(fit_idx) / (n_present * np.maximum(fit_counts, 1)), 0.0)
    w = torch.tensor(weights, dtype=torch.float32)

    def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # class-weighted cross-entropy per copy: Σ w_y · ce / Σ w_y (PyTorch's weighted mean)
        t = target.squeeze(-1)
        ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), t, weight=w, reduction="none")
        return ce.sum(dim=1) / w[t].sum(dim=1).clamp_min(1e-12)

    with torch_threads(n_threads):
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 4]).generate_state(1)[0]))
        model = BatchedMLP(n_copies=1, d_in=train_x.shape[1], hidden=hidden, d_out=k, dropout=dropout, generator=gen)
        fit_early_stopping(
            model, loss_fn,
            x_train=tensor(train_x[fit_idx]), y_train=torch.from_numpy(ytr[fit_idx])[None, :, None],
            x_val=tensor(train_x[val_idx]), y_val=torch.from_numpy(ytr[val_idx])[None, :, None],
            lr=lr, batch_size=batch_size, max_epochs=max_epochs, patience=patience,
            patience_steps=patience_steps, min_patience=3, min_delta=min_delta, generator=gen,
        )
        with torch.no_grad():
            pred = model(tensor(test_x))[0].argmax(dim=1).numpy()
    return {
        "accuracy": float(accuracy_score(yte, pred)),
        "macro_f1": float(f1_score(yte, pred, average="macro", zero_division=0)),
    }


def _labels(y: np.ndarray) -> np.ndarray:
    """Class labels as a sortable array: numbers stay numbers, anything else becomes text."""
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.number) or y.dtype == bool:
        if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
            raise TabaugError("classification target has missing values")
        return y
    if any(v is None or (isinstance(v, float) and v != v) for v in y.tolist()):
        raise TabaugError("classification target has missing values")
    return y.astype(str)


def _preview(values: np.ndarray, k: int = 5) -> str:
    head = ", ".join(map(str, values[:k]))
    return head + (f", … ({len(values)} in all)" if len(values) > k else "")
