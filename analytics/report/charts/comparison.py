"""Charts of the version comparison: the per-segment forest plot and the daily values per
version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
import polars as pl

from analytics.report.charts.theme import (
    BLUE,
    GREEN,
    GREY,
    INK,
    MUTED,
    ORANGE,
    RED,
    esc,
    finish,
)

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
    fig = finish(fig, title, sub, x_title, "", height=height)
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
        f"dashed: {n_stage} rollout stage {'start' if n_stage == 1 else 'starts'}"
    )
    return finish(fig, title or metric_label, sub, "day (UTC)", y_title)
