"""From raw values to rows of the ``telemetry`` table, for every telemetry source alike.

A source reader (``otel``, ``langfuse``) collects, per record, the raw value of every column the
mapping reads (already through the rule's ``values`` table) into a ``RawColumns`` batch; here a
batch becomes two frames, vectorised: the cases (the contract's telemetry columns plus
``source_id``) and the rejected records with the first reason that rejects each, in this order:

``missing_release``, ``missing_timestamp`` / ``invalid_timestamp`` (start), ``missing_value`` /
``negative_duration`` (end), then per column ``missing_value`` (empty and no default),
``invalid_value`` (not a boolean, a number, a number >= 0, a criticality of the contract, a
quality score in [0, 1]), and last ``unknown_model`` (a model the price table does not list).

``ts`` is the start (UTC, microseconds), ``latency_ms`` the duration, ``tokens`` input plus
output tokens, ``model_cost_usd`` their price from the table (USD per million tokens).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import polars as pl

from analytics.core.schemas import TELEMETRY, UTC_TS
from analytics.importers.telemetry_mapping import (
    FLAG_COLUMNS,
    NUMBER_COLUMNS,
    OPTIONAL_COLUMNS,
    TEXT_COLUMNS,
    as_text,
)

META: tuple[str, ...] = ("_line", "_span", "source_id", "start", "end")
RULE_COLUMNS: tuple[str, ...] = (
    "release_id",
    *TEXT_COLUMNS,
    "model",
    *FLAG_COLUMNS,
    *NUMBER_COLUMNS,
)
OUTPUT_COLUMNS: tuple[str, ...] = (*(c.name for c in TELEMETRY.columns), "source_id")
REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "_line": pl.Int64(),
    "_span": pl.Int64(),
    "source_id": pl.String(),
    "reason": pl.String(),
    "column": pl.String(),
    "value": pl.String(),
}
_TRUE = ("true", "1", "t", "yes", "1.0")
_FALSE = ("false", "0", "f", "no", "0.0")
_CRITICALITY = TELEMETRY.column("criticality").values


class RawColumns:
    """One batch of raw values: a list per meta column and per column read from the records."""

    def __init__(self, read: Iterable[str]) -> None:
        self.read = tuple(read)
        self.lists: dict[str, list[Any]] = {c: [] for c in (*META, *self.read)}

    def __len__(self) -> int:
        return len(self.lists["_line"])

    def clear(self) -> None:
        for values in self.lists.values():
            values.clear()


def _series(name: str, values: list[Any], dtype: pl.DataType) -> pl.Series:
    return pl.Series(name, values, dtype=dtype, strict=False)


def raw_frame(batch: RawColumns) -> pl.DataFrame:
    """The batch as a frame: every read column as text (numbers and booleans written out),
    ``start`` and ``end`` too (the source's ``Times`` turns them into nanoseconds)."""
    cols = [
        _series("_line", batch.lists["_line"], pl.Int64()),
        _series("_span", batch.lists["_span"], pl.Int64()),
        _series("source_id", batch.lists["source_id"], pl.String()),
    ]
    cols += [_series(c, batch.lists[c], pl.String()) for c in ("start", "end", *batch.read)]
    return pl.DataFrame(cols)


# A source's start and end text -> Int64 nanoseconds since the epoch (null: not a timestamp).
Times = Callable[[str], pl.Expr]


def nanoseconds(col: str) -> pl.Expr:
    """OTLP: integer nanoseconds since the epoch, written as text."""
    return pl.col(col).cast(pl.Int64, strict=False)


def _filled(frame: pl.DataFrame, rules: dict[str, Any]) -> list[pl.Expr]:
    """Each rule column as text: the raw value, else the rule's constant or default."""
    out = []
    for col, rule in rules.items():
        constant = rule.value if rule.value is not None else rule.default
        raw = pl.col(col) if col in frame.columns else pl.lit(None, dtype=pl.String)
        raw = pl.when(raw.str.strip_chars() == "").then(None).otherwise(raw)
        fill = pl.lit(None, dtype=pl.String) if constant is None else pl.lit(as_text(constant))
        out.append(raw.fill_null(fill).alias(col))
    return out


def _checks(prices: dict[str, Any]) -> list[tuple[pl.Expr, str, str]]:
    """(rejects, reason, column) in the order the first failing one names the record."""
    start, end = pl.col("_start_ns"), pl.col("_end_ns")
    checks: list[tuple[pl.Expr, str, str]] = [
        (pl.col("release_id").is_null(), "missing_release", "release_id"),
        (pl.col("start").is_null() | (start == 0), "missing_timestamp", "ts"),
        (start.is_null(), "invalid_timestamp", "ts"),
        (pl.col("end").is_null() | (end == 0), "missing_value", "latency_ms"),
        (end.is_null(), "invalid_value", "latency_ms"),
        (end < start, "negative_duration", "latency_ms"),
    ]
    for col in (*TEXT_COLUMNS, "model", *FLAG_COLUMNS, *NUMBER_COLUMNS):
        if col not in OPTIONAL_COLUMNS:
            checks.append((pl.col(col).is_null(), "missing_value", col))
    checks.append(
        (~pl.col("criticality").is_in(list(_CRITICALITY)), "invalid_value", "criticality")
    )
    for col in FLAG_COLUMNS:
        checks.append((pl.col(f"_{col}").is_null(), "invalid_value", col))
    for col in NUMBER_COLUMNS:
        value = pl.col(f"_{col}")
        bad = pl.col(col).is_not_null() & (value.is_null() | ~value.is_finite() | (value < 0))
        if col == "quality_score":
            bad = bad | (value > 1)
        checks.append((bad, "invalid_value", col))
    checks.append((~pl.col("model").is_in(list(prices)), "unknown_model", "model"))
    return checks


def _first(checks: list[tuple[pl.Expr, str, str]], pick: int) -> pl.Expr:
    expr: Any = pl.when(checks[0][0]).then(pl.lit(checks[0][pick]))
    for check in checks[1:]:
        expr = expr.when(check[0]).then(pl.lit(check[pick]))
    return expr.otherwise(pl.lit(None, dtype=pl.String))


def _offending(checks: list[tuple[pl.Expr, str, str]]) -> pl.Expr:
    """The raw text of the column that rejects the record (for the report)."""
    columns = {c for _, _, c in checks}
    raw = {c: c for c in columns}
    raw.update({"ts": "start", "latency_ms": "end"})
    duration = ((pl.col("_end_ns") - pl.col("_start_ns")) / 1e6).cast(pl.String) + " ms"
    expr: Any = pl.when(pl.col("reason") == "negative_duration").then(duration)
    for col in sorted(columns):
        expr = expr.when(pl.col("column") == col).then(pl.col(raw[col]).cast(pl.String))
    return expr.otherwise(None)


def cases_from_raw(
    frame: pl.DataFrame, rules: dict[str, Any], prices: dict[str, Any], to_ns: Times
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cases, rejected) of one raw batch (module docstring). ``rules``: column -> rule of the
    mapping (``release_id`` included); ``prices``: model -> ``Price``."""
    typed = frame.with_columns(_filled(frame, rules)).with_columns(
        to_ns("start").alias("_start_ns"),
        to_ns("end").alias("_end_ns"),
        *[_flag(pl.col(c)).alias(f"_{c}") for c in FLAG_COLUMNS],
        *[pl.col(c).cast(pl.Float64, strict=False).alias(f"_{c}") for c in NUMBER_COLUMNS],
    )
    checks = _checks(prices)
    typed = typed.with_columns(_first(checks, 1).alias("reason"), _first(checks, 2).alias("column"))
    rejected = typed.filter(pl.col("reason").is_not_null()).select(
        *[pl.col(c) for c in ("_line", "_span", "source_id", "reason", "column")],
        _offending(checks).alias("value"),
    )
    return _cases(typed.filter(pl.col("reason").is_null()), prices), rejected


def _flag(raw: pl.Expr) -> pl.Expr:
    text = raw.str.strip_chars().str.to_lowercase()
    return pl.when(text.is_in(list(_TRUE))).then(True).when(text.is_in(list(_FALSE))).then(False)


def _cases(ok: pl.DataFrame, prices: dict[str, Any]) -> pl.DataFrame:
    tokens_in, tokens_out = pl.col("_input_tokens"), pl.col("_output_tokens")
    price_in = pl.col("model").replace_strict({m: p.input for m, p in prices.items()}, default=0.0)
    price_out = pl.col("model").replace_strict(
        {m: p.output for m, p in prices.items()}, default=0.0
    )
    return ok.select(
        (pl.col("_start_ns") // 1000).cast(UTC_TS).alias("ts"),
        pl.col("release_id"),
        *[pl.col(c) for c in TEXT_COLUMNS],
        *[pl.col(f"_{c}").alias(c) for c in FLAG_COLUMNS],
        pl.col("_handling_time_s").alias("handling_time_s"),
        ((pl.col("_end_ns") - pl.col("_start_ns")) / 1e6).alias("latency_ms"),
        (tokens_in + tokens_out).alias("tokens"),
        ((tokens_in * price_in + tokens_out * price_out) / 1e6).alias("model_cost_usd"),
        pl.col("_quality_score").alias("quality_score"),
        pl.col("source_id"),
    )
