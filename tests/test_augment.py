"""Augmenters on real datasets: shapes, seeds, the noise law, teacher labels, C-Mixup pairs, ADA's transform."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabaug_ray.augment import (
    ADAAugmenter, CMixupAugmenter, GaussianNoiseSampler, MLDAAugmenter, NoAugmenter, NoiseAugmenter, ada_gammas,
    make_augmenter, resolve_volume,
)
from tabaug_ray.errors import TabaugError
from tabaug_ray.learners import FastTeacher


def load(data_dir, name: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Features (categorical columns integer-coded), target and categorical indices of a MANIFEST dataset."""
    manifest = pd.read_csv(data_dir / "MANIFEST.tsv", sep="\t").set_index("name")
    row = manifest.loc[name]
    frame = pd.read_csv(data_dir / row["file"]).dropna()
    cats = [c for c in str(row["categorical_columns"]).split(",") if c and c != "nan"]
    features = frame.drop(columns=row["target"])
    for c in cats:
        features[c] = pd.Categorical(features[c]).codes
    cat_idx = [features.columns.get_loc(c) for c in cats]
    return features.to_numpy(float), frame[row["target"]].to_numpy(float), cat_idx


@pytest.fixture(scope="module")
def wine(data_dir):
    X, y, _ = load(data_dir, "wine_quality_red")
    return X[:600], y[:600]


@pytest.fixture(scope="module")
def insurance(data_dir):
    X, y, cat = load(data_dir, "medical_insurance")
    assert cat == [1, 4, 5]
    return X[:500], y[:500], cat


@pytest.fixture(scope="module")
def concrete_teacher(data_dir):
    X, y, _ = load(data_dir, "concrete_compressive_strength")
    X, y = X[:400], y[:400]
    return X, y, FastTeacher(kind="extra_trees", seed=0).fit(X, y)


def test_resolve_volume():
    assert resolve_volume(500, 300) == 500
    assert resolve_volume("500", 300) == 500
    assert resolve_volume("2x", 300) == 600
    assert resolve_volume(" 0.5X", 301) == 150
    assert resolve_volume(2.0, 250) == 500
    assert resolve_volume("1e1x", 3) == 30
    for bad in ("two", "-1", "2y", -3, float("nan"), True, None):
        with pytest.raises(TabaugError):
            resolve_volume(bad, 100)


def _augmenters(teacher):
    return {
        "mlda": MLDAAugmenter(teacher=teacher, eta=0.05),
        "noise": NoiseAugmenter(eta=0.05),
        "cmixup": CMixupAugmenter(),
        "ada": ADAAugmenter(n_clusters=8),
    }


@pytest.mark.parametrize("name", ["mlda", "noise", "cmixup", "ada"])
def test_shapes_and_seeds(name, concrete_teacher):
    X, y, teacher = concrete_teacher
    aug = _augmenters(teacher)[name].fit(X, y)
    xa, ya = aug.augment(1234, seed=7)
    xb, yb = aug.augment(1234, seed=7)
    xc, yc = aug.augment(1234, seed=8)
    assert xa.shape == (1234, X.shape[1]) and ya.shape == (1234,)
    assert xa.dtype == np.float64 and np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(xa, xc)
    x0, y0 = aug.augment(0, seed=1)
    assert x0.shape == (0, X.shape[1]) and y0.shape == (0,)
    with pytest.raises(TabaugError):
        aug.augment(-1, seed=1)


def test_none_returns_empty(concrete_teacher):
    X, y, _ = concrete_teacher
    x_new, y_new = make_augmenter("none").fit(X, y).augment(500, seed=0)
    assert x_new.shape == (0, X.shape[1]) and y_new.shape == (0,)
    with pytest.raises(TabaugError):
        NoAugmenter().augment(5, seed=0)


def test_noise_scale_is_eta_sigma(wine):
    X, y = wine
    eta = 0.1
    sampler = GaussianNoiseSampler(eta=eta).fit(X, y)
    x_new, base = sampler.sample_with_base(20_000, seed=3)
    z = (x_new - X[base]) / (eta * X.std(axis=0))
    assert np.all(np.abs(z.mean(axis=0)) < 0.04)
    assert np.all(np.abs(z.std(axis=0) - 1.0) < 0.03)
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.04  # independent across features
    # Base rows are drawn uniformly: every row is used about 20000 / 600 times.
    counts = np.bincount(base, minlength=X.shape[0])
    assert counts.min() > 10 and counts.max() < 65
    # NoiseAugmenter draws these very rows, with the base rows' original labels.
    xn, yn = NoiseAugmenter(eta=eta).fit(X, y).augment(20_000, seed=3)
    np.testing.assert_array_equal(xn, x_new)
    np.testing.assert_array_equal(yn, y[base])


