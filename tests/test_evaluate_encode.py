"""Encoding of table pairs, marginal distances and result records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tabaug_ray.data.schema import ColumnSpec
from tabaug_ray.errors import TabaugError
from tabaug_ray.evaluate.encode import MISSING, OTHER, discriminator_inputs, encode_pair, one_hot_model_space
from tabaug_ray.evaluate.marginals import marginal_distances, marginal_distances_model_space, total_variation
from tabaug_ray.evaluate.records import RECORD_KEYS, evaluation_records


@pytest.fixture(scope="module")
def adult(data_dir):
    df = pd.read_csv(data_dir / "adult.csv.gz")
    idx = np.random.default_rng(0).permutation(len(df))
    return df.iloc[idx[:3000]].reset_index(drop=True), df.iloc[idx[3000:6000]].reset_index(drop=True)


def test_encode_pair_on_adult(adult):
    real, syn = adult
    enc = encode_pair(real, syn[list(reversed(syn.columns))])  # column order does not matter
    names = list(enc.feature_names)
    assert enc.real.dtype == np.float32 and enc.real.shape[1] == enc.synthetic.shape[1] == len(names)
    assert enc.column_types["age"] == "numeric" and enc.column_types["workclass"] == "categorical"
    age = names.index("age")
    assert enc.real[:, age].mean() == pytest.approx(0.0, abs=1e-5)
    assert enc.real[:, age].std() == pytest.approx(1.0, abs=1e-4)
    expected = (syn["age"] - real["age"].mean()) / real["age"].std(ddof=0)
    np.testing.assert_allclose(enc.synthetic[:, age], expected, rtol=1e-5, atol=1e-5)
    # one-hot groups: exactly one 1 per row and categorical column, categories from both tables
    for col in ("workclass", "native-country", "income"):
        block = [i for i, n in enumerate(names) if n.startswith(f"{col}=")]
        assert np.all(enc.real[:, block].sum(axis=1) == 1) and np.all(enc.synthetic[:, block].sum(axis=1) == 1)
    assert f"workclass={MISSING}" in names  # adult writes '?' as empty fields
    cats = set(real["native-country"].dropna()) | set(syn["native-country"].dropna())
    assert {n.split("=", 1)[1] for n in names if n.startswith("native-country=")} == cats | {MISSING}


def test_numeric_missing_values_get_an_indicator(data_dir):
    df = pd.read_csv(data_dir / "california_housing.csv.gz")
    assert df["total_bedrooms"].isna().any()
    enc = encode_pair(df.iloc[:10_000], df.iloc[10_000:])
    names = list(enc.feature_names)
    j, k = names.index("total_bedrooms"), names.index(f"total_bedrooms={MISSING}")
    miss = df["total_bedrooms"].iloc[:10_000].isna().to_numpy()
    assert np.array_equal(enc.real[:, k] == 1, miss)
    assert np.all(enc.real[miss, j] == 0) and np.isfinite(enc.real).all()
    assert enc.column_types["ocean_proximity"] == "categorical"


def test_encode_errors_and_category_cap():
    real = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})
    with pytest.raises(TabaugError, match=r"missing from synthetic: 'b'; only in synthetic: 'c'"):
        encode_pair(real, pd.DataFrame({"a": [1.0], "c": [2.0]}))
    garbage = pd.DataFrame({"a": ["1.5", "abc", "2"], "b": ["x", "x", "y"]})
    with pytest.raises(TabaugError, match=r"column 'a' is numeric in real but synthetic has non-numeric value 'abc' \(row 1\)"):
        encode_pair(real, garbage)
    numeric_text = pd.DataFrame({"a": ["1.5", "2", None], "b": ["x", "x", "y"]})
    assert encode_pair(real, numeric_text).column_types["a"] == "numeric"
    ids = pd.DataFrame({"a": np.arange(100.0), "b": [f"id{i % 40}" for i in range(100)]})
    enc = encode_pair(ids, ids, max_categories=10)
    b_cols = [n for n in enc.feature_names if n.startswith("b=")]
    assert len(b_cols) == 10 and f"b={OTHER}" in b_cols
    enc = encode_pair(ids, ids, categorical=["a"], max_categories=5)
    assert sum(n.startswith("a=") for n in enc.feature_names) == 5


def test_one_hot_model_space():
    cols = [ColumnSpec("g", "gaussian"), ColumnSpec("c", "categorical", 3), ColumnSpec("b", "bernoulli", 2)]
    x = np.array([[0.5, 2, 1], [-1.0, 0, 0]], dtype=np.float32)
    np.testing.assert_array_equal(one_hot_model_space(x, cols), [[0.5, 0, 0, 1, 1], [-1.0, 1, 0, 0, 0]])
    with pytest.raises(TabaugError, match=r"column .c.: codes must be in 0..2, got 3..3"):
        one_hot_model_space(np.array([[0.0, 3, 0]]), cols)


def test_discriminator_inputs_one_hot_or_codes():
    cols = [ColumnSpec("g", "gaussian"), ColumnSpec("c", "categorical", 3), ColumnSpec("b", "bernoulli", 2)]
    x = np.array([[0.5, 2, 1], [-1.0, 0, 0]], dtype=np.float64)
    np.testing.assert_array_equal(discriminator_inputs(x, cols), one_hot_model_space(x, cols))
    codes = discriminator_inputs(x, cols, categorical="codes")
    assert codes.dtype == np.float32 and codes.shape == (2, 3)
    np.testing.assert_array_equal(codes, x)
    with pytest.raises(TabaugError, match=r"shape \(2, 2\) but the schema has 3 columns"):
        discriminator_inputs(x[:, :2], cols, categorical="codes")
    with pytest.raises(TabaugError, match="'one_hot' or 'codes', got 'ordinal'"):
        discriminator_inputs(x, cols, categorical="ordinal")


def test_marginal_distances_known_values():
    rng = np.random.default_rng(0)
    n = 50_000
    real = pd.DataFrame({"x": rng.normal(0, 1, n), "y": rng.normal(0, 1, n), "c": rng.choice(["a", "b"], n)})
    real["y"] = 0.8 * real["x"] + 0.6 * real["y"]  # corr(x, y) = 0.8
    syn = pd.DataFrame({"x": rng.normal(1, 1, n), "y": rng.normal(0, 1, n),
                        "c": rng.choice(["a", "b"], n, p=[0.8, 0.2])})
    rep = marginal_distances(real, syn)
    # KS between N(0, 1) and N(1, 1) is 2·Φ(0.5) − 1
    assert rep.ks["x"] == pytest.approx(2 * stats.norm.cdf(0.5) - 1, abs=0.01)
    assert rep.ks["y"] < 0.01
    assert rep.tv["c"] == pytest.approx(0.3, abs=0.01)
    assert rep.corr_diff == pytest.approx(0.8, abs=0.02)
    same = marginal_distances(real, real)
    assert same.ks_mean == 0 and same.tv_mean == 0 and same.corr_diff == pytest.approx(0, abs=1e-12)
    assert total_variation(np.array([1, 1, 2]), np.array([3, 3, 3])) == 1.0


def test_marginals_model_space_and_records():
    cols = [ColumnSpec("g1", "gaussian"), ColumnSpec("g2", "gaussian"), ColumnSpec("k", "categorical", 3)]
    rng = np.random.default_rng(1)
    real = np.column_stack([rng.normal(size=2000), rng.normal(size=2000), rng.integers(0, 3, 2000)])
    syn = real.copy()
    syn[:, 2] = 0
    rep = marginal_distances_model_space(real, syn, cols)
    assert rep.ks == {"g1": 0.0, "g2": 0.0}
    assert rep.tv["k"] == pytest.approx(1 - np.mean(real[:, 2] == 0))
    recs = evaluation_records(m=100, l=100, marginals=rep, utility={"accuracy": 0.8, "macro_f1": 0.7})
    assert [r["metric"] for r in recs] == ["ks_mean", "ks_max", "tv_mean", "tv_max", "corr_diff", "accuracy", "macro_f1"]
    assert all(tuple(r) == RECORD_KEYS and (r["m"], r["l"], r["repeat"]) == (100, 100, 0) for r in recs)
