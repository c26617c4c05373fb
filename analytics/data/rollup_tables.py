"""The telemetry rollup's tables: their columns, the latency histogram's definition, and the
rollup folder they are read from and written to (``Rollup.save``, ``Rollup.load``, the telemetry's
data-quality record). ``analytics.data.rollup`` computes them (and re-exports these names);
``analytics.data.rollup_spark`` computes the same tables on Spark. docs/rollup.md describes the
tables and the folder.

``Rollup.cases``: one row per (release_id, system, day, task_type, criticality, language,
customer_segment), ``day`` being the UTC date of ``ts``, rows sorted by these keys (nulls first),
with

- ``n`` (Int64): cases; ``first_ts`` / ``last_ts``: earliest and latest case timestamp (UTC);
- ``escalated``, ``reworked``, ``policy_violation``, ``refused`` (Int64): counts of true values;
- ``<x>_sum`` and ``<x>_sumsq`` (Float64, sums over the cases whose value is valid) for x in
  handling_time_s (s), latency_ms (ms), tokens, model_cost_usd (USD);
- ``quality_n`` (non-null quality scores), ``quality_score_sum``, ``quality_score_sumsq``;
- cross-product sums for the variance of unit cost, which is a linear combination of
  model_cost_usd, handling_time_s, reworked and escalated with policy-given rates:
  ``cost_x_handling``, ``cost_x_reworked``, ``cost_x_escalated``, ``handling_x_reworked``,
  ``handling_x_escalated``, ``reworked_x_escalated``;
- ``<m>_n`` (Int64) for the four booleans and the four numbers above: cases whose value is valid
  (``load_dataset`` nulls an invalid value and records a finding). Equal to ``n`` on clean
  data; a rate or mean that must leave invalid values out divides by it instead of ``n``.

``Rollup.latency``: one row per group key above plus ``latency_bin`` (UInt16) with its count
``n`` (Int64) of cases with a valid latency, sorted by keys then bin. Bins are log-spaced,
``LATENCY_BINS_PER_DECADE`` per decade from 1 ms: bin b >= 1 holds latencies in
``[LATENCY_EDGES[b-1], LATENCY_EDGES[b])`` with ``LATENCY_EDGES[k] = 10 ** ((k + 1) / 40)`` ms as
numpy computes it in float64 (bin 0 holds everything below the first edge, the last bin
everything from 10^7 ms). The edges are explicit numbers rather than ``floor(log10(x) * 40)``
because log10 differs in the last bit between engines (polars gives 2.9999999999999996 for
log10(1000)), and the Spark rollup must give the identical histogram: both guess the bin from
log10 and correct the guess against the edges. A bin's representative value is
its geometric midpoint, so quantiles taken from the histogram are within half a bin (about
2.9 % relative) of the exact value. Histograms add up: any roll-up over days or segments of a
release sums ``n`` per bin.

The rollup folder: ``cases.parquet`` and ``latency.parquet`` (each one file, or a folder of part
files when Spark wrote it), ``rollup.json`` (schema version, histogram definition, the engine that
wrote it; a folder whose definition differs from this version's is refused) and, when written by
``analytics rollup``, ``quality.json`` (the telemetry part of the dataset's data-quality record,
so that a dataset that ships only its rollup reports the same data quality).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analytics.core.errors import DataError
from analytics.core.quality import DataQuality, Finding
from analytics.core.schemas import UTC_TS

GROUP_KEYS: tuple[str, ...] = (
    "release_id",
    "system",
    "day",
    "task_type",
    "criticality",
    "language",
    "customer_segment",
)
STRING_KEYS: tuple[str, ...] = tuple(k for k in GROUP_KEYS if k != "day")
BOOL_METRICS: tuple[str, ...] = ("escalated", "reworked", "policy_violation", "refused")
NUMERIC_METRICS: tuple[str, ...] = ("handling_time_s", "latency_ms", "tokens", "model_cost_usd")
# the metrics with a valid-value count <m>_n
VALIDATED_METRICS: tuple[str, ...] = (*BOOL_METRICS, *NUMERIC_METRICS)
LATENCY_BINS_PER_DECADE = 40
LATENCY_MAX_DECADES = 7
LATENCY_N_BINS = LATENCY_BINS_PER_DECADE * LATENCY_MAX_DECADES + 1
# Lower edge (ms) of bins 1 .. LATENCY_N_BINS - 1; the definition of the histogram.
LATENCY_EDGES: np.ndarray = 10.0 ** (np.arange(1, LATENCY_N_BINS) / LATENCY_BINS_PER_DECADE)
ROLLUP_DIRNAME = "telemetry_rollup"
ROLLUP_SCHEMA_VERSION = 1
META_FILE = "rollup.json"
QUALITY_FILE = "quality.json"
CROSS_PRODUCTS: tuple[tuple[str, str, str], ...] = (
    ("cost_x_handling", "model_cost_usd", "handling_time_s"),
    ("cost_x_reworked", "model_cost_usd", "reworked"),
    ("cost_x_escalated", "model_cost_usd", "escalated"),
    ("handling_x_reworked", "handling_time_s", "reworked"),
    ("handling_x_escalated", "handling_time_s", "escalated"),
    ("reworked_x_escalated", "reworked", "escalated"),
)
KEY_SCHEMA: dict[str, pl.DataType] = {
    k: (pl.Date() if k == "day" else pl.String()) for k in GROUP_KEYS
}
CASES_SCHEMA: dict[str, pl.DataType] = {
    **KEY_SCHEMA,
    "n": pl.Int64(),
    "first_ts": UTC_TS,
    "last_ts": UTC_TS,
    **{b: pl.Int64() for b in BOOL_METRICS},
    **{f"{m}_{s}": pl.Float64() for m in NUMERIC_METRICS for s in ("sum", "sumsq")},
    "quality_n": pl.Int64(),
    "quality_score_sum": pl.Float64(),
    "quality_score_sumsq": pl.Float64(),
    **{name: pl.Float64() for name, _, _ in CROSS_PRODUCTS},
    **{f"{m}_n": pl.Int64() for m in VALIDATED_METRICS},
}
LATENCY_SCHEMA: dict[str, pl.DataType] = {
    **KEY_SCHEMA,
    "latency_bin": pl.UInt16(),
    "n": pl.Int64(),
}
# zstd at level 1: the sums are high-entropy floats, where higher levels cost time for little.
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 1}


def _parquet_files(path: Path) -> list[Path]:
    """A table written as one file (polars) or as a folder of part files (Spark)."""
    if path.is_dir():
        files = sorted(p for p in path.glob("*.parquet") if not p.name.startswith((".", "_")))
        if not files:
            raise DataError(f"rollup: folder {path} holds no .parquet files")
        return files
    if not path.is_file():
        raise DataError(f"rollup: {path} does not exist")
    return [path]


def _read_table(path: Path, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    lf = pl.scan_parquet(_parquet_files(path))
    missing = [c for c in schema if c not in lf.collect_schema()]
    if missing:
        raise DataError(
            f"rollup: {path} lacks column(s) {', '.join(missing)}; it was written by another "
            "version: run `analytics rollup` again"
        )
    return lf.select([pl.col(c).cast(t) for c, t in schema.items()]).collect()


def meta_json(engine: str, **extra: object) -> str:
    """The text of ``rollup.json``: schema version, histogram definition and the engine that
    wrote it (the Spark rollup writes the same)."""
    meta = {
        "schema_version": ROLLUP_SCHEMA_VERSION,
        "latency_bins_per_decade": LATENCY_BINS_PER_DECADE,
        "latency_max_decades": LATENCY_MAX_DECADES,
        "engine": engine,
        **extra,
    }
    return json.dumps(meta, indent=2, sort_keys=True) + "\n"


def write_meta(folder: Path, engine: str, **extra: object) -> None:
    """Write ``rollup.json`` (``meta_json``) into ``folder``."""
    (folder / META_FILE).write_text(meta_json(engine, **extra))


def _check_meta(folder: Path) -> None:
    path = folder / META_FILE
    if not path.is_file():
        return
    meta = json.loads(path.read_text())
    expected = (ROLLUP_SCHEMA_VERSION, LATENCY_BINS_PER_DECADE, LATENCY_MAX_DECADES)
    found = (
        meta.get("schema_version"),
        meta.get("latency_bins_per_decade"),
        meta.get("latency_max_decades"),
    )
    if found != expected:
        raise DataError(
            f"rollup: {path} describes schema/bins {found}, this version reads {expected}: "
            "run `analytics rollup` again"
        )


@dataclass(frozen=True)
class Rollup:
    """Sufficient statistics of telemetry (see module docstring for the columns)."""

    cases: pl.DataFrame
    latency: pl.DataFrame

    def save(self, folder: str | Path) -> Path:
        """Write ``cases.parquet``, ``latency.parquet`` and ``rollup.json`` into ``folder``."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        self.cases.write_parquet(out / "cases.parquet", **PARQUET_OPTIONS)
        self.latency.write_parquet(out / "latency.parquet", **PARQUET_OPTIONS)
        write_meta(out, "polars")
        return out

    @staticmethod
    def load(folder: str | Path) -> Rollup:
        """Read a rollup folder written by ``save``, ``analytics rollup`` or the Spark job; the
        columns are cast to the documented types (``CASES_SCHEMA``, ``LATENCY_SCHEMA``)."""
        folder = Path(folder)
        _check_meta(folder)
        return Rollup(
            cases=_read_table(folder / "cases.parquet", CASES_SCHEMA),
            latency=_read_table(folder / "latency.parquet", LATENCY_SCHEMA),
        )


