"""Reading a dataset folder and validating it once, at the boundary (docs/data-contract.md).

We validate with polars expressions against the declared schemas in ``analytics.core.schemas``
rather than pandera: the contract needs every problem named by table, line, id and column,
invalid values nulled while the rest of the row is kept, and counts that reconcile, which
pandera's polars backend does not give row by row without a second pass of our own; and
telemetry must stay lazy.

Structural problems raise ``DataError``; row-level problems become ``Finding`` s.

What stops the run (``DataError``, exit 2, the path and column named):

- two files for one table (``releases.csv`` and ``releases.parquet``; ``telemetry.parquet``,
  ``telemetry.csv`` or a ``telemetry/`` folder side by side): the KPIs must not depend on which
  one is picked;
- a CSV file polars cannot read: the line of the problem is found by re-reading the file (the
  error path only): a byte that is not UTF-8 (its line from its byte offset), a UTF-16 file, a
  quoted field never closed or whose closing quote is followed by text (the line where the field
  starts), a record with more fields than the header;
- a table path that is a broken symbolic link, a link loop, a FIFO, a socket, a device or a
  folder (a folder only for telemetry). Checked with ``os.stat`` before anything is opened, so a
  FIFO never blocks; a symbolic link to a regular file is read;
- in a telemetry folder: a file that is not ``.parquet`` (names starting with '.' or '_', such as
  Spark's ``_SUCCESS``, are ignored), a ``.parquet`` entry that is not a regular file, a link to
  a folder;
- per telemetry file, before it is scanned: a Parquet footer that cannot be read (corrupt,
  truncated, not Parquet), a required column missing, or a column whose type cannot represent
  the contract type (numbers: any integer, float or decimal type; booleans: Boolean; ``ts``: a
  timestamp, or text parsed row by row; text: String, Categorical, Enum or integers; an all-null
  column fits any kind), or naive timestamps without ``assume_timezone``. A reader error later in
  the scan (a corrupt data page) names the file it came from.

Harmonising telemetry files: each Parquet file is scanned on its own and cast to one type per
kind (numbers Float64, booleans Boolean, text String, ``ts`` UTC microseconds), so files that
differ only in numeric width or integer-vs-float (tokens Int64 in one month, Float64 in the
next) concatenate; the casts are exact for every value the contract allows (integers up to
2**53). An optional column missing from a file is null for its rows. Columns beyond the contract
are kept only when every file has them with the same type.

Row-level telemetry problems are findings naming the file (relative to the dataset folder) and
the row within it (for CSV, the physical line): a non-finite number (NaN, inf, -inf; ``1e999``
reads as inf) is ``non_finite``; a negative cost, latency, handling time or token count, a
quality score outside 0..1 or unparsable text is ``invalid_number``. The value is nulled, so the
rollup's per-metric valid counts ``<m>_n`` leave it out; the row is kept. Exact duplicate cases
(every column equal after the casts above, across files too) count once: the extra copies are
excluded (``rows_excluded['exact_duplicate']``), one ``exact_duplicate`` warning per group names
every copy. Per problem the first ``MAX_TELEMETRY_EXAMPLES`` values are listed one finding each,
then one finding gives the number not listed; ``values_excluded`` counts them all. Numbers in
the small tables must be finite too. A timestamp outside the plausible range (``TS_MIN`` ..
``TS_MAX`` in ``analytics.core.schemas``) is ``timestamp_out_of_range``: nulled, or in telemetry,
where ``ts`` is a key, the case excluded.

The telemetry stays lazy: one streaming pass counts every problem and groups a 64-bit hash of
each case to find duplicate candidates (memory: one hash-table entry per distinct case); only
when there are problems do further passes fetch the first examples and confirm the candidates
by exact comparison. With no duplicates the typed frame carries no extra filter.

CSV line numbers are physical: the line where a record starts, counting the line breaks inside
quoted fields of the records before it (a BOM or CRLF line ends shift nothing).
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import re
import stat
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from analytics.core.columns import LINE, MTTM_INVALID, ROW
from analytics.core.errors import DataError
from analytics.core.policy import Policy, load_policy
from analytics.core.quality import DataQuality, Finding
from analytics.core.schemas import (
    ALL_TABLES,
    RELEASES,
    SMALL_TABLES,
    TELEMETRY,
    TS_MAX,
    TS_MIN,
    UTC_TS,
    Column,
    TableSchema,
)
from analytics.data.rollup import ROLLUP_DIRNAME, Rollup, load_telemetry_quality

TRUE_VALUES = ("true", "1", "t", "yes")
FALSE_VALUES = ("false", "0", "f", "no")
MAX_TELEMETRY_EXAMPLES = 20


@dataclass(frozen=True)
class Dataset:
    """A validated dataset: typed polars frames, the policy and the data-quality record.

    Small tables are eager ``DataFrame`` s with the contract's columns (timestamps ``Datetime("us",
    "UTC")``, booleans ``Boolean``, enums lower-case strings), extra columns kept, and a ``_row``
    column. ``telemetry`` is a ``LazyFrame`` (or None when the dataset has none).
    """

    releases: pl.DataFrame
    evidence: pl.DataFrame
    gates: pl.DataFrame
    rollout_stages: pl.DataFrame
    approvals: pl.DataFrame
    incidents: pl.DataFrame
    operator_decisions: pl.DataFrame
    telemetry: pl.LazyFrame | None
    policy: Policy
    quality: DataQuality
    fingerprint: str = ""
    present: frozenset[str] = field(default_factory=frozenset)
    source: str = ""
    telemetry_rollup: Rollup | None = None  # pre-computed rollup found in the folder, if any

    def table(self, name: str) -> pl.DataFrame:
        return getattr(self, name)


# ---------------------------------------------------------------- timestamps, values


def _ts_exprs(raw: pl.Expr, assume_tz: str | None) -> tuple[pl.Expr, pl.Expr]:
    """Parse ISO 8601 strings. Returns (UTC datetime or null, has-no-offset flag)."""
    norm = raw.str.replace(r"[zZ]$", "+00:00").str.replace(r"^(\d{4}-\d{2}-\d{2})[ tT]", "${1}T")
    with_offset = norm.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us")
    naive = pl.coalesce(
        norm.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
        norm.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us"),
        norm.str.to_datetime("%Y-%m-%d", strict=False, time_unit="us"),
    )
    no_offset = with_offset.is_null() & naive.is_not_null()
    if assume_tz is None:
        parsed = with_offset.dt.convert_time_zone("UTC")
    else:
        assumed = naive.dt.replace_time_zone(assume_tz, ambiguous="earliest", non_existent="null")
        parsed = pl.coalesce(
            with_offset.dt.convert_time_zone("UTC"), assumed.dt.convert_time_zone("UTC")
        )
    return parsed, no_offset


def _out_of_range(ts: pl.Expr) -> pl.Expr:
    """A UTC timestamp outside the plausible range ``TS_MIN`` .. before ``TS_MAX``
    (``analytics.core.schemas``); false for null."""
    low = pl.lit(TS_MIN, dtype=UTC_TS)
    high = pl.lit(TS_MAX, dtype=UTC_TS)
    return ((ts < low) | (ts >= high)).fill_null(False)


def _coerce(
    df: pl.DataFrame, col: Column, assume_tz: str | None, table: str
) -> tuple[pl.Expr, pl.Expr, str]:
    """Expressions (parsed value, value-is-invalid) for one column, and the problem code.

    A timestamp is invalid when it does not parse or lies outside the plausible range."""
    dtype = df.schema[col.name]
    src = pl.col(col.name)
    if col.kind == "ts":
        if isinstance(dtype, pl.Datetime):
            if dtype == UTC_TS:
                parsed = src
            elif dtype.time_zone is None:
                if assume_tz is None:
                    raise DataError(
                        f"table '{table}', column '{col.name}': timestamps have no offset; "
                        "set assume_timezone in the policy"
                    )
                parsed = src.dt.replace_time_zone(assume_tz).dt.convert_time_zone("UTC")
            else:
                parsed = src.dt.convert_time_zone("UTC")
            parsed = parsed.cast(UTC_TS)
            bad = _out_of_range(parsed)
        else:
            text = src.cast(pl.String)
            parsed, _ = _ts_exprs(text, assume_tz)
            bad = (text.is_not_null() & parsed.is_null()) | _out_of_range(parsed)
        return pl.when(bad).then(None).otherwise(parsed), bad, "invalid_timestamp"
    if col.kind == "bool":
        if dtype == pl.Boolean:
            return src, pl.lit(False), "invalid_bool"
        text = src.cast(pl.String).str.to_lowercase()
        parsed = (
            pl.when(text.is_in(TRUE_VALUES))
            .then(True)
            .when(text.is_in(FALSE_VALUES))
            .then(False)
            .otherwise(None)
        )
        return parsed, text.is_not_null() & parsed.is_null(), "invalid_bool"
    if col.kind in ("float", "int"):
        target = pl.Float64 if col.kind == "float" else pl.Int64
        if dtype.is_numeric():
            value = src.cast(pl.Float64)
        else:
            value = src.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
        bad = src.is_not_null() & (value.is_null() | ~value.is_finite())
        if col.kind == "int":
            bad = bad | (value.is_not_null() & (value != value.floor()))
        if col.low is not None:
            bad = bad | ((value <= col.low) if col.low_open else (value < col.low))
        if col.high is not None:
            bad = bad | (value > col.high)
        bad = bad.fill_null(False)
        return pl.when(bad).then(None).otherwise(value).cast(target), bad, "invalid_number"
    if col.kind == "enum":
        text = src.cast(pl.String)
        bad = text.is_not_null() & ~text.is_in(col.values)
        return pl.when(bad).then(None).otherwise(text), bad, "unknown_enum"
    return src.cast(pl.String), pl.lit(False), ""


def _as_float(value: Any) -> float:
    """A value as a float for describing it (0.0 when it is not a number at all)."""
    try:
        return float(str(value).strip())
    except ValueError:
        return 0.0


def _describe_bad(col: Column, code: str, value: Any, assume_tz: str | None) -> tuple[str, str]:
    if code == "invalid_timestamp":
        text = str(value)
        parsed, no_offset = _ts_exprs(pl.lit(text), assume_tz)
        if pl.select(_out_of_range(parsed)).item():
            return (
                "timestamp_out_of_range",
                f"timestamp {text!r} is outside the plausible range {TS_MIN:%Y-%m-%d} to "
                f"before {TS_MAX:%Y-%m-%d} (UTC)",
            )
        if pl.select(no_offset).item() and assume_tz is None:
            return (
                "timestamp_without_offset",
                f"timestamp {text!r} has no offset (set assume_timezone in the policy)",
            )
        return code, f"cannot parse timestamp {text!r} (ISO 8601 with offset expected)"
    if code == "invalid_bool":
        return code, f"{value!r} is not a boolean (true/false/1/0)"
    if code == "unknown_enum":
        return code, f"unknown value {value!r}; expected one of {', '.join(col.values)}"
    if code == "invalid_number":
        if not math.isfinite(_as_float(value)):
            return "non_finite", f"{value!r} is not a finite number"
        bounds = []
        if col.low is not None:
            bounds.append(f"{'>' if col.low_open else '>='} {col.low:g}")
        if col.high is not None:
            bounds.append(f"<= {col.high:g}")
        rule = f" {' and '.join(bounds)}" if bounds else ""
        kind = "an integer" if col.kind == "int" else "a number"
        return code, f"{value!r} is not {kind}{rule}"
    return code, f"invalid value {value!r}"


# ---------------------------------------------------------------- files


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _check_entry(path: Path, table: str, folder_ok: bool = False) -> None:
    """Stop unless ``path`` is a regular file (or, with ``folder_ok``, a folder), without
    opening it: a FIFO is never read (it would block), a broken symbolic link or a link loop
    is not taken for 'table absent'."""
    try:
        mode = os.stat(path).st_mode  # follows links; never opens the file
    except FileNotFoundError:
        target = os.readlink(path) if path.is_symlink() else "?"
        raise DataError(
            f"table '{table}': {path} is a broken symbolic link (its target {target} "
            "does not exist)"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataError(f"table '{table}': {path} is a symbolic link loop") from None
        raise DataError(f"table '{table}': cannot access {path}: {exc.strerror}") from None
    if folder_ok:
        if not stat.S_ISDIR(mode):
            raise DataError(
                f"table '{table}': {path} is {_file_kind(mode)}, not a folder of Parquet files"
            )
    elif not stat.S_ISREG(mode):
        raise DataError(f"table '{table}': {path} is {_file_kind(mode)}, not a regular file")


def _find_file(folder: Path, name: str) -> Path | None:
    """The one file (or, for telemetry, folder) of table ``name``; None when there is none.

    Two candidates for one table (``name.csv`` and ``name.parquet``, or ``telemetry.parquet``
    and ``telemetry/``) are ambiguous and stop the run, as does a candidate that is not a
    regular file (a folder only for telemetry), a broken symbolic link or a link loop."""
    candidates = [folder / f"{name}.csv", folder / f"{name}.parquet"]
    if name == TELEMETRY.name:
        candidates.append(folder / name)
    existing = [p for p in candidates if os.path.lexists(p)]
    if len(existing) > 1:
        raise DataError(
            f"table '{name}': ambiguous input, {' and '.join(str(p) for p in existing)} "
            "all exist; keep exactly one"
            if len(existing) > 2
            else f"table '{name}': ambiguous input, both {existing[0]} and {existing[1]} "
            "exist; keep exactly one"
        )
    if not existing:
        return None
    path = existing[0]
    _check_entry(path, name, folder_ok=path.suffix == "")
    return path


def _physical_lines(df: pl.DataFrame, header: list[str]) -> pl.Expr:
    """The physical line (1-based, header included) where each record of a CSV starts.

    A quoted field may hold line breaks, so a record can span several lines: the line of
    record k is 2 + the header's embedded line breaks + the records before it + their
    embedded line breaks. Blank lines are records of their own (polars reads them as a row of
    nulls), a BOM or CRLF line ends change nothing. ``df`` is the CSV read as strings, before
    any stripping."""
    header_breaks = sum(c.count("\n") for c in header)
    cols = [c for c, t in df.schema.items() if t == pl.String and c not in (ROW, LINE)]
    if not cols:
        return (pl.col(ROW) + 1 + header_breaks).cast(pl.Int64)
    breaks = pl.sum_horizontal(
        [pl.col(c).str.count_matches("\n", literal=True).fill_null(0) for c in cols]
    ).cast(pl.Int64)
    return (pl.col(ROW) + 1 + header_breaks + breaks.cum_sum() - breaks).cast(pl.Int64)


_QUOTED = re.compile(r'"[^"]*(?:""[^"]*)*"')  # a quoted CSV field, "" inside it a quote
_UNQUOTED = re.compile(r"[^,\r\n]*")


def _line_at(data: str | bytes, offset: int) -> int:
    """The physical line (1-based) holding ``offset``."""
    if isinstance(data, str):
        return data.count("\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1


def _csv_syntax_problem(text: str) -> tuple[int, str] | None:
    """(offset, what) of the first RFC 4180 problem in ``text``: a quoted field that is never
    closed or whose closing quote is followed by something other than a comma or a line end
    (the offset is where the field starts), or a record with more fields than the header."""
    pos, n = (1 if text.startswith("\ufeff") else 0), len(text)
    header: int | None = None
    record, fields = pos, 0
    while pos < n:
        if text[pos] == '"':
            m = _QUOTED.match(text, pos)
            if m is None:
                return pos, "a quoted field starts on this line and is never closed"
            end = m.end()
            if end < n and text[end] not in ",\r\n":
                close = _line_at(text, end - 1)
                where = "" if close == _line_at(text, pos) else f" (on line {close})"
                return pos, (
                    f"a quoted field starts on this line and its closing quote{where} is "
                    f"followed by {text[end]!r}, not by a comma or a line end (a quote inside a "
                    'quoted field is written "")'
                )
        else:
            end = _UNQUOTED.match(text, pos).end()  # type: ignore[union-attr]
        fields += 1
        pos = end
        if pos < n and text[pos] == ",":
            pos += 1
            if pos < n:
                continue
            fields += 1  # a trailing comma: one more (empty) field
        else:
            pos += 2 if text.startswith("\r\n", pos) else 1
        if header is None:
            header = fields
        elif fields > header:
            return record, f"the record on this line has {fields} fields, the header {header}"
        record, fields = pos, 0
    return None


def _csv_problem(path: Path) -> tuple[int, str] | None:
    """(line, what) of the first encoding or syntax problem of a CSV file that polars cannot
    read; None when none is found. Called only when reading has failed (it reads the whole
    file into memory)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return 1, "the file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8"
    nul = data.find(b"\x00")
    if nul >= 0:
        return _line_at(data, nul), "a NUL byte: the file is not UTF-8 text (UTF-16?)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _line_at(data, exc.start)
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return line, (
            f"byte 0x{data[exc.start]:02x} at byte {col} of the line is not valid UTF-8 "
            "(Latin-1 or Windows-1252 text?); save the file as UTF-8"
        )
    found = _csv_syntax_problem(text)
    return None if found is None else (_line_at(text, found[0]), found[1])


