"""The planted truth (truth.json): incident attribution, process violations and failure signals
derived from the generated rows with the default policy, and the document itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

from analytics.core.policy import Policy
from analytics.metrics.incidents import ROLLBACK_MITIGATIONS
from analytics.sample.organisation import _SYSTEMS
from analytics.sample.records import (
    _D,
    _H,
    _dt,
    _Incident,
    _iso,
    _Rel,
    _Stage,
    _Tables,
    _Timeline,
    _window_end,
)


def _attribute(
    inc: _Incident, by_system: Mapping[str, list[_Rel]], window: int
) -> tuple[_Rel | None, str]:
    if inc.link is not None:
        return inc.link, "explicit"
    t = inc.started_at if inc.started_at is not None else inc.detected_at
    before = [r for r in by_system[inc.system] if r.released_at < t]
    if before and t - before[-1].released_at <= window:
        return before[-1], "time"
    return None, "none"


def _prefix_ok(stages: Sequence[_Stage], plan: Sequence[float]) -> bool:
    seq: list[float] = []
    for st in stages:
        if not seq or seq[-1] != st.pct:
            seq.append(st.pct)
    return (
        bool(seq)
        and len(seq) <= len(plan)
        and all(a == float(b) for a, b in zip(seq, plan, strict=False))
    )


class _Truth:
    def __init__(
        self,
        policy: Policy,
        rels: list[_Rel],
        by_system: Mapping[str, list[_Rel]],
        incidents: list[_Incident],
        tables: _Tables,
        marker_seen: set[int],
    ):
        self.policy, self.rels, self.by_system = policy, rels, by_system
        self.incidents, self.tables, self.marker_seen = incidents, tables, marker_seen
        window = int(policy.attribution_window_days * _D)
        self.attribution = {id(i): _attribute(i, by_system, window) for i in incidents}
        self.per_release: dict[int, list[_Incident]] = {}
        for inc in incidents:
            rel, _ = self.attribution[id(inc)]
            if rel is not None:
                self.per_release.setdefault(rel.gidx, []).append(inc)
        self.evidence = self._group(tables.evidence)
        self.gates = self._group(tables.gates)
        self.approvals = self._group(tables.approvals)
        self.decisions = self._group(tables.decisions)

    @staticmethod
    def _group(rows: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            out.setdefault(row["release_id"].gidx, []).append(row)
        return out

    def missing_evidence(self, rel: _Rel) -> list[str]:
        rows = {r["item"]: r for r in self.evidence.get(rel.gidx, [])}
        missing = []
        for item in self.policy.tiers[rel.effective].required_evidence:
            row = rows.get(item)
            ok = row is not None and (
                row["status"] == "present"
                or (row["status"] == "waived" and bool(row["approved_by"]))
            )
            if not ok:
                missing.append(item)
        return missing

    def _train_ok(self, rel: _Rel) -> bool:
        if rel.train == "emergency":
            return True
        tier = self.policy.tiers[rel.effective]
        if rel.train != tier.train:
            return False
        trains = self.policy.section("trains")
        local = _dt(rel.released_at).replace(tzinfo=UTC).astimezone(self.policy.zone)
        weekly = tuple(int(d) for d in trains.get("weekly_days", (2, 3)))
        if rel.train == "weekly":
            return local.isoweekday() in weekly
        if rel.train == "monthly":
            return local.isoweekday() in weekly and local.day <= int(
                trains.get("monthly_first_days", 7)
            )
        return True

    def violations(self, rel: _Rel) -> list[str]:
        tier = self.policy.tiers[rel.effective]
        out = []
        if rel.misclassified:
            out.append("misclassified")
        if self.missing_evidence(rel):
            out.append("missing_evidence")
        latest: dict[str, dict[str, Any]] = {}
        for row in self.gates.get(rel.gidx, []):
            prior = latest.get(row["gate"])
            if prior is None or (row["evaluated_at"] or 0) >= (prior["evaluated_at"] or 0):
                latest[row["gate"]] = row
        if any(r["result"] == "fail" for r in latest.values()):
            out.append("failed_gate_shipped")
        if any(g not in latest or latest[g]["result"] == "not_run" for g in tier.required_gates):
            out.append("gate_not_run")
        if not _prefix_ok(rel.stages, tier.rollout_plan or (100.0,)):
            out.append("rollout_steps_skipped")
        if any(s.stop_met and s.decision == "advance" for s in rel.stages):
            out.append("stop_condition_ignored")
        votes = self.approvals.get(rel.gidx, [])
        go_roles = {v["role"] for v in votes if v["decision"] == "go"}
        if any(role not in go_roles for role in tier.required_approvals):
            out.append("missing_approval")
        finals = sum(1 for v in votes if v["final"])
        if finals == 0:
            out.append("no_final_approval")
        elif finals > 1:
            out.append("multiple_final_approvals")
        if not self._train_ok(rel):
            out.append("train_violation")
        if rel.gidx not in self.marker_seen:
            out.append("no_telemetry_within_24h")
        obs = self.policy.section("observability")
        horizon = int(float(obs.get("operator_decisions_within_hours", 72)) * _H)
        if not any(
            rel.released_at <= d["decided_at"] <= rel.released_at + horizon
            for d in self.decisions.get(rel.gidx, [])
        ):
            out.append("no_operator_decision_72h")
        if not rel.owner or "," in rel.owner:
            out.append("no_single_accountable_owner")
        return sorted(out)

    def signals(self, rel: _Rel) -> tuple[list[str], bool, int | None]:
        incs = self.per_release.get(rel.gidx, [])
        rollback = (
            any(s.decision == "rollback" for s in rel.stages)
            or any(
                d["action"] in ("rollback", "roll_forward")
                for d in self.decisions.get(rel.gidx, [])
            )
            or any(i.mitigation in ROLLBACK_MITIGATIONS for i in incs)
        )
        out = []
        if any(i.impact for i in incs):
            out.append("incident")
        if rollback:
            out.append("rollback")
        if rel.regression is not None:
            out.append("telemetry")
        dora = bool(incs) or rollback
        times = [i.detected_at for i in incs if i.impact]
        times += [s.end for s in rel.stages if s.decision in ("halt", "rollback")]
        return out, dora, min(times) if times else None


def _utc(us: int | None) -> str | None:
    """A truth timestamp: ISO 8601 UTC with ``Z``, or None."""
    return None if us is None else _iso(us)


def _truth_document(
    calc: _Truth,
    tl: _Timeline,
    *,
    seed: int,
    cases_per_day: int,
    months: int,
    window_cases: Mapping[int, int],
    baseline_cases: Mapping[int, int],
    bad: list[dict[str, Any]],
    bad_mitigated: Mapping[str, int],
    counts: Mapping[str, int],
) -> dict[str, Any]:
    """truth.json (fields: the ``generate`` module docstring) from the derived flags in ``calc``,
    the cases counted in the telemetry, the planted bad rows and the row counts as written."""
    policy = calc.policy
    regressions, releases, costs = [], [], []
    for rel in calc.rels:
        signals, dora, detection = calc.signals(rel)
        if rel.regression is not None:
            regressions.append(
                _regression_truth(
                    rel, policy, tl, detection, window_cases, baseline_cases, bad_mitigated
                )
            )
        if rel.cost is not None:
            costs.append(_cost_truth(rel))
        releases.append(_release_truth(rel, calc, signals, dora, detection))
    inc_truth = [_incident_truth(inc, calc) for inc in calc.incidents]
    return {
        "schema_version": 1,
        "generator": "analytics.sample.generate",
        "seed": seed,
        "cases_per_day": cases_per_day,
        "start": _utc(tl.start),
        "end": _utc(tl.end),
        "months": months,
        "policy_fingerprint": policy.fingerprint,
        "systems": _systems_truth(calc.by_system),
        "freeze_windows": [{"start": _utc(a), "end": _utc(b)} for a, b in tl.freezes],
        "row_counts": dict(counts),
        "regressions": regressions,
        "cost_changes": costs,
        "releases": releases,
        "incidents": inc_truth,
        "unattributable_incidents": [
            i["incident_id"] for i in inc_truth if i["attribution"] == "none"
        ],
        "bad_rows": bad,
    }


def _systems_truth(by_system: Mapping[str, list[_Rel]]) -> dict[str, dict[str, Any]]:
    """Per system: launch time (its first release) and its segment values."""
    return {
        s.name: {
            "launched_at": _utc(by_system[s.name][0].released_at) if by_system[s.name] else None,
            "task_types": [t.name for t in s.tasks],
            "languages": [lg for lg, _ in s.languages],
            "customer_segments": [c for c, _ in s.customers],
        }
        for s in _SYSTEMS
    }


def _regression_truth(
    rel: _Rel,
    policy: Policy,
    tl: _Timeline,
    detection: int | None,
    window_cases: Mapping[int, int],
    baseline_cases: Mapping[int, int],
    bad_mitigated: Mapping[str, int],
) -> dict[str, Any]:
    """One planted regression: its effect against the margin, window, cases, detection and
    mitigation (``mitigated_at`` as written, also where a bad row corrupted it)."""
    reg = rel.regression
    assert reg is not None
    inc = reg.incident
    halt = next((s for s in rel.stages if s.decision in ("halt", "rollback")), None)
    margin = policy.decision_quality_metrics[reg.metric].margin
    by = None
    if detection is not None:
        by = "incident"
        if halt is not None and halt.end == detection:
            by = f"rollout_{halt.decision}"
    mitigated = None
    if inc is not None:
        mitigated = bad_mitigated.get(inc.iid, inc.mitigated_at)
    obs_window = int(policy.observation_window_days * _D)
    return {
        "release_id": rel.rid,
        "system": rel.system.name,
        "baseline_release_id": rel.prev.rid if rel.prev else None,
        "metric": reg.metric,
        "relative_effect": reg.effect,
        "margin": margin,
        "effect_over_margin": round(abs(reg.effect) / margin, 2) if margin else None,
        "culprit_component": reg.culprit,
        "path": reg.path,
        "window_start": _utc(rel.released_at),
        "window_end": _utc(_window_end(rel, tl, obs_window)),
        "cases_in_window": window_cases.get(rel.gidx, 0),
        "baseline_cases": baseline_cases.get(rel.gidx, 0),
        "detected": detection is not None,
        "detected_by": by,
        "detected_at": _utc(detection),
        "incident_id": inc.iid if inc else None,
        "incident_detected_at": _utc(inc.detected_at) if inc else None,
        "late_detection": reg.late and inc is not None,
        "mitigated_at": _utc(mitigated),
        "mitigation": inc.mitigation if inc else None,
        "rolled_back_at": _utc(rel.withdrawn_at),
        "effect_ended_at": _utc(reg.effect_end),
        "fix_release_id": reg.fix.rid if reg.fix else None,
    }


def _cost_truth(rel: _Rel) -> dict[str, Any]:
    """One cost change: tokens and model cost per case relative to the replaced release."""
    c = rel.cost
    assert c is not None
    return {
        "release_id": rel.rid,
        "system": rel.system.name,
        "kind": c.kind,
        "tokens_relative": round(c.tokens - 1, 4),
        "model_cost_relative": round(c.tokens * c.price - 1, 4),
        "incident_id": c.incident.iid if c.incident else None,
        "fixed_at": _utc(c.fixed_at),
    }


def _release_truth(
    rel: _Rel, calc: _Truth, signals: list[str], dora: bool, detection: int | None
) -> dict[str, Any]:
    """One release: tiers, what was planted, its failure signals and process violations."""
    reg = rel.regression
    return {
        "release_id": rel.rid,
        "system": rel.system.name,
        "released_at": _utc(rel.released_at),
        "declared_tier": rel.declared,
        "implied_tier": rel.implied,
        "effective_tier": rel.effective,
        "changed_components": list(rel.changed),
        "train": rel.train,
        "misclassified": rel.misclassified,
        "regressed": reg is not None,
        "regression_metric": reg.metric if reg else None,
        "cost_increase": rel.cost is not None and rel.cost.kind == "increase",
        "cost_relative": round(rel.cost.tokens * rel.cost.price - 1, 4) if rel.cost else 0.0,
        "rolled_back": "rollback" in signals,
        "halted": rel.withdraw_kind == "halt",
        "fix_for": rel.fix_for.rid if rel.fix_for else None,
        "marker_lag_hours": rel.marker_lag_h,
        "attributed_incidents": [i.iid for i in calc.per_release.get(rel.gidx, [])],
        "expected_failure_signals": signals,
        "dq_failed": bool(signals),
        "dora_failed": dora,
        "first_detection_at": _utc(detection),
        "missing_evidence": calc.missing_evidence(rel),
        "process_violations": calc.violations(rel),
    }


def _incident_truth(inc: _Incident, calc: _Truth) -> dict[str, Any]:
    """One incident: its impact, cause and attribution by the METRICS.md rule."""
    owner, how = calc.attribution[id(inc)]
    return {
        "incident_id": inc.iid,
        "system": inc.system,
        "category": inc.category,
        "decision_quality_impact": inc.impact,
        "cause": inc.cause,
        "caused_by_release_id": inc.caused_by.rid if inc.caused_by else None,
        "attributed_release_id": owner.rid if owner else None,
        "attribution": how,
        "open": inc.mitigated_at is None,
    }
