"""``analytics kpis``, ``releases``, ``validate`` and ``sample-data``."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from analytics.analysis.kpis import analyze, monthly_kpis
from analytics.analysis.records import INCIDENT_COLUMNS, incident_links, release_records
from analytics.core.errors import DataError
from analytics.core.periods import parse_as_of, parse_month, period_months
from analytics.core.schemas import TS_MAX, TS_MIN
from analytics.data.io import Dataset, load_dataset
from analytics.importers.database import is_database_uri, load_database
from analytics.stats.change import plural

# The --as-of values the commands accept: the plausible timestamps of the data contract (later
# cuts and windows subtract and add days and months, which would overflow Python's datetime
# near years 1 and 9999).
AS_OF_MIN = TS_MIN
AS_OF_MAX = TS_MAX  # exclusive
DATA_HELP = "dataset folder, or a database: postgresql://USER:PW@HOST:PORT/DB, duckdb:///FILE"


def as_of_arg(text: str) -> datetime:
    """Parse an ``--as-of`` argument: ISO 8601 with an offset (``Z`` accepted), from
    1970-01-01T00:00:00Z up to (not including) 3000-01-01T00:00:00Z. Anything else is an
    ``argparse.ArgumentTypeError`` (argparse prints ``argument --as-of: ...`` and exits 2)."""
    try:
        value = parse_as_of(text)
    except ValueError as exc:
        if "out of range" in str(exc):
            raise argparse.ArgumentTypeError(
                f"{text!r} is out of range: use a time from {AS_OF_MIN:%Y-%m-%d} "
                f"to before {AS_OF_MAX:%Y-%m-%d} (UTC)"
            ) from exc
        if "needs an offset" in str(exc):
            detail = "needs an offset (Z or +HH:MM), e.g. 2026-11-01T00:00:00Z"
        else:
            detail = "is not an ISO 8601 timestamp, e.g. 2026-11-01T00:00:00Z"
        raise argparse.ArgumentTypeError(f"{text!r} {detail}") from exc
    try:
        in_range = AS_OF_MIN <= value < AS_OF_MAX  # comparing converts the offset to UTC
    except OverflowError:
        in_range = False
    if not in_range:
        raise argparse.ArgumentTypeError(
            f"{text!r} is out of range: use a time from {AS_OF_MIN:%Y-%m-%d} "
            f"to before {AS_OF_MAX:%Y-%m-%d} (UTC)"
        )
    return value


_as_of = as_of_arg


def load_data(data: str, policy: str | None) -> Dataset:
    """The dataset ``--data`` names: a dataset folder, or a database URI (``postgresql://...``,
    ``duckdb:///...``; docs/database.md)."""
    if is_database_uri(data):
        return load_database(data, policy)
    return load_dataset(data, policy)


def month_arg(text: str) -> str:
    """Parse a ``--month`` argument (``analytics.core.periods.parse_month``)."""
    try:
        return parse_month(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _common(
    p: argparse.ArgumentParser,
    month_required: bool | None,
    formats: tuple[str, ...] = ("table", "json"),
) -> None:
    p.add_argument("--data", required=True, help=DATA_HELP)
    p.add_argument("--policy", help="policy YAML (default: DATA/policy.yaml, else the default)")
    p.add_argument(
        "--as-of",
        dest="as_of",
        type=_as_of,
        required=True,
        help="ISO 8601 timestamp with offset; what was known then",
    )
    if month_required is not None:
        p.add_argument("--month", type=month_arg, required=month_required, help="YYYY-MM")
    p.add_argument("--format", choices=list(formats), default="table")


def _dump(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False) + "\n")


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1%}" if pct else f"{v:.2f}"
    return str(v)


