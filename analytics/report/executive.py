"""Executive report sections: the headline tiles, the trends and DORA (the breakdowns are in
``breakdowns``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from analytics.analysis.kpis import MonthlyKpis
from analytics.core.results import DurationResult, EstimateResult, RateResult
from analytics.metrics.dora import dora_benchmarks
from analytics.report import charts
from analytics.report.context import ExecutiveContext
from analytics.report.format import (
    _rate_text,
    _status_note,
    be,
    change_note,
    counted,
    fmt_hours,
    fmt_interval,
    fmt_pct,
    fmt_usd,
    share,
)
from analytics.report.html import Safe, Section, _h, _join, _section, _table, _tag
from analytics.stats.change import (
    ChangeTest,
    estimate_change,
    p_chart,
    plural,
    rate_change,
    se_from_interval,
)
from analytics.stats.summaries import rate

# ---------------------------------------------------------------- executive: headline


def _delta_class(diff: float | None, worse: str) -> str:
    if diff is None or diff == 0:
        return "ra-flat"
    bad = diff > 0 if worse == "up" else diff < 0
    return "ra-bad" if bad else "ra-good"


def _arrow(diff: float) -> str:
    return "▲" if diff > 0 else ("▼" if diff < 0 else "=")


def _tile(
    label: str,
    value: str,
    detail: Sequence[Any],
    delta: Safe | str | None,
    status: str = "ok",
    message: str = "",
) -> Safe:
    parts: list[Any] = [_tag("div", label, "ra-tile-label"), _tag("div", value, "ra-tile-value")]
    parts += [_tag("div", d, "ra-tile-detail") for d in detail if d]
    if delta:
        parts.append(
            Safe(delta) if isinstance(delta, Safe) else _tag("div", delta, "ra-tile-delta")
        )
    note = _status_note(status, message)
    if note:
        parts.append(_tag("div", note, "ra-tile-detail"))
    return _tag("div", _join(parts), "ra-tile")


@dataclass(frozen=True)
class _Compare:
    """What every tile compares with: the previous month's name, the interval level, alpha, and
    the releases below which a rate is shown as counts (``ExecutiveContext.rate_floor``)."""

    month: str
    level: str
    alpha: float
    floor: int


def _rate_delta(cur: RateResult, prev: RateResult | None, c: _Compare, worse: str) -> Safe:
    """The change of a rate from the previous month, with the result of Fisher's exact test."""
    if prev is None or prev.value is None or cur.value is None:
        return _tag(
            "div",
            f"no comparison with {c.month}: no releases there"
            if prev is not None and prev.value is None
            else "no comparison",
            "ra-tile-delta ra-flat",
        )
    diff = cur.value - prev.value
    test = rate_change(cur.numerator, cur.denominator, prev.numerator, prev.denominator, c.alpha)
    if min(cur.denominator, prev.denominator) < c.floor:
        text = f"{_arrow(diff)} vs {prev.numerator} of {prev.denominator} in {c.month}"
    else:
        text = f"{_arrow(diff)} {abs(diff) * 100:.1f} pp vs {share(prev)} in {c.month}"
    note = change_note(test)
    text += f" · {note}" if note else ""
    return _tag("div", text, f"ra-tile-delta {_delta_class(diff, worse)}")


def _duration_delta(cur: DurationResult, prev: DurationResult | None, prev_month: str) -> Safe:
    if prev is None or prev.median is None or cur.median is None:
        return _tag("div", f"no comparison with {prev_month}", "ra-tile-delta ra-flat")
    diff = cur.median - prev.median
    text = (
        f"{_arrow(diff)} {fmt_hours(abs(diff))} vs {prev_month} "
        f"(median {fmt_hours(prev.median)}, n {prev.n})"
    )
    return _tag("div", text, f"ra-tile-delta {_delta_class(diff, 'up')}")


