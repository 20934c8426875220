"""The report's sections in reading order: the Verdict first, the leaderboard, the results tables,
gains, tests, metric definitions, diagnostics, privacy and failures (`all_tables`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabaug_ray.report import aggregate as agg
from tabaug_ray.report import mlda as mlda_report
from tabaug_ray.report.build import Report
from tabaug_ray.report.metrics import NEGATIVE_NOTE, STATS_CAPTION
from tabaug_ray.report.tables import (
    Table,
    _column,
    _row_keys,
    SETTING_HEADERS,
    diagnostics_tables,
    format_gain,
    format_number,
    format_p,
    metrics_table,
    summary_tables,
    teacher_table,
)
from tabaug_ray.report.verdict import ROPE, is_upper_bound, verdict_sentence

PRIVACY_NOTE = ("mean (std) over folds × runs; in brackets what no leakage reads as: synthetic rows are as close to "
                "the training rows as to as many never-seen real rows (README: Evaluation / Privacy)")
NEMENYI_NOTE = ("Nemenyi's critical difference depends on which other methods are in the pool (adding or removing a "
                "method changes whether two others differ; Benavoli et al. 2016): the Wilcoxon-Holm tests against the "
                "baseline are the primary test, the Friedman / Nemenyi ranks a summary")


def _pct(x) -> str:
    return "–" if x is None or pd.isna(x) or not np.isfinite(x) else f"{100 * x:+.1f}%"


def verdict_table(report: Report) -> Table | None:
    """Per dataset and metric: the best method, its gain over the baseline with a CI, significance after Holm."""
    v = report.verdict
    if v is None or not len(v):
        return None
    frame = pd.DataFrame({
        "dataset": v["dataset"].astype(str), "metric": v["metric"],
        "setting": v["group"].replace("", "–"), "model": v["model"], "best method": v["method"],
        f"{report.baseline} → best": [f"{format_number(b)} → {format_number(m)}" for b, m in zip(v["baseline_mean"], v["mean"])],
        "gain [95% CI]": [f"{format_number(g)} [{format_number(lo)}, {format_number(hi)}] ({_pct(r)})" for g, lo, hi, r
                          in zip(v["gain"], v["ci_low"], v["ci_high"], v["rel_gain"])],
        "pairs": v["n_pairs"].astype(str),
        "verdict": [verdict_sentence(r, report.baseline, report.alpha) for _, r in v.iterrows()],
    })
    keep = {"setting": frame["setting"].ne("–").any(), "model": frame["model"].nunique() > 1}
    frame = frame.loc[:, [keep.get(c, True) for c in frame.columns]]
    bold = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    bold["verdict"] = v["significant"].to_numpy()
    excluded = sorted(s for s in set(report.summary["scenario"]) if is_upper_bound(s))
    return Table(
        title=f"Verdict: the best method against {report.baseline}", frame=frame, bold=bold,
        note=(f"gain = mean paired improvement over {report.baseline} on matched folds × runs (positive = better; in "
              "the metric's units, in brackets a t 95% confidence interval over the pairs, then relative to the "
              "baseline's mean); significance: two-sided "
              "Wilcoxon signed-rank test over the pairs, Holm-corrected over the methods of the dataset and model, "
              f"alpha = {report.alpha}; a Wilcoxon test needs 6 non-zero pairs to reach p < 0.05; the best of several "
              "methods picked on the same test pairs reads optimistic (the Holm correction covers all of them)"
              + (f"; {', '.join(excluded)} (the full training set) is an upper bound, not a candidate" if excluded else "")),
    )


def verdict_lines(report: Report) -> list[str]:
    """One line per metric x setting x model: on how many datasets a method beats the baseline, on how
    many significantly after Holm, on how many too few pairs allowed a test."""
    v = report.verdict
    if v is None or not len(v):
        return []
    lines = []
    for (metric, group, model), g in v.groupby(["metric", "group", "model"], sort=False):
        if len(g) == 1:  # one dataset: its answer in a sentence, the numbers of the Verdict table
            lines.append(_one_dataset_line(g.iloc[0], (metric, group, model), report))
            continue
        better = g[g["gain"] > 0]
        sig = int(better["significant"].sum())
        few = int(better["test"].str.startswith("too few").sum())
        where = ", ".join(f"{d}: {m}" for d, m in zip(better["dataset"], better["method"])) if len(better) <= 6 else ""
        head = " · ".join(x for x in (metric, group, model) if x and x != "all")  # "all": --compare-models
        lines.append(f"{head}: a method beats {report.baseline} on {len(better)} of {len(g)} dataset(s)"
                     + (f" ({where})" if where else "") + f"; significant after Holm on {sig}"
                     + (f"; too few pairs for a test on {few}" if few else ""))
    return pooled_lines(report) + lines  # the pooled answer first


def _one_dataset_line(row, head: tuple[str, str, str], report: Report) -> str:
    """"js · breast_cancer: vae_bgm+avg 0.533 → 0.193 (vae_bgm → best), gain 0.340 [0.276, 0.405] (+64 %);
    better than vae_bgm, significant (Holm p = 0.031)"."""
    label = " · ".join(x for x in (*head, str(row["dataset"])) if x and x != "all")
    numbers = (f"{row['method']} {format_number(row['baseline_mean'])} → {format_number(row['mean'])} "
               f"({report.baseline} → best), gain {format_number(row['gain'])} [{format_number(row['ci_low'])}, "
               f"{format_number(row['ci_high'])}] ({_pct(row['rel_gain'])})")
    return f"{label}: {numbers}; {verdict_sentence(row, report.baseline, report.alpha)}"


