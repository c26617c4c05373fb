"""Post-release review sections: the release diff, its path to production, the rollout chart,
the incident review and the operator log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from analytics.core.columns import MTTM_INVALID
from analytics.core.policy import COMPONENTS
from analytics.core.schemas import VERSION_COLUMNS
from analytics.governance.findings import FINDING_CODES
from analytics.governance.path import PathReview, PathStep, release_path_review
from analytics.metrics.evidence import evidence_satisfied
from analytics.report import charts
from analytics.report.context import ReleaseContext
from analytics.report.failures import detection_path
from analytics.report.format import counted, fmt_hours, fmt_time
from analytics.report.html import Safe, Section, _badge, _h, _p, _section, _table, _tag
from analytics.stats.change import plural


def _implied_by(ctx: ReleaseContext) -> list[str]:
    cmt = ctx.policy.component_min_tier
    implied = ctx.release["implied_tier"]
    return [c for c in ctx.release["changed_components"] or [] if cmt.get(c) == implied]


def release_diff(ctx: ReleaseContext) -> Section:
    """The release unit against the previous release of the same system: the seven component
    versions side by side, what changed and the minimum tier each change implies."""
    r, prev = ctx.release, ctx.previous
    changed = set(r["changed_components"] or [])
    cmt = ctx.policy.component_min_tier
    rows, classes = [], []
    for comp, col in zip(COMPONENTS, VERSION_COLUMNS, strict=True):
        is_changed = comp in changed
        rows.append(
            [
                comp,
                prev[col] if prev else "(first release)",
                r[col],
                "changed" if is_changed else "",
                cmt.get(comp, "") if is_changed else "",
            ]
        )
        classes.append("ra-row-warn" if is_changed else "")
    prev_label = f"previous: {prev['release_id']}" if prev else "previous: none"
    table = _table(
        ["component", prev_label, f"this release: {ctx.release_id}", "", "implies tier"],
        rows,
        row_classes=classes,
    )
    if prev is None:
        takeaway = [
            f"{ctx.release_id} is the first release of {r['system']}: it changed every component."
        ]
    elif not changed:
        takeaway = [
            f"{ctx.release_id} changed no component against {prev['release_id']} "
            f"(released {fmt_time(prev['released_at'])})."
        ]
    else:
        takeaway = [
            f"{ctx.release_id} changed {', '.join(sorted(changed, key=COMPONENTS.index))}"
            f" against {prev['release_id']} (released {fmt_time(prev['released_at'])}), "
            f"which implies tier {r['implied_tier']}"
            f" (set by {', '.join(_implied_by(ctx))})."
        ]
    return _section("release_diff", takeaway, table)


def _status_badge(
    ok: bool | None, yes: str = "ok", no: str = "gap", unknown: str = "not decidable yet"
) -> Safe:
    if ok is None:
        return _badge(unknown, "warn")
    return _badge(yes, "good") if ok else _badge(no, "bad")


AREA_TITLES = {
    "tier": "Risk tier",
    "evidence": "Evidence",
    "gates": "Gates",
    "rollout": "Rollout",
    "approvals": "Approvals",
    "train": "Release train",
    "observability": "Observability",
}
# Badge words (ok, not ok, undecided) where the default ok / gap / not decidable yet reads wrong.
_BADGE_WORDS = {"tier": ("as declared", "misclassified", "no valid declared tier")}


def _evidence_records(ctx: ReleaseContext) -> Safe:
    """The evidence rows: each required item (a row marked bad unless ``evidence_satisfied``),
    then the extra items."""
    tp = ctx.tier_policy
    ev = ctx.evidence.with_columns(evidence_satisfied().alias("_satisfied"))
    rows, classes = [], []
    for item in tp.required_evidence:
        mine = ev.filter(pl.col("item") == item)
        if mine.height == 0:
            rows.append([item, "required", "no record", "", ""])
            classes.append("ra-row-bad")
        for e in mine.iter_rows(named=True):
            rows.append([item, "required", e["status"], e["approved_by"] or "", e["uri"] or ""])
            classes.append("" if e["_satisfied"] else "ra-row-bad")
    for e in ev.filter(~pl.col("item").is_in(list(tp.required_evidence))).iter_rows(named=True):
        rows.append([e["item"], "extra", e["status"], e["approved_by"] or "", e["uri"] or ""])
        classes.append("")
    if not rows:
        return _p(
            f"Tier {ctx.release['effective_tier']} requires no evidence and none is recorded."
        )
    return _table(["item", "", "status", "approved by", "uri"], rows, row_classes=classes)


def _gate_row(e: dict[str, Any], kind: str) -> list[Any]:
    return [
        e["gate"],
        kind,
        e["result"],
        fmt_time(e["evaluated_at"]),
        e["metric"] or "",
        _value_vs(e["value"], e["threshold"]),
    ]


def _gate_records(ctx: ReleaseContext) -> Safe:
    """The gate evaluations: each required gate (bad unless ``pass``), then the extra gates (bad
    when ``fail``)."""
    tp, g = ctx.tier_policy, ctx.gates
    rows, classes = [], []
    for gate in tp.required_gates:
        mine = g.filter(pl.col("gate") == gate)
        if mine.height == 0:
            rows.append([gate, "required", "no record", "", "", ""])
            classes.append("ra-row-bad")
        for e in mine.iter_rows(named=True):
            rows.append(_gate_row(e, "required"))
            classes.append("" if e["result"] == "pass" else "ra-row-bad")
    for e in g.filter(~pl.col("gate").is_in(list(tp.required_gates))).iter_rows(named=True):
        rows.append(_gate_row(e, "extra"))
        classes.append("ra-row-bad" if e["result"] == "fail" else "")
    if not rows:
        return _p(f"Tier {ctx.release['effective_tier']} requires no gate and none is recorded.")
    headers = ["gate", "", "result", "evaluated", "metric", "value / threshold"]
    return _table(headers, rows, row_classes=classes)


def _stage_records(ctx: ReleaseContext) -> Safe:
    """The rollout stages, a stage advanced past its stop condition marked bad."""
    rows, classes = [], []
    for e in ctx.stages.iter_rows(named=True):
        met = bool(e["stop_condition_met"])
        ignored = met and e["decision"] == "advance"
        rows.append(
            [
                e["stage"],
                f"{e['traffic_pct']:g} %" if e["traffic_pct"] is not None else "",
                e["segment"] or "all",
                fmt_time(e["started_at"]),
                fmt_time(e["ended_at"]) if e["ended_at"] else "open",
                e["decision"] or ("" if e["ended_at"] else "pending"),
                e["decided_by"] or "",
                "yes, ignored" if ignored else ("yes" if met else "no"),
            ]
        )
        classes.append("ra-row-bad" if ignored else ("ra-row-warn" if met else ""))
    if not rows:
        return _p("No rollout stage is recorded.")
    headers = ["stage", "traffic", "segment", "started", "ended", "decision", "decided by"]
    return _table([*headers, "stop condition met"], rows, numeric=(0, 1), row_classes=classes)


def _approval_records(ctx: ReleaseContext) -> Safe:
    """The approval votes, in order."""
    rows = [
        [
            e["role"],
            e["approver"],
            e["decision"],
            fmt_time(e["decided_at"]),
            "final" if e["final"] else "",
        ]
        for e in ctx.approvals.iter_rows(named=True)
    ]
    if not rows:
        return _p("No approval is recorded.")
    return _table(["role", "approver", "decision", "decided", "final"], rows)


# The records shown under an area of the path.
_RECORDS = {
    "evidence": _evidence_records,
    "gates": _gate_records,
    "rollout": _stage_records,
    "approvals": _approval_records,
}


def _path_step(ctx: ReleaseContext, step: PathStep) -> list[Safe]:
    """One area of the path: its title and badge, what was required and what happened (the
    ``PathStep``), and the records behind it."""
    badge = _status_badge(step.ok, *_BADGE_WORDS.get(step.area, ()))
    parts = [
        _tag("h3", Safe(f"{_h(AREA_TITLES[step.area])} {badge}")),
        _p(Safe(f"<b>Required:</b> {_h(step.required)}<br><b>Happened:</b> {_h(step.happened)}")),
    ]
    if step.area in _RECORDS:
        parts.append(_RECORDS[step.area](ctx))
    return parts


def _path_findings(review: PathReview) -> Safe:
    rows = [
        [FINDING_CODES[c].severity, c, sentence]
        for c, sentence in zip(review.findings, review.sentences, strict=True)
    ]
    if not rows:
        return _p("The audit found no gap in this release's path.")
    return _table(["severity", "finding", "meaning"], rows)


def _path_takeaway(ctx: ReleaseContext, review: PathReview) -> list[str]:
    tp = ctx.tier_policy
    plan = ", ".join(f"{p:g} %" for p in tp.rollout_plan) or "none"
    compliant = review.path_compliant
    return [
        f"Tier {review.effective_tier} requires "
        f"{plural(len(tp.required_evidence), 'evidence item')}, "
        f"{plural(len(tp.required_gates), 'gate')}, the rollout plan {plan} and "
        f"{plural(len(tp.required_approvals), 'approval role')}.",
        (
            "The release followed that path."
            if compliant
            else f"The release did not follow that path: "
            f"{plural(len(review.findings), 'audit finding')}."
            if compliant is False
            else "Whether it followed that path cannot be decided yet."
        ),
    ]


def release_path(ctx: ReleaseContext) -> Section:
    """The path the effective tier required against what happened, area by area (the
    ``PathReview`` of ``analytics.governance.path``: tier, evidence, gates, rollout, approvals,
    train, observability), each with the records behind it (evidence, gate evaluations, rollout
    stages with their stop conditions, approval votes), and the audit's findings."""
    review = release_path_review(ctx.audit, ctx.policy)
    parts = [p for step in review.steps for p in _path_step(ctx, step)]
    parts += [_tag("h3", "Audit findings"), _path_findings(review)]
    return _section("release_path", _path_takeaway(ctx, review), *parts)


