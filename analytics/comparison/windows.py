"""Windows and arms: which days of which release each arm counts, and the rollup rows they hold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

import polars as pl

from analytics.comparison.looks import (
    LookPlan,
)
from analytics.comparison.metrics import (
    SEGMENT_SEPARATOR,
    STAT_COLUMNS,
    ComparisonSettings,
    settings,
)
from analytics.core.errors import DataError
from analytics.core.policy import Policy
from analytics.core.schemas import SEGMENT_COLUMNS
from analytics.data.rollup import (
    CASES_SCHEMA,
    LATENCY_SCHEMA,
    Rollup,
)


def _utc(as_of: datetime) -> datetime:
    if as_of.tzinfo is None:
        raise DataError("as_of must be timezone-aware (e.g. 2026-11-01T00:00:00Z)")
    return as_of.astimezone(UTC)


def last_day(as_of: datetime) -> date:
    """The last UTC day that counts at ``as_of``: the last day complete by then (a day's rollup
    row holds the whole day, so a day is read only once it is over)."""
    return _utc(as_of).date() - timedelta(days=1)


def _ceil_day(expr: pl.Expr) -> pl.Expr:
    floor = expr.dt.truncate("1d")
    return pl.when(expr > floor).then(floor + pl.duration(days=1)).otherwise(floor)


def comparison_windows(
    units: pl.DataFrame,
    release_ids: Sequence[str],
    as_of: datetime,
    policy: Policy,
    rollup: Rollup | None = None,
) -> pl.DataFrame:
    """One row per requested release: ``release_id, system, released_at, previous_release_id,
    ref_release_id, window_start, window_end, ref_start`` (UTC datetimes; see module docstring)
    and ``last_day``, the last UTC day counted at ``as_of``. Raises ``DataError`` for an unknown
    release id or an invalid ``comparison`` policy section.

    ``ref_release_id`` is the reference version: the previous release, or, when that release
    served fewer than ``comparison.min_cases_per_arm`` cases in the reference window (it was
    rolled back or halted early) and ``rollup`` is given, the latest earlier release of the
    system that did: the version the release actually replaced in production."""
    return _windows(units, release_ids, as_of, settings(policy), rollup)


def _windows(
    units: pl.DataFrame,
    release_ids: Sequence[str],
    as_of: datetime,
    cfg: ComparisonSettings,
    rollup: Rollup | None = None,
) -> pl.DataFrame:
    """``comparison_windows`` with the comparison settings already parsed."""
    known = set(units["release_id"].to_list())
    missing = [r for r in release_ids if r not in known]
    if missing:
        raise DataError("unknown release(s): " + ", ".join(sorted(set(missing))))
    windows = (
        units.filter(pl.col("release_id").is_in(list(release_ids)))
        .select("release_id", "system", "released_at", "previous_release_id")
        .with_columns(
            pl.col("released_at").dt.truncate("1d").alias("window_start"),
            _ceil_day(pl.col("released_at") + cfg.window).alias("window_end"),
            (pl.col("released_at") - cfg.window).dt.truncate("1d").alias("ref_start"),
            pl.lit(last_day(as_of)).alias("last_day"),
        )
        .sort("release_id")
    )
    return (
        windows.join(
            _reference_releases(units, windows, rollup, cfg.min_cases_per_arm),
            on="release_id",
            how="left",
        )
        .with_columns(pl.coalesce("_ref", "previous_release_id").alias("ref_release_id"))
        .drop("_ref")
    )


def _reference_releases(
    units: pl.DataFrame, windows: pl.DataFrame, rollup: Rollup | None, min_cases: int
) -> pl.DataFrame:
    """(release_id, _ref): the fallback reference of releases whose previous release served
    fewer than ``min_cases`` cases in the reference window (see ``comparison_windows``)."""
    empty = pl.DataFrame(schema={"release_id": pl.String, "_ref": pl.String})
    if rollup is None or windows.height == 0:
        return empty
    targets = windows.filter(pl.col("previous_release_id").is_not_null()).select(
        "release_id",
        "system",
        "released_at",
        "previous_release_id",
        pl.col("ref_start").dt.date().alias("day_from"),
        _last_counted_day().alias("day_to"),
    )
    candidates = units.select(
        pl.col("release_id").alias("cand"), "system", pl.col("released_at").alias("cand_at")
    ).filter(pl.col("cand_at").is_not_null())
    per_day = rollup.cases.group_by(["release_id", "system", "day"]).agg(pl.col("n").sum())
    served = (
        targets.join(candidates, on="system", how="inner")
        .filter(pl.col("cand_at") < pl.col("released_at"))
        .join(per_day, left_on=["cand", "system"], right_on=["release_id", "system"], how="inner")
        .filter((pl.col("day") >= pl.col("day_from")) & (pl.col("day") <= pl.col("day_to")))
        .group_by(["release_id", "previous_release_id", "cand", "cand_at"])
        .agg(pl.col("n").sum())
    )
    prev_ok = served.filter(
        (pl.col("cand") == pl.col("previous_release_id")) & (pl.col("n") >= min_cases)
    ).select("release_id")
    return (
        served.join(prev_ok, on="release_id", how="anti")
        .filter(pl.col("n") >= min_cases)
        .sort(["release_id", "cand_at", "cand"], descending=[False, True, True])
        .group_by("release_id", maintain_order=True)
        .first()
        .select("release_id", pl.col("cand").alias("_ref"))
    )


def _last_counted_day() -> pl.Expr:
    """The last UTC day an arm counts: the window's last day, or the last day complete at
    as_of (``last_day``) when that is earlier."""
    return pl.min_horizontal(
        (pl.col("window_end") - pl.duration(days=1)).dt.date(), pl.col("last_day")
    )


def _arm_windows(windows: pl.DataFrame) -> pl.DataFrame:
    """Rows (target, arm, source, system, day_from, day_to) of the days each arm counts: the
    new arm the release itself from its window's start, the reference arm the reference
    version from ``ref_start``."""

    def arm(name: str, source: str, first: str, keep: pl.Expr) -> pl.DataFrame:
        return windows.filter(keep).select(
            pl.col("release_id").alias("target"),
            pl.lit(name).alias("arm"),
            pl.col(source).alias("source"),
            "system",
            pl.col(first).dt.date().alias("day_from"),
            _last_counted_day().alias("day_to"),
        )

    released = pl.col("released_at").is_not_null()
    return pl.concat(
        [
            arm("new", "release_id", "window_start", released),
            arm(
                "ref",
                "ref_release_id",
                "ref_start",
                released & pl.col("ref_release_id").is_not_null(),
            ),
        ]
    )


def segment_label() -> pl.Expr:
    """A segment's label: ``task_type / criticality / language / customer_segment``."""
    return pl.concat_str([pl.col(c) for c in SEGMENT_COLUMNS], separator=SEGMENT_SEPARATOR)


