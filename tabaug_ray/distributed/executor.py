"""Run an experiment's units on Ray: producers' values served by host actors, results streamed to
the store, failures recorded and reported, progress shown, everything resumable."""

from __future__ import annotations

import os
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from tabaug_ray.distributed.actors import RemoteValue, host_class, set_threads
from tabaug_ray.distributed.artifacts import ArtifactStore
from tabaug_ray.distributed.connect import WORKER_ENV, check_address, init_ray  # noqa: F401 - re-exported
from tabaug_ray.distributed.reuse import check_sources, reuse_units
from tabaug_ray.pipelines.base import RunContext, Selection, Unit, UnitResult, pipeline_module
from tabaug_ray.progress import LiveState, save_plan
from tabaug_ray.results import ResultStore
from tabaug_ray.storage import DiskFull

__all__ = ["Executor", "RunSummary", "check_address", "execute_unit", "init_ray", "set_threads"]


@dataclass
class RunSummary:
    """What a run did: units planned, skipped (already done, of which `reused` copied from other
    run directories), finished and failed; the most host
    actors alive and tasks submitted at once, and each host's calls (producer key -> label, pid,
    calls, busy_seconds)."""

    planned: int = 0
    skipped: int = 0
    finished: int = 0
    failed: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    reused: int = 0
    max_live_hosts: int = 0
    max_in_flight: int = 0
    host_calls: dict[str, dict] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def execute_unit(pipeline: Any, unit: Unit, ctx: RunContext, dep_keys: Sequence[str],
                 *dep_values: Any) -> tuple[list[dict], Any]:
    """Run one unit in this process (the body of every Ray task); `dep_values` are `RemoteValue`s."""
    set_threads(unit.num_cpus)
    result: UnitResult = pipeline.run(unit, ctx, dict(zip(dep_keys, dep_values)))
    return result.records, (result.value if unit.keep_value else None)


def _failure(unit: Unit, error: BaseException) -> dict:
    """A failed unit's record: the one-line error and the worker's full traceback."""
    cause = getattr(error, "cause", None) or error
    remote = getattr(error, "traceback_str", None)  # a RayTaskError carries the worker's traceback
    text = remote or "".join(traceback.format_exception(error))
    line = f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"
    return _failure_record(unit, line, text)


def _failure_record(unit: Unit, error: str, traceback_text: str) -> dict:
    return {"unit_key": unit.key, "label": unit.label, "kind": unit.kind, "dataset": unit.dataset,
            "fold": unit.fold, "run": unit.run, "params": dict(unit.params), "error": error,
            "traceback": traceback_text}


