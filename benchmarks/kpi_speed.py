"""Loading plus all KPIs on the sample data, against the read floor, in one process.

    .venv/bin/python benchmarks/kpi_speed.py [--data data/sample] [--month 2026-10]
        [--as-of 2026-11-15T00:00:00Z] [--repeat 3]

Times (after import) ``load_dataset`` + ``analyze`` + ``monthly_kpis`` for one month and for the
12-month trend, and the read floor: reading every table file once with polars, no validation.
Prints the best of ``--repeat`` runs and the ratio ours / floor. The target (issue 2) is under
2 s of wall time for loading plus all KPIs of the default sample.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl

import analytics as ra


def read_floor(folder: Path) -> int:
    rows = 0
    for f in sorted(folder.glob("*.csv")):
        rows += pl.read_csv(f, infer_schema=False).height
    tele = folder / "telemetry"
    if tele.is_dir():
        rows += pl.scan_parquet(sorted(tele.glob("*.parquet"))).collect().height
    return rows


def ours(folder: Path, month: str, as_of) -> int:  # noqa: ANN001
    ds = ra.load_dataset(folder)
    months = ra.month_range(month, 12)
    analysis = ra.analyze(ds, as_of, months=months)
    for m in months:
        ra.monthly_kpis(analysis, m).to_dict()
    return analysis.releases.height


def best(fn, repeat: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def one_month(folder: Path, month: str, as_of) -> None:  # noqa: ANN001
    ds = ra.load_dataset(folder)
    ra.monthly_kpis(ra.analyze(ds, as_of, months=[month]), month).to_dict()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/sample")
    p.add_argument("--month", default="2026-10")
    p.add_argument("--as-of", default="2026-11-15T00:00:00Z")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    folder, as_of = Path(a.data), ra.parse_as_of(a.as_of)
    if not (folder / "releases.csv").exists():
        ra_sample = __import__("analytics.sample.generate", fromlist=["generate_sample"])
        ra_sample.generate_sample(folder)
    floor = best(lambda: read_floor(folder), a.repeat)
    t = best(lambda: ours(folder, a.month, as_of), a.repeat)
    t1 = best(lambda: one_month(folder, a.month, as_of), a.repeat)
    print(f"dataset {folder}: {read_floor(folder):,} rows in all tables")
    print(f"read floor (read every file once)        {floor:7.3f} s")
    print(f"load + validate + analyze + 12 months KPIs {t:7.3f} s   ratio {t / floor:5.2f}x floor")
    print(
        f"load + validate + analyze + 1 month KPIs   {t1:7.3f} s   ratio {t1 / floor:5.2f}x floor"
    )
    print(f"target (one month, as `analytics kpis`): < 2 s -> {'met' if t1 < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
