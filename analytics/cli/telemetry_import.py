"""``analytics import-telemetry otel|langfuse``: LLM telemetry from where it already lives
(OpenTelemetry GenAI spans, Langfuse exports) into ``DATASET/telemetry/``, partitioned by UTC
day (docs/telemetry-import.md).

Every record read is written or rejected with its reason, file and line (or byte offset); the
report ends with the reconciliation line ``read = written + rejected + not cases``. Importing
the same file again replaces what it wrote before (the import key is the file name, or
``--key``). Exit 0 (rejected records are findings, not failures); 2 a file of another kind, a
bad mapping, a dataset whose telemetry is a single file; 3 a reconciliation that does not
balance (a bug).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from analytics.importers.langfuse import import_langfuse
from analytics.importers.otel import import_otel


def _mapping(args: argparse.Namespace) -> Path:
    return Path(args.mapping) if args.mapping else Path(args.into) / "mapping.yaml"


def _run(args: argparse.Namespace) -> int:
    mapping = _mapping(args)
    if args.source == "otel":
        reports = [
            import_otel(f, args.into, mapping, args.key, workers=args.workers) for f in args.files
        ]
    else:
        reports = [import_langfuse(args.files, args.into, mapping, args.key)]
    if args.format == "json":
        out = [r.to_dict() for r in reports]
        sys.stdout.write(json.dumps(out[0] if len(out) == 1 else out, indent=2) + "\n")
    else:
        sys.stdout.write("".join(r.to_text() for r in reports))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-telemetry",
        help="import OpenTelemetry GenAI spans or a Langfuse export into DATASET/telemetry/ "
        "(docs/telemetry-import.md)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", choices=["otel", "langfuse"])
    p.add_argument(
        "--from",
        dest="files",
        nargs="+",
        required=True,
        metavar="FILE",
        help="otel: OTLP JSON lines or protobuf files (each its own import); langfuse: the "
        "export's observations file plus, if needed, its traces and scores files",
    )
    p.add_argument("--into", required=True, metavar="DATASET", help="dataset folder")
    p.add_argument("--mapping", help="mapping.yaml (default: DATASET/mapping.yaml)")
    p.add_argument("--key", help="import key (default: source and file name)")
    p.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="otel JSON lines: processes converting 64 MB chunks (default: cores, at most 4)",
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(handler=_run)