def test_mlda_labels_are_teacher_predictions(concrete_teacher):
    X, y, teacher = concrete_teacher
    xm, ym = MLDAAugmenter(teacher=teacher, eta=0.05).fit(X, y).augment(3000, seed=11)
    xn, yn = NoiseAugmenter(eta=0.05).fit(X, y).augment(3000, seed=11)
    np.testing.assert_array_equal(xm, xn)  # same seed -> same x'
    np.testing.assert_allclose(ym, teacher.predict(xm))
    assert not np.allclose(ym, yn)  # teacher labels differ from the base rows' labels


def test_mlda_needs_a_fitted_teacher(concrete_teacher):
    X, y, _ = concrete_teacher
    with pytest.raises(TabaugError, match="not fitted"):
        MLDAAugmenter(teacher=FastTeacher()).fit(X, y)
    with pytest.raises(TabaugError, match="teacher"):
        make_augmenter("mlda")
    with pytest.raises(TabaugError, match="features"):
        MLDAAugmenter(teacher=FastTeacher().fit(X[:, :3], y)).fit(X, y)


def test_mlda_pluggable_sampler(concrete_teacher):
    X, y, teacher = concrete_teacher
    sampler = GaussianNoiseSampler(eta=0.3)
    xm, ym = MLDAAugmenter(teacher=teacher, sampler=sampler).fit(X, y).augment(500, seed=2)
    np.testing.assert_array_equal(xm, sampler.sample(500, seed=2))
    np.testing.assert_allclose(ym, teacher.predict(xm))
    # An already fitted sampler is used as given (fitted on other rows here: its sigma stays).
    fitted = GaussianNoiseSampler(eta=0.3).fit(X[:50], y[:50])
    sigma = fitted.sigma_.copy()
    xf, _ = MLDAAugmenter(teacher=teacher, sampler=fitted, refit_sampler=False).fit(X, y).augment(200, seed=2)
    np.testing.assert_array_equal(fitted.sigma_, sigma)
    np.testing.assert_array_equal(xf, fitted.sample(200, seed=2))


def test_categorical_modes(insurance):
    X, y, cat = insurance
    teacher = FastTeacher(kind="lightgbm", seed=0).fit(X, y, categorical=cat)
    num = [j for j in range(X.shape[1]) if j not in cat]
    keep = GaussianNoiseSampler(eta=0.1, categorical_mode="keep").fit(X, y, categorical=cat)
    xk, base = keep.sample_with_base(4000, seed=5)
    np.testing.assert_array_equal(xk[:, cat], X[base][:, cat])
    assert np.all(xk[:, num] != X[base][:, num])
    resample = GaussianNoiseSampler(eta=0.1).fit(X, y, categorical=cat)
    xr, base = resample.sample_with_base(40_000, seed=5)
    for j in cat:
        codes = np.unique(X[:, j])
        assert set(np.unique(xr[:, j])) <= set(codes)
        p = np.bincount(X[:, j].astype(int)) / X.shape[0]
        expected = 0.1 * (1 - np.sum(p**2))  # redrawn with prob eta, and the redraw differs
        changed = np.mean(xr[:, j] != X[base, j])
        assert abs(changed - expected) < 4 * np.sqrt(expected / 40_000) + 1e-3
    xm, ym = MLDAAugmenter(teacher=teacher, eta=0.1).fit(X, y, categorical=cat).augment(300, seed=5)
    np.testing.assert_allclose(ym, teacher.predict(xm))
    for name, params in [("cmixup", {}), ("ada", {"n_clusters": 5})]:
        xa, _ = make_augmenter(name, **params).fit(X, y, categorical=cat).augment(2000, seed=1)
        for j in cat:
            assert set(np.unique(xa[:, j])) <= set(np.unique(X[:, j]))


def test_cmixup_rows_lie_on_segments_between_label_close_pairs(data_dir):
    X, y, _ = load(data_dir, "airfoil_self_noise")
    X, y = X[:800], y[:800]
    aug = CMixupAugmenter(alpha=2.0, bandwidth=0.1).fit(X, y)
    n = 20_000
    i, j, lam = aug.draw_pairs(n, seed=4)
    x_new, y_new = aug.augment(n, seed=4)
    np.testing.assert_allclose(x_new, lam[:, None] * X[i] + (1 - lam[:, None]) * X[j])
    np.testing.assert_allclose(y_new, lam * y[i] + (1 - lam) * y[j])
    assert np.all((lam > 0) & (lam < 1))
    assert abs(lam.mean() - 0.5) < 0.01 and abs(lam.var() - 1 / 20) < 0.005  # Beta(2, 2): var 1/(4(2a+1))
    # Base rows cycle through permutations: each row used n / N = 25 times.
    assert np.all(np.bincount(i, minlength=800) == 25)
    # Partners are label-close: the mean |y_i - y_j| matches the kernel's expectation ...
    gap = np.abs(y[i] - y[j])
    expected = np.array([aug.partner_probabilities(k) @ np.abs(y[k] - y) for k in range(800)])[i]
    se = gap.std() / np.sqrt(n)
    assert abs(gap.mean() - expected.mean()) < 4 * se
    # ... and far below uniform pairing.
    uniform = np.abs(y[:, None] - y[None, :]).mean()
    assert gap.mean() < 0.3 * uniform
    # A wide kernel approaches uniform pairing.
    wide_i, wide_j, _ = CMixupAugmenter(bandwidth=100.0).fit(X, y).draw_pairs(n, seed=4)
    assert abs(np.abs(y[wide_i] - y[wide_j]).mean() - uniform) < 0.05 * uniform


