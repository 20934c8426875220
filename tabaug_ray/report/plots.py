"""Report figures (matplotlib, drawn on Agg `Figure` objects, no pyplot state), returned as PNG bytes.

Each `plot_*` function returns a `Figure`, or None when the data do not call for that plot.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tabaug_ray.report.aggregate import (
    MODEL_ORDER,
    SCENARIO_ORDER,
    format_setting,
    is_reference,
    method_label,
    metric_direction,
    natural_key,
    ok_rows,
    setting_roles,
    summary_table,
)
from tabaug_ray.report.teachers import teacher_cells

DPI = 110


@dataclass(frozen=True)
class Plot:
    """A rendered figure: `name` is a file stem, `png` the image bytes."""

    name: str
    title: str
    png: bytes
    caption: str = ""
    section: str = "Plots"  # the report section the figure is shown in (Verdict, Leaderboard or Plots)


def figure_png(fig) -> bytes:
    """Render a matplotlib Figure to PNG bytes with the Agg canvas, as a 256-colour palette PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return palette_png(buf.getvalue())


def palette_png(png: bytes) -> bytes:
    """The same image with its colours reduced to a 256-colour palette (Pillow, median cut, no
    dithering): a report's plots are a few flat colours plus anti-aliased edges, so it looks the same
    at 2.1-2.7x fewer bytes (measured on the committed reports: 709 -> 270 KB for the MLDA suite's
    per-dataset RMSE grid, 91 -> 34 KB for a fidelity-versus-privacy plot), which keeps results/ in git
    small. Deterministic: the same figure gives the same bytes."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")  # savefig's background is opaque white
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, format="PNG", optimize=True)
    return out.getvalue()


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _grid(fig, n: int, ncols: int = 3):
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


def _arrow(metric: str, directions: Mapping[str, str] | None) -> str:
    return "lower is better" if metric_direction(metric, directions) == "lower" else "higher is better"


# ------------------------------------------------------------------------- metric by scenario
def plot_metric_by_scenario(
    df: pd.DataFrame,
    metric: str,
    *,
    baseline: str | None = None,
    directions: Mapping[str, str] | None = None,
):
    """Mean `metric` per method (x) with std error bars, one panel per dataset.

    Colours are models and, when the baseline varies them, values of the pairing settings (M, L,
    training size): points of one method sit side by side.

    Args:
        df: the long results table.
        metric: metric to plot.
        baseline: baseline scenario (decides which settings label methods and series).
        directions: overrides of METRIC_DIRECTION.
    """
    summ = summary_table(df, [metric], directions=directions)
    summ = summ[~summ["model"].map(is_reference)]
    if not len(summ):
        return None
    roles = setting_roles(ok_rows(df), baseline)
    pair = [c for c in roles.pair if c != "experiment"]
    summ = summ.assign(
        label=summ.apply(lambda r: method_label(r["scenario"], {c: r[c] for c in roles.method}), axis=1),
        series=summ.apply(lambda r: ", ".join([r["model"], *(f"{c}={format_setting(r[c])}" for c in pair
                                                             if format_setting(r[c]))]), axis=1),
    )
    datasets = list(dict.fromkeys(summ["dataset"]))
    series = sorted(summ["series"].unique(), key=lambda s: (_model_rank(s.split(",")[0]), natural_key(s)))
    n_labels = summ["label"].nunique()
    width = max(4.5, min(12.0, 0.35 * n_labels * max(1, len(series)) ** 0.5 + 2.5))
    ncols = 3 if width < 5.5 else 2 if width < 8 else 1
    ncols = min(ncols, len(datasets))
    long_labels = max(len(lab) for lab in summ["label"].unique()) > 10 or n_labels > 5
    fig = _figure(width * ncols, (3.2 + (1.2 if long_labels else 0)) * math.ceil(len(datasets) / ncols) + 0.5)
    colors = _colors(len(series))
    for ax, dataset in zip(_grid(fig, len(datasets), ncols), datasets):
        sub = summ[summ["dataset"] == dataset]
        labels = list(dict.fromkeys(sub["label"]))
        x = np.arange(len(labels))
        step = 0.7 / max(1, len(series))
        for j, name in enumerate(series):
            rows = sub[sub["series"] == name].set_index("label").reindex(labels)
            if rows["mean"].notna().any():
                ax.errorbar(x + (j - (len(series) - 1) / 2) * step, rows["mean"], yerr=rows["std"].fillna(0.0),
                            fmt="o", ms=5, capsize=3, label=name, color=colors[j])
        ax.set_xticks(x, labels, rotation=30 if long_labels else 0, ha="right" if long_labels else "center",
                      fontsize=8)
        ax.set_xlim(-0.6, len(labels) - 0.4)
        ax.set_title(dataset)
        ax.set_ylabel(metric)
        ax.grid(axis="y", alpha=0.3)
    fig.axes[0].legend(fontsize=7, title="model" + (f", {', '.join(pair)}" if pair else ""), title_fontsize=7)
    fig.suptitle(f"{metric} by method (mean ± std over folds and runs; {_arrow(metric, directions)})")
    return fig


def _model_rank(model: str) -> int:
    return MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER)


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(max(n, 1))]


# --------------------------------------------------------------------------- gain vs setting
def plot_gain_vs_setting(pairs: pd.DataFrame, setting: str, metric: str, baseline: str = "baseline"):
    """Relative improvement over the baseline (%) against a setting (train_size, eta or volume).

    One line per (scenario, model); points are means over datasets, folds, runs and the other
    settings, error bars the standard error of that mean.

    Args:
        pairs: output of `aggregate.paired_values`.
        setting: the column on the x axis.
        metric: the metric the gains were computed on (for labels).
        baseline: the baseline's name (for labels).
    """
    if setting not in pairs.columns:
        return None
    data = pairs[pairs[setting].notna() & np.isfinite(pairs["rel_gain"])]
    if data[setting].nunique() < 2:
        return None
    grouped = data.groupby(["scenario", "model", setting])["rel_gain"].agg(["mean", "sem", "count"]).reset_index()
    fig = _figure(6.5, 4.0)
    ax = fig.subplots()
    lines = list(grouped.groupby(["scenario", "model"]).groups)
    lines.sort(key=lambda sm: (_scenario_rank(sm[0]), sm[1]))
    for color, (scenario, model) in zip(_colors(len(lines)), lines):
        g = grouped[(grouped["scenario"] == scenario) & (grouped["model"] == model)].sort_values(setting)
        ax.errorbar(g[setting], 100 * g["mean"], yerr=100 * g["sem"].fillna(0.0), marker="o", capsize=3,
                    label=f"{scenario} / {model}", color=color)
    xs = data[setting].astype(float)
    if xs.min() > 0 and xs.max() / xs.min() >= 20:
        ax.set_xscale("log")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xlabel(setting)
    ax.set_ylabel(f"relative {metric} improvement over {baseline} (%)")
    ax.set_title(f"Improvement against {setting} (mean ± s.e.m.)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _scenario_rank(scenario: str) -> int:
    return SCENARIO_ORDER.index(scenario) if scenario in SCENARIO_ORDER else len(SCENARIO_ORDER)


# ------------------------------------------------------------------------- teacher vs student
def plot_teacher_vs_gain(tsp: pd.DataFrame, metric: str):
    """Scatter: teacher's advantage over the un-augmented student (x) vs the student's gain (y).

    One point per dataset (and training size) and method: means over folds and runs. The paper's
    open question: does a teacher weaker than the student (x < 0) hurt (y < 0)?

    Args:
        tsp: output of `teacher_student_pairs`.
        metric: the metric compared (for labels).
    """
    from scipy.stats import spearmanr

    if not len(tsp):
        return None
    data = teacher_cells(tsp)
    if not len(data):
        return None
    fig = _figure(6.5, 4.6)
    ax = fig.subplots()
    groups = list(data.groupby(["method", "model"]).groups)
    for color, (method, model) in zip(_colors(len(groups)), sorted(groups, key=lambda g: natural_key(g[0]))):
        g = data[(data["method"] == method) & (data["model"] == model)]
        ax.scatter(100 * g["teacher_advantage"], 100 * g["rel_gain"], s=18, alpha=0.75, color=color,
                   label=f"{method} / {model}")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.axvline(0.0, color="black", lw=0.8, ls="--")
    title = "Teacher strength against student gain"
    if len(data) >= 3 and data["teacher_advantage"].nunique() > 1 and data["rel_gain"].nunique() > 1:
        rho, p = spearmanr(data["teacher_advantage"], data["rel_gain"])
        title += f"\nSpearman rho = {rho:.2f} (p = {p:.2g}, n = {len(data)} dataset × method cells)"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(f"teacher's {metric} advantage over the un-augmented student (%)")
    ax.set_ylabel(f"student's relative {metric} gain from augmentation (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


# ------------------------------------------------------------------------------------- sweep
SWEEP_BOOKKEEPING = ("trial_id", "trial", "iteration", "training_iteration", "timestamp", "date", "time",
                     "seconds", "time_total_s", "time_this_iter_s", "pid", "hostname", "node_ip", "done",
                     "status", "logdir", "experiment_id", "error")


def sweep_objective(trials: pd.DataFrame, best: Mapping | None, fallback: str | None) -> tuple[str | None, str]:
    """(objective column, "min" | "max") of a sweep's trials table, from best.json when it says."""
    best = best or {}
    cand = [best.get(k) for k in ("metric", "objective")] + ["objective", "score", "loss", "value", fallback]
    numeric = [c for c in trials.columns if pd.api.types.is_numeric_dtype(trials[c])]
    col = next((c for c in cand if isinstance(c, str) and c in numeric), None)
    if col is None and numeric:
        col = numeric[-1]
    mode = best.get("mode")
    if mode not in ("min", "max"):
        base = col.split("/")[-1] if col else ""
        mode = "min" if metric_direction(base) == "lower" else "max"
    return col, mode


