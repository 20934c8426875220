"""Host actors for producers' values on a real local Ray with real (small) experiments: the proxy,
one teacher fit per group served by its host, the host cap, resume from artifacts, a host killed
mid-run, and the same numbers as running the consumers in-process on the producer's value."""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray

from tabaug_ray.augment.mlda import MLDAAugmenter
from tabaug_ray.config import load_config
from tabaug_ray.data.schema import ColumnSpec
from tabaug_ray.distributed.actors import RemoteValue, host_class
from tabaug_ray.distributed.artifacts import ArtifactStore
from tabaug_ray.distributed.executor import Executor, execute_unit
from tabaug_ray.distributed.store import ResultStore
from tabaug_ray.generators import VAEBGM
from tabaug_ray.learners import make_teacher
from tabaug_ray.pipelines import mlda as mlda_pipeline
from tabaug_ray.pipelines.base import RunContext, pipeline_module

from conftest import mlda_toml

TIMING = {"seconds", "fit_seconds", "init_seconds", "eval_seconds"}

def mlda_config(tmp_path: Path, *, name: str, folds: int = 2, etas=(0.01, 0.05, 0.1), augmenters=("none", "mlda"),
                teachers=("lightgbm",), execution: str = ""):
    """A small MLDA run on medical_insurance; no LightGBM reference (these tests count producers and
    consumers, and the reference is no host's)."""
    path = tmp_path / f"{name}.toml"
    path.write_text(mlda_toml("hosts", folds=folds, dataset="medical_insurance", train_sizes=[150], volumes=[150],
                              etas=list(etas), augmenters=list(augmenters), teachers=list(teachers),
                              student_params={"max_epochs": 10, "hidden": [32]}, references=False,
                              vae={"n_seeds": 2, "max_epochs": 15, "n_init": 1}, extra=f"[execution]\n{execution}"))
    return load_config(path)


def run(config, out: Path, data_dir: Path, **kwargs):
    return Executor(ctx=RunContext(config=config, data_dir=str(data_dir)), out=out, config_text="", progress=False,
                    **kwargs).run()


def numbers(out: Path) -> pd.DataFrame:
    """Each unit's metrics without timings, in a stable order."""
    table = ResultStore(out=out).read()
    table = table[~table.metric.isin(TIMING)]
    return table.sort_values(["unit_key", "metric"])[["unit_key", "metric", "value"]].reset_index(drop=True)


def alive_hosts() -> list[dict]:
    """ValueHost actors of this Ray job that are alive (from the GCS; the state API needs the dashboard)."""
    job = ray.get_runtime_context().get_job_id()
    return [a for a in ray._private.state.actors().values()
            if a["ActorClassName"] == "ValueHost" and a["State"] == "ALIVE" and a["JobID"] == job]


def in_process(config, out: Path, data_dir: Path, unit) -> pd.DataFrame:
    """`unit` run in this process on its producers' values loaded from the artifacts (no hosts)."""
    ctx = RunContext(config=config, data_dir=str(data_dir))
    artifacts = ArtifactStore(out=out)
    records, _ = execute_unit(pipeline_module(config.experiment.kind), unit, ctx, list(unit.deps),
                              *(artifacts.load(d) for d in unit.deps))
    table = pd.DataFrame(records)
    return table[~table.metric.isin(TIMING)].sort_values("metric")[["unit_key", "metric", "value"]]


