"""The paper's gains table: each method's mean against the baseline's mean, per dataset and on average."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from tabaug_ray.report.aggregate import (
    add_method_labels,
    collapse,
    is_reference,
    metric_direction,
    ok_rows,
    setting_roles,
    sort_rows,
)

# Metrics in the target's units: over several datasets their raw differences are ranked / averaged
# by the datasets' scales (a house-price dataset outweighs every other), so pooled comparisons of
# them are relative.
SCALE_DEPENDENT = frozenset({"rmse", "mae", "mse", "val_rmse"})


def gains_table(
    df: pd.DataFrame,
    metrics: Sequence[str],
    baseline: str,
    *,
    directions: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The paper's gains table: change of each method's mean against the baseline's mean.

    abs_gain = baseline_mean - mean for lower-better metrics (mean - baseline_mean otherwise), so a
    positive gain is an improvement; rel_gain = abs_gain / |baseline_mean|. Rows with dataset
    "Average" hold the mean of the gains over datasets (as in the paper's Table 2); for metrics in
    the target's units (`SCALE_DEPENDENT`) only the mean relative gain (absolute values: NaN); for
    the others the relative gain of the means (mean abs_gain / |mean baseline_mean|), which has the
    sign of the mean absolute gain (a mean of ratios is dominated by a baseline near 0, e.g. R^2).

    Args:
        df: the long results table.
        metrics: metrics to compare.
        baseline: the baseline scenario.
        directions: overrides of METRIC_DIRECTION.
    """
    roles = setting_roles(ok_rows(df), baseline)
    data = collapse(df[df["metric"].isin(list(metrics))], roles.shown)
    data = data[~data["model"].map(is_reference)]
    ctx = ["dataset", *roles.pair, "model", "metric"]
    means = (
        add_method_labels(data, roles.method)
        .groupby([*ctx, "scenario", "method", *roles.method], dropna=False, sort=False)["value"]
        .mean().rename("mean").reset_index()
    )
    base = (
        means[means["scenario"] == baseline]
        .groupby(ctx, dropna=False)["mean"].mean().rename("baseline_mean").reset_index()
    )
    out = means[means["scenario"] != baseline].merge(base, on=ctx, how="inner")
    lower = out["metric"].map(lambda m: metric_direction(m, directions) == "lower")
    out["abs_gain"] = (out["baseline_mean"] - out["mean"]).where(lower, out["mean"] - out["baseline_mean"])
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rel_gain"] = out["abs_gain"] / out["baseline_mean"].abs()
    cols = ["dataset", *roles.pair, "model", "metric", "scenario", "method", "baseline_mean", "mean",
            "abs_gain", "rel_gain"]
    out = out[cols]
    if out["dataset"].nunique() > 1:
        avg_keys = [*roles.pair, "model", "metric", "scenario", "method"]
        avg = out.groupby(avg_keys, dropna=False, sort=False)[["baseline_mean", "mean", "abs_gain", "rel_gain"]]
        avg = avg.mean().reset_index().assign(dataset="Average")[cols]
        scaled = avg["metric"].isin(SCALE_DEPENDENT)
        with np.errstate(divide="ignore", invalid="ignore"):
            avg["rel_gain"] = avg["rel_gain"].where(scaled, avg["abs_gain"] / avg["baseline_mean"].abs())
        avg.loc[scaled, ["baseline_mean", "mean", "abs_gain"]] = np.nan
        out = pd.concat([sort_rows(out, roles.pair, ["method"]), sort_rows(avg, roles.pair, ["method"])],
                        ignore_index=True)
    else:
        out = sort_rows(out, roles.pair, ["method"])
    return out
