"""Leadership views (issue 14): change statements backed by tests, plurals, counts instead of
rates for small groups, breakdowns sorted by contribution to failures, the team and system
drill-down (index page and one view per team or system, sharing one plotly.js), the Markdown
headline and takeaway, and the report size.

The end-to-end renders run the real command on a small generated dataset (its releases carry a
``team``) and check the pages in headless chromium (Debian's package), offline.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

from analytics import sections as rs
from analytics.core.results import EstimateResult
from analytics.report import groups as bd
from analytics.report import takeaway as tk
from analytics.stats.summaries import rate

TINY = "tests/data/tiny"
TINY_AS_OF = "2026-06-01T00:00:00Z"


# ---------------------------------------------------------------- change statements


def _ctx(floor: int = 0) -> SimpleNamespace:
    return SimpleNamespace(alpha=0.05, rate_floor=floor)


def test_rate_change_is_tested_not_read_off_overlapping_intervals() -> None:
    """9 of 20 against 2 of 20: the Wilson intervals overlap (26-66 % and 3-30 %), yet Fisher's
    exact test finds the change beyond chance (p = 0.031): the sentence says so."""
    cur, prev = rate(9, 20), rate(2, 20)
    assert cur.ci_low < prev.ci_high  # the intervals overlap
    s = tk._change_sentence("CFR-DQ", cur, prev, "2026-03", _ctx())
    assert s == (
        "CFR-DQ rose from 10% (2 of 20) in 2026-03 to 45% (9 of 20): a change beyond chance "
        "(Fisher's exact test, p = 0.031)."
    )
    s = tk._change_sentence("CFR-DQ", rate(3, 20), prev, "2026-03", _ctx())
    assert s is not None and s.endswith(
        "within what chance alone gives (Fisher's exact test, p = 1.00)."
    )
    assert tk._change_sentence("CFR-DQ", rate(2, 20), prev, "2026-03", _ctx()) == (
        "CFR-DQ held at 10% (2 of 20)."
    )


def test_small_view_states_counts_not_rates() -> None:
    s = tk._change_sentence("CFR-DQ", rate(2, 3), rate(0, 4), "2026-03", _ctx(floor=5))
    assert s is not None and s.startswith("CFR-DQ rose from 0 of 4 in 2026-03 to 2 of 3: ")
    assert "%" not in s.split(":")[0]


def _kpis(month: str, mean: float, low: float, high: float) -> SimpleNamespace:
    return SimpleNamespace(month=month, unit_cost_usd=EstimateResult(mean, low, high, 1000))


def test_unit_cost_change_uses_the_z_test_of_the_difference() -> None:
    """$5.00 (4.80-5.20) to $5.30 (5.10-5.50): overlapping intervals, z test p = 0.038."""
    s = tk._unit_cost_change(_kpis("2026-04", 5.3, 5.1, 5.5), _kpis("2026-03", 5.0, 4.8, 5.2), 0.05)
    assert s == (
        "Unit process cost rose 6.0%: $5.00 in 2026-03 → $5.30 per case; a change beyond chance "
        "(z test of the difference, p = 0.038)."
    )
    s = tk._unit_cost_change(_kpis("2026-04", 5.1, 4.8, 5.4), _kpis("2026-03", 5.0, 4.8, 5.2), 0.05)
    assert s is not None and "within what chance alone gives (z test of the difference" in s


def test_headline_tiles_carry_the_test_result() -> None:
    ctx = rs.executive_context(TINY, "2026-04", TINY_AS_OF)
    page = rs.headline(ctx)._repr_html_()
    assert "▲ 50.0 pp vs 0% (0 of 2) in 2026-03 · within chance, p = 0.47" in page
    assert "overlap" not in page


def _all_text(ctx: rs.ExecutiveContext) -> str:
    return "".join(
        getattr(rs, name)(ctx)._repr_html_()
        for name in (
            "headline",
            "executive_takeaway",
            "trends",
            "breakdowns",
            "failed_releases",
            "process_audit",
            "risk",
            "dora",
            "data_quality",
        )
    )


def _visible(page: str) -> str:
    return re.sub(r"<script.*?</script>|<style.*?</style>", "", page, flags=re.S)


def test_no_interval_overlap_wording_and_no_plural_placeholders() -> None:
    text = _visible(_all_text(rs.executive_context(TINY, "2026-04", TINY_AS_OF)))
    for release in ("A2", "A3"):
        review = rs.release_review(TINY, release, TINY_AS_OF)
        text += "".join(
            getattr(review, n)()._repr_html_()
            for n in ("verdict", "release_path", "rollout_chart", "incident_review", "operator_log")
        )
    assert "(s)" not in text
    assert "intervals overlap" not in text and "may be noise" not in text
    assert not re.search(r"\b1 (releases|incidents|failures|stages|decisions)\b", text)


def test_takeaway_is_singular_for_one() -> None:
    t = rs.takeaway_points(rs.executive_context(TINY, "2026-04", TINY_AS_OF))
    assert "1 decision-quality incident is still open at 2026-06-01 00:00 UTC: X2." in t.matters
    assert "Assign an owner and a deadline to the open incident." in t.decide
    assert any(
        s.startswith("1 of them was declared") and "than its changed" in s for s in t.matters
    )


# ---------------------------------------------------------------- breakdowns


def _cohort_rows(specs: list[tuple[str, int, int]]) -> list[dict]:
    rows = []
    for name, n, failed in specs:
        for i in range(n):
            rows.append(
                {
                    "system": name,
                    "failed": i < failed,
                    "dora_failed": i < failed,
                    "evidence_complete": True,
                    "misclassified": False,
                }
            )
    return rows


def test_breakdown_rows_sort_by_contribution_to_failures() -> None:
    import polars as pl

    df = pl.DataFrame(
        _cohort_rows([("alpha", 9, 0), ("beta", 4, 2), ("gamma", 6, 2), ("delta", 3, 3)])
    )
    rows = bd.group_rows(df, "system", 0.05)
    assert [(r.name, r.failed, r.releases) for r in rows] == [
        ("delta", 3, 3),
        ("gamma", 2, 6),
        ("beta", 2, 4),
        ("alpha", 0, 9),
    ]


def test_spread_sentence_tests_only_groups_with_a_rate() -> None:
    import polars as pl

    df = pl.DataFrame(_cohort_rows([("alpha", 20, 1), ("beta", 20, 9), ("gamma", 3, 3)]))
    rows = bd.group_rows(df, "system", 0.05)
    s = bd._spread_sentence("system", rows, 0.05, 5, overlapping=False)
    # gamma (3 of 3) has too few releases for a rate: beta is the highest, alpha the lowest.
    assert s.startswith("By system: highest CFR-DQ in beta (45% (9 of 20)), lowest in alpha")
    assert "Fisher's exact test" in s and "gamma" not in s
    assert "Bonferroni" not in s  # one pair of groups with a rate
    assert bd.difference_clause(0.02, 0.05, pairs=3) == (
        "within what chance alone gives (Fisher's exact test, p = 0.060, Bonferroni-adjusted "
        "for 3 pairs of groups)"
    )
