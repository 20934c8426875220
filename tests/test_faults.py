"""Faults under load: a worker killed mid-unit and then the driver, resumed; OUT's disk filling up
mid-run (a small tmpfs, mounted as root), resumed after space is freed."""

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

from tabaug_ray.results import ResultStore

from conftest import tabaug_here
from test_executor import tiny


def parts(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (out / "results").glob("*.parquet")}


def driver(config: Path, out: Path) -> subprocess.Popen:
    """`tabaug run` on one CPU: units run one after another, so a fault lands between two of them."""
    return subprocess.Popen([sys.executable, "-m", "tabaug_ray", "run", str(config), "--out", str(out),
                             "--no-progress", "--max-cpus", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for(condition, timeout: float = 240, step: float = 0.1) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and not condition():
        time.sleep(step)
    assert condition(), "timed out"


def unit_workers(proc: subprocess.Popen) -> list[psutil.Process]:
    """Ray workers of the driver's own local Ray running a unit (task names are unit labels)."""
    found = []
    for child in psutil.Process(proc.pid).children(recursive=True):
        try:
            if " ".join(child.cmdline()).startswith("ray::generate"):
                found.append(child)
        except psutil.Error:
            continue
    return found


def check_resumed(config: Path, out: Path, survivors: dict[str, bytes], total: int) -> None:
    rerun = tabaug_here("run", config, "--out", out, "--no-progress")  # the resume, on the module's Ray
    assert rerun.returncode == 0, rerun.stderr
    assert f"{total} units planned, {len(survivors)} already done, {total - len(survivors)} finished, 0 failed" \
        in rerun.stdout
    table = pd.read_parquet(out / "results")
    assert table.groupby(["fold", "run"]).unit_key.nunique().eq(1).all() and table.unit_key.nunique() == total
    assert not table.duplicated(["unit_key", "metric", "repeat", "preset"]).any()
    for name, data in survivors.items():  # finished once: what survived was not rewritten
        assert (out / "results" / name).read_bytes() == data
    assert ResultStore(out=out).verify() == []
    assert not [p for p in (out / "results").iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_worker_then_driver_killed_mid_run_resumes_every_unit_once(tmp_path, module_ray):
    config = tiny(tmp_path, folds=3, runs=1, epochs=150)
    out = tmp_path / "out"
    proc = driver(config, out)
    try:
        wait_for(lambda: len(parts(out)) >= 1 and unit_workers(proc))  # one unit done, the next one running
        victim = unit_workers(proc)[0]
        victim.kill()  # a worker dies in the middle of a unit: Ray retries it ...
        time.sleep(2.0)
        proc.send_signal(signal.SIGKILL)  # ... and the driver dies soon after
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    survivors = parts(out)
    assert 1 <= len(survivors) < 3, "the kills must land mid-run"
    check_resumed(config, out, survivors, total=3)


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (needs root, as the cluster test does): OUT's own disk, easy to fill."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    return filler


def test_disk_full_mid_run_stops_with_one_line_and_resumes_after_space_is_freed(tmp_path, small_disk, module_ray):
    config = tiny(tmp_path, folds=3, runs=1, epochs=30)
    out = small_disk / "out"
    proc = driver(config, out)
    try:
        wait_for(lambda: len(list((out / "results").glob("*.parquet"))) >= 1 if (out / "results").is_dir() else False,
                 step=0.05)
        filler = fill(small_disk)
        _, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    errors = [line for line in stderr.splitlines() if line.startswith("tabaug: error:")]
    assert proc.returncode == 2, stderr
    assert len(errors) == 1 and "no space left on the disk" in errors[0] and str(small_disk) in errors[0], stderr
    assert "Traceback" not in stderr
    survivors = parts(out)
    assert 1 <= len(survivors) < 3, "the disk must fill mid-run"
    assert all(ResultStore(out=out).check_part(name) is None for name in survivors)  # nothing torn
    filler.unlink()
    check_resumed(config, out, survivors, total=3)
