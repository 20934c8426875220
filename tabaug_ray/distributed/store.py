"""The result store: one long-format table written as one Parquet part per finished unit.

Each part is written to a hidden temporary file and moved into place, so a crash never leaves a
torn part; `pandas.read_parquet(OUT / "results")` reads the whole table (hidden files are ignored
by pyarrow). A unit whose part exists is done. OUT is a local path or any pyarrow file-system URI.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any, Iterable, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tabaug_ray.distributed.storage import Storage
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


class ResultStore:
    """Parquet parts under OUT/results, the config under OUT/config.toml, failures under OUT/failed.

    Args:
        out: the output directory: a local path or a pyarrow file-system URI.
    """

    def __init__(self, *, out: str | os.PathLike) -> None:
        self.storage = Storage(uri=out)

    def has(self, unit_key: str) -> bool:
        return self.storage.exists("results", f"{unit_key}.parquet")

    def done_keys(self) -> set[str]:
        return {name.removesuffix(".parquet") for name in self.storage.list("results", ".parquet")}

    def write(self, unit_key: str, records: Iterable[Mapping[str, Any]]) -> None:
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
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), buffer)
        self.storage.write_bytes(buffer.getvalue(), "results", f"{unit_key}.parquet")

    def read(self) -> pd.DataFrame:
        """The whole long table (empty with the right columns when nothing is stored)."""
        names = self.storage.list("results", ".parquet")
        if not names:
            return SCHEMA.empty_table().to_pandas()
        return pa.concat_tables([self._part(n) for n in names]).to_pandas()

    def read_part(self, unit_key: str) -> list[dict]:
        """One finished unit's rows."""
        return self._part(f"{unit_key}.parquet").to_pylist()

    def _part(self, name: str) -> pa.Table:
        return pq.read_table(self.storage.path("results", name), schema=SCHEMA, filesystem=self.storage.fs)

    def save_config(self, text: str, *, config_hash: str, resolved: Mapping[str, Any]) -> None:
        """Keep the exact config; refuse to mix results of a different config in one OUT."""
        if self.storage.exists("config.json"):
            old = json.loads(self.storage.read_bytes("config.json")).get("hash")
            if old != config_hash and self.done_keys():
                raise TabaugError(f"{self.storage.uri}: holds results of another config (hash {old}, this one "
                                  f"{config_hash}); choose a new --out or remove the old results")
        self.storage.write_bytes(text.encode(), "config.toml")
        meta = {"hash": config_hash, "config": resolved}
        self.storage.write_bytes(json.dumps(meta, indent=2).encode(), "config.json")

    def stored_config(self) -> dict[str, Any] | None:
        """The validated config `save_config` kept, as a dict; None where no run saved one."""
        if not self.storage.exists("config.json"):
            return None
        return json.loads(self.storage.read_bytes("config.json"))["config"]

    def record_failure(self, unit_key: str, failure: Mapping[str, Any]) -> None:
        self.storage.write_bytes(json.dumps(dict(failure), indent=2, default=str).encode(), "failed",
                                 f"{unit_key}.json")

    def clear_failure(self, unit_key: str) -> None:
        self.storage.delete("failed", f"{unit_key}.json")

    def failures(self) -> list[dict]:
        return [json.loads(self.storage.read_bytes("failed", n)) for n in self.storage.list("failed", ".json")]