def _csv_read_error(table: str, path: Path, exc: Exception) -> DataError:
    """A CSV file polars cannot read: the line and the problem when they can be found, else
    the reader's message."""
    found = _csv_problem(path)
    if found is None:
        return DataError(f"table '{table}': cannot read {path}: {exc}")
    line, what = found
    return DataError(f"table '{table}': cannot read {path}, line {line}: {what}")


def _read_small(path: Path, schema: TableSchema) -> pl.DataFrame:
    try:
        if path.suffix == ".csv":
            df = pl.read_csv(path, infer_schema=False)
        else:
            df = pl.read_parquet(path)
    except Exception as exc:  # any reader failure is a structural error with the file named
        if path.suffix == ".csv":
            raise _csv_read_error(schema.name, path, exc) from None
        raise DataError(f"table '{schema.name}': cannot read {path}: {exc}") from exc
    missing = [c for c in schema.required_columns if c not in df.columns]
    if missing and path.suffix == ".csv" and (found := _csv_problem(path)) is not None:
        # a header polars misread (UTF-16 text, say): the encoding is the problem to name
        raise DataError(f"table '{schema.name}': cannot read {path}, line {found[0]}: {found[1]}")
    if missing:
        raise DataError(
            f"table '{schema.name}' ({path.name}, line 1): missing required column(s) "
            + ", ".join(f"'{c}'" for c in missing)
        )
    # Optional columns absent from the file are added empty so code behind the boundary can
    # rely on every declared column being there.
    for col in schema.columns:
        if col.name not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(col.name))
    header = list(df.columns)
    df = df.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))
    if path.suffix == ".csv":
        df = df.with_columns(_physical_lines(df, header).alias(LINE))
    else:
        df = df.with_columns(pl.lit(None, dtype=pl.Int64).alias(LINE))
    str_cols = [c for c, t in df.schema.items() if t == pl.String]
    return df.with_columns([pl.col(c).str.strip_chars().replace("", None) for c in str_cols])


