"""Daily values per version over the comparison window, for the review report's chart."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from analytics.comparison.metrics import (
    CELL_METRICS,
    P95,
    P95_METRIC,
    STAT_COLUMNS,
    settings,
    unit_cost_stats,
)
from analytics.comparison.windows import _arm_windows, _utc, _window_rows, _windows
from analytics.core.policy import Policy
from analytics.core.schemas import SEGMENT_COLUMNS
from analytics.data.rollup import (
    Rollup,
    latency_bin_values,
)

_DAILY_SCHEMA: dict[str, pl.DataType] = {
    "release_id": pl.String(),
    "arm": pl.String(),
    "day": pl.Date(),
    "metric": pl.String(),
    "value": pl.Float64(),
    "n": pl.Int64(),
}


def daily_series(
    rollup: Rollup | None,
    units: pl.DataFrame,
    release_id: str,
    as_of: datetime,
    policy: Policy,
) -> pl.DataFrame:
    """Daily values per version over the comparison window, for the review report's chart.

    One row per (day, arm, metric): ``release_id`` (the version that served), ``arm`` (``new`` or
    ``ref``), ``day`` (UTC date), ``metric``, ``value`` (the plain daily value, not standardised;
    rates as shares, p95 latency from the histogram) and ``n`` (cases with the metric)."""
    as_of = _utc(as_of)
    windows = _windows(units, [release_id], as_of, settings(policy), rollup)
    arms = _arm_windows(windows)
    if rollup is None or arms.height == 0:
        return pl.DataFrame(schema=_DAILY_SCHEMA)
    per_day = (
        _window_rows(rollup.cases, arms)
        .with_columns(*unit_cost_stats(policy))
        .sort(["release_id", "arm", "day", *SEGMENT_COLUMNS])  # float sums in a fixed order
        .collect()  # sorted eagerly: a lazy sort before a group-by does not fix the order
        .group_by(["release_id", "arm", "day"])
        .agg([pl.col(c).sum() for c in STAT_COLUMNS])
    )
    return (
        pl.concat([*_daily_means(per_day), _daily_p95(rollup.latency, arms)])
        .select([pl.col(k).cast(v) for k, v in _DAILY_SCHEMA.items()])
        .sort(["metric", "arm", "day"])
    )


def _daily_means(per_day: pl.DataFrame) -> list[pl.DataFrame]:
    """One frame per rate or mean metric: its plain value per (release, arm, day)."""
    return [
        per_day.select(
            "release_id",
            "arm",
            "day",
            pl.lit(spec.name).alias("metric"),
            (pl.col(spec.total).cast(pl.Float64) / pl.col(spec.count)).alias("value"),
            pl.col(spec.count).cast(pl.Int64).alias("n"),
        )
        for spec in CELL_METRICS
    ]


def _daily_p95(latency: pl.DataFrame, arms: pl.DataFrame) -> pl.DataFrame:
    """The p95 latency per (release, arm, day): the first histogram bin at which the day's
    cumulative share reaches 0.95, as ``histogram_quantile`` takes it."""
    keys = ["release_id", "arm", "day"]
    lat = (
        _window_rows(latency, arms)
        .group_by([*keys, "latency_bin"])
        .agg(pl.col("n").sum())
        .sort([*keys, "latency_bin"])
        .collect()
        .with_columns(
            (pl.col("n").cum_sum().over(keys) / pl.col("n").sum().over(keys)).alias("cum")
        )
    )
    values = pl.DataFrame(
        {"latency_bin": np.arange(len(latency_bin_values())), "value": latency_bin_values()},
        schema={"latency_bin": pl.Int64, "value": pl.Float64},
    )
    return (
        lat.filter(pl.col("cum") >= P95 - 1e-12)
        .group_by(keys)
        .agg(pl.col("latency_bin").min(), pl.col("n").sum().alias("_"))
        .join(lat.group_by(keys).agg(pl.col("n").sum().alias("total")), on=keys)
        .with_columns(pl.col("latency_bin").cast(pl.Int64))
        .join(values, on="latency_bin", how="left")
        .select(
            *keys,
            pl.lit(P95_METRIC).alias("metric"),
            "value",
            pl.col("total").cast(pl.Int64).alias("n"),
        )
    )
