"""Release-process audit: did each release take the path its effective risk tier requires?

Per release (``audit_releases``): the checks of ``analytics.governance.checks`` (tier,
evidence, gates, rollout, approvals, train), and after release:

- **observability**: the version marker (a telemetry case with the release's id) seen within
  ``observability.marker_within_hours`` of ``released_at``, and an operator decision recorded
  in ``[released_at, released_at + observability.operator_decisions_within_hours]``;
- **gate escape**: the release failed (CFR-DQ, ids given by the caller) although every required
  gate passed.

Anti-patterns (METRICS.md) are flagged per release; ``analytics.governance.health`` counts them
and the checks above per month. Records dated after ``as_of`` are ignored (the cut of
``analytics.data.asof``); a check that cannot be decided yet (its time window is still open at
``as_of``) is null, never a finding. The finding codes are in ``analytics.governance.findings``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

import polars as pl

from analytics.core.policy import Policy
from analytics.data.asof import known_rows
from analytics.data.io import Dataset
from analytics.data.rollup import Rollup, dataset_rollup
from analytics.governance.checks import (
    RELEASE_COLUMNS,
    UTC_TS_TYPE,
    audit_base,
    empty_list,
    policy_hours,
    pre_release_checks,
    when_deployed,
)
from analytics.governance.findings import CHECK_COLUMNS, findings_expr


def _window_flag(seen_at: pl.Expr, within: timedelta, as_of: datetime) -> pl.Expr:
    """True when seen by ``released_at + within``; False when that moment has passed (at
    ``as_of``) without it; null while the window is still open or before release."""
    deadline = pl.col("released_at") + within
    return (
        pl.when(pl.col("released_at").is_null() | (pl.col("released_at") > as_of))
        .then(None)
        .when((seen_at <= deadline).fill_null(False))
        .then(pl.lit(True))
        .when(deadline <= as_of)
        .then(pl.lit(False))
        .otherwise(None)
    )


def _observability_checks(
    base: pl.DataFrame,
    decisions: pl.DataFrame,
    rollup: Rollup | None,
    policy: Policy,
    as_of: datetime,
) -> pl.DataFrame:
    marker_h = policy_hours(policy, "observability", "marker_within_hours")
    ops_h = policy_hours(policy, "observability", "operator_decisions_within_hours")
    forget = timedelta(days=policy.observation_window_days)
    ops = (
        known_rows(decisions, "decided_at", as_of)
        .join(base.select("release_id", "released_at"), on="release_id", how="inner")
        .filter(pl.col("decided_at") >= pl.col("released_at"))
        .group_by("release_id")
        .agg(pl.col("decided_at").min().alias("first_operator_decision"))
    )
    df = base.select("release_id", "released_at").join(ops, on="release_id", how="left")
    if rollup is not None:
        marker = (
            rollup.cases.group_by("release_id")
            .agg(pl.col("first_ts").min().alias("first_seen"))
            .filter(pl.col("first_seen") <= as_of)
        )
        df = df.join(marker, on="release_id", how="left").with_columns(
            _window_flag(pl.col("first_seen"), marker_h, as_of).alias("marker_24h"),
            pl.lit(True).alias("telemetry_available"),
        )
    else:
        df = df.with_columns(
            pl.lit(None, dtype=UTC_TS_TYPE).alias("first_seen"),
            pl.lit(None, dtype=pl.Boolean).alias("marker_24h"),
            pl.lit(False).alias("telemetry_available"),
        )
    deadline = pl.col("released_at") + forget
    active = (pl.col("first_seen") <= deadline).fill_null(False) | (
        pl.col("first_operator_decision") <= deadline
    ).fill_null(False)
    return (
        df.with_columns(
            _window_flag(pl.col("first_operator_decision"), ops_h, as_of).alias("operator_72h"),
            pl.when(pl.col("released_at").is_null() | (pl.col("released_at") > as_of))
            .then(None)
            .when(active)
            .then(pl.lit(False))
            .when(deadline <= as_of)
            .then(pl.lit(True))
            .otherwise(None)
            .alias("ship_and_forget"),
        )
        .with_columns(
            (pl.col("marker_24h") & pl.col("operator_72h")).alias("observability_ok"),
        )
        .drop("released_at")
    )


# The columns of the audit, in order.
AUDIT_COLUMNS: tuple[str, ...] = (
    *RELEASE_COLUMNS,
    "deployed",
    "findings",
    *CHECK_COLUMNS,
    "missing_evidence",
    "absent_evidence",
    "unapproved_evidence_waivers",
    "eval_items",
    "gates_not_run",
    "gates_failed",
    "unapproved_gate_waivers",
    "rollout_stages",
    "traffic_steps",
    "skipped_steps",
    "stop_conditions_ignored",
    "missing_approvals",
    "final_votes",
    "final_decision",
    "final_approver",
    "in_train_window",
    "emergency_with_reason",
    "first_seen",
    "first_operator_decision",
    "telemetry_available",
    "path_signature",
)


def _path_signature() -> pl.Expr:
    """The path a release took, as one text: gates run, traffic steps, approving roles."""
    return pl.concat_str(
        pl.col("_gates_run").list.join(","),
        pl.col("_traffic").list.join(">"),
        pl.col("_roles").list.join(","),
        separator="|",
    )


def _outcome_flags(df: pl.DataFrame, failed: Collection[str]) -> pl.DataFrame:
    """``path_compliant`` (evidence, gates, rollout and approvals all ok), ``failed`` (by
    CFR-DQ: ``failed`` holds the ids), ``offline_only`` (the tier plans a canary, none ran),
    ``path_signature`` and ``gate_escape`` (failed although every required gate passed);
    path compliance and offline-only are null for a release not deployed yet."""
    failed_ids = pl.Series(sorted(set(failed)), dtype=pl.String)
    path_ok = pl.col("evidence_ok") & pl.col("gates_ok") & pl.col("rollout_ok")
    return df.with_columns(
        when_deployed(path_ok & pl.col("approvals_ok")).alias("path_compliant"),
        pl.col("release_id").is_in(failed_ids.implode()).alias("failed"),
        when_deployed(pl.col("_plans_canary") & ~pl.col("_has_canary")).alias("offline_only"),
        _path_signature().alias("path_signature"),
    ).with_columns(
        (pl.col("failed") & pl.col("gates_passed_all")).alias("gate_escape"),
    )


def _risk_segmentation(df: pl.DataFrame) -> pl.DataFrame:
    """``no_risk_segmentation``: the release's month had two or more deployed releases of two or
    more effective tiers, and all took the same path (``path_signature``)."""
    months = (
        df.filter(pl.col("_deployed") & pl.col("month").is_not_null())
        .group_by("month")
        .agg(
            (
                (pl.len() >= 2)
                & (pl.col("path_signature").n_unique() == 1)
                & (pl.col("effective_tier").n_unique() >= 2)
            ).alias("_same_path")
        )
    )
    return df.join(months, on="month", how="left").with_columns(
        when_deployed(pl.col("_same_path").fill_null(False)).alias("no_risk_segmentation"),
    )


def audit_releases(
    ds: Dataset,
    units: pl.DataFrame,
    as_of: datetime,
    failed: Collection[str] = (),
    *,
    rollup: Rollup | None = None,
) -> pl.DataFrame:
    """Audit every release of ``units`` against its effective tier's path, as known at ``as_of``.

    One row per release (``AUDIT_COLUMNS``): ``release_id``, ``effective_tier``, ``month``,
    ``deployed``, ``findings`` (list of ``FINDING_CODES`` codes, in that order; empty for a
    release not deployed by ``as_of``, which ``analytics.decisions.gate`` judges instead),
    boolean checks (``CHECK_COLUMNS``: null = not decidable yet, e.g. the 24 h marker window is
    still open or the release is after ``as_of``) and detail columns (``missing_evidence``,
    ``absent_evidence``, ``unapproved_evidence_waivers``, ``gates_not_run``, ``gates_failed``,
    ``unapproved_gate_waivers``, ``skipped_steps``, ``stop_conditions_ignored`` (count of stages),
    ``missing_approvals``, ``final_votes``, ``eval_items``, ``path_signature``).
    ``path_compliant`` = evidence, gates, rollout and approvals all ok. ``failed``: ids of
    releases failed by CFR-DQ, used for ``gate_escape``. ``rollup``: the telemetry rollup when
    the caller has it already (else it is taken from ``ds``).
    """
    policy = ds.policy
    base = audit_base(units, policy, as_of)
    roll = rollup if rollup is not None else dataset_rollup(ds.telemetry, ds.telemetry_rollup)
    df = pre_release_checks(ds, units, base, as_of).join(
        _observability_checks(base, ds.operator_decisions, roll, policy, as_of),
        on="release_id",
        how="left",
    )
    df = _risk_segmentation(_outcome_flags(df, failed))
    df = df.with_columns(
        pl.when(pl.col("_deployed"))
        .then(findings_expr(gate_mode=False))
        .otherwise(empty_list())
        .alias("findings"),
        pl.col("_deployed").alias("deployed"),
        pl.col("_traffic").alias("traffic_steps"),
    )
    return df.select(AUDIT_COLUMNS).sort(["released_at", "release_id"], nulls_last=True)


__all__ = ["AUDIT_COLUMNS", "audit_releases"]