def _rows(df: pl.DataFrame) -> Any:
    """The rows of ``df`` as dicts, for findings, with timestamps as text: a timestamp Python's
    datetime cannot hold (year 0, beyond 9999) is quoted rather than crashing the load."""
    return df.with_columns(pl.col(pl.Datetime).cast(pl.String)).iter_rows(named=True)


class _Recorder:
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


def _validate_small(
    df: pl.DataFrame, schema: TableSchema, csv: bool, policy: Policy, release_ids: set[str] | None
) -> tuple[pl.DataFrame, _Recorder]:
    rec = _Recorder(schema.name, csv, schema.id_column)
    data_cols = [c for c in df.columns if c not in (ROW, LINE)]

    # Exact duplicates count once.
    dup_mask = df.select(pl.struct(data_cols).is_first_distinct().not_()).to_series()
    if dup_mask.any():
        first_rows = df.with_columns(
            pl.col(ROW).min().over(pl.struct(data_cols)).alias("_first"),
            pl.col(LINE).min().over(pl.struct(data_cols)).alias("_first_line"),
        ).filter(dup_mask)
        for row in _rows(first_rows):
            first = row["_first_line"] if csv else row["_first"]
            rec.add(
                row,
                "exact_duplicate",
                f"exact duplicate of {'line' if csv else 'row'} {first}; counted once",
                severity="warning",
            )
        rec.excluded["exact_duplicate"] += int(dup_mask.sum())
        df = df.filter(~dup_mask)

    # Parse and check every declared column.
    exprs, bads = [], []
    for col in schema.columns:
        value, bad, code = _coerce(df, col, policy.assume_timezone, schema.name)
        exprs.append(value.alias(col.name))
        bads.append(bad.alias(f"_bad_{col.name}"))
    checked = df.with_columns(bads)
    for col in schema.columns:
        flag = f"_bad_{col.name}"
        bad_rows = checked.filter(pl.col(flag))
        for row in _rows(bad_rows):
            _, _, code = _coerce(df, col, policy.assume_timezone, schema.name)
            code, message = _describe_bad(col, code, row[col.name], policy.assume_timezone)
            rec.add(row, code, message, col.name)
        if bad_rows.height:
            rec.values[f"{schema.name}.{col.name}"] += bad_rows.height
    typed = df.with_columns(exprs)
    if schema.name == "incidents":
        # An invalid mitigated_at is left out of MTTM (not taken as "still open").
        typed = typed.with_columns(checked["_bad_mitigated_at"].alias("_bad_mitigated_at"))

    # Required values that are empty (or were invalid): key columns drop the row, others null.
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

    if schema.unique:
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

    if schema.references_release and release_ids is not None and "release_id" in typed.columns:
        unknown = typed.filter(
            pl.col("release_id").is_not_null() & ~pl.col("release_id").is_in(list(release_ids))
        )
        for row in _rows(unknown):
            rec.add(
                row,
                "unknown_release",
                f"release_id '{row['release_id']}' is not in the releases table",
                "release_id",
            )
        if unknown.height:
            if schema.name == "incidents":
                # The incident is real; only its link is unusable. It stays unattributed.
                rec.values["incidents.release_id"] += unknown.height
                typed = typed.with_columns(
                    pl.col("release_id")
                    .is_in(list(release_ids))
                    .not_()
                    .and_(pl.col("release_id").is_not_null())
                    .alias("_unknown_release")
                )
            else:
                rec.excluded["unknown_release"] += unknown.height
                typed = typed.filter(
                    pl.col("release_id").is_null() | pl.col("release_id").is_in(list(release_ids))
                )
    return typed, rec


