"""A real two-node Ray cluster on this machine, a job submitted with cluster/submit.sh.

The cluster lives in its own network namespace (`unshare --net`, root) whose only interface is
loopback, so every byte stays on 127.0.0.1; it runs with Ray's token authentication.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]

SCRIPT = r"""
set -euo pipefail
ip link set lo up
ray start --head --port=6390 --num-cpus=1 --dashboard-host=127.0.0.1 --dashboard-port=8299 \
  --disable-usage-stats --temp-dir="$RAY_DIR" > "$WORK/head.log" 2>&1
ray start --address=127.0.0.1:6390 --num-cpus=1 --disable-usage-stats > "$WORK/worker.log" 2>&1
python "$WORK/nodes.py"
RAY_ADDRESS=http://127.0.0.1:8299 "$REPO/cluster/submit.sh" "$CONFIG" "$OUT"
"""

NODES = """
import time, ray
ray.init(address="127.0.0.1:6390", logging_level="ERROR")
for _ in range(60):
    alive = [n for n in ray.nodes() if n["Alive"]]
    if len(alive) == 2:
        break
    time.sleep(1)
print("NODES", len(alive), sorted({n["NodeManagerAddress"] for n in alive}), ray.cluster_resources()["CPU"])
"""

CONFIG = """
[experiment]
name = "on_a_cluster"
kind = "inductive_bias"
folds = 2

[[datasets]]
name = "breast_cancer"

[inductive_bias]
models = ["vae_bgm", "examples.plugin_generators:ClassConditionalGMM"]  # a plugin, shipped by working_dir
scenarios = ["low_data"]
n_low = 100
n_synthetic = 400

[vae]
n_seeds = 2
max_epochs = 30

[evaluation]
presets = ["realistic"]
repeats = 1
utility = false
"""


def _kill_namespace(pid: int) -> None:
    """Kill every process in the network namespace of `pid` (the cluster and its workers)."""
    try:
        netns = os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return
    if netns == os.readlink("/proc/self/ns/net"):
        return
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "net") == netns:
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                continue


def test_two_node_cluster_runs_a_submitted_experiment(tmp_path):
    ray_dir = tempfile.mkdtemp(prefix="tbr", dir="/tmp")  # Ray's socket paths must stay short
    (tmp_path / "cluster.toml").write_text(CONFIG)
    (tmp_path / "nodes.py").write_text(NODES)
    token = tmp_path / "token"
    token.write_text(secrets.token_hex(32))
    env = dict(os.environ, WORK=str(tmp_path), RAY_DIR=ray_dir, REPO=str(REPO), CONFIG=str(tmp_path / "cluster.toml"),
               OUT=str(tmp_path / "out"), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token))
    proc = subprocess.Popen(["unshare", "--net", "bash", "-c", SCRIPT], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = proc.communicate(timeout=600)
    finally:
        # the namespace outlives the script (ray start daemonises): find it through a survivor
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmd = (entry / "cmdline").read_bytes().decode(errors="ignore")
                except OSError:
                    continue
                if ray_dir in cmd:
                    _kill_namespace(int(entry.name))
                    break
        shutil.rmtree(ray_dir, ignore_errors=True)
    assert proc.returncode == 0, output[-3000:]
    nodes = next(line for line in output.splitlines() if line.startswith("NODES"))
    assert nodes == "NODES 2 ['127.0.0.1'] 2.0"
    assert "succeeded" in output and "4 units planned, 0 already done, 4 finished, 0 failed" in output
    table = pd.read_parquet(tmp_path / "out" / "results")
    assert set(table.fold) == {0, 1} and {"js", "kl"} <= set(table.metric)
    assert set(table.model) == {"vae_bgm", "examples.plugin_generators:ClassConditionalGMM"}
