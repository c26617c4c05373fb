"""Executive report section (the breakdowns): CFR-DQ of the month by effective risk tier, team,
system and changed component.

Rows are sorted by their contribution to the month's failures (failed releases, then releases,
both descending; the risk tiers keep their order, strictest first). A group with fewer releases
than the policy's ``risk.min_group_releases`` shows its counts, not a rate, and stays out of the
chart and of the comparison of the highest and lowest rate. That comparison is Fisher's exact
test, Bonferroni-adjusted for the pairs of groups that could have been picked
(``analytics.stats.change``); components are not tested, since a release that changed several
counts under each of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from analytics.core.policy import TIER_RANK
from analytics.core.results import RateResult
from analytics.report import charts
from analytics.report.context import ExecutiveContext, min_group_releases
from analytics.report.format import fmt_interval, fmt_pct, share
from analytics.report.html import Section, _p, _section, _table
from analytics.stats.change import format_p, plural, rate_change
from analytics.stats.summaries import rate

UNKNOWN = "(unknown)"


@dataclass(frozen=True)
class GroupRow:
    """One group of a breakdown: CFR-DQ, classic DORA CFR, evidence completeness and the
    misclassified releases."""

    name: str
    cfr: RateResult
    dora: RateResult
    evidence: RateResult
    misclassified: int

    @property
    def releases(self) -> int:
        return self.cfr.denominator

    @property
    def failed(self) -> int:
        return self.cfr.numerator


def group_rows(df: pl.DataFrame, by: str, alpha: float) -> list[GroupRow]:
    """One row per value of ``by`` (missing: ``(unknown)``), sorted by contribution to failures:
    failed releases, then releases (descending), then name."""
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
        .with_columns(pl.col(by).cast(pl.String).fill_null(UNKNOWN))
        .sort(["failed", "n", by], descending=[True, True, False])
    )
    return [
        GroupRow(
            r[by],
            rate(r["failed"], r["n"], alpha),
            rate(r["dora"], r["n"], alpha),
            rate(r["complete"], r["n"], alpha),
            int(r["miscl"]),
        )
        for r in agg.iter_rows(named=True)
    ]


def _tier_order(rows: list[GroupRow]) -> list[GroupRow]:
    return sorted(rows, key=lambda r: -TIER_RANK.get(r.name, -1))


def _dimensions(ctx: ExecutiveContext) -> list[tuple[str, list[GroupRow], bool]]:
    """(label, rows, groups overlap) per breakdown: tier, team (when the releases name teams),
    system, changed component."""
    cohort, alpha = ctx.cohort, ctx.alpha
    comp = cohort.explode("changed_components").rename({"changed_components": "changed_component"})
    dims = [
        ("effective risk tier", _tier_order(group_rows(cohort, "effective_tier", alpha)), False)
    ]
    if "team" in cohort.columns and cohort["team"].drop_nulls().len():
        dims.append(("team", group_rows(cohort, "team", alpha), False))
    dims += [
        ("system", group_rows(cohort, "system", alpha), False),
        ("changed component", group_rows(comp, "changed_component", alpha), True),
    ]
    return dims


def breakdowns(ctx: ExecutiveContext) -> Section:
    """CFR-DQ of the month by effective risk tier, team, system and changed component (a release
    that changed several components counts once in each), with counts and intervals."""
    if ctx.cohort.height == 0:
        return _section("breakdowns", [f"No release was deployed in {ctx.month}."])
    floor = min_group_releases(ctx.analysis.dataset.policy)
    parts: list[Any] = []
    takeaway: list[str] = []
    for label, rows, overlapping in _dimensions(ctx):
        if not rows:
            continue
        parts += _dimension(ctx, label, rows, floor)
        takeaway.append(_spread_sentence(label, rows, ctx.alpha, floor, overlapping))
    note = _p(
        "Rows are sorted by failed releases, then releases. A group with fewer than "
        f"{plural(floor, 'release')} shows its counts, not a rate, and is left out of the chart "
        "(policy risk.min_group_releases). A release that changed several components is counted "
        f"under each of them, so the component rows add up to more than the {ctx.period_kind}'s "
        "releases.",
        cls="ra-muted",
    )
    return Section("breakdowns", (*parts, note), tuple(t for t in takeaway if t))


def _dimension(ctx: ExecutiveContext, label: str, rows: list[GroupRow], floor: int) -> list[Any]:
    """The chart (groups with a rate) and the table (every group) of one breakdown."""
    rated = [r for r in rows if r.releases >= floor]
    out: list[Any] = []
    if rated:
        out.append(
            charts.rate_bars(
                [r.name for r in rated],
                [r.cfr for r in rated],
                title=f"CFR-DQ by {label}, {ctx.month}",
                x_title=label,
                y_title="failed releases (%)",
                level=1 - ctx.alpha,
            )
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
                r.name,
                r.releases,
                share(r.cfr, floor),
                fmt_interval(r.cfr.ci_low, r.cfr.ci_high, fmt_pct)
                if r.releases >= floor
                else "too few for a rate",
                share(r.dora, floor),
                share(r.evidence, floor),
                r.misclassified,
            ]
            for r in rows
        ],
        numeric=(1, 2, 4, 5, 6),
    )
    return [*out, table]


def _spread_sentence(
    label: str, rows: Sequence[GroupRow], alpha: float, floor: int, overlapping: bool
) -> str:
    """The highest and the lowest CFR-DQ among the groups with a rate, and whether the
    difference is beyond chance."""
    rated = [r for r in rows if r.cfr.value is not None and r.releases >= floor]
    if len(rated) < 2:
        return ""
    hi = max(rated, key=lambda r: (r.cfr.value, r.releases))
    lo = min(rated, key=lambda r: (r.cfr.value, -r.releases))
    if hi.cfr.value == lo.cfr.value:
        return (
            f"By {label}: every group with at least {plural(floor, 'release')} failed at the "
            f"same rate ({fmt_pct(hi.cfr.value)})."
        )
    head = (
        f"By {label}: highest CFR-DQ in {hi.name} ({share(hi.cfr)}), lowest in {lo.name} "
        f"({share(lo.cfr)})"
    )
    if overlapping:
        return (
            f"{head}; a release counts under every component it changed, so these groups "
            "overlap and are not tested against each other."
        )
    pairs = len(rated) * (len(rated) - 1) // 2
    test = rate_change(hi.failed, hi.releases, lo.failed, lo.releases, alpha)
    return f"{head}; {difference_clause(test.p_value, alpha, pairs)}."


def difference_clause(p_value: float | None, alpha: float, pairs: int = 1) -> str:
    """How a difference between two groups reads, from Fisher's exact test: its p-value times
    the ``pairs`` of groups it was picked from (Bonferroni)."""
    if p_value is None:
        return "too little data to test the difference"
    p = min(1.0, p_value * pairs)
    verdict = "a difference beyond chance" if p < alpha else "within what chance alone gives"
    adjusted = f", Bonferroni-adjusted for {plural(pairs, 'pair')} of groups" if pairs > 1 else ""
    return f"{verdict} (Fisher's exact test, {format_p(p)}{adjusted})"


__all__ = ["GroupRow", "breakdowns", "difference_clause", "group_rows"]