def _duration_checks(name: str, df: pl.DataFrame, rec: _Recorder) -> pl.DataFrame:
    """Impossible durations inside one row (mitigated before detected, ended before started)."""
    if name == "incidents":
        bad = df.filter(pl.col("mitigated_at") < pl.col("detected_at"))
        for row in _rows(bad):
            rec.add(
                row,
                "impossible_duration",
                "mitigated_at precedes detected_at: left out of MTTM, still counts as a "
                "failure and for detection",
                "mitigated_at",
            )
        late = df.filter(pl.col("started_at") > pl.col("detected_at"))
        for row in _rows(late):
            rec.add(
                row,
                "impossible_duration",
                "started_at is after detected_at: started_at ignored",
                "started_at",
            )
        rec.values["incidents.mitigated_at"] += bad.height
        rec.values["incidents.started_at"] += late.height
        return df.with_columns(
            (
                (pl.col("mitigated_at") < pl.col("detected_at")).fill_null(False)
                | pl.col("_bad_mitigated_at")
            ).alias(MTTM_INVALID),
            pl.when(pl.col("started_at") > pl.col("detected_at"))
            .then(None)
            .otherwise(pl.col("started_at"))
            .alias("started_at"),
        ).drop("_bad_mitigated_at")
    if name == "rollout_stages":
        bad = df.filter(pl.col("ended_at") < pl.col("started_at"))
        for row in _rows(bad):
            rec.add(
                row,
                "impossible_duration",
                "ended_at precedes started_at: ended_at ignored",
                "ended_at",
            )
        rec.values["rollout_stages.ended_at"] += bad.height
        return df.with_columns(
            pl.when(pl.col("ended_at") < pl.col("started_at"))
            .then(None)
            .otherwise(pl.col("ended_at"))
            .alias("ended_at")
        )
    return df


