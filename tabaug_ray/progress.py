"""How far a run directory is: the planned grid, done / running / failed / remaining units, an ETA
(`tabaug status OUT`) and the coverage line of a partial run's report. No Ray here.

`tabaug run` records, atomically, two small files in OUT:
- `plan.json` at start: the whole grid of the config (every unit's key, kind, whether it writes
  results, its CPUs), also when `--only` runs a slice of it;
- `progress.json` while it runs: the driver's pid and host, the CPUs of the cluster, the result
  units this run is to finish and the ones in flight (rewritten when they change, at most every
  `LiveState.MIN_GAP` seconds, and every `HEARTBEAT` seconds), and its end state.

Readers only read: files are replaced by a move, so a reader sees the old or the new whole file; no
lock is taken and nothing in OUT is written. Counts are over the units that write results.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import pyarrow as pa

from tabaug_ray.errors import TabaugError, warn
from tabaug_ray.results import ResultStore

if TYPE_CHECKING:
    from tabaug_ray.pipelines.base import Unit

PLAN = "plan.json"
LIVE = "progress.json"
HEARTBEAT = 30.0  # seconds between rewrites of progress.json when nothing changed
STALE = 120.0  # a run on another host whose progress.json is older than this is taken as stopped


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


def save_plan(store: ResultStore, units: Iterable["Unit"], *, config_hash: str, experiment: str) -> None:
    """Record the config's whole grid in OUT/plan.json (atomically)."""
    rows = [{"key": u.key, "kind": u.kind, "writes_results": u.writes_results, "num_cpus": u.num_cpus}
            for u in units]
    text = json.dumps({"experiment": experiment, "config_hash": config_hash, "written": _now(), "units": rows},
                      separators=(",", ":"))
    store.storage.write_bytes(text.encode(), PLAN)


def _read_json(store: ResultStore, name: str) -> dict | None:
    if not store.storage.exists(name):
        return None
    try:
        return json.loads(store.storage.read_bytes(name))
    except (ValueError, UnicodeDecodeError, OSError):
        return None


class LiveState:
    """Writes OUT/progress.json for `tabaug status` during a run; never lets a write error stop it.

    Args:
        store: OUT's result store.
        todo: keys of the result units this run is to finish.
        cpus: the CPUs of the Ray cluster the run uses.
    """

    MIN_GAP = 2.0

    def __init__(self, *, store: ResultStore, todo: Iterable[str], cpus: float) -> None:
        self.store, self.last, self.running, self.failed = store, 0.0, None, False
        self.state = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now(),
                      "started_at": time.time(), "cpus": cpus, "todo": sorted(todo), "state": "running"}
        self.update([], force=True)

    def update(self, running: Iterable[str], *, force: bool = False) -> None:
        keys = sorted(running)
        now = time.time()
        if not force and (now - self.last < self.MIN_GAP or (keys == self.running and now - self.last < HEARTBEAT)):
            return
        self.running, self.last = keys, now
        self._write(running=keys, updated_at=now)

    def close(self, *, finished: bool) -> None:
        self._write(running=[], updated_at=time.time(), state="finished" if finished else "stopped")

    def _write(self, **fields: Any) -> None:
        self.state.update(fields)
        try:
            self.store.storage.write_bytes(json.dumps(self.state).encode(), LIVE)
        except (OSError, TabaugError) as exc:  # status is best effort: the run goes on (a full disk stops
            if not self.failed:                # it when it writes a part), warned once
                warn(f"cannot update {self.store.storage.path(LIVE)} for `tabaug status`: {exc}")
            self.failed = True


@dataclass
class Progress:
    """Counts of the planned result units of OUT (see `read_progress`)."""

    planned: int | None  # None: no plan.json (a run from before plans were recorded, or a sweep)
    done: int
    failed: int
    running: int = 0
    remaining: int = 0
    quarantined: int = 0
    alive: bool = False
    live: dict | None = None
    eta_seconds: float | None = None
    eta_units: int = 0
    mean_seconds: float | None = None
    finished_with_time: int = 0
    cpus: float | None = None
    experiment: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def not_run(self) -> int:
        return (self.planned or 0) - self.done - self.failed

    def coverage_line(self) -> str | None:
        """"covers 37 of 120 units (31 %): 2 failed, 81 not run" when not every planned unit is done."""
        if not self.planned or self.done >= self.planned:
            return None
        return (f"covers {self.done} of {self.planned} units ({100 * self.done / self.planned:.0f} %): "
                f"{self.failed} failed, {self.not_run} not run")


def _alive(live: dict | None) -> bool:
    if not live or live.get("state") != "running":
        return False
    if live.get("host") == socket.gethostname():
        try:
            os.kill(int(live["pid"]), 0)
        except ProcessLookupError:
            return False
        except (PermissionError, OSError, ValueError, KeyError):
            pass
        return True
    return time.time() - float(live.get("updated_at", 0)) < STALE