def plot_sweep(trials: pd.DataFrame, objective: str | None, mode: str):
    """Objective per trial with the running best, and the objective against each numeric config column."""
    if objective is None or objective not in trials.columns or not trials[objective].notna().any():
        return None
    params = [c for c in trials.columns if c != objective and c.split("/")[-1] not in SWEEP_BOOKKEEPING
              and trials[c].nunique(dropna=True) > 1][:6]
    fig = _figure(4.2 * min(3, 1 + len(params)), 3.4 * math.ceil((1 + len(params)) / 3) + 0.4)
    axes = _grid(fig, 1 + len(params), 3)
    if "trial" in trials.columns:  # trials.csv is sorted by the objective; the running best needs creation order
        trials = trials.sort_values("trial")
    y = trials[objective].astype(float)
    best = y.cummin() if mode == "min" else y.cummax()
    axes[0].plot(np.arange(len(y)), y, "o", ms=4, alpha=0.7, label="trial")
    axes[0].plot(np.arange(len(y)), best, "-", color="C3", drawstyle="steps-post", label=f"best so far ({mode})")
    axes[0].set_xlabel("trial")
    axes[0].set_ylabel(objective)
    axes[0].legend(fontsize=8)
    for ax, col in zip(axes[1:], params):
        x = trials[col]
        if pd.api.types.is_numeric_dtype(x):
            ax.scatter(x, y, s=16, alpha=0.75)
            xs = x.dropna().astype(float)
            if len(xs) and xs.min() > 0 and xs.max() / xs.min() >= 100:
                ax.set_xscale("log")
        else:
            cats = sorted(x.dropna().astype(str).unique(), key=natural_key)
            codes = x.astype(str).map({c: i for i, c in enumerate(cats)})
            ax.scatter(codes, y, s=16, alpha=0.75)
            ax.set_xticks(range(len(cats)), cats, rotation=30, fontsize=8)
        ax.set_xlabel(col.split("/")[-1])
        ax.set_ylabel(objective)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(f"Sweep: {len(trials)} trials, objective {objective} ({mode})")
    return fig


