"""Background incidents: the ones no release caused (latency, availability, cost, quality and
compliance), including some during the change freeze that no release can be blamed for."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from analytics.core.policy import Policy
from analytics.sample.organisation import _SYSTEMS, _System
from analytics.sample.records import _D, _hours, _Incident, _pick, _Rel, _sec, _Timeline, _weighted

_CATEGORIES: tuple[tuple[str, float], ...] = (
    ("latency", 0.35),
    ("availability", 0.3),
    ("cost", 0.1),
    ("quality", 0.2),
    ("compliance", 0.05),
)
_TITLES: dict[str, tuple[str, ...]] = {
    "latency": (
        "p95 latency above SLO, GPU pool saturated",
        "Slow answers in the EU region after a network change",
    ),
    "availability": (
        "Upstream vector store outage, answers degraded to fallback",
        "Model endpoint returned 503s for 40 minutes",
    ),
    "cost": (
        "Spend alert: batch re-indexing, tokens billed twice",
        "Provider price change, cost per case up",
    ),
    "quality": (
        'Knowledge base article outdated, "how to" answers wrong',
        "Product catalogue sync failed, stale prices quoted",
    ),
    "compliance": (
        "Audit sample: retention notice missing in transcripts",
        "Consent banner text outdated in two languages",
    ),
}


def _background_incidents(
    releases: Mapping[str, list[_Rel]], tl: _Timeline, policy: Policy, rng: np.random.Generator
) -> list[_Incident]:
    """Per system with releases: about 1.3 external incidents a month (at least two when it has
    more than a week of history), then one per change freeze where no release can be blamed."""
    out: list[_Incident] = []
    window = int(policy.attribution_window_days * _D)
    for sys in _SYSTEMS:
        rels = releases[sys.name]
        if not rels:
            continue
        first = rels[0].released_at
        span_days = (tl.end - first) / _D
        n = max(2, int(rng.poisson(span_days / 30 * 1.3))) if span_days > 7 else 0
        for _ in range(n):
            out.append(_external_incident(sys, first, span_days, tl, rng))
        out.extend(_freeze_incidents(sys, rels, tl, window, rng))
    return out


def _external_incident(
    sys: _System, first: int, span_days: float, tl: _Timeline, rng: np.random.Generator
) -> _Incident:
    """An incident with an outside cause, detected at a random time after the system's first
    release; mostly without decision-quality impact, sometimes left open."""
    detected = _sec(first + 2 * _D + rng.uniform(0, max(0.0, span_days - 5)) * _D)
    category = _weighted(rng, _CATEGORIES)
    impact = ""
    if category == "quality":
        impact = "false" if rng.random() < 0.6 else ""
    elif category == "latency" and rng.random() < 0.12:
        impact = "true"
    elif rng.random() < 0.3:
        impact = "false"
    inc = _Incident(
        system=sys.name,
        detected_at=detected,
        severity=_weighted(rng, (("sev2", 0.15), ("sev3", 0.5), ("sev4", 0.35))),
        category=category,
        title=f"{sys.name}: {_pick(rng, _TITLES[category])}",
        cause="external",
        started_at=(_sec(detected - _hours(rng, 0.2, 12)) if rng.random() < 0.6 else None),
        detection_source=_pick(rng, ("alert", "dashboard", "customer", "operator")),
        dq_impact=impact,
    )
    if rng.random() < 0.12 or detected > tl.end - 3 * _D:
        inc.mitigation = "none"
    else:
        inc.mitigated_at = _sec(detected + _hours(rng, 0.5, 48))
        inc.mitigation = "config_fix" if rng.random() < 0.7 else "none"
    return inc


def _freeze_incidents(
    sys: _System, rels: list[_Rel], tl: _Timeline, window: int, rng: np.random.Generator
) -> list[_Incident]:
    """Incidents near the end of each change freeze, too long after the last release to
    attribute (``window``: the attribution window)."""
    out = []
    for _f0, f1 in tl.freezes:
        t = _sec(f1 - _hours(rng, 24, 72))
        before = [r.released_at for r in rels if r.released_at < t]
        if not before or t - max(before) <= window + _D or t >= tl.end:
            continue
        category = "quality" if sys.name == "support" else "availability"
        out.append(
            _Incident(
                system=sys.name,
                detected_at=t,
                severity="sev3",
                category=category,
                title=(
                    f"{sys.name}: wrong answers after upstream catalogue change, no release "
                    "in the freeze"
                ),
                cause="external",
                started_at=_sec(t - _hours(rng, 2, 10)),
                mitigated_at=_sec(t + _hours(rng, 2, 20)),
                mitigation="config_fix",
                detection_source="customer",
            )
        )
    return out
