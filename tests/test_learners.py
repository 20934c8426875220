"""Teachers and students fitted for real (TPOT, AutoGluon, LightGBM, torch) on real data with tiny budgets."""

from __future__ import annotations

import glob
import os
import pickle
import tempfile

import numpy as np
import psutil
import pytest
import torch

from tabaug_ray.augment import MLDAAugmenter, make_augmenter
from tabaug_ray.errors import TabaugError
from tabaug_ray.learners import (
    AutoGluonNNStudent, AutoGluonTeacher, FastTeacher, MLPStudent, TPOTTeacher, make_student, make_teacher,
    regression_metrics, split_real,
)
from conftest import manifest_xy




def split(data_dir, name: str, n_train: int, seed: int = 0):
    X, y, cat = manifest_xy(data_dir, name)
    perm = np.random.default_rng(seed).permutation(len(y))
    tr, te = perm[:n_train], perm[n_train:]
    return X[tr], y[tr], X[te], y[te], cat


def rmse(y_true, y_pred) -> float:
    return regression_metrics(y_true, y_pred)["rmse"]


def mean_rmse(y_train, y_test) -> float:
    return rmse(y_test, np.full(len(y_test), y_train.mean()))


def autogluon_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "tabaug_ag_*")))


@pytest.fixture(scope="module")
def concrete(data_dir):
    return split(data_dir, "concrete_compressive_strength", 500)


@pytest.fixture(scope="module")
def insurance(data_dir):
    return split(data_dir, "medical_insurance", 500)


def test_regression_metrics():
    from sklearn.metrics import mean_absolute_error, r2_score

    rng = np.random.default_rng(0)
    t, p = rng.normal(size=50), rng.normal(size=50)
    m = regression_metrics(t, p)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((t - p) ** 2)))
    assert m["mae"] == pytest.approx(mean_absolute_error(t, p))
    assert m["r2"] == pytest.approx(r2_score(t, p))
    with pytest.raises(TabaugError):
        regression_metrics(t, p[:-1])


@pytest.mark.parametrize("kind", ["lightgbm", "lightgbm_default", "extra_trees"])
def test_fast_teacher(kind, insurance):
    X, y, Xt, yt, cat = insurance
    teacher = make_teacher(kind, seed=0).fit(X, y, categorical=cat)
    assert isinstance(teacher, FastTeacher) and teacher.kind == kind
    pred = teacher.predict(Xt)
    assert pred.shape == (len(yt),)
    assert rmse(yt, pred) < 0.5 * mean_rmse(y, yt)
    np.testing.assert_array_equal(pred, make_teacher("fast", kind=kind, seed=0).fit(X, y, categorical=cat).predict(Xt))
    with pytest.raises(TabaugError):
        teacher.predict(Xt[:, :3])


def test_tpot_teacher_tiny_budget(concrete):
    X, y, Xt, yt, _ = concrete
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    env_keys = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONWARNINGS",
                "MALLOC_TRIM_THRESHOLD_")
    env = {k: os.environ.get(k) for k in env_keys}
    teacher = TPOTTeacher(budget="generations", generations=2, population_size=4, cv=3, search_space="linear-light",
                          inner_regressors=False, seed=0)  # the deterministic budget (worker processes)
    teacher.fit(X, y)
    assert not teacher.fallback_used_
    assert {k: os.environ.get(k) for k in env_keys} == env  # Dask's nanny edits os.environ; fit restores it
    assert hasattr(teacher.pipeline_, "predict") and type(teacher.pipeline_).__module__.startswith("sklearn")
    pred = teacher.predict(Xt)
    assert rmse(yt, pred) < 0.8 * mean_rmse(y, yt)
    # The Dask cluster is gone: no worker / nanny process outlives fit.
    # (multiprocessing's resource tracker, started once per process by the first spawn, stays by design.)
    def extra():
        return [p for p in psutil.Process().children(recursive=True)
                if p.pid not in children and "resource_tracker" not in " ".join(p.cmdline())]

    psutil.wait_procs(extra(), timeout=10)
    assert extra() == []
    # The fitted teacher is small and pickles (it can travel as a Ray object).
    blob = pickle.dumps(teacher)
    assert len(blob) < 5_000_000
    np.testing.assert_allclose(pickle.loads(blob).predict(Xt), pred)