class Executor:
    """Plans, schedules and records one experiment.

    Scheduling: units are walked in plan order (topological) and each is submitted as a Ray task
    as soon as every producer it depends on has a host (`actors.ValueHost`); consumers get a
    `RemoteValue` of each host, so they never occupy CPUs waiting for a producer. A producer
    (`keep_value`) that units of this run still need is submitted only while fewer than
    `execution.max_hosts` hosts are alive or pending (default 2 x the cluster's CPUs, at least 2,
    raised to the most producers one unit needs; lifted by one host when nothing else can run).
    At most `execution.max_in_flight` tasks (default 2 x the cluster's CPUs + 2) are submitted at a
    time, so the run goes through the plan group by group (a dataset's units finish together and
    hosts are not left idle behind the dependency-free units of later groups). When a producer finishes, its value is
    saved as an artifact (crash-safe) and put into a host, which is killed when the last consumer
    of this run finished or failed. On resume, a producer whose artifact exists is not re-run: its
    host is made from the artifact. A failed producer fails its consumers without running them
    ("dependency failed: <producer label>: <error>"). A host whose process dies is recreated once
    from the artifact and the consumers that failed with it are retried once (a second death
    fails them).

    Args:
        ctx: the run context (config and data directory).
        out: output directory (results, artifacts, failures, config).
        config_text: the config file's exact text, kept in OUT/config.toml.
        address: Ray address to join (None: start a local Ray).
        max_cpus: cap on local CPUs.
        progress: show a progress bar on stderr.
        pipeline: the module (or object) with `plan` and `run`; default: the config's experiment kind.
        reuse: other run directories whose finished units (same keys) are copied in, not re-run.
    """

    def __init__(self, *, ctx: RunContext, out: str | os.PathLike, config_text: str, address: str | None = None,
                 max_cpus: int | None = None, progress: bool = True, pipeline: Any = None,
                 reuse: Sequence[str | os.PathLike] = ()) -> None:
        self.ctx = ctx
        self.out = str(out)
        self.config_text = config_text
        self.address = address
        self.max_cpus = max_cpus
        self.progress = progress
        self.pipeline = pipeline or pipeline_module(ctx.config.experiment.kind)
        self.reuse = tuple(reuse)

    def plan(self) -> list[Unit]:
        units = self.pipeline.plan(self.ctx)
        keys = [u.key for u in units]
        if len(set(keys)) != len(keys):
            raise RuntimeError("planner produced duplicate unit keys")
        by_key = {u.key: u for u in units}
        seen: set[str] = set()
        for unit in units:
            bad = [d for d in unit.deps if d not in seen or not by_key[d].keep_value]
            if bad:
                raise RuntimeError(f"planner: {unit.label} depends on {bad}, which must be earlier units "
                                   "with keep_value=True")
            seen.add(unit.key)
        return units

    def run(self) -> RunSummary:
        start = time.perf_counter()
        config = self.ctx.config
        store, artifacts = ResultStore(out=self.out), ArtifactStore(out=self.out)
        check_sources(self.reuse)
        store.save_config(self.config_text, config_hash=config.results_hash, resolved=config.to_dict())
        store.verify()  # a torn or foreign part is quarantined: its unit is not done
        if config.execution.seed_tasks:
            from tabaug_ray.distributed.seeds import fit_per_seed

            self.ctx = replace(self.ctx, seed_runner=fit_per_seed)
        units = self.plan()  # the whole grid goes to OUT/plan.json for `tabaug status` and the report's coverage
        grid = pipeline_module(self.pipeline.kind).plan(self.ctx) if isinstance(self.pipeline, Selection) else units
        save_plan(store, grid, config_hash=config.results_hash, experiment=config.experiment.name)
        artifacts.verify(u.key for u in units if u.keep_value)  # an artifact that fails its HMAC is never loaded
        reused = reuse_units(units, sources=self.reuse, store=store, artifacts=artifacts,
                             config=config) if self.reuse else 0
        done = store.done_keys()
        todo = self._needed(units, done, artifacts)
        summary = RunSummary(planned=len(units), skipped=sum(1 for u in units if u.writes_results and u.key in done),
                             reused=reused)
        if not todo:
            summary.seconds = time.perf_counter() - start
            return summary
        init_ray(address=self.address, max_cpus=self.max_cpus)
        bar = _progress(len(todo), self.progress)
        schedule = _Schedule(todo=todo, by_key={u.key: u for u in units}, ctx=self.ctx, pipeline=self.pipeline,
                             store=store, artifacts=artifacts, summary=summary, bar=bar)
        try:
            schedule.run()
        finally:
            schedule.close()
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


