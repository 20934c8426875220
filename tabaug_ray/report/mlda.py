"""MLDA parts of the report: reference points beside every augmenter, and whether the augmented
student ever beats its teacher.

Reference points (recorded by the `mlda` pipeline once per dataset x fold x run x training size):
the teacher on the test rows (`teacher:<name>`), LightGBM with default settings on the real rows
(`reference:lightgbm_default`) and the student on real rows only (the `none` augmenter). If no
teacher-labelled student ever beats its teacher, the teacher's knowledge was only compressed into
the student: "MLDA is compression, not an accuracy gain".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from tabaug_ray.report import aggregate as agg

COMPRESSION = "MLDA is compression, not an accuracy gain"


def reference_label(model: str) -> str:
    """Row label of a reference model in the summary tables."""
    if agg.is_teacher(model):
        return f"ref: {model} (test rows)"
    return f"ref: {model.removeprefix(agg.REFERENCE_PREFIX)} (real rows)"


def _context(block: pd.DataFrame, settings: Sequence[str]) -> list[str]:
    """Columns that match a student row with its references: dataset, experiment, training size, N."""
    return [c for c in ("experiment", "dataset", "train_size", "n") if c in block.columns and c in settings
            or c == "dataset"]


def broadcast_references(refs: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Reference summary rows repeated for every student column (`model` = each student), labelled
    `ref: ...` in the scenario column and never bold."""
    if not len(refs):
        return refs.iloc[:0]
    out = []
    for model in models:
        out.append(refs.assign(scenario=refs["model"].map(reference_label), model=model, best=False))
    return pd.concat(out, ignore_index=True)


def mark_beats_teacher(block: pd.DataFrame, refs: pd.DataFrame, settings: Sequence[str],
                       directions: Mapping[str, str]) -> pd.Series:
    """True where a student's mean beats the teacher's mean of the same cell (its own teacher for
    teacher-labelled rows, the best teacher otherwise), for test-row quality metrics the teacher has."""
    teachers = refs[refs["model"].map(agg.is_teacher)]
    result = pd.Series(False, index=block.index)
    if not len(teachers) or not len(block):
        return result
    ctx = _context(block, settings)
    for idx, row in block.iterrows():
        metric = row["metric"]
        if agg.is_descriptive(metric) or metric.startswith("val_"):  # test rows only: a student's
            continue  # validation rows are its early-stopping rows
        sel = teachers[teachers["metric"] == metric]
        for c in ctx:
            sel = sel[(sel[c] == row[c]) | (sel[c].isna() & pd.isna(row[c]))]
        if "teacher" in block.columns and isinstance(row.get("teacher"), str):
            sel = sel[sel["model"] == agg.TEACHER_PREFIX + row["teacher"]]
        if not len(sel):
            continue
        lower = directions.get(metric, agg.metric_direction(metric)) == "lower"
        best = sel["mean"].min() if lower else sel["mean"].max()
        result[idx] = bool(row["mean"] < best if lower else row["mean"] > best)
    return result