def test_cmixup_partner_law_for_one_row(concrete_teacher):
    X, y, _ = concrete_teacher
    aug = CMixupAugmenter(bandwidth=0.3).fit(X[:40], y[:40])
    p = aug.partner_probabilities(0)
    assert p.shape == (40,) and abs(p.sum() - 1) < 1e-12 and p[0] == p.max()  # self included, most likely
    n = 40_000
    u = np.random.default_rng(0).random(n)
    partners = aug._partners(np.zeros(n, dtype=np.int64), u)
    freq = np.bincount(partners, minlength=40) / n
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n) + 1e-4)


def test_ada_gammas_match_the_official_grid():
    assert ada_gammas(2.0, 10) == [2.0, 1.8, 1.6, 1.4, 1.2, 0.8333, 0.7143, 0.625, 0.5556, 0.5]
    assert ada_gammas(4.0, 4) == [4.0, 2.5, 0.4, 0.25]


def test_ada_transform_satisfies_the_anchor_formula(data_dir):
    X, y, _ = load(data_dir, "concrete_compressive_strength")
    X, y = X[:300], y[:300]
    aug = ADAAugmenter(n_clusters=6, alpha=2.0, n_gammas=10).fit(X, y)
    labels = aug.cluster(seed=9)
    assert len(np.unique(labels)) == 6
    x_t, y_t, src, g_idx = aug.transformed(seed=9)
    assert x_t.shape == (10 * 300, X.shape[1])
    for k, gamma in enumerate(aug.gammas_):
        rows = g_idx == k
        m_x = np.stack([X[labels == c].mean(axis=0) for c in labels[src[rows]]])
        m_y = np.array([y[labels == c].mean() for c in labels[src[rows]]])
        np.testing.assert_allclose(x_t[rows], m_x + (X[src[rows]] - m_x) / np.sqrt(gamma), rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(y_t[rows], m_y + (y[src[rows]] - m_y) / np.sqrt(gamma), rtol=1e-10, atol=1e-9)
    # The official matrix form gives the same rows (one gamma, projection onto one-hot anchors).
    a = np.eye(6)[labels]
    proj = a @ np.linalg.inv(a.T @ a) @ a.T
    gamma = aug.gammas_[0]
    h = np.eye(300) + (np.sqrt(gamma) - 1) * proj
    scaler = 1 + (np.sqrt(gamma) - 1) * proj.sum(axis=1)
    official = h @ (X - X.mean(axis=0)) / scaler[:, None] + X.mean(axis=0)
    np.testing.assert_allclose(x_t[g_idx == 0], official, rtol=1e-8, atol=1e-8)
    # augment(n) returns transformed rows only; n = G * N gives each of them exactly once.
    key = {tuple(r) for r in np.round(np.column_stack([x_t, y_t]), 9)}
    x_a, y_a = aug.augment(3000, seed=9)
    got = [tuple(r) for r in np.round(np.column_stack([x_a, y_a]), 9)]
    assert set(got) == key and len(got) == 3000
    x_b, _ = aug.augment(7000, seed=9)
    assert x_b.shape == (7000, X.shape[1])
    x_c, y_c = aug.augment(100, seed=9)
    assert {tuple(r) for r in np.round(np.column_stack([x_c, y_c]), 9)} <= key


def test_constructor_errors(concrete_teacher):
    X, y, _ = concrete_teacher
    for aug in (NoiseAugmenter(eta=-0.1), CMixupAugmenter(bandwidth=0), CMixupAugmenter(alpha=-1),
                ADAAugmenter(alpha=1.0), ADAAugmenter(n_gammas=3), ADAAugmenter(n_clusters=0),
                NoiseAugmenter(categorical_mode="flip")):
        with pytest.raises(TabaugError):
            aug.fit(X, y)
    with pytest.raises(TabaugError, match="unknown augmenter"):
        make_augmenter("smote")
    with pytest.raises(TabaugError, match="bad parameters"):
        make_augmenter("noise", sigma=1)
    with pytest.raises(TabaugError):
        NoiseAugmenter().fit(X, y[:-1])
    with pytest.raises(TabaugError):
        NoiseAugmenter().fit(X, y, categorical=[X.shape[1]])
