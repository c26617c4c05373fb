"""The base layer: errors, result types, the policy and its schema, table schemas, data-quality
findings."""

__version__ = "0.1.0"