def _signed(row) -> str:
    """A Wilcoxon row's mean gain: relative (%) where the test ranked relative differences."""
    return _pct(row["mean_gain"]) if str(row["note"]).startswith("relative") else f"{row['mean_gain']:+.3g}"


def pooled_lines(report: Report) -> list[str]:
    """With several datasets: per metric x preset x model, the methods the pooled Wilcoxon-Holm test
    (all datasets x folds x runs) finds significantly better or worse than the baseline."""
    w = report.wilcoxon
    if w is None or not len(w) or w["n_pairs"].max() == 0 or report.summary["dataset"].nunique() < 2:
        return []
    w = w[w["metric"].isin(report.verdict_metrics) & ~w["method"].map(is_upper_bound)]
    lines = []
    for (metric, preset, model), g in w.groupby(["metric", w["preset"].fillna(""), "model"], sort=False):
        sig = g[g["significant"]]
        better = sig[sig["mean_gain"] > 0]
        up = ", ".join(f"{r['method']} (mean gain {_signed(r)}, p = {r['p_holm']:.2g})" for _, r in better.iterrows())
        down = ", ".join(sig.loc[sig["mean_gain"] < 0, "method"])
        head = " · ".join(x for x in (metric, preset, model) if x and x != "all")
        few = g["note"].astype(str).str.startswith("too few").all()
        lines.append(f"{head}, pooled over datasets × folds × runs (Wilcoxon-Holm): "
                     + (f"significantly better than {report.baseline}: {up}" if up else
                        f"too few pairs for a test (n={g['n_pairs'].max()})" if few else
                        f"no method significantly better than {report.baseline}")
                     + (f"; significantly worse: {down}" if down else ""))
    return lines


