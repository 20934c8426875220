"""Run an experiment's units on Ray: dependencies as object refs, results streamed to the store,
failures recorded and reported, progress shown, everything resumable."""

from __future__ import annotations

import logging
import os
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from tabaug_ray.distributed.artifacts import ArtifactStore
from tabaug_ray.distributed.store import ResultStore
from tabaug_ray.errors import TabaugError
from tabaug_ray.pipelines.base import RunContext, Unit, UnitResult, pipeline_module


@dataclass
class RunSummary:
    """What a run did: units planned, skipped (already done), finished and failed."""

    planned: int = 0
    skipped: int = 0
    finished: int = 0
    failed: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def set_threads(num_cpus: float) -> int:
    """Match torch / BLAS threads to the CPUs Ray reserved for this task."""
    threads = max(1, int(num_cpus))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)
    return threads


def execute_unit(pipeline: Any, unit: Unit, ctx: RunContext, dep_keys: Sequence[str],
                 *dep_values: Any) -> tuple[list[dict], Any]:
    """Run one unit in this process (the body of every Ray task)."""
    set_threads(unit.num_cpus)
    result: UnitResult = pipeline.run(unit, ctx, dict(zip(dep_keys, dep_values)))
    return result.records, (result.value if unit.keep_value else None)


# Worker processes: idle OpenMP threads sleep instead of spinning (on a 2-core machine a spinning
# pool slows the other task by 50x), and glibc keeps freed memory instead of returning it to the OS
# after every epoch (about 20 % less CPU in the discriminator's training).
WORKER_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "MALLOC_MMAP_THRESHOLD_": "268435456",
              "MALLOC_TRIM_THRESHOLD_": "268435456"}


def init_ray(*, address: str | None, max_cpus: int | None) -> None:
    """Local Ray on all (or `max_cpus`) cores by default; `address` joins a running cluster."""
    import ray

    if ray.is_initialized():
        return
    # A unit's error is reported once, by the executor; Ray would also log every error it was
    # never asked for (the value ref of a failed producer).
    os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
    env_vars = dict(WORKER_ENV)
    env_vars.update({k: v for k, v in os.environ.items() if k.startswith("TABAUG_") or k in WORKER_ENV
                     or k == "RAY_CHDIR_TO_TRIAL_DIR"})
    env = {"env_vars": env_vars}
    if address:
        # inside a submitted job the job's runtime_env is merged with ours instead of refused
        os.environ.setdefault("RAY_OVERRIDE_JOB_RUNTIME_ENV", "1")
        ray.init(address=address, runtime_env=env, log_to_driver=False, logging_level=logging.WARNING)
    else:
        ray.init(num_cpus=max_cpus, include_dashboard=False, runtime_env=env, log_to_driver=False,
                 logging_level=logging.WARNING)


def _failure(unit: Unit, error: BaseException) -> dict:
    """A failed unit's record: the one-line error and the worker's full traceback."""
    cause = getattr(error, "cause", None) or error
    remote = getattr(error, "traceback_str", None)  # a RayTaskError carries the worker's traceback
    text = remote or "".join(traceback.format_exception(error))
    line = f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"
    return {"unit_key": unit.key, "label": unit.label, "kind": unit.kind, "dataset": unit.dataset,
            "fold": unit.fold, "run": unit.run, "params": dict(unit.params), "error": line, "traceback": text}


