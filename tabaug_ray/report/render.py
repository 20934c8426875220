"""Render a `Report` to Markdown, LaTeX, self-contained HTML or CSV.

The tables are laid out by `tables.py` / `sections.py` as `Table`s of display strings; each
renderer here only adds its own markup. Markdown tables are written here (the optional `tabulate`
package behind `DataFrame.to_markdown` is not a dependency); LaTeX uses pandas' Styler (needs jinja2).
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from tabaug_ray.report.build import Report
from tabaug_ray.report.sections import (  # noqa: F401  (re-exported)
    PRIVACY_NOTE,
    all_tables,
    gains_tables,
    intro,
    leaderboard_table,
    section_caption,
    verdict_lines,
    verdict_table,
)
from tabaug_ray.report.tables import (  # noqa: F401  (re-exported)
    Table,
    diagnostics_tables,
    format_gain,
    format_mean_std,
    format_number,
    format_p,
    summary_tables,
)

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


def _plots_of(report: Report, section: str) -> list:
    return [p for p in report.plots if p.section == section]


def _sections(report: Report) -> list[tuple[str, list[Table]]]:
    """all_tables plus a section for figures whose section has no table; "About" after the Verdict."""
    sections = all_tables(report)
    names = {h for h, _ in sections}
    for p in report.plots:
        if p.section not in names:
            sections.append((p.section, []))
            names.add(p.section)
    about = ("About these results", [])
    at = 1 if sections and sections[0][0] == "Verdict" else 0
    return sections[:at] + [about] + sections[at:]


def render_markdown(report: Report, plot_dir: str | None = None) -> str:
    """Markdown report; plots are linked from `plot_dir` (relative path) when given, else omitted."""
    out = [f"# tabaug report: {report.out_dir.name}", ""]
    for heading, tables in _sections(report):
        out += [f"## {heading}", ""]
        if heading == "About these results":
            out += [f"- {line}" for line in intro(report)] + [""]
        if heading == "Verdict":
            out += [f"- {line}" for line in verdict_lines(report)] + [""]
        caption = section_caption(report, heading)
        if caption:
            out += [f"_{caption}_", ""]
        for t in tables:
            out += [f"### {t.title}", "", markdown_table(t), ""]
            if t.note:
                out += [f"_{t.note}_", ""]
        if plot_dir is not None:
            for p in _plots_of(report, heading):
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


_LATEX_SYMBOLS = {"–": "--", "×": r"$\times$", "↓": r"$\downarrow$", "↑": r"$\uparrow$", "→": r"$\to$",
                  "·": r"$\cdot$", "±": r"$\pm$", "‖": r"$\|$", "≥": r"$\geq$", "²": r"$^2$", "†": r"\dag{}",
                  "≈": r"$\approx$", "ρ": r"$\rho$", "η": r"$\eta$"}


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
    for char, tex in _LATEX_SYMBOLS.items():  # ASCII for pdflatex
        text = text.replace(char, tex)
    return text


def render_latex(report: Report) -> str:
    """LaTeX tables (needs \\usepackage{booktabs}); plots are not included."""
    out = [f"% tabaug report: {latex_escape(report.out_dir.name)}",
           "% generated by `tabaug report`; needs \\usepackage{booktabs}"]
    out += [f"% {line}" for line in intro(report)]
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
th{background:#f0f0f0;text-align:left;white-space:normal}table.wrap td{white-space:normal}td:first-child,th:first-child{text-align:left}
td.best{font-weight:bold;background:#eef6ee}td.text{text-align:left}
.note{color:#555;font-size:.85em;font-style:italic;margin-top:0}
td.text{white-space:normal;max-width:38em}td small{color:#666;font-size:.8em}
.scroll{overflow-x:auto;max-width:100%}pre{background:#f6f6f6;padding:.8em;white-space:pre-wrap;
overflow-wrap:anywhere;font-size:.85em}
figure{margin:1em 0}figcaption{color:#555;font-size:.85em}img{max-width:100%;height:auto}
ul.toc{columns:3;font-size:.9em}p.caption{color:#333;font-size:.9em}li{overflow-wrap:anywhere}
section#verdict{background:#f7faf7;border:1px solid #cfe3cf;padding:0 1em .5em;border-radius:4px}
details summary{cursor:pointer;color:#225}
"""


def _anchor(text: str) -> str:
    return "".join(ch.lower() if ch.isalnum() else "-" for ch in text).strip("-")


_NUMERIC = r"^\s*(?:[-+]?[\d.]+(?:e[-+]?\d+)?%?(?:\s*\(.*\))?|–|N/A|n/a|)\s*$"


