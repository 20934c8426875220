"""Students: the deep-learning regressors trained on real + synthetic rows (torch MLP, AutoGluon NN).

One contract: `fit(X, y, *, synthetic=None, categorical=(), validation=None) -> self` where `X, y`
are the REAL training rows and `synthetic=(X_syn, y_syn)` the augmenter's rows, kept apart so
that early stopping only ever looks at real rows: unless `validation=(X_val, y_val)` is given,
the student holds out `val_fraction` of the real rows (seeded), trains on the other real rows plus
all synthetic rows, and stops on the held-out real rows. (A validation split drawn from real +
synthetic rows is mostly near-copies of training rows and makes early stopping far too late.)
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from tabaug_ray import plugins as _plugins
from tabaug_ray.errors import TabaugError
from tabaug_ray.learners._common import as_matrix, as_target, as_xy, check_categorical, check_positive, quiet, \
    torch_threads
from tabaug_ray.learners._encoding import one_hot_encoder


def split_real(n_real: int, *, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices of the real rows; validation gets round(val_fraction * n_real) >= 2 rows."""
    if not 0.0 < val_fraction < 1.0:
        raise TabaugError(f"val_fraction must be in (0, 1), got {val_fraction=}")
    n_val = max(2, int(round(val_fraction * n_real)))
    if n_real - n_val < 2:
        raise TabaugError(f"too few real rows to hold out a validation split: {n_real=}, {val_fraction=}")
    perm = np.random.default_rng(seed).permutation(n_real)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _parts(X: object, y: object, synthetic: tuple[object, object] | None,
           validation: tuple[object, object] | None, *, val_fraction: float, seed: int):
    """Real train rows, synthetic rows, validation rows and the held-out indices (empty if `validation`)."""
    x, t = as_xy(X, y, "real rows")
    if synthetic is None:
        xs, ts = np.zeros((0, x.shape[1])), np.zeros(0)
    else:
        xs = as_matrix(synthetic[0], "synthetic X")
        ts = as_target(synthetic[1], xs.shape[0], "synthetic y")
        if xs.shape[1] != x.shape[1]:
            raise TabaugError(f"synthetic X has {xs.shape[1]} columns, the real rows {x.shape[1]}")
    if validation is None:
        train_idx, val_idx = split_real(x.shape[0], val_fraction=val_fraction, seed=seed)
        xv, tv = x[val_idx], t[val_idx]
        x, t = x[train_idx], t[train_idx]
    else:
        xv = as_matrix(validation[0], "validation X")
        tv = as_target(validation[1], xv.shape[0], "validation y")
        if xv.shape[1] != x.shape[1] or xv.shape[0] < 1:
            raise TabaugError(f"validation X has shape {xv.shape}, expected (>=1, {x.shape[1]})")
        val_idx = np.zeros(0, dtype=np.int64)
    return x, t, xs, ts, xv, tv, val_idx