def _window_rows(frame: pl.DataFrame | pl.LazyFrame, arms: pl.DataFrame) -> pl.LazyFrame:
    """Rollup rows (cases or latency) of each arm's release and days, with target and arm."""
    return (
        frame.lazy()
        .join(
            arms.lazy(),
            left_on=["release_id", "system"],
            right_on=["source", "system"],
            how="inner",
        )
        .filter((pl.col("day") >= pl.col("day_from")) & (pl.col("day") <= pl.col("day_to")))
    )


def _segment_stats(
    cases: pl.DataFrame, arm_days: pl.DataFrame, cost_columns: Sequence[pl.Expr]
) -> pl.DataFrame:
    """Sums of ``STAT_COLUMNS`` per (target, arm, segment) over the days each arm uses at its
    last look (``_arm_days``), with the segment's label and its four columns. The days are
    summed in date order (the join does not keep row order, and float sums must not depend on
    it; sorted eagerly: a lazy sort before a group-by does not fix the order of the sums)."""
    return (
        _day_rows(cases, arm_days)
        .with_columns(*cost_columns)
        .sort(["target", "arm", *SEGMENT_COLUMNS, "day"])
        .collect()
        .group_by(["target", "arm", *SEGMENT_COLUMNS])
        .agg([pl.col(c).sum() for c in STAT_COLUMNS])
        .with_columns(segment_label().alias("segment"))
        .sort(["target", "arm", "segment"])
    )


def _cells(
    cases: pl.DataFrame, arms: pl.DataFrame, cost_columns: Sequence[pl.Expr]
) -> pl.DataFrame:
    """Per (target, arm, day, segment columns) sums of ``STAT_COLUMNS`` over each arm's days."""
    return (
        _window_rows(cases, arms)
        .with_columns(*cost_columns)
        .group_by(["target", "arm", "day", *SEGMENT_COLUMNS])
        .agg([pl.col(c).sum() for c in STAT_COLUMNS])
        .sort(["target", "arm", "day", *SEGMENT_COLUMNS])
        .collect()
    )


def _arm_days(windows: pl.DataFrame, plans: Mapping[str, LookPlan]) -> pl.DataFrame:
    """(target, arm, source, system, day) of the days each arm uses at its last look."""
    epoch = date(1970, 1, 1)
    rows = []
    for w in windows.iter_rows(named=True):
        plan = plans.get(w["release_id"])
        if plan is None:
            continue
        for d in plan.new_days:
            rows.append((w["release_id"], "new", w["release_id"], w["system"], d))
        if w["ref_release_id"] is not None:
            for d in plan.ref_days:
                rows.append((w["release_id"], "ref", w["ref_release_id"], w["system"], d))
    frame = pl.DataFrame(
        rows,
        schema={
            "target": pl.String,
            "arm": pl.String,
            "source": pl.String,
            "system": pl.String,
            "_d": pl.Int64,
        },
        orient="row",
    )
    return frame.with_columns(
        (pl.lit(epoch) + pl.duration(days=pl.col("_d"))).cast(pl.Date).alias("day")
    ).drop("_d")


def _day_rows(frame: pl.DataFrame | pl.LazyFrame, arm_days: pl.DataFrame) -> pl.LazyFrame:
    """Rollup rows (cases or latency) of each arm's release on the arm's days."""
    return frame.lazy().join(
        arm_days.lazy(),
        left_on=["release_id", "system", "day"],
        right_on=["source", "system", "day"],
        how="inner",
    )


def _empty_cases() -> pl.DataFrame:
    return pl.DataFrame(schema=CASES_SCHEMA)


def _empty_latency() -> pl.DataFrame:
    return pl.DataFrame(schema=LATENCY_SCHEMA)


def _blocked_reasons(windows: pl.DataFrame, as_of: datetime) -> dict[str, str]:
    out = {}
    for r in windows.iter_rows(named=True):
        if r["released_at"] is None:
            out[r["release_id"]] = "the release has no valid released_at"
        elif r["released_at"] > as_of:
            out[r["release_id"]] = "not released by as_of"
        elif r["previous_release_id"] is None:
            out[r["release_id"]] = "first release of its system: no previous release to compare"
    return out
