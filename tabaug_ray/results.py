"""The results table's one home: its schema and required columns, how a row is built, the Parquet
parts under OUT/results (written atomically, checked on resume, torn or foreign ones quarantined),
the failure records under OUT/failed and the stored config. `tabaug run` writes through it and
`tabaug report` reads through it; neither side needs the other (no Ray here).

Each part is written to a hidden temporary file and moved into place, so a crash of this process
never leaves a torn part; a part can still be torn or foreign when something else wrote OUT (a
copy interrupted by a full disk, a sync tool, a hand edit). `ResultStore.verify` checks every part
from its footer alone (readable, rows > 0, the required columns, the unit key in the column
statistics equal to the file name) and moves a bad one to OUT/quarantine/, so its unit runs again.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tabaug_ray.errors import TabaugError, warn
from tabaug_ray.storage import Storage
from tabaug_ray.version import code_version_label

if TYPE_CHECKING:
    from tabaug_ray.config import ExperimentConfig
    from tabaug_ray.pipelines.base import Unit

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
SUFFIX = ".parquet"


def make_record(config: "ExperimentConfig", unit: "Unit", *, scenario: str, model: str, metric: str, value: float,
                seed: int, seconds: float, n: int | None = None, m: int | None = None, l: int | None = None,
                **extra: Any) -> dict:
    """One row of the long results table."""
    return {"experiment": config.experiment.name, "dataset": unit.dataset, "fold": unit.fold, "run": unit.run,
            "scenario": scenario, "model": model, "metric": metric, "value": float(value), "n": n, "m": m,
            "l": l, "seed": seed, "unit_key": unit.key, "seconds": float(seconds),
            "code_version": code_version_label(), "status": "ok", **extra}


@dataclass(frozen=True)
class BadPart:
    """A result part that is not a finished unit: its file name and what is wrong with it."""

    name: str
    reason: str


class ResultStore:
    """Parquet parts under OUT/results, the config under OUT/config.toml, failures under OUT/failed.

    Args:
        out: the output directory: a local path or a pyarrow file-system URI.
    """

    def __init__(self, *, out: str | os.PathLike) -> None:
        self.storage = Storage(uri=out)

    def has(self, unit_key: str) -> bool:
        return self.storage.exists("results", f"{unit_key}{SUFFIX}")

    def done_keys(self) -> set[str]:
        """Keys of the parts present (`verify` first to leave out torn or foreign ones)."""
        return {name.removesuffix(SUFFIX) for name in self.storage.list("results", SUFFIX)}

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
        self.storage.write_bytes(buffer.getvalue(), "results", f"{unit_key}{SUFFIX}")

    # ------------------------------------------------------------------------------ checking parts
    def check_part(self, name: str) -> str | None:
        """What is wrong with part `name`, from its footer only (None: a finished unit's part).

        Reads the Parquet footer (a few KB whatever the part's size): it must parse, hold rows and
        the required columns, and every row group's `unit_key` statistics must be the file's key
        (pyarrow writes min / max per column; without them the unit_key column alone is read).
        """
        key = name.removesuffix(SUFFIX)
        path = self.storage.path("results", name)
        try:
            meta = pq.read_metadata(path, filesystem=self.storage.fs)
        except (pa.ArrowException, OSError) as exc:
            return f"unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        names = meta.schema.names
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            return f"not a result part (lacks columns {missing})"
        if meta.num_rows == 0:
            return "holds no rows"
        index = names.index("unit_key")
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(index).statistics
            if stats is None or not stats.has_min_max or stats.null_count:
                keys = set(pq.read_table(path, columns=["unit_key"], filesystem=self.storage.fs)
                           .column("unit_key").to_pylist())
                return None if keys == {key} else f"holds rows of unit(s) {sorted(map(str, keys))[:3]}, not {key}"
            if stats.min != key or stats.max != key:
                return f"holds rows of unit {stats.min}, not {key}"
        return None

    def verify(self, *, quarantine: bool = True) -> list[BadPart]:
        """Check every part (`check_part`); each bad one is named in a warning and, with
        `quarantine`, moved to OUT/quarantine/ so that its unit is no longer done and runs again."""
        bad = []
        for name in self.storage.list("results", SUFFIX):
            reason = self.check_part(name)
            if reason is None:
                continue
            bad.append(BadPart(name=name, reason=reason))
            where = self.storage.path("results", name)
            if quarantine:
                target = self.storage.move(("results", name), ("quarantine", name))
                warn(f"{where}: {reason}; moved to {target}, its unit runs again")
            else:
                warn(f"{where}: {reason}; left out")
        return bad

    # ----------------------------------------------------------------------------------- reading
    def read(self) -> pd.DataFrame:
        """The whole long table (empty with the right columns when nothing is stored); a bad part
        raises (see `read_checked` to leave bad parts out)."""
        names = self.storage.list("results", SUFFIX)
        if not names:
            return SCHEMA.empty_table().to_pandas()
        return pa.concat_tables([self._part(n) for n in names]).to_pandas()

    def read_checked(self) -> tuple[pd.DataFrame, list[BadPart]]:
        """The long table from every readable part whose rows are its own unit's, and the parts
        left out (named, not moved: reading changes nothing in OUT)."""
        tables, bad = [], []
        for name in self.storage.list("results", SUFFIX):
            try:  # one read per part: the checks of `check_part`, on the table itself
                table = self._part(name)
            except (pa.ArrowException, OSError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                bad.append(BadPart(name=name, reason=f"unreadable ({first})"))
                continue
            keys = set(table.column("unit_key").unique().to_pylist())
            if keys != {name.removesuffix(SUFFIX)}:
                bad.append(BadPart(name=name, reason="holds no rows" if not keys else
                                   f"holds rows of unit(s) {sorted(map(str, keys))[:3]}, not {name.removesuffix(SUFFIX)}"))
                continue
            tables.append(table)
        table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
        return table.to_pandas(), bad

    def read_part(self, unit_key: str) -> list[dict]:
        """One finished unit's rows."""
        return self._part(f"{unit_key}{SUFFIX}").to_pylist()

    def _part(self, name: str) -> pa.Table:
        return pq.read_table(self.storage.path("results", name), schema=SCHEMA, filesystem=self.storage.fs)

    # ------------------------------------------------------------------------------------ config
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

    # ---------------------------------------------------------------------------------- failures
    def record_failure(self, unit_key: str, failure: Mapping[str, Any]) -> None:
        self.storage.write_bytes(json.dumps(dict(failure), indent=2, default=str).encode(), "failed",
                                 f"{unit_key}.json")

    def clear_failure(self, unit_key: str) -> None:
        self.storage.delete("failed", f"{unit_key}.json")

    def failures(self) -> list[dict]:
        """The failure records; an unreadable one becomes {"unit_key", "error": "unreadable ..."}."""
        records = []
        for name in self.storage.list("failed", ".json"):
            try:
                records.append(json.loads(self.storage.read_bytes("failed", name)))
            except (ValueError, UnicodeDecodeError, OSError):
                records.append({"unit_key": name.removesuffix(".json"), "error": f"unreadable failure record {name}"})
        return records
