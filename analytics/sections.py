"""Report sections: one function per section of the executive and post-release reports.

A report notebook loads one context (``executive_context`` or ``release_context``) and then calls
one function per section. Each returns a ``Section``, which renders itself in JupyterLab and in
nbconvert HTML (``_repr_html_``). Every string that comes from data goes through
``html.escape``; the text of a section (its takeaway) is generated from the numbers shown, so a
sentence appears only when the data supports it.

Charts come from ``analytics.charts``; call ``setup_notebook()`` once at the top of a notebook:
it embeds plotly.js and the report styles once and sets the offline plotly renderer.
"""

from __future__ import annotations

import html
import math
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl

from analytics import charts
from analytics.comparison import ReleaseComparison, daily_series
from analytics.dora import dora_benchmarks
from analytics.errors import DataError
from analytics.governance import FINDING_CODES, ProcessHealth, process_health
from analytics.io import Dataset, load_dataset
from analytics.kpis import Analysis, MonthlyKpis, analyze, month_range, monthly_kpis, parse_as_of
from analytics.policy import COMPONENTS, TIER_RANK, Policy
from analytics.releases import deployed_in_month, month_expr
from analytics.results import DurationResult, EstimateResult, RateResult
from analytics.risk import GroupRisk, RiskAttribution, risk_attribution
from analytics.rollup import Rollup
from analytics.schemas import VERSION_COLUMNS
from analytics.sequential import DetectionPotential, detection_potentials
from analytics.stats import rate


def trend_months(policy: Policy) -> int:
    """Months in the executive report's trends (policy ``reports.trend_months``)."""
    return int(policy.section("reports")["trend_months"])


def min_trend_n(policy: Policy) -> int:
    """Below this many observations a month-to-month change is called too thin to read as a
    trend (policy ``reports.min_trend_n``)."""
    return int(policy.section("reports")["min_trend_n"])


MAX_FINDINGS_LISTED = 25
DETECTION_LABELS: Mapping[str, str] = {
    "alert": "an alert",
    "canary": "the canary",
    "dashboard": "a dashboard",
    "customer": "a customer",
    "operator": "an operator",
    "audit": "an audit",
}
LATE_DETECTION_SOURCES = ("customer", "audit")  # found outside the release's own monitoring


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


# ---------------------------------------------------------------- number formatting


def fmt_pct(v: float | None) -> str:
    """A share as a percentage: one decimal under 10 %, none above."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.1%}" if 0 < abs(v) < 0.1 else f"{v:.0%}"


def fmt_hours(h: float | None) -> str:
    """Hours: one decimal under 10 h; days added from 48 h."""
    if h is None or (isinstance(h, float) and math.isnan(h)):
        return "n/a"
    text = f"{h:.1f} h" if abs(h) < 10 else f"{h:,.0f} h"
    return f"{text} ({h / 24:.1f} d)" if abs(h) >= 48 else text


def fmt_usd(v: float | None, signed: bool = False) -> str:
    """USD: three decimals under one dollar (per-case costs), two above."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    digits = 3 if abs(v) < 1 else 2
    sign = "+" if signed and v > 0 else ("-" if v < 0 else "")
    return f"{sign}${abs(v):,.{digits}f}"


def fmt_interval(low: float | None, high: float | None, fmt: Any) -> str:
    if low is None or high is None:
        return "interval n/a"
    return f"{fmt(low)} to {fmt(high)}"


MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def month_name(month: str) -> str:
    """``2026-10`` as ``October 2026``."""
    year, mon = month.split("-")
    return f"{MONTH_NAMES[int(mon) - 1]} {year}"


def fmt_time(t: datetime | None) -> str:
    return "n/a" if t is None else t.strftime("%Y-%m-%d %H:%M UTC")


def _rate_text(r: RateResult, unit: str = "releases") -> str:
    if r.value is None:
        return f"no data ({r.message or r.status})"
    return f"{fmt_pct(r.value)} ({r.numerator} of {r.denominator} {unit})"


def _status_note(status: str, message: str) -> Safe | None:
    if status == "ok":
        return None
    label = {"immature": "immature", "insufficient_data": "insufficient data"}.get(status, status)
    return _join([_badge(label, "warn"), " ", message])


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


# ---------------------------------------------------------------- loading


def _as_datetime(as_of: str | datetime) -> datetime:
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            raise DataError("as_of needs a timezone offset")
        return as_of
    return parse_as_of(as_of)


def _systems(systems: str | Sequence[str] | None) -> tuple[str, ...]:
    if systems is None:
        return ()
    if isinstance(systems, str):
        return tuple(s.strip() for s in systems.split(",") if s.strip())
    return tuple(str(s) for s in systems)


def restrict_systems(ds: Dataset, systems: Sequence[str]) -> Dataset:
    """The dataset limited to the releases, incidents and telemetry of ``systems`` (all tables
    that name a release keep only rows of those releases). An empty selection keeps everything;
    an unknown system name is a ``DataError``."""
    if not systems:
        return ds
    known = set(ds.releases["system"].drop_nulls().to_list())
    unknown = sorted(set(systems) - known)
    if unknown:
        raise DataError(
            f"unknown system(s): {', '.join(unknown)}; the dataset has {', '.join(sorted(known))}"
        )
    keep = list(systems)
    releases = ds.releases.filter(pl.col("system").is_in(keep))
    ids = releases["release_id"].implode()

    def by_release(df: pl.DataFrame) -> pl.DataFrame:
        return df.filter(pl.col("release_id").is_in(ids))

    rollup = ds.telemetry_rollup
    if rollup is not None:
        rollup = Rollup(
            cases=rollup.cases.filter(pl.col("system").is_in(keep)),
            latency=rollup.latency.filter(pl.col("system").is_in(keep)),
        )
    return replace(
        ds,
        releases=releases,
        evidence=by_release(ds.evidence),
        gates=by_release(ds.gates),
        rollout_stages=by_release(ds.rollout_stages),
        approvals=by_release(ds.approvals),
        operator_decisions=by_release(ds.operator_decisions),
        incidents=ds.incidents.filter(pl.col("system").is_in(keep)),
        telemetry=None
        if ds.telemetry is None
        else ds.telemetry.filter(pl.col("system").is_in(keep)),
        telemetry_rollup=rollup,
    )


@dataclass(frozen=True)
class Provenance:
    """What a reader needs to render the same report again (the report footer)."""

    data_dir: str
    dataset_fingerprint: str
    policy_source: str
    policy_fingerprint: str
    as_of: datetime
    package_version: str
    parameters: Mapping[str, Any]
    command: str = ""


def _provenance(
    ds: Dataset,
    data_dir: str | Path,
    as_of: datetime,
    parameters: Mapping[str, Any],
    command: Sequence[str],
) -> Provenance:
    from analytics import __version__

    return Provenance(
        command=shlex.join(
            [
                "analytics",
                "report",
                *command,
                "--data",
                str(data_dir),
                "--as-of",
                as_of.isoformat(),
                "--out",
                "reports",
            ]
        ),
        data_dir=str(data_dir),
        dataset_fingerprint=ds.fingerprint,
        policy_source=ds.policy.source,
        policy_fingerprint=ds.policy.fingerprint,
        as_of=as_of,
        package_version=__version__,
        parameters=dict(parameters),
    )


def _failed_ids(analysis: Analysis) -> list[str]:
    return analysis.releases.filter(pl.col("failed").fill_null(False))["release_id"].to_list()


@dataclass(frozen=True)
class ExecutiveContext:
    """Everything the executive report shows for one month, computed once.

    ``history``: the monthly KPIs of the ``reports.trend_months`` months ending with ``month``,
    oldest first (the last one is ``kpis``). ``audit``/``health``: the release-process audit."""

    month: str
    as_of: datetime
    analysis: Analysis
    kpis: MonthlyKpis
    history: tuple[MonthlyKpis, ...]
    audit: pl.DataFrame
    health: ProcessHealth
    risk: RiskAttribution
    detection: Mapping[str, DetectionPotential]
    detection_note: str
    systems: tuple[str, ...]
    provenance: Provenance

    @property
    def previous(self) -> MonthlyKpis | None:
        return self.history[-2] if len(self.history) >= 2 else None

    @property
    def cohort(self) -> pl.DataFrame:
        """The month's deployed releases (rows of ``analysis.releases``)."""
        return deployed_in_month(self.analysis.releases, self.month, self.as_of)

    def _repr_html_(self) -> str:
        scope = ", ".join(self.systems) if self.systems else "all systems"
        sub = (
            f"{self.kpis.releases_deployed} releases deployed in {self.month} · {scope} · "
            f"data as of {fmt_time(self.as_of)}"
        )
        return str(
            _tag(
                "div",
                _join(
                    [
                        _tag("h1", f"AI release report: {month_name(self.month)}"),
                        _p(sub, cls="ra-subtitle"),
                    ]
                ),
                "ra-title ra-report",
            )
        )