def leaderboard_table(report: Report) -> Table | None:
    b = report.leaderboard
    if b is None or not len(b):
        return None
    w = report.wilcoxon
    holm = {}
    if w is not None and len(w):
        for _, r in w.iterrows():
            holm[(r["metric"], r["model"], "" if pd.isna(r["preset"]) else str(r["preset"]), r["method"])] = (
                format_p(r["p_holm"]) if np.isfinite(r["p_holm"]) else (r["note"] or "–"))
    frame = pd.DataFrame({
        "metric": b["metric"], "preset": b["group"].replace("", "–"), "model": b["model"],
        "method": [m + (" (upper bound)" if is_upper_bound(m) else " (baseline)" if m == report.baseline else "")
                   for m in b["method"]],
        "datasets": b["blocks"].astype(str), "mean rank": b["mean_rank"].map(lambda x: f"{x:.2f}"),
        "W/T/L": ["–" if m == report.baseline else f"{a}/{t}/{c}" for m, a, t, c in
                  zip(b["method"], b["wins"], b["ties"], b["losses"])],
        "Wilcoxon-Holm p": [holm.get((r["metric"], r["model"], r["group"], r["method"]),  # one preset: not split
                                     holm.get((r["metric"], r["model"], "", r["method"]), "–")) for _, r in b.iterrows()],
        "P(better)": b["p_better"].map(lambda x: "–" if pd.isna(x) else f"{x:.2f}"),
        "P(equivalent)": b["p_rope"].map(lambda x: "–" if pd.isna(x) else f"{x:.2f}"),
        "P(worse)": b["p_worse"].map(lambda x: "–" if pd.isna(x) else f"{x:.2f}"),
    })
    frame = frame.loc[:, [c != "preset" or frame[c].ne("–").any() for c in frame.columns]]
    bold = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    bold["P(better)"] = (b["p_better"] > 0.95).to_numpy()
    return Table(
        title=f"Leaderboard across datasets (against {report.baseline})", frame=frame, bold=bold,
        note=("mean rank over datasets (1 = best; cell = mean over folds × runs; the baseline ranked too); W/T/L = "
              f"datasets where the method is better / within ±{100 * ROPE:g}% / worse than {report.baseline}; "
              "Wilcoxon-Holm p = the pooled paired test of the Significance section (primary); P(better / equivalent "
              f"/ worse) = Bayesian signed-rank test over datasets (baycomp) with a region of practical equivalence of "
              f"±{100 * ROPE:g}% relative difference: with few datasets its prior weighs heavily. " + NEMENYI_NOTE),
    )


def gains_tables(report: Report) -> list[Table]:
    """The paper's gains table, one per model and metric: rows dataset (+ pairing settings), columns methods."""
    g = report.gains
    if g is None or not len(g):
        return []
    pair = [c for c in report.pair_settings if c in g.columns]
    row_keys = ["dataset", *pair]
    tables = []
    shown = report.verdict_metrics or report.metrics  # the CSV export has every metric's gains
    for model in agg.ordered(g["model"].unique(), agg.MODEL_ORDER):
        for metric in [m for m in shown if ((g["model"] == model) & (g["metric"] == m)).any()]:
            sub = g[(g["model"] == model) & (g["metric"] == metric)]
            sub = sub.assign(_row=_row_keys(sub, row_keys))
            rows = list(dict.fromkeys(sub["_row"]))
            frame = pd.DataFrame({SETTING_HEADERS.get(c, c): [r[i] for r in rows] for i, c in enumerate(row_keys)})
            bold = pd.DataFrame(False, index=frame.index, columns=frame.columns)
            idx = sub.set_index(["_row", "method", "metric"])
            for method in dict.fromkeys(sub["method"]):
                frame[method], bold[method] = _column(
                    idx, rows, (method, metric),
                    lambda rec: (format_gain(rec["abs_gain"], rec["rel_gain"]), bool(
                        rec["rel_gain"] > 0 if np.isfinite(rec["rel_gain"]) else rec["abs_gain"] > 0)))
            tables.append(Table(
                title=f"Gains against {report.baseline}: {model}, {metric}", frame=frame, bold=bold,
                note="absolute gain (relative gain) of the mean against the baseline's mean; positive = better; "
                     "bold = positive gain; 'Average' = mean over datasets (for metrics in the target's units "
                     "the mean relative gain only)",
            ))
    return tables


