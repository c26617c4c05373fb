"""Detection potential: how early a degradation was statistically visible in the telemetry.

The fixed-window comparison (``analytics.comparison``) answers "is the release worse?" once, at
the end of the observation window. Monitoring looks at the data again and again as it arrives,
and repeated looks at a fixed-level interval inflate false alarms. An *always-valid* confidence
sequence keeps its coverage simultaneously over every look, so the first look at which it lies
beyond the margin is a legitimate detection time.

**Method.** The asymptotic confidence sequence of Waudby-Smith et al. (2021, "Time-uniform
central limit theory"), the two-sided normal-mixture boundary of Howard et al. (2021) as used by
GrowthBook's engine: at a look with ``t`` cases (both arms together) the interval is the fixed
interval with its normal multiplier ``z`` replaced by

    z_t = sqrt( 2 (t rho^2 + 1) / (t rho^2) * log( sqrt(t rho^2 + 1) / alpha ) ),
    rho^2 = (-2 log alpha + log(-2 log alpha + 1)) / t_opt,

which is tightest around ``t_opt = comparison.sequential_tuning_cases`` cases. ``z_t`` replaces
``z`` in the same estimators as the fixed comparison: mix-standardised arm values (segment mix of
the new release's cases so far, small segments pooled the same way), Wilson/MOVER bounds for
rates, normal bounds for means. A degradation is *visible* at a look when the sequence for
``new - (1 +/- margin) * reference`` lies entirely beyond 0 in the worse direction for a
decision-quality metric (``policy.decision_quality_metrics``; p95 latency, a bootstrap metric,
is not tracked). The level is ``alpha / m`` for the ``m`` tracked metrics (Bonferroni), so the
chance of any false detection over all looks and metrics stays below ``alpha``. A look needs at
least ``comparison.min_cases_per_arm`` cases with the metric in each arm.

**Looks.** The arms are those of the fixed comparison (the release's cases from its
``released_at``; the previous release's cases from ``ref_start``, before and during the window),
cumulated up to each look. From the rollup the looks are daily: at the end of each UTC day of
the window that is over by ``as_of`` (a day's rollup row holds the whole day, so a day is looked
at when it is complete).
Given the raw telemetry, the two releases' cases are rolled up hourly with the rollup's own
aggregations and the looks are at the end of every hour. ``detectable_after_hours`` is the time
from ``released_at`` to the first look at which the degradation was visible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import polars as pl

from analytics.comparison import (
    METRIC_BY_NAME,
    STAT_COLUMNS,
    _arm_windows,
    _blocked_reasons,
    _long,
    _utc,
    _window_rows,
    assign_strata,
    comparison_windows,
    mean_contrast_bounds,
    metric_rules,
    rate_contrast_bounds,
    segment_label,
    settings,
    standardise,
    stratified,
    unit_cost_stats,
)
from analytics.errors import DataError
from analytics.policy import Policy
from analytics.results import Status, clean
from analytics.rollup import Rollup, case_aggregations
from analytics.schemas import SEGMENT_COLUMNS

Resolution = Literal["day", "hour"]


@dataclass(frozen=True)
class DetectionPotential:
    """The earliest time a release's degradation beyond its margin was statistically visible.

    ``detectable_after_hours``: hours from ``released_at`` to the first look at which the
    confidence sequence of a decision-quality metric lay beyond the margin (None when it never
    did by ``as_of``); ``metric``: that metric (the first in policy order when several crossed at
    the same look, all of them in ``metrics``); ``looks``: looks evaluated.
    """

    release_id: str
    detectable_after_hours: float | None
    detectable_at: datetime | None
    metric: str | None
    metrics: tuple[str, ...]
    resolution: Resolution
    looks: int
    status: Status
    message: str

    def to_dict(self) -> dict[str, Any]:
        return clean({f.name: getattr(self, f.name) for f in fields(self)})


def cs_multiplier(t: Any, alpha: float, tuning: float) -> np.ndarray:
    """The normal multiplier of the two-sided asymptotic confidence sequence at ``t`` samples
    (see module docstring); ``tuning`` is the sample size where the sequence is tightest."""
    t = np.asarray(t, dtype=float)
    la = -2.0 * math.log(alpha)
    rho2 = (la + math.log(la + 1.0)) / tuning
    tr = t * rho2
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.sqrt(2.0 * (tr + 1.0) / tr * np.log(np.sqrt(tr + 1.0) / alpha))
    return np.where(t > 0, z, np.inf)


def _tuning(policy: Policy) -> float:
    sec = policy.section("comparison")
    value = sec.get("sequential_tuning_cases")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise DataError(
            "policy: comparison.sequential_tuning_cases must be a number > 0 (the case count at "
            "which the confidence sequence is tightest)"
        )
    return float(value)


def _tracked(policy: Policy) -> list[str]:
    rules = metric_rules(policy)
    return [
        name
        for name, rule in rules.items()
        if rule.role == "decision_quality" and METRIC_BY_NAME[name].kind in ("rate", "mean")
    ]


# ---------------------------------------------------------------- cumulative looks


def _daily_buckets(rollup: Rollup, arms: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """Per (target, arm, segment, t) sums, ``t`` the end (next midnight) of the UTC day."""
    return (
        _window_rows(rollup.cases, arms)
        .with_columns(*unit_cost_stats(policy))
        .group_by(["target", "arm", *SEGMENT_COLUMNS, "day"])
        .agg([pl.col(c).sum() for c in STAT_COLUMNS])
        .with_columns(
            segment_label().alias("segment"),
            (pl.col("day").cast(pl.Datetime("us", "UTC")) + pl.duration(days=1)).alias("t"),
        )
        .drop([*SEGMENT_COLUMNS, "day"])
        .collect()
    )


def _hourly_buckets(
    telemetry: pl.LazyFrame, windows: pl.DataFrame, policy: Policy, as_of: datetime
) -> pl.DataFrame:
    """Per (target, arm, segment, t) sums from raw telemetry, ``t`` the end of the UTC hour."""
    frames = []
    for w in windows.iter_rows(named=True):
        if w["ref_release_id"] is None or w["released_at"] is None:
            continue
        arm = (
            pl.when(pl.col("release_id") == w["release_id"])
            .then(pl.lit("new"))
            .otherwise(pl.lit("ref"))
        )
        frames.append(
            telemetry.filter(
                pl.col("release_id").is_in([w["release_id"], w["ref_release_id"]])
                & (pl.col("system") == w["system"])
                & (pl.col("ts") >= w["ref_start"])
                & (pl.col("ts") < w["window_end"])
                & (pl.col("ts") <= as_of)
            )
            .with_columns(
                arm.alias("arm"),
                (pl.col("ts").dt.truncate("1h") + pl.duration(hours=1)).alias("t"),
            )
            .group_by(["arm", "t", *SEGMENT_COLUMNS])
            .agg(case_aggregations())
            .with_columns(*unit_cost_stats(policy))
            .select(
                pl.lit(w["release_id"]).alias("target"),
                "arm",
                segment_label().alias("segment"),
                "t",
                *STAT_COLUMNS,
            )
        )
    if not frames:
        return pl.DataFrame(
            schema={
                "target": pl.String,
                "arm": pl.String,
                "segment": pl.String,
                "t": pl.Datetime("us", "UTC"),
                **{c: pl.Float64 for c in STAT_COLUMNS},
            }
        )
    return pl.concat(pl.collect_all(frames), how="vertical_relaxed")


def _look_grid(
    windows: pl.DataFrame, as_of: datetime, step: timedelta, complete_only: bool
) -> pl.DataFrame:
    """(target, t, look_time): every bucket end from the first after ``released_at`` to the
    window end. With ``complete_only`` only buckets that ended by ``as_of`` (daily looks: a day's
    rollup holds the whole day); else the last look is cut at ``as_of`` (hourly looks from raw
    telemetry, which is itself cut at ``as_of``)."""
    rows = []
    for w in windows.iter_rows(named=True):
        if w["ref_release_id"] is None or w["released_at"] is None:
            continue
        if w["released_at"] > as_of:
            continue
        start = w["window_start"]
        t = start + step
        while t <= w["released_at"]:
            t += step
        while t - step < min(w["window_end"], as_of) and t <= w["window_end"]:
            if complete_only and t > as_of:
                break
            rows.append((w["release_id"], t, min(t, as_of)))
            t += step
    return pl.DataFrame(
        rows,
        schema={
            "target": pl.String,
            "t": pl.Datetime("us", "UTC"),
            "look_time": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )


def _cumulative_at_looks(buckets: pl.DataFrame, grid: pl.DataFrame) -> pl.DataFrame:
    """Stats per (target, look, arm, segment): the buckets' sums cumulated up to each look."""
    if buckets.height == 0 or grid.height == 0:
        return pl.DataFrame()
    cum = (
        buckets.group_by(["target", "arm", "segment", "t"])
        .agg([pl.col(c).sum() for c in STAT_COLUMNS])
        .sort(["target", "arm", "segment", "t"])
        .with_columns(
            [pl.col(c).cum_sum().over(["target", "arm", "segment"]) for c in STAT_COLUMNS]
        )
    )
    pairs = cum.select("target", "arm", "segment").unique()
    looks = (
        grid.with_row_index("look")
        .join(pairs, on="target", how="inner")
        .sort(["target", "arm", "segment", "t"])
    )
    at = looks.join_asof(
        cum.sort(["target", "arm", "segment", "t"]),
        on="t",
        by=["target", "arm", "segment"],
        strategy="backward",
        check_sortedness=False,  # sorted by (by..., t) above
    )
    return at.filter(pl.col("n").is_not_null() & (pl.col("n") > 0)).with_columns(
        pl.col("look").cast(pl.Int64)
    )


