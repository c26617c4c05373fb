"""The telemetry table: one lazy validation pass over the canonical raw columns of
``analytics.data.telemetry_source`` (docs/data-contract.md, bad input).

Row-level telemetry problems are findings naming the file (relative to the dataset folder; none
for a frame in memory) and the row within it (for CSV, the physical line): a non-finite number
(NaN, inf, -inf; ``1e999`` reads as inf) is ``non_finite``; a negative cost, latency, handling
time or token count, a quality score outside 0..1 or unparsable text is ``invalid_number``. The
value is nulled, so the rollup's per-metric valid counts ``<m>_n`` leave it out; the row is
kept. Exact duplicate cases (every column equal after the harmonising casts, across files too)
count once: the extra copies are excluded (``rows_excluded['exact_duplicate']``), one
``exact_duplicate`` warning per group names every copy. Per problem the first
``MAX_TELEMETRY_EXAMPLES`` values are listed one finding each, then one finding gives the number
not listed; ``values_excluded`` counts them all. A timestamp outside the plausible range
(``TS_MIN`` .. ``TS_MAX`` in ``analytics.core.schemas``) is ``timestamp_out_of_range``: ``ts`` is
a key, so the case is excluded. Rows without a usable key (``ts``, ``release_id``, ``system``)
or naming an unknown release are excluded (``missing_key``, ``unknown_release``).

The telemetry stays lazy: one streaming pass counts every problem and groups a 64-bit hash of
each case to find duplicate candidates (memory: one hash-table entry per distinct case); only
when there are problems do further passes fetch the first examples and confirm the candidates
by exact comparison. With no duplicates the typed frame carries no extra filter.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Any

import polars as pl

from analytics.core.columns import LINE, ROW, UNKNOWN_RELEASE
from analytics.core.errors import DataError
from analytics.core.policy import Policy
from analytics.core.quality import Finding
from analytics.core.schemas import TELEMETRY, Column
from analytics.data.files import physical_lines
from analytics.data.telemetry_source import FILE, GID, TS_TEXT, TelemetrySource, read_error
from analytics.data.values import KIND_CODES, coerce, describe_bad, out_of_bounds

MAX_TELEMETRY_EXAMPLES = 20


# ---------------------------------------------------------------- problems


@dataclass(frozen=True)
class _Flag:
    name: str  # flag column
    kind: str  # non_finite | invalid | missing | unknown_release
    column: str


def _number_flags(col: Column, csv: bool) -> tuple[list[pl.Expr], list[_Flag], pl.Expr]:
    """A number column's flags (non-finite; unparsable or out of bounds) and typed value."""
    src = pl.col(col.name)
    if csv:
        value = src.str.strip_chars().cast(pl.Float64, strict=False)
        unparsable = src.is_not_null() & value.is_null()
    else:
        value, unparsable = src, pl.lit(False)
    non_finite = (value.is_not_null() & ~value.is_finite()).fill_null(False)
    bad = (unparsable | (value.is_finite() & out_of_bounds(value, col))).fill_null(False)
    nf, bd = f"_nf_{col.name}", f"_bad_{col.name}"
    typed = pl.when(pl.col(nf) | pl.col(bd)).then(None).otherwise(value).alias(col.name)
    flags = [_Flag(nf, "non_finite", col.name), _Flag(bd, "invalid", col.name)]
    return [non_finite.alias(nf), bad.alias(bd)], flags, typed


def _telemetry_flags(
    source: TelemetrySource, policy: Policy, release_ids: set[str]
) -> tuple[pl.LazyFrame, list[_Flag], list[pl.Expr]]:
    """The canonical frame with one boolean column per problem, the problems, and the typed
    value expression of every contract column (invalid values null)."""
    raw = source.frame
    schema = raw.collect_schema()
    flags: list[_Flag] = []
    flag_exprs: list[pl.Expr] = []
    typed: list[pl.Expr] = []
    for col in TELEMETRY.columns:
        if col.kind in ("float", "int"):
            exprs, col_flags, value = _number_flags(col, source.csv)
            flag_exprs += exprs
            flags += col_flags
            typed.append(value)
        elif col.kind == "ts" and not source.csv:
            flag_exprs.append(pl.col(TS_TEXT).is_not_null().alias("_bad_ts"))
            flags.append(_Flag("_bad_ts", "invalid", "ts"))
            typed.append(pl.col("ts").alias("ts"))
        else:
            value, bad, code = coerce(col, schema[col.name], policy.assume_timezone, TELEMETRY.name)
            if code:
                flag_exprs.append(bad.fill_null(False).alias(f"_bad_{col.name}"))
                flags.append(_Flag(f"_bad_{col.name}", "invalid", col.name))
            typed.append(value.alias(col.name))
    for name in TELEMETRY.required_columns:
        empty = pl.col(name).is_null()
        if name == "ts":
            empty = empty & pl.col(TS_TEXT).is_null()
        flag_exprs.append(empty.alias(f"_null_{name}"))
        flags.append(_Flag(f"_null_{name}", "missing", name))
    rid = pl.col("release_id").cast(pl.String)
    flag_exprs.append((rid.is_not_null() & ~rid.is_in(sorted(release_ids))).alias(UNKNOWN_RELEASE))
    flags.append(_Flag(UNKNOWN_RELEASE, "unknown_release", "release_id"))
    return raw.with_columns(flag_exprs), flags, typed