WRAP_COLUMNS = 8
_MEAN_STD = re.compile(r"^(\S+) \(([^()]*)\)(.*)$")


def _cell_html(text: str, small_std: bool) -> str:
    """Escaped cell text; "mean (std)" cells of results tables get the std in small type."""
    match = _MEAN_STD.match(text) if small_std else None
    if match is None:
        return html.escape(text)
    mean, std, rest = match.groups()
    return f'{html.escape(mean)} <small>({html.escape(std)})</small>{html.escape(rest)}'


def html_table(table: Table) -> str:
    """An HTML table; bold cells get class "best"."""
    cols = list(table.frame.columns)
    text_cols = {c for c in cols if not table.frame[c].astype(str).str.match(_NUMERIC).all()}
    wrap = ' class="wrap"' if len(cols) > WRAP_COLUMNS else ""  # many columns: cells may break at spaces
    out = [f'<div class="scroll"><table{wrap}>', "<thead><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
           + "</tr></thead>", "<tbody>"]
    for i in range(len(table.frame)):
        cells = []
        for c in cols:
            classes = " ".join(k for k, on in (("best", table.bold is not None and bool(table.bold.iloc[i][c])),
                                                ("text", c in text_cols)) if on)
            attr = f' class="{classes}"' if classes else ""
            cells.append(f"<td{attr}>{_cell_html(str(table.frame.iloc[i][c]), table.small_std)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    if table.note:
        out.append(f'<p class="note">{html.escape(table.note)}</p>')
    return "\n".join(out)


def _figure_html(p) -> str:
    data = base64.b64encode(p.png).decode("ascii")
    return (f'<figure><h3>{html.escape(p.title)}</h3><img alt="{html.escape(p.title)}" '
            f'src="data:image/png;base64,{data}">'
            + (f"<figcaption>{html.escape(p.caption)}</figcaption>" if p.caption else "") + "</figure>")


COLLAPSED = ("Diagnostics", "Metrics")  # sections shown folded (<details>) in HTML
VERDICT_ROWS_OPEN = 24  # a longer Verdict table is folded below its one-line summaries


def render_html(report: Report) -> str:
    """One self-contained HTML file: inline CSS, PNGs embedded as base64 data URIs, no external links.
    The Verdict is the first section; diagnostics are folded."""
    title = f"tabaug report: {report.out_dir.name}"
    sections = _sections(report)
    body = [f"<h1>{html.escape(title)}</h1>"]
    toc = [h for h, _ in sections] + (["Sweep"] if report.sweep_best is not None else []) + \
          (["Configuration"] if report.config_text else [])
    nav = ('<nav><ul class="toc">' + "".join(f'<li><a href="#{_anchor(h)}">{html.escape(h)}</a></li>' for h in toc)
           + "</ul></nav>")
    for i, (heading, tables) in enumerate(sections):
        body.append(f'<section id="{_anchor(heading)}"><h2>{html.escape(heading)}</h2>')
        if heading == "About these results":
            body.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in intro(report)) + "</ul>")
        if heading == "Verdict":
            body.append('<ul class="verdict">' + "".join(f"<li>{html.escape(line)}</li>"
                                                         for line in verdict_lines(report)) + "</ul>")
        caption = section_caption(report, heading)
        if caption:
            body.append(f'<p class="caption">{html.escape(caption)}</p>')
        inner = []
        for t in tables:
            inner += [f"<h3>{html.escape(t.title)}</h3>", html_table(t)]
        inner += [_figure_html(p) for p in _plots_of(report, heading)]
        if heading in COLLAPSED:
            inner = [f"<details><summary>{len(tables)} table(s): show</summary>"] + inner + ["</details>"]
        elif heading == "Verdict" and tables and len(tables[0].frame) > VERDICT_ROWS_OPEN:
            head = inner.index(f"<h3>{html.escape(tables[0].title)}</h3>")
            inner[head:head + 2] = [f"<details><summary>{html.escape(tables[0].title)}: {len(tables[0].frame)} rows, "
                                    "show</summary>", inner[head + 1], "</details>"]
        body += inner + ["</section>"]
        if i == 0:
            body.append(nav)
    if report.sweep_best is not None:
        body += ['<section id="sweep"><h2>Sweep: best trial</h2>',
                 f"<pre>{html.escape(json.dumps(report.sweep_best, indent=2, default=str))}</pre></section>"]
    if report.config_text:
        body += ['<section id="configuration"><h2>Configuration (config.toml)</h2>',
                 f"<pre>{html.escape(report.config_text)}</pre></section>"]
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
    extras = {"verdict": report.verdict, "leaderboard": report.leaderboard, "gains": report.gains,
              "wilcoxon": report.wilcoxon}
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
