"""Writing imported telemetry into a dataset folder: partitioned by UTC day, atomically, and
idempotently; and the import report with its reconciliation line.

Layout (what ``load_dataset`` reads, docs/data-contract.md): ``DATASET/telemetry/day=YYYY-MM-DD/
KEY+CCCCC-SSSS.parquet``, one part per day and batch of the import (chunk ``C`` of the file,
batch ``S`` of the chunk: the same file gives the same parts). The key is the source and the
export's file name (``otel-traces-2026-10-02``, or ``--key``): importing the same file again
replaces everything that key wrote, on every day, so a re-import never doubles a case and a
corrected export replaces the old one. ``telemetry/_imports/KEY.json`` is the key's import
report and ``KEY.rejected.jsonl`` lists every rejected record (the loader skips names
starting with ``_``).

Atomic: the new ``telemetry/`` is built beside the old one (``DATASET/.telemetry.import-*``,
unchanged files hard-linked, this key's files left out), the batches are written into it as
they come (memory holds one batch per process), and only then is the folder renamed into
place. Any error removes the new folder and leaves the dataset as it
was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from analytics.core.errors import DataError
from analytics.importers.store import folder_mode, link_tree, swap_folder

TELEMETRY_DIR = "telemetry"
IMPORTS_DIR = "_imports"
MAX_EXAMPLES = 20  # rejected records listed per reason in the report (the .jsonl lists all)
_ZSTD_LEVEL = 1


def import_key(source: str, file: Path, key: str | None = None) -> str:
    """The import key: ``SOURCE-<file name without extension>`` (or ``key``), made safe as a
    file name."""
    stem = key if key is not None else file.name.split(".")[0] or file.name
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "export"
    return safe if key is not None else f"{source}-{safe}"


@dataclass
class TelemetryImportReport:
    """What an import read, wrote and rejected (``read = written + rejected + not cases``)."""

    source: str
    files: list[str]
    dataset: str
    mapping: str
    mapping_sha256: str
    key: str
    location: str  # how records are located: "line" or "offset"
    read: int = 0
    written: int = 0
    not_cases: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    by_column: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    unknown_releases: list[str] = field(default_factory=list)

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def balanced(self) -> bool:
        return self.read == self.written + self.n_rejected + self.not_cases

    def reconciliation(self) -> str:
        verdict = "ok" if self.balanced else "MISMATCH"
        return (
            f"reconciliation {self.source} ({', '.join(self.files)}): read {self.read} = "
            f"written {self.written} + rejected {self.n_rejected} + not cases "
            f"{self.not_cases}: {verdict}"
        )

    def reject(self, records: list[dict[str, Any]]) -> None:
        for rec in records:
            self.rejected[rec["reason"]] += 1
            self.by_column[f"{rec['reason']}.{rec.get('column') or '-'}"] += 1
            if self.rejected[rec["reason"]] <= MAX_EXAMPLES:
                self.examples.append(rec)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "files": self.files,
            "dataset": self.dataset,
            "key": self.key,
            "mapping": {"file": self.mapping, "sha256": self.mapping_sha256},
            "records": {
                "read": self.read,
                "written": self.written,
                "rejected": self.n_rejected,
                "not_cases": self.not_cases,
            },
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "rejected_by_reason_and_column": dict(sorted(self.by_column.items())),
            "rejected_examples": sorted(self.examples, key=_order),
            "days": self.days,
            "releases_not_in_dataset": self.unknown_releases,
            "reconciliation": {"line": self.reconciliation(), "balanced": self.balanced},
        }

    def to_text(self) -> str:
        lines = [
            f"import {self.source} from {', '.join(self.files)} into {self.dataset} "
            f"(key {self.key})",
            f"mapping {self.mapping} (sha256 {self.mapping_sha256[:12]})",
            f"records read: {self.read}",
            f"cases written: {self.written} on {len(self.days)} day(s)"
            + (f" ({self.days[0]} .. {self.days[-1]})" if self.days else ""),
            f"records that are not cases: {self.not_cases}",
            f"records rejected: {self.n_rejected}",
        ]
        for reason, n in sorted(self.rejected.items()):
            lines.append(f"  {reason}: {n}")
            for ex in sorted((e for e in self.examples if e["reason"] == reason), key=_order):
                lines.append(f"    {describe(ex)}")
            if n > MAX_EXAMPLES:
                lines.append(
                    f"    ... {n - MAX_EXAMPLES} more (telemetry/{IMPORTS_DIR}/"
                    f"{self.key}.rejected.jsonl lists all)"
                )
        if self.unknown_releases:
            shown = ", ".join(self.unknown_releases[:10])
            lines.append(
                f"note: release(s) not in the dataset's releases table: {shown}"
                + (" ..." if len(self.unknown_releases) > 10 else "")
                + " (their cases are left out until the releases are imported)"
            )
        lines.append(self.reconciliation())
        return "\n".join(lines) + "\n"


def _order(rec: dict[str, Any]) -> tuple[int, int]:
    return rec["at"], rec.get("span") or 0


def describe(rec: dict[str, Any]) -> str:
    """``file:line 12 span 3 (id ...): reason column 'x' = 'v'`` for one rejected record."""
    where = f"{rec['file']} {rec['location']} {rec['at']}"
    if rec.get("span"):
        where += f" span {rec['span']}"
    if rec.get("source_id"):
        where += f" (id {rec['source_id']})"
    what = rec["reason"]
    if rec.get("column"):
        what += f" column '{rec['column']}'"
    if rec.get("value") is not None:
        what += f" = {rec['value']!r}"
    if rec.get("message"):
        what += f": {rec['message']}"
    return f"{where}: {what}"


class PartWriter:
    """Writes one import's cases as Parquet parts, one per batch and UTC day:
    ``FOLDER/day=YYYY-MM-DD/KEY+CCCCC-SSSS.parquet`` (chunk ``C`` of the file, batch ``S``), and
    its rejected records as JSON lines. Worker processes each write their own chunk's."""

    def __init__(self, folder: Path, key: str, chunk: int, rejected: Path) -> None:
        self.folder = folder
        self.key = key
        self.chunk = chunk
        self.seq = 0
        self.days: set[str] = set()
        self.rejected_path = rejected
        self._rejected = rejected.open("w", encoding="utf-8")

    def write_cases(self, cases: pl.DataFrame) -> None:
        if cases.height == 0:
            return
        days = cases.with_columns(pl.col("ts").dt.date().alias("_day"))
        name = f"{self.key}+{self.chunk:05d}-{self.seq:04d}.parquet"
        self.seq += 1
        for (day,), part in days.partition_by("_day", as_dict=True, include_key=False).items():
            folder = self.folder / f"day={day}"
            folder.mkdir(parents=True, exist_ok=True)
            part.write_parquet(folder / name, compression="zstd", compression_level=_ZSTD_LEVEL)
            self.days.add(str(day))

    def write_rejected(self, records: list[dict[str, Any]]) -> None:
        for rec in records:
            self._rejected.write(json.dumps(rec, allow_nan=False) + "\n")

    def close(self) -> None:
        if not self._rejected.closed:
            self._rejected.close()


