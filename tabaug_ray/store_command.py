"""`tabaug results pack OUT` and `tabaug status OUT`: a run directory's store, without Ray."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    results = subparsers.add_parser("results", help="manage a run directory's results table")
    sub = results.add_subparsers(dest="results_command", required=True)
    pack = sub.add_parser("pack", help="merge OUT/results' per-unit parts into one Parquet pack (resume and "
                                       "report keep working; the parts are removed once the pack is verified)")
    pack.add_argument("out", metavar="OUT", help="output directory of `tabaug run`")
    pack.set_defaults(func=pack_command)
    status = subparsers.add_parser("status", help="done / running / failed / remaining units and an ETA of a run "
                                                  "(read only: safe beside a running `tabaug run`)")
    status.add_argument("out", metavar="OUT", help="output directory of `tabaug run`")
    status.set_defaults(func=status_command)


def pack_command(args: argparse.Namespace) -> int:
    from tabaug_ray.pack import describe, pack_results

    print(describe(pack_results(args.out), args.out))
    return 0


def status_command(args: argparse.Namespace) -> int:
    from tabaug_ray.pack import check_run_dir
    from tabaug_ray.progress import read_progress, status_text

    check_run_dir(args.out, "status")
    sys.stdout.write(status_text(args.out, read_progress(args.out, with_eta=True)))
    return 0