class _Schedule:
    """One run's bookkeeping: waiting units, tasks in flight, hosts (see `Executor`)."""

    def __init__(self, *, todo: list[Unit], by_key: dict[str, Unit], ctx: RunContext, pipeline: Any,
                 store: ResultStore, artifacts: ArtifactStore, summary: RunSummary, bar: Any) -> None:
        import ray

        execution = ctx.config.execution
        self.by_key, self.ctx, self.store, self.artifacts = by_key, ctx, store, artifacts
        self.summary, self.bar, self.max_retries = summary, bar, execution.max_retries
        self.remote = ray.remote(execute_unit)
        self.pipeline_ref = ray.put(pipeline)
        self.todo_keys = {u.key for u in todo}
        self.waiting: list[Unit] = list(todo)
        self.consumers_left = Counter(d for u in todo for d in u.deps)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.window = execution.max_in_flight or 2 * cpus + 2
        cap = execution.max_hosts or max(2, 2 * cpus)
        self.max_hosts = max(cap, *(len(u.deps) for u in todo))  # a unit needs all its hosts at once
        self.hosts: dict[str, Any] = {}  # producer key -> live ValueHost
        self.generation: Counter = Counter()  # producer key -> hosts made so far
        self.pending_hosts: set[str] = set()  # producers in flight whose value gets a host
        self.in_flight: dict[Any, tuple[Unit, Any, tuple[tuple[str, int], ...]]] = {}
        self.failures: dict[str, dict] = {}
        self.recreated: set[str] = set()
        self.retried: set[str] = set()
        self.force = False
        self.live = LiveState(store=store, todo=[u.key for u in todo if u.writes_results], cpus=cpus)

    def run(self) -> None:
        import ray

        self.submit_ready()
        while self.in_flight or self.waiting:
            if not self.in_flight:
                # nothing runs, so no host can be freed: the cap blocks every waiting unit (e.g. several
                # producers one consumer needs together): one host beyond the cap
                self.force = True
                moved = self.submit_ready()
                self.force = False
                if not moved:
                    raise RuntimeError(f"executor: {len(self.waiting)} units cannot be scheduled, first "
                                       f"{self.waiting[0].label}")
                continue
            ready, _ = ray.wait(list(self.in_flight), num_returns=1, timeout=1.0)
            for ref in ready:
                self.finish(ref)
            if ready:  # a window slot, a host or a failure may let waiting units go
                self.submit_ready()
            self.bar.set_postfix(busy_cpus=_busy_cpus(), hosts=len(self.hosts),
                                 left=len(self.in_flight) + len(self.waiting), failed=len(self.summary.failed),
                                 refresh=False)
            self.live.update(u.key for u, _, _ in self.in_flight.values())

    def submit_ready(self) -> int:
        """Submit, in plan order, every waiting unit that can run now; returns how many left the queue."""
        still: list[Unit] = []
        for i, unit in enumerate(self.waiting):
            failed_dep = next((d for d in unit.deps if d in self.failures), None)
            if failed_dep is None and len(self.in_flight) >= self.window and not self.force:
                still.extend(self.waiting[i:])  # the window is full: the rest waits, in plan order
                break
            if failed_dep is not None:
                self.fail_dependency(unit, failed_dep)
            elif not all(self.host_ready(d) for d in unit.deps):
                still.append(unit)
                continue
            elif self.consumers_left[unit.key] > 0:  # a producer: its value will need a host
                if not self.slot():
                    still.append(unit)
                    continue
                self.pending_hosts.add(unit.key)
                self.submit(unit)
            else:
                self.submit(unit)
        moved = len(self.waiting) - len(still)
        self.waiting = still
        return moved

    def slot(self) -> bool:
        if len(self.hosts) + len(self.pending_hosts) < self.max_hosts:
            return True
        if self.force:
            self.force = False
            return True
        return False

    def host_ready(self, key: str) -> bool:
        """Whether producer `key` has a host; one is made from its artifact if it does not run here."""
        import ray

        if key in self.hosts:
            return True
        if key in self.todo_keys or not self.slot():
            return False
        self.start_host(key, ray.put(self.artifacts.load(key)))
        return True

    def start_host(self, key: str, value: Any) -> None:
        self.hosts[key] = host_class().remote(value=value, threads=self.by_key[key].num_cpus)
        self.generation[key] += 1
        self.summary.max_live_hosts = max(self.summary.max_live_hosts, len(self.hosts))

    def stop_host(self, key: str, *, timeout: float = 60.0) -> None:
        """Collect the host's stats into the summary and kill it."""
        import ray

        host = self.hosts.pop(key)
        try:
            self.summary.host_calls[key] = {"label": self.by_key[key].label,
                                            **ray.get(host.stats.remote(), timeout=timeout)}
        except Exception:  # noqa: BLE001 - a dead or stuck host has no stats; it is killed anyway
            pass
        ray.kill(host)

    def submit(self, unit: Unit) -> None:
        used = tuple((d, self.generation[d]) for d in unit.deps)
        values = [RemoteValue(host=self.hosts[d]) for d in unit.deps]
        records_ref, value_ref = self.remote.options(
            num_cpus=unit.num_cpus, num_returns=2, max_retries=self.max_retries, retry_exceptions=False,
            name=unit.label[:200],
        ).remote(self.pipeline_ref, unit, self.ctx, list(unit.deps), *values)
        self.in_flight[records_ref] = (unit, value_ref, used)
        self.summary.max_in_flight = max(self.summary.max_in_flight, len(self.in_flight))

    def finish(self, ref: Any) -> None:
        """Record a finished task (the loop then lets waiting units go)."""
        import ray

        unit, value_ref, used = self.in_flight.pop(ref)
        try:
            records = ray.get(ref)
            if unit.keep_value:
                self.artifacts.save(unit.key, ray.get(value_ref))
            if unit.writes_results:
                self.store.write(unit.key, records)
            self.store.clear_failure(unit.key)
        except DiskFull:
            raise  # OUT cannot take more: stop the run (nothing torn is left; resume after freeing space)
        except Exception as exc:  # noqa: BLE001 - a unit's error must not stop the others
            if not self.retry_after_host_death(unit, used, exc):
                self.pending_hosts.discard(unit.key)
                self.fail(unit, _failure(unit, exc))
            return
        self.summary.finished += 1
        self.bar.update(1)
        if unit.key in self.pending_hosts:
            self.pending_hosts.discard(unit.key)
            if self.consumers_left[unit.key] > 0:
                self.start_host(unit.key, value_ref)
        self.consumed(unit)

    def fail(self, unit: Unit, failure: dict) -> None:
        self.summary.failed.append(failure)
        self.store.record_failure(unit.key, failure)
        self.failures[unit.key] = failure
        self.bar.update(1)
        self.consumed(unit)

    def fail_dependency(self, unit: Unit, dep: str) -> None:
        """Fail `unit` without running it: producer `dep` failed."""
        cause = self.failures[dep]
        self.fail(unit, _failure_record(unit, f"dependency failed: {self.by_key[dep].label}: {cause['error']}",
                                        cause["traceback"]))

    def consumed(self, unit: Unit) -> None:
        """`unit` is over: kill the hosts it was the last consumer of."""
        for dep in unit.deps:
            self.consumers_left[dep] -= 1
            if self.consumers_left[dep] <= 0 and dep in self.hosts:
                self.stop_host(dep)

    def retry_after_host_death(self, unit: Unit, used: tuple[tuple[str, int], ...], exc: BaseException) -> bool:
        """If `unit` failed because a host it used died: recreate the host from its artifact (once per
        producer), resubmit `unit` (once) and return True."""
        from ray.exceptions import RayActorError

        if not used or unit.key in self.retried or not (
                isinstance(exc, RayActorError) or isinstance(getattr(exc, "cause", None), RayActorError)):
            return False
        replaced = False
        for dep, generation in used:
            if self.generation[dep] != generation:
                replaced = True  # already recreated after another consumer failed
            elif dep in self.hosts and _dead(self.hosts[dep]):
                if dep in self.recreated or not self.artifacts.has(dep):
                    return False
                import ray

                self.recreated.add(dep)
                self.hosts.pop(dep)
                self.start_host(dep, ray.put(self.artifacts.load(dep)))
                replaced = True
        if replaced:
            self.retried.add(unit.key)
            self.submit(unit)
        return replaced

    def close(self) -> None:
        """Kill the hosts still alive (none after a complete run)."""
        for key in list(self.hosts):
            self.stop_host(key, timeout=5.0)
        self.live.close(finished=not self.waiting and not self.in_flight)


def _dead(host: Any) -> bool:
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError

    try:
        ray.get(host.stats.remote(), timeout=30)
    except RayActorError:
        return True
    except GetTimeoutError:  # alive, busy serving others
        return False
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
