"""The release schedule: one system's releases placed on its trains, with their rollouts, planted
regressions, cost changes and the incidents they cause, and each release's summary text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from analytics.core.policy import COMPONENTS, TIER_RANK, TIERS, Policy
from analytics.sample.organisation import (
    _CULPRIT_METRICS,
    _ROLLBACK_MITIGATION,
    _SUMMARIES,
    _VERSION_FORMATS,
    DQ_METRICS,
    _System,
)
from analytics.sample.records import (
    _D,
    _H,
    _US,
    _add_months,
    _CostChange,
    _dt,
    _hours,
    _in_freeze,
    _Incident,
    _pick,
    _quad,
    _Regression,
    _Rel,
    _sec,
    _Stage,
    _Timeline,
    _us,
    _weighted,
)


class _Scheduler:
    """Places one system's releases on its trains and plants regressions and cost changes."""

    def __init__(self, system: _System, policy: Policy, tl: _Timeline, rng: np.random.Generator):
        self.sys, self.policy, self.tl, self.rng = system, policy, tl, rng
        trains = policy.section("trains")
        self.weekly_days = tuple(int(d) for d in trains.get("weekly_days", (2, 3)))
        self.first_days = int(trains.get("monthly_first_days", 7))
        cmt = policy.component_min_tier
        self.by_tier = {t: [c for c in COMPONENTS if cmt[c] == t] for t in TIERS}
        self.counters = {c: 0 for c in COMPONENTS}
        self.releases: list[_Rel] = []
        self.incidents: list[_Incident] = []

    # -- calendar
    def _launch(self) -> int:
        # Short ranges launch every system early enough to have a history.
        offset = min(self.sys.launch_months, self.tl.months // 6)
        y, m = _add_months(_dt(self.tl.start).year, _dt(self.tl.start).month, offset)
        day = datetime(y, m, self.sys.launch_day)
        while not self._monthly_window(day):
            day += timedelta(days=1)
        return _us(day) + 9 * _H + int(self.rng.integers(0, 120)) * 60 * _US

    def _monthly_window(self, day: datetime) -> bool:
        return day.isoweekday() in self.weekly_days and day.day <= self.first_days

    def _slots(self, after: int) -> list[tuple[int, str]]:
        rng, out = self.rng, []
        day = _dt(after - after % _D) + timedelta(days=1)
        seen_months: set[tuple[int, int]] = set()
        while _us(day) < self.tl.end - _D:
            t0 = _us(day)
            wd = day.isoweekday()
            if wd <= 5 and not _in_freeze(self.tl, t0):

                def minute(lo: int, hi: int, t0: int = t0) -> int:
                    return t0 + int(rng.integers(lo * 60, hi * 60)) * 60 * _US

                if self._monthly_window(day) and (day.year, day.month) not in seen_months:
                    seen_months.add((day.year, day.month))
                    if rng.random() < 0.9:
                        out.append((minute(8, 11), "monthly"))
                if wd in self.weekly_days:
                    if rng.random() < 0.5:
                        out.append((minute(10, 14), "weekly"))
                    if day.day > self.first_days + 3 and rng.random() < 0.035:
                        out.append((minute(9, 15), "offtrain"))
                if rng.random() < 0.45:
                    out.append((minute(8, 15), "daily"))
                if not self._monthly_window(day) and rng.random() < 0.008:
                    out.append((minute(8, 15), "urgent"))
            day += timedelta(days=1)
        order = {"monthly": 0, "urgent": 1, "offtrain": 2, "weekly": 3, "daily": 4}
        return sorted(out, key=lambda s: (s[0], order[s[1]]))

    # -- components
    def _implied(self, comps: Sequence[str]) -> str:
        return max((self.policy.component_min_tier[c] for c in comps), key=TIER_RANK.__getitem__)

    def _components(self, tier: str, k_extra: int | None = None) -> tuple[str, ...]:
        rng = self.rng
        pool = self.by_tier[tier]
        first = _pick(rng, pool)
        if k_extra is None:
            k_extra = int(rng.choice(3, p=(0.5, 0.35, 0.15)))
        lower = [
            c
            for c in COMPONENTS
            if TIER_RANK[self.policy.component_min_tier[c]] <= TIER_RANK[tier] and c != first
        ]
        extra = (
            list(rng.choice(lower, size=min(k_extra, len(lower)), replace=False)) if lower else []
        )
        chosen = {first, *extra}
        return tuple(c for c in COMPONENTS if c in chosen)

    def _versions(self, prev: _Rel | None, changed: Sequence[str]) -> dict[str, str]:
        versions = dict(prev.versions) if prev else {}
        for c in changed:
            self.counters[c] += 1
            n = self.counters[c]
            versions[c] = _VERSION_FORMATS[c].format(
                sys=self.sys.name, n=n, major=1 + n // 4, minor=n % 4
            )
        return versions

    # -- rollout
    def _stages(self, plan: Sequence[float], t0: int, fast: bool) -> list[_Stage]:
        rng, sys = self.rng, self.sys
        stages: list[_Stage] = []
        restrict = _pick(rng, sys.easy_segments) if len(plan) > 1 and rng.random() < 0.15 else None
        hold_at = int(rng.integers(len(plan) - 1)) if len(plan) > 1 and rng.random() < 0.06 else -1
        t = t0
        for i, pct in enumerate(plan):
            if i == len(plan) - 1:
                dur = _hours(rng, 0.3, 1.0) if fast else _hours(rng, 1.0, 4.0)
                stages.append(_Stage(pct, t, t + dur, "all", "complete", _pick(rng, sys.operators)))
                break
            if fast:
                dur = _hours(rng, 0.5, 1.5)
            elif pct <= 1:
                dur = _hours(rng, 16, 28)
            elif pct <= 20:
                dur = _hours(rng, 14, 30)
            else:
                dur = _hours(rng, 10, 24)
            seg = restrict if restrict and pct < 20 else "all"
            decider = "rollout-controller" if rng.random() < 0.5 else _pick(rng, sys.operators)
            if i == hold_at:
                stages.append(_Stage(pct, t, t + dur, seg, "hold", decider, rng.random() < 0.5))
                t += dur
                dur = _hours(rng, 8, 20)
            stages.append(_Stage(pct, t, t + dur, seg, "advance", decider))
            t += dur
        return stages

    def _plan(self, declared: str, kind: str) -> tuple[float, ...]:
        plan = tuple(self.policy.tiers[declared].rollout_plan) or (100.0,)
        if kind in ("monthly", "offtrain") and len(plan) > 1 and self.rng.random() < 0.12:
            options = [(plan[0], plan[2], 100.0), (plan[1], 100.0), (100.0,), (plan[0], 100.0)]
            return _pick(self.rng, [o for o in options if len(o) < len(plan)] or [(100.0,)])
        if declared == "medium" and kind == "weekly" and len(plan) > 1 and self.rng.random() < 0.04:
            return (100.0,)
        return plan

    # -- one release
    def _release(self, kind: str, t0: int, culprit: str | None = None) -> _Rel:
        """A release of ``kind`` at ``t0`` (``culprit``: the component a fix release changes)
        with its tiers, train, rollout stages, change lead time and versions, carrying the cost
        level of the release it replaces; appended to the system's releases."""
        rng, policy = self.rng, self.policy
        prev = self.releases[-1] if self.releases else None
        base = None
        if prev is not None:
            base = prev if prev.withdrawn_at is None else prev.base
        declared, changed = self._change(kind, culprit)
        implied = self._implied(changed)
        misclassified = TIER_RANK[declared] < TIER_RANK[implied]
        train = {
            "offtrain": "weekly" if rng.random() < 0.6 else "monthly",
            "urgent": "emergency",
            "fix": "emergency",
        }.get(kind, policy.tiers[declared].train)
        fast = kind in ("urgent", "fix")
        plan = tuple(policy.tiers[declared].rollout_plan) if fast else self._plan(declared, kind)
        stages = self._stages(plan or (100.0,), t0, fast)
        lead = {
            "low": rng.lognormal(np.log(20), 0.7),
            "medium": rng.lognormal(np.log(96), 0.6),
            "high": rng.lognormal(np.log(400), 0.5),
        }[declared]
        if fast:
            lead = rng.uniform(1, 8)
        rel = _Rel(
            system=self.sys,
            kind=kind,
            released_at=t0,
            declared=declared,
            implied=implied,
            changed=changed,
            versions=self._versions(prev, changed),
            train=train,
            requested_at=_sec(t0 - lead * _H),
            stages=stages,
            prev=prev,
            base=base,
            misclassified=misclassified,
            local=len(self.releases),
        )
        noise = rng.normal(0.0, (0.015, 0.015, 0.015, 0.003))
        rel.dq_active = rel.dq_after = _quad(1 + np.clip(noise, -0.03, 0.03))
        if base is not None:
            rel.tok_active = rel.tok_after = base.tok_after
            rel.price_active = rel.price_after = base.price_after
        self.releases.append(rel)
        return rel

    def _change(self, kind: str, culprit: str | None) -> tuple[str, tuple[str, ...]]:
        """The declared tier and the changed components of a release of ``kind``. A few weekly
        and daily releases change components above their declared tier (misclassified)."""
        rng = self.rng
        if kind == "first":
            return "high", tuple(COMPONENTS)
        if kind in ("monthly", "offtrain"):
            return "high", self._components("high")
        if kind == "urgent":
            return "high", tuple(
                c
                for c in COMPONENTS
                if c in ("safety_policy", "prompt") and (c == "safety_policy" or rng.random() < 0.4)
            )
        if kind == "fix":
            assert culprit is not None
            return self.policy.component_min_tier[culprit], (culprit,)
        r = rng.random()
        if kind == "weekly":
            if r < 0.1:
                return "medium", self._components("high", int(rng.integers(0, 2)))
            if r < 0.14:
                return "medium", self._components("low", 0)
            return "medium", self._components("medium")
        # daily
        if r < 0.065:
            return "low", self._components("medium", int(rng.integers(0, 2)))
        if r < 0.085:
            return "low", self._components("high", 0)
        return "low", self._components("low", 0)

    # -- regressions and cost changes
    def _maybe_regress(self, rel: _Rel) -> int:
        """Plant a regression on ``rel`` (otherwise maybe a cost change) and play out its path;
        returns the earliest time of the next release."""
        rng = self.rng
        ready = max(rel.rollout_done + 2 * _H, rel.released_at + 20 * _H)
        p = 0.32 + (0.2 if rel.misclassified else 0.0) + (0.05 if rel.implied == "high" else 0)
        if not self._can_regress(rel) or rng.random() >= p:
            return self._maybe_cost(rel, ready)
        reg, canary = self._plant_regression(rel)
        if reg.path.startswith("incident"):
            ready = self._incident_path(rel, ready)
        if reg.path in ("canary_halt", "canary_rollback"):
            ready = self._canary_path(rel, canary, ready)
        if reg.path == "undetected":
            ready = max(ready, rel.released_at + int(8.5 * _D))
            if canary and rng.random() < 0.35:
                rel.stages[canary[0]].stop_met = True  # the canary saw it; nobody stopped
        return ready

    @staticmethod
    def _can_regress(rel: _Rel) -> bool:
        """Plant only where the previous release served all traffic for a few days, so the
        comparison has a baseline (and neither is a first release or a fix)."""
        prev = rel.prev
        return (
            prev is not None
            and rel.kind not in ("first", "fix")
            and prev.regression is None
            and prev.withdrawn_at is None
            and prev.fix_for is None
            and rel.released_at - prev.stages[-1].start >= 3 * _D
        )

    def _plant_regression(self, rel: _Rel) -> tuple[_Regression, list[int]]:
        """Choose the culprit component, the metric it regresses, the effect and the path; set
        the release's state. Returns the regression and the indices of the canary stages."""
        rng, prev = self.rng, rel.prev
        assert prev is not None
        culprit = _pick(rng, rel.changed)
        metric = _weighted(rng, _CULPRIT_METRICS[culprit])
        subtle = rng.random() < 0.1
        if metric == "quality_score":
            effect = -0.04 if subtle else float(_pick(rng, (-0.06, -0.08, -0.1, -0.12)))
        elif metric == "policy_violation_rate":
            effect = float(_pick(rng, (1.0, 1.5, 2.0)))
        else:
            effect = 0.2 if subtle else float(_pick(rng, (0.4, 0.5, 0.6, 0.8)))
        canary = [i for i, s in enumerate(rel.stages) if s.pct < 100]
        paths = [
            ("incident_rollback", 0.33),
            ("incident_roll_forward", 0.12),
            ("incident_config_fix", 0.08),
            ("undetected", 0.3),
        ]
        if canary:
            paths += [("canary_halt", 0.07), ("canary_rollback", 0.1)]
        reg = _Regression(metric, effect, culprit, _weighted(rng, paths))
        rel.regression = reg
        m = DQ_METRICS.index(metric)
        active = list(prev.dq_active)
        active[m] *= 1 + effect
        rel.dq_active, rel.dq_after = _quad(active), prev.dq_active
        return reg, canary

    def _incident_path(self, rel: _Rel, ready: int) -> int:
        """An incident detects the regression (late in about three cases of ten), then a
        rollback, a config fix or a roll-forward fix release mitigates it; detected too close to
        the end of the period, the regression stays undetected. Returns the next ready time."""
        rng, reg, t0 = self.rng, rel.regression, rel.released_at
        assert reg is not None
        path = reg.path
        reg.late = rng.random() < 0.3
        delay = _hours(rng, 72, 192) if reg.late else _hours(rng, 2, 30)
        if path == "incident_roll_forward":
            delay += rel.rollout_done - t0
        detected = _sec(t0 + delay)
        if detected > self.tl.end - 2 * _D:
            reg.path = "undetected"
            return ready
        reg.incident = inc = self._dq_incident(rel, detected)
        if path == "incident_rollback":
            back = _sec(detected + _hours(rng, 0.5, 8))
            inc.mitigated_at, inc.mitigation = (
                back,
                _ROLLBACK_MITIGATION.get(reg.culprit, "model_rollback"),
            )
            self._withdraw(rel, back, "rollback")
            return max(ready, back + _hours(rng, 24, 48))
        if path == "incident_config_fix":
            fixed = _sec(detected + _hours(rng, 1, 12))
            inc.mitigated_at, inc.mitigation = fixed, "config_fix"
            rel.dq_switch = reg.effect_end = fixed
            return max(ready, fixed + _D, t0 + int(8.5 * _D))
        fix_at = _sec(detected + _hours(rng, 2, 20))
        inc.mitigated_at, inc.mitigation = fix_at, "roll_forward"
        fix = self._release("fix", fix_at, reg.culprit)
        fix.fix_for, reg.fix = rel, fix
        return max(fix.rollout_done + 2 * _H, fix_at + 20 * _H)

    def _canary_path(self, rel: _Rel, canary: list[int], ready: int) -> int:
        """The canary catches the regression: one of its first two stages ends early with a
        halt or rollback. Returns the next ready time."""
        rng, reg = self.rng, rel.regression
        assert reg is not None
        k = canary[0] if len(canary) == 1 or rng.random() < 0.6 else canary[1]
        stage = rel.stages[k]
        stop = _sec(stage.start + rng.uniform(0.3, 0.9) * (stage.end - stage.start))
        self._withdraw(rel, stop, "halt" if reg.path == "canary_halt" else "rollback")
        return max(ready, stop + _D)

    def _withdraw(self, rel: _Rel, at: int, how: str) -> None:
        """Stop serving ``rel`` at ``at``: the stage running then ends with ``how``."""
        rel.withdrawn_at, rel.withdraw_kind = at, how
        for i, stage in enumerate(rel.stages):
            if stage.start <= at < stage.end:
                stage.end, stage.decision, stage.stop_met = at, how, True
                del rel.stages[i + 1 :]
                return
        # Rolled back after the rollout completed: only the operator decision records it.

    def _dq_incident(self, rel: _Rel, detected: int) -> _Incident:
        rng, reg = self.rng, rel.regression
        assert reg is not None
        if reg.metric == "policy_violation_rate":
            category = "safety" if rng.random() < 0.6 else "compliance"
            severity = "sev1" if rng.random() < 0.3 else "sev2"
            source = _pick(rng, ("alert", "audit", "customer"))
            title = f"Policy violations up in {self.sys.name}, flagged by {source}"
        else:
            category = "quality" if rng.random() < 0.9 else "compliance"
            severity = _weighted(rng, (("sev2", 0.5), ("sev3", 0.4), ("sev1", 0.1)))
            source = _pick(rng, ("alert", "dashboard", "operator", "customer"))
            what = {
                "escalation_rate": "escalations to agents",
                "rework_rate": "reworked cases",
                "quality_score": "answer quality scores",
            }[reg.metric]
            verb = "down" if reg.metric == "quality_score" else "up"
            title = f'{self.sys.name}: {what} {verb} since release, "{reg.culprit}" suspected'
        if reg.late:
            source = _pick(rng, ("customer", "audit", "dashboard"))
        started = None
        if rng.random() < 0.7:
            span = max(0.5, min(6.0, (detected - rel.released_at) / _H / 2))
            started = _sec(rel.released_at + _hours(rng, 0.25, span))
        inc = _Incident(
            system=self.sys.name,
            detected_at=detected,
            severity=severity,
            category=category,
            title=title,
            cause="planted_regression",
            caused_by=rel,
            link=rel if rng.random() < 0.45 else None,
            started_at=started,
            detection_source=source,
            dq_impact="true" if rng.random() < 0.4 else "",
        )
        self.incidents.append(inc)
        return inc

    def _maybe_cost(self, rel: _Rel, ready: int) -> int:
        rng = self.rng
        if rel.kind in ("first", "fix") or rel.base is None:
            return ready
        level = rel.tok_active * rel.price_active
        if level > 1.5 and rng.random() < 0.35:
            tok, price = rng.uniform(0.9, 1.05) / rel.tok_active, 1.0 / rel.price_active
            rel.cost = _CostChange("decrease", float(tok), float(price))
        else:
            p = 0.05 + (0.08 if {"model", "inference_config", "routing"} & set(rel.changed) else 0)
            if rng.random() >= p:
                return ready
            tok, price = rng.uniform(1.7, 2.4), rng.uniform(1.0, 1.35)
            rel.cost = _CostChange("increase", float(tok), float(price))
        base_tok, base_price = rel.tok_active, rel.price_active
        rel.tok_active = rel.tok_after = base_tok * rel.cost.tokens
        rel.price_active = rel.price_after = base_price * rel.cost.price
        if rel.cost.kind == "increase" and rng.random() < 0.45:
            detected = _sec(rel.released_at + _hours(rng, 36, 120))
            if detected < self.tl.end - 2 * _D:
                inc = _Incident(
                    system=self.sys.name,
                    detected_at=detected,
                    severity=_pick(rng, ("sev3", "sev4")),
                    category="cost",
                    title=f"{self.sys.name}: model spend per case up, tokens per answer doubled",
                    cause="cost_increase",
                    caused_by=rel,
                    link=rel if rng.random() < 0.5 else None,
                    started_at=(
                        _sec(rel.released_at + _hours(rng, 1, 6)) if rng.random() < 0.6 else None
                    ),
                    detection_source="dashboard",
                    dq_impact="" if rng.random() < 0.6 else "false",
                )
                rel.cost.incident = inc
                self.incidents.append(inc)
                if rng.random() < 0.55:
                    fixed = _sec(detected + _hours(rng, 2, 24))
                    inc.mitigated_at, inc.mitigation = fixed, "config_fix"
                    rel.cost.fixed_at = rel.cost_switch = fixed
                    rel.tok_after, rel.price_after = base_tok, base_price
                    ready = max(ready, fixed + 12 * _H)
                else:
                    ready = max(ready, detected + 12 * _H)
        return ready

    def _stop_condition_noise(self, rel: _Rel) -> None:
        """A few canaries raise a stop condition that is ignored although nothing is wrong."""
        canary = [s for s in rel.stages if s.pct < 100 and s.decision == "advance"]
        if rel.regression is None and canary and self.rng.random() < 0.02:
            canary[0].stop_met = True

    def run(self) -> list[_Rel]:
        launch = self._launch()
        if launch >= self.tl.end - 2 * _D:
            return self.releases
        first = self._release("first", launch)
        ready = max(first.rollout_done + 2 * _H, first.released_at + 20 * _H)
        for t, kind in self._slots(first.released_at):
            if t < ready:
                continue
            rel = self._release(kind, t)
            ready = self._maybe_regress(rel)
            self._stop_condition_noise(rel)
        return self.releases


# ---------------------------------------------------------------- text


def _summary(rel: _Rel, rng: np.random.Generator) -> str:
    if rel.kind == "first":
        return (
            f"First production release of the {rel.system.label}: model, prompt, tools, "
            "safety policy, routing and evals"
        )
    parts = [_pick(rng, _SUMMARIES[c]).format(v=rel.versions[c]) for c in rel.changed]
    text = "; ".join(parts)
    if rel.kind == "fix" and rel.fix_for is not None and rel.fix_for.regression is not None:
        metric = rel.fix_for.regression.metric.replace("_", " ")
        return f"Hotfix, roll forward after {metric} regression in {rel.fix_for.rid}: {text}"
    if rel.kind == "urgent":
        return f"Urgent safety patch: {text}"
    return text
