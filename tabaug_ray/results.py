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
import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq

from tabaug_ray.errors import TabaugError, warn
from tabaug_ray.storage import Storage
from tabaug_ray.version import code_version_label, version_tuple

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
PACK_PREFIX = "packed-"
PACK_META = b"tabaug_pack"  # footer key: JSON {"units": {unit_key: rows}}


def is_pack(name: str) -> bool:
    return name.startswith(PACK_PREFIX) and name.endswith(SUFFIX)


IDENTITY = tuple(c for c in COLUMNS if c not in ("value", "unit_key", "seconds", "code_version", "seed", "status",
                                                  "message"))
"""What a row measures (experiment, dataset, fold, run, scenario, model, metric, n, m, l, repeat, preset and
the MLDA settings): two rows with the same identity from different CODE_VERSIONs are the same number
computed by different code."""


def drop_superseded(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of `df` that no newer CODE_VERSION recomputed, and one row per unit left out
    (unit_key, code_version, the version that superseded it).

    A run resumed after a CODE_VERSION bump recomputes its units under new keys beside the old
    parts (nothing is deleted); reading both would average old and new numbers of one cell. A unit
    is left out when a newer version holds any of its rows' identities (it was recomputed)."""
    labels = df["code_version"].astype(str)
    rank = labels.map(lambda v: sum(x * 1000 ** (3 - i) for i, x in enumerate((version_tuple(v) or ())[:4])))
    ident = [df[c] for c in IDENTITY if c in df.columns]
    newest = rank.groupby(ident, dropna=False, sort=False).transform("max")
    old = (rank < newest).to_numpy()
    by = labels.groupby(rank).first()  # a label of each version, to name what superseded a unit
    gone = pd.DataFrame({"unit_key": df["unit_key"], "code_version": labels, "by": newest.map(by)})[old]
    gone = gone.drop_duplicates("unit_key").reset_index(drop=True)
    return df[~df["unit_key"].isin(gone["unit_key"])], gone


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
        self._pack_cache: dict[str, pa.Table] = {}
        self._pack_checks: dict[str, str | None] = {}

    def has(self, unit_key: str) -> bool:
        return self.storage.exists("results", f"{unit_key}{SUFFIX}") or unit_key in self.packed_units()

    def part_names(self) -> list[str]:
        """Names of the per-unit parts (packs excluded), sorted."""
        return [n for n in self.storage.list("results", SUFFIX) if not is_pack(n)]

    def pack_names(self) -> list[str]:
        return [n for n in self.storage.list("results", SUFFIX) if is_pack(n)]

    def pack_units(self, name: str) -> dict[str, int]:
        """unit key -> rows of pack `name`, from its footer (raises on an unreadable pack)."""
        meta = pq.read_metadata(self.storage.path("results", name), filesystem=self.storage.fs).metadata or {}
        return json.loads(meta[PACK_META])["units"]

    def packed_units(self) -> dict[str, str]:
        """unit key -> the pack holding it, over every readable pack."""
        out: dict[str, str] = {}
        for name in self.pack_names():
            try:
                out.update(dict.fromkeys(self.pack_units(name), name))
            except (pa.ArrowException, OSError, KeyError, ValueError):
                continue  # a bad pack: `verify` names and quarantines it
        return out

    def done_keys(self) -> set[str]:
        """Keys of the parts and packed units present (`verify` first to leave out torn or foreign ones)."""
        return {name.removesuffix(SUFFIX) for name in self.part_names()} | set(self.packed_units())

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

    def check_pack(self, name: str, table: pa.Table | None = None) -> str | None:
        """What is wrong with pack `name` (None: every unit its footer names, with that many rows,
        and no other rows); reads its footer and its unit_key column (or `table`, already read)."""
        path = self.storage.path("results", name)
        try:
            meta = pq.read_metadata(path, filesystem=self.storage.fs)
            units = json.loads((meta.metadata or {})[PACK_META])["units"]
            if table is None:
                table = pq.read_table(path, columns=["unit_key"], filesystem=self.storage.fs)
        except KeyError:
            return "not a pack (no unit list in its footer)"
        except (pa.ArrowException, OSError, ValueError) as exc:
            return f"unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        missing = [c for c in REQUIRED if c not in meta.schema.names]
        if missing:
            return f"not a result pack (lacks columns {missing})"
        counts = table.column("unit_key").value_counts().to_pylist()
        found = {c["values"]: c["counts"] for c in counts}
        if not units or found != units:
            return f"holds {sum(found.values())} rows of {len(found)} units, its footer lists {len(units)} units"
        return None

    def verify(self, *, quarantine: bool = True) -> list[BadPart]:
        """Check every part (`check_part`) and pack (`check_pack`); each bad one is named in a warning
        and, with `quarantine`, moved to OUT/quarantine/ so that its units are no longer done and run
        again."""
        bad = []
        for name in self.storage.list("results", SUFFIX):
            reason = self.check_pack(name) if is_pack(name) else self.check_part(name)
            if reason is None:
                continue
            bad.append(BadPart(name=name, reason=reason))
            where = self.storage.path("results", name)
            if quarantine:
                target = self.storage.move(("results", name), ("quarantine", name))
                warn(f"{where}: {reason}; moved to {target}, {'its units run' if is_pack(name) else 'its unit runs'} again")
            else:
                warn(f"{where}: {reason}; left out")
        return bad

    # ----------------------------------------------------------------------------------- reading
    def read(self, *, columns: list[str] | None = None) -> pd.DataFrame:
        """The whole long table (empty with the right columns when nothing is stored); a bad part or
        pack raises (see `read_checked` to leave bad ones out). `columns`: read only these."""
        tables, _ = self._tables(strict=True, columns=columns)
        return self._ordered(tables, columns).to_pandas()

    def read_checked(self) -> tuple[pd.DataFrame, list[BadPart]]:
        """The long table from every readable part whose rows are its own unit's and every sound pack,
        and the parts / packs left out (named, not moved: reading changes nothing in OUT)."""
        tables, bad = self._tables(strict=False)
        return self._ordered(tables).to_pandas(), bad

    def read_table(self) -> pa.Table:
        """The long table as Arrow, in its canonical order (bad parts or packs raise)."""
        return self._ordered(self._tables(strict=True)[0])

    def read_part(self, unit_key: str) -> list[dict]:
        """One finished unit's rows (from its part, else from the pack holding it)."""
        if self.storage.exists("results", f"{unit_key}{SUFFIX}"):
            return self._part(f"{unit_key}{SUFFIX}").to_pylist()
        pack = self.packed_units()[unit_key]
        if pack not in self._pack_cache:
            self._pack_cache[pack] = self._part(pack)
        table = self._pack_cache[pack]
        return table.filter(pa.compute.equal(table.column("unit_key"), unit_key)).to_pylist()

    def check_unit(self, unit_key: str) -> str | None:
        """What is wrong with the stored rows of `unit_key` (its part, else its pack); None: sound."""
        if self.storage.exists("results", f"{unit_key}{SUFFIX}"):
            return self.check_part(f"{unit_key}{SUFFIX}")
        pack = self.packed_units().get(unit_key)
        if pack is None:
            return "not found"
        if pack not in self._pack_checks:
            self._pack_checks[pack] = self.check_pack(pack)
        return self._pack_checks[pack]

    def _part(self, name: str, columns: list[str] | None = None) -> pa.Table:
        table = pq.read_table(self.storage.path("results", name), schema=SCHEMA, filesystem=self.storage.fs,
                              columns=columns)
        return table.replace_schema_metadata(None)

    def _tables(self, *, strict: bool, columns: list[str] | None = None) -> tuple[list[pa.Table], list[BadPart]]:
        """Every part's table and every pack's rows of units without a part; with `strict`, a bad
        one raises, else it is left out and named."""
        if columns is not None and "unit_key" not in columns:
            columns = [*columns, "unit_key"]
        tables, bad = [], []
        parts = self.part_names()
        for name in parts:
            try:  # one read per part: the checks of `check_part`, on the table itself
                table = self._part(name, columns)
            except (pa.ArrowException, OSError) as exc:
                if strict:
                    raise
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                bad.append(BadPart(name=name, reason=f"unreadable ({first})"))
                continue
            key = name.removesuffix(SUFFIX)
            keys = set(table.column("unit_key").unique().to_pylist())
            if keys != {key} and not strict:
                bad.append(BadPart(name=name, reason="holds no rows" if not keys else
                                   f"holds rows of unit(s) {sorted(map(str, keys))[:3]}, not {key}"))
                continue
            tables.append(table)
        in_parts = {name.removesuffix(SUFFIX) for name in parts}
        for name in self.pack_names():
            try:
                table = self._part(name, columns)
                reason = None if strict else self.check_pack(name, table)
            except (pa.ArrowException, OSError) as exc:
                if strict:
                    raise
                reason = f"unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
            if reason is not None:
                bad.append(BadPart(name=name, reason=reason))
                continue
            if in_parts:  # a unit in a part and a pack: the part's rows (an interrupted pack)
                table = table.filter(pa.compute.invert(pa.compute.is_in(
                    table.column("unit_key"), value_set=pa.array(sorted(in_parts), pa.string()))))
            tables.append(table)
        return tables, bad

    @staticmethod
    def _ordered(tables: list[pa.Table], columns: list[str] | None = None) -> pa.Table:
        """Concatenate and order rows as the parts alone would be read: by part name, each unit's
        rows in their stored order (a stable sort), so packing changes no report."""
        if not tables:
            empty = SCHEMA.empty_table()
            return empty.select(columns) if columns else empty
        table = pa.concat_tables(tables)
        names = np.array([f"{key}{SUFFIX}" for key in table.column("unit_key").to_pylist()])
        order = np.argsort(names, kind="stable")
        if not np.array_equal(order, np.arange(len(order))):
            table = table.take(pa.array(order))
        return table.select(columns) if columns else table

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
