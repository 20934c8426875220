"""`tabaug evaluate REAL SYNTHETIC` on CSV / Parquet files made from a real dataset."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabaug_ray.cli import main

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable  # the interpreter running the tests (any venv)
SMALL = ["--m", "1500", "--l", "500", "--repeats", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def files(data_dir, tmp_path_factory):
    """Two disjoint halves of Adult (same distribution) and a copy whose columns are shuffled independently."""
    tmp = tmp_path_factory.mktemp("evaluate")
    df = pd.read_csv(data_dir / "adult.csv.gz")
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(df))
    a = df.iloc[idx[:3000]].reset_index(drop=True)
    b = df.iloc[idx[3000:6000]].reset_index(drop=True)
    shuffled = b.copy()
    for col in shuffled.columns:
        shuffled[col] = rng.permutation(shuffled[col].to_numpy())
    paths = {"a": tmp / "real.csv", "b": tmp / "half.parquet", "shuffled": tmp / "shuffled.csv.gz"}
    a.to_csv(paths["a"], index=False)
    b.to_parquet(paths["b"], index=False)
    shuffled.to_csv(paths["shuffled"], index=False)
    broken = b.drop(columns=["education"])
    paths["missing_col"] = tmp / "missing_col.csv"
    broken.to_csv(paths["missing_col"], index=False)
    garbage = b.astype({"age": object})
    garbage.loc[17, "age"] = "forty-two"
    paths["garbage"] = tmp / "garbage.csv"
    garbage.to_csv(paths["garbage"], index=False)
    paths["tmp"] = tmp
    return paths


def _run_json(capsys, *argv) -> dict:
    assert main(["evaluate", *map(str, argv), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1  # one JSON object on one line
    return json.loads(out[0])


def test_same_distribution_vs_shuffled_columns(files, capsys):
    records = files["tmp"] / "records.csv"
    same = _run_json(capsys, files["a"], files["b"], *SMALL, "--target", "income", "--records", records)
    for key in ("kl", "kl_std", "js", "js_std", "auc", "auc_std"):
        assert isinstance(same[key], float)
    assert (same["m"], same["l"], same["repeats"]) == (1500, 500, 2)
    assert abs(same["js"]) < 0.05 and abs(same["kl"]) < 0.2 and same["auc"] < 0.6, same
    assert same["marginals"]["ks_mean"] < 0.05
    util = same["utility"]
    assert util["task"] == "binary" and util["real"]["accuracy"] > 0.7 and util["synthetic"]["accuracy"] > 0.7

    shuffled = _run_json(capsys, files["a"], files["shuffled"], *SMALL)
    # the marginals are identical in law, the joint distribution is not
    assert shuffled["marginals"]["ks_mean"] < 0.05
    assert shuffled["marginals"]["corr_diff"] > same["marginals"]["corr_diff"]
    assert shuffled["js"] > same["js"] + 0.2 and shuffled["kl"] > same["kl"] + 0.5, shuffled
    assert shuffled["auc"] > 0.8

    table = pd.read_csv(records)
    assert list(table.columns) == ["metric", "value", "m", "l", "repeat"]
    kl_rows = table[table.metric == "kl"]
    assert list(kl_rows.repeat) == [0, 1] and np.allclose(kl_rows.value.mean(), same["kl"])
    assert {"js", "auc", "ks_mean", "tv_mean", "corr_diff", "accuracy", "macro_f1", "accuracy_real"} <= set(table.metric)
    assert set(table.m) == {1500} and set(table.l) == {500}


def test_judge_flags_train_the_discriminator_longer(files, capsys):
    """--judge-*: a discriminator stopped after one epoch barely tells shuffled columns from real ones;
    the default judge does."""
    short = _run_json(capsys, files["a"], files["shuffled"], *SMALL, "--judge-max-epochs", "1", "--judge-lr", "1e-4")
    default = _run_json(capsys, files["a"], files["shuffled"], *SMALL)
    assert default["js"] > short["js"] + 0.1, (short["js"], default["js"])


def test_human_readable_output(files, capsys):
    assert main(["evaluate", str(files["a"]), str(files["b"]), "--preset", "realistic", "--repeats", "2",
                 "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "KL(real || synthetic)" in out and "JS" in out and "C2ST ROC-AUC" in out
    assert "M=100 L=100, 2 repeats" in out


@pytest.mark.parametrize(
    "case, extra, message",
    [
        ("missing_col", [], r"must have the same columns: missing from SYNTHETIC missing_col.csv: 'education'"),
        ("garbage", [], r"column 'age' is numeric in REAL real.csv but SYNTHETIC garbage.csv has non-numeric value 'forty-two'"),
        ("b", [], r"has 3000 rows but M \+ 2L = 7500 \+ 2·1000 = 9500 are needed"),
        ("b", ["--m", "100", "--l", "50", "--target", "salary"], r"--target 'salary' is not a column"),
        ("nope", [], r"nope.csv: no such file"),
        ("b", ["--judge-patience-steps", "0"], r"--judge-\*: field 'patience_steps': Input should be greater than or equal to 1"),
    ],
)
def test_errors_exit_2_with_one_line(files, capsys, case, extra, message):
    syn = files.get(case, files["tmp"] / "nope.csv")
    assert main(["evaluate", str(files["a"]), str(syn), *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("tabaug: error: ")
    assert re.search(message, err), err


def test_subprocess(files):
    ok = subprocess.run(
        [PYTHON, "-m", "tabaug_ray", "evaluate", str(files["a"]), str(files["shuffled"]),
         "--preset", "realistic", "--repeats", "2", "--seed", "3", "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert {"kl", "kl_std", "js", "js_std", "auc"} <= set(out) and out["m"] == 100 and out["seed"] == 3
    bad = subprocess.run(
        [PYTHON, "-m", "tabaug_ray", "evaluate", str(files["a"]), str(files["missing_col"])],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("tabaug: error: ")
