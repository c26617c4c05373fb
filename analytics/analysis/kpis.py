"""The monthly KPIs (METRICS.md) and the per-release records (docs/data-contract.md).

``analyze(ds, as_of)`` derives everything per release once (release unit, attribution, failure
signals, detection, evidence, unit cost); ``monthly_kpis`` and ``release_records`` read from it,
so a 12-month trend costs one analysis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from scipy import stats as sps

from analytics.comparison import (
    ReleaseComparison,
    compare_releases,
    comparison_windows,
    unit_cost_impact,
)
from analytics.comparison import telemetry_failures as telemetry_failures_of
from analytics.core.quality import DataQuality
from analytics.core.results import DurationResult, EstimateResult, RateResult, Status, clean
from analytics.data.asof import known_at
from analytics.data.io import Dataset
from analytics.data.rollup import Rollup, dataset_rollup, unit_cost_columns
from analytics.governance.audit import CHECK_COLUMNS, ProcessHealth, audit_releases, process_health
from analytics.metrics.detection import detection_from_comparison
from analytics.metrics.dora import DoraContext, dora_context
from analytics.metrics.evidence import evidence_completeness, evidence_status
from analytics.metrics.incidents import attribute_incidents, mttd, mttm, release_failures
from analytics.metrics.releases import deployed_in_month, release_units
from analytics.stats.summaries import rate


@dataclass(frozen=True)
class Analysis:
    """Everything derived per release as of ``as_of`` (see ``analyze``)."""

    as_of: datetime
    releases: pl.DataFrame  # units + failures + evidence + unit cost, one row per release
    incidents: pl.DataFrame  # attributed incidents known at as_of
    quality: DataQuality
    rollup: Rollup | None
    dataset: Dataset = field(repr=False)  # event tables cut at as_of (analytics.data.asof)
    audit: pl.DataFrame = field(repr=False, default_factory=pl.DataFrame)  # governance checks
    comparisons: Mapping[str, Any] = field(default_factory=dict, repr=False)


def _unit_cost_levels(
    rollup: Rollup | None, units: pl.DataFrame, ds: Dataset, as_of: datetime
) -> pl.DataFrame:
    """Mean unit process cost (USD/case) of each release over its observation window."""
    schema = {
        "release_id": pl.String,
        "cost_n": pl.Int64,
        "unit_cost_usd": pl.Float64,
        "unit_cost_ci_low": pl.Float64,
        "unit_cost_ci_high": pl.Float64,
    }
    if rollup is None or rollup.cases.height == 0:
        return pl.DataFrame(schema=schema)
    ids = units.filter(pl.col("released_at") <= as_of)["release_id"].to_list()
    win = comparison_windows(units, ids, as_of, ds.policy).select(
        "release_id",
        pl.col("window_start").dt.date().alias("_from"),
        pl.col("window_end").dt.date().alias("_to"),
        "last_day",
    )
    per = (
        rollup.cases.join(win, on="release_id", how="inner")
        .filter(
            (pl.col("day") >= pl.col("_from"))
            & (pl.col("day") < pl.col("_to"))
            & (pl.col("day") <= pl.col("last_day"))
        )
        .with_columns(unit_cost_columns(ds.policy.costs))
        .group_by("release_id")
        .agg(
            pl.col("n").sum().alias("cost_n"),
            pl.col("unit_cost_sum").sum(),
            pl.col("unit_cost_sumsq").sum(),
        )
    )
    return (
        _mean_interval(
            per, "cost_n", "unit_cost_sum", "unit_cost_sumsq", ds.policy.alpha, "unit_cost"
        )
        .select(list(schema))
        .sort("release_id")
    )


def _mean_interval(
    df: pl.DataFrame, n: str, s: str, ss: str, alpha: float, name: str
) -> pl.DataFrame:
    """Mean and t-interval of a mean from count, sum and sum of squares columns."""
    z = float(sps.norm.ppf(1 - alpha / 2))
    mean = pl.col(s) / pl.col(n)
    var = ((pl.col(ss) - pl.col(n) * mean**2) / (pl.col(n) - 1)).clip(lower_bound=0)
    half = z * (var / pl.col(n)).sqrt()
    return df.with_columns(
        mean.alias(f"{name}_usd"),
        (mean - half).alias(f"{name}_ci_low"),
        (mean + half).alias(f"{name}_ci_high"),
    )


def _compared_ids(units: pl.DataFrame, as_of: datetime, months: Sequence[str] | None) -> list[str]:
    """Releases the comparison engine judges: deployed by ``as_of``, with a previous release,
    in ``months`` when given."""
    scope = units.filter(
        (pl.col("released_at") <= as_of) & pl.col("previous_release_id").is_not_null()
    )
    if months is not None:
        scope = scope.filter(pl.col("month").is_in(list(months)))
    return scope["release_id"].to_list()


def _cost_impacts(comparisons: Mapping[str, ReleaseComparison]) -> pl.DataFrame:
    """Per release: the unit-cost impact estimate, its standard error and interval."""
    rows = []
    for rid, comp in comparisons.items():
        est = unit_cost_impact(comp)
        rows.append((rid, est.mean, est.extra.get("se"), est.ci_low, est.ci_high))
    schema = {
        "release_id": pl.String,
        "cost_impact": pl.Float64,
        "cost_impact_se": pl.Float64,
        "cost_impact_ci_low": pl.Float64,
        "cost_impact_ci_high": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def _detectability(
    comparisons: Mapping[str, ReleaseComparison], release_ids: Sequence[str]
) -> pl.DataFrame:
    """Per failed release: hours after release at which its degradation was first statistically
    visible in telemetry (the comparison's daily looks; ``analytics.metrics.detection``)."""
    schema = {
        "release_id": pl.String,
        "detectable_after_hours": pl.Float64,
        "detectable_metric": pl.String,
    }
    rows = []
    for rid in release_ids:
        d = detection_from_comparison(comparisons[rid])
        rows.append((rid, d.detectable_after_hours, d.metric))
    return pl.DataFrame(rows, schema=schema, orient="row")


def analyze(
    ds: Dataset,
    as_of: datetime,
    *,
    months: Sequence[str] | None = None,
    telemetry_failures: Mapping[str, Sequence[str]] | None = None,
    rollup: Rollup | None = None,
) -> Analysis:
    """Derive the per-release facts as of ``as_of`` (a timezone-aware datetime).

    The dataset's event tables are first cut at ``as_of`` (``analytics.data.asof.known_at``: what
    was known then, and how missing times are treated); ``Analysis.dataset`` is that cut.
    Releases released after ``as_of`` are kept but marked ``deployed = false``. The version
    comparison (telemetry failure signal, unit-cost impact) runs for the releases of ``months``
    (``YYYY-MM`` list; every month when None), its only costly step; ``telemetry_failures``
    (release_id -> degraded metrics) replaces its failure signal when given.
    """
    policy = ds.policy
    # One cut for every step below and for the reports that read analysis.dataset.
    ds = known_at(ds, as_of)
    units = release_units(ds.releases, policy)
    attributed, findings = attribute_incidents(ds.incidents, units, policy, as_of)
    roll = rollup if rollup is not None else dataset_rollup(ds.telemetry, ds.telemetry_rollup)
    comparisons: dict[str, ReleaseComparison] = {}
    if roll is not None:
        ids = _compared_ids(units, as_of, months)
        comparisons = compare_releases(roll, units, ids, as_of, policy)
    if telemetry_failures is None:
        telemetry_failures = telemetry_failures_of(comparisons)
    failures = release_failures(
        units,
        attributed,
        ds.rollout_stages,
        ds.operator_decisions,
        policy,
        as_of,
        telemetry_failures,
    )
    ev = evidence_status(ds.evidence, units, policy)
    cost = _unit_cost_levels(roll, units, ds, as_of)
    maturity = timedelta(days=max(policy.observation_window_days, policy.attribution_window_days))
    table = (
        units.join(failures, on="release_id", how="left")
        .join(ev, on="release_id", how="left")
        .join(cost, on="release_id", how="left")
        .join(_cost_impacts(comparisons), on="release_id", how="left")
        .with_columns(
            (pl.col("released_at") <= as_of).fill_null(False).alias("deployed"),
            (pl.col("released_at") + maturity > as_of).fill_null(False).alias("immature"),
        )
    )
    failed_ids = table.filter(pl.col("failed"))["release_id"].to_list()
    table = table.join(
        _detectability(comparisons, [r for r in failed_ids if r in comparisons]),
        on="release_id",
        how="left",
    )
    audit = audit_releases(ds, table, as_of, failed_ids, rollup=roll)
    checks = [c for c in CHECK_COLUMNS if c not in table.columns]
    table = table.join(
        audit.select("release_id", "findings", *checks), on="release_id", how="left"
    ).sort(["released_at", "release_id"], nulls_last=True)
    return Analysis(
        as_of=as_of,
        releases=table,
        incidents=attributed,
        quality=ds.quality.with_findings(findings),
        rollup=roll,
        dataset=ds,
        audit=audit,
        comparisons=comparisons,
    )


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
            "misclassification_rate": self.misclassification_rate.to_dict(),
            "dora_clusters": {str(y): c for y, c in self.dora.clusters.items()},
        }
        return clean(
            {
                "month": self.month,
                "as_of": self.as_of.isoformat(),
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
        return "immature", f"{imm} release(s) still inside their observation window"
    return "ok", ""


def _month_unit_cost(rollup: Rollup | None, month: str, analysis: Analysis) -> EstimateResult:
    """Mean unit process cost per case over all cases served in the month (UTC days)."""
    policy = analysis.dataset.policy
    if rollup is None or rollup.cases.height == 0:
        return EstimateResult(None, None, None, 0, "insufficient_data", "no telemetry")
    agg = (
        rollup.cases.filter(
            (pl.col("day").dt.strftime("%Y-%m") == month) & (pl.col("day") <= analysis.as_of.date())
        )
        .with_columns(unit_cost_columns(policy.costs))
        .select(pl.col("n").sum(), pl.col("unit_cost_sum").sum(), pl.col("unit_cost_sumsq").sum())
    )
    n = int(agg["n"][0] or 0)
    if n < 2:
        return EstimateResult(None, None, None, n, "insufficient_data", "no cases in the month")
    row = _mean_interval(
        agg, "n", "unit_cost_sum", "unit_cost_sumsq", policy.alpha, "unit_cost"
    ).row(0, named=True)
    return EstimateResult(
        row["unit_cost_usd"], row["unit_cost_ci_low"], row["unit_cost_ci_high"], n
    )


def _cost_impact(cohort: pl.DataFrame, alpha: float, has_telemetry: bool) -> EstimateResult:
    """Mean of the cohort's per-release unit-cost impacts; its interval combines their
    standard errors (the cohort's releases are fixed, their estimates independent)."""
    if not has_telemetry:
        return EstimateResult(None, None, None, 0, "insufficient_data", "no telemetry")
    df = cohort.filter(pl.col("cost_impact").is_not_null() & pl.col("cost_impact_se").is_not_null())
    if df.height == 0:
        return EstimateResult(
            None,
            None,
            None,
            0,
            "insufficient_data",
            "no release with a comparable previous version",
        )
    est = df["cost_impact"].to_numpy()
    se = df["cost_impact_se"].to_numpy()
    mean = float(est.mean())
    half = float(sps.norm.ppf(1 - alpha / 2)) * math.sqrt(float((se**2).sum())) / len(est)
    return EstimateResult(mean, mean - half, mean + half, int(len(est)))


def _detection_summary(cohort: pl.DataFrame) -> dict[str, Any]:
    """How much faster monitoring could have caught the month's failed releases: per release
    "detectable after X h" (telemetry) beside "detected after Y h" (first detection)."""
    df = cohort.filter(pl.col("failed") & pl.col("detectable_after_hours").is_not_null())
    both = df.filter(pl.col("detection_hours").is_not_null())
    gap = (both["detection_hours"] - both["detectable_after_hours"]).to_list()
    return {
        "n": df.height,
        "median_detectable_after_hours": df["detectable_after_hours"].median(),
        "median_detected_after_hours": both["detection_hours"].median(),
        "median_hours_earlier": float(np.median(gap)) if gap else None,
        "releases": df.select(
            "release_id", "detectable_after_hours", "detectable_metric", "detection_hours"
        ).to_dicts(),
    }


def monthly_kpis(analysis: Analysis, month: str) -> MonthlyKpis:
    """KPIs of the releases deployed in ``month`` (``YYYY-MM`` in the policy timezone), with
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
    # One definition of misclassification, the process-health one (analytics.governance.audit).
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
        unit_cost_usd=_month_unit_cost(analysis.rollup, month, analysis),
        unit_cost_impact_usd=_cost_impact(cohort, policy.alpha, analysis.rollup is not None),
        misclassification_rate=health.misclassification_rate,
        dora=dora,
        process_health=health,
        detection_potential=_detection_summary(cohort),
        quality=analysis.quality,
        release_ids=tuple(ids),
        immature_releases=tuple(cohort.filter(pl.col("immature"))["release_id"].to_list()),
    )


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


def month_range(end_month: str, count: int) -> list[str]:
    """``count`` consecutive months ending with ``end_month``, oldest first."""
    year, mon = (int(x) for x in end_month.split("-"))
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{mon:02d}")
        mon -= 1
        if mon == 0:
            year, mon = year - 1, 12
    return months[::-1]


def parse_as_of(text: str) -> datetime:
    """An ``as_of`` timestamp: ISO 8601 with an offset (``Z`` accepted)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"as_of {text!r} needs an offset, e.g. 2026-11-01T00:00:00Z")
    return value
