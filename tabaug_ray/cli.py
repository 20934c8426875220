"""`tabaug` command line: datasets | run | sweep | demo | evaluate | report | results pack | status.

Each sub-command lives in the package that owns it, as a module with `add_parser(subparsers)`
(which sets `func`) so that start-up stays fast: heavy imports happen inside the command.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tabaug_ray.errors import TabaugError

COMMAND_MODULES = (
    "tabaug_ray.data.command",
    "tabaug_ray.distributed.command",
    "tabaug_ray.evaluate.command",
    "tabaug_ray.report.command",
    "tabaug_ray.store_command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tabaug", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a command package not built yet
            if exc.name != name:
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TabaugError as exc:
        print(f"tabaug: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tabaug: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
