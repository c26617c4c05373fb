"""``analytics rollup``: pre-compute the telemetry rollup of a dataset (docs/rollup.md).

Writes ``<out or data>/telemetry_rollup/``: ``cases.parquet``, ``latency.parquet``,
``rollup.json`` and ``quality.json`` (the telemetry's data-quality record). ``load_dataset``
picks the folder up as ``Dataset.telemetry_rollup``: every KPI, comparison and report then
reads it instead of raw telemetry, with identical results. The engine is ``--engine``, else
the policy's ``rollup.engine``.

``--incremental`` keeps the rollup as per-day partitions and rolls up again only the days whose
telemetry files changed (``analytics.data.incremental``); once a rollup folder is incremental,
later runs stay incremental; ``--full`` rolls up everything again (in the layout the folder
has, or the classic one with ``--engine spark``).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from analytics.cli.core import load_data
from analytics.core.errors import DataError
from analytics.core.policy import Policy
from analytics.core.progress import progress_iter
from analytics.data.incremental import is_incremental, update_rollup
from analytics.data.rollup import (
    ROLLUP_DIRNAME,
    ROLLUP_STEPS,
    save_telemetry_quality,
    write_rollup_steps,
)
from analytics.importers.database import is_database_uri
from analytics.stats.change import plural

ENGINES = ("polars", "spark")


def policy_engine(policy: Policy) -> str:
    """The rollup engine the policy names (``rollup: {engine: polars|spark}``)."""
    engine = policy.section("rollup").get("engine")
    if engine not in ENGINES:
        raise DataError(
            f"policy: rollup.engine must be one of {', '.join(ENGINES)} (got {engine!r}); "
            "or pass --engine"
        )
    return str(engine)


def _incremental(args: argparse.Namespace, out: Path) -> int:
    if args.engine == "spark":
        raise DataError("the incremental rollup runs on the polars engine: drop --engine spark")
    if is_database_uri(args.data):
        raise DataError("the incremental rollup reads a dataset folder, not a database")
    for _ in progress_iter([None], total=1, description="telemetry rollup (incremental)"):
        done = update_rollup(args.data, out, args.policy, full=args.full)
    what = "all days" if done.full else plural(len(done.days), "day")
    print(
        f"{out} ({what} rolled up from {plural(done.files_read, 'file')}; "
        f"{plural(done.days_total, 'day')})"
    )
    return 0


def _rollup(args: argparse.Namespace) -> int:
    if is_database_uri(args.data) and not args.out:
        raise DataError("rollup: --out is needed when --data is a database")
    out = Path(args.out or args.data) / ROLLUP_DIRNAME
    if args.incremental or (is_incremental(out) and args.engine != "spark"):
        return _incremental(args, out)
    ds = load_data(args.data, args.policy)
    if ds.telemetry is None:
        raise DataError(f"dataset {ds.source} has no telemetry to roll up")
    engine = args.engine or policy_engine(ds.policy)
    if out.exists():
        shutil.rmtree(out)
    if engine == "spark":
        from analytics.data.rollup_spark import run_local

        telemetry = Path(ds.source) / "telemetry"
        if not telemetry.is_dir():
            telemetry = telemetry.with_suffix(".parquet")
        if not telemetry.exists():
            raise DataError(
                "the Spark engine reads Parquet telemetry (telemetry/ or "
                "telemetry.parquet); convert telemetry.csv first"
            )
        for _ in progress_iter([None], total=1, description="telemetry rollup (spark)"):
            run_local(telemetry, out, ds.releases["release_id"].to_list())
    else:
        steps = write_rollup_steps(ds.telemetry, out)
        for _ in progress_iter(steps, total=ROLLUP_STEPS, description="telemetry rollup"):
            pass
    save_telemetry_quality(out, ds.quality)
    print(out)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rollup",
        help="pre-compute the telemetry rollup into <out or data>/telemetry_rollup/",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--out", help="folder to write telemetry_rollup/ into (default: --data)")
    p.add_argument("--engine", choices=ENGINES, help="default: the policy's rollup.engine")
    p.add_argument("--policy", help="policy YAML (default: DATA/policy.yaml, else the default)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--incremental",
        action="store_true",
        help="per-day partitions; roll up again only the days whose files changed",
    )
    mode.add_argument("--full", action="store_true", help="roll up every day again")
    p.set_defaults(handler=_rollup)
