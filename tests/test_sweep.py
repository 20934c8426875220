"""`tabaug sweep`: Ray Tune + Optuna over config fields of a real (small) MLDA experiment."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import ray

from tabaug_ray.cli import main
from tabaug_ray.distributed.sweep import apply_overrides, load_sweep
from tabaug_ray.errors import TabaugError

from conftest import mlda_toml

BASE = mlda_toml("sweep_base", etas=[0.05], volumes=[200], augmenters=["mlda"],
                 student_params={"max_epochs": 40, "patience": 5})
# what the sweep runs: one fold, a small student and no reference (the test checks the sweep's
# bookkeeping and that its best value is reproduced, not the scores)
RUN_BASE = mlda_toml("sweep_base", folds=1, etas=[0.05], volumes=[200], augmenters=["mlda"],
                     student_params={"max_epochs": 15, "patience": 5}, references=False)

SWEEP = """
[sweep]
config = "base.toml"
metric = "val_nrmse"
mode = "min"
where = { scenario = "mlda" }
num_samples = 3
max_concurrent = 1
seed = 7

[sweep.space]
"mlda.etas" = { kind = "loguniform", low = 0.01, high = 0.2 }
"mlda.volumes" = { kind = "choice", values = [100, 400] }
"""


@pytest.fixture
def sweep_file(tmp_path):
    (tmp_path / "base.toml").write_text(RUN_BASE)
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP)
    yield path
    ray.shutdown()


def test_sweep_writes_trials_and_best_and_resumes(sweep_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(sweep_file), "--out", str(out), "--max-cpus", "2"]) == 0
    trials = pd.read_csv(out / "sweep" / "trials.csv")
    assert len(trials) == 3 and trials["val_nrmse"].notna().all() and sorted(trials["trial"]) == [1, 2, 3]
    assert trials["mlda.etas"].between(0.01, 0.2).all() and set(trials["mlda.volumes"]) <= {100, 400}
    best = json.loads((out / "sweep" / "best.json").read_text())
    assert best["best_value"] == pytest.approx(trials["val_nrmse"].min())
    assert best["best_config"]["mlda"]["etas"] == [best["best_params"]["mlda.etas"]]
    # the objective is the trial's own validation metric: re-running the best config reproduces it
    from tabaug_ray.distributed.sweep import trial_objective

    sweep, base, _ = load_sweep(sweep_file)
    value, _ = trial_objective(apply_overrides(base, best["best_params"]), metric="val_nrmse",
                               where={"scenario": "mlda"}, data_dir=None, cpus=1)
    assert value == pytest.approx(best["best_value"], rel=1e-6)
    # every trial's rows are in OUT/results, so `tabaug report OUT` shows the trials and the sweep
    from tabaug_ray.report.build import build_report

    parts = {p.name.split("-")[0] for p in (out / "results").glob("*.parquet")}
    assert parts == set(trials["trial_id"])
    report = build_report(out, with_plots=False)
    assert report.sweep_best["best_value"] == best["best_value"] and len(report.sweep_trials) == 3
    rows = report.summary[(report.summary["metric"] == "val_nrmse") & (report.summary["scenario"] == "mlda")]
    assert len(rows) == trials[["mlda.etas", "mlda.volumes"]].drop_duplicates().shape[0]  # one row per trial setting
    # resuming a finished sweep adds no trials and keeps the same best
    assert main(["sweep", str(sweep_file), "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "sweep" / "trials.csv")) == 3
    assert json.loads((out / "sweep" / "best.json").read_text())["best_value"] == best["best_value"]


def test_bad_sweep_files_are_one_line_errors(tmp_path):
    (tmp_path / "base.toml").write_text(BASE)
    bad = tmp_path / "bad.toml"
    bad.write_text(SWEEP.replace('"mlda.volumes"', '"mlda.volume"'))
    with pytest.raises(TabaugError, match="does not name a config field"):
        load_sweep(bad)
    bad.write_text(SWEEP.replace("low = 0.01", "low = 0.5"))
    with pytest.raises(TabaugError, match="sweep.space.mlda.etas.*low < high"):
        load_sweep(bad)
