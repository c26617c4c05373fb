"""The path a release's effective tier required against what happened, area by area (tier,
evidence, gates, rollout, approvals, train, observability), from one row of
``analytics.governance.audit.audit_releases``: the one "required vs happened" of the
post-release review (``analytics.report.review.release_path`` renders it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from analytics.core.errors import DataError
from analytics.core.policy import Policy, TierPolicy
from analytics.core.results import clean
from analytics.governance.findings import FINDING_CODES
from analytics.stats.change import plural


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
    """Items as "a, b, c"; ``empty`` when there is none."""
    values = [str(x) for x in (items or [])]
    return ", ".join(values) if values else empty


def _plan(steps: Any) -> str:
    """Traffic percentages as "1 -> 5 -> 20 -> 100 %"; "none" when there is none."""
    return " -> ".join(f"{float(p):g}" for p in steps) + " %" if steps else "none"


def _hours_after(t: datetime | None, start: datetime | None) -> str:
    """ "2.0 h after release"; "not seen" without both times."""
    if t is None or start is None:
        return "not seen"
    return f"{(t - start).total_seconds() / 3600:.1f} h after release"


# Each area: (audit row, tier policy, policy) -> (required, happened, ok).
Area = tuple[str, str, bool | None]


def _tier(r: Mapping[str, Any], tp: TierPolicy, policy: Policy) -> Area:
    declared = r["declared_tier"] or "none (no valid tier)"
    return (
        f"declared tier at least the implied {r['implied_tier']}",
        f"declared {declared}; changed {_join(r['changed_components'])}",
        r["tier_ok"],
    )


def _evidence(r: Mapping[str, Any], tp: TierPolicy, policy: Policy) -> Area:
    missing = r["missing_evidence"]
    happened = f"missing: {_join(missing)}" if missing else "all present"
    return _join(tp.required_evidence), happened, r["evidence_ok"]


def _gates(r: Mapping[str, Any], tp: TierPolicy, policy: Policy) -> Area:
    happened = []
    if r["gates_not_run"]:
        happened.append(f"not run: {_join(r['gates_not_run'])}")
    if r["gates_failed"]:
        happened.append(f"failed: {_join(r['gates_failed'])}")
    if r["unapproved_gate_waivers"]:
        happened.append(f"waived without approver: {_join(r['unapproved_gate_waivers'])}")
    required = f"{_join(tp.required_gates)} passed" if tp.required_gates else "no gate"
    return (
        required,
        "; ".join(happened) or "all passed",
        r["gates_ok"],
    )


def _rollout(r: Mapping[str, Any], tp: TierPolicy, policy: Policy) -> Area:
    happened = _plan(r["traffic_steps"]) if r["traffic_steps"] else "no stage recorded"
    if r["stop_conditions_ignored"]:
        happened += f"; {plural(r['stop_conditions_ignored'], 'stop condition')} ignored"
    if r["skipped_steps"]:
        skipped = ", ".join(f"{float(p):g}" for p in r["skipped_steps"])
        happened += (
            f"; skipped {'step' if len(r['skipped_steps'] or []) == 1 else 'steps'} {skipped} %"
        )
    required = _plan(tp.rollout_plan) + ", halting when a stop condition is met"
    return required, happened, r["rollout_ok"]


def _approvals(r: Mapping[str, Any], tp: TierPolicy, policy: Policy) -> Area:
    missing = f"missing go: {_join(r['missing_approvals'])}; " if r["missing_approvals"] else ""
    last = f", the last {r['final_decision']} by {r['final_approver']}" if r["final_votes"] else ""
    happened = (
        f"{missing}{plural(r['final_votes'], 'final vote')}{last}; "
        f"owner {r['accountable_owner'] or 'none'}"
    )
    ok = None if r["approvals_ok"] is None else bool(r["approvals_ok"] and r["single_owner"])
    return (
        f"go from {_join(tp.required_approvals)}; one final vote; one accountable owner",
        happened,
        ok,
    )


def _train(r: Mapping[str, Any], tp: TierPolicy, policy: Policy) -> Area:
    released = r["released_at"]
    when = released.astimezone(policy.zone).strftime("%a %Y-%m-%d %H:%M") if released else "unknown"
    return (
        f"{tp.train} train (or emergency with a reason)",
        f"{r['train'] or 'no'} train, released {when}",
        r["train_ok"],
    )


def _observability(r: Mapping[str, Any], tp: TierPolicy, policy: Policy) -> Area:
    obs = policy.section("observability")
    released = r["released_at"]
    return (
        f"version marker within {float(obs['marker_within_hours']):g} h; operator decision "
        f"within {float(obs['operator_decisions_within_hours']):g} h",
        f"marker {_hours_after(r['first_seen'], released)}; first operator decision "
        f"{_hours_after(r['first_operator_decision'], released)}",
        r["observability_ok"],
    )


AREAS: Mapping[str, Callable[[Mapping[str, Any], TierPolicy, Policy], Area]] = {
    "tier": _tier,
    "evidence": _evidence,
    "gates": _gates,
    "rollout": _rollout,
    "approvals": _approvals,
    "train": _train,
    "observability": _observability,
}


def release_path_review(r: Mapping[str, Any], policy: Policy) -> PathReview:
    """The ``PathReview`` of one row of ``audit_releases`` (as a mapping): one ``PathStep`` per
    area of ``AREAS``, each with the release's findings of that area."""
    tier = r["effective_tier"]
    tp = policy.tiers[tier]
    by_area: dict[str, list[str]] = {}
    for code in r["findings"]:
        by_area.setdefault(FINDING_CODES[code].area, []).append(code)
    steps = tuple(
        PathStep(area, *step(r, tp, policy), tuple(by_area.get(area, [])))
        for area, step in AREAS.items()
    )
    sentences = tuple(FINDING_CODES[c].sentence for c in r["findings"])
    return PathReview(
        r["release_id"], tier, r["path_compliant"], steps, tuple(r["findings"]), sentences
    )


def path_review(audit: pl.DataFrame, release_id: str, policy: Policy) -> PathReview:
    """What the effective tier's path required and what happened, area by area, from one row of
    ``audit_releases`` (tier, evidence, gates, rollout, approvals, train, observability); the
    anti-pattern and outcome findings are listed in ``findings``. Raises ``DataError`` when the
    release is not in the audit."""
    rows = audit.filter(pl.col("release_id") == release_id)
    if rows.height == 0:
        raise DataError(f"release '{release_id}' is not in the audit")
    return release_path_review(rows.row(0, named=True), policy)


__all__ = ["AREAS", "PathReview", "PathStep", "path_review", "release_path_review"]
