"""Reporting periods and the ``as_of`` time: one parser each, used by the library, the CLI and
the reports alike."""

from __future__ import annotations

import re
from datetime import UTC, datetime

MONTH_RE = re.compile(r"(\d{4})-(\d{2})")


def parse_as_of(text: str) -> datetime:
    """An ``as_of`` timestamp: ISO 8601 with an offset (``Z`` accepted), returned in UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return utc_as_of(value, text)


def utc_as_of(value: datetime, text: str | None = None) -> datetime:
    """``value`` in UTC (the timezone of every table); a naive datetime is an error, since
    what was known when depends on the offset."""
    if value.tzinfo is None:
        raise ValueError(f"as_of {text or value!r} needs an offset, e.g. 2026-11-01T00:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"as_of {text or value!r} is out of range") from exc


def parse_month(text: str) -> str:
    """A month ``YYYY-MM`` (month 01-12), returned unchanged; ``ValueError`` otherwise."""
    m = MONTH_RE.fullmatch(text)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"month {text!r} must be YYYY-MM")
    return text


def month_range(end_month: str, count: int) -> list[str]:
    """``count`` consecutive months ending with ``end_month``, oldest first."""
    year, mon = (int(x) for x in parse_month(end_month).split("-"))
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{mon:02d}")
        mon -= 1
        if mon == 0:
            year, mon = year - 1, 12
    return months[::-1]


QUARTER_RE = re.compile(r"(\d{4})-Q([1-4])")
YEAR_RE = re.compile(r"\d{4}")


def period_months(period: str) -> list[str]:
    """The months of a reporting period: ``2026-10`` (a month), ``2026-Q3`` (a quarter: July to
    September) or ``2026`` (a year), oldest first; ``ValueError`` otherwise."""
    if MONTH_RE.fullmatch(period):
        return [parse_month(period)]
    if m := QUARTER_RE.fullmatch(period):
        year, quarter = int(m.group(1)), int(m.group(2))
        return [f"{year:04d}-{3 * (quarter - 1) + k:02d}" for k in (1, 2, 3)]
    if YEAR_RE.fullmatch(period):
        return [f"{period}-{k:02d}" for k in range(1, 13)]
    raise ValueError(f"period {period!r} must be YYYY-MM, YYYY-Qn or YYYY")


def previous_period(period: str) -> str:
    """The period before ``period``, of the same kind (``2026-Q1`` -> ``2025-Q4``)."""
    months = period_months(period)
    if len(months) == 1:
        return month_range(period, 2)[0]
    if len(months) == 3:
        year, quarter = int(period[:4]), int(period[-1])
        return f"{year - 1}-Q4" if quarter == 1 else f"{year}-Q{quarter - 1}"
    return str(int(period) - 1)


def period_kind(period: str) -> str:
    """``month``, ``quarter`` or ``year``: the kind of ``period`` (``ValueError`` otherwise)."""
    return {1: "month", 3: "quarter", 12: "year"}[len(period_months(period))]