def teacher_verdicts(df: pd.DataFrame, metric: str, *, directions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Per student: over the (dataset, fold, run, training size, teacher) pairs of its teacher-labelled
    methods (rows with a `teacher`), in how many any of those methods beats the teacher on `metric`,
    and in how many dataset cells (means over folds x runs) one does. Empty without teachers."""
    ok = agg.ok_rows(df)
    ok = ok[ok["metric"] == metric]
    if "teacher" not in ok.columns or not len(ok):
        return pd.DataFrame()
    keys = [c for c in ("experiment", *agg.UNIT_COLUMNS, "train_size") if c in ok.columns]
    teacher = ok[ok["model"].map(agg.is_teacher)]
    teacher = teacher.groupby([*keys, "model"], dropna=False)["value"].mean().rename("teacher_value").reset_index()
    teacher["teacher"] = teacher["model"].str.removeprefix(agg.TEACHER_PREFIX)
    students = ok[~ok["model"].map(agg.is_reference) & ok["teacher"].notna() & (ok["scenario"] != "teacher")]
    if not len(teacher) or not len(students):
        return pd.DataFrame()
    real = ok[(ok["scenario"] == "none") & ~ok["model"].map(agg.is_reference)]  # the student on real rows only
    real = real.groupby([*keys, "model"], dropna=False)["value"].mean().rename("real_value").reset_index()
    setting = [c for c in ("eta", "volume") if c in students.columns]  # a method = scenario + its settings
    units = students.groupby([*keys, "teacher", "model", "scenario", *setting], dropna=False)["value"].mean()
    pairs = units.reset_index().merge(teacher.drop(columns="model"), on=[*keys, "teacher"], how="inner")
    sign = 1.0 if agg.metric_direction(metric, directions) == "lower" else -1.0
    pairs["beats"] = sign * (pairs["teacher_value"] - pairs["value"]) > 0
    cell = [c for c in ("experiment", "dataset", "train_size") if c in pairs.columns]
    recs = []
    for student, grp in pairs.groupby("model", sort=False):
        per_pair = grp.groupby([*keys, "teacher"], dropna=False)["beats"].any()
        alone = per_pair.reset_index().merge(teacher, on=[*keys, "teacher"]).merge(
            real[real["model"] == student].drop(columns="model"), on=keys)
        real_beaten = int((sign * (alone["teacher_value"] - alone["real_value"]) > 0).sum())
        means = grp.groupby([*cell, "teacher", "scenario", *setting], dropna=False)[["value", "teacher_value"]].mean()
        means["beats"] = sign * (means["teacher_value"] - means["value"]) > 0
        by_cell = means.groupby(level=[*cell, "teacher"], dropna=False)["beats"].any()
        names = by_cell.index.names
        beaten = sorted({str(k[names.index("dataset")]) for k, v in by_cell.items() if v})
        # "any setting" picks the best setting per pair on the test rows (optimistic): the best single
        # setting, fixed across pairs, is the honest count
        per_setting = grp.groupby(["scenario", *setting], dropna=False)["beats"].sum()
        best = per_setting.idxmax()
        best = best if isinstance(best, tuple) else (best,)
        label = agg.method_label(best[0], dict(zip(setting, best[1:])))
        recs.append({"model": student, "methods": ", ".join(sorted(grp["scenario"].unique())),
                     "pairs": int(len(per_pair)), "pairs_beaten": int(per_pair.sum()),
                     "cells": int(len(by_cell)), "cells_beaten": int(by_cell.sum()), "datasets_beaten": beaten,
                     "best_setting": label, "best_setting_beaten": int(per_setting.max()),
                     "real_pairs": int(len(alone)), "real_beaten": real_beaten})
    return pd.DataFrame(recs)


def verdict_lines(verdicts: pd.DataFrame, metric: str) -> list[str]:
    """One line per student: does the augmented student ever beat its teacher? (A pair is one teacher's:
    with two teachers, each dataset x fold x run counts twice.)"""
    lines = []
    for _, v in verdicts.iterrows():
        head = (f"{v['model']} vs its teacher on {metric} ({v['methods']}): ")
        if v["pairs_beaten"] == 0:
            lines.append(head + f"the augmented student never beats the teacher (0 of {v['pairs']} dataset × fold × "
                                f"run (× teacher) pairs, 0 of {v['cells']} dataset means): {COMPRESSION}.")
        else:
            where = ", ".join(v["datasets_beaten"]) or "no dataset mean"
            lines.append(head + f"beats the teacher in {v['pairs_beaten']} of {v['pairs']} dataset × fold × run (× teacher) "
                                f"pairs with some setting ({v['best_setting_beaten']} with the best single setting, "
                                f"{v['best_setting']}; trained on real rows only it beats it in {v['real_beaten']} of "
                                f"{v['real_pairs']}) and {v['cells_beaten']} of {v['cells']} dataset means ({where}).")
    return lines


def add_references(block: pd.DataFrame, refs: pd.DataFrame, blocks: Sequence[str], key: tuple,
                   models: Sequence[str], settings: Sequence[str], directions: Mapping[str, str]) -> pd.DataFrame:
    """A summary-table block with `beats_teacher` marks and its reference rows appended."""
    mine = refs
    for c, v in zip(blocks, key):
        mine = mine[mine[c] == v]
    block = block.assign(beats_teacher=mark_beats_teacher(block, mine, settings, directions))
    if not len(mine):
        return block
    extra = broadcast_references(mine, models).assign(beats_teacher=False)
    return pd.concat([block, extra], ignore_index=True)


def beats_marker(rec) -> str:
    return " †" if bool(rec.get("beats_teacher", False)) else ""


__all__ = ["COMPRESSION", "add_references", "beats_marker", "broadcast_references", "mark_beats_teacher",
           "reference_label", "teacher_verdicts", "verdict_lines"]


# The paper's claim (arXiv 2501.03654): > 10 % lower error on average at small training sizes,
# about 3 % at 50,000 training rows.
PAPER_CLAIM = ((500, 0.10, "> 10 % (small sizes)"), (50_000, 0.03, "≈ 3 % at 50K"))


def plot_gain_vs_size_with_paper(pairs: pd.DataFrame, metric: str, baseline: str):
    """MLDA's relative gain over the baseline against the training size (mean and median over
    dataset x fold x run pairs, per teacher-labelled method and student) beside the paper's claim.
    None unless the pairs hold teacher-labelled methods at two or more training sizes."""
    import numpy as np

    from tabaug_ray.report.plots import _colors, _figure

    if pairs is None or "train_size" not in pairs.columns:
        return None
    data = pairs[pairs["scenario"].str.startswith(("mlda", "distill")) & pairs["train_size"].notna()
                 & np.isfinite(pairs["rel_gain"])]
    if data["train_size"].nunique() < 2:
        return None
    fig = _figure(6.5, 4.2)
    ax = fig.subplots()
    groups = data.groupby(["scenario", "model", "train_size"])["rel_gain"]
    stats = groups.agg(["mean", "median"]).reset_index()
    lines = sorted(stats.groupby(["scenario", "model"]).groups)
    for color, (scenario, model) in zip(_colors(len(lines)), lines):
        g = stats[(stats["scenario"] == scenario) & (stats["model"] == model)].sort_values("train_size")
        ax.plot(g["train_size"], 100 * g["mean"], marker="o", color=color, label=f"{scenario} / {model} (mean)")
        ax.plot(g["train_size"], 100 * g["median"], marker="s", ls="--", color=color, alpha=0.7,
                label=f"{scenario} / {model} (median)")
    for size, gain, text in PAPER_CLAIM:
        ax.scatter([size], [100 * gain], marker="*", s=160, color="black", zorder=5)
        ax.annotate(f"paper: {text}", (size, 100 * gain), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_xscale("log")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xlabel("training rows")
    ax.set_ylabel(f"relative {metric} improvement over {baseline} (%)")
    ax.set_title("MLDA gain against training size, beside the paper's claim")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig
