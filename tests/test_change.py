"""Change statements (analytics/stats/change.py) against p-values computed by hand."""

from __future__ import annotations

import math

import pytest

from analytics.stats.change import (
    change_clause,
    estimate_change,
    p_chart,
    plural,
    rate_change,
    se_from_interval,
)


def test_fisher_exact_by_hand() -> None:
    # 3/4 vs 0/4: margins 4, 4 and 3, 5; P(a) = C(4,a) C(4,3-a) / C(8,3) = 4, 24, 24, 4 (/56).
    # Two-sided: the tables no more likely than the observed one (a = 3, 4/56): a = 0 and 3.
    t = rate_change(3, 4, 0, 4)
    assert t.p_value == pytest.approx(8 / 56)
    assert (t.current, t.previous, t.difference) == (0.75, 0.0, 0.75)
    assert not t.significant
    # 5/5 vs 0/5: 2 of C(10,5) = 252 tables are as extreme.
    assert rate_change(5, 5, 0, 5).p_value == pytest.approx(2 / 252)
    assert rate_change(5, 5, 0, 5).significant


def test_no_releases_means_no_test() -> None:
    t = rate_change(0, 0, 2, 10)
    assert t.p_value is None and t.previous == 0.2
    assert change_clause(t) == "too little data to test the change"


def test_overlapping_intervals_can_still_differ() -> None:
    # 1.0 and 1.3 with standard errors 0.1: the 95 % intervals [0.80, 1.20] and [1.10, 1.50]
    # overlap, yet the difference (0.3, se sqrt(0.02)) is significant: z = 2.121, p = 0.0339.
    lo_a, hi_a = 1.0 - 1.959964 * 0.1, 1.0 + 1.959964 * 0.1
    lo_b, hi_b = 1.3 - 1.959964 * 0.1, 1.3 + 1.959964 * 0.1
    assert hi_a > lo_b  # the intervals overlap
    t = estimate_change(1.3, se_from_interval(lo_b, hi_b), 1.0, se_from_interval(lo_a, hi_a))
    z = 0.3 / math.sqrt(0.02)
    assert t.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-5)
    assert t.p_value == pytest.approx(0.0339, abs=1e-4)
    assert change_clause(t) == "a change beyond chance (z test of the difference, p = 0.034)"


def test_p_chart_by_hand() -> None:
    # 1/10, 2/10, 9/10: centre 12/30 = 0.4; limits 0.4 +- 3 sqrt(0.024) = [0, 0.8648].
    chart = p_chart([1, 2, 9], [10, 10, 10])
    assert chart.centre == pytest.approx(0.4)
    assert chart.upper[0] == pytest.approx(0.4 + 3 * math.sqrt(0.024))
    assert chart.lower == (0.0, 0.0, 0.0)
    assert chart.outside == (2,)
    # A month without releases has no limits and is never a signal.
    empty = p_chart([1, 0], [10, 0])
    assert math.isnan(empty.upper[1]) and empty.outside == ()


def test_wording_and_plurals() -> None:
    assert change_clause(rate_change(3, 4, 0, 4)) == (
        "within what chance alone gives (Fisher's exact test, p = 0.14)"
    )
    assert plural(1, "release") == "1 release"
    assert plural(0, "release") == "0 releases"
    assert plural(2, "incident") == "2 incidents"
    assert plural(3, "policy", "policies") == "3 policies"


def test_simulation_fisher_against_the_interval_overlap_rule() -> None:
    """Months of 20 releases: under no change Fisher's test keeps its level; with a real change
    (10 % -> 35 %) it finds it far more often than "the Wilson intervals do not overlap"."""
    import numpy as np

    from analytics.stats.summaries import wilson

    rng = np.random.default_rng(11)
    n, sims = 20, 1500

    def rates(p0: float, p1: float) -> tuple[float, float]:
        fisher = apart = 0
        for _ in range(sims):
            x0, x1 = int(rng.binomial(n, p0)), int(rng.binomial(n, p1))
            fisher += rate_change(x1, n, x0, n).significant
            lo1, hi1 = wilson(x1, n)
            lo0, hi0 = wilson(x0, n)
            apart += hi0 < lo1 or hi1 < lo0
        return fisher / sims, apart / sims

    null_fisher, null_apart = rates(0.15, 0.15)
    assert null_fisher <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / sims)
    power_fisher, power_apart = rates(0.10, 0.35)
    assert power_fisher > power_apart + 0.05
    assert null_apart <= null_fisher  # the overlap rule is even more conservative


def test_periods() -> None:
    from analytics.core.periods import period_months, previous_period

    assert period_months("2026-10") == ["2026-10"]
    assert period_months("2026-Q3") == ["2026-07", "2026-08", "2026-09"]
    assert period_months("2026") == [f"2026-{m:02d}" for m in range(1, 13)]
    for bad in ("2026-13", "2026-Q5", "26", "2026-q1", "2026-10-01"):
        with pytest.raises(ValueError):
            period_months(bad)
    assert [previous_period(p) for p in ("2026-01", "2026-Q1", "2026-Q3", "2026")] == [
        "2025-12",
        "2025-Q4",
        "2026-Q2",
        "2025",
    ]
