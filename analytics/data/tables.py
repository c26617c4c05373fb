"""The small tables (releases, evidence, gates, rollout stages, approvals, incidents, operator
decisions): reading one, from a file or from a frame already in memory, and validating it
(docs/data-contract.md, bad input).

We validate with polars expressions against the declared schemas in ``analytics.core.schemas``
rather than pandera: the contract needs every problem named by table, line, id and column,
invalid values nulled while the rest of the row is kept, and counts that reconcile, which
pandera's polars backend does not give row by row without a second pass of our own.

A table is first brought to one shape, whatever it came from (``read_table_file``,
``table_from_frame``): every declared column present (an optional one absent is empty), the
row number ``_row`` (1-based) and the CSV line ``_line`` (null unless read from CSV), text cells
trimmed and an empty cell null. ``validate_table`` then applies the row rules, in this order:
exact duplicates count once, every declared column is parsed (an invalid value is nulled), an
empty required value is a finding (an empty key drops the row), a repeated unique id drops the
later rows, a ``release_id`` not in releases drops the row (an incident is kept, unattributed),
and impossible durations inside a row are ignored. Each problem is a ``Finding`` naming the
row (and the line for CSV); the counts reconcile (``rows_excluded``, ``values_excluded``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl

from analytics.core.columns import LINE, MTTM_INVALID, ROW, UNKNOWN_RELEASE
from analytics.core.errors import DataError
from analytics.core.policy import Policy
from analytics.core.quality import Finding
from analytics.core.schemas import TableSchema
from analytics.data.files import csv_problem, csv_read_error, missing_columns_error, physical_lines
from analytics.data.values import KIND_CODES, coerce, describe_bad

# ---------------------------------------------------------------- reading


def read_table_file(path: Path, schema: TableSchema) -> pl.DataFrame:
    """A small table's CSV (every cell as text) or Parquet file, in the shape ``validate_table``
    takes. A file that cannot be read or lacks a required column is a structural error."""
    csv = path.suffix == ".csv"
    try:
        df = pl.read_csv(path, infer_schema=False) if csv else pl.read_parquet(path)
    except Exception as exc:  # any reader failure is a structural error with the file named
        if csv:
            raise csv_read_error(schema.name, path, exc) from None
        raise DataError(f"table '{schema.name}': cannot read {path}: {exc}") from exc
    missing = [c for c in schema.required_columns if c not in df.columns]
    if missing and csv and (found := csv_problem(path)) is not None:
        # a header polars misread (UTF-16 text, say): the encoding is the problem to name
        raise DataError(f"table '{schema.name}': cannot read {path}, line {found[0]}: {found[1]}")
    if missing:
        raise missing_columns_error(schema.name, f"{path.name}, line 1", missing)
    return _with_positions(df, schema, csv)


def table_from_frame(df: pl.DataFrame, schema: TableSchema, source: str) -> pl.DataFrame:
    """A small table already in memory (``source`` names where it came from), in the shape
    ``validate_table`` takes: read like a Parquet file, its rows numbered from 1."""
    missing = [c for c in schema.required_columns if c not in df.columns]
    if missing:
        raise missing_columns_error(schema.name, source, missing)
    return _with_positions(df, schema, csv=False)


def _with_positions(df: pl.DataFrame, schema: TableSchema, csv: bool) -> pl.DataFrame:
    """Every declared column present, ``_row`` and ``_line`` added, text trimmed (module
    docstring). ``df`` is the table as read, before any stripping."""
    # Optional columns absent from the file are added empty so code behind the boundary can
    # rely on every declared column being there.
    for col in schema.columns:
        if col.name not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(col.name))
    header = list(df.columns)
    df = df.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))
    if csv:
        text = [c for c, t in df.schema.items() if t == pl.String and c not in (ROW, LINE)]
        df = df.with_columns(physical_lines(text, header).alias(LINE))
    else:
        df = df.with_columns(pl.lit(None, dtype=pl.Int64).alias(LINE))
    str_cols = [c for c, t in df.schema.items() if t == pl.String]
    return df.with_columns([pl.col(c).str.strip_chars().replace("", None) for c in str_cols])


def empty_table(schema: TableSchema) -> pl.DataFrame:
    """A table the dataset does not have: no rows, the contract's columns typed."""
    return pl.DataFrame(schema={**schema.polars_schema, ROW: pl.Int64, LINE: pl.Int64})


# ---------------------------------------------------------------- validating


def _rows(df: pl.DataFrame) -> Any:
    """The rows of ``df`` as dicts, for findings, with timestamps as text: a timestamp Python's
    datetime cannot hold (year 0, beyond 9999) is quoted rather than crashing the load."""
    return df.with_columns(pl.col(pl.Datetime).cast(pl.String)).iter_rows(named=True)


