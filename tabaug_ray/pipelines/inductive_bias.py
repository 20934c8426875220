"""Experiment kind `inductive_bias`: VAE-BGM (and CTGAN) in data-scarce settings, with the four
artificial-inductive-bias techniques.

Units per dataset x fold x run x model: `big_data` and `low_data` train a generator on N rows and
evaluate its synthetic rows; `low_data` also hands its fitted ensemble (with each seed's synthetic
rows) to the technique units (`pretrain`, `avg`, `maml`, `drs` for vae_bgm; `pretrain` for ctgan),
which build an initialisation from it, fine-tune on the same N real rows and evaluate.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from tabaug_ray.config import ExperimentConfig
from tabaug_ray.data.splits import check_sizes
from tabaug_ray.errors import TabaugError
from tabaug_ray.pipelines.base import RunContext, Timer, Unit, UnitResult, make_key, make_record, unit_seed
from tabaug_ray.pipelines.evaluation import UnitData, evaluate, unit_data

TECHNIQUES = {"vae_bgm": ("pretrain", "avg", "maml", "drs"), "ctgan": ("pretrain",)}
BASE_SCENARIOS = ("low_data", "big_data")


def plan(ctx: RunContext) -> list[Unit]:
    config = ctx.config
    ib = config.inductive_bias
    units: list[Unit] = []
    for entry in config.datasets:
        dataset = ctx.data(entry.name).dataset
        for fold in range(config.experiment.folds):
            for run in range(config.experiment.runs):
                for model in ib.models:
                    units += _units(config, dataset, entry.name, fold, run, model)
    return units


def _units(config: ExperimentConfig, dataset, name: str, fold: int, run: int, model: str) -> list[Unit]:
    ib = config.inductive_bias
    where = dict(dataset=name, fold=fold, run=run)
    sections = ("evaluation", "vae" if model == "vae_bgm" else "ctgan")
    techniques = [s for s in ib.scenarios if s in TECHNIQUES[model]]
    low_needed = "low_data" in ib.scenarios or techniques
    units: list[Unit] = []
    low_key = None
    for scenario in BASE_SCENARIOS:
        if scenario == "low_data" and not low_needed or scenario == "big_data" and scenario not in ib.scenarios:
            continue
        n = ib.n_low if scenario == "low_data" else ib.n_big
        check_sizes(len(dataset.frame), n_folds=config.experiment.folds, n=n, what=f"dataset {name!r} ({scenario})",
                    outside=max((m + 2 * l for _, m, l in config.evaluation.sizes), default=0))
        params = {"scenario": scenario, "model": model, "n": n, "n_synthetic": ib.n_synthetic}
        key = make_key(config, sections, dataset, step="generate", **params, **where)
        units.append(Unit(key=key, kind="generate", params=params, num_cpus=config.execution.cpus_per_unit,
                          keep_value=scenario == "low_data" and bool(techniques),
                          writes_results=scenario in ib.scenarios, **where))
        if scenario == "low_data":
            low_key = key
    for technique in techniques:
        params = {"scenario": technique, "model": model, "n": ib.n_low, "n_synthetic": ib.n_synthetic}
        key = make_key(config, (*sections, "bias"), dataset, step="technique", low=low_key, **params, **where)
        units.append(Unit(key=key, kind="technique", params=params, deps=(low_key,),
                          num_cpus=config.execution.cpus_per_unit, **where))
    return units


def run(unit: Unit, ctx: RunContext, deps: Mapping[str, Any]) -> UnitResult:
    config = ctx.config
    p = unit.params
    data = unit_data(ctx.data(unit.dataset), config, fold=unit.fold, run=unit.run, n=p["n"])
    seed = unit_seed(config, unit, p["model"], p["scenario"])
    threads = max(1, int(unit.num_cpus))
    with Timer() as fit_timer:
        if unit.kind == "generate":
            generator = _fit_generator(p["model"], data, ctx, seed=seed, threads=threads)
            info: dict[str, float] = {}
        elif unit.kind == "technique":
            generator, info = _fit_technique(p["model"], p["scenario"], deps[unit.deps[0]], data, config,
                                             seed=seed, threads=threads)
        else:
            raise ValueError(f"inductive_bias: unknown unit kind {unit.kind!r}")
    synthetic = _sample(p["model"], generator, p["n_synthetic"], data, seed=seed)
    with Timer() as eval_timer:
        rows = evaluate(synthetic, data, config, seed=unit_seed(config, unit, "eval"), n_threads=threads,
                        with_real_reference=unit.kind == "generate")
    extra = {"fit_seconds": fit_timer.seconds, "eval_seconds": eval_timer.seconds, **info}
    if p["model"] == "vae_bgm":
        extra["val_loss"] = float(np.nanmin(generator.val_loss_))
    total = fit_timer.seconds + eval_timer.seconds
    records = [make_record(config, unit, scenario=p["scenario"], model=p["model"], seed=seed, seconds=total,
                           n=p["n"], **row) for row in rows]
    records += [make_record(config, unit, scenario=p["scenario"], model=p["model"], metric=k, value=v, seed=seed,
                            seconds=total, n=p["n"]) for k, v in extra.items()]
    value = None
    if unit.keep_value:
        value = {"generator": generator, "synthetic": synthetic}
    return UnitResult(records=records, value=value)


def _vae(config: ExperimentConfig, data: UnitData, *, seed: int, threads: int):
    from tabaug_ray.generators import VAEBGM

    return VAEBGM(columns=data.schema.columns, seed=seed, n_threads=threads, **config.vae.model_dump())


def _fit_generator(model: str, data: UnitData, ctx: RunContext, *, seed: int, threads: int):
    config = ctx.config
    if model == "vae_bgm":
        return ctx.fit_ensemble(_vae(config, data, seed=seed, threads=threads), data.train)
    if model == "ctgan":
        return _ctgan(config, data, seed=seed, threads=threads).fit(_table(data.train, data), **_ctgan_fit_args(data))
    raise TabaugError(f"unknown generator model {model!r}")


def _fit_technique(model: str, technique: str, low: dict, data: UnitData, config: ExperimentConfig, *, seed: int,
                   threads: int):
    raise TabaugError(f"technique {technique!r} for {model!r} is not available yet")


def _sample(model: str, generator, n: int, data: UnitData, *, seed: int) -> np.ndarray:
    if model == "vae_bgm":
        return generator.sample(n, seed=seed)
    return data.transform.transform(generator.sample(n, seed=seed))


def _table(rows: np.ndarray, data: UnitData):
    """Model-space rows as a table (imputed, original dtypes and labels) for generators that do
    their own transforms (CTGAN)."""
    return data.transform.inverse_transform(rows)


def _ctgan_fit_args(data: UnitData) -> dict:
    return {"discrete_columns": [c.name for c in data.schema.columns if c.kind != "gaussian"]}


def _ctgan(config: ExperimentConfig, data: UnitData, *, seed: int, threads: int):
    from tabaug_ray.generators.ctgan import CTGANGenerator

    return CTGANGenerator(seed=seed, n_threads=threads, **config.ctgan.model_dump())
