"""Telemetry rollup: per-case telemetry reduced to sufficient statistics, computed here.

Every KPI, comparison and report that needs telemetry reads a ``Rollup`` instead of raw cases,
so an organisation can roll up once (here, with ``analytics rollup``, or on Spark with
``analytics.data.rollup_spark``) and render from the small tables. The tables, their columns,
the latency histogram and the rollup folder are defined in ``analytics.data.rollup_tables``
(whose names are re-exported here); docs/rollup.md describes the tables, the commands and the
benchmark.

How it is computed (no Python loop over rows or groups), in streaming polars passes over the
lazy telemetry, so memory is bounded by the output, not the input:

0. the distinct values of each key: small sorted dictionaries (key value -> integer code);
1. the case statistics, grouped on the dictionary codes and the day packed into one UInt64
   (falling back to the key columns when they need more than 64 bits), which keeps each
   group's state small; a filtered pass counts invalid values only when there are some;
2. the histogram: only the keys and ``latency_ms`` are read; codes, day and bin are packed into
   one UInt64, sorted and run-length counted (nearly every case opens a new (group, bin) pair,
   and sorting integers is cheaper than a hash table that large).

Passes 1 and 2 run one batch of whole UTC days at a time (``ROLLUP_BATCH_ROWS`` cases at most,
from the per-day counts of pass 0; one batch when everything fits). The day is a key, so no
group spans two batches: the case batches are concatenated and sorted, the histogram batches
(each sorted) merged. The batch filters compare ``ts`` with constants, so a Parquet scan skips
the row groups of other days; on an input that cannot skip them, each batch reads it all.

Because the dictionaries are sorted, integer order is the order of the string keys: neither
table is ever sorted on strings. ``write_rollup`` streams the latency table from its integer
codes to Parquet, keys dictionary-encoded.

Float sums are accumulated by a multi-threaded engine: on large inputs two runs may differ in
the last bits (1e-15 relative). On inputs of a few thousand rows per file the result is
reproducible bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from analytics.core.policy import Costs
from analytics.core.schemas import UTC_TS
from analytics.data.rollup_tables import (
    BOOL_METRICS,
    CASES_SCHEMA,
    CROSS_PRODUCTS,
    GROUP_KEYS,
    KEY_SCHEMA,
    LATENCY_BINS_PER_DECADE,
    LATENCY_EDGES,
    LATENCY_MAX_DECADES,
    LATENCY_N_BINS,
    LATENCY_SCHEMA,
    META_FILE,
    NUMERIC_METRICS,
    PARQUET_OPTIONS,
    QUALITY_FILE,
    ROLLUP_DIRNAME,
    ROLLUP_SCHEMA_VERSION,
    STRING_KEYS,
    VALIDATED_METRICS,
    Rollup,
    load_telemetry_quality,
    save_telemetry_quality,
    telemetry_quality_record,
    write_meta,
)

# Bin b holds [_LOWER_EDGES[b], _UPPER_EDGES[b]).
_LOWER_EDGES = np.concatenate([[-np.inf], LATENCY_EDGES])
_UPPER_EDGES = np.concatenate([LATENCY_EDGES, [np.inf]])

_BIN_BITS = int(LATENCY_N_BINS - 1).bit_length()
# Cases per batch (whole UTC days; see ``_KeyCodes.batches``): bounds the group-by state and the
# histogram sort to one batch's share of the groups.
ROLLUP_BATCH_ROWS = 20_000_000


def latency_bin_expr(col: str = "latency_ms") -> pl.Expr:
    """The histogram bin (UInt16) of a latency in ms (``analytics.data.rollup_tables``); null
    and NaN give null. The expression keeps the name of ``col``.

    A first guess from log10, then one comparison with each neighbouring edge corrects a
    last-bit miss of log10, so the bin is exactly the one the edges define (the Spark rollup
    does the same). It is elementwise, so it streams (``search_sorted`` against the edges does
    not: in a streaming query it makes polars materialise the input)."""
    x = pl.col(col).cast(pl.Float64)
    top = LATENCY_N_BINS - 1
    guess = (x.clip(lower_bound=1.0).log10() * LATENCY_BINS_PER_DECADE).floor().clip(0, top)
    guess = guess.cast(pl.Int64)
    lower = pl.lit(pl.Series("lower_edges", _LOWER_EDGES))
    upper = pl.lit(pl.Series("upper_edges", _UPPER_EDGES))
    fixed = (
        guess - (x < lower.gather(guess)).cast(pl.Int64) + (x >= upper.gather(guess)).cast(pl.Int64)
    )
    return pl.when(x.is_not_nan()).then(fixed).cast(pl.UInt16).alias(col)


def latency_bin_values() -> np.ndarray:
    """Representative latency (ms) of each bin: its geometric midpoint."""
    return 10 ** ((np.arange(LATENCY_N_BINS) + 0.5) / LATENCY_BINS_PER_DECADE)


def _f(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64)


def case_aggregations() -> list[pl.Expr]:
    """The aggregation expressions of ``Rollup.cases`` (over typed telemetry), in column order."""
    aggs: list[pl.Expr] = [
        pl.len().cast(pl.Int64).alias("n"),
        pl.col("ts").min().alias("first_ts"),
        pl.col("ts").max().alias("last_ts"),
    ]
    aggs += [pl.col(b).cast(pl.Int64).sum().alias(b) for b in BOOL_METRICS]
    for m in NUMERIC_METRICS:
        aggs += [_f(m).sum().alias(f"{m}_sum"), (_f(m) ** 2).sum().alias(f"{m}_sumsq")]
    q = _f("quality_score")
    aggs += [
        q.count().cast(pl.Int64).alias("quality_n"),
        q.sum().alias("quality_score_sum"),
        (q**2).sum().alias("quality_score_sumsq"),
    ]
    aggs += [(_f(a) * _f(b)).sum().alias(name) for name, a, b in CROSS_PRODUCTS]
    aggs += [pl.col(m).count().cast(pl.Int64).alias(f"{m}_n") for m in VALIDATED_METRICS]
    return aggs


# ---------------------------------------------------------------- computing it


def _keyed(telemetry: pl.LazyFrame) -> pl.LazyFrame:
    return telemetry.with_columns(
        pl.col("ts").dt.date().alias("day"),
        *[pl.col(k).cast(pl.String) for k in STRING_KEYS],
    )


@dataclass(frozen=True)
class _KeyCodes:
    """Sorted dictionaries of the group keys: key value -> small integer code, in key order.

    Code 0 is null (sorted first, as polars and Spark sort), code i >= 1 is the i-th distinct
    value; for ``day``, the i-th day from the first. Codes pack into one UInt64 (first key in
    the highest bits) whose integer order is the order of the keys."""

    categories: dict[str, pl.Series]
    day_min: int
    bits: dict[str, int]
    day_rows: pl.DataFrame  # cases per day (``day`` Date, nulls first; ``rows`` UInt32)

    @staticmethod
    def scan(keyed: pl.LazyFrame) -> _KeyCodes | None:
        """Pass 0: the distinct values of each key (None when there are no cases). One small
        streaming group-by per key column: cheap next to the passes they make cheaper."""
        by_day = (
            keyed.group_by("release_id", "system", "day")
            .agg(pl.len().alias("rows"))
            .collect(engine="streaming")
        )
        if by_day.height == 0:
            return None
        by_release = by_day.group_by("release_id", "system").agg(
            pl.col("day").min().alias("lo"), pl.col("day").max().alias("hi")
        )
        day_rows = by_day.group_by("day").agg(pl.col("rows").sum()).sort("day", nulls_last=False)
        cats = {k: by_release[k].drop_nulls().unique().sort() for k in ("release_id", "system")}
        for k in STRING_KEYS[2:]:
            values = keyed.group_by(k).agg().collect(engine="streaming")[k]
            cats[k] = values.drop_nulls().sort()
        lo, hi = by_release["lo"].cast(pl.Int32).min(), by_release["hi"].cast(pl.Int32).max()
        day_min = int(lo) if lo is not None else 0  # type: ignore[arg-type]
        span = int(hi) - day_min + 1 if hi is not None else 0  # type: ignore[arg-type]
        bits = {k: len(cats[k]).bit_length() or 1 for k in STRING_KEYS}
        bits["day"] = span.bit_length() or 1
        return _KeyCodes(cats, day_min, bits, day_rows)

    def batches(self, max_rows: int) -> list[pl.Expr | None]:
        """Row filters that split the cases into batches of whole UTC days, each of at most
        ``max_rows`` cases (a day with more is a batch of its own), in day order; ``[None]``
        (no filter) when all fit in one. Every case falls in exactly one batch, and since the
        day is a group key, no group spans two batches. The filters compare ``ts`` with
        constants, so a Parquet scan skips the row groups outside a batch's days."""
        if int(self.day_rows["rows"].sum()) <= max_rows:
            return [None]
        days = self.day_rows.filter(pl.col("day").is_not_null())
        out: list[pl.Expr | None] = []
        if days.height < self.day_rows.height:
            out.append(pl.col("ts").is_null())
        # Greedy over the days (a few hundred a year, not rows or groups): a batch ends before
        # the day that would take it past max_rows.
        starts: list[object] = []
        total = 0
        for day, rows in zip(days["day"].to_list(), days["rows"].to_list(), strict=True):
            if not starts or total + rows > max_rows:
                starts.append(day)
                total = 0
            total += rows
        # Bounds at UTC midnight; the first batch is open below and the last open above, so every
        # case with a timestamp is in exactly one.
        ts = pl.col("ts")
        bounds = [pl.lit(d).cast(UTC_TS) for d in starts[1:]]
        lowers = [ts.is_not_null(), *[ts >= b for b in bounds]]
        uppers = [*[ts < b for b in bounds], None]
        out += [lo if up is None else lo & up for lo, up in zip(lowers, uppers, strict=True)]
        return out

    def code(self, key: str) -> pl.Expr:
        if key == "day":
            value = pl.col("day").cast(pl.Int32) - self.day_min + 1
        else:
            value = pl.col(key).cast(self.enum(key)).to_physical().cast(pl.Int32) + 1
        return value.fill_null(0).cast(pl.UInt64)

    def fits(self, with_bin: bool) -> bool:
        return sum(self.bits.values()) + (_BIN_BITS if with_bin else 0) <= 64

    def shifts(self, with_bin: bool) -> dict[str, int]:
        """Bit offset of each key in the packed UInt64 (first key in the highest bits)."""
        out, offset = {}, _BIN_BITS if with_bin else 0
        for key in reversed(GROUP_KEYS):
            out[key] = offset
            offset += self.bits[key]
        return out

    def packed(self, with_bin: bool) -> pl.Expr:
        shifts = self.shifts(with_bin)
        expr = pl.lit(0, dtype=pl.UInt64)
        for key in GROUP_KEYS:
            expr = expr + self.code(key) * pl.lit(1 << shifts[key], dtype=pl.UInt64)
        if with_bin:
            expr = expr + latency_bin_expr().cast(pl.UInt64)
        return expr

    def enum(self, key: str) -> pl.Enum:
        return pl.Enum(self.categories[key])

    def dictionary_columns(self) -> list[pl.Expr]:
        """String key columns as Enum: Parquet then stores them dictionary-encoded."""
        return [pl.col(k).cast(self.enum(k)) for k in STRING_KEYS]

    def decode(self, codes: dict[str, pl.Expr], dictionary: bool = False) -> list[pl.Expr]:
        """Key columns from code expressions (String, or Enum with ``dictionary``)."""
        out = []
        for key in GROUP_KEYS:
            c = codes[key].cast(pl.Int64)
            if key == "day":
                day = pl.when(c > 0).then(c - 1 + self.day_min)
                out.append(day.cast(pl.Int32).cast(pl.Date).alias(key))
            else:
                values = self.categories[key]
                if dictionary:
                    values = values.cast(self.enum(key))
                out.append(pl.lit(values).gather(pl.when(c > 0).then(c - 1)).alias(key))
        return out

    def unpack(self, with_bin: bool, dictionary: bool = False) -> list[pl.Expr]:
        """Key columns (and ``latency_bin``) from the packed column ``_k``."""
        shifts = self.shifts(with_bin)
        k = pl.col("_k")
        codes = {
            key: (k // pl.lit(1 << shifts[key], dtype=pl.UInt64)) % (1 << self.bits[key])
            for key in GROUP_KEYS
        }
        out = self.decode(codes, dictionary)
        if with_bin:
            out.append((k % (1 << _BIN_BITS)).cast(pl.UInt16).alias("latency_bin"))
        return out


def _batched(keyed: pl.LazyFrame, codes: _KeyCodes) -> list[pl.LazyFrame]:
    """``keyed`` split into day batches of at most ``ROLLUP_BATCH_ROWS`` cases."""
    return [keyed if f is None else keyed.filter(f) for f in codes.batches(ROLLUP_BATCH_ROWS)]


def _aggregate_cases(keyed: pl.LazyFrame, codes: _KeyCodes) -> pl.DataFrame:
    """Pass 1: the case statistics per group, sorted by key.

    Groups are formed on the packed key (one UInt64) when the keys fit in 64 bits, which keeps
    the per-group state small; else on the key columns themselves. The valid-value counts
    ``<m>_n`` are not aggregated one by one (eight more aggregates would widen every group's
    state by a quarter): pass 1 counts the cases with any invalid value, and only when there
    are some does a third, filtered pass count the nulls per metric.

    The input is aggregated one day batch at a time (``_KeyCodes.batches``): the day is a key,
    so the batches' groups are disjoint and their concatenation, sorted, is the table."""
    parts = [_aggregate_batch(batch, codes) for batch in _batched(keyed, codes)]
    cases = pl.concat(parts) if len(parts) > 1 else parts[0]
    del parts
    if codes.fits(with_bin=False):
        return cases.sort("_k").select(*codes.unpack(with_bin=False), *list(CASES_SCHEMA)[7:])
    return cases.sort([codes.code(k) for k in GROUP_KEYS]).select(list(CASES_SCHEMA))


def _aggregate_batch(keyed: pl.LazyFrame, codes: _KeyCodes) -> pl.DataFrame:
    """The case statistics of one batch, unsorted, keyed by ``_k`` or the key columns."""
    packed = codes.fits(with_bin=False)
    by = [codes.packed(with_bin=False).alias("_k")] if packed else list(GROUP_KEYS)
    names = ["_k"] if packed else list(GROUP_KEYS)
    any_null = pl.any_horizontal([pl.col(m).is_null() for m in VALIDATED_METRICS])
    base = case_aggregations()[: -len(VALIDATED_METRICS)]
    cases = (
        keyed.group_by(by)
        .agg(*base, any_null.sum().alias("_incomplete"))
        .collect(engine="streaming")
    )
    if cases["_incomplete"].sum() == 0:
        counts = [pl.col("n").alias(f"{m}_n") for m in VALIDATED_METRICS]
    else:
        nulls = (
            keyed.filter(any_null)
            .group_by(by)
            .agg(
                [
                    pl.col(m).null_count().cast(pl.Int64).alias(f"_null_{m}")
                    for m in VALIDATED_METRICS
                ]
            )
            .collect(engine="streaming")
        )
        cases = cases.join(nulls, on=names, how="left", nulls_equal=True)
        counts = [
            (pl.col("n") - pl.col(f"_null_{m}").fill_null(0)).alias(f"{m}_n")
            for m in VALIDATED_METRICS
        ]
    return cases.with_columns(counts).drop("_incomplete")


def _histogram_codes(keyed: pl.LazyFrame, codes: _KeyCodes) -> tuple[pl.LazyFrame, bool, int]:
    """Pass 2: counts per (keys, bin) as sorted integer codes. Returns the frame (lazy: the
    batches merge as it is consumed), whether the keys are packed into one column ``_k`` (else
    one code column per key plus ``latency_bin``) and its number of rows.

    Packed keys are sorted and run-length counted rather than hashed: nearly every case opens a
    new (group, bin) pair, and sorting integers is cheaper than a hash table that large. One day
    batch at a time (as pass 1), so only one batch's keys are held and sorted at once; the
    batches' (key, bin) pairs are disjoint, so merging the sorted batches gives the table."""
    parts = [_histogram_batch(batch, codes) for batch in _batched(keyed, codes)]
    if codes.fits(with_bin=True):
        # each part is sorted: a linear merge, not a sort of the whole table
        merged = parts[0].lazy()
        for part in parts[1:]:
            merged = merged.merge_sorted(part.lazy(), key="_k")
        return merged, True, sum(part.height for part in parts)
    counts = pl.concat(parts) if len(parts) > 1 else parts[0]
    names = [f"_c_{k}" for k in GROUP_KEYS]
    return counts.sort([*names, "latency_bin"]).lazy(), False, counts.height


def _histogram_batch(keyed: pl.LazyFrame, codes: _KeyCodes) -> pl.DataFrame:
    """The (key, bin) counts of one batch: packed and sorted, or unpacked and unsorted."""
    valid = keyed.filter(
        pl.col("latency_ms").is_not_null() & pl.col("latency_ms").cast(pl.Float64).is_not_nan()
    )
    if codes.fits(with_bin=True):
        keys = (
            valid.select(codes.packed(with_bin=True).alias("_k"))
            .sort("_k")
            .collect(engine="streaming")
            .to_series()
        )
        runs = keys.rle().struct.unnest()
        return runs.select(pl.col("value").alias("_k"), pl.col("len").alias("n"))
    names = [f"_c_{k}" for k in GROUP_KEYS]
    counts = (
        valid.select(
            *[codes.code(k).alias(f"_c_{k}") for k in GROUP_KEYS],
            latency_bin_expr().alias("latency_bin"),
        )
        .group_by([*names, "latency_bin"])
        .agg(pl.len().cast(pl.Int64).alias("n"))
        .collect(engine="streaming")
    )
    return counts


def _latency_frame(
    counts: pl.LazyFrame, codes: _KeyCodes, packed: bool, dictionary: bool
) -> pl.LazyFrame:
    if packed:
        keys = codes.unpack(with_bin=True, dictionary=dictionary)
    else:
        keys = [
            *codes.decode({k: pl.col(f"_c_{k}") for k in GROUP_KEYS}, dictionary),
            pl.col("latency_bin"),
        ]
    return counts.select(*keys, pl.col("n").cast(pl.Int64))


def _empty_latency() -> pl.DataFrame:
    return pl.DataFrame(schema=LATENCY_SCHEMA)


def rollup_telemetry(telemetry: pl.LazyFrame) -> Rollup:
    """Roll typed telemetry (as loaded by ``load_dataset``) up to sufficient statistics.

    ``telemetry`` has the contract's telemetry columns with ``ts`` a UTC datetime; it is read in
    streaming passes (module docstring). The result holds both tables in memory;
    ``write_rollup`` streams the latency table to disk instead, for inputs whose histogram is
    large."""
    keyed = _keyed(telemetry)
    codes = _KeyCodes.scan(keyed)
    if codes is None:
        return Rollup(cases=pl.DataFrame(schema=CASES_SCHEMA), latency=_empty_latency())
    cases = _aggregate_cases(keyed, codes)
    counts, packed, _ = _histogram_codes(keyed, codes)
    latency = _latency_frame(counts, codes, packed, dictionary=False).collect()
    return Rollup(cases=cases, latency=latency)


ROLLUP_STEPS = 4


def write_rollup_steps(telemetry: pl.LazyFrame, folder: str | Path) -> Iterator[str]:
    """Write the rollup of ``telemetry`` into ``folder`` (what ``Rollup.save`` writes, keys
    dictionary-encoded), one step at a time, yielding a description of each finished step
    (``ROLLUP_STEPS`` in all) so a caller can show progress. The latency histogram stays sorted
    integer codes (8 bytes a row) until it is streamed to Parquet."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    keyed = _keyed(telemetry)
    codes = _KeyCodes.scan(keyed)
    if codes is None:
        Rollup(cases=pl.DataFrame(schema=CASES_SCHEMA), latency=_empty_latency()).save(out)
        yield from ("no cases", "cases.parquet written", "no latency histogram", "latency.parquet")
        return
    yield "key dictionaries: " + ", ".join(f"{len(v)} {k}" for k, v in codes.categories.items())
    cases = _aggregate_cases(keyed, codes)
    n_groups = cases.height
    cases.with_columns(codes.dictionary_columns()).write_parquet(
        out / "cases.parquet", **PARQUET_OPTIONS
    )
    del cases
    yield f"cases.parquet written: {n_groups:,} groups"
    counts, packed, n_rows = _histogram_codes(keyed, codes)
    yield f"latency histogram: {n_rows:,} rows"
    _latency_frame(counts, codes, packed, dictionary=True).sink_parquet(
        out / "latency.parquet", **PARQUET_OPTIONS
    )
    write_meta(out, "polars", groups=n_groups, latency_rows=n_rows)
    yield "latency.parquet written"


def write_rollup(
    telemetry: pl.LazyFrame, folder: str | Path, on_step: Callable[[str], None] | None = None
) -> Path:
    """Write the rollup of ``telemetry`` into ``folder``; returns the folder. The same tables as
    ``rollup_telemetry(telemetry).save(folder)``, with memory bounded by the case table."""
    for step in write_rollup_steps(telemetry, folder):
        if on_step is not None:
            on_step(step)
    return Path(folder)


def unit_cost_columns(costs: Costs) -> list[pl.Expr]:
    """``unit_cost_sum`` and ``unit_cost_sumsq`` of each rollup row, from the policy's rates.

    Unit process cost of a case is ``model_cost_usd + handling_time_s / 3600 * hourly +
    reworked * rework_usd + escalated * escalation_usd`` (METRICS.md).
    """
    a = costs.human_hourly_usd / 3600.0
    r, e = costs.rework_usd, costs.escalation_usd
    total = (
        pl.col("model_cost_usd_sum")
        + a * pl.col("handling_time_s_sum")
        + r * pl.col("reworked")
        + e * pl.col("escalated")
    )
    # Booleans square to themselves, so sum(reworked^2) == reworked count.
    sumsq = (
        pl.col("model_cost_usd_sumsq")
        + a * a * pl.col("handling_time_s_sumsq")
        + r * r * pl.col("reworked")
        + e * e * pl.col("escalated")
        + 2 * a * pl.col("cost_x_handling")
        + 2 * r * pl.col("cost_x_reworked")
        + 2 * e * pl.col("cost_x_escalated")
        + 2 * a * r * pl.col("handling_x_reworked")
        + 2 * a * e * pl.col("handling_x_escalated")
        + 2 * r * e * pl.col("reworked_x_escalated")
    )
    return [total.alias("unit_cost_sum"), sumsq.alias("unit_cost_sumsq")]


def histogram_quantile(bins: np.ndarray, counts: np.ndarray, q: float) -> float:
    """Quantile ``q`` of a latency histogram (bin indices, counts): the representative value of
    the bin where the cumulative share first reaches ``q``. NaN when empty."""
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    if total <= 0:
        return float("nan")
    order = np.argsort(bins)
    cum = np.cumsum(counts[order]) / total
    idx = int(np.searchsorted(cum, q - 1e-12))
    return float(latency_bin_values()[np.asarray(bins)[order][min(idx, len(order) - 1)]])


def dataset_rollup(telemetry: pl.LazyFrame | None, precomputed: Rollup | None) -> Rollup | None:
    """The rollup a computation should use: a pre-computed one when the dataset ships it
    (``telemetry_rollup/``), else one rolled up from the raw telemetry; None without telemetry."""
    if precomputed is not None:
        return precomputed
    if telemetry is None:
        return None
    return rollup_telemetry(telemetry)


__all__ = [
    "BOOL_METRICS",
    "CASES_SCHEMA",
    "CROSS_PRODUCTS",
    "GROUP_KEYS",
    "KEY_SCHEMA",
    "LATENCY_BINS_PER_DECADE",
    "LATENCY_EDGES",
    "LATENCY_MAX_DECADES",
    "LATENCY_N_BINS",
    "LATENCY_SCHEMA",
    "META_FILE",
    "NUMERIC_METRICS",
    "QUALITY_FILE",
    "ROLLUP_BATCH_ROWS",
    "ROLLUP_DIRNAME",
    "ROLLUP_SCHEMA_VERSION",
    "ROLLUP_STEPS",
    "STRING_KEYS",
    "Rollup",
    "case_aggregations",
    "dataset_rollup",
    "histogram_quantile",
    "latency_bin_expr",
    "latency_bin_values",
    "load_telemetry_quality",
    "rollup_telemetry",
    "save_telemetry_quality",
    "telemetry_quality_record",
    "unit_cost_columns",
    "write_meta",
    "write_rollup",
    "write_rollup_steps",
]
