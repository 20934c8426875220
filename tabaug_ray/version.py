"""Code version: part of every unit key. Bump CODE_VERSION when a change alters results, so that
resumed runs recompute instead of mixing old and new numbers."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

CODE_VERSION = "0.6.0"  # 0.6.0: Platt calibration of the judge with smoothed targets (finite on separable validation rows; divergence.platt_scale); 0.5.0: the default judge waits at most 200 epochs (realistic preset; judges.JUDGES); 0.4.0: the Gaussian copula refits degenerate marginals; 0.3.0: new default divergence judge (judges.JUDGES["default"]); 0.2.0: categorical codes scaled to [0, 1] at the encoder input


@lru_cache(maxsize=1)
def code_version_label() -> str:
    """CODE_VERSION plus the git commit when run from a checkout (recorded, not hashed)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{CODE_VERSION}+g{commit}" if commit else CODE_VERSION


def version_tuple(label: str) -> tuple[int, ...] | None:
    """(0, 4, 0) from '0.4.0+g6ef4052'; None when it is no version number."""
    parts = str(label).split("+")[0].split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None
