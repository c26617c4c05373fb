"""``analytics gate``: go / no-go for a candidate release, with an exit code for CI/CD."""

from __future__ import annotations

import argparse
import json
import sys

import polars as pl

from analytics.cli.core import load_data
from analytics.core.columns import LINE, ROW
from analytics.core.errors import DataError
from analytics.data.io import Dataset
from analytics.decisions.gate import gate_decision


def release_time_error(ds: Dataset, release_id: str) -> str | None:
    """Why the gate cannot decide ``release_id``: its ``released_at`` is missing or invalid
    (loading nulled it with a finding), located by table, line, id and column; None when the
    release has a valid ``released_at`` (or is not in the table: ``gate_decision`` says so)."""
    rows = ds.releases.filter(pl.col("release_id") == release_id)
    if rows.height == 0 or rows["released_at"][0] is not None:
        return None
    found = [
        f
        for f in ds.quality.findings
        if f.table == "releases" and f.record_id == release_id and f.column == "released_at"
    ]
    if found:
        where = "; ".join(str(f) for f in found)
    else:
        line = rows[LINE][0] if LINE in rows.columns else None
        place = f"line {line}" if line is not None else f"row {rows[ROW][0]}"
        where = (
            f"table 'releases', {place}, id '{release_id}', column 'released_at': no released_at"
        )
    return f"{where} (the gate needs a valid released_at: fix it and run the gate again)"


def _gate(args: argparse.Namespace) -> int:
    ds = load_data(args.data, args.policy)
    problem = release_time_error(ds, args.release)
    if problem is not None:
        raise DataError(problem)
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
            "data errors in the release's own records), 3 internal error. A release whose "
            "released_at is missing or invalid (unparseable, without offset, a bare date, an "
            "offset beyond +-24:00, a time outside 1970..2999) cannot be gated: exit 2, naming "
            "releases, the line, the id and released_at."
        ),
    )
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--policy", help="policy YAML (default: DATA/policy.yaml, else the default)")
    p.add_argument("--release", required=True, help="release_id of the candidate")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(handler=_gate)
