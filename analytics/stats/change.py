"""Honest change statements: is this month different from the last one, or this team from the rest?

Overlapping 95 % intervals do not mean "no significant difference" (two intervals can overlap
while the difference is clearly significant), so a change statement is backed by a test of the
difference itself (METRICS.md "Change statements"):

- two rates (failed releases / releases): Fisher's exact test, two-sided (conditional on the
  margins; exact for the small monthly counts of releases, never anti-conservative);
- two estimates with standard errors (e.g. unit cost per case): the z test of the difference,
  ``(a - b) / sqrt(se_a^2 + se_b^2)``, with their independent normal errors;
- a trend of rates: a p-chart, centre ``p = sum(x) / sum(n)`` and 3-sigma limits
  ``p +- 3 sqrt(p (1 - p) / n_i)`` per month (clipped to [0, 1]); a month outside is a signal.

The wording follows the result: "beyond chance" only when p < alpha.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as sps


@dataclass(frozen=True)
class ChangeTest:
    """The test of a difference ``current - previous``."""

    current: float | None
    previous: float | None
    difference: float | None
    p_value: float | None
    method: str
    alpha: float = 0.05

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < self.alpha


def rate_change(x1: int, n1: int, x0: int, n0: int, alpha: float = 0.05) -> ChangeTest:
    """Rate ``x1 / n1`` (current) against ``x0 / n0`` (previous): Fisher's exact test."""
    if n1 <= 0 or n0 <= 0:
        cur = x1 / n1 if n1 > 0 else None
        prev = x0 / n0 if n0 > 0 else None
        return ChangeTest(cur, prev, None, None, "fisher_exact", alpha)
    p = float(sps.fisher_exact([[x1, n1 - x1], [x0, n0 - x0]]).pvalue)
    return ChangeTest(x1 / n1, x0 / n0, x1 / n1 - x0 / n0, min(1.0, p), "fisher_exact", alpha)


def estimate_change(
    current: float | None,
    se_current: float | None,
    previous: float | None,
    se_previous: float | None,
    alpha: float = 0.05,
) -> ChangeTest:
    """Estimate ``current`` against ``previous`` given their standard errors: two-sided z test."""
    if None in (current, se_current, previous, se_previous):
        diff = None if current is None or previous is None else current - previous
        return ChangeTest(current, previous, diff, None, "z_difference", alpha)
    assert current is not None and previous is not None  # for the type checker
    se = math.sqrt(float(se_current) ** 2 + float(se_previous) ** 2)  # type: ignore[arg-type]
    diff = current - previous
    if se == 0:
        return ChangeTest(current, previous, diff, None, "z_difference", alpha)
    p = 2 * float(sps.norm.sf(abs(diff) / se))
    return ChangeTest(current, previous, diff, p, "z_difference", alpha)


def se_from_interval(low: float | None, high: float | None, alpha: float = 0.05) -> float | None:
    """The standard error behind a symmetric normal ``(1 - alpha)`` interval."""
    if low is None or high is None:
        return None
    return (high - low) / (2 * float(sps.norm.ppf(1 - alpha / 2)))


@dataclass(frozen=True)
class PChart:
    """A p-chart over periods: centre line, per-period limits and the periods outside them."""

    centre: float | None
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    outside: tuple[int, ...]  # indices of the periods outside their limits


def p_chart(counts: Sequence[int], totals: Sequence[int], sigmas: float = 3.0) -> PChart:
    """Control limits for the rates ``counts[i] / totals[i]``; a period with no releases has no
    limits (nan) and is never outside."""
    n_all = sum(totals)
    if n_all == 0:
        nan = tuple(math.nan for _ in totals)
        return PChart(None, nan, nan, ())
    p = sum(counts) / n_all
    lower, upper, outside = [], [], []
    for i, (x, n) in enumerate(zip(counts, totals, strict=True)):
        if n == 0:
            lower.append(math.nan)
            upper.append(math.nan)
            continue
        half = sigmas * math.sqrt(p * (1 - p) / n)
        lo, hi = max(0.0, p - half), min(1.0, p + half)
        lower.append(lo)
        upper.append(hi)
        if not lo <= x / n <= hi:
            outside.append(i)
    return PChart(p, tuple(lower), tuple(upper), tuple(outside))


def plural(n: int, word: str, plural_form: str | None = None) -> str:
    """``1 release``, ``2 releases``, ``0 releases``."""
    return f"{n} {word if n == 1 else (plural_form or word + 's')}"


def format_p(p: float) -> str:
    """A p-value for a sentence: ``p = 0.031``, ``p < 0.001``."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def change_clause(test: ChangeTest) -> str:
    """The clause a change statement ends with, following the test's result."""
    if test.p_value is None:
        return "too little data to test the change"
    name = {"fisher_exact": "Fisher's exact test", "z_difference": "z test of the difference"}
    verdict = "a change beyond chance" if test.significant else "within what chance alone gives"
    return f"{verdict} ({name[test.method]}, {format_p(test.p_value)})"
