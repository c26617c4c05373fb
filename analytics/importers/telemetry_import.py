"""The steps every telemetry import shares: batches of raw values become cases and rejected
records (``telemetry_rows``), cases go to the day partitions of the new ``telemetry/`` folder
and rejections to the report (``telemetry_writer``); the reconciliation must balance before the
folder is swapped in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from analytics.importers.telemetry_rows import RawColumns, Times, cases_from_raw, raw_frame
from analytics.importers.telemetry_writer import (
    PartWriter,
    TelemetryImportReport,
    TelemetryStore,
    releases_in_dataset,
)


class UnbalancedImport(RuntimeError):
    """read != written + rejected + not cases: a bug (the command exits 3)."""


class Importer:
    """One import in progress: a report, the new folder, and the rules that type a batch."""

    def __init__(
        self,
        report: TelemetryImportReport,
        store: PartWriter,
        rules: dict[str, Any],
        prices: dict[str, Any],
        file: str,
        times: Times,
    ) -> None:
        self.report = report
        self.store = store
        self.rules = rules
        self.prices = prices
        self.file = file
        self.times = times
        self.releases: set[str] = set()

    def flush(self, batch: RawColumns) -> None:
        """Type, check and write one batch, then empty it."""
        if not len(batch):
            return
        cases, rejected = cases_from_raw(raw_frame(batch), self.rules, self.prices, self.times)
        batch.clear()
        self.store.write_cases(cases)
        self.report.written += cases.height
        self.releases.update(cases["release_id"].unique().to_list())
        self.rejected(rejected)

    def rejected(self, frame: pl.DataFrame) -> None:
        records = [
            {
                "file": self.file,
                "location": self.report.location,
                "at": row["_line"],
                "span": row["_span"],
                "source_id": row["source_id"] or None,
                "reason": row["reason"],
                "column": row["column"],
                "value": row["value"],
            }
            for row in frame.iter_rows(named=True)
        ]
        self.report.reject(records)
        self.store.write_rejected(records)

    def unreadable(self, at: int, reason: str, message: str | None) -> None:
        """A whole line or frame that could not be read: one record read and rejected."""
        self.report.read += 1
        record = {
            "file": self.file,
            "location": self.report.location,
            "at": at,
            "span": None,
            "source_id": None,
            "reason": reason,
            "column": None,
            "value": None,
            "message": message,
        }
        self.report.reject([record])
        self.store.write_rejected([record])

    def commit(self, dataset: Path) -> TelemetryImportReport:
        """Check the reconciliation, note the releases the dataset lacks, swap the folder in."""
        assert isinstance(self.store, TelemetryStore)
        if not self.report.balanced:
            raise UnbalancedImport(self.report.reconciliation())
        known = releases_in_dataset(dataset)
        if known is not None:
            self.report.unknown_releases = sorted(self.releases - known)
        self.report.days = sorted(self.store.days)
        self.store.commit(self.report)
        return self.report
