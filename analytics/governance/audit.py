"""Release-process audit: did each release take the path its effective risk tier requires?

Per release (``audit_releases``) the records are checked against the policy of the release's
*effective* tier (the stricter of declared and implied, METRICS.md):

- **evidence**: every required item present, or waived with an approver
(``analytics.metrics.evidence``);
- **gates**: every required gate ran and its latest result (by ``evaluated_at``) is ``pass``, or
  ``waived`` with an approver; no gate of the release ended ``fail``. The gates table has no
  approver column in the data contract: a gate waiver counts as approved when the row carries
  a non-empty extra column ``approved_by``;
- **rollout**: at least one stage is recorded; a tier whose plan starts below 100 % had a
  canary (a stage below 100 %; else the ``offline_only`` anti-pattern); stages, in order of
  ``stage``, have non-decreasing ``traffic_pct`` and start times; for the ``high`` tier every
  planned percentage is reached (exactly) before any larger one; no stage with
  ``stop_condition_met`` was ``advance`` d;
- **approvals**: votes cast up to ``released_at``; each required role has a ``go`` (the latest
  vote of each approver counts), exactly one approver cast a ``final`` vote and the latest final
  vote is ``go``; ``accountable_owner`` names one person (not empty, no "a, b", "a and b");
- **train**: the release rides its effective tier's train or a stricter one (daily < weekly <
  monthly; an empty ``train`` is judged by the date alone) and ships in that tier's window
  (policy timezone; daily: any day; weekly: ISO weekday in ``trains.weekly_days``; monthly: such
  a weekday within the first ``trains.monthly_first_days`` days of the month); or it is
  ``train = emergency`` with a reason: a ``summary`` mentioning an emergency, hotfix, urgency or
  incident, or an operator decision to pause, roll back, roll forward or escalate the system's
  previous release, taken before this one;
- **observability**: the version marker (a telemetry case with the release's id) seen within
  ``observability.marker_within_hours`` of ``released_at``, and an operator decision recorded
  in ``[released_at, released_at + observability.operator_decisions_within_hours]``;
- **gate escape**: the release failed (CFR-DQ, ids given by the caller) although every required
  gate passed.

Anti-patterns (METRICS.md) are flagged per release; ``process_health`` counts them and the
checks above per month. Records dated after ``as_of`` are ignored (the cut of
``analytics.data.asof``:
gate evaluations by ``evaluated_at``, approvals and operator decisions by ``decided_at``, rollout
stages by ``started_at`` with their decision and stop condition known only at ``ended_at``); a
check that cannot be decided yet (its time window is still open at ``as_of``) is null, never a
finding.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import polars as pl

from analytics.core.columns import ROW
from analytics.core.errors import DataError
from analytics.core.policy import TIERS, Policy
from analytics.core.results import RateResult, Status, clean
from analytics.data.asof import known_rows, known_stages
from analytics.data.io import Dataset
from analytics.data.rollup import Rollup, dataset_rollup
from analytics.metrics.evidence import evidence_status
from analytics.metrics.releases import deployed_in_month, release_units
from analytics.stats.summaries import rate

Severity = Literal["critical", "major", "minor"]
TRAIN_RULES = ("daily", "weekly", "monthly")
# An emergency release states its reason by a summary matching this, or answers an operator's
# decision of one of these actions on the system's previous release.
EMERGENCY_REASON = r"(?i)emergenc|hotfix|urgent|incident"
EMERGENCY_ACTIONS = ("pause", "rollback", "roll_forward", "escalate")
# An accountable owner naming more than one person ("ann, bob", "ann and bob", "ann/bob").
SEVERAL_PEOPLE = r",|;|/|&|\band\b"
EVAL_ITEM_SUFFIX = "_eval"  # evaluation evidence: offline_eval, safety_eval, ...
_EPS = 1e-9
_STR_LIST = pl.List(pl.String)
UTC_TS_TYPE = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class FindingRule:
    """How a finding code reads: its severity, the area of the path it belongs to, one sentence a
    release manager understands, and whether it is raised by the audit, the gate, or both."""

    severity: Severity
    area: str
    sentence: str
    audit: bool = True
    gate: bool = False  # the pre-release gate answers no-go on it

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "severity": self.severity,
                "area": self.area,
                "sentence": self.sentence,
                "audit": self.audit,
                "gate": self.gate,
            }
        )


FINDING_CODES: Mapping[str, FindingRule] = {
    "misclassified": FindingRule(
        "major",
        "tier",
        "The declared risk tier is lower than the tier its changed components imply; the release "
        "is held to the stricter tier.",
        gate=True,
    ),
    "evidence_missing": FindingRule(
        "critical", "evidence", "Evidence that the risk tier requires is missing.", gate=True
    ),
    "waiver_without_approver": FindingRule(
        "major",
        "evidence",
        "A required evidence item or gate was waived without anyone approving the waiver.",
        gate=True,
    ),
    "gate_not_run": FindingRule(
        "critical", "gates", "A quality gate that the risk tier requires was not run.", gate=True
    ),
    "gate_failed": FindingRule(
        "critical", "gates", "A quality gate failed.", audit=False, gate=True
    ),
    "gate_failed_shipped": FindingRule(
        "critical", "gates", "The release shipped although a quality gate failed."
    ),
    "rollout_missing": FindingRule("major", "rollout", "No rollout is recorded for the release."),
    "rollout_out_of_order": FindingRule(
        "major",
        "rollout",
        "Rollout stages went out of order: traffic went down or a stage started before the "
        "previous one.",
    ),
    "rollout_step_skipped": FindingRule(
        "major", "rollout", "A high-risk rollout skipped a step of the planned traffic ramp."
    ),
    "stop_condition_ignored": FindingRule(
        "critical", "rollout", "The rollout advanced although a stop condition had been met."
    ),
    "stop_condition_met": FindingRule(
        "critical", "rollout", "A stop condition fired during the canary.", audit=False, gate=True
    ),
    "rollout_halted": FindingRule(
        "critical", "rollout", "The canary was halted or rolled back.", audit=False, gate=True
    ),
    "approval_missing": FindingRule(
        "major",
        "approvals",
        "A role that the risk tier requires did not approve (go) before the release.",
        gate=True,
    ),
    "no_final_approval": FindingRule(
        "critical", "approvals", "Nobody cast the final, accountable go / no-go vote.", gate=True
    ),
    "multiple_final_approvals": FindingRule(
        "major",
        "approvals",
        "More than one person cast a final vote, so accountability is split.",
        gate=True,
    ),
    "final_vote_not_go": FindingRule(
        "critical", "approvals", "The accountable final vote was not a go.", gate=True
    ),
    "no_accountable_owner": FindingRule(
        "major", "approvals", "The release names no accountable owner.", gate=True
    ),
    "multiple_accountable_owners": FindingRule(
        "major",
        "approvals",
        "The release names more than one accountable owner, so nobody is singly accountable.",
        gate=True,
    ),
    "train_violation": FindingRule(
        "minor",
        "train",
        "The release did not ride its risk tier's release train (a looser train, or outside "
        "the train's window).",
    ),
    "emergency_without_reason": FindingRule(
        "major", "train", "The release used the emergency train without a recorded reason."
    ),
    "no_version_marker_24h": FindingRule(
        "major",
        "observability",
        "The new version did not show up in telemetry within the required time after release.",
    ),
    "no_operator_decision_72h": FindingRule(
        "major",
        "observability",
        "No operator decision was recorded in the first days after release.",
    ),
    "gate_escape": FindingRule(
        "major", "outcome", "The release failed in production although it passed every gate."
    ),
    "demo_quality": FindingRule(
        "major",
        "anti_pattern",
        "Anti-pattern 'release on demo quality': no or too little evaluation evidence.",
    ),
    "offline_only": FindingRule(
        "major",
        "anti_pattern",
        "Anti-pattern 'offline tests only': shipped to all traffic without the canary its tier "
        "plans.",
    ),
    "no_risk_segmentation": FindingRule(
        "minor",
        "anti_pattern",
        "Anti-pattern 'no risk segmentation': every release of the month took the same path "
        "whatever its risk.",
    ),
    "ship_and_forget": FindingRule(
        "major",
        "anti_pattern",
        "Anti-pattern 'ship and forget': no telemetry and no operator decision after release.",
    ),
}

ANTI_PATTERNS: Mapping[str, str] = {
    "demo_quality": "release on demo quality (no or too small evaluation evidence)",
    "offline_only": "offline tests only (no canary where the tier plans one)",
    "no_risk_segmentation": "no risk segmentation (every release of the month took the same path)",
    "no_release_incident_link": "no link between release and incident (unattributed incidents)",
    "ship_and_forget": "ship and forget (no telemetry or operator decisions after release)",
}

CHECK_COLUMNS: tuple[str, ...] = (
    "tier_ok",
    "evidence_ok",
    "gates_ok",
    "rollout_ok",
    "approvals_ok",
    "single_owner",
    "train_ok",
    "marker_24h",
    "operator_72h",
    "observability_ok",
    "path_compliant",
    "gates_passed_all",
    "failed",
    "gate_escape",
    "demo_quality",
    "offline_only",
    "no_risk_segmentation",
    "ship_and_forget",
)


# ---------------------------------------------------------------- policy helpers


def _tier_table(policy: Policy) -> pl.DataFrame:
    rows = []
    for tier in TIERS:
        tp = policy.tiers[tier]
        if tp.train not in TRAIN_RULES:
            raise DataError(f"policy: tiers.{tier}.train must be one of {', '.join(TRAIN_RULES)}")
        rows.append(
            {
                "effective_tier": tier,
                "_req_evidence": list(tp.required_evidence),
                "_req_gates": list(tp.required_gates),
                "_plan": [float(p) for p in tp.rollout_plan],
                "_req_roles": list(tp.required_approvals),
                "_train_rule": tp.train,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "effective_tier": pl.String,
            "_req_evidence": _STR_LIST,
            "_req_gates": _STR_LIST,
            "_plan": pl.List(pl.Float64),
            "_req_roles": _STR_LIST,
            "_train_rule": pl.String,
        },
    )


def _hours(policy: Policy, section: str, key: str) -> timedelta:
    return timedelta(hours=float(policy.section(section)[key]))


def _empty_list() -> pl.Expr:
    return pl.lit([], dtype=_STR_LIST)


def _known(df: pl.DataFrame, col: str, as_of: datetime | None) -> pl.DataFrame:
    """Rows known at ``as_of``: dated no later than it (undated rows are kept; the one rule of
    ``analytics.data.asof``)."""
    return known_rows(df, col, as_of)


# ---------------------------------------------------------------- per-area checks


def _evidence_checks(evidence: pl.DataFrame, base: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    status = evidence_status(evidence, base, policy)
    required = (
        base.select("release_id", "_req_evidence")
        .explode("_req_evidence")
        .rename({"_req_evidence": "item"})
        .drop_nulls("item")
    )
    unapproved = (
        required.join(
            evidence.filter((pl.col("status") == "waived") & pl.col("approved_by").is_null())
            .select("release_id", "item")
            .unique(),
            on=["release_id", "item"],
            how="inner",
        )
        .group_by("release_id")
        .agg(pl.col("item").unique().sort().alias("unapproved_evidence_waivers"))
    )
    evals = (
        evidence.filter(
            (pl.col("status") == "present") & pl.col("item").str.ends_with(EVAL_ITEM_SUFFIX)
        )
        .group_by("release_id")
        .agg(pl.col("item").n_unique().cast(pl.Int64).alias("eval_items"))
    )
    return (
        base.select("release_id")
        .join(status, on="release_id", how="left")
        .join(unapproved, on="release_id", how="left")
        .join(evals, on="release_id", how="left")
        .with_columns(
            pl.col("unapproved_evidence_waivers").fill_null(_empty_list()),
            pl.col("eval_items").fill_null(0),
        )
        .with_columns(
            pl.col("missing_evidence")
            .list.set_difference("unapproved_evidence_waivers")
            .list.sort()
            .alias("absent_evidence"),
            pl.col("evidence_complete").alias("evidence_ok"),
        )
    )


def _gate_checks(gates: pl.DataFrame, base: pl.DataFrame, as_of: datetime | None) -> pl.DataFrame:
    approver = (
        pl.col("approved_by").cast(pl.String)
        if "approved_by" in gates.columns
        else pl.lit(None, dtype=pl.String)
    )
    latest = (
        _known(gates, "evaluated_at", as_of)
        .with_columns(approver.alias("_gate_approver"))
        .sort(["release_id", "gate", "evaluated_at", ROW], nulls_last=False)
        .unique(subset=["release_id", "gate"], keep="last", maintain_order=True)
        .select("release_id", "gate", "result", "_gate_approver")
    )
    required = (
        base.select("release_id", "_req_gates")
        .explode("_req_gates")
        .rename({"_req_gates": "gate"})
        .drop_nulls("gate")
        .join(latest, on=["release_id", "gate"], how="left")
    )
    res = pl.col("result")
    per_required = required.group_by("release_id").agg(
        pl.col("gate").filter(res.is_null() | (res == "not_run")).sort().alias("gates_not_run"),
        pl.col("gate")
        .filter((res == "waived") & pl.col("_gate_approver").is_null())
        .sort()
        .alias("unapproved_gate_waivers"),
        (res == "pass").fill_null(False).all().alias("_all_pass"),
    )
    failed = (
        latest.filter(res == "fail")
        .group_by("release_id")
        .agg(pl.col("gate").sort().alias("gates_failed"))
    )
    ran = (
        latest.filter(res.is_not_null() & (res != "not_run"))
        .group_by("release_id")
        .agg(pl.col("gate").unique().sort().alias("_gates_run"))
    )
    out = (
        base.select("release_id")
        .join(per_required, on="release_id", how="left")
        .join(failed, on="release_id", how="left")
        .join(ran, on="release_id", how="left")
        .with_columns(
            pl.col("gates_not_run").fill_null(_empty_list()),
            pl.col("unapproved_gate_waivers").fill_null(_empty_list()),
            pl.col("gates_failed").fill_null(_empty_list()),
            pl.col("_gates_run").fill_null(_empty_list()),
            pl.col("_all_pass").fill_null(True),  # a tier that requires no gate
        )
    )
    return out.with_columns(
        (
            (pl.col("gates_not_run").list.len() == 0)
            & (pl.col("gates_failed").list.len() == 0)
            & (pl.col("unapproved_gate_waivers").list.len() == 0)
        ).alias("gates_ok"),
        (pl.col("_all_pass") & (pl.col("gates_failed").list.len() == 0)).alias("gates_passed_all"),
    ).drop("_all_pass")


def _rollout_checks(
    stages: pl.DataFrame, base: pl.DataFrame, as_of: datetime | None
) -> pl.DataFrame:
    st = (
        known_stages(stages, as_of)  # a stage still running at as_of has no decision yet
        .filter(pl.col("stage").is_not_null())
        .sort(["release_id", "stage", "started_at", ROW], nulls_last=True)
        .with_columns(pl.int_range(pl.len()).over("release_id").alias("_idx"))
    )
    pct = pl.col("traffic_pct")
    per = st.group_by("release_id").agg(
        pl.len().cast(pl.Int64).alias("rollout_stages"),
        (pct < 100).fill_null(False).any().alias("_has_canary"),
        (
            (pct.sort_by("_idx").diff() < -_EPS).fill_null(False).any()
            | (pl.col("started_at").sort_by("_idx").diff() < timedelta(0)).fill_null(False).any()
        ).alias("_out_of_order"),
        (pl.col("stop_condition_met").fill_null(False) & (pl.col("decision") == "advance"))
        .sum()
        .cast(pl.Int64)
        .alias("stop_conditions_ignored"),
        pl.col("stop_condition_met").fill_null(False).any().alias("_stop_met"),
        pl.col("decision").is_in(["halt", "rollback"]).fill_null(False).any().alias("_halted"),
        pct.sort_by("_idx").cast(pl.String).str.replace(r"\.0$", "").alias("_traffic"),
    )
    plan = (
        base.filter(pl.col("effective_tier") == "high")
        .select("release_id", "_plan")
        .explode("_plan")
        .rename({"_plan": "_q"})
        .drop_nulls("_q")
    )
    steps = (
        plan.join(st.select("release_id", "_idx", "traffic_pct"), on="release_id", how="inner")
        .group_by("release_id", "_q")
        .agg(
            pl.col("_idx")
            .filter((pl.col("traffic_pct") - pl.col("_q")).abs() < _EPS)
            .min()
            .alias("_hit"),
            pl.col("_idx")
            .filter(pl.col("traffic_pct") > pl.col("_q") + _EPS)
            .min()
            .alias("_exceed"),
        )
        .filter(
            pl.col("_exceed").is_not_null()
            & (pl.col("_hit").is_null() | (pl.col("_hit") > pl.col("_exceed")))
        )
        .group_by("release_id")
        .agg(pl.col("_q").sort().alias("skipped_steps"))
    )
    out = (
        base.select("release_id", "_plan", "_deployed")
        .join(per, on="release_id", how="left")
        .join(steps, on="release_id", how="left")
        .with_columns(
            pl.col("rollout_stages").fill_null(0),
            pl.col("_has_canary").fill_null(False),
            pl.col("_out_of_order").fill_null(False),
            pl.col("stop_conditions_ignored").fill_null(0),
            pl.col("_stop_met").fill_null(False),
            pl.col("_halted").fill_null(False),
            pl.col("_traffic").fill_null(_empty_list()),
            pl.col("skipped_steps").fill_null(pl.lit([], dtype=pl.List(pl.Float64))),
            (pl.col("_plan").list.eval(pl.element() < 100).list.any())
            .fill_null(False)
            .alias("_plans_canary"),
        )
    )
    missing = pl.col("rollout_stages") == 0
    ok = (
        ~missing
        & ~(pl.col("_plans_canary") & ~pl.col("_has_canary"))
        & ~pl.col("_out_of_order")
        & (pl.col("skipped_steps").list.len() == 0)
        & (pl.col("stop_conditions_ignored") == 0)
    )
    return out.with_columns(
        missing.alias("_rollout_missing"),
        pl.when(pl.col("_deployed")).then(ok).otherwise(None).alias("rollout_ok"),
    ).drop("_plan", "_deployed")


def _approval_checks(
    approvals: pl.DataFrame, base: pl.DataFrame, as_of: datetime | None
) -> pl.DataFrame:
    """Votes count when cast no later than the release (and ``as_of``)."""
    cut = base.select(
        "release_id",
        (
            pl.min_horizontal("released_at", pl.lit(as_of, dtype=UTC_TS_TYPE))
            if as_of is not None
            else pl.col("released_at")
        ).alias("_cut"),
    )
    votes = approvals.join(cut, on="release_id", how="inner")
    if as_of is not None:
        votes = votes.filter(pl.col("_cut").is_null() | (pl.col("decided_at") <= pl.col("_cut")))
    votes = votes.sort(["release_id", "decided_at", ROW], nulls_last=False)
    latest = votes.unique(
        subset=["release_id", "role", "approver"], keep="last", maintain_order=True
    )
    go_roles = (
        latest.filter(pl.col("decision") == "go")
        .group_by("release_id")
        .agg(pl.col("role").unique().alias("_go_roles"))
    )
    finals = (
        votes.filter(pl.col("final").fill_null(False))
        .group_by("release_id")
        .agg(
            pl.col("approver").n_unique().cast(pl.Int64).alias("final_votes"),
            pl.col("decision").last().alias("final_decision"),
            pl.col("approver").last().alias("final_approver"),
        )
    )
    roles = latest.group_by("release_id").agg(pl.col("role").unique().sort().alias("_roles"))
    out = (
        base.select("release_id", "_req_roles", "accountable_owner")
        .join(go_roles, on="release_id", how="left")
        .join(finals, on="release_id", how="left")
        .join(roles, on="release_id", how="left")
        .with_columns(
            pl.col("_go_roles").fill_null(_empty_list()),
            pl.col("_roles").fill_null(_empty_list()),
            pl.col("final_votes").fill_null(0),
        )
        .with_columns(
            pl.col("_req_roles")
            .list.set_difference("_go_roles")
            .list.sort()
            .alias("missing_approvals"),
        )
    )
    return out.with_columns(
        (
            (pl.col("missing_approvals").list.len() == 0)
            & (pl.col("final_votes") == 1)
            & (pl.col("final_decision") == "go").fill_null(False)
        ).alias("approvals_ok"),
        (
            pl.col("accountable_owner").is_not_null()
            & ~pl.col("accountable_owner").str.contains(SEVERAL_PEOPLE).fill_null(False)
            & (pl.col("final_votes") == 1)
        ).alias("single_owner"),
    ).drop("_req_roles", "accountable_owner", "_go_roles")


def _train_checks(
    base: pl.DataFrame,
    units: pl.DataFrame,
    decisions: pl.DataFrame,
    policy: Policy,
    as_of: datetime | None,
) -> pl.DataFrame:
    trains = policy.section("trains")
    weekly_days = [int(d) for d in trains["weekly_days"]]
    first_days = int(trains["monthly_first_days"])
    local = pl.col("released_at").dt.convert_time_zone(policy.timezone)
    on_day = local.dt.weekday().is_in(weekly_days)
    in_window = (
        pl.when(pl.col("_train_rule") == "daily")
        .then(pl.lit(True))
        .when(pl.col("_train_rule") == "weekly")
        .then(on_day)
        .otherwise(on_day & (local.dt.day() <= first_days))
    )
    # An operator's call to stop or replace the previous version of the system, taken before
    # this release, is the reason an emergency release answers.
    previous_call = (
        _known(decisions, "decided_at", as_of)
        .filter(pl.col("action").is_in(EMERGENCY_ACTIONS))
        .join(
            units.select(
                pl.col("previous_release_id").alias("release_id"),
                pl.col("release_id").alias("_next"),
                pl.col("released_at").alias("_next_at"),
            ),
            on="release_id",
            how="inner",
        )
        .filter(pl.col("decided_at") <= pl.col("_next_at"))
        .select(pl.col("_next").alias("release_id"))
        .unique()
        .with_columns(pl.lit(True).alias("_op_reason"))
    )
    emergency = (pl.col("train") == "emergency").fill_null(False)
    rank = {t: i for i, t in enumerate(TRAIN_RULES)}
    looser = (
        pl.col("train").replace_strict(rank, default=None, return_dtype=pl.Int8)
        < pl.col("_train_rule").replace_strict(rank, default=None, return_dtype=pl.Int8)
    ).fill_null(False)
    reason = pl.col("summary").str.contains(EMERGENCY_REASON).fill_null(False) | pl.col(
        "_op_reason"
    ).fill_null(False)
    return (
        base.select("release_id", "released_at", "train", "summary", "_train_rule")
        .join(previous_call, on="release_id", how="left")
        .with_columns(
            (in_window & ~looser).alias("in_train_window"),
            (emergency & reason).alias("emergency_with_reason"),
            emergency.alias("_emergency"),
        )
        .with_columns(
            (pl.col("in_train_window") | pl.col("emergency_with_reason")).alias("train_ok"),
        )
        .select("release_id", "in_train_window", "emergency_with_reason", "_emergency", "train_ok")
    )


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
    marker_h = _hours(policy, "observability", "marker_within_hours")
    ops_h = _hours(policy, "observability", "operator_decisions_within_hours")
    forget = timedelta(days=policy.observation_window_days)
    ops = (
        _known(decisions, "decided_at", as_of)
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


UNIT_COLUMNS = (
    "release_id",
    "system",
    "released_at",
    "month",
    "previous_release_id",
    "changed_components",
    "declared_tier",
    "implied_tier",
    "effective_tier",
    "misclassified",
    "accountable_owner",
    "train",
    "summary",
)


def _base(units: pl.DataFrame, policy: Policy, as_of: datetime | None) -> pl.DataFrame:
    deployed = (
        pl.col("released_at").is_not_null()
        if as_of is None
        else (pl.col("released_at") <= as_of).fill_null(False)
    )
    # Only the release-unit columns: callers may pass a wider table (e.g. kpis.analyze's).
    return (
        units.select(UNIT_COLUMNS)
        .join(_tier_table(policy), on="effective_tier", how="left")
        .with_columns(deployed.alias("_deployed"))
    )


def _path_signature() -> pl.Expr:
    return pl.concat_str(
        pl.col("_gates_run").list.join(","),
        pl.col("_traffic").list.join(">"),
        pl.col("_roles").list.join(","),
        separator="|",
    )


def _findings_expr(gate_mode: bool) -> pl.Expr:
    """The list of finding codes of a release, in ``FINDING_CODES`` order."""
    nonempty = lambda c: pl.col(c).list.len() > 0  # noqa: E731
    conds: dict[str, pl.Expr] = {
        "misclassified": pl.col("misclassified"),
        "evidence_missing": nonempty("absent_evidence"),
        "waiver_without_approver": nonempty("unapproved_evidence_waivers")
        | nonempty("unapproved_gate_waivers"),
        "gate_not_run": nonempty("gates_not_run"),
        "gate_failed": nonempty("gates_failed"),
        "gate_failed_shipped": nonempty("gates_failed") & pl.col("_deployed"),
        "rollout_missing": pl.col("_rollout_missing") & pl.col("_deployed"),
        "rollout_out_of_order": pl.col("_out_of_order"),
        "rollout_step_skipped": nonempty("skipped_steps"),
        "stop_condition_ignored": pl.col("stop_conditions_ignored") > 0,
        "stop_condition_met": pl.col("_stop_met"),
        "rollout_halted": pl.col("_halted"),
        "approval_missing": nonempty("missing_approvals"),
        "no_final_approval": pl.col("final_votes") == 0,
        "multiple_final_approvals": pl.col("final_votes") > 1,
        "final_vote_not_go": (pl.col("final_votes") > 0) & (pl.col("final_decision") != "go"),
        "no_accountable_owner": pl.col("accountable_owner").is_null(),
        "multiple_accountable_owners": pl.col("accountable_owner").str.contains(SEVERAL_PEOPLE),
        "train_violation": pl.col("train_ok").not_(),
        "emergency_without_reason": pl.col("_emergency") & pl.col("train_ok").not_(),
    }
    if not gate_mode:
        conds.update(
            {
                "no_version_marker_24h": pl.col("marker_24h").not_(),
                "no_operator_decision_72h": pl.col("operator_72h").not_(),
                "gate_escape": pl.col("gate_escape"),
                "demo_quality": pl.col("demo_quality"),
                "offline_only": pl.col("offline_only"),
                "no_risk_segmentation": pl.col("no_risk_segmentation"),
                "ship_and_forget": pl.col("ship_and_forget"),
            }
        )
    codes = [
        pl.when(conds[code].fill_null(False)).then(pl.lit(code)).otherwise(None)
        for code, rule in FINDING_CODES.items()
        if code in conds and (rule.gate if gate_mode else rule.audit)
    ]
    return pl.concat_list(codes).list.drop_nulls().alias("findings")


def _pre_release(
    ds: Dataset, units: pl.DataFrame, base: pl.DataFrame, as_of: datetime | None
) -> pl.DataFrame:
    """Checks that need no production records: tier, evidence, gates, rollout, approvals, train."""
    policy = ds.policy
    df = (
        base.join(_evidence_checks(ds.evidence, base, policy), on="release_id", how="left")
        .join(_gate_checks(ds.gates, base, as_of), on="release_id", how="left")
        .join(_rollout_checks(ds.rollout_stages, base, as_of), on="release_id", how="left")
        .join(_approval_checks(ds.approvals, base, as_of), on="release_id", how="left")
        .join(
            _train_checks(base, units, ds.operator_decisions, policy, as_of),
            on="release_id",
            how="left",
        )
    )
    return df.with_columns(pl.col("misclassified").not_().alias("tier_ok"))


def audit_releases(
    ds: Dataset,
    units: pl.DataFrame,
    as_of: datetime,
    failed: Collection[str] = (),
    *,
    rollup: Rollup | None = None,
) -> pl.DataFrame:
    """Audit every release of ``units`` against its effective tier's path, as known at ``as_of``.

    One row per release: ``release_id``, ``effective_tier``, ``month``, ``deployed``,
    ``findings`` (list of ``FINDING_CODES`` codes, in that order; empty for a release not
    deployed by ``as_of``, which ``gate_decision`` judges instead), boolean checks
    (``CHECK_COLUMNS``: null = not decidable yet, e.g. the 24 h marker window is still open or
    the release is after ``as_of``) and detail columns (``missing_evidence``,
    ``absent_evidence``, ``unapproved_evidence_waivers``, ``gates_not_run``, ``gates_failed``,
    ``unapproved_gate_waivers``, ``skipped_steps``, ``stop_conditions_ignored`` (count of stages),
    ``missing_approvals``, ``final_votes``, ``eval_items``, ``path_signature``).
    ``path_compliant`` = evidence, gates, rollout and approvals all ok. ``failed``: ids of
    releases failed by CFR-DQ, used for ``gate_escape``. ``rollup``: the telemetry rollup when
    the caller has it already (else it is taken from ``ds``).
    """
    policy = ds.policy
    base = _base(units, policy, as_of)
    roll = rollup if rollup is not None else dataset_rollup(ds.telemetry, ds.telemetry_rollup)
    df = _pre_release(ds, units, base, as_of).join(
        _observability_checks(base, ds.operator_decisions, roll, policy, as_of),
        on="release_id",
        how="left",
    )
    min_eval = int(policy.section("anti_patterns")["min_eval_evidence_items"])
    failed_ids = pl.Series(sorted(set(failed)), dtype=pl.String)
    df = df.with_columns(
        pl.when(pl.col("_deployed"))
        .then(
            pl.col("evidence_ok")
            & pl.col("gates_ok")
            & pl.col("rollout_ok")
            & pl.col("approvals_ok")
        )
        .otherwise(None)
        .alias("path_compliant"),
        pl.col("release_id").is_in(failed_ids.implode()).alias("failed"),
        (pl.col("eval_items") < min_eval).alias("demo_quality"),
        pl.when(pl.col("_deployed"))
        .then(pl.col("_plans_canary") & ~pl.col("_has_canary"))
        .otherwise(None)
        .alias("offline_only"),
        _path_signature().alias("path_signature"),
    ).with_columns(
        (pl.col("failed") & pl.col("gates_passed_all")).alias("gate_escape"),
    )
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
    df = df.join(months, on="month", how="left").with_columns(
        pl.when(pl.col("_deployed"))
        .then(pl.col("_same_path").fill_null(False))
        .otherwise(None)
        .alias("no_risk_segmentation"),
    )
    df = df.with_columns(
        pl.when(pl.col("_deployed"))
        .then(_findings_expr(gate_mode=False))
        .otherwise(_empty_list())
        .alias("findings"),
        pl.col("_deployed").alias("deployed"),
    )
    df = df.with_columns(pl.col("_traffic").alias("traffic_steps"))
    keep = [
        "release_id",
        "system",
        "released_at",
        "month",
        "changed_components",
        "declared_tier",
        "implied_tier",
        "effective_tier",
        "misclassified",
        "accountable_owner",
        "train",
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
    ]
    return df.select(keep).sort(["released_at", "release_id"], nulls_last=True)


# ---------------------------------------------------------------- monthly process health


@dataclass(frozen=True)
class CountResult:
    """A count of events in a period with the releases behind them."""

    count: int
    release_ids: tuple[str, ...] = ()
    status: Status = "ok"
    message: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "count": self.count,
            "release_ids": list(self.release_ids),
            "status": self.status,
            "message": self.message,
        }
        out.update(self.extra)
        return clean(out)


@dataclass(frozen=True)
class AntiPatternResult:
    """One anti-pattern in a month: how often it occurred and what is behind it.

    ``count`` is the number of releases flagged, except for ``no_risk_segmentation`` (1 when the
    month is flagged, its releases behind it) and ``no_release_incident_link`` (unattributed
    incidents, listed in ``incident_ids``)."""

    name: str
    description: str
    count: int
    release_ids: tuple[str, ...] = ()
    incident_ids: tuple[str, ...] = ()
    status: Status = "ok"
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "name": self.name,
                "description": self.description,
                "count": self.count,
                "release_ids": list(self.release_ids),
                "incident_ids": list(self.incident_ids),
                "status": self.status,
                "message": self.message,
            }
        )


@dataclass(frozen=True)
class ProcessHealth:
    """Process-health KPIs of one month's cohort of deployed releases (METRICS.md)."""

    month: str
    as_of: datetime
    releases: int
    path_compliance: RateResult
    path_compliance_by_tier: Mapping[str, RateResult]
    misclassification_rate: RateResult
    stop_conditions_ignored: CountResult
    gate_escape_rate: RateResult
    single_owner_share: RateResult
    train_compliance: RateResult
    observability_linkage: RateResult
    anti_patterns: Mapping[str, AntiPatternResult]
    findings: Mapping[str, tuple[str, ...]]  # code -> releases of the month with that finding
    release_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "month": self.month,
                "as_of": self.as_of,
                "releases": self.releases,
                "release_ids": list(self.release_ids),
                "path_compliance": self.path_compliance.to_dict(),
                "path_compliance_by_tier": {
                    t: r.to_dict() for t, r in self.path_compliance_by_tier.items()
                },
                "misclassification_rate": self.misclassification_rate.to_dict(),
                "stop_conditions_ignored": self.stop_conditions_ignored.to_dict(),
                "gate_escape_rate": self.gate_escape_rate.to_dict(),
                "single_owner_share": self.single_owner_share.to_dict(),
                "train_compliance": self.train_compliance.to_dict(),
                "observability_linkage": self.observability_linkage.to_dict(),
                "anti_patterns": {k: v.to_dict() for k, v in self.anti_patterns.items()},
                "findings": {
                    code: {
                        "count": len(ids),
                        "release_ids": list(ids),
                        "severity": FINDING_CODES[code].severity,
                        "sentence": FINDING_CODES[code].sentence,
                    }
                    for code, ids in self.findings.items()
                },
            }
        )

    def sentences(self) -> list[str]:
        """Readable one-liners for the executive report, worst first."""
        out = []
        pc = self.path_compliance
        if pc.value is not None:
            out.append(
                f"{pc.numerator} of {pc.denominator} releases followed the path their risk tier "
                f"requires ({pc.value:.0%}, interval {pc.ci_low:.0%}-{pc.ci_high:.0%})."
            )
        if self.stop_conditions_ignored.count:
            out.append(
                f"{self.stop_conditions_ignored.count} stop condition(s) were ignored "
                f"({', '.join(self.stop_conditions_ignored.release_ids)})."
            )
        ge = self.gate_escape_rate
        if ge.value is not None and ge.numerator:
            out.append(f"{ge.numerator} of {ge.denominator} failed releases had passed every gate.")
        for ap in self.anti_patterns.values():
            if ap.count:
                behind = ", ".join(ap.release_ids or ap.incident_ids)
                out.append(f"Anti-pattern {ap.description}: {ap.count} ({behind}).")
        return out


