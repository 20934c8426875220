"""Render a `Report` to Markdown, LaTeX, self-contained HTML or CSV.

Tables are first laid out as `Table`s of display strings (paper style: "mean (std)", best value
bold); each renderer only adds its own markup. Markdown tables are written here (the optional
`tabulate` package behind `DataFrame.to_markdown` is not a dependency); LaTeX uses pandas' Styler
(needs jinja2).
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tabaug_ray.report import aggregate as agg
from tabaug_ray.report import mlda as mlda_report
from tabaug_ray.report.build import Report

SETTING_HEADERS = {"n": "N", "m": "M", "l": "L"}
PRIVACY_NOTE = ("mean (std) over folds × runs; in brackets what no leakage reads as: synthetic rows are as close to "
                "the training rows as to as many never-seen real rows (README: Evaluation / Privacy)")


@dataclass
class Table:
    """A display table: `frame` of strings, `bold` (same shape, bool) marks cells to emphasise."""

    title: str
    frame: pd.DataFrame
    bold: pd.DataFrame | None = None
    note: str = ""


# ------------------------------------------------------------------------------ number formats
def format_number(x, digits: int = 3) -> str:
    """Paper-style number: 3 decimals; 1 decimal from 1000 up; 3 significant digits below 0.001."""
    if x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x):
        return "–"
    x = float(x)
    if x == 0 or 1e-3 <= abs(x) < 1e3:
        return f"{x:.{digits}f}"
    if abs(x) >= 1e3:
        return f"{x:.1f}"
    return f"{x:.{digits}g}"


def format_mean_std(mean, std) -> str:
    """"0.420 (0.003)"; the std is "–" when it is undefined (a single value)."""
    return f"{format_number(mean)} ({format_number(std)})"


def format_p(p) -> str:
    if p is None or pd.isna(p):
        return "–"
    return f"{p:.3g}"


def format_gain(abs_gain, rel_gain) -> str:
    """"0.238 (+56.7%)": absolute gain and relative gain (positive = better than the baseline)."""
    rel = "–" if pd.isna(rel_gain) or not np.isfinite(rel_gain) else f"{100 * rel_gain:+.1f}%"
    return f"{format_number(abs_gain)} ({rel})"


# ---------------------------------------------------------------------------------- layouts
def _row_keys(frame: pd.DataFrame, cols: list[str]) -> list[tuple[str, ...]]:
    """Display strings of the row-key columns (strings, so that missing values compare equal)."""
    return [tuple(agg.format_setting(v) for v in vals) for vals in zip(*[frame[c] for c in cols])]


def summary_tables(report: Report) -> list[Table]:
    """One paper-style table per dataset: rows scenario (+ settings), columns "<model> <metric>"."""
    summ = report.summary[~report.summary["model"].map(agg.is_reference)]
    refs = report.summary[report.summary["model"].map(agg.is_reference)]
    settings = [c for c in report.settings if c != "experiment"]
    blocks = ["experiment", "dataset"] if "experiment" in report.settings else ["dataset"]
    metric_order = agg.ordered(summ["metric"].unique(), agg.METRIC_ORDER)
    metric_order = [m for m in metric_order if not agg.is_descriptive(m)] + \
                   [m for m in metric_order if agg.is_descriptive(m)]
    model_order = agg.ordered(summ["model"].unique(), agg.MODEL_ORDER)
    tables = []
    for key, block in summ.groupby(blocks, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        block = mlda_report.add_references(block, refs, blocks, key, model_order, report.settings, report.directions)
        row_keys = ["scenario", *settings]
        block = block.assign(_row=_row_keys(block, row_keys))
        rows = list(dict.fromkeys(block["_row"]))
        cols = [(mo, me) for me in metric_order for mo in model_order
                if ((block["metric"] == me) & (block["model"] == mo)).any()]
        frame = pd.DataFrame({SETTING_HEADERS.get(c, c): [r[i] for r in rows] for i, c in enumerate(row_keys)})
        frame = frame.loc[:, [True] + [frame[c].ne("").any() for c in frame.columns[1:]]]
        bold = pd.DataFrame(False, index=frame.index, columns=frame.columns)
        indexed = block.set_index(["_row", "model", "metric"])
        for mo, me in cols:
            frame[f"{mo} {me}"], bold[f"{mo} {me}"] = _column(
                indexed, rows, (mo, me), lambda rec: (format_mean_std(rec["mean"], rec["std"])
                                                      + mlda_report.beats_marker(rec), bool(rec["best"])))
        counts = block["count"]
        note = (f"mean (std) over folds × runs (n = {counts.min()}" +
                (f"–{counts.max()}" if counts.max() != counts.min() else "") +
                " per cell); bold = best of the column" +
                ("".join(f" per {SETTING_HEADERS.get(c, c)}" for c in report.pair_settings)) + " (" +
                ", ".join(f"{m}: {report.directions[m]}" for m in metric_order) + " is better)" +
                ("; ref: rows are reference points (the teacher on the test rows, LightGBM with default settings "
                 "on the real rows; `none` is the student on real rows only), repeated in every student's column; "
                 "† = better than the teacher" if block["beats_teacher"].any() or
                 block["scenario"].astype(str).str.startswith("ref: ").any() else ""))
        title = " / ".join(map(str, key))
        tables.append(Table(title=title, frame=frame, bold=bold, note=note))
    return tables


def _column(indexed: pd.DataFrame, rows: list, key: tuple, cell) -> tuple[list[str], list[bool]]:
    """One rendered column: `cell(record) -> (text, bold)` for each row present in `indexed` (indexed by
    (row, *key)), "N/A" where the row has no record."""
    cells, marks = [], []
    for r in rows:
        if (r, *key) in indexed.index:
            rec = indexed.loc[(r, *key)]
            text, mark = cell(rec.iloc[0] if isinstance(rec, pd.DataFrame) else rec)
        else:
            text, mark = "N/A", False
        cells.append(text)
        marks.append(mark)
    return cells, marks


def teacher_table(report: Report) -> Table | None:
    """Teachers' own scores next to the un-augmented students' (does the teacher beat the student?)."""
    summ = report.summary
    teach = summ[summ["model"].map(agg.is_reference)]
    if not len(teach):
        return None
    keys = ["dataset", *[c for c in report.pair_settings if c != "experiment"]]
    metrics = agg.ordered(teach["metric"].unique(), agg.METRIC_ORDER)
    base = summ[(summ["scenario"] == report.baseline) & ~summ["model"].map(agg.is_reference)
                & summ["metric"].isin(metrics)]
    recs = []
    for key, grp in teach.groupby([*keys, "model"], sort=False, dropna=False):
        rec = {SETTING_HEADERS.get(c, c): agg.format_setting(v) for c, v in zip([*keys, "teacher"], key)}
        for metric in metrics:
            t = grp[grp["metric"] == metric]
            rec[f"teacher {metric}"] = format_mean_std(t["mean"].mean(), t["std"].mean()) if len(t) else "N/A"
            sel = base[base["metric"] == metric]
            for c, v in zip(keys, key):
                sel = sel[sel[c] == v]
            for student, b in sel.groupby("model", sort=False):
                rec[f"{report.baseline} {student} {metric}"] = format_mean_std(b["mean"].mean(), b["std"].mean())
        recs.append(rec)
    frame = pd.DataFrame(recs).fillna("N/A")
    return Table(title="Teachers and reference models against the students without augmentation", frame=frame,
                 note=f"mean (std) over folds × runs; '{report.baseline} <student>' = the student trained "
                      "without augmentation on the same units")


def gains_tables(report: Report) -> list[Table]:
    """The paper's gains table, one per model and metric: rows dataset (+ pairing settings), columns methods."""
    g = report.gains
    if g is None or not len(g):
        return []
    pair = [c for c in report.pair_settings if c in g.columns]
    row_keys = ["dataset", *pair]
    tables = []
    for model in agg.ordered(g["model"].unique(), agg.MODEL_ORDER):
        for metric in [m for m in report.metrics if ((g["model"] == model) & (g["metric"] == m)).any()]:
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


