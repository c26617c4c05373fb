"""``analyze`` as named steps, the monthly KPIs and the per-release records."""