def empty_table(schema: TableSchema) -> pl.DataFrame:
    return pl.DataFrame(schema={**schema.polars_schema, ROW: pl.Int64, LINE: pl.Int64})


# ---------------------------------------------------------------- telemetry

FILE = "_file"  # index of the telemetry file a case was read from
GID = "_gid"  # file index * 2**40 + row: a case's place in the telemetry, unique and ordered
_FILE_SHIFT = 1 << 40
_TS_TEXT = "_ts_text"  # a Parquet ts that does not parse or is out of range, as text (else null)


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
                _check_entry(entry, TELEMETRY.name)
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


def _parquet_schema(path: Path) -> pl.Schema:
    """The schema of a Parquet file from its footer (cheap); a file that is not readable
    Parquet (corrupt, truncated, another format) is a structural error naming it."""
    try:
        return pl.Schema(pl.read_parquet_schema(path))
    except Exception as exc:
        raise DataError(
            f"table 'telemetry': cannot read {path}: not a readable Parquet file ({exc})"
        ) from None


def _canonical_ts(dtype: pl.DataType, path: Path, policy: Policy) -> tuple[pl.Expr, pl.Expr]:
    """(ts as UTC datetime, the text of a ts that does not parse or lies outside the plausible
    range) for one Parquet file. A row with such a text is excluded (``ts`` is a key), so its
    ``ts`` is left as it is."""
    src = pl.col("ts")
    no_text = pl.lit(None, dtype=pl.String)
    if dtype == pl.Null:
        return pl.lit(None, dtype=UTC_TS), no_text
    if dtype == pl.String:
        parsed, _ = _ts_exprs(src, policy.assume_timezone)
        bad = (parsed.is_null() & src.is_not_null()) | _out_of_range(parsed)
        return parsed.cast(UTC_TS), pl.when(bad).then(src)
    assert isinstance(dtype, pl.Datetime)
    if dtype.time_zone is None:
        if policy.assume_timezone is None:
            raise DataError(
                f"table 'telemetry' ({path}), column 'ts': timestamps have no offset; set "
                "assume_timezone in the policy"
            )
        src = src.dt.replace_time_zone(
            policy.assume_timezone, ambiguous="earliest", non_existent="null"
        )
    ts = src.dt.convert_time_zone("UTC").cast(UTC_TS)
    return ts, pl.when(_out_of_range(ts)).then(ts.cast(pl.String))


def _parquet_part(path: Path, index: int, schema: pl.Schema, policy: Policy, extras: list[str]):
    """One Parquet file of the telemetry as canonical raw columns: the contract columns cast
    to one type per kind (numbers Float64, booleans Boolean, text String, ts UTC), so files
    whose numeric widths differ (tokens Int64 here, Float64 there) concatenate; plus the row
    within the file, the file index and the case's global place."""
    exprs: list[pl.Expr] = []
    for col in TELEMETRY.columns:
        dtype = schema.get(col.name)
        if col.kind == "ts":
            ts, text = (
                _canonical_ts(dtype, path, policy)
                if dtype is not None
                else (pl.lit(None, dtype=UTC_TS), pl.lit(None, dtype=pl.String))
            )
            exprs += [ts.alias("ts"), text.alias(_TS_TEXT)]
            continue
        target = {"float": pl.Float64, "int": pl.Float64, "bool": pl.Boolean}.get(
            col.kind, pl.String
        )
        value = pl.col(col.name) if dtype is not None else pl.lit(None)
        exprs.append(value.cast(target).alias(col.name))
    row = pl.col(ROW).cast(pl.Int64)
    return (
        pl.scan_parquet(path)
        .with_row_index(ROW, offset=1)
        .select(
            row.alias(ROW),
            pl.lit(index, dtype=pl.Int64).alias(FILE),
            (row + index * _FILE_SHIFT).alias(GID),
            *exprs,
            *[pl.col(c) for c in extras],
        )
    )


@dataclass(frozen=True)
class _TelemetrySource:
    """The telemetry as canonical raw columns, before any value is checked."""

    frame: pl.LazyFrame
    files: tuple[Path, ...]
    names: tuple[str, ...]  # file names relative to the dataset folder, for findings
    csv: bool
    header: tuple[str, ...]  # the CSV header (to count physical lines); empty for Parquet
    extras: tuple[str, ...]  # columns beyond the contract, kept on the typed frame


