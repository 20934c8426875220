"""Experiment configs and the result store."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from tabaug_ray.config import load_config, parse_config
from tabaug_ray.distributed.store import REQUIRED, ResultStore
from tabaug_ray.errors import TabaugError

GOOD = """
[experiment]
name = "t"
folds = 2

[[datasets]]
name = "breast_cancer"
"""


def write(tmp_path, text, name="c.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_config_is_validated_frozen_and_hashed(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.experiment.folds == 2 and cfg.datasets[0].name == "breast_cancer"
    assert cfg.vae.n_seeds == 10 and cfg.evaluation.sizes == [("realistic", 100, 100)]
    with pytest.raises(Exception):
        cfg.experiment.folds = 3  # frozen
    same = load_config(write(tmp_path, GOOD + "\n# a comment\n", "d.toml"))
    assert same.hash == cfg.hash and len(cfg.hash) == 16
    other = load_config(write(tmp_path, GOOD.replace("folds = 2", "folds = 3"), "e.toml"))
    assert other.hash != cfg.hash
    cpu = load_config(write(tmp_path, GOOD + "[execution]\nmax_cpus = 1\n", "f.toml"))
    assert cpu.results_hash == cfg.results_hash and cpu.hash != cfg.hash
    # options added after results were stored hash like their absence at their defaults (stored
    # results directories keep their keys) and change the hash otherwise
    later = GOOD.replace('name = "breast_cancer"', 'name = "breast_cancer"\ncuts = {}')
    later += '[evaluation]\ndiscriminator_inputs = "one_hot"\n'
    assert load_config(write(tmp_path, later, "g.toml")).hash == cfg.hash
    # the judge is not such an option: the default judge changed in 0.3.0, so naming it changes nothing
    # but any other judge (the old default "fast" included) is a new hash
    named = load_config(write(tmp_path, GOOD + '[evaluation]\njudge = "default"\n', "g2.toml"))
    assert named.hash == cfg.hash and named.evaluation.judge.name == "default"
    fast = load_config(write(tmp_path, GOOD + '[evaluation]\njudge = "fast"\n', "g3.toml"))
    assert fast.section_hash("evaluation") != cfg.section_hash("evaluation")
    assert fast.evaluation.judge.settings()["lr"] == 3e-3 and fast.evaluation.judge.settings()["dropout"] == 0.5
    codes = load_config(write(tmp_path, GOOD + '[evaluation]\ndiscriminator_inputs = "codes"\n', "h.toml"))
    assert codes.results_hash != cfg.results_hash
    assert codes.section_hash("evaluation") != cfg.section_hash("evaluation")
    judge = load_config(write(tmp_path, GOOD + '[evaluation]\njudge = { lr = 1e-3 }\n', "i.toml"))
    from tabaug_ray.evaluate.judges import JUDGES
    settings = judge.evaluation.judge.settings()
    assert settings["lr"] == 1e-3 and settings["patience_steps"] == JUDGES["default"]["patience_steps"]
    assert settings["max_patience_epochs"] == 200  # the default judge's cap on one-batch epochs
    long = load_config(write(tmp_path, GOOD + '[evaluation]\njudge = { patience_steps = 3000 }\n', "k.toml"))
    assert long.evaluation.judge.settings()["max_patience_epochs"] is None  # an explicit patience is kept whole
    # stored rows keep the judge they ran with: before CODE_VERSION 0.5.0 the default had no cap
    assert judge.evaluation.judge.settings("0.4.0+g6ef4052")["max_patience_epochs"] is None
    assert judge.evaluation.judge.settings("0.5.0")["max_patience_epochs"] == 200
    assert judge.evaluation.judge.settings("test")["max_patience_epochs"] == 200  # no version number: current
    from tabaug_ray.report.build import judge_line
    assert "at most 200 epochs" not in judge_line(judge.evaluation, ["0.4.0"])
    both = judge_line(judge.evaluation, ["0.4.0", "0.5.0+gabc"])
    assert "rows of CODE_VERSION 0.4.0: " in both and "rows of CODE_VERSION 0.5.0+gabc: " in both
    assert both.count("at most 200 epochs") == 1
    reference = load_config(write(tmp_path, GOOD + '[evaluation]\njudge = { name = "reference", max_epochs = 50 }\n',
                                  "j.toml")).evaluation.judge.settings()
    assert reference["full_batch"] and reference["max_epochs"] == 50 and reference["patience_steps"] == 1000
    assert judge.section_hash("evaluation") != cfg.section_hash("evaluation")


@pytest.mark.parametrize("text, message", [
    ("[experiment\nname=1", "malformed TOML"),
    (GOOD + "colour = 'red'\n", "field 'datasets.0.colour': unknown field"),
    (GOOD.replace("folds = 2", "folds = 0"), "field 'experiment.folds': Input should be greater than or equal to 1"),
    ('[experiment]\nname="x"\n[[datasets]]\nname="f"\npath="a.csv"\n', "needs 'target' and 'task'"),
    (GOOD + "[vae]\nlatent = 3\n", "field 'vae.latent': unknown field"),
])
def test_bad_configs_name_file_and_field(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(TabaugError) as info:
        load_config(path)
    assert str(path) in str(info.value) and message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(TabaugError, match="config file not found"):
        load_config(tmp_path / "none.toml")


def rows(key, n=3, **extra):
    base = dict(experiment="e", dataset="d", fold=0, run=0, scenario="low_data", model="vae_bgm", n=300,
                m=100, l=100, seed=1, unit_key=key, seconds=1.5, code_version="0.1.0")
    return [dict(base, metric=f"m{i}", value=float(i), **extra) for i in range(n)]


def test_store_writes_parts_readable_by_pandas(tmp_path):
    store = ResultStore(out=tmp_path)
    assert store.read().empty and list(store.read().columns)[:len(REQUIRED)] == list(REQUIRED)
    store.write("k1", rows("k1"))
    store.write("k2", rows("k2", eta=0.05, repeat=2))
    table = pd.read_parquet(tmp_path / "results")
    assert len(table) == 6 and set(REQUIRED) <= set(table.columns)
    assert store.done_keys() == {"k1", "k2"} and store.has("k1") and not store.has("k3")
    assert table.loc[table.unit_key == "k2", "eta"].eq(0.05).all()
    assert table.loc[table.unit_key == "k1", "eta"].isna().all()
    assert np.allclose(store.read().sort_values(["unit_key", "metric"]).value, [0, 1, 2, 0, 1, 2])


def test_store_rejects_bad_rows_and_leaves_no_torn_file(tmp_path):
    store = ResultStore(out=tmp_path)
    store.write("k1", rows("k1"))
    before = (tmp_path / "results" / "k1.parquet").read_bytes()
    bad = rows("k1")
    del bad[0]["metric"]
    with pytest.raises(ValueError, match="missing \\['metric'\\]"):
        store.write("k1", bad)
    with pytest.raises(ValueError, match="unknown \\['colour'\\]"):
        store.write("k1", rows("k1", colour="red"))
    assert (tmp_path / "results" / "k1.parquet").read_bytes() == before
    assert sorted(os.listdir(tmp_path / "results")) == ["k1.parquet"]


def test_store_keeps_config_and_refuses_to_mix_configs(tmp_path):
    store = ResultStore(out=tmp_path)
    store.save_config(GOOD, config_hash="aaa", resolved={"x": 1})
    assert (tmp_path / "config.toml").read_text() == GOOD
    store.write("k1", rows("k1"))
    store.save_config(GOOD, config_hash="aaa", resolved={"x": 1})  # same config: resume is fine
    with pytest.raises(TabaugError, match="holds results of another config"):
        store.save_config(GOOD + "#", config_hash="bbb", resolved={"x": 2})
    assert (tmp_path / "config.toml").read_text() == GOOD


def test_parse_config_from_dict_names_source():
    with pytest.raises(TabaugError, match="^x.toml: field 'datasets'"):
        parse_config({"experiment": {"name": "a"}, "datasets": []}, source="x.toml")


def test_store_on_a_file_system_uri(tmp_path):
    store = ResultStore(out=f"file://{tmp_path}/remote")
    store.write("k1", rows("k1"))
    store.record_failure("k2", {"error": "boom"})
    assert store.done_keys() == {"k1"} and store.failures() == [{"error": "boom"}]
    assert len(pd.read_parquet(tmp_path / "remote" / "results")) == 3
    store.clear_failure("k2")
    assert store.failures() == []


def test_every_shipped_experiment_is_valid_and_documented():
    """Each file in experiments/ loads (sweeps: with their base and every dimension applied) and is
    listed in the table of experiments (docs/USAGE.md, linked from the README)."""
    from pathlib import Path

    from tabaug_ray.distributed.sweep import load_sweep

    repo = Path(__file__).resolve().parents[1]
    readme = (repo / "docs" / "USAGE.md").read_text(encoding="utf-8")
    files = sorted((repo / "experiments").glob("*.toml"))
    assert len(files) >= 10
    for path in files:
        if "[sweep]" in path.read_text(encoding="utf-8"):
            load_sweep(path)
        else:
            assert load_config(path).experiment.name
        assert f"experiments/{path.name}" in readme or f"`{path.name}`" in readme, path.name