def confidence_sequences(
    stats: pl.DataFrame, policy: Policy, released_at: Mapping[str, datetime]
) -> pl.DataFrame:
    """Per (target, look, metric) of the tracked metrics: the mix-standardised difference
    ``estimate`` (new - reference), its confidence-sequence bounds ``cs_low``/``cs_high``, the
    bounds of the margin contrast, whether the degradation is visible (``visible``), case counts
    and ``hours`` after ``released_at``."""
    cfg = settings(policy)
    rules = metric_rules(policy)
    tracked = _tracked(policy)
    if stats.height == 0 or not tracked:
        return pl.DataFrame()
    keys = ["target", "look"]
    strata = assign_strata(stats, keys, cfg.min_cases_per_segment)
    long = _long(stratified(stats, keys, strata), keys).filter(pl.col("metric").is_in(tracked))
    wide = standardise(long, keys)
    meta = stats.select("target", "look", "look_time").unique()
    wide = wide.join(meta, on=["target", "look"], how="left").sort(["target", "look", "metric"])
    a = {
        c: wide[c].cast(pl.Float64).fill_null(np.nan).to_numpy()
        for c in ("M_new", "M_ref", "V_new", "V_ref", "K_new", "K_ref", "N_new", "N_ref")
    }
    names = wide["metric"].to_list()
    is_rate = np.array([METRIC_BY_NAME[m].kind == "rate" for m in names], dtype=bool)
    sign = np.array([rules[m].sign for m in names])
    factor = np.array([rules[m].factor for m in names])
    alpha = policy.alpha / len(tracked)
    z = cs_multiplier(a["N_new"] + a["N_ref"], alpha, _tuning(policy))
    with np.errstate(divide="ignore", invalid="ignore"):
        kn, kr = 1.0 / a["K_new"], 1.0 / a["K_ref"]
        rl, rh = rate_contrast_bounds(a["M_new"], kn, a["M_ref"], kr, 1.0, z)
        ml, mh = mean_contrast_bounds(a["M_new"], a["V_new"], a["M_ref"], a["V_ref"], 1.0, z)
        rlc, rhc = rate_contrast_bounds(a["M_new"], kn, a["M_ref"], kr, factor, z)
        mlc, mhc = mean_contrast_bounds(a["M_new"], a["V_new"], a["M_ref"], a["V_ref"], factor, z)
    low, high = np.where(is_rate, rl, ml), np.where(is_rate, rh, mh)
    mlow, mhigh = np.where(is_rate, rlc, mlc), np.where(is_rate, rhc, mhc)
    enough = (a["N_new"] >= cfg.min_cases_per_arm) & (a["N_ref"] >= cfg.min_cases_per_arm)
    visible = enough & np.where(sign > 0, mlow > 0, mhigh < 0)
    rel = pl.DataFrame(
        {"target": list(released_at), "released_at": list(released_at.values())},
        schema={"target": pl.String, "released_at": pl.Datetime("us", "UTC")},
    )

    def col(x: np.ndarray) -> np.ndarray:
        return np.where(np.isfinite(x), x, np.nan)

    return (
        wide.select("target", "look", "look_time", "metric")
        .with_columns(
            pl.Series("n_new", a["N_new"]).cast(pl.Int64),
            pl.Series("n_ref", a["N_ref"]).cast(pl.Int64),
            pl.Series("estimate", col(a["M_new"] - a["M_ref"])),
            pl.Series("cs_low", col(low)),
            pl.Series("cs_high", col(high)),
            pl.Series("margin_low", col(mlow)),
            pl.Series("margin_high", col(mhigh)),
            pl.Series("margin_abs", col((factor - 1) * a["M_ref"])),
            pl.Series("visible", visible),
        )
        .join(rel, on="target", how="left")
        .with_columns(
            ((pl.col("look_time") - pl.col("released_at")).dt.total_seconds() / 3600.0).alias(
                "hours"
            )
        )
        .drop("released_at")
        .sort(["target", "look", "metric"])
    )


