"""Parsing and checking one column by its contract kind (docs/data-contract.md, value rules).

Shared by the small tables (``analytics.data.tables``) and the telemetry
(``analytics.data.telemetry``): polars expressions that give a column's typed value and whether
each value is invalid, and the sentence a finding says about an invalid value.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from analytics.core.errors import DataError
from analytics.core.schemas import FALSE_VALUES, TRUE_VALUES, TS_MAX, TS_MIN, UTC_TS, Column

# The finding code of an invalid value, by column kind (text kinds have no invalid values).
KIND_CODES: dict[str, str] = {
    "ts": "invalid_timestamp",
    "bool": "invalid_bool",
    "float": "invalid_number",
    "int": "invalid_number",
    "enum": "unknown_enum",
}


def parse_timestamps(raw: pl.Expr, assume_tz: str | None) -> tuple[pl.Expr, pl.Expr]:
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


def out_of_range(ts: pl.Expr) -> pl.Expr:
    """A UTC timestamp outside the plausible range ``TS_MIN`` .. before ``TS_MAX``
    (``analytics.core.schemas``); false for null."""
    low = pl.lit(TS_MIN, dtype=UTC_TS)
    high = pl.lit(TS_MAX, dtype=UTC_TS)
    return ((ts < low) | (ts >= high)).fill_null(False)


def out_of_bounds(value: pl.Expr, col: Column) -> pl.Expr:
    """A number outside the column's declared bounds (null for a null value)."""
    bad = pl.lit(False)
    if col.low is not None:
        bad = bad | ((value <= col.low) if col.low_open else (value < col.low))
    if col.high is not None:
        bad = bad | (value > col.high)
    return bad


def coerce(
    col: Column, dtype: pl.DataType, assume_tz: str | None, table: str
) -> tuple[pl.Expr, pl.Expr, str]:
    """Expressions (parsed value, value-is-invalid) for one column whose values have ``dtype``,
    and the problem code (``KIND_CODES``; empty for text).

    A timestamp is invalid when it does not parse or lies outside the plausible range."""
    src = pl.col(col.name)
    code = KIND_CODES.get(col.kind, "")
    if col.kind == "ts":
        parsed, bad = _timestamp(src, dtype, assume_tz, table, col.name)
        return pl.when(bad).then(None).otherwise(parsed), bad, code
    if col.kind == "bool":
        if dtype == pl.Boolean:
            return src, pl.lit(False), code
        text = src.cast(pl.String).str.to_lowercase()
        parsed = (
            pl.when(text.is_in(TRUE_VALUES))
            .then(True)
            .when(text.is_in(FALSE_VALUES))
            .then(False)
            .otherwise(None)
        )
        return parsed, text.is_not_null() & parsed.is_null(), code
    if col.kind in ("float", "int"):
        target = pl.Float64 if col.kind == "float" else pl.Int64
        if dtype.is_numeric():
            value = src.cast(pl.Float64)
        else:
            value = src.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
        bad = src.is_not_null() & (value.is_null() | ~value.is_finite())
        if col.kind == "int":
            bad = bad | (value.is_not_null() & (value != value.floor()))
        bad = (bad | out_of_bounds(value, col)).fill_null(False)
        return pl.when(bad).then(None).otherwise(value).cast(target), bad, code
    if col.kind == "enum":
        text = src.cast(pl.String)
        bad = text.is_not_null() & ~text.is_in(col.values)
        return pl.when(bad).then(None).otherwise(text), bad, code
    return src.cast(pl.String), pl.lit(False), code


def _timestamp(
    src: pl.Expr, dtype: pl.DataType, assume_tz: str | None, table: str, name: str
) -> tuple[pl.Expr, pl.Expr]:
    """(UTC value, invalid) of a timestamp column: typed (a naive one needs
    ``assume_timezone``) or text parsed by ``parse_timestamps``."""
    if not isinstance(dtype, pl.Datetime):
        text = src.cast(pl.String)
        parsed, _ = parse_timestamps(text, assume_tz)
        return parsed, (text.is_not_null() & parsed.is_null()) | out_of_range(parsed)
    if dtype == UTC_TS:
        parsed = src
    elif dtype.time_zone is None:
        if assume_tz is None:
            raise DataError(
                f"table '{table}', column '{name}': timestamps have no offset; "
                "set assume_timezone in the policy"
            )
        parsed = src.dt.replace_time_zone(assume_tz).dt.convert_time_zone("UTC")
    else:
        parsed = src.dt.convert_time_zone("UTC")
    parsed = parsed.cast(UTC_TS)
    return parsed, out_of_range(parsed)


def _as_float(value: Any) -> float:
    """A value as a float for describing it (0.0 when it is not a number at all)."""
    try:
        return float(str(value).strip())
    except ValueError:
        return 0.0


def describe_bad(col: Column, code: str, value: Any, assume_tz: str | None) -> tuple[str, str]:
    """(finding code, message) for an invalid ``value`` of ``col`` flagged with ``code``: a
    timestamp is told apart as out of range or without offset, a number as non-finite."""
    if code == "invalid_timestamp":
        return _describe_timestamp(code, str(value), assume_tz)
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


def _describe_timestamp(code: str, text: str, assume_tz: str | None) -> tuple[str, str]:
    parsed, no_offset = parse_timestamps(pl.lit(text), assume_tz)
    if pl.select(out_of_range(parsed)).item():
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