def _bool_rate(
    df: pl.DataFrame,
    col: str,
    alpha: float,
    *,
    what: str,
    pending: str = "not decidable yet",
    extra: dict | None = None,
) -> RateResult:
    known = df.filter(pl.col(col).is_not_null())
    undecided = df.height - known.height
    status: Status = "ok"
    message = ""
    if undecided and known.height:
        status, message = "immature", f"{undecided} release(s) {pending}"
    elif undecided:
        message = f"{undecided} release(s) {pending}"
    behind = known.filter(~pl.col(col))["release_id"].to_list()
    return rate(
        int(known[col].sum()),
        known.height,
        alpha,
        status=status,
        message=message or ("" if df.height else f"no release deployed ({what})"),
        extra={"non_compliant_release_ids": behind, **(extra or {})},
    )


def _unattributed(
    unattributed_incidents: pl.DataFrame | int | None, month: str, as_of: datetime, policy: Policy
) -> tuple[int, tuple[str, ...], Status, str]:
    if unattributed_incidents is None:
        return 0, (), "insufficient_data", "unattributed incidents not given"
    if isinstance(unattributed_incidents, int):
        return unattributed_incidents, (), "ok", ""
    inc = unattributed_incidents
    if "attribution" in inc.columns:
        inc = inc.filter(pl.col("attribution").is_in(["unattributed", "unknown_release"]))
    inc = inc.filter(
        (pl.col("detected_at") <= as_of)
        & (
            pl.col("detected_at").dt.convert_time_zone(policy.timezone).dt.strftime("%Y-%m")
            == month
        )
    ).sort("detected_at", "incident_id")
    ids = tuple(inc["incident_id"].to_list())
    return len(ids), ids, "ok", ""


