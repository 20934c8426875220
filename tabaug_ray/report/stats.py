"""Significance tests: paired Wilcoxon against the baseline (Holm-corrected) and Friedman + Nemenyi.

All statistics come from libraries: scipy.stats (wilcoxon, friedmanchisquare, studentized_range),
statsmodels (multipletests) and scikit-posthocs (posthoc_nemenyi_friedman). Cases a test cannot
handle are reported as "n/a (reason)" instead of raising.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tabaug_ray.report.aggregate import (
    MODEL_ORDER,
    SCALE_DEPENDENT,
    SCENARIO_ORDER,
    add_method_labels,
    collapse,
    is_reference,
    method_table,
    metric_direction,
    natural_key,
    ok_rows,
    ordered,
    paired_values,
    setting_roles,
)
from tabaug_ray.report.verdict import min_pairs, too_few
from tabaug_ray.report.teachers import finite_teacher_pairs, teacher_cells

STRATUM = "preset"  # evaluation presets are different measurements: tested apart, never pooled

WILCOXON_COLUMNS = (
    "metric", "model", "preset", "method", "baseline", "n_pairs", "mean_gain", "median_diff", "wins", "ties",
    "losses", "statistic", "p_value", "p_holm", "significant", "note",
)


def wilcoxon_vs_baseline(
    df: pd.DataFrame,
    metric: str,
    baseline: str,
    *,
    directions: Mapping[str, str] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Paired two-sided Wilcoxon signed-rank test of each method against the baseline, per model.

    Pairs are matched on (dataset, fold, run, model, pairing settings) — see `paired_values`.
    For a metric in the target's units (`SCALE_DEPENDENT`) whose pairs span several datasets, the
    test ranks the relative differences (method - baseline) / |baseline| and `mean_gain` /
    `median_diff` are relative too (noted); otherwise raw differences.
    Evaluation presets (`STRATUM`) are different measurements (M = L = 100 vs 7,500 / 1,000): each
    is tested on its own, never pooled. p-values are Holm-corrected over the methods of one
    (metric, model, preset) family. Fewer non-zero pairs than can reach alpha (`verdict.min_pairs`: 6 at
    0.05) give no p-value but the note "too few pairs for a test (n=...)"; all differences zero gives
    p = 1.0 with a note (scipy cannot rank all-zero differences: it warns or raises).

    Args:
        df: the long results table.
        metric: metric to test.
        baseline: the baseline scenario.
        directions: overrides of METRIC_DIRECTION (sets the sign of mean_gain / wins).
        alpha: family-wise significance level for Holm.
    """
    pairs = paired_values(df, metric, baseline, directions=directions)
    methods = method_table(df, metric, baseline)
    split = STRATUM in pairs.columns and pairs[STRATUM].nunique(dropna=True) > 1
    rows = []
    for model in ordered(methods["model"].unique(), MODEL_ORDER):
        sub = pairs[pairs["model"] == model]
        order = _method_order(methods[methods["model"] == model])
        for preset, part in (sub.groupby(STRATUM, sort=True) if split else [(None, sub)]):
            rows += _family(part, metric, model, preset, baseline, order, alpha)
    return pd.DataFrame(rows, columns=list(WILCOXON_COLUMNS))


