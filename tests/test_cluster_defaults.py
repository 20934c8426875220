"""Cluster defaults are safe: the dashboard / job API binds the head's private address, submit.sh
refuses plain http to a remote host unless told, the KubeRay manifest states its auth settings."""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def test_cluster_yaml_binds_the_dashboard_to_the_private_head_address():
    spec = yaml.safe_load((REPO / "cluster" / "cluster.yaml").read_text())
    head = " ".join(spec["head_start_ray_commands"])
    assert "0.0.0.0" not in head
    host = head.split("--dashboard-host=")[1].split()[0]
    assert host == spec["provider"]["head_ip"] and ipaddress.ip_address(host).is_private
    text = (REPO / "cluster" / "cluster.yaml").read_text()
    assert "ssh -L" in text and "https://" in text  # how to reach it: an SSH tunnel or a TLS proxy


def test_rayjob_states_token_auth_and_keeps_the_head_inside_the_cluster():
    spec = yaml.safe_load((REPO / "cluster" / "rayjob.yaml").read_text())["spec"]
    head = spec["rayClusterSpec"]["headGroupSpec"]
    assert head["serviceType"] == "ClusterIP"
    pods = [head["template"], *(g["template"] for g in spec["rayClusterSpec"]["workerGroupSpecs"]),
            spec["submitterPodTemplate"]]
    for pod in pods:
        for container in pod["spec"]["containers"]:
            env = {e["name"]: e for e in container["env"]}
            assert env["RAY_AUTH_MODE"]["value"] == "token"
            assert "secretKeyRef" in env["RAY_AUTH_TOKEN"]["valueFrom"]


@pytest.fixture
def fake_ray(tmp_path) -> Path:
    """A stand-in `ray` that records its arguments (submit.sh runs $RAY)."""
    script = tmp_path / "ray"
    script.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/called\n')
    script.chmod(0o755)
    return script


def submit(fake_ray: Path, address: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY": str(fake_ray), "RAY_ADDRESS": address}
    return subprocess.run([str(REPO / "cluster" / "submit.sh"), *args, "exp.toml", "s3://b/out"], env=env,
                          capture_output=True, text=True)


@pytest.mark.parametrize("address", ["http://10.0.0.1:8265", "10.0.0.1:8265", "http://head.example.org:8265"])
def test_submit_refuses_plain_http_to_a_remote_host(fake_ray, address):
    proc = submit(fake_ray, address)
    assert proc.returncode == 2 and not (fake_ray.parent / "called").exists()
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--allow-plain-http" in lines[0] and address in lines[0]
    forced = submit(fake_ray, address, "--allow-plain-http")
    assert forced.returncode == 0, forced.stderr
    assert f"--address {address}" in (fake_ray.parent / "called").read_text()


@pytest.mark.parametrize("address", ["http://127.0.0.1:8265", "http://localhost:8265", "https://head.example.org"])
def test_submit_passes_loopback_and_tls(fake_ray, address):
    proc = submit(fake_ray, address)
    assert proc.returncode == 0, proc.stderr
    called = (fake_ray.parent / "called").read_text()
    assert f"--address {address}" in called and "run exp.toml --out s3://b/out --address auto" in called