class Recorder:
    """The findings of one table and its counts: rows excluded by reason, values nulled by
    ``table.column``."""

    def __init__(self, table: str, csv: bool, id_column: str | None) -> None:
        self.table, self.csv, self.id_column = table, csv, id_column
        self.findings: list[Finding] = []
        self.excluded: Counter[str] = Counter()
        self.values: Counter[str] = Counter()

    def add(
        self,
        row: dict[str, Any],
        code: str,
        message: str,
        column: str | None = None,
        severity: str = "error",
    ) -> None:
        """One finding about ``row``: its row number, its CSV line when read from CSV, its id."""
        rid = row.get(self.id_column) if self.id_column else None
        self.findings.append(
            Finding(
                table=self.table,
                code=code,
                message=message,
                row=int(row[ROW]),
                line=int(row[LINE]) if self.csv and row.get(LINE) is not None else None,
                record_id=None if rid is None else str(rid),
                column=column,
                severity=severity,  # type: ignore[arg-type]
            )
        )


def validate_table(
    df: pl.DataFrame,
    schema: TableSchema,
    *,
    csv: bool,
    policy: Policy,
    release_ids: set[str] | None,
) -> tuple[pl.DataFrame, Recorder]:
    """Apply the row rules (module docstring) to a table from ``read_table_file`` or
    ``table_from_frame``: the typed table and its findings and counts. ``csv``: the table was
    read from CSV (findings name its lines); ``release_ids``: the releases, None while
    validating the releases table itself."""
    rec = Recorder(schema.name, csv, schema.id_column)
    df = _drop_exact_duplicates(df, rec)
    typed = _parse_columns(df, schema, policy, rec)
    typed = _drop_missing_keys(df, typed, schema, rec)
    typed = _drop_duplicate_ids(typed, schema, rec)
    if schema.references_release and release_ids is not None and "release_id" in typed.columns:
        typed = _check_release_refs(typed, schema, release_ids, rec)
    return _duration_checks(schema.name, typed, rec), rec


def _drop_exact_duplicates(df: pl.DataFrame, rec: Recorder) -> pl.DataFrame:
    """Exact duplicates (every cell equal) count once: each later copy is a warning naming the
    first, and is excluded."""
    data_cols = [c for c in df.columns if c not in (ROW, LINE)]
    dup_mask = df.select(pl.struct(data_cols).is_first_distinct().not_()).to_series()
    if not dup_mask.any():
        return df
    first_rows = df.with_columns(
        pl.col(ROW).min().over(pl.struct(data_cols)).alias("_first"),
        pl.col(LINE).min().over(pl.struct(data_cols)).alias("_first_line"),
    ).filter(dup_mask)
    for row in _rows(first_rows):
        first = row["_first_line"] if rec.csv else row["_first"]
        rec.add(
            row,
            "exact_duplicate",
            f"exact duplicate of {'line' if rec.csv else 'row'} {first}; counted once",
            severity="warning",
        )
    rec.excluded["exact_duplicate"] += int(dup_mask.sum())
    return df.filter(~dup_mask)


def _parse_columns(
    df: pl.DataFrame, schema: TableSchema, policy: Policy, rec: Recorder
) -> pl.DataFrame:
    """Every declared column parsed by its kind; an invalid value is a finding and is nulled.
    Incidents keep ``_bad_mitigated_at``: an invalid mitigation time is left out of MTTM, not
    taken as "still open" (``_duration_checks``)."""
    exprs, bads = [], []
    for col in schema.columns:
        value, bad, _ = coerce(col, df.schema[col.name], policy.assume_timezone, schema.name)
        exprs.append(value.alias(col.name))
        bads.append(bad.alias(f"_bad_{col.name}"))
    checked = df.with_columns(bads)
    for col in schema.columns:
        bad_rows = checked.filter(pl.col(f"_bad_{col.name}"))
        for row in _rows(bad_rows):
            code, message = describe_bad(
                col, KIND_CODES.get(col.kind, ""), row[col.name], policy.assume_timezone
            )
            rec.add(row, code, message, col.name)
        if bad_rows.height:
            rec.values[f"{schema.name}.{col.name}"] += bad_rows.height
    typed = df.with_columns(exprs)
    if schema.name == "incidents":
        typed = typed.with_columns(checked["_bad_mitigated_at"].alias("_bad_mitigated_at"))
    return typed


