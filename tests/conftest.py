"""Shared fixtures: the real datasets folder (../shared/datasets or TABAUG_DATA_DIR)."""

from __future__ import annotations

import io
import os
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabaug_ray.data.schema import ColumnSpec

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path | None:
    env = os.environ.get("TABAUG_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "datasets")
    for path in candidates:
        if (path / "MANIFEST.tsv").is_file():
            return path
    return None


@pytest.fixture(scope="module", autouse=True)
def _no_ray_after_the_module():
    """Whatever a module's tests started in this process (an in-process `tabaug run`, `module_ray`) is
    shut down after it: with pytest-xdist a worker runs modules one after another, and a test elsewhere
    checks that a refused command never starts Ray."""
    yield
    import sys

    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        sys.modules["ray"].shutdown()


@pytest.fixture(scope="module")
def module_ray():
    """One local Ray for the module (warm workers; executors join it), shut down after the module: a
    test elsewhere checks that a refused command never starts Ray."""
    import ray

    from tabaug_ray.distributed.connect import init_ray

    init_ray(address=None, max_cpus=2)
    yield
    ray.shutdown()


# `make test` runs the suite on two pytest-xdist workers, one module at a time each (--dist loadfile);
# modules are handed out in collection order, so the slowest go first and the short ones fill in after
# (longest first: measured per-module seconds under two workers, slowest first).
SLOWEST_MODULES = ("test_pipelines.py", "test_executor.py", "test_judge_calibration.py", "test_faults.py",
                   "test_divergence.py", "test_mlda_references.py", "test_artifacts.py", "test_results.py",
                   "test_pack_status.py", "test_actors.py", "test_cluster.py", "test_evaluate_cli.py",
                   "test_privacy.py", "test_examples.py")


def pytest_collection_modifyitems(items) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: in-module order kept


def tabaug_here(*args) -> subprocess.CompletedProcess:
    """`tabaug ARGS` run in this process through `tabaug_ray.cli.main`, stdout and stderr captured.

    Use with `module_ray`: the command joins that Ray, so its workers are warm, and the ~10-15 s a
    `python -m tabaug_ray` subprocess pays (Python + torch imports, a fresh Ray, cold workers) are paid
    once per module. Its `--max-cpus` is the module Ray's (2). Python warnings go to pytest, not to the
    captured stderr: a test that reads a warning or the exit of a fresh process runs a real subprocess."""
    from tabaug_ray.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = [str(a) for a in args]
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets folder; the suite requires it (CI has ../shared beside the clone)."""
    path = _data_dir()
    if path is None:
        pytest.fail("no datasets folder: set TABAUG_DATA_DIR or put shared/datasets beside the repo")
    return path


def simple_model_space(df: pd.DataFrame) -> tuple[np.ndarray, list[ColumnSpec]]:
    """A quick model space for generator tests: z-scored numerics, 0/1 for 2-valued, integer codes
    (missing = own code), independent of the data layer under test elsewhere."""
    cols, data = [], []
    for name in df.columns:
        s = df[name]
        if pd.api.types.is_numeric_dtype(s):
            v = s.to_numpy(float)
            data.append((v - v.mean()) / (v.std() or 1.0))
            cols.append(ColumnSpec(name, "gaussian"))
        else:
            codes, uniq = pd.factorize(s.fillna("<missing>"), sort=True)
            data.append(codes.astype(float))
            cols.append(ColumnSpec(name, "bernoulli" if len(uniq) == 2 else "categorical", len(uniq)))
    return np.stack(data, axis=1).astype(np.float32), cols


@pytest.fixture(scope="module")
def adult(data_dir) -> tuple[np.ndarray, list[ColumnSpec]]:
    """300 Adult rows (sampled with seed 0) in the simple model space."""
    df = pd.read_csv(data_dir / "adult.csv.gz").sample(n=300, random_state=0).reset_index(drop=True)
    return simple_model_space(df)


def manifest_xy(data_dir, name: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Features (categorical columns integer-coded), target and categorical indices of a MANIFEST dataset."""
    row = pd.read_csv(data_dir / "MANIFEST.tsv", sep="\t").set_index("name").loc[name]
    frame = pd.read_csv(data_dir / row["file"]).dropna()
    cats = [c for c in str(row["categorical_columns"]).split(",") if c and c != "nan"]
    features = frame.drop(columns=row["target"])
    for c in cats:
        features[c] = pd.Categorical(features[c]).codes
    return features.to_numpy(float), frame[row["target"]].to_numpy(float), [features.columns.get_loc(c) for c in cats]


def toml_value(value) -> str:
    """A Python value as TOML: strings, numbers, booleans, lists and (inline) tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    return repr(value)


def toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else toml_value(key)


def mlda_toml(name: str, *, folds: int = 2, dataset: str = "diabetes", train_sizes=(200,), etas=None,
              volumes=("2x",), augmenters=("none", "mlda"), teachers=("lightgbm",), teacher_params=None,
              student_params=None, vae: dict | None = None, extra: str = "", **mlda) -> str:
    """The tests' tiny MLDA experiment as TOML text: one dataset, one train size, LightGBM teachers and
    a small MLP student (`student_params` replaces its settings); `mlda` adds [mlda] fields (e.g.
    `references=False`), `vae` a [vae] section (generator augmenters), `extra` text after them."""
    fields = {"train_sizes": train_sizes, "etas": etas, "volumes": volumes, "augmenters": augmenters,
              "teachers": teachers, "teacher_params": teacher_params,
              "student_params": {"mlp": student_params or {"max_epochs": 30, "patience": 5}}, **mlda}
    lines = ["[experiment]", f"name = {toml_value(name)}", 'kind = "mlda"', f"folds = {folds}", "",
             "[[datasets]]", f"name = {toml_value(dataset)}", "", "[mlda]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in fields.items() if v is not None]
    if vae:
        lines += ["", "[vae]"] + [f"{k} = {toml_value(v)}" for k, v in vae.items()]
    return "\n".join(lines) + "\n" + (f"\n{extra}\n" if extra else "")
