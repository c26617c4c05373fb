"""Per-release facts: release units, incident attribution and failure signals, evidence,
detection, DORA context."""
