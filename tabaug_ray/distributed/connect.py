"""Joining Ray: a local Ray by default, or a cluster at an address checked before anything is written."""

from __future__ import annotations

import logging
import os

from tabaug_ray.errors import TabaugError

# Worker processes: idle OpenMP threads sleep instead of spinning (on a 2-core machine a spinning
# pool slows the other task by 50x), and glibc keeps freed memory instead of returning it to the OS
# after every epoch (about 20 % less CPU in the discriminator's training).
WORKER_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "MALLOC_MMAP_THRESHOLD_": "268435456",
              "MALLOC_TRIM_THRESHOLD_": "268435456"}


def init_ray(*, address: str | None, max_cpus: int | None) -> None:
    """Local Ray on all (or `max_cpus`) cores by default; `address` joins a running cluster."""
    import ray

    if ray.is_initialized():
        return
    # A unit's error is reported once, by the executor; Ray would also log every error it was
    # never asked for (the value ref of a failed producer).
    os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
    env_vars = dict(WORKER_ENV)
    env_vars.update({k: v for k, v in os.environ.items() if k.startswith("TABAUG_") or k in WORKER_ENV
                     or k == "RAY_CHDIR_TO_TRIAL_DIR"})
    env = {"env_vars": env_vars}
    if address:
        # inside a submitted job the job's runtime_env is merged with ours instead of refused
        os.environ.setdefault("RAY_OVERRIDE_JOB_RUNTIME_ENV", "1")
        try:
            ray.init(address=address, runtime_env=env, log_to_driver=False, logging_level=logging.WARNING)
        except ConnectionError as exc:  # e.g. 'auto' with no cluster running
            raise TabaugError(f"--address {address}: no Ray cluster reachable ({str(exc).splitlines()[0]})") from None
    else:
        ray.init(num_cpus=max_cpus, include_dashboard=False, runtime_env=env, log_to_driver=False,
                 logging_level=logging.WARNING)


# How long `check_address` waits for a TCP connection to the cluster: a live head answers in
# milliseconds even across regions; without this, ray.init retries an unreachable GCS forever.
CONNECT_TIMEOUT_S = 10.0


def check_address(address: str | None) -> str | None:
    """Check an --address before anything is written: its form, then that something answers there
    (a TCP connection within CONNECT_TIMEOUT_S); an unreachable cluster is a one-line TabaugError."""
    if not address:
        return address
    if not (address == "auto" or address.startswith(("ray://", "localhost", "127.")) or ":" in address):
        raise TabaugError(f"--address {address!r}: expected 'auto', 'ray://host:port' or 'host:port'")
    if address == "auto":
        return address  # found by ray.init (RAY_ADDRESS or a local head); init_ray names a miss
    rest = address.removeprefix("ray://")
    host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    try:
        port_number = int(port) if port else (10001 if address.startswith("ray://") else 6379)
    except ValueError:
        raise TabaugError(f"--address {address!r}: the port {port!r} is not a number") from None
    import socket

    try:
        with socket.create_connection((host.strip("[]"), port_number), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__  # TimeoutError has no strerror
        raise TabaugError(f"--address {address}: no Ray cluster reachable at {host}:{port_number} ({reason}, "
                          f"waited at most {CONNECT_TIMEOUT_S:.0f} s); start one or check the address") from None
    return address