def _value_vs(value: float | None, threshold: float | None) -> str:
    if value is None and threshold is None:
        return ""
    v = "n/a" if value is None else f"{value:g}"
    t = "n/a" if threshold is None else f"{threshold:g}"
    return f"{v} / {t}"


def rollout_chart(ctx: ReleaseContext) -> Section:
    """The rollout timeline: traffic share of the new version per stage over time, with stage
    decisions, stop conditions, incident detections and operator decisions."""
    st = ctx.stages
    if st.height == 0:
        return _section(
            "rollout_chart",
            [
                f"No rollout stage is recorded for {ctx.release_id}: the release went to its "
                "traffic in one step, or the stages were not logged."
            ],
        )
    fig = charts.rollout_timeline(
        st,
        released_at=ctx.release["released_at"],
        as_of=ctx.as_of,
        incidents=ctx.incidents,
        decisions=ctx.decisions,
        plan=ctx.tier_policy.rollout_plan,
        title=f"Rollout of {ctx.release_id}",
    )
    first, last = st.row(0, named=True), st.row(-1, named=True)
    end = last["ended_at"] or ctx.as_of
    span = (end - first["started_at"]).total_seconds() / 3600 if first["started_at"] else None
    takeaway = [
        f"{plural(st.height, 'stage')} from {first['traffic_pct']:g} % to "
        f"{last['traffic_pct']:g} % over {fmt_hours(span)}; the last decision was "
        f"{last['decision'] or 'not recorded'}."
    ]
    return _section("rollout_chart", takeaway, fig)


