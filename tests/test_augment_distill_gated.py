"""FAST-DAD distillation rows (SPUNGE through AutoGluon, MUNGE) and validation-gated MLDA, on real data
with real teachers and students."""

from __future__ import annotations

import numpy as np
import pytest

from tabaug_ray.augment import DistillAugmenter, GatedMLDAAugmenter, MLDAAugmenter, make_augmenter
from tabaug_ray.errors import TabaugError
from tabaug_ray.learners import FastTeacher, MLPStudent, regression_metrics
from conftest import manifest_xy




@pytest.fixture(scope="module")
def insurance_teacher(data_dir):
    X, y, cat = manifest_xy(data_dir, "medical_insurance")
    X, y = X[:400], y[:400]
    return X, y, cat, FastTeacher(kind="lightgbm", seed=0).fit(X, y, categorical=cat)


@pytest.mark.parametrize("method", ["spunge", "munge"])
def test_distill_rows_are_teacher_labelled_seeded_and_keep_categories(method, insurance_teacher):
    X, y, cat, teacher = insurance_teacher
    aug = make_augmenter(f"distill_{method}", teacher=teacher)
    assert isinstance(aug, DistillAugmenter) and aug.method == method
    aug.fit(X, y, categorical=cat)
    state = np.random.get_state()[1].copy()
    x_new, y_new = aug.augment(1200, seed=3)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # NumPy's global RNG is left as it was
    assert x_new.shape == (1200, X.shape[1]) and np.isfinite(x_new).all()
    np.testing.assert_array_equal(y_new, teacher.predict(x_new))
    for j in cat:  # every synthetic category is a category of the training rows
        assert set(np.unique(x_new[:, j])) <= set(np.unique(X[:, j]))
    again, _ = aug.augment(1200, seed=3)
    other, _ = aug.augment(1200, seed=4)
    np.testing.assert_array_equal(x_new, again)
    assert not np.array_equal(x_new, other)
    if method == "munge":
        base = np.arange(1200) % len(X)  # MUNGE walks the training rows in order
        assert 0.05 < (~np.isclose(x_new, X[base])).mean() < 0.55  # at most ~perturb_prob of the cells change
        # every feature swapped, no spread: each row becomes its base row's nearest neighbour (another row)
        swapped, _ = DistillAugmenter(teacher=teacher, method="munge", perturb_prob=1.0, s=1e12).fit(
            X, y, categorical=cat).augment(len(X), seed=0)
        dist = np.abs(swapped[:, None, :] - X[None, :, :]).sum(axis=2)
        dist[np.arange(len(X)), np.arange(len(X))] = np.inf
        assert np.allclose(dist.min(axis=1), 0.0, atol=1e-6)
        assert not np.array_equal(swapped, X)
    else:  # SPUNGE perturbs few cells: most synthetic rows are close to a training row
        dist = np.abs(x_new[:, None, :] - X[None, :, :]).sum(axis=2).min(axis=1)
        assert np.median(dist) < 0.5 * np.median(np.abs(X - X.mean(axis=0)).sum(axis=1))


def test_distill_checks(insurance_teacher):
    X, y, cat, teacher = insurance_teacher
    with pytest.raises(TabaugError, match="needs teacher"):
        make_augmenter("distill_spunge")
    with pytest.raises(TabaugError, match="perturb_prob"):
        DistillAugmenter(teacher=teacher, method="munge", perturb_prob=1.5).fit(X, y, categorical=cat)
    with pytest.raises(TabaugError, match="not fitted"):
        DistillAugmenter(teacher=FastTeacher(), method="munge").fit(X, y, categorical=cat)


