"""DORA context: the five metrics of DORA's current model (deployment frequency, lead time, change
failure rate, failed deployment recovery time, deployment rework rate), the first four mapped to
the published clusters of the report years in the policy."""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from analytics.core.columns import MTTM_INVALID
from analytics.core.periods import period_months
from analytics.core.results import RateResult, clean
from analytics.data.asof import known_rows
from analytics.metrics.incidents import hours
from analytics.stats.summaries import duration_summary, rate

BENCHMARKS_PATH = Path(__file__).with_name("dora_benchmarks.yaml")


@cache
def dora_benchmarks() -> Mapping[int, Mapping[str, Any]]:
    """The published DORA clusters per report year (``dora_benchmarks.yaml``)."""
    return {int(k): v for k, v in yaml.safe_load(BENCHMARKS_PATH.read_text()).items()}


@dataclass(frozen=True)
class DoraContext:
    deployment_frequency_per_week: float
    deployments: int
    # days the frequency is spread over: the period's days, or those elapsed by as_of
    days_observed: float
    period_days: int
    lead_time_hours: Mapping[str, Any]
    recovery_time_hours: Mapping[str, Any]
    change_failure_rate: float | None
    clusters: Mapping[int, Mapping[str, str | None]] = field(default_factory=dict)
    rework_rate: RateResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "deployment_frequency_per_week": self.deployment_frequency_per_week,
                "deployments": self.deployments,
                "days_observed": self.days_observed,
                "period_days": self.period_days,
                "lead_time_hours": self.lead_time_hours,
                "recovery_time_hours": self.recovery_time_hours,
                "change_failure_rate": self.change_failure_rate,
                "clusters": {str(y): c for y, c in self.clusters.items()},
                "deployment_rework_rate": None
                if self.rework_rate is None
                else self.rework_rate.to_dict(),
            }
        )


def classify(
    year: int, per_week: float, lead_h: float | None, cfr: float | None, recovery_h: float | None
) -> dict[str, str | None]:
    """The cluster each metric falls in for a DORA report year (None without a value).

    Frequency: the best cluster whose minimum per week is met; lead and recovery time: the best
    cluster whose maximum is not exceeded; change failure rate: the cluster with the nearest
    published typical value."""
    b = dora_benchmarks()[year]
    order = b["clusters"]

    def first(values: Mapping[str, float], ok) -> str:  # noqa: ANN001
        return next((c for c in order if ok(values[c])), order[-1])

    return {
        "deployment_frequency": first(
            b["deployment_frequency_per_week_min"], lambda m: per_week >= m
        ),
        "lead_time": None
        if lead_h is None
        else first(b["lead_time_hours_max"], lambda m: lead_h <= m),
        "change_failure_rate": None
        if cfr is None
        else min(order, key=lambda c: abs(b["change_failure_rate"][c] - cfr)),
        "recovery_time": None
        if recovery_h is None
        else first(b["recovery_hours_max"], lambda m: recovery_h <= m),
    }


def rework_deployments(
    units: pl.DataFrame,
    attributed: pl.DataFrame,
    operator_decisions: pl.DataFrame,
    as_of: datetime,
) -> pl.DataFrame:
    """Per release: ``rework`` (an unplanned fix of a user-facing problem, METRICS.md) and
    ``rework_reason``.

    A release is rework when it rode the ``emergency`` train, or when it is the next release of
    its system after a roll-forward of the previous one (an operator decision ``roll_forward`` on
    the previous release, or an incident attributed to it mitigated by ``roll_forward``) taken
    at or before this release's ``released_at`` and known at ``as_of``."""
    decided = (
        known_rows(operator_decisions, "decided_at", as_of)
        .filter(pl.col("action") == "roll_forward")
        .select(pl.col("release_id").alias("previous_release_id"), pl.col("decided_at").alias("t"))
    )
    mitigated = attributed.filter(
        (pl.col("mitigation") == "roll_forward") & pl.col("mitigated_by_as_of")
    ).select(
        pl.col("attributed_release_id").alias("previous_release_id"),
        pl.col("mitigated_at").alias("t"),
    )
    first = (
        pl.concat([decided, mitigated])
        .group_by("previous_release_id")
        .agg(pl.col("t").min().alias("_roll_forward_at"))
    )
    df = units.select("release_id", "previous_release_id", "released_at", "train").join(
        first, on="previous_release_id", how="left"
    )
    roll_forward = (pl.col("_roll_forward_at") <= pl.col("released_at")).fill_null(False)
    emergency = (pl.col("train") == "emergency").fill_null(False)
    return df.select(
        "release_id",
        (emergency | roll_forward).alias("rework"),
        pl.when(emergency)
        .then(pl.lit("emergency train"))
        .when(roll_forward)
        .then(pl.format("roll-forward of {}", "previous_release_id"))
        .alias("rework_reason"),
    ).sort("release_id")


