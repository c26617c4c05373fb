"""Executive report sections: the headline tiles, the trends, the breakdowns and DORA."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import polars as pl

from analytics.analysis.kpis import MonthlyKpis
from analytics.core.policy import TIER_RANK
from analytics.core.results import DurationResult, EstimateResult, RateResult
from analytics.metrics.dora import dora_benchmarks
from analytics.report import charts
from analytics.report.context import ExecutiveContext
from analytics.report.format import (
    _rate_text,
    _status_note,
    fmt_hours,
    fmt_interval,
    fmt_pct,
    fmt_usd,
)
from analytics.report.html import Safe, Section, _h, _join, _p, _section, _table, _tag
from analytics.stats.summaries import rate

# ---------------------------------------------------------------- executive: headline


def _delta_class(diff: float | None, worse: str) -> str:
    if diff is None or diff == 0:
        return "ra-flat"
    bad = diff > 0 if worse == "up" else diff < 0
    return "ra-bad" if bad else "ra-good"


def _arrow(diff: float) -> str:
    return "▲" if diff > 0 else ("▼" if diff < 0 else "=")


def _overlap(
    a_low: float | None, a_high: float | None, b_low: float | None, b_high: float | None
) -> bool | None:
    if None in (a_low, a_high, b_low, b_high):
        return None
    return not (a_high < b_low or b_high < a_low)  # type: ignore[operator]


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


def _rate_delta(cur: RateResult, prev: RateResult | None, prev_month: str, worse: str) -> Safe:
    if prev is None or prev.value is None or cur.value is None:
        return _tag(
            "div",
            f"no comparison with {prev_month}: no releases there"
            if prev is not None and prev.value is None
            else "no comparison",
            "ra-tile-delta ra-flat",
        )
    diff = cur.value - prev.value
    ov = _overlap(cur.ci_low, cur.ci_high, prev.ci_low, prev.ci_high)
    noise = " · intervals overlap" if ov else (" · intervals apart" if ov is False else "")
    text = (
        f"{_arrow(diff)} {abs(diff) * 100:.1f} pp vs {prev_month} "
        f"({fmt_pct(prev.value)}, {prev.numerator} of {prev.denominator}){noise}"
    )
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


def _estimate_delta(cur: EstimateResult, prev: EstimateResult | None, prev_month: str) -> Safe:
    if prev is None or prev.mean is None or cur.mean is None:
        return _tag("div", f"no comparison with {prev_month}", "ra-tile-delta ra-flat")
    diff = cur.mean - prev.mean
    rel = f", {diff / prev.mean:+.1%}" if prev.mean else ""
    ov = _overlap(cur.ci_low, cur.ci_high, prev.ci_low, prev.ci_high)
    noise = " · intervals overlap" if ov else (" · intervals apart" if ov is False else "")
    text = f"{_arrow(diff)} {fmt_usd(abs(diff))}{rel} vs {prev_month} ({fmt_usd(prev.mean)}){noise}"
    return _tag("div", text, f"ra-tile-delta {_delta_class(diff, 'up')}")


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
    each with its counts, interval and the change from the previous month."""
    k, p = ctx.kpis, ctx.previous
    pm = p.month if p else "previous month"
    level = f"{1 - ctx.analysis.dataset.policy.alpha:.0%}"
    tiles = [
        _cfr_tile(k, p, pm, level),
        *_duration_tiles(k, p, pm),
        _evidence_tile(k, p, pm, level),
        _unit_cost_tile(k, p, pm, level),
    ]
    takeaway = [_headline_sentence(ctx)]
    if k.immature_releases:
        takeaway.append(
            f"{len(k.immature_releases)} of the {k.releases_deployed} releases are still inside "
            "their observation or attribution window: these figures can still rise."
        )
    return _section("headline", takeaway, _tag("div", _join(tiles), "ra-tiles"))


