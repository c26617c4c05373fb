"""Writing imported rows into a dataset folder: upsert by key, then an atomic replace.

The tables the import writes are read from the folder's CSV files (a Parquet file for such a
table is a structural error: the import writes CSV). A row whose key (``records.KEYS``) is already
there is updated in place, its other columns kept; a new row is appended. When anything changed,
the new folder is built beside the old one (``.NAME.import-*`` in the same parent: untouched files
hard-linked, or copied where links are not possible), loaded with ``load_dataset`` (a structural
error stops the import and leaves the folder as it was), and renamed into place. When nothing
changed the folder is not touched, so re-importing the same export changes nothing.

``import_log.json`` records, per source, the export's file name and fingerprint, the mapping's
fingerprint and the tables it wrote, and per table the sources that wrote it; no clock time, so
an identical re-import leaves it identical.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analytics.core.errors import DataError
from analytics.core.quality import DataQuality
from analytics.core.schemas import ALL_TABLES
from analytics.data.io import load_dataset
from analytics.importers.records import KEYS, Parsed

IMPORT_LOG = "import_log.json"
LOG_FORMAT = 1


@dataclass
class Table:
    """One table's rows as text, indexed by key."""

    name: str
    header: list[str]
    rows: list[dict[str, str]]
    existed: bool
    index: dict[tuple[str, ...], int] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for i, row in enumerate(self.rows):
            self.index.setdefault(self._key(row), i)

    def _key(self, row: dict[str, str]) -> tuple[str, ...]:
        return tuple(row.get(c, "") for c in KEYS[self.name])

    @property
    def changed(self) -> bool:
        return bool(self.counts["inserted"] or self.counts["updated"])

    def put(self, row: dict[str, str]) -> str:
        """Upsert ``row``: 'inserted', 'updated' or 'unchanged'."""
        row = {k: " ".join(v.splitlines()) for k, v in row.items()}
        for column in row:
            if column not in self.header:
                self.header.append(column)
        key = self._key(row)
        if key in self.index:
            old = self.rows[self.index[key]]
            new = {**old, **row}
            outcome = "unchanged" if new == old else "updated"
            self.rows[self.index[key]] = new
        else:
            self.index[key] = len(self.rows)
            self.rows.append(row)
            outcome = "inserted"
        self.counts[outcome] += 1
        return outcome

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, self.header, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()


def read_table(folder: Path, name: str) -> Table:
    parquet, path = folder / f"{name}.parquet", folder / f"{name}.csv"
    if parquet.exists():
        raise DataError(
            f"table '{name}': {parquet} is Parquet; the import writes {name}.csv (convert the "
            "table to CSV or import into another folder)"
        )
    if not path.exists():
        return Table(name, [c.name for c in ALL_TABLES[name].columns], [], existed=False)
    try:
        text = path.read_text(encoding="utf-8-sig")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = [{k: v or "" for k, v in r.items() if k is not None} for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"table '{name}': {path} cannot be read for the import ({exc})") from exc
    return Table(name, list(reader.fieldnames or []), rows, existed=True)


def read_log(folder: Path) -> dict[str, Any]:
    path = folder / IMPORT_LOG
    if not path.exists():
        return {"format": LOG_FORMAT, "sources": {}, "tables": {}}
    try:
        log = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from exc
    if not isinstance(log, dict) or log.get("format") != LOG_FORMAT:
        raise DataError(f"{path}: not an import log of format {LOG_FORMAT}")
    return log


def updated_log(log: dict[str, Any], parsed: Parsed, mapping_sha: str) -> dict[str, Any]:
    sources = dict(log.get("sources", {}))
    sources[parsed.source] = {
        "file": parsed.file,
        "sha256": parsed.fingerprint,
        "mapping_sha256": mapping_sha,
        "tables": list(parsed.tables),
    }
    tables = {t: list(s) for t, s in log.get("tables", {}).items()}
    for table in parsed.tables:
        tables[table] = sorted({*tables.get(table, []), parsed.source})
    return {"format": LOG_FORMAT, "sources": sources, "tables": tables}


def _dump_log(log: dict[str, Any]) -> str:
    return json.dumps(log, indent=2, sort_keys=True) + "\n"


def link_tree(src: Path, dst: Path, skip: Callable[[Path], bool]) -> None:
    """Hard-link (else copy, where links are not possible) every file under ``src`` into
    ``dst`` at the same relative path, except those whose path relative to ``src`` ``skip``
    names (a folder ``skip`` names is left out whole). Symbolic links are made again as links.
    A folder is made when something goes in it, or when it was empty in ``src`` too (a folder
    all of whose files are skipped is not made)."""
    for root, dirs, names in os.walk(src):
        base = Path(root)
        here = base.relative_to(src)
        if not dirs and not names:
            (dst / here).mkdir(parents=True, exist_ok=True)
        links = [d for d in dirs if (base / d).is_symlink()]
        dirs[:] = sorted(d for d in dirs if d not in links and not skip(here / d))
        for name in sorted([*names, *links]):
            if skip(here / name):
                continue
            entry, target = base / name, dst / here / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if entry.is_symlink():
                os.symlink(os.readlink(entry), target)
                continue
            try:
                os.link(entry, target)
            except OSError:
                shutil.copy2(entry, target)


def swap_folder(tmp: Path, folder: Path) -> None:
    """Put the finished folder ``tmp`` in place of ``folder`` by renames (the old one moved
    aside first and put back if the second rename fails), then delete the old one."""
    if not folder.exists():
        os.rename(tmp, folder)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{folder.name}.replaced-", dir=folder.parent))
    backup.rmdir()
    os.rename(folder, backup)
    try:
        os.rename(tmp, folder)
    except OSError:
        os.rename(backup, folder)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def umask() -> int:
    """The process's umask (read by setting it and putting it back: there is no getter)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def folder_mode(folder: Path) -> int:
    """The permissions for a folder built to replace ``folder``: the old folder's, or the
    umask's default for a new one (``mkdtemp`` makes its folder private)."""
    if folder.is_dir():
        return stat.S_IMODE(folder.stat().st_mode)
    return 0o777 & ~umask()


def _needs_releases(folder: Path, tables: dict[str, Table]) -> bool:
    if "releases" in tables:
        return False
    return not any((folder / f"releases.{ext}").exists() for ext in ("csv", "parquet"))


def commit(folder: Path, tables: dict[str, Table], log: dict[str, Any]) -> DataQuality | None:
    """Write the changed tables and the log into ``folder`` atomically and return the new
    folder's data quality; None (and nothing touched) when nothing would change."""
    old_log = read_log(folder) if folder.is_dir() else None
    writes = {f"{t.name}.csv": t.to_csv() for t in tables.values() if t.changed or not t.existed}
    if _needs_releases(folder, tables):
        writes["releases.csv"] = read_table(folder, "releases").to_csv()
    if old_log == log and not any(t.changed for t in tables.values()) and not writes:
        return None
    writes[IMPORT_LOG] = _dump_log(log)
    parent = folder.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.import-", dir=parent))
    try:
        os.chmod(tmp, folder_mode(folder))
        if folder.is_dir():
            link_tree(folder, tmp, lambda rel: rel.as_posix() in writes)
        for name, text in writes.items():
            (tmp / name).write_text(text, encoding="utf-8")
        try:
            quality = load_dataset(tmp).quality
        except DataError as exc:
            why = f"the imported dataset would not load, {folder} is unchanged: {exc}"
            raise DataError(why) from exc
        swap_folder(tmp, folder)
        return quality
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