def _family(sub: pd.DataFrame, metric: str, model: str, preset: str | None, baseline: str,
            method_order: list[str], alpha: float) -> list[dict]:
    """One Holm family: every method against the baseline on the pairs of one model and preset."""
    from scipy.stats import wilcoxon
    from statsmodels.stats.multitest import multipletests

    family = []
    for method in method_order:
        p = sub[sub["method"] == method]
        diff = (p["value"] - p["baseline_value"]).to_numpy()
        relative = metric in SCALE_DEPENDENT and p["dataset"].nunique() > 1
        if relative:
            diff = diff / np.abs(p["baseline_value"].to_numpy())
        row = dict(
            metric=metric, model=model, preset=preset, method=method, baseline=baseline, n_pairs=len(p),
            mean_gain=float(p["rel_gain" if relative else "gain"].mean()) if len(p) else np.nan,
            median_diff=float(np.median(diff)) if len(p) else np.nan,
            wins=int((p["gain"] > 0).sum()), ties=int((p["gain"] == 0).sum()),
            losses=int((p["gain"] < 0).sum()), statistic=np.nan, p_value=np.nan, p_holm=np.nan,
            significant=False,
            note=f"relative differences ({p['dataset'].nunique()} datasets)" if relative else "",
        )
        nonzero = int(np.count_nonzero(diff))
        if not len(p):
            row["note"] = "n/a (no matched pairs: n=0)"
        elif nonzero == 0:
            row.update(p_value=1.0, note="all differences zero: p = 1.0")
        elif nonzero < min_pairs(alpha):  # 2 / 2**n > alpha: no outcome could be significant
            row["note"] = too_few(nonzero)
        else:
            res = wilcoxon(diff)
            row.update(statistic=float(res.statistic), p_value=float(res.pvalue))
        family.append(row)
    tested = [r for r in family if np.isfinite(r["p_value"])]
    if tested:
        reject, p_holm, _, _ = multipletests([r["p_value"] for r in tested], alpha=alpha, method="holm")
        for r, rej, ph in zip(tested, reject, p_holm):
            r.update(p_holm=float(ph), significant=bool(rej))
    return family


def _method_order(rows: pd.DataFrame) -> list[str]:
    """Methods sorted by their scenario's canonical order, then by label."""
    rank = {s: i for i, s in enumerate(ordered(rows["scenario"].unique(), SCENARIO_ORDER))}
    scenario_of = dict(zip(rows["method"], rows["scenario"]))
    return sorted(scenario_of, key=lambda m: (rank[scenario_of[m]], natural_key(m)))


@dataclass
class FriedmanResult:
    """Friedman test over blocks (datasets) and methods, with the Nemenyi post-hoc.

    Args:
        metric, model: what was compared.
        statistic, p_value: Friedman chi-square and its p-value (NaN when n/a).
        n_blocks: number of complete blocks used.
        mean_ranks: average rank of each method (1 = best, by the metric's direction).
        nemenyi: symmetric matrix of Nemenyi p-values (methods x methods), or None.
        cd: Nemenyi critical difference of mean ranks at alpha, or None.
        note: "" or "n/a (reason)" or what was dropped to get complete blocks.
        table: the blocks x methods table of means that was tested.
    """

    metric: str
    model: str
    statistic: float = np.nan
    p_value: float = np.nan
    n_blocks: int = 0
    mean_ranks: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    nemenyi: pd.DataFrame | None = None
    cd: float | None = None
    note: str = ""
    table: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def ok(self) -> bool:
        return self.nemenyi is not None


def friedman_nemenyi(
    df: pd.DataFrame,
    metric: str,
    model: str,
    *,
    baseline: str | None = None,
    directions: Mapping[str, str] | None = None,
    alpha: float = 0.05,
) -> FriedmanResult:
    """Friedman test across methods over datasets, then the Nemenyi post-hoc and critical difference.

    A block is a dataset (and, when the baseline varies them, a value of the pairing settings such
    as M, L or the training size); each cell is the mean over folds and runs. Methods present in
    fewer than half of the blocks are dropped, then incomplete blocks. Needs >= 3 methods and >= 3
    blocks, else the result is "n/a (reason)".

    Args:
        df: the long results table.
        metric, model: which values to compare.
        baseline: the baseline scenario (decides the pairing settings); None = no pairing settings.
        directions: overrides of METRIC_DIRECTION (ranks: 1 = best).
        alpha: level for the critical difference.
    """
    from scipy.stats import friedmanchisquare, studentized_range
    from scikit_posthocs import posthoc_nemenyi_friedman

    res = FriedmanResult(metric=metric, model=model)
    roles = setting_roles(ok_rows(df), baseline)
    data = collapse(df[(df["metric"] == metric) & (df["model"] == model)], roles.shown)
    data = add_method_labels(data[~data["model"].map(is_reference)], roles.method)
    blocks = ["dataset", *roles.pair]
    if not len(data):
        res.note = f"n/a (no values of {metric} for {model})"
        return res
    means = data.groupby([*blocks, "method"], dropna=False, sort=False)["value"].mean()
    table = means.unstack("method")
    table = table[[m for m in _method_order(data) if m in table.columns]]
    notes = []
    keep = table.notna().sum() >= table.shape[0] / 2
    if not keep.all():
        notes.append(f"dropped methods in fewer than half of the blocks: {', '.join(table.columns[~keep])}")
        table = table.loc[:, keep]
    complete = table.notna().all(axis=1)
    if not complete.all():
        notes.append(f"dropped {int((~complete).sum())} incomplete block(s)")
        table = table[complete]
    res.table, res.n_blocks = table, len(table)
    if table.shape[1] < 3:
        res.note = f"n/a (fewer than 3 methods: {table.shape[1]})"
        return res
    if table.shape[0] < 3:
        res.note = f"n/a (fewer than 3 datasets/blocks: {table.shape[0]})"
        return res
    ascending = metric_direction(metric, directions) == "lower"
    res.mean_ranks = table.rank(axis=1, ascending=ascending).mean().sort_values()
    values = table.to_numpy(dtype=float)
    if np.all(values == values[:, :1]):
        res.statistic, res.p_value = 0.0, 1.0
        notes.append("all methods tied in every block: p = 1.0")
    else:
        stat = friedmanchisquare(*values.T)
        res.statistic, res.p_value = float(stat.statistic), float(stat.pvalue)
    nem = posthoc_nemenyi_friedman(values)
    nem.index = nem.columns = list(table.columns)
    res.nemenyi = nem
    k, n = table.shape[1], table.shape[0]
    q_alpha = studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    res.cd = float(q_alpha * np.sqrt(k * (k + 1) / (6.0 * n)))
    res.note = "; ".join(notes)
    return res


