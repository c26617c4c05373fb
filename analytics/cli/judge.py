"""``analytics judge``: per-metric verdicts of a candidate release against the previous release of
its system, and a go / rollback / hold recommendation with an exit code a pipeline can act on.

``--as-of`` defaults to the latest telemetry timestamp in the dataset (the time the data runs to;
never the wall clock), or the release's ``released_at`` when the dataset has no telemetry. Only
the release's system and comparison window of the raw telemetry are rolled up (same result as
rolling up everything, faster); a pre-computed ``telemetry_rollup/`` is used as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta

import polars as pl

from analytics.cli.core import as_of_arg
from analytics.comparison import (
    JudgeDecision,
    MetricComparison,
    compare_release,
    comparison_windows,
    judge_comparison,
    judge_policy,
)
from analytics.core.errors import DataError
from analytics.data.io import load_dataset
from analytics.data.rollup import Rollup, dataset_rollup
from analytics.metrics.releases import release_units


def _as_of(text: str) -> datetime:
    return as_of_arg(text)  # offset required, range checked (analytics.cli.core)


def default_as_of(
    rollup: Rollup | None, telemetry: pl.LazyFrame | None, released_at: datetime | None
) -> datetime | None:
    """The latest telemetry timestamp (of the pre-computed rollup, else of the raw telemetry),
    else ``released_at``."""
    if rollup is not None and rollup.cases.height:
        return rollup.cases["last_ts"].max()  # type: ignore[return-value]
    if telemetry is not None:
        latest = telemetry.select(pl.col("ts").max()).collect().item()
        if latest is not None:
            return latest  # type: ignore[no-any-return]
    return released_at


def _release_telemetry(
    telemetry: pl.LazyFrame | None, windows: pl.DataFrame
) -> pl.LazyFrame | None:
    """The raw telemetry the comparison can use: the release's system within its comparison
    window (whole UTC days, so the rollup of this slice equals that of everything)."""
    if telemetry is None or windows.height == 0 or windows["released_at"][0] is None:
        return telemetry
    w = windows.row(0, named=True)
    return telemetry.filter(
        (pl.col("system") == w["system"])
        & (pl.col("ts") >= w["ref_start"])
        & (pl.col("ts") < w["window_end"])
    )


def _num(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    if pct:
        return f"{v:+.1%}"
    return f"{v:.4g}"


def _line(m: MetricComparison) -> str:
    interval = f"[{_num(m.ci_low)}, {_num(m.ci_high)}]"
    share = "-" if m.standardised_share is None else f"{m.standardised_share:.0%}"
    needed = "-" if m.cases_needed is None else str(m.cases_needed)
    return (
        f"  {m.metric:<22} {m.n_new:>8} {m.n_ref:>8} {_num(m.effective_n_ref):>8} {share:>5} "
        f"{_num(m.new_value):>10} {_num(m.ref_value):>10} {_num(m.estimate):>10} "
        f"{interval:>24} {_num(m.mde):>9} {needed:>8} {m.verdict:<17} {m.reason}"
    )


def to_text(decision: JudgeDecision) -> str:
    """A human-readable report of the decision."""
    c = decision.comparison
    window = (
        f"{c.window_start:%Y-%m-%d} .. {c.window_end - timedelta(days=1):%Y-%m-%d} (UTC days)"
        if c.window_start is not None and c.window_end is not None
        else "-"
    )
    control = {
        "concurrent": "concurrent (the old version on the same days)",
        "mixed": "concurrent on the canary days, pre-release window for the days after (weaker)",
        "pre_release": "pre-release window only (no concurrent control: weaker)",
    }.get(c.control or "", "-")
    lines = [
        f"release {c.release_id} ({c.system}) vs reference {c.ref_release_id or '-'}"
        + (
            f" (previous release {c.previous_release_id} served too few cases)"
            if c.ref_release_id != c.previous_release_id
            else ""
        ),
        f"as of {decision.as_of.isoformat()}; window {window}; status {c.status}"
        + (f" ({c.message})" if c.message else ""),
        f"control: {control}"
        + (
            f"; {c.concurrent_share:.0%} of the new version's cases on concurrent days"
            if c.concurrent_share is not None
            else ""
        ),
        f"looks: {c.looks_done} of {c.looks_planned} daily looks complete; one "
        f"{c.multiple_testing} family of {len(c.family)} metrics; "
        f"{int(round((1 - c.alpha) * 100))}% intervals at the last look",
        "",
        f"  {'metric':<22} {'n new':>8} {'n ref':>8} {'eff ref':>8} {'std':>5} "
        f"{'new':>10} {'reference':>10} {'difference':>10} {'interval':>24} {'mde':>9} "
        f"{'+cases':>8} {'verdict':<17} reason",
    ]
    for m in c.metrics.values():
        flag = "*" if m.metric in decision.critical_metrics else " "
        lines.append(flag + _line(m)[1:])
    lines += [
        "  (* critical metric; eff ref: the reference's effective sample size; std: share of "
        "new cases standardised on their own segment; mde: smallest true difference detected "
        "with 80% power at this n; +cases: new-version cases still needed to show "
        "non-inferiority)",
        "",
        f"recommendation: {decision.recommendation.upper()} (exit {decision.exit_code})",
    ]
    lines += [f"  - {r}" for r in decision.reasons]
    return "\n".join(lines)


def _judge(args: argparse.Namespace) -> int:
    ds = load_dataset(args.data, args.policy)
    policy = judge_policy(ds.policy)
    units = release_units(ds.releases, policy)
    match = units.filter(pl.col("release_id") == args.release)
    if match.height == 0:
        raise DataError(f"release {args.release!r} is not in the releases table")
    as_of = args.as_of or default_as_of(ds.telemetry_rollup, ds.telemetry, match["released_at"][0])
    if as_of is None:
        raise DataError(f"release {args.release!r} has no valid released_at: pass --as-of")
    windows = comparison_windows(units, [args.release], as_of, policy)
    rollup = dataset_rollup(_release_telemetry(ds.telemetry, windows), ds.telemetry_rollup)
    comparison = compare_release(rollup, units, args.release, as_of, policy)
    decision = judge_comparison(comparison, policy)
    if args.format == "json":
        sys.stdout.write(json.dumps(decision.to_dict(), indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(to_text(decision) + "\n")
    return decision.exit_code


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "judge",
        help="canary verdicts vs the previous release (exit 0 go, 1 rollback, 2 hold)",
        description=(
            "Compare a release with the version it replaced on its telemetry (decision "
            "quality, cost, latency, tokens), standardised to the new version's segment mix and "
            "day by day against the old version serving beside it, with daily looks whose "
            "decisions stay valid however often the judge runs, and recommend: rollback (exit 1) "
            "when a critical metric is worse than its margin allows; go (exit 0) only when "
            "every critical metric is shown within its margin and no acted-on metric is worse; "
            "hold for a human (exit 2) otherwise, with the cases still needed. Critical and "
            "hold metrics and the minimum cases per arm are the policy's judge section; "
            "METRICS.md describes the method. Invalid input also exits 2."
        ),
    )
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--policy", help="policy YAML (default: DATA/policy.yaml, else the default)")
    p.add_argument("--release", required=True, help="release_id of the candidate")
    p.add_argument(
        "--as-of",
        dest="as_of",
        type=_as_of,
        default=None,
        help="ISO 8601 timestamp with offset (default: the latest telemetry timestamp)",
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(handler=_judge)