def verdict_table(report: Report) -> Table | None:
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
    """Sections in report order: (heading, tables)."""
    teachers = teacher_table(report)
    verdicts = verdict_table(report)
    sections = [("Results", summary_tables(report) + ([teachers] if teachers is not None else [])
                 + ([verdicts] if verdicts is not None else [])),
                ("Gains", gains_tables(report))]
    tests = [t for t in (wilcoxon_table(report), friedman_table(report), teacher_split_table(report))
             if t is not None]
    sections.append(("Significance", tests + nemenyi_tables(report)))
    if report.privacy is not None:
        sections.append(("Privacy", [Table(title="Privacy against the generators' training rows",
                                           frame=report.privacy, note=PRIVACY_NOTE)]))
    failed = failed_table(report)
    if failed is not None:
        sections.append(("Failed units", [failed]))
    return [(h, ts) for h, ts in sections if ts]


def _intro(report: Report) -> list[str]:
    lines = [*([f"This partial run {report.coverage}"] if getattr(report, "coverage", None) else []),
        f"Results directory: {report.out_dir}",
        f"Rows: {report.n_rows}; baseline: {report.baseline or '–'}; metrics for gains, tests and plots: "
        f"{', '.join(report.metrics)} (primary {report.primary})",
    ]
    return lines + ([report.judge] if report.judge else []) + report.notes


