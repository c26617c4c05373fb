"""The per-release records of ``analytics releases --format json`` (docs/data-contract.md), read
from an ``Analysis``."""

from __future__ import annotations

from typing import Any

import polars as pl

from analytics.analysis.steps import Analysis
from analytics.core.results import clean
from analytics.metrics.releases import deployed_in_month


def release_records(analysis: Analysis, month: str | None = None) -> list[dict[str, Any]]:
    """The per-release objects of ``analytics releases --format json`` (docs/data-contract.md)."""
    df = analysis.releases
    if month is not None:
        df = deployed_in_month(df, month, analysis.as_of)
    comparisons = analysis.comparisons
    links = release_incidents(analysis)
    out = []
    for r in df.iter_rows(named=True):
        findings = ["misclassified"] if r["misclassified"] else []
        findings += list(r.get("findings") or [])
        out.append(
            clean(
                {
                    "release_id": r["release_id"],
                    "system": r["system"],
                    "released_at": r["released_at"],
                    "month": r["month"],
                    "deployed": r["deployed"],
                    "immature": r["immature"],
                    "previous_release_id": r["previous_release_id"],
                    "declared_tier": r["declared_tier"],
                    "implied_tier": r["implied_tier"],
                    "effective_tier": r["effective_tier"],
                    "changed_components": r["changed_components"],
                    "failed": bool(r["failed"]),
                    "failure_signals": r["failure_signals"] or [],
                    "dora_failed": bool(r["dora_failed"]),
                    "incident_count": r["incident_count"],
                    "incidents": links.get(r["release_id"], []),
                    "detection_hours": r["detection_hours"],
                    "evidence_complete": r["evidence_complete"],
                    "missing_evidence": r["missing_evidence"] or [],
                    "unit_cost_usd": {
                        "estimate": r["unit_cost_usd"],
                        "ci_low": r["unit_cost_ci_low"],
                        "ci_high": r["unit_cost_ci_high"],
                        "n": r["cost_n"],
                    },
                    "unit_cost_impact_usd": {
                        "estimate": r.get("cost_impact"),
                        "ci_low": r.get("cost_impact_ci_low"),
                        "ci_high": r.get("cost_impact_ci_high"),
                    },
                    "telemetry_comparison": comparisons[r["release_id"]].diagnostics()
                    if r["release_id"] in comparisons
                    else None,
                    "findings": sorted(set(findings)),
                }
            )
        )
    return out


INCIDENT_COLUMNS = (
    "incident_id",
    "system",
    "severity",
    "category",
    "started_at",
    "detected_at",
    "mitigated_at",
    "mitigation",
    "release_id",
    "attributed_release_id",
    "attribution",
    "attribution_gap_hours",
    "attribution_evidence",
    "dq_impact",
    "detection_valid",
    "mitigated_by_as_of",
)


def incident_links(analysis: Analysis, month: str | None = None) -> list[dict[str, Any]]:
    """One record per incident known at ``as_of`` with its release link and why
    (``analytics incidents``; METRICS.md "Incident attribution"); ``month``: incidents detected
    in that month of the policy timezone."""
    df = analysis.incidents
    if month is not None:
        tz = analysis.dataset.policy.timezone
        df = df.filter(pl.col("detected_at").dt.convert_time_zone(tz).dt.strftime("%Y-%m") == month)
    cols = [c for c in INCIDENT_COLUMNS if c in df.columns]
    return [clean(r) for r in df.select(cols).sort("incident_id").iter_rows(named=True)]


def release_incidents(analysis: Analysis) -> dict[str, list[dict[str, Any]]]:
    """release_id -> its attributed incidents as ``{incident_id, attribution, evidence}``."""
    out: dict[str, list[dict[str, Any]]] = {}
    linked = analysis.incidents.filter(pl.col("attributed_release_id").is_not_null())
    for r in linked.sort("incident_id").iter_rows(named=True):
        out.setdefault(r["attributed_release_id"], []).append(
            {
                "incident_id": r["incident_id"],
                "attribution": r["attribution"],
                "evidence": r["attribution_evidence"],
            }
        )
    return out
