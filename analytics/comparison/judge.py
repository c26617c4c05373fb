"""The canary judge: go (only on shown non-inferiority), hold or rollback from a release's
comparison.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from analytics.comparison.metrics import METRIC_NAMES
from analytics.comparison.results import ReleaseComparison
from analytics.core.errors import DataError
from analytics.core.policy import Policy
from analytics.core.results import clean

Recommendation = Literal["go", "rollback", "hold"]

EXIT_CODES: dict[str, int] = {"go": 0, "rollback": 1, "hold": 2}


@dataclass(frozen=True)
class JudgeSettings:
    """The ``judge`` policy section, checked."""

    critical_metrics: tuple[str, ...]
    min_cases_per_arm: int
    hold_metrics: tuple[str, ...]
    min_standardised_share: float
    noninferiority_abs_margins: Mapping[str, float]


def _metric_list(sec: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = sec.get(key)
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
    critical = _metric_list(sec, "critical_metrics")
    hold = _metric_list(sec, "hold_metrics")
    low = sec.get("min_cases_per_arm")
    if isinstance(low, bool) or not isinstance(low, int) or low < 1:
        raise DataError("policy: judge.min_cases_per_arm must be an integer >= 1")
    share = sec.get("min_standardised_share")
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
    from analytics.core.policy import deep_merge, policy_from_mapping

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
            "note: no usable concurrent control (the old version served too few cases, or "
            "none, beside the new one); "
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
