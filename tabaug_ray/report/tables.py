"""Display tables of a `Report`: number formats, the compact per-dataset x preset results tables
(methods as rows, quality metrics as columns), the diagnostics tables and the metric definitions.

Tables are laid out as `Table`s of display strings (paper style: "mean (std)", best value bold);
each renderer (`render.py`) only adds its own markup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tabaug_ray.report import aggregate as agg
from tabaug_ray.report import metrics as M
from tabaug_ray.report import mlda as mlda_report
from tabaug_ray.report.build import Report

SETTING_HEADERS = {"n": "N", "m": "M", "l": "L"}
PRESET_ORDER = ("reliable", "realistic")
HIDDEN = ("experiment", "preset")  # never a column of a results table (the table's title says them)


@dataclass
class Table:
    """A display table: `frame` of strings, `bold` (same shape, bool) marks cells to emphasise."""

    title: str
    frame: pd.DataFrame
    bold: pd.DataFrame | None = None
    note: str = ""
    small_std: bool = False  # cells "mean (std)": HTML sets the std in small type


# ------------------------------------------------------------------------------ number formats
def format_number(x, digits: int = 3) -> str:
    """Paper-style number: 3 decimals; 1 decimal from 1000 up; 3 significant digits below 0.001."""
    if x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x):
        return "–"
    x = float(x)
    if x == 0 or 1e-3 <= abs(x) < 1e3:
        return f"{x:.{digits}f}"
    if abs(x) >= 1e3:
        return f"{x:.1f}"
    return f"{x:.{digits}g}"


def format_mean_std(mean, std) -> str:
    """"0.420 (0.003)"; the std is "–" when it is undefined (a single value)."""
    return f"{format_number(mean)} ({format_number(std)})"


def format_p(p) -> str:
    if p is None or pd.isna(p):
        return "–"
    return f"{p:.3g}"


def format_gain(abs_gain, rel_gain) -> str:
    """"0.238 (+56.7%)": absolute gain and relative gain (positive = better than the baseline)."""
    rel = "–" if pd.isna(rel_gain) or not np.isfinite(rel_gain) else f"{100 * rel_gain:+.1f}%"
    return f"{format_number(abs_gain)} ({rel})"



# ---------------------------------------------------------------------------------- layouts
def _row_keys(frame: pd.DataFrame, cols: list[str]) -> list[tuple[str, ...]]:
    """Display strings of the row-key columns (strings, so that missing values compare equal)."""
    return [tuple(agg.format_setting(v) for v in vals) for vals in zip(*[frame[c] for c in cols])]


def arrow(metric: str, directions) -> str:
    return "↓" if M.metric_direction(metric, directions) == "lower" else "↑"


def _presets(block: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(preset, rows) in the order reliable, realistic, others, then the rows without a preset."""
    if "preset" not in block.columns or not block["preset"].notna().any():
        return [("", block)]
    key = block["preset"].fillna("").astype(str)
    found = set(key)
    order = [p for p in PRESET_ORDER if p in found] + sorted(found - set(PRESET_ORDER) - {""}) + \
        ([""] if "" in found else [])
    return [(p, block[key == p]) for p in order]


