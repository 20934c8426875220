"""`tabaug report OUT`: tables, gains, significance tests and plots of a results directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tabaug_ray.errors import TabaugError

FORMATS = ("md", "latex", "html", "csv")
SUFFIX_FORMAT = {".md": "md", ".markdown": "md", ".tex": "latex", ".html": "html", ".htm": "html", ".csv": "csv"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report",
        help="summarise a results directory: mean (std) tables, gains, tests, plots",
        description=__doc__,
    )
    parser.add_argument("out", metavar="OUT", help="output directory of `tabaug run` (holds results/)")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="output format (default: from --out's suffix, else md)")
    parser.add_argument("--out", dest="out_file", metavar="FILE", default=None,
                        help="write to FILE instead of stdout (html: plots embedded; md: plots in FILE_stem_plots/)")
    parser.add_argument("--baseline", default=None, metavar="NAME",
                        help="baseline scenario for gains and tests (default: low_data, else none)")
    parser.add_argument("--metric", action="append", default=None, metavar="NAME",
                        help="metric for gains, tests and plots; repeat for several (default: js, else rmse, "
                             "else the first; then all other non-time metrics)")
    parser.add_argument("--direction", action="append", default=[], metavar="NAME=lower|higher",
                        help="override which way a metric improves, e.g. --direction auc=higher")
    parser.add_argument("--experiment", default=None, metavar="NAME",
                        help="report only this experiment (when OUT holds several)")
    parser.add_argument("--compare-models", action="store_true",
                        help="rank generators against each other (methods = model, or model+scenario beyond "
                             "Low data); use with --baseline MODEL")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    parser.add_argument("--select-on-val", action="append", default=[], metavar="SCENARIO",
                        help="add SCENARIO_val: per group the setting of SCENARIO (eta, volume) or the baseline "
                             "with the lowest val_rmse, e.g. --select-on-val mlda (repeatable)")
    parser.set_defaults(func=run)
    return parser


def parse_directions(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, direction = item.partition("=")
        if not sep or direction not in ("lower", "higher") or not name:
            raise TabaugError(f"--direction expects NAME=lower or NAME=higher, got {item!r}")
        out[name.strip().lower()] = direction
    return out


def run(args: argparse.Namespace) -> int:
    from tabaug_ray.report.build import build_report
    from tabaug_ray.report.render import RENDERERS, render_markdown, write_csv, write_plots
    from tabaug_ray.report.sections import verdict_lines

    if not 0.0 < args.alpha < 1.0:
        raise TabaugError(f"--alpha must be in (0, 1), got {args.alpha=}")
    out_file = Path(args.out_file) if args.out_file else None
    fmt = args.format or (SUFFIX_FORMAT.get(out_file.suffix.lower(), "md") if out_file else "md")
    with_plots = fmt == "html" or (fmt == "md" and out_file is not None)
    report = build_report(
        args.out, metrics=args.metric, baseline=args.baseline, directions=parse_directions(args.direction),
        alpha=args.alpha, with_plots=with_plots, experiment=args.experiment, select_on_val=args.select_on_val,
        compare_models=args.compare_models,
    )
    if out_file is None:
        sys.stdout.write(RENDERERS[fmt](report))
        return 0
    if out_file.parent and not out_file.parent.exists():
        out_file.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        written = write_csv(report, out_file)
    elif fmt == "md":
        plot_dir = out_file.with_name(f"{out_file.stem}_plots")
        written = write_plots(report, plot_dir)
        out_file.write_text(render_markdown(report, plot_dir=plot_dir.name if written else None), encoding="utf-8")
        written.insert(0, out_file)
    else:
        out_file.write_text(RENDERERS[fmt](report), encoding="utf-8")
        written = [out_file]
    print(f"wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    lines = verdict_lines(report)
    if lines:  # the answer first, also on the terminal
        print("Verdict:\n" + "\n".join(f"  {line}" for line in lines), file=sys.stderr)
    return 0