def _potentials(
    seq: pl.DataFrame,
    windows: pl.DataFrame,
    looks: pl.DataFrame,
    policy: Policy,
    as_of: datetime,
    resolution: Resolution,
) -> dict[str, DetectionPotential]:
    order = {m: i for i, m in enumerate(_tracked(policy))}
    blocked = _blocked_reasons(windows, as_of)
    n_looks = dict(looks.group_by("target").len().iter_rows()) if looks.height else {}
    first: dict[str, Mapping[str, Any]] = {}
    crossing: dict[str, tuple[str, ...]] = {}
    if seq.height:
        hits = seq.filter(pl.col("visible"))
        if hits.height:
            earliest = hits.group_by("target").agg(pl.col("look").min())
            at = hits.join(earliest, on=["target", "look"], how="inner")
            for target, part in at.partition_by("target", as_dict=True).items():
                names = sorted(part["metric"].to_list(), key=lambda m: order[m])
                crossing[target[0]] = tuple(names)
                first[target[0]] = part.row(0, named=True)
    enough = set()
    if seq.height:
        cfg = settings(policy)
        enough = set(
            seq.filter(
                (pl.col("n_new") >= cfg.min_cases_per_arm)
                & (pl.col("n_ref") >= cfg.min_cases_per_arm)
            )["target"]
            .unique()
            .to_list()
        )
    out = {}
    for w in windows.iter_rows(named=True):
        rid = w["release_id"]
        common = {"release_id": rid, "resolution": resolution, "looks": n_looks.get(rid, 0)}
        if rid in first and rid not in blocked:
            hit = first[rid]
            crossed = crossing[rid]
            out[rid] = DetectionPotential(
                detectable_after_hours=float(hit["hours"]),
                detectable_at=hit["look_time"],
                metric=crossed[0],
                metrics=crossed,
                status="ok",
                message=(
                    f"degradation of {', '.join(crossed)} beyond the margin visible "
                    f"{hit['hours']:.1f} h after release"
                ),
                **common,
            )
            continue
        # Nothing detectable: say why.
        status: Status
        if rid in blocked:
            status, message = "insufficient_data", blocked[rid]
        elif rid not in enough:
            status, message = "insufficient_data", "no look with enough cases in both arms"
        elif w["window_end"] > as_of:
            status = "immature"
            message = "no degradation beyond the margin visible yet; the window is not over"
        else:
            status = "ok"
            message = "no degradation beyond the margin visible in the observation window"
        out[rid] = DetectionPotential(
            detectable_after_hours=None,
            detectable_at=None,
            metric=None,
            metrics=(),
            status=status,
            message=message,
            **common,
        )
    return out