def _estimate_delta(cur: EstimateResult, prev: EstimateResult | None, c: _Compare) -> Safe:
    """The change of a mean from the previous month, with the z test of the difference."""
    if prev is None or prev.mean is None or cur.mean is None:
        return _tag("div", f"no comparison with {c.month}", "ra-tile-delta ra-flat")
    diff = cur.mean - prev.mean
    rel = f", {diff / prev.mean:+.1%}" if prev.mean else ""
    note = change_note(_estimate_test(cur, prev, c.alpha))
    text = f"{_arrow(diff)} {fmt_usd(abs(diff))}{rel} vs {c.month} ({fmt_usd(prev.mean)})"
    text += f" · {note}" if note else ""
    return _tag("div", text, f"ra-tile-delta {_delta_class(diff, 'up')}")


def _estimate_test(cur: EstimateResult, prev: EstimateResult, alpha: float) -> ChangeTest:
    """The z test of ``cur - prev``, the standard errors read off their normal intervals."""
    return estimate_change(
        cur.mean,
        se_from_interval(cur.ci_low, cur.ci_high, alpha),
        prev.mean,
        se_from_interval(prev.ci_low, prev.ci_high, alpha),
        alpha,
    )


def _duration_value(d: DurationResult) -> tuple[str, list[str]]:
    if d.median is None:
        extra = [f"{d.n_censored} still open at as_of"] if d.n_censored else []
        return "n/a", [d.message or "nothing observed", *extra]
    detail = [f"median of {d.n} observed · mean {fmt_hours(d.mean)} · p90 {fmt_hours(d.p90)}"]
    if d.n_censored:
        km = fmt_hours(d.km_median) if d.km_median is not None else "not reached"
        detail.append(f"{d.n_censored} still open · Kaplan-Meier median {km}")
    return fmt_hours(d.median), detail


def headline(ctx: ExecutiveContext) -> Section:
    """The five KPI tiles of the month (CFR-DQ, MTTD, MTTM, evidence completeness, unit cost),
    each with its counts, interval and the change from the previous month (tested: Fisher's
    exact test for the rates, the z test of the difference for unit cost)."""
    k, p = ctx.kpis, ctx.previous
    c = _Compare(
        p.month if p else "previous month", f"{1 - ctx.alpha:.0%}", ctx.alpha, ctx.rate_floor
    )
    tiles = [
        _cfr_tile(k, p, c),
        *_duration_tiles(k, p, c.month),
        _evidence_tile(k, p, c),
        _unit_cost_tile(k, p, c),
    ]
    return _section("headline", headline_sentences(ctx), _tag("div", _join(tiles), "ra-tiles"))


def headline_sentences(ctx: ExecutiveContext) -> list[str]:
    """The sentences above the tiles: releases and failures of the month, and the releases still
    inside their windows (also the first lines of ``analytics report executive --format md``)."""
    k = ctx.kpis
    cfr = k.change_failure_rate
    n = k.releases_deployed
    if n == 0:
        return [f"No release was deployed in {ctx.month}; there is nothing to measure."]
    few = n < ctx.rate_floor
    out = [
        f"{counted(n, 'release')} deployed in {ctx.month}"
        + (f" (fewer than {ctx.rate_floor}: counts, not rates)" if few else "")
        + f"; {cfr.numerator} degraded decision quality"
        + ("." if few else f" ({fmt_pct(cfr.value)}).")
    ]
    if k.immature_releases:
        out.append(
            f"{len(k.immature_releases)} of the {plural(n, 'release')} "
            f"{be(len(k.immature_releases))} still inside their observation or attribution "
            "window: these figures can still rise."
        )
    return out


def _rate_value(r: RateResult, c: _Compare, what: str) -> tuple[str, str]:
    """A rate tile's value and first detail line: the share with its interval, or only the
    counts when the view has fewer releases than ``c.floor``."""
    counts = f"{r.numerator} of {plural(r.denominator, 'release')} {what}"
    if r.denominator < c.floor:
        return f"{r.numerator} of {r.denominator}", f"{counts} · too few for a rate"
    interval = fmt_interval(r.ci_low, r.ci_high, fmt_pct)
    return fmt_pct(r.value), f"{counts} · {c.level} CI {interval}"