def test_remote_value_stands_in_for_a_teacher_a_sampler_and_a_dict(data_dir, module_ray):
    frame = pd.read_csv(data_dir / "concrete_compressive_strength.csv.gz")
    x, y = frame.drop(columns="strength").to_numpy(float)[:300], frame["strength"].to_numpy(float)[:300]
    x = (x - x.mean(0)) / x.std(0)  # the model space the mlda pipeline works in
    teacher = make_teacher("lightgbm", seed=0).fit(x, y)
    vae = VAEBGM(columns=tuple(ColumnSpec(f"c{j}", "gaussian") for j in range(x.shape[1])), seed=0, n_seeds=2,
                 max_epochs=15, n_init=1, n_threads=1).fit(x.astype(np.float32))
    sampler = mlda_pipeline.VAEFeatureSampler(generator=vae)
    hosts = [host_class().remote(value=ray.put(v), threads=1) for v in (teacher, sampler)]
    remote_teacher, remote_sampler = (pickle.loads(pickle.dumps(RemoteValue(host=h))) for h in hosts)

    np.testing.assert_array_equal(remote_teacher.predict(x[:50]), teacher.predict(x[:50]))
    assert remote_teacher.n_features_in_ == 8 and remote_teacher.__sklearn_is_fitted__()
    with pytest.raises(AttributeError):
        remote_teacher.no_such_attribute
    np.testing.assert_array_equal(remote_sampler.sample(40, seed=3), sampler.sample(40, seed=3))
    # the augmenters used by the mlda pipeline, on the proxies and on the values themselves
    for kwargs, local in (({"eta": 0.05}, {}), ({"sampler": remote_sampler, "refit_sampler": False},
                                                 {"sampler": sampler, "refit_sampler": False})):
        via_host = MLDAAugmenter(teacher=remote_teacher, **kwargs).fit(x, y).augment(60, seed=7)
        direct = MLDAAugmenter(teacher=teacher, **(local or kwargs)).fit(x, y).augment(60, seed=7)
        for a, b in zip(via_host, direct):
            np.testing.assert_array_equal(a, b)
    stats = ray.get(hosts[0].stats.remote())
    assert stats["pid"] != os.getpid() and stats["calls"]["predict"] == 3

    # a Low-data value as the inductive-bias techniques read it: items are the real objects
    low = {"seed": 11, "synthetic_table": frame.head(20), "generator": vae}
    remote_low = RemoteValue(host=host_class().remote(value=ray.put(low), threads=1))
    assert remote_low["seed"] == 11
    pd.testing.assert_frame_equal(remote_low["synthetic_table"], frame.head(20))
    assert type(remote_low["generator"]) is VAEBGM and remote_low["generator"].get_params() == vae.get_params()
    with pytest.raises(KeyError):
        remote_low["sets"]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, data_dir, module_ray):
    """The 2-fold MLDA run (per fold: teacher, none, 3 x mlda) with the default host cap."""
    tmp = tmp_path_factory.mktemp("default")
    config = mlda_config(tmp, name="default")
    summary = run(config, tmp / "out", data_dir)
    units = Executor(ctx=RunContext(config=config, data_dir=str(data_dir)), out=tmp / "out", config_text="").plan()
    return config, tmp / "out", summary, units


def test_teacher_fitted_once_per_group_and_served_by_its_host(default_run, data_dir):
    config, out, summary, units = default_run
    assert summary.ok and summary.finished == 10
    table = ResultStore(out=out).read()
    teachers = table[table.scenario == "teacher"]
    assert teachers.unit_key.nunique() == 2 and (teachers.metric == "fit_seconds").sum() == 2
    # each teacher's host (its own process) served the predictions of its three mlda students
    assert set(summary.host_calls) == set(teachers.unit_key)
    for stats in summary.host_calls.values():
        assert stats["calls"]["predict"] == 3 and stats["pid"] != os.getpid()
    assert len({s["pid"] for s in summary.host_calls.values()}) == 2
    assert not alive_hosts()
    # a student through the host gives exactly what it gives on the teacher itself
    unit = next(u for u in units if u.params.get("augmenter") == "mlda")
    got = numbers(out)
    got = got[got.unit_key == unit.key].sort_values("metric")
    assert len(got) > 3 and got.value.tolist() == in_process(config, out, data_dir, unit).value.tolist()


