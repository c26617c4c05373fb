"""The ``analytics`` command line. Each module of ``analytics.commands`` registers its own
sub-commands through ``register(subparsers)``; this file only discovers and dispatches."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from analytics import commands
from analytics.errors import DataError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="analytics", description="AI release analytics: KPIs, comparisons, audits, reports."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a sub-command; a structural data error prints its message and exits 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
