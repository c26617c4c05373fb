"""The path a release's effective tier required against what happened, area by area (tier,
evidence, gates, rollout, approvals, train, observability), from one row of
``analytics.governance.audit.audit_releases``: the one "required vs happened" of the
post-release review (``analytics.report.review.release_path`` renders it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from analytics.core.errors import DataError
from analytics.core.policy import Policy
from analytics.core.results import clean
from analytics.governance.findings import FINDING_CODES


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


__all__ = ["PathReview", "PathStep", "path_review"]
