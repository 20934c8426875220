"""The result store: one long-format table written as one Parquet part per finished unit.

Each part is written to a hidden temporary file and renamed into place, so a crash never leaves
a torn part; `pandas.read_parquet(OUT / "results")` reads the whole table (hidden files are
ignored by pyarrow). A unit whose part exists is done.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tabaug_ray.errors import TabaugError

REQUIRED = ("experiment", "dataset", "fold", "run", "scenario", "model", "metric", "value",
            "n", "m", "l", "seed", "unit_key", "seconds", "code_version")

SCHEMA = pa.schema([
    ("experiment", pa.string()), ("dataset", pa.string()), ("fold", pa.int64()), ("run", pa.int64()),
    ("scenario", pa.string()), ("model", pa.string()), ("metric", pa.string()), ("value", pa.float64()),
    ("n", pa.int64()), ("m", pa.int64()), ("l", pa.int64()), ("seed", pa.int64()),
    ("unit_key", pa.string()), ("seconds", pa.float64()), ("code_version", pa.string()),
    # optional columns (null where they do not apply)
    ("repeat", pa.int64()), ("preset", pa.string()), ("status", pa.string()), ("train_size", pa.int64()),
    ("eta", pa.float64()), ("volume", pa.int64()), ("teacher", pa.string()), ("student", pa.string()),
    ("message", pa.string()),
])
COLUMNS = tuple(SCHEMA.names)


def _atomic_write_bytes(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class ResultStore:
    """Parquet parts under OUT/results, the config under OUT/config.toml.

    Args:
        out: the output directory (created if missing).
    """

    def __init__(self, *, out: str | os.PathLike) -> None:
        self.out = Path(out)
        self.results = self.out / "results"

    def part_path(self, unit_key: str) -> Path:
        return self.results / f"{unit_key}.parquet"

    def has(self, unit_key: str) -> bool:
        return self.part_path(unit_key).is_file()

    def done_keys(self) -> set[str]:
        if not self.results.is_dir():
            return set()
        return {p.stem for p in self.results.glob("*.parquet") if not p.name.startswith(".")}

    def write(self, unit_key: str, records: Iterable[Mapping[str, Any]]) -> Path:
        """Write one unit's rows atomically; every row must carry the REQUIRED columns."""
        rows = [dict(r) for r in records]
        if not rows:
            raise ValueError(f"unit {unit_key}: no result rows to write")
        for row in rows:
            missing = [c for c in REQUIRED if c not in row]
            unknown = [c for c in row if c not in COLUMNS]
            if missing or unknown:
                raise ValueError(f"unit {unit_key}: result row has missing {missing} / unknown {unknown} columns")
            if row["unit_key"] != unit_key:
                raise ValueError(f"unit {unit_key}: row carries unit_key {row['unit_key']!r}")
        table = pa.Table.from_pylist(rows, schema=SCHEMA)
        self.results.mkdir(parents=True, exist_ok=True)
        path = self.part_path(unit_key)
        _atomic_write_bytes(path, lambda tmp: pq.write_table(table, tmp))
        return path

    def read(self) -> pd.DataFrame:
        """The whole long table (empty with the right columns when nothing is stored)."""
        parts = sorted(p for p in self.results.glob("*.parquet") if not p.name.startswith(".")) \
            if self.results.is_dir() else []
        if not parts:
            return SCHEMA.empty_table().to_pandas()
        return pa.concat_tables([pq.read_table(p, schema=SCHEMA) for p in parts]).to_pandas()

    def save_config(self, text: str, *, config_hash: str, resolved: Mapping[str, Any]) -> None:
        """Keep the exact config; refuse to mix results of a different config in one OUT."""
        self.out.mkdir(parents=True, exist_ok=True)
        meta_path = self.out / "config.json"
        if meta_path.is_file():
            old = json.loads(meta_path.read_text()).get("hash")
            if old != config_hash and self.done_keys():
                raise TabaugError(f"{self.out}: holds results of another config (hash {old}, this one "
                                  f"{config_hash}); choose a new --out or remove the old results")
        _atomic_write_bytes(self.out / "config.toml", lambda tmp: tmp.write_text(text))
        meta = {"hash": config_hash, "config": resolved}
        _atomic_write_bytes(meta_path, lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
