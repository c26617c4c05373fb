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
from analytics.governance.audit import FINDING_CODES
from analytics.report import charts
from analytics.report.context import ReleaseContext
from analytics.report.failures import detection_path
from analytics.report.format import counted, fmt_hours, fmt_time
from analytics.report.html import Safe, Section, _badge, _p, _section, _table, _tag
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


def _status_badge(ok: bool | None, yes: str = "ok", no: str = "gap") -> Safe:
    if ok is None:
        return _badge("not decidable yet", "warn")
    return _badge(yes, "good") if ok else _badge(no, "bad")


def release_path(ctx: ReleaseContext) -> Section:
    """The path the effective tier required against what happened: tier (declared, implied,
    effective), evidence, gates, rollout stages with their stop conditions, approvals and the
    single accountable owner, with the audit's findings."""
    a, tp = ctx.audit, ctx.tier_policy
    tier = ctx.release["effective_tier"]
    plan = ", ".join(f"{p:g} %" for p in tp.rollout_plan) or "none"
    codes = list(a.get("findings") or [])
    f_rows = [
        [FINDING_CODES[c].severity, c, FINDING_CODES[c].sentence]
        for c in codes
        if c in FINDING_CODES
    ]
    parts: list[Any] = [
        *_tier_part(ctx),
        *_evidence_part(ctx, tier),
        *_gates_part(ctx, tier),
        *_rollout_part(ctx, tier, plan),
        *_approvals_part(ctx, tier),
        _tag("h3", "Audit findings"),
        _table(["severity", "finding", "meaning"], f_rows)
        if f_rows
        else _p("The audit found no gap in this release's path."),
    ]
    compliant = a.get("path_compliant")
    takeaway = [
        f"Tier {tier} requires {plural(len(tp.required_evidence), 'evidence item')}, "
        f"{plural(len(tp.required_gates), 'gate')}, the rollout plan {plan} and "
        f"{plural(len(tp.required_approvals), 'approval role')}.",
        (
            "The release followed that path."
            if compliant
            else f"The release did not follow that path: {plural(len(f_rows), 'audit finding')}."
            if compliant is False
            else "Whether it followed that path cannot be decided yet."
        ),
    ]
    return _section("release_path", takeaway, *parts)


def _tier_part(ctx: ReleaseContext) -> list[Any]:
    """The declared, implied and effective tier."""
    r = ctx.release
    tier = r["effective_tier"]
    tier_line = (
        f"Declared {r['declared_tier']}, implied {r['implied_tier']} by the changed "
        f"components, effective {tier}."
    )
    tier_badge = (
        _status_badge(not r["misclassified"], "as declared", "misclassified")
        if r["misclassified"] is not None
        else ""
    )
    return [_tag("h3", Safe(f"Risk tier {tier_badge}")), _p(tier_line)]


def _evidence_part(ctx: ReleaseContext, tier: str) -> list[Any]:
    """The required evidence items (and any extra ones) with their status."""
    a, tp = ctx.audit, ctx.tier_policy
    ev = ctx.evidence
    ev_rows, ev_cls = [], []
    for item in tp.required_evidence:
        rows = ev.filter(pl.col("item") == item)
        if rows.height == 0:
            ev_rows.append([item, "required", "no record", "", ""])
            ev_cls.append("ra-row-bad")
            continue
        for e in rows.iter_rows(named=True):
            ok = e["status"] == "present" or (e["status"] == "waived" and e["approved_by"])
            ev_rows.append([item, "required", e["status"], e["approved_by"] or "", e["uri"] or ""])
            ev_cls.append("" if ok else "ra-row-bad")
    for e in ev.filter(~pl.col("item").is_in(list(tp.required_evidence))).iter_rows(named=True):
        ev_rows.append([e["item"], "extra", e["status"], e["approved_by"] or "", e["uri"] or ""])
        ev_cls.append("")
    return [
        _tag("h3", Safe(f"Evidence {_status_badge(a.get('evidence_ok'))}")),
        _table(["item", "", "status", "approved by", "uri"], ev_rows, row_classes=ev_cls)
        if ev_rows
        else _p(f"Tier {tier} requires no evidence and none is recorded."),
    ]


