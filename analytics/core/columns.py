"""The internal columns that travel with the tables between layers. Each is made in one place
(named below) and only read elsewhere; their names start with ``_`` so that they never collide
with a contract column and are dropped from every output."""

ROW = "_row"  # 1-based data row of the source, kept on every small table (data.tables)
LINE = "_line"  # its CSV line (header = line 1); null for Parquet and tables read into memory
# True when an incident's mitigated_at is before its detected_at or is invalid: the incident
# is kept but left out of MTTM (data.tables, read by metrics.incidents, metrics.dora and the
# reports)
MTTM_INVALID = "_mttm_invalid"
# True when an incident names a release_id that is not in releases: the incident is kept but stays
# unattributed (data.tables, read by metrics.incidents)
UNKNOWN_RELEASE = "_unknown_release"
