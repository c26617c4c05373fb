"""``analyze``: everything derived per release as of a time, as named steps.

Each step is a function with a small signature, testable on its own (tests/test_analysis_steps.py
runs each one on the tiny worked example), in the order ``analyze`` runs them:

1. ``cut``            the event tables as known at ``as_of`` (``analytics.data.asof``)
2. ``units``          release units: changed components, implied and effective tier
3. ``attribution``    incidents attributed to the release that caused them
4. ``comparison``     version comparison against the previous release (telemetry)
5. ``failures``       failure signals, failed / dora_failed, first detection
   ``rework``         deployment rework: emergency-train releases and roll-forward fixes (DORA)
6. ``evidence``       evaluation-evidence status per release
7. ``unit_cost``      unit process cost per release and its impact against the previous version
8. ``detection``      when each failed release's degradation was first visible in telemetry
9. ``audit``          the release-process audit: findings and checks per release

``STEPS`` lists them by name. Settings are read from the policy once (``ds.policy``) and passed
down; no step reads another's private columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from analytics.comparison import ReleaseComparison, compare_releases
from analytics.comparison import telemetry_failures as telemetry_failures_of
from analytics.core.periods import utc_as_of
from analytics.core.policy import Policy
from analytics.core.quality import DataQuality, Finding
from analytics.data.asof import known_at
from analytics.data.io import Dataset
from analytics.data.rollup import Rollup, dataset_rollup
from analytics.governance.audit import audit_releases
from analytics.governance.findings import CHECK_COLUMNS
from analytics.metrics.detection import detection_from_comparison
from analytics.metrics.dora import rework_deployments
from analytics.metrics.evidence import evidence_status
from analytics.metrics.incidents import attribute_incidents, release_failures
from analytics.metrics.releases import release_units
from analytics.metrics.unit_cost import cost_impacts, unit_cost_levels

STEPS: tuple[str, ...] = (
    "cut",
    "units",
    "attribution",
    "comparison",
    "failures",
    "rework",
    "evidence",
    "unit_cost",
    "detection",
    "audit",
)


@dataclass(frozen=True)
class Analysis:
    """Everything derived per release as of ``as_of`` (see ``analyze``)."""

    as_of: datetime
    releases: pl.DataFrame  # units + failures + evidence + unit cost, one row per release
    incidents: pl.DataFrame  # attributed incidents known at as_of
    quality: DataQuality
    rollup: Rollup | None
    dataset: Dataset = field(repr=False)  # event tables cut at as_of (analytics.data.asof)
    audit: pl.DataFrame = field(repr=False, default_factory=pl.DataFrame)  # governance checks
    comparisons: Mapping[str, Any] = field(default_factory=dict, repr=False)


def cut(ds: Dataset, as_of: datetime) -> Dataset:
    """Step 1: the dataset as known at ``as_of``; every later step and the reports read this."""
    return known_at(ds, as_of)


def units(ds: Dataset) -> pl.DataFrame:
    """Step 2: one row per release with its release unit (``metrics.releases``)."""
    return release_units(ds.releases, ds.policy)


def attribution(
    ds: Dataset, release_units_: pl.DataFrame, as_of: datetime
) -> tuple[pl.DataFrame, list[Finding]]:
    """Step 3: incidents attributed to releases, and a finding per unattributed incident."""
    return attribute_incidents(ds.incidents, release_units_, ds.policy, as_of)


def compared_ids(
    release_units_: pl.DataFrame, as_of: datetime, months: Sequence[str] | None
) -> list[str]:
    """Releases the comparison engine judges: deployed by ``as_of``, with a previous release,
    in ``months`` when given."""
    scope = release_units_.filter(
        (pl.col("released_at") <= as_of) & pl.col("previous_release_id").is_not_null()
    )
    if months is not None:
        scope = scope.filter(pl.col("month").is_in(list(months)))
    return scope["release_id"].to_list()


def comparison(
    rollup: Rollup | None,
    release_units_: pl.DataFrame,
    as_of: datetime,
    policy: Policy,
    months: Sequence[str] | None = None,
) -> dict[str, ReleaseComparison]:
    """Step 4: each compared release against its previous version (empty without telemetry)."""
    if rollup is None:
        return {}
    ids = compared_ids(release_units_, as_of, months)
    return compare_releases(rollup, release_units_, ids, as_of, policy)


def failures(
    ds: Dataset,
    release_units_: pl.DataFrame,
    attributed: pl.DataFrame,
    as_of: datetime,
    telemetry_failures: Mapping[str, Sequence[str]],
) -> pl.DataFrame:
    """Step 5: failure signals per release (incident, rollback, telemetry) and first detection."""
    return release_failures(
        release_units_,
        attributed,
        ds.rollout_stages,
        ds.operator_decisions,
        ds.policy,
        as_of,
        telemetry_failures,
    )


def rework(
    ds: Dataset, release_units_: pl.DataFrame, attributed: pl.DataFrame, as_of: datetime
) -> pl.DataFrame:
    """Step 5b: per release, whether it was an unplanned fix (DORA deployment rework)."""
    return rework_deployments(release_units_, attributed, ds.operator_decisions, as_of)


def evidence(ds: Dataset, release_units_: pl.DataFrame) -> pl.DataFrame:
    """Step 6: per release, whether its required evaluation evidence is complete."""
    return evidence_status(ds.evidence, release_units_, ds.policy)


def unit_cost(
    rollup: Rollup | None,
    release_units_: pl.DataFrame,
    comparisons: Mapping[str, ReleaseComparison],
    as_of: datetime,
    policy: Policy,
) -> pl.DataFrame:
    """Step 7: unit process cost per release over its window, and its impact estimate."""
    levels = unit_cost_levels(rollup, release_units_, as_of, policy)
    return (
        release_units_.select("release_id")
        .join(levels, on="release_id", how="left")
        .join(cost_impacts(comparisons), on="release_id", how="left")
    )


def detection(
    comparisons: Mapping[str, ReleaseComparison], failed_ids: Sequence[str]
) -> pl.DataFrame:
    """Step 8: per failed release with a comparison, hours after release at which its
    degradation was first statistically visible (``analytics.metrics.detection``)."""
    schema = {
        "release_id": pl.String,
        "detectable_after_hours": pl.Float64,
        "detectable_metric": pl.String,
    }
    rows = []
    for rid in failed_ids:
        if rid in comparisons:
            d = detection_from_comparison(comparisons[rid])
            rows.append((rid, d.detectable_after_hours, d.metric))
    return pl.DataFrame(rows, schema=schema, orient="row")


def audit(
    ds: Dataset,
    table: pl.DataFrame,
    as_of: datetime,
    failed_ids: Sequence[str],
    rollup: Rollup | None,
) -> pl.DataFrame:
    """Step 9: the release-process audit (``analytics.governance``), one row per release."""
    return audit_releases(ds, table, as_of, failed_ids, rollup=rollup)


def _release_table(
    release_units_: pl.DataFrame,
    parts: Sequence[pl.DataFrame],
    as_of: datetime,
    policy: Policy,
) -> pl.DataFrame:
    """The per-release table: the units joined with each step's columns, plus ``deployed`` and
    ``immature`` (still inside its observation or attribution window at ``as_of``)."""
    maturity = timedelta(
        days=max(policy.observation_window_days, policy.longest_attribution_window_days)
    )
    table = release_units_
    for part in parts:
        table = table.join(part, on="release_id", how="left")
    return table.with_columns(
        (pl.col("released_at") <= as_of).fill_null(False).alias("deployed"),
        (pl.col("released_at") + maturity > as_of).fill_null(False).alias("immature"),
    )


def analyze(
    ds: Dataset,
    as_of: datetime,
    *,
    months: Sequence[str] | None = None,
    telemetry_failures: Mapping[str, Sequence[str]] | None = None,
    rollup: Rollup | None = None,
) -> Analysis:
    """Derive the per-release facts as of ``as_of`` (a timezone-aware datetime): the steps of
    ``STEPS`` in order.

    The dataset's event tables are first cut at ``as_of`` (what was known then, and how missing
    times are treated); ``Analysis.dataset`` is that cut. Releases released after ``as_of`` are
    kept but marked ``deployed = false``. The version comparison (telemetry failure signal,
    unit-cost impact) runs for the releases of ``months`` (``YYYY-MM`` list; every month when
    None), its only costly step; ``telemetry_failures`` (release_id -> degraded metrics)
    replaces its failure signal when given.
    """
    as_of = utc_as_of(as_of)
    ds = cut(ds, as_of)
    policy = ds.policy
    release_units_ = units(ds)
    attributed, findings = attribution(ds, release_units_, as_of)
    roll = rollup if rollup is not None else dataset_rollup(ds.telemetry, ds.telemetry_rollup)
    comparisons = comparison(roll, release_units_, as_of, policy, months)
    if telemetry_failures is None:
        telemetry_failures = telemetry_failures_of(comparisons)
    fails = failures(ds, release_units_, attributed, as_of, telemetry_failures)
    table = _release_table(
        release_units_,
        [
            fails,
            rework(ds, release_units_, attributed, as_of),
            evidence(ds, release_units_),
            unit_cost(roll, release_units_, comparisons, as_of, policy),
        ],
        as_of,
        policy,
    )
    failed_ids = table.filter(pl.col("failed"))["release_id"].to_list()
    table = table.join(detection(comparisons, failed_ids), on="release_id", how="left")
    checks = audit(ds, table, as_of, failed_ids, roll)
    extra = [c for c in CHECK_COLUMNS if c not in table.columns]
    table = table.join(
        checks.select("release_id", "findings", *extra), on="release_id", how="left"
    ).sort(["released_at", "release_id"], nulls_last=True)
    return Analysis(
        as_of=as_of,
        releases=table,
        incidents=attributed,
        quality=ds.quality.with_findings(findings),
        rollup=roll,
        dataset=ds,
        audit=checks,
        comparisons=comparisons,
    )
