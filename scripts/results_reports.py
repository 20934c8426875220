"""Rebuild, or check, every committed report under results/ from its packed table.

    python scripts/results_reports.py            # re-render results/*/report.md (+ plots) in place
    python scripts/results_reports.py --check    # render into a scratch copy, compare bytes, exit 1 on a difference

`make check-results` runs the check: every committed report must be what today's report code
renders from the committed pack (report.md and every plot byte for byte, no plot missing or left
over). The options of each directory's report are defined here, once (`make results-reports`
rebuilds with them).
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import io
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
    reports say results/<name>, so a scratch render must too); `quiet` swallows the report's output."""
    from tabaug_ray.cli import main

    silence = (contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())) if quiet else ()
    with contextlib.chdir(base), contextlib.ExitStack() as stack:
        for context in silence:
            stack.enter_context(context)
        return main(["report", rel, "--out", f"{rel}/report.md", *report_options(Path(rel).name)])


def differences(committed: Path, rendered: Path) -> list[str]:
    """What differs between a committed report and a fresh render of it (one line per file)."""
    out = []
    names = {p.name for p in (committed / PLOTS).glob("*.png")} | {p.name for p in (rendered / PLOTS).glob("*.png")}
    for rel in ["report.md", *(f"{PLOTS}/{n}" for n in sorted(names))]:
        a, b = committed / rel, rendered / rel
        if not a.is_file() or not b.is_file():
            out.append(f"{committed / rel}: {'not committed' if not a.is_file() else 'no longer rendered'}")
        elif not filecmp.cmp(a, b, shallow=False):
            out.append(f"{committed / rel}: differs from a fresh render")
    return out


def check(directory: Path) -> list[str]:
    """Render `directory`'s pack into a scratch copy at the same relative path; what differs."""
    rel = f"{directory.parent.name}/{directory.name}"
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(directory, Path(tmp) / rel, ignore=shutil.ignore_patterns("report*"))
        try:
            code = render(Path(tmp), rel, quiet=True)
        except Exception as exc:  # a crash in the report code: name it, check the others
            code = f"{type(exc).__name__}: {exc}"
        return [f"{directory}: tabaug report failed ({code})"] if code else differences(directory, Path(tmp) / rel)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="render into a scratch copy and compare; change nothing")
    parser.add_argument("--results", default=str(ROOT / "results"), help="the results folder (default: results/)")
    parser.add_argument("names", nargs="*", help="only these directories of the results folder (a new one too)")
    args = parser.parse_args(argv)
    dirs = sorted(p for p in Path(args.results).resolve().iterdir()
                  if (p.name in args.names if args.names else (p / "report.md").is_file()))
    if not dirs:
        print(f"{args.results}: no directory with a report.md", file=sys.stderr)
        return 2
    if not args.check:
        return 1 if any(render(d.parent.parent, f"{d.parent.name}/{d.name}") for d in dirs) else 0
    problems = {}
    for directory in dirs:
        problems[directory.name] = found = check(directory)
        print(f"{directory.name}: {'OK' if not found else f'{len(found)} difference(s)'}", flush=True)
    for line in (line for found in problems.values() for line in found):
        print(line, file=sys.stderr)
    failed = sum(1 for found in problems.values() if found)
    print(f"{len(dirs) - failed} of {len(dirs)} reports re-render byte for byte from their packed tables")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
