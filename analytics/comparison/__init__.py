"""Version comparison: a release against the version it replaced, on the traffic it served.

The question is "did this release make decisions worse, or more expensive, on the traffic it
served?", asked so that the answer can be acted on: it feeds the telemetry failure signal of
CFR-DQ, the release impact on unit cost, ``analytics judge`` (go / hold / rollback) and the
detection potential. Everything is computed from the telemetry rollup
(``analytics.data.rollup.Rollup``), so a pre-computed rollup gives the same results as raw
telemetry.
All functions are pure. METRICS.md (version comparison) states every choice with its calibration
table. The package, from the bottom up:

- ``metrics``: the metric catalogue, the policy's rules per metric
  (``analytics.core.policy.MetricRule``), the settings; ``results``: ``MetricComparison`` and
  ``ReleaseComparison``; the interval and multiplicity methods (Wilson, Newcombe / MOVER,
  MOVER-R, Fieller, Welch, Holm and Benjamini-Hochberg) are ``analytics.stats.intervals``;
- ``windows``: which days of which release each arm counts; ``looks``: the daily looks (complete
  UTC days only, so reading a comparison twice in a day gives the same answer) and per look the
  control arm: the reference version on the same days (*concurrent*), its pre-release window for
  the days the new version served alone (*mixed*), or only that (*pre_release*, an immediate
  100 % rollout: a weaker design, flagged);
- ``estimator``: the standardised contrast at one look: the new arm's mean minus the reference's
  value on the new arm's (day, segment) mix, a linear estimator of the reference's cases (sparse
  segments borrow a coarser stratum's mean only when the reference never served them; variances
  from strata with enough cases), with empirical-Bayes day matching so shared day shocks cancel;
- ``decisions``: inference per look (Newcombe / Wilson on effective sizes for rates; Welch t for
  means), the **sequential p-values** (minimum over the looks so far of p / the look's pre-set
  share of the level: valid however often read, and sticky), **one Holm (or BH) family** over
  every metric whose verdict has a consequence (``decision_family``), the verdicts,
  non-inferiority against the go margins (``go_margins``) with ``cases_needed`` and ``mde``, and
  the detection looks; ``p95``: the p95-latency bootstrap at the last look; ``segments``: the
  per-segment results of the review report's forest plot;
- ``engine``: ``compare_releases``, the pipeline (the policy read once, ``ComparisonSetup``), and
  the values read off a comparison (telemetry failure signal, unit-cost impact); ``judge``: go /
  hold / rollback; ``daily``: daily values per version for the review chart.

A margin ``m`` is relative to the reference value: for a metric whose ``worse`` direction is up,
"worse" means ``new > (1 + m) * reference``; for down, ``new < (1 - m) * reference``. Metrics named
in ``policy.decision_quality_metrics`` take the policy's direction and margin (role
``decision_quality``); the others are ``operational``, judged against a zero margin with up
worse, never a decision-quality failure.
"""

from __future__ import annotations

from analytics.comparison.daily import (
    daily_series,
)
from analytics.comparison.decisions import (
    MAX_CASES_NEEDED,
    decision_family,
    go_margins,
    look_inference,
)
from analytics.comparison.engine import (
    compare_release,
    compare_releases,
    telemetry_failures,
    unit_cost_impact,
)
from analytics.comparison.judge import (
    EXIT_CODES,
    JudgeDecision,
    JudgeSettings,
    Recommendation,
    judge_comparison,
    judge_policy,
    judge_settings,
)
from analytics.comparison.metrics import (
    CELL_METRICS,
    KIND_BY_NAME,
    METRIC_BY_NAME,
    METRIC_NAMES,
    METRICS,
    STAT_COLUMNS,
    ComparisonSettings,
    MetricSpec,
    metric_rules,
    settings,
    unit_cost_stats,
)
from analytics.comparison.p95 import (
    bootstrap_quantile,
)
from analytics.comparison.results import (
    MetricComparison,
    ReleaseComparison,
)
from analytics.comparison.windows import (
    comparison_windows,
    last_day,
    segment_label,
)
from analytics.core.policy import MetricRule
from analytics.stats.intervals import (
    adjust,
    benjamini_hochberg,
    fieller_bounds,
    holm,
    mean_contrast_bounds,
    rate_contrast_bounds,
    rate_p_value,
    rate_ratio_bounds,
    welch_t_df,
    wilson_bounds,
)

__all__ = [
    "CELL_METRICS",
    "ComparisonSettings",
    "EXIT_CODES",
    "JudgeDecision",
    "JudgeSettings",
    "KIND_BY_NAME",
    "MAX_CASES_NEEDED",
    "METRICS",
    "METRIC_BY_NAME",
    "METRIC_NAMES",
    "MetricComparison",
    "MetricRule",
    "MetricSpec",
    "Recommendation",
    "ReleaseComparison",
    "STAT_COLUMNS",
    "adjust",
    "benjamini_hochberg",
    "bootstrap_quantile",
    "compare_release",
    "compare_releases",
    "comparison_windows",
    "daily_series",
    "decision_family",
    "fieller_bounds",
    "go_margins",
    "holm",
    "judge_comparison",
    "judge_policy",
    "judge_settings",
    "last_day",
    "look_inference",
    "mean_contrast_bounds",
    "metric_rules",
    "rate_contrast_bounds",
    "rate_p_value",
    "rate_ratio_bounds",
    "segment_label",
    "settings",
    "telemetry_failures",
    "unit_cost_impact",
    "unit_cost_stats",
    "welch_t_df",
    "wilson_bounds",
]
