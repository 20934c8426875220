"""Bad inputs a new user gives: each is one line naming the file, field or column, exit code 2,
before any unit runs and before OUT is touched (or a warning line, where the input is usable)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray

from tabaug_ray.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bad_inputs import tiny_config  # noqa: E402 - the bad-input sweep's tiny config, one definition
from test_sweep import BASE as SWEEP_BASE  # noqa: E402
from test_sweep import SWEEP  # noqa: E402


@pytest.fixture(scope="module")
def abalone(data_dir) -> pd.DataFrame:
    """300 real rows of abalone (Sex categorical, seven measurements, Rings)."""
    return pd.read_csv(data_dir / "abalone.csv.gz").head(300)


def config_for(tmp_path: Path, frame: pd.DataFrame | None, *, target="Rings", task="regression", extra="",
               csv_text: str | None = None) -> Path:
    data = tmp_path / "data.csv"
    if csv_text is not None:
        data.write_text(csv_text)
    else:
        frame.to_csv(data, index=False)
    path = tmp_path / "bad.toml"
    path.write_text(tiny_config(f'name = "d"\npath = "{data}"\ntarget = "{target}"\ntask = "{task}"', extra=extra))
    return path


def refused(capsys, tmp_path: Path, *argv: str, needle: str | tuple[str, ...]) -> str:
    """Run `tabaug argv`: exit 2, one line on stderr containing every needle, nothing run or written."""
    code = main(list(argv))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("tabaug: warning:")]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("tabaug: error: "), err
    for text in (needle,) if isinstance(needle, str) else needle:
        assert text in lines[0], lines[0]
    assert not ray.is_initialized(), "a Ray started before the error"
    assert not (tmp_path / "out" / "config.json").exists() and not (tmp_path / "out" / "results").exists()
    return err


def run_args(config: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["run", str(config), "--out", str(tmp_path / "out"), "--no-progress", *extra]


def test_config_not_utf8(tmp_path, capsys, abalone):
    config = config_for(tmp_path, abalone)
    config.write_bytes("# r\u00e9sum\u00e9\n".encode("latin-1") + config.read_bytes())
    refused(capsys, tmp_path, *run_args(config, tmp_path), needle=(str(config), "not UTF-8", "byte 3"))


def test_maml_support_rows_must_leave_query_rows(tmp_path, capsys, abalone):
    """MAML's default 300 support rows out of 100 synthetic rows per seed: refused at load, not inside
    every MAML unit after the Low-data ensemble trained."""
    from tabaug_ray.config import load_config

    config = config_for(tmp_path, abalone)
    config.write_text(config.read_text().replace('scenarios = ["low_data"]', 'scenarios = ["low_data", "maml"]'))
    refused(capsys, tmp_path, *run_args(config, tmp_path),
            needle=(str(config), "bias.maml.n_support = 300 must be below inductive_bias.n_synthetic = 100"))
    config.write_text(config.read_text().replace("n_synthetic = 100", "n_synthetic = 301"))
    assert load_config(config).bias.maml.n_support == 300  # one query row is enough


def test_header_only_csv(tmp_path, capsys, abalone):
    config = config_for(tmp_path, None, csv_text=",".join(abalone.columns) + "\n")
    refused(capsys, tmp_path, *run_args(config, tmp_path), needle=("data.csv", "no data rows"))


def test_all_missing_column_is_dropped_with_a_warning(tmp_path, capsys, abalone):
    config = config_for(tmp_path, abalone.assign(empty=np.nan))
    (tmp_path / "afile").write_text("x")
    code = main(["run", str(config), "--out", str(tmp_path / "afile"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2  # stopped by --out, after the data checks: the warning came first
    assert "tabaug: warning: " in err and "dropping column 'empty' (all values missing)" in err


def test_infinite_values(tmp_path, capsys, abalone):
    frame = abalone.copy()
    frame.loc[6, "Diameter"] = np.inf
    config = config_for(tmp_path, frame)
    refused(capsys, tmp_path, *run_args(config, tmp_path), needle=("data.csv", "'Diameter'", "infinite", "row 7"))


def test_constant_target(tmp_path, capsys, abalone):
    config = config_for(tmp_path, abalone.assign(Rings=5))
    refused(capsys, tmp_path, *run_args(config, tmp_path), needle=("data.csv", "target 'Rings' is constant"))


def test_declared_task_contradicts_the_target(tmp_path, capsys, abalone):
    distinct = abalone["Whole weight"].nunique()
    assert distinct > 50
    config = config_for(tmp_path, abalone, target="Whole weight", task="binary")
    refused(capsys, tmp_path, *run_args(config, tmp_path),
            needle=("task 'binary' is declared", f"{distinct} distinct values", "regression"))


def test_numeric_column_with_garbage_strings(tmp_path, capsys, abalone):
    frame = abalone.astype({"Height": object})
    frame.loc[[3, 40, 41], "Height"] = ["?", "abc", "1,5"]
    config = config_for(tmp_path, frame)
    refused(capsys, tmp_path, *run_args(config, tmp_path),
            needle=("'Height'", "numeric but for 3 value(s)", "'?'", "'abc'"))


def test_declared_categorical_text_column_is_not_second_guessed(tmp_path, capsys, abalone):
    frame = abalone.astype({"Height": object})
    frame.loc[[3], "Height"] = ["?"]
    config = config_for(tmp_path, frame, extra='categorical = ["Sex", "Height"]')
    (tmp_path / "afile").write_text("x")
    assert main(["run", str(config), "--out", str(tmp_path / "afile"), "--no-progress"]) == 2
    assert "is a file" in capsys.readouterr().err  # got past the data checks


@pytest.mark.parametrize("value", ["0", "-1"])
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_max_cpus_must_be_positive(tmp_path, capsys, abalone, value, command):
    config = config_for(tmp_path, abalone)
    if command == "sweep":
        (tmp_path / "base.toml").write_text(SWEEP_BASE)
        config = tmp_path / "sweep.toml"
        config.write_text(SWEEP)
    refused(capsys, tmp_path, command, str(config), "--out", str(tmp_path / "out"), "--max-cpus", value,
            needle=(f"--max-cpus {value}", "at least 1"))
    assert not (tmp_path / "out").exists()


def test_out_is_a_file(tmp_path, capsys, abalone):
    config = config_for(tmp_path, abalone)
    (tmp_path / "afile").write_text("keep me")
    refused(capsys, tmp_path, "run", str(config), "--out", str(tmp_path / "afile"), needle=("afile", "is a file"))
    refused(capsys, tmp_path, "run", str(config), "--out", str(tmp_path / "afile" / "sub"),
            needle=("afile", "is a file"))
    assert (tmp_path / "afile").read_text() == "keep me"


def test_out_not_writable(tmp_path, capsys, abalone):
    config = config_for(tmp_path, abalone)
    refused(capsys, tmp_path, "run", str(config), "--out", "/proc/tabaug_out",
            needle=("/proc", "not writable"))


def test_evaluate_hint_does_not_suggest_the_preset_already_given(tmp_path, capsys, abalone):
    abalone.head(150).to_csv(tmp_path / "real.csv", index=False)
    abalone.tail(150).to_csv(tmp_path / "syn.csv", index=False)
    args = ["evaluate", str(tmp_path / "real.csv"), str(tmp_path / "syn.csv")]
    assert main([*args, "--preset", "realistic"]) == 2
    err = capsys.readouterr().err
    assert "150 rows" in err and "--preset realistic" not in err and "smaller --m/--l" in err
    assert main(args) == 2  # the default preset: realistic (M + 2L = 300) would not fit either
    assert "--preset realistic" not in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_unreachable_address_fails_fast_with_one_line(tmp_path, command):
    (tmp_path / "base.toml").write_text(SWEEP_BASE)
    (tmp_path / "sweep.toml").write_text(SWEEP)
    config = tmp_path / ("base.toml" if command == "run" else "sweep.toml")
    address = f"127.0.0.1:{_free_port()}"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tabaug_ray", command, str(config), "--out", str(tmp_path / "out"),
                           "--address", address], capture_output=True, text=True, timeout=60)
    assert time.monotonic() - start < 30
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and address in lines[0] and "no Ray cluster" in lines[0], proc.stderr
    assert not (tmp_path / "out" / "config.json").exists()