def sequential_stats(
    rollup: Rollup | None,
    units: pl.DataFrame,
    release_ids: Sequence[str],
    policy: Policy,
    as_of: datetime,
    *,
    telemetry: pl.LazyFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, Resolution]:
    """(windows, looks, cumulative stats per look) for the releases; hourly when ``telemetry``
    is given, else daily from the rollup."""
    as_of = _utc(as_of)
    ids = list(dict.fromkeys(release_ids))
    windows = comparison_windows(units, ids, policy, as_of, rollup)
    if telemetry is not None:
        resolution: Resolution = "hour"
        buckets = _hourly_buckets(telemetry, windows, policy, as_of)
        grid = _look_grid(windows, as_of, timedelta(hours=1), complete_only=False)
    else:
        resolution = "day"
        arms = _arm_windows(windows)
        buckets = _daily_buckets(rollup, arms, policy) if rollup is not None else pl.DataFrame()
        grid = _look_grid(windows, as_of, timedelta(days=1), complete_only=True)
    stats = _cumulative_at_looks(buckets, grid)
    return windows, grid, stats, resolution


def detection_potentials(
    rollup: Rollup | None,
    units: pl.DataFrame,
    release_ids: Sequence[str],
    policy: Policy,
    as_of: datetime,
    *,
    telemetry: pl.LazyFrame | None = None,
) -> dict[str, DetectionPotential]:
    """``detection_potential`` for several releases at once (daily looks are vectorised)."""
    as_of = _utc(as_of)
    windows, grid, stats, resolution = sequential_stats(
        rollup, units, release_ids, policy, as_of, telemetry=telemetry
    )
    released = {
        r["release_id"]: r["released_at"]
        for r in windows.iter_rows(named=True)
        if r["released_at"] is not None
    }
    seq = confidence_sequences(stats, policy, released) if stats.height else pl.DataFrame()
    out = _potentials(seq, windows, grid, policy, as_of, resolution)
    return {rid: out[rid] for rid in dict.fromkeys(release_ids)}


