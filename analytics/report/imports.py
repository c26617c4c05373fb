"""What ``analytics import`` recorded about a dataset folder (``import_log.json``, docs/mapping.md),
as the reports' reproducibility footer shows it: per source the export's file and sha256, the
mapping's sha256 and the tables it wrote.

The log keeps no clock time (an identical re-import leaves it identical), so the time shown is
the log file's modification time: when the last import that changed the folder wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analytics.core.errors import DataError
from analytics.importers.store import IMPORT_LOG, read_log


@dataclass(frozen=True)
class ImportedSource:
    """One source of the log: ``source`` (``github``, ``pagerduty``, ...), the export's ``file``
    name and ``sha256``, the mapping's ``mapping_sha256`` and the ``tables`` it wrote."""

    source: str
    file: str
    sha256: str
    mapping_sha256: str
    tables: tuple[str, ...]


@dataclass(frozen=True)
class ImportLog:
    """The import log of a dataset folder. ``written_at``: the file's modification time (UTC).
    ``problem``: why the log could not be read (then ``sources`` is empty), else empty."""

    file: str
    written_at: datetime
    sources: tuple[ImportedSource, ...]
    problem: str = ""


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _source(name: str, entry: Mapping[str, Any]) -> ImportedSource:
    tables = entry.get("tables")
    return ImportedSource(
        source=name,
        file=_text(entry.get("file")),
        sha256=_text(entry.get("sha256")),
        mapping_sha256=_text(entry.get("mapping_sha256")),
        tables=tuple(_text(t) for t in tables) if isinstance(tables, list) else (),
    )


def import_log(folder: str | Path) -> ImportLog | None:
    """The import log of the dataset ``folder``; None when it has none (a folder not written by
    ``analytics import``, a database). A log that cannot be read or is not the importers' format
    is an ``ImportLog`` with its ``problem``: the report still renders and says so."""
    path = Path(folder) / IMPORT_LOG
    if not path.is_file():
        return None
    written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    try:
        log = read_log(Path(folder))
    except DataError as exc:  # shown in the footer, not a reason to withhold the report
        return ImportLog(IMPORT_LOG, written, (), str(exc))
    sources = log.get("sources")
    if not isinstance(sources, dict) or not all(isinstance(e, dict) for e in sources.values()):
        return ImportLog(IMPORT_LOG, written, (), f"{path}: 'sources' is not an object of objects")
    found = tuple(_source(str(name), sources[name]) for name in sorted(sources, key=str))
    return ImportLog(IMPORT_LOG, written, found)


__all__ = ["ImportLog", "ImportedSource", "import_log"]
