"""The generator contract on real Adult rows: every built-in generator fits model-space rows and
returns valid model-space rows, the same seed gives the same rows, capabilities give the techniques,
and the warm start of TVAE really starts from the pre-trained networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tabaug_ray.config import parse_config
from tabaug_ray.generators.base import builtin_generators, check_rows, techniques
from tabaug_ray.pipelines.base import RunContext
from tabaug_ray.pipelines.evaluation import unit_data

from conftest import mlda_toml

SMALL = {"vae_bgm": dict(n_seeds=2, max_epochs=10), "ctgan": dict(epochs=1, batch_size=100),
         "tvae": dict(epochs=2, batch_size=100, compress_dims=(32,), decompress_dims=(32,), embedding_dim=16),
         "arf": dict(num_trees=5, max_iters=2)}


@pytest.fixture(scope="module")
def data(data_dir):
    config = parse_config({"experiment": {"name": "g", "folds": 2}, "datasets": [{"name": "adult"}]})
    ctx = RunContext(config=config, data_dir=str(data_dir))
    return unit_data(ctx.data("adult"), config, fold=0, run=0, n=150)


def test_registry_finds_every_builtin_generator_with_its_capabilities():
    found = builtin_generators()
    assert set(found) == {"vae_bgm", "ctgan", "tvae", "gaussian_copula", "arf", "independent", "bootstrap"}
    assert techniques(found["vae_bgm"]) == ("pretrain", "avg", "maml", "drs")
    assert techniques(found["ctgan"]) == techniques(found["tvae"]) == ("pretrain",)
    assert all(techniques(found[n]) == () for n in ("gaussian_copula", "arf", "independent", "bootstrap"))


@pytest.mark.parametrize("name", ["vae_bgm", "ctgan", "tvae", "gaussian_copula", "arf", "independent", "bootstrap"])
def test_generator_is_seeded_and_samples_valid_model_space(name, data):
    cls = builtin_generators()[name]
    first = cls(**SMALL.get(name, {})).fit(data.train, schema=data.transform, seed=3)
    a = check_rows(first.sample(400, seed=1), data.schema.columns, who=name)
    assert a.shape == (400, len(data.schema.columns))
    assert np.array_equal(a, first.sample(400, seed=1))  # same seed, same rows
    assert not np.array_equal(a, first.sample(400, seed=2))
    if name != "ctgan":  # CTGAN's refit determinism: tests/test_ctgan.py (its fits are the slowest)
        again = cls(**SMALL.get(name, {})).fit(data.train, schema=data.transform, seed=3)
        assert np.array_equal(a, again.sample(400, seed=1))  # same config, same numbers
    for j, col in enumerate(data.schema.columns):  # sampled codes come from the training codes
        if col.kind != "gaussian" and name in ("independent", "bootstrap"):
            assert set(np.unique(a[:, j])) <= set(np.unique(data.train[:, j]))


def test_gaussian_copula_refits_a_degenerate_beta_marginal():
    """copulas' beta MLE collapses breast_cancer's 'mean symmetry' (demo fold 1, run 1, N = 150) to
    a point mass at the column's maximum; the adapter must refit that marginal, so no sampled
    column is constant and every column's spread stays near its training spread."""
    from tabaug_ray.config import ExperimentConfig
    from tabaug_ray.pipelines.base import RunContext
    from tabaug_ray.pipelines.evaluation import unit_data

    config = ExperimentConfig.model_validate({
        "experiment": {"name": "t", "kind": "inductive_bias", "seed": 0, "folds": 4, "runs": 2},
        "datasets": [{"name": "breast_cancer"}],
        "inductive_bias": {"n_low": 150, "n_synthetic": 1000}, "evaluation": {"presets": ["realistic"]}})
    unit = unit_data(RunContext(config=config).data("breast_cancer"), config, fold=1, run=1, n=150)
    gen = builtin_generators()["gaussian_copula"]().fit(unit.train, schema=unit.schema, seed=0)
    assert "mean symmetry" in gen.fallback_columns_, gen.fallback_columns_
    rows = gen.sample(1000, seed=0)
    ratio = rows.std(0) / unit.train.std(0)
    assert ratio.min() > 0.5 and ratio.max() < 2.0, ratio