def _describe_telemetry(flag: _Flag, value: Any, assume_tz: str | None) -> tuple[str, str]:
    if flag.kind == "non_finite":
        return "non_finite", f"{value!r} is not a finite number; value left out, row kept"
    if flag.kind == "missing":
        return "missing_value", f"required column '{flag.column}' is empty"
    if flag.kind == "unknown_release":
        return "unknown_release", f"release_id '{value}' is not in the releases table"
    col = TELEMETRY.column(flag.column)
    code, message = describe_bad(col, KIND_CODES.get(col.kind, ""), value, assume_tz)
    if col.kind == "ts":
        # ts is a key: without it the case cannot be placed (rows_excluded['missing_key'])
        return code, f"{message}; row excluded"
    return code, f"{message}; value left out, row kept"


def _value_column(flag: _Flag, source: TelemetrySource) -> str:
    """The column holding the value a finding quotes (the text of an unparsable Parquet ts)."""
    return TS_TEXT if flag.column == "ts" and not source.csv else flag.column


def _telemetry_line(source: TelemetrySource) -> pl.Expr:
    """The physical CSV line where each case starts (``analytics.data.files.physical_lines``)."""
    cols = [c for c in source.header if c in source.frame.collect_schema()]
    return physical_lines(cols, source.header).alias(LINE)


def _place(source: TelemetrySource, file: int, row: int, line: int | None) -> str:
    """Where a case is, for a message: the file and the line (CSV) or row."""
    at = f"line {line}" if source.csv else f"row {row}"
    name = source.names[file]
    return at if name is None else f"{name} {at}"


# ---------------------------------------------------------------- the pass


@dataclass(frozen=True)
class _Scan:
    """What the streaming passes found."""

    stats: dict[str, int]  # rows; cases per problem flag, missing_key, unknown_release
    drop: pl.Series  # GID of every extra copy of a duplicate case
    groups: pl.DataFrame  # one row per duplicate group: _first, and the GID, ROW, FILE lists
    problem_flags: list[_Flag]  # the problems that occur
    examples: list[pl.DataFrame]  # per problem, its first cases: ROW, FILE, [LINE], _value

    def kept(self) -> pl.Expr:
        """False for the extra copies of a duplicate case."""
        return ~pl.col(GID).is_in(self.drop.implode()) if self.drop.len() else pl.lit(True)


def _scan(
    source: TelemetrySource, flags: pl.LazyFrame, problems: list[_Flag], aggs: list[pl.Expr]
) -> _Scan:
    """One streaming pass counts every problem (``aggs``) and hashes every case; only when there
    are problems do small passes verify the duplicates and fetch the first examples. A reader
    failure names the file it came from."""
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
        drop, groups, stats = _duplicates(flags, row_hash, dup_hashes, data_cols, aggs, stats)
        scan = _Scan(stats, drop, groups, [f for f in problems if stats[f.name]], [])
        return dataclasses.replace(scan, examples=_examples(source, flags, scan))
    except DataError:
        raise
    except Exception as exc:
        raise read_error(source, exc) from None


def _duplicates(
    flags: pl.LazyFrame,
    row_hash: pl.Expr,
    dup_hashes: pl.DataFrame,
    data_cols: list[str],
    aggs: list[pl.Expr],
    stats: dict[str, int],
) -> tuple[pl.Series, pl.DataFrame, dict[str, int]]:
    """Exact duplicates: the hash finds candidates, an exact comparison confirms them. Returns
    the GID of the extra copies, the groups, and the counts without the extra copies."""
    drop = pl.Series(GID, [], dtype=pl.Int64)
    if not dup_hashes.height:
        return drop, pl.DataFrame(), stats
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
    if dropped.height:
        less = dropped.select(aggs).row(0, named=True)
        stats = {k: v - less.get(k, 0) for k, v in stats.items()}
    groups = (
        cand.sort(GID)
        .group_by("_first", maintain_order=True)
        .agg(pl.col(GID), pl.col(ROW), pl.col(FILE))
        .sort("_first")
    )
    return dropped[GID], groups, stats


