"""Input checks and small context managers shared by teachers, students and augmenters."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from typing import Iterator, Sequence

import numpy as np

from tabaug_ray.errors import TabaugError


def as_matrix(x: object, what: str = "X") -> np.ndarray:
    """A finite 2-D float64 copy-free view of `x`; errors show what is wrong."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise TabaugError(f"{what}: expected a 2-D array, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TabaugError(f"{what}: expected a numeric matrix, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise TabaugError(f"{what}: non-finite value {arr[tuple(bad)]!r} at row {bad[0]}, column {bad[1]}")
    return arr


def as_target(y: object, n_rows: int, what: str = "y") -> np.ndarray:
    """A finite 1-D float64 target with `n_rows` entries."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise TabaugError(f"{what}: expected a 1-D target, got shape {arr.shape}")
    if arr.shape[0] != n_rows:
        raise TabaugError(f"{what}: {arr.shape[0]} values for {n_rows} rows")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise TabaugError(f"{what}: non-finite value at row {int(np.argmax(~np.isfinite(arr)))}")
    return arr


def as_xy(X: object, y: object, what: str = "training data") -> tuple[np.ndarray, np.ndarray]:
    x = as_matrix(X, f"{what} X")
    if x.shape[0] < 2:
        raise TabaugError(f"{what}: need at least 2 rows, got {x.shape[0]}")
    return x, as_target(y, x.shape[0], f"{what} y")


def check_categorical(categorical: Sequence[int], n_features: int) -> tuple[int, ...]:
    """Sorted unique column indices; each must be in [0, n_features)."""
    cols = tuple(sorted({int(c) for c in categorical}))
    bad = [c for c in cols if not 0 <= c < n_features]
    if bad:
        raise TabaugError(f"categorical column index out of range: {bad} for {n_features=}")
    return cols


def check_positive(value: float, name: str, *, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not ok or not np.isfinite(value):
        raise TabaugError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {name}={value!r}")


def available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def torch_threads(n_threads: int) -> Iterator[None]:
    """Run with `n_threads` torch intra-op threads, restoring the previous count afterwards."""
    import torch

    if n_threads < 1:
        raise TabaugError(f"n_threads must be >= 1, got {n_threads=}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def quiet(*loggers: str, level: int = logging.ERROR) -> Iterator[None]:
    """Silence Python warnings and raise the named loggers (and their children) to `level` for the
    duration; also undo root-logger handlers added meanwhile (a library's bare `logging.warning(...)`
    call installs a stderr handler on the root logger, as happens inside AutoGluon's fit)."""
    root = logging.getLogger()
    root_handlers, root_level = root.handlers[:], root.level
    saved = []
    names = set(loggers) | {n for n in logging.root.manager.loggerDict
                            if any(n.startswith(f"{prefix}.") for prefix in loggers)}
    for name in sorted(names):
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(level)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, old in saved:
            logger.setLevel(old)
        root.handlers[:] = root_handlers
        root.setLevel(root_level)