# ------------------------------------------------------------------------ critical difference
def plot_cd_diagram(result) -> object | None:
    """Critical-difference diagram (scikit-posthocs) of a `stats.FriedmanResult`.

    Patched around scikit-posthocs 0.11: its crossbars come from `_find_maximal_cliques`, a list of
    Python sets whose order follows string hashing, and crossbars with the same lowest rank are
    stacked in that order, so the same data drew different PNGs in processes with different
    PYTHONHASHSEED (measured: 3 seeds, 3 images), and each crossbar's line visits its methods in set
order. Here each clique is a list sorted by rank and the cliques are sorted by their members' names.
    """
    from scikit_posthocs import _plotting, critical_difference_diagram

    if not result.ok:
        return None
    k = len(result.mean_ranks)
    fig = _figure(8.0, 1.2 + 0.32 * k)
    ax = fig.subplots()
    find = _plotting._find_maximal_cliques
    rank = result.mean_ranks.to_dict()
    _plotting._find_maximal_cliques = lambda adj: sorted(  # each crossbar a list drawn left to right
        (sorted(bar, key=lambda m: (rank[m], str(m))) for bar in find(adj)), key=lambda bar: [str(m) for m in bar])
    try:
        critical_difference_diagram(result.mean_ranks, result.nemenyi, ax=ax, cd=result.cd,
                                    label_props={"fontsize": 8})
    finally:
        _plotting._find_maximal_cliques = find
    fig.suptitle(f"{result.metric} / {result.model}: mean rank over {result.n_blocks} blocks "
                 f"(Friedman p = {result.p_value:.3g}); bars join methods Nemenyi cannot separate",
                 fontsize=9)
    return fig


def setting_axes(pairs: pd.DataFrame, candidates: Sequence[str] = ("train_size", "eta", "volume")) -> list[str]:
    """Settings worth a gain-vs-setting plot: present in the pairs with at least two values."""
    return [c for c in candidates if c in pairs.columns and pairs[c].dropna().nunique() >= 2]


__all__ = [
    "Plot", "figure_png", "plot_metric_by_scenario", "plot_gain_vs_setting",
    "plot_teacher_vs_gain", "sweep_objective", "plot_sweep", "plot_cd_diagram", "setting_axes",
]
