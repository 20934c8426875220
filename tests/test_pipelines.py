"""Both experiment kinds end to end through `tabaug run` (real local Ray, real models, small budgets)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabaug_ray.config import load_config, parse_config
from tabaug_ray.distributed.artifacts import ArtifactStore
from tabaug_ray.distributed.reuse import reuse_units
from tabaug_ray.distributed.store import ResultStore
from tabaug_ray.pipelines import mlda as mlda_pipeline
from tabaug_ray.pipelines.base import RunContext

from conftest import mlda_toml, tabaug_here

REPO = Path(__file__).resolve().parents[1]

TECHNIQUES = """
[experiment]
name = "techniques"
kind = "inductive_bias"
folds = 1

[[datasets]]
name = "breast_cancer"

[inductive_bias]
models = ["vae_bgm", "ctgan"]
scenarios = ["low_data", "big_data", "pretrain", "avg", "maml", "drs"]
n_low = 100
n_big = 250
n_synthetic = 400

[vae]
n_seeds = 2
max_epochs = 30

[ctgan]
epochs = 3

[bias]
synthetic_fit = { val_every_batch = false }

[bias.maml]
inner_steps = 3
max_meta_iters = 3

# only counts and keys are read here: one judge repeat, no privacy attacks (tested in test_privacy)
[evaluation]
presets = ["realistic"]
repeats = 1
privacy = false
"""

# no test here reads a score's size (only counts, keys and copied values): small students and VAEs
MLDA = mlda_toml("mlda_all", etas=[0.01, 0.1], augmenters=["none", "noise", "mlda", "mlda_vae", "cmixup", "ada"],
                 student_params={"max_epochs": 15, "patience": 5}, vae={"n_seeds": 2, "max_epochs": 15})


def load_config_text(path: Path, text: str):
    path.write_text(text)
    return load_config(path)


def run(config: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """`tabaug run` in this process, on the module's Ray (the CLI's own exit codes and stderr are tested
    through real subprocesses in test_bad_inputs and test_executor)."""
    return tabaug_here("run", config, "--out", out, "--no-progress", *extra)


@pytest.fixture(scope="module", autouse=True)
def _ray(module_ray):
    yield


def test_quickstart_writes_low_and_big_data_for_every_fold_and_run(tmp_path):
    out = tmp_path / "q"
    bad = run(REPO / "experiments" / "quickstart.toml", out, "--only", "fold=7")
    assert bad.returncode == 2 and "--only 'fold=7': fold 7 is not in the config" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and not out.exists()
    part = run(REPO / "experiments" / "quickstart.toml", out, "--only", "fold=1")  # a slice first
    assert part.returncode == 0, part.stderr
    assert "2 units planned, 0 already done, 2 finished" in part.stdout
    assert set(pd.read_parquet(out / "results").fold) == {1}
    proc = run(REPO / "experiments" / "quickstart.toml", out)  # the rest, same results directory
    assert proc.returncode == 0, proc.stderr
    assert "4 units planned, 2 already done, 2 finished" in proc.stdout
    table = pd.read_parquet(out / "results")
    cells = set(zip(table.scenario, table.fold, table.run))
    assert cells == {(s, f, 0) for s in ("low_data", "big_data") for f in (0, 1)}
    assert table.loc[table.metric == "js", "preset"].eq("realistic").all()
    assert table.loc[table.metric == "js"].groupby("unit_key").size().eq(5).all()  # one row per repeat
    js = table[table.metric == "js"].groupby("scenario").value.mean()
    assert js["big_data"] < js["low_data"]  # more real rows, closer synthetic rows
    again = run(REPO / "experiments" / "quickstart.toml", out)
    assert "4 units planned, 4 already done, 0 finished" in again.stdout


def test_inductive_bias_techniques_start_from_the_shared_low_data_ensemble(tmp_path):
    config = tmp_path / "techniques.toml"
    config.write_text(TECHNIQUES)
    proc = run(config, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_parquet(tmp_path / "out" / "results")
    scenarios = table.groupby("model").scenario.unique().map(set).to_dict()
    assert scenarios == {"vae_bgm": {"low_data", "big_data", "pretrain", "avg", "maml", "drs"},
                         "ctgan": {"low_data", "big_data", "pretrain"}}
    for model, scenario in [("vae_bgm", s) for s in ("pretrain", "avg", "maml", "drs")] + [("ctgan", "pretrain")]:
        rows = table[(table.model == model) & (table.scenario == scenario)]
        assert {"js", "kl", "accuracy", "init_seconds"} <= set(rows.metric), (model, scenario)
        assert set(rows.fold) == {0} and (rows.n == 100).all()
    # one Low-data producer per fold and model, kept for resuming (one fold here: per-fold producers
    # are counted in test_actors and test_executor)
    assert len(list((tmp_path / "out" / "artifacts").glob("*.pkl"))) == 2
    real = table[table.metric == "accuracy_real"]
    assert set(real.scenario) == {"low_data", "big_data"}


def test_mlda_groups_share_rows_and_record_every_augmenter(tmp_path, data_dir):
    config = tmp_path / "mlda.toml"
    config.write_text(MLDA)
    proc = run(config, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_parquet(tmp_path / "out" / "results")
    students = table[table.model == "mlp"]
    rmse = students[students.metric == "rmse"]
    counts = rmse.groupby("scenario").size().to_dict()
    assert counts == {"none": 2, "noise": 4, "mlda": 4, "mlda_vae": 2, "cmixup": 2, "ada": 2}  # x folds, x etas
    synthetic = students[students.metric == "n_synthetic"].groupby("scenario").value.unique()
    assert synthetic["none"].tolist() == [0.0]
    fit_rows = 160  # 200 training rows less the 20 % real validation rows
    for name in ("noise", "mlda", "mlda_vae", "cmixup", "ada"):
        assert synthetic[name].tolist() == [2.0 * fit_rows]
    assert rmse[rmse.scenario.isin(["noise", "mlda"])].eta.notna().all()
    assert rmse[rmse.scenario.isin(["none", "cmixup", "ada", "mlda_vae"])].eta.isna().all()
    assert set(rmse.loc[rmse.scenario.isin(["mlda", "mlda_vae"]), "teacher"]) == {"lightgbm"}
    assert rmse.loc[rmse.scenario == "none", "teacher"].isna().all()
    teacher = table[table.model == "teacher:lightgbm"]
    assert {"rmse", "mae", "r2", "val_rmse", "fit_seconds"} <= set(teacher.metric) and set(teacher.fold) == {0, 1}
    # every student of a fold saw the same seed (paired comparisons)
    assert students.groupby("fold").seed.nunique().eq(1).all()
    # a bigger grid in a new directory reuses every unit with the same key: teachers, VAEs, students
    bigger = tmp_path / "bigger.toml"
    bigger.write_text(MLDA.replace('name = "mlda_all"', 'name = "mlda_more"').replace("[0.01, 0.1]", "[0.01, 0.05, 0.1]"))
    bad = run(bigger, tmp_path / "more", "--reuse", str(tmp_path / "nowhere"))
    assert bad.returncode == 2 and "--reuse" in bad.stderr and "nowhere" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "more").exists()
    proc = run(bigger, tmp_path / "more", "--reuse", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    # 2 folds x (teacher + VAE + LightGBM reference + 10 students); the 4 new ones: noise and mlda at eta 0.05
    assert "26 units planned, 20 already done (20 copied from --reuse), 4 finished" in proc.stdout, proc.stdout
    more = pd.read_parquet(tmp_path / "more" / "results")
    assert set(more.experiment) == {"mlda_more"}
    assert set(more.loc[more.metric == "rmse", "eta"].dropna()) == {0.01, 0.05, 0.1}
    same = ["unit_key", "scenario", "model", "metric", "fold", "eta", "value"]
    old = table[same].sort_values(same).reset_index(drop=True)
    copied = more[more.unit_key.isin(set(table.unit_key))][same].sort_values(same).reset_index(drop=True)
    pd.testing.assert_frame_equal(old, copied)  # the copied rows are the source's numbers
    # a dataset entry that changes the layout but not the content (here a schema override) blocks reuse
    changed = load_config_text(tmp_path / "changed.toml", MLDA.replace('name = "diabetes"',
                                                                        'name = "diabetes"\nschema = { sex = "categorical" }'))
    units = mlda_pipeline.plan(RunContext(config=changed, data_dir=str(data_dir)))
    target = tmp_path / "changed"
    kwargs = dict(store=ResultStore(out=target), artifacts=ArtifactStore(out=target), config=changed)
    assert reuse_units(units, sources=[tmp_path / "out"], **kwargs) == 0
    assert reuse_units(units, sources=[tmp_path / "out"], **{**kwargs, "config": load_config(config)}) == 20


def test_only_scenario_keeps_the_chosen_scenarios_and_their_producers(tmp_path, data_dir):
    from tabaug_ray.errors import TabaugError
    from tabaug_ray.pipelines.base import Selection

    config = load_config_text(tmp_path / "t.toml", TECHNIQUES.replace("folds = 1", "folds = 2"))
    ctx = RunContext(config=config, data_dir=str(data_dir))
    every = Selection.parse(config, []).plan(ctx)
    sliced = Selection.parse(config, ["scenario=avg,maml", "fold=1"]).plan(ctx)
    picked = [(u.params["model"], u.params["scenario"]) for u in sliced]
    # the Low-data ensemble the techniques start from comes along; Big data and the others do not
    assert picked == [("vae_bgm", "low_data"), ("vae_bgm", "avg"), ("vae_bgm", "maml")]
    assert {u.fold for u in sliced} == {1} and {u.key for u in sliced} < {u.key for u in every}
    mlda = load_config_text(tmp_path / "m.toml", MLDA)
    units = Selection.parse(mlda, ["scenario=mlda"]).plan(RunContext(config=mlda, data_dir=str(data_dir)))
    assert {u.kind for u in units} == {"teacher", "student"}  # the teacher comes along, the VAE does not
    assert {u.params["augmenter"] for u in units if u.kind == "student"} == {"mlda"}
    with pytest.raises(TabaugError, match="scenario 'big' is not in the config"):
        Selection.parse(config, ["scenario=big"])
    # --only model: one generator (inductive bias) or one student (MLDA); producers still come along
    vae_only = Selection.parse(config, ["model=vae_bgm", "scenario=low_data,pretrain", "fold=0"]).plan(ctx)
    assert [(u.params["model"], u.params["scenario"]) for u in vae_only] == [("vae_bgm", "low_data"),
                                                                             ("vae_bgm", "pretrain")]
    ctgan_pre = Selection.parse(config, ["model=ctgan", "scenario=pretrain", "fold=0"]).plan(ctx)
    assert [(u.params["model"], u.params["scenario"]) for u in ctgan_pre] == [("ctgan", "low_data"), ("ctgan", "pretrain")]
    two = load_config_text(tmp_path / "m2.toml", MLDA.replace("student_params", 'students = ["mlp", "autogluon_nn"]\nstudent_params'))
    two_ctx = RunContext(config=two, data_dir=str(data_dir))
    assert {u.params["student"] for u in Selection.parse(two, []).plan(two_ctx) if u.kind == "student"} == {
        "mlp", "autogluon_nn"}
    students = Selection.parse(two, ["model=autogluon_nn", "scenario=mlda"]).plan(two_ctx)
    assert {u.params["student"] for u in students if u.kind == "student"} == {"autogluon_nn"}
    assert {u.kind for u in students} == {"teacher", "student"}
    with pytest.raises(TabaugError, match="model 'tvae' is not in the config"):
        Selection.parse(config, ["model=tvae"])


def _letter_unit(data_dir, evaluation: dict):
    """An inductive-bias config on Letter with this `[evaluation]` (no utility) and its fold-0 unit data, N = 300."""
    from tabaug_ray.pipelines.evaluation import unit_data

    config = parse_config({
        "experiment": {"name": "letter", "kind": "inductive_bias", "folds": 5},
        "datasets": [{"name": "letter"}],
        "evaluation": {"utility": False, **evaluation},
    })
    return config, unit_data(RunContext(config=config, data_dir=str(data_dir)).data("letter"), config, fold=0, run=0, n=300)


def test_discriminator_sees_categoricals_one_hot_or_as_codes(data_dir):
    """`evaluation.discriminator_inputs` reaches the divergence estimator: on Letter (16 integer features
    with < 50 values, so categorical, plus the 26-class target) the same rows and seeds give other
    estimates when the classifier reads integer codes instead of one-hot columns."""
    from tabaug_ray.pipelines.evaluation import evaluate

    js = {}
    for inputs in ("one_hot", "codes"):
        config, data = _letter_unit(data_dir, {"presets": ["realistic"], "repeats": 1, "discriminator_inputs": inputs,
                                                 "judge": {"max_epochs": 20}})
        assert sum(c.kind == "categorical" for c in data.schema.columns) == 17
        rng = np.random.default_rng(0)  # columns shuffled apart: the marginals right, the dependencies gone
        synthetic = np.stack([rng.permutation(col) for col in data.train.T], axis=1)
        records = evaluate(synthetic, data, config, seed=0, n_threads=1, with_real_reference=False)
        js[inputs] = [r["value"] for r in records if r["metric"] == "js"]
        assert len(js[inputs]) == 1 and all(np.isfinite(js[inputs]))
    assert js["one_hot"] != js["codes"]


def test_judge_training_settings_reach_the_divergence_estimator(data_dir):
    """`evaluation.judge`: on Letter rows whose columns were shuffled apart (marginals right, dependencies
    gone) a discriminator trained for one epoch reads a lower JS than one trained until it stops."""
    from tabaug_ray.pipelines.evaluation import evaluate

    js = {}
    for name, judge in (("one epoch", {"name": "fast", "max_epochs": 1}), ("long", {"max_epochs": 60})):
        config, data = _letter_unit(data_dir, {"presets": ["reliable"], "repeats": 1, "judge": judge})
        rng = np.random.default_rng(0)
        synthetic = np.stack([rng.permutation(col) for col in data.eval_pool.T], axis=1)
        records = evaluate(synthetic, data, config, seed=0, n_threads=1, with_real_reference=False)
        [js[name]] = [r["value"] for r in records if r["metric"] == "js"]
    assert js["long"] > js["one epoch"] + 0.3, js


def test_binary_features_discrete_keeps_binary_columns_binary_in_noise_and_mlda(tmp_path, data_dir):
    """`[mlda] binary_features = "discrete"`: the Gaussian-noise samplers (noise, mlda) treat 0/1 features
    like categoricals, so no synthetic row has an off-domain value there (energy_efficiency's overall
    height is 0/1); only those units get new keys, the default keeps every stored key."""
    from tabaug_ray.augment.mlda import GaussianNoiseSampler
    from tabaug_ray.pipelines.base import Selection

    text = MLDA.replace('name = "diabetes"', 'name = "energy_efficiency"').replace('["2x"]', '["2x"]\nbinary_features = "discrete"')
    discrete = load_config_text(tmp_path / "d.toml", text)
    default = load_config_text(tmp_path / "n.toml", text.replace('binary_features = "discrete"', 'binary_features = "noise"'))
    assert default.hash == load_config_text(tmp_path / "a.toml", text.replace('binary_features = "discrete"\n', "")).hash
    ctx = RunContext(config=discrete, data_dir=str(data_dir))
    g = mlda_pipeline._prepare(ctx, "energy_efficiency", 0, 0, 200)
    assert len(g.binary) == 1 and set(np.unique(g.x_fit[:, g.binary[0]])) == {0.0, 1.0}
    for augmenter, mode, stays_binary in (("noise", "discrete", True), ("mlda", "discrete", True),
                                          ("noise", "noise", False)):
        cats = mlda_pipeline.sampler_categorical(g, augmenter, mode)
        rows = GaussianNoiseSampler(eta=0.05).fit(g.x_fit, categorical=cats).sample(2000, seed=0)
        assert set(np.unique(rows[:, g.binary[0]])) <= {0.0, 1.0} if stays_binary else len(np.unique(rows[:, g.binary[0]])) > 2
    assert mlda_pipeline.sampler_categorical(g, "cmixup", "discrete") == g.categorical
    keys = {}
    for name, config in (("discrete", discrete), ("default", default)):
        units = Selection.parse(config, []).plan(RunContext(config=config, data_dir=str(data_dir)))
        keys[name] = {(u.fold, u.params.get("augmenter"), u.params.get("eta")): u.key for u in units if u.kind == "student"}
    changed = {k[1] for k in keys["default"] if keys["default"][k] != keys["discrete"][k]}
    assert changed == {"noise", "mlda"}
    # a dataset without binary features keeps every key (nothing it computes changes)
    plain = load_config_text(tmp_path / "c.toml", text.replace('"energy_efficiency"', '"concrete_compressive_strength"'))
    assert not mlda_pipeline._prepare(RunContext(config=plain, data_dir=str(data_dir)),
                                      "concrete_compressive_strength", 0, 0, 200).binary
    stored = load_config_text(tmp_path / "s.toml", text.replace('"energy_efficiency"', '"concrete_compressive_strength"')
                              .replace('binary_features = "discrete"\n', ""))
    plan = {u.key for u in Selection.parse(plain, []).plan(RunContext(config=plain, data_dir=str(data_dir)))}
    assert plan == {u.key for u in Selection.parse(stored, []).plan(RunContext(config=stored, data_dir=str(data_dir)))}
