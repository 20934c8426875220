"""The report's privacy part: one table of the privacy metrics per generator and scenario, and the
fidelity-versus-privacy plot (a fidelity metric against the membership-inference AUC).

Privacy rows (`evaluate/privacy.py`, `evaluate/attacks.py`) are split off the results before the
main tables, gains and tests: they read best at 0.5 or 0, not at an end of their scale, and there
are 21 of them per unit.
"""

from __future__ import annotations

import pandas as pd

from tabaug_ray.evaluate.attacks import ATTACK_METRICS
from tabaug_ray.evaluate.privacy import DISTANCE_METRICS
from tabaug_ray.report import aggregate as agg

PRIVACY_METRICS: frozenset[str] = frozenset(DISTANCE_METRICS + ATTACK_METRICS)
# (metric, column header): what the table shows; "what no leakage reads as" in the note
SHOWN: tuple[tuple[str, str], ...] = (
    ("dcr_share", "DCR share (0.5)"), ("dcr_ratio_p5", "DCR p5 ratio (1)"), ("nndr_ratio_p5", "NNDR p5 ratio (1)"),
    ("exact_copy_rate", "exact copies (0)"), ("mia_auc", "MIA AUC (0.5)"), ("singling_out_risk", "singling out (0)"),
    ("linkability_risk", "linkability (0)"), ("inference_risk", "inference (0)"),
)
FIDELITY = ("js", "accuracy", "r2", "kl")  # the plot's y axis: the first of these the results have


def split(df: pd.DataFrame, keep: tuple[str, ...] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows without privacy metrics, privacy rows); metrics named in `keep` stay in the first."""
    mask = df["metric"].isin(PRIVACY_METRICS - set(keep))
    return df[~mask], df[mask]


def privacy_summary(privacy: pd.DataFrame, fidelity: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean and std over folds and runs per dataset, model and scenario of each shown metric (and
    of the fidelity metric, mean of each unit's repeats first): columns `<metric>_mean`, `<metric>_std`."""
    rows = agg.ok_rows(pd.concat([privacy, fidelity]) if fidelity is not None else privacy)
    keys = ["dataset", "model", "scenario"]
    per_unit = rows.groupby([*keys, "unit_key", "metric"], dropna=False)["value"].mean().reset_index()
    stats = per_unit.groupby([*keys, "metric"], dropna=False)["value"].agg(["mean", "std"]).unstack("metric")
    stats.columns = [f"{metric}_{stat}" for stat, metric in stats.columns]
    stats = stats.reset_index()
    rank = {s: i for i, s in enumerate(agg.SCENARIO_ORDER)}
    return stats.sort_values(keys, key=lambda c: c.map(rank) if c.name == "scenario" else c).reset_index(drop=True)


def fidelity_rows(df: pd.DataFrame) -> tuple[str | None, pd.DataFrame | None]:
    """The plot's fidelity metric (first of FIDELITY present) and its rows, of one evaluation preset
    (reliable when there, since reliable and realistic estimates are different measurements)."""
    ok = agg.ok_rows(df)
    metric = next((m for m in FIDELITY if m in set(ok["metric"])), None)
    if metric is None:
        return None, None
    rows = ok[ok["metric"] == metric]
    if "preset" in rows and rows["preset"].notna().any():
        presets = set(rows["preset"].dropna())
        rows = rows[rows["preset"] == ("reliable" if "reliable" in presets else sorted(presets)[0])]
    return metric, rows


def privacy_section(df: pd.DataFrame, privacy: pd.DataFrame, *, with_plot: bool):
    """(summary, table frame, figure or None, fidelity metric) for the report; None without privacy rows."""
    if not len(agg.ok_rows(privacy)):
        return None
    fidelity, rows = fidelity_rows(df)
    summary = privacy_summary(privacy, rows)
    fig = plot_fidelity_vs_privacy(summary, fidelity) if with_plot and fidelity else None
    return summary, privacy_table_frame(summary), fig, fidelity


def privacy_table_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """Display strings "mean (std)", one row per dataset / model / scenario."""
    from tabaug_ray.report.tables import format_mean_std

    out = summary[["dataset", "model", "scenario"]].astype(str).copy()
    for metric, header in SHOWN:
        if f"{metric}_mean" in summary:
            out[header] = [format_mean_std(m, s) for m, s in zip(summary[f"{metric}_mean"], summary[f"{metric}_std"])]
    return out.reset_index(drop=True)


def plot_fidelity_vs_privacy(summary: pd.DataFrame, fidelity: str):
    """One panel per dataset: x the membership-inference AUC (0.5 = no leakage), y the fidelity
    metric, one point per generator x scenario, labelled with the scenario."""
    from tabaug_ray.report.plots import _figure, _grid

    if "mia_auc_mean" not in summary or f"{fidelity}_mean" not in summary:
        return None
    data = summary.dropna(subset=["mia_auc_mean", f"{fidelity}_mean"])
    if not len(data):
        return None
    datasets = list(dict.fromkeys(data["dataset"]))
    fig = _figure(4.2 * min(3, len(datasets)), 3.4 * ((len(datasets) + 2) // 3))
    markers = dict(zip(agg.ordered(data["model"], agg.MODEL_ORDER), "osD^v"))
    for ax, dataset in zip(_grid(fig, len(datasets)), datasets):
        part = data[data["dataset"] == dataset]
        for model, rows in part.groupby("model", sort=False):
            ax.errorbar(rows["mia_auc_mean"], rows[f"{fidelity}_mean"], xerr=rows["mia_auc_std"].fillna(0),
                        yerr=rows[f"{fidelity}_std"].fillna(0), fmt=markers.get(model, "o"), label=model, capsize=2)
            for _, r in rows.iterrows():
                ax.annotate(str(r["scenario"]), (r["mia_auc_mean"], r[f"{fidelity}_mean"]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
        ax.axvline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_title(dataset)
        ax.set_xlabel("membership-inference AUC (0.5 = no leakage)")
        ax.set_ylabel(f"{fidelity} ({'lower' if agg.metric_direction(fidelity) == 'lower' else 'higher'} is better)")
        ax.legend(fontsize=7)
    return fig