def test_host_cap_bounds_live_hosts_and_keeps_the_numbers(tmp_path, data_dir, default_run):
    capped = run(mlda_config(tmp_path, name="capped", execution="max_hosts = 1\nmax_in_flight = 2"),
                 tmp_path / "out", data_dir)
    assert capped.ok and capped.finished == 10 and capped.max_live_hosts == 1 and capped.max_in_flight == 2
    assert default_run[2].max_in_flight > 2  # the default window (2 x 2 CPUs + 2) lets more go at once
    assert not alive_hosts()
    # a second run in a fresh directory: same numbers (determinism), whatever the cap
    pd.testing.assert_frame_equal(numbers(tmp_path / "out"), numbers(default_run[1]))


def test_resume_restores_producers_from_artifacts_into_hosts(tmp_path, data_dir, default_run):
    config, done_out, _, units = default_run
    out = tmp_path / "out"
    shutil.copytree(done_out, out)
    students = [u for u in units if u.params.get("augmenter") == "mlda"][::2]  # half of them: 2 in f0, 1 in f1
    for unit in students:
        (out / "results" / f"{unit.key}.parquet").unlink()
    summary = run(config, out, data_dir)
    assert summary.ok and summary.finished == len(students) == 3 and summary.skipped == 7
    # the teachers were not refitted: their hosts came from the artifacts and served the rerun
    teachers = [u for u in units if u.kind == "teacher"]
    assert {k: s["calls"]["predict"] for k, s in summary.host_calls.items()} == {teachers[0].key: 2,
                                                                                 teachers[1].key: 1}
    assert not alive_hosts()
    pd.testing.assert_frame_equal(numbers(out), numbers(done_out))


def _kill_first_host(killed: list[int], stop: threading.Event) -> None:
    while not stop.is_set():
        hosts = alive_hosts()
        if hosts:
            os.kill(hosts[0]["Pid"], signal.SIGKILL)
            killed.append(hosts[0]["Pid"])
            return
        time.sleep(0.05)


def test_host_killed_mid_run_is_recreated_from_its_artifact(tmp_path, data_dir, module_ray):
    config = mlda_config(tmp_path, name="kill", folds=1, execution="max_hosts = 1")
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_first_host, args=(killed, stop), daemon=True)
    killer.start()
    try:
        summary = run(config, tmp_path / "out", data_dir)
    finally:
        stop.set()
    assert len(killed) == 1, "no host was killed"
    assert summary.ok and summary.finished == 5, summary.failed
    (stats,) = summary.host_calls.values()  # the recreated host, a new process
    assert stats["pid"] != killed[0] and stats["calls"]["predict"] >= 1
    assert len(ResultStore(out=tmp_path / "out").done_keys()) == 5


def test_two_teachers_and_a_feature_vae_under_a_tight_cap(tmp_path, data_dir, module_ray):
    # each mlda_vae student needs a teacher host and the VAE host at once; with 2 hosts allowed both
    # teachers take the slots first, so the executor must lift the cap by one to make progress
    config = mlda_config(tmp_path, name="vae", folds=1, etas=(0.05,), augmenters=("mlda", "mlda_vae"),
                         teachers=("lightgbm", "extra_trees"), execution="max_hosts = 2")
    summary = run(config, tmp_path / "out", data_dir)
    assert summary.ok and summary.finished == 7, summary.failed  # 2 teachers, the VAE, 2 mlda, 2 mlda_vae
    assert summary.max_live_hosts == 3 and not alive_hosts()
    units = Executor(ctx=RunContext(config=config, data_dir=str(data_dir)), out=tmp_path / "out",
                     config_text="").plan()
    vae = next(u for u in units if u.kind == "feature_vae")
    assert summary.host_calls[vae.key]["calls"]["sample"] == 2
    unit = next(u for u in units if u.params.get("augmenter") == "mlda_vae")
    got = numbers(tmp_path / "out")
    got = got[got.unit_key == unit.key].sort_values("metric")
    assert got.value.tolist() == in_process(config, tmp_path / "out", data_dir, unit).value.tolist()