def process_health(
    audit: pl.DataFrame,
    units: pl.DataFrame,
    month: str,
    as_of: datetime,
    policy: Policy,
    unattributed_incidents: pl.DataFrame | int | None = None,
) -> ProcessHealth:
    """Monthly process-health KPIs of the releases deployed in ``month`` (policy timezone).

    Every rate is a ``RateResult`` (Wilson interval, counts;
    ``extra.non_compliant_release_ids`` lists the releases that fail it). Releases whose check
    is not decidable yet are left out of its denominator and make the status ``immature``.

    - ``path_compliance`` (overall and per effective tier): evidence, gates, rollout and
      approvals all as the tier requires;
    - ``misclassification_rate``: declared tier lower than implied;
    - ``stop_conditions_ignored``: stages advanced although their stop condition was met;
    - ``gate_escape_rate``: of the month's failed releases, the share that had passed every
      required gate;
    - ``single_owner_share``: an accountable owner named and exactly one final vote;
    - ``train_compliance``; ``observability_linkage`` (marker within 24 h and operator decision
      within 72 h; ``extra`` has each part);
    - ``anti_patterns``: the five of METRICS.md. ``unattributed_incidents``: a frame of
      incidents (``incident_id``, ``detected_at``, optionally ``attribution`` as given by
      ``analytics.metrics.incidents.attribute_incidents``) of which those detected in the month
      count,
      or their number; None makes that anti-pattern ``insufficient_data``.
    """
    alpha = policy.alpha
    cohort_ids = deployed_in_month(units, month, as_of).select("release_id")
    df = cohort_ids.join(audit, on="release_id", how="inner").sort(
        ["released_at", "release_id"], nulls_last=True
    )
    ids = tuple(df["release_id"].to_list())
    by_tier = {
        tier: _bool_rate(
            df.filter(pl.col("effective_tier") == tier),
            "path_compliant",
            alpha,
            what=f"tier {tier}",
        )
        for tier in TIERS
    }
    stop = df.filter(pl.col("stop_conditions_ignored") > 0)
    failed = df.filter(pl.col("failed"))
    escaped = failed.filter(pl.col("gate_escape"))
    gate_escape = rate(
        escaped.height,
        failed.height,
        alpha,
        message="" if failed.height else "no failed release in the month",
        extra={
            "release_ids": escaped["release_id"].to_list(),
            "releases_passing_all_gates": int(df["gates_passed_all"].fill_null(False).sum()),
        },
    )
    telemetry = bool(df["telemetry_available"].any()) if df.height else False
    marker = _bool_rate(
        df,
        "marker_24h",
        alpha,
        what="marker",
        pending="inside the window" if telemetry else "without telemetry",
    )
    ops = _bool_rate(
        df, "operator_72h", alpha, what="operator decisions", pending="inside the window"
    )
    linkage = _bool_rate(
        df,
        "observability_ok",
        alpha,
        what="observability",
        pending="inside the window" if telemetry else "without telemetry in the dataset",
        extra={"marker_24h": marker.to_dict(), "operator_72h": ops.to_dict()},
    )
    if not telemetry and df.height:
        linkage = RateResult(
            None,
            0,
            0,
            status="insufficient_data",
            message="the dataset has no telemetry: the version marker cannot be checked",
            extra={"marker_24h": marker.to_dict(), "operator_72h": ops.to_dict()},
        )
    anti: dict[str, AntiPatternResult] = {}
    for name in ("demo_quality", "offline_only", "ship_and_forget"):
        flagged = df.filter(pl.col(name).fill_null(False))["release_id"].to_list()
        pending = int(df[name].null_count())
        anti[name] = AntiPatternResult(
            name,
            ANTI_PATTERNS[name],
            len(flagged),
            tuple(flagged),
            status="immature" if pending else "ok",
            message=f"{pending} release(s) not decidable yet" if pending else "",
        )
    seg = df.filter(pl.col("no_risk_segmentation").fill_null(False))["release_id"].to_list()
    anti["no_risk_segmentation"] = AntiPatternResult(
        "no_risk_segmentation",
        ANTI_PATTERNS["no_risk_segmentation"],
        int(bool(seg)),
        tuple(seg),
    )
    n_inc, inc_ids, inc_status, inc_msg = _unattributed(
        unattributed_incidents, month, as_of, policy
    )
    anti["no_release_incident_link"] = AntiPatternResult(
        "no_release_incident_link",
        ANTI_PATTERNS["no_release_incident_link"],
        n_inc,
        incident_ids=inc_ids,
        status=inc_status,
        message=inc_msg,
    )
    tiered = df.filter(pl.col("misclassified").is_not_null())
    miscl_ids = tiered.filter(pl.col("misclassified"))["release_id"].to_list()
    misclassification = rate(
        len(miscl_ids),
        tiered.height,
        alpha,
        extra={"release_ids": miscl_ids},
        message=""
        if tiered.height == df.height
        else f"{df.height - tiered.height} release(s) without a valid declared tier",
    )
    exploded = df.select("release_id", "findings").explode("findings").drop_nulls("findings")
    findings = {
        code: tuple(exploded.filter(pl.col("findings") == code)["release_id"].to_list())
        for code in FINDING_CODES
    }
    return ProcessHealth(
        month=month,
        as_of=as_of,
        releases=df.height,
        path_compliance=_bool_rate(df, "path_compliant", alpha, what="path"),
        path_compliance_by_tier=by_tier,
        misclassification_rate=misclassification,
        stop_conditions_ignored=CountResult(
            int(stop["stop_conditions_ignored"].sum()) if stop.height else 0,
            tuple(stop["release_id"].to_list()),
            message="stages advanced although their stop condition was met",
            extra={"releases": stop.height},
        ),
        gate_escape_rate=gate_escape,
        single_owner_share=_bool_rate(df, "single_owner", alpha, what="owner"),
        train_compliance=_bool_rate(
            df, "train_ok", alpha, what="train", pending="without a release time"
        ),
        observability_linkage=linkage,
        anti_patterns=anti,
        findings={c: ids_ for c, ids_ in findings.items() if ids_},
        release_ids=ids,
    )


