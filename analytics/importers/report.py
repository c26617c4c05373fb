"""The import report: what was read, written and rejected, and the reconciliation line that
proves nothing was dropped silently: read = written + rejected + duplicates skipped, where a
duplicate is a record repeated in the export (same key as an earlier one) or a record already in
the dataset unchanged."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from analytics.core.quality import DataQuality
from analytics.importers.records import Rejection

MAX_LISTED = 20  # rejections listed per reason in the text report (JSON lists all)


@dataclass
class ImportReport:
    source: str
    file: str
    dataset: str
    mapping: str
    mapping_sha256: str
    read: int
    written: int
    repeated: int
    unchanged: int
    rejected: list[Rejection]
    tables: dict[str, dict[str, int]]
    changed: bool
    findings: dict[str, int] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        return self.repeated + self.unchanged

    @property
    def balanced(self) -> bool:
        return self.read == self.written + len(self.rejected) + self.duplicates

    def reconciliation(self) -> str:
        verdict = "ok" if self.balanced else "MISMATCH"
        return (
            f"reconciliation {self.source} ({self.file}): read {self.read} = written "
            f"{self.written} + rejected {len(self.rejected)} + duplicates skipped "
            f"{self.duplicates} (repeated in the export {self.repeated}, already in the dataset "
            f"unchanged {self.unchanged}): {verdict}"
        )

    def rejected_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(r.reason for r in self.rejected).items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "file": self.file,
            "dataset": self.dataset,
            "mapping": {"file": self.mapping, "sha256": self.mapping_sha256},
            "records": {
                "read": self.read,
                "written": self.written,
                "rejected": len(self.rejected),
                "duplicates_skipped": self.duplicates,
                "repeated_in_export": self.repeated,
                "unchanged_in_dataset": self.unchanged,
            },
            "rows_written": {
                t: c["inserted"] + c["updated"] for t, c in sorted(self.tables.items())
            },
            "tables": {t: dict(c) for t, c in sorted(self.tables.items())},
            "rejected_by_reason": self.rejected_by_reason(),
            "rejected": [r.to_dict() for r in self.rejected],
            "reconciliation": {"line": self.reconciliation(), "balanced": self.balanced},
            "dataset_changed": self.changed,
            "dataset_findings": dict(sorted(self.findings.items())),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def to_text(self) -> str:
        lines = [
            f"import {self.source} from {self.file} into {self.dataset}",
            f"mapping {self.mapping} (sha256 {self.mapping_sha256[:12]})",
            f"records read: {self.read}",
        ]
        for table, c in sorted(self.tables.items()):
            lines.append(
                f"rows written to {table}: {c['inserted'] + c['updated']} "
                f"({c['inserted']} new, {c['updated']} updated, {c['unchanged']} unchanged)"
            )
        lines.append(f"records rejected: {len(self.rejected)}")
        for reason, n in self.rejected_by_reason().items():
            lines.append(f"  {reason}: {n}")
            listed = [r for r in self.rejected if r.reason == reason]
            lines += [f"    {r.where}: {r.message}" for r in listed[:MAX_LISTED]]
            if len(listed) > MAX_LISTED:
                lines.append(f"    ... {len(listed) - MAX_LISTED} more (--format json lists all)")
        lines.append(self.reconciliation())
        if not self.changed:
            lines.append("the dataset is unchanged")
        if self.findings:
            shown = ", ".join(f"{k} {v}" for k, v in sorted(self.findings.items()))
            lines.append(f"dataset findings after the import (analytics validate): {shown}")
        return "\n".join(lines) + "\n"


def findings_by_code(quality: DataQuality | None, tables: tuple[str, ...]) -> dict[str, int]:
    if quality is None:
        return {}
    counts = Counter(f"{f.table}.{f.code}" for f in quality.findings if f.table in tables)
    return dict(counts)
