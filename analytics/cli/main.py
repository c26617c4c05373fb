"""The ``analytics`` command line. Each other module of ``analytics.cli`` registers its own
sub-commands through ``register(subparsers)``; this file only discovers and dispatches.

Exit codes (every command): 0 success (gate: go; judge: go); 1 the answer is negative (gate:
no-go; judge: rollback; report: a report failed to render); 2 invalid input (bad arguments,
unreadable data, structural data errors, a bad policy; judge also exits 2 for hold); 3 internal
error: an unexpected exception, a bug to report. A crash never exits 1, so a pipeline cannot read
it as no-go or rollback. ``ANALYTICS_DEBUG=1`` prints the traceback of an internal error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import traceback

import analytics.cli as commands
from analytics.core.errors import DataError

EXIT_OK = 0
EXIT_NEGATIVE = 1
EXIT_INVALID_INPUT = 2
EXIT_INTERNAL_ERROR = 3
DEBUG_ENV = "ANALYTICS_DEBUG"

EPILOG = """\
exit codes:
  0  success (gate: go; judge: go)
  1  a negative answer (gate: no-go; judge: rollback; report: a report failed to render)
  2  invalid input: bad arguments, unreadable or structurally broken data, a bad policy
     (the message names the file or table, the line and the column or key); judge: hold
  3  internal error: an unexpected exception (a bug; please report it).
     ANALYTICS_DEBUG=1 prints its traceback.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="analytics",
        description="AI release analytics: KPIs, comparisons, audits, reports.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name == "main":
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "register"):  # helpers of other commands register nothing
            module.register(sub)
    return parser


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def main(argv: list[str] | None = None) -> int:
    """Run a sub-command and return its exit code (see the module docstring).

    Bad arguments exit 2 through argparse (``SystemExit``); a structural data error
    (``DataError``) prints ``error: <message>`` and returns 2; any other exception prints
    ``internal error: <type>: <message>`` and returns 3 (the traceback too when
    ``ANALYTICS_DEBUG=1``)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last resort: never a traceback, never exit 1
        if _debug():
            traceback.print_exc(file=sys.stderr)
        print(
            f"internal error: {type(exc).__name__}: {exc} "
            f"(please report; set {DEBUG_ENV}=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