def test_gated_mlda_uses_the_teacher_only_when_it_wins_on_validation(data_dir):
    X, y, _ = manifest_xy(data_dir, "concrete_compressive_strength")
    x_fit, y_fit, x_val, y_val = X[:240], y[:240], X[240:300], y[240:300]
    teacher = FastTeacher(kind="lightgbm", seed=0).fit(x_fit, y_fit)
    fits = []

    def fit_student(x_new, y_new):
        student = MLPStudent(max_epochs=30, patience=5, seed=1).fit(x_fit, y_fit, synthetic=(x_new, y_new),
                                                                    validation=(x_val, y_val))
        fits.append(student)
        return student, regression_metrics(y_val, student.predict(x_val))["rmse"]

    kwargs = dict(teacher=teacher, etas=(0.01, 0.1), validation=(x_val, y_val), fit_student=fit_student,
                  n_synthetic=480, seed=7)
    teacher_val = regression_metrics(y_val, teacher.predict(x_val))["rmse"]
    # the real-rows student is better on validation: no teacher labels, no student fitted here
    kept = GatedMLDAAugmenter(student_val_rmse=0.5 * teacher_val, **kwargs).fit(x_fit, y_fit)
    assert not kept.use_teacher_ and kept.eta_ is None and fits == []
    assert kept.augment(480, seed=7)[0].shape == (0, X.shape[1])
    # the teacher wins: one student per eta, the lowest validation RMSE is kept
    gated = GatedMLDAAugmenter(student_val_rmse=2.0 * teacher_val, **kwargs).fit(x_fit, y_fit)
    assert gated.use_teacher_ and gated.teacher_val_rmse_ == pytest.approx(teacher_val)
    assert len(fits) == 2 and set(gated.candidates_) == {0.01, 0.1}
    assert gated.candidates_[gated.eta_] == min(gated.candidates_.values())
    assert gated.student_ is fits[list(gated.candidates_).index(gated.eta_)]
    x_new, y_new = gated.augment(480, seed=7)  # the rows `mlda` draws at the chosen eta and seed
    same = MLDAAugmenter(teacher=teacher, eta=gated.eta_).fit(x_fit, y_fit).augment(480, seed=7)
    np.testing.assert_array_equal(x_new, same[0])
    np.testing.assert_array_equal(y_new, same[1])


def test_gate_on_a_split_of_the_validation_rows_decides_on_rows_no_student_saw(data_dir):
    """The mlda pipeline's units run in plan order as plain functions (no Ray): gate = "split"."""
    from tabaug_ray.config import parse_config
    from tabaug_ray.data.splits import hash_seed
    from tabaug_ray.learners import split_real
    from tabaug_ray.pipelines import mlda as pipeline
    from tabaug_ray.pipelines.base import RunContext

    def config(gate: str):
        return parse_config({
            "experiment": {"name": "gate", "kind": "mlda", "folds": 2},
            "datasets": [{"name": "diabetes"}],
            "mlda": {"train_sizes": [150], "etas": [0.01, 0.1], "volumes": ["2x"],
                     "augmenters": ["none", "mlda", "mlda_gated"], "teachers": ["lightgbm"],
                     "student_params": {"mlp": {"max_epochs": 25, "patience": 5}},
                     "augmenter_params": {"mlda_gated": {"gate": gate}}}})

    with pytest.raises(TabaugError, match="gate must be 'early_stopping' or 'split', got 'test'"):
        pipeline.plan(RunContext(config=config("test"), data_dir=str(data_dir)))
    ctx = RunContext(config=config("split"), data_dir=str(data_dir))
    units = [u for u in pipeline.plan(ctx) if u.fold == 0]
    early = {u.key for u in pipeline.plan(RunContext(config=config("early_stopping"), data_dir=str(data_dir)))}
    values, rows = {}, {}
    for unit in units:  # producers precede their consumers
        result = pipeline.run(unit, ctx, {d: values[d] for d in unit.deps})
        values[unit.key] = result.value
        rows[unit.params.get("augmenter") or unit.kind] = {r["metric"]: r["value"] for r in result.records}
    gated = next(u for u in units if u.params.get("augmenter") == "mlda_gated")
    assert gated.key not in early  # the gate's rows are part of the unit's key
    # recompute the gate: the teacher and a real-rows student (early-stopped on half A) judged on half B
    g = pipeline._prepare(ctx, "diabetes", 0, 0, 150)
    seed = pipeline.unit_seed(ctx.config, gated, 150, "student")
    a, b = split_real(len(g.y_val), val_fraction=0.5, seed=hash_seed(seed, "gate"))
    teacher = values[gated.deps[0]]
    student = MLPStudent(max_epochs=25, patience=5, seed=seed).fit(g.x_fit, g.y_fit, validation=(g.x_val[a], g.y_val[a]))
    teacher_b = regression_metrics(g.y_val[b], teacher.predict(g.x_val[b]))["rmse"]
    student_b = regression_metrics(g.y_val[b], student.predict(g.x_val[b]))["rmse"]
    assert rows["mlda_gated"]["teacher_used"] == float(teacher_b < student_b), (teacher_b, student_b)
    if not rows["mlda_gated"]["teacher_used"]:  # the real-rows student early-stopped on half A, not `none`
        assert rows["mlda_gated"]["rmse"] == regression_metrics(g.y_test, student.predict(g.x_test))["rmse"]
    else:
        assert rows["mlda_gated"]["chosen_eta"] in (0.01, 0.1)
