"""Unit process cost (USD per case, METRICS.md): each release's level over its observation window,
its impact against the previous version (from the comparison), and a month's level."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime

import polars as pl
from scipy import stats as sps

from analytics.comparison import ReleaseComparison, comparison_windows, unit_cost_impact
from analytics.core.periods import period_months
from analytics.core.policy import Policy
from analytics.core.results import EstimateResult
from analytics.data.rollup import Rollup, unit_cost_columns


def unit_cost_levels(
    rollup: Rollup | None, units: pl.DataFrame, as_of: datetime, policy: Policy
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
    win = comparison_windows(units, ids, as_of, policy).select(
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
        .with_columns(unit_cost_columns(policy.costs))
        .group_by("release_id")
        .agg(
            pl.col("n").sum().alias("cost_n"),
            pl.col("unit_cost_sum").sum(),
            pl.col("unit_cost_sumsq").sum(),
        )
    )
    return (
        mean_interval(per, "cost_n", "unit_cost_sum", "unit_cost_sumsq", policy.alpha, "unit_cost")
        .select(list(schema))
        .sort("release_id")
    )


def mean_interval(
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


def cost_impacts(comparisons: Mapping[str, ReleaseComparison]) -> pl.DataFrame:
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


def month_unit_cost(
    rollup: Rollup | None, month: str, as_of: datetime, policy: Policy
) -> EstimateResult:
    """Mean unit process cost per case over all cases served in the month (UTC days)."""
    if rollup is None or rollup.cases.height == 0:
        return EstimateResult(None, None, None, 0, "insufficient_data", "no telemetry")
    agg = (
        rollup.cases.filter(
            pl.col("day").dt.strftime("%Y-%m").is_in(period_months(month))
            & (pl.col("day") <= as_of.date())
        )
        .with_columns(unit_cost_columns(policy.costs))
        .select(pl.col("n").sum(), pl.col("unit_cost_sum").sum(), pl.col("unit_cost_sumsq").sum())
    )
    n = int(agg["n"][0] or 0)
    if n < 2:
        return EstimateResult(None, None, None, n, "insufficient_data", "no cases in the month")
    row = mean_interval(
        agg, "n", "unit_cost_sum", "unit_cost_sumsq", policy.alpha, "unit_cost"
    ).row(0, named=True)
    return EstimateResult(
        row["unit_cost_usd"], row["unit_cost_ci_low"], row["unit_cost_ci_high"], n
    )


def cohort_cost_impact(cohort: pl.DataFrame, alpha: float, has_telemetry: bool) -> EstimateResult:
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
