"""Charts in HTML: ``figure_html`` draws a figure with the plotly.js embedded once per page by
``plotlyjs_script`` (no CDN, no MathJax); ``use_offline_renderer`` makes notebooks do the same."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer
from plotly.offline import get_plotlyjs

from analytics.report.charts.theme import HEIGHT

CONFIG: Mapping[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
}
RENDERER = "analytics_offline"


def _fragment(fig: go.Figure | dict, **options: Any) -> str:
    """``fig`` as an HTML fragment that needs the page's plotly.js and nothing else."""
    return pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        config=dict(CONFIG),
        default_width="100%",
        **options,
    )


def figure_html(fig: go.Figure) -> str:
    """An HTML fragment drawing ``fig`` with the page's plotly.js (see ``plotlyjs_script``)."""
    return _fragment(fig, default_height=f"{fig.layout.height or HEIGHT}px")


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
        return {"text/html": _fragment(fig_dict, validate=False)}


def use_offline_renderer() -> str:
    """Register ``OfflineRenderer`` and make ``plotly_mimetype+analytics_offline`` the default:
    JupyterLab draws figures from the plotly mimetype, nbconvert HTML from the offline HTML.
    Returns the renderer string."""
    pio.renderers[RENDERER] = OfflineRenderer()
    pio.renderers.default = f"plotly_mimetype+{RENDERER}"
    return pio.renderers.default
