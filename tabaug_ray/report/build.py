"""Assemble everything a report shows from an output directory: tables, tests, plots, config."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tabaug_ray.config import EvaluationSection, upgrade_stored, validate
from tabaug_ray.errors import TabaugError
from tabaug_ray.progress import read_progress
from tabaug_ray.results import ResultStore, drop_superseded
from tabaug_ray.report import aggregate as agg
from tabaug_ray.report import plots as P
from tabaug_ray.report import privacy as RP
from tabaug_ray.report import teachers
from tabaug_ray.report.mlda import plot_gain_vs_size_with_paper, teacher_verdicts, verdict_lines
from tabaug_ray.report.metrics import headline
from tabaug_ray.report.stats import FriedmanResult, friedman_nemenyi, teacher_split, wilcoxon_vs_baseline
from tabaug_ray.report.verdict import leaderboard, method_gains, verdict_rows


@dataclass
class Report:
    """Everything `render` needs; built by `build_report`.

    Args:
        out_dir: the results directory reported on.
        metrics: metrics of the gains, tests and plots (first = primary).
        baseline: baseline scenario, or None when there is none (no gains, no tests).
        directions: metric -> "lower" / "higher" used for every metric in the tables.
        summary: tidy summary of all metrics (see `aggregate.summary_table`).
        settings: setting columns shown as row keys; pair_settings: those matched to the baseline.
        judge: the divergence judge the results ran with, in words (None for results without divergences).
    """

    out_dir: Path
    metrics: list[str]
    baseline: str | None
    directions: dict[str, str]
    summary: pd.DataFrame
    settings: list[str]
    pair_settings: list[str]
    gains: pd.DataFrame | None = None
    wilcoxon: pd.DataFrame | None = None
    friedman: list[FriedmanResult] = field(default_factory=list)
    failed: pd.DataFrame = field(default_factory=pd.DataFrame)
    plots: list[P.Plot] = field(default_factory=list)
    config_text: str | None = None
    sweep_trials: pd.DataFrame | None = None
    sweep_best: dict | None = None
    pairs: pd.DataFrame | None = None
    teacher_pairs: pd.DataFrame | None = None
    teacher_split: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    judge: str | None = None
    privacy: pd.DataFrame | None = None  # display table of the privacy metrics (`report/privacy.py`)
    teacher_verdicts: pd.DataFrame | None = None
    alpha: float = 0.05
    n_rows: int = 0
    verdict_metrics: list[str] = field(default_factory=list)  # the metrics the Verdict and leaderboard state
    method_gains: pd.DataFrame | None = None  # `verdict.method_gains`: every method against the baseline
    verdict: pd.DataFrame | None = None  # the best method per dataset x metric x group x model
    leaderboard: pd.DataFrame | None = None
    coverage: str | None = None  # a partial run: "covers 37 of 120 units (31 %): 2 failed, 81 not run"

    @property
    def primary(self) -> str:
        return self.metrics[0]


def build_report(
    out_dir: str | Path,
    *,
    metrics: Sequence[str] | None = None,
    baseline: str | None = None,
    directions: Mapping[str, str] | None = None,
    alpha: float = 0.05,
    with_plots: bool = True,
    experiment: str | None = None,
    select_on_val: Sequence[str] = (),
    compare_models: bool = False,
) -> Report:
    """Load `OUT/results` and compute the report's tables, tests and (optionally) plots.

    Args:
        out_dir: the output directory of `tabaug run`.
        metrics: metrics for gains / tests / plots; default: the default metric first, then every
            other metric that judges a method (not times, counts or `_real` references).
        baseline: baseline scenario; default `low_data` if present, else `none`.
        directions: overrides of METRIC_DIRECTION, e.g. {"auc": "higher"}.
        alpha: significance level (Holm, Nemenyi critical difference).
        with_plots: draw the PNG figures.
        experiment: keep only this experiment's rows (when a directory holds several).
        select_on_val: scenarios to add a validation-selected method for (`<scenario>_val`, see
            `teachers.validation_selected`), e.g. ["mlda"].
        compare_models: rank generators against each other: every model x scenario becomes a method
            (`tvae`, `vae_bgm+avg`; Low data keeps the bare model name) of one model column "all".
    """
    out_dir = Path(out_dir)
    df, bad_parts = agg.load_checked(out_dir)
    df, superseded = drop_superseded(df)
    if compare_models:
        scenario = df["scenario"].astype(str)
        method = df["model"].astype(str).where(scenario == "low_data", df["model"].astype(str) + "+" + scenario)
        df = df.assign(scenario=method, model="all")
    n_experiments = agg.ok_rows(df)["experiment"].nunique()
    if experiment is not None:
        df = df[df["experiment"].astype(str) == agg.check_choice(df, "experiment", experiment, "--experiment")]
    df, privacy_rows = RP.split(df, keep=tuple(metrics or ()))
    directions = dict(directions or {})
    for metric in directions:
        agg.metric_direction(metric, directions)  # validates the value
    ok = agg.ok_rows(df)
    if not len(ok):
        raise TabaugError(f"no finished units with values in {out_dir / 'results'}")
    named = bool(metrics)
    if metrics:
        metrics = [agg.check_choice(df, "metric", m, "--metric") for m in dict.fromkeys(metrics)]
        diagnostic = [m for m in metrics if agg.is_descriptive(m)]
        if diagnostic:
            raise TabaugError(f"--metric {', '.join(diagnostic)}: a diagnostic or reference, not a quality metric: it "
                              "is shown in the report's Diagnostics tables but never ranked, tested or plotted")
    else:
        first = agg.default_metric(df)
        metrics = [first, *[m for m in agg.available(df, "metric") if m != first and agg.is_quality(m)]]
    if baseline is not None:
        agg.check_choice(df, "scenario", baseline, "--baseline")
    else:
        baseline = agg.default_baseline(df)
    selected_notes = []
    for scenario in dict.fromkeys(select_on_val):
        if baseline is None:
            raise TabaugError(f"--select-on-val {scenario}: needs a baseline scenario (--baseline)")
        chosen = teachers.validation_selected(df, scenario, baseline)
        share = chosen.drop_duplicates("unit_key")["selected"].value_counts(normalize=True)
        selected_notes.append(f"{scenario}_val: per group the setting of {scenario} or {baseline} with the lowest "
                              "val_rmse (real held-out training rows); chosen: "
                              + ", ".join(f"{k} {100 * v:.0f}%" for k, v in share.items()))
        df = pd.concat([df, chosen], ignore_index=True)
    ok = agg.ok_rows(df)
    all_metrics = agg.available(df, "metric")
    roles = agg.setting_roles(ok, baseline)
    report = Report(
        out_dir=out_dir, metrics=list(metrics), baseline=baseline,
        directions={m: agg.metric_direction(m, directions) for m in all_metrics},
        summary=agg.summary_table(df, directions=directions, baseline=baseline), settings=list(roles.shown),
        pair_settings=list(roles.pair), failed=_failures(df, out_dir), alpha=alpha, n_rows=len(df),
    )
    report.coverage = read_progress(out_dir).coverage_line()
    report.notes += selected_notes
    if len(superseded):
        counts = superseded.assign(**{c: superseded[c].str.split("+").str[0] for c in ("code_version", "by")}
                                   ).groupby(["code_version", "by"], sort=True).size()
        report.notes.append("recomputed by a newer CODE_VERSION, so left out: " + "; ".join(
            f"{n} unit(s) of {old} (superseded by {by})" for (old, by), n in counts.items()))
    if bad_parts:
        report.notes.append(f"{len(bad_parts)} result part(s) unreadable, left out: "
                            + "; ".join(f"{p.name} ({p.reason})" for p in bad_parts))
    unknown = [m for m in all_metrics if not agg.direction_known(m, directions)]
    if unknown:
        report.notes.append(f"direction not known for {', '.join(unknown)}: assumed {agg.DEFAULT_DIRECTION}-is-better"
                            " (override with --direction NAME=higher)")
    if experiment is None and n_experiments > 1:
        report.notes.append(f"{n_experiments} experiments in one directory: gains and tests use one baseline "
                            f"({baseline}) for all; report one at a time with --experiment NAME")
    if baseline is None:
        report.notes.append("no baseline scenario (low_data / none) found: gains and tests skipped; "
                            "choose one with --baseline")
    else:
        report.gains = agg.gains_table(df, metrics, baseline, directions=directions)
        tests = [wilcoxon_vs_baseline(df, m, baseline, directions=directions, alpha=alpha) for m in metrics]
        tests = [t for t in tests if len(t)]
        report.wilcoxon = pd.concat(tests, ignore_index=True) if tests else None
        report.pairs = agg.paired_values(df, metrics[0], baseline, directions=directions)
        report.teacher_pairs = teachers.teacher_student_pairs(df, report.pairs, metrics[0], baseline=baseline,
                                                         directions=directions)
        if len(report.teacher_pairs):
            report.teacher_split = teacher_split(report.teacher_pairs)
        report.verdict_metrics = list(metrics) if named else headline(metrics)
        report.method_gains = method_gains(df, report.verdict_metrics, baseline, report.pair_settings,
                                           directions=directions, alpha=alpha)
        report.verdict = verdict_rows(report.method_gains)
        if ok["dataset"].nunique() > 1:
            report.leaderboard = leaderboard(df, report.verdict_metrics, baseline, report.pair_settings,
                                             directions=directions)
    report.teacher_verdicts = teacher_verdicts(df, metrics[0], directions=directions)
    report.notes += verdict_lines(report.teacher_verdicts, metrics[0])
    models = [m for m in agg.available(df, "model") if not agg.is_reference(m)]
    for metric in metrics:
        for model in models:
            if ((ok["metric"] == metric) & (ok["model"] == model)).any():
                report.friedman.append(
                    friedman_nemenyi(df, metric, model, baseline=baseline, directions=directions, alpha=alpha)
                )
    report.notes += judge_warnings(ok)
    js_rows = ok[ok["metric"] == "js"]
    _read_extras(report, sorted(js_rows["code_version"].dropna().unique()) if "code_version" in ok else [])
    if with_plots:
        report.plots = make_plots(df, report)
    section = RP.privacy_section(df, privacy_rows, with_plot=with_plots)
    if section is not None:
        _, report.privacy, fig, fidelity = section
        if fig is not None:
            report.plots.append(P.Plot(
                name="fidelity_vs_privacy", title=f"Fidelity ({fidelity}) against membership-inference AUC",
                png=P.figure_png(fig), caption="One point per generator and scenario (mean over folds and runs, "
                "error bars one standard deviation); AUC 0.5 = the synthetic rows do not tell training rows apart."))
    return report


def _failures(df: pd.DataFrame, out_dir: Path) -> pd.DataFrame:
    """Failed rows in the results plus the executor's failure records, one row per unit."""
    frames = [f for f in (agg.failed_units(df), agg.read_failures(out_dir)) if len(f)]
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True).drop_duplicates("unit_key").reset_index(drop=True)
    first = [c for c in ("unit_key", "label", "experiment", "dataset", "fold", "run") if c in out.columns]
    return out[first + [c for c in out.columns if c not in first]]


