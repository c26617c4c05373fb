"""The policy key reference (``docs/policy.md``), generated from the declared schema
(``analytics.core.policy_schema``) and the shipped defaults, so the documentation cannot drift
from what is enforced (tests/test_policy_schema.py compares them).

Regenerate after a schema or default change::

    python -c 'from analytics.core.policy_reference import write_reference; write_reference()'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from analytics.core.policy_schema import _resolve, describe, json_schema


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _default_text(value: Any) -> str:
    if value is _MISSING:
        return ""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()
    text = text.removesuffix("...").strip()
    return f"`{text}`"


_MISSING = object()


def _lookup(mapping: Any, path: Sequence[str]) -> Any:
    for part in path:
        if not isinstance(mapping, Mapping) or part not in mapping:
            return _MISSING
        mapping = mapping[part]
    return mapping


def _rows(
    node: Mapping[str, Any], path: list[str], default: Mapping[str, Any]
) -> list[tuple[str, str, str, str]]:
    rows = []
    node = _resolve(node)
    for key, prop in node.get("properties", {}).items():
        here = [*path, key]
        target = _resolve(prop)
        meaning = prop.get("description", target.get("description", ""))
        if "properties" in target and "x-type" not in target:
            rows.append((".".join(here), "a mapping", "", meaning))
            rows += _rows(target, here, default)
            continue
        rows.append(
            (".".join(here), describe(target), _default_text(_lookup(default, here)), meaning)
        )
        values = target.get("additionalProperties")
        if target.get("type") == "object" and isinstance(values, Mapping):
            inner = _resolve(values)
            if "properties" in inner:
                rows += _rows(inner, [*here, "<metric>"], default)
    return rows


def policy_reference_markdown(default: Mapping[str, Any] | None = None) -> str:
    """The reference of every policy key (``docs/policy.md``), generated from the schema."""
    if default is None:
        from analytics.core.policy import default_policy_mapping

        default = default_policy_mapping()
    out = [
        "# Policy reference",
        "",
        "<!-- Generated from analytics/core/policy_schema.py by "
        "analytics.core.policy_reference.policy_reference_markdown(); do not edit by hand. "
        "Regenerate: python -c 'from analytics.core.policy_reference import write_reference; "
        "write_reference()' -->",
        "",
        "The release policy is `analytics/core/default_policy.yaml`, merged with a dataset's "
        "`policy.yaml` or `--policy FILE` key by key through nested mappings (a list replaces the "
        "default list). The merged policy is validated when it is loaded: every problem is "
        "reported at once, each naming the file, the key path and the bad value, and the command "
        "exits 2.",
        "",
        "Types are strict: booleans only as YAML `true`/`false`; integers only as integers (an "
        "integer is accepted where a number is expected); lists only as lists; numbers finite "
        "(no `.nan`, `.inf`); unknown keys are errors (with the closest known key suggested). "
        "Note that YAML 1.1 reads `1e12` as text: write `1.0e+12`.",
        "",
        "| key | type and range | default | meaning |",
        "|---|---|---|---|",
    ]
    for key, kind, value, meaning in _rows(json_schema(), [], default):
        out.append(f"| `{key}` | {_cell(kind)} | {_cell(value)} | {_cell(meaning)} |")
    return "\n".join(out) + "\n"


REFERENCE_PATH = Path(__file__).resolve().parent.parent.parent / "docs" / "policy.md"


def write_reference(path: Path = REFERENCE_PATH) -> Path:
    """Write ``docs/policy.md`` (after a schema or default change)."""
    path.write_text(policy_reference_markdown(), encoding="utf-8")
    return path
