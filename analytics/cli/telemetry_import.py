"""``analytics import otel|langfuse`` (registered by ``analytics.cli.importers``): LLM telemetry
from where it already lives (OpenTelemetry GenAI spans, Langfuse exports) into
``DATASET/telemetry/``, partitioned by UTC day (docs/telemetry-import.md).

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
import sys
from pathlib import Path

from analytics.importers.langfuse import import_langfuse
from analytics.importers.otel import import_otel
from analytics.importers.workers import import_workers

TELEMETRY_SOURCES = ("otel", "langfuse")


def _mapping(args: argparse.Namespace) -> Path:
    return Path(args.mapping) if args.mapping else Path(args.into) / "mapping.yaml"


def run_telemetry_import(args: argparse.Namespace) -> int:
    """The telemetry sources of ``analytics import``."""
    mapping = _mapping(args)
    if args.source == "otel":
        workers = import_workers(args.workers, args.memory_mb)
        reports = [
            import_otel(f, args.into, mapping, args.key, workers=workers) for f in args.files
        ]
    else:
        reports = [import_langfuse(args.files, args.into, mapping, args.key)]
    if args.format == "json":
        out = [r.to_dict() for r in reports]
        sys.stdout.write(json.dumps(out[0] if len(out) == 1 else out, indent=2) + "\n")
    else:
        sys.stdout.write("".join(r.to_text() for r in reports))
    return 0