def _cfr_tile(k: MonthlyKpis, p: MonthlyKpis | None, pm: str, level: str) -> Safe:
    """CFR-DQ: the share, its interval, failures by signal and the classic DORA rate beside it."""
    cfr = k.change_failure_rate
    sig = cfr.extra.get("by_signal", {})
    sig_text = " · ".join(f"{s} {n}" for s, n in sig.items()) if sig else ""
    return _tile(
        "Change failure rate (decision quality)",
        fmt_pct(cfr.value),
        [
            f"{cfr.numerator} of {cfr.denominator} releases failed"
            f" · {level} CI {fmt_interval(cfr.ci_low, cfr.ci_high, fmt_pct)}",
            f"failures by signal: {sig_text}" if sig_text else "",
            f"classic DORA CFR {_rate_text(k.dora_change_failure_rate)}",
        ],
        _rate_delta(cfr, p.change_failure_rate if p else None, pm, "up"),
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


def _evidence_tile(k: MonthlyKpis, p: MonthlyKpis | None, pm: str, level: str) -> Safe:
    """Evidence completeness: the share of releases with every required item."""
    ev = k.evidence_completeness
    return _tile(
        "Evidence completeness",
        fmt_pct(ev.value),
        [
            f"{ev.numerator} of {ev.denominator} releases had every required item"
            f" · {level} CI {fmt_interval(ev.ci_low, ev.ci_high, fmt_pct)}"
        ],
        _rate_delta(ev, p.evidence_completeness if p else None, pm, "down"),
        ev.status,
        ev.message,
    )


def _unit_cost_tile(k: MonthlyKpis, p: MonthlyKpis | None, pm: str, level: str) -> Safe:
    """Unit process cost: the month's mean per case and the releases' impact on it."""
    uc, imp = k.unit_cost_usd, k.unit_cost_impact_usd
    detail = [
        f"mean per case over {uc.n:,} cases · {level} CI "
        f"{fmt_interval(uc.ci_low, uc.ci_high, fmt_usd)}"
        if uc.mean is not None
        else (uc.message or "no telemetry")
    ]
    if imp.mean is not None:
        detail.append(
            f"release impact {fmt_usd(imp.mean, signed=True)} per case "
            f"({fmt_interval(imp.ci_low, imp.ci_high, lambda v: fmt_usd(v, True))}, "
            f"{imp.n} releases)"
        )
    else:
        detail.append(f"release impact: {imp.message or 'not available'}")
    return _tile(
        "Unit process cost (USD per case)",
        fmt_usd(uc.mean),
        detail,
        _estimate_delta(uc, p.unit_cost_usd if p else None, pm),
        uc.status,
        uc.message if uc.mean is not None else "",
    )


def _headline_sentence(ctx: ExecutiveContext) -> str:
    k = ctx.kpis
    cfr = k.change_failure_rate
    if k.releases_deployed == 0:
        return f"No release was deployed in {ctx.month}; there is nothing to measure."
    text = (
        f"{k.releases_deployed} releases were deployed in {ctx.month}; "
        f"{cfr.numerator} degraded decision quality ({fmt_pct(cfr.value)})."
    )
    return text


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
    """The month against the earlier months of the window: pooled rates, the range of the
    monthly medians and means."""
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
                    f"{_rate_text(pooled)} pooled over {span}."
                )
        for label, pick in (("MTTD", lambda m: m.mttd_hours), ("MTTM", lambda m: m.mttm_hours)):
            meds = [pick(m).median for m in earlier if pick(m).median is not None]
            now_d = pick(cur)
            if now_d.median is not None and meds:
                takeaway.append(
                    f"{label}: median {fmt_hours(now_d.median)} in {cur.month}; monthly medians "
                    f"ranged {fmt_hours(min(meds))} to {fmt_hours(max(meds))} over {span}."
                )
        costs = [m.unit_cost_usd.mean for m in earlier if m.unit_cost_usd.mean is not None]
        if cur.unit_cost_usd.mean is not None and costs:
            takeaway.append(
                f"Unit cost: {fmt_usd(cur.unit_cost_usd.mean)} per case in {cur.month}; monthly "
                f"means ranged {fmt_usd(min(costs))} to {fmt_usd(max(costs))} over {span}."
            )
    if not takeaway:
        takeaway.append("There is not enough history before this month for a trend statement.")
    return takeaway


# ---------------------------------------------------------------- executive: breakdowns


