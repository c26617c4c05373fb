"""Getting records in and out of a dataset: vendor exports (GitHub and GitLab deployments,
PagerDuty, Opsgenie and Jira incidents, MLflow runs) mapped by a ``mapping.yaml`` into the tables
of docs/data-contract.md (docs/mapping.md); LLM telemetry from OpenTelemetry GenAI spans and
Langfuse exports (docs/telemetry-import.md); contract tables read from PostgreSQL or DuckDB
(docs/database.md); KPI export for dashboards."""
