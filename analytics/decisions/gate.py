"""The pre-release gate: go / no-go for a candidate release from its records as they stand
(``gate_decision``; ``analytics gate`` prints it with an exit code for CI/CD)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from analytics.core.columns import ROW
from analytics.core.errors import DataError
from analytics.core.results import clean
from analytics.data.io import Dataset
from analytics.governance.checks import audit_base, pre_release_checks
from analytics.governance.findings import FINDING_CODES, Severity, findings_expr
from analytics.metrics.releases import release_units


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
    base = audit_base(units.filter(pl.col("release_id") == release_id), policy, None)
    df = pre_release_checks(ds, units, base, None)
    df = df.with_columns(findings_expr(gate_mode=True))
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


__all__ = ["GateDecision", "GateReason", "gate_decision"]