class MLPStudent:
    """A torch MLP regressor (ReLU blocks) trained with AdamW, early-stopped on real rows only.

    Numeric inputs are z-scored and the target standardised with the statistics of the real
    training rows (so the scaling does not depend on the augmenter); categorical columns are
    one-hot encoded. The best weights on the validation rows are restored after training.
    Mini-batches are slices of one pre-drawn permutation per epoch over pre-built tensors
    (no DataLoader). All randomness (split, initial weights, batches, dropout) comes from `seed`;
    torch's global RNG is left as it was.

    Args:
        hidden: widths of the hidden layers.
        dropout: dropout after every hidden ReLU.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_size: rows per optimiser step (over real train + synthetic rows).
        max_epochs: upper bound on passes over the training rows.
        patience: epochs without a better validation MSE before stopping.
        val_fraction: fraction of the real rows held out for early stopping (ignored with `validation=`).
        seed: seed of every random choice.
        n_threads: torch threads while fitting and predicting.
    """

    def __init__(self, *, hidden: Sequence[int] = (256, 256), dropout: float = 0.0, lr: float = 1e-3,
                 weight_decay: float = 1e-5, batch_size: int = 128, max_epochs: int = 500, patience: int = 30,
                 val_fraction: float = 0.2, seed: int = 0, n_threads: int = 1) -> None:
        self.hidden = tuple(hidden)
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.seed = seed
        self.n_threads = n_threads

    def _check(self) -> None:
        if not self.hidden or min(self.hidden) < 1:
            raise TabaugError(f"hidden must be non-empty positive widths, got {self.hidden=}")
        if not 0.0 <= self.dropout < 1.0:
            raise TabaugError(f"dropout must be in [0, 1), got {self.dropout=}")
        check_positive(self.lr, "lr")
        check_positive(self.weight_decay, "weight_decay", allow_zero=True)
        for name in ("batch_size", "max_epochs", "patience"):
            if getattr(self, name) < 1:
                raise TabaugError(f"{name} must be >= 1, got {name}={getattr(self, name)!r}")

    def fit(self, X: object, y: object, *, synthetic: tuple[object, object] | None = None,
            categorical: Sequence[int] = (), validation: tuple[object, object] | None = None) -> "MLPStudent":
        """Fit on the real rows `X, y` plus `synthetic=(X_syn, y_syn)`; see the module docstring."""
        import torch

        self._check()
        start = time.perf_counter()
        x, t, xs, ts, xv, tv, self.val_index_ = _parts(X, y, synthetic, validation,
                                                       val_fraction=self.val_fraction, seed=self.seed)
        cat = check_categorical(categorical, x.shape[1])
        self.n_features_in_ = x.shape[1]
        self.n_real_train_, self.n_synthetic_, self.n_val_ = x.shape[0], xs.shape[0], xv.shape[0]

        self.encoder_ = one_hot_encoder(cat)
        if self.encoder_ is not None:
            self.encoder_.fit(np.vstack([x, xs, xv]))
        n_cat_out = self._encode(x[:1]).shape[1] - (x.shape[1] - len(cat))
        enc = self._encode(x)
        self.x_mean_ = enc.mean(axis=0)
        self.x_std_ = enc.std(axis=0)
        self.x_mean_[:n_cat_out], self.x_std_[:n_cat_out] = 0.0, 1.0  # one-hot columns (first) stay 0/1
        self.x_std_[self.x_std_ < 1e-12] = 1.0
        self.y_mean_, self.y_std_ = float(t.mean()), float(t.std()) or 1.0

        x_fit = self._inputs(np.vstack([x, xs]), torch)
        y_fit = torch.as_tensor((np.concatenate([t, ts]) - self.y_mean_) / self.y_std_, dtype=torch.float32)
        x_val = self._inputs(xv, torch)
        y_val = torch.as_tensor((tv - self.y_mean_) / self.y_std_, dtype=torch.float32)

        with torch_threads(self.n_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            gen = torch.Generator().manual_seed(self.seed)
            model = self._build(x_fit.shape[1], torch)
            opt = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            n, bs = x_fit.shape[0], min(self.batch_size, x_fit.shape[0])
            best, best_state, best_epoch, history = float("inf"), None, 0, []
            for epoch in range(self.max_epochs):
                model.train()
                perm = torch.randperm(n, generator=gen)
                for i in range(0, n, bs):
                    idx = perm[i:i + bs]
                    loss = torch.nn.functional.mse_loss(model(x_fit[idx]).squeeze(-1), y_fit[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                model.eval()
                with torch.no_grad():
                    val = float(torch.nn.functional.mse_loss(model(x_val).squeeze(-1), y_val))
                history.append(val)
                if val < best:
                    best, best_epoch = val, epoch
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                elif epoch - best_epoch >= self.patience:
                    break
            model.load_state_dict(best_state)
            model.eval()
        self.model_ = model
        self.best_epoch_ = best_epoch
        self.epochs_ = len(history)
        self.best_val_rmse_ = float(np.sqrt(best)) * self.y_std_
        self.history_ = np.sqrt(np.asarray(history)) * self.y_std_
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _build(self, n_in: int, torch: Any):
        layers: list[Any] = []
        for width in self.hidden:
            layers += [torch.nn.Linear(n_in, width), torch.nn.ReLU()]
            if self.dropout > 0:
                layers.append(torch.nn.Dropout(self.dropout))
            n_in = width
        layers.append(torch.nn.Linear(n_in, 1))
        return torch.nn.Sequential(*layers)

    def _encode(self, x: np.ndarray) -> np.ndarray:
        return self.encoder_.transform(x) if self.encoder_ is not None else x

    def _inputs(self, x: np.ndarray, torch: Any):
        return torch.as_tensor((self._encode(x) - self.x_mean_) / self.x_std_, dtype=torch.float32)

    def predict(self, X: object) -> np.ndarray:
        """Predicted targets (original units) of the rows of `X`."""
        import torch

        if not hasattr(self, "model_"):
            raise TabaugError("MLPStudent is not fitted: call fit(X, y) first")
        x = as_matrix(X, "X")
        if x.shape[1] != self.n_features_in_:
            raise TabaugError(f"X has {x.shape[1]} columns, the student was fitted on {self.n_features_in_}")
        out = np.empty(x.shape[0])
        with torch_threads(self.n_threads), torch.no_grad():
            for i in range(0, x.shape[0], 8192):
                out[i:i + 8192] = self.model_(self._inputs(x[i:i + 8192], torch)).squeeze(-1).numpy()
        return out * self.y_std_ + self.y_mean_


class AutoGluonNNStudent:
    """AutoGluon's tabular neural network (`NN_TORCH` only, no bagging, no ensemble) as a student.

    The held-out real rows are AutoGluon's `tuning_data` (its NN early-stops on them); it trains on
    the other real rows plus all synthetic rows, in a temporary directory removed before `fit`
    returns. `num_cpus` is explicit, so AutoGluon never starts or joins Ray.

    Args:
        time_limit: seconds for AutoGluon's fit (the paper used 10 minutes).
        val_fraction: fraction of the real rows held out as tuning data (ignored with `validation=`).
        seed: seed of the split and of the network (`seed_value`).
        num_cpus: CPUs AutoGluon may use.
    """

    def __init__(self, *, time_limit: float = 600.0, val_fraction: float = 0.2, seed: int = 0,
                 num_cpus: int = 1) -> None:
        self.time_limit = time_limit
        self.val_fraction = val_fraction
        self.seed = seed
        self.num_cpus = num_cpus

    def fit(self, X: object, y: object, *, synthetic: tuple[object, object] | None = None,
            categorical: Sequence[int] = (), validation: tuple[object, object] | None = None
            ) -> "AutoGluonNNStudent":
        """Fit on the real rows `X, y` plus `synthetic=(X_syn, y_syn)`; see the module docstring."""
        from tabaug_ray.learners import _autogluon as ag

        check_positive(self.time_limit, "time_limit")
        if self.num_cpus < 1:
            raise TabaugError(f"num_cpus must be >= 1, got {self.num_cpus=}")
        start = time.perf_counter()
        x, t, xs, ts, xv, tv, self.val_index_ = _parts(X, y, synthetic, validation,
                                                       val_fraction=self.val_fraction, seed=self.seed)
        self.categorical_ = check_categorical(categorical, x.shape[1])
        every = np.vstack([x, xs, xv])
        self.categories_ = {j: np.unique(np.rint(every[:, j]).astype(np.int64)) for j in self.categorical_}
        self.n_features_in_ = x.shape[1]
        self.n_real_train_, self.n_synthetic_, self.n_val_ = x.shape[0], xs.shape[0], xv.shape[0]
        train = ag.make_frame(np.vstack([x, xs]), self.categorical_, self.categories_, np.concatenate([t, ts]))
        tuning = ag.make_frame(xv, self.categorical_, self.categories_, tv)
        self.model_ = ag.fit_predictor(
            train, tuning=tuning, time_limit=self.time_limit, seed=self.seed, num_cpus=self.num_cpus,
            hyperparameters={"NN_TORCH": {"seed_value": self.seed}}, fit_weighted_ensemble=False,
        )
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def predict(self, X: object) -> np.ndarray:
        """Predicted targets of the rows of `X`."""
        from tabaug_ray.learners import _autogluon as ag

        if not hasattr(self, "model_"):
            raise TabaugError("AutoGluonNNStudent is not fitted: call fit(X, y) first")
        x = as_matrix(X, "X")
        if x.shape[1] != self.n_features_in_:
            raise TabaugError(f"X has {x.shape[1]} columns, the student was fitted on {self.n_features_in_}")
        from threadpoolctl import threadpool_limits

        with quiet("autogluon"), threadpool_limits(limits=self.num_cpus):
            pred = self.model_.predict(ag.make_frame(x, self.categorical_, self.categories_))
        return np.asarray(pred, dtype=np.float64)


STUDENTS: dict[str, type] = {"mlp": MLPStudent, "autogluon_nn": AutoGluonNNStudent}


def make_student(name: str, **params: Any):
    """A student by name: "mlp" (MLPStudent) or "autogluon_nn" (AutoGluonNNStudent)."""
    if name not in STUDENTS and _plugins.is_plugin("student", name):  # a user's class (tabaug_ray.plugins)
        return _plugins.build("student", name, **params)
    if name not in STUDENTS:
        raise TabaugError(f"unknown student {name!r}; expected one of {sorted(STUDENTS)}")
    try:
        return STUDENTS[name](**params)
    except TypeError as exc:
        raise TabaugError(f"student {name!r}: bad parameters {sorted(params)} ({exc})") from exc
