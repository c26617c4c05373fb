"""Executive report section: the takeaway, generated from the numbers shown."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from analytics.core.results import RateResult
from analytics.report.context import ExecutiveContext, min_trend_n
from analytics.report.executive import _overlap
from analytics.report.format import LATE_DETECTION_SOURCES, fmt_hours, fmt_pct, fmt_time, fmt_usd
from analytics.report.html import Section, _join, _section, _tag, _ul

# ---------------------------------------------------------------- executive: takeaway


@dataclass(frozen=True)
class Takeaway:
    """The executive takeaway: what changed, why it matters, what to decide (each a list of
    sentences generated from the month's numbers)."""

    changed: tuple[str, ...]
    matters: tuple[str, ...]
    decide: tuple[str, ...]


def _change_sentence(
    name: str, cur: RateResult, prev: RateResult | None, prev_month: str
) -> str | None:
    if prev is None or prev.value is None or cur.value is None:
        return None
    diff = cur.value - prev.value
    if diff == 0:
        return f"{name} held at {fmt_pct(cur.value)} ({cur.numerator} of {cur.denominator})."
    verb = "rose" if diff > 0 else "fell"
    ov = _overlap(cur.ci_low, cur.ci_high, prev.ci_low, prev.ci_high)
    tail = (
        " The intervals overlap, so the change may be noise."
        if ov
        else " The intervals do not overlap."
        if ov is False
        else ""
    )
    return (
        f"{name} {verb} from {fmt_pct(prev.value)} ({prev.numerator} of {prev.denominator}) "
        f"in {prev_month} to {fmt_pct(cur.value)} ({cur.numerator} of {cur.denominator})." + tail
    )


def takeaway_points(ctx: ExecutiveContext) -> Takeaway:
    """Generate the executive takeaway from the month's numbers. Every sentence is conditional
    on the data behind it: nothing is said about a KPI without a value."""
    k, p = ctx.kpis, ctx.previous
    pm = p.month if p else ""
    cohort = ctx.cohort
    failed = cohort.filter(pl.col("failed").fill_null(False))
    changed: list[str] = []
    if p is not None:
        changed.append(
            f"{k.releases_deployed} releases were deployed in {ctx.month} "
            f"against {p.releases_deployed} in {pm}."
        )
        for name, cur, prev in (
            (
                "The change failure rate by decision quality",
                k.change_failure_rate,
                p.change_failure_rate,
            ),
            ("Evidence completeness", k.evidence_completeness, p.evidence_completeness),
        ):
            s = _change_sentence(name, cur, prev, pm)
            if s:
                changed.append(s)
        for name, cur_d, prev_d in (
            ("Median time to detect", k.mttd_hours, p.mttd_hours),
            ("Median time to mitigate", k.mttm_hours, p.mttm_hours),
        ):
            if cur_d.median is not None and prev_d.median is not None:
                verb = (
                    "rose"
                    if cur_d.median > prev_d.median
                    else "fell"
                    if cur_d.median < prev_d.median
                    else "held"
                )
                thin = (
                    " Too few to read as a trend."
                    if min(cur_d.n, prev_d.n) < min_trend_n(ctx.analysis.dataset.policy)
                    else ""
                )
                changed.append(
                    f"{name} {verb}: {fmt_hours(prev_d.median)} (n {prev_d.n}) → "
                    f"{fmt_hours(cur_d.median)} (n {cur_d.n}).{thin}"
                )
        uc, puc = k.unit_cost_usd, p.unit_cost_usd
        if uc.mean is not None and puc.mean is not None and puc.mean:
            rel = (uc.mean - puc.mean) / puc.mean
            if _overlap(uc.ci_low, uc.ci_high, puc.ci_low, puc.ci_high) is False:
                verb = "rose" if rel > 0 else "fell"
                changed.append(
                    f"Unit process cost {verb} {abs(rel):.1%}: {fmt_usd(puc.mean)} → "
                    f"{fmt_usd(uc.mean)} per case; the intervals do not overlap."
                )
            else:
                changed.append(
                    f"Unit process cost held within noise: {fmt_usd(puc.mean)} → "
                    f"{fmt_usd(uc.mean)} per case ({rel:+.1%}, intervals overlap)."
                )
    elif k.releases_deployed:
        changed.append(
            f"{k.releases_deployed} releases were deployed in {ctx.month}; there is "
            "no earlier month in the data to compare with."
        )
    matters: list[str] = []
    decide: list[str] = []
    ids = lambda df: ", ".join(df["release_id"].to_list())  # noqa: E731
    if failed.height:
        matters.append(f"{failed.height} release(s) degraded decision quality: {ids(failed)}.")
        miscl = failed.filter(pl.col("misclassified").fill_null(False))
        if miscl.height:
            matters.append(
                f"{miscl.height} of them {'was' if miscl.height == 1 else 'were'} declared "
                "at a lower risk tier than "
                f"their changed components imply ({ids(miscl)}), so they skipped "
                "part of the path their risk required."
            )
        incomplete = failed.filter(~pl.col("evidence_complete").fill_null(True))
        if incomplete.height:
            matters.append(
                f"{incomplete.height} of them shipped without the evidence their "
                f"tier requires ({ids(incomplete)})."
            )
        undetected = failed.filter(pl.col("detected_at").is_null())
        if undetected.height:
            matters.append(
                f"{undetected.height} failure(s) were found only by telemetry "
                f"analysis and have not been detected in operation ({ids(undetected)})."
            )
    elif cohort.height:
        matters.append(
            f"No release of {ctx.month} degraded decision quality as of {fmt_time(ctx.as_of)}."
        )
    inc = ctx.analysis.incidents.filter(
        pl.col("attributed_release_id").is_in(cohort["release_id"].implode())
    )
    late = inc.filter(pl.col("detection_source").is_in(LATE_DETECTION_SOURCES))
    if late.height:
        src = ", ".join(sorted(set(late["detection_source"].to_list())))
        matters.append(
            f"{late.height} of the month's {inc.height} attributed incidents were "
            f"found by {src} rather than by the release's own monitoring."
        )
        decide.append(
            f"Invest in detection: {late.height} incident(s) surfaced through {src}; "
            "decide which canary metric or alert should have caught them."
        )
    open_inc = inc.filter(~pl.col("mitigated_by_as_of") & pl.col("dq_impact"))
    if open_inc.height:
        matters.append(
            f"{open_inc.height} decision-quality incident(s) are still open at "
            f"{fmt_time(ctx.as_of)}: "
            f"{', '.join(open_inc['incident_id'].to_list())}."
        )
        decide.append(f"Assign an owner and a deadline to the {open_inc.height} open incident(s).")
    if k.immature_releases:
        matters.append(
            f"{len(k.immature_releases)} release(s) are still inside their observation "
            "window, so this month's failure rate can still rise."
        )
    miscl_all = cohort.filter(pl.col("misclassified").fill_null(False))
    if miscl_all.height:
        failed_share = miscl_all.filter(pl.col("failed").fill_null(False)).height
        decide.append(
            f"Enforce the implied risk tier at release time: {miscl_all.height} "
            f"release(s) were declared below it ({ids(miscl_all)}), {failed_share} of "
            "which failed."
        )
    incomplete_all = cohort.filter(~pl.col("evidence_complete").fill_null(True))
    if incomplete_all.height:
        decide.append(
            f"Decide whether releases may ship with required evidence missing: "
            f"{incomplete_all.height} of {cohort.height} did this month."
        )
    h = ctx.health
    if h.stop_conditions_ignored.count:
        decide.append(
            f"Hold rollouts to their stop conditions: {h.stop_conditions_ignored.count} "
            f"were ignored ({', '.join(h.stop_conditions_ignored.release_ids)})."
        )
    if h.gate_escape_rate.numerator:
        decide.append(
            f"Review the gates: {h.gate_escape_rate.numerator} failed release(s) had "
            "passed every required gate."
        )
    if not decide:
        decide.append(
            "Nothing in this month's numbers calls for a decision: no failed release "
            "was misclassified or short of evidence, and no incident is open."
        )
    return Takeaway(tuple(changed), tuple(matters), tuple(decide))


def executive_takeaway(ctx: ExecutiveContext) -> Section:
    """The executive takeaway: what changed, why it matters, what to decide, written from the
    numbers of the month (see ``takeaway_points``)."""
    t = takeaway_points(ctx)
    parts = []
    for head, items in (
        ("What changed", t.changed),
        ("Why it matters", t.matters),
        ("What to decide", t.decide),
    ):
        if items:
            parts.append(_tag("h3", head))
            parts.append(_ul(items))
    return _section("executive_takeaway", [], _tag("div", _join(parts), "ra-takeaway"))
