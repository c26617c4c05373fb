"""The monthly KPIs (METRICS.md) of a month's cohort of deployed releases, read from an
``Analysis`` (``analytics.analysis.steps.analyze``), so a 12-month trend costs one analysis."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from analytics.analysis.steps import Analysis, analyze
from analytics.core.periods import month_range, parse_as_of, period_months
from analytics.core.quality import DataQuality
from analytics.core.results import DurationResult, EstimateResult, RateResult, Status, clean
from analytics.governance.health import ProcessHealth, process_health
from analytics.metrics.detection import detection_summary
from analytics.metrics.dora import DoraContext, dora_context
from analytics.metrics.evidence import evidence_completeness
from analytics.metrics.incidents import mttd, mttm
from analytics.metrics.releases import deployed_in_month
from analytics.metrics.unit_cost import cohort_cost_impact, month_unit_cost
from analytics.stats.change import plural
from analytics.stats.summaries import rate

# analyze, month_range and parse_as_of are also importable from here (older import path).
__all__ = [
    "Analysis",
    "MonthlyKpis",
    "analyze",
    "month_range",
    "monthly_kpis",
    "parse_as_of",
]


@dataclass(frozen=True)
class MonthlyKpis:
    """The KPIs of one month's cohort of deployed releases (METRICS.md, docs/data-contract.md)."""

    month: str
    as_of: datetime
    releases_deployed: int
    change_failure_rate: RateResult
    dora_change_failure_rate: RateResult
    mttd_hours: DurationResult
    mttm_hours: DurationResult
    evidence_completeness: RateResult
    unit_cost_usd: EstimateResult
    unit_cost_impact_usd: EstimateResult
    misclassification_rate: RateResult
    dora: DoraContext
    process_health: ProcessHealth
    detection_potential: Mapping[str, Any]
    quality: DataQuality
    release_ids: tuple[str, ...] = ()
    immature_releases: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``analytics kpis --format json``."""
        kpis = {
            "change_failure_rate": self.change_failure_rate.to_dict(),
            "dora_change_failure_rate": self.dora_change_failure_rate.to_dict(),
            "mttd_hours": self.mttd_hours.to_dict(),
            "mttm_hours": self.mttm_hours.to_dict(),
            "evidence_completeness": self.evidence_completeness.to_dict(),
            "unit_cost_usd": self.unit_cost_usd.to_dict(),
            "unit_cost_impact_usd": self.unit_cost_impact_usd.to_dict(),
            "deployment_frequency_per_week": self.dora.deployment_frequency_per_week,
            "lead_time_hours": dict(self.dora.lead_time_hours),
            "failed_deployment_recovery_hours": dict(self.dora.recovery_time_hours),
            "deployment_rework_rate": self.dora.rework_rate.to_dict()
            if self.dora.rework_rate is not None
            else None,
            "misclassification_rate": self.misclassification_rate.to_dict(),
            "dora_clusters": {str(y): c for y, c in self.dora.clusters.items()},
        }
        return clean(
            {
                "month": self.month,
                "period": self.month,
                "months": period_months(self.month),
                "as_of": self.as_of.isoformat(),
                # the period's calendar days, and those passed by as_of (frequency's divisor)
                "period_days": self.dora.period_days,
                "days_observed": self.dora.days_observed,
                "releases_deployed": self.releases_deployed,
                "release_ids": list(self.release_ids),
                "immature_releases": list(self.immature_releases),
                "kpis": kpis,
                "process_health": self.process_health.to_dict(),
                "detection_potential": dict(self.detection_potential),
                "data_quality": self.quality.to_dict(),
            }
        )


def _cohort_status(cohort: pl.DataFrame) -> tuple[Status, str]:
    if cohort.height == 0:
        return "insufficient_data", "no release deployed in the month"
    imm = int(cohort["immature"].sum())
    if imm:
        return "immature", f"{plural(imm, 'release')} still inside the observation window"
    return "ok", ""


def _detection_summary(cohort: pl.DataFrame) -> dict[str, Any]:
    """How much faster monitoring could have caught the month's failed releases: per release
    "detectable after X h" (telemetry) beside "detected after Y h" (first detection)
    (``analytics.metrics.detection.detection_summary``)."""
    return detection_summary(cohort).to_dict()


def monthly_kpis(analysis: Analysis, month: str) -> MonthlyKpis:
    """KPIs of the releases deployed in ``month`` (``YYYY-MM`` in the policy timezone; or any
    period: ``2026-Q3``, ``2026``, the cohort being the releases deployed in its months), with
    everything known about them at the analysis' ``as_of``."""
    policy = analysis.dataset.policy
    cohort = deployed_in_month(analysis.releases, month, analysis.as_of)
    ids = cohort["release_id"].to_list()
    status, message = _cohort_status(cohort)
    n = cohort.height
    by_signal = {s: int(cohort[f"signal_{s}"].sum()) for s in ("incident", "rollback", "telemetry")}
    cfr = rate(
        int(cohort["failed"].sum()),
        n,
        policy.alpha,
        status=status,
        message=message,
        extra={"by_signal": by_signal},
    )
    dora_cfr = rate(
        int(cohort["dora_failed"].sum()), n, policy.alpha, status=status, message=message
    )
    detect = mttd(cohort, cohort, analysis.as_of, policy.alpha)
    mitigate = mttm(analysis.incidents, ids, analysis.as_of, policy.alpha)
    # One definition of misclassification, the process-health one (analytics.governance.health).
    health = process_health(
        analysis.audit, analysis.releases, month, analysis.as_of, policy, analysis.incidents
    )
    ev = evidence_completeness(analysis.dataset.evidence, cohort, ids, policy)
    dora = dora_context(
        cohort,
        analysis.incidents,
        month,
        analysis.as_of,
        dora_cfr.value,
        list(policy.section("dora").get("benchmark_years", [2024])),
        policy.alpha,
        policy.zone,
    )
    return MonthlyKpis(
        month=month,
        as_of=analysis.as_of,
        releases_deployed=n,
        change_failure_rate=cfr,
        dora_change_failure_rate=dora_cfr,
        mttd_hours=detect,
        mttm_hours=mitigate,
        evidence_completeness=ev,
        unit_cost_usd=month_unit_cost(analysis.rollup, month, analysis.as_of, policy),
        unit_cost_impact_usd=cohort_cost_impact(cohort, policy.alpha, analysis.rollup is not None),
        misclassification_rate=health.misclassification_rate,
        dora=dora,
        process_health=health,
        detection_potential=_detection_summary(cohort),
        quality=analysis.quality,
        release_ids=tuple(ids),
        immature_releases=tuple(cohort.filter(pl.col("immature"))["release_id"].to_list()),
    )