def executive_context(
    data_dir: str | Path,
    month: str,
    as_of: str | datetime,
    policy: str | Path | None = None,
    systems: str | Sequence[str] | None = None,
) -> ExecutiveContext:
    """Load ``data_dir`` once and compute the month's KPIs, the 12-month history and the process
    audit as of ``as_of`` (ISO 8601 with offset). ``systems``: restrict to these systems (a list
    or a comma-separated string; None = all)."""
    when = _as_datetime(as_of)
    chosen = _systems(systems)
    ds = restrict_systems(load_dataset(data_dir, policy), chosen)
    months = month_range(month, trend_months(ds.policy))
    analysis = analyze(ds, when, months=months)
    history = tuple(monthly_kpis(analysis, m) for m in months)
    audit = analysis.audit
    health = process_health(audit, analysis.releases, month, when, ds.policy, analysis.incidents)
    window = trend_release_ids(analysis, month)
    risk = risk_attribution(audit, _failed_ids(analysis), ds.policy, release_ids=window)
    cohort_failed = (
        deployed_in_month(analysis.releases, month, when)
        .filter(pl.col("failed").fill_null(False))["release_id"]
        .to_list()
    )
    detection, note = _detection(analysis, cohort_failed)
    params = {
        "month": month,
        "as_of": when.isoformat(),
        "policy": policy,
        "systems": list(chosen) or None,
    }
    return ExecutiveContext(
        month=month,
        as_of=when,
        analysis=analysis,
        kpis=history[-1],
        history=history,
        audit=audit,
        health=health,
        risk=risk,
        detection=detection,
        detection_note=note,
        systems=chosen,
        provenance=_provenance(
            ds,
            data_dir,
            when,
            params,
            [
                "executive",
                "--month",
                month,
                *(["--policy", str(policy)] if policy is not None else []),
                *(["--systems", ",".join(chosen)] if chosen else []),
            ],
        ),
    )


def trend_release_ids(analysis: Analysis, month: str) -> list[str]:
    """Releases deployed in the ``reports.trend_months`` months ending with ``month`` (the cohort of
    the trends and of the risk attribution)."""
    months = month_range(month, trend_months(analysis.dataset.policy))
    return analysis.releases.filter(
        pl.col("month").is_in(months) & (pl.col("released_at") <= analysis.as_of)
    )["release_id"].to_list()


