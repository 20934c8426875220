"""MLDA's reference points, validation-gated MLDA and FAST-DAD rows end to end through `tabaug run`, with a
deterministic TPOT budget: two runs give bit-identical numbers (real local Ray, TPOT, LightGBM, torch)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tabaug_ray.report.build import build_report
from tabaug_ray.report.mlda import COMPRESSION
from tabaug_ray.report.render import render_markdown

from conftest import mlda_toml, tabaug_here

REPO = Path(__file__).resolve().parents[1]

CONFIG = mlda_toml("mlda_refs", folds=1, train_sizes=[150], etas=[0.01, 0.1],
                   augmenters=["none", "mlda", "mlda_gated", "distill_spunge", "distill_munge"], teachers=["tpot"],
                   teacher_params={"tpot": {"budget": "generations", "generations": 2, "population_size": 4, "cv": 3,
                                            "search_space": "linear-light", "inner_regressors": False,
                                            "dask": "threads"}},
                   student_params={"max_epochs": 10, "patience": 3})  # the gate's checks hold either way


def run(config: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tabaug_ray", "run", str(config), "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, cwd=REPO)


def test_references_gate_and_distill_rows_with_a_deterministic_tpot_budget(tmp_path, data_dir, module_ray):
    config = tmp_path / "refs.toml"
    config.write_text(CONFIG)
    tables = []
    # the first run in this process on the module's Ray, the second in a fresh process with its own
    # Ray: bit-identical across processes, not only across warm workers
    for out, runner in (("a", lambda c, o: tabaug_here("run", c, "--out", o, "--no-progress")), ("b", run)):
        proc = runner(config, tmp_path / out)
        assert proc.returncode == 0, proc.stderr
        # teacher + reference + none + 2 mlda + gated + 2 distill
        assert "8 units planned, 0 already done, 8 finished, 0 failed" in proc.stdout, proc.stdout
        tables.append(pd.read_parquet(tmp_path / out / "results"))
    # issue 21: with generations x population instead of minutes, two runs are bit-identical
    key = ["unit_key", "metric"]
    a, b = [t[~t.metric.str.endswith("seconds")].sort_values(key).reset_index(drop=True) for t in tables]
    pd.testing.assert_frame_equal(a[key], b[key])
    np.testing.assert_array_equal(a.value.to_numpy(), b.value.to_numpy())
    t = tables[0]
    rmse = t[t.metric == "rmse"]
    # reference points: the teacher and LightGBM (default settings) on real rows, once per fold
    assert rmse.groupby("model").size().to_dict() == {"mlp": 6, "reference:lightgbm_default": 1, "teacher:tpot": 1}
    # the gate: teacher labels only where the teacher beats the real-rows student on validation rows
    wide = t.pivot_table(index=["fold", "scenario", "eta"], columns="metric", values="value", dropna=False)
    for fold in (0,):
        rows = t[t.fold == fold]
        val = rows[rows.metric == "val_rmse"]
        teacher_val = val[val.model == "teacher:tpot"].value.item()
        used = rows[(rows.scenario == "mlda_gated") & (rows.metric == "teacher_used")].value.item()
        assert used == float(teacher_val < val[val.scenario == "none"].value.item())
        gated = rows[(rows.scenario == "mlda_gated") & (rows.metric == "rmse")].value.item()
        if used:  # the chosen eta's student is exactly the mlda unit at that eta (same rows, same seed)
            eta = rows[(rows.scenario == "mlda_gated") & (rows.metric == "chosen_eta")].value.item()
            assert gated == wide.loc[(fold, "mlda", eta), "rmse"]
        else:  # the real-rows student: exactly the `none` unit
            assert gated == rows[(rows.scenario == "none") & (rows.metric == "rmse")].value.item()
    synthetic = t[(t.metric == "n_synthetic") & t.scenario.str.startswith("distill")]
    assert set(synthetic.value) == {2.0 * 120}  # 2x the fit rows (150 less 20 % validation rows)
    assert set(t.loc[t.scenario.str.startswith("distill"), "teacher"]) == {"tpot"}
    # the report: reference rows beside every augmenter, and one verdict line per student
    report = build_report(tmp_path / "a", with_plots=False)
    text = render_markdown(report)
    assert "| ref: teacher:tpot (test rows) |" in text and "| ref: lightgbm_default (real rows) |" in text
    verdict = report.teacher_verdicts.set_index("model").loc["mlp"]
    assert verdict.pairs == 1 and verdict.methods == "distill_munge, distill_spunge, mlda, mlda_gated"
    teacher = rmse[rmse.model == "teacher:tpot"].set_index("fold").value
    labelled = rmse[rmse.teacher.notna() & (rmse.model == "mlp")]
    beaten = sum(bool((labelled[labelled.fold == f].value < teacher[f]).any()) for f in (0,))
    assert verdict.pairs_beaten == beaten
    line = next(n for n in report.notes if n.startswith("mlp vs its teacher"))
    assert (COMPRESSION in line) == (beaten == 0) and line in text
