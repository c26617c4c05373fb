"""The internal columns that travel with the tables between layers. Each is made in one place
(named below) and only read elsewhere; their names start with ``_`` so that they never collide
with a contract column and are dropped from every output."""

ROW = "_row"  # 1-based data row of the source file, kept on every small table (data.io)
LINE = "_line"  # its CSV line (header = line 1); null for Parquet (data.io)
# True when an incident's mitigated_at is before its detected_at or its started_at: the incident
# is kept but left out of MTTM (data.io, read by metrics.incidents, metrics.dora and the reports)
MTTM_INVALID = "_mttm_invalid"