def _detection(
    analysis: Analysis, release_ids: Sequence[str]
) -> tuple[dict[str, DetectionPotential], str]:
    """Detection potential of ``release_ids`` (``analytics.sequential``), reusing the analysis's
    comparisons; the second item is kept for a reason not to compute it (none today)."""
    if not release_ids:
        return {}, ""
    return detection_potentials(
        analysis.rollup,
        analysis.releases,
        list(release_ids),
        analysis.dataset.policy,
        analysis.as_of,
        comparisons=analysis.comparisons,
    ), ""


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
    cfr = k.change_failure_rate
    sig = cfr.extra.get("by_signal", {})
    sig_text = " · ".join(f"{s} {n}" for s, n in sig.items()) if sig else ""
    dora = k.dora_change_failure_rate
    tiles = [
        _tile(
            "Change failure rate (decision quality)",
            fmt_pct(cfr.value),
            [
                f"{cfr.numerator} of {cfr.denominator} releases failed"
                f" · {level} CI {fmt_interval(cfr.ci_low, cfr.ci_high, fmt_pct)}",
                f"failures by signal: {sig_text}" if sig_text else "",
                f"classic DORA CFR {_rate_text(dora)}",
            ],
            _rate_delta(cfr, p.change_failure_rate if p else None, pm, "up"),
            cfr.status,
            cfr.message,
        ),
    ]
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
    ev = k.evidence_completeness
    tiles.append(
        _tile(
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
    )
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
    tiles.append(
        _tile(
            "Unit process cost (USD per case)",
            fmt_usd(uc.mean),
            detail,
            _estimate_delta(uc, p.unit_cost_usd if p else None, pm),
            uc.status,
            uc.message if uc.mean is not None else "",
        )
    )
    takeaway = [_headline_sentence(ctx)]
    if k.immature_releases:
        takeaway.append(
            f"{len(k.immature_releases)} of the {k.releases_deployed} releases are still inside "
            "their observation or attribution window: these figures can still rise."
        )
    return _section("headline", takeaway, _tag("div", _join(tiles), "ra-tiles"))


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
    h = ctx.history
    months = [m.month for m in h]
    alpha = ctx.analysis.dataset.policy.alpha
    level = 1 - alpha
    figs = [
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
    takeaway = []
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
    grid = _tag(
        "div",
        Safe("".join(f'<div class="ra-chart">{charts.figure_html(f)}</div>' for f in figs[1:3])),
        "ra-grid2",
    )
    return Section("trends", (figs[0], grid, figs[3], figs[4]), tuple(takeaway))


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


# ---------------------------------------------------------------- executive: failed releases


def _release_incidents(analysis: Analysis, release_id: str) -> pl.DataFrame:
    return analysis.incidents.filter(pl.col("attributed_release_id") == release_id).sort(
        "detected_at", "incident_id", nulls_last=True
    )


def detection_path(analysis: Analysis, release: Mapping[str, Any]) -> str:
    """How a failed release was first detected, in words: the incident (and its detection
    source), the halted or rolled-back rollout stage, or the operator decision whose time is the
    release's ``detected_at``; a failure seen only in telemetry is 'not detected yet'."""
    ds = analysis.dataset
    at = release.get("detected_at")
    rid = release["release_id"]
    if at is None:
        if release.get("signal_telemetry"):
            return "found only by telemetry analysis: not detected in operation yet"
        return "no detection recorded"
    inc = _release_incidents(analysis, rid).filter(
        pl.col("detection_valid") & (pl.col("detected_at") == at)
    )
    if inc.height:
        r = inc.row(0, named=True)
        src = DETECTION_LABELS.get(r["detection_source"] or "", "an unrecorded source")
        return f"incident {r['incident_id']} ({r['severity']}, {r['category']}) raised by {src}"
    st = ds.rollout_stages.filter(
        (pl.col("release_id") == rid)
        & (pl.col("ended_at") == at)
        & pl.col("decision").is_in(["halt", "rollback"])
    )
    if st.height:
        r = st.row(0, named=True)
        who = f" by {r['decided_by']}" if r["decided_by"] else ""
        return f"rollout stage {r['stage']} ({r['traffic_pct']:g} %) {r['decision']}{who}"
    op = ds.operator_decisions.filter((pl.col("release_id") == rid) & (pl.col("decided_at") == at))
    if op.height:
        r = op.row(0, named=True)
        return f"operator {r['operator']} decided {r['action']}"
    return "detected (source not recorded)"


def _mitigation_text(inc: pl.DataFrame, as_of: datetime) -> str:
    dq = inc.filter(pl.col("dq_impact") & pl.col("detected_at").is_not_null())
    if dq.height == 0:
        return "no decision-quality incident"
    out = []
    for r in dq.iter_rows(named=True):
        if r["mitigated_by_as_of"] and not r["_mttm_invalid"]:
            h = (r["mitigated_at"] - r["detected_at"]).total_seconds() / 3600
            out.append(f"{r['incident_id']}: {fmt_hours(h)} ({r['mitigation'] or 'no type'})")
        elif r["_mttm_invalid"]:
            out.append(f"{r['incident_id']}: invalid mitigation time")
        else:
            h = (as_of - r["detected_at"]).total_seconds() / 3600
            out.append(f"{r['incident_id']}: open, {fmt_hours(h)} so far")
    return "; ".join(out)


def failed_releases(ctx: ExecutiveContext) -> Section:
    """The month's failed releases (CFR-DQ): what changed, which signals fired, how and when the
    failure was detected, and how long mitigation took (open incidents counted to ``as_of``)."""
    cohort = ctx.cohort
    failed = cohort.filter(pl.col("failed").fill_null(False))
    if failed.height == 0:
        text = (
            f"No release deployed in {ctx.month} degraded decision quality as of "
            f"{fmt_time(ctx.as_of)}."
            if cohort.height
            else f"No release was deployed in {ctx.month}."
        )
        return _section("failed_releases", [text])
    rows = []
    for r in failed.iter_rows(named=True):
        inc = _release_incidents(ctx.analysis, r["release_id"])
        tier = r["effective_tier"]
        if r["declared_tier"] != tier:
            tier = f"{r['declared_tier']} declared → {tier}"
        rows.append(
            [
                Safe(f"<code>{_h(r['release_id'])}</code><br>{_h(r['system'])}"),
                r.get("summary") or "",
                ", ".join(r["changed_components"] or []) or "nothing",
                tier,
                ", ".join(r["failure_signals"] or []),
                detection_path(ctx.analysis, r),
                fmt_hours(r["detection_hours"]),
                *([_detectable_text(ctx.detection.get(r["release_id"]))] if ctx.detection else []),
                _mitigation_text(inc, ctx.as_of),
            ]
        )
    headers = [
        "release",
        "summary",
        "changed",
        "tier",
        "signals",
        "detected by",
        "time to detect",
        *(["visible in telemetry after"] if ctx.detection else []),
        "time to mitigate",
    ]
    table = _table(headers, rows, numeric=(6,))
    late = failed.filter(pl.col("detected_at").is_null())
    takeaway = [
        f"{failed.height} of {cohort.height} releases deployed in {ctx.month} failed by "
        f"decision quality."
    ]
    detected = failed.filter(pl.col("detection_hours").is_not_null())
    if detected.height == 1:
        only = detected.row(0, named=True)
        takeaway.append(
            f"Detection took {fmt_hours(only['detection_hours'])} ({only['release_id']})."
        )
    elif detected.height:
        slowest = detected.sort("detection_hours", descending=True).row(0, named=True)
        median = float(detected["detection_hours"].median())  # type: ignore[arg-type]
        takeaway.append(
            f"Detection took a median {fmt_hours(median)}; the slowest "
            f"{fmt_hours(slowest['detection_hours'])} "
            f"({slowest['release_id']})."
        )
    if late.height:
        takeaway.append(
            f"{late.height} failure(s) have no operational detection yet: "
            f"{', '.join(late['release_id'].to_list())}."
        )
    takeaway += _detection_summary(ctx, failed)
    note = _p(ctx.detection_note, cls="ra-muted") if ctx.detection_note else None
    return _section("failed_releases", takeaway, table, note)


def _detectable_text(dp: DetectionPotential | None) -> str:
    if dp is None:
        return "n/a"
    if dp.detectable_after_hours is not None:
        return f"{fmt_hours(dp.detectable_after_hours)} ({(dp.metric or '').replace('_', ' ')})"
    if dp.status == "insufficient_data":
        return "too few cases to tell"
    return "not visible beyond the margin"


def _detection_summary(ctx: ExecutiveContext, failed: pl.DataFrame) -> list[str]:
    """How much earlier an always-valid test on the telemetry could have seen the month's
    telemetry-visible failures than they were actually detected."""
    pairs = []
    for r in failed.iter_rows(named=True):
        dp = ctx.detection.get(r["release_id"])
        if dp is not None and dp.detectable_after_hours is not None:
            pairs.append((r["release_id"], dp.detectable_after_hours, r["detection_hours"]))
    if not pairs:
        return []
    both = [(v, d) for _, v, d in pairs if d is not None]
    visible = [v for _, v, _ in pairs]
    if len(pairs) == 1:
        rid, v, d = pairs[0]
        text = (
            f"{rid}'s degradation was statistically visible in the telemetry (always-valid "
            f"confidence sequence) {fmt_hours(v)} after release"
        )
        if d is not None:
            gap = d - v
            text += f"; it was detected after {fmt_hours(d)}" + (
                f", {fmt_hours(gap)} later" if gap > 0 else ""
            )
        return [text + "."]
    text = (
        f"{len(pairs)} of the {failed.height} failures were statistically visible in the "
        f"telemetry (always-valid confidence sequence) after a median of "
        f"{fmt_hours(_median(visible))}"
    )
    if both:
        lag = _median([d - v for v, d in both])
        text += f"; detection came a median {fmt_hours(abs(lag))} " + (
            "later" if lag >= 0 else "earlier"
        )
    return [text + "."]


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


# ---------------------------------------------------------------- executive: risk attribution


def risk(ctx: ExecutiveContext) -> Section:
    """Where failures concentrate over the 12 months ending with the month: failure rate of the
    releases that changed each component, of each effective tier, with each process gap and
    each audit finding, against the rest (risk ratio with interval), and the logistic
    regression's adjusted ratios, with their caveats (``analytics.risk``)."""
    ra_ = ctx.risk
    months = month_range(ctx.month, trend_months(ctx.analysis.dataset.policy))
    span = f"{months[0]} to {months[-1]}"
    if ra_.n == 0:
        return _section("risk", [f"No release was deployed from {span}."])
    takeaway = [
        f"{ra_.failures} of {ra_.n} releases deployed from {span} failed by decision quality."
    ]
    rated = [g for g in ra_.groups if g.status == "ok" and g.risk_ratio is not None]
    clear = sorted(
        (g for g in rated if (g.ci_low or 0) > 1), key=lambda g: (-(g.risk_ratio or 0), g.group)
    )
    if clear:
        takeaway += [g.sentence for g in clear[:4]]
    elif rated:
        takeaway.append(
            "No component, tier, process gap or finding goes with a failure rate "
            "whose interval lies clearly above the rest."
        )
    reg = ctx.risk.regression
    if reg.status == "ok" and reg.sentences:
        takeaway += list(reg.sentences)
    elif reg.message:
        takeaway.append(f"Adjusted model: {reg.message}.")
    order = {"process": 0, "component": 1, "tier": 2, "finding": 3}
    # A finding none of whose releases failed says little (its ratio comes from the continuity
    # correction of an empty cell), so findings are listed only with at least one failure.
    shown = [g for g in rated if g.dimension != "finding" or g.exposed.numerator > 0]
    rows, classes = [], []
    for g in sorted(shown, key=lambda g: (order.get(g.dimension, 9), -(g.risk_ratio or 0))):
        rows.append(
            [
                g.dimension,
                _group_label(g),
                f"{g.exposed.numerator} of {g.exposed.denominator} ({fmt_pct(g.exposed.value)})",
                f"{g.others.numerator} of {g.others.denominator} ({fmt_pct(g.others.value)})",
                f"{g.risk_ratio:.1f}",
                f"{g.ci_low:.1f} to {g.ci_high:.1f}",
            ]
        )
        classes.append("ra-row-bad" if (g.ci_low or 0) > 1 else "")
    table = _table(
        ["kind", "releases", "failed", "others failed", "risk ratio", "interval"],
        rows,
        numeric=(4, 5),
        row_classes=classes,
        caption="Failure rate of each group against all other releases (Katz "
        "interval of the ratio); shaded: interval above 1; audit findings "
        "listed when at least one of their releases failed",
    )
    adj = (
        _table(
            ["process gap", "adjusted risk ratio", "interval"],
            [
                [a.label, f"{a.risk_ratio:.1f}", f"{a.ci_low:.1f} to {a.ci_high:.1f}"]
                for a in reg.adjusted
            ],
            numeric=(1, 2),
            caption=f"Logistic regression (n {reg.n}, {reg.failures} failures), adjusted "
            "for the other terms",
        )
        if reg.adjusted
        else None
    )
    caveats = _ul(list(reg.caveats), cls="ra-muted") if reg.caveats else None
    return _section("risk", takeaway, table, adj, caveats)


def _group_label(g: GroupRisk) -> str:
    return g.label.removeprefix("Releases ").removeprefix("that ")


# ---------------------------------------------------------------- executive: process health


def _health_rate_row(label: str, r: RateResult) -> list[Any]:
    note = r.message if r.status != "ok" else ""
    return [
        label,
        fmt_pct(r.value),
        f"{r.numerator} of {r.denominator}",
        fmt_interval(r.ci_low, r.ci_high, fmt_pct),
        note,
    ]


def process_audit(ctx: ExecutiveContext) -> Section:
    """Process health of the month from the release-process audit: path compliance per tier,
    misclassification, stop conditions ignored, gate escapes, single accountable owner, train
    compliance, observability linkage and the anti-patterns, with the releases behind them."""
    h = ctx.health
    if h.releases == 0:
        return _section("process_audit", [f"No release was deployed in {ctx.month}."])
    rows = [_health_rate_row("path compliance (all tiers)", h.path_compliance)]
    for tier in sorted(h.path_compliance_by_tier, key=lambda t: -TIER_RANK.get(t, -1)):
        r = h.path_compliance_by_tier[tier]
        if r.denominator:
            rows.append(_health_rate_row(f"path compliance, {tier} tier", r))
    rows += [
        _health_rate_row("misclassified (declared tier too low)", h.misclassification_rate),
        _health_rate_row(
            "gate escapes (failed releases that passed every gate)", h.gate_escape_rate
        ),
        _health_rate_row("single accountable owner", h.single_owner_share),
        _health_rate_row("release-train compliance", h.train_compliance),
        _health_rate_row("observability linkage", h.observability_linkage),
    ]
    stop = h.stop_conditions_ignored
    rows.append(
        [
            "stop conditions ignored",
            str(stop.count),
            f"{len(stop.release_ids)} releases",
            "",
            ", ".join(stop.release_ids),
        ]
    )
    table = _table(["check", "value", "counts", "interval", "note / releases"], rows, numeric=(1,))
    anti_rows = [
        [ap.description, ap.count, ", ".join(ap.release_ids or ap.incident_ids), ap.message]
        for ap in h.anti_patterns.values()
    ]
    anti = _table(
        ["anti-pattern", "count", "behind it", "note"],
        anti_rows,
        numeric=(1,),
        caption="Anti-patterns, counted this month",
    )
    severity_rank = {"critical": 0, "major": 1, "minor": 2}
    ordered = sorted(
        h.findings.items(),
        key=lambda kv: (severity_rank.get(FINDING_CODES[kv[0]].severity, 3), -len(kv[1]), kv[0]),
    )
    find_rows = [
        [
            FINDING_CODES[c].severity,
            c,
            FINDING_CODES[c].sentence,
            len(ids),
            ", ".join(ids[:8]) + (f" and {len(ids) - 8} more" if len(ids) > 8 else ""),
        ]
        for c, ids in ordered
    ]
    findings = (
        _table(
            ["severity", "finding", "meaning", "releases", "which"],
            find_rows,
            numeric=(3,),
            caption="Audit findings of the month's releases",
        )
        if find_rows
        else _p("The audit found nothing in this month's releases.")
    )
    return _section(
        "process_audit", h.sentences() or ["The audit found no process gap."], table, anti, findings
    )


# ---------------------------------------------------------------- executive: data quality


def data_quality(ctx: ExecutiveContext | ReleaseContext) -> Section:
    """Data-quality findings of the whole dataset: rows read, loaded and excluded per table,
    values left out, and every finding (table, line or row, id, column, message)."""
    q = ctx.analysis.quality
    rows = []
    for t in sorted(q.rows_read):
        excl = q.rows_excluded.get(t, {})
        rows.append(
            [
                t,
                q.rows_read[t],
                q.rows_loaded.get(t, 0),
                sum(excl.values()),
                ", ".join(f"{k}: {v}" for k, v in sorted(excl.items())),
            ]
        )
    counts = _table(
        ["table", "rows read", "rows loaded", "rows excluded", "why excluded"],
        rows,
        numeric=(1, 2, 3),
    )
    vals = {k: v for k, v in q.values_excluded.items() if v}
    values = (
        _table(["table.column", "values left out (row kept)"], sorted(vals.items()), numeric=(1,))
        if vals
        else None
    )
    by_code: dict[tuple[str, str, str], int] = {}
    for f in q.findings:
        key = (f.severity, f.table, f.code)
        by_code[key] = by_code.get(key, 0) + 1
    summary = (
        _table(
            ["severity", "table", "code", "findings"],
            [[*k, n] for k, n in sorted(by_code.items())],
            numeric=(3,),
            caption="Findings by kind",
        )
        if by_code
        else None
    )
    listed = sorted(q.findings, key=lambda f: (f.severity != "error", f.table, f.row or 0))
    shown = listed[:MAX_FINDINGS_LISTED]
    detail = (
        _table(
            ["severity", "where", "message"],
            [[f.severity, f.where(), f.message] for f in shown],
            caption=(
                f"First {len(shown)} of {len(listed)} findings"
                if len(listed) > len(shown)
                else "All findings"
            ),
            row_classes=["ra-row-bad" if f.severity == "error" else "ra-row-warn" for f in shown],
        )
        if shown
        else None
    )
    n_err, n_warn = len(q.errors), len(q.warnings)
    excluded = sum(sum(v.values()) for v in q.rows_excluded.values())
    if not q.findings:
        takeaway = ["The dataset loaded without a single data-quality finding."]
    else:
        takeaway = [
            f"{n_err} error(s) and {n_warn} warning(s) in the dataset; {excluded} row(s) "
            "were left out and every exclusion is counted below, so totals reconcile."
            if q.reconciles()
            else f"{n_err} error(s) and {n_warn} warning(s) in the dataset; the row counts "
            "below do NOT reconcile."
        ]
    return _section("data_quality", takeaway, counts, values, summary, detail)


# ---------------------------------------------------------------- executive: takeaway


@dataclass(frozen=True)
class Takeaway:
    """The executive takeaway: what changed, why it matters, what to decide (each a list of
    sentences generated from the month's numbers)."""

    changed: tuple[str, ...]
    matters: tuple[str, ...]
    decide: tuple[str, ...]


def _change_sentence(
    name: str, cur: RateResult, prev: RateResult | None, prev_month: str
) -> str | None:
    if prev is None or prev.value is None or cur.value is None:
        return None
    diff = cur.value - prev.value
    if diff == 0:
        return f"{name} held at {fmt_pct(cur.value)} ({cur.numerator} of {cur.denominator})."
    verb = "rose" if diff > 0 else "fell"
    ov = _overlap(cur.ci_low, cur.ci_high, prev.ci_low, prev.ci_high)
    tail = (
        " The intervals overlap, so the change may be noise."
        if ov
        else " The intervals do not overlap."
        if ov is False
        else ""
    )
    return (
        f"{name} {verb} from {fmt_pct(prev.value)} ({prev.numerator} of {prev.denominator}) "
        f"in {prev_month} to {fmt_pct(cur.value)} ({cur.numerator} of {cur.denominator})." + tail
    )


def takeaway_points(ctx: ExecutiveContext) -> Takeaway:
    """Generate the executive takeaway from the month's numbers. Every sentence is conditional
    on the data behind it: nothing is said about a KPI without a value."""
    k, p = ctx.kpis, ctx.previous
    pm = p.month if p else ""
    cohort = ctx.cohort
    failed = cohort.filter(pl.col("failed").fill_null(False))
    changed: list[str] = []
    if p is not None:
        changed.append(
            f"{k.releases_deployed} releases were deployed in {ctx.month} "
            f"against {p.releases_deployed} in {pm}."
        )
        for name, cur, prev in (
            (
                "The change failure rate by decision quality",
                k.change_failure_rate,
                p.change_failure_rate,
            ),
            ("Evidence completeness", k.evidence_completeness, p.evidence_completeness),
        ):
            s = _change_sentence(name, cur, prev, pm)
            if s:
                changed.append(s)
        for name, cur_d, prev_d in (
            ("Median time to detect", k.mttd_hours, p.mttd_hours),
            ("Median time to mitigate", k.mttm_hours, p.mttm_hours),
        ):
            if cur_d.median is not None and prev_d.median is not None:
                verb = (
                    "rose"
                    if cur_d.median > prev_d.median
                    else "fell"
                    if cur_d.median < prev_d.median
                    else "held"
                )
                thin = (
                    " Too few to read as a trend."
                    if min(cur_d.n, prev_d.n) < min_trend_n(ctx.analysis.dataset.policy)
                    else ""
                )
                changed.append(
                    f"{name} {verb}: {fmt_hours(prev_d.median)} (n {prev_d.n}) → "
                    f"{fmt_hours(cur_d.median)} (n {cur_d.n}).{thin}"
                )
        uc, puc = k.unit_cost_usd, p.unit_cost_usd
        if uc.mean is not None and puc.mean is not None and puc.mean:
            rel = (uc.mean - puc.mean) / puc.mean
            if _overlap(uc.ci_low, uc.ci_high, puc.ci_low, puc.ci_high) is False:
                verb = "rose" if rel > 0 else "fell"
                changed.append(
                    f"Unit process cost {verb} {abs(rel):.1%}: {fmt_usd(puc.mean)} → "
                    f"{fmt_usd(uc.mean)} per case; the intervals do not overlap."
                )
            else:
                changed.append(
                    f"Unit process cost held within noise: {fmt_usd(puc.mean)} → "
                    f"{fmt_usd(uc.mean)} per case ({rel:+.1%}, intervals overlap)."
                )
    elif k.releases_deployed:
        changed.append(
            f"{k.releases_deployed} releases were deployed in {ctx.month}; there is "
            "no earlier month in the data to compare with."
        )
    matters: list[str] = []
    decide: list[str] = []
    ids = lambda df: ", ".join(df["release_id"].to_list())  # noqa: E731
    if failed.height:
        matters.append(f"{failed.height} release(s) degraded decision quality: {ids(failed)}.")
        miscl = failed.filter(pl.col("misclassified").fill_null(False))
        if miscl.height:
            matters.append(
                f"{miscl.height} of them {'was' if miscl.height == 1 else 'were'} declared "
                "at a lower risk tier than "
                f"their changed components imply ({ids(miscl)}), so they skipped "
                "part of the path their risk required."
            )
        incomplete = failed.filter(~pl.col("evidence_complete").fill_null(True))
        if incomplete.height:
            matters.append(
                f"{incomplete.height} of them shipped without the evidence their "
                f"tier requires ({ids(incomplete)})."
            )
        undetected = failed.filter(pl.col("detected_at").is_null())
        if undetected.height:
            matters.append(
                f"{undetected.height} failure(s) were found only by telemetry "
                f"analysis and have not been detected in operation ({ids(undetected)})."
            )
    elif cohort.height:
        matters.append(
            f"No release of {ctx.month} degraded decision quality as of {fmt_time(ctx.as_of)}."
        )
    inc = ctx.analysis.incidents.filter(
        pl.col("attributed_release_id").is_in(cohort["release_id"].implode())
    )
    late = inc.filter(pl.col("detection_source").is_in(LATE_DETECTION_SOURCES))
    if late.height:
        src = ", ".join(sorted(set(late["detection_source"].to_list())))
        matters.append(
            f"{late.height} of the month's {inc.height} attributed incidents were "
            f"found by {src} rather than by the release's own monitoring."
        )
        decide.append(
            f"Invest in detection: {late.height} incident(s) surfaced through {src}; "
            "decide which canary metric or alert should have caught them."
        )
    open_inc = inc.filter(~pl.col("mitigated_by_as_of") & pl.col("dq_impact"))
    if open_inc.height:
        matters.append(
            f"{open_inc.height} decision-quality incident(s) are still open at "
            f"{fmt_time(ctx.as_of)}: "
            f"{', '.join(open_inc['incident_id'].to_list())}."
        )
        decide.append(f"Assign an owner and a deadline to the {open_inc.height} open incident(s).")
    if k.immature_releases:
        matters.append(
            f"{len(k.immature_releases)} release(s) are still inside their observation "
            "window, so this month's failure rate can still rise."
        )
    miscl_all = cohort.filter(pl.col("misclassified").fill_null(False))
    if miscl_all.height:
        failed_share = miscl_all.filter(pl.col("failed").fill_null(False)).height
        decide.append(
            f"Enforce the implied risk tier at release time: {miscl_all.height} "
            f"release(s) were declared below it ({ids(miscl_all)}), {failed_share} of "
            "which failed."
        )
    incomplete_all = cohort.filter(~pl.col("evidence_complete").fill_null(True))
    if incomplete_all.height:
        decide.append(
            f"Decide whether releases may ship with required evidence missing: "
            f"{incomplete_all.height} of {cohort.height} did this month."
        )
    h = ctx.health
    if h.stop_conditions_ignored.count:
        decide.append(
            f"Hold rollouts to their stop conditions: {h.stop_conditions_ignored.count} "
            f"were ignored ({', '.join(h.stop_conditions_ignored.release_ids)})."
        )
    if h.gate_escape_rate.numerator:
        decide.append(
            f"Review the gates: {h.gate_escape_rate.numerator} failed release(s) had "
            "passed every required gate."
        )
    if not decide:
        decide.append(
            "Nothing in this month's numbers calls for a decision: no failed release "
            "was misclassified or short of evidence, and no incident is open."
        )
    return Takeaway(tuple(changed), tuple(matters), tuple(decide))


def executive_takeaway(ctx: ExecutiveContext) -> Section:
    """The executive takeaway: what changed, why it matters, what to decide, written from the
    numbers of the month (see ``takeaway_points``)."""
    t = takeaway_points(ctx)
    parts = []
    for head, items in (
        ("What changed", t.changed),
        ("Why it matters", t.matters),
        ("What to decide", t.decide),
    ):
        if items:
            parts.append(_tag("h3", head))
            parts.append(_ul(items))
    return _section("executive_takeaway", [], _tag("div", _join(parts), "ra-takeaway"))


# ---------------------------------------------------------------- footer


def reproducibility(ctx: ExecutiveContext | ReleaseContext) -> Section:
    """The report footer: dataset fingerprint, policy (source and fingerprint), ``as_of``, the
    package version and the parameters, so anyone can render the same report again."""
    pv = ctx.provenance
    params = ", ".join(f"{k} = {v}" for k, v in pv.parameters.items() if v is not None)
    rows = [
        Safe(
            f"Dataset <code>{_h(pv.data_dir)}</code>, fingerprint "
            f"<code>{_h(pv.dataset_fingerprint)}</code>"
        ),
        Safe(
            f"Policy <code>{_h(pv.policy_source)}</code>, fingerprint "
            f"<code>{_h(pv.policy_fingerprint)}</code>"
        ),
        Safe(
            f"As of <code>{_h(pv.as_of.isoformat())}</code> · analytics "
            f"<code>{_h(pv.package_version)}</code>"
        ),
        Safe(f"Parameters: {_h(params)}"),
        Safe(f"Render again: <code>{_h(pv.command)}</code>"),
    ]
    body = _join(_tag("div", r) for r in rows)
    return Section("reproducibility", (_tag("footer", body, "ra-footer"),))


# ---------------------------------------------------------------- post-release review


@dataclass(frozen=True)
class ReleaseContext:
    """Everything the post-release review shows for one release, as known at ``as_of``."""

    release_id: str
    as_of: datetime
    analysis: Analysis
    release: Mapping[str, Any]
    previous: Mapping[str, Any] | None
    audit: Mapping[str, Any]
    evidence: pl.DataFrame
    gates: pl.DataFrame
    stages: pl.DataFrame
    approvals: pl.DataFrame
    incidents: pl.DataFrame
    decisions: pl.DataFrame
    comparison: ReleaseComparison | None  # None: not compared (see ``version_comparison``)
    detection: DetectionPotential | None
    detection_note: str
    provenance: Provenance

    @property
    def policy(self):  # noqa: ANN201
        return self.analysis.dataset.policy

    @property
    def tier_policy(self):  # noqa: ANN201
        return self.policy.tiers[self.release["effective_tier"]]

    def _repr_html_(self) -> str:
        r = self.release
        sub = (
            f"{r['system']} · released {fmt_time(r['released_at'])} · effective tier "
            f"{r['effective_tier']} · accountable owner {r.get('accountable_owner') or 'none'}"
            f" · data as of {fmt_time(self.as_of)}"
        )
        parts = [
            _tag("h1", Safe(f"Post-release review: <code>{_h(self.release_id)}</code>")),
            _p(sub, cls="ra-subtitle"),
        ]
        if r.get("summary"):
            parts.append(_p(Safe(f"<b>Summary:</b> {_h(r['summary'])}")))
        return str(_tag("div", _join(parts), "ra-title ra-report"))


def release_context(
    data_dir: str | Path,
    release_id: str,
    as_of: str | datetime,
    policy: str | Path | None = None,
) -> ReleaseContext:
    """Load ``data_dir`` and gather what the review of ``release_id`` needs, as of ``as_of``.
    An unknown release id is a ``DataError``."""
    when = _as_datetime(as_of)
    ds = load_dataset(data_dir, policy)
    mine_raw = ds.releases.filter(pl.col("release_id") == release_id)
    if mine_raw.height == 0:
        raise DataError(f"release '{release_id}' is not in the releases table of {data_dir}")
    # The version comparison, the costly step, runs for the release's own month only.
    months = mine_raw.select(month_expr("released_at", ds.policy.timezone)).drop_nulls()
    analysis = analyze(ds, when, months=months.to_series().to_list())
    row = analysis.releases.filter(pl.col("release_id") == release_id).row(0, named=True)
    prev = None
    if row["previous_release_id"] is not None:
        prev = analysis.releases.filter(pl.col("release_id") == row["previous_release_id"]).row(
            0, named=True
        )
    audit = analysis.audit.filter(pl.col("release_id") == release_id).row(0, named=True)

    def mine(df: pl.DataFrame) -> pl.DataFrame:
        return df.filter(pl.col("release_id") == release_id)

    known = analysis.dataset  # the event tables as known at as_of (analytics.asof)

    params = {"release_id": release_id, "as_of": when.isoformat(), "policy": policy}
    detection, note = _detection(analysis, [release_id] if row["deployed"] else [])
    return ReleaseContext(
        release_id=release_id,
        as_of=when,
        analysis=analysis,
        release=row,
        previous=prev,
        audit=audit,
        evidence=mine(ds.evidence).sort("item", "_row"),
        gates=mine(known.gates).sort("gate", "evaluated_at", nulls_last=True),
        stages=mine(known.rollout_stages).sort("stage", "started_at", nulls_last=True),
        approvals=mine(known.approvals).sort("decided_at", "_row", nulls_last=True),
        incidents=_release_incidents(analysis, release_id),
        decisions=mine(known.operator_decisions).sort("decided_at", "_row", nulls_last=True),
        comparison=analysis.comparisons.get(release_id),
        detection=detection.get(release_id),
        detection_note=note,
        provenance=_provenance(
            ds,
            data_dir,
            when,
            params,
            [
                "post-release",
                "--release",
                release_id,
                *(["--policy", str(policy)] if policy is not None else []),
            ],
        ),
    )


def _implied_by(ctx: ReleaseContext) -> list[str]:
    cmt = ctx.policy.component_min_tier
    implied = ctx.release["implied_tier"]
    return [c for c in ctx.release["changed_components"] or [] if cmt.get(c) == implied]


def release_diff(ctx: ReleaseContext) -> Section:
    """The release unit against the previous release of the same system: the seven component
    versions side by side, what changed and the minimum tier each change implies."""
    r, prev = ctx.release, ctx.previous
    changed = set(r["changed_components"] or [])
    cmt = ctx.policy.component_min_tier
    rows, classes = [], []
    for comp, col in zip(COMPONENTS, VERSION_COLUMNS, strict=True):
        is_changed = comp in changed
        rows.append(
            [
                comp,
                prev[col] if prev else "(first release)",
                r[col],
                "changed" if is_changed else "",
                cmt.get(comp, "") if is_changed else "",
            ]
        )
        classes.append("ra-row-warn" if is_changed else "")
    prev_label = f"previous: {prev['release_id']}" if prev else "previous: none"
    table = _table(
        ["component", prev_label, f"this release: {ctx.release_id}", "", "implies tier"],
        rows,
        row_classes=classes,
    )
    if prev is None:
        takeaway = [
            f"{ctx.release_id} is the first release of {r['system']}: it changed every component."
        ]
    elif not changed:
        takeaway = [
            f"{ctx.release_id} changed no component against {prev['release_id']} "
            f"(released {fmt_time(prev['released_at'])})."
        ]
    else:
        takeaway = [
            f"{ctx.release_id} changed {', '.join(sorted(changed, key=COMPONENTS.index))}"
            f" against {prev['release_id']} (released {fmt_time(prev['released_at'])}), "
            f"which implies tier {r['implied_tier']}"
            f" (set by {', '.join(_implied_by(ctx))})."
        ]
    return _section("release_diff", takeaway, table)


def _status_badge(ok: bool | None, yes: str = "ok", no: str = "gap") -> Safe:
    if ok is None:
        return _badge("not decidable yet", "warn")
    return _badge(yes, "good") if ok else _badge(no, "bad")


def release_path(ctx: ReleaseContext) -> Section:
    """The path the effective tier required against what happened: tier (declared, implied,
    effective), evidence, gates, rollout stages with their stop conditions, approvals and the
    single accountable owner, with the audit's findings."""
    r, a, tp = ctx.release, ctx.audit, ctx.tier_policy
    tier = r["effective_tier"]
    parts: list[Any] = []
    # tier
    tier_line = (
        f"Declared {r['declared_tier']}, implied {r['implied_tier']} by the changed "
        f"components, effective {tier}."
    )
    tier_badge = (
        _status_badge(not r["misclassified"], "as declared", "misclassified")
        if r["misclassified"] is not None
        else ""
    )
    parts += [_tag("h3", Safe(f"Risk tier {tier_badge}")), _p(tier_line)]
    # evidence
    ev = ctx.evidence
    ev_rows, ev_cls = [], []
    for item in tp.required_evidence:
        rows = ev.filter(pl.col("item") == item)
        if rows.height == 0:
            ev_rows.append([item, "required", "no record", "", ""])
            ev_cls.append("ra-row-bad")
            continue
        for e in rows.iter_rows(named=True):
            ok = e["status"] == "present" or (e["status"] == "waived" and e["approved_by"])
            ev_rows.append([item, "required", e["status"], e["approved_by"] or "", e["uri"] or ""])
            ev_cls.append("" if ok else "ra-row-bad")
    for e in ev.filter(~pl.col("item").is_in(list(tp.required_evidence))).iter_rows(named=True):
        ev_rows.append([e["item"], "extra", e["status"], e["approved_by"] or "", e["uri"] or ""])
        ev_cls.append("")
    parts += [
        _tag("h3", Safe(f"Evidence {_status_badge(a.get('evidence_ok'))}")),
        _table(["item", "", "status", "approved by", "uri"], ev_rows, row_classes=ev_cls)
        if ev_rows
        else _p(f"Tier {tier} requires no evidence and none is recorded."),
    ]
    # gates
    g = ctx.gates
    g_rows, g_cls = [], []
    for gate in tp.required_gates:
        rows = g.filter(pl.col("gate") == gate)
        if rows.height == 0:
            g_rows.append([gate, "required", "no record", "", "", ""])
            g_cls.append("ra-row-bad")
        for e in rows.iter_rows(named=True):
            g_rows.append(
                [
                    gate,
                    "required",
                    e["result"],
                    fmt_time(e["evaluated_at"]),
                    e["metric"] or "",
                    _value_vs(e["value"], e["threshold"]),
                ]
            )
            g_cls.append("" if e["result"] == "pass" else "ra-row-bad")
    for e in g.filter(~pl.col("gate").is_in(list(tp.required_gates))).iter_rows(named=True):
        g_rows.append(
            [
                e["gate"],
                "extra",
                e["result"],
                fmt_time(e["evaluated_at"]),
                e["metric"] or "",
                _value_vs(e["value"], e["threshold"]),
            ]
        )
        g_cls.append("ra-row-bad" if e["result"] == "fail" else "")
    parts += [
        _tag("h3", Safe(f"Gates {_status_badge(a.get('gates_ok'))}")),
        _table(
            ["gate", "", "result", "evaluated", "metric", "value / threshold"],
            g_rows,
            row_classes=g_cls,
        )
        if g_rows
        else _p(f"Tier {tier} requires no gate and none is recorded."),
    ]
    # rollout
    plan = ", ".join(f"{p:g} %" for p in tp.rollout_plan) or "none"
    st = ctx.stages
    s_rows, s_cls = [], []
    for e in st.iter_rows(named=True):
        ignored = bool(e["stop_condition_met"]) and e["decision"] == "advance"
        s_rows.append(
            [
                e["stage"],
                f"{e['traffic_pct']:g} %" if e["traffic_pct"] is not None else "",
                e["segment"] or "all",
                fmt_time(e["started_at"]),
                fmt_time(e["ended_at"]) if e["ended_at"] else "open",
                e["decision"] or ("" if e["ended_at"] else "pending"),
                e["decided_by"] or "",
                "yes, ignored" if ignored else ("yes" if e["stop_condition_met"] else "no"),
            ]
        )
        s_cls.append(
            "ra-row-bad" if ignored else ("ra-row-warn" if e["stop_condition_met"] else "")
        )
    skipped = a.get("skipped_steps") or []
    rollout_text = [f"Planned steps for tier {tier}: {plan}."]
    if skipped:
        rollout_text.append(f"Skipped steps: {', '.join(f'{s:g} %' for s in skipped)}.")
    if a.get("stop_conditions_ignored"):
        rollout_text.append(
            f"{a['stop_conditions_ignored']} stage(s) advanced although their "
            "stop condition was met."
        )
    parts += [
        _tag("h3", Safe(f"Rollout {_status_badge(a.get('rollout_ok'))}")),
        _p(" ".join(rollout_text)),
        _table(
            [
                "stage",
                "traffic",
                "segment",
                "started",
                "ended",
                "decision",
                "decided by",
                "stop condition met",
            ],
            s_rows,
            numeric=(0, 1),
            row_classes=s_cls,
        )
        if s_rows
        else _p("No rollout stage is recorded."),
    ]
    # approvals
    ap = ctx.approvals
    missing = a.get("missing_approvals") or []
    ap_rows = [
        [
            e["role"],
            e["approver"],
            e["decision"],
            fmt_time(e["decided_at"]),
            "final" if e["final"] else "",
        ]
        for e in ap.iter_rows(named=True)
    ]
    owner = r.get("accountable_owner")
    finals = a.get("final_votes") or 0
    owner_text = (
        f"Accountable owner: {owner or 'none named'}. Final votes: {finals}"
        + (f" ({a.get('final_approver')}: {a.get('final_decision')})" if finals == 1 else "")
        + "."
    )
    req = ", ".join(tp.required_approvals) or "none"
    appr_text = f"Required roles for tier {tier}: {req}."
    if missing:
        appr_text += f" Missing a go from: {', '.join(missing)}."
    parts += [
        _tag(
            "h3",
            Safe(
                f"Approvals {_status_badge(a.get('approvals_ok'))} "
                f"{_status_badge(a.get('single_owner'), 'single owner', 'owner gap')}"
            ),
        ),
        _p(appr_text),
        _p(owner_text),
        _table(["role", "approver", "decision", "decided", "final"], ap_rows)
        if ap_rows
        else _p("No approval is recorded."),
    ]
    # findings
    codes = list(a.get("findings") or [])
    f_rows = [
        [FINDING_CODES[c].severity, c, FINDING_CODES[c].sentence]
        for c in codes
        if c in FINDING_CODES
    ]
    parts += [
        _tag("h3", "Audit findings"),
        _table(["severity", "finding", "meaning"], f_rows)
        if f_rows
        else _p("The audit found no gap in this release's path."),
    ]
    compliant = a.get("path_compliant")
    takeaway = [
        f"Tier {tier} requires {len(tp.required_evidence)} evidence item(s), "
        f"{len(tp.required_gates)} gate(s), the rollout plan {plan} and "
        f"{len(tp.required_approvals)} approval role(s).",
        (
            "The release followed that path."
            if compliant
            else f"The release did not follow that path: {len(f_rows)} audit finding(s)."
            if compliant is False
            else "Whether it followed that path cannot be decided yet."
        ),
    ]
    return _section("release_path", takeaway, *parts)


def _value_vs(value: float | None, threshold: float | None) -> str:
    if value is None and threshold is None:
        return ""
    v = "n/a" if value is None else f"{value:g}"
    t = "n/a" if threshold is None else f"{threshold:g}"
    return f"{v} / {t}"


def rollout_chart(ctx: ReleaseContext) -> Section:
    """The rollout timeline: traffic share of the new version per stage over time, with stage
    decisions, stop conditions, incident detections and operator decisions."""
    st = ctx.stages
    if st.height == 0:
        return _section(
            "rollout_chart",
            [
                f"No rollout stage is recorded for {ctx.release_id}: the release went to its "
                "traffic in one step, or the stages were not logged."
            ],
        )
    fig = charts.rollout_timeline(
        st,
        released_at=ctx.release["released_at"],
        as_of=ctx.as_of,
        incidents=ctx.incidents,
        decisions=ctx.decisions,
        plan=ctx.tier_policy.rollout_plan,
        title=f"Rollout of {ctx.release_id}",
    )
    first, last = st.row(0, named=True), st.row(-1, named=True)
    end = last["ended_at"] or ctx.as_of
    span = (end - first["started_at"]).total_seconds() / 3600 if first["started_at"] else None
    takeaway = [
        f"{st.height} stage(s) from {first['traffic_pct']:g} % to "
        f"{last['traffic_pct']:g} % over {fmt_hours(span)}; the last decision was "
        f"{last['decision'] or 'not recorded'}."
    ]
    return _section("rollout_chart", takeaway, fig)


RATE_METRICS = ("escalation_rate", "rework_rate", "policy_violation_rate", "refusal_rate")
OVERALL = "all segments"
DAILY_METRICS = ("escalation_rate", "quality_score")


def _metric_scale(metric: str) -> tuple[float, str]:
    """Axis factor and unit of a difference: rates in percentage points, the rest as is."""
    if metric in RATE_METRICS:
        return 100.0, "difference (pp)"
    if metric == "quality_score":
        return 1.0, "difference (score 0-1)"
    if metric == "unit_cost_usd":
        return 1.0, "difference (USD/case)"
    return 1.0, "difference"


def _metric_value(metric: str, v: float | None) -> str:
    if v is None:
        return "n/a"
    if metric in RATE_METRICS:
        return f"{v:.2%}"
    if metric == "unit_cost_usd":
        return fmt_usd(v)
    if metric == "quality_score":
        return f"{v:.3f}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _metric_diff(metric: str, v: float | None) -> str:
    if v is None:
        return "n/a"
    if metric in RATE_METRICS:
        return f"{v * 100:+.2f} pp"
    if metric == "unit_cost_usd":
        return fmt_usd(v, signed=True)
    if metric == "quality_score":
        return f"{v:+.3f}"
    return f"{v:+,.0f}" if abs(v) >= 100 else f"{v:+.3g}"


VERDICT_BADGE = {
    "worse": "bad",
    "better": "good",
    "inconclusive": "info",
    "insufficient_data": "warn",
}


def version_comparison(ctx: ReleaseContext) -> Section:
    """The new version against the previous release of the system (``analytics.comparison``):
    per metric the mix-standardised difference with its interval, the naive difference, the
    policy margin and the verdict; a per-segment forest plot of the decision-quality metrics
    against their margins; daily values per version with the rollout stages marked."""
    c = ctx.comparison
    if ctx.previous is None:
        reason = (
            f"{ctx.release_id} is the first release of its system: there is no previous "
            "version to compare with."
        )
    elif not ctx.release.get("deployed"):
        reason = f"{ctx.release_id} was not deployed by {fmt_time(ctx.as_of)}."
    elif ctx.analysis.rollup is None:
        reason = "The dataset has no telemetry, so the versions cannot be compared."
    else:
        reason = ""
    if c is None or reason:
        return _section("version_comparison", [reason or "No comparison is available."])
    window = (
        f"{fmt_time(c.window_start)} to {fmt_time(c.window_end)}"
        if c.window_start and c.window_end
        else "no window"
    )
    head = (
        f"{ctx.release_id} ({c.n_new:,} cases from {window}) against "
        f"{c.ref_release_id} ({c.n_ref:,} cases), compared on the new version's segment mix."
    )
    if c.status == "insufficient_data":
        return _section("version_comparison", [head, f"No comparison: {c.message}."])
    takeaway = [head, _control_text(c)]
    if c.status == "immature":
        takeaway.append(
            f"The observation window is not over at {fmt_time(ctx.as_of)}: "
            f"{c.message or 'results may still change'}."
        )
    worse = c.worse("decision_quality")
    for name in worse:
        m = c.metrics[name]
        takeaway.append(
            f"{name.replace('_', ' ').capitalize()} is worse beyond its {m.margin:.0%} margin: "
            f"{_metric_value(name, m.ref_value)} → {_metric_value(name, m.new_value)} "
            f"(difference {_metric_diff(name, m.estimate)}, interval "
            f"{_metric_diff(name, m.ci_low)} to {_metric_diff(name, m.ci_high)})."
        )
    dq = [n for n, m in c.metrics.items() if m.role == "decision_quality"]
    rest = [n for n in dq if n not in worse]
    if rest:
        groups: dict[str, list[str]] = {}
        for n in rest:
            groups.setdefault(c.metrics[n].verdict, []).append(n.replace("_", " "))
        takeaway.append(
            "Other decision-quality metrics: "
            + "; ".join(f"{v.replace('_', ' ')}: {', '.join(ns)}" for v, ns in groups.items())
            + "."
        )
    if not worse and dq:
        takeaway.append("No decision-quality metric is worse beyond its margin.")
    tables = [
        _metric_table(
            c,
            [n for n in c.metrics if n in dq],
            "Decision-quality metrics: verdicts against the policy margins",
        ),
        _diagnostics_table(c, [n for n in c.metrics if n in c.family]),
        _metric_table(
            c,
            [n for n in c.metrics if n not in dq],
            "Operational metrics: reported against no change, never a failure signal",
        ),
    ]
    note = _p(
        f"Difference = new minus reference, standardised to the new version's segment mix "
        f"(naive: without standardisation); {1 - c.alpha:.0%} intervals at the last complete "
        f"day; verdicts from sequential p-values over the daily looks, adjusted with "
        f"{c.multiple_testing} over one family of {len(c.family)} metrics (METRICS.md, version "
        "comparison). In the per-segment charts "
        "a dot is red when worse beyond the margin, green when better, blue when "
        "inconclusive and grey when the segment has too few cases; the orange tick marks "
        "the margin on the worse side.",
        cls="ra-muted",
    )
    seg = c.segments.filter(pl.col("metric").is_in(dq))
    figs: list[go.Figure] = []
    for name in dq:
        m = c.metrics[name]
        overall = pl.DataFrame(
            [
                {
                    "segment": OVERALL,
                    "estimate": m.estimate,
                    "ci_low": m.ci_low,
                    "ci_high": m.ci_high,
                    "margin_abs": m.margin_abs,
                    "verdict": m.verdict,
                    "n_new": m.n_new,
                    "n_ref": m.n_ref,
                }
            ],
            schema=FOREST_SCHEMA,
        )
        rows = seg.filter(pl.col("metric") == name).select(list(FOREST_SCHEMA)).cast(FOREST_SCHEMA)
        scale, axis = _metric_scale(name)
        figs.append(
            charts.forest(
                pl.concat([overall, rows]),
                overall_label=OVERALL,
                title=f"{name.replace('_', ' ').capitalize()}: new vs reference per segment",
                x_title=axis,
                scale=scale,
            )
        )
    daily = daily_series(
        ctx.analysis.rollup, ctx.analysis.releases, ctx.release_id, ctx.policy, ctx.as_of
    )
    for name in DAILY_METRICS:
        part = daily.filter(pl.col("metric") == name)
        if part.height:
            scale, unit = (
                (100.0, "share of cases (%)") if name in RATE_METRICS else (1.0, "mean score (0-1)")
            )
            figs.append(
                charts.version_daily(
                    part,
                    metric_label=name,
                    scale=scale,
                    y_title=unit,
                    stages=ctx.stages,
                    title=f"{name.replace('_', ' ').capitalize()} per day and version",
                )
            )
    grid = (
        _tag(
            "div",
            Safe("".join(f'<div class="ra-chart">{charts.figure_html(f)}</div>' for f in figs)),
            "ra-grid2",
        )
        if figs
        else None
    )
    return _section("version_comparison", takeaway, *tables, note, grid)


FOREST_SCHEMA = pl.Schema(
    {
        "segment": pl.String(),
        "estimate": pl.Float64(),
        "ci_low": pl.Float64(),
        "ci_high": pl.Float64(),
        "margin_abs": pl.Float64(),
        "verdict": pl.String(),
        "n_new": pl.Int64(),
        "n_ref": pl.Int64(),
    }
)


CONTROL_TEXT: dict[str, str] = {
    "concurrent": "the old version serving beside it on the same days (concurrent control)",
    "mixed": (
        "the old version on the days it served beside the new one, and the pre-release window "
        "for the days after the ramp to 100 % (partly a weaker, non-concurrent control)"
    ),
    "pre_release": (
        "the old version's pre-release window only: the new version served alone, so this is "
        "a weaker, non-concurrent control"
    ),
}


def _control_text(c: ReleaseComparison) -> str:
    """One sentence on the comparison's design: control arm, concurrent share, looks."""
    control = CONTROL_TEXT.get(c.control or "", "no control arm")
    share = (
        f"; {c.concurrent_share:.0%} of the new version's cases on concurrent days"
        if c.concurrent_share is not None
        else ""
    )
    return f"Control: {control}{share}; {c.looks_done} of {c.looks_planned} daily looks complete."


def _diagnostics_table(c: ReleaseComparison, names: Sequence[str]) -> Safe | None:
    """Per acted-on metric: how much of the new traffic is standardised on its own segment, the
    reference's effective sample size, the minimal detectable effect at this n and the cases
    still needed to show non-inferiority."""
    if not names:
        return None
    rows = []
    for name in names:
        m = c.metrics[name]
        needed = (
            "shown"
            if m.cases_needed == 0
            else "-"
            if m.cases_needed is None
            else f"{m.cases_needed:,}"
        )
        rows.append(
            [
                name.replace("_", " "),
                "-" if m.standardised_share is None else f"{m.standardised_share:.0%}",
                "-" if m.effective_n_ref is None else f"{m.effective_n_ref:,.0f}",
                "-" if m.mde is None else _metric_diff(name, m.mde),
                needed,
            ]
        )
    return _table(
        [
            "metric",
            "standardised on own segment",
            "effective n (reference)",
            "minimal detectable difference",
            "cases to show non-inferiority",
        ],
        rows,
        numeric=(1, 2, 3, 4),
        caption="Diagnostics: what the comparison can see at this sample size",
    )


def _metric_table(c: ReleaseComparison, names: Sequence[str], caption: str) -> Safe | None:
    if not names:
        return None
    rows, classes = [], []
    for name in names:
        m = c.metrics[name]
        badge = _badge(m.verdict.replace("_", " "), VERDICT_BADGE.get(m.verdict, "info"))
        rows.append(
            [
                name.replace("_", " "),
                Safe(f"{m.n_ref:,}<br>{m.n_new:,}"),
                Safe(
                    f"{_h(_metric_value(name, m.ref_value))}<br>"
                    f"{_h(_metric_value(name, m.new_value))}"
                ),
                Safe(
                    f'{_h(_metric_diff(name, m.estimate))}<br><span class="ra-muted">'
                    f"{_h(_metric_diff(name, m.ci_low))} to {_h(_metric_diff(name, m.ci_high))}"
                    "</span>"
                ),
                _metric_diff(name, m.naive_estimate),
                f"{m.margin:.0%} {m.worse}",
                Safe(f'<span title="{_h(m.reason)}">{badge}</span>'),
            ]
        )
        classes.append(
            "ra-row-bad" if m.verdict == "worse" and m.role == "decision_quality" else ""
        )
    return _table(
        [
            "metric",
            "cases ref / new",
            "reference / new",
            "difference (interval)",
            "naive difference",
            "margin",
            "verdict",
        ],
        rows,
        numeric=(1, 2, 3, 4),
        row_classes=classes,
        caption=caption,
    )


def incident_review(ctx: ReleaseContext) -> Section:
    """The release's attributed incidents on a timeline, with time to detect (from release) and
    to mitigate (from detection; open incidents counted to ``as_of``)."""
    inc = ctx.incidents
    r = ctx.release
    if inc.height == 0:
        det = r.get("detection_hours")
        text = f"No incident is attributed to {ctx.release_id} as of {fmt_time(ctx.as_of)}."
        if det is not None:
            text += (
                f" The failure was detected after {fmt_hours(det)} by "
                f"{detection_path(ctx.analysis, r)}."
            )
        return _section("incident_review", [text, *_release_detection_sentences(ctx)])
    fig = charts.incident_timeline(
        inc, released_at=r["released_at"], as_of=ctx.as_of, title=f"Incidents of {ctx.release_id}"
    )
    rows = []
    for e in inc.iter_rows(named=True):
        ttd = (
            None
            if e["detected_at"] is None or not e["detection_valid"]
            else hours_between(r["released_at"], e["detected_at"])
        )
        if e["mitigated_by_as_of"] and not e["_mttm_invalid"]:
            ttm = fmt_hours(hours_between(e["detected_at"], e["mitigated_at"]))
        elif e["_mttm_invalid"]:
            ttm = "invalid (mitigated before detected)"
        else:
            ttm = f"open ({fmt_hours(hours_between(e['detected_at'], ctx.as_of))} so far)"
        rows.append(
            [
                e["incident_id"],
                e["severity"],
                e["category"],
                "yes" if e["dq_impact"] else "no",
                e["detection_source"] or "",
                fmt_time(e["detected_at"]),
                fmt_hours(ttd),
                e["mitigation"] or "",
                ttm,
                e["attribution"],
            ]
        )
    table = _table(
        [
            "incident",
            "severity",
            "category",
            "decision quality",
            "detected by",
            "detected",
            "time to detect",
            "mitigation",
            "time to mitigate",
            "attribution",
        ],
        rows,
    )
    takeaway = [f"{inc.height} incident(s) attributed to {ctx.release_id}."]
    if r.get("detection_hours") is not None:
        takeaway.append(
            f"First detection after {fmt_hours(r['detection_hours'])}: "
            f"{detection_path(ctx.analysis, r)}."
        )
    open_n = int((~inc["mitigated_by_as_of"]).sum())
    if open_n:
        takeaway.append(f"{open_n} incident(s) still open at {fmt_time(ctx.as_of)}.")
    takeaway += _release_detection_sentences(ctx)
    return _section("incident_review", takeaway, fig, table)


def _release_detection_sentences(ctx: ReleaseContext) -> list[str]:
    """'Detectable after X h, detected after Y h' for the release (``analytics.sequential``)."""
    if ctx.detection_note:
        return [ctx.detection_note]
    dp = ctx.detection
    if dp is None:
        return []
    det = ctx.release.get("detection_hours")
    if dp.detectable_after_hours is None:
        return [f"Telemetry monitoring: {dp.message}."] if dp.message else []
    text = (
        f"The degradation of {(dp.metric or '').replace('_', ' ')} was statistically visible "
        f"in the telemetry {fmt_hours(dp.detectable_after_hours)} after release"
    )
    if det is not None:
        gap = det - dp.detectable_after_hours
        text += f"; it was detected after {fmt_hours(det)}, " + (
            f"{fmt_hours(gap)} later." if gap > 0 else "no later than that."
        )
    else:
        text += "; it has not been detected in operation."
    return [text]


def hours_between(a: datetime | None, b: datetime | None) -> float | None:
    """Hours from ``a`` to ``b`` (None when either is missing)."""
    if a is None or b is None:
        return None
    return (b - a).total_seconds() / 3600


def operator_log(ctx: ReleaseContext) -> Section:
    """The operator decisions on the release, in order, with hours since release and the
    rationale as written."""
    d = ctx.decisions
    if d.height == 0:
        return _section(
            "operator_log",
            [f"No operator decision is recorded for {ctx.release_id} as of {fmt_time(ctx.as_of)}."],
        )
    rows = [
        [
            fmt_time(e["decided_at"]),
            fmt_hours(hours_between(ctx.release["released_at"], e["decided_at"])),
            e["operator"],
            e["action"],
            e["rationale"] or "",
        ]
        for e in d.iter_rows(named=True)
    ]
    table = _table(
        ["decided", "since release", "operator", "action", "rationale"], rows, numeric=(1,)
    )
    actions = d.group_by("action").len().sort("len", "action", descending=[True, False])
    summary = ", ".join(f"{a['len']} {a['action']}" for a in actions.iter_rows(named=True))
    return _section("operator_log", [f"{d.height} decision(s): {summary}."], table)


@dataclass(frozen=True)
class Verdict:
    """The review's verdict (``failed``, ``immature`` or ``no_failure``), its sentence and the
    follow-ups generated from the release's findings."""

    status: str
    sentence: str
    follow_ups: tuple[str, ...]


def release_verdict(ctx: ReleaseContext) -> Verdict:
    """Verdict: failed (with the signals that fired), immature (observation window not over,
    nothing fired yet) or no failure; follow-ups come from the audit findings, open incidents
    and the failure signals, each naming what to do."""
    r, a = ctx.release, ctx.audit
    signals = list(r.get("failure_signals") or [])
    if r.get("failed"):
        status = "failed"
        sentence = f"{ctx.release_id} degraded decision quality (signals: {', '.join(signals)})."
    elif r.get("immature"):
        status = "immature"
        sentence = (
            f"No failure signal has fired for {ctx.release_id} yet, but its observation "
            f"window is not over at {fmt_time(ctx.as_of)}."
        )
    else:
        status = "no_failure"
        sentence = (
            f"No failure signal fired for {ctx.release_id} within its observation and "
            "attribution windows."
        )
    follow: list[str] = []
    codes = set(a.get("findings") or [])
    if r.get("misclassified"):
        follow.append(
            f"Declare releases that change {', '.join(_implied_by(ctx))} at tier "
            f"{r['implied_tier']} (this one was declared {r['declared_tier']})."
        )
    absent = a.get("absent_evidence") or r.get("missing_evidence") or []
    if absent:
        follow.append(
            f"Produce the missing evidence before the next release of "
            f"{r['system']}: {', '.join(absent)}."
        )
    if a.get("unapproved_evidence_waivers") or a.get("unapproved_gate_waivers"):
        items = [
            *(a.get("unapproved_evidence_waivers") or []),
            *(a.get("unapproved_gate_waivers") or []),
        ]
        follow.append(f"Get an approver on record for the waived {', '.join(items)}.")
    if a.get("gates_not_run"):
        follow.append(f"Run the required gates: {', '.join(a['gates_not_run'])}.")
    if a.get("gates_failed"):
        follow.append(
            f"Explain why the release shipped with failed gates: {', '.join(a['gates_failed'])}."
        )
    if a.get("stop_conditions_ignored"):
        follow.append(
            f"Review the {a['stop_conditions_ignored']} stage(s) that advanced past a "
            "met stop condition with the rollout owner."
        )
    if a.get("skipped_steps"):
        follow.append(
            "Follow the full rollout plan: skipped "
            f"{', '.join(f'{s:g} %' for s in a['skipped_steps'])}."
        )
    if a.get("missing_approvals"):
        follow.append(f"Collect the missing approvals: {', '.join(a['missing_approvals'])}.")
    if (
        "no_accountable_owner" in codes
        or "no_final_approval" in codes
        or "multiple_final_approvals" in codes
    ):
        follow.append("Name one accountable owner with one final go / no-go vote.")
    open_inc = ctx.incidents.filter(~pl.col("mitigated_by_as_of"))
    if open_inc.height:
        follow.append(
            f"Mitigate and close the open incident(s): "
            f"{', '.join(open_inc['incident_id'].to_list())}."
        )
    if r.get("failed") and r.get("detected_at") is None:
        follow.append(
            "The degradation was found only in telemetry: add the degraded metrics "
            f"({', '.join(r.get('telemetry_metrics') or [])}) to the canary's stop "
            "conditions."
        )
    if "gate_escape" in codes:
        follow.append(
            "Every gate passed yet the release failed: tighten the gate whose metric "
            "should have caught this."
        )
    obs = ctx.policy.section("observability")
    if "no_operator_decision_72h" in codes:
        follow.append(
            "Record operator decisions in the first "
            f"{float(obs['operator_decisions_within_hours']):g} hours after release."
        )
    if "no_version_marker_24h" in codes:
        follow.append(
            "Make sure the new version's marker reaches telemetry within "
            f"{float(obs['marker_within_hours']):g} hours of release."
        )
    return Verdict(status, sentence, tuple(follow))


def verdict(ctx: ReleaseContext) -> Section:
    """The verdict and the follow-ups (see ``release_verdict``)."""
    v = release_verdict(ctx)
    kind = {"failed": "bad", "immature": "warn", "no_failure": "good"}[v.status]
    label = {"failed": "failed", "immature": "immature", "no_failure": "no failure"}[v.status]
    parts: list[Any] = [_tag("div", _join([_badge(label, kind), " ", v.sentence]), "ra-verdict")]
    if v.follow_ups:
        parts += [_tag("h3", "Follow-ups"), _ul(v.follow_ups)]
    else:
        parts.append(_p("No follow-up: the release took its tier's path and nothing is open."))
    return _section("verdict", [], *parts)


# ---------------------------------------------------------------- showcase choice


def most_instructive_release(
    analysis: Analysis, month: str, audit: pl.DataFrame | None = None
) -> str | None:
    """The release of ``month`` whose review teaches the most, or None without releases.

    Ranking (first difference wins): failed with both an attributed incident and a rollback
    (the whole story: failure, detection, mitigation); failed; more failure signals; more audit
    findings (process gaps); more attributed incidents; earlier ``released_at``; release id."""
    cohort = deployed_in_month(analysis.releases, month, analysis.as_of)
    if cohort.height == 0:
        return None
    aud = audit if audit is not None else analysis.audit
    df = cohort.join(
        aud.select("release_id", pl.col("findings").list.len().alias("_nf")),
        on="release_id",
        how="left",
    ).with_columns(
        (
            pl.col("signal_incident").fill_null(False) & pl.col("signal_rollback").fill_null(False)
        ).alias("_story"),
        pl.col("failed").fill_null(False).alias("_failed"),
        pl.col("failure_signals").list.len().fill_null(0).alias("_ns"),
        pl.col("_nf").fill_null(0),
    )
    best = df.sort(
        ["_story", "_failed", "_ns", "_nf", "incident_count", "released_at", "release_id"],
        descending=[True, True, True, True, True, False, False],
    )
    return str(best["release_id"][0])


def latest_complete_month(as_of: str | datetime, timezone: str = "UTC") -> str:
    """The last calendar month (in ``timezone``) that ended at or before ``as_of``."""
    from zoneinfo import ZoneInfo

    local = _as_datetime(as_of).astimezone(ZoneInfo(timezone))
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month_day = first - timedelta(days=1)
    return f"{last_month_day.year:04d}-{last_month_day.month:02d}"


__all__ = [
    "ExecutiveContext",
    "NotebookSetup",
    "Provenance",
    "ReleaseContext",
    "Section",
    "Takeaway",
    "Verdict",
    "breakdowns",
    "data_quality",
    "detection_path",
    "dora",
    "executive_context",
    "executive_takeaway",
    "failed_releases",
    "headline",
    "incident_review",
    "latest_complete_month",
    "most_instructive_release",
    "operator_log",
    "process_audit",
    "release_context",
    "release_diff",
    "release_path",
    "release_verdict",
    "reproducibility",
    "rollout_chart",
    "restrict_systems",
    "risk",
    "setup_notebook",
    "takeaway_points",
    "trend_release_ids",
    "trends",
    "verdict",
    "version_comparison",
]
