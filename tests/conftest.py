"""Shared fixtures: the real datasets folder (../shared/datasets or TABAUG_DATA_DIR)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path | None:
    env = os.environ.get("TABAUG_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "datasets")
    for path in candidates:
        if (path / "MANIFEST.tsv").is_file():
            return path
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets folder; the suite requires it (CI has ../shared beside the clone)."""
    path = _data_dir()
    if path is None:
        pytest.fail("no datasets folder: set TABAUG_DATA_DIR or put shared/datasets beside the repo")
    return path
