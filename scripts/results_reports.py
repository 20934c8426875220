"""Rebuild, or check, every committed report under results/ from its packed table.

    python scripts/results_reports.py            # re-render results/*/report.md (+ plots) in place
    python scripts/results_reports.py --check    # render into a scratch copy, compare bytes, exit 1 on a difference

`make check-results` runs the check: every committed report must be what today's report code
renders from the committed pack (report.md and every plot byte for byte, no plot missing or left
over). The options of each directory's report are defined here, once (README's rebuild loop calls
this script).
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLOTS = "report_plots"


def report_options(name: str) -> list[str]:
    """`tabaug report` options of results/<name>."""
    if name.startswith("mlda_"):
        return ["--select-on-val", "mlda"]
    if name == "low_data_generators":
        return ["--compare-models", "--baseline", "vae_bgm+avg"]
    return []


def render(base: Path, rel: str, *, quiet: bool = False) -> int:
    """`tabaug report <rel>` run from `base` (the report names its directory as given: the committed
    reports say results/<name>, so a scratch render must too)."""
    from tabaug_ray.cli import main

    here = Path.cwd()
    os.chdir(base)
    try:
        if quiet:  # the check prints one line per directory, not the reports' own output
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                return main(["report", rel, "--out", f"{rel}/report.md", *report_options(Path(rel).name)])
        return main(["report", rel, "--out", f"{rel}/report.md", *report_options(Path(rel).name)])
    finally:
        os.chdir(here)


def differences(committed: Path, rendered: Path) -> list[str]:
    """What differs between a committed report and a fresh render of it (file names, one per line)."""
    out = []
    names = {p.name for p in (committed / PLOTS).glob("*.png")} | {p.name for p in (rendered / PLOTS).glob("*.png")}
    for rel in ["report.md", *(f"{PLOTS}/{n}" for n in sorted(names))]:
        a, b = committed / rel, rendered / rel
        if not a.is_file() or not b.is_file():
            out.append(f"{committed / rel}: {'not committed' if not a.is_file() else 'no longer rendered'}")
        elif not filecmp.cmp(a, b, shallow=False):
            out.append(f"{committed / rel}: differs from a fresh render")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="render into a scratch copy and compare; change nothing")
    parser.add_argument("--results", default=str(ROOT / "results"), help="the results folder (default: results/)")
    parser.add_argument("names", nargs="*", help="only these directories of the results folder")
    args = parser.parse_args(argv)
    dirs = sorted(p for p in Path(args.results).resolve().iterdir() if ((p / "report.md").is_file() or p.name in args.names)
                  and (not args.names or p.name in args.names))
    if not dirs:
        print(f"{args.results}: no directory with a report.md", file=sys.stderr)
        return 2
    problems, failed = [], set()
    for directory in dirs:
        if not args.check:
            if render(directory.parent.parent, f"{directory.parent.name}/{directory.name}"):
                return 1
            continue
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / directory.parent.name / directory.name
            shutil.copytree(directory, copy, ignore=shutil.ignore_patterns("report*"))
            try:
                code = render(Path(tmp), f"{directory.parent.name}/{directory.name}", quiet=True)
            except Exception as exc:  # a crash in the report code: name it, check the others
                code = f"{type(exc).__name__}: {exc}"
            if code:
                problems.append(f"{directory}: tabaug report failed ({code})")
                failed.add(directory.name)
                continue
            found = differences(directory, copy)
        problems += found
        failed |= {directory.name} if found else set()
        print(f"{directory.name}: {'OK' if not found else f'{len(found)} difference(s)'}", flush=True)
    for line in problems:
        print(line, file=sys.stderr)
    if args.check:
        print(f"{len(dirs) - len(failed)} of {len(dirs)} reports re-render byte for byte from their packed tables")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
