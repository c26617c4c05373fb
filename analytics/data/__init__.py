"""Reading and validating a dataset, the as-of cut, the telemetry rollup engines."""
