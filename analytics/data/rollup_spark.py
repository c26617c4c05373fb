"""The telemetry rollup on Apache Spark: the same tables as ``analytics.data.rollup``, for telemetry
that lives in a data lake and organisations that already run Spark.

Install the extra (``pip install 'analytics[spark]'``) and either let the CLI start a local
Spark (``analytics rollup --data DIR --engine spark``) or submit this file to a cluster::

    spark-submit --master yarn analytics/data/rollup_spark.py \\
        --telemetry s3a://lake/ai/telemetry/ --releases s3a://lake/ai/releases.csv \\
        --out s3a://lake/ai/telemetry_rollup/

docs/rollup.md has the walk-through. Only the driver imports this package (for the table
definition: keys, columns, histogram edges); the work is Spark SQL expressions, no Python UDF,
so executors need nothing but Spark.

Input: Parquet telemetry with the contract's columns (``ts`` a timestamp, booleans, numbers). The
row rules are those ``load_dataset`` applies to telemetry: rows without ``ts``, ``release_id``
or ``system`` are left out, and so are rows naming a release not in the releases table when one
is given; exact duplicate rows count once; an invalid value (criticality outside
low/medium/high, a negative or non-finite number (NaN, inf, -inf), a quality score outside
[0, 1], a boolean that is not true/false/1/0) becomes null and is left out of the measures that
need it. Output: ``cases.parquet/`` and ``latency.parquet/`` (folders
of part files, sorted by key across the parts, nulls first) and ``rollup.json``, which
``Rollup.load`` and ``load_dataset`` read like the polars rollup. Counts equal the polars
rollup's exactly; float sums agree to about 1e-15 relative (summation order differs).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from analytics.core.schemas import FALSE_VALUES, TELEMETRY, TRUE_VALUES
from analytics.data.rollup_tables import (
    BOOL_METRICS,
    CASES_SCHEMA,
    CROSS_PRODUCTS,
    GROUP_KEYS,
    LATENCY_BINS_PER_DECADE,
    LATENCY_EDGES,
    LATENCY_N_BINS,
    LATENCY_SCHEMA,
    META_FILE,
    NUMERIC_METRICS,
    STRING_KEYS,
    meta_json,
)

CRITICALITY = TELEMETRY.column("criticality").values
# Spark settings the rollup relies on: the UTC day of ts, and timestamps Parquet readers agree on.
REQUIRED_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}


def local_session(master: str = "local[*]", shuffle_partitions: int = 8) -> SparkSession:
    """A Spark session on this machine (no web UI), configured for the rollup."""
    builder = (
        SparkSession.builder.master(master)
        .appName("analytics-rollup")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    )
    for key, value in REQUIRED_CONF.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _configure(spark: SparkSession) -> None:
    for key, value in REQUIRED_CONF.items():
        spark.conf.set(key, value)


def _bool(df: DataFrame, name: str) -> Column:
    if dict(df.dtypes)[name] == "boolean":
        return F.col(name)
    text = F.lower(F.trim(F.col(name).cast("string")))
    return F.when(text.isin(*TRUE_VALUES), F.lit(True)).when(text.isin(*FALSE_VALUES), F.lit(False))


def _number(name: str, low: float, high: float | None = None) -> Column:
    x = F.col(name).cast("double")
    bad = F.isnan(x) | (F.abs(x) == F.lit(float("inf"))) | (x < F.lit(low))
    if high is not None:
        bad = bad | (x > F.lit(high))
    return F.when(~bad, x)


def typed_telemetry(raw: DataFrame, release_ids: Sequence[str] | None = None) -> DataFrame:
    """Apply the telemetry row rules of ``load_dataset`` (module docstring) to a raw frame."""
    missing = [
        c for c in ("ts", *STRING_KEYS, *BOOL_METRICS, *NUMERIC_METRICS) if c not in raw.columns
    ]
    if missing:
        raise ValueError(f"telemetry lacks required column(s): {', '.join(missing)}")
    raw = raw.dropDuplicates()  # exact duplicate cases count once, as in load_dataset
    quality = (
        _number("quality_score", 0.0, 1.0)
        if "quality_score" in raw.columns
        else F.lit(None).cast("double")
    )
    typed = raw.select(
        F.col("ts").cast("timestamp").alias("ts"),
        *[F.col(k).cast("string").alias(k) for k in STRING_KEYS if k != "criticality"],
        F.when(F.col("criticality").isin(*CRITICALITY), F.col("criticality"))
        .cast("string")
        .alias("criticality"),
        *[_bool(raw, b).alias(b) for b in BOOL_METRICS],
        *[_number(m, 0.0).alias(m) for m in NUMERIC_METRICS],
        quality.alias("quality_score"),
    )
    keep = F.col("ts").isNotNull() & F.col("release_id").isNotNull() & F.col("system").isNotNull()
    typed = typed.where(keep)
    if release_ids is not None:
        ids = F.array(*[F.lit(r) for r in sorted(set(release_ids))])
        known = raw.sparkSession.range(1).select(F.explode(ids).alias("release_id"))
        typed = typed.join(F.broadcast(known), on="release_id", how="left_semi")
    return typed


def latency_bin_column(col: str = "latency_ms") -> Column:
    """The histogram bin of ``analytics.data.rollup_tables`` (explicit edges), exactly: a first
    guess from log10, then one comparison with each neighbouring edge fixes a last-bit miss."""
    x = F.col(col)
    top = LATENCY_N_BINS - 1
    guess = F.least(
        F.greatest(F.floor(F.log10(F.greatest(x, F.lit(1.0))) * LATENCY_BINS_PER_DECADE), F.lit(0)),
        F.lit(top),
    ).cast("int")
    lower = F.array(F.lit(float("-inf")), *[F.lit(float(e)) for e in LATENCY_EDGES])
    upper = F.array(*[F.lit(float(e)) for e in LATENCY_EDGES], F.lit(float("inf")))
    # element_at is 1-based: element b + 1 is the lower (upper) edge of bin b.
    fixed = (
        guess
        - (x < F.element_at(lower, guess + 1)).cast("int")
        + (x >= F.element_at(upper, guess + 1)).cast("int")
    )
    return F.when(x.isNotNull() & ~F.isnan(x), fixed)


def _sum0(expr: Column) -> Column:
    """Sum that is 0 (not null) over an all-null group, as polars sums."""
    return F.coalesce(F.sum(expr), F.lit(0.0))


def rollup_frames(telemetry: DataFrame) -> tuple[DataFrame, DataFrame]:
    """The ``cases`` and ``latency`` tables (unsorted) of typed telemetry."""
    keyed = telemetry.withColumn("day", F.to_date("ts"))

    def d(c: str) -> Column:
        return F.col(c).cast("double")

    aggs: list[Column] = [
        F.count(F.lit(1)).alias("n"),
        F.min("ts").alias("first_ts"),
        F.max("ts").alias("last_ts"),
    ]
    aggs += [F.coalesce(F.sum(F.col(b).cast("long")), F.lit(0)).alias(b) for b in BOOL_METRICS]
    for m in NUMERIC_METRICS:
        aggs += [_sum0(d(m)).alias(f"{m}_sum"), _sum0(d(m) * d(m)).alias(f"{m}_sumsq")]
    aggs += [
        F.count("quality_score").alias("quality_n"),
        _sum0(d("quality_score")).alias("quality_score_sum"),
        _sum0(d("quality_score") * d("quality_score")).alias("quality_score_sumsq"),
    ]
    aggs += [_sum0(d(a) * d(b)).alias(name) for name, a, b in CROSS_PRODUCTS]
    aggs += [F.count(m).alias(f"{m}_n") for m in (*BOOL_METRICS, *NUMERIC_METRICS)]
    cases = keyed.groupBy(*GROUP_KEYS).agg(*aggs).select(*CASES_SCHEMA)
    latency = (
        keyed.withColumn("latency_bin", latency_bin_column())
        .where(F.col("latency_bin").isNotNull())
        .groupBy(*GROUP_KEYS, "latency_bin")
        .agg(F.count(F.lit(1)).alias("n"))
        .select(*LATENCY_SCHEMA)
    )
    return cases, latency


def _sorted(df: DataFrame, keys: Sequence[str]) -> DataFrame:
    return df.orderBy(*[F.col(k).asc_nulls_first() for k in keys])


def _write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write a small text file through Hadoop's FileSystem (local disk or object storage)."""
    jvm = spark.sparkContext._jvm
    if jvm is None:
        raise RuntimeError("the Spark rollup needs a classic Spark session, not Spark Connect")
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[attr-defined]
    stream = fs.create(hpath, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def write_spark_rollup(
    spark: SparkSession,
    telemetry_path: str,
    out: str,
    release_ids: Sequence[str] | None = None,
) -> None:
    """Read Parquet telemetry from ``telemetry_path`` (file, folder or glob; any Hadoop file
    system URL), roll it up and write ``cases.parquet/``, ``latency.parquet/`` and
    ``rollup.json`` under ``out``."""
    _configure(spark)
    typed = typed_telemetry(spark.read.parquet(telemetry_path), release_ids)
    cases, latency = rollup_frames(typed)
    base = out.rstrip("/")
    writer_opts = {"compression": "zstd"}
    _sorted(cases, GROUP_KEYS).write.mode("overwrite").options(**writer_opts).parquet(
        f"{base}/cases.parquet"
    )
    _sorted(latency, [*GROUP_KEYS, "latency_bin"]).write.mode("overwrite").options(
        **writer_opts
    ).parquet(f"{base}/latency.parquet")
    _write_text(spark, f"{base}/{META_FILE}", meta_json("spark"))


def read_release_ids(spark: SparkSession, path: str) -> list[str]:
    """Distinct non-empty ``release_id`` of a releases table (CSV with header, or Parquet)."""
    reader = spark.read.option("header", "true")
    df = reader.csv(path) if path.endswith(".csv") else spark.read.parquet(path)
    rows = df.select(F.col("release_id").cast("string")).where("release_id IS NOT NULL")
    return sorted({r[0] for r in rows.distinct().collect()})


def run_local(
    telemetry_path: Path,
    out: Path,
    release_ids: Sequence[str] | None = None,
    master: str = "local[*]",
) -> Path:
    """The Spark rollup on this machine (``analytics rollup --engine spark``)."""
    spark = local_session(master)
    write_spark_rollup(spark, str(telemetry_path), str(out), release_ids)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``spark-submit analytics/data/rollup_spark.py``."""
    p = argparse.ArgumentParser(description="Telemetry rollup on Spark (docs/rollup.md)")
    p.add_argument("--telemetry", required=True, help="Parquet telemetry: file, folder or glob")
    p.add_argument("--out", required=True, help="folder to write (becomes telemetry_rollup/)")
    p.add_argument("--releases", help="releases table (CSV or Parquet): drop unknown releases")
    args = p.parse_args(argv)
    spark = SparkSession.builder.appName("analytics-rollup").getOrCreate()
    ids = read_release_ids(spark, args.releases) if args.releases else None
    write_spark_rollup(spark, args.telemetry, args.out, ids)
    print(f"telemetry rollup written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
