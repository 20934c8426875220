"""The Ray execution layer on a real local Ray and real (small) experiments: resume, crashes of
the driver and of workers, failed units."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from tabaug_ray.config import load_config
from tabaug_ray.distributed.executor import Executor
from tabaug_ray.distributed.store import ResultStore
from tabaug_ray.pipelines.base import RunContext

from conftest import mlda_toml, tabaug_here

TINY = """
[experiment]
name = "tiny"
kind = "inductive_bias"
folds = {folds}
runs = {runs}

[[datasets]]
name = "breast_cancer"

[inductive_bias]
scenarios = ["low_data"]
n_low = 100
n_synthetic = 400

[vae]
n_seeds = 2
max_epochs = {epochs}

[evaluation]
presets = ["realistic"]
repeats = 1
utility = false
"""


def tiny(tmp_path: Path, *, folds=2, runs=1, epochs=30, name="tiny.toml") -> Path:
    path = tmp_path / name
    path.write_text(TINY.format(folds=folds, runs=runs, epochs=epochs))
    return path


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tabaug_ray", *args], capture_output=True, text=True, **kwargs)


def test_run_writes_every_unit_and_resume_skips_them(tmp_path):
    config = tiny(tmp_path)
    out = tmp_path / "out"
    first = cli("run", str(config), "--out", str(out), "--no-progress", "--max-cpus", "2")
    assert first.returncode == 0, first.stderr
    assert "2 units planned, 0 already done, 2 finished, 0 failed" in first.stdout
    table = pd.read_parquet(out / "results")
    assert set(zip(table.fold, table.run)) == {(0, 0), (1, 0)}
    assert {"js", "kl", "auc"} <= set(table.metric) and (table.scenario == "low_data").all()
    assert (out / "config.toml").read_text() == config.read_text()
    before = {p.name: p.read_bytes() for p in (out / "results").iterdir()}
    again = cli("run", str(config), "--out", str(out), "--no-progress")
    assert again.returncode == 0, again.stderr
    assert "2 units planned, 2 already done, 0 finished, 0 failed" in again.stdout
    assert {p.name: p.read_bytes() for p in (out / "results").iterdir()} == before


def test_same_config_gives_the_same_numbers(tmp_path, module_ray):
    config = load_config(tiny(tmp_path, folds=2))
    tables = []
    for name in ("a", "b"):
        Executor(ctx=RunContext(config=config), out=tmp_path / name, config_text="", progress=False).run()
        table = ResultStore(out=tmp_path / name).read()
        tables.append(table[table.metric.isin(["js", "kl", "val_loss"])].sort_values(["unit_key", "metric"]))
    pd.testing.assert_series_equal(tables[0].value.reset_index(drop=True), tables[1].value.reset_index(drop=True))


def test_per_seed_tasks_give_the_batched_numbers(tmp_path, module_ray):
    text = tiny(tmp_path, folds=2).read_text()
    tables = []
    for name, extra in (("batched", ""), ("per_seed", "\n[execution]\nseed_tasks = true\n")):
        path = tmp_path / f"{name}.toml"
        path.write_text(text + extra)
        Executor(ctx=RunContext(config=load_config(path)), out=tmp_path / name, config_text="", progress=False).run()
        table = ResultStore(out=tmp_path / name).read()
        tables.append(table[table.metric.isin(["js", "kl", "val_loss"])].sort_values(["fold", "metric", "repeat"]))
    assert len(tables[0]) == 6
    assert tables[0].value.tolist() == pytest.approx(tables[1].value.tolist(), rel=1e-5)


def test_driver_killed_with_sigkill_resumes_without_loss_or_duplicates(tmp_path, module_ray):
    config = tiny(tmp_path, folds=1, runs=3, epochs=60)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "tabaug_ray", "run", str(config), "--out", str(out), "--no-progress",
            "--max-cpus", "1"]
    driver = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and len(list((out / "results").glob("*.parquet"))) < 1:
        time.sleep(0.2)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    survivors = {p.name: p.read_bytes() for p in (out / "results").glob("*.parquet")}
    assert 1 <= len(survivors) < 3, "the kill must land mid-run"
    rerun = tabaug_here("run", config, "--out", out, "--no-progress")  # the resume, on this module's Ray
    assert rerun.returncode == 0, rerun.stderr
    assert f"3 units planned, {len(survivors)} already done, {3 - len(survivors)} finished" in rerun.stdout
    table = pd.read_parquet(out / "results")
    assert table.groupby(["fold", "run"]).unit_key.nunique().eq(1).all()
    assert len(set(zip(table.fold, table.run))) == 3
    assert not table.duplicated(["unit_key", "metric", "repeat", "preset"]).any()
    for name, data in survivors.items():
        assert (out / "results" / name).read_bytes() == data


def _kill_first_worker(prefix: str, killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the first worker of OUR Ray (a descendant of this process: the local Ray's raylet is
    our child) whose command line starts with `prefix`; other Ray instances on the machine are spared."""
    while not stop.is_set():
        for proc in psutil.Process().children(recursive=True):
            try:
                cmd = " ".join(proc.cmdline())
            except psutil.Error:
                continue
            if cmd.startswith(prefix):
                proc.kill()
                killed.append(proc.pid)
                return
        time.sleep(0.05)


def test_worker_killed_mid_unit_is_retried(tmp_path, module_ray):
    config = load_config(tiny(tmp_path, folds=2, epochs=200))
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_first_worker, args=("ray::generate", killed, stop), daemon=True)
    killer.start()
    try:
        summary = Executor(ctx=RunContext(config=config), out=tmp_path / "out", config_text="", progress=False,
                           max_cpus=2).run()
    finally:
        stop.set()
    assert killed, "no worker was running a unit"
    assert summary.ok and summary.finished == 2
    assert ResultStore(out=tmp_path / "out").done_keys().__len__() == 2


def bad_teacher(n_jobs: int) -> str:
    """Per fold: an extra-trees teacher (fails with n_jobs=0), a `none` and an `mlda` student."""
    return mlda_toml("bad_teacher", volumes=[200], augmenters=["none", "mlda"], teachers=["extra_trees"],
                     teacher_params={"extra_trees": {"n_jobs": n_jobs}}, student_params={"max_epochs": 30},
                     references=False)


def test_failed_units_are_recorded_reported_and_retried(tmp_path, module_ray):
    config = tmp_path / "bad.toml"
    config.write_text(bad_teacher(n_jobs=0))
    out = tmp_path / "out"
    proc = tabaug_here("run", config, "--out", out, "--no-progress")
    assert proc.returncode == 1
    # per fold: the teacher fails, the mlda student that needs it fails, the `none` student finishes
    assert "6 units planned, 0 already done, 2 finished, 4 failed" in proc.stdout
    failed_lines = [line for line in proc.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed_lines) == 4
    store = ResultStore(out=out)
    failures = store.failures()
    assert sorted(f["kind"] for f in failures) == ["student", "student", "teacher", "teacher"]
    teacher_failure = next(f for f in failures if f["kind"] == "teacher")
    assert "n_jobs must be >= 1" in teacher_failure["error"] and "Traceback" in teacher_failure["traceback"]
    student_failure = next(f for f in failures if f["kind"] == "student")
    assert student_failure["error"].startswith("dependency failed: teacher[diabetes")
    table = store.read()
    assert set(table.scenario) == {"none"}  # the units that could finish did
    again = tabaug_here("run", config, "--out", out, "--no-progress")
    assert again.returncode == 1  # failures are retried, not skipped
    assert "6 units planned, 2 already done, 0 finished, 4 failed" in again.stdout