# ---------------------------------------------------------------- pre-release gate


@dataclass(frozen=True)
class GateReason:
    """One reason of a gate decision: a finding code, its severity and a specific message."""

    code: str
    severity: Severity
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message}


@dataclass(frozen=True)
class GateDecision:
    """Go / no-go for a candidate release. ``decision`` is ``invalid`` when the dataset has
    errors in this release's own records (the answer would rest on partial data)."""

    release_id: str
    decision: Literal["go", "no_go", "invalid"]
    system: str | None
    declared_tier: str | None
    implied_tier: str
    effective_tier: str
    changed_components: tuple[str, ...]
    reasons: tuple[GateReason, ...]
    warnings: tuple[GateReason, ...]
    checks: Mapping[str, bool]
    data_errors: tuple[str, ...] = ()
    policy_source: str = ""

    @property
    def exit_code(self) -> int:
        """0 go, 1 no-go, 2 invalid input."""
        return {"go": 0, "no_go": 1, "invalid": 2}[self.decision]

    @property
    def summary(self) -> str:
        head = {"go": "GO", "no_go": "NO-GO", "invalid": "INVALID INPUT"}[self.decision]
        tier = f"effective tier {self.effective_tier}" + (
            f" (declared {self.declared_tier})" if self.declared_tier != self.effective_tier else ""
        )
        n = len(self.reasons) + len(self.data_errors)
        why = f": {n} blocking reason(s)" if n else ""
        return f"{head} for release {self.release_id}, {tier}{why}"

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "release_id": self.release_id,
                "decision": self.decision,
                "exit_code": self.exit_code,
                "summary": self.summary,
                "system": self.system,
                "declared_tier": self.declared_tier,
                "implied_tier": self.implied_tier,
                "effective_tier": self.effective_tier,
                "changed_components": list(self.changed_components),
                "reasons": [r.to_dict() for r in self.reasons],
                "warnings": [w.to_dict() for w in self.warnings],
                "checks": dict(self.checks),
                "data_errors": list(self.data_errors),
                "policy": self.policy_source,
            }
        )

    def to_text(self) -> str:
        lines = [self.summary]
        lines += [f"  data error: {e}" for e in self.data_errors]
        lines += [f"  [{r.severity}] {r.code}: {r.message}" for r in self.reasons]
        lines += [f"  warning {w.code}: {w.message}" for w in self.warnings]
        lines += [f"  check {k}: {'ok' if v else 'FAILED'}" for k, v in self.checks.items()]
        return "\n".join(lines)


