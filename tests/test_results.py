"""The results table's home (`tabaug_ray.results`): torn and foreign parts are never "done" (they
are quarantined and their unit runs again) and the report names them and reports the rest, without
importing the distributed layer."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tabaug_ray.cli import main
from tabaug_ray.results import REQUIRED, ResultStore

from conftest import tabaug_here
from test_executor import tiny


def rows(key, n=3, **extra):
    base = dict(experiment="e", dataset="d", fold=0, run=0, scenario="low_data", model="vae_bgm", n=300,
                m=100, l=100, seed=1, unit_key=key, seconds=1.5, code_version="0.1.0")
    return [dict(base, metric=f"m{i}", value=float(i), **extra) for i in range(n)]


def damage(out: Path, *, torn: str | None = None, foreign: tuple[str, str] | None = None,
           empty: str | None = None) -> None:
    """Truncate part `torn`; overwrite part foreign[0] with foreign[1]'s bytes; make `empty` a
    Parquet file of a table with no result columns."""
    results = out / "results"
    if torn:
        data = (results / f"{torn}.parquet").read_bytes()
        (results / f"{torn}.parquet").write_bytes(data[: len(data) // 2])
    if foreign:
        shutil.copyfile(results / f"{foreign[1]}.parquet", results / f"{foreign[0]}.parquet")
    if empty:
        pd.DataFrame({"colour": ["red"]}).to_parquet(results / f"{empty}.parquet")


def test_verify_quarantines_torn_foreign_and_alien_parts(tmp_path, capsys):
    store = ResultStore(out=tmp_path)
    for key in ("k1", "k2", "k3", "k4"):
        store.write(key, rows(key))
    damage(tmp_path, torn="k1", foreign=("k2", "k3"), empty="k4")
    bad = store.verify()
    assert {b.name: b.reason.split(" ")[0] for b in bad} == {"k1.parquet": "unreadable", "k2.parquet": "holds",
                                                              "k4.parquet": "not"}
    assert store.done_keys() == {"k3"}
    assert sorted(p.name for p in (tmp_path / "quarantine").iterdir()) == ["k1.parquet", "k2.parquet", "k4.parquet"]
    warnings = capsys.readouterr().err.strip().splitlines()
    assert len(warnings) == 3 and all(w.startswith("tabaug: warning: ") and "quarantine" in w for w in warnings)
    assert any("k1.parquet" in w for w in warnings)
    store.write("k1", rows("k1"))
    damage(tmp_path, torn="k1")
    store.verify()  # a second quarantined copy of the same part does not overwrite the first
    assert sorted(p.name for p in (tmp_path / "quarantine").iterdir()) == ["k1.parquet", "k1.parquet.1",
                                                                            "k2.parquet", "k4.parquet"]


def test_torn_and_foreign_parts_are_rerun_on_resume(tmp_path, module_ray):
    config = tiny(tmp_path)
    out = tmp_path / "out"
    first = tabaug_here("run", config, "--out", out, "--no-progress")
    assert first.returncode == 0, first.stderr
    keys = sorted(p.stem for p in (out / "results").glob("*.parquet"))
    assert len(keys) == 2
    good = {k: pd.read_parquet(out / "results" / f"{k}.parquet") for k in keys}
    damage(out, foreign=(keys[1], keys[0]))  # a readable part holding another unit's rows
    damage(out, torn=keys[0])  # and a torn one (today: counted as done, then an ArrowInvalid traceback)
    again = tabaug_here("run", config, "--out", out, "--no-progress")
    assert again.returncode == 0, again.stderr
    assert "2 units planned, 0 already done, 2 finished, 0 failed" in again.stdout
    warnings = [line for line in again.stderr.splitlines() if line.startswith("tabaug: warning:")]
    assert len(warnings) == 2 and all("quarantine" in w and "runs again" in w for w in warnings)
    assert any(f"{keys[0]}.parquet: unreadable" in w for w in warnings)
    assert any(f"holds rows of unit {keys[0]}, not {keys[1]}" in w for w in warnings)
    assert "Traceback" not in again.stderr
    for key in keys:  # recomputed: the same numbers as the first run (times aside)
        new = pd.read_parquet(out / "results" / f"{key}.parquet")
        timed = new.metric.str.endswith("seconds")
        assert new.metric.tolist() == good[key].metric.tolist()
        assert new.value[~timed].tolist() == good[key].value[~timed].tolist()
    assert len(list((out / "quarantine").iterdir())) == 2


def test_report_names_unreadable_parts_and_reports_the_rest(tmp_path, capsys):
    store = ResultStore(out=tmp_path)
    for key, scenario in (("a", "low_data"), ("b", "avg"), ("c", "avg")):
        store.write(key, [dict(r, scenario=scenario, metric="js") for r in rows(key, n=1)])
    damage(tmp_path, torn="c")
    before = sorted(p.name for p in (tmp_path / "results").iterdir())
    code = main(["report", str(tmp_path), "--format", "md"])
    captured = capsys.readouterr()
    assert code == 0
    assert "c.parquet" in captured.err and "left out" in captured.err
    assert "c.parquet" in captured.out and "avg" in captured.out  # the note, and the rest reported
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == before  # reading moves nothing


def test_report_does_not_import_the_distributed_layer():
    code = ("import sys; import tabaug_ray.report.build, tabaug_ray.report.command, tabaug_ray.results; "
            "bad = [m for m in sys.modules if m.startswith('tabaug_ray.distributed') or m == 'ray']; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_results_module_owns_the_contract():
    from tabaug_ray.distributed import store
    from tabaug_ray.pipelines import base
    from tabaug_ray.report import aggregate

    assert store.ResultStore is ResultStore and aggregate.REQUIRED_COLUMNS == REQUIRED
    assert base.make_record.__module__ == "tabaug_ray.results"
