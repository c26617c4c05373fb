"""HTML building blocks of the report sections: escaping (``Safe``, ``_h``), tags, lists,
tables, badges, ``Section``; the report styles and ``setup_notebook``.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from analytics.report import charts

# ---------------------------------------------------------------- HTML building blocks


class Safe(str):
    """HTML built by this module from escaped parts; ``_h`` passes it through unescaped."""


def _h(value: Any) -> str:
    """A value as escaped HTML text (``Safe`` passes through; None is an empty string)."""
    if isinstance(value, Safe):
        return str(value)
    return html.escape("" if value is None else str(value))


def _tag(name: str, content: Any, cls: str = "") -> Safe:
    attr = f' class="{html.escape(cls)}"' if cls else ""
    return Safe(f"<{name}{attr}>{_h(content)}</{name}>")


def _join(parts: Iterable[Any], sep: str = "") -> Safe:
    return Safe(sep.join(_h(p) for p in parts))


def _p(*parts: Any, cls: str = "") -> Safe:
    return _tag("p", _join(parts), cls)


def _ul(items: Sequence[Any], cls: str = "") -> Safe:
    if not items:
        return Safe("")
    return _tag("ul", _join(_tag("li", i) for i in items), cls)


def _badge(text: str, kind: str) -> Safe:
    return _tag("span", text, f"ra-badge ra-{kind}")


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    numeric: Sequence[int] = (),
    caption: str = "",
    row_classes: Sequence[str] | None = None,
) -> Safe:
    """A table; cells are escaped unless ``Safe``. ``numeric``: right-aligned column indexes."""
    head = _join(_tag("th", h, "ra-num" if i in numeric else "") for i, h in enumerate(headers))
    body = []
    for k, row in enumerate(rows):
        cells = _join(_tag("td", c, "ra-num" if i in numeric else "") for i, c in enumerate(row))
        cls = f' class="{html.escape(row_classes[k])}"' if row_classes and row_classes[k] else ""
        body.append(f"<tr{cls}>{cells}</tr>")
    cap = f"<caption>{_h(caption)}</caption>" if caption else ""
    return Safe(
        f'<table class="ra-table">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


@dataclass(frozen=True)
class Section:
    """A report section: HTML parts and plotly figures, rendered in order.

    ``takeaway`` holds the generated sentences that open the section (also kept as plain text for
    tests and for the executive takeaway)."""

    name: str
    parts: tuple[Safe | go.Figure, ...]
    takeaway: tuple[str, ...] = ()

    @property
    def figures(self) -> tuple[go.Figure, ...]:
        return tuple(p for p in self.parts if isinstance(p, go.Figure))

    def _repr_html_(self) -> str:
        out = [f'<section class="ra-section" data-section="{html.escape(self.name)}">']
        if self.takeaway:
            out.append(_tag("div", _join(_p(t) for t in self.takeaway), "ra-takeaway"))
        for part in self.parts:
            if isinstance(part, go.Figure):
                out.append(f'<div class="ra-chart">{charts.figure_html(part)}</div>')
            else:
                out.append(str(part))
        out.append("</section>")
        return "\n".join(out)


def _section(name: str, takeaway: Sequence[str], *parts: Safe | go.Figure | None) -> Section:
    return Section(name, tuple(p for p in parts if p is not None and p != ""), tuple(takeaway))


# ---------------------------------------------------------------- notebook setup


STYLE = """
.ra-report { font-family: Inter, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;
  color: #1f2933; }
.ra-title h1 { font-size: 1.9em; margin: 0.2em 0 0.1em 0; }
.ra-title .ra-subtitle { color: #6b7785; font-size: 1.05em; margin: 0 0 0.8em 0; }
.ra-section { font-family: Inter, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;
  color: #1f2933; line-height: 1.5; max-width: 1100px; }
.ra-section h3 { font-size: 1.1em; margin: 1.2em 0 0.4em 0; }
.ra-takeaway { border-left: 4px solid #2f5d8a; background: #f4f7fb; padding: 0.5em 1em;
  margin: 0.4em 0 1em 0; border-radius: 0 6px 6px 0; }
.ra-takeaway p { margin: 0.35em 0; }
.ra-tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr));
  gap: 12px; margin: 0.5em 0 1em 0; }
