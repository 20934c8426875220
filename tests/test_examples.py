"""examples/: a user's generator plugin benchmarked against VAE-BGM and the baselines, end to end
through `tabaug run` (local Ray workers import the plugin) and `tabaug report`, and resumed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from conftest import tabaug_here
from tabaug_ray.cli import main

REPO = Path(__file__).resolve().parents[1]
PLUGIN = "examples.plugin_generators:ClassConditionalGMM"


def _tabaug(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "tabaug_ray", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)


def test_example_plugin_runs_beside_the_builtins_and_is_reported(tmp_path, capsys):
    out = tmp_path / "out"
    run = ["run", "examples/plugin_benchmark.toml", "--out", str(out), "--only", "fold=0", "--max-cpus", "2",
           "--no-progress"]
    first = _tabaug(*run)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "6 units planned, 0 already done, 6 finished, 0 failed" in first.stdout
    table = pd.read_parquet(out / "results")
    assert set(table.model) == {"vae_bgm", "gaussian_copula", "arf", "independent", "bootstrap", PLUGIN}
    js = table[table.metric == "js"].groupby("model").value.mean()
    assert js.notna().all() and js["bootstrap"] < js["independent"]  # copies of real rows look real
    # `tabaug report` in this process (the same entry point; reading results needs no worker)
    assert main(["report", str(out), "--metric", "js", "--out", str(out / "report.md")]) == 0, capsys.readouterr().err
    text = (out / "report.md").read_text()
    assert PLUGIN in text and "gaussian_copula" in text
    capsys.readouterr()
    assert main(["report", str(out), "--metric", "js", "--compare-models", "--baseline", "vae_bgm"]) == 0
    ranked = capsys.readouterr().out
    assert "Wilcoxon signed-rank tests against vae_bgm" in ranked
    assert f"| js | all | {PLUGIN} |" in ranked  # the plugin is a method beside the baselines
    again = _tabaug(*run)  # resume: the plugin's units are recognised as done
    assert again.returncode == 0 and "6 units planned, 6 already done" in again.stdout


def test_demo_runs_both_experiments_and_renders_both_reports_in_one_process(tmp_path, module_ray):
    """`tabaug demo` on a slice of its real configs (fold 0, run 0): both experiments' units, both
    HTML reports with their Verdict, the verdict printed (resuming is `tabaug run`'s, tested there)."""
    out = tmp_path / "demo"
    first = tabaug_here("demo", "--out", out, "--only", "fold=0", "--only", "run=0", "--no-progress")  # joins module_ray
    assert first.returncode == 0, first.stderr[-3000:]
    assert "demo: 5 units planned, 0 already done, 5 finished, 0 failed" in first.stdout
    assert "demo_mlda: 4 units planned, 0 already done, 4 finished, 0 failed" in first.stdout
    synthetic, mlda = pd.read_parquet(out / "synthetic" / "results"), pd.read_parquet(out / "mlda" / "results")
    assert set(zip(synthetic.model, synthetic.scenario)) == {
        ("vae_bgm", "low_data"), ("vae_bgm", "avg"), ("vae_bgm", "drs"), ("gaussian_copula", "low_data"),
        ("arf", "low_data")}
    assert {"none", "noise", "mlda"} <= set(mlda.scenario)
    for report in ("report.html", "mlda_report.html"):
        assert "Verdict" in (out / report).read_text()
    assert first.stderr.count("Verdict:") == 2 and "too few pairs" in first.stderr  # one pair: no test claimed
    assert f"reports: {out / 'report.html'} (synthetic), {out / 'mlda_report.html'} (mlda)" in first.stdout


def test_demo_without_its_configs_is_a_one_line_error(tmp_path):
    done = _tabaug("demo", "--out", str(tmp_path / "demo"), "--experiments", str(tmp_path))  # a real exit code
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "demo.toml" in done.stderr and str(tmp_path) in done.stderr
    assert not (tmp_path / "demo").exists()  # nothing written
