"""Timelines of the post-release review: the rollout (traffic share per stage, with incidents
and operator decisions) and the incidents (time to detect, time to mitigate)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import plotly.graph_objects as go
import polars as pl

from analytics.core.columns import MTTM_INVALID
from analytics.report.charts.theme import (
    BLUE,
    DECISION_COLORS,
    GREY,
    INK,
    MUTED,
    ORANGE,
    PURPLE,
    RED,
    SEVERITY_COLORS,
    TEAL,
    esc,
    finish,
    rgba,
)
from analytics.stats.change import plural


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
    ys = _add_traffic_steps(fig, st, as_of)
    _add_stage_decisions(fig, st, as_of)
    for p in plan:
        fig.add_hline(y=p, line={"color": GREY, "width": 1, "dash": "dot"})
    top = max([*ys, *plan, 100.0])
    _add_release_line(fig, released_at, top)
    n_inc = _add_incident_detections(fig, incidents, top)
    n_dec = _add_operator_decisions(fig, decisions)
    fig.update_yaxes(range=[-8, top * 1.12], ticksuffix="%")
    sub = (
        f"n = {plural(st.height, 'stage')}, {plural(n_inc, 'incident detection')}, "
        f"{plural(n_dec, 'operator decision')}; "
        "dotted lines: planned steps"
    )
    return finish(fig, title, sub, "time (UTC)", "traffic on the new version (%)")


def _add_traffic_steps(fig: go.Figure, st: pl.DataFrame, as_of: datetime) -> list[float]:
    """The traffic line: one flat step per stage with a start and a traffic share, from its
    start to its end (``as_of`` while open). Returns the traffic values drawn."""
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
    return ys


def _add_stage_decisions(fig: go.Figure, st: pl.DataFrame, as_of: datetime) -> None:
    """A marker at the end of each drawn stage, coloured by its decision, ringed in red when a
    stop condition was met."""
    ends = st.filter(pl.col("started_at").is_not_null() & pl.col("traffic_pct").is_not_null())
    if ends.height == 0:
        return
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


def _add_release_line(fig: go.Figure, released_at: datetime | None, top: float) -> None:
    """A dashed vertical line at the release, labelled above the plot (none without a time)."""
    if released_at is None:
        return
    fig.add_vline(x=released_at, line={"color": INK, "width": 1, "dash": "dash"})
    fig.add_annotation(
        x=released_at,
        y=top * 1.08,
        text="released",
        showarrow=False,
        font={"size": 11, "color": MUTED},
        xanchor="left",
    )


def _add_incident_detections(fig: go.Figure, incidents: pl.DataFrame | None, top: float) -> int:
    """A cross per detected incident at its detection time, coloured by severity, above the
    traffic line. Returns how many were drawn."""
    if incidents is None or incidents.height == 0:
        return 0
    det = incidents.filter(pl.col("detected_at").is_not_null())
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
    return det.height


def _add_operator_decisions(fig: go.Figure, decisions: pl.DataFrame | None) -> int:
    """A triangle per operator decision under the axis at its time. Returns how many."""
    if decisions is None or decisions.height == 0:
        return 0
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
    return decisions.height


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
                "color": [rgba(TEAL, 0.35) if o else TEAL for o in open_],
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
        f"n = {plural(inc.height, 'incident')}, {n_open} open at as_of (hatched, running to "
        "as_of); hours since release"
    )
    height = max(220, 90 + 42 * max(inc.height, 1))
    return finish(fig, title, sub, "hours since release", "incident", height=height)