def test_tpot_deterministic_budget_gives_bit_identical_teachers(concrete):
    """generations x population_size with no wall-clock limit: two fits choose the same pipeline."""
    X, y, Xt, _, _ = concrete
    kwargs = dict(budget="generations", generations=2, population_size=4, cv=3, search_space="linear-light",
                  inner_regressors=False, dask="threads", seed=0)
    first, second = TPOTTeacher(**kwargs).fit(X, y), TPOTTeacher(**kwargs).fit(X, y)
    assert first.time_limit_mins is None and first._eval_limit() == float("inf")
    assert not first.fallback_used_ and str(first.pipeline_) == str(second.pipeline_)
    np.testing.assert_array_equal(first.predict(Xt), second.predict(Xt))
    # max_time_mins=None is the same budget in Python
    assert TPOTTeacher(max_time_mins=None, generations=2).time_limit_mins is None
    with pytest.raises(TabaugError, match="needs a budget"):
        TPOTTeacher(budget="generations").fit(X, y)
    with pytest.raises(TabaugError, match="budget must be"):
        TPOTTeacher(budget="minutes").fit(X, y)


def test_tpot_teacher_falls_back_when_nothing_could_be_evaluated(insurance):
    X, y, Xt, yt, cat = insurance
    # every pipeline evaluation (in a worker process, which can be stopped) is cut off after 6 ms: this
    # tests the wall-clock path itself, the one test that needs a time budget
    teacher = TPOTTeacher(max_time_mins=0.002, max_eval_time_mins=0.0001, population_size=4, cv=3,
                          dask="processes", seed=0)
    with pytest.warns(RuntimeWarning, match="fallback"):
        teacher.fit(X, y, categorical=cat)
    assert teacher.fallback_used_
    assert rmse(yt, teacher.predict(Xt)) < 0.6 * mean_rmse(y, yt)
    with pytest.raises(TabaugError, match="no usable pipeline"):
        TPOTTeacher(max_time_mins=0.002, max_eval_time_mins=0.0001, population_size=4, cv=3, dask="processes",
                    fallback=None).fit(X, y)


def test_autogluon_teacher_tiny_budget(insurance):
    X, y, Xt, yt, cat = insurance
    before = autogluon_dirs()
    teacher = make_teacher("autogluon", time_limit=12, seed=0, num_cpus=1).fit(X, y, categorical=cat)
    assert isinstance(teacher, AutoGluonTeacher)
    assert autogluon_dirs() <= before  # its temporary directory is removed
    pred = teacher.predict(Xt)
    assert rmse(yt, pred) < 0.5 * mean_rmse(y, yt)
    restored = pickle.loads(pickle.dumps(teacher))
    np.testing.assert_allclose(restored.predict(Xt[:50]), pred[:50], rtol=1e-5)  # float32 models


def test_autogluon_nn_student_holds_out_real_rows(concrete):
    X, y, Xt, yt, _ = concrete
    teacher = FastTeacher(seed=0).fit(X, y)
    syn = MLDAAugmenter(teacher=teacher, eta=0.05).fit(X, y).augment(500, seed=0)
    before = autogluon_dirs()
    student = make_student("autogluon_nn", time_limit=8, seed=0, num_cpus=1).fit(X, y, synthetic=syn)
    assert isinstance(student, AutoGluonNNStudent)
    assert autogluon_dirs() <= before
    _, val_idx = split_real(len(y), val_fraction=0.2, seed=0)
    np.testing.assert_array_equal(student.val_index_, val_idx)
    assert (student.n_real_train_, student.n_synthetic_, student.n_val_) == (400, 500, 100)
    assert rmse(yt, student.predict(Xt)) < 0.7 * mean_rmse(y, yt)