def detection_potential(
    rollup: Rollup | None,
    units: pl.DataFrame,
    release_id: str,
    policy: Policy,
    as_of: datetime,
    *,
    telemetry: pl.LazyFrame | None = None,
) -> DetectionPotential:
    """The earliest time (hours after ``released_at``) a degradation of a decision-quality
    metric beyond its policy margin was visible to an always-valid confidence sequence over the
    telemetry as it arrived (see module docstring). Daily looks from ``rollup``; hourly looks
    when the raw ``telemetry`` (as loaded by ``load_dataset``) is given."""
    return detection_potentials(rollup, units, [release_id], policy, as_of, telemetry=telemetry)[
        release_id
    ]


def sequence_frame(
    rollup: Rollup | None,
    units: pl.DataFrame,
    release_id: str,
    policy: Policy,
    as_of: datetime,
    *,
    telemetry: pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """The confidence sequence of each tracked metric of one release, one row per look and
    metric (columns of ``confidence_sequences``), for a chart of "when did it become visible"."""
    windows, _, stats, _ = sequential_stats(
        rollup, units, [release_id], policy, as_of, telemetry=telemetry
    )
    released = {
        r["release_id"]: r["released_at"]
        for r in windows.iter_rows(named=True)
        if r["released_at"] is not None
    }
    return confidence_sequences(stats, policy, released) if stats.height else pl.DataFrame()


__all__ = [
    "DetectionPotential",
    "confidence_sequences",
    "cs_multiplier",
    "detection_potential",
    "detection_potentials",
    "sequence_frame",
]
