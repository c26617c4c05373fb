"""Version comparison: a release against the version it replaced, on the traffic it served.

The question is "did this release make decisions worse, or more expensive, on the traffic it
served?", asked so that the answer can be acted on: it feeds the telemetry failure signal of
CFR-DQ, the release impact on unit cost, ``analytics judge`` (go / hold / rollback) and the
detection potential. Everything is computed from the telemetry rollup
(``analytics.rollup.Rollup``), so a pre-computed rollup gives the same results as raw telemetry.
All functions are pure. METRICS.md (version comparison) states every choice with its calibration
table; the pieces live in three modules:

- ``analytics.looks``: the window and its daily looks (complete UTC days only, so reading a
  comparison twice in a day gives the same answer), and per look the control arm: the
  reference version on the same days (*concurrent*), its pre-release window for the days the new
  version served alone (*mixed*), or only that (*pre_release*, an immediate 100 % rollout: a
  weaker design, flagged).
- ``analytics.estimator``: the standardised contrast at one look: the new arm's mean minus the
  reference's value on the new arm's (day, segment) mix, a linear estimator of the reference's
  cases (sparse segments borrow a coarser stratum's mean only when the reference never served
  them; variances from strata with enough cases), with empirical-Bayes day matching so shared
  day shocks cancel, and variances conditional on the served mix.
- this module: the metric catalogue and the policy's rules (direction, margin, role), the
  windows, inference per look (Newcombe / Wilson on effective sizes for rates; Welch t with
  Satterthwaite degrees of freedom for means; Fieller / MOVER-R for relative changes; a
  histogram bootstrap for p95 latency at the last look), the **sequential p-values** (minimum over
  the looks so far of p / the look's pre-set share of the level: valid however often read, and
  sticky), **one Holm (or BH) family** over every metric whose verdict has a consequence
  (``decision_family``: decision-quality, the judge's critical and hold metrics), the verdicts
  (``worse`` / ``better`` / ``inconclusive`` / ``insufficient_data``), non-inferiority against the
  go margins (``go_margins``) with ``cases_needed`` and ``mde``, the per-segment results for the
  review report's forest plot (one family per metric across segments), and the judge.

A margin ``m`` is relative to the reference value: for a metric whose ``worse`` direction is up,
"worse" means ``new > (1 + m) * reference``; for down, ``new < (1 - m) * reference``. Metrics named
in ``policy.decision_quality_metrics`` take the policy's direction and margin (role
``decision_quality``); the others are ``operational``, judged against a zero margin with up
worse, never a decision-quality failure.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import stats as sps

from analytics.errors import DataError
from analytics.estimator import look_shares
from analytics.looks import LOOK_SCHEMA, LookPlan, cell_tables, look_rows, plan_looks, segment_codes
from analytics.policy import Policy
from analytics.results import EstimateResult, Status, clean
from analytics.rollup import (
    CASES_SCHEMA,
    LATENCY_SCHEMA,
    Rollup,
    histogram_quantile,
    latency_bin_values,
    unit_cost_columns,
)
from analytics.schemas import SEGMENT_COLUMNS

Verdict = Literal["better", "worse", "inconclusive", "insufficient_data"]
Role = Literal["decision_quality", "operational"]
Kind = Literal["rate", "mean", "quantile"]
ARMS: tuple[str, str] = ("new", "ref")
OTHER = "other"
SEGMENT_SEPARATOR = " / "
P95 = 0.95


# ---------------------------------------------------------------- metric catalogue


@dataclass(frozen=True)
class MetricSpec:
    """A comparable metric: how it is computed from the rollup and its default worse direction."""

    name: str
    kind: Kind
    count: str  # rollup column: cases that carry the metric
    total: str  # rollup column: sum of the metric over those cases
    total_sq: str  # rollup column: sum of squares
    worse: Literal["up", "down"]  # used when the policy does not name the metric
    unit: str


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "escalation_rate", "rate", "escalated_n", "escalated", "escalated", "up", "share of cases"
    ),
    MetricSpec("rework_rate", "rate", "reworked_n", "reworked", "reworked", "up", "share of cases"),
    MetricSpec(
        "policy_violation_rate",
        "rate",
        "policy_violation_n",
        "policy_violation",
        "policy_violation",
        "up",
        "share of cases",
    ),
    MetricSpec("refusal_rate", "rate", "refused_n", "refused", "refused", "up", "share of cases"),
    MetricSpec(
        "quality_score",
        "mean",
        "quality_n",
        "quality_score_sum",
        "quality_score_sumsq",
        "down",
        "score (0..1)",
    ),
    MetricSpec(
        "unit_cost_usd",
        "mean",
        "unit_cost_n",
        "unit_cost_sum",
        "unit_cost_sumsq",
        "up",
        "USD/case",
    ),
    MetricSpec(
        "latency_mean_ms", "mean", "latency_ms_n", "latency_ms_sum", "latency_ms_sumsq", "up", "ms"
    ),
    MetricSpec("latency_p95_ms", "quantile", "latency_ms_n", "", "", "up", "ms"),
    MetricSpec(
        "tokens_mean", "mean", "tokens_n", "tokens_sum", "tokens_sumsq", "up", "tokens/case"
    ),
)
METRIC_BY_NAME: dict[str, MetricSpec] = {m.name: m for m in METRICS}
KIND_BY_NAME: dict[str, str] = {m.name: m.kind for m in METRICS}
METHOD_BY_KIND: dict[str, str] = {
    "rate": "newcombe_wilson",
    "mean": "welch",
    "quantile": "bootstrap_histogram",
}
METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
STAT_COLUMNS: tuple[str, ...] = (
    "n",
    "escalated",
    "reworked",
    "policy_violation",
    "refused",
    "escalated_n",
    "reworked_n",
    "policy_violation_n",
    "refused_n",
    "quality_n",
    "quality_score_sum",
    "quality_score_sumsq",
    "unit_cost_n",
    "unit_cost_sum",
    "unit_cost_sumsq",
    "latency_ms_n",
    "latency_ms_sum",
    "latency_ms_sumsq",
    "tokens_n",
    "tokens_sum",
    "tokens_sumsq",
)


def unit_cost_stats(policy: Policy) -> list[pl.Expr]:
    """``unit_cost_sum``/``unit_cost_sumsq`` (``analytics.rollup.unit_cost_columns``) and
    ``unit_cost_n``: the cases behind them, the smallest valid count of the four components
    (equal to ``n`` on clean data; with invalid values left out the components' sums cover
    slightly different cases, a documented approximation)."""
    return [
        *unit_cost_columns(policy.costs),
        pl.min_horizontal(
            "model_cost_usd_n", "handling_time_s_n", "reworked_n", "escalated_n"
        ).alias("unit_cost_n"),
    ]


@dataclass(frozen=True)
class MetricRule:
    """How one metric is judged in a comparison."""

    name: str
    kind: Kind
    role: Role
    worse: Literal["up", "down"]
    margin: float

    @property
    def sign(self) -> float:
        return 1.0 if self.worse == "up" else -1.0

    @property
    def factor(self) -> float:
        """``c`` in the contrast ``new - c * reference`` that is 0 at the margin."""
        return 1.0 + self.sign * self.margin


def metric_rules(policy: Policy) -> dict[str, MetricRule]:
    """Direction, margin and role of every compared metric under ``policy`` (see module doc).

    Raises ``DataError`` when the policy names a decision-quality metric this module cannot
    compute."""
    unknown = sorted(set(policy.decision_quality_metrics) - set(METRIC_BY_NAME))
    if unknown:
        raise DataError(
            "policy: decision_quality_metrics names metric(s) the comparison cannot compute: "
            + ", ".join(unknown)
            + "; known: "
            + ", ".join(METRIC_NAMES)
        )
    rules = {}
    for spec in METRICS:
        dq = policy.decision_quality_metrics.get(spec.name)
        if dq is not None:
            rules[spec.name] = MetricRule(
                spec.name, spec.kind, "decision_quality", dq.worse, dq.margin
            )
        else:
            rules[spec.name] = MetricRule(spec.name, spec.kind, "operational", spec.worse, 0.0)
    return rules


@dataclass(frozen=True)
class ComparisonSettings:
    """The ``comparison`` policy section, checked."""

    multiple_testing: Literal["holm", "bh"]
    min_cases_per_arm: int
    min_cases_per_segment: int
    bootstrap_samples: int
    seed: int
    alpha: float
    window: timedelta
    collapse_order: tuple[str, ...] = ("customer_segment", "language", "criticality", "task_type")
    interim_alpha_share: float = 0.1


def settings(policy: Policy) -> ComparisonSettings:
    """The comparison settings of ``policy`` (``DataError`` when a key is missing or invalid)."""
    sec = policy.section("comparison")

    def need(key: str) -> Any:
        if key not in sec:
            raise DataError(f"policy: comparison.{key} is missing")
        return sec[key]

    method = str(need("multiple_testing")).lower()
    if method not in ("holm", "bh"):
        raise DataError("policy: comparison.multiple_testing must be holm or bh")
    ints = {}
    for key, low in (
        ("min_cases_per_arm", 1),
        ("min_cases_per_segment", 1),
        ("bootstrap_samples", 100),
        ("seed", 0),
    ):
        value = need(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise DataError(f"policy: comparison.{key} must be an integer >= {low}")
        ints[key] = value
    order = sec.get("collapse_order", list(ComparisonSettings.collapse_order))
    if not isinstance(order, list | tuple) or sorted(order) != sorted(SEGMENT_COLUMNS):
        raise DataError(
            "policy: comparison.collapse_order must list each of "
            + ", ".join(SEGMENT_COLUMNS)
            + " once"
        )
    share = sec.get("interim_alpha_share", ComparisonSettings.interim_alpha_share)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
        raise DataError("policy: comparison.interim_alpha_share must be a number in (0, 1)")
    return ComparisonSettings(
        multiple_testing=method,  # type: ignore[arg-type]
        alpha=policy.alpha,
        window=timedelta(days=policy.observation_window_days),
        collapse_order=tuple(order),
        interim_alpha_share=float(share),
        **ints,
    )


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one comparison (or of one segment of it).

    Values are in the metric's unit (a share for rates, USD/case for cost, ms for latency).
    ``estimate`` and its interval are the mix-standardised difference new - reference;
    ``relative`` is ``new / reference - 1``; ``margin_abs`` is the margin in the metric's unit
    (signed: positive when up is worse). ``naive_*`` is the same difference without
    standardisation. p-values: ``p_value`` two-sided for no difference; ``p_worse`` one-sided for
    a degradation beyond the margin; ``p_better`` one-sided for an improvement; ``*_adjusted``
    after the multiple-testing adjustment of its family.

    Overall rows only: ``p_worse_sequential`` / ``p_noninf_sequential`` are the sequential
    p-values over the daily looks so far (``analytics.estimator.sequential_p``), the
    ``*_adjusted`` values Holm / BH over the decision family of those; ``p_noninf`` tests
    non-inferiority within ``noninferiority_margin_abs`` (the margin in the metric's unit used
    for "go"); ``standardised_share`` is the share of the new arm's cases standardised on their
    own segment; ``effective_n_ref`` the reference's effective sample size; ``mde`` the smallest
    true difference (metric unit, signed in the worse direction) the last look detects with 80 %
    power at the current sample size; ``cases_needed`` the further new-version cases needed to
    show non-inferiority if the estimate stays where it is (0 when shown, None when the estimate
    itself is beyond the margin); ``in_family`` whether the metric is in the decision family.
    """

    metric: str
    role: Role
    method: str
    worse: Literal["up", "down"]
    margin: float
    n_new: int
    n_ref: int
    new_value: float | None
    ref_value: float | None
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    relative: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    margin_abs: float | None
    naive_new_value: float | None
    naive_ref_value: float | None
    naive_estimate: float | None
    naive_ci_low: float | None
    naive_ci_high: float | None
    p_value: float | None
    p_worse: float | None
    p_worse_adjusted: float | None
    p_better: float | None
    p_better_adjusted: float | None
    non_inferior: bool | None
    verdict: Verdict
    reason: str
    standardised_share: float | None = None
    segment: str = "all"
    se: float | None = None
    p_worse_sequential: float | None = None
    p_noninf: float | None = None
    p_noninf_sequential: float | None = None
    noninferiority_margin_abs: float | None = None
    effective_n_ref: float | None = None
    mde: float | None = None
    cases_needed: int | None = None
    in_family: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return clean({f.name: getattr(self, f.name) for f in fields(self)})


