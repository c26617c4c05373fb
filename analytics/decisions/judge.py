"""The canary judge a pipeline calls: go / rollback / hold for one release against the version it
replaced, from the dataset's telemetry (``analytics judge``; METRICS.md "judge").

``as_of`` defaults to the latest telemetry timestamp in the dataset (the time the data runs to;
never the wall clock), or the release's ``released_at`` when the dataset has no telemetry. Only
the release's system and comparison window of the raw telemetry are rolled up (same result as
rolling up everything, faster); a pre-computed ``telemetry_rollup/`` is used as it is.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from analytics.comparison import (
    JudgeDecision,
    compare_release,
    comparison_windows,
    judge_comparison,
    judge_policy,
)
from analytics.core.errors import DataError
from analytics.core.periods import utc_as_of
from analytics.data.io import Dataset
from analytics.data.rollup import Rollup, dataset_rollup
from analytics.metrics.releases import release_units


def default_as_of(
    rollup: Rollup | None, telemetry: pl.LazyFrame | None, released_at: datetime | None
) -> datetime | None:
    """The latest telemetry timestamp (of the pre-computed rollup, else of the raw telemetry),
    else ``released_at``."""
    if rollup is not None and rollup.cases.height:
        return rollup.cases["last_ts"].max()  # type: ignore[return-value]
    if telemetry is not None:
        latest = telemetry.select(pl.col("ts").max()).collect().item()
        if latest is not None:
            return latest  # type: ignore[no-any-return]
    return released_at


def _release_telemetry(
    telemetry: pl.LazyFrame | None, windows: pl.DataFrame
) -> pl.LazyFrame | None:
    """The raw telemetry the comparison can use: the release's system within its comparison
    window (whole UTC days, so the rollup of this slice equals that of everything)."""
    if telemetry is None or windows.height == 0 or windows["released_at"][0] is None:
        return telemetry
    w = windows.row(0, named=True)
    return telemetry.filter(
        (pl.col("system") == w["system"])
        & (pl.col("ts") >= w["ref_start"])
        & (pl.col("ts") < w["window_end"])
    )


def judge_release(ds: Dataset, release_id: str, as_of: datetime | None = None) -> JudgeDecision:
    """Go / rollback / hold for ``release_id`` (``JudgeDecision.exit_code``: 0, 1, 2). Raises
    ``DataError`` for an unknown release or one without a valid ``released_at`` and no
    ``as_of``, and for an invalid ``comparison`` or ``judge`` policy section."""
    policy = judge_policy(ds.policy)
    units = release_units(ds.releases, policy)
    match = units.filter(pl.col("release_id") == release_id)
    if match.height == 0:
        raise DataError(f"release {release_id!r} is not in the releases table")
    if as_of is not None:
        as_of = utc_as_of(as_of)
    as_of = as_of or default_as_of(ds.telemetry_rollup, ds.telemetry, match["released_at"][0])
    if as_of is None:
        raise DataError(f"release {release_id!r} has no valid released_at: pass --as-of")
    windows = comparison_windows(units, [release_id], as_of, policy)
    rollup = dataset_rollup(_release_telemetry(ds.telemetry, windows), ds.telemetry_rollup)
    comparison = compare_release(rollup, units, release_id, as_of, policy)
    return judge_comparison(comparison, policy)
