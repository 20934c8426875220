"""What every experiment kind shares: units, their results, and the per-process data context.

A pipeline module has `plan(ctx) -> list[Unit]` and `run(unit, ctx, deps) -> UnitResult`,
plain functions with no Ray: `distributed/` decides where and when they run.
"""

from __future__ import annotations

import importlib
import time
import warnings
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from tabaug_ray.config import DatasetEntry, ExperimentConfig, stable_hash
from tabaug_ray.data.registry import Dataset, check_dataset, load_dataset, load_file
from tabaug_ray.data.schema import TableSchema, infer_schema
from tabaug_ray.data.splits import hash_seed
from tabaug_ray.errors import TabaugError
from tabaug_ray.results import make_record  # noqa: F401 - re-exported: pipelines build rows with it
from tabaug_ray.version import CODE_VERSION

PIPELINES = {"inductive_bias": "tabaug_ray.pipelines.inductive_bias", "mlda": "tabaug_ray.pipelines.mlda"}


@dataclass(frozen=True)
class Unit:
    """One schedulable piece of an experiment.

    Args:
        key: unique id = hash(config slice, data fingerprint, code version, params).
        kind: which step of the pipeline runs it (the pipeline dispatches on it).
        dataset, fold, run: where it sits in the experiment grid.
        params: step-specific settings (scenario, model, sizes, ...), JSON-serialisable.
        deps: keys of units whose values this unit consumes (passed as Ray object refs).
        num_cpus: the CPUs its code really uses (torch threads, TPOT / AutoGluon workers).
        writes_results: False for producer-only units (their value is an artifact, not rows).
        keep_value: True when later units consume the value (kept as a resumable artifact).
    """

    key: str
    kind: str
    dataset: str
    fold: int
    run: int
    params: Mapping[str, Any] = field(default_factory=dict)
    deps: tuple[str, ...] = ()
    num_cpus: float = 1.0
    writes_results: bool = True
    keep_value: bool = False

    @property
    def label(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.params.items() if isinstance(v, (str, int, float)))
        return f"{self.kind}[{self.dataset} f{self.fold} r{self.run} {extra}]"


@dataclass
class UnitResult:
    """Rows for the result store and, for producers, a value later units consume."""

    records: list[dict] = field(default_factory=list)
    value: Any = None


def make_key(config: ExperimentConfig, sections: tuple[str, ...], data: Dataset, **parts: Any) -> str:
    """A unit key from what the unit reads: the seed and fold count, the named config sections,
    the data's content, the code version and the unit's own parts (with the import path and
    version of every plugin they name)."""
    from tabaug_ray.plugins import key_parts

    plugins = key_parts(parts)
    return stable_hash({"seed": config.experiment.seed, "folds": config.experiment.folds,
                        "config": config.section_hash(*sections) if sections else "", "data": data.fingerprint,
                        "code": CODE_VERSION, **parts, **({"plugins": plugins} if plugins else {})})



def unit_seed(config: ExperimentConfig, unit: Unit, *extra: int | str) -> int:
    """The seed of a unit: derived from the config seed and the unit's place in the grid."""
    return hash_seed(config.experiment.seed, unit.dataset, unit.fold, unit.run, *extra)


def pipeline_module(kind: str):
    return importlib.import_module(PIPELINES[kind])


@dataclass(frozen=True, eq=False)
class DataContext:
    """A dataset with its schema, loaded once per process."""

    dataset: Dataset
    schema: TableSchema

    @cached_property
    def category_codes(self) -> np.ndarray:
        """Integer codes (-1 for missing) of every bernoulli / categorical column, all rows: what a
        low-data subsample must cover."""
        cols = [c for c in self.schema.columns if c.kind != "gaussian"]
        frame = self.dataset.frame
        codes = [pd.Categorical(frame[c.name], categories=list(c.categories)).codes for c in cols]
        return np.stack(codes, axis=1).astype(int) if codes else np.zeros((len(frame), 0), dtype=int)


