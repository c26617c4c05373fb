"""``import_export``: one vendor export into one dataset folder (``analytics import``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analytics.core.errors import DataError
from analytics.importers.deployments import read_github, read_gitlab
from analytics.importers.incidents import read_jira, read_opsgenie, read_pagerduty
from analytics.importers.mapping import SOURCES, Mapping, load_mapping, section
from analytics.importers.records import Parsed
from analytics.importers.report import ImportReport, findings_by_code
from analytics.importers.store import commit, read_log, read_table, updated_log

MAPPING_FILE = "mapping.yaml"


def _read(source: str, given: str, mapping: Mapping, mapping_path: Path) -> Parsed:
    sec: Any = section(mapping, source, mapping_path)  # the source's own section model
    if source == "mlflow":
        from analytics.importers.mlflow_runs import read_mlflow  # MLflow loads slowly

        return read_mlflow(given, sec)
    path = Path(given)
    if not path.is_file():
        raise DataError(f"{source} export {path}: no such file")
    if source == "github":
        return read_github(path, sec)
    if source == "gitlab":
        return read_gitlab(path, sec)
    readers = {"pagerduty": read_pagerduty, "opsgenie": read_opsgenie, "jira": read_jira}
    return readers[source](path, sec, mapping)


def _mapping_path(into: Path, mapping: str | Path | None) -> Path:
    if mapping is not None:
        return Path(mapping)
    default = into / MAPPING_FILE
    if default.is_file():
        return default
    raise DataError(f"no mapping: pass --mapping FILE or put {MAPPING_FILE} in {into}")


def import_export(
    source: str, given: str, into: str | Path, mapping: str | Path | None = None
) -> ImportReport:
    """Import the export ``given`` of ``source`` into the dataset folder ``into`` (created when
    missing) and report; structural problems raise ``DataError``."""
    if source not in SOURCES:
        raise DataError(f"unknown source {source!r}: use one of {', '.join(SOURCES)}")
    folder = Path(into)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"dataset folder {folder} is not a folder")
    mapping_path = _mapping_path(folder, mapping)
    loaded, mapping_sha = load_mapping(mapping_path)
    parsed = _read(source, given, loaded, mapping_path)
    tables = {name: read_table(folder, name) for name in parsed.tables}
    seen: set[tuple[str, tuple[str, ...]]] = set()
    written = repeated = unchanged = 0
    for record in parsed.records:
        if record.key() in seen:
            repeated += 1
            continue
        seen.add(record.key())
        outcomes = [tables[t].put(row) for t, rows in record.rows.items() for row in rows]
        if any(o != "unchanged" for o in outcomes):
            written += 1
        else:
            unchanged += 1
    log = updated_log(read_log(folder) if folder.is_dir() else {}, parsed, mapping_sha)
    quality = commit(folder, tables, log)
    report = ImportReport(
        source=source,
        file=parsed.file,
        dataset=str(folder),
        mapping=str(mapping_path),
        mapping_sha256=mapping_sha,
        read=parsed.read,
        written=written,
        repeated=repeated,
        unchanged=unchanged,
        rejected=parsed.rejected,
        tables={
            t.name: {k: t.counts[k] for k in ("inserted", "updated", "unchanged")}
            for t in tables.values()
        },
        changed=quality is not None,
        findings=findings_by_code(quality, parsed.tables),
    )
    if not report.balanced:  # a bug, not bad input: never report an unbalanced import as done
        raise RuntimeError(report.reconciliation())
    return report
