"""Post-release review sections: the release verdict and the closing verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from analytics.report.context import ReleaseContext
from analytics.report.format import fmt_time
from analytics.report.html import Section, _badge, _join, _p, _section, _tag, _ul
from analytics.report.review import _implied_by


@dataclass(frozen=True)
class Verdict:
    """The review's verdict (``failed``, ``immature`` or ``no_failure``), its sentence and the
    follow-ups generated from the release's findings."""

    status: str
    sentence: str
    follow_ups: tuple[str, ...]


def release_verdict(ctx: ReleaseContext) -> Verdict:
    """Verdict: failed (with the signals that fired), immature (observation window not over,
    nothing fired yet) or no failure; follow-ups come from the audit findings, open incidents
    and the failure signals, each naming what to do."""
    status, sentence = _status(ctx)
    return Verdict(status, sentence, tuple(_path_follow_ups(ctx) + _outcome_follow_ups(ctx)))


def _status(ctx: ReleaseContext) -> tuple[str, str]:
    """The verdict status and its sentence."""
    r = ctx.release
    signals = list(r.get("failure_signals") or [])
    if r.get("failed"):
        status = "failed"
        sentence = f"{ctx.release_id} degraded decision quality (signals: {', '.join(signals)})."
    elif r.get("immature"):
        status = "immature"
        sentence = (
            f"No failure signal has fired for {ctx.release_id} yet, but its observation "
            f"window is not over at {fmt_time(ctx.as_of)}."
        )
    else:
        status = "no_failure"
        sentence = (
            f"No failure signal fired for {ctx.release_id} within its observation and "
            "attribution windows."
        )
    return status, sentence


def _path_follow_ups(ctx: ReleaseContext) -> list[str]:
    """Follow-ups on the path the release took: its tier, evidence, waivers, gates, rollout
    steps, approvals and owner (from the audit)."""
    r, a = ctx.release, ctx.audit
    codes = set(a.get("findings") or [])
    follow: list[str] = []
    if r.get("misclassified"):
        follow.append(
            f"Declare releases that change {', '.join(_implied_by(ctx))} at tier "
            f"{r['implied_tier']} (this one was declared {r['declared_tier']})."
        )
    absent = a.get("absent_evidence") or r.get("missing_evidence") or []
    if absent:
        follow.append(
            f"Produce the missing evidence before the next release of "
            f"{r['system']}: {', '.join(absent)}."
        )
    if a.get("unapproved_evidence_waivers") or a.get("unapproved_gate_waivers"):
        items = [
            *(a.get("unapproved_evidence_waivers") or []),
            *(a.get("unapproved_gate_waivers") or []),
        ]
        follow.append(f"Get an approver on record for the waived {', '.join(items)}.")
    if a.get("gates_not_run"):
        follow.append(f"Run the required gates: {', '.join(a['gates_not_run'])}.")
    if a.get("gates_failed"):
        follow.append(
            f"Explain why the release shipped with failed gates: {', '.join(a['gates_failed'])}."
        )
    if a.get("stop_conditions_ignored"):
        n_stop = a["stop_conditions_ignored"]
        follow.append(
            f"Review the {'stage' if n_stop == 1 else f'{n_stop} stages'} that advanced past a "
            "met stop condition with the rollout owner."
        )
    if a.get("skipped_steps"):
        follow.append(
            "Follow the full rollout plan: skipped "
            f"{', '.join(f'{s:g} %' for s in a['skipped_steps'])}."
        )
    if a.get("missing_approvals"):
        follow.append(f"Collect the missing approvals: {', '.join(a['missing_approvals'])}.")
    if (
        "no_accountable_owner" in codes
        or "no_final_approval" in codes
        or "multiple_final_approvals" in codes
    ):
        follow.append("Name one accountable owner with one final go / no-go vote.")
    return follow


def _outcome_follow_ups(ctx: ReleaseContext) -> list[str]:
    """Follow-ups on what happened after release: open incidents, a failure seen only in
    telemetry, a gate escape, missing operator decisions or version marker."""
    r = ctx.release
    codes = set(ctx.audit.get("findings") or [])
    follow: list[str] = []
    open_inc = ctx.incidents.filter(~pl.col("mitigated_by_as_of"))
    if open_inc.height:
        follow.append(
            f"Mitigate and close the open {'incident' if open_inc.height == 1 else 'incidents'}: "
            f"{', '.join(open_inc['incident_id'].to_list())}."
        )
    if r.get("failed") and r.get("detected_at") is None:
        follow.append(
            "The degradation was found only in telemetry: add the degraded metrics "
            f"({', '.join(r.get('telemetry_metrics') or [])}) to the canary's stop "
            "conditions."
        )
    if "gate_escape" in codes:
        follow.append(
            "Every gate passed yet the release failed: tighten the gate whose metric "
            "should have caught this."
        )
    obs = ctx.policy.section("observability")
    if "no_operator_decision_72h" in codes:
        follow.append(
            "Record operator decisions in the first "
            f"{float(obs['operator_decisions_within_hours']):g} hours after release."
        )
    if "no_version_marker_24h" in codes:
        follow.append(
            "Make sure the new version's marker reaches telemetry within "
            f"{float(obs['marker_within_hours']):g} hours of release."
        )
    return follow


def verdict(ctx: ReleaseContext) -> Section:
    """The verdict and the follow-ups (see ``release_verdict``)."""
    v = release_verdict(ctx)
    kind = {"failed": "bad", "immature": "warn", "no_failure": "good"}[v.status]
    label = {"failed": "failed", "immature": "immature", "no_failure": "no failure"}[v.status]
    parts: list[Any] = [_tag("div", _join([_badge(label, kind), " ", v.sentence]), "ra-verdict")]
    if v.follow_ups:
        parts += [_tag("h3", "Follow-ups"), _ul(v.follow_ups)]
    else:
        parts.append(_p("No follow-up: the release took its tier's path and nothing is open."))
    return _section("verdict", [], *parts)