def judge_warnings(ok: pd.DataFrame) -> list[str]:
    """Warning lines where the divergence judge cannot be trusted: a repeat cut off by its epoch limit
    while its validation BCE still fell, or repeats whose JS spread exceeds what their standard errors
    explain (`evaluate.judges.repeats_disagree`). One line per kind, naming up to 5 cells."""
    from tabaug_ray.evaluate.judges import DISAGREE_Z, repeats_disagree

    keys = [c for c in ("dataset", "scenario", "model", "m", "l", "fold", "run") if c in ok.columns]
    rows = ok[ok["metric"].isin(["js", "js_se", "judge_improving"])]
    if not len(rows) or "judge_improving" not in set(rows["metric"]):
        return []
    wide = rows.pivot_table(index=keys + ["repeat"], columns="metric", values="value", aggfunc="first").reset_index()
    cut, unstable = [], []
    for key, group in wide.groupby(keys, dropna=False, sort=True):
        cell = dict(zip(keys, key))
        label = " ".join(f"{k}={v}" for k, v in cell.items() if k not in ("m", "l"))
        if "m" in cell:
            label += f" (M={cell['m']:.0f}, L={cell.get('l', float('nan')):.0f})"
        if "judge_improving" in group and (group["judge_improving"] > 0).any():
            cut.append(label)
        if {"js", "js_se"} <= set(group.columns) and repeats_disagree(group["js"].to_numpy(), group["js_se"].to_numpy()):
            unstable.append(label)
    out = []
    for found, what in ((cut, "stopped at its epoch limit with the validation BCE still falling (raise the judge's "
                               "max_epochs): JS / KL may read low"),
                        (unstable, f"gave repeats whose JS spread exceeds {DISAGREE_Z:g}x their standard errors: "
                                   "the estimate is unstable")):
        if found:
            more = f" and {len(found) - 5} more" if len(found) > 5 else ""
            out.append(f"judge warning: in {len(found)} unit(s) the divergence judge {what}: "
                       + "; ".join(found[:5]) + more)
    return out


