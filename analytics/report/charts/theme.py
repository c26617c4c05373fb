"""The charts' theme and shared pieces: colours, the plotly template, ``finish`` (title,
subtitle with n, axis titles), month ticks, interval bands, and ``esc`` for data labels."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import plotly.graph_objects as go

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


def finish(
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


def pct(v: float | None) -> float | None:
    return None if v is None else 100.0 * v


MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def month_label(month: str, first: bool) -> str:
    """A short month tick (``Oct``), with the year under the first month and every January."""
    year, mon = month.split("-")
    head = MONTH_ABBR[int(mon) - 1]
    return f"{head}<br>{year}" if first or mon == "01" else f"{head}<br> "


def month_ticks(months: Sequence[str], notes: Sequence[str]) -> list[str]:
    return [
        f"{month_label(m, i == 0)}<br>{n}"
        for i, (m, n) in enumerate(zip(months, notes, strict=True))
    ]


def band(
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
            fillcolor=rgba(color, 0.18),
            name=name,
            hoverinfo="skip",
            connectgaps=False,
        )
    )


def rgba(hex_color: str, a: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{a})"
