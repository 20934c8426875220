"""`tabaug datasets` through the real console entry point."""

from __future__ import annotations

import subprocess
import sys

from tabaug_ray.cli import main


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tabaug_ray", *args], capture_output=True, text=True, env=env)


def test_datasets_list_shows_all_manifest_rows(data_dir):
    proc = run("datasets", "list", "--data-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[1:]}
    assert lines["adult"][1:4] == ["32561", "14", "binary"]
    assert lines["diamonds"][1] == "53940"
    manifest_rows = [line for line in proc.stdout.splitlines() if str(data_dir) in line]
    assert len(manifest_rows) == 24
    assert "breast_cancer" in lines and "569" in lines["breast_cancer"]


def test_datasets_show_adult(data_dir, capsys):
    assert main(["datasets", "show", "adult", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "declared categorical columns: 8" in out
    assert "missing values: workclass (1836), occupation (1843), native-country (583)" in out
    row = next(line for line in out.splitlines() if line.startswith("workclass"))
    assert row.split()[2:4] == ["categorical", "5.64"]


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, data_dir):
    proc = run("datasets", "show", "nope", "--data-dir", str(data_dir))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "unknown dataset 'nope'" in proc.stderr
    proc = run("datasets", "list", "--data-dir", str(tmp_path))
    assert proc.returncode == 2 and "no MANIFEST.tsv" in proc.stderr
