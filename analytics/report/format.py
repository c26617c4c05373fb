"""Formatting of numbers, intervals, times and months for the report sections, and the
labels shared by the sections.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from analytics.core.periods import period_months
from analytics.core.results import RateResult
from analytics.report.html import Safe, _badge, _join
from analytics.stats.change import ChangeTest, format_p, plural

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


def period_name(period: str) -> str:
    """A reporting period in words: ``2026-10`` as ``October 2026``, ``2026-Q3`` as
    ``Q3 2026 (July to September)``, ``2026`` as ``2026``."""
    months = period_months(period)
    if len(months) == 1:
        return month_name(period)
    if len(months) == 3:
        first, last = (MONTH_NAMES[int(m[5:]) - 1] for m in (months[0], months[-1]))
        return f"{period[-2:]} {period[:4]} ({first} to {last})"
    return period


def fmt_time(t: datetime | None) -> str:
    return "n/a" if t is None else t.strftime("%Y-%m-%d %H:%M UTC")


def _rate_text(r: RateResult, unit: str = "releases") -> str:
    if r.value is None:
        return f"no data ({r.message or r.status})"
    return f"{fmt_pct(r.value)} ({r.numerator} of {r.denominator} {unit})"


# ---------------------------------------------------------------- words


def be(n: int, *, past: bool = False) -> str:
    """The verb for a count: ``is``/``are`` (``was``/``were`` when ``past``)."""
    if past:
        return "was" if n == 1 else "were"
    return "is" if n == 1 else "are"


def counted(n: int, word: str, *, past: bool = True) -> str:
    """A count, its noun and the verb: ``1 release was``, ``2 releases were``."""
    return f"{plural(n, word)} {be(n, past=past)}"


def share(r: RateResult, min_n: int = 0) -> str:
    """A rate as ``50% (2 of 4)``; only the counts, ``2 of 4``, when it rests on fewer than
    ``min_n`` (a view or group too small for a rate)."""
    if r.value is None or r.denominator < min_n:
        return f"{r.numerator} of {r.denominator}"
    return f"{fmt_pct(r.value)} ({r.numerator} of {r.denominator})"


def change_note(test: ChangeTest) -> str:
    """The result of a change test in a few words, for a tile: ``beyond chance, p = 0.012``,
    ``within chance, p = 0.41``; empty when there was nothing to test."""
    if test.p_value is None:
        return ""
    return f"{'beyond' if test.significant else 'within'} chance, {format_p(test.p_value)}"


def _status_note(status: str, message: str) -> Safe | None:
    if status == "ok":
        return None
    label = {"immature": "immature", "insufficient_data": "insufficient data"}.get(status, status)
    return _join([_badge(label, "warn"), " ", message])
