"""`tabaug run`, `tabaug sweep` and `tabaug demo`."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tabaug_ray.errors import TabaugError, warn


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="experiment TOML file")
    parser.add_argument("--out", required=True, help="output directory (results, report inputs, artifacts)")
    parser.add_argument("--address", default=None, help="join a Ray cluster: 'auto' or 'ray://host:port'")
    _local(parser)


def _local(parser: argparse.ArgumentParser) -> None:
    """The options of `run`, `sweep` and `demo` that `demo` passes on to each of its runs."""
    parser.add_argument("--data-dir", default=None, help="folder with MANIFEST.tsv (default: $TABAUG_DATA_DIR)")
    parser.add_argument("--max-cpus", type=int, default=None, help="cap the CPUs of a local Ray")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


ONLY_HELP = ("run a slice of the grid (dataset, fold, run, scenario or model; repeatable), e.g. --only fold=0 "
             "--only run=0,1: same keys and results directory as the whole experiment")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help="run an experiment (resumes: finished units are skipped)")
    _common(run)
    run.add_argument("--only", action="append", default=[], metavar="FIELD=V1,V2", help=ONLY_HELP)
    run.add_argument("--reuse", action="append", default=[], metavar="DIR",
                     help="copy in the units another run directory finished with the same keys (e.g. the "
                          "teachers and MLP students of a run without the AutoGluon student) instead of "
                          "re-running them (repeatable)")
    run.set_defaults(func=run_command)
    sweep = subparsers.add_parser("sweep", help="Ray Tune + Optuna sweep over config fields (resumable)")
    _common(sweep)
    sweep.set_defaults(func=sweep_command)
    demo = subparsers.add_parser("demo", help="the two demo experiments and their reports, in one Ray session")
    demo.add_argument("--out", default="out/demo", help="output directory (default out/demo)")
    demo.add_argument("--experiments", default=None, metavar="DIR",
                      help="folder with demo.toml and demo_mlda.toml (default: the clone's experiments/)")
    _local(demo)
    demo.add_argument("--only", action="append", default=[], metavar="FIELD=V1,V2",
                      help=ONLY_HELP + "; applied to both demo grids")
    demo.set_defaults(func=demo_command)


def check_cpus(value: int | None) -> int | None:
    """--max-cpus must be a positive count (0 used to mean "all cores", a negative one a Ray traceback)."""
    if value is not None and value < 1:
        raise TabaugError(f"--max-cpus {value}: must be at least 1 (leave it out to use every core)")
    return value


def check_out(out: str) -> str:
    """Refuse an --out that is a file, lies under a file, or cannot be written (nothing is created)."""
    if "://" in str(out):
        return out  # an object store: its errors come on the first write, named by pyarrow
    path = Path(out).expanduser().absolute()
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise TabaugError(f"--out {out}: {probe} is a file, not a directory")
    try:  # a real write (root passes any permission check, a read-only mount does not)
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise TabaugError(f"--out {out}: {probe} is not writable ({exc.strerror or type(exc).__name__})") from None
    return out


def sweep_command(args: argparse.Namespace) -> int:
    from tabaug_ray.distributed.executor import check_address
    from tabaug_ray.distributed.sweep import run_sweep

    check_cpus(args.max_cpus)
    check_out(args.out)
    check_address(args.address)
    summary = run_sweep(args.config, out=args.out, data_dir=args.data_dir, address=args.address,
                        max_cpus=args.max_cpus)
    print(f"best {summary['metric']} = {summary['best_value']:.5g} with {summary['best_params']} "
          f"({summary['trials']} trials, {summary['failed_trials']} failed) -> {args.out}/sweep")
    return 0


def run_command(args: argparse.Namespace) -> int:
    from tabaug_ray.config import load_config
    from tabaug_ray.data.registry import resolve_data_dir
    from tabaug_ray.distributed.executor import Executor, check_address
    from tabaug_ray.pipelines.base import RunContext, Selection

    check_cpus(args.max_cpus)
    config = load_config(args.config)
    selection = Selection.parse(config, args.only) if args.only else None
    data_dir = args.data_dir or config.experiment.data_dir
    if data_dir:
        data_dir = str(resolve_data_dir(data_dir).resolve())
    ctx = RunContext(config=config, data_dir=data_dir)
    for entry in config.datasets:  # fail fast, on the driver, on a bad dataset; say what is dropped
        source = ctx.data(entry.name)
        for column, reason in source.schema.dropped.items():
            warn(f"{source.dataset.source or entry.name}: dropping column {column!r} ({reason})")
    address = check_address(args.address or config.execution.address)
    check_out(args.out)
    executor = Executor(ctx=ctx, out=args.out, config_text=Path(args.config).read_text(encoding="utf-8"),
                        address=address,
                        max_cpus=args.max_cpus or config.execution.max_cpus, progress=not args.no_progress,
                        pipeline=selection, reuse=args.reuse)
    summary = executor.run()
    reused = f" ({summary.reused} copied from --reuse)" if args.reuse else ""
    print(f"{config.experiment.name}: {summary.planned} units planned, {summary.skipped} already done{reused}, "
          f"{summary.finished} finished, {len(summary.failed)} failed in {summary.seconds:.1f} s -> {args.out}")
    for failure in summary.failed:
        print(f"FAILED {failure['label']}: {failure['error']} (traceback in {args.out}/failed/{failure['unit_key']}.json)",
              file=sys.stderr)
    if summary.planned and not summary.failed:
        _print_table(args.out)
    return 1 if summary.failed else 0


HEADLINE = ("js", "kl", "auc", "accuracy", "macro_f1", "mse", "r2", "rmse", "mae")


def _print_table(out: str) -> None:
    """Headline metrics, mean (std) as the report computes them (`report.metrics.cell_stats`:
    repeats averaged first, then over folds x runs); `tabaug report` has the rest."""
    from tabaug_ray.report.aggregate import normalise, ok_rows
    from tabaug_ray.report.metrics import STATS_CAPTION, cell_stats
    from tabaug_ray.results import ResultStore

    table = ok_rows(normalise(ResultStore(out=out).read()))
    table = table[table.metric.isin(HEADLINE)]
    if table.empty:
        return
    settings = [c for c in ("preset", "teacher", "train_size", "eta", "volume") if c in table
                and (table[c].nunique() > 1 or (c == "preset" and table[c].notna().any()))]
    from tabaug_ray.report.aggregate import format_setting

    table = table.assign(**{c: table[c].map(format_setting) for c in settings})
    stats = cell_stats(table, ["dataset", "model", "scenario", *settings, "metric"])
    stats["cell"] = [f"{m:.4f}" + ("" if s != s else f" ({s:.4f})") for m, s in zip(stats["mean"], stats["std"])]
    wide = stats.set_index(["dataset", "model", "scenario", *settings, "metric"])["cell"].unstack("metric").fillna("")
    wide = wide[[m for m in HEADLINE if m in wide.columns]]
    print(wide.to_string())
    print(STATS_CAPTION)


DEMO_STEPS = (  # (config, run directory, report file, report options): what `make demo` runs
    ("demo.toml", "synthetic", "report.html", ["--compare-models", "--baseline", "vae_bgm"]),
    ("demo_mlda.toml", "mlda", "mlda_report.html", []),
)


def demo_command(args: argparse.Namespace) -> int:
    """`tabaug run` of experiments/demo.toml and demo_mlda.toml, then `tabaug report` of each, in one
    process: one Ray start and one set of warm workers instead of two, no interpreter start per step
    (measured: ~15 s of a ~3-minute demo on 2 cores). Same results and keys as the separate commands."""
    from tabaug_ray.cli import main

    folder = Path(args.experiments) if args.experiments else Path(__file__).resolve().parents[2] / "experiments"
    missing = [str(folder / name) for name, *_ in DEMO_STEPS if not (folder / name).is_file()]
    if missing:
        raise TabaugError(f"--experiments {folder}: no {', '.join(missing)} (run from a clone or pass --experiments)")
    check_cpus(args.max_cpus)
    check_out(args.out)
    common = [*(["--data-dir", args.data_dir] if args.data_dir else []),
              *(["--max-cpus", str(args.max_cpus)] if args.max_cpus else []),
              *(["--no-progress"] if args.no_progress else []), *(f"--only={o}" for o in args.only)]
    out = Path(args.out)
    for name, run_dir, _, _ in DEMO_STEPS:
        code = main(["run", str(folder / name), "--out", str(out / run_dir), *common])
        if code:
            return code
    for _, run_dir, report, options in DEMO_STEPS:
        code = main(["report", str(out / run_dir), *options, "--out", str(out / report)])
        if code:
            return code
    print("reports: " + ", ".join(f"{out / report} ({run_dir})" for _, run_dir, report, _ in DEMO_STEPS))
    return 0
