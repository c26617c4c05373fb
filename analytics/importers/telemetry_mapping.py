"""The ``otel`` and ``langfuse`` sections of ``mapping.yaml`` (docs/telemetry-import.md): where
each column of the contract's ``telemetry`` table comes from in a span or an observation.

A **rule** names one source of a value and, optionally, a translation table and a default:

- OpenTelemetry: ``attribute`` (a span attribute, else the same resource attribute; a list
  means the first one present), ``resource`` (a resource attribute only), ``event`` (a span
  event by name, filtered by ``where`` on its attributes; its ``attribute``, or without one
  ``true`` when the event is there and ``false`` when not);
- Langfuse: ``field`` (a dotted path into the observation; ``trace.`` reads the observation's
  trace in the legacy export; a list means the first one present), ``score`` (the value of the
  score with that name on the observation, else on its trace);
- both: ``value`` (a constant); ``values`` (source value -> column value; a value not in the
  table does not count) and ``default`` (used when nothing counted).

A plain string is the rule's source (``attribute`` for OpenTelemetry, ``field`` for Langfuse).
The mapping is validated strictly: an unknown key, a wrong type, a rule with no or two sources
or a section without a release marker is a ``DataError`` naming the file and the key (exit 2).
Other top-level sections (``github``, ``pagerduty``, ...) belong to ``analytics import`` and are
left alone here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from analytics.core.errors import DataError
from analytics.importers.mapping import invalid_mapping, read_mapping_file

Scalar = str | float | bool
# The columns a mapping fills with a rule, by kind (ts, latency, tokens and cost are derived).
TEXT_COLUMNS: tuple[str, ...] = (
    "system",
    "task_type",
    "criticality",
    "language",
    "customer_segment",
)
FLAG_COLUMNS: tuple[str, ...] = ("escalated", "reworked", "policy_violation", "refused")
NUMBER_COLUMNS: tuple[str, ...] = (
    "handling_time_s",
    "quality_score",
    "input_tokens",
    "output_tokens",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("quality_score",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _names(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


class _Rule(_Strict):
    value: Scalar | None = None
    values: dict[str, Scalar] | None = None
    default: Scalar | None = None

    def sources(self) -> list[str]:  # the source keys set (exactly one allowed)
        raise NotImplementedError

    @model_validator(mode="after")
    def _one_source(self) -> _Rule:
        given = self.sources()
        if len(given) != 1:
            raise ValueError(
                "give exactly one source: "
                + ", ".join(self._source_keys())
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    def _source_keys(self) -> tuple[str, ...]:
        return ()

    def translate(self, raw: Any) -> Any:
        """A source value through ``values`` (None when it is not in the table)."""
        if raw is None or self.values is None:
            return raw
        return self.values.get(as_text(raw))


def as_text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


class OtelRule(_Rule):
    """Where one value of a span comes from (module docstring)."""

    attribute: str | list[str] | None = None
    resource: str | None = None
    event: str | None = None
    where: dict[str, Scalar] = {}

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"attribute": data} if isinstance(data, (str, list)) else data

    def _source_keys(self) -> tuple[str, ...]:
        return ("attribute", "resource", "event", "value")

    def sources(self) -> list[str]:
        found = [k for k in ("resource", "event", "value") if getattr(self, k) is not None]
        if self.attribute is not None and self.event is None:
            found.append("attribute")
        return found

    @model_validator(mode="after")
    def _where_needs_event(self) -> OtelRule:
        if self.where and self.event is None:
            raise ValueError("'where' filters the attributes of an 'event': name the event")
        return self

    @property
    def attributes(self) -> tuple[str, ...]:
        return _names(self.attribute)


class LangfuseRule(_Rule):
    """Where one value of an observation comes from (module docstring)."""

    field: str | list[str] | None = None
    score: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"field": data} if isinstance(data, (str, list)) else data

    def _source_keys(self) -> tuple[str, ...]:
        return ("field", "score", "value")

    def sources(self) -> list[str]:
        return [k for k in ("field", "score", "value") if getattr(self, k) is not None]

    @property
    def fields(self) -> tuple[str, ...]:
        return _names(self.field)


class Price(_Strict):
    """USD per million tokens."""

    input: float
    output: float

    @field_validator("input", "output", mode="before")
    @classmethod
    def _non_negative(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if isinstance(v, float) and not v >= 0:
            raise ValueError("a price must be a number >= 0 (USD per million tokens)")
        return v


def _release(v: Any) -> Any:
    names = _names(v) if isinstance(v, (str, list)) else v
    if not names or any(not isinstance(n, str) or not n.strip() for n in names):
        raise ValueError("names no release marker: give the attribute or field that holds it")
    return v


class _Section(_Strict):
    prices: dict[str, Price]

    @field_validator("prices")
    @classmethod
    def _some_prices(cls, v: dict[str, Price]) -> dict[str, Price]:
        if not v:
            raise ValueError("the price table is empty: give USD per million tokens per model")
        return v

    def rules(self) -> dict[str, Any]:
        """Column -> rule, for every column the section fills (quality_score may be absent)."""
        names = (*TEXT_COLUMNS, *FLAG_COLUMNS, *NUMBER_COLUMNS, "model")
        return {c: getattr(self, c) for c in names if getattr(self, c) is not None}


class OtelSection(_Section):
    release: str | list[str] = "service.version"
    cases: str = "gen_ai.operation.name"  # a span is a case when it carries this attribute
    system: OtelRule = OtelRule(resource="service.name")
    task_type: OtelRule
    criticality: OtelRule
    language: OtelRule
    customer_segment: OtelRule
    escalated: OtelRule
    reworked: OtelRule
    policy_violation: OtelRule
    refused: OtelRule
    handling_time_s: OtelRule
    quality_score: OtelRule | None = None
    model: OtelRule = OtelRule(attribute=["gen_ai.request.model", "gen_ai.response.model"])
    input_tokens: OtelRule = OtelRule(
        attribute=["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"]
    )
    output_tokens: OtelRule = OtelRule(
        attribute=["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"]
    )

    _check_release = field_validator("release", mode="before")(_release)

    @property
    def release_rule(self) -> OtelRule:
        return OtelRule(attribute=self.release)


class LangfuseSection(_Section):
    release: str | list[str] = ["release", "trace.release"]
    observation_types: list[str] = ["GENERATION"]
    system: LangfuseRule
    task_type: LangfuseRule
    criticality: LangfuseRule
    language: LangfuseRule
    customer_segment: LangfuseRule
    escalated: LangfuseRule
    reworked: LangfuseRule
    policy_violation: LangfuseRule
    refused: LangfuseRule
    handling_time_s: LangfuseRule
    quality_score: LangfuseRule | None = None
    model: LangfuseRule = LangfuseRule(field="provided_model_name")
    input_tokens: LangfuseRule = LangfuseRule(field="usage_details.input")
    output_tokens: LangfuseRule = LangfuseRule(field="usage_details.output")

    _check_release = field_validator("release", mode="before")(_release)

    @property
    def release_rule(self) -> LangfuseRule:
        return LangfuseRule(field=self.release)


class TelemetryMapping(BaseModel):
    """The telemetry sections of a mapping file; other sections are not read here."""

    model_config = ConfigDict(extra="allow", strict=True)

    version: Literal[1]
    otel: OtelSection | None = None
    langfuse: LangfuseSection | None = None


def load_mapping(path: str | Path, source: Literal["otel", "langfuse"]) -> tuple[Any, str]:
    """The section for ``source`` of the mapping file and the file's sha256. Any problem is a
    ``DataError`` naming the file and the key (worded as ``analytics import``'s)."""
    path = Path(path)
    data, sha = read_mapping_file(path)
    try:
        mapping = TelemetryMapping.model_validate(data)
    except ValidationError as exc:
        raise invalid_mapping(path, exc) from None
    section = getattr(mapping, source)
    if section is None:
        raise DataError(
            f"mapping file {path}: no '{source}' section: it says where the release marker, "
            "the segments and the outcome flags come from (docs/telemetry-import.md)"
        )
    return section, sha