def _examples(source: TelemetrySource, flags: pl.LazyFrame, scan: _Scan) -> list[pl.DataFrame]:
    """The first ``MAX_TELEMETRY_EXAMPLES`` cases of each problem that occurs (extra copies of a
    duplicate left out), with their value."""
    if not scan.problem_flags:
        return []
    base = flags.with_columns(_telemetry_line(source)) if source.csv else flags
    line_col = [LINE] if source.csv else []
    return pl.collect_all(
        [
            base.filter(pl.col(f.name) & scan.kept())
            .select(ROW, FILE, *line_col, pl.col(_value_column(f, source)).alias("_value"))
            .head(MAX_TELEMETRY_EXAMPLES)
            for f in scan.problem_flags
        ],
        engine="streaming",
    )


def _duplicate_findings(source: TelemetrySource, flags: pl.LazyFrame, scan: _Scan) -> list[Finding]:
    """One warning per group of identical cases (the first ``MAX_TELEMETRY_EXAMPLES`` groups),
    naming every copy, then one for the groups not listed."""
    if not scan.drop.len():
        return []
    groups = scan.groups
    lines = (
        flags.with_columns(_telemetry_line(source))
        .filter(pl.col(GID).is_in(groups[GID].explode().implode()))
        .select(GID, LINE)
        .collect()
        if source.csv
        else None
    )
    line_of = dict(lines.iter_rows()) if lines is not None else {}
    findings = []
    for group in groups.head(MAX_TELEMETRY_EXAMPLES).iter_rows(named=True):
        places = [
            _place(source, f, r, line_of.get(g))
            for g, r, f in zip(group[GID], group[ROW], group[FILE], strict=True)
        ]
        shown = ", ".join(places[:5]) + (f" and {len(places) - 5} more" if len(places) > 5 else "")
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
    if groups.height > MAX_TELEMETRY_EXAMPLES:
        findings.append(
            Finding(
                table=TELEMETRY.name,
                code="exact_duplicate",
                message=(
                    f"{groups.height - MAX_TELEMETRY_EXAMPLES} more groups of identical "
                    f"cases not listed ({scan.drop.len()} extra copies in all, each counted once)"
                ),
                severity="warning",
            )
        )
    return findings


def _value_findings(
    source: TelemetrySource, scan: _Scan, assume_tz: str | None
) -> tuple[list[Finding], Counter[str]]:
    """One finding per value (the first ``MAX_TELEMETRY_EXAMPLES`` of each problem), in file and
    row order; then one per problem for the values not listed. And the values left out, by
    ``telemetry.column`` (an unknown release is a row excluded, not a value)."""
    listed: list[tuple[int, int, int, Finding]] = []
    more: list[Finding] = []
    values: Counter[str] = Counter()
    for i, (flag, ex) in enumerate(zip(scan.problem_flags, scan.examples, strict=True)):
        n = int(scan.stats[flag.name])
        code = ""
        for row in ex.iter_rows(named=True):
            code, message = _describe_telemetry(flag, row["_value"], assume_tz)
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
    return [f for *_, f in sorted(listed, key=lambda t: t[:3])] + more, values


@dataclass(frozen=True)
class TelemetryLoad:
    """The typed telemetry (lazy) and its data-quality record."""

    frame: pl.LazyFrame
    findings: list[Finding]
    rows_read: int
    excluded: Counter[str]  # rows excluded, by reason
    values: Counter[str]  # values left out, by ``telemetry.column``


def load_telemetry(source: TelemetrySource, policy: Policy, release_ids: set[str]) -> TelemetryLoad:
    """Check, type and count the telemetry lazily (module docstring): one streaming pass
    counts every problem and hashes every case to find exact duplicates; only when there are
    problems do small passes fetch the first examples and verify the duplicates."""
    flags, problems, typed = _telemetry_flags(source, policy, release_ids)
    key_bad = (
        pl.col("_bad_ts") | pl.col("_null_ts") | pl.col("_null_release_id") | pl.col("_null_system")
    )
    unknown = pl.col(UNKNOWN_RELEASE)
    aggs = [
        *[pl.col(f.name).sum().cast(pl.Int64) for f in problems],
        (key_bad & ~unknown).sum().cast(pl.Int64).alias("missing_key"),
        unknown.sum().cast(pl.Int64).alias("unknown_release"),
    ]
    scan = _scan(source, flags, problems, aggs)
    findings = _duplicate_findings(source, flags, scan)
    listed, values = _value_findings(source, scan, policy.assume_timezone)
    excluded: Counter[str] = Counter()
    if scan.drop.len():
        excluded["exact_duplicate"] = int(scan.drop.len())
    # Rows without a usable key (timestamp, release, system) or naming an unknown release cannot
    # be attributed to any version: they are excluded and counted.
    for reason in ("missing_key", "unknown_release"):
        if scan.stats[reason]:
            excluded[reason] += int(scan.stats[reason])
    keep = ~key_bad & ~unknown & scan.kept()
    out = flags.filter(keep).select(*typed, *[pl.col(c) for c in source.extras])
    return TelemetryLoad(out, findings + listed, int(scan.stats["rows"]), excluded, values)
