"""Deterministic splits: K folds, a low-data subsample covering every category, and evaluation
pools disjoint from the generator's training rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tabaug_ray.errors import TabaugError
from tabaug_ray.seeds import hash_seed, rng_for  # the seed helpers live in seeds.py


def kfold(n_rows: int, *, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """K shuffled folds as (train_index, test_index); n_folds = 1 gives an 80/20 split."""
    if n_folds < 1 or n_rows < max(2, n_folds):
        raise TabaugError(f"cannot split {n_rows} rows into {n_folds=} folds")
    order = rng_for(seed, "kfold").permutation(n_rows)
    if n_folds == 1:
        cut = int(round(0.8 * n_rows))
        return [(np.sort(order[:cut]), np.sort(order[cut:]))]
    parts = np.array_split(order, n_folds)
    return [(np.sort(np.concatenate(parts[:k] + parts[k + 1:])), np.sort(parts[k])) for k in range(n_folds)]


def covering_subsample(pool: np.ndarray, *, n: int, codes: np.ndarray | None, seed: int,
                       what: str = "low-data subsample") -> np.ndarray:
    """N rows of `pool`, drawn at random but containing every category of every column of `codes`
    (integer matrix aligned with `pool`) when N allows; categories are covered rarest first."""
    if n > len(pool):
        raise TabaugError(f"{what}: asked for {n} rows but only {len(pool)} are available")
    rng = rng_for(seed, "subsample")
    chosen: list[int] = []
    taken = np.zeros(len(pool), dtype=bool)
    if codes is not None and codes.size:
        needs = []
        for j in range(codes.shape[1]):
            values, counts = np.unique(codes[:, j], return_counts=True)
            needs += [(count, j, value) for value, count in zip(values, counts)]
        for _, j, value in sorted(needs, key=lambda t: (t[0], t[1], t[2])):
            if len(chosen) >= n:
                break
            rows = np.flatnonzero(codes[:, j] == value)
            if taken[rows].any():
                continue
            pick = int(rng.choice(rows))
            taken[pick] = True
            chosen.append(pick)
    rest = np.flatnonzero(~taken)
    chosen += rng.choice(rest, size=n - len(chosen), replace=False).tolist()
    return np.sort(pool[np.asarray(chosen, dtype=int)])


@dataclass(frozen=True)
class UnitSplit:
    """Row indices of one dataset x fold x run.

    Args:
        train: the generator's / learner's training rows (N of the fold's training part).
        test: the fold's held-out rows (utility and MLDA test set).
        eval_pool: M + 2L real rows outside `train`, in random order; `eval_rows(m, l)` cuts it.
    """

    train: np.ndarray
    test: np.ndarray
    eval_pool: np.ndarray

    def eval_rows(self, m: int, l: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(M discriminator-training, L estimation, L validation) rows: a prefix of the pool, so a
        smaller preset uses a subset of a larger one's rows."""
        if m + 2 * l > len(self.eval_pool):
            raise TabaugError(f"evaluation needs M + 2L = {m + 2 * l} rows; the pool holds {len(self.eval_pool)}")
        pool = self.eval_pool
        return pool[:m], pool[m:m + l], pool[m + l:m + 2 * l]


def make_split(
    n_rows: int, *, fold: int, n_folds: int, run: int, seed: int, n: int, m: int = 0, l: int = 0,
    codes: np.ndarray | None = None,
) -> UnitSplit:
    """Split for one unit: N training rows from the fold's training part (covering categories),
    and an evaluation pool of M + 2L rows drawn from all rows outside those N.

    # NOTE[DIFF]: the reference code drew its M = L = 100 evaluation rows from data that overlapped
    # the generator's training rows; here they are disjoint by construction.
    """
    folds = kfold(n_rows, n_folds=n_folds, seed=seed)
    if not 0 <= fold < len(folds):
        raise TabaugError(f"fold {fold} out of range for {n_folds=}")
    train_part, test = folds[fold]
    train = covering_subsample(train_part, n=n, codes=None if codes is None else codes[train_part],
                               seed=hash_seed(seed, fold, run))
    outside = np.setdiff1d(np.arange(n_rows), train)
    need = m + 2 * l
    if need > len(outside):
        raise TabaugError(f"evaluation pools need M + 2L = {need} rows outside the N = {n} training rows, "
                          f"but the dataset has only {len(outside)}")
    pool = rng_for(seed, fold, run, "eval").permutation(outside)[:need]
    return UnitSplit(train=train, test=test, eval_pool=pool)


def check_sizes(n_rows: int, *, n_folds: int, n: int, outside: int = 0, what: str = "dataset") -> None:
    """Fail early (at planning) when N training rows do not fit in a fold's training part, or the
    `outside` rows an evaluation needs do not fit beside them."""
    train_part = len(kfold(n_rows, n_folds=n_folds, seed=0)[0][0]) if n_folds > 1 else int(round(0.8 * n_rows))
    if n > train_part:
        raise TabaugError(f"{what}: N = {n} training rows, but a fold's training part has only {train_part} "
                          f"of its {n_rows} rows ({n_folds=})")
    if n + outside > n_rows:
        raise TabaugError(f"{what}: N = {n} training rows plus M + 2L = {outside} evaluation rows exceed its "
                          f"{n_rows} rows")