def _telemetry_source(path: Path, policy: Policy) -> _TelemetrySource:
    """Check every telemetry file against the contract before scanning it (module docstring)."""
    files = _telemetry_files(path)
    names = tuple(str(f.relative_to(path.parent)) for f in files)
    required = TELEMETRY.required_columns
    if path.suffix == ".csv":
        try:
            lf = pl.scan_csv(path, infer_schema=False)
            header = lf.collect_schema().names()
        except Exception as exc:
            raise _csv_read_error(TELEMETRY.name, path, exc) from None
        missing = [c for c in required if c not in header]
        if missing:
            raise DataError(
                f"table 'telemetry' ({path.name}, line 1): missing required column(s) "
                + ", ".join(f"'{c}'" for c in missing)
            )
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
            .with_columns(pl.lit(None, dtype=pl.String).alias(_TS_TEXT))
        )
        return _TelemetrySource(frame, tuple(files), names, True, tuple(header), tuple(extras))
    schemas = [_parquet_schema(f) for f in files]
    for f, schema in zip(files, schemas, strict=True):
        missing = [c for c in required if c not in schema]
        if missing:
            raise DataError(
                f"table 'telemetry' ({f}): missing required column(s) "
                + ", ".join(f"'{c}'" for c in missing)
            )
        for col in TELEMETRY.columns:
            dtype = schema.get(col.name)
            if dtype is not None and not _parquet_type_ok(col.kind, dtype):
                expected = _EXPECTED.get(col.kind, "text")
                raise DataError(
                    f"table 'telemetry' ({f}), column '{col.name}': type {dtype} cannot hold "
                    f"{expected} (contract type {TELEMETRY.polars_schema[col.name]})"
                )
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
        _parquet_part(f, i, schema, policy, extras)
        for i, (f, schema) in enumerate(zip(files, schemas, strict=True))
    ]
    frame = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")
    return _TelemetrySource(frame, tuple(files), names, False, (), tuple(extras))


@dataclass(frozen=True)
class _Flag:
    name: str  # flag column
    kind: str  # non_finite | invalid | missing | unknown_release
    column: str


def _telemetry_flags(
    source: _TelemetrySource, policy: Policy, release_ids: set[str]
) -> tuple[pl.LazyFrame, list[_Flag], list[pl.Expr]]:
    """The canonical frame with one boolean column per problem, the problems, and the typed
    value expression of every contract column (invalid values null)."""
    raw = source.frame
    probe = pl.DataFrame(schema=raw.collect_schema())
    flags: list[_Flag] = []
    flag_exprs: list[pl.Expr] = []
    typed: list[pl.Expr] = []
    for col in TELEMETRY.columns:
        src = pl.col(col.name)
        if col.kind in ("float", "int"):
            if source.csv:
                value = src.str.strip_chars().cast(pl.Float64, strict=False)
                unparsable = src.is_not_null() & value.is_null()
            else:
                value, unparsable = src, pl.lit(False)
            non_finite = (value.is_not_null() & ~value.is_finite()).fill_null(False)
            out_of_range = pl.lit(False)
            if col.low is not None:
                out_of_range = out_of_range | (
                    (value <= col.low) if col.low_open else (value < col.low)
                )
            if col.high is not None:
                out_of_range = out_of_range | (value > col.high)
            bad = (unparsable | (value.is_finite() & out_of_range)).fill_null(False)
            flag_exprs += [non_finite.alias(f"_nf_{col.name}"), bad.alias(f"_bad_{col.name}")]
            flags += [
                _Flag(f"_nf_{col.name}", "non_finite", col.name),
                _Flag(f"_bad_{col.name}", "invalid", col.name),
            ]
            typed.append(
                pl.when(pl.col(f"_nf_{col.name}") | pl.col(f"_bad_{col.name}"))
                .then(None)
                .otherwise(value)
                .alias(col.name)
            )
        elif col.kind == "ts" and not source.csv:
            flag_exprs.append(pl.col(_TS_TEXT).is_not_null().alias("_bad_ts"))
            flags.append(_Flag("_bad_ts", "invalid", "ts"))
            typed.append(src.alias("ts"))
        else:
            value, bad, code = _coerce(probe, col, policy.assume_timezone, TELEMETRY.name)
            if code:
                flag_exprs.append(bad.fill_null(False).alias(f"_bad_{col.name}"))
                flags.append(_Flag(f"_bad_{col.name}", "invalid", col.name))
            typed.append(value.alias(col.name))
    for name in TELEMETRY.required_columns:
        empty = pl.col(name).is_null()
        if name == "ts":
            empty = empty & pl.col(_TS_TEXT).is_null()
        flag_exprs.append(empty.alias(f"_null_{name}"))
        flags.append(_Flag(f"_null_{name}", "missing", name))
    rid = pl.col("release_id").cast(pl.String)
    flag_exprs.append(
        (rid.is_not_null() & ~rid.is_in(sorted(release_ids))).alias("_unknown_release")
    )
    flags.append(_Flag("_unknown_release", "unknown_release", "release_id"))
    return raw.with_columns(flag_exprs), flags, typed


def _read_error(source: _TelemetrySource, exc: Exception) -> DataError:
    """A reader failure while scanning: find the file it came from (the error path only)."""
    for f in source.files:
        try:
            if source.csv:
                pl.scan_csv(f, infer_schema=False).select(pl.len()).collect()
            else:
                pl.scan_parquet(f).select(pl.all().null_count()).collect()
        except Exception as inner:
            if source.csv:
                return _csv_read_error(TELEMETRY.name, f, inner)
            return DataError(f"table 'telemetry': cannot read {f}: {inner}")
    return DataError(f"table 'telemetry': cannot read {source.files[0].parent}: {exc}")


def _describe_telemetry(flag: _Flag, value: Any, assume_tz: str | None) -> tuple[str, str]:
    if flag.kind == "non_finite":
        return "non_finite", f"{value!r} is not a finite number; value left out, row kept"
    if flag.kind == "missing":
        return "missing_value", f"required column '{flag.column}' is empty"
    if flag.kind == "unknown_release":
        return "unknown_release", f"release_id '{value}' is not in the releases table"
    col = TELEMETRY.column(flag.column)
    base = {"float": "invalid_number", "int": "invalid_number", "ts": "invalid_timestamp"}
    kinds = {"bool": "invalid_bool", "enum": "unknown_enum"}
    code, message = _describe_bad(
        col, base.get(col.kind, kinds.get(col.kind, "")), value, assume_tz
    )
    if col.kind == "ts":
        # ts is a key: without it the case cannot be placed (rows_excluded['missing_key'])
        return code, f"{message}; row excluded"
    return code, f"{message}; value left out, row kept"


def _value_column(flag: _Flag, source: _TelemetrySource) -> str:
    """The column holding the value a finding quotes (the text of an unparsable Parquet ts)."""
    return _TS_TEXT if flag.column == "ts" and not source.csv else flag.column


