"""Privacy checks validated on known answers (real Adult rows, fixed seeds): copies of the training
rows leak on every measure, fresh draws from the same distribution leak on none, noisy copies read
in between; the distance is the documented one; `tabaug evaluate --train`; the pipeline's rows."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import simple_model_space
from tabaug_ray.config import parse_config
from tabaug_ray.evaluate.attacks import ATTACK_METRICS
from tabaug_ray.evaluate.privacy import (DISTANCE_METRICS, _nearest, auc_with_bootstrap, heom_embedding,
                                         model_space_kinds, privacy_report)

N_TRAIN, N_SYN = 300, 3000


@pytest.fixture(scope="module")
def adult_space(data_dir):
    """Real Adult rows in a model space: 300 training rows, 300 holdout rows, 3,000 other real rows."""
    df = pd.read_csv(data_dir / "adult.csv.gz").sample(n=2 * N_TRAIN + N_SYN, random_state=0).reset_index(drop=True)
    x, cols = simple_model_space(df)
    return x, [c.name for c in cols], model_space_kinds(cols)


def _report(x, names, kinds, synthetic):
    return privacy_report(train=x[:N_TRAIN], holdout=x[N_TRAIN:2 * N_TRAIN], synthetic=synthetic, names=names,
                          kinds=kinds, secret="income", seed=0)


@pytest.fixture(scope="module")
def readings(adult_space):
    x, names, kinds = adult_space
    rng = np.random.default_rng(0)
    copies = x[:N_TRAIN][rng.integers(0, N_TRAIN, N_SYN)]  # the `bootstrap` generator
    noisy = copies.copy()
    numeric = np.array([k == "numeric" for k in kinds])
    noisy[:, numeric] += rng.normal(0, 1.0, (N_SYN, numeric.sum()))  # one training sd per numeric column
    fresh = x[2 * N_TRAIN:]  # unseen real rows: what a perfect generator would draw
    return {name: _report(x, names, kinds, syn) for name, syn in
            (("copies", copies), ("noisy", noisy), ("fresh", fresh))}


def test_every_metric_is_reported(readings):
    for report in readings.values():
        assert list(report) == [*DISTANCE_METRICS, *ATTACK_METRICS]
        assert all(np.isfinite(v) for v in report.values())


def test_copies_of_training_rows_read_as_leaking_on_every_measure(readings):
    r = readings["copies"]
    assert r["exact_copy_rate"] == 1.0 and r["exact_copy_rate_holdout"] < 0.01
    assert r["dcr_share"] > 0.99 and r["dcr_ratio_p5"] == 0.0 and r["nndr_ratio_p5"] < 0.1
    assert r["mia_auc"] > 0.95 and r["mia_auc_low"] > 0.9
    for attack in ("singling_out", "linkability", "inference"):
        assert r[f"{attack}_risk_low"] > 0.2, attack  # the whole interval away from "no risk"


def test_fresh_draws_from_the_true_distribution_read_as_not_leaking(readings):
    r = readings["fresh"]
    assert abs(r["mia_auc"] - 0.5) < 0.05 and r["mia_auc_low"] < 0.5 < r["mia_auc_high"]
    assert abs(r["dcr_share"] - 0.5) < 0.05
    assert 0.9 < r["dcr_ratio_p5"] < 1.1 and 0.9 < r["nndr_ratio_p5"] < 1.1
    assert r["exact_copy_rate"] < 0.01
    for attack in ("singling_out", "linkability", "inference"):
        assert r[f"{attack}_risk_low"] == 0.0, attack  # the interval includes "no risk"


def test_noisy_copies_read_in_between(readings):
    copies, noisy, fresh = readings["copies"], readings["noisy"], readings["fresh"]
    assert noisy["exact_copy_rate"] == 0.0
    for metric in ("mia_auc", "dcr_share"):
        assert fresh[metric] + 0.1 < noisy[metric] < copies[metric], metric
    assert copies["dcr_ratio_p5"] < noisy["dcr_ratio_p5"] < fresh["dcr_ratio_p5"] - 0.1
    for attack in ("linkability", "inference"):
        assert fresh[f"{attack}_risk"] < noisy[f"{attack}_risk"] < copies[f"{attack}_risk"], attack


def test_same_seed_same_readings(adult_space, readings):
    x, names, kinds = adult_space
    assert _report(x, names, kinds, x[2 * N_TRAIN:]) == readings["fresh"]


def test_fast_query_counts_equal_pandas_on_anonymeters_own_queries(adult_space):
    """`_query_counts` (numpy for simple conjunctions) counts what anonymeter's `df.query` counts, on
    the multivariate queries it builds from records, its random queries (== != > < >= <= on numbers,
    == != on text) and queries only pandas can parse (`.isna()`, a failing one)."""
    from anonymeter.evaluators import singling_out_evaluator as so
    from tabaug_ray.evaluate.attacks import _frame, _query_counts, _seeded

    x, names, kinds = adult_space
    df = _frame(x[:N_TRAIN], names, kinds)
    with _seeded(3):
        medians = df.median(numeric_only=True)
        queries = [so._query_from_record(record=df.iloc[i], dtypes=df.dtypes, columns=list(so.rng.choice(
            df.columns, size=3, replace=False)), medians=medians if i % 2 else None) for i in range(150)]
        queries += so._random_queries(df, n_queries=300, n_cols=2)

    def pandas_only(query):
        try:
            return len(df.query(query, engine="python"))
        except Exception:
            return None

    # anonymeter's own queries take the numpy path: equal counts with pandas' parser switched off
    expected = [pandas_only(q) for q in queries]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pd, "eval", None)
        assert [_query_counts(q, df) for q in queries] == expected
    assert sum(c == 1 for c in expected) >= 20  # queries that single out a row are among them
    others = ["c0.isna()", "c0 >= 0 & c1.isna()", "not_a_column == 1", "c0 >= 'x'"]  # pandas' parser
    assert [_query_counts(q, df) for q in others] == [pandas_only(q) for q in others] == [0, 0, None, None]


def test_distance_is_standardised_euclidean_plus_categorical_mismatches():
    train = np.array([[0.0, 0], [2.0, 1], [4.0, 2]])  # numeric sd = sqrt(8/3); categorical codes
    a, b = np.array([[1.0, 0]]), np.array([[4.0, 2], [1.0, 0]])
    ea, eb = heom_embedding([a, b], ["numeric", "categorical"], train=train)
    d = _nearest(eb, ea, 2)[0]
    assert d[0] == 0.0  # an exact copy is at distance 0, not ~1e-7
    assert d[1] == pytest.approx(np.sqrt((3.0 / np.sqrt(8 / 3)) ** 2 + 1.0))


def test_auc_and_its_bootstrap_interval_on_known_cases():
    assert auc_with_bootstrap(np.array([2.0, 3.0]), np.array([0.0, 1.0]), seed=0) == (1.0, 1.0, 1.0)
    same = np.arange(200.0)
    auc, low, high = auc_with_bootstrap(same, same, seed=0)
    assert auc == 0.5 and low < 0.5 < high


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tabaug_ray", "evaluate", *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def adult_files(data_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("privacy_cli")
    df = pd.read_csv(data_dir / "adult.csv.gz").sample(n=900, random_state=1).reset_index(drop=True)
    df.iloc[:300].to_csv(folder / "train.csv", index=False)
    df.iloc[300:900].to_csv(folder / "real.csv", index=False)
    df.iloc[:300].sample(n=600, replace=True, random_state=0).to_csv(folder / "copies.csv", index=False)
    df.iloc[:5].to_csv(folder / "few.csv", index=False)
    df.iloc[:300].drop(columns=["age"]).to_csv(folder / "narrow.csv", index=False)
    return folder


def test_evaluate_with_train_reports_every_privacy_metric(adult_files):
    f = adult_files
    proc = _cli(f / "real.csv", f / "copies.csv", "--train", f / "train.csv", "--m", 100, "--l", 100,
                "--repeats", 1, "--json", "--threads", 1)
    assert proc.returncode == 0, proc.stderr
    privacy = json.loads(proc.stdout)["privacy"]
    assert set(DISTANCE_METRICS) | set(ATTACK_METRICS) <= set(privacy) and privacy["rows_train"] == 300
    assert privacy["exact_copy_rate"] == 1.0 and privacy["mia_auc"] > 0.9  # 600 draws miss ~13 % of the rows
    text = _cli(f / "real.csv", f / "copies.csv", "--train", f / "train.csv", "--m", 100, "--l", 100,
                "--repeats", 1, "--threads", 1)
    assert text.returncode == 0 and "membership inference AUC" in text.stdout and "singling-out risk" in text.stdout


@pytest.mark.parametrize("name, message", [("narrow.csv", "must have the same columns: missing from --train"),
                                           ("few.csv", "5 rows, privacy needs at least 10")])
def test_malformed_train_is_a_one_line_error(adult_files, name, message):
    f = adult_files
    proc = _cli(f / "real.csv", f / "copies.csv", "--train", f / name, "--m", 100, "--l", 100)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_privacy_is_on_by_default_and_hashes_like_older_configs_when_off():
    base = {"experiment": {"name": "p"}, "datasets": [{"name": "breast_cancer"}]}
    on, off = parse_config(base), parse_config({**base, "evaluation": {"privacy": False}})
    assert on.evaluation.privacy and not off.evaluation.privacy
    # results stored before the option have no privacy rows: `false` keeps their keys, `true` does not
    assert "privacy" not in off._hashable()["evaluation"] and on.section_hash("evaluation") != off.section_hash(
        "evaluation")
    mlda = {**base, "experiment": {"name": "p", "kind": "mlda"}}  # privacy judges generators only
    assert parse_config(mlda).hash == parse_config({**mlda, "evaluation": {"privacy": False}}).hash


def test_unit_evaluation_adds_every_privacy_metric_as_rows(data_dir):
    from tabaug_ray.pipelines.base import RunContext
    from tabaug_ray.pipelines.evaluation import evaluate, unit_data

    config = parse_config({"experiment": {"name": "p", "folds": 2}, "datasets": [{"name": "adult"}],
                           "evaluation": {"repeats": 1, "utility": False}})
    ctx = RunContext(config=config, data_dir=str(data_dir))
    data = unit_data(ctx.data("adult"), config, fold=0, run=0, n=300)
    copies = data.train[np.random.default_rng(0).integers(0, len(data.train), 2000)]
    rows = evaluate(copies, data, config, seed=0, n_threads=1, with_real_reference=False)
    privacy = {r["metric"]: r["value"] for r in rows if r["metric"] in set(DISTANCE_METRICS) | set(ATTACK_METRICS)}
    assert set(privacy) == set(DISTANCE_METRICS) | set(ATTACK_METRICS)
    assert privacy["exact_copy_rate"] == 1.0 and privacy["dcr_share"] > 0.99 and privacy["mia_auc"] > 0.95


def test_report_has_a_privacy_table_and_the_fidelity_versus_privacy_plot(tmp_path):
    from test_report import inductive_bias_rows, write_parts

    from tabaug_ray.report.build import build_report
    from tabaug_ray.report.render import render_markdown

    rows = inductive_bias_rows(datasets=("adult",), folds=2, runs=1, with_failed=False)
    leak = {"low_data": 0.55, "big_data": 0.5, "pretrain": 0.6, "avg": 0.8, "drs": 0.52}
    for row in [r for r in rows if r["metric"] == "js"]:
        for metric in (*DISTANCE_METRICS, *ATTACK_METRICS):
            value = leak[row["scenario"]] if metric.startswith("mia_auc") else 0.1
            rows.append({**row, "metric": metric, "value": value, "m": None, "l": None})
    report = build_report(write_parts(tmp_path / "out", rows))
    assert not set(report.summary["metric"]) & (set(DISTANCE_METRICS) | set(ATTACK_METRICS))  # own table only
    table = report.privacy.set_index("scenario")
    assert set(table.index) == set(leak) and table.loc["avg", "MIA AUC (0.5)"].startswith("0.800")
    assert "fidelity_vs_privacy" in [p.name for p in report.plots]
    assert "## Privacy" in render_markdown(report)
