"""The declared schema of the release policy, checked when a policy is loaded.

``PolicySchema`` (pydantic 2, strict) declares every key of ``default_policy.yaml``: its type,
its range and its meaning. ``analytics.core.policy`` validates the *merged* mapping (default + user
file + overrides) against it before building ``Policy``; ``validate_policy`` turns pydantic's
errors into one readable line per problem (``policy FILE: key.path: must be ..., got ...``), all
problems at once, each naming the file the bad value came from.

Strict means: booleans only as YAML booleans (``true``/``false``, not ``'no'`` or ``1``), integers
only as integers (not ``2.5``, not ``'200'``, not booleans; an integer is accepted where a number
is expected), lists only as lists, numbers finite (no ``.nan``/``.inf``), and no key the schema
does not know (reported with the closest known key).

``analytics.core.policy_reference`` renders the key reference in ``docs/policy.md`` from the
same schema, so the documentation cannot drift from what is enforced (a test compares them).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

# The vocabularies the policy refers to. They are spelled out here (not imported) because the
# modules that own them import ``analytics.core.policy``; tests/test_policy_schema.py checks that
# they
# agree with analytics.core.schemas, analytics.comparison and analytics.metrics.dora.
TIER_NAMES = ("low", "medium", "high")
COMPONENT_NAMES = (
    "model",
    "inference_config",
    "prompt",
    "tools",
    "safety_policy",
    "routing",
    "eval_set",
)
GATE_NAMES = ("functional", "safety", "operational", "business")
APPROVAL_ROLES = ("product_owner", "platform", "risk_compliance", "operations", "other")
# A tier's planned train. ``emergency`` is a release's own train (the exception to its tier's
# plan, audited in analytics.governance.checks), never a tier's plan.
TIER_TRAINS = ("daily", "weekly", "monthly")
METRIC_CATALOGUE = (
    "escalation_rate",
    "rework_rate",
    "policy_violation_rate",
    "refusal_rate",
    "quality_score",
    "unit_cost_usd",
    "latency_mean_ms",
    "latency_p95_ms",
    "tokens_mean",
)
SEGMENT_COLUMNS = ("task_type", "criticality", "language", "customer_segment")
MULTIPLE_TESTING = ("holm", "bh")
ROLLUP_ENGINES = ("polars", "spark")
MAX_WINDOW_DAYS = 3650
DORA_BENCHMARKS_PATH = Path(__file__).parent.parent / "metrics" / "dora_benchmarks.yaml"

Tier = Literal[TIER_NAMES]  # type: ignore[valid-type]
MetricName = Literal[METRIC_CATALOGUE]  # type: ignore[valid-type]


class _Strict(BaseModel):
    """Every section: strict types, finite numbers, no unknown keys."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


def _rule(text: str) -> dict[str, Any]:
    """A rule beyond type and range, shown in errors and in the reference (``x-rule``)."""
    return {"x-rule": text}


def _kind(text: str) -> dict[str, Any]:
    """Replace the generated type text (``x-type``), e.g. for a timezone name."""
    return {"x-type": text}


def _increasing(values: list[float]) -> list[float]:
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise ValueError(f"must be strictly increasing, got {_show(values)}")
    return values