def _telemetry_line(source: _TelemetrySource) -> pl.Expr:
    """The physical CSV line where each case starts (see ``_physical_lines``)."""
    header_breaks = sum(c.count("\n") for c in source.header)
    cols = [c for c in source.header if c in source.frame.collect_schema()]
    breaks = pl.sum_horizontal(
        [pl.col(c).str.count_matches("\n", literal=True).fill_null(0) for c in cols]
    ).cast(pl.Int64)
    return (pl.col(ROW) + 1 + header_breaks + breaks.cum_sum() - breaks).alias(LINE)


def _load_telemetry(
    path: Path, policy: Policy, release_ids: set[str]
) -> tuple[pl.LazyFrame, list[Finding], int, Counter[str], Counter[str]]:
    """Check, type and count the telemetry lazily (module docstring): one streaming pass
    counts every problem and hashes every case to find exact duplicates; only when there are
    problems do small passes fetch the first examples and verify the duplicates."""
    source = _telemetry_source(path, policy)
    flags, problems, typed = _telemetry_flags(source, policy, release_ids)
    key_bad = (
        pl.col("_bad_ts") | pl.col("_null_ts") | pl.col("_null_release_id") | pl.col("_null_system")
    )
    unknown = pl.col("_unknown_release")
    aggs = [
        *[pl.col(f.name).sum().cast(pl.Int64) for f in problems],
        (key_bad & ~unknown).sum().cast(pl.Int64).alias("missing_key"),
        unknown.sum().cast(pl.Int64).alias("unknown_release"),
    ]
    data_cols = [c for c in source.frame.collect_schema().names() if c not in (ROW, FILE, GID)]
    row_hash = pl.struct(data_cols).hash(seed=0).alias("_h")
    duplicated = (
        flags.select(row_hash).group_by("_h").agg(pl.len().alias("_n")).filter(pl.col("_n") > 1)
    )
    try:
        counts, dup_hashes = pl.collect_all(
            [flags.select(pl.len().cast(pl.Int64).alias("rows"), *aggs), duplicated],
            engine="streaming",
        )
        stats = counts.row(0, named=True)
        # Exact duplicates: the hash finds candidates, an exact comparison confirms them.
        dup_groups = pl.DataFrame()
        drop = pl.Series(GID, [], dtype=pl.Int64)
        if dup_hashes.height:
            cand = (
                flags.filter(row_hash.is_in(dup_hashes["_h"].implode()))
                .collect(engine="streaming")
                .with_columns(
                    pl.col(GID).min().over(pl.struct(data_cols)).alias("_first"),
                    pl.len().over(pl.struct(data_cols)).alias("_copies"),
                )
                .filter(pl.col("_copies") > 1)
            )
            dropped = cand.filter(pl.col(GID) != pl.col("_first"))
            drop = dropped[GID]
            if dropped.height:
                less = dropped.select(aggs).row(0, named=True)
                stats = {k: v - less.get(k, 0) for k, v in stats.items()}
            dup_groups = (
                cand.sort(GID)
                .group_by("_first", maintain_order=True)
                .agg(pl.col(GID), pl.col(ROW), pl.col(FILE))
                .sort("_first")
            )
        kept = ~pl.col(GID).is_in(drop.implode()) if drop.len() else pl.lit(True)
        problem_flags = [f for f in problems if stats[f.name]]
        examples: list[pl.DataFrame] = []
        if problem_flags:
            base = flags.with_columns(_telemetry_line(source)) if source.csv else flags
            line_col = [LINE] if source.csv else []
            examples = pl.collect_all(
                [
                    base.filter(pl.col(f.name) & kept)
                    .select(ROW, FILE, *line_col, pl.col(_value_column(f, source)).alias("_value"))
                    .head(MAX_TELEMETRY_EXAMPLES)
                    for f in problem_flags
                ],
                engine="streaming",
            )
    except DataError:
        raise
    except Exception as exc:
        raise _read_error(source, exc) from None

    findings: list[Finding] = []
    values: Counter[str] = Counter()
    excluded: Counter[str] = Counter()
    if drop.len():
        excluded["exact_duplicate"] = int(drop.len())
        lines = (
            flags.with_columns(_telemetry_line(source))
            .filter(pl.col(GID).is_in(pl.concat(dup_groups["_gid"].to_list()).implode()))
            .select(GID, LINE)
            .collect()
            if source.csv
            else None
        )
        line_of = dict(lines.iter_rows()) if lines is not None else {}
        for group in dup_groups.head(MAX_TELEMETRY_EXAMPLES).iter_rows(named=True):
            places = [
                f"{source.names[f]} {'line ' + str(line_of[g]) if source.csv else 'row ' + str(r)}"
                for g, r, f in zip(group[GID], group[ROW], group[FILE], strict=True)
            ]
            shown = ", ".join(places[:5]) + (
                f" and {len(places) - 5} more" if len(places) > 5 else ""
            )
            findings.append(
                Finding(
                    table=TELEMETRY.name,
                    code="exact_duplicate",
                    message=f"{len(places)} identical cases ({shown}); counted once",
                    row=int(group[ROW][1]),
                    line=line_of.get(group[GID][1]),
                    file=source.names[group[FILE][1]],
                    severity="warning",
                )
            )
        if dup_groups.height > MAX_TELEMETRY_EXAMPLES:
            findings.append(
                Finding(
                    table=TELEMETRY.name,
                    code="exact_duplicate",
                    message=(
                        f"{dup_groups.height - MAX_TELEMETRY_EXAMPLES} more groups of identical "
                        f"cases not listed ({drop.len()} extra copies in all, each counted once)"
                    ),
                    severity="warning",
                )
            )
    # One finding per value (the first MAX_TELEMETRY_EXAMPLES of each problem), in file and row
    # order; then one line per problem for the values not listed.
    listed: list[tuple[int, int, int, Finding]] = []
    more: list[Finding] = []
    for i, (flag, ex) in enumerate(zip(problem_flags, examples, strict=True)):
        n = int(stats[flag.name])
        code = ""
        for row in ex.iter_rows(named=True):
            code, message = _describe_telemetry(flag, row["_value"], policy.assume_timezone)
            finding = Finding(
                table=TELEMETRY.name,
                code=code,
                message=message,
                row=int(row[ROW]),
                line=int(row[LINE]) if source.csv else None,
                file=source.names[row[FILE]],
                column=flag.column,
            )
            listed.append((int(row[FILE]), int(row[ROW]), i, finding))
        if n > ex.height:
            more.append(
                Finding(
                    table=TELEMETRY.name,
                    code=code,
                    message=f"{n - ex.height} more such value(s) not listed ({n} in all)",
                    column=flag.column,
                )
            )
        if flag.kind != "unknown_release":
            values[f"telemetry.{flag.column}"] += n
    findings += [f for *_, f in sorted(listed, key=lambda t: t[:3])] + more
    # Rows without a usable key (timestamp, release, system) or naming an unknown release cannot
    # be attributed to any version: they are excluded and counted.
    for reason in ("missing_key", "unknown_release"):
        if stats[reason]:
            excluded[reason] += int(stats[reason])
    keep = ~key_bad & ~unknown & kept
    out = flags.filter(keep).select(*typed, *[pl.col(c) for c in source.extras])
    return out, findings, int(stats["rows"]), excluded, values


