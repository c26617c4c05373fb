"""Post-release review section: the version comparison, with its metric table, diagnostics
table and per-segment forest plot.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import polars as pl

from analytics.comparison import ReleaseComparison, daily_series
from analytics.report import charts
from analytics.report.context import ReleaseContext
from analytics.report.format import fmt_time, fmt_usd
from analytics.report.html import Safe, Section, _badge, _h, _p, _section, _table, _tag

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
    reason = _not_compared_reason(ctx)
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
    dq = [n for n, m in c.metrics.items() if m.role == "decision_quality"]
    takeaway = [head, _control_text(c), *_verdict_sentences(ctx, c, dq)]
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
    figs = _forest_figures(c, dq) + _daily_figures(ctx)
    grid = (
        _tag(
            "div",
            Safe("".join(f'<div class="ra-chart">{charts.figure_html(f)}</div>' for f in figs)),
            "ra-grid2",
        )
        if figs
        else None
    )
    return _section("version_comparison", takeaway, *tables, _method_note(c), grid)


def _not_compared_reason(ctx: ReleaseContext) -> str:
    """Why the release has no comparison (first of its system, not deployed, no telemetry), or
    an empty string."""
    if ctx.previous is None:
        return (
            f"{ctx.release_id} is the first release of its system: there is no previous "
            "version to compare with."
        )
    if not ctx.release.get("deployed"):
        return f"{ctx.release_id} was not deployed by {fmt_time(ctx.as_of)}."
    if ctx.analysis.rollup is None:
        return "The dataset has no telemetry, so the versions cannot be compared."
    return ""


def _verdict_sentences(ctx: ReleaseContext, c: ReleaseComparison, dq: Sequence[str]) -> list[str]:
    """The window still open, each decision-quality metric worse beyond its margin (with its
    values and interval), the verdicts of the others."""
    out = []
    if c.status == "immature":
        out.append(
            f"The observation window is not over at {fmt_time(ctx.as_of)}: "
            f"{c.message or 'results may still change'}."
        )
    worse = c.worse("decision_quality")
    for name in worse:
        m = c.metrics[name]
        out.append(
            f"{name.replace('_', ' ').capitalize()} is worse beyond its {m.margin:.0%} margin: "
            f"{_metric_value(name, m.ref_value)} → {_metric_value(name, m.new_value)} "
            f"(difference {_metric_diff(name, m.estimate)}, interval "
            f"{_metric_diff(name, m.ci_low)} to {_metric_diff(name, m.ci_high)})."
        )
    rest = [n for n in dq if n not in worse]
    if rest:
        groups: dict[str, list[str]] = {}
        for n in rest:
            groups.setdefault(c.metrics[n].verdict, []).append(n.replace("_", " "))
        out.append(
            "Other decision-quality metrics: "
            + "; ".join(f"{v.replace('_', ' ')}: {', '.join(ns)}" for v, ns in groups.items())
            + "."
        )
    if not worse and dq:
        out.append("No decision-quality metric is worse beyond its margin.")
    return out


def _method_note(c: ReleaseComparison) -> Safe:
    """How to read the tables and charts: the difference, the intervals, the verdicts."""
    return _p(
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


def _forest_figures(c: ReleaseComparison, dq: Sequence[str]) -> list[go.Figure]:
    """One forest plot per decision-quality metric: the overall difference on top, then each
    segment, against the margin."""
    seg = c.segments.filter(pl.col("metric").is_in(list(dq)))
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
    return figs


def _daily_figures(ctx: ReleaseContext) -> list[go.Figure]:
    """Daily values of ``DAILY_METRICS`` per version, the rollout stage starts marked."""
    daily = daily_series(
        ctx.analysis.rollup, ctx.analysis.releases, ctx.release_id, ctx.as_of, ctx.policy
    )
    figs: list[go.Figure] = []
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
    return figs


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
        "the old version's pre-release window only: the old version served too few cases (or "
        "none) beside the new one, so this is a weaker, non-concurrent control"
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
