"""``analytics export``: the monthly KPIs, the per-release records, the data-quality findings and
the incident -> release links as tidy tables with an ``as_of`` column (docs/database.md), into a
folder (Parquet and CSV) or a database. Exporting again for the same ``as_of`` replaces its rows.

The numbers are those of ``analytics kpis`` and ``analytics releases`` (one ``analyze`` for all
months); this module only lays them out as rows, ``analytics.importers.export`` writes them.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import polars as pl

from analytics.analysis.kpis import Analysis, analyze, monthly_kpis
from analytics.analysis.records import release_records
from analytics.cli.core import DATA_HELP, as_of_arg, load_data
from analytics.importers.export import export_tables

UTC_TS = pl.Datetime("us", "UTC")
COUNTS = ("numerator", "denominator", "n", "n_censored")
STATS = ("value", "mean", "median", "p90", "km_median", "ci_low", "ci_high")
KPI_SCHEMA: dict[str, Any] = {
    "as_of": UTC_TS,
    "month": pl.String,
    "kpi": pl.String,
    "breakdown": pl.String,
    **{c: pl.Float64 for c in STATS},
    **{c: pl.Int64 for c in COUNTS},
    "status": pl.String,
    "message": pl.String,
}
RELEASE_SCHEMA: dict[str, Any] = {
    "as_of": UTC_TS,
    "month": pl.String,
    "release_id": pl.String,
    "system": pl.String,
    "released_at": UTC_TS,
    "deployed": pl.Boolean,
    "immature": pl.Boolean,
    "previous_release_id": pl.String,
    "declared_tier": pl.String,
    "implied_tier": pl.String,
    "effective_tier": pl.String,
    "changed_components": pl.String,
    "failed": pl.Boolean,
    "failure_signals": pl.String,
    "dora_failed": pl.Boolean,
    "incident_count": pl.Int64,
    "detection_hours": pl.Float64,
    "evidence_complete": pl.Boolean,
    "missing_evidence": pl.String,
    "unit_cost_usd": pl.Float64,
    "unit_cost_usd_ci_low": pl.Float64,
    "unit_cost_usd_ci_high": pl.Float64,
    "unit_cost_usd_n": pl.Int64,
    "unit_cost_impact_usd": pl.Float64,
    "unit_cost_impact_usd_ci_low": pl.Float64,
    "unit_cost_impact_usd_ci_high": pl.Float64,
    "findings": pl.String,
}
FINDING_SCHEMA: dict[str, Any] = {
    "as_of": UTC_TS,
    "table": pl.String,
    "file": pl.String,
    "row": pl.Int64,
    "line": pl.Int64,
    "id": pl.String,
    "column": pl.String,
    "code": pl.String,
    "severity": pl.String,
    "message": pl.String,
}
# analysis.incidents column -> export column
INCIDENT_COLUMNS = {
    "incident_id": "incident_id",
    "system": "system",
    "severity": "severity",
    "category": "category",
    "started_at": "started_at",
    "detected_at": "detected_at",
    "mitigated_at": "mitigated_at",
    "release_id": "declared_release_id",
    "attributed_release_id": "release_id",
    "attribution": "attribution",
    "release_released_at": "release_released_at",
    "dq_impact": "decision_quality_impact",
    "detection_valid": "detection_valid",
    "mitigated_by_as_of": "mitigated_by_as_of",
}


def months_arg(text: str) -> list[str]:
    """``YYYY-MM`` or ``YYYY-MM..YYYY-MM`` (inclusive, oldest first)."""
    first, _, last = text.partition("..")
    try:
        start = datetime.strptime(first, "%Y-%m")
        end = datetime.strptime(last or first, "%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use YYYY-MM or YYYY-MM..YYYY-MM, e.g. 2025-11..2026-10"
        ) from None
    if end < start:
        raise argparse.ArgumentTypeError(f"{text!r}: the range ends before it starts")
    span = (end.year - start.year) * 12 + end.month - start.month
    return [f"{start.year + (start.month - 1 + i) // 12:04d}-{(start.month - 1 + i) % 12 + 1:02d}"
            for i in range(span + 1)]  # fmt: skip


def _stat_row(kpi: str, value: Any, breakdown: str | None = None) -> dict[str, Any] | None:
    """One KPI row from a number or a result object (rate, duration, estimate); None for
    anything else (lists, texts, nested objects without statistics)."""
    row: dict[str, Any] = {"kpi": kpi, "breakdown": breakdown}
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return {**row, "value": float(value)}
    if not isinstance(value, Mapping) or not any(k in value for k in (*STATS, *COUNTS)):
        return None
    row.update({k: value.get(k) for k in (*STATS, *COUNTS, "status", "message")})
    row["value"] = next(
        (value[k] for k in ("value", "mean", "median") if value.get(k) is not None), None
    )
    row.update({k: None if row[k] is None else int(row[k]) for k in COUNTS})
    return row


def kpi_rows(month: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The tidy rows of one month's ``analytics kpis`` object: one per KPI and per breakdown
    (``by_item=offline_eval``, ``by_mitigation=config_fix``, ``by_signal=incident``)."""
    sections = (
        ("", {"releases_deployed": month["releases_deployed"]}),
        ("", month["kpis"]),
        ("process_health.", month["process_health"]),
    )
    for prefix, section in sections:
        for key, value in section.items():
            row = _stat_row(prefix + key, value)
            if row is None:
                continue
            yield row
            for group, items in value.items() if isinstance(value, Mapping) else ():
                if group in row:  # the result's own fields
                    continue
                # a part that is itself a result (observability_linkage's marker_24h), or a
                # breakdown of results or counts (by_item, by_signal)
                parts = [(group, items)] if _stat_row("", items) is not None else []
                if not parts and isinstance(items, Mapping):
                    parts = [(f"{group}={item}", sub) for item, sub in items.items()]
                for name, sub in parts:
                    sub_row = _stat_row(prefix + key, sub, name)
                    if sub_row is not None:
                        yield sub_row