TEACHER_SPLIT_COLUMNS = (
    "model", "method", "cells", "teacher_better", "gain_teacher_better", "gain_otherwise", "spearman_rho",
    "spearman_p", "pairs", "pairs_teacher_better", "pairs_improved_there", "median_gain_there",
)


def teacher_split(tsp: pd.DataFrame) -> pd.DataFrame:
    """Does a student gain from its teacher's labels where the teacher is the stronger model?

    Per model and method, over cells (dataset x training size, means over folds and runs; see
    `teacher_cells`): the number of cells, in how many the teacher alone beats the student trained
    without augmentation (teacher_advantage > 0), the mean relative gain there and in the others,
    and Spearman's rho (scipy) between the teacher's advantage and the gain (NaN below 3 cells or
    without spread; rendered "–"). The same split per matched unit (dataset x fold x run), where a
    teacher that fails on one fold does not hide the others: the number of pairs, in how many the
    teacher beats the un-augmented student, in how many of those the augmented student improves,
    and their median relative gain.

    Args:
        tsp: output of `aggregate.teacher_student_pairs`.
    """
    from scipy.stats import spearmanr

    if not len(tsp):
        return pd.DataFrame(columns=TEACHER_SPLIT_COLUMNS)
    cells = teacher_cells(tsp)
    by_unit = dict(list(finite_teacher_pairs(tsp).groupby(["model", "method"], sort=False)))
    rows = []
    for (model, method), g in cells.groupby(["model", "method"], sort=False):
        better = g["teacher_advantage"] > 0
        u = by_unit[(model, method)]
        there = u.loc[u["teacher_advantage"] > 0, "rel_gain"]
        rho, p = np.nan, np.nan
        if len(g) >= 3 and g["teacher_advantage"].nunique() > 1 and g["rel_gain"].nunique() > 1:
            rho, p = spearmanr(g["teacher_advantage"], g["rel_gain"])
        rows.append({
            "model": model, "method": method, "cells": len(g), "teacher_better": int(better.sum()),
            "gain_teacher_better": g.loc[better, "rel_gain"].mean() if better.any() else np.nan,
            "gain_otherwise": g.loc[~better, "rel_gain"].mean() if (~better).any() else np.nan,
            "spearman_rho": float(rho), "spearman_p": float(p),
            "pairs": len(u), "pairs_teacher_better": len(there), "pairs_improved_there": int((there > 0).sum()),
            "median_gain_there": there.median() if len(there) else np.nan,
        })
    out = pd.DataFrame(rows, columns=TEACHER_SPLIT_COLUMNS)
    rank = {m: i for i, m in enumerate(ordered(out["model"].unique(), MODEL_ORDER))}
    return out.sort_values(["model", "method"], key=lambda s: s.map(rank) if s.name == "model" else s.map(natural_key),
                           kind="stable").reset_index(drop=True)