def test_bootstrap_copies_rows_and_independent_breaks_their_dependence(data):
    gens = builtin_generators()
    boot = gens["bootstrap"]().fit(data.train, schema=data.transform, seed=0).sample(500, seed=0)
    train_rows = {r.tobytes() for r in data.train.astype(np.float32)}
    assert all(r.tobytes() in train_rows for r in boot)
    ind = gens["independent"]().fit(data.train, schema=data.transform, seed=0).sample(2000, seed=0)
    copied = np.mean([r.tobytes() in train_rows for r in ind])
    assert copied < 0.05
    # marginals kept: each column's mean close to the training mean
    assert np.allclose(ind.mean(axis=0), data.train.mean(axis=0), atol=0.15 * data.train.std(axis=0).max())


def test_tvae_warm_start_starts_from_the_pretrained_networks(data):
    cls = builtin_generators()["tvae"]
    small = {k: v for k, v in SMALL["tvae"].items() if k != "epochs"}
    pre = cls(epochs=2, **small).fit(data.train[:100], schema=data.transform, seed=0)
    tuned = cls(epochs=0, **small).fit(data.train, schema=data.transform, seed=5, init=pre)
    for a, b in zip(pre.model_.decoder.parameters(), tuned.model_.decoder.parameters()):
        assert torch.equal(a, b)  # no epoch: the pre-trained decoder itself, copied
    for a, b in zip(pre.encoder_.parameters(), tuned.encoder_.parameters()):
        assert torch.equal(a, b)
    assert tuned.model_.decoder is not pre.model_.decoder
    fresh = cls(epochs=0, **small).fit(data.train, schema=data.transform, seed=5)
    assert not all(torch.equal(a, b) for a, b in zip(pre.model_.decoder.parameters(), fresh.model_.decoder.parameters()))
    moved = cls(epochs=1, **small).fit(data.train, schema=data.transform, seed=5, init=pre)
    assert not all(torch.equal(a, b) for a, b in zip(pre.model_.decoder.parameters(), moved.model_.decoder.parameters()))


MLDA = mlda_toml("mlda_generators", augmenters=["mlda_vae", "mlda_bootstrap", "mlda_gaussian_copula"],
                 vae={"n_seeds": 2, "max_epochs": 30})


def test_mlda_generator_augmenters_label_generator_rows_with_the_teacher(tmp_path, data_dir):
    from tabaug_ray.augment.mlda import MLDAAugmenter
    from tabaug_ray.config import load_config
    from tabaug_ray.pipelines import mlda

    path = tmp_path / "m.toml"
    path.write_text(MLDA)
    ctx = RunContext(config=load_config(path), data_dir=str(data_dir))
    units = [u for u in mlda.plan(ctx) if u.fold == 0]
    by_kind = {}
    for u in units:
        by_kind.setdefault(u.kind, []).append(u)
    assert [u.params["generator"] for u in by_kind["feature_generator"]] == ["bootstrap", "gaussian_copula"]
    assert [u.params["generator"] for u in by_kind["feature_vae"]] == ["vae_bgm"]  # mlda_vae: its old unit
    teacher = mlda.run(by_kind["teacher"][0], ctx, {}).value
    values = {teacher_unit.key: teacher for teacher_unit in by_kind["teacher"]}
    for u in by_kind["feature_generator"]:
        values[u.key] = mlda.run(u, ctx, {}).value
    students = {u.params["augmenter"]: u for u in by_kind["student"] if u.params["augmenter"] != "mlda_vae"}
    boot = students["mlda_bootstrap"]
    assert boot.deps == (by_kind["teacher"][0].key, by_kind["feature_generator"][0].key)
    g = mlda._prepare(ctx, "diabetes", 0, 0, 200)
    augmenter = MLDAAugmenter(teacher=teacher, sampler=values[boot.deps[1]], refit_sampler=False)
    x, y = augmenter.fit(g.x_fit, g.y_fit, categorical=g.categorical).augment(320, seed=4)
    fit_rows = {r.tobytes() for r in g.x_fit.astype(np.float32)}
    assert all(r.astype(np.float32).tobytes() in fit_rows for r in x)  # bootstrap: rows of the fit rows
    assert np.allclose(y, teacher.predict(x))  # labelled by the teacher, not with the rows' own labels
    for name, unit in students.items():
        records = mlda.run(unit, ctx, {k: values[k] for k in unit.deps}).records
        scores = {r["metric"]: r["value"] for r in records}
        assert scores["n_synthetic"] == 320 and np.isfinite(scores["rmse"]), name


def test_pretrain_runs_for_every_warm_startable_generator_and_only_there(data_dir):
    """The pipeline asks the class: TVAE gets Pre-train by warm start (its fine-tuning starts from the
    generator fitted on the Low-data TVAE's synthetic rows), the copula gets none."""
    from tabaug_ray.pipelines import inductive_bias

    config = parse_config({
        "experiment": {"name": "p", "folds": 2}, "datasets": [{"name": "adult"}],
        "inductive_bias": {"models": ["tvae", "gaussian_copula"], "scenarios": ["low_data", "pretrain", "avg"],
                           "n_low": 120, "n_synthetic": 300,
                           "model_params": {"tvae": {"epochs": 1, "batch_size": 60, "compress_dims": [16],
                                                     "decompress_dims": [16], "embedding_dim": 8}}},
        "evaluation": {"repeats": 1, "utility": False}})
    ctx = RunContext(config=config, data_dir=str(data_dir))
    units = [u for u in inductive_bias.plan(ctx) if u.fold == 0]
    assert sorted((u.params["model"], u.params["scenario"]) for u in units) == [
        ("gaussian_copula", "low_data"), ("tvae", "low_data"), ("tvae", "pretrain")]
    low, pretrain = (next(u for u in units if u.params == {**u.params, "model": "tvae", "scenario": s})
                     for s in ("low_data", "pretrain"))
    value = inductive_bias.run(low, ctx, {}).value
    assert value["synthetic"].shape == (300, 15)
    records = inductive_bias.run(pretrain, ctx, {low.key: value}).records
    metrics = {r["metric"] for r in records}
    assert {"js", "kl", "init_seconds", "fit_seconds"} <= metrics
    assert {r["scenario"] for r in records} == {"pretrain"}


def test_contract_adapters_give_the_numbers_of_the_direct_calls(data):
    """The refactor keeps VAE-BGM's and CTGAN's numbers: the adapters produce what the pipeline's
    former direct calls produced (VAEBGM on model-space rows; CTGANGenerator on the inverse-transformed
    table, its sample transformed back)."""
    from tabaug_ray.generators import VAEBGM
    from tabaug_ray.generators.ctgan import CTGANGenerator

    gens = builtin_generators()
    vae = gens["vae_bgm"](n_threads=1, **SMALL["vae_bgm"]).fit(data.train, schema=data.transform, seed=7)
    direct = VAEBGM(columns=data.schema.columns, seed=7, n_threads=1, **SMALL["vae_bgm"]).fit(data.train)
    assert np.array_equal(vae.sample(300, seed=2), direct.sample(300, seed=2))
    ctgan = gens["ctgan"](n_threads=1, **SMALL["ctgan"]).fit(data.train, schema=data.transform, seed=7)
    discrete = [c.name for c in data.schema.columns if c.kind != "gaussian"]
    old = CTGANGenerator(seed=7, n_threads=1, **SMALL["ctgan"]).fit(data.transform.inverse_transform(data.train),
                                                                   discrete_columns=discrete)
    assert np.array_equal(ctgan.sample(300, seed=2), data.transform.transform(old.sample(300, seed=2)))


def test_example_plugin_generator_is_seeded_and_class_conditional(data):
    from examples.plugin_generators import ClassConditionalGMM

    gen = ClassConditionalGMM(n_components=2).fit(data.train, schema=data.transform, seed=1)
    rows = check_rows(gen.sample(500, seed=3), data.schema.columns, who="plugin")
    assert np.array_equal(rows, ClassConditionalGMM(n_components=2).fit(
        data.train, schema=data.transform, seed=1).sample(500, seed=3))
    target = data.schema.index(data.schema.target)
    share = lambda x: np.mean(x[:, target])  # noqa: E731 - the positive class's share, kept by the class prior
    assert abs(share(rows) - share(data.train)) < 0.08
