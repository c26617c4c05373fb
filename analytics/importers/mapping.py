"""The mapping file (``mapping.yaml``, docs/mapping.md): how each vendor export becomes rows of
the contract's tables. Validated strictly: an unknown key, a wrong type or a missing required
key is a ``DataError`` naming the file and the key (exit 2)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from analytics.core.errors import DataError
from analytics.core.schemas import INCIDENTS, MITIGATIONS, TIER_VALUES
from analytics.importers.fields import Rule, template_fields

Category = Literal["quality", "safety", "compliance", "cost", "latency", "availability"]
CATEGORIES: tuple[str, ...] = INCIDENTS.column("category").values
SEVERITIES: tuple[str, ...] = INCIDENTS.column("severity").values
DETECTION_SOURCES: tuple[str, ...] = INCIDENTS.column("detection_source").values


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _id_template(value: str) -> str:
    if not template_fields(value):
        raise ValueError(f"id template {value!r} names no field: use e.g. 'gh-{{id}}'")
    return value


class Components(_Strict):
    """Where each of the seven release-unit component versions comes from."""

    model_version: Rule
    inference_config_version: Rule
    prompt_version: Rule
    tools_version: Rule
    safety_policy_version: Rule
    routing_version: Rule
    eval_set_version: Rule


class DeploymentSource(_Strict):
    """GitHub or GitLab deployments -> ``releases``."""

    environments: list[str] = ["production"]
    release_id: str | None = None  # id template; default per source (gh-{id}, gl-{id})
    system: Rule
    risk_tier: Rule
    components: Components
    change_requested_at: Rule | None = None
    accountable_owner: Rule | None = None
    train: Rule | None = None
    summary: Rule | None = None

    _check_id = field_validator("release_id")(lambda v: v if v is None else _id_template(v))


class IncidentSource(_Strict):
    """PagerDuty, Opsgenie or Jira records -> ``incidents``; unset optional rules take the
    source's documented default field."""

    incident_id: str | None = None  # id template; default per source
    system: Rule
    severity: Rule
    category: Rule
    detected_at: Rule | None = None
    started_at: Rule | None = None
    mitigated_at: Rule | None = None
    release_id: Rule | None = None
    mitigation: Rule | None = None
    detection_source: Rule | None = None

    _check_id = field_validator("incident_id")(lambda v: v if v is None else _id_template(v))


class EvidenceItem(_Strict):
    """One evidence item from MLflow runs: the runs whose tags match ``tags`` give the item;
    with ``metric`` and ``threshold`` (and ``gate``) the run also gives a gate evaluation."""

    item: str
    tags: dict[str, str] = {}
    metric: str | None = None
    threshold: float | None = None
    direction: Literal["at_least", "at_most"] = "at_least"
    gate: Literal["functional", "safety", "operational", "business"] | None = None

    @field_validator("gate")
    @classmethod
    def _gate_needs_metric(cls, v: str | None, info) -> str | None:  # noqa: ANN001
        data = info.data
        if v is not None and (data.get("metric") is None or data.get("threshold") is None):
            raise ValueError("a 'gate' needs 'metric' and 'threshold'")
        return v


class MlflowSource(_Strict):
    experiments: list[str] = []
    release_tag: str = "release_id"
    approved_by_tag: str | None = None
    items: list[EvidenceItem]


class Mapping(_Strict):
    version: Literal[1]
    decision_quality_categories: list[Category] = ["quality", "safety", "compliance"]
    github: DeploymentSource | None = None
    gitlab: DeploymentSource | None = None
    pagerduty: IncidentSource | None = None
    opsgenie: IncidentSource | None = None
    jira: IncidentSource | None = None
    mlflow: MlflowSource | None = None


SOURCES: tuple[str, ...] = ("github", "gitlab", "pagerduty", "opsgenie", "jira", "mlflow")


def _enum_problems(mapping: Mapping) -> list[str]:
    """Translated values must be values the contract accepts."""
    problems = []
    wanted = {
        "severity": SEVERITIES,
        "category": CATEGORIES,
        "mitigation": MITIGATIONS,
        "detection_source": DETECTION_SOURCES,
    }
    for source in ("pagerduty", "opsgenie", "jira"):
        section = getattr(mapping, source)
        for name, allowed in wanted.items():
            rule = getattr(section, name, None) if section is not None else None
            problems += _rule_outputs(f"{source}.{name}", rule, allowed)
    for source in ("github", "gitlab"):
        section = getattr(mapping, source)
        if section is not None:
            problems += _rule_outputs(f"{source}.risk_tier", section.risk_tier, TIER_VALUES)
    return problems


def _rule_outputs(key: str, rule: Rule | None, allowed: tuple[str, ...]) -> list[str]:
    if rule is None:
        return []
    out = []
    for sub, value in (("value", rule.value), ("default", rule.default)):
        if value is not None and value not in allowed:
            out.append(f"key '{key}.{sub}': {value!r} is not one of {', '.join(allowed)}")
    for src, value in (rule.values or {}).items():
        if value not in allowed:
            out.append(f"key '{key}.values.{src}': {value!r} is not one of {', '.join(allowed)}")
    return out


def read_mapping_file(path: Path) -> tuple[dict[str, Any], str]:
    """The mapping file's YAML as a dict and the file's fingerprint (sha256 of its bytes), for
    this module and the telemetry sections (``telemetry_mapping``): an unreadable file, YAML
    that does not parse or is not a mapping of keys is a ``DataError`` naming the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"mapping file {path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(f"mapping file {path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        got = type(raw).__name__
        raise DataError(
            f"mapping file {path}: expected a mapping of keys with 'version: 1' at the top, "
            f"got {got}"
        )
    return raw, hashlib.sha256(data).hexdigest()


def _key(loc: tuple[int | str, ...]) -> str:
    # pydantic names the validator of a union member ('function-after[...]', 'tagged-union')
    return ".".join(str(p) for p in loc if not str(p).startswith(("function-", "tagged-union")))


def invalid_mapping(path: Path, exc: ValidationError) -> DataError:
    """A ``DataError`` naming the file and each key that does not validate."""
    return DataError(
        f"mapping file {path}: "
        + "; ".join(f"key '{_key(e['loc'])}': {e['msg']}" for e in exc.errors())
    )


def load_mapping(path: str | Path) -> tuple[Mapping, str]:
    """The validated mapping and the file's fingerprint (sha256 of its bytes)."""
    path = Path(path)
    raw, sha = read_mapping_file(path)
    try:
        mapping = Mapping.model_validate(raw)
    except ValidationError as exc:
        raise invalid_mapping(path, exc) from exc
    problems = _enum_problems(mapping)
    if problems:
        raise DataError(f"mapping file {path}: " + "; ".join(problems))
    return mapping, sha


def section(mapping: Mapping, source: str, path: str | Path) -> BaseModel:
    found = getattr(mapping, source)
    if found is None:
        raise DataError(f"mapping file {path}: key '{source}' is missing (to import {source})")
    return found