def _unique(values: list[Any]) -> list[Any]:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ValueError(f"must not repeat a value, got {_show(seen[0])} twice")
    return values


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        close = difflib.get_close_matches(value, sorted(_zones()), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(
            f"must be an IANA timezone name such as Europe/Berlin, got {_show(value)}{hint}"
        ) from None
    return value


def _optional_zone(value: str | None) -> str | None:
    return None if value in (None, "") else _zone(value)  # type: ignore[arg-type]


def _permutation(value: list[str]) -> list[str]:
    if sorted(value) != sorted(SEGMENT_COLUMNS):
        raise ValueError(
            f"must name each of {', '.join(SEGMENT_COLUMNS)} exactly once, got {_show(value)}"
        )
    return value


def _known_years(value: list[int]) -> list[int]:
    unknown = [y for y in value if y not in dora_years()]
    if unknown:
        raise ValueError(
            f"must name report years of dora_benchmarks.yaml "
            f"({', '.join(map(str, dora_years()))}), got {_show(unknown[0])}"
        )
    return value


@cache
def dora_years() -> tuple[int, ...]:
    """The report years in ``dora_benchmarks.yaml``."""
    return tuple(int(y) for y in yaml.safe_load(DORA_BENCHMARKS_PATH.read_text(encoding="utf-8")))


# ---------------------------------------------------------------- sections

Percent = Annotated[float, Field(gt=0, le=100)]
WindowDays = Annotated[float, Field(gt=0, le=MAX_WINDOW_DAYS)]
PositiveHours = Annotated[float, Field(gt=0)]
Usd = Annotated[float, Field(ge=0)]
Count1 = Annotated[int, Field(ge=1)]
Name = Annotated[str, Field(min_length=1)]


class TierSpec(_Strict):
    required_evidence: list[Name] = Field(
        description="Evidence items a release of this tier must have present (or waived with an "
        "approver); the items of the evidence table."
    )
    required_gates: Annotated[
        list[Literal[GATE_NAMES]],  # type: ignore[valid-type]
        Field(json_schema_extra=_rule("no repeats")),
        AfterValidator(_unique),
    ] = Field(description="Gates that must have run and passed (or been waived with an approver).")
    rollout_plan: Annotated[
        list[Percent],
        Field(min_length=1, json_schema_extra=_rule("strictly increasing")),
        AfterValidator(_increasing),
    ] = Field(description="Traffic percentages of the planned rollout stages, in order.")
    required_approvals: Annotated[
        list[Literal[APPROVAL_ROLES]],  # type: ignore[valid-type]
        Field(json_schema_extra=_rule("no repeats")),
        AfterValidator(_unique),
    ] = Field(description="Roles that must each have voted go before the release.")
    train: Literal[TIER_TRAINS] = Field(  # type: ignore[valid-type]
        description="The release train of this tier (a stricter train is also accepted; a "
        "release's own `emergency` train with a reason is the exception)."
    )


class Tiers(_Strict):
    low: TierSpec = Field(description="Requirements of a low-tier release.")
    medium: TierSpec = Field(description="Requirements of a medium-tier release.")
    high: TierSpec = Field(description="Requirements of a high-tier release.")


class ComponentMinTier(_Strict):
    model: Tier = Field(description="Minimum tier of a release that changes the base model.")
    inference_config: Tier = Field(
        description="Minimum tier of a release that changes the inference config."
    )
    prompt: Tier = Field(description="Minimum tier of a release that changes the system prompt.")
    tools: Tier = Field(description="Minimum tier of a release that changes the tools.")
    safety_policy: Tier = Field(
        description="Minimum tier of a release that changes the safety policy."
    )
    routing: Tier = Field(description="Minimum tier of a release that changes the routing.")
    eval_set: Tier = Field(description="Minimum tier of a release that changes the evaluation set.")


class FailureSignals(_Strict):
    incident: bool = Field(
        description="An attributed incident with decision-quality impact fails a release."
    )
    rollback: bool = Field(description="A rollback or roll-forward of the release fails it.")
    telemetry: bool = Field(
        description="A significant decision-quality degradation beyond the margin in telemetry "
        "fails the release."
    )


class MetricRuleSpec(_Strict):
    worse: Literal["up", "down"] = Field(description="Which direction of the metric is worse.")
    margin: Usd = Field(
        0.0,
        description="Tolerated relative change in the worse direction (0.1 = 10 %); below 1 when "
        "worse is down. Optional: 0 when not given.",
    )

    @model_validator(mode="after")
    def _down_margin(self) -> MetricRuleSpec:
        if self.worse == "down" and self.margin >= 1:
            raise ValueError(
                f"margin must be < 1 when worse is down (a fall of 100 % or more cannot be "
                f"tolerated meaningfully), got {_show(self.margin)}"
            )
        return self


class Costs(_Strict):
    human_hourly_usd: Usd = Field(description="Cost of an hour of human handling time, USD.")
    rework_usd: Usd = Field(description="Cost of one reworked case, USD.")
    escalation_usd: Usd = Field(description="Cost of one escalated case, USD.")


class Trains(_Strict):
    weekly_days: Annotated[
        list[Annotated[int, Field(ge=1, le=7)]],
        Field(min_length=1, json_schema_extra=_rule("ISO weekdays, 1 = Monday; no repeats")),
        AfterValidator(_unique),
    ] = Field(description="Weekdays (in `timezone`) on which weekly and monthly trains ship.")
    monthly_first_days: Annotated[int, Field(ge=1, le=31)] = Field(
        description="A monthly train ships on one of weekly_days within this many first days "
        "of the month."
    )


class Observability(_Strict):
    marker_within_hours: PositiveHours = Field(
        description="The release's version marker must be seen in telemetry within this many "
        "hours of release."
    )
    operator_decisions_within_hours: PositiveHours = Field(
        description="An operator decision must be recorded within this many hours of release."
    )


class AntiPatterns(_Strict):
    min_eval_evidence_items: Annotated[int, Field(ge=0)] = Field(
        description='"Demo quality" anti-pattern: fewer present offline_eval/safety_eval items '
        "than this."
    )


class Comparison(_Strict):
    multiple_testing: Literal[MULTIPLE_TESTING] = Field(  # type: ignore[valid-type]
        description="Multiple-testing adjustment (Holm or Benjamini-Hochberg) over one family: "
        "every metric the judge acts on."
    )
    min_cases_per_arm: Count1 = Field(
        description="Below this many cases in either arm a comparison is insufficient_data."
    )
    min_cases_per_segment: Count1 = Field(
        description="Reference cases a segment needs to be standardised on its own; sparser "
        "segments borrow the reference of a coarser stratum."
    )
    collapse_order: Annotated[
        list[Literal[SEGMENT_COLUMNS]],  # type: ignore[valid-type]
        Field(json_schema_extra=_rule("each segment column exactly once")),
        AfterValidator(_permutation),
    ] = Field(
        description="Segment columns dropped, in this order, until a stratum has "
        "min_cases_per_segment reference cases."
    )
    interim_alpha_share: Annotated[float, Field(gt=0, lt=1)] = Field(
        description="Share of the one-sided level spent (Bonferroni) on the daily interim looks; "
        "the rest is spent at the window's end."
    )
    bootstrap_samples: Annotated[int, Field(ge=100)] = Field(
        description="Bootstrap resamples for quantile metrics."
    )
    seed: Annotated[int, Field(ge=0)] = Field(description="Seed of the bootstrap.")


class Judge(_Strict):
    critical_metrics: list[MetricName] = Field(
        description="Worse -> rollback; each must be shown non-inferior for go."
    )
    hold_metrics: list[MetricName] = Field(description="Worse -> hold (for a human).")
    min_cases_per_arm: Count1 = Field(
        description="Cases each arm needs before the canary judge decides."
    )
    min_standardised_share: Annotated[float, Field(ge=0, le=1)] = Field(
        description="Below this share of the new version's cases standardised on their own "
        "segment, the judge holds."
    )
    noninferiority_abs_margins: dict[MetricName, Usd] = Field(
        description="Absolute margin (in the metric's unit) for go evidence on a critical metric "
        "whose relative margin is 0."
    )


class Dora(_Strict):
    benchmark_years: Annotated[
        list[int],
        Field(min_length=1, json_schema_extra=_rule("years in dora_benchmarks.yaml; no repeats")),
        AfterValidator(_known_years),
        AfterValidator(_unique),
    ] = Field(description="DORA report years whose clusters are shown; the first is the headline.")


class Risk(_Strict):
    min_events_per_term: Count1 | None = Field(
        description="Logistic regression: fewer failures (or successes) per term is flagged as "
        "unstable; null = no such flag."
    )
    min_group_releases: Count1 = Field(
        description="Failure rate per group: groups with fewer releases get no ratio, only counts."
    )


class Reports(_Strict):
    trend_months: Count1 = Field(
        description="Months shown in the executive report's trends and risk section."
    )
    min_trend_n: Count1 = Field(
        description='A month-to-month change with fewer observations is "too few to read as a '
        'trend".'
    )


class Rollup(_Strict):
    engine: Literal[ROLLUP_ENGINES] = Field(  # type: ignore[valid-type]
        description="Telemetry rollup engine (spark needs `pip install 'analytics[spark]'` and "
        "Java 17); `analytics rollup --engine` overrides it."
    )


class PolicySchema(_Strict):
    """The whole (merged) policy."""

    timezone: Annotated[
        str, Field(json_schema_extra=_kind("an IANA timezone name")), AfterValidator(_zone)
    ] = Field(description="Reporting timezone: month boundaries are cut here.")
    assume_timezone: Annotated[
        str | None,
        Field(json_schema_extra=_kind("an IANA timezone name or null")),
        AfterValidator(_optional_zone),
    ] = Field(
        description="Timezone for timestamps without an offset; null (or empty) = such a "
        "timestamp is an error."
    )
    attribution_window_days: WindowDays = Field(
        description="An incident without release_id belongs to the latest release of its system "
        "at most this long before it."
    )
    attribution_window_days_by_system: dict[str, WindowDays] = Field(
        json_schema_extra=_kind("a mapping system -> days"),
        description="Per-system attribution windows (days) that replace "
        "attribution_window_days for the systems named; e.g. a batch system whose problems "
        "surface later.",
    )
    observation_window_days: WindowDays = Field(
        description="Post-release window for telemetry comparisons and unit-cost impact."
    )
    alpha: Annotated[float, Field(gt=0, lt=1)] = Field(
        description="Significance level; intervals are (1 - alpha)."
    )
    tiers: Tiers = Field(description="What each risk tier requires of a release.")
    component_min_tier: ComponentMinTier = Field(
        description="The lowest tier a release changing the component may have; a release's "
        "implied tier is the highest over its changed components."
    )
    failure_signals: FailureSignals = Field(
        description="Which signals count a release as failed (CFR by decision quality)."
    )
    decision_quality_metrics: dict[MetricName, MetricRuleSpec] = Field(
        description="Metrics of the comparison catalogue judged as decision quality, with the "
        "direction that is worse and the tolerated relative change."
    )
    costs: Costs = Field(description="Unit-cost components.")
    trains: Trains = Field(description="Release-train windows.")
    observability: Observability = Field(description="Post-release observability deadlines.")
    anti_patterns: AntiPatterns = Field(description="Anti-pattern thresholds.")
    comparison: Comparison = Field(description="Version comparison (canary vs reference).")
    judge: Judge = Field(description="Canary judge (`analytics judge`).")
    dora: Dora = Field(description="DORA context.")
    risk: Risk = Field(description="Risk attribution.")
    reports: Reports = Field(description="Report settings.")
    rollup: Rollup = Field(description="Telemetry rollup.")


# ---------------------------------------------------------------- validation


@cache
def json_schema() -> dict[str, Any]:
    """The JSON Schema of the policy (generated by pydantic)."""
    return PolicySchema.model_json_schema()


def _show(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


YAML11_EXPONENT = re.compile(r"[-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+")


def _numeric_text(value: Any) -> str:
    """A hint when a number was expected and YAML read the value as text."""
    if not isinstance(value, str):
        return ""
    if YAML11_EXPONENT.fullmatch(value.strip()) and "." not in value:
        return " (YAML reads an exponent without a dot as text: write e.g. 1.0e+12)"
    try:
        float(value)
    except ValueError:
        return ""
    return " (text, not a number: remove the quotes)"


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        node = json_schema()["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _node_at(loc: Sequence[Any]) -> Mapping[str, Any] | None:
    """The JSON-schema node of a pydantic error location (None when it leaves the schema)."""
    node: Mapping[str, Any] | None = json_schema()
    for part in loc:
        node = _resolve(node)  # type: ignore[arg-type]
        options = [o for o in node.get("anyOf", ()) if o.get("type") != "null"]
        if options:
            node = _resolve(options[0])
        if part == "[key]":
            node = node.get("propertyNames")
        elif isinstance(part, int) and node.get("type") == "array":
            node = node.get("items")
        elif isinstance(node.get("properties"), Mapping) and part in node["properties"]:
            node = node["properties"][part]
        elif isinstance(node.get("additionalProperties"), Mapping):
            node = node["additionalProperties"]
        else:
            return None
        if node is None:
            return None
    return _resolve(node) if node is not None else None


def _number(value: float) -> str:
    return f"{value:g}"


def _range(node: Mapping[str, Any]) -> str:
    parts = []
    for key, sign in (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
    ):
        if key in node:
            parts.append(f"{sign} {_number(node[key])}")
    return " and ".join(parts)


def describe(node: Mapping[str, Any], plural: bool = False) -> str:
    """A JSON-schema node in words: "an integer >= 1", "a non-empty list of numbers > 0 ..."."""
    node = _resolve(node)
    if "x-type" in node:
        text = str(node["x-type"])
    elif "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        nullable = len(options) < len(node["anyOf"])
        text = " or ".join(describe(o, plural) for o in options) + (" or null" if nullable else "")
    elif "enum" in node or "const" in node:
        values = node.get("enum", [node.get("const")])
        text = ("values from " if plural else "one of ") + ", ".join(map(str, values))
    else:
        kind = node.get("type")
        if kind == "array":
            text = "a " + ("non-empty " if node.get("minItems", 0) >= 1 else "") + "list"
            if "items" in node:
                text += " of " + describe(node["items"], plural=True)
            if plural:
                text = text.replace("a ", "", 1).replace("list", "lists", 1)
        elif kind == "object" and "properties" in node:
            text = "mappings" if plural else "a mapping"
            if plural:
                text += " with keys " + ", ".join(node["properties"])
        elif kind == "object":
            text = "mappings" if plural else "a mapping"
            names = node.get("propertyNames", {})
            if "enum" in names:
                text += " whose keys are among " + ", ".join(map(str, names["enum"]))
            values = node.get("additionalProperties")
            if isinstance(values, Mapping):
                text += " and whose values are " + describe(values, True)
        else:
            singular, many = {
                "integer": ("an integer", "integers"),
                "number": ("a number", "numbers"),
                "boolean": ("true or false (a YAML boolean)", "YAML booleans"),
                "string": ("a string", "strings"),
                "null": ("null", "nulls"),
            }.get(str(kind), ("a value", "values"))
            text = many if plural else singular
            if kind == "string" and node.get("minLength", 0) >= 1:
                text = "non-empty strings" if plural else "a non-empty string"
            bounds = _range(node)
            if bounds:
                text += " " + bounds
    if "x-rule" in node:
        text += f" ({node['x-rule']})"
    return text


def _path(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def _known_keys(node: Mapping[str, Any] | None) -> list[str]:
    if node is None:
        return []
    if "properties" in node:
        return list(node["properties"])
    names = node.get("propertyNames")
    return [str(v) for v in names.get("enum", [])] if isinstance(names, Mapping) else []


def _unknown(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean {close[0]}?)"
    return "unknown key; known keys: " + ", ".join(known)


def error_message(error: Mapping[str, Any]) -> tuple[tuple[Any, ...], str]:
    """One pydantic error as (key path, message): ``must be <type and range>, got <value>``."""
    loc = tuple(error["loc"])
    kind = error["type"]
    if loc and loc[-1] == "[key]":
        path = loc[:-1]
        return path, _unknown(str(path[-1]), _known_keys(_node_at(path[:-1])))
    if kind == "invalid_key":
        key = error.get("input")
        return loc[:-1], f"key {_show(key)} must be text, got {type(key).__name__}: quote it"
    if kind == "extra_forbidden":
        return loc, _unknown(str(loc[-1]), _known_keys(_node_at(loc[:-1])))
    node = _node_at(loc)
    if kind == "missing":
        what = f" ({describe(node)})" if node is not None else ""
        return loc, f"is missing{what}"
    if kind in ("value_error", "assertion_error"):
        return loc, str(error.get("ctx", {}).get("error", error["msg"]))
    if node is None:
        return loc, f"{error['msg']}, got {_show(error.get('input'))}"
    wanted = describe(node)
    hint = _numeric_text(error.get("input")) if ("number" in wanted or "integer" in wanted) else ""
    return loc, f"must be {wanted}, got {_show(error.get('input'))}{hint}"


def _origin(loc: Sequence[Any], layer: Any) -> bool:
    """Whether the value at ``loc`` (or the mapping it belongs to) came from ``layer``."""
    current = layer
    for part in loc:
        if part == "[key]":
            return True
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list):
            return True  # a list replaces the default list as a whole
        else:
            return False
    return True


def validate_policy(
    raw: Any,
    source: str,
    layers: Sequence[tuple[str, Mapping[str, Any]]] = (),
    *,
    error: Callable[[str], Exception] | None = None,
) -> PolicySchema:
    """Validate a merged policy mapping; raise ``error(message)`` listing every problem.

    ``layers``: (name, mapping) of what was merged over the default, latest first; a problem is
    reported under the name of the first layer holding the bad key, else under ``source``.
    """
    try:
        return PolicySchema.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            loc, message = error_message(err)
            name = next((n for n, layer in layers if _origin(err["loc"], layer)), source)
            lines.append(f"policy {name}: {_path(loc)}: {message}")
        text = "\n".join(dict.fromkeys(lines))
        if error is None:
            raise ValueError(text) from None
        raise error(text) from None


__all__ = [
    "PolicySchema",
    "describe",
    "dora_years",
    "error_message",
    "json_schema",
    "validate_policy",
]
