"""The answer first: the Verdict (per dataset and metric, the best method against the baseline) and
the leaderboard across datasets.

Verdict: within one dataset (x preset x pairing settings) and model, every method is paired with the
baseline on the same folds x runs (`aggregate.paired_values`). Its gain is the mean paired
difference (positive = better) with a t confidence interval over the pairs; the best method is the
one with the largest mean gain; each method is tested with the two-sided Wilcoxon signed-rank test
and the p-values are Holm-corrected over the methods of that dataset and model. A Wilcoxon test on
n non-zero differences cannot reach p < alpha unless 2 / 2**n <= alpha (n >= 6 at 0.05): below that
the Verdict says "too few pairs for a test (n=...)" rather than print a p-value that cannot be small.

Leaderboard: per preset, model and metric, over blocks (a dataset x the pairing settings; the cell
is the mean over folds x runs): each method's mean rank, its wins / ties / losses against the
baseline (a tie = relative difference within the ROPE), the Bayesian signed-rank test's
probabilities (`baycomp`, Benavoli et al. 2017) that the method is better, practically equivalent
(within the ROPE) or worse, beside the pooled Wilcoxon-Holm test of the Significance section.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from tabaug_ray.report.aggregate import paired_values

ROPE = 0.01  # region of practical equivalence: relative differences within +-1 % of the baseline
UPPER_BOUNDS = ("big_data",)  # the full training set: an upper bound, not a candidate technique
CONFIDENCE = 0.95
BAYES_SAMPLES = 5000
STRATUM = "preset"

VERDICT_COLUMNS = ("metric", "dataset", "group", "model", "method", "n_pairs", "baseline_mean", "mean", "gain",
                   "ci_low", "ci_high", "rel_gain", "rel_ci_low", "rel_ci_high", "p_value", "p_holm",
                   "significant", "test", "methods")
FLOAT_COLUMNS = ("baseline_mean", "mean", "gain", "ci_low", "ci_high", "rel_gain", "rel_ci_low", "rel_ci_high",
                 "p_value", "p_holm")  # float even when no method has pairs (an empty frame is otherwise object)


def is_upper_bound(scenario: str) -> bool:
    """Big data (also as `<model>+big_data` under --compare-models): an upper bound, not a candidate."""
    return str(scenario) in UPPER_BOUNDS or str(scenario).endswith(tuple(f"+{u}" for u in UPPER_BOUNDS))


def min_pairs(alpha: float) -> int:
    """Fewest non-zero paired differences with which a two-sided Wilcoxon test can reach p < alpha."""
    n = 1
    while 2.0 / 2 ** n > alpha:
        n += 1
    return n


def too_few(n: int) -> str:
    return f"too few pairs for a test (n={n})"


def mean_ci(diff: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Mean of paired differences and its t confidence interval (NaN bounds below 2 pairs)."""
    from scipy.stats import t

    n = len(diff)
    mean = float(np.mean(diff)) if n else np.nan
    if n < 2:
        return mean, np.nan, np.nan
    half = float(t.ppf(0.5 + confidence / 2, n - 1) * np.std(diff, ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half


def wilcoxon_p(diff: np.ndarray, alpha: float) -> tuple[float, str]:
    """(p, "") of the two-sided Wilcoxon signed-rank test, or (NaN, why not)."""
    from scipy.stats import wilcoxon

    nonzero = int(np.count_nonzero(diff))
    if len(diff) and nonzero == 0:
        return 1.0, "all differences zero"
    if nonzero < min_pairs(alpha):
        return np.nan, too_few(nonzero if nonzero != len(diff) else len(diff))
    return float(wilcoxon(diff).pvalue), ""


def _group_cols(pairs: pd.DataFrame, pair_settings: Sequence[str]) -> list[str]:
    return [c for c in pair_settings if c in pairs.columns and c != "experiment"]


def _label(values: Mapping[str, object]) -> str:
    from tabaug_ray.report.aggregate import format_setting

    headers = {"n": "N", "m": "M", "l": "L"}
    parts = [f"{headers.get(k, k)}={format_setting(v)}" if k != STRATUM else format_setting(v)
             for k, v in values.items() if format_setting(v)]
    return ", ".join(parts)


def method_gains(df: pd.DataFrame, metrics: Sequence[str], baseline: str, pair_settings: Sequence[str], *,
                 directions: Mapping[str, str] | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """One row per metric x dataset x pairing-settings group x model x method (upper bounds left out):
    the paired gain over the baseline with its CI, the Wilcoxon p-value and its Holm correction over
    the methods of the group and model.

    Args:
        df: the long results table.
        metrics: quality metrics to state.
        baseline: the baseline scenario.
        pair_settings: settings matched between a method and the baseline (`Report.pair_settings`).
        directions: overrides of the metric registry's directions.
        alpha: significance level of the Holm-corrected tests.
    """
    from statsmodels.stats.multitest import multipletests

    rows = []
    for metric in metrics:
        pairs = paired_values(df, metric, baseline, directions=directions)
        pairs = pairs[~pairs["scenario"].map(is_upper_bound)]
        if not len(pairs):
            continue
        group = _group_cols(pairs, pair_settings)
        keys = ["dataset", *group, "model"]
        for key, block in pairs.groupby(keys, dropna=False, sort=True):
            info = dict(zip(keys, key))
            cands = []
            for method, p in block.groupby("method", sort=True):
                gain = p["gain"].to_numpy()
                base = float(p["baseline_value"].mean())
                mean, lo, hi = mean_ci(gain)
                p_value, why = wilcoxon_p(gain, alpha)
                # A relative gain only on a ratio scale: with a baseline or a method mean <= 0 (a JS read
                # below 0 by estimation error, a negative R2) "+965 %" said nothing; there it is "–".
                scale = base if base > 0 and p["value"].mean() > 0 else np.nan
                cands.append(dict(metric=metric, dataset=info["dataset"], group=_label({c: info[c] for c in group}),
                                  model=info["model"], method=method, n_pairs=len(p), baseline_mean=base,
                                  mean=float(p["value"].mean()), gain=mean, ci_low=lo, ci_high=hi,
                                  rel_gain=mean / scale, rel_ci_low=lo / scale, rel_ci_high=hi / scale,
                                  p_value=p_value, p_holm=np.nan, significant=False, test=why,
                                  methods=block["method"].nunique()))
            tested = [c for c in cands if np.isfinite(c["p_value"]) and not c["test"]]
            if tested:
                reject, p_holm, _, _ = multipletests([c["p_value"] for c in tested], alpha=alpha, method="holm")
                for c, rej, ph in zip(tested, reject, p_holm):
                    c.update(p_holm=float(ph), significant=bool(rej and c["gain"] > 0))
            rows += cands
    return pd.DataFrame(rows, columns=list(VERDICT_COLUMNS)).astype({c: float for c in FLOAT_COLUMNS})


def verdict_rows(gains: pd.DataFrame) -> pd.DataFrame:
    """The best method (largest mean gain; ties: first by name) of each metric x dataset x group x model."""
    if not len(gains):
        return gains
    keys = ["metric", "dataset", "group", "model"]
    order = gains.assign(_neg=-gains["gain"].fillna(-np.inf)).sort_values([*keys, "_neg", "method"], kind="stable")
    best = order.groupby(keys, sort=False, dropna=False).head(1).drop(columns="_neg")
    rank = {m: i for i, m in enumerate(dict.fromkeys(gains["metric"]))}
    return best.sort_values(["dataset", "metric", "group", "model"], kind="stable",
                            key=lambda s: s.map(rank) if s.name == "metric" else s).reset_index(drop=True)


def verdict_sentence(row: Mapping, baseline: str, alpha: float) -> str:
    """"better than low_data, significant (Holm p = 0.012)" and its variants."""
    if not row["gain"] > 0:
        return f"no method beats {baseline}"
    if row["test"]:
        return f"better than {baseline} on average; {row['test']}"
    if row["significant"]:
        return f"better than {baseline}, significant (Holm p = {row['p_holm']:.2g})"
    return f"better than {baseline} on average, not significant (Holm p = {row['p_holm']:.2g} ≥ {alpha:g})"


LEADERBOARD_COLUMNS = ("metric", "group", "model", "method", "blocks", "mean_rank", "wins", "ties", "losses",
                       "p_better", "p_rope", "p_worse")


def leaderboard(df: pd.DataFrame, metrics: Sequence[str], baseline: str, pair_settings: Sequence[str], *,
                directions: Mapping[str, str] | None = None, rope: float = ROPE) -> pd.DataFrame:
    """Per metric x preset x model: each method's mean rank over blocks (dataset x pairing settings,
    cell = mean over folds x runs; 1 = best; the baseline ranked too), wins / ties / losses against the
    baseline over blocks (tie: |relative difference| <= rope) and the Bayesian signed-rank probabilities
    (baycomp) on the blocks' relative differences. Rows sorted by mean rank."""
    import baycomp

    out = []
    for metric in metrics:
        pairs = paired_values(df, metric, baseline, directions=directions)
        if not len(pairs):
            continue
        strata = [STRATUM] if STRATUM in pairs.columns and pairs[STRATUM].notna().any() else []
        block_cols = ["dataset", *[c for c in _group_cols(pairs, pair_settings) if c != STRATUM]]
        for key, part in pairs.groupby([*strata, "model"], dropna=False, sort=True):
            key = key if isinstance(key, tuple) else (key,)
            info = dict(zip([*strata, "model"], key))
            cell = part.groupby([*block_cols, "method"], dropna=False)[["value", "baseline_value", "gain"]].mean()
            methods = cell.reset_index().pivot_table(index=block_cols, columns="method", values="gain", dropna=False)
            base = cell["baseline_value"].groupby(level=block_cols, dropna=False).first()
            methods = methods.dropna(axis=0, how="any")
            if len(methods) < 2:  # a leaderboard across datasets needs two of them
                continue
            gains = methods.assign(**{baseline: 0.0})  # ranks of direction-adjusted gains: 1 = best
            ranks = gains.rank(axis=1, ascending=False).mean()
            rel = methods.div(base.reindex(methods.index).abs(), axis=0)
            for method in gains.columns:
                r = rel[method].to_numpy() if method != baseline else np.zeros(len(rel))
                rec = dict(metric=metric, group=_label({STRATUM: info.get(STRATUM)}) if strata else "",
                           model=info["model"], method=method, blocks=len(methods), mean_rank=float(ranks[method]),
                           wins=int((r > rope).sum()), ties=int((np.abs(r) <= rope).sum()),
                           losses=int((r < -rope).sum()), p_better=np.nan, p_rope=np.nan, p_worse=np.nan)
                if method != baseline and np.isfinite(r).all():
                    worse, same, better = baycomp.SignedRankTest.probs(
                        np.zeros(len(r)), r, rope=rope, nsamples=BAYES_SAMPLES, random_state=0)
                    rec.update(p_better=float(better), p_rope=float(same), p_worse=float(worse))
                out.append(rec)
    board = pd.DataFrame(out, columns=list(LEADERBOARD_COLUMNS))
    return board.sort_values(["metric", "group", "model", "mean_rank", "method"], kind="stable",
                             key=lambda s: s.map({m: i for i, m in enumerate(metrics)}) if s.name == "metric" else s
                             ).reset_index(drop=True)
