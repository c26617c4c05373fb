"""The generator's internal records (releases, rollout stages, incidents, planted regressions and
cost changes, the timeline) and its time and random-choice helpers. Times are integer
microseconds since 1970-01-01 UTC."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from analytics.core.policy import TIER_RANK
from analytics.metrics.incidents import DQ_CATEGORIES
from analytics.sample.organisation import _System

_US = 1_000_000
_H = 3600 * _US
_D = 24 * _H
_NEVER = 2**62
_EPOCH = datetime(1970, 1, 1)


@dataclass
class _Stage:
    pct: float
    start: int
    end: int
    segment: str
    decision: str
    decided_by: str
    stop_met: bool = False


@dataclass
class _Incident:
    system: str
    detected_at: int
    severity: str
    category: str
    title: str
    cause: str
    caused_by: _Rel | None = None
    link: _Rel | None = None
    started_at: int | None = None
    mitigated_at: int | None = None
    mitigation: str = "none"
    detection_source: str = "alert"
    dq_impact: str = ""  # "", "true" or "false" as written
    iid: str = ""

    @property
    def impact(self) -> bool:
        if self.dq_impact:
            return self.dq_impact == "true"
        return self.category in DQ_CATEGORIES


@dataclass
class _Regression:
    metric: str
    effect: float
    culprit: str
    path: str
    late: bool = False
    incident: _Incident | None = None
    effect_end: int | None = None
    fix: _Rel | None = None


@dataclass
class _CostChange:
    kind: str
    tokens: float
    price: float
    incident: _Incident | None = None
    fixed_at: int | None = None


@dataclass
class _Rel:
    system: _System
    kind: str  # first, monthly, weekly, daily, offtrain, urgent, fix
    released_at: int
    declared: str
    implied: str
    changed: tuple[str, ...]
    versions: dict[str, str]
    train: str
    requested_at: int
    stages: list[_Stage]
    prev: _Rel | None
    base: _Rel | None
    misclassified: bool
    owner: str = ""
    summary: str = ""
    regression: _Regression | None = None
    cost: _CostChange | None = None
    withdrawn_at: int | None = None
    withdraw_kind: str | None = None  # halt, rollback
    fix_for: _Rel | None = None
    next: _Rel | None = None
    marker_lag_h: float | None = None
    dq_active: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    dq_after: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    dq_switch: int = _NEVER
    tok_active: float = 1.0
    price_active: float = 1.0
    tok_after: float = 1.0
    price_after: float = 1.0
    cost_switch: int = _NEVER
    rid: str = ""
    local: int = 0
    gidx: int = 0

    @property
    def effective(self) -> str:
        return (
            self.declared if TIER_RANK[self.declared] >= TIER_RANK[self.implied] else self.implied
        )

    @property
    def rollout_done(self) -> int:
        return self.stages[-1].end


@dataclass
class _Timeline:
    start: int
    end: int
    months: int
    month_starts: tuple[int, ...]
    freezes: tuple[tuple[int, int], ...]


@dataclass
class _Tables:
    evidence: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------- time helpers


def _us(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(microseconds=1)


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


def _iso(us: int, offset: tuple[int, str] = (0, "Z")) -> str:
    return _dt(us + offset[0] * 60 * _US).strftime("%Y-%m-%dT%H:%M:%S") + offset[1]


def _sec(us: float) -> int:
    return int(us) // _US * _US


def _add_months(year: int, month: int, k: int) -> tuple[int, int]:
    return year + (month - 1 + k) // 12, (month - 1 + k) % 12 + 1


def _timeline(start: str, months: int) -> _Timeline:
    day = datetime.strptime(start, "%Y-%m-%d")
    if day.day != 1:
        raise ValueError(f"start must be the first day of a month, got {start!r}")
    starts = []
    for k in range(months + 1):
        y, m = _add_months(day.year, day.month, k)
        starts.append(_us(datetime(y, m, 1)))
    begin, end = starts[0], starts[-1]
    freezes = []
    for year in range(day.year - 1, _dt(end).year + 1):
        f0, f1 = _us(datetime(year, 12, 15)), _us(datetime(year + 1, 1, 12))
        if f0 < end and f1 > begin:
            freezes.append((f0, f1))
    return _Timeline(begin, end, months, tuple(starts[:-1]), tuple(freezes))


def _in_freeze(tl: _Timeline, t: int) -> bool:
    return any(a <= t < b for a, b in tl.freezes)


def _hours(rng: np.random.Generator, lo: float, hi: float) -> int:
    """A random duration in [lo, hi) hours, in whole seconds (as microseconds)."""
    return int(rng.uniform(lo, hi) * 3600) * _US


def _quad(values: Sequence[float] | np.ndarray) -> tuple[float, float, float, float]:
    a, b, c, d = (float(v) for v in values)
    return a, b, c, d


def _pick(rng: np.random.Generator, items: Sequence[Any]) -> Any:
    return items[int(rng.integers(len(items)))]


def _weighted(rng: np.random.Generator, pairs: Sequence[tuple[Any, float]]) -> Any:
    p = np.array([w for _, w in pairs], dtype=float)
    return pairs[int(rng.choice(len(pairs), p=p / p.sum()))][0]


def _window_end(rel: _Rel, tl: _Timeline, obs_window: int) -> int:
    """End of a release's comparison window: observation window, effect, serving, dataset."""
    ends = [rel.released_at + obs_window, tl.end]
    if rel.withdrawn_at is not None:
        ends.append(rel.withdrawn_at)
    if rel.regression is not None and rel.regression.effect_end is not None:
        ends.append(rel.regression.effect_end)
    if rel.next is not None:
        ends.append(rel.next.released_at)
    return min(ends)
