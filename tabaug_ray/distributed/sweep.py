"""Hyper-parameter sweeps with Ray Tune and Optuna over any field of an experiment config.

A sweep file names a base experiment, the metric to optimise (any metric the pipeline records,
filtered to the rows that count) and a search space of dotted config paths. Each trial runs the
base experiment's units in its own process with the trial's values and reports the mean of the
metric; every trial and the best config are written to OUT/sweep.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from tabaug_ray.config import ExperimentConfig, Section, parse_config, read_toml, validate
from tabaug_ray.errors import TabaugError


class Dimension(Section):
    """One axis of the search space."""

    kind: Literal["uniform", "loguniform", "int", "choice"]
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()

    def to_tune(self):
        from ray import tune

        if self.kind == "choice":
            if not self.values:
                raise ValueError("choice needs 'values'")
            return tune.choice(list(self.values))
        if self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"{self.kind} needs low < high, got low={self.low}, high={self.high}")
        if self.kind == "int":
            return tune.randint(int(self.low), int(self.high) + 1)
        if self.kind == "loguniform":
            if self.low <= 0:
                raise ValueError(f"loguniform needs low > 0, got {self.low}")
            return tune.loguniform(self.low, self.high)
        return tune.uniform(self.low, self.high)


class SweepSection(Section):
    config: str = Field(min_length=1)
    metric: str = Field(min_length=1)
    mode: Literal["min", "max"] = "min"
    where: dict[str, str | int | float] = Field(default_factory=dict)
    num_samples: int = Field(10, ge=1)
    max_concurrent: int = Field(2, ge=1)
    cpus_per_trial: float = Field(1.0, gt=0)
    seed: int = 0
    space: dict[str, Dimension] = Field(min_length=1)


class SweepFile(Section):
    sweep: SweepSection


def load_sweep(path: str | Path) -> tuple[SweepSection, dict[str, Any], Path]:
    """The sweep section, the base experiment as a dict, and the base file's path."""
    path = Path(path)
    sweep = validate(SweepFile, read_toml(path, what="sweep"), source=path).sweep
    base_path = (path.parent / sweep.config).resolve()
    if not base_path.is_file():
        raise TabaugError(f"{path}: field 'sweep.config': {base_path} not found")
    base = read_toml(base_path)
    parse_config(base, source=base_path)  # the base experiment must be valid on its own
    for name, dim in sweep.space.items():
        try:
            dim.to_tune()
        except ValueError as exc:
            raise TabaugError(f"{path}: field 'sweep.space.{name}': {exc}") from None
        apply_overrides(base, {name: _example(dim)}, source=f"{path}: field 'sweep.space.{name}'")
    return sweep, base, base_path


def _example(dim: Dimension) -> Any:
    return dim.values[0] if dim.kind == "choice" else (int(dim.low) if dim.kind == "int" else dim.low)


def apply_overrides(base: dict[str, Any], values: dict[str, Any], *, source: str = "sweep") -> ExperimentConfig:
    """The base config with dotted-path values set; a list field gets a one-element list."""
    data = copy.deepcopy(base)
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise TabaugError(f"{source}: {dotted!r} does not name a config field")
        current = node.get(leaf, _default_of(parents, leaf))
        node[leaf] = [value] if isinstance(current, (list, tuple)) else value
    return parse_config(data, source=source)


def _default_of(parents: list[str], leaf: str) -> Any:
    model: Any = ExperimentConfig
    for part in [*parents, leaf]:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            raise TabaugError(f"sweep: {'.'.join([*parents, leaf])!r} does not name a config field")
        info = fields[part]
        model = info.annotation
        default = info.default
    return default


def trial_objective(config: ExperimentConfig, *, metric: str, where: dict[str, Any], data_dir: str | None,
                    cpus: float) -> tuple[float, list[dict]]:
    """Run every unit of `config` in this process; the objective is the mean of `metric` over the
    rows that match `where`."""
    from tabaug_ray.distributed.executor import set_threads
    from tabaug_ray.pipelines.base import RunContext, pipeline_module

    set_threads(cpus)
    ctx = RunContext(config=config, data_dir=data_dir)
    pipeline = pipeline_module(config.experiment.kind)
    values: dict[str, Any] = {}
    records: list[dict] = []
    for unit in pipeline.plan(ctx):
        result = pipeline.run(unit, ctx, {d: values[d] for d in unit.deps})
        values[unit.key] = result.value
        records += result.records
    chosen = [r["value"] for r in records if r["metric"] == metric and all(r.get(k) == v for k, v in where.items())]
    if not chosen:
        raise TabaugError(f"sweep: no result rows with metric {metric!r} and {where}")
    return float(sum(chosen) / len(chosen)), records