def _gates_part(ctx: ReleaseContext, tier: str) -> list[Any]:
    """The required gates (and any extra ones) with their results."""
    a, tp = ctx.audit, ctx.tier_policy
    g = ctx.gates
    g_rows, g_cls = [], []
    for gate in tp.required_gates:
        rows = g.filter(pl.col("gate") == gate)
        if rows.height == 0:
            g_rows.append([gate, "required", "no record", "", "", ""])
            g_cls.append("ra-row-bad")
        for e in rows.iter_rows(named=True):
            g_rows.append(
                [
                    gate,
                    "required",
                    e["result"],
                    fmt_time(e["evaluated_at"]),
                    e["metric"] or "",
                    _value_vs(e["value"], e["threshold"]),
                ]
            )
            g_cls.append("" if e["result"] == "pass" else "ra-row-bad")
    for e in g.filter(~pl.col("gate").is_in(list(tp.required_gates))).iter_rows(named=True):
        g_rows.append(
            [
                e["gate"],
                "extra",
                e["result"],
                fmt_time(e["evaluated_at"]),
                e["metric"] or "",
                _value_vs(e["value"], e["threshold"]),
            ]
        )
        g_cls.append("ra-row-bad" if e["result"] == "fail" else "")
    return [
        _tag("h3", Safe(f"Gates {_status_badge(a.get('gates_ok'))}")),
        _table(
            ["gate", "", "result", "evaluated", "metric", "value / threshold"],
            g_rows,
            row_classes=g_cls,
        )
        if g_rows
        else _p(f"Tier {tier} requires no gate and none is recorded."),
    ]


def _rollout_part(ctx: ReleaseContext, tier: str, plan: str) -> list[Any]:
    """The planned steps against the rollout stages, with their stop conditions."""
    a = ctx.audit
    st = ctx.stages
    s_rows, s_cls = [], []
    for e in st.iter_rows(named=True):
        ignored = bool(e["stop_condition_met"]) and e["decision"] == "advance"
        s_rows.append(
            [
                e["stage"],
                f"{e['traffic_pct']:g} %" if e["traffic_pct"] is not None else "",
                e["segment"] or "all",
                fmt_time(e["started_at"]),
                fmt_time(e["ended_at"]) if e["ended_at"] else "open",
                e["decision"] or ("" if e["ended_at"] else "pending"),
                e["decided_by"] or "",
                "yes, ignored" if ignored else ("yes" if e["stop_condition_met"] else "no"),
            ]
        )
        s_cls.append(
            "ra-row-bad" if ignored else ("ra-row-warn" if e["stop_condition_met"] else "")
        )
    skipped = a.get("skipped_steps") or []
    rollout_text = [f"Planned steps for tier {tier}: {plan}."]
    if skipped:
        rollout_text.append(f"Skipped steps: {', '.join(f'{s:g} %' for s in skipped)}.")
    if a.get("stop_conditions_ignored"):
        rollout_text.append(
            f"{plural(a['stop_conditions_ignored'], 'stage')} advanced although "
            f"{'its' if a['stop_conditions_ignored'] == 1 else 'their'} stop condition was met."
        )
    return [
        _tag("h3", Safe(f"Rollout {_status_badge(a.get('rollout_ok'))}")),
        _p(" ".join(rollout_text)),
        _table(
            [
                "stage",
                "traffic",
                "segment",
                "started",
                "ended",
                "decision",
                "decided by",
                "stop condition met",
            ],
            s_rows,
            numeric=(0, 1),
            row_classes=s_cls,
        )
        if s_rows
        else _p("No rollout stage is recorded."),
    ]


def _approvals_part(ctx: ReleaseContext, tier: str) -> list[Any]:
    """The required approval roles, the votes and the accountable owner."""
    r, a, tp = ctx.release, ctx.audit, ctx.tier_policy
    ap = ctx.approvals
    missing = a.get("missing_approvals") or []
    ap_rows = [
        [
            e["role"],
            e["approver"],
            e["decision"],
            fmt_time(e["decided_at"]),
            "final" if e["final"] else "",
        ]
        for e in ap.iter_rows(named=True)
    ]
    owner = r.get("accountable_owner")
    finals = a.get("final_votes") or 0
    owner_text = (
        f"Accountable owner: {owner or 'none named'}. Final votes: {finals}"
        + (f" ({a.get('final_approver')}: {a.get('final_decision')})" if finals == 1 else "")
        + "."
    )
    req = ", ".join(tp.required_approvals) or "none"
    appr_text = f"Required roles for tier {tier}: {req}."
    if missing:
        appr_text += f" Missing a go from: {', '.join(missing)}."
    return [
        _tag(
            "h3",
            Safe(
                f"Approvals {_status_badge(a.get('approvals_ok'))} "
                f"{_status_badge(a.get('single_owner'), 'single owner', 'owner gap')}"
            ),
        ),
        _p(appr_text),
        _p(owner_text),
        _table(["role", "approver", "decision", "decided", "final"], ap_rows)
        if ap_rows
        else _p("No approval is recorded."),
    ]


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