class TelemetryStore(PartWriter):
    """The new ``telemetry/`` folder of one import, built beside the old one (module docstring),
    and the writer of its first chunk. Use as a context manager: ``commit()`` swaps it in;
    leaving without commit removes it."""

    def __init__(self, dataset: Path, key: str) -> None:
        for name in ("telemetry.parquet", "telemetry.csv"):
            if (dataset / name).exists():
                raise DataError(
                    f"dataset {dataset} has {name}; the import writes the folder "
                    f"{TELEMETRY_DIR}/ (day partitions): move {name} into {TELEMETRY_DIR}/ "
                    "first (a folder may hold any number of Parquet files)"
                )
        if dataset.exists() and not dataset.is_dir():
            raise DataError(f"dataset {dataset} is not a folder")
        self.created = not dataset.exists()  # removed again if the import does not commit
        dataset.mkdir(parents=True, exist_ok=True)
        self.dataset = dataset
        new = Path(tempfile.mkdtemp(prefix=f".{TELEMETRY_DIR}.import-", dir=dataset))
        self.new = new
        old = dataset / TELEMETRY_DIR
        if old.is_dir():
            link_tree(old, new, lambda rel: _written_by(key, rel))
        (new / IMPORTS_DIR).mkdir(exist_ok=True)
        super().__init__(new, key, 0, new / IMPORTS_DIR / f"{key}.rejected.jsonl")

    def __enter__(self) -> TelemetryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        if self.new.exists():
            shutil.rmtree(self.new, ignore_errors=True)
            if self.created:  # a failed import into a new folder leaves no empty folder
                try:
                    self.dataset.rmdir()
                except OSError:
                    pass

    def chunk_writer(self, chunk: int) -> PartWriter:
        """The writer of another chunk (in a worker process)."""
        path = self.new / IMPORTS_DIR / f".{self.key}+{chunk:05d}.rejected.jsonl"
        return PartWriter(self.new, self.key, chunk, path)

    def commit(self, report: TelemetryImportReport) -> Path:
        """Write the report and swap the new folder in. Returns the telemetry folder."""
        self.close()
        (self.new / IMPORTS_DIR / f"{self.key}.json").write_text(
            json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        target = self.dataset / TELEMETRY_DIR
        _swap(self.new, target)
        return target


def _written_by(key: str, rel: Path) -> bool:
    """Whether a file of the old folder was written by the import ``key``."""
    if rel.parts[0] == IMPORTS_DIR:
        return rel.name in (f"{key}.json", f"{key}.rejected.jsonl")
    return rel.name.startswith(f"{key}+") and rel.suffix == ".parquet"


def _swap(new: Path, target: Path) -> None:
    os.chmod(new, folder_mode(target))
    swap_folder(new, target)


def releases_in_dataset(dataset: Path) -> set[str] | None:
    """The release ids of the dataset's releases table (None when it has none), for the
    report's note on cases whose release is not (yet) there."""
    for ext in ("csv", "parquet"):
        path = dataset / f"releases.{ext}"
        if path.is_file():
            try:
                lf = (
                    pl.scan_csv(path, infer_schema=False) if ext == "csv" else pl.scan_parquet(path)
                )
                ids = lf.select(pl.col("release_id").cast(pl.String).str.strip_chars()).collect()
            except Exception:  # noqa: BLE001 - a broken releases table is load_dataset's to report
                return None
            return set(ids["release_id"].drop_nulls().to_list())
    return None
