"""Incidents: attribution to releases, failure signals, time to detect (MTTD) and mitigate (MTTM).

All functions take ``as_of``: a record dated after it is not known yet (an incident detected
later does not exist; a mitigation later is still open; a rollout decision later was not taken).
The cut itself, and what it does with missing or invalid times, is ``analytics.data.asof``; the
functions here apply it to the tables they are given (``analyze`` has cut them already).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
import polars as pl

from analytics.core.columns import LINE, MTTM_INVALID, ROW, UNKNOWN_RELEASE
from analytics.core.policy import Policy
from analytics.core.quality import Finding
from analytics.core.results import DurationResult
from analytics.data.asof import known_incidents, known_rows, known_stages
from analytics.stats.summaries import duration_summary

DQ_CATEGORIES: tuple[str, ...] = ("quality", "safety", "compliance")
ROLLBACK_MITIGATIONS: tuple[str, ...] = (
    "model_rollback",
    "policy_rollback",
    "routing_rollback",
    "roll_forward",
)
MITIGATION_TYPES: tuple[str, ...] = (*ROLLBACK_MITIGATIONS, "config_fix", "none")
HOUR_US = 3_600_000_000


def hours(expr: pl.Expr) -> pl.Expr:
    """A duration expression in hours (float)."""
    return expr.dt.total_microseconds().cast(pl.Float64) / HOUR_US


US_PER_DAY = 86_400_000_000


def _window_candidates(known: pl.DataFrame, units: pl.DataFrame) -> pl.DataFrame:
    """Per incident with a reference time (``started_at``, else ``detected_at``): the latest
    release of its system strictly before it (``_cand``, ``_cand_at``)."""
    timed = (
        units.filter(pl.col("released_at").is_not_null())
        .select(
            pl.col("system"),
            pl.col("release_id").alias("_cand"),
            pl.col("released_at").alias("_cand_at"),
        )
        .sort("_cand_at")
    )
    with_ref = known.filter(pl.col("_ref").is_not_null()).sort("_ref")
    return with_ref.join_asof(
        timed,
        left_on="_ref",
        right_on="_cand_at",
        by="system",
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,  # sorted by _ref and _cand_at above; per-system order follows
    ).select(ROW, "_cand", "_cand_at")


def _window_expr(policy: Policy) -> pl.Expr:
    """Each incident's attribution window in microseconds (its system's, else the default)."""
    default = round(policy.attribution_window_days * US_PER_DAY)
    per_system = {s: round(d * US_PER_DAY) for s, d in policy.attribution_windows_by_system.items()}
    if not per_system:
        return pl.lit(default, dtype=pl.Int64)
    return pl.col("system").replace_strict(per_system, default=default, return_dtype=pl.Int64)


def _attribution_columns(df: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """``attributed_release_id``, ``attribution`` (the rule that decided), ``attribution_gap_hours``
    (candidate release to incident) and ``attribution_evidence`` (the rule in words)."""
    gap_us = (pl.col("_ref") - pl.col("_cand_at")).dt.total_microseconds()
    df = df.with_columns(
        _window_expr(policy).alias("_window_us"),
        (gap_us.cast(pl.Float64) / HOUR_US).alias("_gap_h"),
    ).with_columns(
        pl.when(gap_us <= pl.col("_window_us"))
        .then(pl.col("_cand"))
        .otherwise(None)
        .alias("_window_release")
    )
    days = (pl.col("_window_us").cast(pl.Float64) / US_PER_DAY).round(2).cast(pl.String)
    return df.with_columns(
        pl.when(pl.col(UNKNOWN_RELEASE))
        .then(None)
        .otherwise(pl.coalesce("release_id", "_window_release"))
        .alias("attributed_release_id"),
        pl.when(pl.col(UNKNOWN_RELEASE))
        .then(pl.lit("unknown_release"))
        .when(pl.col("release_id").is_not_null())
        .then(pl.lit("explicit"))
        .when(pl.col("_window_release").is_not_null())
        .then(pl.lit("window"))
        .otherwise(pl.lit("unattributed"))
        .alias("attribution"),
        pl.when(pl.col("release_id").is_null() & pl.col("_window_release").is_not_null())
        .then(pl.col("_gap_h"))
        .alias("attribution_gap_hours"),
        pl.when(pl.col(UNKNOWN_RELEASE))
        .then(pl.format("release_id {} is not in the releases table", "release_id"))
        .when(pl.col("release_id").is_not_null())
        .then(pl.format("release_id {} named on the incident", "release_id"))
        .when(pl.col("_window_release").is_not_null())
        .then(
            pl.format(
                "latest {} release before the incident, {} h earlier (window {} days)",
                "system",
                pl.col("_gap_h").round(1).cast(pl.String),
                days,
            )
        )
        .when(pl.col("_cand").is_not_null())
        .then(
            pl.format(
                "latest {} release {} was {} h earlier, beyond the {}-day window",
                "system",
                "_cand",
                pl.col("_gap_h").round(1).cast(pl.String),
                days,
            )
        )
        .otherwise(pl.format("no {} release before the incident", "system"))
        .alias("attribution_evidence"),
    )


def _attribution_findings(df: pl.DataFrame, policy: Policy) -> list[Finding]:
    """A warning per unattributed incident; an error-level finding per incident detected
    before the release it is attributed to (left out of MTTD, still a failure)."""
    findings: list[Finding] = []
    for row in df.filter(pl.col("attribution") == "unattributed").iter_rows(named=True):
        findings.append(
            Finding(
                table="incidents",
                code="unattributed_incident",
                row=row[ROW],
                line=row[LINE],
                record_id=row["incident_id"],
                column="release_id",
                severity="warning",
                message=(
                    f"no release of system '{row['system']}' within "
                    f"{policy.attribution_window(row['system']):g} days before the incident: "
                    "unattributed"
                ),
            )
        )
    early = df.filter(
        pl.col("attributed_release_id").is_not_null()
        & (pl.col("detected_at") < pl.col("release_released_at"))
    )
    for row in early.iter_rows(named=True):
        findings.append(
            Finding(
                table="incidents",
                code="impossible_duration",
                row=row[ROW],
                line=row[LINE],
                record_id=row["incident_id"],
                column="detected_at",
                message=(
                    f"detected before its release '{row['attributed_release_id']}' was released:"
                    " left out of MTTD, still counts as a failure"
                ),
            )
        )
    return findings


def attribute_incidents(
    incidents: pl.DataFrame, units: pl.DataFrame, policy: Policy, as_of: datetime
) -> tuple[pl.DataFrame, list[Finding]]:
    """Attribute every incident known at ``as_of`` to the release that caused it.

    Rule (METRICS.md): an explicit ``release_id`` wins; otherwise the latest release of the
    same system whose ``released_at`` is strictly before the incident's ``started_at`` (else
    ``detected_at``) and at most the system's attribution window before it (the edge is
    inclusive; ``attribution_window_days``, or ``attribution_window_days_by_system``);
    otherwise the incident is unattributed, reported as a warning finding.

    Adds ``attributed_release_id``, ``attribution`` (explicit / window / unattributed /
    unknown_release), ``attribution_gap_hours`` (window rule: release to incident),
    ``attribution_evidence`` (the rule and its evidence in words), ``dq_impact``
    (``decision_quality_impact``, defaulting to true for quality, safety and compliance),
    ``detection_valid`` (detected_at present and not before the release) and
    ``mitigated_by_as_of``.
    """
    known = known_incidents(incidents, as_of).with_columns(
        pl.coalesce("started_at", "detected_at").alias("_ref"),
        pl.col("decision_quality_impact")
        .fill_null(pl.col("category").is_in(DQ_CATEGORIES))
        .alias("dq_impact"),
    )
    df = known.join(_window_candidates(known, units), on=ROW, how="left")
    df = _attribution_columns(df, policy)
    released = units.select(
        pl.col("release_id").alias("attributed_release_id"),
        pl.col("released_at").alias("release_released_at"),
    )
    df = df.join(released, on="attributed_release_id", how="left").with_columns(
        (
            pl.col("detected_at").is_not_null()
            & (pl.col("detected_at") >= pl.col("release_released_at")).fill_null(False)
        ).alias("detection_valid"),
        (pl.col("mitigated_at") <= as_of).fill_null(False).alias("mitigated_by_as_of"),
    )
    findings = _attribution_findings(df, policy)
    drop = [c for c in df.columns if c.startswith("_") and c not in (ROW, LINE, MTTM_INVALID)]
    return df.drop(drop).sort(ROW), findings


def _incident_signals(attributed: pl.DataFrame) -> pl.DataFrame:
    """Per release from its attributed incidents: a decision-quality incident, the incident
    count, a rollback mitigation by ``as_of``, the first valid detections (DQ, and any)."""
    inc = attributed.filter(pl.col("attributed_release_id").is_not_null())
    return (
        inc.group_by("attributed_release_id")
        .agg(
            pl.col("dq_impact").any().alias("_dq_incident"),
            pl.len().alias("incident_count"),
            (pl.col("mitigation").is_in(ROLLBACK_MITIGATIONS) & pl.col("mitigated_by_as_of"))
            .any()
            .alias("_inc_rollback"),
            pl.col("detected_at")
            .filter(pl.col("detection_valid") & pl.col("dq_impact"))
            .min()
            .alias("_inc_detected"),
            pl.col("detected_at").filter(pl.col("detection_valid")).min().alias("_any_detected"),
        )
        .rename({"attributed_release_id": "release_id"})
    )


def _stage_signals(rollout_stages: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """Per release from its rollout stages known at ``as_of`` (a stage still running has no
    decision yet): a rollback decision, the first halt / rollback stage end."""
    stages = known_stages(rollout_stages, as_of)
    return stages.group_by("release_id").agg(
        (pl.col("decision") == "rollback").fill_null(False).any().alias("_stage_rollback"),
        pl.col("ended_at")
        .filter(pl.col("decision").is_in(["halt", "rollback"]))
        .min()
        .alias("_stage_detected"),
    )


def _operator_signals(operator_decisions: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """Per release from operator decisions known at ``as_of``: a rollback or roll-forward, and
    the first such decision."""
    ops = known_rows(operator_decisions, "decided_at", as_of).filter(
        pl.col("action").is_in(["rollback", "roll_forward"])
    )
    return ops.group_by("release_id").agg(
        pl.len().gt(0).alias("_op_rollback"), pl.col("decided_at").min().alias("_op_detected")
    )


def _telemetry_signals(telemetry_failures: Mapping[str, Sequence[str]] | None) -> pl.DataFrame:
    """Per release the decision-quality metrics the comparison found degraded."""
    failures = telemetry_failures or {}
    return pl.DataFrame(
        {
            "release_id": list(failures.keys()),
            "telemetry_metrics": [list(v) for v in failures.values()],
        },
        schema={"release_id": pl.String, "telemetry_metrics": pl.List(pl.String)},
    )


def _failure_columns(df: pl.DataFrame, enabled: Mapping[str, bool]) -> pl.DataFrame:
    """The signals (each switchable in the policy), ``failed``, ``dora_failed``, the failure
    signals list, ``detected_at`` and ``detection_hours``."""
    sig_incident = pl.col("_dq_incident").fill_null(False)
    sig_rollback = pl.any_horizontal(
        pl.col("_stage_rollback").fill_null(False),
        pl.col("_op_rollback").fill_null(False),
        pl.col("_inc_rollback").fill_null(False),
    )
    sig_telemetry = pl.col("telemetry_metrics").list.len().fill_null(0) > 0
    df = df.with_columns(
        (sig_incident & enabled["incident"]).alias("signal_incident"),
        (sig_rollback & enabled["rollback"]).alias("signal_rollback"),
        (sig_telemetry & enabled["telemetry"]).alias("signal_telemetry"),
        ((pl.col("incident_count").fill_null(0) > 0) | sig_rollback).alias("dora_failed"),
        pl.col("incident_count").fill_null(0),
        pl.coalesce(
            pl.min_horizontal("_inc_detected", "_stage_detected", "_op_detected"),
            pl.col("_any_detected"),
        ).alias("detected_at"),
    )
    return df.with_columns(
        pl.any_horizontal("signal_incident", "signal_rollback", "signal_telemetry").alias("failed"),
        pl.concat_list(
            pl.when(pl.col("signal_incident")).then(pl.lit("incident")),
            pl.when(pl.col("signal_rollback")).then(pl.lit("rollback")),
            pl.when(pl.col("signal_telemetry")).then(pl.lit("telemetry")),
        )
        .list.drop_nulls()
        .alias("failure_signals"),
        hours(pl.col("detected_at") - pl.col("released_at")).alias("detection_hours"),
    )


def release_failures(
    units: pl.DataFrame,
    attributed: pl.DataFrame,
    rollout_stages: pl.DataFrame,
    operator_decisions: pl.DataFrame,
    policy: Policy,
    as_of: datetime,
    telemetry_failures: Mapping[str, Sequence[str]] | None = None,
) -> pl.DataFrame:
    """Per release: which failure signals fired, whether it failed, and when it was detected.

    Signals (METRICS.md, each switchable in ``policy.failure_signals``):
    ``incident`` an attributed incident with decision-quality impact; ``rollback`` a rollback or
    roll-forward (a rollout stage decided ``rollback``, an operator decision ``rollback`` or
    ``roll_forward``, or an attributed incident mitigated by a rollback or roll-forward, all by
    ``as_of``); ``telemetry`` a significant decision-quality degradation beyond the margin
    (``telemetry_failures``: release_id -> degraded metrics, from the comparison engine).
    ``dora_failed``: any attributed incident or rollback. ``detected_at``: the first of the
    release's valid detections of a decision-quality incident, halt/rollback stage ends and
    operator rollback or roll-forward decisions; when there is none of those, its first valid
    incident detection of any category. ``detection_hours`` from ``released_at``.
    """
    df = units.select("release_id", "released_at")
    for part in (
        _incident_signals(attributed),
        _stage_signals(rollout_stages, as_of),
        _operator_signals(operator_decisions, as_of),
        _telemetry_signals(telemetry_failures),
    ):
        df = df.join(part, on="release_id", how="left")
    df = _failure_columns(df, policy.failure_signals)
    keep = [c for c in df.columns if not c.startswith("_") and c != "released_at"]
    return df.select(keep).sort("release_id")


def mttd(
    failures: pl.DataFrame, units: pl.DataFrame, as_of: datetime, alpha: float
) -> DurationResult:
    """Mean time to detect (hours) over releases failed by decision quality.

    Detection time runs from ``released_at`` to ``detected_at`` (see ``release_failures``). A
    failed release with no detection yet (found only by telemetry analysis) is right-censored at
    ``as_of``; mean, median and p90 describe the detected ones, ``km_median`` all of them.
    """
    df = failures.filter(pl.col("failed")).join(
        units.select("release_id", "released_at"), on="release_id", how="left"
    )
    observed = df["detection_hours"].is_not_null().to_numpy()
    censored_h = df.select(hours(pl.lit(as_of) - pl.col("released_at"))).to_series().to_numpy()
    durations = np.where(observed, df["detection_hours"].fill_null(0).to_numpy(), censored_h)
    if df.height == 0:
        return duration_summary(
            np.array([]), np.array([]), alpha, message="no release failed by decision quality"
        )
    return duration_summary(durations, observed, alpha)


def mttm(
    attributed: pl.DataFrame, release_ids: Sequence[str], as_of: datetime, alpha: float
) -> DurationResult:
    """Mean time to mitigate (hours) per attributed decision-quality incident of the releases.

    ``mitigated_at - detected_at``; an incident still open at ``as_of`` is right-censored there;
    an incident whose ``mitigated_at`` precedes ``detected_at`` is left out (a data-quality
    finding). ``extra["by_mitigation"]`` gives the same summary per mitigation type, and
    ``extra["excluded"]`` the count left out.
    """
    base = attributed.filter(
        pl.col("attributed_release_id").is_in(list(release_ids))
        & pl.col("dq_impact")
        & pl.col("detected_at").is_not_null()
    )
    excluded = int(base[MTTM_INVALID].sum())
    df = base.filter(~pl.col(MTTM_INVALID)).with_columns(
        pl.when(pl.col("mitigated_by_as_of"))
        .then(hours(pl.col("mitigated_at") - pl.col("detected_at")))
        .otherwise(hours(pl.lit(as_of) - pl.col("detected_at")))
        .alias("_h")
    )
    by: dict[str, dict] = {}
    for kind in MITIGATION_TYPES:
        part = df.filter(pl.col("mitigated_by_as_of") & (pl.col("mitigation") == kind))
        if part.height:
            by[kind] = duration_summary(
                part["_h"].to_numpy(), np.ones(part.height, bool), alpha
            ).to_dict()
    if df.height == 0:
        return duration_summary(
            np.array([]),
            np.array([]),
            alpha,
            message="no decision-quality incident",
            extra={"by_mitigation": by, "excluded": excluded},
        )
    return duration_summary(
        df["_h"].to_numpy(),
        df["mitigated_by_as_of"].to_numpy(),
        alpha,
        extra={"by_mitigation": by, "excluded": excluded},
    )
