"""Long-lived hosts for producers' values (a fitted teacher, a feature VAE, a Low-data ensemble)
and the proxy through which dependent units use them.

A producer unit runs as a normal CPU-reserved Ray task; when it has finished the executor puts its
value into a `ValueHost` actor, and each consumer unit receives a `RemoteValue` instead of the
value: `proxy.predict(X)` or `proxy.sample(n, seed=s)` run inside the host, `proxy.n_features_in_`
and `proxy["generator"]` fetch the (real) attribute / item. Pipelines stay Ray-free: the proxy
quacks like the value for what they use.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from typing import Any

ITEM, ATTR = "item", "attr"
_MISSING = object()
Steps = tuple[tuple[str, Any], ...]  # (ITEM, key) / (ATTR, name) from the value down


def set_threads(num_cpus: float, *, import_torch: bool = True) -> int:
    """Match torch / BLAS threads to the CPUs Ray reserved for this task (at least 1).

    Args:
        num_cpus: the reservation.
        import_torch: False sets torch's threads only if torch is already imported (a host whose
            value does not use torch then starts without importing it).
    """
    threads = max(1, int(num_cpus))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if import_torch or "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
    return threads


def _resolve(value: Any, path: Steps) -> Any:
    for kind, key in path:
        value = value[key] if kind == ITEM else getattr(value, key)
    return value


class ValueHost:
    """Holds one producer's value in its own process and serves the units that consume it.

    Created with `num_cpus=0` (`host_class()`): the producer's fit ran in a normal CPU-reserved
    task, the host only serves calls, and every caller blocks (in `ray.get`) while the host works
    on its call, so the caller's own CPU reservation covers the host's work. Methods run one at a
    time (Ray's default for actors), with the producer's thread count. (While a caller blocks in
    `ray.get`, Ray lends its CPU to other queued tasks, as for any nested call, so a busy host can
    briefly oversubscribe a node by its thread count.)

    Args:
        value: the producer's value (Ray resolves an object ref passed here).
        threads: torch / BLAS threads, the producer unit's `num_cpus`.
    """

    def __init__(self, *, value: Any, threads: float = 1) -> None:
        set_threads(threads, import_torch=False)  # `value` is already unpickled: torch is loaded if it needs it
        self.value = value
        self.calls: Counter[str] = Counter()
        self.busy_seconds = 0.0

    def call(self, path: Steps, method: str, args: tuple = (), kwargs: dict | None = None) -> Any:
        """`value[...path...].method(*args, **kwargs)`, run here."""
        start = time.perf_counter()
        self.calls[method] += 1
        try:
            return getattr(_resolve(self.value, path), method)(*args, **(kwargs or {}))
        finally:
            self.busy_seconds += time.perf_counter() - start

    def get(self, path: Steps) -> Any:
        """The item / attribute at `path` (the real object, sent to the caller)."""
        self.calls[f"get:{path[-1][1] if path else ''}"] += 1
        return _resolve(self.value, path)

    def probe(self, path: Steps, name: str) -> tuple[str, Any]:
        """("method", None) if `name` is callable, ("value", attribute) if not, ("missing", None)."""
        attr = getattr(_resolve(self.value, path), name, _MISSING)
        if attr is _MISSING:
            return "missing", None
        if callable(attr):
            return "method", None
        self.calls[f"get:{name}"] += 1
        return "value", attr

    def fitted(self, path: Steps) -> bool:
        """scikit-learn's fitted rule for the value at `path`: its `__sklearn_is_fitted__()`, else
        any attribute ending in "_" (as `sklearn.utils.validation.check_is_fitted`)."""
        target = _resolve(self.value, path)
        own = getattr(target, "__sklearn_is_fitted__", None)
        if callable(own):
            return bool(own())
        return any(k.endswith("_") and not k.startswith("__") for k in vars(target))

    def stats(self) -> dict:
        """pid, calls per method (`get:<name>` for fetches) and seconds spent serving."""
        return {"pid": os.getpid(), "calls": dict(self.calls), "busy_seconds": self.busy_seconds}


_HOST_CLASS = None


def host_class():
    """The Ray actor class of `ValueHost` (0 CPUs, no restarts: the executor recreates a dead
    host from the producer's artifact)."""
    global _HOST_CLASS
    if _HOST_CLASS is None:
        import ray

        _HOST_CLASS = ray.remote(num_cpus=0, max_restarts=0)(ValueHost)
    return _HOST_CLASS


def _rebuild(host: Any, path: Steps) -> "RemoteValue":
    return RemoteValue(host=host, path=path)


class RemoteValue:
    """Stands in for a value held by a `ValueHost`: method calls run in the host, attributes and
    items are fetched (the real objects). Picklable (an actor handle and a path).

    Whether a name is a method or an attribute is decided by one remote probe, then cached.

    Args:
        host: the `ValueHost` actor handle.
        path: item / attribute steps from the host's value to this one (() = the value itself).
    """

    def __init__(self, *, host: Any, path: Steps = ()) -> None:
        self._host = host
        self._path = tuple(path)
        self._methods: set[str] = set()

    def __reduce__(self):
        return _rebuild, (self._host, self._path)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_host", "_path", "_methods"):
            # protocol probes (copy, pickle, numpy) are about the proxy, not the value
            raise AttributeError(name)
        if name not in self._methods:
            import ray

            kind, value = ray.get(self._host.probe.remote(self._path, name))
            if kind == "missing":
                raise AttributeError(f"{name!r} (on the value at {self._path} of a ValueHost)")
            if kind == "value":
                return value
            self._methods.add(name)
        return _RemoteMethod(self._host, self._path, name)

    def __getitem__(self, key: Any) -> Any:
        import ray

        return ray.get(self._host.get.remote(self._path + ((ITEM, key),)))

    def __sklearn_is_fitted__(self) -> bool:
        # the proxy's own attributes say nothing about the value's (sklearn looks at vars())
        import ray

        return ray.get(self._host.fitted.remote(self._path))

    def __repr__(self) -> str:
        return f"RemoteValue(path={self._path})"


class _RemoteMethod:
    def __init__(self, host: Any, path: Steps, name: str) -> None:
        self.host, self.path, self.name = host, path, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import ray

        return ray.get(self.host.call.remote(self.path, self.name, args, kwargs))
