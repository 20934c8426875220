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
    entry = next(d for d in config.datasets if d.name == name)
    latent = (entry.latent_dim or config.vae.latent_dim) if model == "vae_bgm" else None
    units: list[Unit] = []
    low_key = None
    for scenario in BASE_SCENARIOS:
        if scenario == "low_data" and not low_needed or scenario == "big_data" and scenario not in ib.scenarios:
            continue
        n = ib.n_low if scenario == "low_data" else ib.n_big
        check_sizes(len(dataset.frame), n_folds=config.experiment.folds, n=n, what=f"dataset {name!r} ({scenario})",
                    outside=max((m + 2 * l for _, m, l in config.evaluation.sizes), default=0))
        params = {"scenario": scenario, "model": model, "n": n, "n_synthetic": ib.n_synthetic, "latent_dim": latent}
        key = make_key(config, sections, dataset, step="generate", **params, **where)
        units.append(Unit(key=key, kind="generate", params=params, num_cpus=config.execution.cpus_per_unit,
                          keep_value=scenario == "low_data" and bool(techniques),
                          writes_results=scenario in ib.scenarios, **where))
        if scenario == "low_data":
            low_key = key
    for technique in techniques:
        params = {"scenario": technique, "model": model, "n": ib.n_low, "n_synthetic": ib.n_synthetic,
                  "latent_dim": latent}
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
            generator = _fit_generator(p["model"], data, ctx, seed=seed, threads=threads, latent_dim=p["latent_dim"])
            info: dict[str, float] = {}
        elif unit.kind == "technique":
            generator, info = _fit_technique(p["model"], p["scenario"], deps[unit.deps[0]], data, ctx,
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
    return UnitResult(records=records, value=_low_value(p["model"], generator, synthetic, data, config, seed=seed)
                      if unit.keep_value else None)


def _low_value(model: str, generator, synthetic: np.ndarray, data: UnitData, config: ExperimentConfig, *,
               seed: int) -> dict:
    """What the technique units start from: the fitted Low-data generator and its synthetic rows
    (each seed's set for the VAE, sampled once and shared by Pre-train, MAML and DRS)."""
    if model == "ctgan":
        return {"seed": seed, "synthetic_table": _table(synthetic, data)}
    from tabaug_ray.bias import synthetic_sets

    return {"generator": generator, "sets": synthetic_sets(generator, config.inductive_bias.n_synthetic, seed=seed)}


def _vae(config: ExperimentConfig, data: UnitData, *, seed: int, threads: int, latent_dim: int):
    from tabaug_ray.generators import VAEBGM

    params = {**config.vae.model_dump(), "latent_dim": latent_dim}
    return VAEBGM(columns=data.schema.columns, seed=seed, n_threads=threads, **params)


def _fit_generator(model: str, data: UnitData, ctx: RunContext, *, seed: int, threads: int, latent_dim: int | None):
    config = ctx.config
    if model == "vae_bgm":
        return ctx.fit_ensemble(_vae(config, data, seed=seed, threads=threads, latent_dim=latent_dim), data.train)
    if model == "ctgan":
        return _ctgan(config, data, seed=seed, threads=threads).fit(_table(data.train, data), **_ctgan_fit_args(data))
    raise TabaugError(f"unknown generator model {model!r}")


def _fit_technique(model: str, technique: str, low: dict, data: UnitData, ctx: RunContext, *, seed: int,
                   threads: int) -> tuple[Any, dict[str, float]]:
    """theta_0 from the Low-data generator, then fine-tuning on the same N real rows."""
    config = ctx.config
    if model == "ctgan":
        pretrained = _ctgan(config, data, seed=seed, threads=threads).fit(low["synthetic_table"],
                                                                          **_ctgan_fit_args(data))
        generator = _ctgan(config, data, seed=low["seed"], threads=threads).fit(
            _table(data.train, data), init=pretrained, **_ctgan_fit_args(data))
        return generator, {"init_seconds": pretrained.fit_seconds_}
    from tabaug_ray.bias import TECHNIQUES

    options = config.bias.maml.model_dump() if technique == "maml" else {}
    state, info = TECHNIQUES[technique](low["generator"], synthetic=low["sets"], seed=seed, n_threads=threads,
                                        vae_params=config.bias.synthetic_fit, **options)
    # NOTE: the fine-tuning ensemble has the Low-data ensemble's arguments and seed (same split, data
    # order and noise), so the initial weights are the only difference from Low data, as in the paper.
    base = low["generator"]
    finetuning = type(base)(**{**base.get_params(), "n_threads": threads})
    generator = ctx.fit_ensemble(finetuning, data.train, init=state)
    record = {"init_seconds": float(info["seconds"])}
    record.update({k: float(v) for k, v in info.items() if k in ("meta_iters", "best_query_loss", "val_loss")
                   and isinstance(v, (int, float))})
    return generator, {k if k != "val_loss" else "init_val_loss": v for k, v in record.items()}


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