def _release_data_errors(ds: Dataset, release_id: str) -> tuple[str, ...]:
    """Error findings in the release's own rows (releases row or rows naming the release)."""
    rows: dict[str, set[int]] = {}
    for name in ("releases", "evidence", "gates", "rollout_stages", "approvals"):
        table = ds.table(name)
        rows[name] = set(table.filter(pl.col("release_id") == release_id)[ROW].to_list())
    out = []
    for f in ds.quality.errors:
        if f.table == "releases" and f.record_id == release_id:
            out.append(str(f))
        elif f.table in rows and f.row is not None and f.row in rows[f.table]:
            out.append(str(f))
    return tuple(out)


def _gate_message(code: str, r: Mapping[str, Any]) -> str:
    def items(name: str) -> str:
        return ", ".join(str(x) for x in (r.get(name) or []))

    tier = r["effective_tier"]
    match code:
        case "misclassified":
            return (
                f"declared tier {r['declared_tier']} but the changed components "
                f"({', '.join(r['changed_components'])}) imply {r['implied_tier']}: "
                f"declare it {r['implied_tier']}"
            )
        case "evidence_missing":
            return f"missing evidence required for tier {tier}: {items('absent_evidence')}"
        case "waiver_without_approver":
            parts = []
            if r["unapproved_evidence_waivers"]:
                parts.append(f"evidence {items('unapproved_evidence_waivers')}")
            if r["unapproved_gate_waivers"]:
                parts.append(f"gates {items('unapproved_gate_waivers')}")
            return "waived without an approver: " + "; ".join(parts)
        case "gate_not_run":
            return f"required gates not run for tier {tier}: {items('gates_not_run')}"
        case "gate_failed":
            return f"gates failed: {items('gates_failed')}"
        case "stop_condition_met":
            return "a canary stage met its stop condition"
        case "rollout_halted":
            return "a canary stage was halted or rolled back"
        case "approval_missing":
            return f"no go from required role(s): {items('missing_approvals')}"
        case "no_final_approval":
            return "no final (accountable) vote recorded"
        case "multiple_final_approvals":
            return f"{r['final_votes']} approvers cast a final vote; exactly one is required"
        case "final_vote_not_go":
            return f"the final vote of {r['final_approver']} is {r['final_decision']}"
        case "no_accountable_owner":
            return "accountable_owner is empty"
        case "multiple_accountable_owners":
            return f"accountable_owner names several people: {r['accountable_owner']}"
        case "train_violation":
            return (
                f"tier {tier} ships on the {r['_train_rule']} train; the release is on the "
                f"{r['train'] or 'unnamed'} train at {r['released_at']:%Y-%m-%d %H:%M} UTC"
            )
        case "emergency_without_reason":
            return "emergency train without a reason in the summary or an operator decision"
        case "demo_quality":
            return f"only {r['eval_items']} evaluation evidence item(s) present"
        case _:
            return FINDING_CODES[code].sentence