.ra-tile { border: 1px solid #dde3ea; border-radius: 8px; padding: 12px 14px; background: #fff; }
.ra-tile-label { font-size: 0.82em; color: #6b7785; text-transform: uppercase;
  letter-spacing: 0.03em; min-height: 2.4em; }
.ra-tile-value { font-size: 1.9em; font-weight: 600; margin: 0.1em 0; }
.ra-tile-detail { font-size: 0.85em; color: #3e4c59; }
.ra-tile-delta { font-size: 0.85em; margin-top: 0.4em; }
.ra-good { color: #2e7d32; } .ra-bad { color: #b42318; } .ra-flat { color: #6b7785; }
.ra-badge { display: inline-block; font-size: 0.75em; padding: 1px 7px; border-radius: 10px;
  font-weight: 600; text-transform: uppercase; letter-spacing: 0.03em; }
.ra-badge.ra-warn { background: #fff4d6; color: #8a6100; }
.ra-badge.ra-bad { background: #fde8e6; color: #b42318; }
.ra-badge.ra-good { background: #e6f4ea; color: #2e7d32; }
.ra-badge.ra-info { background: #e8eef6; color: #2f5d8a; }
.ra-section table.ra-table { border-collapse: collapse; margin: 0.5em 0 1em 0;
  font-size: 0.9em; width: auto; max-width: 100%; table-layout: auto; }
.ra-section table.ra-table th { text-align: left; border-bottom: 2px solid #c5ccd6;
  padding: 4px 10px; background: #f7f9fb; font-weight: 600; vertical-align: bottom; }
.ra-section table.ra-table td { border-bottom: 1px solid #e6e9ee; padding: 4px 10px;
  vertical-align: top; text-align: left; }
.ra-section table.ra-table td.ra-num, .ra-section table.ra-table th.ra-num {
  text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ra-section table.ra-table caption { caption-side: top; text-align: left; color: #6b7785;
  font-size: 0.9em; padding-bottom: 4px; }
.ra-section table.ra-table tr.ra-row-bad td { background: #fff5f4; }
.ra-section table.ra-table tr.ra-row-warn td { background: #fffbeb; }
.ra-chart { margin: 0.5em 0 1.2em 0; break-inside: avoid; page-break-inside: avoid; }
.ra-grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr));
  gap: 8px 18px; }
.ra-grid2 > * { min-width: 0; overflow: hidden; }
.ra-muted { color: #6b7785; font-size: 0.9em; }
.ra-footer { border-top: 1px solid #dde3ea; margin-top: 2em; padding-top: 0.6em;
  color: #52606d; font-size: 0.85em; }
.ra-footer code, .ra-section code { font-size: 0.92em; background: #f3f5f7; padding: 0 3px;
  border-radius: 3px; }
.ra-verdict { font-size: 1.25em; font-weight: 600; margin: 0.3em 0; }
@media print {
  .ra-section { max-width: none; }
  .modebar-container { display: none !important; }
  .ra-grid2 { grid-template-columns: 1fr; }
  .ra-tiles { grid-template-columns: repeat(3, 1fr); }
  .ra-tile, table.ra-table tr { break-inside: avoid; page-break-inside: avoid; }
}
"""


# A figure drawn before its grid column was laid out keeps the page width; once the page has
# loaded (and before printing), every figure is fitted to its container again.
RESIZE_SCRIPT = """<script>
(function () {
  function fit() {
    if (!window.Plotly) { return; }
    document.querySelectorAll(".js-plotly-plot").forEach(function (p) { Plotly.Plots.resize(p); });
  }
  window.addEventListener("load", fit);
  window.addEventListener("beforeprint", fit);
})();
</script>"""


@dataclass(frozen=True)
class NotebookSetup:
    """What ``setup_notebook`` displays: the report styles and plotly.js, once."""

    renderer: str

    def _repr_html_(self) -> str:
        return f"<style>{STYLE}</style>\n{charts.plotlyjs_script()}\n{RESIZE_SCRIPT}"


def setup_notebook() -> NotebookSetup:
    """Prepare a notebook for report output: set the offline plotly renderer and return an
    object that embeds the report styles and plotly.js once (charts then draw with no network,
    in JupyterLab and in the HTML report). Make it the last expression of the first cell."""
    return NotebookSetup(charts.use_offline_renderer())
