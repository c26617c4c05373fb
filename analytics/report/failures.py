"""Executive report sections: the failed releases with their detection paths, and the risk
attribution.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import polars as pl

from analytics.analysis.kpis import Analysis
from analytics.core.columns import MTTM_INVALID
from analytics.governance.risk import GroupRisk
from analytics.metrics.detection import DetectionPotential, detection_summary
from analytics.report.context import ExecutiveContext, _release_incidents, trend_window
from analytics.report.format import DETECTION_LABELS, be, fmt_hours, fmt_pct, fmt_time
from analytics.report.html import Safe, Section, _h, _p, _section, _table, _ul
from analytics.stats.change import plural

# ---------------------------------------------------------------- executive: failed releases


def detection_path(analysis: Analysis, release: Mapping[str, Any]) -> str:
    """How a failed release was first detected, in words: the incident (and its detection
    source), the halted or rolled-back rollout stage, or the operator decision whose time is the
    release's ``detected_at``; a failure seen only in telemetry is 'not detected yet'."""
    ds = analysis.dataset
    at = release.get("detected_at")
    rid = release["release_id"]
    if at is None:
        if release.get("signal_telemetry"):
            return "found only by telemetry analysis: not detected in operation yet"
        return "no detection recorded"
    inc = _release_incidents(analysis, rid).filter(
        pl.col("detection_valid") & (pl.col("detected_at") == at)
    )
    if inc.height:
        r = inc.row(0, named=True)
        src = DETECTION_LABELS.get(r["detection_source"] or "", "an unrecorded source")
        return f"incident {r['incident_id']} ({r['severity']}, {r['category']}) raised by {src}"
    st = ds.rollout_stages.filter(
        (pl.col("release_id") == rid)
        & (pl.col("ended_at") == at)
        & pl.col("decision").is_in(["halt", "rollback"])
    )
    if st.height:
        r = st.row(0, named=True)
        who = f" by {r['decided_by']}" if r["decided_by"] else ""
        return f"rollout stage {r['stage']} ({r['traffic_pct']:g} %) {r['decision']}{who}"
    op = ds.operator_decisions.filter((pl.col("release_id") == rid) & (pl.col("decided_at") == at))
    if op.height:
        r = op.row(0, named=True)
        return f"operator {r['operator']} decided {r['action']}"
    return "detected (source not recorded)"


def _mitigation_text(inc: pl.DataFrame, as_of: datetime) -> str:
    dq = inc.filter(pl.col("dq_impact") & pl.col("detected_at").is_not_null())
    if dq.height == 0:
        return "no decision-quality incident"
    out = []
    for r in dq.iter_rows(named=True):
        if r["mitigated_by_as_of"] and not r[MTTM_INVALID]:
            h = (r["mitigated_at"] - r["detected_at"]).total_seconds() / 3600
            out.append(f"{r['incident_id']}: {fmt_hours(h)} ({r['mitigation'] or 'no type'})")
        elif r[MTTM_INVALID]:
            out.append(f"{r['incident_id']}: invalid mitigation time")
        else:
            h = (as_of - r["detected_at"]).total_seconds() / 3600
            out.append(f"{r['incident_id']}: open, {fmt_hours(h)} so far")
    return "; ".join(out)


def failed_releases(ctx: ExecutiveContext) -> Section:
    """The month's failed releases (CFR-DQ): what changed, which signals fired, how and when the
    failure was detected, and how long mitigation took (open incidents counted to ``as_of``)."""
    cohort = ctx.cohort
    failed = cohort.filter(pl.col("failed").fill_null(False))
    if failed.height == 0:
        text = (
            f"No release deployed in {ctx.month} degraded decision quality as of "
            f"{fmt_time(ctx.as_of)}."
            if cohort.height
            else f"No release was deployed in {ctx.month}."
        )
        return _section("failed_releases", [text])
    rows = []
    for r in failed.iter_rows(named=True):
        inc = _release_incidents(ctx.analysis, r["release_id"])
        tier = r["effective_tier"]
        if r["declared_tier"] != tier:
            tier = f"{r['declared_tier']} declared → {tier}"
        rows.append(
            [
                Safe(f"<code>{_h(r['release_id'])}</code><br>{_h(r['system'])}"),
                r.get("summary") or "",
                ", ".join(r["changed_components"] or []) or "nothing",
                tier,
                ", ".join(r["failure_signals"] or []),
                detection_path(ctx.analysis, r),
                fmt_hours(r["detection_hours"]),
                *([_detectable_text(ctx.detection.get(r["release_id"]))] if ctx.detection else []),
                _mitigation_text(inc, ctx.as_of),
            ]
        )
    headers = [
        "release",
        "summary",
        "changed",
        "tier",
        "signals",
        "detected by",
        "time to detect",
        *(["visible in telemetry after"] if ctx.detection else []),
        "time to mitigate",
    ]
    table = _table(headers, rows, numeric=(6,))
    late = failed.filter(pl.col("detected_at").is_null())
    takeaway = [
        f"{failed.height} of {plural(cohort.height, 'release')} deployed in {ctx.month} failed by "
        f"decision quality."
    ]
    detected = failed.filter(pl.col("detection_hours").is_not_null())
    if detected.height == 1:
        only = detected.row(0, named=True)
        takeaway.append(
            f"Detection took {fmt_hours(only['detection_hours'])} ({only['release_id']})."
        )
    elif detected.height:
        slowest = detected.sort("detection_hours", descending=True).row(0, named=True)
        median = float(detected["detection_hours"].median())  # type: ignore[arg-type]
        takeaway.append(
            f"Detection took a median {fmt_hours(median)}; the slowest "
            f"{fmt_hours(slowest['detection_hours'])} "
            f"({slowest['release_id']})."
        )
    if late.height:
        takeaway.append(
            f"{plural(late.height, 'failure')} {'has' if late.height == 1 else 'have'} no "
            "operational detection yet: "
            f"{', '.join(late['release_id'].to_list())}."
        )
    takeaway += _detection_sentences(failed)
    note = _p(ctx.detection_note, cls="ra-muted") if ctx.detection_note else None
    return _section("failed_releases", takeaway, table, note)


