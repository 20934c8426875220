"""Utility validation on real data: train on (good or destroyed) training rows, test on real held-out rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabaug_ray.errors import TabaugError
from tabaug_ray.evaluate.encode import encode_pair
from tabaug_ray.evaluate.records import RECORD_KEYS, evaluation_records
from tabaug_ray.evaluate.utility import infer_task, utility_report, utility_scores


def _split(df: pd.DataFrame, n_train: int, n_test: int, seed: int):
    idx = np.random.default_rng(seed).permutation(len(df))
    return df.iloc[idx[:n_train]].reset_index(drop=True), df.iloc[idx[n_train : n_train + n_test]].reset_index(drop=True)


@pytest.fixture(scope="module")
def letter(data_dir):
    df = pd.read_csv(data_dir / "letter_recognition.csv.gz")
    train, test = _split(df, 3_000, 1_500, seed=0)
    feats = [c for c in df.columns if c != "lettr"]
    return train[feats].to_numpy(float), train["lettr"].to_numpy(), test[feats].to_numpy(float), test["lettr"].to_numpy()


def test_multiclass_learns_and_destroyed_labels_do_not(letter):
    xtr, ytr, xte, yte = letter
    # 60 epochs keep the test short (early stopping alone runs ~270 epochs here, accuracy ~0.81)
    good = utility_scores(xtr, ytr, xte, yte, task="multiclass", seed=0, n_threads=1, max_epochs=60)
    # 26 classes: chance is about 0.04
    assert good["accuracy"] > 0.6 and good["macro_f1"] > 0.55, good
    shuffled = np.random.default_rng(1).permutation(ytr)
    bad = utility_scores(xtr, shuffled, xte, yte, task="multiclass", seed=0, n_threads=1, max_epochs=60)
    assert bad["accuracy"] < 0.15 and bad["macro_f1"] < 0.15, bad


def test_same_seed_same_numbers(letter):
    xtr, ytr, xte, yte = letter
    runs = [utility_scores(xtr, ytr, xte, yte, task="multiclass", seed=s, n_threads=1, max_epochs=4) for s in (5, 5, 6)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_binary_class_weights_help_the_minority(data_dir):
    df = pd.read_csv(data_dir / "adult.csv.gz")
    train, test = _split(df, 2_000, 2_000, seed=3)
    feats = [c for c in df.columns if c != "income"]
    enc = encode_pair(train[feats], test[feats])
    ytr, yte = train["income"].to_numpy(), test["income"].to_numpy()
    assert infer_task(ytr) == "binary"
    scores = utility_scores(enc.real, ytr, enc.synthetic, yte, task="binary", seed=0, n_threads=1)
    assert scores["accuracy"] > 0.7, scores
    # predicting the majority class (~76 % of rows) gives macro-F1 = ½ · 2p / (1 + p) ≈ 0.43: the
    # class-weighted MLP must do clearly better on the minority class
    p = (yte == pd.Series(ytr).mode()[0]).mean()
    assert scores["macro_f1"] > 0.5 * 2 * p / (1 + p) + 0.2, scores


def test_regression_linear_model(data_dir):
    df = pd.read_csv(data_dir / "combined_cycle_power_plant.csv.gz")
    train, test = _split(df, 1_000, 2_000, seed=0)
    feats = [c for c in df.columns if c != "PE"]
    xtr, xte = train[feats].to_numpy(float), test[feats].to_numpy(float)
    ytr, yte = train["PE"].to_numpy(float), test["PE"].to_numpy(float)
    assert infer_task(ytr) == "regression"
    syn_x = xtr + np.random.default_rng(0).normal(0, 0.05, xtr.shape) * xtr.std(axis=0)
    shuffled_y = np.random.default_rng(1).permutation(ytr)
    report = utility_report(synthetic_x=syn_x, synthetic_y=shuffled_y, real_train_x=xtr, real_train_y=ytr,
                            test_x=xte, test_y=yte, task="regression")
    real, syn = report["real"], report["synthetic"]
    assert real["r2"] > 0.9, real  # the power plant output is nearly linear in its four inputs
    assert syn["r2"] < 0.05, syn  # labels unrelated to the features: no utility
    assert real["mse"] < syn["mse"]
    assert real["mse"] == pytest.approx(np.mean((yte - yte.mean()) ** 2) * (1 - real["r2"]))
    recs = evaluation_records(m=7_500, l=1_000, utility=syn, utility_real=real)
    assert {r["metric"] for r in recs} == {"mse", "r2", "mse_real", "r2_real"}
    assert all(tuple(r) == RECORD_KEYS and r["repeat"] == 0 for r in recs)


def test_infer_task_and_errors():
    assert infer_task(np.array(["a", "b", "a"])) == "binary"
    assert infer_task(np.array([0, 1, 1])) == "binary"
    assert infer_task(np.array(["a", "b", "c"])) == "multiclass"
    assert infer_task(np.array([1.5, 2.0, 3.25, 4.0])) == "regression"
    x = np.random.default_rng(0).normal(size=(40, 3))
    y3 = np.array(["a", "b", "c"] * 13 + ["a"])
    with pytest.raises(TabaugError, match="task 'binary' but the target has 3 classes"):
        utility_scores(x, y3, x, y3, task="binary")
    with pytest.raises(TabaugError, match="unknown task 'ranking'"):
        utility_scores(x, y3, x, y3, task="ranking")
    bad = x.copy()
    bad[3, 1] = np.inf
    with pytest.raises(TabaugError, match="training features: non-finite value at row 3, column 1"):
        utility_scores(bad, y3, x, y3, task="multiclass")
    with pytest.raises(TabaugError, match="regression training target is not numeric"):
        utility_scores(x, y3, x, np.zeros(40), task="regression")
    with pytest.raises(TabaugError, match="differ in width"):
        utility_scores(x, y3, x[:, :2], y3, task="multiclass")
