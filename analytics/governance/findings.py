"""The finding codes of the release-process audit and the gate: what each means
(``FINDING_CODES``: severity, area of the path, one sentence, raised by the audit, the gate or
both), the anti-patterns of METRICS.md, the audit's check columns, and when each code is raised
from the check columns (``findings_expr``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from analytics.core.results import clean
from analytics.governance.checks import SEVERAL_PEOPLE

Severity = Literal["critical", "major", "minor"]


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


def findings_expr(gate_mode: bool) -> pl.Expr:
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


__all__ = [
    "ANTI_PATTERNS",
    "CHECK_COLUMNS",
    "FINDING_CODES",
    "FindingRule",
    "Severity",
    "findings_expr",
]