def _group_rates(
    df: pl.DataFrame, by: str, alpha: float
) -> list[tuple[str, RateResult, RateResult, RateResult, int]]:
    """Per group: CFR-DQ, classic DORA CFR, evidence completeness, misclassified count."""
    if df.height == 0:
        return []
    agg = (
        df.group_by(by)
        .agg(
            pl.len().alias("n"),
            pl.col("failed").fill_null(False).sum().alias("failed"),
            pl.col("dora_failed").fill_null(False).sum().alias("dora"),
            pl.col("evidence_complete").fill_null(False).sum().alias("complete"),
            pl.col("misclassified").fill_null(False).sum().alias("miscl"),
        )
        .with_columns(pl.col(by).cast(pl.String).fill_null("(unknown)"))
        .sort(["n", by], descending=[True, False])
    )
    return [
        (
            r[by],
            rate(r["failed"], r["n"], alpha),
            rate(r["dora"], r["n"], alpha),
            rate(r["complete"], r["n"], alpha),
            int(r["miscl"]),
        )
        for r in agg.iter_rows(named=True)
    ]


def _tier_order(rows: list, key: int = 0) -> list:
    return sorted(rows, key=lambda r: -TIER_RANK.get(r[key], -1))


def breakdowns(ctx: ExecutiveContext) -> Section:
    """CFR-DQ of the month by effective risk tier, by system and by changed component (a release
    that changed several components counts once in each), with counts and intervals."""
    alpha = ctx.analysis.dataset.policy.alpha
    cohort = ctx.cohort
    if cohort.height == 0:
        return _section("breakdowns", [f"No release was deployed in {ctx.month}."])
    comp = cohort.explode("changed_components").rename({"changed_components": "changed_component"})
    dims = [
        (
            "effective_tier",
            "effective risk tier",
            _tier_order(_group_rates(cohort, "effective_tier", alpha)),
        ),
        ("system", "system", _group_rates(cohort, "system", alpha)),
        ("changed_component", "changed component", _group_rates(comp, "changed_component", alpha)),
    ]
    parts: list[Any] = []
    takeaway: list[str] = []
    for _col, label, rows in dims:
        if not rows:
            continue
        fig = charts.rate_bars(
            [r[0] for r in rows],
            [r[1] for r in rows],
            title=f"CFR-DQ by {label}, {ctx.month}",
            x_title=label,
            y_title="failed releases (%)",
            level=1 - alpha,
        )
        table = _table(
            [
                label,
                "releases",
                "CFR-DQ",
                "interval",
                "classic DORA CFR",
                "evidence complete",
                "misclassified",
            ],
            [
                [
                    r[0],
                    r[1].denominator,
                    f"{fmt_pct(r[1].value)} ({r[1].numerator})",
                    fmt_interval(r[1].ci_low, r[1].ci_high, fmt_pct),
                    f"{fmt_pct(r[2].value)} ({r[2].numerator})",
                    f"{fmt_pct(r[3].value)} ({r[3].numerator})",
                    r[4],
                ]
                for r in rows
            ],
            numeric=(1, 2, 4, 5, 6),
        )
        parts += [fig, table]
        takeaway.append(_spread_sentence(label, rows))
    note = _p(
        "A release that changed several components is counted under each of them, so the "
        "component rows add up to more than the month's releases.",
        cls="ra-muted",
    )
    return Section("breakdowns", (*parts, note), tuple(t for t in takeaway if t))


def _spread_sentence(label: str, rows: list) -> str:
    rated = [r for r in rows if r[1].value is not None]
    if len(rated) < 2:
        return ""
    hi = max(rated, key=lambda r: (r[1].value, r[1].denominator))
    lo = min(rated, key=lambda r: (r[1].value, -r[1].denominator))
    if hi[1].value == lo[1].value:
        return f"By {label}: every group failed at the same rate ({fmt_pct(hi[1].value)})."
    ov = _overlap(hi[1].ci_low, hi[1].ci_high, lo[1].ci_low, lo[1].ci_high)
    verdict = (
        "the intervals overlap, so this difference is not conclusive at these counts"
        if ov
        else "the intervals do not overlap"
    )
    return (
        f"By {label}: highest CFR-DQ in {hi[0]} ({hi[1].numerator} of {hi[1].denominator}, "
        f"{fmt_pct(hi[1].value)}), lowest in {lo[0]} ({lo[1].numerator} of "
        f"{lo[1].denominator}, {fmt_pct(lo[1].value)}); {verdict}."
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
        f"({d.deployments} deployments)",
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
