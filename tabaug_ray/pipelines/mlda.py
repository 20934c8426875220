"""Experiment kind `mlda`: teacher-labelled augmentation for regression and its baselines.

Units per dataset x fold x run x training size: one `teacher` unit (fits the teacher once, records
its own test metrics, and hands the fitted teacher to the augmentation units), an optional
feature-generator unit per `mlda_<generator>` augmenter (a generator on the training features;
`mlda_vae` is the VAE-BGM's), a `reference` unit (LightGBM with default settings on the real rows:
a reference point, `mlda.references`), and one `student` unit per augmenter x eta x volume x
student. Every student of a group sees the same real training rows, the same held-out real test
rows, the same seed, and the same synthetic rows where augmenters share them (noise and mlda draw
the same x'). The `none` unit (the student on real rows only) is a producer when `mlda_gated` is
asked for: its scores decide the gate and are reused where the gate keeps the real rows.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any, Mapping, NamedTuple

import numpy as np

from tabaug_ray.augment import make_augmenter, resolve_volume
from tabaug_ray.augment.gated import GatedMLDAAugmenter
from tabaug_ray.augment.mlda import GeneratorSampler, MLDAAugmenter
from tabaug_ray.config import ExperimentConfig
from tabaug_ray.data.splits import check_sizes, hash_seed, make_split, rng_for
from tabaug_ray.data.transform import TabularTransform
from tabaug_ray.errors import TabaugError
from tabaug_ray.learners import make_student, make_teacher, regression_metrics, split_real
from tabaug_ray.pipelines.base import RunContext, Timer, Unit, UnitResult, make_key, make_record, unit_seed

USES_ETA = ("noise", "mlda")
USES_VOLUME = ("noise", "mlda", "mlda_vae", "cmixup", "ada", "mlda_gated", "distill_spunge", "distill_munge")
USES_TEACHER = ("mlda", "mlda_vae", "mlda_gated", "distill_spunge", "distill_munge")
NOISE_SAMPLER = ("noise", "mlda", "mlda_gated")  # the Gaussian-noise sampler (binary_features applies)
REFERENCE_MODEL = "reference:lightgbm_default"


def teacher_cpus(config: ExperimentConfig, teacher: str) -> float:
    """CPUs a teacher fit really uses: TPOT's Dask workers, AutoGluon's num_cpus, else n_jobs."""
    params = config.mlda.teacher_params.get(teacher, {})
    return float(params.get("num_cpus" if teacher == "autogluon" else "n_jobs", 1))


def student_cpus(config: ExperimentConfig, student: str) -> float:
    params = config.mlda.student_params.get(student, {})
    return float(params.get("num_cpus", params.get("n_threads", 1)))


def feature_generator(augmenter: str) -> str | None:
    """The generator whose feature rows `mlda_<generator>` labels with the teacher (`mlda_vae`: the
    VAE-BGM's), or None for other augmenters."""
    from tabaug_ray.generators.base import builtin_generators
    from tabaug_ray.plugins import is_plugin

    name = "vae_bgm" if augmenter == "mlda_vae" else augmenter[5:] if augmenter.startswith("mlda_") else ""
    return name if name and (name in builtin_generators() or is_plugin("generator", name)) else None


def settings(config: ExperimentConfig, augmenter: str) -> list[tuple[float | None, Any]]:
    """(eta, volume) pairs an augmenter is run with."""
    etas = config.mlda.etas if augmenter in USES_ETA else (None,)
    volumes = config.mlda.volumes if augmenter in USES_VOLUME or feature_generator(augmenter) else (None,)
    return [(eta, volume) for eta in etas for volume in volumes]


def plan(ctx: RunContext) -> list[Unit]:
    config = ctx.config
    mlda = config.mlda
    gate = mlda.augmenter_params.get("mlda_gated", {}).get("gate", "early_stopping")
    if gate not in ("early_stopping", "split"):
        raise TabaugError(f"mlda.augmenter_params.mlda_gated.gate must be 'early_stopping' or 'split', got {gate!r}")
    units: list[Unit] = []
    for entry in config.datasets:
        data = ctx.data(entry.name)
        if data.dataset.task != "regression":
            raise TabaugError(f"dataset {entry.name!r}: mlda needs a regression task, got {data.dataset.task!r}")
        for fold in range(config.experiment.folds):
            for run in range(config.experiment.runs):
                for size in mlda.train_sizes:
                    try:
                        check_sizes(len(data.dataset.frame), n_folds=config.experiment.folds, n=size,
                                    what=f"dataset {entry.name!r}")
                    except TabaugError as exc:
                        if not mlda.skip_too_small:
                            raise
                        if fold == run == 0:
                            warnings.warn(f"{exc}: skipped (mlda.skip_too_small)", stacklevel=2)
                        continue
                    units += _group(ctx, data.dataset, entry.name, fold, run, size)
    return units


def _group(ctx: RunContext, dataset, name: str, fold: int, run: int, size: int) -> list[Unit]:
    config, mlda = ctx.config, ctx.config.mlda
    where = dict(dataset=name, fold=fold, run=run)
    common = dict(test_rows=mlda.max_test_rows, val_fraction=mlda.val_fraction, size=size, **where)
    units: list[Unit] = []
    teachers: dict[str, Unit] = {}
    binary = bool(_kind_indices(_features(ctx.data(name).schema), "bernoulli"))
    for teacher in mlda.teachers:
        teachers[teacher] = Unit(
            key=make_key(config, (), dataset, step="teacher", teacher=teacher,
                         params=mlda.teacher_params.get(teacher, {}), **common),
            kind="teacher", params={"train_size": size, "teacher": teacher}, num_cpus=teacher_cpus(config, teacher),
            keep_value=any(a in USES_TEACHER or feature_generator(a) for a in mlda.augmenters), **where)
        units.append(teachers[teacher])
    samplers = {a: _feature_unit(config, dataset, a, common, where) for a in mlda.augmenters if feature_generator(a)}
    units += list(samplers.values())
    if mlda.references:
        units.append(Unit(key=make_key(config, (), dataset, step="reference", model=REFERENCE_MODEL, **common),
                          kind="reference", params={"train_size": size, "teacher": None}, **where))
    gated = "mlda_gated" in mlda.augmenters
    real_only: dict[str, str] = {}  # student -> key of its `none` unit
    # `none` first: mlda_gated consumes it (producers precede their consumers in the plan)
    for augmenter in ("none", *(a for a in mlda.augmenters if a != "none")) if gated else mlda.augmenters:
        # a later option: in the key only when it changes what the unit computes
        later = ({"binary_features": mlda.binary_features}
                 if binary and _binary_as_categorical(mlda.binary_features, augmenter) else {})
        if augmenter == "mlda_gated":
            later["etas"] = list(mlda.etas)  # it picks among them
        for teacher in mlda.teachers if augmenter in USES_TEACHER or augmenter in samplers else (None,):
            deps = (teachers[teacher].key,) if teacher else ()
            deps += (samplers[augmenter].key,) if augmenter in samplers else ()
            for eta, volume in settings(config, augmenter):
                for student in mlda.students:
                    params = {"train_size": size, "augmenter": augmenter, "teacher": teacher, "eta": eta,
                              "volume": volume, "student": student}
                    unit_deps = deps + ((real_only[student],) if augmenter == "mlda_gated" else ())
                    key = make_key(config, (), dataset, step="student", deps=unit_deps, **params, **common, **later,
                                   categorical_mode=mlda.categorical_mode,
                                   student_params=mlda.student_params.get(student, {}),
                                   augmenter_params=mlda.augmenter_params.get(augmenter, {}))
                    if augmenter == "none":
                        real_only[student] = key
                    units.append(Unit(key=key, kind="student", params=params, deps=unit_deps,
                                      num_cpus=student_cpus(config, student),
                                      keep_value=gated and augmenter == "none", **where))
    return units


def _feature_unit(config: ExperimentConfig, dataset, augmenter: str, common: dict, where: dict) -> Unit:
    """The producer fitting `mlda_<generator>`'s generator on the fit rows' features (`mlda_vae`'s
    key as before the generator contract)."""
    from tabaug_ray.pipelines.inductive_bias import model_spec

    name, size = feature_generator(augmenter), common["size"]
    if augmenter == "mlda_vae":
        key = make_key(config, ("vae",), dataset, step="feature_vae", **common)
    else:
        spec = model_spec(config, name)
        key = make_key(config, spec.sections, dataset, step="feature_generator", generator=name, **spec.key_params,
                       **common)
    return Unit(key=key, kind="feature_vae" if augmenter == "mlda_vae" else "feature_generator",
                params={"train_size": size, "generator": name}, writes_results=False, keep_value=True,
                num_cpus=config.execution.cpus_per_unit, **where)


class Group(NamedTuple):
    """The arrays of one dataset x fold x run x training size.

    The N training rows are split once into `fit` rows (teacher, augmenters and student learn from
    them) and real `val` rows (the student's early stopping and `val_rmse`, which sweeps optimise).
    # NOTE[DIFF]: holding the validation rows out *before* augmenting keeps noisy copies of them
    # (and a teacher that saw them) out of training; otherwise val_rmse is badly optimistic.
    """

    x_fit: np.ndarray
    y_fit: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    categorical: tuple[int, ...]
    feature_schema: Any
    binary: tuple[int, ...]
    transform: Any = None  # the features' model-space transform (a generator's `schema`)


def _prepare(ctx: RunContext, name: str, fold: int, run: int, size: int) -> Group:
    """The group's arrays, cached per process (every unit of a group needs the same ones)."""
    return _prepare_cached(ctx, name, fold, run, size)


@lru_cache(maxsize=4)
def _prepare_cached(ctx: RunContext, name: str, fold: int, run: int, size: int):
    data = ctx.data(name)
    config = ctx.config
    frame, schema = data.dataset.frame, data.schema
    features = _features(schema)
    split = make_split(len(frame), fold=fold, n_folds=config.experiment.folds, run=run,
                       seed=config.experiment.seed, n=size, codes=data.category_codes)
    test = split.test
    cap = config.mlda.max_test_rows
    if cap is not None and len(test) > cap:
        test = np.sort(rng_for(config.experiment.seed, name, fold, "test-cap").choice(test, cap, replace=False))
    feature_schema = type(schema)(columns=tuple(features), target=schema.target, task=schema.task)
    transform = TabularTransform(schema=feature_schema).fit(frame.iloc[split.train])
    x = transform.transform(frame.iloc[split.train]).astype(np.float64)
    y = frame[schema.target].to_numpy(dtype=np.float64)[split.train]
    fit, val = split_real(len(x), val_fraction=config.mlda.val_fraction, seed=hash_seed(config.experiment.seed,
                                                                                       name, fold, run, "val"))
    x_test = transform.transform(frame.iloc[test]).astype(np.float64)
    y_test = frame[schema.target].to_numpy(dtype=np.float64)[test]
    return Group(x[fit], y[fit], x[val], y[val], x_test, y_test, _kind_indices(features, "categorical"),
                 feature_schema, _kind_indices(features, "bernoulli"), transform)


def _features(schema) -> list:
    """The schema's feature columns (all but the target), in order."""
    return [c for c in schema.columns if c.name != schema.target]


def _kind_indices(features: list, kind: str) -> tuple[int, ...]:
    return tuple(i for i, c in enumerate(features) if c.kind == kind)


def _binary_as_categorical(binary_features: str, augmenter: str) -> bool:
    """Whether `augmenter`'s sampler treats binary features like categoricals (`binary_features`)."""
    return binary_features == "discrete" and augmenter in NOISE_SAMPLER


def sampler_categorical(g: Group, augmenter: str, binary_features: str) -> tuple[int, ...]:
    """The columns the augmenter treats as categorical: the group's categoricals, plus its binary
    features for the Gaussian-noise samplers (noise, mlda) when `binary_features = "discrete"`."""
    if _binary_as_categorical(binary_features, augmenter):
        return tuple(sorted((*g.categorical, *g.binary)))
    return g.categorical


def run(unit: Unit, ctx: RunContext, deps: Mapping[str, Any]) -> UnitResult:
    if unit.kind == "teacher":
        return _run_teacher(unit, ctx)
    if unit.kind in ("feature_vae", "feature_generator"):
        return _run_feature_generator(unit, ctx)
    if unit.kind == "reference":
        return _run_reference(unit, ctx)
    if unit.kind == "student":
        return _run_student(unit, ctx, deps)
    raise ValueError(f"mlda: unknown unit kind {unit.kind!r}")


def _common(unit: Unit) -> dict:
    return {"n": unit.params["train_size"], "train_size": unit.params["train_size"], "teacher": unit.params["teacher"]}


def _run_teacher(unit: Unit, ctx: RunContext) -> UnitResult:
    config = ctx.config
    size = unit.params["train_size"]
    g = _prepare(ctx, unit.dataset, unit.fold, unit.run, size)
    name = unit.params["teacher"]
    seed = unit_seed(config, unit, size, "teacher", name)
    teacher = make_teacher(name, seed=seed, **config.mlda.teacher_params.get(name, {}))
    with Timer() as timer:
        teacher.fit(g.x_fit, g.y_fit, categorical=g.categorical)
    scores = regression_metrics(g.y_test, teacher.predict(g.x_test))
    scores["val_rmse"] = regression_metrics(g.y_val, teacher.predict(g.x_val))["rmse"]
    scores["fit_seconds"] = timer.seconds
    records = [make_record(config, unit, scenario="teacher", model=f"teacher:{name}", metric=metric, value=value,
                           seed=seed, seconds=timer.seconds, **_common(unit)) for metric, value in scores.items()]
    return UnitResult(records=records, value=teacher)


def _run_reference(unit: Unit, ctx: RunContext) -> UnitResult:
    """LightGBM with its default settings on the fit rows: does a plain gradient-boosted model on the
    real rows already beat what augmentation gives the student?"""
    config = ctx.config
    size = unit.params["train_size"]
    g = _prepare(ctx, unit.dataset, unit.fold, unit.run, size)
    seed = unit_seed(config, unit, size, "reference")
    with Timer() as timer:
        model = make_teacher("lightgbm_default", seed=seed).fit(g.x_fit, g.y_fit, categorical=g.categorical)
    scores = regression_metrics(g.y_test, model.predict(g.x_test))
    scores["val_rmse"] = regression_metrics(g.y_val, model.predict(g.x_val))["rmse"]
    scores["fit_seconds"] = timer.seconds
    records = [make_record(config, unit, scenario="reference", model=REFERENCE_MODEL, metric=metric, value=value,
                           seed=seed, seconds=timer.seconds, **_common(unit)) for metric, value in scores.items()]
    return UnitResult(records=records)


def _run_feature_generator(unit: Unit, ctx: RunContext) -> UnitResult:
    from tabaug_ray.pipelines.inductive_bias import model_spec

    config = ctx.config
    size = unit.params["train_size"]
    g = _prepare(ctx, unit.dataset, unit.fold, unit.run, size)
    name = unit.params.get("generator", "vae_bgm")
    seed = unit_seed(config, unit, size, "vae") if unit.kind == "feature_vae" else unit_seed(config, unit, size, name)
    generator = model_spec(config, name).build(threads=max(1, int(unit.num_cpus)), latent_dim=None, ctx=ctx)
    generator.fit(g.x_fit.astype(np.float32), schema=g.transform, seed=seed)
    return UnitResult(value=GeneratorSampler(generator=generator))


class VAEFeatureSampler:
    """Feature rows sampled from a fitted VAE-BGM (its best seed), for `mlda_vae`: kept so that
    artifacts stored before `GeneratorSampler` still load.

    Args:
        generator: a fitted VAEBGM over the feature columns (model space, as the learners see it).
    """

    def __init__(self, *, generator: Any) -> None:
        self.generator = generator

    def fit(self, X: np.ndarray, y: np.ndarray | None = None, *, categorical=()) -> "VAEFeatureSampler":
        return self

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        return np.asarray(self.generator.sample(n, seed=seed), dtype=np.float64)


def _run_student(unit: Unit, ctx: RunContext, deps: Mapping[str, Any]) -> UnitResult:
    config = ctx.config
    p = unit.params
    size, name = p["train_size"], p["augmenter"]
    g = _prepare(ctx, unit.dataset, unit.fold, unit.run, size)
    seed = unit_seed(config, unit, size, "student")  # shared by every augmenter of the group: paired runs
    n_new = resolve_volume(p["volume"], len(g.y_fit)) if p["volume"] is not None else 0

    def fit_student(x_new: np.ndarray, y_new: np.ndarray, stop: tuple = (g.x_val, g.y_val),
                    judge: tuple = (g.x_val, g.y_val)):
        """A student on fit + synthetic rows, early-stopped on `stop`; its RMSE on `judge`."""
        student = make_student(p["student"], seed=seed, **config.mlda.student_params.get(p["student"], {}))
        student.fit(g.x_fit, g.y_fit, synthetic=(x_new, y_new) if len(y_new) else None,
                    categorical=g.categorical, validation=stop)
        return student, regression_metrics(judge[1], student.predict(judge[0]))["rmse"]

    extra_scores: dict[str, float] = {}
    real = None
    with Timer() as timer:
        if name == "mlda_gated":
            student, real, extra_scores = _gate(config, unit, deps, g, fit_student, n_new=n_new, seed=seed)
            n_rows = n_new if extra_scores["teacher_used"] else 0
        else:
            augmenter = _augmenter(config, unit, deps)
            augmenter.fit(g.x_fit, g.y_fit, categorical=sampler_categorical(g, name, config.mlda.binary_features))
            x_new, y_new = augmenter.augment(n_new, seed=seed)
            student, _ = fit_student(x_new, y_new)
            n_rows = len(y_new)
        if student is not None:
            scores = regression_metrics(g.y_test, student.predict(g.x_test))
            scores["val_rmse"] = regression_metrics(g.y_val, student.predict(g.x_val))["rmse"]
        else:  # the gate kept the real rows: the `none` unit's student, same seed, same numbers
            scores = {k: real[k] for k in ("rmse", "mae", "r2", "val_rmse")}
    scores["val_nrmse"] = scores["val_rmse"] / (float(np.std(g.y_fit)) or 1.0)  # comparable across datasets
    scores["n_synthetic"] = float(n_rows)
    scores.update(extra_scores)
    # gated: the configured volume whatever the gate chose (the method's identity in reports)
    volume = (n_new if name == "mlda_gated" else n_rows) if p["volume"] is not None else None
    extra = dict(_common(unit), eta=p["eta"], volume=volume,
                 student=p["student"])
    records = [make_record(config, unit, scenario=name, model=p["student"], metric=metric, value=value, seed=seed,
                           seconds=timer.seconds, **extra) for metric, value in scores.items()]
    return UnitResult(records=records, value={"scores": dict(scores)} if name == "none" else None)


def _gate(config: ExperimentConfig, unit: Unit, deps: Mapping[str, Any], g: Group, fit_student, *, n_new: int,
          seed: int):
    """mlda_gated: (the student to score or None for the `none` unit's scores, those scores, gate metrics).

    `augmenter_params.mlda_gated.gate`: "early_stopping" (default) compares the teacher with the
    `none` unit's student on the validation rows it early-stopped on (optimistic for the student);
    "split" halves the validation rows (seeded): every student early-stops on one half, the gate and
    eta are decided on the other, which no student saw (the real-rows student is then refitted).
    """
    gate = config.mlda.augmenter_params.get("mlda_gated", {}).get("gate", "early_stopping")  # checked in plan
    real = deps[unit.deps[1]]["scores"]  # the `none` unit of this student: trained on real rows only
    judge, stop, real_student = (g.x_val, g.y_val), (g.x_val, g.y_val), None
    if gate == "split":
        a, b = split_real(len(g.y_val), val_fraction=0.5, seed=hash_seed(seed, "gate"))
        stop, judge = (g.x_val[a], g.y_val[a]), (g.x_val[b], g.y_val[b])
        empty = (np.zeros((0, g.x_fit.shape[1])), np.zeros(0))
        real_student, real_rmse = fit_student(*empty, stop=stop, judge=judge)
    else:
        real_rmse = real["val_rmse"]
    augmenter = GatedMLDAAugmenter(
        teacher=deps[unit.deps[0]], etas=config.mlda.etas, validation=judge, student_val_rmse=real_rmse,
        fit_student=lambda x, y: fit_student(x, y, stop=stop, judge=judge), n_synthetic=n_new, seed=seed,
        categorical_mode=config.mlda.categorical_mode)
    augmenter.fit(g.x_fit, g.y_fit, categorical=sampler_categorical(g, "mlda_gated", config.mlda.binary_features))
    extra = {"teacher_used": float(augmenter.use_teacher_)}
    if augmenter.use_teacher_:
        extra["chosen_eta"] = float(augmenter.eta_)
        return augmenter.student_, real, extra
    return real_student, real, extra


def _augmenter(config: ExperimentConfig, unit: Unit, deps: Mapping[str, Any]):
    p = unit.params
    name = p["augmenter"]
    if name == "mlda":
        return MLDAAugmenter(teacher=deps[unit.deps[0]], eta=p["eta"], categorical_mode=config.mlda.categorical_mode)
    if feature_generator(name):
        return MLDAAugmenter(teacher=deps[unit.deps[0]], sampler=deps[unit.deps[1]], refit_sampler=False)
    params = dict(config.mlda.augmenter_params.get(name, {}))
    if name.startswith("distill_"):
        return make_augmenter(name, teacher=deps[unit.deps[0]], **params)
    if name == "noise":
        params.update(eta=p["eta"], categorical_mode=config.mlda.categorical_mode)
    return make_augmenter(name, **params)
