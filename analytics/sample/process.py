"""The process tables per release: evidence, gates, approvals and operator decisions, with planted
gaps (missing evidence, failed or unrun gates, missing or extra final approvals, quiet releases)
and the accountable owner and version-marker lag."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.core.policy import Policy
from analytics.sample.organisation import _APPROVERS, _GATE_SPECS, _WAIVERS
from analytics.sample.records import _hours, _pick, _Rel, _sec, _Tables, _weighted


class _TableBuilder:
    """Evidence, gates, approvals and operator decisions per release, with planted gaps."""

    def __init__(self, policy: Policy, rng: np.random.Generator):
        self.policy, self.rng, self.t = policy, rng, _Tables()

    def release(self, rel: _Rel) -> None:
        rng = self.rng
        failing = rel.regression is not None
        # The accountable owner.
        r = rng.random()
        if rel.kind != "first" and r < 0.012:
            rel.owner = ""
        elif rel.kind != "first" and r < 0.018:
            rel.owner = ", ".join(rel.system.owners)
        else:
            rel.owner = _pick(rng, rel.system.owners)
        # A version marker that the serving stack forgot to bump.
        baseline = rel.next is not None and rel.next.regression is not None
        if (
            rel.kind not in ("first", "fix")
            and not failing
            and not baseline
            and rel.base is not None
            and rng.random() < 0.025
        ):
            rel.marker_lag_h = round(float(rng.uniform(26, 60)), 1)
        self._evidence(rel, failing)
        self._gates(rel, failing)
        self._approvals(rel)
        self._decisions(rel)

    def _evidence(self, rel: _Rel, failing: bool) -> None:
        rng = self.rng
        items = list(self.policy.tiers[rel.declared].required_evidence)
        if rel.declared == "low" and rng.random() < 0.15:
            items.append("safety_eval")
        gaps: dict[str, str] = {}
        if rel.kind != "first" and rng.random() < (0.3 if failing else 0.1):
            for item in rng.choice(
                items, size=min(len(items), int(rng.integers(1, 3))), replace=False
            ):
                gaps[str(item)] = _weighted(
                    rng, (("missing", 0.5), ("absent", 0.3), ("waived_unapproved", 0.2))
                )
        if len(items) > 1 and (rel.kind == "fix" or rng.random() < 0.05):
            waived = items[-1]
            gaps.setdefault(waived, "waived_approved")
        for item in items:
            gap = gaps.get(item)
            row = {
                "release_id": rel,
                "item": item,
                "status": "present",
                "approved_by": "",
                "uri": f"https://wiki.northwind.example/ai-releases/{{rid}}/{item}",
            }
            if gap == "absent":
                continue
            if gap == "missing":
                row.update(status="missing", uri="")
            elif gap == "waived_unapproved":
                row.update(status="waived", uri="")
            elif gap == "waived_approved":
                row.update(status="waived", uri="", approved_by=_pick(rng, _WAIVERS))
            self.t.evidence.append(row)

    def _gates(self, rel: _Rel, failing: bool) -> None:
        rng, sys = self.rng, rel.system
        gates = ["functional", "safety", "operational", "business"]
        if rel.declared == "low":
            gates = ["functional", "safety"] + (["operational"] if rng.random() < 0.5 else [])
        fail_gate = not_run = None
        if rel.kind != "first":
            if rng.random() < (0.1 if failing else 0.04):
                fail_gate = _pick(rng, [g for g in gates if g != "functional"])
            if rng.random() < 0.03:
                not_run = _pick(rng, [g for g in ("functional", "safety") if g != fail_gate])
        waived = None
        if rng.random() < 0.03 and "business" in gates and fail_gate != "business":
            waived = "business"
        t_eval = rel.released_at - _hours(rng, 4, 96)
        for gate in gates:
            metric, higher, threshold = _GATE_SPECS[gate]
            if gate == "operational":
                threshold = sys.latency_gate_ms
            t = _sec(t_eval + _hours(rng, 0, 3))
            if gate == not_run:
                self._gate(rel, gate, "not_run", None, metric, None, threshold)
                continue
            if gate == waived:
                self._gate(rel, gate, "waived", t, metric, None, threshold)
                continue
            rerun = gate != fail_gate and rng.random() < 0.03
            if gate == fail_gate or rerun:
                self._gate(
                    rel,
                    gate,
                    "fail",
                    t,
                    metric,
                    self._value(gate, higher, threshold, False),
                    threshold,
                )
                if rerun:
                    t2 = _sec(t + _hours(rng, 1, 3))
                    self._gate(
                        rel,
                        gate,
                        "pass",
                        t2,
                        metric,
                        self._value(gate, higher, threshold, True),
                        threshold,
                    )
                continue
            self._gate(
                rel, gate, "pass", t, metric, self._value(gate, higher, threshold, True), threshold
            )

    def _value(self, gate: str, higher: bool, threshold: float, ok: bool) -> float:
        rng = self.rng
        if gate == "operational":
            return round(
                float(threshold * (rng.uniform(0.5, 0.95) if ok else rng.uniform(1.05, 1.4)))
            )
        if gate == "safety":
            return round(float(rng.uniform(0.0005, 0.0045) if ok else rng.uniform(0.006, 0.015)), 4)
        lo, hi = (
            (threshold + 0.01, threshold + 0.12) if ok else (threshold - 0.08, threshold - 0.01)
        )
        del higher
        return round(float(rng.uniform(lo, hi)), 3)

    def _gate(
        self,
        rel: _Rel,
        gate: str,
        result: str,
        t: int | None,
        metric: str,
        value: float | None,
        threshold: float,
    ) -> None:
        self.t.gates.append(
            {
                "release_id": rel,
                "gate": gate,
                "result": result,
                "evaluated_at": t,
                "metric": metric,
                "value": value,
                "threshold": threshold,
            }
        )

    def _approvals(self, rel: _Rel) -> None:
        rng = self.rng
        roles = list(self.policy.tiers[rel.declared].required_approvals)
        if rel.declared == "medium" and rng.random() < 0.5 and "operations" not in roles:
            roles.append("operations")
        if rel.declared == "low" and rng.random() < 0.3 and "platform" not in roles:
            roles.append("platform")
        plant = None
        if rel.kind != "first":
            r = rng.random()
            droppable = [x for x in roles if x != "product_owner"]
            if r < 0.035:
                if droppable:
                    plant = "missing"
                    roles.remove(_pick(rng, droppable))
            elif r < 0.055:
                plant = "no_final"
            elif r < 0.075 and len(roles) > 1:
                plant = "two_final"
        fast = rel.kind in ("urgent", "fix")
        votes: list[list[Any]] = []
        for role in roles:
            lo, hi = (0.2, 1.5) if fast else (2.0, 72.0)
            t = _sec(rel.released_at - _hours(rng, lo, hi))
            name = (
                (rel.owner.split(", ")[0] or rel.system.owners[0])
                if role == "product_owner"
                else _pick(rng, _APPROVERS[role])
            )
            if role != "product_owner" and not fast and rng.random() < 0.05:
                votes.append([role, name, "no_go", _sec(t - _hours(rng, 24, 48)), False])
            votes.append([role, name, "go", t, role == "product_owner" and plant != "no_final"])
        if plant == "two_final":
            extra = [v for v in votes if v[0] != "product_owner" and v[2] == "go"]
            extra[0][4] = True
        if not fast and rng.random() < 0.05:
            votes.append(
                [
                    "other",
                    _pick(rng, _APPROVERS["other"]),
                    "abstain",
                    _sec(rel.released_at - _hours(rng, 3, 48)),
                    False,
                ]
            )
        for role, name, decision, t, final in sorted(votes, key=lambda v: v[3]):
            self.t.approvals.append(
                {
                    "release_id": rel,
                    "role": role,
                    "approver": name,
                    "decision": decision,
                    "decided_at": t,
                    "final": final,
                }
            )

    def _decisions(self, rel: _Rel) -> None:
        """Operator decisions: the routine ones, those on the planted regression's incident or
        canary stop, and a note on a cost incident; operators picked in time order."""
        rng, sys, reg = self.rng, rel.system, rel.regression
        out = self._routine_decisions(rel)
        if reg is not None and reg.incident is not None:
            out += self._incident_decisions(rel)
        if rel.withdrawn_at is not None and reg is not None and reg.path.startswith("canary"):
            action = "pause" if rel.withdraw_kind == "halt" else "rollback"
            out.append(
                (rel.withdrawn_at, action, "Canary breached its stop condition, traffic withdrawn")
            )
        if rel.cost is not None and rel.cost.incident is not None:
            out.append(
                (
                    _sec(rel.cost.incident.detected_at + _hours(rng, 0.5, 4)),
                    "note",
                    "Cost per case up; tokens per answer roughly doubled, watching",
                )
            )
        for t, action, why in sorted(out):
            self.t.decisions.append(
                {
                    "release_id": rel,
                    "decided_at": t,
                    "operator": _pick(rng, sys.operators),
                    "action": action,
                    "rationale": why,
                }
            )

    def _routine_decisions(self, rel: _Rel) -> list[tuple[int, str, str]]:
        """A ``continue`` soon after release and sometimes a check note; about one in twenty
        uneventful releases is quiet (at most a late weekly-review note, maybe none in 72 h)."""
        rng, t0 = self.rng, rel.released_at
        quiet = (
            rel.regression is None
            and rel.withdrawn_at is None
            and rel.kind != "first"
            and rng.random() < 0.05
        )
        out: list[tuple[int, str, str]] = []
        if quiet:
            if rng.random() < 0.6:
                out.append(
                    (
                        _sec(t0 + _hours(rng, 96, 216)),
                        "note",
                        "Weekly review: no issues reported, closing the watch",
                    )
                )
            return out
        out.append(
            (
                _sec(t0 + _hours(rng, 0.5, 8)),
                "continue",
                "Canary metrics within limits, continue rollout",
            )
        )
        if rng.random() < 0.4:
            out.append(
                (
                    _sec(t0 + _hours(rng, 12, 60)),
                    "note",
                    "Checked escalations, latency and cost per case: nominal",
                )
            )
        return out

    def _incident_decisions(self, rel: _Rel) -> list[tuple[int, str, str]]:
        """The escalation of the planted regression's incident and the mitigation decision."""
        rng, reg = self.rng, rel.regression
        assert reg is not None and reg.incident is not None
        inc = reg.incident
        out = [
            (
                _sec(inc.detected_at + _hours(rng, 0.1, 0.5)),
                "escalate",
                f"Incident opened ({inc.category}), paging the {rel.system.name} owner",
            )
        ]
        if reg.path == "incident_rollback" and inc.mitigated_at is not None:
            out.append(
                (
                    inc.mitigated_at,
                    "rollback",
                    f"Rolling back: {reg.metric.replace('_', ' ')} regression confirmed",
                )
            )
        elif reg.path == "incident_roll_forward" and inc.mitigated_at is not None:
            out.append(
                (
                    _sec(inc.mitigated_at - _hours(rng, 0.2, 1)),
                    "roll_forward",
                    "Fix ready, rolling forward instead of back",
                )
            )
        elif reg.path == "incident_config_fix" and inc.mitigated_at is not None:
            out.append((inc.mitigated_at, "continue", "Config fix applied, metrics recovering"))
        return out
