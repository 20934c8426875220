"""Experiment kind `inductive_bias`: generators in data-scarce settings, with the four
artificial-inductive-bias techniques.

Units per dataset x fold x run x model: `big_data` and `low_data` train a generator on N rows and
evaluate its synthetic rows; `low_data` also hands its fitted generator (with its synthetic rows)
to the technique units a generator's capabilities allow (`generators.base.techniques`: `pretrain`,
`avg`, `maml`, `drs` for a weight ensemble such as vae_bgm; `pretrain` for a warm-startable one
such as ctgan and tvae), which build an initialisation from it, fine-tune on the same N real rows
and evaluate. The pipeline knows generators only through the contract (`generators.base`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from tabaug_ray.config import ExperimentConfig
from tabaug_ray.data.splits import check_sizes
from tabaug_ray.pipelines.base import RunContext, Timer, Unit, UnitResult, make_key, make_record, unit_seed
from tabaug_ray.pipelines.evaluation import UnitData, evaluate, unit_data

BASE_SCENARIOS = ("low_data", "big_data")


@dataclass(frozen=True)
class ModelSpec:
    """A generator of the config: its class, constructor arguments and what its unit keys read.

    Args:
        sections: config sections its arguments come from (the VAE's [vae], CTGAN's [ctgan]).
        key_params: arguments hashed directly when they do not come from a section.
    """

    name: str
    cls: type
    params: Mapping[str, Any]
    sections: tuple[str, ...]
    key_params: Mapping[str, Any]

    @property
    def techniques(self) -> tuple[str, ...]:
        from tabaug_ray.generators.base import techniques

        return techniques(self.cls)

    def latent_dim(self, config: ExperimentConfig, dataset: str) -> int | None:
        if "latent_dim" not in getattr(self.cls, "dataset_params", ()):
            return None
        entry = next(d for d in config.datasets if d.name == dataset)
        return entry.latent_dim or self.params["latent_dim"]

    def build(self, *, threads: int, latent_dim: int | None, ctx: RunContext | None = None) -> Any:
        """An unfitted generator with this unit's arguments and runtime settings (threads, seed tasks)."""
        from tabaug_ray.generators.base import accepted

        params = dict(self.params)
        if latent_dim is not None:
            params["latent_dim"] = latent_dim
        runtime = {"n_threads": threads}
        if getattr(self.cls, "seed_tasks", False) and ctx is not None and ctx.seed_runner is not None:
            runtime["fit_runner"] = ctx.fit_ensemble
        return self.cls(**params, **accepted(self.cls, runtime))


def model_spec(config: ExperimentConfig, name: str) -> ModelSpec:
    """The generator `name` (a built-in of `tabaug_ray.generators` or a plugin) with its arguments."""
    from tabaug_ray.generators.base import builtin_generators
    from tabaug_ray.plugins import load

    cls = builtin_generators().get(name) or load("generator", name)
    section = getattr(cls, "config_section", None) if name in builtin_generators() else None
    if section:
        return ModelSpec(name, cls, getattr(config, section).model_dump(), (section,), {})
    params = config.inductive_bias.model_params.get(name, {})
    return ModelSpec(name, cls, params, (), {"model_params": params})


def plan(ctx: RunContext) -> list[Unit]:
    config = ctx.config
    ib = config.inductive_bias
    units: list[Unit] = []
    for entry in config.datasets:
        dataset = ctx.data(entry.name).dataset
        for fold in range(config.experiment.folds):
            for run in range(config.experiment.runs):
                for model in ib.models:
                    units += _units(config, dataset, entry.name, fold, run, model_spec(config, model))
    return units


def _units(config: ExperimentConfig, dataset, name: str, fold: int, run: int, spec: ModelSpec) -> list[Unit]:
    ib = config.inductive_bias
    where = dict(dataset=name, fold=fold, run=run)
    sections = ("evaluation", *spec.sections)
    techniques = [s for s in ib.scenarios if s in spec.techniques]
    low_needed = "low_data" in ib.scenarios or techniques
    latent = spec.latent_dim(config, name)
    units: list[Unit] = []
    low_key = None
    for scenario in BASE_SCENARIOS:
        if scenario == "low_data" and not low_needed or scenario == "big_data" and scenario not in ib.scenarios:
            continue
        n = ib.n_low if scenario == "low_data" else ib.n_big
        check_sizes(len(dataset.frame), n_folds=config.experiment.folds, n=n, what=f"dataset {name!r} ({scenario})",
                    outside=max((m + 2 * l for _, m, l in config.evaluation.sizes), default=0))
        params = {"scenario": scenario, "model": spec.name, "n": n, "n_synthetic": ib.n_synthetic,
                  "latent_dim": latent}
        key = make_key(config, sections, dataset, step="generate", **params, **spec.key_params, **where)
        units.append(Unit(key=key, kind="generate", params=params, num_cpus=config.execution.cpus_per_unit,
                          keep_value=scenario == "low_data" and bool(techniques),
                          writes_results=scenario in ib.scenarios, **where))
        if scenario == "low_data":
            low_key = key
    for technique in techniques:
        params = {"scenario": technique, "model": spec.name, "n": ib.n_low, "n_synthetic": ib.n_synthetic,
                  "latent_dim": latent}
        key = make_key(config, (*sections, "bias"), dataset, step="technique", low=low_key, **params,
                       **spec.key_params, **where)
        units.append(Unit(key=key, kind="technique", params=params, deps=(low_key,),
                          num_cpus=config.execution.cpus_per_unit, **where))
    return units


