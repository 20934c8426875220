"""Teachers and validation selection of MLDA results: the teacher's own advantage next to the
augmented student's gain, and `<scenario>_val` (the setting a validation metric picks)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from tabaug_ray.errors import TabaugError
from tabaug_ray.report.aggregate import (
    UNIT_COLUMNS,
    collapse,
    format_setting,
    is_teacher,
    metric_direction,
    ok_rows,
    setting_roles,
)


def teacher_student_pairs(
    df: pd.DataFrame,
    pairs: pd.DataFrame,
    metric: str,
    *,
    baseline: str,
    directions: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Teacher's own advantage over the un-augmented student next to the augmented student's gain.

    teacher_advantage = direction-adjusted (baseline student - teacher) / |baseline student|: > 0
    means the teacher alone beats the student trained without augmentation. Only scenarios that use
    the teacher's labels are kept (rows with a `teacher` value, else scenarios named "mlda*").
    """
    data = ok_rows(df)
    data = data[(data["metric"] == metric) & data["model"].map(is_teacher)]
    if not len(data) or not len(pairs):
        return pd.DataFrame()
    roles = setting_roles(ok_rows(df), baseline)
    keys = [*UNIT_COLUMNS, *[c for c in roles.pair if c in data.columns]]
    teacher = collapse(data, roles.shown).groupby([*keys, "model"], dropna=False)["value"].mean()
    teacher = teacher.rename("teacher_value").reset_index().rename(columns={"model": "teacher_model"})
    uses = pairs
    if "teacher" in pairs.columns and pairs["teacher"].notna().any():
        uses = pairs[pairs["teacher"].notna()]
    else:
        uses = pairs[pairs["scenario"].str.startswith("mlda")]
    out = uses.merge(teacher, on=keys, how="inner")
    if "teacher" in out.columns and out["teacher"].notna().any():
        out = out[out["teacher_model"] == "teacher:" + out["teacher"].astype(str)]
    sign = 1.0 if metric_direction(metric, directions) == "lower" else -1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out["teacher_advantage"] = sign * (out["baseline_value"] - out["teacher_value"]) / out["baseline_value"].abs()
    return out.reset_index(drop=True)


def finite_teacher_pairs(tsp: pd.DataFrame) -> pd.DataFrame:
    """The `teacher_student_pairs` rows whose teacher_advantage and rel_gain are both finite."""
    return tsp[np.isfinite(tsp["teacher_advantage"]) & np.isfinite(tsp["rel_gain"])]


def teacher_cells(tsp: pd.DataFrame) -> pd.DataFrame:
    """`teacher_student_pairs` averaged over folds and runs: one row per cell (dataset, training size,
    ...) x method x model with the mean teacher_advantage and rel_gain (finite pairs only)."""
    data = finite_teacher_pairs(tsp)
    cell = [c for c in ("dataset", "train_size", "m", "l", "experiment") if c in data.columns]
    return data.groupby([*cell, "method", "model"], dropna=False, sort=False)[
        ["teacher_advantage", "rel_gain"]].mean().reset_index()


def validation_selected(df: pd.DataFrame, scenario: str, baseline: str, *, by: str = "val_rmse") -> pd.DataFrame:
    """Rows of a derived method `<scenario>_val`: per dataset x fold x run x model x training size
    (x teacher), the unit among `scenario`'s settings (eta, volume, ...) AND the baseline with the
    lowest `by` (a validation metric on real held-out training rows, never the test rows): what a
    practitioner would deploy, augmentation only where validation says it helps.

    Returns the chosen units' rows (every metric) with scenario `<scenario>_val`, its settings
    blanked (one method) and `selected` = the chosen unit's scenario and settings, for appending.

    Args:
        df: the long results table.
        scenario: the scenario whose settings are selected among (e.g. "mlda").
        baseline: the no-augmentation scenario that competes (e.g. "none").
        by: the lower-is-better validation metric.
    """
    ok = ok_rows(df)
    if by not in set(ok["metric"]):
        raise TabaugError(f"--select-on-val {scenario}: the results have no {by!r} metric to select on")
    if scenario not in set(ok["scenario"]):
        raise TabaugError(f"--select-on-val {scenario}: no scenario {scenario!r} in the results")
    group = [c for c in ("experiment", *UNIT_COLUMNS, "model", "train_size") if c in ok.columns]
    cand = ok[ok["scenario"] == scenario]
    base = ok[ok["scenario"] == baseline]
    frames = []
    teachers = cand["teacher"].dropna().unique().tolist() if "teacher" in cand.columns else []
    for teacher in teachers or [None]:
        mine = cand if teacher is None else cand[cand["teacher"] == teacher]
        pool = pd.concat([mine, base], ignore_index=True)
        scores = pool[pool["metric"] == by].groupby([*group, "unit_key"], dropna=False)["value"].mean().reset_index()
        best = scores.loc[scores.groupby(group, dropna=False)["value"].idxmin(), "unit_key"]
        rows = pool[pool["unit_key"].isin(set(best))].copy()
        label = rows["scenario"].astype(str)
        for c in ("eta", "volume"):
            if c in rows.columns:
                label = label + rows[c].map(lambda v, c=c: "" if pd.isna(v) else f" {c}={format_setting(v)}")
        rows["selected"] = label
        rows["scenario"] = f"{scenario}_val"
        for c in ("eta", "volume"):
            if c in rows.columns:
                rows[c] = np.nan
        if teacher is not None:
            rows["teacher"] = teacher
        rows["unit_key"] = rows["unit_key"].astype(str) + f"|{scenario}_val|{teacher}"
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)