def _detectable_text(dp: DetectionPotential | None) -> str:
    if dp is None:
        return "n/a"
    if dp.detectable_after_hours is not None:
        return f"{fmt_hours(dp.detectable_after_hours)} ({(dp.metric or '').replace('_', ' ')})"
    if dp.status == "insufficient_data":
        return "too few cases to tell"
    return "not visible beyond the margin"


def _detection_sentences(failed: pl.DataFrame) -> list[str]:
    """How much earlier an always-valid test on the telemetry could have seen the month's
    telemetry-visible failures than they were actually detected
    (``analytics.metrics.detection.detection_summary``)."""
    s = detection_summary(failed)
    if s.n == 0:
        return []
    if s.n == 1:
        r = s.releases[0]
        v, d = r["detectable_after_hours"], r["detection_hours"]
        text = (
            f"{r['release_id']}'s degradation was statistically visible in the telemetry "
            f"(always-valid confidence sequence) {fmt_hours(v)} after release"
        )
        if d is not None:
            gap = d - v
            text += f"; it was detected after {fmt_hours(d)}" + (
                f", {fmt_hours(gap)} later" if gap > 0 else ""
            )
        return [text + "."]
    text = (
        f"{s.n} of the {plural(failed.height, 'failure')} {be(s.n, past=True)} statistically "
        "visible in the "
        f"telemetry (always-valid confidence sequence) after a median of "
        f"{fmt_hours(s.median_detectable_after_hours)}"
    )
    if s.median_hours_earlier is not None:
        lag = s.median_hours_earlier
        text += f"; detection came a median {fmt_hours(abs(lag))} " + (
            "later" if lag >= 0 else "earlier"
        )
    return [text + "."]


# ---------------------------------------------------------------- executive: risk attribution


def risk(ctx: ExecutiveContext) -> Section:
    """Where failures concentrate over the 12 months of the trends (``trend_window``):
    failure rate of the releases that changed each component, of each effective tier, with each
    process gap and each audit finding, against the rest (risk ratio with interval), and the
    logistic regression's adjusted ratios, with their caveats (``analytics.governance.risk``)."""
    ra_ = ctx.risk_attribution
    months = trend_window(ctx.month, ctx.analysis.dataset.policy, ctx.as_of)
    span = f"{months[0]} to {months[-1]}"
    if ra_.n == 0:
        return _section("risk", [f"No release was deployed from {span}."])
    takeaway = [
        f"{ra_.failures} of {plural(ra_.n, 'release')} deployed from {span} failed by decision "
        "quality."
    ]
    rated = [g for g in ra_.groups if g.status == "ok" and g.risk_ratio is not None]
    clear = sorted(
        (g for g in rated if (g.ci_low or 0) > 1), key=lambda g: (-(g.risk_ratio or 0), g.group)
    )
    if clear:
        takeaway += [g.sentence for g in clear[:4]]
    elif rated:
        takeaway.append(
            "No component, tier, process gap or finding goes with a failure rate "
            "whose interval lies clearly above the rest."
        )
    reg = ra_.regression
    if reg.status == "ok" and reg.sentences:
        takeaway += list(reg.sentences)
    elif reg.message:
        takeaway.append(f"Adjusted model: {reg.message}.")
    order = {"process": 0, "component": 1, "tier": 2, "finding": 3}
    # A finding none of whose releases failed says little (its ratio comes from the continuity
    # correction of an empty cell), so findings are listed only with at least one failure.
    shown = [g for g in rated if g.dimension != "finding" or g.exposed.numerator > 0]
    rows, classes = [], []
    for g in sorted(shown, key=lambda g: (order.get(g.dimension, 9), -(g.risk_ratio or 0))):
        rows.append(
            [
                g.dimension,
                _group_label(g),
                f"{g.exposed.numerator} of {g.exposed.denominator} ({fmt_pct(g.exposed.value)})",
                f"{g.others.numerator} of {g.others.denominator} ({fmt_pct(g.others.value)})",
                f"{g.risk_ratio:.1f}",
                f"{g.ci_low:.1f} to {g.ci_high:.1f}",
            ]
        )
        classes.append("ra-row-bad" if (g.ci_low or 0) > 1 else "")
    table = _table(
        ["kind", "releases", "failed", "others failed", "risk ratio", "interval"],
        rows,
        numeric=(4, 5),
        row_classes=classes,
        caption="Failure rate of each group against all other releases (Katz "
        "interval of the ratio); shaded: interval above 1; audit findings "
        "listed when at least one of their releases failed",
    )
    adj = (
        _table(
            ["process gap", "adjusted risk ratio", "interval"],
            [
                [a.label, f"{a.risk_ratio:.1f}", f"{a.ci_low:.1f} to {a.ci_high:.1f}"]
                for a in reg.adjusted
            ],
            numeric=(1, 2),
            caption=f"Logistic regression (n {reg.n}, {reg.failures} failures), adjusted "
            "for the other terms",
        )
        if reg.adjusted
        else None
    )
    caveats = _ul(list(reg.caveats), cls="ra-muted") if reg.caveats else None
    return _section("risk", takeaway, table, adj, caveats)


def _group_label(g: GroupRisk) -> str:
    return g.label.removeprefix("Releases ").removeprefix("that ")