def wilcoxon_table(report: Report) -> Table | None:
    w = report.wilcoxon
    if w is None or not len(w):
        return None
    frame = pd.DataFrame({
        "metric": w["metric"], "model": w["model"], "method": w["method"], "pairs": w["n_pairs"].astype(str),
        "mean gain": w["mean_gain"].map(format_number),
        "wins/ties/losses": [f"{a}/{b}/{c}" for a, b, c in zip(w["wins"], w["ties"], w["losses"])],
        "W": w["statistic"].map(lambda s: "–" if pd.isna(s) else f"{s:g}"),
        "p": w["p_value"].map(format_p), "p (Holm)": w["p_holm"].map(format_p),
        "significant": np.where(w["significant"], "yes", "no"), "note": w["note"],
    })
    if w["preset"].notna().any():  # each evaluation preset is its own test family
        frame.insert(2, "preset", w["preset"].fillna("").astype(str).to_numpy())
    bold = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    bold["p (Holm)"] = w["significant"].to_numpy()
    return Table(
        title=f"Wilcoxon signed-rank tests against {report.baseline}", frame=frame, bold=bold,
        note=f"paired two-sided tests on matched (dataset, fold, run{''.join(', ' + c for c in report.pair_settings)}) "
             f"units (scipy.stats.wilcoxon); Holm correction over the methods of each metric, model and preset "
             f"(statsmodels), alpha = {report.alpha}; gain > 0 = better than the baseline",
    )


def friedman_table(report: Report) -> Table | None:
    if not report.friedman:
        return None
    recs = []
    for r in report.friedman:
        ranks = ", ".join(f"{m} {v:.2f}" for m, v in r.mean_ranks.items()) if len(r.mean_ranks) else "–"
        recs.append({
            "metric": r.metric, "model": r.model, "blocks": str(r.n_blocks),
            "methods": str(r.table.shape[1]) if len(r.table) else "0",
            "chi2": "–" if pd.isna(r.statistic) else f"{r.statistic:.3f}", "p": format_p(r.p_value),
            "CD": "–" if r.cd is None else f"{r.cd:.3f}", "mean ranks (1 = best)": ranks, "note": r.note,
        })
    frame = pd.DataFrame(recs)
    bold = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    bold["p"] = [bool(r.p_value < report.alpha) for r in report.friedman]
    return Table(
        title="Friedman tests across methods over datasets", frame=frame, bold=bold,
        note="scipy.stats.friedmanchisquare on the mean per block and method (a block = a dataset"
             + "".join(f" × {c}" for c in report.pair_settings) + "); Nemenyi post-hoc "
             f"(scikit-posthocs) and critical difference of mean ranks at alpha = {report.alpha}",
    )


def nemenyi_tables(report: Report) -> list[Table]:
    out = []
    for r in report.friedman:
        if r.ok and r.metric == report.primary:
            frame = r.nemenyi.map(format_p).reset_index(names="method")
            bold = pd.DataFrame(False, index=frame.index, columns=frame.columns)
            bold.iloc[:, 1:] = (r.nemenyi < report.alpha).to_numpy()
            out.append(Table(title=f"Nemenyi p-values: {r.metric} / {r.model}", frame=frame, bold=bold,
                             note=f"bold: p < {report.alpha}"))
    return out


def teacher_split_table(report: Report) -> Table | None:
    """Gains where the teacher beats the un-augmented student and where it does not."""
    t = report.teacher_split
    if t is None or not len(t):
        return None

    def pct(x) -> str:
        return "–" if pd.isna(x) else f"{100 * x:+.1f}%"

    frame = pd.DataFrame({
        "model": t["model"], "method": t["method"], "cells": t["cells"].astype(str),
        "teacher better": t["teacher_better"].astype(str), "gain there": t["gain_teacher_better"].map(pct),
        "gain elsewhere": t["gain_otherwise"].map(pct),
        "Spearman rho": t["spearman_rho"].map(lambda x: "–" if pd.isna(x) else f"{x:.2f}"),
        "p": t["spearman_p"].map(format_p),
        "pairs": t["pairs"].astype(str), "teacher better (pairs)": t["pairs_teacher_better"].astype(str),
        "improved there": t["pairs_improved_there"].astype(str), "median gain there": t["median_gain_there"].map(pct),
    })
    return Table(
        title=f"Gain by teacher strength: {report.primary}", frame=frame,
        note="cells = dataset (x training size), means over folds x runs; 'teacher better' = cells where the "
             f"teacher alone beats the student trained with {report.baseline}; gains are mean relative gains "
             "over those cells (positive = better); Spearman rho between the teacher's advantage and the gain; "
             "the last four columns split the matched (dataset, fold, run) pairs instead of cells: how many "
             "pairs the teacher beats the student in, in how many of those the method improves, their median gain",
    )


