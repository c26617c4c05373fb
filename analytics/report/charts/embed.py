"""Charts in HTML: ``figure_html`` draws a figure with the plotly.js embedded once per page by
``plotlyjs_script`` (no CDN, no MathJax); ``use_offline_renderer`` makes notebooks do the same.

The plotly.js is a pinned partial bundle shipped as package data (``vendor/plotly-basic.min.js``,
see ``vendor/README.md``): the trace types ``PLOTLYJS_TRACE_TYPES`` in 1.2 MB instead of the full
4.8 MB, so a report fits in an e-mail. Every chart of the package uses those trace types only.
The script sits between two HTML comments (``PLOTLYJS_BEGIN`` / ``PLOTLYJS_END``) so that a set
of pages can share one copy: ``share_plotlyjs`` replaces the inline bundle with a reference to a
sibling file written once (``analytics report executive --by``).
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer

from analytics.report.charts.theme import HEIGHT

CONFIG: Mapping[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
}
RENDERER = "analytics_offline"
PLOTLYJS_FOLDER, PLOTLYJS_FILE = "vendor", "plotly-basic.min.js"
PLOTLYJS_TRACE_TYPES: tuple[str, ...] = ("scatter", "bar", "pie")
PLOTLYJS_BEGIN, PLOTLYJS_END = "<!-- analytics:plotlyjs -->", "<!-- /analytics:plotlyjs -->"
_CONFIG_SCRIPT = "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
# Shown instead of the charts when a page of a set was opened without its sibling plotly.js.
_MISSING_NOTE = (
    "<script>if (!window.Plotly) { document.addEventListener('DOMContentLoaded', function () {"
    " var p = document.createElement('p'); p.className = 'ra-muted';"
    " p.textContent = 'The charts need the file {name} from the same folder as this page.';"
    " document.body.insertBefore(p, document.body.firstChild); }); }</script>"
)


@functools.cache
def plotlyjs() -> str:
    """The bundled plotly.js (package data, read once)."""
    resource = importlib.resources.files(__package__).joinpath(PLOTLYJS_FOLDER, PLOTLYJS_FILE)
    return resource.read_text(encoding="utf-8")


def plotlyjs_version() -> str:
    """The version of the bundled plotly.js, from its header (``4.1.1``)."""
    found = re.search(r"plotly\.js \([^)]*\) v(\d+\.\d+\.\d+)", plotlyjs()[:400])
    if found is None:
        raise RuntimeError(f"{PLOTLYJS_FILE}: no version in its header")
    return found.group(1)


def plotlyjs_filename() -> str:
    """The name of the shared copy beside a set of pages (``plotly-basic-4.1.1.min.js``)."""
    return f"plotly-basic-{plotlyjs_version()}.min.js"


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
    """plotly.js as one inline ``<script>`` between the markers: embed it once per page, before
    any figure."""
    return f"{PLOTLYJS_BEGIN}{_CONFIG_SCRIPT}\n<script>{plotlyjs()}</script>{PLOTLYJS_END}"


def share_plotlyjs(page: str, src: str) -> str:
    """``page`` with its inline plotly.js replaced by ``<script src="src">``: ``src`` is a file
    name in the page's folder, so a set of pages holds one copy; a note replaces the charts when
    that file is missing. The page must hold exactly one inline copy (``plotlyjs_script``)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", src):
        raise ValueError(f"not a plain sibling file name: {src!r}")
    start, end = page.find(PLOTLYJS_BEGIN), page.find(PLOTLYJS_END)
    if start < 0 or end < start or page.count(PLOTLYJS_BEGIN) != 1:
        raise ValueError("the page does not hold exactly one inline plotly.js")
    shared = (
        f'{PLOTLYJS_BEGIN}{_CONFIG_SCRIPT}\n<script src="{src}"></script>'
        f"{_MISSING_NOTE.replace('{name}', src)}{PLOTLYJS_END}"
    )
    return page[:start] + shared + page[end + len(PLOTLYJS_END) :]


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