def telemetry_quality_record(quality: DataQuality) -> dict[str, Any]:
    """The telemetry part of a dataset's data-quality record (findings, rows read, loaded and
    excluded, values excluded), as ``quality.json`` holds it (plain JSON values)."""
    part = {
        "findings": [f.to_dict() for f in quality.findings if f.table == "telemetry"],
        "rows_read": quality.rows_read.get("telemetry"),
        "rows_loaded": quality.rows_loaded.get("telemetry"),
        "rows_excluded": dict(quality.rows_excluded.get("telemetry", {})),
        "values_excluded": {
            k: v for k, v in quality.values_excluded.items() if k.startswith("telemetry.")
        },
    }
    return json.loads(json.dumps(part))


def save_telemetry_quality(folder: str | Path, quality: DataQuality) -> Path:
    """Write ``telemetry_quality_record(quality)`` to ``quality.json``, so that a dataset that
    ships only its rollup reports the same data quality as the raw telemetry did."""
    path = Path(folder) / QUALITY_FILE
    path.write_text(json.dumps(telemetry_quality_record(quality), indent=2, sort_keys=True) + "\n")
    return path


def load_telemetry_quality(folder: str | Path) -> DataQuality | None:
    """The telemetry data-quality record saved with a rollup (None when there is none), as a
    ``DataQuality`` holding only the telemetry entries, to merge into the dataset's record."""
    path = Path(folder) / QUALITY_FILE
    if not path.is_file():
        return None
    part = json.loads(path.read_text())
    findings = tuple(
        Finding(
            table=f["table"],
            code=f["code"],
            message=f["message"],
            row=f["row"],
            line=f["line"],
            record_id=f["id"],
            column=f["column"],
            severity=f["severity"],
            file=f.get("file"),
        )
        for f in part["findings"]
    )
    read = {} if part["rows_read"] is None else {"telemetry": part["rows_read"]}
    loaded = {} if part["rows_loaded"] is None else {"telemetry": part["rows_loaded"]}
    return DataQuality(
        findings=findings,
        rows_read=read,
        rows_loaded=loaded,
        rows_excluded={"telemetry": part["rows_excluded"]} if read else {},
        values_excluded=part["values_excluded"],
    )
