"""METRICS.md quotes thresholds as `key: value`; each quote must match the default policy."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from analytics.core.policy import default_policy_mapping

DOC = Path(__file__).resolve().parents[1] / "METRICS.md"
QUOTE = re.compile(r"`([a-z_][a-z_.]*): ([^`]+)`")
MUST_QUOTE = {
    "attribution_window_days",
    "observation_window_days",
    "alpha",
    "timezone",
    "human_hourly_usd",
    "rework_usd",
    "escalation_usd",
}


def _lookup(policy: dict, key: str):
    """A key path in the policy: a top-level key, a dotted path, or a unique nested key."""
    node = policy
    if "." in key or key in policy:
        for part in key.split("."):
            node = node[part]
        return node
    found = [v for k, v in _walk(policy) if k == key]
    assert len(found) == 1, f"METRICS.md quotes `{key}`, which is not one unique policy key"
    return found[0]


def _walk(node, prefix=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from _walk(v)


def test_every_quoted_threshold_matches_the_default_policy() -> None:
    policy = default_policy_mapping()
    quotes = QUOTE.findall(DOC.read_text())
    assert quotes
    for key, text in quotes:
        assert _lookup(policy, key) == yaml.safe_load(text), f"METRICS.md `{key}: {text}`"
    assert MUST_QUOTE <= {k for k, _ in quotes}


def test_a_wrong_quote_would_fail() -> None:
    policy = default_policy_mapping()
    assert _lookup(policy, "attribution_window_days") != yaml.safe_load("15")