def judge_line(evaluation: EvaluationSection, code_versions: Sequence[str] = ()) -> str:
    """The divergence judge of a config's `evaluation` section, in words (JS and KL levels depend on it),
    as the CODE_VERSIONs of the judged rows ran it (a named judge's settings change with the code:
    `judges.CHANGES`); rows of versions whose judges differ get one phrase each."""
    from tabaug_ray.evaluate.judges import describe

    judge = evaluation.judge
    phrases: dict[str, list[str]] = {}
    for version in code_versions or [None]:
        phrases.setdefault(describe(judge.settings(version), judge.name), []).append(version)
    if len(phrases) == 1:
        said = next(iter(phrases))
    else:
        said = "; ".join(f"rows of CODE_VERSION {', '.join(v)}: {p}" for p, v in phrases.items())
    inputs = "integer codes" if evaluation.discriminator_inputs == "codes" else "one-hot"
    return (f"Divergence judge: {said}; categorical "
            f"columns as {inputs}. JS and KL levels depend on the judge: compare them only between reports with "
            "one judge.")


def _read_extras(report: Report, code_versions: Sequence[str] = ()) -> None:
    config = report.out_dir / "config.toml"
    if config.is_file():
        report.config_text = config.read_text(encoding="utf-8", errors="replace")
    if "js" in report.directions:
        meta = report.out_dir / "config.json"
        try:
            stored = ResultStore(out=report.out_dir).stored_config()
            if stored is not None:  # options a stored config predates take their defaults: what it ran with
                stored = upgrade_stored(stored)
                report.judge = judge_line(validate(EvaluationSection, stored["evaluation"], source=meta),
                                          code_versions)
        except (ValueError, KeyError, TabaugError) as exc:
            report.notes.append(f"cannot read the evaluation settings of {meta}: {exc}")
    trials = report.out_dir / "sweep" / "trials.csv"
    if trials.is_file():
        try:
            report.sweep_trials = pd.read_csv(trials)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            report.notes.append(f"cannot read {trials}: {exc}")
    best = report.out_dir / "sweep" / "best.json"
    if best.is_file():
        try:
            report.sweep_best = json.loads(best.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            report.notes.append(f"cannot read {best}: {exc}")


def make_plots(df: pd.DataFrame, report: Report) -> list[P.Plot]:
    """Draw every figure the data call for (see `plots`)."""
    out: list[P.Plot] = []

    def add(fig, name: str, title: str, caption: str = "", section: str = "Plots") -> None:
        if fig is not None:
            out.append(P.Plot(name=name, title=title, png=P.figure_png(fig), caption=caption, section=section))

    primary, baseline, directions = report.primary, report.baseline, report.directions
    if report.method_gains is not None:
        from tabaug_ray.report.verdict_plots import plot_gain_ci

        for i, metric in enumerate(report.verdict_metrics):
            relative = metric in agg.SCALE_DEPENDENT
            add(plot_gain_ci(report.method_gains, metric, baseline, relative=relative), f"gain_ci_{metric}",
                f"{metric}: gain over {baseline} with 95% confidence intervals",
                f"{'Relative ' if relative else ''}{metric} gain of each method over {baseline} on matched folds × runs "
                "(positive = better" + ("; relative: the metric is in the target's units" if relative else
                                        f", in {metric}'s units") + "); bars: t 95% confidence intervals over the "
                "pairs; the vertical line is no change.", section="Verdict" if i == 0 else "Plots")
    for metric in (report.verdict_metrics or report.metrics[:1]):
        add(P.plot_metric_by_scenario(df, metric, baseline=baseline, directions=directions),
            f"{metric}_by_scenario", f"{metric} by scenario",
            "Mean over folds × runs per dataset (repeats averaged first); error bars are one standard deviation.")
    if baseline is not None:
        for setting in P.setting_axes(report.pairs):
            add(P.plot_gain_vs_setting(report.pairs, setting, primary, baseline), f"gain_vs_{setting}",
                f"Improvement over {baseline} against {setting}",
                f"Relative {primary} improvement of each method over {baseline} on matched units.")
        add(plot_gain_vs_size_with_paper(report.pairs, primary, baseline), "mlda_gain_vs_size_paper",
            "MLDA gain against training size, beside the paper's claim",
            f"Relative {primary} improvement of the teacher-labelled methods over {baseline} (mean and median over "
            "dataset × fold × run pairs); stars: the paper's claim (> 10 % at small sizes, about 3 % at 50K rows).")
        add(P.plot_teacher_vs_gain(report.teacher_pairs, primary), "teacher_vs_gain", "Teacher strength against student gain",
            "Does a weak teacher hurt? x < 0: the teacher alone is worse than the student without "
            "augmentation; y < 0: augmentation made the student worse.")
    for res in report.friedman:
        if res.metric == primary and res.ok:
            add(P.plot_cd_diagram(res), f"cd_{primary}_{_safe(res.model)}",
                f"Critical-difference diagram: {primary} / {res.model}",
                f"Mean ranks (1 = best) over {res.n_blocks} blocks; CD = {res.cd:.3g} at alpha = {report.alpha}; "
                "Nemenyi depends on the other methods in the pool: Wilcoxon-Holm against the baseline is primary.",
                section="Leaderboard")
    if report.sweep_trials is not None and len(report.sweep_trials):
        objective, mode = P.sweep_objective(report.sweep_trials, report.sweep_best, primary)
        add(P.plot_sweep(report.sweep_trials, objective, mode), "sweep", "Sweep trials",
            f"Objective {objective} per trial ({mode}) and against each varied configuration value.")
    return out


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
