"""Judge synthetic rows of one unit: divergences per evaluation preset, marginals, utility and privacy.

Everything happens in the model space of the unit's transform (fitted on the generator's training
rows): the real evaluation rows come from the split's pool, disjoint from those training rows.
Privacy (`[evaluation] privacy`) compares the synthetic rows' closeness to the training rows with
their closeness to as many pool rows (`privacy_records`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tabaug_ray.config import ExperimentConfig
from tabaug_ray.data.schema import TableSchema
from tabaug_ray.data.splits import UnitSplit, make_split
from tabaug_ray.data.transform import TabularTransform
from tabaug_ray.pipelines.base import DataContext


@dataclass(frozen=True, eq=False)
class UnitData:
    """The rows of one dataset x fold x run x N, in model space.

    Args:
        schema: all columns (the generator models the target like any other column).
        transform: fitted on the N training rows.
        train: the N training rows.
        eval_pool: M + 2L real evaluation rows (largest preset), outside the training rows.
        test: the fold's held-out rows (utility test set).
    """

    schema: TableSchema
    transform: TabularTransform
    split: UnitSplit
    train: np.ndarray
    eval_pool: np.ndarray
    test: np.ndarray


def unit_data(data: DataContext, config: ExperimentConfig, *, fold: int, run: int, n: int) -> UnitData:
    frame = data.dataset.frame
    sizes = config.evaluation.sizes
    m = max((s[1] for s in sizes), default=0)
    l = max((s[2] for s in sizes), default=0)
    split = make_split(len(frame), fold=fold, n_folds=config.experiment.folds, run=run,
                       seed=config.experiment.seed, n=n, m=m, l=l, codes=data.category_codes)
    transform = TabularTransform(schema=data.schema).fit(frame.iloc[split.train])
    test = split.test[: config.evaluation.max_test_rows]
    return UnitData(schema=data.schema, transform=transform, split=split,
                    train=transform.transform(frame.iloc[split.train]),
                    eval_pool=transform.transform(frame.iloc[split.eval_pool]),
                    test=transform.transform(frame.iloc[test]))


def evaluate(synthetic: np.ndarray, data: UnitData, config: ExperimentConfig, *, seed: int,
             n_threads: int, with_real_reference: bool) -> list[dict]:
    """Long-format rows (metric, value, m, l, repeat, preset) judging `synthetic` (model space)."""
    from tabaug_ray.evaluate import (DivergenceEstimator, discriminator_inputs, evaluation_records,
                                     marginal_distances_model_space, one_hot_model_space, utility_scores)
    from tabaug_ray.evaluate.judges import estimator_kwargs

    columns = data.schema.columns
    records: list[dict] = []
    evaluation = config.evaluation
    for preset, m, l in evaluation.sizes:
        real = discriminator_inputs(data.eval_pool[: m + 2 * l], columns, categorical=evaluation.discriminator_inputs)
        syn = discriminator_inputs(synthetic[: m + 2 * l], columns, categorical=evaluation.discriminator_inputs)
        estimator = DivergenceEstimator(m=m, l=l, repeats=evaluation.repeats, seed=seed, n_threads=n_threads,
                                        **estimator_kwargs(evaluation.judge.settings(), m=m))
        result = estimator.estimate(real, syn)
        marginals = marginal_distances_model_space(data.eval_pool[: m + 2 * l], synthetic[: m + 2 * l], columns)
        records += [dict(r, preset=preset) for r in evaluation_records(m=m, l=l, divergence=result,
                                                                          marginals=marginals)]
    if evaluation.utility:
        target = data.schema.index(data.schema.target)
        features = [c for i, c in enumerate(columns) if i != target]
        keep = [i for i in range(len(columns)) if i != target]
        task = data.schema.task

        def xy(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            y = rows[:, target]
            return one_hot_model_space(rows[:, keep], features), (np.rint(y).astype(int) if task != "regression" else y)

        test_x, test_y = xy(data.test)
        syn_x, syn_y = xy(synthetic)
        scores = {"synthetic": utility_scores(syn_x, syn_y, test_x, test_y, task=task, seed=seed, n_threads=n_threads)}
        if with_real_reference:
            real_x, real_y = xy(data.train)
            scores["real"] = utility_scores(real_x, real_y, test_x, test_y, task=task, seed=seed, n_threads=n_threads)
        for record in evaluation_records(m=0, l=0, utility=scores["synthetic"], utility_real=scores.get("real")):
            records.append(dict(record, m=None, l=None, repeat=None))
    if evaluation.privacy:
        records += privacy_records(train=data.train, holdout=data.eval_pool, synthetic=synthetic, schema=data.schema,
                                   seed=seed, n_threads=n_threads)
    return records


def privacy_records(*, train: np.ndarray, holdout: np.ndarray, synthetic: np.ndarray, schema: TableSchema,
                    seed: int, n_threads: int) -> list[dict]:
    """Long-format rows (metric, value; m, l, repeat None) of every privacy metric of `synthetic`
    against the generator's training rows and as many never-seen real rows (`holdout`, cut to the
    training rows' size; when it holds fewer, a seeded subsample of the training rows matches it).
    All three matrices are in the model space of `schema`."""
    from tabaug_ray.evaluate.privacy import model_space_kinds, privacy_report

    report = privacy_report(train=train, holdout=holdout[: len(train)], synthetic=synthetic, names=schema.names,
                            kinds=model_space_kinds(schema.columns), secret=schema.target, seed=seed,
                            n_jobs=n_threads)
    return [{"metric": k, "value": float(v), "m": None, "l": None, "repeat": None} for k, v in report.items()]

