"""Benchmark: adding one day to a 365-day incremental rollup against a full rollup (see
benchmarks/README.md).

    .venv/bin/python benchmarks/incremental_rollup.py                  # 5M rows
    .venv/bin/python benchmarks/incremental_rollup.py --rows 200000    # smoke size

The data is ``telemetry_rollup.py``'s (365 days, three systems, realistic segment counts),
re-written as one Parquet file per UTC day (``telemetry/day=YYYY-MM-DD/part.parquet``, the
layout ``analytics import`` writes), into ``benchmarks/out/incremental-<rows>/``
(git-ignored, reused). The last day is held back. Then, each in a fresh child process, timing
only the work (not the imports):

- ``full``: what ``analytics rollup --data DIR`` does: ``load_dataset`` (validation) and
  ``write_rollup`` of all 365 days;
- ``incremental-first``: ``update_rollup`` building the incremental rollup of 364 days (once);
- ``incremental-day``: the held-back day arrives; ``update_rollup`` rolls up that day only.

Prints the ratio incremental-day / full (target: at most 1/50) and checks that the incremental
tables, sorted, equal the full rollup's.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from _child import run_child

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "out"


def _rollup_bench() -> Any:
    spec = importlib.util.spec_from_file_location(
        "telemetry_rollup", Path(__file__).parent / "telemetry_rollup.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def prepare(folder: Path, rows: int) -> Path:
    """The dataset with day files; the last day held back in ``folder/held/``."""
    import polars as pl

    if (folder / "complete.json").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    monthly = folder.with_name(folder.name + "-monthly")
    _rollup_bench().generate(monthly, rows)
    (folder / "telemetry").mkdir(parents=True)
    shutil.copy(monthly / "releases.csv", folder / "releases.csv")
    for month in sorted((monthly / "telemetry").glob("*.parquet")):
        frame = pl.read_parquet(month).with_columns(pl.col("ts").dt.date().alias("_d"))
        for (day,), part in frame.partition_by("_d", as_dict=True, include_key=False).items():
            target = folder / "telemetry" / f"day={day}" / "part.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            part.write_parquet(target, compression="zstd")
    shutil.rmtree(monthly)
    last = sorted((folder / "telemetry").glob("day=*"))[-1]
    (folder / "held").mkdir()
    shutil.move(last, folder / "held" / last.name)
    (folder / "complete.json").write_text(json.dumps({"rows": rows}) + "\n")
    return folder


def run_engine(engine: str, data: Path, work: Path) -> dict[str, Any]:
    from analytics.data.incremental import update_rollup
    from analytics.data.io import load_dataset
    from analytics.data.rollup import write_rollup

    cpu0, t0 = time.process_time(), time.perf_counter()
    extra: dict[str, Any] = {}
    if engine == "prepare":
        prepare(data, int(str(work.name)))
    elif engine == "full":
        ds = load_dataset(data)
        write_rollup(ds.telemetry, work / "full")
    elif engine in ("incremental-first", "incremental-day"):
        done = update_rollup(data, work / "incremental")
        extra = {"days": len(done.days), "files_read": done.files_read, "full": done.full}
    elif engine == "check":
        return {"message": check(work), "seconds": 0.0, "cpu_seconds": 0.0}
    else:
        raise ValueError(engine)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - cpu0, **extra}


def child(engine: str, data: Path, work: Path) -> dict[str, Any]:
    """``engine`` in a fresh interpreter (``_child.run_child``)."""
    return run_child(__file__, {"engine": engine, "data": str(data), "work": str(work)})


def check(work: Path) -> str:
    from polars.testing import assert_frame_equal

    from analytics.data.rollup import GROUP_KEYS, Rollup

    a, b = Rollup.load(work / "full"), Rollup.load(work / "incremental")
    keys = list(GROUP_KEYS)
    assert_frame_equal(a.cases.sort(keys), b.cases.sort(keys), rel_tol=1e-12)
    bins = [*keys, "latency_bin"]
    assert_frame_equal(a.latency.sort(bins), b.latency.sort(bins))
    return (
        f"check: incremental == full ({a.cases.height:,} case groups, "
        f"{a.latency.height:,} histogram rows)"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--task", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.task:
        spec = json.loads(args.task)
        print(json.dumps(run_engine(spec["engine"], Path(spec["data"]), Path(spec["work"]))))
        return 0
    data = args.out / f"incremental-{args.rows}"
    held = data / "held"
    if held.is_dir() and not any(held.iterdir()):
        shutil.rmtree(data)  # an earlier run moved the held-back day in: start again
    # in a child: a child's peak RSS starts at its parent's (Linux keeps the high-water mark)
    child("prepare", data, Path(str(args.rows)))
    work = args.out / f"incremental-work-{args.rows}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results = {
        "full": None,
        "incremental-first": child("incremental-first", data, work),
    }
    day = next(held.iterdir())
    shutil.move(day, data / "telemetry" / day.name)
    try:
        results["incremental-day"] = child("incremental-day", data, work)
        results["full"] = child("full", data, work)
        print(child("check", data, work)["message"])
    finally:
        shutil.move(data / "telemetry" / day.name, held / day.name)
    print(f"\nrows: {args.rows:,}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    print("\n| run | wall s | CPU s | peak RSS MB | days rolled up | files read |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        assert r is not None
        print(
            f"| {name} | {r['seconds']:.2f} | {r['cpu_seconds']:.1f} | {r['peak_rss_mb']:,.0f} | "
            f"{r.get('days', 365)} | {r.get('files_read', 365)} |"
        )
    ratio = results["incremental-day"]["seconds"] / results["full"]["seconds"]
    print(f"\nratio incremental-day / full wall time: {ratio:.4f} = 1/{1 / ratio:.0f}")
    print("target: at most 1/50")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