def _cfr_tile(k: MonthlyKpis, p: MonthlyKpis | None, c: _Compare) -> Safe:
    """CFR-DQ: the share, its interval, failures by signal and the classic DORA rate beside it."""
    cfr = k.change_failure_rate
    sig = cfr.extra.get("by_signal", {})
    sig_text = " · ".join(f"{s} {n}" for s, n in sig.items()) if sig else ""
    value, counts = _rate_value(cfr, c, "failed")
    dora = k.dora_change_failure_rate
    dora_text = share(dora, c.floor) if dora.value is not None else _rate_text(dora)
    return _tile(
        "Change failure rate (decision quality)",
        value,
        [
            counts,
            f"failures by signal: {sig_text}" if sig_text else "",
            f"classic DORA CFR {dora_text}",
        ],
        _rate_delta(cfr, p.change_failure_rate if p else None, c, "up"),
        cfr.status,
        cfr.message,
    )


def _duration_tiles(k: MonthlyKpis, p: MonthlyKpis | None, pm: str) -> list[Safe]:
    """MTTD and MTTM: the median of the observed durations, with the open ones beside it."""
    tiles = []
    for label, d, prev in (
        ("Time to detect (MTTD)", k.mttd_hours, p.mttd_hours if p else None),
        ("Time to mitigate (MTTM)", k.mttm_hours, p.mttm_hours if p else None),
    ):
        value, detail = _duration_value(d)
        tiles.append(
            _tile(
                label,
                value,
                detail,
                _duration_delta(d, prev, pm),
                d.status,
                d.message if d.median is not None else "",
            )
        )
    return tiles


def _evidence_tile(k: MonthlyKpis, p: MonthlyKpis | None, c: _Compare) -> Safe:
    """Evidence completeness: the share of releases with every required item."""
    ev = k.evidence_completeness
    value, counts = _rate_value(ev, c, "had every required item")
    return _tile(
        "Evidence completeness",
        value,
        [counts],
        _rate_delta(ev, p.evidence_completeness if p else None, c, "down"),
        ev.status,
        ev.message,
    )


def _unit_cost_tile(k: MonthlyKpis, p: MonthlyKpis | None, c: _Compare) -> Safe:
    """Unit process cost: the month's mean per case and the releases' impact on it."""
    uc, imp = k.unit_cost_usd, k.unit_cost_impact_usd
    detail = [
        f"mean per case over {uc.n:,} cases · {c.level} CI "
        f"{fmt_interval(uc.ci_low, uc.ci_high, fmt_usd)}"
        if uc.mean is not None
        else (uc.message or "no telemetry")
    ]
    if imp.mean is not None:
        detail.append(
            f"release impact {fmt_usd(imp.mean, signed=True)} per case "
            f"({fmt_interval(imp.ci_low, imp.ci_high, lambda v: fmt_usd(v, True))}, "
            f"{plural(imp.n, 'release')})"
        )
    else:
        detail.append(f"release impact: {imp.message or 'not available'}")
    return _tile(
        "Unit process cost (USD per case)",
        fmt_usd(uc.mean),
        detail,
        _estimate_delta(uc, p.unit_cost_usd if p else None, c),
        uc.status,
        uc.message if uc.mean is not None else "",
    )


# ---------------------------------------------------------------- executive: trends


def _pooled(results: Sequence[RateResult], alpha: float) -> RateResult:
    return rate(sum(r.numerator for r in results), sum(r.denominator for r in results), alpha)


def trends(ctx: ExecutiveContext) -> Section:
    """12-month trends: CFR-DQ with its interval band (DORA CFR beside it), MTTD and MTTM
    (median of observed and Kaplan-Meier median), evidence completeness and unit cost."""
    figs = _trend_figures(ctx)
    takeaway = _trend_sentences(ctx)
    grid = _tag(
        "div",
        Safe("".join(f'<div class="ra-chart">{charts.figure_html(f)}</div>' for f in figs[1:3])),
        "ra-grid2",
    )
    return Section("trends", (figs[0], grid, figs[3], figs[4]), tuple(takeaway))