def _creation_order(results: Any) -> dict[str, int]:
    """trial_id -> the trial's number in creation order (Tune names a trial's folder
    `<trainable>_<trial_id>_<number>_<params>`; the results come in another order)."""
    order = {}
    for result in results:
        trial_id = result.metrics.get("trial_id", "")
        match = re.search(rf"_{re.escape(trial_id)}_(\d+)", os.path.basename(result.path)) if trial_id else None
        if match:
            order[trial_id] = int(match.group(1))
    return order


def run_sweep(path: str | Path, *, out: str | Path, data_dir: str | None = None, address: str | None = None,
              max_cpus: int | None = None) -> dict[str, Any]:
    """Run (or resume) a sweep; returns the best trial's values and objective."""
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from tabaug_ray.distributed.executor import init_ray

    sweep, base, base_path = load_sweep(path)
    out = Path(out).resolve()
    sweep_dir = out / "sweep"
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "sweep.toml").write_text(Path(path).read_text())
    (sweep_dir / "base.toml").write_text(base_path.read_text())
    os.environ["RAY_CHDIR_TO_TRIAL_DIR"] = "0"  # trials keep the caller's directory: relative paths work
    init_ray(address=address, max_cpus=max_cpus)
    metric, where, cpus = sweep.metric, dict(sweep.where), sweep.cpus_per_trial

    (out / "config.toml").write_text(base_path.read_text())  # the trials' base config, for `tabaug report`

    def trainable(params: dict[str, Any]) -> None:
        from tabaug_ray.results import ResultStore

        config = apply_overrides(base, params)
        value, records = trial_objective(config, metric=metric, where=where, data_dir=data_dir, cpus=cpus)
        # every trial's rows in OUT/results (one part per trial and unit): `tabaug report OUT` compares them
        store, trial = ResultStore(out=out), tune.get_context().get_trial_id()
        for key in dict.fromkeys(r["unit_key"] for r in records):
            store.write(f"{trial}-{key}", [{**r, "unit_key": f"{trial}-{key}"} for r in records if r["unit_key"] == key])
        tune.report({"objective": value})

    resources = tune.with_resources(trainable, {"cpu": cpus})
    tune_dir = sweep_dir / "tune"
    if tune.Tuner.can_restore(str(tune_dir)):
        tuner = tune.Tuner.restore(str(tune_dir), trainable=resources, resume_errored=True)
    else:
        searcher = ConcurrencyLimiter(OptunaSearch(seed=sweep.seed), max_concurrent=sweep.max_concurrent)
        tuner = tune.Tuner(
            resources,
            param_space={name: dim.to_tune() for name, dim in sweep.space.items()},
            tune_config=tune.TuneConfig(search_alg=searcher, metric="objective", mode=sweep.mode,
                                        num_samples=sweep.num_samples),
            run_config=tune.RunConfig(name="tune", storage_path=str(sweep_dir), verbose=0),
        )
    results = tuner.fit()
    frame = results.get_dataframe()
    config_cols = {c: c.removeprefix("config/") for c in frame.columns if c.startswith("config/")}
    trials = frame[["trial_id", *config_cols, "objective"]].rename(columns=config_cols)
    trials.insert(1, "trial", trials["trial_id"].map(_creation_order(results)))
    trials = trials.sort_values("objective", ascending=sweep.mode == "min").rename(columns={"objective": metric})
    trials.to_csv(sweep_dir / "trials.csv", index=False)
    best = results.get_best_result(metric="objective", mode=sweep.mode)
    failed = [r for r in results if r.error is not None]
    summary = {"metric": metric, "mode": sweep.mode, "where": where, "best_value": best.metrics["objective"],
               "best_params": best.config, "trials": len(frame), "failed_trials": len(failed),
               "best_config": apply_overrides(base, best.config).to_dict()}
    (sweep_dir / "best.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    return summary


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)