def read_progress(out: str | os.PathLike, *, with_eta: bool = False) -> Progress:
    """Planned / done / failed (and, for a live run, running) result units of OUT, read without
    changing anything; with `with_eta`, the ETA from finished units' durations and the run's CPUs."""
    store = ResultStore(out=out)
    plan = _read_json(store, PLAN)
    done_keys = store.done_keys()
    failed_keys = {f.get("unit_key") for f in store.failures()} - done_keys
    quarantined = len(store.storage.list("quarantine", ""))
    if plan is None:
        return Progress(planned=None, done=len(done_keys), failed=len(failed_keys), quarantined=quarantined)
    units = {u["key"]: u for u in plan["units"] if u["writes_results"]}
    live = _read_json(store, LIVE)
    alive = _alive(live)
    running = set(live.get("running", [])) & set(units) - done_keys if alive else set()
    done = set(units) & done_keys
    failed = set(units) & failed_keys - running
    progress = Progress(planned=len(units), done=len(done), failed=len(failed), running=len(running),
                        remaining=len(units) - len(done) - len(failed) - len(running), quarantined=quarantined,
                        alive=alive, live=live, experiment=plan.get("experiment"))
    if with_eta:
        # a live run finishes its own units; a stopped one, run again, retries the failed ones too
        left = (set(live.get("todo", [])) if alive else set(units)) - done - (failed if alive else set())
        _eta(progress, store, units, left, live)
    return progress


def _eta(progress: Progress, store: ResultStore, units: dict[str, dict], left: set[str], live: dict | None) -> None:
    for attempt in range(3):  # a part packed (deleted) between listing and reading: read again
        try:
            table = store.read(columns=["unit_key", "seconds"])
            break
        except (pa.ArrowException, OSError):
            if attempt == 2:
                table = store.read_checked()[0]
    seconds = table.groupby("unit_key")["seconds"].max()
    seconds = seconds[seconds.index.isin(list(units))]
    progress.cpus = float(live["cpus"]) if live and live.get("cpus") else float(os.cpu_count() or 1)
    progress.eta_units = len(left)
    progress.finished_with_time = len(seconds)
    if not len(seconds):
        return
    progress.mean_seconds = float(seconds.mean())
    by_kind: dict[str, list[float]] = {}
    for key, value in seconds.items():
        by_kind.setdefault(units[key]["kind"], []).append(float(value))
    mean_kind = {k: sum(v) / len(v) for k, v in by_kind.items()}
    each = {k: mean_kind.get(units[k]["kind"], progress.mean_seconds) for k in left}
    work = sum(each[k] * min(float(units[k]["num_cpus"]), progress.cpus) for k in left)
    progress.eta_seconds = max(work / progress.cpus, max(each.values(), default=0.0))  # a unit is not split


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def status_text(out: str, progress: Progress) -> str:
    """What `tabaug status OUT` prints."""
    live = progress.live or {}
    if progress.alive:
        age = time.time() - float(live.get("updated_at", time.time()))
        head = (f"{out}: {progress.experiment}: run in progress (pid {live.get('pid')} on {live.get('host')}, "
                f"started {live.get('started')}, updated {age:.0f} s ago)")
    elif live:
        state = live.get("state", "stopped")
        state = "stopped (the driver ended without closing)" if state == "running" else state
        updated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(live.get("updated_at", 0))))
        head = f"{out}: {progress.experiment}: run {state} (started {live.get('started')}, last update {updated})"
    else:
        head = f"{out}: {progress.experiment or 'experiment'}: no run in progress"
    if progress.planned is None:
        lines = [head, f"  done      {progress.done:>6}", f"  failed    {progress.failed:>6}",
                 "  planned   unknown (no plan.json: the run predates it, or OUT is a sweep)"]
    else:
        pct = f" ({100 * progress.done / progress.planned:.0f} %)" if progress.planned else ""
        lines = [head, f"  planned   {progress.planned:>6} units", f"  done      {progress.done:>6}{pct}",
                 f"  running   {progress.running:>6}" + (" (in flight: submitted to Ray, some may queue for a CPU)"
                                                          if progress.running else ""), f"  failed    {progress.failed:>6}"
                 + (" (OUT/failed; a re-run retries them)" if progress.failed else ""),
                 f"  remaining {progress.remaining:>6}"]
    if progress.quarantined:
        lines.append(f"  quarantined files: {progress.quarantined} (OUT/quarantine: refused parts, their units rerun)")
    if progress.planned:
        cpus = f"{progress.cpus:g} CPUs"
        if progress.eta_units == 0:
            lines.append("  ETA       none: nothing left" + (" in this run" if progress.alive else ""))
        elif progress.eta_seconds is None:
            lines.append(f"  ETA       unknown: no finished unit to time yet ({progress.eta_units} unit(s) left)")
        else:
            when = "" if progress.alive else " if run again"
            lines.append(f"  ETA       ~{_duration(progress.eta_seconds)}{when} for {progress.eta_units} unit(s) on {cpus}"
                         f" (mean unit {progress.mean_seconds:.1f} s over {progress.finished_with_time} finished)")
    return "\n".join(lines) + "\n"