def _layout(part: pd.DataFrame, settings: list[str], directions, *, bold: bool,
            baseline: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """(frame, bold, constants): rows model x scenario x the settings that vary in `part`, columns the
    metrics present; `constants` = the settings with one value in `part` (for the title)."""
    shown, constants = [], {}
    for c in settings:
        values = set(part[c].map(agg.format_setting)) if c in part.columns else {""}
        if len(values) > 1:
            shown.append(c)
        elif values != {""}:
            constants[SETTING_HEADERS.get(c, c)] = values.pop()
    row_keys = ["model", "scenario", *shown]
    part = part.assign(_row=_row_keys(part, row_keys))
    model_rank = {m: i for i, m in enumerate(agg.ordered(part["model"].unique(), agg.MODEL_ORDER))}
    rows = sorted(dict.fromkeys(part["_row"]), key=lambda r: (model_rank.get(r[0], len(model_rank)),
                                                              r[1] != baseline))  # the baseline first
    frame = pd.DataFrame({SETTING_HEADERS.get(c, c): [r[i] or "–" for r in rows] for i, c in enumerate(row_keys)})
    if part["model"].nunique() < 2:  # "–": a setting the row's scenario does not have (no empty cells)
        frame = frame.drop(columns="model")
    marks = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    indexed = part.set_index(["_row", "metric"])
    for metric in agg.ordered(part["metric"].unique(), agg.METRIC_ORDER):
        col = f"{metric} {arrow(metric, directions)}" if bold else metric
        frame[col], marks[col] = _column(indexed, rows, (metric,), lambda rec: (
            format_mean_std(rec["mean"], rec["std"]) + mlda_report.beats_marker(rec), bold and bool(rec["best"])))
    return frame, marks, constants


def _title(key: tuple, preset: str, constants: dict[str, str], what: str = "") -> str:
    parts = [" / ".join(map(str, key))]
    if preset:
        parts.append(f"{preset} preset")
    if what:
        parts.append(what)
    title = " · ".join(parts)
    return title + (f" ({', '.join(f'{k}={v}' for k, v in constants.items())})" if constants else "")


def _blocks(report: Report, quality: bool):
    """(key, rows) per experiment x dataset: the summary rows of one kind (quality or not), with the
    MLDA reference rows (teacher, LightGBM) broadcast into every student's rows."""
    summ = report.summary
    refs = summ[summ["model"].map(agg.is_reference)]
    students = summ[~summ["model"].map(agg.is_reference)]
    blocks = ["experiment", "dataset"] if "experiment" in report.settings else ["dataset"]
    model_order = agg.ordered(students["model"].unique(), agg.MODEL_ORDER)
    for key, block in students.groupby(blocks, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        if quality:
            block = mlda_report.add_references(block, refs, blocks, key, model_order, report.settings,
                                               report.directions)
        block = block[block["metric"].map(M.is_quality) == quality]
        if len(block):
            yield key, block


def summary_tables(report: Report) -> list[Table]:
    """One compact table per dataset and preset: methods (model x scenario x varying settings) as rows,
    quality metrics as columns, the best of a column in bold; rows without a preset (utility of a
    model trained on synthetic rows, MLDA's students) in a table of their own."""
    settings = [c for c in report.settings if c not in HIDDEN]
    tables = []
    for key, block in _blocks(report, quality=True):
        for preset, part in _presets(block):
            frame, bold, constants = _layout(part, settings, report.directions, bold=True, baseline=report.baseline)
            counts = part["count"]
            refs = part["scenario"].astype(str).str.startswith("ref: ").any()
            per = [SETTING_HEADERS.get(c, c) for c in report.pair_settings if c not in HIDDEN
                   and SETTING_HEADERS.get(c, c) in frame.columns] + (["model"] if "model" in frame.columns else [])
            note = (f"n = {counts.min()}" + (f"–{counts.max()}" if counts.max() != counts.min() else "") +
                    " units per cell; bold = best of the column" + (f" per {' and '.join(per)}" if per else "") +
                    "; ↓ lower / ↑ higher is better" +
                    ("; ref: rows are reference points (the teacher on the test rows, LightGBM with default "
                     "settings on the real rows; `none` is the student on real rows only), repeated for every "
                     "student; † = better than the teacher" if refs or part["beats_teacher"].any() else ""))
            tables.append(Table(title=_title(key, preset, constants), frame=frame, bold=bold, note=note,
                                small_std=True))
    return tables


def diagnostics_tables(report: Report) -> list[Table]:
    """The same layout for diagnostics and references (times, validation losses, counts, the judge's
    stopping figures, `<metric>_real`): shown, never bold, never ranked."""
    settings = [c for c in report.settings if c not in HIDDEN]
    tables = []
    for key, block in _blocks(report, quality=False):
        for preset, part in _presets(block):
            frame, bold, constants = _layout(part, settings, report.directions, bold=False, baseline=report.baseline)
            tables.append(Table(title=_title(key, preset, constants, "diagnostics"), frame=frame, small_std=True,
                                note="descriptive only: never ranked, bolded, tested or plotted"))
    return tables


def metrics_table(report: Report) -> Table:
    """Every metric of the report: direction, kind and its one-line definition."""
    names = agg.ordered(report.summary["metric"].unique(), agg.METRIC_ORDER)
    names = [m for m in names if M.is_quality(m)] + [m for m in names if not M.is_quality(m)]
    frame = pd.DataFrame({
        "metric": names,
        "better": [M.metric_direction(m, report.directions) for m in names],
        "kind": [M.lookup(m).kind for m in names],
        "definition": [M.definition(m) for m in names],
    })
    return Table(title="Metric definitions", frame=frame,
                 note="quality metrics are ranked, bolded, tested and plotted; diagnostics and references never are")


def _column(indexed: pd.DataFrame, rows: list, key: tuple, cell) -> tuple[list[str], list[bool]]:
    """One rendered column: `cell(record) -> (text, bold)` for each row present in `indexed` (indexed by
    (row, *key)), "–" where the row has no record."""
    cells, marks = [], []
    for r in rows:
        if (r, *key) in indexed.index:
            text, mark = cell(indexed.loc[[(r, *key)]].iloc[0])
        else:
            text, mark = "–", False
        cells.append(text)
        marks.append(mark)
    return cells, marks



def teacher_table(report: Report) -> Table | None:
    """Teachers' own scores next to the un-augmented students' (does the teacher beat the student?)."""
    summ = report.summary
    teach = summ[summ["model"].map(agg.is_reference)]
    if not len(teach):
        return None
    keys = ["dataset", *[c for c in report.pair_settings if c != "experiment"]]
    metrics = [m for m in agg.ordered(teach["metric"].unique(), agg.METRIC_ORDER) if M.is_quality(m)]
    base = summ[(summ["scenario"] == report.baseline) & ~summ["model"].map(agg.is_reference)
                & summ["metric"].isin(metrics)]
    recs = []
    for key, grp in teach.groupby([*keys, "model"], sort=False, dropna=False):
        rec = {SETTING_HEADERS.get(c, c): agg.format_setting(v) for c, v in zip([*keys, "teacher"], key)}
        for metric in metrics:
            t = grp[grp["metric"] == metric]
            rec[f"teacher {metric}"] = format_mean_std(t["mean"].mean(), t["std"].mean()) if len(t) else "–"
            sel = base[base["metric"] == metric]
            for c, v in zip(keys, key):
                sel = sel[sel[c] == v]
            for student, b in sel.groupby("model", sort=False):
                rec[f"{report.baseline} {student} {metric}"] = format_mean_std(b["mean"].mean(), b["std"].mean())
        recs.append(rec)
    frame = pd.DataFrame(recs).fillna("–")
    return Table(title="Teachers and reference models against the students without augmentation", frame=frame, small_std=True,
                 note=f"mean (std) over folds × runs; '{report.baseline} <student>' = the student trained "
                      "without augmentation on the same units")