def _drop_missing_keys(
    df: pl.DataFrame, typed: pl.DataFrame, schema: TableSchema, rec: Recorder
) -> pl.DataFrame:
    """Required values that are empty in ``df`` (as read) are findings. An empty key
    (``release_id``, ``incident_id``, an incident's ``system``) drops the row from ``typed``
    (``missing_key``); another empty value is counted as a value left out."""
    keys = {"release_id", "incident_id", "system"} & set(schema.required_columns)
    if schema.name != "incidents":
        keys.discard("system")
    keep = pl.lit(True)
    for name in schema.required_columns:
        empty_raw = df.filter(pl.col(name).is_null())
        for row in _rows(empty_raw):
            rec.add(row, "missing_value", f"required column '{name}' is empty", name)
        if name in keys:
            keep = keep & pl.col(name).is_not_null()
        elif empty_raw.height:
            rec.values[f"{schema.name}.{name}"] += empty_raw.height
    dropped = typed.filter(~keep)
    if dropped.height:
        rec.excluded["missing_key"] += dropped.height
        typed = typed.filter(keep)
    return typed


def _drop_duplicate_ids(typed: pl.DataFrame, schema: TableSchema, rec: Recorder) -> pl.DataFrame:
    """A repeated unique id (``release_id`` in releases, ``incident_id`` in incidents): the first
    row is kept, each later one is a finding and is excluded (``duplicate_id``)."""
    if not schema.unique:
        return typed
    dup = typed.filter(pl.col(schema.unique).is_first_distinct().not_())
    for row in _rows(dup):
        rec.add(
            row,
            "duplicate_id",
            f"duplicate {schema.unique} '{row[schema.unique]}'; the first row is kept",
            schema.unique,
        )
    if dup.height:
        rec.excluded["duplicate_id"] += dup.height
        typed = typed.filter(pl.col(schema.unique).is_first_distinct())
    return typed


def _check_release_refs(
    typed: pl.DataFrame, schema: TableSchema, release_ids: set[str], rec: Recorder
) -> pl.DataFrame:
    """A ``release_id`` not in releases is a finding: the row is excluded
    (``unknown_release``), except an incident, which is real and is kept unattributed (its
    ``_unknown_release`` flag set, the value counted)."""
    known = pl.col("release_id").is_in(list(release_ids))
    unknown = typed.filter(pl.col("release_id").is_not_null() & ~known)
    for row in _rows(unknown):
        rec.add(
            row,
            "unknown_release",
            f"release_id '{row['release_id']}' is not in the releases table",
            "release_id",
        )
    if not unknown.height:
        return typed
    if schema.name == "incidents":
        # The incident is real; only its link is unusable. It stays unattributed.
        rec.values["incidents.release_id"] += unknown.height
        return typed.with_columns(
            known.not_().and_(pl.col("release_id").is_not_null()).alias(UNKNOWN_RELEASE)
        )
    rec.excluded["unknown_release"] += unknown.height
    return typed.filter(pl.col("release_id").is_null() | known)


def _impossible(
    df: pl.DataFrame, rec: Recorder, when: pl.Expr, column: str, message: str
) -> pl.Expr:
    """Record an ``impossible_duration`` finding on ``column`` for each row where ``when``
    holds, count the values (zero included), and return ``column`` nulled in those rows."""
    bad = df.filter(when)
    for row in _rows(bad):
        rec.add(row, "impossible_duration", message, column)
    rec.values[f"{rec.table}.{column}"] += bad.height
    return pl.when(when).then(None).otherwise(pl.col(column)).alias(column)


def _duration_checks(name: str, df: pl.DataFrame, rec: Recorder) -> pl.DataFrame:
    """Impossible durations inside one row (mitigated before detected, started after detected,
    ended before started). A mitigation before detection is kept but flagged
    ``_mttm_invalid`` (so is an invalid mitigation time); the other times are ignored."""
    if name == "incidents":
        early = pl.col("mitigated_at") < pl.col("detected_at")
        _impossible(
            df,
            rec,
            early,
            "mitigated_at",
            "mitigated_at precedes detected_at: left out of MTTM, still counts as a "
            "failure and for detection",
        )
        started = _impossible(
            df,
            rec,
            pl.col("started_at") > pl.col("detected_at"),
            "started_at",
            "started_at is after detected_at: started_at ignored",
        )
        return df.with_columns(
            (early.fill_null(False) | pl.col("_bad_mitigated_at")).alias(MTTM_INVALID), started
        ).drop("_bad_mitigated_at")
    if name == "rollout_stages":
        ended = _impossible(
            df,
            rec,
            pl.col("ended_at") < pl.col("started_at"),
            "ended_at",
            "ended_at precedes started_at: ended_at ignored",
        )
        return df.with_columns(ended)
    return df


def complete_incidents(incidents: pl.DataFrame) -> pl.DataFrame:
    """The incidents with both flag columns, false where ``validate_table`` did not set them (no
    unknown release; no incidents table at all)."""
    if UNKNOWN_RELEASE not in incidents.columns:
        incidents = incidents.with_columns(pl.lit(False).alias(UNKNOWN_RELEASE))
    if MTTM_INVALID not in incidents.columns:
        incidents = incidents.with_columns(pl.lit(False).alias(MTTM_INVALID))
    return incidents
