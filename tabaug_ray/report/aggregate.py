"""Load the long results table and aggregate it: summary (mean, std) and gains against a baseline.

The results contract: one long-format table, one row per (dataset, fold, run, scenario, model,
metric[, repeat]) with a `value`, plus *setting* columns (n, m, l, train_size, eta, volume,
teacher, experiment) that tell runs of the same scenario apart.

Settings play two roles when a method is compared with the baseline:
- *pairing* settings take more than one value inside the baseline (e.g. the evaluation sizes M, L
  of `low_data`, or the MLDA training size): a method is matched with the baseline at the same value;
- *method* settings vary inside some other scenario but not inside the baseline (e.g. eta and the
  synthetic volume of `mlda`): they are part of the method's identity ("mlda (eta=0.05, volume=2000)").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tabaug_ray.errors import TabaugError, warn
from tabaug_ray.results import REQUIRED, BadPart, ResultStore
from tabaug_ray.report.metrics import (  # noqa: F401  (re-exported: the registry's names)
    COUNT_METRICS,
    DEFAULT_DIRECTION,
    JUDGE_DIAGNOSTICS,
    METRIC_DIRECTION,
    STATS_CAPTION,
    cell_stats,
    direction_known,
    is_descriptive,
    is_quality,
    is_time_metric,
    metric_direction,
)

REQUIRED_COLUMNS: tuple[str, ...] = REQUIRED
SETTING_COLUMNS: tuple[str, ...] = (
    "experiment", "preset", "n", "m", "l", "train_size", "eta", "volume", "teacher",
)
TEXT_SETTINGS: tuple[str, ...] = ("experiment", "preset", "teacher")
UNIT_COLUMNS: tuple[str, ...] = ("dataset", "fold", "run")

SCENARIO_ORDER: tuple[str, ...] = (
    "big_data", "low_data", "pretrain", "avg", "maml", "drs",
    "none", "noise", "mlda", "mlda_vae", "mlda_gated", "distill_spunge", "distill_munge", "cmixup", "ada",
)
MODEL_ORDER: tuple[str, ...] = ("vae_bgm", "ctgan", "mlp", "autogluon_nn")
METRIC_ORDER: tuple[str, ...] = (
    "js", "kl", "auc", "accuracy", "macro_f1", "mse", "rmse", "mae", "r2", "val_loss",
)
TEACHER_PREFIX = "teacher:"
REFERENCE_PREFIX = "reference:"  # reference models of MLDA runs (e.g. LightGBM with default settings on real rows)


def is_teacher(model: str) -> bool:
    return str(model).startswith(TEACHER_PREFIX)


def is_reference(model: str) -> bool:
    """Teachers and other reference models: shown beside the methods, never compared as methods."""
    return is_teacher(model) or str(model).startswith(REFERENCE_PREFIX)


def ordered(values: Iterable, order: Sequence[str] = ()) -> list:
    """Known names first in `order`, then the rest sorted (teacher models last)."""
    values = list(dict.fromkeys(v for v in values if not _isna(v)))
    rank = {name: i for i, name in enumerate(order)}
    return sorted(values, key=lambda v: (is_reference(v), rank.get(v, len(rank)), str(v)))


def natural_key(text: str) -> tuple:
    """Sort key that orders embedded numbers by value ("volume=500" before "volume=10000")."""
    parts = re.split(r"(\d+(?:\.\d+)?(?:e[+-]?\d+)?)", str(text))
    return tuple((0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts))


def _isna(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


# --------------------------------------------------------------------------------------------- load
def load(out_dir: str | Path) -> pd.DataFrame:
    """Read `OUT/results/` (Parquet parts written by `tabaug run`) into one long DataFrame; parts
    that cannot be read are left out (see `load_checked`)."""
    return load_checked(out_dir)[0]


def load_checked(out_dir: str | Path) -> tuple[pd.DataFrame, list[BadPart]]:
    """`OUT/results/` as one long DataFrame, and the parts left out because they are torn or hold
    another unit's rows (each named in a warning on stderr; nothing in OUT is changed).

    The parts are read by the results module (`ResultStore.read_checked`), so the report sees the
    store's schema: optional columns are null where they do not apply.

    Args:
        out_dir: the experiment's output directory (the one holding `results/`).
    """
    path = Path(out_dir) / "results"
    if "://" not in str(out_dir) and not path.is_dir():
        raise TabaugError(f"no results directory at {path}: run `tabaug run` first")
    try:
        df, bad = ResultStore(out=out_dir).read_checked()
    except OSError as exc:
        raise TabaugError(f"cannot read results in {path}: {exc}") from exc
    for part in bad:
        warn(f"{path}/{part.name}: {part.reason}; left out of the report")
    if not len(df):
        raise TabaugError(f"no {'readable ' if bad else ''}Parquet parts in {path}"
                          + (f" ({len(bad)} unreadable)" if bad else "") + ": run `tabaug run` first")
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise TabaugError(f"results in {path} lack required columns {missing}")
    return normalise(df), bad


def read_failures(out_dir: str | Path) -> pd.DataFrame:
    """Failed units recorded by the executor as `OUT/failed/<unit_key>.json` (empty if none)."""
    records = []
    for rec in ResultStore(out=out_dir).failures():
        records.append({k: rec.get(k) for k in ("unit_key", "label", "dataset", "fold", "run", "error")})
    return pd.DataFrame(records)


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Give the long table its canonical dtypes and the optional `status` column."""
    df = df.copy()
    df["metric"] = df["metric"].astype(str).str.lower()
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    for col in ("scenario", "model", "dataset"):
        df[col] = df[col].astype(str)
    for col in TEXT_SETTINGS:
        if col in df.columns:
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    if "status" not in df.columns:
        df["status"] = "ok"
    df["status"] = df["status"].fillna("ok").astype(str)
    for col in SETTING_COLUMNS:
        if col in df.columns and col not in TEXT_SETTINGS:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    return df


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of finished units with a numeric value (failed units and NaN values removed)."""
    keep = (df["status"] == "ok") & (df["metric"] != "error") & df["value"].notna()
    return df.loc[keep]


def failed_units(df: pd.DataFrame) -> pd.DataFrame:
    """One row per failed unit (status != "ok" or metric "error"), for listing in the report."""
    bad = df[(df["status"] != "ok") | (df["metric"] == "error")]
    cols = [c for c in ("experiment", "dataset", "fold", "run", "scenario", "model", *SETTING_COLUMNS[1:],
                        "status", "error", "message", "unit_key") if c in bad.columns]
    cols = list(dict.fromkeys(cols))
    out = bad[cols].drop_duplicates(subset=["unit_key"]).reset_index(drop=True)
    return out.loc[:, [c == "unit_key" or out[c].notna().any() for c in out.columns]]


def available(df: pd.DataFrame, column: str) -> list[str]:
    order = {"metric": METRIC_ORDER, "scenario": SCENARIO_ORDER, "model": MODEL_ORDER}.get(column, ())
    return ordered(ok_rows(df)[column].unique(), order)


def default_baseline(df: pd.DataFrame) -> str | None:
    """`low_data` if present, else `none`, else None (no gains or tests)."""
    scenarios = set(ok_rows(df)["scenario"])
    return next((s for s in ("low_data", "none") if s in scenarios), None)


def default_metric(df: pd.DataFrame) -> str:
    """`js` if present, else `rmse`, else the first metric in canonical order."""
    metrics = available(df, "metric")
    if not metrics:
        raise TabaugError("the results hold no finished units with a metric value")
    return next((m for m in ("js", "rmse") if m in metrics), metrics[0])


def check_choice(df: pd.DataFrame, column: str, value: str, flag: str) -> str:
    """Raise a TabaugError listing the available values when `value` is not one of them."""
    choices = [str(c) for c in available(df, column)]
    if value not in choices:
        raise TabaugError(f"unknown {flag} {value!r}; available: {', '.join(map(str, choices))}")
    return value


# ------------------------------------------------------------------------------------- settings
def setting_columns(df: pd.DataFrame) -> list[str]:
    """Setting columns shown as row keys: those with any value (experiment only when it varies)."""
    cols = []
    for col in SETTING_COLUMNS:
        if col not in df.columns or not df[col].notna().any():
            continue
        if col == "experiment" and df[col].nunique() < 2:
            continue
        cols.append(col)
    return cols


@dataclass(frozen=True)
class Roles:
    """How the setting columns take part in a comparison against the baseline.

    Args:
        pair: settings matched between a method and the baseline (vary inside the baseline).
        method: settings that are part of a method's identity (vary inside another scenario).
        shown: all setting columns with values (row keys of the summary tables).
    """

    pair: tuple[str, ...]
    method: tuple[str, ...]
    shown: tuple[str, ...]


def setting_roles(df: pd.DataFrame, baseline: str | None) -> Roles:
    shown = setting_columns(df)
    base = df[df["scenario"] == baseline] if baseline is not None else df.iloc[:0]
    pair = tuple(c for c in shown if base[c].dropna().nunique() > 1)
    method = tuple(
        c for c in shown
        if c not in pair and df.groupby("scenario")[c].nunique(dropna=True).max() > 1
    )
    return Roles(pair=pair, method=method, shown=tuple(shown))


def format_setting(value) -> str:
    if _isna(value):
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)


def method_label(scenario: str, settings: Mapping[str, object]) -> str:
    """"mlda (eta=0.05, volume=2000)": the scenario plus its method settings that have a value."""
    parts = [f"{k}={format_setting(v)}" for k, v in settings.items() if not _isna(v)]
    return f"{scenario} ({', '.join(parts)})" if parts else scenario


def add_method_labels(df: pd.DataFrame, method_cols: Sequence[str]) -> pd.DataFrame:
    df = df.copy()
    if not len(df):
        df["method"] = pd.Series(dtype=str)
        return df
    df["method"] = [
        method_label(s, dict(zip(method_cols, vals)))
        for s, *vals in zip(df["scenario"], *[df[c] for c in method_cols])
    ]
    return df


# ---------------------------------------------------------------------------------- aggregation
def collapse(df: pd.DataFrame, settings: Sequence[str]) -> pd.DataFrame:
    """One value per (dataset, fold, run, scenario, model, metric, settings): repeats averaged.

    NOTE[DIFF]: the reference code reports mean (std) over evaluation repeats; here repeats of one
    unit are averaged first, so the std is over folds and runs (the independent replicates).
    """
    keys = [*UNIT_COLUMNS, "scenario", "model", "metric", *settings]
    return ok_rows(df).groupby(keys, dropna=False, sort=False)["value"].mean().reset_index()


def summary_table(
    df: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    *,
    directions: Mapping[str, str] | None = None,
    baseline: str | None = None,
) -> pd.DataFrame:
    """Tidy summary: mean, std and count over folds and runs (`metrics.cell_stats`), and the best row.

    Returns one row per (dataset, scenario, settings..., model, metric) with columns
    `mean`, `std` (ddof=1), `count` and `best` (True where the mean is the best of its dataset
    for that model and metric, by the metric's direction; ties are all marked; quality metrics only). With a baseline,
    "best" is taken within each value of the pairing settings (e.g. per M, L or training size).

    Args:
        df: the long results table (failed units are ignored).
        metrics: metrics to keep (default: all).
        directions: overrides of METRIC_DIRECTION.
        baseline: baseline scenario (decides the pairing settings); None = best over the dataset.
    """
    settings = setting_columns(df)
    pair = list(setting_roles(ok_rows(df), baseline).pair) if baseline is not None else []
    data = ok_rows(df)
    if metrics is not None:
        data = data[data["metric"].isin(list(metrics))]
    keys = ["dataset", "scenario", *settings, "model", "metric"]
    out = cell_stats(data, keys)
    block = ["dataset", *(["experiment"] if "experiment" in settings else []), *pair, "model", "metric"]
    block = list(dict.fromkeys(block))
    lower = out["metric"].map(lambda m: metric_direction(m, directions) == "lower")
    signed = out["mean"].where(lower, -out["mean"])
    best = signed.groupby([out[c] for c in block], dropna=False).transform("min")
    out["best"] = np.isclose(signed, best, rtol=1e-12, atol=0.0) & out["metric"].map(is_quality)  # never diagnostics
    return sort_rows(out, settings)


def sort_rows(df: pd.DataFrame, settings: Sequence[str], extra: Sequence[str] = ()) -> pd.DataFrame:
    """Sort by dataset, scenario (canonical order), settings, model, metric."""
    if not len(df):
        return df.reset_index(drop=True)
    rank_s = {s: i for i, s in enumerate(ordered(df["scenario"].unique(), SCENARIO_ORDER))}
    sort_cols, keys = ["dataset"], {}
    if "experiment" in settings:
        sort_cols.insert(0, "experiment")
    sort_cols.append("scenario")
    keys["scenario"] = lambda s: s.map(rank_s)
    sort_cols += [c for c in settings if c != "experiment"] + list(extra)
    for col, order in (("model", MODEL_ORDER), ("metric", METRIC_ORDER)):
        if col in df.columns:
            rank = {v: i for i, v in enumerate(ordered(df[col].unique(), order))}
            sort_cols.append(col)
            keys[col] = lambda s, rank=rank: s.map(rank)
    sort_cols = [c for c in dict.fromkeys(sort_cols) if c in df.columns]
    return df.sort_values(
        sort_cols, key=lambda s: keys[s.name](s) if s.name in keys else s, kind="stable", na_position="first"
    ).reset_index(drop=True)


def gain(value, baseline, direction: str):
    """Direction-adjusted improvement over the baseline: positive means better."""
    return (baseline - value) if direction == "lower" else (value - baseline)


def paired_values(
    df: pd.DataFrame,
    metric: str,
    baseline: str,
    *,
    directions: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Each method's value next to the baseline's on matched (dataset, fold, run, model, pairing settings).

    Returns columns dataset, fold, run, model, the pairing and method settings, scenario, method,
    value, baseline_value, gain (positive = better than the baseline) and rel_gain
    (gain / |baseline_value|). Teacher rows (model "teacher:...") are left out.

    Args:
        df: the long results table.
        metric: the metric to compare.
        baseline: the baseline scenario (e.g. "low_data" or "none").
        directions: overrides of METRIC_DIRECTION.
    """
    roles = setting_roles(ok_rows(df), baseline)
    data = collapse(df[df["metric"] == metric], roles.shown)
    data = data[~data["model"].map(is_reference)]
    keys = [*UNIT_COLUMNS, "model", *roles.pair]
    base = (
        data[data["scenario"] == baseline]
        .groupby(keys, dropna=False)["value"].mean().rename("baseline_value").reset_index()
    )
    other = add_method_labels(data[data["scenario"] != baseline], roles.method)
    pairs = other.merge(base, on=keys, how="inner")
    direction = metric_direction(metric, directions)
    pairs["gain"] = gain(pairs["value"], pairs["baseline_value"], direction)
    with np.errstate(divide="ignore", invalid="ignore"):
        pairs["rel_gain"] = pairs["gain"] / pairs["baseline_value"].abs()
    return pairs.reset_index(drop=True)


def method_table(df: pd.DataFrame, metric: str, baseline: str) -> pd.DataFrame:
    """Every (model, scenario, method) compared with the baseline on `metric`, paired or not."""
    roles = setting_roles(ok_rows(df), baseline)
    data = collapse(df[df["metric"] == metric], roles.shown)
    data = data[~data["model"].map(is_reference) & (data["scenario"] != baseline)]
    return add_method_labels(data, roles.method)[["model", "scenario", "method"]].drop_duplicates()


def __getattr__(name: str):
    """`gains_table` and `SCALE_DEPENDENT` live in gains.py (which reads this module): lazily re-exported."""
    if name in ("gains_table", "SCALE_DEPENDENT"):
        from tabaug_ray.report import gains

        return getattr(gains, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
