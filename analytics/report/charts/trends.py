"""Monthly trend and per-group charts of the executive report: rates with Wilson bands,
durations (median and Kaplan-Meier median), mean estimates, and bars per group."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from analytics.core.results import DurationResult, EstimateResult, RateResult
from analytics.report.charts.theme import (
    BLUE,
    INK,
    ORANGE,
    TEAL,
    band,
    esc,
    finish,
    month_ticks,
    pct,
)


def rate_trend(
    months: Sequence[str],
    results: Sequence[RateResult],
    *,
    title: str,
    y_title: str,
    name: str,
    unit: str = "releases",
    compare: Sequence[RateResult] | None = None,
    compare_name: str = "",
    level: float = 0.95,
) -> go.Figure:
    """Monthly share (%) with its Wilson interval band; optionally a second share as a line.

    Hollow markers are months whose status is ``immature``; months without data are gaps."""
    x = list(months)
    y = [pct(r.value) for r in results]
    fig = go.Figure()
    band(
        fig,
        x,
        [pct(r.ci_low) for r in results],
        [pct(r.ci_high) for r in results],
        BLUE,
        f"{level:.0%} interval",
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="lines+markers",
            name=name,
            line={"color": BLUE, "width": 2.5},
            marker={
                "size": 8,
                "color": [("white" if r.status == "immature" else BLUE) for r in results],
                "line": {"color": BLUE, "width": 2},
            },
            customdata=[[r.numerator, r.denominator, r.status] for r in results],
            hovertemplate="%{x}: %{y:.1f}%<br>%{customdata[0]} of %{customdata[1]} "
            + unit
            + "<br>status %{customdata[2]}<extra></extra>",
        )
    )
    if compare is not None:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[pct(r.value) for r in compare],
                mode="lines+markers",
                name=compare_name,
                line={"color": ORANGE, "width": 1.5, "dash": "dot"},
                marker={"size": 6},
                customdata=[[r.numerator, r.denominator] for r in compare],
                hovertemplate="%{x}: %{y:.1f}%<br>%{customdata[0]} of %{customdata[1]} "
                + unit
                + "<extra>"
                + esc(compare_name)
                + "</extra>",
            )
        )
    n_total = sum(r.denominator for r in results)
    immature = sum(r.status == "immature" for r in results)
    sub = f"n = {_count(n_total, unit)} over {len(x)} months; band: {level:.0%} Wilson interval"
    if immature:
        sub += "; hollow marker: observation window not over"
    fig.update_xaxes(
        tickmode="array",
        tickvals=x,
        tickangle=0,
        ticktext=month_ticks(x, [f"n={r.denominator}" for r in results]),
    )
    fig.update_yaxes(rangemode="tozero", ticksuffix="%")
    return finish(fig, title, sub, "month (n = releases deployed)", y_title)


def duration_trend(
    months: Sequence[str],
    results: Sequence[DurationResult],
    *,
    title: str,
    y_title: str,
    what: str,
    seen: str = "observed",
) -> go.Figure:
    """Monthly median of the observed durations (hours) beside the Kaplan-Meier median, which
    also counts the ones still open (right-censored) at ``as_of``.

    The legend names which estimate each line is and over how many: "median of ``seen``
    (n=observed)" and "Kaplan-Meier median (``seen`` + open, censored at as_of, n=all)"; the
    conventional KM median (``analytics.stats.summaries.km_median_point``) equals the plain median
    when
    nothing is open, so the two lines only part where open durations pull it up. A month whose
    KM median is not reached (fewer than half observed) has no KM point."""
    x = list(months)
    n_obs = sum(r.n for r in results)
    n_open = sum(r.n_censored for r in results)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[r.median for r in results],
            mode="lines+markers",
            name=f"median of {seen} (n={n_obs})",
            line={"color": BLUE, "width": 2.5},
            marker={"size": 8},
            customdata=[[r.n, r.n_censored, r.mean, r.p90] for r in results],
            hovertemplate=f"%{{x}}: median of {seen} %{{y:.1f}} h (n=%{{customdata[0]}})<br>"
            "mean %{customdata[2]:.1f} h, p90 %{customdata[3]:.1f} h<br>"
            "%{customdata[1]} still open, not in this median<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[r.km_median for r in results],
            mode="lines+markers",
            name=f"Kaplan-Meier median ({seen} + open, censored at as_of, n={n_obs + n_open})",
            line={"color": ORANGE, "width": 1.8, "dash": "dash"},
            marker={"size": 6, "symbol": "diamond"},
            customdata=[[r.n + r.n_censored, r.n_censored] for r in results],
            hovertemplate="%{x}: Kaplan-Meier median %{y:.1f} h (n=%{customdata[0]}, "
            "%{customdata[1]} censored at as_of)<extra></extra>",
        )
    )
    sub = (
        f"n = {_count(n_obs, what)} {seen}, {n_open} still open at as_of, over {len(x)} months; "
        "with none open the two medians coincide"
    )
    ticks = month_ticks(
        x, [f"n={r.n}" + (f"+{r.n_censored}" if r.n_censored else "") for r in results]
    )
    fig.update_xaxes(tickmode="array", tickvals=x, ticktext=ticks, tickangle=0)
    fig.update_yaxes(rangemode="tozero", ticksuffix=" h")
    return finish(fig, title, sub, f"month (n = {what} {seen} + open)", y_title)


def estimate_trend(
    months: Sequence[str],
    results: Sequence[EstimateResult],
    *,
    title: str,
    y_title: str,
    name: str,
    unit: str,
    level: float = 0.95,
    tick_prefix: str = "$",
) -> go.Figure:
    """Monthly mean estimate with its interval band (e.g. unit cost in USD per case)."""
    x = list(months)
    fig = go.Figure()
    band(
        fig,
        x,
        [r.ci_low for r in results],
        [r.ci_high for r in results],
        TEAL,
        f"{level:.0%} interval",
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[r.mean for r in results],
            mode="lines+markers",
            name=name,
            line={"color": TEAL, "width": 2.5},
            marker={"size": 8},
            customdata=[[r.n] for r in results],
            hovertemplate="%{x}: "
            + tick_prefix
            + "%{y:.3f}<br>n = %{customdata[0]:,} "
            + unit
            + "<extra></extra>",
        )
    )
    n_total = sum(r.n for r in results)
    sub = (
        f"n = {_count(n_total, unit)} over {len(x)} months; band: {level:.0%} interval of the mean"
    )
    ticks = month_ticks(x, [_compact(r.n) for r in results])
    fig.update_xaxes(tickmode="array", tickvals=x, ticktext=ticks, tickangle=0)
    fig.update_yaxes(tickprefix=tick_prefix)
    return finish(fig, title, sub, f"month (n = {unit})", y_title)


def _count(n: int, unit: str) -> str:
    """``n`` and its unit (a plural noun), singular for one: ``1 release``, ``2 releases``."""
    return f"{n:,} {unit[:-1] if n == 1 and unit.endswith('s') else unit}"


def _compact(n: int) -> str:
    if n >= 1_000_000:
        return f"n={n / 1e6:.1f}M"
    if n >= 10_000:
        return f"n={n / 1e3:.0f}k"
    return f"n={n:,}"


def rate_bars(
    labels: Sequence[str],
    results: Sequence[RateResult],
    *,
    title: str,
    x_title: str,
    y_title: str,
    unit: str = "releases",
    level: float = 0.95,
) -> go.Figure:
    """One bar per group: the share (%) with Wilson error bars, labelled ``k/n``."""
    x = [esc(lbl) for lbl in labels]
    y = [pct(r.value) for r in results]
    fig = go.Figure(
        go.Bar(
            x=x,
            y=y,
            marker={"color": BLUE},
            error_y={
                "type": "data",
                "symmetric": False,
                "color": INK,
                "thickness": 1.2,
                "array": [
                    None if r.ci_high is None or r.value is None else 100 * (r.ci_high - r.value)
                    for r in results
                ],
                "arrayminus": [
                    None if r.ci_low is None or r.value is None else 100 * (r.value - r.ci_low)
                    for r in results
                ],
            },
            text=[f"{r.numerator}/{r.denominator}" for r in results],
            textposition="outside",
            cliponaxis=False,
            customdata=[[r.numerator, r.denominator] for r in results],
            hovertemplate="%{x}: %{y:.1f}%<br>%{customdata[0]} of %{customdata[1]} "
            + unit
            + "<extra></extra>",
            name=y_title,
        )
    )
    n_total = sum(r.denominator for r in results)
    sub = (
        f"n = {_count(n_total, unit)} counted across {_count(len(x), 'groups')}; bar label k/n; "
        f"whiskers: {level:.0%} Wilson interval"
    )
    fig.update_yaxes(range=[0, 105], ticksuffix="%")
    fig.update_layout(showlegend=False, bargap=0.45)
    return finish(fig, title, sub, x_title, y_title)
