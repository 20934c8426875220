"""Nothing executes from a results folder: producers' artifacts are HMAC-signed with a secret kept
outside OUT; a tampered, unsigned or foreign artifact is refused (never unpickled) and recomputed."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tabaug_ray.distributed.artifacts import MAGIC, SECRET_ENV, ArtifactStore
from tabaug_ray.errors import TabaugError

from test_sweep import BASE


class Payload:
    """Unpickling this creates `marker`: what an attacker's artifact would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.fixture
def secret(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "secret" / "artifact.key"
    monkeypatch.setenv(SECRET_ENV, str(path))
    return path


def test_signed_round_trip_and_every_kind_of_forgery_refused(tmp_path, secret):
    store = ArtifactStore(out=tmp_path / "out")
    store.save("k1", {"weights": [1.0, 2.0]})
    assert secret.is_file() and (secret.stat().st_mode & 0o777) == 0o600
    assert not str(secret).startswith(str(tmp_path / "out"))
    assert store.load("k1") == {"weights": [1.0, 2.0]}
    file = tmp_path / "out" / "artifacts" / "k1.pkl"
    marker = tmp_path / "PWNED"
    evil = pickle.dumps(Payload(marker))
    signed = file.read_bytes()
    forgeries = {
        "unsigned": evil,  # an old-style plain pickle
        "tampered": signed[:-1] + evil[-1:] if signed[-1:] != evil[-1:] else signed[:-2] + b"xx",
        "other secret": ArtifactStore(out=tmp_path / "x", secret=b"y" * 64).sign("k1", evil),
        "another unit's": store.sign("k2", evil),
    }
    for what, data in forgeries.items():
        file.write_bytes(data)
        with pytest.raises(TabaugError, match="refused") as info:
            store.load("k1")
        assert "\n" not in str(info.value), what
        assert not marker.exists(), what
    assert store.verify(["k1", "absent"]) == ["k1"]
    assert not file.exists() and (tmp_path / "out" / "quarantine" / "k1.pkl").is_file()
    assert not marker.exists()


def test_tampered_artifact_is_refused_and_recomputed_never_loaded(tmp_path, secret):
    config = tmp_path / "base.toml"
    config.write_text(BASE.replace("folds = 2", "folds = 2\n[execution]\nmax_cpus = 1")
                      .replace("max_epochs = 40", "max_epochs = 10")
                      .replace('augmenters = ["mlda"]', 'augmenters = ["mlda"]\nreferences = false'))
    out = tmp_path / "out"
    env = {**os.environ, SECRET_ENV: str(secret)}

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tabaug_ray", "run", str(config), "--out", str(out),
                               "--no-progress", "--only", "fold=0", *extra], capture_output=True, text=True, env=env)

    first = run()
    assert first.returncode == 0, first.stderr
    artifacts = sorted((out / "artifacts").glob("*.pkl"))
    assert len(artifacts) == 1 and artifacts[0].read_bytes().startswith(MAGIC)  # the teacher
    before = pd.read_parquet(out / "results")
    student = before.loc[before.scenario == "mlda", "unit_key"].iloc[0]
    (out / "results" / f"{student}.parquet").unlink()  # its rerun needs the teacher's value
    marker = tmp_path / "PWNED"
    artifacts[0].write_bytes(pickle.dumps(Payload(marker)))
    again = run()
    assert again.returncode == 0, again.stderr
    assert not marker.exists(), "the tampered artifact was unpickled"
    assert "refused" in again.stderr and artifacts[0].name in again.stderr and "Traceback" not in again.stderr
    assert "1 already done, 2 finished" in again.stdout  # the teacher ran again, then the student
    assert artifacts[0].read_bytes().startswith(MAGIC) and (out / "quarantine" / artifacts[0].name).is_file()
    after = pd.read_parquet(out / "results")
    rmse = lambda t: t.loc[(t.unit_key == student) & (t.metric == "rmse"), "value"].tolist()  # noqa: E731
    assert rmse(after) == rmse(before)
    # a --reuse source is as untrusted as OUT: its tampered artifact is not copied in
    source = tmp_path / "source"
    os.rename(out, source)
    artifacts = sorted((source / "artifacts").glob("*.pkl"))
    artifacts[0].write_bytes(pickle.dumps(Payload(marker)))
    (source / "results" / f"{student}.parquet").unlink()
    reuse = run("--reuse", str(source))
    assert reuse.returncode == 0, reuse.stderr
    assert "not copied" in reuse.stderr and not marker.exists()
    assert "(1 copied from --reuse), 2 finished" in reuse.stdout
