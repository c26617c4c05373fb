"""Every plotly figure of the package, in one theme.

Each function takes results or small frames and returns a ``plotly.graph_objects.Figure``; none
shows it. Every figure has a title, a subtitle that states n (what was counted and how many),
and axis titles with units. Strings that come from data (ids, names, segments) are HTML-escaped
before they reach a figure, because plotly renders a subset of HTML in its text.

``figure_html`` turns a figure into an HTML fragment that draws with the plotly.js embedded once
per page by ``plotlyjs_script`` (no CDN, no MathJax), which is how the reports stay readable
offline.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
from plotly.io.base_renderers import MimetypeRenderer
from plotly.offline import get_plotlyjs

from analytics.core.columns import MTTM_INVALID
from analytics.core.results import DurationResult, EstimateResult, RateResult

FONT = "Inter, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK = "#1f2933"
MUTED = "#6b7785"
GRID = "#e6e9ee"
BLUE = "#2f5d8a"
ORANGE = "#d1603d"
TEAL = "#3e8e7e"
PURPLE = "#7a5c99"
GOLD = "#c9a227"
GREY = "#9aa5b1"
RED = "#b42318"
GREEN = "#2e7d32"
PALETTE: tuple[str, ...] = (BLUE, ORANGE, TEAL, PURPLE, GOLD, GREY)
DECISION_COLORS: Mapping[str, str] = {
    "advance": BLUE,
    "complete": GREEN,
    "hold": GOLD,
    "halt": ORANGE,
    "rollback": RED,
}
SEVERITY_COLORS: Mapping[str, str] = {"sev1": RED, "sev2": ORANGE, "sev3": GOLD, "sev4": GREY}
HEIGHT = 380
CONFIG: Mapping[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
}
RENDERER = "analytics_offline"


def esc(value: Any) -> str:
    """A data value as text safe for plotly labels and HTML."""
    return html.escape("" if value is None else str(value))


@cache
def template() -> go.layout.Template:
    """The report theme: white background, light grid, one palette, readable fonts."""
    return go.layout.Template(
        layout=go.Layout(
            font={"family": FONT, "size": 13, "color": INK},
            title={
                "font": {"size": 16, "color": INK},
                "x": 0.0,
                "xanchor": "left",
                "xref": "container",
                "y": 1.0,
                "yanchor": "top",
                "yref": "container",
                "pad": {"t": 14, "l": 12},
                "subtitle": {"font": {"size": 12, "color": MUTED}},
            },
            colorway=list(PALETTE),
            paper_bgcolor="white",
            plot_bgcolor="white",
            margin={"l": 64, "r": 24, "t": 108, "b": 56},
            xaxis={
                "gridcolor": GRID,
                "linecolor": "#c5ccd6",
                "ticks": "outside",
                "tickcolor": "#c5ccd6",
                "zeroline": False,
                "automargin": True,
            },
            yaxis={
                "gridcolor": GRID,
                "linecolor": "#c5ccd6",
                "zeroline": False,
                "automargin": True,
            },
            legend={
                "orientation": "h",
                "yanchor": "bottom",
                "y": 1.01,
                "xanchor": "left",
                "x": 0.0,
                "font": {"size": 12},
            },
            hoverlabel={"font": {"family": FONT, "size": 12}},
        )
    )


def _finish(
    fig: go.Figure, title: str, subtitle: str, x_title: str, y_title: str, height: int = HEIGHT
) -> go.Figure:
    fig.update_layout(
        template=template(),
        title={"text": esc(title), "subtitle": {"text": esc(subtitle)}},
        height=height,
        xaxis_title=esc(x_title),
        yaxis_title=esc(y_title),
    )
    return fig


def _pct(v: float | None) -> float | None:
    return None if v is None else 100.0 * v


MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def month_label(month: str, first: bool) -> str:
    """A short month tick (``Oct``), with the year under the first month and every January."""
    year, mon = month.split("-")
    head = MONTH_ABBR[int(mon) - 1]
    return f"{head}<br>{year}" if first or mon == "01" else f"{head}<br> "


def _month_ticks(months: Sequence[str], notes: Sequence[str]) -> list[str]:
    return [
        f"{month_label(m, i == 0)}<br>{n}"
        for i, (m, n) in enumerate(zip(months, notes, strict=True))
    ]


def _band(
    fig: go.Figure,
    x: Sequence[str],
    low: Sequence[float | None],
    high: Sequence[float | None],
    color: str,
    name: str,
) -> None:
    """A shaded interval band (drawn as one closed polygon, gaps left where unknown)."""
    fig.add_trace(
        go.Scatter(
            x=list(x),
            y=list(high),
            mode="lines",
            line={"width": 0},
            hoverinfo="skip",
            showlegend=False,
            connectgaps=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=list(x),
            y=list(low),
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=_alpha(color, 0.18),
            name=name,
            hoverinfo="skip",
            connectgaps=False,
        )
    )


def _alpha(hex_color: str, a: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{a})"


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
    y = [_pct(r.value) for r in results]
    fig = go.Figure()
    _band(
        fig,
        x,
        [_pct(r.ci_low) for r in results],
        [_pct(r.ci_high) for r in results],
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
                y=[_pct(r.value) for r in compare],
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
    sub = f"n = {n_total} {unit} over {len(x)} months; band: {level:.0%} Wilson interval"
    if immature:
        sub += "; hollow marker: observation window not over"
    fig.update_xaxes(
        tickmode="array",
        tickvals=x,
        tickangle=0,
        ticktext=_month_ticks(x, [f"n={r.denominator}" for r in results]),
    )
    fig.update_yaxes(rangemode="tozero", ticksuffix="%")
    return _finish(fig, title, sub, "month (n = releases deployed)", y_title)


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
        f"n = {n_obs} {what} {seen}, {n_open} still open at as_of, over {len(x)} months; "
        "with none open the two medians coincide"
    )
    ticks = _month_ticks(
        x, [f"n={r.n}" + (f"+{r.n_censored}" if r.n_censored else "") for r in results]
    )
    fig.update_xaxes(tickmode="array", tickvals=x, ticktext=ticks, tickangle=0)
    fig.update_yaxes(rangemode="tozero", ticksuffix=" h")
    return _finish(fig, title, sub, f"month (n = {what} {seen} + open)", y_title)


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
    _band(
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
    sub = f"n = {n_total:,} {unit} over {len(x)} months; band: {level:.0%} interval of the mean"
    ticks = _month_ticks(x, [_compact(r.n) for r in results])
    fig.update_xaxes(tickmode="array", tickvals=x, ticktext=ticks, tickangle=0)
    fig.update_yaxes(tickprefix=tick_prefix)
    return _finish(fig, title, sub, f"month (n = {unit})", y_title)


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
    y = [_pct(r.value) for r in results]
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
        f"n = {n_total} {unit} counted across {len(x)} groups; bar label k/n; "
        f"whiskers: {level:.0%} Wilson interval"
    )
    fig.update_yaxes(range=[0, 105], ticksuffix="%")
    fig.update_layout(showlegend=False, bargap=0.45)
    return _finish(fig, title, sub, x_title, y_title)


def rollout_timeline(
    stages: pl.DataFrame,
    *,
    released_at: datetime | None,
    as_of: datetime,
    incidents: pl.DataFrame | None = None,
    decisions: pl.DataFrame | None = None,
    plan: Sequence[float] = (),
    title: str = "Rollout timeline",
) -> go.Figure:
    """Traffic share (%) of the new version over time, one step per rollout stage.

    ``stages``: ``stage, traffic_pct, started_at, ended_at, decision, stop_condition_met``
    (an open stage runs to ``as_of``). Stage-end markers are coloured by decision; a red ring
    marks a stop condition met. Vertical lines: release, incident detections; triangles:
    operator decisions. The planned steps of the effective tier are dotted horizontal lines."""
    fig = go.Figure()
    st = stages.sort(["stage", "started_at"], nulls_last=True)
    xs: list[datetime] = []
    ys: list[float] = []
    for r in st.iter_rows(named=True):
        if r["started_at"] is None or r["traffic_pct"] is None:
            continue
        end = r["ended_at"] or as_of
        xs += [r["started_at"], end]
        ys += [r["traffic_pct"], r["traffic_pct"]]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            name="traffic on new version",
            line={"color": BLUE, "width": 3, "shape": "hv"},
            hovertemplate="%{x|%Y-%m-%d %H:%M} UTC: %{y}%<extra></extra>",
        )
    )
    ends = st.filter(pl.col("started_at").is_not_null() & pl.col("traffic_pct").is_not_null())
    if ends.height:
        stop = ends["stop_condition_met"].fill_null(False).to_list()
        fig.add_trace(
            go.Scatter(
                x=[e or as_of for e in ends["ended_at"].to_list()],
                y=ends["traffic_pct"].to_list(),
                mode="markers",
                name="stage decision",
                marker={
                    "size": 12,
                    "color": [DECISION_COLORS.get(d or "", GREY) for d in ends["decision"]],
                    "line": {
                        "color": [RED if s else "white" for s in stop],
                        "width": [3 if s else 1 for s in stop],
                    },
                },
                customdata=[
                    [
                        r["stage"],
                        esc(r["decision"]),
                        "yes" if r["stop_condition_met"] else "no",
                        esc(r.get("segment") or "all"),
                    ]
                    for r in ends.iter_rows(named=True)
                ],
                hovertemplate="stage %{customdata[0]} (%{customdata[3]}): %{y}%<br>decision "
                "%{customdata[1]}<br>stop condition met: %{customdata[2]}<extra></extra>",
            )
        )
    for p in plan:
        fig.add_hline(y=p, line={"color": GREY, "width": 1, "dash": "dot"})
    top = max([*ys, *plan, 100.0])
    if released_at is not None:
        fig.add_vline(x=released_at, line={"color": INK, "width": 1, "dash": "dash"})
        fig.add_annotation(
            x=released_at,
            y=top * 1.08,
            text="released",
            showarrow=False,
            font={"size": 11, "color": MUTED},
            xanchor="left",
        )
    n_inc = 0
    if incidents is not None and incidents.height:
        det = incidents.filter(pl.col("detected_at").is_not_null())
        n_inc = det.height
        fig.add_trace(
            go.Scatter(
                x=det["detected_at"].to_list(),
                y=[top * 1.02] * det.height,
                mode="markers",
                name="incident detected",
                marker={
                    "symbol": "x",
                    "size": 12,
                    "color": [SEVERITY_COLORS.get(s or "", RED) for s in det["severity"]],
                },
                customdata=[
                    [esc(r["incident_id"]), esc(r["severity"]), esc(r["category"])]
                    for r in det.iter_rows(named=True)
                ],
                hovertemplate="incident %{customdata[0]} (%{customdata[1]}, %{customdata[2]})"
                "<br>detected %{x|%Y-%m-%d %H:%M} UTC<extra></extra>",
            )
        )
    n_dec = 0
    if decisions is not None and decisions.height:
        n_dec = decisions.height
        fig.add_trace(
            go.Scatter(
                x=decisions["decided_at"].to_list(),
                y=[-4.0] * decisions.height,
                mode="markers",
                name="operator decision",
                marker={"symbol": "triangle-up", "size": 11, "color": PURPLE},
                customdata=[
                    [esc(r["action"]), esc(r["operator"])] for r in decisions.iter_rows(named=True)
                ],
                hovertemplate="%{customdata[0]} by %{customdata[1]}<br>%{x|%Y-%m-%d %H:%M} UTC"
                "<extra></extra>",
            )
        )
    fig.update_yaxes(range=[-8, top * 1.12], ticksuffix="%")
    sub = (
        f"n = {st.height} stages, {n_inc} incident detections, {n_dec} operator decisions; "
        "dotted lines: planned steps"
    )
    return _finish(fig, title, sub, "time (UTC)", "traffic on the new version (%)")


def incident_timeline(
    incidents: pl.DataFrame,
    *,
    released_at: datetime | None,
    as_of: datetime,
    title: str = "Incident timeline",
) -> go.Figure:
    """One row per incident: from release (or start) to detection (time to detect) and from
    detection to mitigation (time to mitigate; open incidents run to ``as_of``), in hours since
    release."""
    fig = go.Figure()
    inc = incidents.sort("detected_at", "incident_id", nulls_last=True)
    ids = [esc(i) for i in inc["incident_id"].to_list()]
    base = released_at
    ttd, ttd_base, ttm, ttm_base, open_ = [], [], [], [], []
    for r in inc.iter_rows(named=True):
        det = r["detected_at"]
        ref = base or r["started_at"] or det
        d_h = None if det is None or ref is None else (det - ref).total_seconds() / 3600
        ttd_base.append(0.0)
        ttd.append(d_h)
        end = r["mitigated_at"] if r.get("mitigated_by_as_of") else None
        is_open = end is None
        m_h = None
        if det is not None and not r.get(MTTM_INVALID):
            m_h = ((end or as_of) - det).total_seconds() / 3600
        ttm_base.append(d_h)
        ttm.append(m_h)
        open_.append(is_open)
    fig.add_trace(
        go.Bar(
            y=ids,
            x=ttd,
            base=ttd_base,
            orientation="h",
            name="release to detection",
            marker={"color": ORANGE},
            hovertemplate="%{y}: detected after %{x:.1f} h<extra></extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            y=ids,
            x=ttm,
            base=ttm_base,
            orientation="h",
            name="detection to mitigation",
            marker={
                "color": [_alpha(TEAL, 0.35) if o else TEAL for o in open_],
                "pattern": {"shape": ["/" if o else "" for o in open_]},
            },
            customdata=[["open at as_of" if o else "mitigated"] for o in open_],
            hovertemplate="%{y}: %{x:.1f} h to mitigate (%{customdata[0]})<extra></extra>",
        )
    )
    n_open = sum(open_)
    fig.update_layout(barmode="overlay", bargap=0.35)
    fig.update_yaxes(autorange="reversed", type="category")
    sub = (
        f"n = {inc.height} incidents, {n_open} open at as_of (hatched, running to as_of); "
        "hours since release"
    )
    height = max(220, 90 + 42 * max(inc.height, 1))
    return _finish(fig, title, sub, "hours since release", "incident", height=height)


VERDICT_COLORS: Mapping[str, str] = {
    "worse": RED,
    "better": GREEN,
    "inconclusive": BLUE,
    "insufficient_data": GREY,
}


def forest(
    rows: pl.DataFrame,
    *,
    title: str,
    x_title: str,
    scale: float = 1.0,
    overall_label: str,
) -> go.Figure:
    """A forest plot of one metric: per segment the difference new minus reference with its
    interval, the dot coloured by verdict, and the tolerated margin (orange tick, on the worse
    side) of each row; a dashed line at no difference.

    ``rows``: ``segment, estimate, ci_low, ci_high, margin_abs, verdict, n_new, n_ref`` (in the
    metric's unit; ``scale`` turns them into the axis unit); the row labelled ``overall_label``
    is drawn on top as a diamond."""
    segs = rows.filter(pl.col("segment") != overall_label).sort("segment")
    ordered = pl.concat([rows.filter(pl.col("segment") == overall_label), segs])
    recs = list(ordered.iter_rows(named=True))
    labels = [f"{esc(r['segment'])} (n {r['n_ref'] or 0:,}/{r['n_new'] or 0:,})" for r in recs]
    est = [_scaled(r, "estimate", scale) for r in recs]
    hi = [_scaled(r, "ci_high", scale) for r in recs]
    lo = [_scaled(r, "ci_low", scale) for r in recs]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=est,
            y=labels,
            mode="markers",
            name="difference",
            marker={
                "size": [12 if r["segment"] == overall_label else 8 for r in recs],
                "symbol": ["diamond" if r["segment"] == overall_label else "circle" for r in recs],
                "color": [VERDICT_COLORS.get(r["verdict"] or "", GREY) for r in recs],
            },
            error_x={
                "type": "data",
                "symmetric": False,
                "thickness": 1.4,
                "width": 3,
                "color": INK,
                "array": [
                    None if e is None or h is None else h - e for e, h in zip(est, hi, strict=True)
                ],
                "arrayminus": [
                    None if e is None or lw is None else e - lw
                    for e, lw in zip(est, lo, strict=True)
                ],
            },
            customdata=[[esc((r["verdict"] or "").replace("_", " "))] for r in recs],
            hovertemplate="%{y}<br>difference %{x:.3g}<br>%{customdata[0]}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[_scaled(r, "margin_abs", scale) for r in recs],
            y=labels,
            mode="markers",
            name="margin",
            hovertemplate="margin %{x:.3g}<extra></extra>",
            marker={
                "symbol": "line-ns-open",
                "size": 14,
                "color": ORANGE,
                "line": {"width": 2, "color": ORANGE},
            },
        )
    )
    fig.add_vline(x=0, line={"color": MUTED, "width": 1, "dash": "dash"})
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=labels[::-1])
    fig.update_layout(showlegend=False)
    sub = f"n = {len(segs)} segments (cases reference/new); colour: verdict; orange tick: margin"
    height = max(230, 130 + 30 * len(recs))
    fig = _finish(fig, title, sub, x_title, "", height=height)
    fig.update_layout(margin={"t": 84})
    return fig


def _scaled(row: Mapping[str, Any], key: str, scale: float) -> float | None:
    v = row[key]
    return None if v is None else v * scale


def version_daily(
    daily: pl.DataFrame,
    *,
    metric_label: str,
    scale: float,
    y_title: str,
    stages: pl.DataFrame | None = None,
    title: str,
) -> go.Figure:
    """Daily value of one metric per version (``daily``: ``release_id, arm, day, value, n``;
    arm ``new`` or ``ref``), with the rollout stage starts marked. Plain daily values, not
    mix-standardised."""
    fig = go.Figure()
    for arm, color, dash in (("ref", GREY, "dot"), ("new", BLUE, "solid")):
        part = daily.filter(pl.col("arm") == arm).sort("day")
        if part.height == 0:
            continue
        name = esc(part["release_id"][0]) + (" (new)" if arm == "new" else " (reference)")
        fig.add_trace(
            go.Scatter(
                x=part["day"].to_list(),
                y=[None if v is None else v * scale for v in part["value"].to_list()],
                mode="lines+markers",
                name=name,
                line={"color": color, "dash": dash, "width": 2},
                marker={"size": 7},
                customdata=[[n] for n in part["n"].to_list()],
                hovertemplate="%{x|%Y-%m-%d}: %{y:.3g}<br>n = %{customdata[0]:,}<extra>"
                + name
                + "</extra>",
            )
        )
    n_stage = 0
    if stages is not None:
        for r in stages.filter(pl.col("started_at").is_not_null()).iter_rows(named=True):
            n_stage += 1
            fig.add_vline(x=r["started_at"], line={"color": ORANGE, "width": 1, "dash": "dash"})
            fig.add_annotation(
                x=r["started_at"],
                y=1.0,
                yref="paper",
                showarrow=False,
                text=f"{r['traffic_pct']:g}%",
                font={"size": 10, "color": ORANGE},
                xanchor="left",
                yanchor="top",
            )
    n_new = int(daily.filter(pl.col("arm") == "new")["n"].sum())
    n_ref = int(daily.filter(pl.col("arm") == "ref")["n"].sum())
    sub = (
        f"n = {n_new:,} cases new, {n_ref:,} reference; daily values, not mix-standardised; "
        f"dashed: {n_stage} rollout stage start(s)"
    )
    return _finish(fig, title or metric_label, sub, "day (UTC)", y_title)


# ---------------------------------------------------------------- HTML embedding


def figure_html(fig: go.Figure) -> str:
    """An HTML fragment drawing ``fig`` with the page's plotly.js (see ``plotlyjs_script``)."""
    return pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        config=dict(CONFIG),
        default_width="100%",
        default_height=f"{fig.layout.height or HEIGHT}px",
    )