def days_in_month(month: str) -> int:
    """Days in a month, or in every month of a period (``2026-Q3``, ``2026``)."""
    total = 0
    for m in period_months(month):
        year, mon = (int(x) for x in m.split("-"))
        total += calendar.monthrange(year, mon)[1]
    return total


def observed_days(period: str, as_of: datetime, zone: tzinfo = UTC) -> float:
    """Days of ``period`` that had passed by ``as_of``: all its calendar days once it is over;
    while it runs, the time from its first midnight (in ``zone``, the policy time zone) to
    ``as_of``, at least one day (a few hours would turn one release into dozens a week); 0
    before it starts."""
    months = period_months(period)
    year, mon = (int(x) for x in months[0].split("-"))
    start = datetime(year, mon, 1, tzinfo=zone)
    year, mon = (int(x) for x in months[-1].split("-"))
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=zone)
    if as_of >= end:
        return float(days_in_month(period))
    if as_of < start:
        return 0.0
    elapsed = as_of.astimezone(UTC) - start.astimezone(UTC)  # aware: real hours across DST
    return max(elapsed.total_seconds() / 86400, 1.0)


def dora_context(
    cohort: pl.DataFrame,
    attributed: pl.DataFrame,
    month: str,
    as_of: datetime,
    dora_cfr: float | None,
    years: Sequence[int],
    alpha: float = 0.05,
    zone: tzinfo = UTC,
) -> DoraContext:
    """DORA context of a month's (or any period's) cohort (units joined with failures).

    Deployment frequency: deployed releases / (days observed / 7), per week; the days observed
    are the period's calendar days, or those elapsed by ``as_of`` while the period runs
    (``observed_days``), so a month in progress is not diluted by days still to come. Lead
    time: median of ``released_at - change_requested_at`` in hours (releases with both, not
    negative).
    Failed deployment recovery time: ``mitigated_at - detected_at`` of incidents attributed to
    the cohort's DORA-failed releases, open ones censored at ``as_of`` (median and KM median).
    Deployment rework rate: cohort releases with ``rework`` (``rework_deployments``) / cohort.
    """
    days = observed_days(month, as_of, zone)
    per_week = cohort.height / (days / 7.0) if days > 0 else 0.0
    lead = (
        cohort.select(hours(pl.col("released_at") - pl.col("change_requested_at")).alias("h"))
        .filter(pl.col("h") >= 0)["h"]
        .to_numpy()
    )
    lead_res = duration_summary(lead, np.ones(len(lead), bool), alpha)
    failed_ids = cohort.filter(pl.col("dora_failed"))["release_id"].to_list()
    inc = attributed.filter(
        pl.col("attributed_release_id").is_in(failed_ids)
        & pl.col("detected_at").is_not_null()
        & ~pl.col(MTTM_INVALID)
    ).with_columns(
        pl.when(pl.col("mitigated_by_as_of"))
        .then(hours(pl.col("mitigated_at") - pl.col("detected_at")))
        .otherwise(hours(pl.lit(as_of) - pl.col("detected_at")))
        .alias("h")
    )
    rec = duration_summary(inc["h"].to_numpy(), inc["mitigated_by_as_of"].to_numpy(), alpha)
    clusters = {
        y: classify(y, per_week, lead_res.median, dora_cfr, rec.median)
        for y in years
        if y in dora_benchmarks()
    }
    return DoraContext(
        deployment_frequency_per_week=per_week,
        deployments=cohort.height,
        days_observed=days,
        period_days=days_in_month(month),
        lead_time_hours={
            "median": lead_res.median,
            "n": lead_res.n,
            "mean": lead_res.mean,
            "status": lead_res.status,
        },
        recovery_time_hours={
            "median": rec.median,
            "km_median": rec.km_median,
            "n": rec.n,
            "n_censored": rec.n_censored,
            "status": rec.status,
        },
        change_failure_rate=dora_cfr,
        clusters=clusters,
        rework_rate=rate(int(cohort["rework"].sum()), cohort.height, alpha)
        if "rework" in cohort.columns
        else None,
    )
