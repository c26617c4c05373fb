"""The showcase choices of the ``report`` command: the most instructive release and the latest
complete month.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from analytics.analysis.kpis import Analysis
from analytics.metrics.releases import deployed_in_month
from analytics.report.context import _as_datetime

# ---------------------------------------------------------------- showcase choice


def most_instructive_release(
    analysis: Analysis, month: str, audit: pl.DataFrame | None = None
) -> str | None:
    """The release of ``month`` whose review teaches the most, or None without releases.

    Ranking (first difference wins): failed with both an attributed incident and a rollback
    (the whole story: failure, detection, mitigation); failed; more failure signals; more audit
    findings (process gaps); more attributed incidents; earlier ``released_at``; release id."""
    cohort = deployed_in_month(analysis.releases, month, analysis.as_of)
    if cohort.height == 0:
        return None
    aud = audit if audit is not None else analysis.audit
    df = cohort.join(
        aud.select("release_id", pl.col("findings").list.len().alias("_nf")),
        on="release_id",
        how="left",
    ).with_columns(
        (
            pl.col("signal_incident").fill_null(False) & pl.col("signal_rollback").fill_null(False)
        ).alias("_story"),
        pl.col("failed").fill_null(False).alias("_failed"),
        pl.col("failure_signals").list.len().fill_null(0).alias("_ns"),
        pl.col("_nf").fill_null(0),
    )
    best = df.sort(
        ["_story", "_failed", "_ns", "_nf", "incident_count", "released_at", "release_id"],
        descending=[True, True, True, True, True, False, False],
    )
    return str(best["release_id"][0])


def latest_complete_month(as_of: str | datetime, timezone: str = "UTC") -> str:
    """The last calendar month (in ``timezone``) that ended at or before ``as_of``."""
    from zoneinfo import ZoneInfo

    local = _as_datetime(as_of).astimezone(ZoneInfo(timezone))
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month_day = first - timedelta(days=1)
    return f"{last_month_day.year:04d}-{last_month_day.month:02d}"
