"""Benchmark: the telemetry rollup against DuckDB and the scan floor (see benchmarks/README.md).

    .venv/bin/python benchmarks/telemetry_rollup.py                      # 10M rows
    .venv/bin/python benchmarks/telemetry_rollup.py --rows 50000000 --repeat 2

It writes realistic per-case telemetry as a dataset folder (``releases.csv`` plus monthly zstd
Parquet files with dictionary-encoded strings under ``telemetry/``) into
``benchmarks/out/telemetry-<rows>/`` (git-ignored, reused when present), then times each engine
in a fresh subprocess, so that peak RSS (``ru_maxrss`` of that child, from ``os.wait4``) belongs
to it alone. Engines (the same files, page cache warm):

- ``ours``: ``analytics.data.rollup.write_rollup`` on a lazy scan of the files, writing
  ``cases.parquet`` and ``latency.parquet`` (the table ``analytics rollup`` writes);
- ``ours-memory``: ``rollup_telemetry``, both tables as DataFrames in memory;
- ``ours-command``: ``analytics rollup --data DIR`` as run (``load_dataset`` validation and the
  rollup), for reference;
- ``duckdb``: the same aggregation by hand in DuckDB SQL, same histogram edges, same sort
  order, written to Parquet; ``duckdb-unordered``: the same without ORDER BY (what sorting
  costs DuckDB); ``duckdb-memory``: the ordered queries fetched as Arrow tables;
- ``scan-polars``, ``scan-duckdb``: the scan floor, every needed column read once and summed;
  the faster of the two is the floor;
- ``baseline``: a child that imports polars and ``analytics`` and does nothing (the part of
  every ``ours`` RSS that is the interpreter and its libraries).

The data: ``--days`` (365) days from 2025-01-01; three systems (50/30/20 % of traffic), a new
release every 3 to 21 days per system, ramping up over four days (2, 10, 30, 60 % of its
system's traffic) beside the release it replaces, so one to three releases are live per system
and day and a release serves only its own window; segments drawn from skewed distributions over
10 task types x 3 criticalities x 8 languages x 6 customer segments. At 10M rows that gives
about 1.2M (release, day, segment) groups, 1.7M at 50M.

With ``--check`` (the default up to 1M rows) the outputs of ``ours`` and ``duckdb`` are compared:
keys and counts exactly, sums to 1e-9 relative, histograms identical.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "out"
GENERATOR_VERSION = 1

SYSTEMS = ("support", "claims", "underwriting")
SYSTEM_SHARE = (0.5, 0.3, 0.2)
TASK_TYPES = (
    "answer",
    "classify",
    "summarise",
    "extract",
    "route",
    "draft_reply",
    "translate",
    "triage",
    "verify_identity",
    "assess_claim",
)
CRITICALITY = ("low", "medium", "high")
CRITICALITY_SHARE = (0.6, 0.3, 0.1)
LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt", "ja")
SEGMENTS = ("consumer", "smb", "enterprise", "public_sector", "partner", "internal")
# A new release ramps up over these days (share of its system's traffic), then takes it all.
RAMP = (0.02, 0.1, 0.3, 0.6)
ENGINES = (
    "baseline",
    "ours",
    "ours-memory",
    "ours-command",
    "duckdb",
    "duckdb-unordered",
    "duckdb-memory",
    "scan-polars",
    "scan-duckdb",
)


# ---------------------------------------------------------------- data


def _zipf(k: int, s: float = 1.1) -> np.ndarray:
    import numpy as np

    w = 1.0 / np.arange(1, k + 1) ** s
    return w / w.sum()


def release_schedule(
    rng: np.random.Generator, days: int
) -> tuple[list[str], list[int], list[int], np.ndarray]:
    """Releases (ids, system index, start day) and ``shares[s, d, r]``: the share of system s's
    traffic on day d served by release r. Newest first, each live release takes its ramp share
    of what the newer ones left; a release retires once a newer one has reached 100 %."""
    import numpy as np

    ids: list[str] = []
    systems: list[int] = []
    starts: list[int] = []
    for s in range(len(SYSTEMS)):
        d = -int(rng.integers(10, 40))
        while d < days:
            ids.append(f"rel-{len(ids) + 1:04d}")
            systems.append(s)
            starts.append(d)
            d += int(rng.integers(3, 22))
    shares = np.zeros((len(SYSTEMS), days, len(ids)))
    for s in range(len(SYSTEMS)):
        mine = [r for r in range(len(ids)) if systems[r] == s]
        for d in range(days):
            remaining = 1.0
            for r in reversed([r for r in mine if starts[r] <= d]):
                age = d - starts[r]
                shares[s, d, r] = remaining * (RAMP[age] if age < len(RAMP) else 1.0)
                remaining -= shares[s, d, r]
                if remaining <= 1e-12:
                    break
    return ids, systems, starts, shares


def generate(folder: Path, rows: int, days: int = 365, seed: int = 11) -> None:
    """Write a dataset folder with ``rows`` cases of telemetry (see module docstring)."""
    import numpy as np
    import polars as pl
    import pyarrow.parquet as pq

    start = date(2025, 1, 1)
    rng = np.random.default_rng(seed)
    tdir = folder / "telemetry"
    tdir.mkdir(parents=True, exist_ok=True)
    ids, rel_sys, starts, shares = release_schedule(rng, days)
    versions = {
        f"{c}_version": [f"{c}-{i}" for i in range(len(ids))]
        for c in (
            "model",
            "inference_config",
            "prompt",
            "tools",
            "safety_policy",
            "routing",
            "eval_set",
        )
    }
    pl.DataFrame(
        {
            "release_id": ids,
            "system": [SYSTEMS[s] for s in rel_sys],
            "released_at": [f"{start + timedelta(days=d)}T06:00:00Z" for d in starts],
            "risk_tier": ["low"] * len(ids),
            **versions,
        }
    ).write_csv(folder / "releases.csv")
    # the (at most 3) live releases of each (system, day) and their cumulative shares
    live_rel = np.argsort(-shares, axis=2, kind="stable")[:, :, :3]
    live_cum = np.take_along_axis(shares, live_rel, axis=2).cumsum(axis=2)
    live_cum[:, :, -1] = 1.0
    day_dates = [start + timedelta(days=i) for i in range(days)]
    weekday_w = np.array([1.0 if d.weekday() < 5 else 0.55 for d in day_dates])
    day_p = weekday_w / weekday_w.sum()
    n_rel = len(ids)
    lat_factor = rng.lognormal(0.0, 0.15, n_rel)
    esc_factor = rng.lognormal(0.0, 0.2, n_rel)
    price = rng.choice([1.5e-6, 2e-6, 3e-6], n_rel)
    task_p, lang_p, seg_p = _zipf(len(TASK_TYPES)), _zipf(len(LANGUAGES), 1.4), _zipf(len(SEGMENTS))
    epoch0 = np.datetime64(start.isoformat(), "us").astype(np.int64)
    for year, month in sorted({(d.year, d.month) for d in day_dates}):
        in_month = np.array([(d.year, d.month) == (year, month) for d in day_dates])
        n = int(round(rows * day_p[in_month].sum()))
        if n == 0:
            continue
        day = rng.choice(np.flatnonzero(in_month), n, p=day_p[in_month] / day_p[in_month].sum())
        sec = (rng.normal(14 * 3600, 4 * 3600, n) % 86400).astype(np.int64)
        ts = epoch0 + day.astype(np.int64) * 86_400_000_000 + sec * 1_000_000
        ts += rng.integers(0, 1_000_000, n)
        system = rng.choice(len(SYSTEMS), n, p=SYSTEM_SHARE)
        slot = (rng.random(n)[:, None] >= live_cum[system, day]).sum(axis=1)
        rel = live_rel[system, day, np.minimum(slot, 2)]
        crit = rng.choice(3, n, p=CRITICALITY_SHARE)
        crit_mult = np.array([0.7, 1.0, 1.8])[crit]
        tokens = np.round(rng.lognormal(np.log(1200), 0.6, n))
        quality = np.round(rng.beta(8, 2, n), 4)
        frame = (
            pl.DataFrame(
                {
                    "ts": ts,
                    "release_id": np.asarray(ids)[rel],
                    "system": np.asarray(SYSTEMS)[system],
                    "task_type": np.asarray(TASK_TYPES)[rng.choice(len(TASK_TYPES), n, p=task_p)],
                    "criticality": np.asarray(CRITICALITY)[crit],
                    "language": np.asarray(LANGUAGES)[rng.choice(len(LANGUAGES), n, p=lang_p)],
                    "customer_segment": np.asarray(SEGMENTS)[rng.choice(len(SEGMENTS), n, p=seg_p)],
                    "escalated": rng.random(n) < 0.06 * crit_mult * esc_factor[rel],
                    "reworked": rng.random(n) < 0.04,
                    "policy_violation": rng.random(n) < 0.003 * crit_mult,
                    "refused": rng.random(n) < 0.015,
                    "handling_time_s": np.round(rng.lognormal(np.log(240), 0.8, n), 1),
                    "latency_ms": np.round(
                        rng.lognormal(np.log(850), 0.55, n) * lat_factor[rel], 1
                    ),
                    "tokens": tokens,
                    "model_cost_usd": np.round(tokens * price[rel], 6),
                    "quality_score": np.where(rng.random(n) < 0.15, np.nan, quality),
                }
            )
            .with_columns(
                pl.col("ts").cast(pl.Datetime("us", "UTC")),
                pl.col("quality_score").fill_nan(None),
            )
            .sort("ts")
        )
        pq.write_table(
            frame.to_arrow(compat_level=pl.CompatLevel.oldest()),
            tdir / f"{year}-{month:02d}.parquet",
            compression="zstd",
            use_dictionary=True,
            row_group_size=1_000_000,
        )


def ensure_data(out: Path, rows: int, days: int) -> Path:
    folder = out / f"telemetry-{rows}-{days}d"
    marker = folder / "complete.json"
    spec = {"rows": rows, "days": days, "generator": GENERATOR_VERSION}
    if marker.is_file() and json.loads(marker.read_text()) == spec:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    print(f"generating {rows:,} rows into {folder} ...", flush=True)
    task("generate", json.dumps({"folder": str(folder), "rows": rows, "days": days}))
    marker.write_text(json.dumps(spec))
    print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    return folder


# ---------------------------------------------------------------- engines (run in a child)


def _edges_sql() -> tuple[str, str]:
    from analytics.data.rollup import LATENCY_EDGES

    lower = ["'-infinity'::DOUBLE", *(repr(float(e)) for e in LATENCY_EDGES)]
    upper = [*(repr(float(e)) for e in LATENCY_EDGES), "'infinity'::DOUBLE"]
    return "[" + ", ".join(lower) + "]", "[" + ", ".join(upper) + "]"


def duckdb_queries(glob: str) -> tuple[str, str]:
    """The rollup by hand: cases and latency tables, same columns, bins and order as ours."""
    from analytics.data.rollup import (
        BOOL_METRICS,
        CROSS_PRODUCTS,
        LATENCY_BINS_PER_DECADE,
        LATENCY_N_BINS,
        NUMERIC_METRICS,
    )

    src = f"read_parquet('{glob}')"
    keys = (
        "release_id, system, CAST(ts AS DATE) AS day, task_type, criticality, language, "
        "customer_segment"
    )
    order = "release_id, system, day, task_type, criticality, language, customer_segment"

    def num(c: str) -> str:
        return f"{c}::DOUBLE" if c not in BOOL_METRICS else f"{c}::INT::DOUBLE"

    aggs = ["COUNT(*)::BIGINT AS n", "MIN(ts) AS first_ts", "MAX(ts) AS last_ts"]
    aggs += [f"COALESCE(SUM({b}::INT), 0)::BIGINT AS {b}" for b in BOOL_METRICS]
    for m in NUMERIC_METRICS:
        aggs += [
            f"COALESCE(SUM({m}), 0)::DOUBLE AS {m}_sum",
            f"COALESCE(SUM({m} * {m}), 0)::DOUBLE AS {m}_sumsq",
        ]
    aggs += [
        "COUNT(quality_score)::BIGINT AS quality_n",
        "COALESCE(SUM(quality_score), 0)::DOUBLE AS quality_score_sum",
        "COALESCE(SUM(quality_score * quality_score), 0)::DOUBLE AS quality_score_sumsq",
    ]
    aggs += [
        f"COALESCE(SUM({num(a)} * {num(b)}), 0)::DOUBLE AS {name}" for name, a, b in CROSS_PRODUCTS
    ]
    aggs += [f"COUNT({m})::BIGINT AS {m}_n" for m in (*BOOL_METRICS, *NUMERIC_METRICS)]
    cases = f"SELECT {keys}, {', '.join(aggs)} FROM {src} GROUP BY ALL ORDER BY {order} NULLS FIRST"
    lower, upper = _edges_sql()
    b0 = (
        f"LEAST(GREATEST(FLOOR(LOG10(GREATEST(latency_ms, 1.0)) * {LATENCY_BINS_PER_DECADE}), 0),"
        f" {LATENCY_N_BINS - 1})::INT"
    )
    latency = (
        f"WITH t AS (SELECT {keys}, latency_ms, {b0} AS b0 FROM {src} "
        f"WHERE latency_ms IS NOT NULL AND NOT isnan(latency_ms)) "
        f"SELECT release_id, system, day, task_type, criticality, language, customer_segment, "
        f"(b0 - (latency_ms < {lower}[b0 + 1])::INT + (latency_ms >= {upper}[b0 + 1])::INT)"
        f"::USMALLINT AS latency_bin, COUNT(*)::BIGINT AS n FROM t GROUP BY ALL "
        f"ORDER BY {order}, latency_bin NULLS FIRST"
    )
    return cases, latency


def make_plan(data: Path) -> dict[str, Any]:
    """What the children need, computed once here so that the DuckDB and scan children import
    nothing but their engine (their peak RSS is then the engine's own)."""
    from analytics.data.rollup import BOOL_METRICS, NUMERIC_METRICS, STRING_KEYS

    glob = str(data / "telemetry" / "*.parquet")
    cases, latency = duckdb_queries(glob)
    return {
        "data": str(data),
        "files": [str(f) for f in sorted((data / "telemetry").glob("*.parquet"))],
        "glob": glob,
        "strings": list(STRING_KEYS),
        "bools": list(BOOL_METRICS),
        "numbers": [*NUMERIC_METRICS, "quality_score"],
        "duckdb_cases": cases,
        "duckdb_latency": latency,
    }


def run_engine(engine: str, plan: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run one engine once; wall and CPU time of the work itself (after imports)."""
    import resource

    files, glob = plan["files"], plan["glob"]
    strings, bools, numbers = plan["strings"], plan["bools"], plan["numbers"]
    if engine.startswith("ours") or engine in ("scan-polars", "baseline"):
        import polars as pl
    if engine.startswith("ours") or engine == "baseline":
        from analytics.data.rollup import rollup_telemetry, write_rollup
    if engine.startswith(("duckdb", "scan-duckdb")):
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
    info: dict[str, Any] = {}
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if engine == "ours":
        write_rollup(pl.scan_parquet(files), work / "ours")
    elif engine == "ours-memory":
        r = rollup_telemetry(pl.scan_parquet(files))
        info["rows_out"] = r.cases.height + r.latency.height
    elif engine == "ours-command":
        from analytics.cli.main import main

        args = ["rollup", "--data", plan["data"], "--out", str(work / "command")]
        if main([*args, "--engine", "polars"]) != 0:
            raise RuntimeError("analytics rollup failed")
    elif engine == "duckdb":
        (work / "duckdb").mkdir(parents=True, exist_ok=True)
        for name in ("cases", "latency"):
            con.execute(
                f"COPY ({plan['duckdb_' + name]}) TO '{work / 'duckdb' / name}.parquet' "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
    elif engine == "duckdb-unordered":
        (work / "duckdb").mkdir(parents=True, exist_ok=True)
        for name in ("cases", "latency"):
            query = plan["duckdb_" + name].split(" ORDER BY ")[0]
            con.execute(
                f"COPY ({query}) TO '{work / 'duckdb' / name}.parquet' "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
    elif engine == "duckdb-memory":
        a = con.sql(plan["duckdb_cases"]).to_arrow_table()
        b = con.sql(plan["duckdb_latency"]).to_arrow_table()
        info["rows_out"] = a.num_rows + b.num_rows
    elif engine == "scan-polars":
        pl.scan_parquet(files).select(
            *[pl.col(c).str.len_bytes().sum() for c in strings],
            *[pl.col(c).cast(pl.Int64).sum() for c in bools],
            *[pl.col(c).sum() for c in numbers],
            pl.col("ts").cast(pl.Int64).sum(),
        ).collect(engine="streaming")
    elif engine == "scan-duckdb":
        cols = [f"SUM(length({c}))" for c in strings]
        cols += [f"SUM({c}::INT)" for c in bools] + [f"SUM({c})" for c in numbers]
        cols.append("SUM(epoch_us(ts))")
        con.execute(f"SELECT {', '.join(cols)} FROM read_parquet('{glob}')").fetchall()
    elif engine != "baseline":
        raise ValueError(engine)
    info["seconds"] = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    info["cpu_seconds"] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return info


def task(name: str, arg: str) -> str:
    """Run a helper task (data generation, plan, check) in a child: the parent imports nothing
    heavy, because a child's ``ru_maxrss`` starts at its parent's RSS (Linux keeps the high-water
    mark across fork and exec)."""
    cmd = [sys.executable, __file__, "--task", name, "--arg", arg]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"task {name} failed:\n{done.stderr[-4000:]}")
    return done.stdout


def child(engine: str, plan_file: Path, work: Path) -> dict[str, Any]:
    """Run ``engine`` in a fresh interpreter; add its peak RSS (``os.wait4`` of that child)."""
    arg = json.dumps({"engine": engine, "plan": str(plan_file), "work": str(work)})
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--task", "engine", "--arg", arg], stdout=out, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code != 0:
        raise RuntimeError(f"{engine} failed ({code}):\n{stderr[-4000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


def run_task(name: str, arg: str) -> str:
    spec = json.loads(arg) if arg.startswith("{") else arg
    if name == "generate":
        generate(Path(spec["folder"]), spec["rows"], spec["days"])
        return ""
    if name == "plan":
        return json.dumps(make_plan(Path(spec)))
    if name == "check":
        return check(Path(spec))
    if name == "engine":
        plan = json.loads(Path(spec["plan"]).read_text())
        return json.dumps(run_engine(spec["engine"], plan, Path(spec["work"])))
    raise ValueError(name)


# ---------------------------------------------------------------- check and report


def check(work: Path) -> str:
    """Compare ``ours`` with ``duckdb`` (both written by this run)."""
    import polars as pl
    from polars.testing import assert_frame_equal

    from analytics.data.rollup import CASES_SCHEMA, LATENCY_SCHEMA, Rollup

    ours = Rollup.load(work / "ours")
    duck_cases = pl.read_parquet(work / "duckdb" / "cases.parquet").select(
        [pl.col(c).cast(t) for c, t in CASES_SCHEMA.items()]
    )
    duck_lat = pl.read_parquet(work / "duckdb" / "latency.parquet").select(
        [pl.col(c).cast(t) for c, t in LATENCY_SCHEMA.items()]
    )
    exact = [c for c, t in CASES_SCHEMA.items() if t != pl.Float64]
    floats = [c for c, t in CASES_SCHEMA.items() if t == pl.Float64]
    assert_frame_equal(ours.cases.select(exact), duck_cases.select(exact))
    assert_frame_equal(
        ours.cases.select(floats), duck_cases.select(floats), rel_tol=1e-9, abs_tol=1e-12
    )
    assert_frame_equal(ours.latency, duck_lat)
    return (
        f"check: ours == duckdb ({ours.cases.height:,} groups, {ours.latency.height:,} "
        "histogram rows; counts and bins exact, sums within 1e-9)"
    )


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    from importlib.metadata import version

    return (
        f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, polars {version('polars')}, "
        f"duckdb {version('duckdb')}"
    )


def report(rows: int, results: dict[str, list[dict[str, Any]]]) -> str:
    best = {e: min(rs, key=lambda r: float(r["seconds"])) for e, rs in results.items()}
    wall = {e: float(r["seconds"]) for e, r in best.items()}
    rss = {e: max(float(r["peak_rss_mb"]) for r in rs) for e, rs in results.items()}
    floors = [wall[e] for e in ("scan-polars", "scan-duckdb") if e in wall]
    floor = min(floors) if floors else None
    lines = [
        f"rows: {rows:,}; wall = best of {len(next(iter(results.values())))} runs, "
        "peak RSS = max over runs",
        "",
        "| engine | wall s | rows/s | CPU s | peak RSS MB | / duckdb | / scan floor |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for e, w in wall.items():
        ref = "duckdb-memory" if e.endswith("-memory") else "duckdb"
        vs_duck = f"{w / wall[ref]:.2f}" if ref in wall and e.startswith("ours") else ""
        vs_floor = f"{w / floor:.2f}" if floor and not e.startswith(("scan", "baseline")) else ""
        cpu = float(best[e]["cpu_seconds"])
        speed = f"{rows / w / 1e6:.1f}M" if e != "baseline" else ""
        lines.append(
            f"| {e} | {w:.2f} | {speed} | {cpu:.1f} | {rss[e]:,.0f} | {vs_duck} | {vs_floor} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="data folder (cached)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--check", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--task", help=argparse.SUPPRESS)
    p.add_argument("--arg", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.task:
        print(run_task(args.task, args.arg))
        return 0
    engines = [e for e in args.engines.split(",") if e]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        p.error(f"unknown engine(s): {', '.join(sorted(unknown))}")
    do_check = args.check if args.check is not None else args.rows <= 1_000_000
    if do_check:
        engines += [e for e in ("ours", "duckdb") if e not in engines]
    data = ensure_data(args.out, args.rows, args.days)
    for f in sorted((data / "telemetry").glob("*.parquet")):  # warm the page cache
        f.read_bytes()
    print(machine(), flush=True)
    results: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
    with tempfile.TemporaryDirectory(prefix="rollup-bench-", dir=args.out) as tmp:
        plan_file = Path(tmp) / "plan.json"
        plan_file.write_text(task("plan", str(data)))
        for i in range(args.repeat):
            for engine in engines:  # interleaved, so background load spreads over engines
                work = Path(tmp) / f"{engine}-{i}"
                results[engine].append(child(engine, plan_file, work))
                print(f"  run {i + 1} {engine}: {results[engine][-1]['seconds']:.2f} s", flush=True)
                if not (do_check and i == 0 and engine in ("ours", "duckdb")):
                    shutil.rmtree(work, ignore_errors=True)
        if do_check:
            merged = Path(tmp) / "check"
            (merged / "ours").parent.mkdir(parents=True, exist_ok=True)
            shutil.move(Path(tmp) / "ours-0" / "ours", merged / "ours")
            shutil.move(Path(tmp) / "duckdb-0" / "duckdb", merged / "duckdb")
            print(task("check", str(merged)).strip())
    print()
    print(report(args.rows, results))
    if args.json:
        args.json.write_text(
            json.dumps({"rows": args.rows, "machine": machine(), "results": results}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
