"""The metric registry and the one definition of a table cell's numbers.

Every metric has a declared direction ("lower" / "higher" is better), a kind and a one-line
definition that the report prints:
- *quality* metrics judge a method: they are ranked, bolded, tested and plotted;
- *diagnostics* describe how a unit ran (validation losses, times, row counts, the divergence
  judge's own stopping figures): shown in a table of their own, never ranked, bolded, tested or plotted;
- *references* (`<metric>_real`: the same learner trained on real rows) are shown, never ranked.

`cell_stats` is the one way every output (the terminal summary of `tabaug run`, the Markdown /
HTML / LaTeX report and the CSV export) computes "mean (std)": the evaluation repeats of one unit
are averaged first, then mean and std (ddof = 1) are taken over folds x runs. `STATS_CAPTION`
says so in words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from tabaug_ray.errors import TabaugError

STATS_CAPTION = ("mean (std) over folds × runs: the evaluation repeats of a unit are averaged first, then the "
                 "mean and the sample std (ddof = 1) are taken over its folds × runs; n = that number of units")
NEGATIVE_NOTE = ("JS and KL are classifier estimates: a small negative value is estimation error around 0 "
                 "(read it as 0), not a better-than-perfect fit")


@dataclass(frozen=True)
class Metric:
    """One registry entry.

    Args:
        name: the metric's name in the long table.
        direction: "lower" or "higher" is better.
        kind: "quality", "diagnostic", "reference" or "privacy" (its own section; not ranked as quality).
        definition: one line, shown in the report.
    """

    name: str
    direction: str
    kind: str
    definition: str


_UTIL = "on the real held-out test rows of a model trained on the synthetic (or augmented) rows"
_REGISTRY: tuple[Metric, ...] = (
    Metric("js", "lower", "quality", "Jensen–Shannon divergence real vs synthetic in bits (0 = indistinguishable, "
           "1 = disjoint), estimated by the divergence judge (a classifier); small negatives are error around 0"),
    Metric("kl", "lower", "quality", "KL(real ‖ synthetic) in nats, estimated by the divergence judge; "
           "small negatives are estimation error around 0"),
    Metric("auc", "lower", "quality", "ROC-AUC of the judge telling synthetic from real rows (classifier "
           "two-sample test): 0.5 = indistinguishable (ranked as lower-better)"),
    Metric("accuracy", "higher", "quality", f"accuracy {_UTIL}"),
    Metric("macro_f1", "higher", "quality", f"macro-averaged F1 {_UTIL}"),
    Metric("mse", "lower", "quality", f"mean squared error {_UTIL} (target units squared)"),
    Metric("rmse", "lower", "quality", f"root mean squared error {_UTIL} (target units)"),
    Metric("mae", "lower", "quality", f"mean absolute error {_UTIL} (target units)"),
    Metric("r2", "higher", "quality", f"coefficient of determination R² {_UTIL} (1 = perfect)"),
    Metric("ks_mean", "lower", "quality", "mean Kolmogorov–Smirnov distance of the numeric columns' marginals"),
    Metric("ks_max", "lower", "quality", "largest Kolmogorov–Smirnov distance of a numeric column's marginal"),
    Metric("tv_mean", "lower", "quality", "mean total-variation distance of the categorical columns' marginals"),
    Metric("tv_max", "lower", "quality", "largest total-variation distance of a categorical column's marginal"),
    Metric("corr_diff", "lower", "quality", "mean absolute difference of the pairwise correlations real vs synthetic"),
    Metric("val_loss", "lower", "diagnostic", "the generator's loss on its validation rows (its own scale; "
           "early stopping), not comparable across generators or scenarios"),
    Metric("init_val_loss", "lower", "diagnostic", "validation loss of the initialisation before fine-tuning"),
    Metric("val_rmse", "lower", "diagnostic", "the student's RMSE on real held-out training rows (early "
           "stopping and --select-on-val), not a test score"),
    Metric("val_nrmse", "lower", "diagnostic", "val_rmse divided by the target's std (sweep objective)"),
    Metric("seconds", "lower", "diagnostic", "wall-clock seconds of the unit"),
    Metric("n_synthetic", "lower", "diagnostic", "number of synthetic rows the unit trained on"),
    Metric("meta_iters", "lower", "diagnostic", "meta-iterations run (MAML / DRS)"),
    Metric("teacher_used", "lower", "diagnostic", "1 if the gate used the teacher's labels"),
    Metric("chosen_eta", "lower", "diagnostic", "the noise level the gate chose"),
    Metric("js_se", "lower", "diagnostic", "standard error of one repeat's JS from its estimation rows"),
    Metric("judge_epochs", "lower", "diagnostic", "epochs the divergence judge trained"),
    Metric("judge_best_epoch", "lower", "diagnostic", "the judge's epoch with the lowest validation BCE"),
    Metric("judge_val_bce", "lower", "diagnostic", "the judge's best validation binary cross-entropy (nats)"),
    Metric("judge_improving", "lower", "diagnostic", "1 if the judge hit max_epochs while still improving"),
    # privacy (kind "privacy": its own table and plot, `report/privacy.py`; never ranked as quality)
    Metric("dcr_share", "lower", "privacy", "share of synthetic rows closer to a training row than to any holdout "
           "row (0.5 = no leakage signal, 1 = copies)"),
    Metric("dcr_train_p5", "higher", "privacy", "5th percentile distance of a synthetic row to its closest training row"),
    Metric("dcr_holdout_p5", "higher", "privacy", "5th percentile distance of a synthetic row to its closest holdout row"),
    Metric("dcr_ratio_p5", "higher", "privacy", "dcr_train_p5 / dcr_holdout_p5 (1 = no leakage signal, 0 = copies)"),
    Metric("nndr_train_p5", "higher", "privacy", "5th percentile nearest-neighbour distance ratio among training rows"),
    Metric("nndr_holdout_p5", "higher", "privacy", "5th percentile nearest-neighbour distance ratio among holdout rows"),
    Metric("nndr_ratio_p5", "higher", "privacy", "nndr_train_p5 / nndr_holdout_p5 (1 = no leakage signal)"),
    Metric("exact_copy_rate", "lower", "privacy", "share of synthetic rows equal to a training row"),
    Metric("exact_copy_rate_holdout", "lower", "privacy", "share of synthetic rows equal to a holdout row (chance level)"),
    Metric("mia_auc", "lower", "privacy", "ROC-AUC of a distance-based membership-inference attack (0.5 = no leakage)"),
    Metric("singling_out_risk", "lower", "privacy", "anonymeter singling-out risk (0 = none)"),
    Metric("linkability_risk", "lower", "privacy", "anonymeter linkability risk (0 = none)"),
    Metric("inference_risk", "lower", "privacy", "anonymeter attribute-inference risk on the target (0 = none)"),
)
REGISTRY: dict[str, Metric] = {m.name: m for m in _REGISTRY}
METRIC_DIRECTION: dict[str, str] = {m.name: m.direction for m in _REGISTRY}
DEFAULT_DIRECTION = "lower"
# Bookkeeping, not quality; kept as names for older callers
COUNT_METRICS = frozenset({"n_synthetic", "meta_iters", "teacher_used", "chosen_eta"})
JUDGE_DIAGNOSTICS = frozenset({"js_se", "judge_epochs", "judge_best_epoch", "judge_val_bce", "judge_improving"})
# The metrics a Verdict states when the user names none (the first present of each family)
HEADLINE_FAMILIES: tuple[tuple[str, ...], ...] = (("js", "kl", "auc"), ("accuracy", "macro_f1"), ("rmse", "mae", "mse"),
                                                  ("r2",))


def lookup(metric: str) -> Metric:
    """The registry entry of `metric`; derived names (`<m>_real`, `*_seconds`, `*_loss`, the `_low` /
    `_high` interval ends of a privacy metric) get their own."""
    if metric in REGISTRY:
        return REGISTRY[metric]
    for end in ("_low", "_high"):
        base = metric.removesuffix(end)
        if metric.endswith(end) and base in REGISTRY and REGISTRY[base].kind == "privacy":
            return Metric(metric, REGISTRY[base].direction, "privacy", f"{end[1:]} end of {base}'s 95 % interval")
    base = metric.removesuffix("_real")
    if metric.endswith("_real") and base in REGISTRY:
        return Metric(metric, REGISTRY[base].direction, "reference",
                      f"{base} of the same model trained on the real rows (a reference point, never ranked)")
    if metric.endswith("_seconds"):
        return Metric(metric, "lower", "diagnostic", f"wall-clock seconds of the unit's {metric[:-8]} stage")
    if metric.endswith("_loss") or metric.startswith("val_"):
        return Metric(metric, "lower", "diagnostic", "a validation / training loss (a diagnostic)")
    return Metric(metric, DEFAULT_DIRECTION, "quality", GUESSED)


# the definition `lookup` gives a name it neither knows nor can derive
GUESSED = "not in the registry: assumed a lower-is-better quality metric"


def known(metric: str) -> bool:
    """False when `lookup` has to guess (a metric name the registry does not know)."""
    return lookup(metric).definition != GUESSED


def metric_direction(metric: str, overrides: Mapping[str, str] | None = None) -> str:
    """"lower" or "higher": which way `metric` improves (`overrides` win, e.g. {"auc": "higher"})."""
    direction = overrides[metric] if overrides and metric in overrides else lookup(metric).direction
    if direction not in ("lower", "higher"):
        raise TabaugError(f"metric direction must be 'lower' or 'higher', got {metric}={direction!r}")
    return direction


def is_quality(metric: str) -> bool:
    """True for metrics that judge a method (ranked, bolded, tested, plotted)."""
    return lookup(metric).kind == "quality"


def is_descriptive(metric: str) -> bool:
    """Diagnostics and references: shown, never ranked, bolded, tested or plotted."""
    return not is_quality(metric)


def is_time_metric(metric: str) -> bool:
    return metric == "seconds" or metric.endswith("_seconds")


def direction_known(metric: str, overrides: Mapping[str, str] | None = None) -> bool:
    """False when the direction of a quality metric is the registry's guess."""
    return bool(overrides and metric in overrides) or known(metric) or is_descriptive(metric)


def definition(metric: str) -> str:
    return lookup(metric).definition


def headline(metrics: Sequence[str]) -> list[str]:
    """The first present metric of each headline family (js, accuracy, rmse, r2), in that order;
    the first metric when none is a headline metric."""
    out = [next(m for m in fam if m in metrics) for fam in HEADLINE_FAMILIES if any(m in metrics for m in fam)]
    return out or list(metrics[:1])


# ------------------------------------------------------------------------------ the cell's numbers
UNIT = ("fold", "run")


def cell_stats(rows: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Mean, std (ddof = 1) and count of `value` per `keys`, over folds x runs, repeats averaged first.

    Args:
        rows: long-table rows with `value`, `fold`, `run` and `keys` (finished units only).
        keys: the cell: everything that tells units apart except fold and run (dataset, scenario,
            model, metric, settings).
    """
    keys = list(keys)
    per_unit = rows.groupby([*keys, *UNIT], dropna=False, sort=False)["value"].mean().reset_index()
    return per_unit.groupby(keys, dropna=False, sort=False)["value"].agg(
        mean="mean", std="std", count="count").reset_index()