def incident_review(ctx: ReleaseContext) -> Section:
    """The release's attributed incidents on a timeline, with time to detect (from release) and
    to mitigate (from detection; open incidents counted to ``as_of``)."""
    inc = ctx.incidents
    r = ctx.release
    if inc.height == 0:
        det = r.get("detection_hours")
        text = f"No incident is attributed to {ctx.release_id} as of {fmt_time(ctx.as_of)}."
        if det is not None:
            text += (
                f" The failure was detected after {fmt_hours(det)} by "
                f"{detection_path(ctx.analysis, r)}."
            )
        return _section("incident_review", [text, *_release_detection_sentences(ctx)])
    fig = charts.incident_timeline(
        inc, released_at=r["released_at"], as_of=ctx.as_of, title=f"Incidents of {ctx.release_id}"
    )
    rows = []
    for e in inc.iter_rows(named=True):
        ttd = (
            None
            if e["detected_at"] is None or not e["detection_valid"]
            else hours_between(r["released_at"], e["detected_at"])
        )
        if e["mitigated_by_as_of"] and not e[MTTM_INVALID]:
            ttm = fmt_hours(hours_between(e["detected_at"], e["mitigated_at"]))
        elif e[MTTM_INVALID]:
            ttm = "invalid (mitigated before detected)"
        else:
            ttm = f"open ({fmt_hours(hours_between(e['detected_at'], ctx.as_of))} so far)"
        rows.append(
            [
                e["incident_id"],
                e["severity"],
                e["category"],
                "yes" if e["dq_impact"] else "no",
                e["detection_source"] or "",
                fmt_time(e["detected_at"]),
                fmt_hours(ttd),
                e["mitigation"] or "",
                ttm,
                e["attribution"],
            ]
        )
    table = _table(
        [
            "incident",
            "severity",
            "category",
            "decision quality",
            "detected by",
            "detected",
            "time to detect",
            "mitigation",
            "time to mitigate",
            "attribution",
        ],
        rows,
    )
    takeaway = [f"{counted(inc.height, 'incident', past=False)} attributed to {ctx.release_id}."]
    if r.get("detection_hours") is not None:
        takeaway.append(
            f"First detection after {fmt_hours(r['detection_hours'])}: "
            f"{detection_path(ctx.analysis, r)}."
        )
    open_n = int((~inc["mitigated_by_as_of"]).sum())
    if open_n:
        takeaway.append(
            f"{counted(open_n, 'incident', past=False)} still open at {fmt_time(ctx.as_of)}."
        )
    takeaway += _release_detection_sentences(ctx)
    return _section("incident_review", takeaway, fig, table)


