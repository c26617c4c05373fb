"""The audit's per-area checks that need no production records: tier, evidence, gates, rollout,
approvals and release train (``pre_release_checks``; the gate answers from these alone).

Each release is checked against the policy of its *effective* tier (the stricter of declared and
implied, METRICS.md):

- **evidence**: every required item present, or waived with an approver
  (``analytics.metrics.evidence``);
- **gates**: every required gate ran and its latest result (by ``evaluated_at``) is ``pass``, or
  ``waived`` with an approver; no gate of the release ended ``fail``. The gates table has no
  approver column in the data contract: a gate waiver counts as approved when the row carries
  a non-blank extra column ``approved_by`` (``analytics.metrics.evidence.approver_given``);
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
  previous release, taken before this one.

Records dated after ``as_of`` are ignored (the cut of ``analytics.data.asof``: gate evaluations
by ``evaluated_at``, approvals and operator decisions by ``decided_at``, rollout stages by
``started_at`` with their decision and stop condition known only at ``ended_at``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from analytics.core.columns import ROW
from analytics.core.errors import DataError
from analytics.core.policy import TIERS, Policy
from analytics.data.asof import known_rows, known_stages
from analytics.data.io import Dataset
from analytics.metrics.evidence import approver_given, evidence_status

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


# ---------------------------------------------------------------- policy helpers


def _tier_table(policy: Policy) -> pl.DataFrame:
    """One row per tier: what its policy requires (evidence, gates, rollout plan, roles, train)."""
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


def policy_hours(policy: Policy, section: str, key: str) -> timedelta:
    """A policy setting given in hours, as a duration."""
    return timedelta(hours=float(policy.section(section)[key]))


def when_deployed(expr: pl.Expr) -> pl.Expr:
    """``expr`` for a release deployed by ``as_of`` (``_deployed``), null for one that is not:
    a check of what happened in production cannot be decided before it."""
    return pl.when(pl.col("_deployed")).then(expr).otherwise(None)


def empty_list() -> pl.Expr:
    """An empty list of strings (the fill of a release without records)."""
    return pl.lit([], dtype=_STR_LIST)


# ---------------------------------------------------------------- per-area checks


def _evidence_checks(evidence: pl.DataFrame, base: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """Per release: ``missing_evidence``, ``evidence_ok``, ``unapproved_evidence_waivers``,
    ``absent_evidence`` (missing, not as a waiver without approver), ``eval_items`` (evaluation
    evidence items present) and ``demo_quality`` (fewer than
    ``anti_patterns.min_eval_evidence_items`` of them)."""
    status = evidence_status(evidence, base, policy)
    min_eval = int(policy.section("anti_patterns")["min_eval_evidence_items"])
    required = (
        base.select("release_id", "_req_evidence")
        .explode("_req_evidence")
        .rename({"_req_evidence": "item"})
        .drop_nulls("item")
    )
    unapproved = (
        required.join(
            evidence.filter((pl.col("status") == "waived") & ~approver_given())
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
            pl.col("unapproved_evidence_waivers").fill_null(empty_list()),
            pl.col("eval_items").fill_null(0),
        )
        .with_columns(
            pl.col("missing_evidence")
            .list.set_difference("unapproved_evidence_waivers")
            .list.sort()
            .alias("absent_evidence"),
            pl.col("evidence_complete").alias("evidence_ok"),
            (pl.col("eval_items") < min_eval).alias("demo_quality"),
        )
    )


def _gate_checks(gates: pl.DataFrame, base: pl.DataFrame, as_of: datetime | None) -> pl.DataFrame:
    approved = approver_given() if "approved_by" in gates.columns else pl.lit(False)
    latest = (
        known_rows(gates, "evaluated_at", as_of)
        .with_columns(approved.alias("_gate_approved"))
        .sort(["release_id", "gate", "evaluated_at", ROW], nulls_last=False)
        .unique(subset=["release_id", "gate"], keep="last", maintain_order=True)
        .select("release_id", "gate", "result", "_gate_approved")
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
        .filter((res == "waived") & ~pl.col("_gate_approved"))
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
            pl.col("gates_not_run").fill_null(empty_list()),
            pl.col("unapproved_gate_waivers").fill_null(empty_list()),
            pl.col("gates_failed").fill_null(empty_list()),
            pl.col("_gates_run").fill_null(empty_list()),
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


def _ordered_stages(stages: pl.DataFrame, as_of: datetime | None) -> pl.DataFrame:
    """The stages known at ``as_of`` (a stage still running has no decision yet) that carry a
    stage number, in order of ``stage`` then start; ``_idx`` is the position in the release."""
    return (
        known_stages(stages, as_of)
        .filter(pl.col("stage").is_not_null())
        .sort(["release_id", "stage", "started_at", ROW], nulls_last=True)
        .with_columns(pl.int_range(pl.len()).over("release_id").alias("_idx"))
    )


def _stage_summary(st: pl.DataFrame) -> pl.DataFrame:
    """Per release with ordered stages (``_ordered_stages``): ``rollout_stages``, whether a stage
    ran below 100 % (``_has_canary``), traffic or start time went down (``_out_of_order``),
    ``stop_conditions_ignored`` (stages advanced with their stop condition met), a stop
    condition met at all (``_stop_met``), a stage halted or rolled back (``_halted``) and the
    traffic percentages in order (``_traffic``, as text: "1", "5", "20", "100")."""
    pct = pl.col("traffic_pct")
    stop = pl.col("stop_condition_met").fill_null(False)
    return st.group_by("release_id").agg(
        pl.len().cast(pl.Int64).alias("rollout_stages"),
        (pct < 100).fill_null(False).any().alias("_has_canary"),
        (
            (pct.sort_by("_idx").diff() < -_EPS).fill_null(False).any()
            | (pl.col("started_at").sort_by("_idx").diff() < timedelta(0)).fill_null(False).any()
        ).alias("_out_of_order"),
        (stop & (pl.col("decision") == "advance"))
        .sum()
        .cast(pl.Int64)
        .alias("stop_conditions_ignored"),
        stop.any().alias("_stop_met"),
        pl.col("decision").is_in(["halt", "rollback"]).fill_null(False).any().alias("_halted"),
        pct.sort_by("_idx").cast(pl.String).str.replace(r"\.0$", "").alias("_traffic"),
    )


def _skipped_steps(st: pl.DataFrame, base: pl.DataFrame) -> pl.DataFrame:
    """Per high-tier release: ``skipped_steps``, the planned percentages not reached (exactly)
    before a stage with more traffic; only releases with a skipped step have a row."""
    plan = (
        base.filter(pl.col("effective_tier") == "high")
        .select("release_id", "_plan")
        .explode("_plan")
        .rename({"_plan": "_q"})
        .drop_nulls("_q")
    )
    return (
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


def _rollout_checks(
    stages: pl.DataFrame, base: pl.DataFrame, as_of: datetime | None
) -> pl.DataFrame:
    """Per release: the stage summary, skipped steps, whether the tier plans a canary
    (``_plans_canary``), no stage at all (``_rollout_missing``) and ``rollout_ok`` (null for a
    release not deployed yet)."""
    st = _ordered_stages(stages, as_of)
    out = (
        base.select("release_id", "_plan", "_deployed")
        .join(_stage_summary(st), on="release_id", how="left")
        .join(_skipped_steps(st, base), on="release_id", how="left")
        .with_columns(
            pl.col("rollout_stages").fill_null(0),
            pl.col("_has_canary").fill_null(False),
            pl.col("_out_of_order").fill_null(False),
            pl.col("stop_conditions_ignored").fill_null(0),
            pl.col("_stop_met").fill_null(False),
            pl.col("_halted").fill_null(False),
            pl.col("_traffic").fill_null(empty_list()),
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
        when_deployed(ok).alias("rollout_ok"),
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
            pl.col("_go_roles").fill_null(empty_list()),
            pl.col("_roles").fill_null(empty_list()),
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
        known_rows(decisions, "decided_at", as_of)
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


# The release-unit columns the audit reports as they are ...
RELEASE_COLUMNS = (
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
)
# ... and all the checks read.
UNIT_COLUMNS = (*RELEASE_COLUMNS, "previous_release_id", "summary")


def audit_base(units: pl.DataFrame, policy: Policy, as_of: datetime | None) -> pl.DataFrame:
    """The release-unit columns of ``units`` with what the effective tier requires and
    ``_deployed`` (released by ``as_of``; with ``as_of = None``: has a release time)."""
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


def pre_release_checks(
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
