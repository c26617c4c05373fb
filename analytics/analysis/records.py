"""The per-release records of ``analytics releases --format json`` (docs/data-contract.md), read
from an ``Analysis``."""

from __future__ import annotations

from typing import Any

from analytics.analysis.steps import Analysis
from analytics.core.results import clean
from analytics.metrics.releases import deployed_in_month


def release_records(analysis: Analysis, month: str | None = None) -> list[dict[str, Any]]:
    """The per-release objects of ``analytics releases --format json`` (docs/data-contract.md)."""
    df = analysis.releases
    if month is not None:
        df = deployed_in_month(df, month, analysis.as_of)
    comparisons = analysis.comparisons
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