def plotlyjs_script() -> str:
    """plotly.js as one inline ``<script>``: embed it once per page, before any figure."""
    return (
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n"
        f"<script>{get_plotlyjs()}</script>"
    )


class OfflineRenderer(MimetypeRenderer):
    """A plotly renderer whose HTML needs the plotly.js already on the page and no CDN (plotly's
    own notebook renderer adds a MathJax CDN script to every figure)."""

    def to_mimebundle(self, fig_dict: dict) -> dict[str, str]:
        return {
            "text/html": pio.to_html(
                fig_dict,
                full_html=False,
                include_plotlyjs=False,
                include_mathjax=False,
                config=dict(CONFIG),
                default_width="100%",
                validate=False,
            )
        }


def use_offline_renderer() -> str:
    """Register ``OfflineRenderer`` and make ``plotly_mimetype+analytics_offline`` the default:
    JupyterLab draws figures from the plotly mimetype, nbconvert HTML from the offline HTML.
    Returns the renderer string."""
    pio.renderers[RENDERER] = OfflineRenderer()
    pio.renderers.default = f"plotly_mimetype+{RENDERER}"
    return pio.renderers.default


__all__ = [
    "CONFIG",
    "OfflineRenderer",
    "duration_trend",
    "estimate_trend",
    "figure_html",
    "incident_timeline",
    "plotlyjs_script",
    "rate_bars",
    "rate_trend",
    "rollout_timeline",
    "forest",
    "version_daily",
    "template",
    "use_offline_renderer",
]
