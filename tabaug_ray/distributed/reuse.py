"""Reuse finished units of another run directory (`tabaug run --reuse DIR`).

A unit key hashes everything the unit reads (seed, fold count, its config sections, the data's
content, the code version, its own parameters and its producers' keys), so a unit with the same key
in another directory did exactly the work this run would do, provided the dataset's entry (target,
categorical columns, schema, drops, cuts) is the same in both configs (checked here: some entry
settings change the data's layout but not its content). Its result rows are copied with this
run's experiment name, its artifact (a fitted teacher, an ensemble) as it is if its signature verifies with this user's
secret (`artifacts.ArtifactStore.copy_from`); both are written
atomically and nothing already in OUT is replaced.
"""

from __future__ import annotations

import os
from typing import Sequence

from tabaug_ray.config import DatasetEntry, ExperimentConfig
from tabaug_ray.distributed.artifacts import ArtifactStore
from tabaug_ray.errors import TabaugError, warn
from tabaug_ray.pipelines.base import Unit
from tabaug_ray.results import ResultStore


def check_sources(sources: Sequence[str | os.PathLike]) -> None:
    """Refuse a source that is not a `tabaug run` directory (before OUT is touched)."""
    for source in sources:
        if not ResultStore(out=source).storage.exists("config.json"):
            raise TabaugError(f"--reuse {source}: not a run directory of `tabaug run` (no config.json)")


def reuse_units(units: Sequence[Unit], *, sources: Sequence[str | os.PathLike], store: ResultStore,
                artifacts: ArtifactStore, config: ExperimentConfig) -> int:
    """Copy into `store` / `artifacts` the planned units that a source directory (checked by
    `check_sources`) finished and OUT lacks; returns how many result units were copied."""
    done = store.done_keys()
    copied = 0
    for source in sources:
        src_store, src_artifacts = ResultStore(out=source), ArtifactStore(out=source)
        src_done = src_store.done_keys()
        src_config = src_store.stored_config()
        src_entries = {d["name"]: DatasetEntry.model_validate(d) for d in src_config.get("datasets", [])}
        same = {d.name for d in config.datasets if src_entries.get(d.name) == d}
        for unit in (u for u in units if u.dataset in same):
            if unit.keep_value and not artifacts.has(unit.key) and src_artifacts.has(unit.key):
                artifacts.copy_from(src_artifacts, unit.key)  # only if its signature verifies
            if unit.writes_results and unit.key not in done and unit.key in src_done:
                reason = src_store.check_unit(unit.key)  # its part, or the pack holding it (`tabaug results pack`)
                if reason is not None:
                    warn(f"--reuse {source}: the result rows of {unit.key} {reason}; not copied, the unit runs here")
                    continue
                store.write(unit.key, [dict(row, experiment=config.experiment.name)
                                       for row in src_store.read_part(unit.key)])
                done.add(unit.key)
                copied += 1
    return copied
