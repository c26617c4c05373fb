"""Data-quality findings: every row-level problem, named by table, row and column, and counted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal


@dataclass(frozen=True)
class Finding:
    """One data-quality problem.

    ``row`` is the 1-based data row in the file (for Parquet, the row's position); ``line`` is the
    physical CSV line where the record starts (the header is line 1; a quoted field with a line
    break makes a record span several lines), absent for Parquet; ``record_id`` is the row's id
    where the table has one (release_id, incident_id); ``file`` names the file, relative to the
    dataset folder, where a table is read from several (telemetry: ``telemetry/part-1.parquet``,
    and then ``row`` counts within that file).
    """

    table: str
    code: str
    message: str
    row: int | None = None
    line: int | None = None
    record_id: str | None = None
    column: str | None = None
    severity: Literal["error", "warning"] = "error"
    file: str | None = None

    def where(self) -> str:
        parts = [f"table '{self.table}'"]
        if self.file is not None:
            parts.append(f"file '{self.file}'")
        if self.line is not None:
            parts.append(f"line {self.line}")
        elif self.row is not None:
            parts.append(f"row {self.row}")
        if self.record_id is not None:
            parts.append(f"id '{self.record_id}'")
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"{self.where()}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "file": self.file,
            "row": self.row,
            "line": self.line,
            "id": self.record_id,
            "column": self.column,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
        }


@dataclass(frozen=True)
class DataQuality:
    """All findings of a dataset and the counts that make totals reconcile.

    For every table: ``rows_read[t] == rows_loaded[t] + sum(rows_excluded[t].values())``.
    ``values_excluded["table.column"]`` counts single values left out (set to null) while the
    rest of their row was kept.
    """

    findings: tuple[Finding, ...] = ()
    rows_read: Mapping[str, int] = field(default_factory=dict)
    rows_loaded: Mapping[str, int] = field(default_factory=dict)
    rows_excluded: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    values_excluded: Mapping[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    def with_findings(self, extra: Iterable[Finding]) -> DataQuality:
        return replace(self, findings=(*self.findings, *extra))

    def reconciles(self) -> bool:
        return all(
            self.rows_read[t]
            == self.rows_loaded.get(t, 0) + sum(self.rows_excluded.get(t, {}).values())
            for t in self.rows_read
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "errors": [f.to_dict() for f in self.errors],
            "warnings": [f.to_dict() for f in self.warnings],
            "rows_read": dict(self.rows_read),
            "rows_loaded": dict(self.rows_loaded),
            "rows_excluded": {t: dict(v) for t, v in self.rows_excluded.items()},
            "values_excluded": dict(self.values_excluded),
        }
