"""The metric catalogue, the policy's rules per metric and the comparison settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import polars as pl

from analytics.core.errors import DataError
from analytics.core.policy import MetricRule, Policy
from analytics.core.schemas import SEGMENT_COLUMNS
from analytics.data.rollup import (
    unit_cost_columns,
)

Verdict = Literal["better", "worse", "inconclusive", "insufficient_data"]

Kind = Literal["rate", "mean", "quantile"]

ARMS: tuple[str, str] = ("new", "ref")

OTHER = "other"

SEGMENT_SEPARATOR = " / "

P95 = 0.95

P95_METRIC = "latency_p95_ms"  # the catalogue's one quantile metric (``analytics.comparison.p95``)


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
    """``unit_cost_sum``/``unit_cost_sumsq`` (``analytics.data.rollup.unit_cost_columns``) and
    ``unit_cost_n``: the cases behind them, the smallest valid count of the four components
    (equal to ``n`` on clean data; with invalid values left out the components' sums cover
    slightly different cases, a documented approximation)."""
    return [
        *unit_cost_columns(policy.costs),
        pl.min_horizontal(
            "model_cost_usd_n", "handling_time_s_n", "reworked_n", "escalated_n"
        ).alias("unit_cost_n"),
    ]


def metric_rules(policy: Policy) -> dict[str, MetricRule]:
    """Metric name -> its rule under ``policy``, in catalogue order: the policy's rule for the
    metrics it names in ``decision_quality_metrics``, else ``operational`` (the metric's default
    worse direction, margin 0; see ``analytics.core.policy.MetricRule``).

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
    dq = policy.decision_quality_metrics
    return {
        spec.name: dq.get(spec.name) or MetricRule(spec.worse, 0.0, "operational")
        for spec in METRICS
    }


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
    collapse_order: tuple[str, ...]
    interim_alpha_share: float


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
    order = need("collapse_order")
    if not isinstance(order, list | tuple) or sorted(order) != sorted(SEGMENT_COLUMNS):
        raise DataError(
            "policy: comparison.collapse_order must list each of "
            + ", ".join(SEGMENT_COLUMNS)
            + " once"
        )
    share = need("interim_alpha_share")
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


CELL_METRICS: tuple[MetricSpec, ...] = tuple(m for m in METRICS if m.kind != "quantile")