# -------------------------------------------------------------------------------- markdown
def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> str:
    """A GitHub pipe table; bold cells as **x**."""
    cols = list(table.frame.columns)
    lines = ["| " + " | ".join(_md_escape(c) for c in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for i in range(len(table.frame)):
        cells = []
        for c in cols:
            text = _md_escape(table.frame.iloc[i][c])
            if table.bold is not None and bool(table.bold.iloc[i][c]) and text:
                text = f"**{text}**"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(report: Report, plot_dir: str | None = None) -> str:
    """Markdown report; plots are linked from `plot_dir` (relative path) when given, else omitted."""
    out = [f"# tabaug report: {report.out_dir.name}", ""]
    out += [f"- {line}" for line in _intro(report)] + [""]
    for heading, tables in all_tables(report):
        out += [f"## {heading}", ""]
        for t in tables:
            out += [f"### {t.title}", "", markdown_table(t), ""]
            if t.note:
                out += [f"_{t.note}_", ""]
    if report.plots and plot_dir is not None:
        out += ["## Plots", ""]
        for p in report.plots:
            out += [f"### {p.title}", "", f"![{p.title}]({plot_dir}/{p.name}.png)", ""]
            if p.caption:
                out += [f"_{p.caption}_", ""]
    if report.sweep_best is not None:
        out += ["## Sweep: best trial", "", "```json", json.dumps(report.sweep_best, indent=2, default=str), "```", ""]
    if report.config_text is not None:
        out += ["## Configuration (config.toml)", "", "```toml", report.config_text.rstrip(), "```", ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------------- LaTeX
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_table(table: Table) -> str:
    """A booktabs table via pandas' Styler; bold cells as \\bfseries."""
    frame = table.frame.copy()
    styler = frame.style.hide(axis=0).format(escape="latex").format_index(escape="latex", axis=1)
    if table.bold is not None:
        mask = table.bold.to_numpy()
        styler = styler.apply(lambda _: np.where(mask, "font-weight: bold;", ""), axis=None)
    caption = latex_escape(table.title + (f". {table.note}" if table.note else ""))
    text = styler.to_latex(hrules=True, convert_css=True, caption=caption, position="ht",
                           position_float="centering", column_format="l" * frame.shape[1])
    return text.replace("–", "--").replace("×", r"$\times$")  # ASCII for pdflatex


def render_latex(report: Report) -> str:
    """LaTeX tables (needs \\usepackage{booktabs}); plots are not included."""
    out = [f"% tabaug report: {latex_escape(report.out_dir.name)}",
           "% generated by `tabaug report`; needs \\usepackage{booktabs}"]
    out += [f"% {line}" for line in _intro(report)]
    for heading, tables in all_tables(report):
        out += ["", f"% ---- {heading}"]
        out += [latex_table(t) for t in tables]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------ HTML
_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1400px;
color:#222;padding:0 1em;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right;white-space:nowrap}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
td.best{font-weight:bold;background:#eef6ee}td.text{text-align:left}
.note{color:#555;font-size:.85em;font-style:italic;margin-top:0}
.scroll{overflow-x:auto}pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.85em}
figure{margin:1em 0}figcaption{color:#555;font-size:.85em}img{max-width:100%;height:auto}
ul.toc{columns:2}
"""


def _anchor(text: str) -> str:
    return "".join(ch.lower() if ch.isalnum() else "-" for ch in text).strip("-")


_NUMERIC = r"^\s*(?:[-+]?[\d.]+(?:e[-+]?\d+)?%?(?:\s*\(.*\))?|–|N/A|n/a|)\s*$"


def html_table(table: Table) -> str:
    """An HTML table; bold cells get class "best"."""
    cols = list(table.frame.columns)
    text_cols = {c for c in cols if not table.frame[c].astype(str).str.match(_NUMERIC).all()}
    out = ['<div class="scroll"><table>', "<thead><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
           + "</tr></thead>", "<tbody>"]
    for i in range(len(table.frame)):
        cells = []
        for c in cols:
            classes = " ".join(k for k, on in (("best", table.bold is not None and bool(table.bold.iloc[i][c])),
                                                ("text", c in text_cols)) if on)
            attr = f' class="{classes}"' if classes else ""
            cells.append(f"<td{attr}>{html.escape(str(table.frame.iloc[i][c]))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    if table.note:
        out.append(f'<p class="note">{html.escape(table.note)}</p>')
    return "\n".join(out)


def render_html(report: Report) -> str:
    """One self-contained HTML file: inline CSS, PNGs embedded as base64 data URIs, no external links."""
    title = f"tabaug report: {report.out_dir.name}"
    sections = all_tables(report)
    body = [f"<h1>{html.escape(title)}</h1>", "<ul>"]
    body += [f"<li>{html.escape(line)}</li>" for line in _intro(report)]
    body.append("</ul>")
    toc = [h for h, _ in sections] + (["Plots"] if report.plots else []) + \
          (["Sweep"] if report.sweep_best is not None else []) + (["Configuration"] if report.config_text else [])
    body.append('<ul class="toc">' + "".join(f'<li><a href="#{_anchor(h)}">{html.escape(h)}</a></li>' for h in toc)
                + "</ul>")
    for heading, tables in sections:
        body.append(f'<h2 id="{_anchor(heading)}">{html.escape(heading)}</h2>')
        for t in tables:
            body += [f"<h3>{html.escape(t.title)}</h3>", html_table(t)]
    if report.plots:
        body.append('<h2 id="plots">Plots</h2>')
        for p in report.plots:
            data = base64.b64encode(p.png).decode("ascii")
            body.append(f'<figure><h3>{html.escape(p.title)}</h3><img alt="{html.escape(p.title)}" '
                        f'src="data:image/png;base64,{data}">'
                        + (f"<figcaption>{html.escape(p.caption)}</figcaption>" if p.caption else "")
                        + "</figure>")
    if report.sweep_best is not None:
        body += ['<h2 id="sweep">Sweep: best trial</h2>',
                 f"<pre>{html.escape(json.dumps(report.sweep_best, indent=2, default=str))}</pre>"]
    if report.config_text:
        body += ['<h2 id="configuration">Configuration (config.toml)</h2>',
                 f"<pre>{html.escape(report.config_text)}</pre>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


# ------------------------------------------------------------------------------------- CSV
def render_csv(report: Report) -> str:
    """The tidy summary table (one row per dataset, scenario, settings, model, metric) as CSV."""
    return report.summary.to_csv(index=False)


def write_csv(report: Report, path: Path) -> list[Path]:
    """Write the summary to `path` and the gains / tests next to it (`<stem>_gains.csv`, ...)."""
    written = [path]
    path.write_text(render_csv(report), encoding="utf-8")
    extras = {"gains": report.gains, "wilcoxon": report.wilcoxon}
    if report.friedman:
        extras["friedman"] = pd.DataFrame([{
            "metric": r.metric, "model": r.model, "n_blocks": r.n_blocks, "statistic": r.statistic,
            "p_value": r.p_value, "cd": r.cd, "mean_ranks": json.dumps({str(k): float(v) for k, v in r.mean_ranks.items()}),
            "note": r.note} for r in report.friedman])
    for name, frame in extras.items():
        if frame is not None and len(frame):
            extra = path.with_name(f"{path.stem}_{name}.csv")
            frame.to_csv(extra, index=False)
            written.append(extra)
    return written


def write_plots(report: Report, folder: Path) -> list[Path]:
    """Write the report's PNGs into `folder` (the Markdown report's own `<stem>_plots/`) and remove the
    PNGs an earlier rendering left there that this report no longer draws."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for p in report.plots:
        path = folder / f"{p.name}.png"
        path.write_bytes(p.png)
        paths.append(path)
    for stale in set(folder.glob("*.png")) - set(paths):
        stale.unlink()
    return paths


RENDERERS = {"md": render_markdown, "latex": render_latex, "html": render_html, "csv": render_csv}