def _trend_figures(ctx: ExecutiveContext) -> list[go.Figure]:
    """The five trend charts: CFR-DQ (with classic DORA CFR), MTTD, MTTM, evidence completeness,
    unit cost."""
    h = ctx.history
    months = [m.month for m in h]
    level = 1 - ctx.analysis.dataset.policy.alpha
    return [
        charts.rate_trend(
            months,
            [m.change_failure_rate for m in h],
            title="Change failure rate by decision quality",
            y_title="failed releases (%)",
            name="CFR-DQ",
            compare=[m.dora_change_failure_rate for m in h],
            compare_name="classic DORA CFR",
            level=level,
        ),
        charts.duration_trend(
            months,
            [m.mttd_hours for m in h],
            title="Time to detect (MTTD)",
            y_title="hours from release",
            what="failed releases",
            seen="detected",
        ),
        charts.duration_trend(
            months,
            [m.mttm_hours for m in h],
            title="Time to mitigate (MTTM)",
            y_title="hours from detection",
            what="incidents",
            seen="mitigated",
        ),
        charts.rate_trend(
            months,
            [m.evidence_completeness for m in h],
            title="Evidence completeness",
            y_title="complete evidence (%)",
            name="complete",
            level=level,
        ),
        charts.estimate_trend(
            months,
            [m.unit_cost_usd for m in h],
            title="Unit process cost",
            y_title="USD per case",
            name="mean unit cost",
            unit="cases",
            level=level,
        ),
    ]


def _trend_sentences(ctx: ExecutiveContext) -> list[str]:
    """The month against the earlier months of the window: pooled rates with the month's place
    on a p-chart of the window, the range of the monthly medians and means."""
    h = ctx.history
    alpha = ctx.analysis.dataset.policy.alpha
    takeaway: list[str] = []
    earlier = h[:-1]
    cur = h[-1]
    if earlier:
        span = f"{earlier[0].month} to {earlier[-1].month}"
        for label, pick in (
            ("CFR-DQ", lambda m: m.change_failure_rate),
            ("Evidence completeness", lambda m: m.evidence_completeness),
        ):
            pooled = _pooled([pick(m) for m in earlier], alpha)
            now = pick(cur)
            if now.value is not None and pooled.value is not None:
                takeaway.append(
                    f"{label}: {_rate_text(now)} in {cur.month}, against "
                    f"{_rate_text(pooled)} pooled over {span}; {_p_chart_clause(h, pick)}."
                )
        for label, pick in (("MTTD", lambda m: m.mttd_hours), ("MTTM", lambda m: m.mttm_hours)):
            meds = [pick(m).median for m in earlier if pick(m).median is not None]
            now_d = pick(cur)
            if now_d.median is not None and meds:
                takeaway.append(
                    f"{label}: median {fmt_hours(now_d.median)} in {cur.month}; "
                    f"{_range_text('monthly medians', meds, fmt_hours)} over {span}."
                )
        costs = [m.unit_cost_usd.mean for m in earlier if m.unit_cost_usd.mean is not None]
        if cur.unit_cost_usd.mean is not None and costs:
            takeaway.append(
                f"Unit cost: {fmt_usd(cur.unit_cost_usd.mean)} per case in {cur.month}; "
                f"{_range_text('monthly means', costs, fmt_usd)} over {span}."
            )
    if not takeaway:
        takeaway.append("There is not enough history before this month for a trend statement.")
    return takeaway


def _range_text(what: str, values: Sequence[float], fmt: Any) -> str:
    """``monthly medians ranged 2.0 h to 9.0 h``, or ``the monthly median was 2.0 h`` for one."""
    if len(values) == 1:
        return f"the {what[:-1]} was {fmt(values[0])}"
    return f"{what} ranged {fmt(min(values))} to {fmt(max(values))}"