def gate_decision(ds: Dataset, release_id: str) -> GateDecision:
    """Go / no-go for ``release_id`` from the records as they stand (no ``as_of`` cut).

    No-go when any gate-blocking check fails (``FindingRule.gate``): misclassified tier,
    required evidence missing, a waiver without approver, a required gate not run or any gate
    failed, a required approval missing, not exactly one final vote or a final vote that is not
    go, no accountable owner, and, when rollout stages exist (a canary in progress), a stop
    condition met or a stage halted / rolled back. Train window and demo-quality evidence are
    warnings. Works without telemetry or rollout records. Raises ``DataError`` for an unknown
    release id; ``decision = "invalid"`` when the release's own rows have data errors.
    """
    policy = ds.policy
    if ds.releases.filter(pl.col("release_id") == release_id).height == 0:
        raise DataError(f"release '{release_id}' is not in the releases table")
    units = release_units(ds.releases, policy)
    base = _base(units.filter(pl.col("release_id") == release_id), policy, None)
    df = _pre_release(ds, units, base, None)
    min_eval = int(policy.section("anti_patterns")["min_eval_evidence_items"])
    df = df.with_columns(
        (pl.col("eval_items") < min_eval).alias("demo_quality"),
        _findings_expr(gate_mode=True),
    )
    r = df.row(0, named=True)
    reasons = tuple(
        GateReason(code, FINDING_CODES[code].severity, _gate_message(code, r))
        for code in r["findings"]
        if FINDING_CODES[code].gate
    )
    warn_codes = []
    if r["train_ok"] is False:
        warn_codes.append("train_violation")
        if r["_emergency"]:
            warn_codes.append("emergency_without_reason")
    if r["demo_quality"]:
        warn_codes.append("demo_quality")
    warnings = tuple(
        GateReason(c, FINDING_CODES[c].severity, _gate_message(c, r)) for c in warn_codes
    )
    checks = {
        "tier": bool(r["tier_ok"]) if r["tier_ok"] is not None else False,
        "evidence": bool(r["evidence_ok"]) and not r["unapproved_evidence_waivers"],
        "gates": bool(r["gates_ok"]),
        "approvals": bool(r["approvals_ok"]) and r["accountable_owner"] is not None,
        "canary": not (r["_stop_met"] or r["_halted"]),
        "train": bool(r["train_ok"]),
    }
    errors = _release_data_errors(ds, release_id)
    decision: Literal["go", "no_go", "invalid"] = (
        "invalid" if errors else ("no_go" if reasons else "go")
    )
    return GateDecision(
        release_id=release_id,
        decision=decision,
        system=r["system"],
        declared_tier=r["declared_tier"],
        implied_tier=r["implied_tier"],
        effective_tier=r["effective_tier"],
        changed_components=tuple(r["changed_components"] or ()),
        reasons=reasons,
        warnings=warnings,
        checks=checks,
        data_errors=errors,
        policy_source=policy.source,
    )


