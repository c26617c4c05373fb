"""Getting records in and out of a dataset: vendor exports (GitHub and GitLab deployments,
PagerDuty, Opsgenie and Jira incidents, MLflow runs) mapped by a ``mapping.yaml`` into the tables
of docs/data-contract.md (docs/mapping.md); contract tables read from PostgreSQL or DuckDB
(docs/database.md); KPI export for dashboards."""
