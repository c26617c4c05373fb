"""Every plotly figure of the package, in one theme.

Each function takes results or small frames and returns a ``plotly.graph_objects.Figure``; none
shows it. Every figure has a title, a subtitle that states n (what was counted and how many),
and axis titles with units. Strings that come from data (ids, names, segments) are HTML-escaped
before they reach a figure, because plotly renders a subset of HTML in its text.

``figure_html`` turns a figure into an HTML fragment that draws with the plotly.js embedded once
per page by ``plotlyjs_script`` (no CDN, no MathJax), which is how the reports stay readable
offline; that plotly.js is a pinned partial bundle (``embed``, ``vendor/README.md``) holding the
trace types ``PLOTLYJS_TRACE_TYPES``, the only ones the figures here use.

The package, from the bottom up: ``theme`` (colours, template, titles, month ticks, bands),
``trends`` (executive report: monthly trends, bars per group), ``timelines`` (rollout and
incidents), ``comparison`` (forest plot, daily values per version), ``embed`` (HTML, the offline
renderer).
"""

from __future__ import annotations

from analytics.report.charts.comparison import VERDICT_COLORS, forest, version_daily
from analytics.report.charts.embed import (
    CONFIG,
    PLOTLYJS_TRACE_TYPES,
    RENDERER,
    OfflineRenderer,
    figure_html,
    plotlyjs,
    plotlyjs_filename,
    plotlyjs_script,
    plotlyjs_version,
    share_plotlyjs,
    use_offline_renderer,
)
from analytics.report.charts.theme import (
    BLUE,
    DECISION_COLORS,
    FONT,
    GOLD,
    GREEN,
    GREY,
    GRID,
    HEIGHT,
    INK,
    MONTH_ABBR,
    MUTED,
    ORANGE,
    PALETTE,
    PURPLE,
    RED,
    SEVERITY_COLORS,
    TEAL,
    esc,
    month_label,
    template,
)
from analytics.report.charts.timelines import incident_timeline, rollout_timeline
from analytics.report.charts.trends import duration_trend, estimate_trend, rate_bars, rate_trend

__all__ = [
    "BLUE",
    "CONFIG",
    "DECISION_COLORS",
    "FONT",
    "GOLD",
    "GREEN",
    "GREY",
    "GRID",
    "HEIGHT",
    "INK",
    "MONTH_ABBR",
    "MUTED",
    "ORANGE",
    "OfflineRenderer",
    "PALETTE",
    "PLOTLYJS_TRACE_TYPES",
    "PURPLE",
    "RED",
    "RENDERER",
    "SEVERITY_COLORS",
    "TEAL",
    "VERDICT_COLORS",
    "duration_trend",
    "esc",
    "estimate_trend",
    "figure_html",
    "forest",
    "incident_timeline",
    "month_label",
    "plotlyjs",
    "plotlyjs_filename",
    "plotlyjs_script",
    "plotlyjs_version",
    "rate_bars",
    "rate_trend",
    "rollout_timeline",
    "share_plotlyjs",
    "template",
    "use_offline_renderer",
    "version_daily",
]
