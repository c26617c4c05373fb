"""``analytics import``: a vendor export into a dataset folder (docs/mapping.md), or LLM
telemetry (``otel``, ``langfuse``) into its ``telemetry/`` (docs/telemetry-import.md)."""

from __future__ import annotations

import argparse
import sys

from analytics.cli.telemetry_import import TELEMETRY_SOURCES, run_telemetry_import
from analytics.core.errors import DataError
from analytics.importers.mapping import SOURCES
from analytics.importers.run import import_export
from analytics.importers.workers import MEMORY_BUDGET_MB


def _import(args: argparse.Namespace) -> int:
    if args.source in TELEMETRY_SOURCES:
        return run_telemetry_import(args)
    if len(args.files) != 1:
        raise DataError(f"import {args.source}: --from takes one export file")
    report = import_export(args.source, args.files[0], args.into, args.mapping)
    sys.stdout.write(report.to_json() if args.format == "json" else report.to_text())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="import a vendor export into a dataset folder (see docs/mapping.md)",
        description=(
            "Map a vendor export (GitHub or GitLab deployments, PagerDuty incidents, Opsgenie "
            "alerts CSV, Jira incident issues, an MLflow tracking store) into the dataset "
            "folder's tables with a mapping file, upserting by stable ids, and print the import "
            "report with its reconciliation line (read = written + rejected + duplicates "
            "skipped). The folder is replaced atomically, only after the new one loads. Exit 0 "
            "on success (rejected records are counted findings), 2 on a structural problem (an "
            "unreadable file, a file of another export type, a bad mapping key), 3 internal "
            "error. See docs/mapping.md. otel and langfuse write DATASET/telemetry/ partitioned by "
            "UTC day (docs/telemetry-import.md)."
        ),
    )
    p.add_argument(
        "source", choices=[*SOURCES, *TELEMETRY_SOURCES], help="the export's vendor or format"
    )
    p.add_argument(
        "--from",
        dest="files",
        metavar="FILE",
        nargs="+",
        required=True,
        help="the export file (MLflow: a tracking store: sqlite:///FILE, an .db file or mlruns/; "
        "otel: OTLP JSON lines or protobuf files, each its own import; langfuse: the "
        "observations file plus, if needed, its traces and scores files)",
    )
    p.add_argument(
        "--into", metavar="DATASET", required=True, help="dataset folder to write or update"
    )
    p.add_argument("--mapping", metavar="FILE", help="mapping YAML (default: DATASET/mapping.yaml)")
    p.add_argument("--key", help="otel, langfuse: import key (default: source and file name)")
    p.add_argument(
        "--workers",
        type=int,
        help="otel: processes converting 64 MB chunks (default: one per core, at "
        "most 4, no more than fit --memory-mb)",
    )
    p.add_argument(
        "--memory-mb",
        type=float,
        default=MEMORY_BUDGET_MB,
        help="otel: memory for the whole import, all processes together, that the default "
        "number of workers keeps within (default %(default)g)",
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(handler=_import)