def release_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One ``analytics releases`` object as a flat row (lists joined with ', '; the telemetry
    comparison's diagnostics are left out)."""
    row = {k: record.get(k) for k in RELEASE_SCHEMA if k in record}
    for key in ("changed_components", "failure_signals", "missing_evidence", "findings"):
        row[key] = ", ".join(record.get(key) or [])
    for key in ("unit_cost_usd", "unit_cost_impact_usd"):
        est = record.get(key) or {}
        row[key] = est.get("estimate")
        row[f"{key}_ci_low"] = est.get("ci_low")
        row[f"{key}_ci_high"] = est.get("ci_high")
    row["unit_cost_usd_n"] = (record.get("unit_cost_usd") or {}).get("n")
    released = record.get("released_at")
    row["released_at"] = datetime.fromisoformat(released) if released else None
    return row


def _frame(rows: list[dict[str, Any]], schema: Mapping[str, Any], as_of: datetime) -> pl.DataFrame:
    body = {k: v for k, v in schema.items() if k != "as_of"}
    frame = pl.DataFrame([{k: r.get(k) for k in body} for r in rows], schema=body, orient="row")
    return frame.select(pl.lit(as_of, dtype=UTC_TS).alias("as_of"), *body)


def export_frames(analysis: Analysis, months: list[str]) -> dict[str, pl.DataFrame]:
    """The four export tables of ``analysis`` for ``months`` (docs/database.md)."""
    as_of = analysis.as_of.astimezone(UTC)
    kpis = [
        {"month": m, **row} for m in months for row in kpi_rows(monthly_kpis(analysis, m).to_dict())
    ]
    releases = [release_row(r) for m in months for r in release_records(analysis, m)]
    findings = [f.to_dict() for f in analysis.quality.findings]
    incidents = analysis.incidents.select(
        [pl.col(src).alias(dst) for src, dst in INCIDENT_COLUMNS.items()]
    ).sort("detected_at", "incident_id", nulls_last=True)
    return {
        "monthly_kpis": _frame(kpis, KPI_SCHEMA, as_of),
        "release_records": _frame(releases, RELEASE_SCHEMA, as_of),
        "findings": _frame(findings, FINDING_SCHEMA, as_of),
        "incident_links": incidents.select(pl.lit(as_of, dtype=UTC_TS).alias("as_of"), pl.all()),
    }


def _export(args: argparse.Namespace) -> int:
    as_of = args.as_of.astimezone(UTC)  # the same instant; the tables hold it in UTC
    ds = load_data(args.data, args.policy)
    frames = export_frames(analyze(ds, as_of, months=args.months), args.months)
    for place in export_tables(frames, as_of, args.to):
        print(place)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="KPIs, release records, findings, incident links as tables (docs/database.md)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, help=DATA_HELP)
    p.add_argument("--policy", help="policy YAML (default: DATA/policy.yaml, else the default)")
    p.add_argument("--months", type=months_arg, required=True, help="YYYY-MM..YYYY-MM or YYYY-MM")
    p.add_argument("--as-of", dest="as_of", type=as_of_arg, required=True, help="ISO 8601")
    p.add_argument(
        "--to", required=True, help="folder (Parquet and CSV), postgresql://... or duckdb:///..."
    )
    p.set_defaults(handler=_export)