@dataclass(frozen=True)
class ReleaseComparison:
    """A release compared with the previous release of its system (see module docstring).

    ``metrics`` maps metric name to its ``MetricComparison``; ``segments`` is a tidy frame of the
    per-segment results (one row per segment and metric, columns of ``MetricComparison``), for the
    review report's forest plot.
    """

    release_id: str
    system: str | None
    previous_release_id: str | None
    ref_release_id: str | None  # the reference version (see ``comparison_windows``)
    released_at: datetime | None
    window_start: datetime | None  # midnight of the release day: the new arm's first day
    window_end: datetime | None  # exclusive
    ref_start: datetime | None  # the reference arm's first day
    as_of: datetime
    n_new: int
    n_ref: int
    status: Status
    message: str
    metrics: Mapping[str, MetricComparison]
    segments: pl.DataFrame = field(repr=False, compare=False)
    multiple_testing: str = "holm"
    alpha: float = 0.05
    control: str | None = None  # "concurrent", "pre_release" (weaker) or None (no comparison)
    concurrent_share: float | None = None  # new-version cases on days with concurrent control
    looks_done: int = 0
    looks_planned: int = 0
    look_time: datetime | None = None  # end of the last complete look
    family: tuple[str, ...] = ()  # the metrics of the one multiple-testing family
    detectable_at: datetime | None = None  # first look at which a decision-quality metric was worse
    detectable_metrics: tuple[str, ...] = ()
    looks: pl.DataFrame | None = field(default=None, repr=False, compare=False)

    def metric(self, name: str) -> MetricComparison:
        return self.metrics[name]

    def worse(self, role: Role | None = "decision_quality") -> tuple[str, ...]:
        """Metrics judged worse (of ``role``; all metrics when None)."""
        return tuple(
            name
            for name, m in self.metrics.items()
            if m.verdict == "worse" and (role is None or m.role == role)
        )

    def metrics_frame(self) -> pl.DataFrame:
        """The overall results as a tidy frame, one row per metric."""
        rows = [m.to_dict() for m in self.metrics.values()]
        return pl.DataFrame(rows, schema=_RESULT_SCHEMA).with_columns(
            pl.lit(self.release_id).alias("release_id")
        )

    def to_dict(self, segments: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "release_id": self.release_id,
            "system": self.system,
            "previous_release_id": self.previous_release_id,
            "ref_release_id": self.ref_release_id,
            "released_at": self.released_at,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "ref_start": self.ref_start,
            "as_of": self.as_of,
            "n_new": self.n_new,
            "n_ref": self.n_ref,
            "status": self.status,
            "message": self.message,
            "multiple_testing": self.multiple_testing,
            "alpha": self.alpha,
            "control": self.control,
            "control_weaker": self.control in ("pre_release", "mixed"),
            "concurrent_share": self.concurrent_share,
            "looks_done": self.looks_done,
            "looks_planned": self.looks_planned,
            "look_time": self.look_time,
            "family": list(self.family),
            "detectable_at": self.detectable_at,
            "detectable_metrics": list(self.detectable_metrics),
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }
        if segments:
            out["segments"] = self.segments.to_dicts()
        return clean(out)

    def diagnostics(self) -> dict[str, Any]:
        """The comparison's design and, per metric of the decision family, its verdict and what
        it can see: the ``telemetry_comparison`` object of ``analytics releases --format json``."""
        keys = (
            "verdict",
            "estimate",
            "ci_low",
            "ci_high",
            "standardised_share",
            "effective_n_ref",
            "mde",
            "cases_needed",
            "non_inferior",
        )
        return clean(
            {
                "status": self.status,
                "message": self.message,
                "ref_release_id": self.ref_release_id,
                "control": self.control,
                "control_weaker": self.control in ("pre_release", "mixed"),
                "concurrent_share": self.concurrent_share,
                "looks_done": self.looks_done,
                "looks_planned": self.looks_planned,
                "n_new": self.n_new,
                "n_ref": self.n_ref,
                "metrics": {
                    name: {k: getattr(self.metrics[name], k) for k in keys}
                    for name in self.family
                    if name in self.metrics
                },
            }
        )

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>{self.release_id}</b> vs {self.ref_release_id} - {self.status}"
            f" ({self.message}); n new {self.n_new}, n reference {self.n_ref}</p>"
        )
        cols = ["metric", "verdict", "estimate", "ci_low", "ci_high", "relative", "reason"]
        return head + self.metrics_frame().select(cols)._repr_html_()


_RESULT_SCHEMA: dict[str, pl.DataType] = {
    f.name: (
        pl.Float64()
        if "float" in str(f.type)
        else pl.Int64()
        if str(f.type) == "int"
        else pl.Boolean()
        if "bool" in str(f.type)
        else pl.String()
    )
    for f in fields(MetricComparison)
}