# ---------------------------------------------------------------- path required vs happened


@dataclass(frozen=True)
class PathStep:
    """One area of the path: what the effective tier's policy required, what the records show."""

    area: str
    required: str
    happened: str
    ok: bool | None  # None: not decidable (yet)
    findings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "area": self.area,
                "required": self.required,
                "happened": self.happened,
                "ok": self.ok,
                "findings": list(self.findings),
            }
        )


@dataclass(frozen=True)
class PathReview:
    """The "path required vs what happened" of one release (post-release review)."""

    release_id: str
    effective_tier: str
    path_compliant: bool | None
    steps: tuple[PathStep, ...]
    findings: tuple[str, ...]
    sentences: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "release_id": self.release_id,
                "effective_tier": self.effective_tier,
                "path_compliant": self.path_compliant,
                "steps": [s.to_dict() for s in self.steps],
                "findings": list(self.findings),
                "sentences": list(self.sentences),
            }
        )

    def to_frame(self) -> pl.DataFrame:
        """One row per area, for display."""
        return pl.DataFrame(
            [{**s.to_dict(), "findings": ", ".join(s.findings)} for s in self.steps],
            schema={
                "area": pl.String,
                "required": pl.String,
                "happened": pl.String,
                "ok": pl.Boolean,
                "findings": pl.String,
            },
        )


