"""Writing export tables (docs/database.md): frames that carry an ``as_of`` column, into a folder
(``NAME.parquet`` and ``NAME.csv`` per table) or a database (one SQL table per frame).

Exporting again for the same ``as_of`` replaces that ``as_of``'s rows and keeps every other:
in a folder the Parquet file is the table (read, filtered, rewritten; the CSV file is its copy),
in a database the rows are deleted and inserted in one transaction. Files are written to a
temporary name and renamed, so a reader never sees half a table. This module computes nothing:
``analytics.cli.export`` builds the frames.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import polars as pl

from analytics.core.errors import DataError
from analytics.importers.database import is_database_uri, open_database

KEY = "as_of"
CSV_TIME = "%Y-%m-%dT%H:%M:%S%.f%:z"  # ISO 8601 with offset, as the data contract reads it


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _merged(path: Path, frame: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """The rows of ``path`` for every other ``as_of``, then ``frame``."""
    if not path.is_file():
        return frame
    try:
        old = pl.read_parquet(path)
    except Exception as exc:  # any reader failure: the existing table is not ours to guess
        raise DataError(f"export: cannot read the existing {path}: {exc}") from None
    if old.schema != frame.schema:
        raise DataError(
            f"export: the existing {path} has other columns or types than this export "
            f"({', '.join(old.columns)}); export to a new folder or remove the old table"
        )
    return pl.concat([old.filter(pl.col(KEY) != pl.lit(as_of, dtype=old.schema[KEY])), frame])


def write_folder(frames: Mapping[str, pl.DataFrame], as_of: datetime, folder: Path) -> list[Path]:
    """Write each frame as ``folder/NAME.parquet`` and ``folder/NAME.csv`` (module docstring);
    return the files written."""
    if folder.exists() and not folder.is_dir():
        raise DataError(f"export --to {folder}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"export --to {folder}: cannot create the folder ({exc})") from None
    written = []
    for name, frame in frames.items():
        parquet, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
        table = _merged(parquet, frame, as_of)
        _atomic(parquet, table.write_parquet)
        _atomic(csv, lambda p, t=table: t.write_csv(p, datetime_format=CSV_TIME))
        written += [parquet, csv]
    return written


def write_database(frames: Mapping[str, pl.DataFrame], as_of: datetime, uri: str) -> list[str]:
    """Write each frame into the table NAME of the database (created when missing), replacing
    the rows of ``as_of``; all tables in one transaction. Returns the tables' labels."""
    with open_database(uri, write=True) as db:
        for name, frame in frames.items():
            db.replace_rows(name, frame, KEY, as_of)
        return [db.db.label(name) for name in frames]


def export_tables(frames: Mapping[str, pl.DataFrame], as_of: datetime, to: str) -> list[str]:
    """Write the frames to ``to``, a folder or a database URI; return what was written (paths,
    or ``<masked-uri>#<table>``)."""
    for name, frame in frames.items():
        if KEY not in frame.columns:
            raise ValueError(f"export table {name} has no {KEY} column")
    if is_database_uri(to):
        return write_database(frames, as_of, to)
    return [str(p) for p in write_folder(frames, as_of, Path(to))]


__all__ = ["KEY", "export_tables", "write_database", "write_folder"]
