"""How a mapping picks one value out of a vendor record (docs/mapping.md, "Rules").

A ``Rule`` names a dotted path into the record (``payload.model``, ``fields.priority.name``,
``components.0.name``; a path that meets a list without an index looks into every element), or a
constant ``value``; an optional ``pattern`` (a regular expression; its first group, else the whole
match) cuts the value, an optional ``values`` table translates it (a value not in the table does
not match), and ``default`` is used when nothing matched. A plain string in the mapping is a rule
with that ``field``. An ``IdTemplate`` builds a stable id from the record: ``gh-{id}``.

Timestamps from every source become ISO 8601 UTC text (``2026-10-02T12:00:00Z``); text without an
offset is a problem, not a guess; integers are epoch milliseconds (Opsgenie, MLflow).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

_MISSING = object()
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class Rule(BaseModel):
    """Where one value comes from (module docstring)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    field: str | None = None
    value: str | None = None
    pattern: str | None = None
    values: dict[str, str] | None = None
    default: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"field": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if (self.field is None) == (self.value is None):
            raise ValueError("give exactly one of 'field' and 'value'")
        if self.pattern is not None:
            try:
                compiled = re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(
                    f"pattern {self.pattern!r} is not a regular expression: {exc}"
                ) from exc
            if compiled.groups > 1:
                raise ValueError(f"pattern {self.pattern!r} has more than one group")
        return self

    def describe(self) -> str:
        return f"field '{self.field}'" if self.field is not None else f"value '{self.value}'"


def lookup(record: Any, path: str) -> list[Any]:
    """Every scalar found at ``path`` (dots separate keys; a number indexes a list; a list met
    without an index is searched element by element). Missing keys give no values."""
    found = [record]
    for key in path.split("."):
        step: list[Any] = []
        for node in found:
            step.extend(_step(node, key))
        found = step
    out: list[Any] = []
    for node in found:
        if isinstance(node, list):
            out.extend(v for v in node if v is not None and not isinstance(v, (dict, list)))
        elif node is not None and not isinstance(node, dict):
            out.append(node)
    return out


def _step(node: Any, key: str) -> list[Any]:
    if isinstance(node, dict):
        value = node.get(key, _MISSING)
        return [] if value is _MISSING else [value]
    if isinstance(node, list):
        if key.isdigit():
            return [node[int(key)]] if int(key) < len(node) else []
        return [v for item in node for v in _step(item, key)]
    return []


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def apply(rule: Rule, record: Any) -> tuple[str | None, str | None]:
    """``(value, None)`` or ``(None, why not)``; an empty value counts as missing. ``why not``
    starts with the rejection code: ``missing_value`` or ``unmapped_value``."""
    candidates = [rule.value] if rule.value is not None else lookup(record, rule.field or "")
    texts = [t for t in (_text(c) for c in candidates) if t != ""]
    unmatched: list[str] = []
    for text in texts:
        if rule.pattern is not None:
            m = re.search(rule.pattern, text)
            if m is None:
                unmatched.append(text)
                continue
            text = m.group(1) if m.re.groups else m.group(0)
        if rule.values is not None:
            if text not in rule.values:
                unmatched.append(text)
                continue
            text = rule.values[text]
        return text, None
    if rule.default is not None:
        return rule.default, None
    if not texts:
        return None, f"missing_value: {rule.describe()} is missing or empty"
    shown = ", ".join(repr(t) for t in unmatched[:3])
    what = "matches no 'values' entry" if rule.values is not None else "does not match the pattern"
    return None, f"unmapped_value: {rule.describe()}: {shown} {what}"


def fill_template(template: str, record: Any) -> tuple[str | None, str | None]:
    """``gh-{id}`` -> ``gh-1234``; each ``{path}`` takes the first value at that path."""
    missing: list[str] = []

    def one(m: re.Match[str]) -> str:
        found = [t for t in (_text(v) for v in lookup(record, m.group(1))) if t]
        if not found:
            missing.append(m.group(1))
            return ""
        return found[0]

    text = _PLACEHOLDER.sub(one, template)
    if missing:
        return None, f"missing_value: id template '{template}': field '{missing[0]}' is missing"
    return text, None


def template_fields(template: str) -> list[str]:
    return _PLACEHOLDER.findall(template)


def utc_text(value: Any) -> tuple[str | None, str | None]:
    """An ISO 8601 timestamp with an offset, a datetime with a zone, or epoch milliseconds, as
    ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``; ``(None, why)`` otherwise."""
    if isinstance(value, bool) or value is None:
        return None, f"{value!r} is not a timestamp"
    if isinstance(value, (int, float)):
        try:
            when = datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None, f"{value!r} is not a timestamp in epoch milliseconds"
    elif isinstance(value, datetime):
        when = value
    else:
        text = str(value).strip()
        if text.isdigit():
            return utc_text(int(text))
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None, f"{text!r} is not an ISO 8601 timestamp"
    if when.tzinfo is None:
        return None, f"{value!r} has no UTC offset"
    when = when.astimezone(UTC)
    spec = "%Y-%m-%dT%H:%M:%S.%fZ" if when.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return when.strftime(spec), None


def apply_time(rule: Rule, record: Any) -> tuple[str | None, str | None]:
    value, problem = apply(rule, record)
    if value is None:
        return None, problem
    stamp, bad = utc_text(value)
    if stamp is None:
        return None, f"invalid_timestamp: {rule.describe()}: {bad}"
    return stamp, None