# ---------------------------------------------------------------- windows


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
    policy: Policy,
    as_of: datetime,
    rollup: Rollup | None = None,
) -> pl.DataFrame:
    """One row per requested release: ``release_id, system, released_at, previous_release_id,
    ref_release_id, window_start, window_end, ref_start`` (UTC datetimes; see module docstring)
    and ``last_day``, the last UTC day counted at ``as_of``. Raises ``DataError`` for an unknown
    release id.

    ``ref_release_id`` is the reference version: the previous release, or, when that release
    served fewer than ``comparison.min_cases_per_arm`` cases in the reference window (it was
    rolled back or halted early) and ``rollup`` is given, the latest earlier release of the
    system that did: the version the release actually replaced in production."""
    known = set(units["release_id"].to_list())
    missing = [r for r in release_ids if r not in known]
    if missing:
        raise DataError("unknown release(s): " + ", ".join(sorted(set(missing))))
    window = timedelta(days=policy.observation_window_days)
    windows = (
        units.filter(pl.col("release_id").is_in(list(release_ids)))
        .select("release_id", "system", "released_at", "previous_release_id")
        .with_columns(
            pl.col("released_at").dt.truncate("1d").alias("window_start"),
            _ceil_day(pl.col("released_at") + window).alias("window_end"),
            (pl.col("released_at") - window).dt.truncate("1d").alias("ref_start"),
            pl.lit(last_day(as_of)).alias("last_day"),
        )
        .sort("release_id")
    )
    return (
        windows.join(
            _reference_releases(units, windows, rollup, settings(policy).min_cases_per_arm),
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
    day_to = pl.min_horizontal(
        (pl.col("window_end") - pl.duration(days=1)).dt.date(), pl.col("last_day")
    )
    targets = windows.filter(pl.col("previous_release_id").is_not_null()).select(
        "release_id",
        "system",
        "released_at",
        "previous_release_id",
        pl.col("ref_start").dt.date().alias("day_from"),
        day_to.alias("day_to"),
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


def _arm_windows(windows: pl.DataFrame) -> pl.DataFrame:
    """Rows (target, arm, source, system, day_from, day_to) of the days each arm counts."""
    day_to = pl.min_horizontal(
        (pl.col("window_end") - pl.duration(days=1)).dt.date(), pl.col("last_day")
    )
    new = windows.filter(pl.col("released_at").is_not_null()).select(
        pl.col("release_id").alias("target"),
        pl.lit("new").alias("arm"),
        pl.col("release_id").alias("source"),
        "system",
        pl.col("window_start").dt.date().alias("day_from"),
        day_to.alias("day_to"),
    )
    ref = windows.filter(
        pl.col("released_at").is_not_null() & pl.col("ref_release_id").is_not_null()
    ).select(
        pl.col("release_id").alias("target"),
        pl.lit("ref").alias("arm"),
        pl.col("ref_release_id").alias("source"),
        "system",
        pl.col("ref_start").dt.date().alias("day_from"),
        day_to.alias("day_to"),
    )
    return pl.concat([new, ref])


# ---------------------------------------------------------------- sufficient statistics


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


def _arm_stats(
    cases: pl.DataFrame, arms: pl.DataFrame, policy: Policy, keys: Sequence[str] = ("target",)
) -> pl.DataFrame:
    """Sums of ``STAT_COLUMNS`` per (keys, arm, segment), with the segment's label and its
    four columns."""
    return (
        _window_rows(cases, arms)
        .with_columns(*unit_cost_stats(policy))
        .group_by([*keys, "arm", *SEGMENT_COLUMNS])
        .agg([pl.col(c).sum() for c in STAT_COLUMNS])
        .with_columns(segment_label().alias("segment"))
        .sort([*keys, "arm", "segment"])
        .collect()
    )


def assign_strata(stats: pl.DataFrame, keys: Sequence[str], min_cases: int) -> pl.DataFrame:
    """Map each (keys, segment) to its stratum: itself when both arms have ``min_cases`` cases,
    else ``other``; segments without new-arm cases are dropped, and ``other`` is dropped when it
    is still below ``min_cases`` in an arm. Returns (keys, segment, stratum)."""
    keys = list(keys)
    per = stats.group_by([*keys, "segment"]).agg(
        pl.col("n").filter(pl.col("arm") == "new").sum().alias("n_new"),
        pl.col("n").filter(pl.col("arm") == "ref").sum().alias("n_ref"),
    )
    per = per.filter(pl.col("n_new") > 0).with_columns(
        pl.when((pl.col("n_new") >= min_cases) & (pl.col("n_ref") >= min_cases))
        .then(pl.col("segment"))
        .otherwise(pl.lit(OTHER))
        .alias("stratum")
    )
    other = (
        per.filter(pl.col("stratum") == OTHER)
        .group_by(keys)
        .agg(pl.col("n_new").sum(), pl.col("n_ref").sum())
        .filter((pl.col("n_new") < min_cases) | (pl.col("n_ref") < min_cases))
        .select(*keys, pl.lit(OTHER).alias("stratum"))
    )
    return (
        per.join(other, on=[*keys, "stratum"], how="anti")
        .select(*keys, "segment", "stratum")
        .sort([*keys, "segment"])
    )


def _long(stats: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Stats per (keys, arm, stratum) in long form: one row per metric with n_case, cnt, s1, s2."""
    frames = []
    for spec in METRICS:
        if spec.kind == "quantile":
            continue
        frames.append(
            stats.select(
                *keys,
                "arm",
                "stratum",
                pl.lit(spec.name).alias("metric"),
                pl.lit(spec.kind).alias("kind"),
                pl.col("n").cast(pl.Float64).alias("n_case"),
                pl.col(spec.count).cast(pl.Float64).alias("cnt"),
                pl.col(spec.total).cast(pl.Float64).alias("s1"),
                pl.col(spec.total_sq).cast(pl.Float64).alias("s2"),
            )
        )
    return pl.concat(frames)


def stratified(
    stats: pl.DataFrame, keys: Sequence[str], strata: pl.DataFrame | None
) -> pl.DataFrame:
    """Per (keys, arm, stratum) sums: the strata of ``assign_strata`` (only the kept ones), or a
    single stratum ``all`` with every case when ``strata`` is None (the naive comparison)."""
    keys = list(keys)
    if strata is None:
        mapped = stats.with_columns(pl.lit("all").alias("stratum"))
    else:
        mapped = stats.join(strata, on=[*keys, "segment"], how="inner")
    return (
        mapped.group_by([*keys, "arm", "stratum"])
        .agg([pl.col(c).sum() for c in STAT_COLUMNS])
        .sort([*keys, "arm", "stratum"])
    )


def standardise(long: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Mix-standardised arm values per (keys, metric), wide: for each arm ``M`` (weighted mean),
    ``V`` (variance of M), ``D`` (Satterthwaite denominator part), ``K`` (sum of w^2/n; the Kish
    effective size is 1/K), ``N`` (cases with the metric, all strata); and ``coverage``.

    Weights are the new arm's case shares over the strata valid for the metric (at least 1 case
    per arm for rates, 2 for means)."""
    keys = list(keys)
    kmin = pl.when(pl.col("kind") == "rate").then(1.0).otherwise(2.0)
    pair = long.group_by([*keys, "metric", "stratum"]).agg(
        pl.col("cnt").filter(pl.col("arm") == "new").sum().alias("cnt_new"),
        pl.col("cnt").filter(pl.col("arm") == "ref").sum().alias("cnt_ref"),
        pl.col("n_case").filter(pl.col("arm") == "new").sum().alias("case_new"),
        pl.col("kind").first(),
    )
    pair = pair.with_columns(
        ((pl.col("cnt_new") >= kmin) & (pl.col("cnt_ref") >= kmin)).alias("valid")
    )
    cover = pair.group_by([*keys, "metric"]).agg(
        pl.col("case_new").filter(pl.col("valid")).sum().alias("covered"),
        (pl.col("case_new").filter(pl.col("valid")).sum() / pl.col("case_new").sum()).alias(
            "coverage"
        ),
    )
    weights = pair.filter(pl.col("valid")).with_columns(
        (pl.col("case_new") / pl.col("case_new").sum().over([*keys, "metric"])).alias("w")
    )
    rows = long.join(
        weights.select(*keys, "metric", "stratum", "w"), on=[*keys, "metric", "stratum"]
    )
    mean = pl.col("s1") / pl.col("cnt")
    var = (
        pl.when(pl.col("kind") == "rate")
        .then(mean * (1 - mean))
        .otherwise((pl.col("s2") - pl.col("s1") * mean) / (pl.col("cnt") - 1))
        .clip(lower_bound=0.0)
    )
    part = pl.col("w") ** 2 * var / pl.col("cnt")
    agg = rows.group_by([*keys, "metric", "arm"]).agg(
        (pl.col("w") * mean).sum().alias("M"),
        part.sum().alias("V"),
        pl.when(pl.col("cnt") > 1)
        .then(part**2 / (pl.col("cnt") - 1))
        .otherwise(0.0)
        .sum()
        .alias("D"),
        (pl.col("w") ** 2 / pl.col("cnt")).sum().alias("K"),
    )
    totals = long.group_by([*keys, "metric", "arm"]).agg(pl.col("cnt").sum().alias("N"))
    agg = totals.join(agg, on=[*keys, "metric", "arm"], how="left")
    wide = agg.group_by([*keys, "metric"]).agg(
        *[
            pl.col(c).filter(pl.col("arm") == arm).first().alias(f"{c}_{arm}")
            for arm in ARMS
            for c in ("M", "V", "D", "K", "N")
        ]
    )
    return wide.join(cover, on=[*keys, "metric"], how="left").sort([*keys, "metric"])


# ---------------------------------------------------------------- interval methods


def wilson_bounds(x: Any, n: Any, z: Any) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of ``x`` events in ``n`` trials at normal multiplier ``z``
    (vectorised; ``x`` and ``n`` may be fractional effective counts)."""
    x, n, z = (np.asarray(a, dtype=float) for a in (x, n, z))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        z2 = z * z
        denom = 1 + z2 / n
        centre = (p + z2 / (2 * n)) / denom
        half = z * np.sqrt(np.clip(p * (1 - p), 0, None) / n + z2 / (4 * n * n)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def rate_contrast_bounds(
    p_new: Any, n_new: Any, p_ref: Any, n_ref: Any, c: Any, z: Any
) -> tuple[np.ndarray, np.ndarray]:
    """MOVER (Newcombe hybrid score) bounds of ``p_new - c * p_ref`` (c >= 0) from the two
    arms' Wilson intervals at multiplier ``z``; ``n_*`` are (effective) sample sizes."""
    p_new, p_ref, c = (np.asarray(a, dtype=float) for a in (p_new, p_ref, c))
    ln, un = wilson_bounds(p_new * np.asarray(n_new, float), n_new, z)
    lr, ur = wilson_bounds(p_ref * np.asarray(n_ref, float), n_ref, z)
    est = p_new - c * p_ref
    low = est - np.sqrt((p_new - ln) ** 2 + (c * (ur - p_ref)) ** 2)
    high = est + np.sqrt((un - p_new) ** 2 + (c * (p_ref - lr)) ** 2)
    return low, high


def mean_contrast_bounds(
    m_new: Any, v_new: Any, m_ref: Any, v_ref: Any, c: Any, z: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of ``m_new - c * m_ref`` with the variances of the two (independent) means."""
    m_new, v_new, m_ref, v_ref, c, z = (
        np.asarray(a, dtype=float) for a in (m_new, v_new, m_ref, v_ref, c, z)
    )
    est = m_new - c * m_ref
    half = z * np.sqrt(v_new + c * c * v_ref)
    return est - half, est + half


def welch_df(v_new: Any, d_new: Any, v_ref: Any, d_ref: Any, c: Any = 1.0) -> np.ndarray:
    """Satterthwaite degrees of freedom of ``m_new - c * m_ref`` (``d`` = sum over strata of
    (w^2 s^2 / n)^2 / (n - 1))."""
    v_new, d_new, v_ref, d_ref, c = (
        np.asarray(a, dtype=float) for a in (v_new, d_new, v_ref, d_ref, c)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (v_new + c**2 * v_ref) ** 2 / (d_new + c**4 * d_ref)
    return np.where(np.isfinite(df) & (df > 0), df, 1e9)


def _bisect(fn: Any, lo: np.ndarray, hi: np.ndarray, iters: int = 100) -> np.ndarray:
    """Root of elementwise decreasing ``fn`` in [lo, hi] (fn(lo) > 0 >= fn(hi) assumed)."""
    lo, hi = lo.astype(float).copy(), hi.astype(float).copy()
    for _ in range(iters):
        mid = (lo + hi) / 2
        pos = fn(mid) > 0
        lo = np.where(pos, mid, lo)
        hi = np.where(pos, hi, mid)
    return (lo + hi) / 2


Z_MAX = 40.0


def rate_signed_z(
    p_new: Any, n_new: Any, p_ref: Any, n_ref: Any, c: Any, offset: Any = 0.0
) -> np.ndarray:
    """The signed normal multiplier at which the MOVER interval of ``p_new - c * p_ref - offset``
    just reaches 0 (positive when the estimate is above 0): inverting the interval gives the
    one-sided p-value ``norm.sf(direction * z)`` for ``direction * (p_new - c * p_ref - offset)
    > 0``."""
    p_new, n_new, p_ref, n_ref, c, offset = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (p_new, n_new, p_ref, n_ref, c, offset))
    )
    est = p_new - c * p_ref - offset
    pos = est > 0

    def gap(z: np.ndarray) -> np.ndarray:
        low, high = rate_contrast_bounds(p_new, n_new, p_ref, n_ref, c, z)
        return np.where(pos, low - offset, offset - high)

    lo = np.zeros_like(est)
    hi = np.full_like(est, Z_MAX)
    zstar = np.where(gap(hi) > 0, Z_MAX, _bisect(gap, lo, hi, 48))
    return np.where(est == 0, 0.0, np.where(pos, zstar, -zstar))


def rate_p_value(
    p_new: Any, n_new: Any, p_ref: Any, n_ref: Any, c: Any, direction: Any
) -> np.ndarray:
    """One-sided p-value for ``direction * (p_new - c * p_ref) > 0`` by inverting the MOVER
    interval (the level at which its bound just reaches 0); vectorised."""
    return sps.norm.sf(np.asarray(direction, float) * rate_signed_z(p_new, n_new, p_ref, n_ref, c))


def rate_ratio_bounds(
    p_new: Any, n_new: Any, p_ref: Any, n_ref: Any, z: Any
) -> tuple[np.ndarray, np.ndarray]:
    """MOVER-R interval of the ratio ``p_new / p_ref`` (Donner & Zou 2012) from the Wilson
    intervals: the ratios at which the MOVER bounds of ``p_new - rho * p_ref`` reach 0. The
    upper limit is inf when the reference's lower Wilson limit is 0."""
    p1, p2 = np.asarray(p_new, float), np.asarray(p_ref, float)
    l1, u1 = wilson_bounds(p1 * np.asarray(n_new, float), n_new, z)
    l2, u2 = wilson_bounds(p2 * np.asarray(n_ref, float), n_ref, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        a_low = u2 * (2 * p2 - u2)
        disc = np.clip((p1 * p2) ** 2 - l1 * u2 * (2 * p1 - l1) * (2 * p2 - u2), 0, None)
        lower = np.where(
            a_low == 0,
            l1 * (2 * p1 - l1) / (2 * p1 * p2),
            (p1 * p2 - np.sqrt(disc)) / a_low,
        )
        lower = np.where(l1 <= 0, 0.0, lower)
        a_up = l2 * (2 * p2 - l2)
        disc = np.clip((p1 * p2) ** 2 - u1 * l2 * (2 * p1 - u1) * (2 * p2 - l2), 0, None)
        upper = np.where(a_up > 0, (p1 * p2 + np.sqrt(disc)) / a_up, np.inf)
    return lower, upper


def fieller_bounds(
    m_new: Any, v_new: Any, m_ref: Any, v_ref: Any, t: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Fieller's interval of the ratio ``m_new / m_ref`` of two independent means: the ratios
    rho with ``|m_new - rho * m_ref| <= t * sqrt(v_new + rho^2 v_ref)``. NaN when unbounded (the
    reference mean is not distinguishable from 0); the lower limit is clipped at 0."""
    m1, v1, m2, v2, t = (np.asarray(x, float) for x in (m_new, v_new, m_ref, v_ref, t))
    a = m2 * m2 - t * t * v2
    c = m1 * m1 - t * t * v1
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(np.clip((m1 * m2) ** 2 - a * c, 0, None))
        lower = np.where(a > 0, np.clip((m1 * m2 - root) / a, 0, None), np.nan)
        upper = np.where(a > 0, (m1 * m2 + root) / a, np.nan)
    return lower, upper


# ---------------------------------------------------------------- multiple testing


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN entries are left out and stay NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adj
    return out


def benjamini_hochberg(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (NaN entries stay NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    out[order] = adj
    return out


def adjust(p: Sequence[float] | np.ndarray, method: str) -> np.ndarray:
    """Adjusted p-values of one family by ``holm`` or ``bh``."""
    return holm(p) if method == "holm" else benjamini_hochberg(p)


def _adjust_groups(frame: pl.DataFrame, by: Sequence[str], column: str, method: str) -> np.ndarray:
    """Adjust ``column`` within the groups ``by`` (families), in the frame's row order."""
    p = frame[column].to_numpy().astype(float)
    out = np.full_like(p, np.nan)
    if frame.height == 0:
        return out
    groups = frame.select(pl.struct(list(by)).rank("dense").alias("g"))["g"].to_numpy()
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    for idx in np.split(order, bounds):
        out[idx] = adjust(p[idx], method)
    return out


# ---------------------------------------------------------------- inference


def _rules_frame(rules: Mapping[str, MetricRule]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "metric": [r.name for r in rules.values()],
            "role": [r.role for r in rules.values()],
            "worse": [r.worse for r in rules.values()],
            "margin": [r.margin for r in rules.values()],
            "sign": [r.sign for r in rules.values()],
            "factor": [r.factor for r in rules.values()],
        }
    )


def _rate_inference(g: Mapping[str, np.ndarray], alpha: float) -> dict[str, np.ndarray]:
    """Intervals and p-values of rate rows (MOVER/Wilson with Kish effective sizes)."""
    z = float(sps.norm.ppf(1 - alpha / 2))
    mn, mr, s, c = g["M_new"], g["M_ref"], g["sign"], g["factor"]
    kn, kr = 1.0 / g["K_new"], 1.0 / g["K_ref"]
    lo, hi = rate_contrast_bounds(mn, kn, mr, kr, 1.0, z)
    rlo, rhi = rate_ratio_bounds(mn, kn, mr, kr, z)
    r1 = rate_signed_z(mn, kn, mr, kr, 1.0)
    rc = rate_signed_z(mn, kn, mr, kr, c)
    return {
        "ci_low": lo,
        "ci_high": hi,
        "ratio_low": rlo,
        "ratio_high": rhi,
        "p_worse": sps.norm.sf(s * rc),
        "p_noninf": sps.norm.sf(-s * rc),
        "p_better": sps.norm.sf(-s * r1),
        "p_value": np.minimum(1.0, 2 * sps.norm.sf(np.abs(r1))),
        "se": np.sqrt(mn * (1 - mn) * g["K_new"] + mr * (1 - mr) * g["K_ref"]),
    }


def _t_stat(g: Mapping[str, np.ndarray], c: Any) -> tuple[np.ndarray, np.ndarray]:
    """Welch t statistic and Satterthwaite df of ``M_new - c * M_ref``."""
    vn, vr = g["V_new"], g["V_ref"]
    se = np.sqrt(vn + c * c * vr)
    diff = g["M_new"] - c * g["M_ref"]
    t = np.where(se > 0, diff / se, np.sign(diff) * np.inf)
    return t, welch_df(vn, g["D_new"], vr, g["D_ref"], c)


def _mean_inference(g: Mapping[str, np.ndarray], alpha: float) -> dict[str, np.ndarray]:
    """Intervals and p-values of mean rows (Welch, Fieller)."""
    mn, mr, vn, vr, s = g["M_new"], g["M_ref"], g["V_new"], g["V_ref"], g["sign"]
    t1 = sps.t.ppf(1 - alpha / 2, welch_df(vn, g["D_new"], vr, g["D_ref"], 1.0))
    lo, hi = mean_contrast_bounds(mn, vn, mr, vr, 1.0, t1)
    rlo, rhi = fieller_bounds(mn, vn, mr, vr, t1)
    tc, dfc = _t_stat(g, g["factor"])
    t_1, df_1 = _t_stat(g, 1.0)

    def p(x: np.ndarray, df: np.ndarray) -> np.ndarray:
        out = sps.t.sf(x, df)
        return np.where(np.isnan(out), 0.5, out)

    return {
        "ci_low": lo,
        "ci_high": hi,
        "ratio_low": rlo,
        "ratio_high": rhi,
        "p_worse": p(s * tc, dfc),
        "p_noninf": p(-s * tc, dfc),
        "p_better": p(-s * t_1, df_1),
        "p_value": np.minimum(1.0, 2 * p(np.abs(t_1), df_1)),
        "se": np.sqrt(vn + vr),
    }


def infer(wide: pl.DataFrame, rules: Mapping[str, MetricRule], alpha: float) -> pl.DataFrame:
    """Estimates, intervals and p-values for each row of ``standardise``'s output (rates by the
    MOVER/Wilson method, means by Welch and Fieller; see the module docstring)."""
    df = wide.join(_rules_frame(rules), on="metric", how="left").with_columns(
        pl.col("metric").replace_strict(KIND_BY_NAME, return_dtype=pl.String).alias("kind")
    )
    out = {k: np.full(df.height, np.nan) for k in _INFER_COLUMNS}
    if df.height == 0:
        return df.with_columns(*[pl.Series(k, v, dtype=pl.Float64) for k, v in out.items()])
    cols = (
        "M_new",
        "M_ref",
        "V_new",
        "V_ref",
        "D_new",
        "D_ref",
        "K_new",
        "K_ref",
        "sign",
        "factor",
        "margin",
    )
    a = {c: df[c].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in cols}
    is_rate = (df["kind"] == "rate").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for mask, method in ((is_rate, _rate_inference), (~is_rate, _mean_inference)):
            if not mask.any():
                continue
            g = {k: v[mask] for k, v in a.items()}
            mn, mr = g["M_new"], g["M_ref"]
            res = method(g, alpha)
            values = {
                "new_value": mn,
                "ref_value": mr,
                "estimate": mn - mr,
                "relative": np.where(mr > 0, mn / mr - 1, np.nan),
                "relative_ci_low": np.where(mr > 0, res.pop("ratio_low") - 1, np.nan),
                "relative_ci_high": np.where(mr > 0, res.pop("ratio_high") - 1, np.nan),
                "margin_abs": g["sign"] * g["margin"] * mr,
                **res,
            }
            for k, v in values.items():
                out[k][mask] = v
    return df.with_columns(
        *[
            pl.Series(k, np.where(np.isfinite(v), v, np.nan), dtype=pl.Float64)
            for k, v in out.items()
        ]
    )


_INFER_COLUMNS = (
    "new_value",
    "ref_value",
    "estimate",
    "ci_low",
    "ci_high",
    "relative",
    "relative_ci_low",
    "relative_ci_high",
    "margin_abs",
    "p_value",
    "p_worse",
    "p_better",
    "p_noninf",
    "se",
)


# ---------------------------------------------------------------- p95 latency (bootstrap)


def _seed(seed: int, *parts: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, *[zlib.crc32(p.encode()) for p in parts]])


def bootstrap_quantile(
    bins: np.ndarray,
    probs: np.ndarray,
    n: int,
    q: float,
    samples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``samples`` bootstrap replicates of the ``q`` quantile (ms) of a latency histogram: the
    quantile (as ``histogram_quantile`` takes it) of ``n`` cases resampled from ``bins`` with
    probabilities ``probs`` (a multinomial resample).

    The replicates are drawn exactly, without materialising the resample: a resample's quantile
    is its k-th smallest case, ``k = ceil(q n)``, and the k-th smallest of ``n`` independent
    draws from the histogram's distribution F is ``F^-1(U)`` with ``U ~ Beta(k, n - k + 1)``
    (the k-th uniform order statistic), ``F^-1(u)`` being the first bin whose cumulative share
    reaches ``u``. One Beta draw per replicate instead of ``n`` multinomial cells."""
    order = np.argsort(bins)
    bins = np.asarray(bins)[order]
    probs = np.asarray(probs, float)[order]
    cum = np.cumsum(probs) / probs.sum()
    cum[-1] = 1.0
    k = max(1, min(n, math.ceil(q * n - 1e-12 * n)))
    u = rng.beta(k, n - k + 1, size=samples)
    idx = np.minimum(np.searchsorted(cum, u, side="left"), len(cum) - 1)
    return latency_bin_values()[bins[idx]]


# ---------------------------------------------------------------- verdicts


def _reason_head(
    min_cases: int,
    too_few: pl.Expr,
    computable: pl.Expr,
    half: float,
    label: str,
    no_data: str,
    kind: str,
) -> Any:
    """The first branches of a verdict's reason, shared by the overall and per-segment
    verdicts: blocked, too few cases, not computable, worse, better (``kind`` prefixes the
    p-value's name, e.g. "sequential ")."""
    pct = (pl.col("margin") * 100).round(1).cast(pl.String)
    return (
        pl.when(pl.col("_blocked").is_not_null())
        .then(pl.col("_blocked"))
        .when(too_few)
        .then(
            pl.format(
                "fewer than {} cases with the metric in an arm (new {}, reference {})",
                pl.lit(min_cases),
                pl.col("N_new").fill_null(0).cast(pl.Int64),
                pl.col("N_ref").fill_null(0).cast(pl.Int64),
            )
        )
        .when(~computable)
        .then(pl.lit(no_data))
        .when(pl.col("p_worse_adjusted") < half)
        .then(
            pl.format(
                "beyond the {}% margin in the worse direction ({}{} p = {})",
                pct,
                pl.lit(kind),
                pl.lit(label),
                pl.col("p_worse_adjusted").round_sig_figs(3).cast(pl.String),
            )
        )
        .when(pl.col("p_better_adjusted") < half)
        .then(
            pl.format(
                "better than the reference ({}{} p = {})",
                pl.lit(kind),
                pl.lit(label),
                pl.col("p_better_adjusted").round_sig_figs(3).cast(pl.String),
            )
        )
    )


def _verdict_expr(half: float) -> pl.Expr:
    """The verdict of a row from its usability and adjusted p-values (one-sided level half)."""
    return (
        pl.when(~pl.col("_usable"))
        .then(pl.lit("insufficient_data"))
        .when(pl.col("p_worse_adjusted") < half)
        .then(pl.lit("worse"))
        .when(pl.col("p_better_adjusted") < half)
        .then(pl.lit("better"))
        .otherwise(pl.lit("inconclusive"))
    )


def _verdicts(
    df: pl.DataFrame,
    families: Sequence[str],
    cfg: ComparisonSettings,
    min_cases: int,
    blocked: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Add ``p_worse_adjusted``, ``p_better_adjusted``, ``non_inferior``, ``verdict``, ``reason``.

    ``blocked`` maps a target to a reason that makes every one of its metrics
    insufficient_data (e.g. no previous release)."""
    blocked = dict(blocked or {})
    half = cfg.alpha / 2
    enough_new = pl.col("N_new").fill_null(0) >= min_cases
    enough_ref = pl.col("N_ref").fill_null(0) >= min_cases
    computable = (
        pl.col("estimate").is_not_nan()
        & pl.col("estimate").is_not_null()
        & pl.col("p_worse").is_not_nan()
        & pl.col("p_worse").is_not_null()
    )
    df = df.with_columns(
        pl.col("target")
        .replace_strict(blocked, default=None, return_dtype=pl.String)
        .alias("_blocked")
    )
    usable = computable & enough_new & enough_ref & pl.col("_blocked").is_null()
    df = df.with_columns(usable.alias("_usable"))
    pw = df.with_columns(
        pl.when(pl.col("_usable")).then(pl.col("p_worse")).alias("_pw"),
        pl.when(pl.col("_usable")).then(pl.col("p_better")).alias("_pb"),
    )
    df = df.with_columns(
        pl.Series("p_worse_adjusted", _adjust_groups(pw, families, "_pw", cfg.multiple_testing)),
        pl.Series("p_better_adjusted", _adjust_groups(pw, families, "_pb", cfg.multiple_testing)),
    ).with_columns(
        pl.col("p_worse_adjusted").fill_nan(None),
        pl.col("p_better_adjusted").fill_nan(None),
    )
    pct = (pl.col("margin") * 100).round(1).cast(pl.String)
    method = cfg.multiple_testing.upper() if cfg.multiple_testing == "bh" else "Holm"
    reason = (
        _reason_head(
            min_cases,
            ~enough_new | ~enough_ref,
            computable,
            half,
            method,
            "no segment with data in both arms, or no reference value",
            "",
        )
        .when(pl.col("p_worse") < half)
        .then(pl.lit("beyond the margin before, but not after, the multiple-testing adjustment"))
        .when(pl.col("p_noninf") < half)
        .then(pl.format("interval within the {}% margin but includes no change", pct))
        .otherwise(pl.format("interval includes the {}% margin", pct))
    )
    verdict = _verdict_expr(half)
    return df.with_columns(
        verdict.alias("verdict"),
        reason.alias("reason"),
        pl.when(pl.col("_usable")).then(pl.col("p_noninf") < half).alias("non_inferior"),
    ).drop("_blocked", "_usable")


# ---------------------------------------------------------------- decision family and go margins


def decision_family(policy: Policy) -> tuple[str, ...]:
    """The one multiple-testing family: every metric a verdict of which has a consequence, in
    catalogue order: the decision-quality metrics (telemetry failure signal of CFR-DQ), the
    judge's critical metrics (rollback) and its hold metrics (hold)."""
    judge = judge_settings(policy)
    wanted = set(policy.decision_quality_metrics) | set(judge.critical_metrics)
    wanted |= set(judge.hold_metrics)
    return tuple(m.name for m in METRICS if m.name in wanted)


def go_margins(policy: Policy) -> dict[str, tuple[float, float]]:
    """Per metric, the contrast ``(c, offset)`` whose non-inferiority "go" requires: ``new - c *
    reference - offset`` on the better side of 0. A metric with a relative margin uses it
    (``c = 1 +/- margin``); a metric with margin 0 uses ``judge.noninferiority_abs_margins`` when
    set (``c = 1``, offset = the absolute margin in the worse direction), else strict
    improvement."""
    rules = metric_rules(policy)
    absolute = judge_settings(policy).noninferiority_abs_margins
    out = {}
    for name, rule in rules.items():
        if rule.margin > 0 or name not in absolute:
            out[name] = (rule.factor, 0.0)
        else:
            out[name] = (1.0, rule.sign * absolute[name])
    return out


# ---------------------------------------------------------------- looks and inference

CELL_METRICS: tuple[MetricSpec, ...] = tuple(m for m in METRICS if m.kind != "quantile")


def _cells(cases: pl.DataFrame, arms: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """Per (target, arm, day, segment columns) sums of ``STAT_COLUMNS`` over each arm's days."""
    return (
        _window_rows(cases, arms)
        .with_columns(*unit_cost_stats(policy))
        .group_by(["target", "arm", "day", *SEGMENT_COLUMNS])
        .agg([pl.col(c).sum() for c in STAT_COLUMNS])
        .sort(["target", "arm", "day", *SEGMENT_COLUMNS])
        .collect()
    )


def _looks(
    cells: pl.DataFrame,
    windows: pl.DataFrame,
    cfg: ComparisonSettings,
    as_of: datetime,
    family: Sequence[str],
) -> tuple[dict[str, LookPlan], pl.DataFrame]:
    """Every release's look plan and the contrast of every metric at every done look (metrics
    outside the decision family at the last look only: their verdicts only report)."""
    plans: dict[str, LookPlan] = {}
    rows: list[tuple] = []
    spec = [(m.count, m.total, m.total_sq) for m in CELL_METRICS]
    tables = cell_tables(cells, spec, cfg.collapse_order)
    names = [m.name for m in CELL_METRICS]
    kinds = [m.kind for m in CELL_METRICS]
    every = [m in family for m in names]
    for w in windows.iter_rows(named=True):
        rid = w["release_id"]
        table = tables.get(rid)
        if table is None or w["released_at"] is None or w["released_at"] > as_of:
            continue
        plan, looks = plan_looks(
            table,
            target=rid,
            window_start=w["window_start"],
            window_end=w["window_end"],
            ref_start=w["ref_start"],
            as_of=as_of,
            min_day_cases=cfg.min_cases_per_segment,
            min_control_cases=cfg.min_cases_per_arm,
        )
        plans[rid] = plan
        rows += look_rows(
            table,
            looks,
            target=rid,
            names=names,
            kinds=kinds,
            every_look=every,
            min_segment_cases=cfg.min_cases_per_segment,
            min_arm_cases=cfg.min_cases_per_arm,
        )
    return plans, pl.DataFrame(rows, schema=LOOK_SCHEMA, orient="row")


def _sf(x: np.ndarray) -> np.ndarray:
    out = sps.norm.sf(x)
    return np.where(np.isnan(out), np.nan, out)


def _mean_z(diff: np.ndarray, var: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var > 0, diff / np.sqrt(var), np.sign(diff) * np.inf)


def welch_t_df(v_new: Any, n_new: Any, v_ref: Any, n_ref: Any, c: Any) -> np.ndarray:
    """Satterthwaite degrees of freedom of ``new - c * reference`` from the two variances and
    the arms' (effective) sizes: ``(v_new + c^2 v_ref)^2 / (v_new^2 / (n_new - 1) + c^4 v_ref^2
    / (n_ref - 1))``; large when undefined."""
    vn, nn, vr, nr, c = (np.asarray(x, float) for x in (v_new, n_new, v_ref, n_ref, c))
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (vn + c * c * vr) ** 2 / (vn**2 / (nn - 1) + c**4 * vr**2 / (nr - 1))
    return np.where(np.isfinite(df) & (df > 0), df, 1e9)


def _t_as_z(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """The normal quantile with the same upper tail as ``t`` on ``df`` degrees of freedom."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(t), t, -sps.norm.ppf(sps.t.sf(t, df)))


def look_inference(
    looks: pl.DataFrame,
    rules: Mapping[str, MetricRule],
    go: Mapping[str, tuple[float, float]],
    alpha: float,
) -> pl.DataFrame:
    """Estimates, (1 - alpha) intervals and one-sided p-values of every look row (rates by the
    MOVER/Wilson method on effective sizes, means by normal theory; see the module docstring)."""
    if looks.height == 0:
        return looks.with_columns(
            *[
                pl.lit(None, dtype=pl.Float64).alias(c)
                for c in dict.fromkeys((*_INFER_COLUMNS, *_LOOK_EXTRA))
            ]
        )
    meta = _rules_frame(rules).with_columns(
        pl.col("metric").replace_strict(KIND_BY_NAME, return_dtype=pl.String).alias("kind"),
        pl.col("metric").replace_strict({k: v[0] for k, v in go.items()}).alias("go_c"),
        pl.col("metric").replace_strict({k: v[1] for k, v in go.items()}).alias("go_offset"),
    )
    df = looks.join(meta, on="metric", how="left")
    a = {
        c: df[c].cast(pl.Float64).fill_null(np.nan).to_numpy()
        for c in (
            "m_new",
            "n_new_eff",
            "N_new",
            "v_new",
            "r",
            "n_eff_ref",
            "N_ref",
            "v_ref",
            "naive_ref",
            "naive_v_ref",
            "sign",
            "factor",
            "margin",
            "go_c",
            "go_offset",
        )
    }
    is_rate = (df["kind"] == "rate").to_numpy()
    m, r, s, c = a["m_new"], a["r"], a["sign"], a["factor"]
    gc, goff = a["go_c"], a["go_offset"]
    z = float(sps.norm.ppf(1 - alpha / 2))
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        nn, nr = a["n_new_eff"], a["n_eff_ref"]
        rlo, rhi = rate_contrast_bounds(m, nn, r, nr, 1.0, z)
        rz1 = rate_signed_z(m, nn, r, nr, 1.0)
        rzc = rate_signed_z(m, nn, r, nr, c)
        rzg = rate_signed_z(m, nn, r, nr, gc, goff)
        rr_lo, rr_hi = rate_ratio_bounds(m, nn, r, nr, z)
        vn = np.where(is_rate, m * (1 - m) / nn, a["v_new"])
        vr = np.where(is_rate, r * (1 - r) / nr, a["v_ref"])
        se1 = np.sqrt(vn + vr)
        sec = np.sqrt(vn + c * c * vr)
        seg = np.sqrt(vn + gc * gc * vr)
        # means: Welch t with Satterthwaite degrees of freedom on the effective sizes, turned
        # into the normal quantile of the same tail probability so rates and means share one
        # scale of p-values and sequential thresholds
        df1 = welch_t_df(vn, a["N_new"], vr, nr, 1.0)
        tq = np.where(is_rate, z, sps.t.ppf(1 - alpha / 2, df1))
        mz1 = _t_as_z(_mean_z(m - r, vn + vr), df1)
        mzc = _t_as_z(_mean_z(m - c * r, vn + c * c * vr), welch_t_df(vn, a["N_new"], vr, nr, c))
        mzg = _t_as_z(
            _mean_z(m - gc * r - goff, vn + gc * gc * vr), welch_t_df(vn, a["N_new"], vr, nr, gc)
        )
        f_lo, f_hi = fieller_bounds(m, vn, r, vr, tq)
        z1 = np.where(is_rate, rz1, mz1)
        zc = np.where(is_rate, rzc, mzc)
        zg = np.where(is_rate, rzg, mzg)
        nlo, nhi = rate_contrast_bounds(m, a["N_new"], a["naive_ref"], a["N_ref"], 1.0, z)
        nse = np.sqrt(a["v_new"] + a["naive_v_ref"])
        out["new_value"] = m
        out["ref_value"] = r
        out["estimate"] = m - r
        out["ci_low"] = np.where(is_rate, rlo, m - r - tq * se1)
        out["ci_high"] = np.where(is_rate, rhi, m - r + tq * se1)
        out["relative"] = np.where(r > 0, m / r - 1, np.nan)
        out["relative_ci_low"] = np.where(r > 0, np.where(is_rate, rr_lo, f_lo) - 1, np.nan)
        out["relative_ci_high"] = np.where(r > 0, np.where(is_rate, rr_hi, f_hi) - 1, np.nan)
        out["margin_abs"] = s * a["margin"] * r
        out["p_value"] = np.minimum(1.0, 2 * _sf(np.abs(z1)))
        out["p_worse"] = _sf(s * zc)
        out["p_better"] = _sf(-s * z1)
        out["p_noninf"] = _sf(-s * zg)
        out["se"] = se1
        out["se_margin"] = sec
        out["se_go"] = seg
        out["go_estimate"] = s * (m - gc * r - goff)  # negative: on the good side of the go margin
        out["noninferiority_margin_abs"] = np.abs((gc - 1) * r + goff)
        out["naive_new_value"] = m
        out["naive_ref_value"] = a["naive_ref"]
        out["naive_estimate"] = m - a["naive_ref"]
        out["naive_ci_low"] = np.where(is_rate, nlo, m - a["naive_ref"] - z * nse)
        out["naive_ci_high"] = np.where(is_rate, nhi, m - a["naive_ref"] + z * nse)
    return df.with_columns(
        *[
            pl.Series(k, np.where(np.isfinite(v), v, np.nan), dtype=pl.Float64).fill_nan(None)
            for k, v in out.items()
        ]
    )


_LOOK_EXTRA = (
    "p_noninf",
    "se_margin",
    "se_go",
    "go_estimate",
    "noninferiority_margin_abs",
    "naive_new_value",
    "naive_ref_value",
    "naive_estimate",
    "naive_ci_low",
    "naive_ci_high",
)


def _shares_frame(plans: Mapping[str, LookPlan], interim_share: float) -> pl.DataFrame:
    rows = [
        (rid, k + 1, float(share), k + 1 == plan.planned)
        for rid, plan in plans.items()
        for k, share in enumerate(look_shares(plan.planned, interim_share))
    ]
    return pl.DataFrame(
        rows,
        schema={"target": pl.String, "look": pl.Int64, "share": pl.Float64, "final": pl.Boolean},
        orient="row",
    )


def _sequential(
    inferred: pl.DataFrame, plans: Mapping[str, LookPlan], cfg: ComparisonSettings
) -> pl.DataFrame:
    """Add ``share`` and the sequential p-values ``p_worse_sequential``, ``p_better_sequential``,
    ``p_noninf_sequential`` (min over the looks so far of p / share, over looks with at least
    ``min_cases_per_arm`` cases of the metric in each arm)."""
    df = inferred.join(_shares_frame(plans, cfg.interim_alpha_share), on=["target", "look"])
    enough = (pl.col("N_new").fill_null(0) >= cfg.min_cases_per_arm) & (
        pl.col("N_ref").fill_null(0) >= cfg.min_cases_per_arm
    )
    seq = []
    for p in ("p_worse", "p_better", "p_noninf"):
        ratio = pl.when(enough & pl.col(p).is_not_null()).then(pl.col(p) / pl.col("share"))
        seq.append(
            ratio.fill_null(np.inf)
            .cum_min()
            .over(["target", "metric"], order_by="look")
            .alias(f"{p}_sequential")
        )
    return df.with_columns(*seq, enough.alias("enough")).with_columns(
        [
            pl.when(pl.col(f"{p}_sequential").is_finite()).then(
                pl.col(f"{p}_sequential").clip(upper_bound=1.0)
            )
            for p in ("p_worse", "p_better", "p_noninf")
        ]
    )


def _family_adjust(
    df: pl.DataFrame, by: Sequence[str], column: str, family: Sequence[str], method: str
) -> np.ndarray:
    """Adjust ``column`` within groups ``by``: the ``family`` metrics form one family (a family
    metric without a p-value counts as p = 1, so the family's size never shrinks), the other
    metrics another."""
    fam = df["metric"].is_in(list(family))
    p = df.with_columns(
        pl.when(fam).then(pl.col(column).fill_null(1.0)).otherwise(pl.col(column)).alias("_p"),
        fam.alias("_fam"),
    )
    return _adjust_groups(p, [*by, "_fam"], "_p", method)


# ---------------------------------------------------------------- p95 latency at the last look


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


def _p95(
    latency: pl.DataFrame,
    arm_days: pl.DataFrame,
    cfg: ComparisonSettings,
    rule: MetricRule,
    go: tuple[float, float],
) -> pl.DataFrame:
    """The p95-latency rows at each release's last look: the reference histogram standardised to
    the new arm's segment mix with the same collapse as the other metrics (no day matching: a
    quantile has no additive day term), percentile bootstrap at the arms' effective sizes."""
    rows_lf = _day_rows(latency, arm_days).select(
        "target", "arm", *SEGMENT_COLUMNS, "latency_bin", "n"
    )
    # sorted: the join does not keep row order, and float sums must not depend on it
    frame = rows_lf.sort(["target", "arm", *SEGMENT_COLUMNS, "latency_bin"]).collect()
    out = []
    c, s = rule.factor, rule.sign
    gc, goff = go
    alpha, samples = cfg.alpha, cfg.bootstrap_samples
    # segment codes once for all releases, then one numpy slice per release
    all_seg, maps = segment_codes(frame, cfg.collapse_order)
    all_new = (frame["arm"] == "new").to_numpy()
    all_n = frame["n"].cast(pl.Float64).to_numpy()
    all_bins = frame["latency_bin"].cast(pl.Int64).to_numpy()
    targets = frame["target"].to_numpy()
    starts: list[int] = (
        np.flatnonzero(np.r_[True, targets[1:] != targets[:-1]]).tolist() if len(targets) else []
    )
    for a, b in zip(starts, [*starts[1:], len(targets)], strict=True):
        target = str(targets[a])
        levels = [m[all_seg[a:b]] for m in maps]
        new, n, bins = all_new[a:b], all_n[a:b], all_bins[a:b]
        n_new, n_ref = float(n[new].sum()), float(n[~new].sum())
        row: dict[str, Any] = {"target": target, "N_new": n_new, "N_ref": n_ref}
        naive = {
            arm: histogram_quantile(bins[mask], n[mask], P95) if n[mask].sum() > 0 else math.nan
            for arm, mask in (("new", new), ("ref", ~new))
        }
        row["naive_new_value"], row["naive_ref_value"] = naive["new"], naive["ref"]
        row["naive_estimate"] = naive["new"] - naive["ref"]
        if n_new <= 0 or n_ref <= 0:
            out.append(row)
            continue
        ref_cnt = [np.bincount(lv, weights=np.where(new, 0.0, n)) for lv in levels]
        last = len(levels) - 1
        lev = np.full(len(n), last)
        for lvl in range(last - 1, -1, -1):
            lev = np.where(ref_cnt[lvl][levels[lvl]] >= cfg.min_cases_per_segment, lvl, lev)
        per_case = np.zeros(len(n))
        kish_k = 0.0
        share0 = float(n[new & (lev == 0)].sum() / n_new)
        for lvl, lv in enumerate(levels):
            at = new & (lev == lvl)
            if not at.any():
                continue
            omega = np.bincount(lv[at], weights=n[at] / n_new, minlength=len(ref_cnt[lvl]))
            with np.errstate(divide="ignore", invalid="ignore"):
                pc = np.where(ref_cnt[lvl] > 0, omega / ref_cnt[lvl], 0.0)
                kish_k += float(np.where(ref_cnt[lvl] > 0, omega**2 / ref_cnt[lvl], 0.0).sum())
            per_case += np.where(~new, pc[lv], 0.0)
        probs = {
            "new": np.bincount(bins[new], weights=n[new]),
            "ref": np.bincount(bins[~new], weights=per_case[~new] * n[~new]),
        }
        sizes = {"new": n_new, "ref": 1.0 / kish_k if kish_k > 0 else 0.0}
        est: dict[str, float] = {}
        draws: dict[str, np.ndarray] = {}
        for arm in ARMS:
            pr = probs[arm]
            idx = np.flatnonzero(pr > 0)
            if idx.size == 0 or sizes[arm] < 1:
                break
            est[arm] = histogram_quantile(idx, pr[idx], P95)
            rng = np.random.default_rng(_seed(cfg.seed, target, arm, rule.name))
            draws[arm] = bootstrap_quantile(idx, pr[idx], int(round(sizes[arm])), P95, samples, rng)
        if len(draws) < 2:
            out.append(row)
            continue
        dn, dr = draws["new"], draws["ref"]
        diff = dn - dr
        theta = s * (dn - c * dr)
        theta_go = s * (dn - gc * dr - goff)
        lo, hi = np.quantile(diff, [alpha / 2, 1 - alpha / 2])
        rlo, rhi = np.quantile(dn / dr - 1, [alpha / 2, 1 - alpha / 2])
        b1 = samples + 1
        se = float(np.std(diff, ddof=1))
        row.update(
            new_value=est["new"],
            ref_value=est["ref"],
            estimate=est["new"] - est["ref"],
            ci_low=float(lo),
            ci_high=float(hi),
            relative=est["new"] / est["ref"] - 1,
            relative_ci_low=float(rlo),
            relative_ci_high=float(rhi),
            margin_abs=s * rule.margin * est["ref"],
            p_worse=(1 + np.count_nonzero(theta <= 0)) / b1,
            p_better=(1 + np.count_nonzero(s * diff >= 0)) / b1,
            p_noninf=(1 + np.count_nonzero(theta_go >= 0)) / b1,
            p_value=min(
                1.0,
                2 * (1 + min(np.count_nonzero(diff <= 0), np.count_nonzero(diff >= 0))) / b1,
            ),
            se=se,
            se_margin=float(np.std(theta, ddof=1)),
            se_go=float(np.std(theta_go, ddof=1)),
            go_estimate=s * (est["new"] - gc * est["ref"] - goff),
            noninferiority_margin_abs=abs((gc - 1) * est["ref"] + goff),
            standardised_share=share0,
            n_eff_ref=sizes["ref"],
        )
        out.append(row)
    schema = {
        "target": pl.String,
        "N_new": pl.Float64,
        "N_ref": pl.Float64,
        "naive_new_value": pl.Float64,
        "naive_ref_value": pl.Float64,
        "naive_estimate": pl.Float64,
        **{k: pl.Float64 for k in _INFER_COLUMNS},
        **{
            k: pl.Float64
            for k in _LOOK_EXTRA
            if k not in ("naive_new_value", "naive_ref_value", "naive_estimate")
        },
        "standardised_share": pl.Float64,
        "n_eff_ref": pl.Float64,
    }
    frame_out = pl.DataFrame(out, schema=schema) if out else pl.DataFrame(schema=schema)
    return frame_out.with_columns(
        pl.lit(rule.name).alias("metric"),
        pl.lit(rule.role).alias("role"),
        pl.lit(rule.worse).alias("worse"),
        pl.lit(rule.margin).alias("margin"),
        pl.lit("quantile").alias("kind"),
    )


# ---------------------------------------------------------------- verdicts


MAX_CASES_NEEDED = 1e12


def _thresholds(cfg: ComparisonSettings, family_size: int) -> tuple[float, float]:
    """(z of the last look's share of the one-sided level, z of the same for the first Holm
    step of the family): the multipliers behind ``cases_needed`` and ``mde``."""
    half = cfg.alpha / 2 * (1 - cfg.interim_alpha_share)
    return float(sps.norm.isf(half)), float(sps.norm.isf(half / max(family_size, 1)))


def _final_verdicts(
    df: pl.DataFrame,
    family: Sequence[str],
    cfg: ComparisonSettings,
    blocked: Mapping[str, str],
) -> pl.DataFrame:
    """Adjusted sequential p-values, ``verdict``, ``reason``, ``non_inferior``, ``mde`` and
    ``cases_needed`` of each release's metrics at its last look."""
    half = cfg.alpha / 2
    enough_new = pl.col("N_new").fill_null(0) >= cfg.min_cases_per_arm
    enough_ref = pl.col("N_ref").fill_null(0) >= cfg.min_cases_per_arm
    computable = pl.col("estimate").is_not_null() & pl.col("p_worse_sequential").is_not_null()
    df = df.with_columns(
        pl.col("target")
        .replace_strict(dict(blocked), default=None, return_dtype=pl.String)
        .alias("_blocked")
    )
    usable = computable & enough_new & enough_ref & pl.col("_blocked").is_null()
    df = df.with_columns(
        usable.alias("_usable"), pl.col("metric").is_in(list(family)).alias("in_family")
    )
    masked = df.with_columns(
        pl.when(pl.col("_usable")).then(pl.col("p_worse_sequential")).alias("_pw"),
        pl.when(pl.col("_usable")).then(pl.col("p_better_sequential")).alias("_pb"),
    )
    method = cfg.multiple_testing
    df = df.with_columns(
        pl.Series(
            "p_worse_adjusted", _family_adjust(masked, ["target"], "_pw", family, method)
        ).fill_nan(None),
        pl.Series(
            "p_better_adjusted", _family_adjust(masked, ["target"], "_pb", family, method)
        ).fill_nan(None),
    )
    z_go, z_first = _thresholds(cfg, len(family))
    z_power = float(sps.norm.ppf(0.8))
    label = "BH" if method == "bh" else "Holm"
    go_margin = pl.col("noninferiority_margin_abs").round_sig_figs(3).cast(pl.String)
    non_inferior = pl.col("_usable") & (pl.col("p_noninf_sequential") < half)
    # further cases to show non-inferiority if the estimate stays put; beyond MAX_CASES_NEEDED
    # (an estimate a hair inside the margin) it is "not reachable" rather than a number
    raw_needed = (
        (pl.col("N_new") * (z_go * pl.col("se_go") / pl.col("go_estimate")) ** 2 - pl.col("N_new"))
        .clip(lower_bound=0)
        .ceil()
    )
    needed = pl.when(raw_needed <= MAX_CASES_NEEDED).then(raw_needed)
    reason = (
        _reason_head(
            cfg.min_cases_per_arm,
            ~enough_new | ~enough_ref,
            computable,
            half,
            label,
            "no complete day with data in both arms",
            "sequential ",
        )
        .when(non_inferior)
        .then(pl.format("shown within the non-inferiority margin ({})", go_margin))
        .when(pl.col("go_estimate") >= 0)
        .then(
            pl.format(
                "estimate at or beyond the non-inferiority margin ({}), not shown worse", go_margin
            )
        )
        .when(needed == 0)
        .then(
            pl.format(
                "not yet shown within the non-inferiority margin ({}) at this interim look's "
                "stricter level; at the current estimate the window's end will show it",
                go_margin,
            )
        )
        .when(needed.is_null())
        .then(
            pl.format(
                "not yet shown within the non-inferiority margin ({}): the estimate is too close "
                "to the margin for any realistic number of cases",
                go_margin,
            )
        )
        .otherwise(
            pl.format(
                "not yet shown within the non-inferiority margin ({}): about {} more "
                "new-version cases needed",
                go_margin,
                needed.cast(pl.Int64),
            )
        )
    )
    verdict = _verdict_expr(half)
    z_mde = pl.when(pl.col("in_family")).then(z_first).otherwise(z_go) + z_power
    return df.with_columns(
        verdict.alias("verdict"),
        reason.alias("reason"),
        pl.when(pl.col("_usable")).then(non_inferior).alias("non_inferior"),
        pl.when(pl.col("_usable"))
        .then(
            pl.when(pl.col("worse") == "up").then(1.0).otherwise(-1.0)
            * (pl.col("margin_abs").abs() + z_mde * pl.col("se_margin"))
        )
        .alias("mde"),
        pl.when(~pl.col("_usable"))
        .then(None)
        .when(non_inferior)
        .then(0.0)
        .when(pl.col("go_estimate") < 0)
        .then(needed)
        .alias("cases_needed"),
    ).drop("_blocked", "_usable")


def _detection_looks(
    seq: pl.DataFrame,
    family: Sequence[str],
    dq: Sequence[str],
    cfg: ComparisonSettings,
    blocked: Mapping[str, str],
) -> dict[str, tuple[datetime, tuple[str, ...]]]:
    """Per release, the first look at which a decision-quality metric was judged worse (the
    same sequential family test as the verdicts, read at each look; a family metric without a
    value at a look counts as p = 1) and those metrics."""
    if seq.height == 0 or not dq:
        return {}
    grid = (
        seq.select("target", "look", "look_time")
        .unique()
        .join(pl.DataFrame({"metric": list(family)}), how="cross")
    )
    p = grid.join(
        seq.filter(pl.col("enough")).select("target", "look", "metric", "p_worse_sequential"),
        on=["target", "look", "metric"],
        how="left",
    ).sort(["target", "look", "metric"])
    p = p.with_columns(pl.col("p_worse_sequential").fill_null(1.0))
    adj = _adjust_groups(p, ["target", "look"], "p_worse_sequential", cfg.multiple_testing)
    hits = (
        p.with_columns(pl.Series("adj", adj))
        .filter(
            (pl.col("adj") < cfg.alpha / 2)
            & pl.col("metric").is_in(list(dq))
            & ~pl.col("target").is_in(list(blocked))
        )
        .sort(["target", "look"])
    )
    out: dict[str, tuple[datetime, tuple[str, ...]]] = {}
    order = {m.name: i for i, m in enumerate(METRICS)}
    for (target,), part in hits.partition_by("target", as_dict=True).items():
        first = part["look"].min()
        at = part.filter(pl.col("look") == first)
        names = tuple(sorted(at["metric"].to_list(), key=order.__getitem__))
        out[target] = (at["look_time"][0], names)
    return out


# ---------------------------------------------------------------- public API


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


def _float(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _metric_from_row(r: Mapping[str, Any], segment: str = "all") -> MetricComparison:
    return MetricComparison(
        metric=r["metric"],
        role=r["role"],
        method=r["method"],
        worse=r["worse"],
        margin=float(r["margin"]),
        n_new=int(r["N_new"] or 0),
        n_ref=int(r["N_ref"] or 0),
        new_value=_float(r["new_value"]),
        ref_value=_float(r["ref_value"]),
        estimate=_float(r["estimate"]),
        ci_low=_float(r["ci_low"]),
        ci_high=_float(r["ci_high"]),
        relative=_float(r["relative"]),
        relative_ci_low=_float(r["relative_ci_low"]),
        relative_ci_high=_float(r["relative_ci_high"]),
        margin_abs=_float(r["margin_abs"]),
        naive_new_value=_float(r.get("naive_new_value")),
        naive_ref_value=_float(r.get("naive_ref_value")),
        naive_estimate=_float(r.get("naive_estimate")),
        naive_ci_low=_float(r.get("naive_ci_low")),
        naive_ci_high=_float(r.get("naive_ci_high")),
        p_value=_float(r["p_value"]),
        p_worse=_float(r["p_worse"]),
        p_worse_adjusted=_float(r["p_worse_adjusted"]),
        p_better=_float(r["p_better"]),
        p_better_adjusted=_float(r["p_better_adjusted"]),
        non_inferior=r["non_inferior"],
        verdict=r["verdict"],
        reason=r["reason"],
        standardised_share=_float(r.get("standardised_share")),
        segment=segment,
        se=_float(r.get("se")),
        p_worse_sequential=_float(r.get("p_worse_sequential")),
        p_noninf=_float(r.get("p_noninf")),
        p_noninf_sequential=_float(r.get("p_noninf_sequential")),
        noninferiority_margin_abs=_float(r.get("noninferiority_margin_abs")),
        effective_n_ref=_float(r.get("n_eff_ref")),
        mde=_float(r.get("mde")),
        cases_needed=None if r.get("cases_needed") is None else int(r["cases_needed"]),
        in_family=r.get("in_family"),
    )


def _fill_missing_metrics(
    df: pl.DataFrame, targets: Sequence[str], rules: Mapping[str, MetricRule]
) -> pl.DataFrame:
    """One row per (target, metric), so releases without data still report every metric; role,
    direction, margin, kind and method come from the rules."""
    grid = pl.DataFrame(
        {
            "target": [t for t in targets for _ in METRICS],
            "metric": [m.name for _ in targets for m in METRICS],
        },
        schema={"target": pl.String, "metric": pl.String},
    )
    meta = (
        _rules_frame(rules)
        .select("metric", "role", "worse", "margin")
        .with_columns(
            pl.col("metric").replace_strict(KIND_BY_NAME, return_dtype=pl.String).alias("kind")
        )
        .with_columns(
            pl.col("kind").replace_strict(METHOD_BY_KIND, return_dtype=pl.String).alias("method")
        )
    )
    drop = [
        c
        for c in ("role", "worse", "margin", "kind", "method", "sign", "factor")
        if c in df.columns
    ]
    return grid.join(df.drop(drop), on=["target", "metric"], how="left").join(
        meta, on="metric", how="left"
    )


def compare_releases(
    rollup: Rollup | None,
    units: pl.DataFrame,
    release_ids: Sequence[str],
    policy: Policy,
    as_of: datetime,
) -> dict[str, ReleaseComparison]:
    """Compare each release in ``release_ids`` with the version it replaced over its observation
    window, as of ``as_of`` (see the module docstring for the control arm, the standardisation,
    the daily looks, the methods and the one multiple-testing family).

    ``units`` is ``analytics.releases.release_units`` output; ``rollup`` the telemetry rollup
    (None: no telemetry, every metric is insufficient_data). Raises ``DataError`` for an unknown
    release id or an invalid ``comparison`` or ``judge`` policy section."""
    as_of = _utc(as_of)
    cfg = settings(policy)
    rules = metric_rules(policy)
    family = decision_family(policy)
    go = go_margins(policy)
    ids = list(dict.fromkeys(release_ids))
    windows = comparison_windows(units, ids, policy, as_of, rollup)
    cases = rollup.cases if rollup is not None else _empty_cases()
    latency = rollup.latency if rollup is not None else _empty_latency()
    blocked = _blocked_reasons(windows, as_of)
    cells = _cells(cases, _arm_windows(windows), policy)
    plans, looks = _looks(cells, windows, cfg, as_of, family)
    for w in windows.iter_rows(named=True):
        plan = plans.get(w["release_id"])
        if w["release_id"] in blocked or (plan is not None and plan.done > 0):
            continue
        first_look = w["window_start"] + timedelta(days=1)
        blocked[w["release_id"]] = (
            f"no complete UTC day of the new version by as_of (the first look is at "
            f"{first_look.isoformat()})"
            if first_look > as_of
            else "no telemetry of the new version in its window"
        )
    seq = _sequential(look_inference(looks, rules, go, cfg.alpha), plans, cfg)
    last = seq.filter(pl.col("look") == pl.col("look").max().over("target"))
    arm_days = _arm_days(windows, plans)
    p95 = _p95(latency, arm_days, cfg, rules["latency_p95_ms"], go["latency_p95_ms"])
    shares = {
        rid: float(look_shares(plan.planned, cfg.interim_alpha_share)[plan.done - 1])
        for rid, plan in plans.items()
        if plan.done
    }
    enough = (pl.col("N_new").fill_null(0) >= cfg.min_cases_per_arm) & (
        pl.col("N_ref").fill_null(0) >= cfg.min_cases_per_arm
    )
    p95 = p95.with_columns(
        pl.col("target")
        .replace_strict(shares, default=None, return_dtype=pl.Float64)
        .alias("share")
    ).with_columns(
        [
            pl.when(enough)
            .then((pl.col(p) / pl.col("share")).clip(upper_bound=1.0))
            .alias(f"{p}_sequential")
            for p in ("p_worse", "p_better", "p_noninf")
        ]
    )
    overall = pl.concat([last.rename({"n_eff_ref": "n_eff_ref"}), p95], how="diagonal_relaxed")
    overall = _fill_missing_metrics(overall, ids, rules)
    overall = _final_verdicts(overall, family, cfg, blocked)
    dq = [m for m in family if rules[m].role == "decision_quality"]
    detection = _detection_looks(seq, family, dq, cfg, blocked)

    stats = (
        _day_rows(cases, arm_days)
        .with_columns(*unit_cost_stats(policy))
        .group_by(["target", "arm", *SEGMENT_COLUMNS])
        .agg([pl.col(c).sum() for c in STAT_COLUMNS])
        .with_columns(segment_label().alias("segment"))
        .sort(["target", "arm", "segment"])
        .collect()
    )
    strata = assign_strata(stats, ["target"], cfg.min_cases_per_segment)
    seg_keys = ["target", "seg"]
    seg_sums = stratified(stats, ["target"], strata).with_columns(pl.col("stratum").alias("seg"))
    seg = infer(standardise(_long(seg_sums, seg_keys), seg_keys), rules, cfg.alpha)
    seg = _verdicts(seg, ["target", "metric"], cfg, cfg.min_cases_per_segment, blocked)
    return _assemble(ids, windows, overall, seg, plans, detection, seq, as_of, cfg, family, blocked)


def _assemble(
    ids: Sequence[str],
    windows: pl.DataFrame,
    overall: pl.DataFrame,
    seg: pl.DataFrame,
    plans: Mapping[str, LookPlan],
    detection: Mapping[str, tuple[datetime, tuple[str, ...]]],
    seq: pl.DataFrame,
    as_of: datetime,
    cfg: ComparisonSettings,
    family: Sequence[str],
    blocked: Mapping[str, str],
) -> dict[str, ReleaseComparison]:
    order = {m.name: i for i, m in enumerate(METRICS)}
    overall = overall.with_columns(
        pl.col("metric").replace_strict(order, return_dtype=pl.Int32).alias("_o")
    ).sort(["target", "_o"])
    by_target = overall.partition_by("target", as_dict=True)
    seg_cols = [c for c in _RESULT_SCHEMA if c not in ("segment",)]
    seg_frame = seg.rename({"seg": "segment", "N_new": "n_new", "N_ref": "n_ref"}).with_columns(
        pl.lit(None, dtype=pl.Float64).alias(c)
        for c in (
            "naive_new_value",
            "naive_ref_value",
            "naive_estimate",
            "naive_ci_low",
            "naive_ci_high",
        )
        if c not in seg.columns
    )
    seg_frame = seg_frame.select(
        "target",
        "segment",
        *[pl.col(c).cast(_RESULT_SCHEMA[c]) for c in seg_cols if c in seg_frame.columns],
    ).sort(["target", "metric", "segment"])
    seg_by_target = seg_frame.partition_by("target", as_dict=True)
    look_by_target = seq.partition_by("target", as_dict=True) if seq.height else {}
    empty_seg = seg_frame.clear().drop("target")
    out: dict[str, ReleaseComparison] = {}
    for w in windows.iter_rows(named=True):
        rid = w["release_id"]
        rows = by_target[(rid,)].to_dicts()
        metrics = {r["metric"]: _metric_from_row(r) for r in rows}
        plan = plans.get(rid)
        counts = {
            arm: int(max((r[f"N_{arm}"] or 0) for r in rows)) if rows else 0
            for arm in ("new", "ref")
        }
        n_new, n_ref = counts["new"], counts["ref"]
        if rid in blocked:
            status: Status = "insufficient_data"
            message = blocked[rid]
        elif plan is None or plan.done == 0:
            status = "insufficient_data"
            message = "no complete UTC day of the new version by as_of"
        elif n_new < cfg.min_cases_per_arm or n_ref < cfg.min_cases_per_arm:
            status = "insufficient_data"
            message = (
                f"fewer than {cfg.min_cases_per_arm} cases in an arm "
                f"(new {n_new}, reference {n_ref})"
            )
        elif w["window_end"] > as_of:
            status = "immature"
            message = f"observation window ends {w['window_end'].isoformat()}, after as_of"
        else:
            status = "ok"
            message = ""
        segs = seg_by_target.get((rid,))
        found = detection.get(rid)
        looks = look_by_target.get((rid,))
        out[rid] = ReleaseComparison(
            release_id=rid,
            system=w["system"],
            previous_release_id=w["previous_release_id"],
            ref_release_id=w["ref_release_id"],
            released_at=w["released_at"],
            window_start=w["window_start"],
            window_end=w["window_end"],
            ref_start=w["ref_start"] if w["ref_release_id"] is not None else None,
            as_of=as_of,
            n_new=n_new,
            n_ref=n_ref,
            status=status,
            message=message,
            metrics=metrics,
            segments=segs.drop("target") if segs is not None else empty_seg,
            multiple_testing=cfg.multiple_testing,
            alpha=cfg.alpha,
            control=None if rid in blocked or plan is None else plan.control,
            concurrent_share=None if rid in blocked or plan is None else plan.concurrent_share,
            looks_done=plan.done if plan else 0,
            looks_planned=plan.planned if plan else 0,
            look_time=plan.look_times[-1] if plan and plan.look_times else None,
            family=tuple(family),
            detectable_at=found[0] if found else None,
            detectable_metrics=found[1] if found else (),
            looks=looks.drop("target") if looks is not None else None,
        )
    return {rid: out[rid] for rid in ids}


def compare_release(
    rollup: Rollup | None,
    units: pl.DataFrame,
    release_id: str,
    policy: Policy,
    as_of: datetime,
) -> ReleaseComparison:
    """Compare one release with the previous release of its system (see ``compare_releases``)."""
    return compare_releases(rollup, units, [release_id], policy, as_of)[release_id]


def telemetry_failures(
    comparisons: Mapping[str, ReleaseComparison],
) -> dict[str, tuple[str, ...]]:
    """Release id -> the decision-quality metrics (``policy.decision_quality_metrics``) judged
    "worse": the telemetry failure signal of CFR-DQ (METRICS.md, signal telemetry).

    A verdict of an immature comparison counts: the test is valid at ``as_of``, the window just is
    not over. Releases without a degradation map to an empty tuple."""
    return {rid: c.worse("decision_quality") for rid, c in comparisons.items()}


def unit_cost_impact(comparison: ReleaseComparison) -> EstimateResult:
    """Release impact on unit process cost (METRICS.md): mix-standardised unit cost per case
    of the release minus that of the previous release over the observation window, USD/case,
    with its (1 - alpha) Welch interval. ``n`` is the release's cases; ``extra`` holds
    ``estimate`` (= mean), ``se``, ``n_ref``, ``naive_estimate``, ``relative`` and ``verdict``."""
    m = comparison.metrics["unit_cost_usd"]
    extra = {
        "estimate": m.estimate,
        "se": m.se,
        "n_new": m.n_new,
        "n_ref": m.n_ref,
        "naive_estimate": m.naive_estimate,
        "relative": m.relative,
        "verdict": m.verdict,
        "standardised_share": m.standardised_share,
        "control": comparison.control,
    }
    if m.verdict == "insufficient_data" or m.estimate is None:
        return EstimateResult(
            None,
            None,
            None,
            m.n_new,
            "insufficient_data",
            m.reason or comparison.message,
            extra={**extra, "estimate": None, "se": None},
        )
    status: Status = "immature" if comparison.status == "immature" else "ok"
    return EstimateResult(
        m.estimate, m.ci_low, m.ci_high, m.n_new, status, comparison.message, extra=extra
    )


# ---------------------------------------------------------------- canary judge

Recommendation = Literal["go", "rollback", "hold"]
EXIT_CODES: dict[str, int] = {"go": 0, "rollback": 1, "hold": 2}


@dataclass(frozen=True)
class JudgeSettings:
    """The ``judge`` policy section, checked."""

    critical_metrics: tuple[str, ...]
    min_cases_per_arm: int
    hold_metrics: tuple[str, ...] = ()
    min_standardised_share: float = 0.0
    noninferiority_abs_margins: Mapping[str, float] = field(default_factory=dict)


def _metric_list(
    sec: Mapping[str, Any], key: str, default: Sequence[str] | None
) -> tuple[str, ...]:
    value = sec.get(key, default)
    if not isinstance(value, list | tuple) or not all(isinstance(m, str) for m in value):
        raise DataError(f"policy: judge.{key} must be a list of metric names")
    unknown = sorted(set(value) - set(METRIC_NAMES))
    if unknown:
        raise DataError(
            f"policy: judge.{key} names unknown metric(s): "
            + ", ".join(unknown)
            + "; known: "
            + ", ".join(METRIC_NAMES)
        )
    return tuple(value)


def judge_settings(policy: Policy) -> JudgeSettings:
    """The judge settings of ``policy`` (``DataError`` when missing or naming unknown metrics)."""
    sec = policy.section("judge")
    critical = _metric_list(sec, "critical_metrics", None)
    hold = _metric_list(sec, "hold_metrics", [])
    low = sec.get("min_cases_per_arm")
    if isinstance(low, bool) or not isinstance(low, int) or low < 1:
        raise DataError("policy: judge.min_cases_per_arm must be an integer >= 1")
    share = sec.get("min_standardised_share", 0.0)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise DataError("policy: judge.min_standardised_share must be a number in [0, 1]")
    margins = sec.get("noninferiority_abs_margins") or {}
    if not isinstance(margins, Mapping) or not all(
        m in METRIC_NAMES
        and not isinstance(v, bool)
        and isinstance(v, int | float)
        and math.isfinite(v)
        and v >= 0
        for m, v in margins.items()
    ):
        raise DataError(
            "policy: judge.noninferiority_abs_margins must map metric names to numbers >= 0"
        )
    return JudgeSettings(
        tuple(critical), low, hold, float(share), {k: float(v) for k, v in margins.items()}
    )


def judge_policy(policy: Policy) -> Policy:
    """``policy`` with ``comparison.min_cases_per_arm`` replaced by ``judge.min_cases_per_arm``,
    the minimum the canary judge requires of each arm."""
    from analytics.policy import deep_merge, policy_from_mapping

    low = judge_settings(policy).min_cases_per_arm
    raw = deep_merge(policy.raw, {"comparison": {"min_cases_per_arm": low}})
    return policy_from_mapping(raw, f"{policy.source} (judge)")


@dataclass(frozen=True)
class JudgeDecision:
    """The canary judge's recommendation for a release, with its reasons and the comparison."""

    release_id: str
    as_of: datetime
    recommendation: Recommendation
    exit_code: int
    reasons: tuple[str, ...]
    critical_metrics: tuple[str, ...]
    comparison: ReleaseComparison

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "release_id": self.release_id,
                "as_of": self.as_of,
                "recommendation": self.recommendation,
                "exit_code": self.exit_code,
                "reasons": list(self.reasons),
                "critical_metrics": list(self.critical_metrics),
                "comparison": self.comparison.to_dict(),
            }
        )


def judge_comparison(comparison: ReleaseComparison, policy: Policy) -> JudgeDecision:
    """Go / rollback / hold for a release from its comparison (METRICS.md: judge).

    - ``rollback`` when a critical metric (``judge.critical_metrics``) is worse: its sequential
      test, adjusted over the one decision family, crossed at some daily look;
    - ``go`` only on evidence: every critical metric shown non-inferior within its margin (the
      relative policy margin, or ``judge.noninferiority_abs_margins`` for a metric whose margin
      is 0), no critical or hold metric worse, and at least ``judge.min_standardised_share`` of
      the new version's cases standardised on their own segment;
    - ``hold`` (for a human) otherwise, saying per critical metric what is missing and how many
      more new-version cases would show non-inferiority if the estimate stays where it is.

    Every decision is valid at the time it is read, however often the judge runs: the looks are
    the complete UTC days, each spending its pre-set share of the level."""
    cfg = judge_settings(policy)
    metrics = comparison.metrics
    critical = cfg.critical_metrics
    worse_critical = [m for m in critical if metrics[m].verdict == "worse"]
    worse_hold = [
        m for m in cfg.hold_metrics if metrics[m].verdict == "worse" and m not in critical
    ]
    lacking = [m for m in critical if metrics[m].verdict == "insufficient_data"]
    unshown = [
        m
        for m in critical
        if m not in lacking and m not in worse_critical and not metrics[m].non_inferior
    ]
    shares = [metrics[m].standardised_share for m in critical if m not in lacking]
    share = min((x for x in shares if x is not None), default=None)
    reasons: list[str] = []
    for m in worse_critical:
        reasons.append(f"critical metric {m} is worse: {metrics[m].reason}")
    for m in worse_hold:
        reasons.append(f"{m} is worse: {metrics[m].reason}")
    for m in lacking:
        reasons.append(f"critical metric {m} lacks data: {metrics[m].reason}")
    for m in unshown:
        reasons.append(f"critical metric {m} not shown non-inferior: {metrics[m].reason}")
    low_share = share is not None and share < cfg.min_standardised_share
    if low_share:
        reasons.append(
            f"only {share:.0%} of the new version's cases are standardised on their own segment "
            f"(policy minimum {cfg.min_standardised_share:.0%}): the mix adjustment leans on "
            "coarser strata"
        )
    if worse_critical:
        rec: Recommendation = "rollback"
    elif worse_hold or lacking or unshown or low_share:
        rec = "hold"
    else:
        rec = "go"
        reasons.append(
            "every critical metric is shown within its margin and no acted-on metric is worse"
        )
    if comparison.control == "pre_release":
        reasons.append(
            "note: no concurrent control (the old version did not serve beside the new one); "
            "compared with the pre-release window, a weaker design"
        )
    if comparison.status == "immature":
        reasons.append(f"note: {comparison.message}")
    return JudgeDecision(
        release_id=comparison.release_id,
        as_of=comparison.as_of,
        recommendation=rec,
        exit_code=EXIT_CODES[rec],
        reasons=tuple(reasons),
        critical_metrics=cfg.critical_metrics,
        comparison=comparison,
    )


# ---------------------------------------------------------------- daily series (charts)


def daily_series(
    rollup: Rollup | None,
    units: pl.DataFrame,
    release_id: str,
    policy: Policy,
    as_of: datetime,
) -> pl.DataFrame:
    """Daily values per version over the comparison window, for the review report's chart.

    One row per (day, arm, metric): ``release_id`` (the version that served), ``arm`` (``new`` or
    ``ref``), ``day`` (UTC date), ``metric``, ``value`` (the plain daily value, not standardised;
    rates as shares, p95 latency from the histogram) and ``n`` (cases with the metric)."""
    as_of = _utc(as_of)
    windows = comparison_windows(units, [release_id], policy, as_of, rollup)
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
            pl.lit("latency_p95_ms").alias("metric"),
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


__all__ = [
    "EXIT_CODES",
    "JudgeDecision",
    "JudgeSettings",
    "METRICS",
    "METRIC_NAMES",
    "ComparisonSettings",
    "MetricComparison",
    "MetricRule",
    "MetricSpec",
    "ReleaseComparison",
    "adjust",
    "benjamini_hochberg",
    "bootstrap_quantile",
    "compare_release",
    "compare_releases",
    "comparison_windows",
    "daily_series",
    "holm",
    "judge_comparison",
    "judge_policy",
    "judge_settings",
    "metric_rules",
    "rate_contrast_bounds",
    "rate_p_value",
    "settings",
    "telemetry_failures",
    "unit_cost_impact",
    "wilson_bounds",
]