def teacher_verdict_table(report: Report) -> Table | None:
    """Per student: does a teacher-labelled augmented student ever beat its teacher?"""
    v = report.teacher_verdicts
    if v is None or not len(v):
        return None
    frame = pd.DataFrame({
        "student": v["model"], "teacher-labelled methods": v["methods"],
        "pairs beating the teacher": [f"{a} of {b}" for a, b in zip(v["pairs_beaten"], v["pairs"])],
        "best single setting": [f"{a} of {b} ({m})" for a, b, m in zip(v["best_setting_beaten"], v["pairs"],
                                                                        v["best_setting"])],
        "none beating it": [f"{a} of {b}" for a, b in zip(v["real_beaten"], v["real_pairs"])],
        "dataset means beating it": [f"{a} of {b}" for a, b in zip(v["cells_beaten"], v["cells"])],
        "verdict": mlda_report.verdict_lines(v, report.primary),
    })
    return Table(title=f"Does the augmented student beat its teacher? ({report.primary})", frame=frame,
                 note="a pair = dataset × fold × run (× training size × teacher) where any setting of a teacher-labelled method "
                      "beats the teacher on the test rows (picking the setting on the test rows: optimistic); best "
                      "single setting = the one setting that beats it in most pairs; none = the student on real rows only; a dataset mean = the same over "
                      "means over folds × runs")


def failed_table(report: Report) -> Table | None:
    f = report.failed
    if f is None or not len(f):
        return None
    frame = f.astype(object).map(agg.format_setting)
    return Table(title=f"Failed units ({len(f)})", frame=frame,
                 note="failed units are left out of every table and test")


def all_tables(report: Report) -> list[tuple[str, list[Table]]]:
    """Sections in report order: (heading, tables). The Verdict comes first."""
    teachers = teacher_table(report)
    verdicts = teacher_verdict_table(report)
    sections = [("Verdict", [t for t in (verdict_table(report),) if t is not None]),
                ("Leaderboard", [t for t in (leaderboard_table(report),) if t is not None]),
                ("Results", summary_tables(report) + ([teachers] if teachers is not None else [])
                 + ([verdicts] if verdicts is not None else [])),
                ("Gains", gains_tables(report))]
    tests = [t for t in (wilcoxon_table(report), friedman_table(report), teacher_split_table(report))
             if t is not None]
    sections.append(("Significance", tests + nemenyi_tables(report)))
    sections.append(("Metrics", [metrics_table(report)]))
    sections.append(("Diagnostics", diagnostics_tables(report)))
    if report.privacy is not None:
        sections.append(("Privacy", [Table(title="Privacy against the generators' training rows",
                                           frame=report.privacy, note=PRIVACY_NOTE)]))
    failed = failed_table(report)
    if failed is not None:
        sections.append(("Failed units", [failed]))
    return [(h, ts) for h, ts in sections if ts]


def section_caption(report: Report, heading: str) -> str:
    """The one caption a section opens with ("" for none)."""
    if heading == "Results":
        return STATS_CAPTION + " (the same numbers as `tabaug run`'s summary and the CSV export)" + (
            f". {NEGATIVE_NOTE}" if {"js", "kl"} & set(report.summary["metric"]) else "")
    if heading == "Diagnostics":
        return "Diagnostics describe how units ran (times, validation losses, counts, the judge's stopping); " \
               "references are the same model on real rows. " + STATS_CAPTION
    return ""


def intro(report: Report) -> list[str]:
    lines = ([f"This partial run {report.coverage}"] if report.coverage else []) + [
        f"Results directory: {report.out_dir}",
        f"Rows: {report.n_rows}; baseline: {report.baseline or '–'}; quality metrics tested: "
        f"{', '.join(report.metrics)} (primary {report.primary}); in the Verdict, leaderboard, gains and plots: "
        f"{', '.join(report.verdict_metrics or report.metrics)}",
    ]
    return lines + ([report.judge] if report.judge else []) + report.notes
