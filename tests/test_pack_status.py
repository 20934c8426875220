"""`tabaug results pack` (one Parquet pack per run directory, still a resume and --reuse source, the
report byte-identical), `tabaug status` beside a running `tabaug run`, and the coverage line of a
partial run's report; on a real local Ray with the smallest experiment (`test_executor.tiny`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tabaug_ray.cli import main
from tabaug_ray.pack import pack_results
from tabaug_ray.progress import read_progress
from tabaug_ray.results import ResultStore

from conftest import tabaug_here
from test_executor import tiny
from test_results import rows


def files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def report(out: Path, capsys) -> bytes:
    dest = out.parent / "report.html"
    assert main(["report", str(out), "--out", str(dest)]) == 0
    capsys.readouterr()
    return dest.read_bytes()


def status(out: Path, capsys) -> str:
    assert main(["status", str(out)]) == 0
    return capsys.readouterr().out


def test_pack_resume_reuse_status_and_coverage(tmp_path, capsys, module_ray):
    config, out = tiny(tmp_path), tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    run = subprocess.Popen([sys.executable, "-m", "tabaug_ray", "run", str(config), "--out", str(out),
                            "--only", "fold=0", "--no-progress", "--max-cpus", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = set()
    while run.poll() is None:  # from another process, while the run writes OUT
        if (out / "config.json").exists():
            text = status(out, capsys)
            seen.add("run in progress" in text and "running        1" in text)
        time.sleep(0.2)
    assert run.returncode == 0, run.stderr.read()
    assert True in seen, "status never saw the unit in flight"
    snapshot = files(out)
    text = status(out, capsys)
    assert files(out) == snapshot  # status only reads
    assert "run finished" in text and "planned        2 units" in text and "done           1 (50 %)" in text
    assert "remaining      1" in text and "ETA       ~" in text and "if run again for 1 unit(s) on 2 CPUs" in text
    progress = read_progress(out)
    assert (progress.planned, progress.done, progress.failed) == (2, 1, 0)

    before = report(out, capsys)
    assert b"This partial run covers 1 of 2 units (50 %): 0 failed, 1 not run" in before
    table = ResultStore(out=out).read()
    assert main(["results", "pack", str(out)]) == 0
    assert "packed 1 parts and 0 pack(s)" in capsys.readouterr().out
    names = sorted(p.name for p in (out / "results").iterdir())
    assert len(names) == 1 and names[0].startswith("packed-")
    assert report(out, capsys) == before  # byte-identical from the pack
    pd.testing.assert_frame_equal(ResultStore(out=out).read(), table)

    again = tabaug_here("run", config, "--out", out, "--no-progress")
    assert "2 units planned, 1 already done, 1 finished, 0 failed" in again.stdout, again.stderr
    assert len(list((out / "results").glob("*.parquet"))) == 2  # the new unit as a part beside the pack
    full = report(out, capsys)
    assert b"partial run" not in full
    assert main(["results", "pack", str(out)]) == 0
    assert "packed 1 parts and 1 pack(s)" in capsys.readouterr().out
    assert len(list((out / "results").iterdir())) == 1 and report(out, capsys) == full
    assert "done           2 (100 %)" in status(out, capsys)

    assert main(["run", str(config), "--out", str(out), "--no-progress"]) == 0  # packed units are done
    assert "2 units planned, 2 already done, 0 finished" in capsys.readouterr().out
    assert main(["run", str(config), "--out", str(tmp_path / "grown"), "--reuse", str(out), "--no-progress"]) == 0
    assert "2 already done (2 copied from --reuse), 0 finished" in capsys.readouterr().out
    pd.testing.assert_frame_equal(ResultStore(out=tmp_path / "grown").read(), ResultStore(out=out).read())


def test_a_crash_mid_pack_loses_and_doubles_nothing(tmp_path):
    store = ResultStore(out=tmp_path)
    for key in ("k1", "k2", "k3-x"):  # a NaN value (a metric that failed) must pack too
        store.write(key, rows(key) + [dict(rows(key, 1)[0], metric="nan", value=float("nan"))])
    table, k2 = store.read(), pd.DataFrame(store.read_part("k2"))
    saved = {p.name: p.read_bytes() for p in (tmp_path / "results").iterdir()}
    first = pack_results(tmp_path)
    assert (first.parts, first.units, first.rows) == (3, 3, 12)
    for name, data in saved.items():  # the crash: the pack is written, the parts not yet removed
        (tmp_path / "results" / name).write_bytes(data)
    store.write("k0", rows("k0"))  # and a unit that finished afterwards
    for reader in (ResultStore(out=tmp_path), ResultStore(out=tmp_path)):
        assert reader.done_keys() == {"k0", "k1", "k2", "k3-x"} and reader.verify() == []
        assert len(reader.read()) == 15 and reader.check_unit("k2") is None
    second = pack_results(tmp_path)
    assert (second.parts, second.packs, second.units, second.rows) == (4, 1, 4, 15)
    assert [p.name for p in (tmp_path / "results").iterdir()] == [second.pack]
    pd.testing.assert_frame_equal(ResultStore(out=tmp_path).read().iloc[3:].reset_index(drop=True), table)
    assert pack_results(tmp_path).pack == second.pack  # nothing to pack
    packed = ResultStore(out=tmp_path)
    pd.testing.assert_frame_equal(pd.DataFrame(packed.read_part("k2")), k2)  # what --reuse copies
    assert packed.check_unit("k2") is None and packed.check_unit("k9") == "not found"


def test_bad_parts_stop_a_pack_and_a_bad_pack_is_quarantined(tmp_path, capsys):
    store = ResultStore(out=tmp_path)
    for key in ("k1", "k2"):
        store.write(key, rows(key))
    part = tmp_path / "results" / "k2.parquet"
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])
    before = files(tmp_path)
    assert main(["results", "pack", str(tmp_path)]) == 2
    assert "1 bad part(s), nothing packed: k2.parquet unreadable" in capsys.readouterr().err
    assert files(tmp_path) == before
    part.write_bytes(data)
    name = pack_results(tmp_path).pack
    packed = tmp_path / "results" / name
    packed.write_bytes(packed.read_bytes()[:-100])  # torn
    assert [b.name for b in store.verify()] == [name] and store.done_keys() == set()
    assert (tmp_path / "quarantine" / name).exists()
    assert "its units run again" in capsys.readouterr().err


@pytest.mark.parametrize("make", ["missing", "not_a_run"])
def test_status_and_pack_refuse_a_bad_out_on_one_line(tmp_path, capsys, make):
    out = tmp_path / "nowhere"
    if make == "not_a_run":
        out.mkdir()
        (out / "notes.txt").write_text("hello")
    for command in (["status", str(out)], ["results", "pack", str(out)]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("tabaug: error:") and str(out) in err
        assert ("no such directory" if make == "missing" else "not a run directory") in err
    assert not out.exists() or sorted(os.listdir(out)) == ["notes.txt"]


def test_coverage_counts_and_eta_of_a_partial_run(tmp_path, capsys):
    from tabaug_ray.pipelines.base import Unit
    from tabaug_ray.progress import LiveState, save_plan

    store = ResultStore(out=tmp_path)
    units = [Unit(key=f"k{i:03d}", kind="fit", dataset="d", fold=0, run=0) for i in range(120)]
    producer = Unit(key="teacher", kind="teach", dataset="d", fold=0, run=0, writes_results=False, keep_value=True)
    save_plan(store, [producer, *units], config_hash="h", experiment="e")
    for unit in units[:37]:
        store.write(unit.key, [dict(r, seconds=10.0) for r in rows(unit.key, 1)])
    for unit in (units[0], units[50], units[51]):  # a failure later retried and done is not a failure
        store.record_failure(unit.key, {"unit_key": unit.key, "error": "boom"})
    live = LiveState(store=store, todo=[u.key for u in units[37:60]], cpus=2)
    live.update([units[40].key, units[41].key], force=True)
    progress = read_progress(tmp_path, with_eta=True)
    assert progress.coverage_line() == "covers 37 of 120 units (31 %): 2 failed, 81 not run"
    assert (progress.running, progress.remaining, progress.alive) == (2, 79, True)
    assert progress.eta_units == 21 and progress.eta_seconds == pytest.approx(21 * 10.0 / 2)
    text = status(tmp_path, capsys)
    assert "run in progress" in text and "running        2 (in flight" in text and "ETA       ~2 min for 21 unit(s) on 2 CPUs" in text
    live.close(finished=False)
    text = status(tmp_path, capsys)
    assert "run stopped" in text and "running        0" in text and "remaining     81" in text
    assert "ETA       ~7 min if run again for 83 unit(s) on 2 CPUs" in text  # the failed 2 are retried