def load_entry(entry: DatasetEntry, data_dir: str | None) -> Dataset:
    """The dataset a config entry names, with its target / task / categorical / schema / drop / cuts settings."""
    if entry.path is not None:
        ds = load_file(entry.path, target=entry.target, task=entry.task, categorical=entry.categorical,
                       name=entry.name, schema_overrides=entry.schema_)
    else:
        ds = load_dataset(entry.name, data_dir=data_dir)
        ds = replace(ds, target=entry.target or ds.target, task=entry.task or ds.task,
                     categorical=entry.categorical or ds.categorical, schema_overrides=dict(entry.schema_))
    unknown = [c for c in entry.drop if c not in ds.frame.columns]
    if unknown or ds.target in entry.drop:
        raise TabaugError(f"dataset {entry.name!r}: cannot drop {unknown or [ds.target]} (unknown column or the target)")
    if entry.drop:
        ds = replace(ds, frame=ds.frame.drop(columns=list(entry.drop)),
                     categorical=tuple(c for c in ds.categorical if c not in entry.drop))
    return apply_cuts(ds, entry) if entry.cuts else ds


def apply_cuts(ds: Dataset, entry: DatasetEntry) -> Dataset:
    """Replace each cut column by its interval label ("<= t1", "(t1, t2]", ..., "> tk"), categorical."""
    frame = ds.frame.copy()
    for column, points in entry.cuts.items():
        if column not in frame.columns or column == ds.target:
            raise TabaugError(f"dataset {entry.name!r}: cuts.{column}: unknown column or the target")
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise TabaugError(f"dataset {entry.name!r}: cuts.{column}: the column is not numeric")
        labels = [f"<= {points[0]:g}", *(f"({a:g}, {b:g}]" for a, b in zip(points, points[1:])), f"> {points[-1]:g}"]
        frame[column] = pd.cut(frame[column], bins=[-np.inf, *points, np.inf], labels=labels).astype(object)
    categorical = tuple(ds.categorical) + tuple(c for c in entry.cuts if c not in ds.categorical)
    return replace(ds, frame=frame, categorical=categorical)


@lru_cache(maxsize=8)
def _context(entry_json: str, data_dir: str | None) -> DataContext:
    entry = DatasetEntry.model_validate_json(entry_json)
    ds = load_entry(entry, data_dir)
    missing = ds.frame[ds.target].isna()
    if missing.any():
        warnings.warn(f"{ds.source}: dropping {int(missing.sum())} rows with a missing target", stacklevel=2)
        ds = replace(ds, frame=ds.frame.loc[~missing].reset_index(drop=True))
    check_dataset(ds, declared=tuple(ds.schema_overrides))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = infer_schema(ds.frame, target=ds.target, task=ds.task, categorical=ds.categorical,
                              overrides=ds.schema_overrides, source=ds.source)
    return DataContext(dataset=ds, schema=schema)


@dataclass(frozen=True, eq=False)
class RunContext:
    """What a unit needs besides its own spec: the config and where the data lives.

    Args:
        config: the validated experiment config.
        data_dir: the data directory (CLI flag, else the config's, else $TABAUG_DATA_DIR).
        seed_runner: fits a generator's seeds elsewhere (the distributed layer's per-seed mode).
    """

    config: ExperimentConfig
    data_dir: str | None = None
    seed_runner: Callable | None = None

    def fit_ensemble(self, generator: Any, x: np.ndarray, *, init: Any = None) -> Any:
        """Fit a seed ensemble: one batched model here, or one task per seed when the executor
        provides a `seed_runner` (execution.seed_tasks)."""
        if self.seed_runner is not None:
            return self.seed_runner(generator, x, init=init)
        return generator.fit(x, init=init)

    def _identity(self) -> tuple[str, str | None]:
        return self.config.hash, self.data_dir

    def __hash__(self) -> int:
        return hash(self._identity())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunContext) and self._identity() == other._identity()

    def data(self, name: str) -> DataContext:
        """The named dataset of the config, loaded and schema-inferred once per process."""
        entry = next(d for d in self.config.datasets if d.name == name)
        return _context(entry.model_dump_json(by_alias=True), self.data_dir or self.config.experiment.data_dir)