class Executor:
    """Plans, schedules and records one experiment.

    Args:
        ctx: the run context (config and data directory).
        out: output directory (results, artifacts, failures, config).
        config_text: the config file's exact text, kept in OUT/config.toml.
        address: Ray address to join (None: start a local Ray).
        max_cpus: cap on local CPUs.
        progress: show a progress bar on stderr.
        pipeline: the module (or object) with `plan` and `run`; default: the config's experiment kind.
    """

    def __init__(self, *, ctx: RunContext, out: str | os.PathLike, config_text: str, address: str | None = None,
                 max_cpus: int | None = None, progress: bool = True, pipeline: Any = None) -> None:
        self.ctx = ctx
        self.out = str(out)
        self.config_text = config_text
        self.address = address
        self.max_cpus = max_cpus
        self.progress = progress
        self.pipeline = pipeline or pipeline_module(ctx.config.experiment.kind)

    def plan(self) -> list[Unit]:
        units = self.pipeline.plan(self.ctx)
        keys = [u.key for u in units]
        if len(set(keys)) != len(keys):
            raise RuntimeError("planner produced duplicate unit keys")
        return units

    def run(self) -> RunSummary:
        import ray

        start = time.perf_counter()
        config = self.ctx.config
        store, artifacts = ResultStore(out=self.out), ArtifactStore(out=self.out)
        store.save_config(self.config_text, config_hash=config.results_hash, resolved=config.to_dict())
        if config.execution.seed_tasks:
            from tabaug_ray.distributed.seeds import fit_per_seed

            self.ctx = replace(self.ctx, seed_runner=fit_per_seed)
        units = self.plan()
        by_key = {u.key: u for u in units}
        done = store.done_keys()
        todo = self._needed(units, done, artifacts)
        summary = RunSummary(planned=len(units), skipped=sum(1 for u in units if u.writes_results and u.key in done))
        if not todo:
            summary.seconds = time.perf_counter() - start
            return summary
        init_ray(address=self.address, max_cpus=self.max_cpus)
        remote = ray.remote(execute_unit)
        pipeline_ref = ray.put(self.pipeline)
        value_refs: dict[str, Any] = {}
        pending: dict[Any, Unit] = {}
        for unit in todo:  # planner order is topological
            dep_refs = [value_refs[d] if d in value_refs else ray.put(artifacts.load(d)) for d in unit.deps]
            records_ref, value_ref = remote.options(
                num_cpus=unit.num_cpus, num_returns=2, max_retries=config.execution.max_retries,
                retry_exceptions=False, name=unit.label[:200],
            ).remote(pipeline_ref, unit, self.ctx, list(unit.deps), *dep_refs)
            value_refs[unit.key] = value_ref
            pending[records_ref] = unit
        bar = _progress(len(todo), self.progress)
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in ready:
                    unit = pending.pop(ref)
                    try:
                        records = ray.get(ref)
                        if unit.keep_value:
                            artifacts.save(unit.key, ray.get(value_refs[unit.key]))
                        if unit.writes_results:
                            store.write(unit.key, records)
                        store.clear_failure(unit.key)
                        summary.finished += 1
                    except Exception as exc:  # noqa: BLE001 - a unit's error must not stop the others
                        failure = _failure(unit, exc)
                        failed_dep = next((by_key[d].label for d in unit.deps if _failed(value_refs.get(d))), None)
                        if failed_dep:
                            failure["error"] = f"dependency failed: {failed_dep}: {failure['error']}"
                        summary.failed.append(failure)
                        store.record_failure(unit.key, failure)
                    bar.update(1)
                bar.set_postfix(busy_cpus=_busy_cpus(), left=len(pending), failed=len(summary.failed), refresh=False)
        finally:
            bar.close()
        summary.seconds = time.perf_counter() - start
        return summary

    @staticmethod
    def _needed(units: list[Unit], done: set[str], artifacts: ArtifactStore) -> list[Unit]:
        """Units to run: unfinished result units, and producers whose values they need but lack."""
        by_key = {u.key: u for u in units}
        needed: set[str] = set()

        def need(key: str) -> None:
            unit = by_key[key]
            if key in needed:
                return
            needed.add(key)
            for dep in unit.deps:
                if not artifacts.has(dep):
                    need(dep)

        for unit in units:  # producers-only units run on demand, when a result unit needs them
            if unit.writes_results and unit.key not in done:
                need(unit.key)
        return [u for u in units if u.key in needed]


def _failed(ref: Any) -> bool:
    """Whether a finished task's output raises (None: the value came from an artifact)."""
    import ray

    if ref is None:
        return False
    try:
        ray.get(ref, timeout=60)
    except Exception:  # noqa: BLE001
        return True
    return False


def _busy_cpus() -> float:
    import ray

    return round(ray.cluster_resources().get("CPU", 0) - ray.available_resources().get("CPU", 0), 1)


class _NoBar:
    def update(self, n: int) -> None: ...
    def set_postfix(self, **kw: Any) -> None: ...
    def close(self) -> None: ...


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="unit", desc="units", dynamic_ncols=True)


def check_address(address: str | None) -> str | None:
    if address and not (address == "auto" or address.startswith(("ray://", "localhost", "127.")) or ":" in address):
        raise TabaugError(f"--address {address!r}: expected 'auto', 'ray://host:port' or 'host:port'")
    return address
