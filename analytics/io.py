"""Reading a dataset folder and validating it once, at the boundary (docs/data-contract.md).

We validate with polars expressions against the declared schemas in ``analytics.schemas``
rather than pandera: the contract needs every problem named by table, line, id and column,
invalid values nulled while the rest of the row is kept, and counts that reconcile, which
pandera's polars backend does not give row by row without a second pass of our own; and
telemetry must stay lazy.

Structural problems raise ``DataError``; row-level problems become ``Finding`` s.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from analytics.errors import DataError
from analytics.policy import Policy, load_policy
from analytics.quality import DataQuality, Finding
from analytics.rollup import ROLLUP_DIRNAME, Rollup, load_telemetry_quality
from analytics.schemas import (
    ALL_TABLES,
    RELEASES,
    SMALL_TABLES,
    TELEMETRY,
    UTC_TS,
    Column,
    TableSchema,
)

ROW = "_row"  # 1-based data row of the source file, kept on every small table
LINE = "_line"  # its CSV line (header = line 1); null for Parquet
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


def _coerce(
    df: pl.DataFrame, col: Column, assume_tz: str | None, table: str
) -> tuple[pl.Expr, pl.Expr, str]:
    """Expressions (parsed value, value-is-invalid) for one column, and the problem code."""
    dtype = df.schema[col.name]
    src = pl.col(col.name)
    if col.kind == "ts":
        if isinstance(dtype, pl.Datetime):
            if dtype == UTC_TS:
                # Already typed: left as the bare column so filters on it reach the Parquet reader.
                return src, pl.lit(False), "invalid_timestamp"
            if dtype.time_zone is None:
                if assume_tz is None:
                    raise DataError(
                        f"table '{table}', column '{col.name}': timestamps have no offset; "
                        "set assume_timezone in the policy"
                    )
                parsed = src.dt.replace_time_zone(assume_tz).dt.convert_time_zone("UTC")
            else:
                parsed = src.dt.convert_time_zone("UTC")
            return parsed.cast(UTC_TS), pl.lit(False), "invalid_timestamp"
        text = src.cast(pl.String)
        parsed, no_offset = _ts_exprs(text, assume_tz)
        return parsed, text.is_not_null() & parsed.is_null(), "invalid_timestamp"
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
        bad = src.is_not_null() & (value.is_null() | value.is_nan())
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


def _describe_bad(col: Column, code: str, value: Any, assume_tz: str | None) -> tuple[str, str]:
    if code == "invalid_timestamp":
        text = str(value)
        parsed, no_offset = _ts_exprs(pl.lit(text), None)
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


def _find_file(folder: Path, name: str) -> Path | None:
    for suffix in (".parquet", ".csv"):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path
    if name == TELEMETRY.name and (folder / name).is_dir():
        return folder / name
    return None


def _read_small(path: Path, schema: TableSchema) -> pl.DataFrame:
    try:
        if path.suffix == ".csv":
            df = pl.read_csv(path, infer_schema=False)
        else:
            df = pl.read_parquet(path)
    except Exception as exc:  # any reader failure is a structural error with the file named
        raise DataError(f"table '{schema.name}': cannot read {path}: {exc}") from exc
    missing = [c for c in schema.required_columns if c not in df.columns]
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
    str_cols = [c for c, t in df.schema.items() if t == pl.String]
    df = df.with_columns(
        [pl.col(c).str.strip_chars().replace("", None) for c in str_cols]
    ).with_row_index(ROW, offset=1)
    return df.with_columns(pl.col(ROW).cast(pl.Int64))


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
                line=int(row[ROW]) + 1 if self.csv else None,
                record_id=None if rid is None else str(rid),
                column=column,
                severity=severity,  # type: ignore[arg-type]
            )
        )


def _validate_small(
    df: pl.DataFrame, schema: TableSchema, csv: bool, policy: Policy, release_ids: set[str] | None
) -> tuple[pl.DataFrame, _Recorder]:
    rec = _Recorder(schema.name, csv, schema.id_column)
    data_cols = [c for c in df.columns if c != ROW]

    # Exact duplicates count once.
    dup_mask = df.select(pl.struct(data_cols).is_first_distinct().not_()).to_series()
    if dup_mask.any():
        first_rows = df.with_columns(
            pl.col(ROW).min().over(pl.struct(data_cols)).alias("_first")
        ).filter(dup_mask)
        for row in first_rows.iter_rows(named=True):
            first = row["_first"] + 1 if csv else row["_first"]
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
        for row in bad_rows.iter_rows(named=True):
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
        for row in empty_raw.iter_rows(named=True):
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
        for row in dup.iter_rows(named=True):
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
        for row in unknown.iter_rows(named=True):
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
        for row in bad.iter_rows(named=True):
            rec.add(
                row,
                "impossible_duration",
                "mitigated_at precedes detected_at: left out of MTTM, still counts as a "
                "failure and for detection",
                "mitigated_at",
            )
        late = df.filter(pl.col("started_at") > pl.col("detected_at"))
        for row in late.iter_rows(named=True):
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
            ).alias("_mttm_invalid"),
            pl.when(pl.col("started_at") > pl.col("detected_at"))
            .then(None)
            .otherwise(pl.col("started_at"))
            .alias("started_at"),
        ).drop("_bad_mitigated_at")
    if name == "rollout_stages":
        bad = df.filter(pl.col("ended_at") < pl.col("started_at"))
        for row in bad.iter_rows(named=True):
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


def _telemetry_scan(path: Path) -> pl.LazyFrame:
    try:
        if path.is_dir():
            files = sorted(path.rglob("*.parquet"))
            if not files:
                raise DataError(f"table 'telemetry': folder {path} holds no .parquet files")
            return pl.scan_parquet(files)
        if path.suffix == ".csv":
            return pl.scan_csv(path, infer_schema=False)
        return pl.scan_parquet(path)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"table 'telemetry': cannot read {path}: {exc}") from exc


def _telemetry_exprs(lf: pl.LazyFrame, policy: Policy) -> tuple[list[pl.Expr], dict[str, pl.Expr]]:
    """Typed-value expressions for every declared column, and invalid-value flags per column."""
    try:
        schema = lf.collect_schema()
    except Exception as exc:
        raise DataError(f"table 'telemetry': cannot read its schema: {exc}") from exc
    missing = [c for c in TELEMETRY.required_columns if c not in schema]
    if missing:
        raise DataError(
            "table 'telemetry': missing required column(s) " + ", ".join(f"'{c}'" for c in missing)
        )
    probe = pl.DataFrame(schema=dict(schema))
    exprs, bads = [], {}
    for col in TELEMETRY.columns:
        if col.name not in schema:
            exprs.append(pl.lit(None, dtype=TELEMETRY.polars_schema[col.name]).alias(col.name))
            continue
        value, bad, _ = _coerce(probe, col, policy.assume_timezone, TELEMETRY.name)
        exprs.append(value.alias(col.name))
        bads[col.name] = bad
    return exprs, bads


def _load_telemetry(
    path: Path, policy: Policy, release_ids: set[str]
) -> tuple[pl.LazyFrame, list[Finding], int, Counter[str], Counter[str]]:
    """Type the telemetry lazily and count its problems in one aggregate pass."""
    raw = _telemetry_scan(path).with_row_index(ROW, offset=1)
    exprs, bads = _telemetry_exprs(raw, policy)
    required = [c.name for c in TELEMETRY.columns if c.required]
    known = sorted(release_ids)
    flags = raw.with_columns(
        *[b.alias(f"_bad_{n}") for n, b in bads.items()],
        *[pl.col(n).is_null().alias(f"_null_{n}") for n in required],
    ).with_columns(
        (
            ~pl.col("release_id").cast(pl.String).is_in(known) & pl.col("release_id").is_not_null()
        ).alias("_unknown_release")
    )
    flag_cols = (
        [f"_bad_{n}" for n in bads] + [f"_null_{n}" for n in required] + ["_unknown_release"]
    )
    counts = flags.select(pl.len().alias("rows"), *[pl.col(c).sum() for c in flag_cols]).collect()
    stats = counts.row(0, named=True)
    findings: list[Finding] = []
    values: Counter[str] = Counter()
    excluded: Counter[str] = Counter()
    problem_cols = [c for c in flag_cols if stats[c]]
    if problem_cols:
        examples = (
            flags.filter(pl.any_horizontal(problem_cols)).head(MAX_TELEMETRY_EXAMPLES).collect()
        )
        for c in problem_cols:
            kind, name = c[1:].split("_", 1)
            n = int(stats[c])
            first = examples.filter(pl.col(c)).head(3)
            rows = ", ".join(str(r) for r in first[ROW].to_list())
            if kind == "bad":
                msg = f"{n} invalid value(s) left out (first rows: {rows})"
                values[f"telemetry.{name}"] += n
            elif kind == "null":
                msg = f"{n} empty required value(s) (first rows: {rows})"
                values[f"telemetry.{name}"] += n
            else:
                ids = ", ".join(sorted(set(first["release_id"].cast(pl.String).to_list())))
                msg = (
                    f"{n} case(s) name a release not in the releases table "
                    f"({ids}; first rows: {rows})"
                )
                name = "release_id"
            findings.append(
                Finding(
                    table="telemetry",
                    code={"bad": "invalid_value", "null": "missing_value"}.get(
                        kind, "unknown_release"
                    ),
                    message=msg,
                    row=int(first[ROW][0]) if first.height else None,
                    column=name,
                )
            )
    # Rows without a usable key (timestamp, release, system) or naming an unknown release cannot
    # be attributed to any version: they are excluded and counted.
    key_bad = (
        pl.col("_bad_ts") | pl.col("_null_ts") | pl.col("_null_release_id") | pl.col("_null_system")
    )
    excluded_keys = (
        flags.select(
            (key_bad & ~pl.col("_unknown_release")).sum().alias("missing_key"),
            pl.col("_unknown_release").sum().alias("unknown_release"),
        )
        .collect()
        .row(0, named=True)
    )
    for reason, n in excluded_keys.items():
        if n:
            excluded[reason] += int(n)
    typed = flags.filter(~key_bad.fill_null(True) & ~pl.col("_unknown_release")).select(
        *exprs, *[c for c in schema_extra(raw) if c not in TELEMETRY.polars_schema]
    )
    return typed, findings, int(stats["rows"]), excluded, values


def schema_extra(lf: pl.LazyFrame) -> list[str]:
    return [c for c in lf.collect_schema().names() if c != ROW and not c.startswith("_")]


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
        csv_line = pl.col(ROW) + 1 if found.suffix == ".csv" else pl.lit(None, pl.Int64)
        typed = typed.with_columns(csv_line.alias(LINE))
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
    if "_mttm_invalid" not in tables["incidents"].columns:
        tables["incidents"] = tables["incidents"].with_columns(pl.lit(False).alias("_mttm_invalid"))

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