class Timer:
    """`with Timer() as t: ...; t.seconds`."""

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


RunFn = Callable[[Unit, RunContext, Mapping[str, Any]], UnitResult]


SELECT_KEYS = ("dataset", "fold", "run", "scenario", "model")


def _field(unit: Unit, name: str) -> Any:
    if name == "scenario":
        return unit.params.get("scenario", unit.params.get("augmenter"))
    if name == "model":  # a generator (inductive bias) or a student (MLDA; producers have none)
        return unit.params.get("model", unit.params.get("student"))
    return getattr(unit, name)


@dataclass(frozen=True)
class Selection:
    """A slice of an experiment's grid (`tabaug run --only`): the same config, keys and results
    directory, only the units of the chosen datasets / folds / runs. Later runs of other slices
    (or of the whole config) add to the same results.

    Args:
        kind: the experiment kind whose pipeline is sliced.
        only: allowed values per grid field ("dataset", "fold", "run", "scenario": an inductive-bias
            scenario or an MLDA augmenter, "model": a generator or an MLDA student); a missing field
            allows all. Producers of kept units are kept whatever their field values.
    """

    kind: str
    only: Mapping[str, tuple] = field(default_factory=dict)

    @classmethod
    def parse(cls, config: ExperimentConfig, items: list[str]) -> "Selection":
        """From `--only FIELD=V1,V2` items, checked against the config's datasets, folds, runs,
        scenarios (augmenters) and models (students)."""
        bias = config.experiment.kind == "inductive_bias"
        scenarios = config.inductive_bias.scenarios if bias else config.mlda.augmenters
        models = config.inductive_bias.models if bias else config.mlda.students
        allowed = {"dataset": [d.name for d in config.datasets], "fold": list(range(config.experiment.folds)),
                   "run": list(range(config.experiment.runs)), "scenario": list(scenarios), "model": list(models)}
        only: dict[str, tuple] = {}
        for item in items:
            name, sep, values = item.partition("=")
            name = name.strip()
            if not sep or name not in SELECT_KEYS or not values.strip():
                raise TabaugError(f"--only {item!r}: expected FIELD=V1,V2 with FIELD one of {', '.join(SELECT_KEYS)}")
            picked = []
            for raw in values.split(","):
                value: Any = raw.strip()
                if name in ("fold", "run"):
                    try:
                        value = int(value)
                    except ValueError:
                        raise TabaugError(f"--only {item!r}: {name} must be an integer, got {raw.strip()!r}") from None
                if value not in allowed[name]:
                    raise TabaugError(f"--only {item!r}: {name} {value!r} is not in the config "
                                      f"(choices: {', '.join(map(str, allowed[name]))})")
                picked.append(value)
            only[name] = tuple(dict.fromkeys((*only.get(name, ()), *picked)))
        return cls(kind=config.experiment.kind, only=only)

    def keeps(self, unit: Unit) -> bool:
        return all(_field(unit, name) in values for name, values in self.only.items())

    def plan(self, ctx: RunContext) -> list[Unit]:
        units = pipeline_module(self.kind).plan(ctx)
        kept = {u.key for u in units if self.keeps(u)}
        by_key = {u.key: u for u in units}
        stack = list(kept)
        while stack:  # producers of kept units are kept too, whatever their place in the grid
            for dep in by_key[stack.pop()].deps:
                if dep not in kept:
                    kept.add(dep)
                    stack.append(dep)
        return [u for u in units if u.key in kept]

    def run(self, unit: Unit, ctx: RunContext, deps: Mapping[str, Any]) -> UnitResult:
        return pipeline_module(self.kind).run(unit, ctx, deps)