def period_arg(text: str) -> str:
    """Parse a ``--period`` argument: ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``."""
    try:
        period_months(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def _kpis(args: argparse.Namespace) -> int:
    ds = load_data(args.data, args.policy)
    if args.period and args.month:
        raise DataError("kpis takes --month or --period, not both")
    period = args.period or args.month
    if period is None:
        raise DataError("kpis needs --month YYYY-MM or --period YYYY-MM|YYYY-Qn|YYYY")
    result = monthly_kpis(analyze(ds, args.as_of, months=period_months(period)), period)
    out = result.to_dict()
    if args.format == "json":
        _dump(out)
        return 0
    k = out["kpis"]
    table = Table(
        title=f"KPIs {out['month']} (as of {out['as_of']}), "
        f"{out['releases_deployed']} releases deployed"
    )
    for col in ("KPI", "value", "counts", "95% interval", "status"):
        table.add_column(col)

    def rate_row(name: str, r: dict) -> None:
        table.add_row(
            name,
            _fmt(r["value"], True),
            f"{r['numerator']}/{r['denominator']}",
            f"{_fmt(r['ci_low'], True)} - {_fmt(r['ci_high'], True)}",
            r["status"],
        )

    rate_row("change failure rate (decision quality)", k["change_failure_rate"])
    rate_row("DORA change failure rate", k["dora_change_failure_rate"])
    for name, key in (("MTTD (h)", "mttd_hours"), ("MTTM (h)", "mttm_hours")):
        d = k[key]
        table.add_row(
            name,
            f"mean {_fmt(d['mean'])}, median {_fmt(d['median'])}, "
            f"p90 {_fmt(d['p90'])}, KM median {_fmt(d['km_median'])}",
            f"n={d['n']} (+{d['n_censored']} censored)",
            f"{_fmt(d['ci_low'])} - {_fmt(d['ci_high'])}",
            d["status"],
        )
    rate_row("evidence completeness", k["evidence_completeness"])
    for name, key in (
        ("unit cost (USD/case)", "unit_cost_usd"),
        ("unit cost impact (USD/case)", "unit_cost_impact_usd"),
    ):
        e = k[key]
        table.add_row(
            name,
            _fmt(e["mean"]),
            f"n={e['n']}",
            f"{_fmt(e['ci_low'])} - {_fmt(e['ci_high'])}",
            e["status"],
        )
    rate_row("misclassification rate", k["misclassification_rate"])
    so_far = out["days_observed"] < out["period_days"]
    table.add_row(
        "deployments per week",
        _fmt(k["deployment_frequency_per_week"]),
        f"{out['days_observed']:.1f} of {out['period_days']} days" if so_far else "",
        "",
        "in progress" if so_far else "",
    )
    table.add_row(
        "lead time median (h)",
        _fmt(k["lead_time_hours"]["median"]),
        f"n={k['lead_time_hours']['n']}",
        "",
        "",
    )
    Console().print(table)
    dq = out["data_quality"]
    print(
        f"data quality: {plural(len(dq['errors']), 'error')}, "
        f"{plural(len(dq['warnings']), 'warning')}"
    )
    return 0


def _releases(args: argparse.Namespace) -> int:
    ds = load_data(args.data, args.policy)
    months = [args.month] if args.month else None
    records = release_records(analyze(ds, args.as_of, months=months), args.month)
    if args.format == "json":
        _dump(records)
        return 0
    table = Table(title=f"Releases{' of ' + args.month if args.month else ''}")
    for col in (
        "release",
        "system",
        "released_at",
        "tier (decl/eff)",
        "changed",
        "failed",
        "signals",
        "detect h",
        "evidence",
        "findings",
    ):
        table.add_column(col)
    for r in records:
        table.add_row(
            r["release_id"],
            r["system"],
            (r["released_at"] or "-")[:16],
            f"{r['declared_tier']}/{r['effective_tier']}",
            ",".join(r["changed_components"]),
            "yes" if r["failed"] else "no",
            ",".join(r["failure_signals"]),
            _fmt(r["detection_hours"]),
            "complete" if r["evidence_complete"] else "incomplete",
            ",".join(r["findings"]),
        )
    Console().print(table)
    return 0


def _incidents(args: argparse.Namespace) -> int:
    ds = load_data(args.data, args.policy)
    records = incident_links(analyze(ds, args.as_of, months=[]), args.month)
    if args.format == "json":
        _dump(records)
    elif args.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(INCIDENT_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(
            {k: str(v).lower() if isinstance(v, bool) else v for k, v in r.items()} for r in records
        )
    else:
        table = Table(title=f"Incidents{' detected in ' + args.month if args.month else ''}")
        for col in ("incident", "system", "detected_at", "category", "release", "rule", "why"):
            table.add_column(col)
        for r in records:
            table.add_row(
                r["incident_id"],
                r["system"],
                (r["detected_at"] or "-")[:16],
                r["category"] or "-",
                r["attributed_release_id"] or "-",
                r["attribution"],
                r["attribution_evidence"] or "",
            )
        Console().print(table)
    return 0


def _validate(args: argparse.Namespace) -> int:
    ds = load_data(args.data, args.policy)
    q = ds.quality
    if args.format == "json":
        _dump({"tables": sorted(ds.present), "fingerprint": ds.fingerprint, **q.to_dict()})
        return 0
    tables = ", ".join(sorted(ds.present))
    print(f"dataset {ds.source} (fingerprint {ds.fingerprint}); tables: {tables}")
    for t, n in q.rows_read.items():
        excl = q.rows_excluded.get(t, {})
        extra = (
            f", excluded {sum(excl.values())} ({', '.join(f'{k} {v}' for k, v in excl.items())})"
            if excl
            else ""
        )
        print(f"  {t}: read {n}, loaded {q.rows_loaded.get(t, 0)}{extra}")
    for f in q.findings:
        print(f"{f.severity}: {f}")
    print(
        f"{plural(len(q.errors), 'error')}, {plural(len(q.warnings), 'warning')}; "
        "no structural error"
    )
    return 0


def _sample(args: argparse.Namespace) -> int:
    from analytics.sample.generate import generate_sample

    kwargs = {"seed": args.seed}
    if args.cases_per_day is not None:
        kwargs["cases_per_day"] = args.cases_per_day
    summary = generate_sample(args.out, **kwargs)
    print(f"sample data written to {args.out}")
    for table, n in summary.row_counts.items():
        print(f"  {table}: {n} rows")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kpis", help="a month's or period's KPIs (JSON keys: docs/data-contract.md)")
    _common(p, False)
    p.add_argument(
        "--period",
        type=period_arg,
        help="YYYY-MM, YYYY-Qn or YYYY instead of --month: the releases deployed in its months",
    )
    p.set_defaults(handler=_kpis)
    p = sub.add_parser("releases", help="one record per release (JSON keys: docs/data-contract.md)")
    _common(p, False)
    p.set_defaults(handler=_releases)
    p = sub.add_parser(
        "incidents",
        help="one record per incident with its release link and why (JSON keys: "
        "docs/data-contract.md)",
    )
    _common(p, month_required=False, formats=("table", "json", "csv"))
    p.set_defaults(handler=_incidents)
    p = sub.add_parser("validate", help="the data-quality report; exit 2 on structural errors")
    p.add_argument("--data", required=True, help=DATA_HELP)
    p.add_argument("--policy")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(handler=_validate)
    p = sub.add_parser("sample-data", help="generate the fictional sample dataset")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--cases-per-day", dest="cases_per_day", type=int, default=None)
    p.set_defaults(handler=_sample)


__all__ = ["register", "DataError"]