# ---------------------------------------------------------------- entry point


def _fingerprint(paths: list[Path]) -> str:
    """Content hash of the small tables plus name and size of every telemetry file."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for f in files:
            if not f.is_file():
                continue
            digest.update(f.name.encode())
            if f.parent.name == "telemetry" or f.stem == "telemetry":
                digest.update(str(f.stat().st_size).encode())
            else:
                digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def load_dataset(
    data_dir: str | Path,
    policy: Policy | str | Path | None = None,
    *,
    policy_overrides: Mapping[str, Any] | None = None,
) -> Dataset:
    """Read and validate a dataset folder (docs/data-contract.md).

    ``policy``: a Policy, a path to a policy YAML, or None for ``data_dir/policy.yaml`` when it
    exists, else the shipped default. Raises ``DataError`` for structural problems.
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"dataset folder {folder} does not exist")
    if not isinstance(policy, Policy):
        path = policy if policy is not None else folder / "policy.yaml"
        policy = load_policy(
            path if policy is not None or Path(path).is_file() else None, policy_overrides
        )
    findings: list[Finding] = []
    rows_read: dict[str, int] = {}
    rows_loaded: dict[str, int] = {}
    rows_excluded: dict[str, dict[str, int]] = {}
    values: Counter[str] = Counter()
    tables: dict[str, pl.DataFrame] = {}
    used: list[Path] = []
    present = set()
    release_ids: set[str] | None = None
    for schema in SMALL_TABLES:
        found = _find_file(folder, schema.name)
        if found is None:
            if schema.required_table:
                raise DataError(
                    f"table '{schema.name}' is required: no {schema.name}.csv or "
                    f"{schema.name}.parquet in {folder}"
                )
            tables[schema.name] = empty_table(schema)
            continue
        present.add(schema.name)
        used.append(found)
        raw = _read_small(found, schema)
        typed, rec = _validate_small(raw, schema, found.suffix == ".csv", policy, release_ids)
        typed = _duration_checks(schema.name, typed, rec)
        if schema is RELEASES:
            release_ids = set(typed["release_id"].to_list())
        tables[schema.name] = typed
        findings.extend(rec.findings)
        values.update(rec.values)
        rows_read[schema.name] = raw.height
        rows_loaded[schema.name] = typed.height
        rows_excluded[schema.name] = dict(rec.excluded)
    if "_unknown_release" not in tables["incidents"].columns:
        tables["incidents"] = tables["incidents"].with_columns(
            pl.lit(False).alias("_unknown_release")
        )
    if MTTM_INVALID not in tables["incidents"].columns:
        tables["incidents"] = tables["incidents"].with_columns(pl.lit(False).alias(MTTM_INVALID))

    telemetry = None
    tpath = _find_file(folder, TELEMETRY.name)
    if tpath is not None:
        present.add("telemetry")
        used.append(tpath)
        telemetry, tfind, n_read, excluded, tvalues = _load_telemetry(
            tpath, policy, release_ids or set()
        )
        findings.extend(tfind)
        values.update(tvalues)
        rows_read["telemetry"] = n_read
        rows_excluded["telemetry"] = dict(excluded)
        rows_loaded["telemetry"] = n_read - sum(excluded.values())

    rollup = None
    if (folder / ROLLUP_DIRNAME).is_dir():
        present.add(ROLLUP_DIRNAME)
        used.append(folder / ROLLUP_DIRNAME)
        rollup = Rollup.load(folder / ROLLUP_DIRNAME)
        saved = load_telemetry_quality(folder / ROLLUP_DIRNAME)
        if tpath is None and saved is not None:
            # The raw telemetry is gone: report the data quality it had when it was rolled up.
            findings.extend(saved.findings)
            rows_read.update(saved.rows_read)
            rows_loaded.update(saved.rows_loaded)
            rows_excluded.update({t: dict(v) for t, v in saved.rows_excluded.items()})
            values.update(saved.values_excluded)

    quality = DataQuality(
        findings=tuple(findings),
        rows_read=rows_read,
        rows_loaded=rows_loaded,
        rows_excluded=rows_excluded,
        values_excluded=dict(values),
    )
    return Dataset(
        releases=tables["releases"],
        evidence=tables["evidence"],
        gates=tables["gates"],
        rollout_stages=tables["rollout_stages"],
        approvals=tables["approvals"],
        incidents=tables["incidents"],
        operator_decisions=tables["operator_decisions"],
        telemetry=telemetry,
        policy=policy,
        quality=quality,
        fingerprint=_fingerprint(used),
        present=frozenset(present),
        source=str(folder),
        telemetry_rollup=rollup,
    )


__all__ = ["Dataset", "load_dataset", "ALL_TABLES", "ROW", "LINE"]