def _release_detection_sentences(ctx: ReleaseContext) -> list[str]:
    """'Detectable after X h, detected after Y h' for the release
    (``analytics.metrics.detection``)."""
    if ctx.detection_note:
        return [ctx.detection_note]
    dp = ctx.detection
    if dp is None:
        return []
    det = ctx.release.get("detection_hours")
    if dp.detectable_after_hours is None:
        return [f"Telemetry monitoring: {dp.message}."] if dp.message else []
    text = (
        f"The degradation of {(dp.metric or '').replace('_', ' ')} was statistically visible "
        f"in the telemetry {fmt_hours(dp.detectable_after_hours)} after release"
    )
    if det is not None:
        gap = det - dp.detectable_after_hours
        text += f"; it was detected after {fmt_hours(det)}, " + (
            f"{fmt_hours(gap)} later." if gap > 0 else "no later than that."
        )
    else:
        text += "; it has not been detected in operation."
    return [text]


def hours_between(a: datetime | None, b: datetime | None) -> float | None:
    """Hours from ``a`` to ``b`` (None when either is missing)."""
    if a is None or b is None:
        return None
    return (b - a).total_seconds() / 3600


def operator_log(ctx: ReleaseContext) -> Section:
    """The operator decisions on the release, in order, with hours since release and the
    rationale as written."""
    d = ctx.decisions
    if d.height == 0:
        return _section(
            "operator_log",
            [f"No operator decision is recorded for {ctx.release_id} as of {fmt_time(ctx.as_of)}."],
        )
    rows = [
        [
            fmt_time(e["decided_at"]),
            fmt_hours(hours_between(ctx.release["released_at"], e["decided_at"])),
            e["operator"],
            e["action"],
            e["rationale"] or "",
        ]
        for e in d.iter_rows(named=True)
    ]
    table = _table(
        ["decided", "since release", "operator", "action", "rationale"], rows, numeric=(1,)
    )
    actions = d.group_by("action").len().sort("len", "action", descending=[True, False])
    summary = ", ".join(f"{a['len']} {a['action']}" for a in actions.iter_rows(named=True))
    return _section("operator_log", [f"{plural(d.height, 'decision')}: {summary}."], table)
