"""The release policy: every threshold the package uses, loaded once.

The shipped default lives in ``default_policy.yaml`` beside this module. A user policy may set
any subset of keys; it is merged over the default key by key through nested mappings, and a
list in the user file replaces the default list (docs/data-contract.md).

The merged mapping is validated against the declared schema (``analytics.core.policy_schema``)
before
``Policy`` is built: a wrong type, a value out of range, an unknown key, a non-UTF-8 file or a
YAML syntax error raise ``DataError`` naming the file the bad value came from, the key path (or
line and column) and the value; every problem of a policy is listed at once. The key reference
is ``docs/policy.md``, generated from the schema.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml

from analytics.core.errors import DataError
from analytics.core.policy_schema import COMPONENT_NAMES, TIER_NAMES, validate_policy

TIERS: tuple[str, ...] = TIER_NAMES
TIER_RANK: dict[str, int] = {t: i for i, t in enumerate(TIERS)}
COMPONENTS: tuple[str, ...] = COMPONENT_NAMES
DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.yaml")


@dataclass(frozen=True)
class TierPolicy:
    required_evidence: tuple[str, ...]
    required_gates: tuple[str, ...]
    rollout_plan: tuple[float, ...]
    required_approvals: tuple[str, ...]
    train: str


Role = Literal["decision_quality", "operational"]


@dataclass(frozen=True)
class MetricRule:
    """How a metric is judged: which direction is worse and the tolerated change ``margin``,
    relative to the reference value. The policy's ``decision_quality_metrics`` are rules of role
    ``decision_quality``; the version comparison (``analytics.comparison.metric_rules``) judges
    every other metric ``operational``: up worse, margin 0, never a decision-quality failure."""

    worse: Literal["up", "down"]
    margin: float
    role: Role = "decision_quality"

    @property
    def sign(self) -> float:
        """+1 when up is worse, -1 when down is."""
        return 1.0 if self.worse == "up" else -1.0

    @property
    def factor(self) -> float:
        """``c`` in the contrast ``new - c * reference`` that is 0 at the margin."""
        return 1.0 + self.sign * self.margin


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
    attribution_windows_by_system: Mapping[str, float] = field(default_factory=dict)

    def attribution_window(self, system: str | None) -> float:
        """The attribution window (days) of ``system``: its own, else the default."""
        return self.attribution_windows_by_system.get(system or "", self.attribution_window_days)

    @property
    def longest_attribution_window_days(self) -> float:
        """The longest attribution window of any system (release maturity waits for it)."""
        return max([self.attribution_window_days, *self.attribution_windows_by_system.values()])

    def section(self, name: str) -> Mapping[str, Any]:
        """A policy section as a mapping (empty when the policy has none)."""
        value = self.raw.get(name) or {}
        if not isinstance(value, Mapping):
            raise DataError(f"policy {self.source}: {name}: must be a mapping")
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
    """A policy file's mapping; ``DataError`` naming the file (and line, column or byte offset)
    when it cannot be read, is not UTF-8 or is not YAML holding a mapping."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"policy {path}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"policy {path}: not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
            f"(line {line}) cannot be decoded; save the file as UTF-8"
        ) from None
    try:
        content = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        raise DataError(f"policy {path}: {_yaml_problem(exc)}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        raise DataError(
            f"policy {path}: line {line}, column {column}: invalid YAML: character {char!r} "
            "is not allowed"
        ) from None
    except yaml.YAMLError as exc:
        raise DataError(f"policy {path}: invalid YAML: {exc}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise DataError(
            f"policy {path}: must hold a mapping of policy keys at the top level, "
            f"got {type(content).__name__} {content!r:.60}"
        )
    return content


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """``line L, column C: invalid YAML: problem (context at line, column)``, 1-based."""
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    text = f"{where}invalid YAML: {exc.problem or exc.context or 'syntax error'}"
    if exc.problem and exc.context:
        text += f" ({exc.context}"
        if exc.context_mark is not None and exc.context_mark is not mark:
            text += f" at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1}"
        text += ")"
    return text


def _build(
    raw: Mapping[str, Any], source: str, layers: Sequence[tuple[str, Mapping[str, Any]]] = ()
) -> Policy:
    """Validate the merged ``raw`` against the schema (every problem at once, each under the
    name of the layer it came from) and build the Policy."""
    spec = validate_policy(raw, source, layers, error=DataError)
    tiers = {
        tier: TierPolicy(
            required_evidence=tuple(t.required_evidence),
            required_gates=tuple(t.required_gates),
            rollout_plan=tuple(float(p) for p in t.rollout_plan),
            required_approvals=tuple(t.required_approvals),
            train=t.train,
        )
        for tier, t in ((tier, getattr(spec.tiers, tier)) for tier in TIERS)
    }
    return Policy(
        timezone=spec.timezone,
        assume_timezone=spec.assume_timezone or None,
        attribution_window_days=float(spec.attribution_window_days),
        observation_window_days=float(spec.observation_window_days),
        alpha=float(spec.alpha),
        tiers=tiers,
        component_min_tier={c: getattr(spec.component_min_tier, c) for c in COMPONENTS},
        failure_signals={
            k: getattr(spec.failure_signals, k) for k in ("incident", "rollback", "telemetry")
        },
        decision_quality_metrics={
            name: MetricRule(worse=rule.worse, margin=float(rule.margin))
            for name, rule in spec.decision_quality_metrics.items()
        },
        costs=Costs(
            human_hourly_usd=float(spec.costs.human_hourly_usd),
            rework_usd=float(spec.costs.rework_usd),
            escalation_usd=float(spec.costs.escalation_usd),
        ),
        raw=raw,
        source=source,
        attribution_windows_by_system={
            s: float(d) for s, d in spec.attribution_window_days_by_system.items()
        },
    )


def policy_from_mapping(raw: Mapping[str, Any], source: str = "mapping") -> Policy:
    """Build a Policy from an already merged mapping, validated against the declared schema
    (``analytics.core.policy_schema``); ``DataError`` lists every problem, naming ``source``."""
    return _build(raw, source)


def default_policy_mapping() -> dict[str, Any]:
    return _read_yaml(DEFAULT_POLICY_PATH)


def load_policy(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Policy:
    """The default policy, merged with the YAML file at ``path`` and then ``overrides``."""
    raw = default_policy_mapping()
    source = "default"
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if path is not None:
        path = Path(path)
        if path.is_dir():
            raise DataError(f"policy: {path} is a directory, not a policy file")
        if not path.is_file():
            raise DataError(f"policy: file {path} does not exist")
        user = _read_yaml(path)
        raw = deep_merge(raw, user)
        source = str(path)
        layers.insert(0, (source, user))
    if overrides:
        raw = deep_merge(raw, overrides)
        source = f"{source} + overrides"
        layers.insert(0, ("overrides", overrides))
    return _build(raw, source, layers)