def test_mlp_student_early_stops_on_real_rows_only(insurance):
    X, y, Xt, yt, cat = insurance
    syn = make_augmenter("noise", eta=0.05).fit(X, y, categorical=cat).augment(800, seed=1)
    global_state = torch.random.get_rng_state()
    student = MLPStudent(seed=3, max_epochs=300, patience=20).fit(X, y, synthetic=syn, categorical=cat)
    assert torch.equal(torch.random.get_rng_state(), global_state)  # torch's global RNG untouched
    # The validation rows are a held-out 20 % of the REAL rows; training got the rest plus every synthetic row.
    assert student.val_index_.max() < len(y) and len(np.unique(student.val_index_)) == 100
    assert (student.n_real_train_, student.n_synthetic_, student.n_val_) == (400, 800, 100)
    # The reported best validation RMSE is the restored model's RMSE on exactly those real rows.
    val_rmse = rmse(y[student.val_index_], student.predict(X[student.val_index_]))
    assert val_rmse == pytest.approx(student.best_val_rmse_, rel=1e-4)
    assert student.best_val_rmse_ == pytest.approx(student.history_.min(), rel=1e-6)
    assert student.best_epoch_ < student.epochs_ <= 300
    pred = student.predict(Xt)
    assert rmse(yt, pred) < 0.5 * mean_rmse(y, yt)
    again = MLPStudent(seed=3, max_epochs=300, patience=20).fit(X, y, synthetic=syn, categorical=cat)
    np.testing.assert_allclose(again.predict(Xt), pred, rtol=1e-6)
    # An explicit validation set replaces the held-out split; all real rows then train.
    other = MLPStudent(seed=3, max_epochs=5).fit(X[:450], y[:450], validation=(X[450:], y[450:]), categorical=cat)
    assert other.n_real_train_ == 450 and other.n_val_ == 50 and other.val_index_.size == 0


def test_mlda_end_to_end_beats_garbage_labels(concrete):
    """LightGBM teacher + MLP student at 500 training rows: MLDA is not catastrophically worse than no
    augmentation, and the teacher's labels matter (shuffled synthetic labels are clearly worse)."""
    X, y, Xt, yt, _ = concrete
    teacher = FastTeacher(kind="lightgbm", seed=0).fit(X, y)
    x_syn, y_syn = MLDAAugmenter(teacher=teacher, eta=0.05).fit(X, y).augment(2000, seed=0)
    shuffled = np.random.default_rng(0).permutation(y_syn)

    def student_rmse(synthetic):
        return rmse(yt, MLPStudent(seed=0, patience=20).fit(X, y, synthetic=synthetic).predict(Xt))

    none, mlda, garbage = student_rmse(None), student_rmse((x_syn, y_syn)), student_rmse((x_syn, shuffled))
    assert mlda < 1.25 * none
    assert mlda < 0.8 * garbage
    assert none < 0.5 * mean_rmse(y, yt)


def test_factories_and_errors(concrete):
    X, y, _, _, _ = concrete
    assert isinstance(make_teacher("tpot", max_time_mins=1), TPOTTeacher)
    assert isinstance(make_student("mlp", hidden=(8,)), MLPStudent)
    for bad in (lambda: make_teacher("h2o"), lambda: make_student("autokeras"),
                lambda: make_teacher("fast", depth=3), lambda: make_student("mlp", layers=2),
                lambda: FastTeacher(kind="svm").fit(X, y), lambda: FastTeacher().predict(X),
                lambda: MLPStudent(hidden=()).fit(X, y), lambda: MLPStudent(val_fraction=1.5).fit(X, y),
                lambda: MLPStudent().fit(X, y, synthetic=(X[:, :2], y)),
                lambda: TPOTTeacher(cv=1).fit(X, y), lambda: TPOTTeacher(dask="mpi").fit(X, y),
                lambda: AutoGluonTeacher(time_limit=0).fit(X, y)):
        with pytest.raises(TabaugError):
            bad()
