"""Formatting of numbers, intervals, times and months for the report sections, and the
labels shared by the sections.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from analytics.core.results import RateResult
from analytics.report.html import Safe, _badge, _join

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
