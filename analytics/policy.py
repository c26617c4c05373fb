"""The release policy: every threshold the package uses, loaded once.

The shipped default lives in ``default_policy.yaml`` beside this module. A user policy may set
any subset of keys; it is merged over the default key by key through nested mappings, and a
list in the user file replaces the default list (docs/data-contract.md).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from analytics.errors import DataError

TIERS: tuple[str, ...] = ("low", "medium", "high")
TIER_RANK: dict[str, int] = {t: i for i, t in enumerate(TIERS)}
COMPONENTS: tuple[str, ...] = (
    "model",
    "inference_config",
    "prompt",
    "tools",
    "safety_policy",
    "routing",
    "eval_set",
)
DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.yaml")


@dataclass(frozen=True)
class TierPolicy:
    required_evidence: tuple[str, ...]
    required_gates: tuple[str, ...]
    rollout_plan: tuple[float, ...]
    required_approvals: tuple[str, ...]
    train: str


@dataclass(frozen=True)
class MetricRule:
    """A decision-quality metric: which direction is worse and the tolerated relative change."""

    worse: Literal["up", "down"]
    margin: float


@dataclass(frozen=True)
class Costs:
    human_hourly_usd: float
    rework_usd: float
    escalation_usd: float


@dataclass(frozen=True)
class Policy:
    """The merged policy. ``raw`` keeps the whole merged mapping for sections owned by modules."""

    timezone: str
    assume_timezone: str | None
    attribution_window_days: float
    observation_window_days: float
    alpha: float
    tiers: Mapping[str, TierPolicy]
    component_min_tier: Mapping[str, str]
    failure_signals: Mapping[str, bool]
    decision_quality_metrics: Mapping[str, MetricRule]
    costs: Costs
    raw: Mapping[str, Any] = field(repr=False)
    source: str = "default"

    def section(self, name: str) -> Mapping[str, Any]:
        """A policy section as a mapping (empty when the policy has none)."""
        value = self.raw.get(name) or {}
        if not isinstance(value, Mapping):
            raise DataError(f"policy: key '{name}' must be a mapping")
        return value

    @property
    def fingerprint(self) -> str:
        """A short hash of the merged policy, for report footers."""
        text = json.dumps(self.raw, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` over ``base`` through nested mappings; lists and scalars replace."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DataError(f"policy: {path} is not valid YAML: {exc}") from exc
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise DataError(f"policy: {path} must hold a mapping at the top level")
    return content


def _zone(name: Any, key: str) -> str:
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DataError(f"policy: key '{key}' names an unknown timezone {name!r}") from exc
    return str(name)


def _number(raw: Mapping[str, Any], key: str, *, low: float, high: float | None = None) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"policy: key '{key}' must be a number, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise DataError(f"policy: key '{key}' must be {bound}, got {value!r}")
    return float(value)


def policy_from_mapping(raw: Mapping[str, Any], source: str = "mapping") -> Policy:
    """Build a Policy from an already merged mapping, checking every key the package reads."""
    tiers: dict[str, TierPolicy] = {}
    for tier in TIERS:
        spec = (raw.get("tiers") or {}).get(tier)
        if not isinstance(spec, Mapping):
            raise DataError(f"policy: tiers.{tier} is missing")
        plan = tuple(float(p) for p in spec.get("rollout_plan") or ())
        if any(not 0 < p <= 100 for p in plan):
            raise DataError(f"policy: tiers.{tier}.rollout_plan must hold percentages in (0, 100]")
        tiers[tier] = TierPolicy(
            required_evidence=tuple(spec.get("required_evidence") or ()),
            required_gates=tuple(spec.get("required_gates") or ()),
            rollout_plan=plan,
            required_approvals=tuple(spec.get("required_approvals") or ()),
            train=str(spec.get("train", "")),
        )
    cmt = dict(raw.get("component_min_tier") or {})
    for comp in COMPONENTS:
        if cmt.get(comp) not in TIERS:
            raise DataError(f"policy: component_min_tier.{comp} must be one of {TIERS}")
    metrics: dict[str, MetricRule] = {}
    for name, rule in (raw.get("decision_quality_metrics") or {}).items():
        if not isinstance(rule, Mapping) or rule.get("worse") not in ("up", "down"):
            raise DataError(f"policy: decision_quality_metrics.{name}.worse must be up or down")
        margin = rule.get("margin", 0.0)
        if not isinstance(margin, int | float) or margin < 0:
            raise DataError(f"policy: decision_quality_metrics.{name}.margin must be >= 0")
        metrics[name] = MetricRule(worse=rule["worse"], margin=float(margin))
    costs = raw.get("costs") or {}
    assume = raw.get("assume_timezone")
    return Policy(
        timezone=_zone(raw.get("timezone", "UTC"), "timezone"),
        assume_timezone=None if assume in (None, "") else _zone(assume, "assume_timezone"),
        attribution_window_days=_number(raw, "attribution_window_days", low=0),
        observation_window_days=_number(raw, "observation_window_days", low=0),
        alpha=_number(raw, "alpha", low=1e-6, high=0.5),
        tiers=tiers,
        component_min_tier=cmt,
        failure_signals={
            k: bool((raw.get("failure_signals") or {}).get(k, True))
            for k in ("incident", "rollback", "telemetry")
        },
        decision_quality_metrics=metrics,
        costs=Costs(
            human_hourly_usd=_number(costs, "human_hourly_usd", low=0),
            rework_usd=_number(costs, "rework_usd", low=0),
            escalation_usd=_number(costs, "escalation_usd", low=0),
        ),
        raw=raw,
        source=source,
    )


def default_policy_mapping() -> dict[str, Any]:
    return _read_yaml(DEFAULT_POLICY_PATH)


def load_policy(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Policy:
    """The default policy, merged with the YAML file at ``path`` and then ``overrides``."""
    raw = default_policy_mapping()
    source = "default"
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"policy: file {path} does not exist")
        raw = deep_merge(raw, _read_yaml(path))
        source = str(path)
    if overrides:
        raw = deep_merge(raw, overrides)
        source = f"{source} + overrides"
    return policy_from_mapping(raw, source)
