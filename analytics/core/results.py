"""Typed, frozen KPI results. Every result carries its counts, interval, status and message.

``to_dict`` gives the JSON of docs/data-contract.md: plain numbers or null, never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime
from typing import Any, Literal

Status = Literal["ok", "insufficient_data", "immature"]


def clean(value: Any) -> Any:
    """Make a value JSON-ready: NaN/inf -> None, datetimes -> ISO 8601, dataclasses -> dicts."""
    if is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_dict"):
            return value.to_dict()
        return {f.name: clean(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return clean(value.item())
    return value


@dataclass(frozen=True)
class RateResult:
    """A share: numerator / denominator with a Wilson interval."""

    value: float | None
    numerator: int
    denominator: int
    ci_low: float | None = None
    ci_high: float | None = None
    status: Status = "ok"
    message: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "value": self.value,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "status": self.status,
            "message": self.message,
        }
        out.update(self.extra)
        return clean(out)


@dataclass(frozen=True)
class DurationResult:
    """Durations in hours: summary of the observed ones plus a Kaplan-Meier median that also
    uses the right-censored ones."""

    mean: float | None
    median: float | None
    p90: float | None
    n: int
    n_censored: int = 0
    km_median: float | None = None
    km_ci_low: float | None = None
    km_ci_high: float | None = None
    ci_low: float | None = None  # interval of the mean (t-based)
    ci_high: float | None = None
    status: Status = "ok"
    message: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        out.update(self.extra)
        return clean(out)


@dataclass(frozen=True)
class EstimateResult:
    """A difference or level estimate with an interval."""

    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    status: Status = "ok"
    message: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        out.update(self.extra)
        return clean(out)
