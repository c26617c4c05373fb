"""The telemetry's files and their harmonisation into one lazy frame of canonical raw columns,
before any value is checked (``analytics.data.telemetry`` checks them).

The telemetry is a CSV file, one Parquet file, a folder of Parquet files, or a frame already in
memory (``telemetry_from_path``, ``telemetry_from_frame``). What stops the run (``DataError``,
exit 2, the path or source and the column named):

- in a telemetry folder: a file that is not ``.parquet`` (names starting with '.' or '_', such as
  Spark's ``_SUCCESS``, are ignored), a ``.parquet`` entry that is not a regular file, a link to
  a folder;
- per telemetry file (or frame), before it is scanned: a Parquet footer that cannot be read
  (corrupt, truncated, not Parquet), a required column missing, or a column whose type cannot
  represent the contract type (numbers: any integer, float or decimal type; booleans: Boolean;
  ``ts``: a timestamp, or text parsed row by row; text: String, Categorical, Enum or integers;
  an all-null column fits any kind), or naive timestamps without ``assume_timezone``. A reader
  error later in the scan (a corrupt data page) names the file it came from (``read_error``).

Harmonising telemetry files: each Parquet file is scanned on its own and cast to one type per
kind (numbers Float64, booleans Boolean, text String, ``ts`` UTC microseconds), so files that
differ only in numeric width or integer-vs-float (tokens Int64 in one month, Float64 in the
next) concatenate; the casts are exact for every value the contract allows (integers up to
2**53). An optional column missing from a file is null for its rows. Columns beyond the contract
are kept only when every file has them with the same type. A frame in memory is read like one
Parquet file. A CSV file stays text. Every case carries its row within its file (``_row``), its
file's index (``_file``) and its place in the whole telemetry (``_gid``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from analytics.core.columns import ROW
from analytics.core.errors import DataError
from analytics.core.policy import Policy
from analytics.core.schemas import TELEMETRY, UTC_TS
from analytics.data.files import check_entry, csv_read_error, missing_columns_error
from analytics.data.values import out_of_range, parse_timestamps

FILE = "_file"  # index of the telemetry file a case was read from
GID = "_gid"  # file index * 2**40 + row: a case's place in the telemetry, unique and ordered
_FILE_SHIFT = 1 << 40
TS_TEXT = "_ts_text"  # a Parquet ts that does not parse or is out of range, as text (else null)


def _telemetry_files(path: Path) -> list[Path]:
    """The Parquet files of a telemetry folder (or the one telemetry file), checked without
    opening them. Names starting with '.' or '_' (Spark's ``_SUCCESS``, ``.crc`` files) are
    skipped; any other file that is not ``.parquet``, a ``.parquet`` entry that is not a regular
    file, or a link to a folder stops the run rather than being silently left out."""
    if path.suffix:
        return [path]
    files: list[Path] = []
    strays: list[str] = []
    for root, dirs, names in os.walk(path):
        base = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for d in dirs:
            if (base / d).is_symlink():
                raise DataError(
                    f"table 'telemetry': {base / d} is a symbolic link to a folder, which is not "
                    "followed; put the files themselves into the telemetry folder"
                )
        for name in sorted(names):
            if name.startswith((".", "_")):
                continue
            entry = base / name
            if name.endswith(".parquet"):
                check_entry(entry, TELEMETRY.name)
                files.append(entry)
            else:
                strays.append(str(entry.relative_to(path)))
    if strays:
        raise DataError(
            f"table 'telemetry': folder {path} holds file(s) that are not Parquet: "
            + ", ".join(strays[:5])
            + (f" and {len(strays) - 5} more" if len(strays) > 5 else "")
            + "; a telemetry folder holds only .parquet files (names starting with '.' or '_' "
            "are ignored)"
        )
    if not files:
        raise DataError(f"table 'telemetry': folder {path} holds no .parquet files")
    return sorted(files)


_EXPECTED = {
    "float": "a number",
    "int": "a number",
    "bool": "a boolean",
    "ts": "a timestamp (or ISO 8601 text)",
}


def _parquet_type_ok(kind: str, dtype: pl.DataType) -> bool:
    """Whether a Parquet column of ``dtype`` can represent the contract type of ``kind``."""
    if dtype == pl.Null:
        return True
    if kind in ("float", "int"):
        return dtype.is_numeric()
    if kind == "bool":
        return dtype == pl.Boolean
    if kind == "ts":
        return isinstance(dtype, pl.Datetime) or dtype == pl.String
    return dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum) or dtype.is_integer()


def parquet_schema(path: Path) -> pl.Schema:
    """The schema of a Parquet file from its footer (cheap); a file that is not readable
    Parquet (corrupt, truncated, another format) is a structural error naming it."""
    try:
        return pl.Schema(pl.read_parquet_schema(path))
    except Exception as exc:
        raise DataError(
            f"table 'telemetry': cannot read {path}: not a readable Parquet file ({exc})"
        ) from None


def _check_typed_schema(schema: pl.Schema, where: str) -> None:
    """Stop unless a typed telemetry part (a Parquet file, a frame) has every required column,
    each of a type that can represent its contract type."""
    missing = [c for c in TELEMETRY.required_columns if c not in schema]
    if missing:
        raise missing_columns_error(TELEMETRY.name, where, missing)
    for col in TELEMETRY.columns:
        dtype = schema.get(col.name)
        if dtype is not None and not _parquet_type_ok(col.kind, dtype):
            expected = _EXPECTED.get(col.kind, "text")
            raise DataError(
                f"table 'telemetry' ({where}), column '{col.name}': type {dtype} cannot hold "
                f"{expected} (contract type {TELEMETRY.polars_schema[col.name]})"
            )


def _canonical_ts(dtype: pl.DataType, where: str, policy: Policy) -> tuple[pl.Expr, pl.Expr]:
    """(ts as UTC datetime, the text of a ts that does not parse or lies outside the plausible
    range) for one typed part. A row with such a text is excluded (``ts`` is a key), so its
    ``ts`` is left as it is."""
    src = pl.col("ts")
    no_text = pl.lit(None, dtype=pl.String)
    if dtype == pl.Null:
        return pl.lit(None, dtype=UTC_TS), no_text
    if dtype == pl.String:
        parsed, _ = parse_timestamps(src, policy.assume_timezone)
        bad = (parsed.is_null() & src.is_not_null()) | out_of_range(parsed)
        return parsed.cast(UTC_TS), pl.when(bad).then(src)
    assert isinstance(dtype, pl.Datetime)
    if dtype.time_zone is None:
        if policy.assume_timezone is None:
            raise DataError(
                f"table 'telemetry' ({where}), column 'ts': timestamps have no offset; set "
                "assume_timezone in the policy"
            )
        src = src.dt.replace_time_zone(
            policy.assume_timezone, ambiguous="earliest", non_existent="null"
        )
    ts = src.dt.convert_time_zone("UTC").cast(UTC_TS)
    return ts, pl.when(out_of_range(ts)).then(ts.cast(pl.String))


def _canonical_part(
    frame: pl.LazyFrame,
    index: int,
    schema: pl.Schema,
    policy: Policy,
    extras: list[str],
    where: str,
) -> pl.LazyFrame:
    """One typed part of the telemetry (a Parquet file, a frame) as canonical raw columns: the
    contract columns cast to one type per kind (numbers Float64, booleans Boolean, text String,
    ts UTC), so parts whose numeric widths differ (tokens Int64 here, Float64 there)
    concatenate; plus the row within the part, the part index and the case's global place."""
    exprs: list[pl.Expr] = []
    for col in TELEMETRY.columns:
        dtype = schema.get(col.name)
        if col.kind == "ts":
            ts, text = (
                _canonical_ts(dtype, where, policy)
                if dtype is not None
                else (pl.lit(None, dtype=UTC_TS), pl.lit(None, dtype=pl.String))
            )
            exprs += [ts.alias("ts"), text.alias(TS_TEXT)]
            continue
        target = {"float": pl.Float64, "int": pl.Float64, "bool": pl.Boolean}.get(
            col.kind, pl.String
        )
        value = pl.col(col.name) if dtype is not None else pl.lit(None)
        exprs.append(value.cast(target).alias(col.name))
    row = pl.col(ROW).cast(pl.Int64)
    return frame.with_row_index(ROW, offset=1).select(
        row.alias(ROW),
        pl.lit(index, dtype=pl.Int64).alias(FILE),
        (row + index * _FILE_SHIFT).alias(GID),
        *exprs,
        *[pl.col(c) for c in extras],
    )


@dataclass(frozen=True)
class TelemetrySource:
    """The telemetry as canonical raw columns, before any value is checked."""

    frame: pl.LazyFrame
    files: tuple[Path, ...]  # the files it is read from; empty for a frame in memory
    names: tuple[str | None, ...]  # per part, the file relative to the dataset folder (findings)
    csv: bool
    header: tuple[str, ...]  # the CSV header (to count physical lines); empty otherwise
    extras: tuple[str, ...]  # columns beyond the contract, kept on the typed frame
    where: str  # where it is read from, for an error no single file explains


def telemetry_from_path(path: Path, policy: Policy) -> TelemetrySource:
    """Check every telemetry file against the contract before scanning it (module docstring)."""
    files = _telemetry_files(path)
    names = tuple(str(f.relative_to(path.parent)) for f in files)
    if path.suffix == ".csv":
        return _csv_source(path, files, names)
    schemas = [parquet_schema(f) for f in files]
    for f, schema in zip(files, schemas, strict=True):
        _check_typed_schema(schema, str(f))
    # Columns beyond the contract are kept when every file has them with the same type.
    first = schemas[0]
    extras = [
        c
        for c in first
        if c not in TELEMETRY.polars_schema
        and not c.startswith("_")
        and all(s.get(c) == first[c] for s in schemas)
    ]
    parts = [
        _canonical_part(pl.scan_parquet(f), i, schema, policy, extras, str(f))
        for i, (f, schema) in enumerate(zip(files, schemas, strict=True))
    ]
    frame = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")
    return TelemetrySource(
        frame, tuple(files), names, False, (), tuple(extras), str(files[0].parent)
    )


def _csv_source(path: Path, files: list[Path], names: tuple[str, ...]) -> TelemetrySource:
    """A telemetry CSV file: every cell as text, parsed by ``_telemetry_flags``."""
    try:
        lf = pl.scan_csv(path, infer_schema=False)
        header = lf.collect_schema().names()
    except Exception as exc:
        raise csv_read_error(TELEMETRY.name, path, exc) from None
    missing = [c for c in TELEMETRY.required_columns if c not in header]
    if missing:
        raise missing_columns_error(TELEMETRY.name, f"{path.name}, line 1", missing)
    extras = [c for c in header if c not in TELEMETRY.polars_schema and not c.startswith("_")]
    row = pl.col(ROW).cast(pl.Int64)
    frame = (
        lf.with_row_index(ROW, offset=1)
        .select(
            row.alias(ROW),
            pl.lit(0, dtype=pl.Int64).alias(FILE),
            row.alias(GID),
            *[
                pl.col(c.name) if c.name in header else pl.lit(None, pl.String).alias(c.name)
                for c in TELEMETRY.columns
            ],
            *[pl.col(c) for c in extras],
        )
        .with_columns(pl.lit(None, dtype=pl.String).alias(TS_TEXT))
    )
    return TelemetrySource(
        frame, tuple(files), names, True, tuple(header), tuple(extras), str(path.parent)
    )


def telemetry_from_frame(
    frame: pl.LazyFrame | pl.DataFrame, policy: Policy, source: str
) -> TelemetrySource:
    """Telemetry already in memory (``source`` names where it came from), checked and read like
    one Parquet file; its findings name rows, no file."""
    lf = frame.lazy()
    schema = lf.collect_schema()
    _check_typed_schema(schema, source)
    extras = [c for c in schema if c not in TELEMETRY.polars_schema and not c.startswith("_")]
    part = _canonical_part(lf, 0, schema, policy, extras, source)
    return TelemetrySource(part, (), (None,), False, (), tuple(extras), source)


def read_error(source: TelemetrySource, exc: Exception) -> DataError:
    """A reader failure while scanning: find the file it came from (the error path only)."""
    for f in source.files:
        try:
            if source.csv:
                pl.scan_csv(f, infer_schema=False).select(pl.len()).collect()
            else:
                pl.scan_parquet(f).select(pl.all().null_count()).collect()
        except Exception as inner:
            if source.csv:
                return csv_read_error(TELEMETRY.name, f, inner)
            return DataError(f"table 'telemetry': cannot read {f}: {inner}")
    return DataError(f"table 'telemetry': cannot read {source.where}: {exc}")
