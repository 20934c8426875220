"""Long-format result records: one dict per metric value, with the evaluation sizes m, l and the repeat.

Every record has exactly the keys `metric`, `value`, `m`, `l`, `repeat`; the pipelines add dataset,
fold, run and scenario columns. Divergence metrics (`kl`, `js`, `auc`) get one record per repeat
(repeat = 0 … R−1) and no mean rows: means and standard deviations are derived by the report.
Utility and marginal metrics come from one model / one computation and get `repeat = 0`; the
utility of the `real` reference is stored under the metric name with a `_real` suffix
(`accuracy_real`, `macro_f1_real`, `mse_real`, `r2_real`).
"""

from __future__ import annotations

import math
from typing import Mapping

from tabaug_ray.evaluate.divergence import DivergenceResult
from tabaug_ray.evaluate.marginals import MarginalReport

RECORD_KEYS: tuple[str, ...] = ("metric", "value", "m", "l", "repeat")


JUDGE_DIAGNOSTICS: tuple[str, ...] = ("js_se", "judge_epochs", "judge_best_epoch", "judge_val_bce", "judge_improving")
"""Per-repeat rows that describe how the divergence judge stopped (never ranked as quality): the
standard error of the repeat's JS from its estimation rows, the epoch it stopped at and its best
epoch, its best validation BCE (nats) and 1 if it was cut off by max_epochs while still improving."""


def divergence_records(result: DivergenceResult) -> list[dict]:
    """One record per repeat for `kl` (nats), `js` (bits), `auc` (C2ST ROC-AUC) and the judge's
    diagnostics (`JUDGE_DIAGNOSTICS`)."""
    out = []
    series = [("kl", result.kl_repeats), ("js", result.js_repeats), ("auc", result.auc_repeats),
              ("js_se", result.js_se), ("judge_epochs", result.epochs_trained), ("judge_best_epoch", result.epochs),
              ("judge_val_bce", result.best_bce), ("judge_improving", [float(v) for v in result.improving])]
    for metric, values in series:
        out.extend(_record(metric, v, result.m, result.l, r) for r, v in enumerate(values))
    return out


def metric_records(metrics: Mapping[str, float], *, m: int, l: int, repeat: int = 0, suffix: str = "") -> list[dict]:
    """Records for a dict of scalar metrics (names lower-cased, `suffix` appended)."""
    return [_record(f"{name.lower()}{suffix}", value, m, l, repeat) for name, value in metrics.items()]


def evaluation_records(
    *,
    m: int,
    l: int,
    divergence: DivergenceResult | None = None,
    marginals: MarginalReport | None = None,
    utility: Mapping[str, float] | None = None,
    utility_real: Mapping[str, float] | None = None,
) -> list[dict]:
    """All records of one evaluation (any part may be omitted).

    Args:
        m, l: the evaluation sizes (taken from `divergence` when given; they must agree).
        divergence: per-repeat kl / js / auc.
        marginals: ks_mean, ks_max, tv_mean, tv_max, corr_diff.
        utility: train-on-synthetic scores (accuracy, macro_f1 or mse, r2).
        utility_real: the same scores of the model trained on real rows (stored with suffix `_real`).
    """
    if divergence is not None and (divergence.m, divergence.l) != (m, l):
        raise ValueError(f"m, l = {m}, {l} differ from the divergence result's {divergence.m}, {divergence.l}")
    out: list[dict] = []
    if divergence is not None:
        out += divergence_records(divergence)
    if marginals is not None:
        out += metric_records(marginals.summary(), m=m, l=l)
    if utility is not None:
        out += metric_records(utility, m=m, l=l)
    if utility_real is not None:
        out += metric_records(utility_real, m=m, l=l, suffix="_real")
    return out


def _record(metric: str, value: float, m: int, l: int, repeat: int) -> dict:
    value = float(value)
    return {"metric": metric, "value": value if math.isfinite(value) else float("nan"),
            "m": int(m), "l": int(l), "repeat": int(repeat)}
