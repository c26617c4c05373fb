"""Executive report section: the takeaway, generated from the numbers shown."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from analytics.analysis.kpis import MonthlyKpis
from analytics.core.results import RateResult
from analytics.report.context import ExecutiveContext, min_trend_n
from analytics.report.executive import _estimate_test
from analytics.report.format import (
    LATE_DETECTION_SOURCES,
    be,
    counted,
    fmt_hours,
    fmt_time,
    fmt_usd,
    share,
)
from analytics.report.html import Section, _join, _section, _tag, _ul
from analytics.stats.change import change_clause, plural, rate_change

# ---------------------------------------------------------------- executive: takeaway


@dataclass(frozen=True)
class Takeaway:
    """The executive takeaway: what changed, why it matters, what to decide (each a list of
    sentences generated from the month's numbers)."""

    changed: tuple[str, ...]
    matters: tuple[str, ...]
    decide: tuple[str, ...]


def _change_sentence(
    name: str, cur: RateResult, prev: RateResult | None, prev_month: str, ctx: ExecutiveContext
) -> str | None:
    """A rate against the previous month, ending with the result of Fisher's exact test (counts
    only below ``ctx.rate_floor`` releases)."""
    if prev is None or prev.value is None or cur.value is None:
        return None
    floor = ctx.rate_floor
    if cur.value == prev.value:
        return f"{name} held at {share(cur, floor)}."
    verb = "rose" if cur.value > prev.value else "fell"
    test = rate_change(cur.numerator, cur.denominator, prev.numerator, prev.denominator, ctx.alpha)
    return (
        f"{name} {verb} from {share(prev, floor)} in {prev_month} to {share(cur, floor)}: "
        f"{change_clause(test)}."
    )


def takeaway_points(ctx: ExecutiveContext) -> Takeaway:
    """Generate the executive takeaway from the month's numbers. Every sentence is conditional
    on the data behind it: nothing is said about a KPI without a value."""
    cohort = ctx.cohort
    inc = ctx.analysis.incidents.filter(
        pl.col("attributed_release_id").is_in(cohort["release_id"].implode())
    )
    return Takeaway(
        tuple(_what_changed(ctx)),
        tuple(_why_it_matters(ctx, cohort, inc)),
        tuple(_what_to_decide(ctx, cohort, inc)),
    )


def _ids(df: pl.DataFrame) -> str:
    return ", ".join(df["release_id"].to_list())


def _its(n: int) -> str:
    return "its" if n == 1 else "their"


def _what_changed(ctx: ExecutiveContext) -> list[str]:
    """The month against the previous one: releases deployed, CFR-DQ and evidence completeness,
    median times to detect and mitigate, unit cost."""
    k, p = ctx.kpis, ctx.previous
    if p is None:
        if not k.releases_deployed:
            return []
        return [
            f"{counted(k.releases_deployed, 'release')} deployed in {ctx.month}; there is "
            "no earlier month in the data to compare with."
        ]
    changed = [
        f"{counted(k.releases_deployed, 'release')} deployed in {ctx.month} "
        f"against {p.releases_deployed} in {p.month}."
    ]
    for name, cur, prev in (
        (
            "The change failure rate by decision quality",
            k.change_failure_rate,
            p.change_failure_rate,
        ),
        ("Evidence completeness", k.evidence_completeness, p.evidence_completeness),
    ):
        s = _change_sentence(name, cur, prev, p.month, ctx)
        if s:
            changed.append(s)
    changed += _duration_changes(ctx, p)
    cost = _unit_cost_change(k, p, ctx.alpha)
    return changed + ([cost] if cost else [])


def _duration_changes(ctx: ExecutiveContext, p: MonthlyKpis) -> list[str]:
    """Median time to detect and to mitigate, previous month ``p`` to this one, flagged as too
    thin for a trend below ``reports.min_trend_n`` observations."""
    k = ctx.kpis
    out = []
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
            out.append(
                f"{name} {verb}: {fmt_hours(prev_d.median)} (n {prev_d.n}) → "
                f"{fmt_hours(cur_d.median)} (n {cur_d.n}).{thin}"
            )
    return out


def _unit_cost_change(k: MonthlyKpis, p: MonthlyKpis, alpha: float) -> str | None:
    """Unit process cost against the previous month ``p``, ending with the z test of the
    difference (standard errors from the months' intervals)."""
    uc, puc = k.unit_cost_usd, p.unit_cost_usd
    if uc.mean is None or puc.mean is None or not puc.mean:
        return None
    rel = (uc.mean - puc.mean) / puc.mean
    values = f"{fmt_usd(puc.mean)} in {p.month} → {fmt_usd(uc.mean)} per case"
    if uc.mean == puc.mean:
        return f"Unit process cost held: {values}."
    verb = "rose" if rel > 0 else "fell"
    clause = change_clause(_estimate_test(uc, puc, alpha))
    return f"Unit process cost {verb} {abs(rel):.1%}: {values}; {clause}."


def _why_it_matters(ctx: ExecutiveContext, cohort: pl.DataFrame, inc: pl.DataFrame) -> list[str]:
    """The month's failures and how they slipped through, incidents found late or still open,
    releases still inside their observation window."""
    matters = _failure_sentences(ctx, cohort)
    late, src = _late_incidents(inc)
    if late.height:
        matters.append(
            f"{late.height} of the {ctx.period_kind}'s {plural(inc.height, 'attributed incident')} "
            f"{be(late.height, past=True)} found by {src} rather than by the release's own "
            "monitoring."
        )
    open_inc = _open_dq_incidents(inc)
    if open_inc.height:
        matters.append(
            f"{counted(open_inc.height, 'decision-quality incident', past=False)} still open "
            f"at {fmt_time(ctx.as_of)}: {', '.join(open_inc['incident_id'].to_list())}."
        )
    if ctx.kpis.immature_releases:
        matters.append(
            f"{counted(len(ctx.kpis.immature_releases), 'release', past=False)} still inside "
            f"their observation window, so this {ctx.period_kind}'s failure rate can still rise."
        )
    return matters


def _failure_sentences(ctx: ExecutiveContext, cohort: pl.DataFrame) -> list[str]:
    """The failed releases, and among them the misclassified, those short of evidence and those
    found only by telemetry; or that none failed."""
    failed = cohort.filter(pl.col("failed").fill_null(False))
    if not failed.height:
        if not cohort.height:
            return []
        return [f"No release of {ctx.month} degraded decision quality as of {fmt_time(ctx.as_of)}."]
    out = [f"{plural(failed.height, 'release')} degraded decision quality: {_ids(failed)}."]
    miscl = failed.filter(pl.col("misclassified").fill_null(False))
    if miscl.height:
        out.append(
            f"{miscl.height} of them {be(miscl.height, past=True)} declared at a lower risk "
            f"tier than {_its(miscl.height)} changed components imply ({_ids(miscl)}), so "
            f"{'it' if miscl.height == 1 else 'they'} skipped part of the path "
            f"{_its(miscl.height)} risk required."
        )
    incomplete = failed.filter(~pl.col("evidence_complete").fill_null(True))
    if incomplete.height:
        out.append(
            f"{incomplete.height} of them shipped without the evidence "
            f"{_its(incomplete.height)} tier requires "
            f"({_ids(incomplete)})."
        )
    undetected = failed.filter(pl.col("detected_at").is_null())
    if undetected.height:
        out.append(
            f"{counted(undetected.height, 'failure')} found only by telemetry analysis and "
            f"{'has' if undetected.height == 1 else 'have'} not been detected in operation "
            f"({_ids(undetected)})."
        )
    return out


def _late_incidents(inc: pl.DataFrame) -> tuple[pl.DataFrame, str]:
    """The incidents found by a late source (not the release's own monitoring), and those
    sources in words."""
    late = inc.filter(pl.col("detection_source").is_in(LATE_DETECTION_SOURCES))
    return late, ", ".join(sorted(set(late["detection_source"].to_list())))


def _open_dq_incidents(inc: pl.DataFrame) -> pl.DataFrame:
    return inc.filter(~pl.col("mitigated_by_as_of") & pl.col("dq_impact"))


def _what_to_decide(ctx: ExecutiveContext, cohort: pl.DataFrame, inc: pl.DataFrame) -> list[str]:
    """One decision per problem the month shows (late detection, open incidents, misclassified
    releases, missing evidence, ignored stop conditions, gate escapes), or that none is due."""
    decide: list[str] = []
    late, src = _late_incidents(inc)
    if late.height:
        decide.append(
            f"Invest in detection: {plural(late.height, 'incident')} surfaced through {src}; "
            "decide which canary metric or alert should have caught "
            f"{'it' if late.height == 1 else 'them'}."
        )
    open_inc = _open_dq_incidents(inc)
    if open_inc.height:
        decide.append(
            "Assign an owner and a deadline to the "
            f"{'open incident' if open_inc.height == 1 else f'{open_inc.height} open incidents'}."
        )
    miscl_all = cohort.filter(pl.col("misclassified").fill_null(False))
    if miscl_all.height:
        failed_share = miscl_all.filter(pl.col("failed").fill_null(False)).height
        outcome = (
            f"and {'failed' if failed_share else 'did not fail'}"
            if miscl_all.height == 1
            else f"{failed_share} of which failed"
        )
        decide.append(
            "Enforce the implied risk tier at release time: "
            f"{counted(miscl_all.height, 'release')} declared below it ({_ids(miscl_all)}), "
            f"{outcome}."
        )
    incomplete_all = cohort.filter(~pl.col("evidence_complete").fill_null(True))
    if incomplete_all.height:
        decide.append(
            f"Decide whether releases may ship with required evidence missing: "
            f"{incomplete_all.height} of {cohort.height} did this {ctx.period_kind}."
        )
    h = ctx.health
    if h.stop_conditions_ignored.count:
        n_stop = h.stop_conditions_ignored.count
        decide.append(
            f"Hold rollouts to their stop conditions: {n_stop} {be(n_stop, past=True)} "
            f"ignored ({', '.join(h.stop_conditions_ignored.release_ids)})."
        )
    if h.gate_escape_rate.numerator:
        decide.append(
            f"Review the gates: {plural(h.gate_escape_rate.numerator, 'failed release')} had "
            "passed every required gate."
        )
    if not decide:
        decide.append(
            f"Nothing in this {ctx.period_kind}'s numbers calls for a decision: no failed release "
            "was misclassified or short of evidence, and no incident is open."
        )
    return decide


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
