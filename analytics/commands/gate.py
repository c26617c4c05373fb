"""``analytics gate``: go / no-go for a candidate release, with an exit code for CI/CD."""

from __future__ import annotations

import argparse
import json
import sys

from analytics.governance import gate_decision
from analytics.io import load_dataset


def _gate(args: argparse.Namespace) -> int:
    ds = load_dataset(args.data, args.policy)
    decision = gate_decision(ds, args.release)
    if args.format == "json":
        sys.stdout.write(json.dumps(decision.to_dict(), indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(decision.to_text() + "\n")
    return decision.exit_code


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gate",
        help="go / no-go for a release (exit 0 go, 1 no-go, 2 invalid input)",
        description=(
            "Check a candidate release's evidence, gates, approvals and risk tier (and its "
            "canary, when stages are recorded) against the policy of its effective tier. "
            "Exit code: 0 go, 1 no-go, 2 invalid input (unknown release, unreadable data, or "
            "data errors in the release's own records)."
        ),
    )
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--policy", help="policy YAML (default: DATA/policy.yaml, else the default)")
    p.add_argument("--release", required=True, help="release_id of the candidate")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(handler=_gate)