def _join(items: Any, empty: str = "none") -> str:
    values = [str(x) for x in (items or [])]
    return ", ".join(values) if values else empty


def _hours_after(t: datetime | None, start: datetime | None) -> str:
    if t is None or start is None:
        return "not seen"
    return f"{(t - start).total_seconds() / 3600:.1f} h after release"


def path_review(audit: pl.DataFrame, release_id: str, policy: Policy) -> PathReview:
    """What the effective tier's path required and what happened, area by area, from one row of
    ``audit_releases`` (tier, evidence, gates, rollout, approvals, train, observability); the
    anti-pattern and outcome findings are listed in ``findings``. Raises ``DataError`` when the
    release is not in the audit."""
    rows = audit.filter(pl.col("release_id") == release_id)
    if rows.height == 0:
        raise DataError(f"release '{release_id}' is not in the audit")
    r = rows.row(0, named=True)
    tier = r["effective_tier"]
    tp = policy.tiers[tier]
    obs = policy.section("observability")
    by_area: dict[str, list[str]] = {}
    for code in r["findings"]:
        by_area.setdefault(FINDING_CODES[code].area, []).append(code)

    def plan(steps: Any) -> str:
        return " -> ".join(f"{float(p):g}" for p in steps) + " %" if steps else "none"

    gates_happened = []
    if r["gates_not_run"]:
        gates_happened.append(f"not run: {_join(r['gates_not_run'])}")
    if r["gates_failed"]:
        gates_happened.append(f"failed: {_join(r['gates_failed'])}")
    if r["unapproved_gate_waivers"]:
        gates_happened.append(f"waived without approver: {_join(r['unapproved_gate_waivers'])}")
    rollout_happened = plan(r["traffic_steps"]) if r["traffic_steps"] else "no stage recorded"
    if r["stop_conditions_ignored"]:
        rollout_happened += f"; {r['stop_conditions_ignored']} stop condition(s) ignored"
    if r["skipped_steps"]:
        skipped = ", ".join(f"{float(p):g}" for p in r["skipped_steps"])
        rollout_happened += f"; skipped step(s) {skipped} %"
    approvals_happened = (
        f"missing go: {_join(r['missing_approvals'])}; " if r["missing_approvals"] else ""
    ) + (
        f"{r['final_votes']} final vote(s)"
        + (f", the last {r['final_decision']} by {r['final_approver']}" if r["final_votes"] else "")
        + f"; owner {r['accountable_owner'] or 'none'}"
    )
    released = r["released_at"]
    when = released.astimezone(policy.zone).strftime("%a %Y-%m-%d %H:%M") if released else "unknown"
    steps = (
        PathStep(
            "tier",
            f"declared tier at least the implied {r['implied_tier']}",
            f"declared {r['declared_tier']}; changed {_join(r['changed_components'])}",
            r["tier_ok"],
            tuple(by_area.get("tier", [])),
        ),
        PathStep(
            "evidence",
            _join(tp.required_evidence),
            "all present"
            if not r["missing_evidence"]
            else f"missing: {_join(r['missing_evidence'])}",
            r["evidence_ok"],
            tuple(by_area.get("evidence", [])),
        ),
        PathStep(
            "gates",
            f"{_join(tp.required_gates)} passed",
            "; ".join(gates_happened) or "all passed",
            r["gates_ok"],
            tuple(by_area.get("gates", [])),
        ),
        PathStep(
            "rollout",
            plan(tp.rollout_plan) + ", halting when a stop condition is met",
            rollout_happened,
            r["rollout_ok"],
            tuple(by_area.get("rollout", [])),
        ),
        PathStep(
            "approvals",
            f"go from {_join(tp.required_approvals)}; one final vote; one accountable owner",
            approvals_happened,
            None if r["approvals_ok"] is None else bool(r["approvals_ok"] and r["single_owner"]),
            tuple(by_area.get("approvals", [])),
        ),
        PathStep(
            "train",
            f"{tp.train} train (or emergency with a reason)",
            f"{r['train'] or 'no'} train, released {when}",
            r["train_ok"],
            tuple(by_area.get("train", [])),
        ),
        PathStep(
            "observability",
            f"version marker within {float(obs['marker_within_hours']):g} h; operator decision "
            f"within {float(obs['operator_decisions_within_hours']):g} h",
            f"marker {_hours_after(r['first_seen'], released)}; first operator decision "
            f"{_hours_after(r['first_operator_decision'], released)}",
            r["observability_ok"],
            tuple(by_area.get("observability", [])),
        ),
    )
    sentences = tuple(FINDING_CODES[c].sentence for c in r["findings"])
    return PathReview(release_id, tier, r["path_compliant"], steps, tuple(r["findings"]), sentences)


__all__ = [
    "ANTI_PATTERNS",
    "CHECK_COLUMNS",
    "FINDING_CODES",
    "AntiPatternResult",
    "CountResult",
    "FindingRule",
    "GateDecision",
    "GateReason",
    "PathReview",
    "PathStep",
    "ProcessHealth",
    "audit_releases",
    "gate_decision",
    "path_review",
    "process_health",
]
