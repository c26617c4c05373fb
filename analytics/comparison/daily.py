"""Daily values per version over the comparison window, for the review report's chart."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from analytics.comparison.metrics import (
    METRICS,
    P95,
    P95_METRIC,
    STAT_COLUMNS,
    settings,
    unit_cost_stats,
)
from analytics.comparison.windows import _arm_windows, _utc, _window_rows, _windows
from analytics.core.policy import Policy
from analytics.data.rollup import (
    Rollup,
    latency_bin_values,
)


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
    schema: dict[str, pl.DataType] = {
        "release_id": pl.String(),
        "arm": pl.String(),
        "day": pl.Date(),
        "metric": pl.String(),
        "value": pl.Float64(),
        "n": pl.Int64(),
    }
    if rollup is None or arms.height == 0:
        return pl.DataFrame(schema=schema)
    per_day = (
        _window_rows(rollup.cases, arms)
        .with_columns(*unit_cost_stats(policy))
        .group_by(["release_id", "arm", "day"])
        .agg([pl.col(c).sum() for c in STAT_COLUMNS])
        .collect()
    )
    frames = []
    for spec in METRICS:
        if spec.kind == "quantile":
            continue
        frames.append(
            per_day.select(
                "release_id",
                "arm",
                "day",
                pl.lit(spec.name).alias("metric"),
                (pl.col(spec.total).cast(pl.Float64) / pl.col(spec.count)).alias("value"),
                pl.col(spec.count).cast(pl.Int64).alias("n"),
            )
        )
    lat = (
        _window_rows(rollup.latency, arms)
        .group_by(["release_id", "arm", "day", "latency_bin"])
        .agg(pl.col("n").sum())
        .sort(["release_id", "arm", "day", "latency_bin"])
        .collect()
        .with_columns(
            (
                pl.col("n").cum_sum().over(["release_id", "arm", "day"])
                / pl.col("n").sum().over(["release_id", "arm", "day"])
            ).alias("cum")
        )
    )
    values = pl.DataFrame(
        {"latency_bin": np.arange(len(latency_bin_values())), "value": latency_bin_values()},
        schema={"latency_bin": pl.Int64, "value": pl.Float64},
    )
    p95 = (
        lat.filter(pl.col("cum") >= P95 - 1e-12)
        .group_by(["release_id", "arm", "day"])
        .agg(pl.col("latency_bin").min(), pl.col("n").sum().alias("_"))
        .join(
            lat.group_by(["release_id", "arm", "day"]).agg(pl.col("n").sum().alias("total")),
            on=["release_id", "arm", "day"],
        )
        .with_columns(pl.col("latency_bin").cast(pl.Int64))
        .join(values, on="latency_bin", how="left")
        .select(
            "release_id",
            "arm",
            "day",
            pl.lit(P95_METRIC).alias("metric"),
            "value",
            pl.col("total").cast(pl.Int64).alias("n"),
        )
    )
    frames.append(p95)
    return (
        pl.concat(frames)
        .select([pl.col(k).cast(v) for k, v in schema.items()])
        .sort(["metric", "arm", "day"])
    )