def _p_chart_clause(history: Sequence[MonthlyKpis], pick: Any) -> str:
    """Where the last month of ``history`` falls on a p-chart of the window (3-sigma limits
    around the pooled rate, ``analytics.stats.change.p_chart``)."""
    rates = [pick(m) for m in history]
    chart = p_chart([r.numerator for r in rates], [r.denominator for r in rates])
    last = len(rates) - 1
    if math.isnan(chart.lower[last]):
        return "no p-chart limit for a month without releases"
    if last in chart.outside:
        return (
            f"outside the p-chart's 3-sigma limits ({fmt_pct(chart.lower[last])} to "
            f"{fmt_pct(chart.upper[last])}): a signal, not month-to-month noise"
        )
    return (
        f"within the p-chart's 3-sigma limits ({fmt_pct(chart.lower[last])} to "
        f"{fmt_pct(chart.upper[last])}), no signal"
    )


# ---------------------------------------------------------------- executive: DORA


DORA_METRICS = (
    ("deployment_frequency", "Deployment frequency", "deployment_frequency_text"),
    ("lead_time", "Lead time for changes", "lead_time_text"),
    ("change_failure_rate", "Change failure rate (classic)", None),
    ("recovery_time", "Failed deployment recovery time", "recovery_text"),
)


def dora(ctx: ExecutiveContext) -> Section:
    """DORA context: deployment frequency, lead time, classic change failure rate and failed
    deployment recovery time, placed in the clusters of the DORA report years of the policy."""
    d = ctx.kpis.dora
    bench = dora_benchmarks()
    years = [y for y in d.clusters if y in bench]
    lead = d.lead_time_hours
    rec = d.recovery_time_hours
    values = {
        "deployment_frequency": f"{d.deployment_frequency_per_week:.2f} per week "
        f"({plural(d.deployments, 'deployment')}"
        + (
            f"; {d.days_observed:.1f} of {d.period_days} days so far)"
            if d.days_observed < d.period_days
            else ")"
        ),
        "lead_time": (
            f"median {fmt_hours(lead.get('median'))} (n {lead.get('n', 0)})"
            if lead.get("median") is not None
            else "n/a (no change_requested_at)"
        ),
        "change_failure_rate": _rate_text(ctx.kpis.dora_change_failure_rate),
        "recovery_time": (
            f"median {fmt_hours(rec.get('median'))} (n {rec.get('n', 0)}, "
            f"{rec.get('n_censored', 0)} open)"
            if rec.get("median") is not None
            else "n/a (no mitigated incident)"
        ),
    }
    headers = ["metric", f"{ctx.month}"] + [f"DORA {y} cluster" for y in years]
    rows = []
    for key, label, text_key in DORA_METRICS:
        row: list[Any] = [label, values[key]]
        for y in years:
            cluster = d.clusters[y].get(key)
            if cluster is None:
                row.append("n/a")
                continue
            desc = bench[y].get(text_key, {}).get(cluster) if text_key else None
            if key == "change_failure_rate":
                desc = f"typical {fmt_pct(bench[y]['change_failure_rate'][cluster])}"
            row.append(Safe(f"<b>{_h(cluster)}</b>" + (f" · {_h(desc)}" if desc else "")))
        rows.append(row)
    takeaway = []
    if years:
        head = years[0]
        c = d.clusters[head]
        named = [f"{label.lower()} {c[key]}" for key, label, _ in DORA_METRICS if c.get(key)]
        takeaway.append(f"Against the DORA {head} report's clusters: " + "; ".join(named) + ".")
    takeaway.append(
        "DORA benchmarks describe software delivery in general; the classic change failure rate "
        "counts any attributed incident or rollback, while CFR-DQ counts only decision-quality "
        "failures, so the two are not interchangeable."
    )
    return _section("dora", takeaway, _table(headers, rows))
