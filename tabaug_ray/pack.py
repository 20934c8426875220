"""`tabaug results pack OUT`: merge a run directory's per-unit result parts into one Parquet pack.

A finished unit is one small Parquet part under OUT/results (a large run leaves thousands). Packing
writes every part's rows, and the rows of earlier packs, into one file `OUT/results/packed-<hash>
.parquet` (zstd, rows in the canonical order of `ResultStore.read`, the row count of every unit in
its footer) and removes the inputs only once the pack is in place and re-read equal:

1. every part and pack is checked first (`check_part` / `check_pack`); a bad one stops the pack
   (nothing is changed: `tabaug run OUT` quarantines it, or move it away);
2. the pack is written atomically (hidden temporary file, then a move), re-read from storage and
   compared with the table it was made from, row for row, and its unit list with every input unit;
3. only then are the packed parts and the older packs deleted.

A crash at any step leaves a usable directory: before 2 the inputs are untouched; between 2 and 3
a unit is in a part and in the pack, and readers take the part's rows once (`results.py`); packing
again merges them. The packed directory is a resume source like any other: `tabaug run` counts
packed units done, writes new units as parts again, and `--reuse DIR` copies packed units.

Pack changes nothing else in OUT: config.toml / config.json, failed/ (the report lists the
failures), quarantine/ (parts a run refused: evidence, never read), artifacts/ (producers' fitted
values, which a resumed or growing run needs), plan.json / progress.json (`tabaug status`),
sweep/ and reports stay as they are.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from tabaug_ray.errors import TabaugError
from tabaug_ray.results import PACK_META, PACK_PREFIX, SCHEMA, SUFFIX, ResultStore, is_pack


@dataclass(frozen=True)
class PackSummary:
    """What a pack did: inputs (parts, older packs and their bytes), the pack written (None: nothing
    to pack), its units, rows and bytes."""

    parts: int
    packs: int
    bytes_before: int
    pack: str | None
    units: int
    rows: int
    bytes_after: int


def check_run_dir(out: str | os.PathLike, what: str) -> ResultStore:
    """A `ResultStore` on OUT, or a one-line error when OUT is missing or no run directory."""
    store = ResultStore(out=out)
    fs, root = store.storage.fs, store.storage.root
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        raise TabaugError(f"{what} {out}: no such directory")
    if not (store.storage.exists("config.json") or store.storage.exists("config.toml")
            or fs.get_file_info(store.storage.path("results")).type == pafs.FileType.Directory):
        raise TabaugError(f"{what} {out}: not a run directory of `tabaug run` (no config.json, config.toml or results/)")
    return store


def same_rows(a: pa.Table, b: pa.Table) -> bool:
    """Row for row and bit for bit the same (`Table.equals` calls NaN unequal to itself: a failed
    metric's NaN would fail every pack)."""
    if not a.schema.equals(b.schema) or a.num_rows != b.num_rows:
        return False
    for name in a.column_names:
        x, y = a.column(name).combine_chunks(), b.column(name).combine_chunks()
        if pa.types.is_float64(x.type):  # compare the bits: NaN == NaN, -0.0 != 0.0
            x, y = x.view(pa.int64()), y.view(pa.int64())
        if not x.equals(y):
            return False
    return True


def _size(store: ResultStore, name: str) -> int:
    return store.storage.fs.get_file_info(store.storage.path("results", name)).size or 0


def pack_results(out: str | os.PathLike) -> PackSummary:
    """Pack OUT's result parts (and earlier packs) into one pack; see the module docstring."""
    store = check_run_dir(out, "results pack")
    parts, packs = store.part_names(), store.pack_names()
    before = sum(_size(store, n) for n in parts + packs)
    if not parts and len(packs) <= 1:
        units = store.pack_units(packs[0]) if packs else {}
        return PackSummary(parts=0, packs=len(packs), bytes_before=before, pack=packs[0] if packs else None,
                           units=len(units), rows=sum(units.values()), bytes_after=before)
    bad = [(n, store.check_part(n)) for n in parts] + [(n, store.check_pack(n)) for n in packs]
    bad = [(n, reason) for n, reason in bad if reason is not None]
    if bad:
        raise TabaugError(f"{store.storage.path('results')}: {len(bad)} bad part(s), nothing packed: "
                          + "; ".join(f"{n} {reason}" for n, reason in bad[:3])
                          + " (`tabaug run` with its config quarantines them; or move them out of results/)")
    table = store.read_table()
    units = {c["values"]: c["counts"] for c in table.column("unit_key").value_counts().to_pylist()}
    expected = {n.removesuffix(SUFFIX) for n in parts}
    for name in packs:
        expected |= set(store.pack_units(name))
    if not expected <= set(units):
        raise TabaugError(f"{store.storage.path('results')}: units {sorted(expected - set(units))[:3]} "
                          "would be lost; nothing packed")
    meta = {PACK_META: json.dumps({"units": dict(sorted(units.items()))}, separators=(",", ":")).encode()}
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), buffer, compression="zstd", compression_level=9)
    data = buffer.getvalue()
    name = f"{PACK_PREFIX}{hashlib.sha256(data).hexdigest()[:16]}{SUFFIX}"
    store.storage.write_bytes(data, "results", name)  # atomic: a temporary file moved into place
    again = pq.read_table(store.storage.path("results", name), schema=SCHEMA,
                          filesystem=store.storage.fs).replace_schema_metadata(None)
    reason = store.check_pack(name)
    if reason is not None or not same_rows(again, table):
        store.storage.delete("results", name)
        raise TabaugError(f"{store.storage.path('results', name)}: the pack read back differs from its parts "
                          f"({reason or 'rows differ'}); removed it, the parts are kept")
    packed = set(units)
    for part in parts:
        if part.removesuffix(SUFFIX) in packed:
            store.storage.delete("results", part)
    for old in packs:
        if old != name and is_pack(old):
            store.storage.delete("results", old)
    return PackSummary(parts=len(parts), packs=len(packs), bytes_before=before, pack=name, units=len(units),
                       rows=table.num_rows, bytes_after=len(data))


def describe(summary: PackSummary, out: str) -> str:
    if summary.parts == 0 and summary.packs <= 1:
        where = f"results/{summary.pack}" if summary.pack else "no results"
        return f"{out}: nothing to pack ({where}: {summary.units} units, {summary.rows} rows)"
    return (f"{out}: packed {summary.parts} parts and {summary.packs} pack(s) ({summary.bytes_before:,} bytes) into "
            f"results/{summary.pack} ({summary.units} units, {summary.rows} rows, {summary.bytes_after:,} bytes)")

