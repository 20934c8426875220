"""The plugin API: users' classes named by import path or entry point, checked when the config loads
(one-line errors naming the field, exit 2, before anything runs), hashed into unit keys with their
version, and built by the registries' hooks."""

from __future__ import annotations

import sys
import textwrap

import pytest

from tabaug_ray import plugins
from tabaug_ray.cli import main
from tabaug_ray.config import load_config
from tabaug_ray.learners import make_student, make_teacher
from tabaug_ray.pipelines import inductive_bias
from tabaug_ray.pipelines.base import RunContext

MODULE = '''
import numpy as np

class Good:
    version = "{version}"

    def __init__(self, *, width: int = 1):
        self.width = width

    def fit(self, X, *, schema, seed):
        self.X_ = np.asarray(X)
        return self

    def sample(self, n, *, seed):
        return self.X_[np.random.default_rng(seed).integers(0, len(self.X_), n)]

class NoSample:
    def fit(self, X, *, schema, seed):
        return self

class Teacher:
    def __init__(self, *, seed=0, depth=2):
        self.depth = depth

    def fit(self, X, y, *, categorical=()):
        return self

    def predict(self, X):
        return np.zeros(len(X))
'''

CONFIG = """
[experiment]
name = "plugins"
folds = 2

[[datasets]]
name = "breast_cancer"

[inductive_bias]
models = {models}
scenarios = ["low_data"]
n_low = 100
{extra}
"""


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A real module on sys.path (what a user's package is), the caches of earlier tests cleared."""
    (tmp_path / "my_gens.py").write_text(MODULE.format(version="1.0"))
    monkeypatch.syspath_prepend(str(tmp_path))
    for fn in (plugins._entry_points, plugins.load, plugins.identity):
        fn.cache_clear()
    yield tmp_path
    sys.modules.pop("my_gens", None)
    for fn in (plugins._entry_points, plugins.load, plugins.identity):
        fn.cache_clear()


def _config(tmp_path, models, extra=""):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.format(models=models, extra=extra))
    return path


@pytest.mark.parametrize("models, extra, message", [
    ('["vae_bgm", "no_such_module:Gen"]', "", "field 'inductive_bias.models[1]': cannot import plugin "
                                               "'no_such_module:Gen': ModuleNotFoundError"),
    ('["my_gens:Missing"]', "", "field 'inductive_bias.models[0]': cannot import plugin 'my_gens:Missing': "
                                "AttributeError"),
    ('["my_gens:NoSample"]', "", "field 'inductive_bias.models[0]': plugin 'my_gens:NoSample' is not a "
                                 "generator: it lacks sample"),
    ('["my_gens:Good"]', 'model_params = { "my_gens:Good" = { depth = 3 } }',
     "field 'inductive_bias.models[0]': plugin 'my_gens:Good' rejects its keyword arguments ['depth']"),
    ('["vea_bgm"]', "", "field 'inductive_bias.models[0]': unknown generator 'vea_bgm'"),
    ('["vae_bgm"]', "model_params = { vae_bgm = { n_seeds = 3 } }",
     "field 'inductive_bias.models[0]': generator 'vae_bgm' takes its parameters from the [vae] section"),
    ('["tvae"]', "model_params = { tvae = { epoch = 3 } }",
     "field 'inductive_bias.models[0]': generator 'tvae' rejects its keyword arguments ['epoch']"),
])
def test_a_broken_plugin_is_refused_at_load_with_one_line_naming_the_field(plugin_dir, capsys, models, extra,
                                                                           message):
    path = _config(plugin_dir, models, extra)
    out = plugin_dir / "out"
    assert main(["run", str(path), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and str(path) in err
    assert not out.exists()  # refused before anything was planned or run


def test_plugin_unit_keys_hash_import_path_and_version(plugin_dir):
    path = _config(plugin_dir, '["vae_bgm", "my_gens:Good"]', 'model_params = { "my_gens:Good" = { width = 2 } }')
    config = load_config(path)
    keys = {u.params["model"]: u.key for u in inductive_bias.plan(RunContext(config=config))}
    assert plugins.identity("generator", "my_gens:Good") == {"plugin": "my_gens:Good", "version": "1.0"}
    (plugin_dir / "my_gens.py").write_text(MODULE.format(version="2.0"))
    sys.modules.pop("my_gens")
    for fn in (plugins.load, plugins.identity):
        fn.cache_clear()
    again = {u.params["model"]: u.key for u in inductive_bias.plan(RunContext(config=load_config(path)))}
    assert again["vae_bgm"] == keys["vae_bgm"]  # built-ins untouched
    assert again["my_gens:Good"] != keys["my_gens:Good"]  # a new plugin version: new keys, no stale resume


def test_entry_point_names_resolve_like_import_paths(plugin_dir):
    dist = plugin_dir / "my_gens-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-gens\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""
        [tabaug_ray.generators]
        good = my_gens:Good
        [tabaug_ray.teachers]
        zero = my_gens:Teacher
    """))
    plugins._entry_points.cache_clear()
    config = load_config(_config(plugin_dir, '["good"]'))
    unit = inductive_bias.plan(RunContext(config=config))[0]
    assert unit.params["model"] == "good"
    assert plugins.identity("generator", "good")["plugin"] == "my_gens:Good"
    teacher = make_teacher("zero", seed=3, depth=4)  # the registry's hook builds the user's class
    assert type(teacher).__name__ == "Teacher" and teacher.depth == 4
    with pytest.raises(Exception, match="rejects its keyword arguments"):
        make_teacher("my_gens:Teacher", seed=0, colour="red")
    with pytest.raises(Exception, match="unknown student"):
        make_student("zero")  # an entry point of another kind is not a student


def test_mlda_plugins_are_checked_at_load(plugin_dir, capsys):
    path = plugin_dir / "m.toml"
    path.write_text(textwrap.dedent("""
        [experiment]
        name = "m"
        kind = "mlda"
        [[datasets]]
        name = "diabetes"
        [mlda]
        augmenters = ["none", "mlda_my_gens:Good", "mlda_bootstrap"]
        teachers = ["lightgbm", "my_gens:Teacher"]
        teacher_params = { "my_gens:Teacher" = { depth = 3 } }
    """))
    config = load_config(path)  # a plugin teacher and generator-fed augmenters load
    assert config.mlda.teachers[1] == "my_gens:Teacher"
    path.write_text(path.read_text().replace("my_gens:Teacher\"]", "my_gens:NoSample\"]"))
    assert main(["run", str(path), "--out", str(plugin_dir / "o")]) == 2
    assert "field 'mlda.teachers[1]': plugin 'my_gens:NoSample' is not a teacher: it lacks predict" in \
        capsys.readouterr().err
