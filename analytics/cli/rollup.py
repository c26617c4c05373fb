"""``analytics rollup``: pre-compute the telemetry rollup of a dataset (docs/rollup.md).

Writes ``<out or data>/telemetry_rollup/``: ``cases.parquet``, ``latency.parquet``,
``rollup.json`` and ``quality.json`` (the telemetry's data-quality record). ``load_dataset``
picks the folder up as ``Dataset.telemetry_rollup``: every KPI, comparison and report then
reads it instead of raw telemetry, with identical results. The engine is ``--engine``, else
the policy's ``rollup.engine``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from analytics.cli.core import load_data
from analytics.core.errors import DataError
from analytics.core.policy import Policy
from analytics.core.progress import progress_iter
from analytics.data.rollup import (
    ROLLUP_DIRNAME,
    ROLLUP_STEPS,
    save_telemetry_quality,
    write_rollup_steps,
)
from analytics.importers.database import is_database_uri

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


def _rollup(args: argparse.Namespace) -> int:
    if is_database_uri(args.data) and not args.out:
        raise DataError("rollup: --out is needed when --data is a database")
    ds = load_data(args.data, args.policy)
    if ds.telemetry is None:
        raise DataError(f"dataset {ds.source} has no telemetry to roll up")
    engine = args.engine or policy_engine(ds.policy)
    out = Path(args.out or args.data) / ROLLUP_DIRNAME
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
    p.set_defaults(handler=_rollup)
