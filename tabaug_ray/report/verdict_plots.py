"""The headline figure: each method's gain over the baseline with its confidence interval."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tabaug_ray.report.aggregate import natural_key
from tabaug_ray.report.plots import _colors, _figure

MAX_DATASETS_SHOWN = 6  # beyond this, one point per method: the mean over datasets


def plot_gain_ci(gains: pd.DataFrame, metric: str, baseline: str, *, relative: bool = False):
    """Gain over the baseline of every method (relative, in %, if `relative`), with 95% CIs, one panel per setting group x
    model. Up to MAX_DATASETS_SHOWN datasets: one point per dataset (CI over its folds x runs); more:
    the mean over datasets with a t CI over datasets. None without gains for `metric`.

    Args:
        gains: output of `verdict.method_gains`.
        metric: the metric to draw.
        baseline: the baseline's name (labels).
    """
    from scipy.stats import t

    col, lo_col, hi_col = ("rel_gain", "rel_ci_low", "rel_ci_high") if relative else ("gain", "ci_low", "ci_high")
    scale = 100.0 if relative else 1.0
    data = gains[(gains["metric"] == metric) & np.isfinite(gains[col])]
    if not len(data):
        return None
    panels = list(dict.fromkeys(zip(data["group"], data["model"])))
    datasets = sorted(data["dataset"].astype(str).unique(), key=natural_key)
    pooled = len(datasets) > MAX_DATASETS_SHOWN
    methods = sorted(data["method"].unique(), key=natural_key)
    ncols = min(2, len(panels))
    height = max(2.2, 0.42 * len(methods) * (1 if pooled else max(1.0, len(datasets) ** 0.5)) + 1.2)
    fig = _figure(6.4 * ncols, height * math.ceil(len(panels) / ncols) + 0.5)
    axes = fig.subplots(math.ceil(len(panels) / ncols), ncols, squeeze=False).ravel()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    series = ["mean over datasets"] if pooled else datasets
    colors = dict(zip(series, _colors(len(series))))
    for ax, (group, model) in zip(axes, panels):
        sub = data[(data["group"] == group) & (data["model"] == model)]
        y = np.arange(len(methods))[::-1].astype(float)
        step = 0.7 / max(1, len(series))
        for j, name in enumerate(series):
            if pooled:
                g = sub.groupby("method")[col]
                mean, sd, n = g.mean(), g.std(), g.count()
                half = pd.Series({m: t.ppf(0.975, n[m] - 1) * sd[m] / np.sqrt(n[m]) if n[m] > 1 else np.nan
                                  for m in mean.index})
                lo, hi = mean - half, mean + half
            else:
                d = sub[sub["dataset"].astype(str) == name].set_index("method")
                mean, lo, hi = d[col], d[lo_col], d[hi_col]
            mean = mean.reindex(methods)
            err = np.vstack([(mean - lo.reindex(methods)).to_numpy(), (hi.reindex(methods) - mean).to_numpy()])
            yy = y + ((len(series) - 1) / 2 - j) * step
            ax.errorbar(scale * mean.to_numpy(), yy, xerr=scale * np.nan_to_num(err), fmt="o", ms=5, capsize=3,
                        color=colors[name], label=name)
        ax.axvline(0.0, color="black", lw=0.8)
        ax.set_yticks(y, methods, fontsize=8)
        ax.set_ylim(-0.6, len(methods) - 0.4)
        ax.set_xlabel(f"{metric} gain over {baseline} ({'%, ' if relative else ''}positive = better)")
        ax.set_title(" · ".join(x for x in (model, group) if x), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0].legend(fontsize=7, title="dataset" if not pooled else None, title_fontsize=7)
    fig.suptitle(f"{metric}: gain over {baseline} with 95% confidence intervals", fontsize=11)
    return fig