def run(unit: Unit, ctx: RunContext, deps: Mapping[str, Any]) -> UnitResult:
    config = ctx.config
    p = unit.params
    spec = model_spec(config, p["model"])
    data = unit_data(ctx.data(unit.dataset), config, fold=unit.fold, run=unit.run, n=p["n"])
    seed = unit_seed(config, unit, p["model"], p["scenario"])
    threads = max(1, int(unit.num_cpus))
    with Timer() as fit_timer:
        if unit.kind == "generate":
            generator = spec.build(threads=threads, latent_dim=p["latent_dim"], ctx=ctx)
            generator.fit(data.train, schema=data.transform, seed=seed)
            info: dict[str, float] = {}
        elif unit.kind == "technique":
            generator, info = _fit_technique(spec, p, deps[unit.deps[0]], data, ctx, seed=seed, threads=threads)
        else:
            raise ValueError(f"inductive_bias: unknown unit kind {unit.kind!r}")
    from tabaug_ray.generators.base import check_rows

    synthetic = check_rows(generator.sample(p["n_synthetic"], seed=seed), data.schema.columns, who=spec.name)
    with Timer() as eval_timer:
        # what the judges read: the synthetic rows, the unit's data (data.train: the generator's
        # training rows; data.eval_pool / data.test: real rows it never saw)
        rows = evaluate(synthetic, data, config, seed=unit_seed(config, unit, "eval"), n_threads=threads,
                        with_real_reference=unit.kind == "generate")
    extra = {"fit_seconds": fit_timer.seconds, "eval_seconds": eval_timer.seconds, **info,
             **getattr(generator, "fit_metrics_", {})}
    total = fit_timer.seconds + eval_timer.seconds
    records = [make_record(config, unit, scenario=p["scenario"], model=p["model"], seed=seed, seconds=total,
                           n=p["n"], **row) for row in rows]
    records += [make_record(config, unit, scenario=p["scenario"], model=p["model"], metric=k, value=v, seed=seed,
                            seconds=total, n=p["n"]) for k, v in extra.items()]
    return UnitResult(records=records, value=_low_value(spec, generator, synthetic, config, seed=seed)
                      if unit.keep_value else None)


def _low_value(spec: ModelSpec, generator, synthetic: np.ndarray, config: ExperimentConfig, *, seed: int) -> dict:
    """What the technique units start from. A weight ensemble: the fitted ensemble and each seed's
    synthetic set (sampled once, shared by Pre-train, MAML and DRS); a warm-startable generator: its
    seed and synthetic rows (Pre-train's training rows)."""
    if getattr(spec.cls, "weights", False):
        from tabaug_ray.bias import synthetic_sets

        return {"generator": generator.ensemble_,
                "sets": synthetic_sets(generator.ensemble_, config.inductive_bias.n_synthetic, seed=seed)}
    return {"seed": seed, "synthetic": synthetic}


def _fit_technique(spec: ModelSpec, p: Mapping[str, Any], low: dict, data: UnitData, ctx: RunContext, *, seed: int,
                   threads: int) -> tuple[Any, dict[str, float]]:
    """theta_0 from the Low-data generator, then fine-tuning on the same N real rows with the Low-data
    generator's arguments and seed (same split, data order and noise): the initial weights are the
    only difference from Low data, as in the paper."""
    if not getattr(spec.cls, "weights", False):  # Pre-train by warm start: fit on the Low-data rows, continue on the real ones
        synthetic = low.get("synthetic")
        if synthetic is None:  # artifacts stored before the generator contract kept a table
            synthetic = data.transform.transform(low["synthetic_table"])
        with Timer() as timer:
            pretrained = spec.build(threads=threads, latent_dim=p["latent_dim"]).fit(
                synthetic, schema=data.transform, seed=seed)
        generator = spec.build(threads=threads, latent_dim=p["latent_dim"], ctx=ctx).fit(
            data.train, schema=data.transform, seed=low["seed"], init=pretrained)
        return generator, {"init_seconds": float(getattr(pretrained, "fit_seconds_", timer.seconds))}
    from tabaug_ray.bias import TECHNIQUES, finetune

    technique, base = p["scenario"], low["generator"]
    options = ctx.config.bias.maml.model_dump() if technique == "maml" else {}
    state, info = TECHNIQUES[technique](base, synthetic=low["sets"], seed=seed, n_threads=threads,
                                        vae_params=ctx.config.bias.synthetic_fit, **options)
    tuned = finetune(state, data.train, vae_params={**base.get_params(), "n_threads": threads}, seed=base.seed,
                     fit=ctx.fit_ensemble)
    record = {"init_seconds": float(info["seconds"])}
    record.update({k: float(v) for k, v in info.items() if k in ("meta_iters", "best_query_loss", "val_loss")
                   and isinstance(v, (int, float))})
    return spec.cls.from_ensemble(tuned), {k if k != "val_loss" else "init_val_loss": v for k, v in record.items()}
