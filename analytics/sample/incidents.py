"""Background incidents: the ones no release caused (latency, availability, cost, quality and
compliance), including some during the change freeze that no release can be blamed for."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from analytics.core.policy import Policy
from analytics.sample.organisation import _SYSTEMS
from analytics.sample.records import _D, _hours, _Incident, _pick, _Rel, _sec, _Timeline, _weighted


def _background_incidents(
    releases: Mapping[str, list[_Rel]], tl: _Timeline, policy: Policy, rng: np.random.Generator
) -> list[_Incident]:
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
            detected = _sec(first + 2 * _D + rng.uniform(0, max(0.0, span_days - 5)) * _D)
            category = _weighted(
                rng,
                (
                    ("latency", 0.35),
                    ("availability", 0.3),
                    ("cost", 0.1),
                    ("quality", 0.2),
                    ("compliance", 0.05),
                ),
            )
            impact = ""
            if category == "quality":
                impact = "false" if rng.random() < 0.6 else ""
            elif category == "latency" and rng.random() < 0.12:
                impact = "true"
            elif rng.random() < 0.3:
                impact = "false"
            titles = {
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
            inc = _Incident(
                system=sys.name,
                detected_at=detected,
                severity=_weighted(rng, (("sev2", 0.15), ("sev3", 0.5), ("sev4", 0.35))),
                category=category,
                title=f"{sys.name}: {_pick(rng, titles[category])}",
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
            out.append(inc)
        # Incidents during the change freeze, too long after the last release to attribute.
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
