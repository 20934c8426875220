"""Data layer on real data: registry, schema inference, transforms and splits."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tabaug_ray.data import registry
from tabaug_ray.data.registry import load_dataset, load_file, load_openml, openml_cache_paths
from tabaug_ray.data.schema import infer_schema
from tabaug_ray.data.splits import covering_subsample, kfold, make_split
from tabaug_ray.data.transform import TabularTransform
from tabaug_ray.errors import TabaugError


@pytest.fixture(scope="module")
def adult(data_dir):
    return load_dataset("adult", data_dir=data_dir)


def test_manifest_datasets_load_with_true_row_counts(data_dir):
    manifest = registry.read_manifest(data_dir)
    assert len(manifest) == 24
    for name in ("adult", "concrete_compressive_strength", "medical_insurance"):
        ds = load_dataset(name, data_dir=data_dir)
        assert ds.n_rows == int(manifest.loc[name, "rows"])
        assert ds.n_features == int(manifest.loc[name, "n_features"])
        assert ds.target in ds.frame.columns


def test_aliases_resolve_to_data_dir(data_dir):
    king = load_dataset("king", data_dir=data_dir)
    assert king.target == "price" and king.n_rows == 21613 and king.task == "regression"
    letter = load_dataset("letter", data_dir=data_dir)
    assert letter.task == "multiclass" and letter.frame[letter.target].nunique() == 26


def test_data_dir_from_environment(data_dir, monkeypatch):
    monkeypatch.setenv("TABAUG_DATA_DIR", str(data_dir))
    assert load_dataset("abalone").n_rows == 4177


def test_bundled_datasets_need_no_data_dir(monkeypatch):
    monkeypatch.delenv("TABAUG_DATA_DIR", raising=False)
    ds = load_dataset("breast_cancer")
    assert ds.task == "binary" and ds.n_rows == 569 and set(ds.frame["target"].unique()) == {0, 1}
    assert load_dataset("diabetes").task == "regression"


def test_unknown_dataset_is_a_clear_error(data_dir):
    with pytest.raises(TabaugError, match="unknown dataset 'nope'"):
        load_dataset("nope", data_dir=data_dir)


def test_local_files_csv_and_parquet(tmp_path, data_dir):
    frame = pd.read_csv(data_dir / "medical_insurance.csv.gz")
    frame.to_parquet(tmp_path / "ins.parquet")
    ds = load_file(tmp_path / "ins.parquet", target="charges", task="regression", categorical=["sex", "smoker"])
    assert ds.n_rows == 1338 and ds.categorical == ("sex", "smoker")
    with pytest.raises(TabaugError, match="target column 'nope' not found"):
        load_file(data_dir / "medical_insurance.csv.gz", target="nope", task="regression")
    with pytest.raises(TabaugError, match="file not found"):
        load_file(tmp_path / "missing.csv", target="y", task="regression")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(TabaugError, match="bad.parquet: cannot read"):
        load_file(tmp_path / "bad.parquet", target="y", task="regression")


def test_openml_loads_offline_from_its_cache(tmp_path, monkeypatch, data_dir):
    """The cache a download writes (Parquet + JSON) is what later loads read, with no network."""
    monkeypatch.setenv("TABAUG_CACHE_DIR", str(tmp_path))
    frame = pd.read_csv(data_dir / "wine_quality_red.csv.gz")
    table, meta = openml_cache_paths("id40691")
    table.parent.mkdir(parents=True)
    frame.to_parquet(table, index=False)
    meta.write_text(json.dumps({"data_id": 40691, "name": "wine-quality-red", "target": "quality", "categorical": []}))
    ds = load_dataset("openml:40691")
    assert ds.n_rows == 1599 and ds.target == "quality" and ds.source == "openml:40691"
    assert ds.task == "multiclass"  # integer labels: guessed as classes unless the config says otherwise
    assert load_openml(data_id=40691, task="regression").task == "regression"


def test_openml_without_cache_or_network_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TABAUG_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(registry, "_download_openml", _offline_download)
    with pytest.raises(TabaugError, match="openml 99999"):
        load_dataset("openml:99999")


def _offline_download(**kwargs):
    raise TabaugError(f"openml {kwargs['data_id']}: download failed and no cached copy (offline)")


def test_schema_rules_on_adult(adult):
    schema = infer_schema(adult.frame, target=adult.target, task=adult.task, categorical=adult.categorical)
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds["age"] == "gaussian" and kinds["fnlwgt"] == "gaussian"
    assert kinds["education-num"] == "categorical"  # integer with 16 values
    assert kinds["sex"] == "bernoulli" and kinds["income"] == "bernoulli"
    assert kinds["native-country"] == "categorical"
    assert schema.column("workclass").n_categories == 8  # missing values are not a category


def test_schema_drops_constant_and_id_columns_and_honours_overrides(adult):
    frame = adult.frame.head(500).copy()
    frame["row_id"] = np.arange(500)
    frame["constant"] = 7.0
    with pytest.warns(UserWarning, match="dropping column 'row_id'"):
        schema = infer_schema(frame, target="income", task="binary", overrides={"education-num": "gaussian"})
    assert set(schema.dropped) == {"row_id", "constant"}
    assert schema.column("education-num").kind == "gaussian"
    with pytest.raises(TabaugError, match="holds text and cannot be gaussian"):
        infer_schema(frame, target="income", task="binary", overrides={"workclass": "gaussian"})


def test_regression_target_is_gaussian(data_dir):
    ds = load_dataset("wine_quality_red", data_dir=data_dir)
    schema = infer_schema(ds.frame, target=ds.target, task="regression")
    assert schema.column("quality").kind == "gaussian"


def test_transform_round_trip_and_imputation(adult):
    schema = infer_schema(adult.frame, target=adult.target, task=adult.task, categorical=adult.categorical)
    train = adult.frame.iloc[:2000]
    tf = TabularTransform(schema=schema).fit(train)
    matrix = tf.transform(train)
    assert matrix.dtype == np.float32 and not np.isnan(matrix).any()
    age = schema.index("age")
    assert abs(matrix[:, age].mean()) < 1e-4 and abs(matrix[:, age].std() - 1) < 1e-3
    imputed = {i.column: i.count for i in tf.imputations_}
    assert imputed == {c: int(train[c].isna().sum()) for c in ("workclass", "occupation", "native-country")
                       if train[c].isna().any()}
    back = tf.inverse_transform(matrix)
    assert list(back.columns) == schema.names
    for col in schema.names:
        assert back[col].dtype == train[col].dtype, col
    complete = train.dropna().index
    pd.testing.assert_frame_equal(back.loc[complete].reset_index(drop=True),
                                  train.loc[complete, schema.names].reset_index(drop=True), check_exact=False)


def test_kfold_is_a_partition_and_deterministic():
    folds = kfold(103, n_folds=5, seed=3)
    tests = np.concatenate([t for _, t in folds])
    assert sorted(tests.tolist()) == list(range(103))
    for train, test in folds:
        assert not set(train) & set(test) and len(train) + len(test) == 103
    again = kfold(103, n_folds=5, seed=3)
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again))
    assert any((a[1] != b[1]).any() for a, b in zip(folds, kfold(103, n_folds=5, seed=4)))


def test_low_data_subsample_covers_every_category(adult):
    schema = infer_schema(adult.frame, target=adult.target, task=adult.task, categorical=adult.categorical)
    codes = TabularTransform(schema=schema).fit(adult.frame).transform(adult.frame)
    cat_cols = [schema.index(c.name) for c in schema.columns if c.kind != "gaussian"]
    cat_codes = codes[:, cat_cols].astype(int)
    rows = covering_subsample(np.arange(adult.n_rows), n=300, codes=cat_codes, seed=0)
    assert len(rows) == 300 and len(set(rows)) == 300
    for j in range(cat_codes.shape[1]):
        assert set(cat_codes[rows, j]) == set(cat_codes[:, j])
    assert (covering_subsample(np.arange(adult.n_rows), n=300, codes=cat_codes, seed=0) == rows).all()
    with pytest.raises(TabaugError, match="asked for 40000 rows"):
        covering_subsample(np.arange(adult.n_rows), n=40000, codes=None, seed=0)


def test_unit_split_pools_are_disjoint_from_training_rows(adult):
    split = make_split(adult.n_rows, fold=1, n_folds=5, run=0, seed=0, n=300, m=7500, l=1000)
    train = set(split.train)
    assert len(train) == 300 and not train & set(split.test)
    pools = [set(rows) for rows in split.eval_rows(7500, 1000)]
    assert [len(p) for p in pools] == [7500, 1000, 1000]
    assert not any(train & p for p in pools)
    assert not (pools[0] & pools[1]) and not (pools[1] & pools[2]) and not (pools[0] & pools[2])
    small = split.eval_rows(100, 100)
    assert set(small[0]) <= pools[0] and len(small[1]) == len(small[2]) == 100
    other_run = make_split(adult.n_rows, fold=1, n_folds=5, run=1, seed=0, n=300, m=100, l=100)
    assert set(other_run.train) != train
    with pytest.raises(TabaugError, match="M \\+ 2L = 60000"):
        make_split(adult.n_rows, fold=0, n_folds=5, run=0, seed=0, n=300, m=40000, l=10000)


def test_config_entry_can_drop_columns(data_dir):
    from tabaug_ray.config import DatasetEntry
    from tabaug_ray.pipelines.base import load_entry

    ds = load_entry(DatasetEntry(name="adult", drop=("education-num",)), str(data_dir))
    assert "education-num" not in ds.frame.columns and ds.n_features == 13
    with pytest.raises(TabaugError, match="cannot drop \\['nope'\\]"):
        load_entry(DatasetEntry(name="adult", drop=("nope",)), str(data_dir))
    with pytest.raises(TabaugError, match="cannot drop \\['income'\\]"):
        load_entry(DatasetEntry(name="adult", drop=("income",)), str(data_dir))


def test_config_entry_cuts_turn_numeric_columns_into_categorical_intervals(data_dir):
    from pydantic import ValidationError

    from tabaug_ray.config import DatasetEntry
    from tabaug_ray.pipelines.base import load_entry

    raw = load_entry(DatasetEntry(name="adult"), str(data_dir)).frame
    entry = DatasetEntry(name="adult", cuts={"hours-per-week": (40, 45), "capital-gain": (0,)})
    ds = load_entry(entry, str(data_dir))
    hours = ds.frame["hours-per-week"]
    assert set(hours) == {"<= 40", "(40, 45]", "> 45"} and "hours-per-week" in ds.categorical
    assert (hours == "<= 40").sum() == (raw["hours-per-week"] <= 40).sum()
    assert (hours == "> 45").sum() == (raw["hours-per-week"] > 45).sum()
    assert (ds.frame["capital-gain"] == "> 0").sum() == (raw["capital-gain"] > 0).sum() > 0
    assert ds.fingerprint != load_entry(DatasetEntry(name="adult"), str(data_dir)).fingerprint  # new unit keys
    with pytest.raises(TabaugError, match="cuts.workclass: the column is not numeric"):
        load_entry(DatasetEntry(name="adult", cuts={"workclass": (1,)}), str(data_dir))
    with pytest.raises(TabaugError, match="cuts.income: unknown column or the target"):
        load_entry(DatasetEntry(name="adult", cuts={"income": (1,)}), str(data_dir))
    with pytest.raises(ValidationError, match="strictly increasing"):
        DatasetEntry(name="adult", cuts={"age": (40, 30)})
