"""Databases as a dataset source and as an export target (docs/database.md).

``--data postgresql://user:pw@host:port/db[?schema=s]`` or ``--data duckdb:///path/file.db``
reads the contract tables (table name = contract table name) straight from a database: each
table present is streamed into a private temporary dataset folder as Parquet and that folder is
loaded by ``analytics.data.io.load_dataset``, so a database gets exactly the validation and the
findings of a folder of Parquet files (a finding's row is the row's place in the table's
physical order). Messages name ``<masked-uri>#<table>`` instead of the temporary file; the
password is never shown (``mask_uri``). The folder is removed when the process ends (the
telemetry is scanned lazily from it).

``open_database`` also writes: ``replace_rows`` replaces the rows of one ``as_of`` in a table
(creating it when missing), which is how ``analytics export`` writes to a database.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import polars as pl

from analytics.core.errors import DataError
from analytics.core.policy import Policy
from analytics.core.quality import DataQuality
from analytics.core.schemas import ALL_TABLES, SMALL_TABLES
from analytics.data.io import Dataset, load_dataset

SCHEMES = {"postgresql": "postgresql", "postgres": "postgresql", "duckdb": "duckdb"}
MASK = "***"
# Column types read as they are (normalised: lower case, without "(...)"); a column of any
# other type (numeric/decimal, date, uuid, json, an enum type, ...) is read as its text.
NATIVE_TYPES = frozenset(
    {
        "text", "character varying", "character", "varchar", "char", "bpchar", "string",
        "boolean", "bool", "tinyint", "smallint", "integer", "int", "bigint",
        "real", "double precision", "double", "float",
        "timestamp with time zone", "timestamp without time zone", "timestamp",
    }
)  # fmt: skip


def is_database_uri(text: str | Path) -> bool:
    """Whether ``--data`` names a database (``postgresql://``, ``postgres://``, ``duckdb://``)."""
    scheme, sep, _ = str(text).partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def mask_uri(uri: str) -> str:
    """``uri`` with its password (user info or a ``password=`` parameter) replaced by ***; the
    rest of the text unchanged."""
    scheme, sep, rest = uri.partition("://")
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:end], rest[end:]
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:{MASK}@{host}"
    tail = re.sub(r"(?i)([?&]password=)[^&#]*", rf"\1{MASK}", tail)
    return f"{scheme}{sep}{netloc}{tail}"


@dataclass(frozen=True)
class DatabaseUri:
    """A parsed database URI: ``target`` is what the driver gets (the PostgreSQL URI without
    ``schema``, or the DuckDB file path), ``masked`` what messages show."""

    kind: str
    target: str
    schema: str | None
    masked: str
    secrets: tuple[str, ...]

    def label(self, table: str) -> str:
        return f"{self.masked}#{table}"

    def scrub(self, text: object) -> str:
        """``text`` (a driver's message) with the URI and any secret masked."""
        out = str(text).strip()
        for secret in self.secrets:
            out = out.replace(secret, MASK)
        return out


def parse_uri(uri: str) -> DatabaseUri:
    """Parse a ``postgresql://`` or ``duckdb://`` URI (``duckdb:///abs/file.db``,
    ``duckdb://relative/file.db``). ``?schema=NAME`` selects the schema (both kinds); for
    PostgreSQL every other parameter goes to libpq."""
    scheme, _, rest = uri.partition("://")
    kind = SCHEMES[scheme.lower()]
    parts = urlsplit(uri)
    params = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in params if k == "schema"), None) or None
    kept = urlencode([(k, v) for k, v in params if k != "schema"])
    given = (parts.password, *(v for k, v in params if k.lower() == "password"))
    secrets = tuple({t for s in given if s for t in (s, unquote(s))})
    masked = mask_uri(uri)
    if kind == "duckdb":
        target = rest.partition("?")[0]
        if not target:
            raise DataError(f"database {masked}: no DuckDB file named (duckdb:///path/file.db)")
    else:
        target = urlunsplit(parts._replace(query=kept))
    return DatabaseUri(kind, target, schema, masked, secrets)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _native(data_type: str) -> bool:
    return data_type.lower().split("(")[0].strip() in NATIVE_TYPES


class _Database:
    """An open database: the contract's reads and the export's writes, in SQL common to
    PostgreSQL and DuckDB; the subclasses connect, run statements and bulk-insert Arrow data."""

    errors: tuple[type[BaseException], ...] = ()
    order_by = ""  # the physical row order, where SELECT does not keep it by itself

    def __init__(self, db: DatabaseUri, conn: Any) -> None:
        self.db = db
        self.conn = conn
        try:
            self.schema = db.schema or str(self._scalar("SELECT current_schema()"))
        except self.errors as exc:
            self.close()
            raise DataError(f"database {db.masked}: {db.scrub(exc)}") from None

    # -- backend hooks
    def _arrow(self, sql: str) -> Any:  # a pyarrow RecordBatchReader
        raise NotImplementedError

    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def _ingest(self, table: str, data: Any, create: bool) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()

    # -- common SQL
    def _rows(self, sql: str) -> list[dict[str, Any]]:
        return self._arrow(sql).read_all().to_pylist()

    def _scalar(self, sql: str) -> Any:
        return next(iter(self._rows(sql)[0].values()))

    def qualified(self, table: str) -> str:
        return f"{_ident(self.schema)}.{_ident(table)}"

    def tables(self) -> set[str]:
        """The tables and views of the schema."""
        rows = self._rows(
            "SELECT table_name FROM information_schema.tables "
            f"WHERE table_schema = {_literal(self.schema)}"
        )
        return {r["table_name"] for r in rows}

    def read(self, table: str) -> Any:
        """The rows of ``table`` as a RecordBatchReader, columns in their declared order, each
        either of a native type or cast to text."""
        cols = self._rows(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = {_literal(self.schema)} AND table_name = {_literal(table)} "
            "ORDER BY ordinal_position"
        )
        select = ", ".join(
            _ident(c["column_name"])
            if _native(c["data_type"])
            else f"CAST({_ident(c['column_name'])} AS TEXT) AS {_ident(c['column_name'])}"
            for c in cols
        )
        return self._arrow(f"SELECT {select or '*'} FROM {self.qualified(table)}{self.order_by}")

    def replace_rows(self, table: str, frame: pl.DataFrame, key: str, value: datetime) -> None:
        """Replace the rows of ``table`` whose ``key`` (a timestamp column) equals ``value`` by
        ``frame``; the table (and schema) are created from ``frame`` when missing."""
        if self.db.schema:
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(self.schema)}")
        data = frame.to_arrow()
        self._ingest(table, data.slice(0, 0), create=True)
        stamp = _literal(value.isoformat())
        self.execute(
            f"DELETE FROM {self.qualified(table)} "
            f"WHERE {_ident(key)} = CAST({stamp} AS TIMESTAMP WITH TIME ZONE)"
        )
        self._ingest(table, data, create=False)


class _Postgres(_Database):
    order_by = " ORDER BY ctid"

    def __init__(self, db: DatabaseUri, write: bool) -> None:
        import adbc_driver_manager
        import adbc_driver_postgresql.dbapi as pg

        self.errors = (adbc_driver_manager.Error,)
        self._cursors: list[Any] = []
        try:
            conn = pg.connect(db.target)
        except self.errors as exc:
            raise DataError(f"cannot connect to database {db.masked}: {db.scrub(exc)}") from None
        super().__init__(db, conn)

    def _arrow(self, sql: str) -> Any:
        cur = self.conn.cursor()
        self._cursors.append(cur)  # the reader needs its cursor open; closed with the connection
        cur.execute(sql)
        return cur.fetch_record_batch()

    def close(self) -> None:
        for cur in self._cursors:
            cur.close()
        self.conn.close()

    def execute(self, sql: str) -> None:
        with self.conn.cursor() as cur:
            cur.execute(sql)

    def _ingest(self, table: str, data: Any, create: bool) -> None:
        with self.conn.cursor() as cur:
            mode = "create_append" if create else "append"
            cur.adbc_ingest(table, data, mode=mode, db_schema_name=self.schema)


class _DuckDB(_Database):
    def __init__(self, db: DatabaseUri, write: bool) -> None:
        import duckdb

        self.errors = (duckdb.Error,)
        path = Path(db.target)
        if not write and not path.is_file():
            raise DataError(f"database {db.masked}: DuckDB file {path} does not exist")
        try:
            conn = duckdb.connect(str(path), read_only=not write)
            conn.execute("SET TimeZone = 'UTC'")
            if write:
                conn.execute("BEGIN TRANSACTION")
        except self.errors as exc:
            raise DataError(f"cannot open database {db.masked}: {db.scrub(exc)}") from None
        super().__init__(db, conn)

    def _arrow(self, sql: str) -> Any:
        return self.conn.sql(sql).to_arrow_reader()

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def _ingest(self, table: str, data: Any, create: bool) -> None:
        self.conn.register("_analytics_frame", data)
        try:
            if create:
                self.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.qualified(table)} AS "
                    "SELECT * FROM _analytics_frame"
                )
            else:
                self.execute(
                    f"INSERT INTO {self.qualified(table)} BY NAME SELECT * FROM _analytics_frame"
                )
        finally:
            self.conn.unregister("_analytics_frame")


@contextmanager
def open_database(uri: str, *, write: bool = False) -> Iterator[_Database]:
    """An open database; a driver error inside the block becomes a ``DataError`` naming the
    masked URI (a write is committed only when the block ends without error)."""
    db = parse_uri(uri)
    backend = _Postgres if db.kind == "postgresql" else _DuckDB
    handle = backend(db, write)
    try:
        yield handle
        if write:
            handle.commit()
    except handle.errors as exc:
        raise DataError(f"database {db.masked}: {db.scrub(exc)}") from None
    finally:
        handle.close()


# ---------------------------------------------------------------- reading a dataset

_KEEP: list[tempfile.TemporaryDirectory] = []  # removed at exit: telemetry is scanned lazily


def _copy_table(handle: _Database, table: str, path: Path) -> None:
    import pyarrow.parquet as pq

    try:
        reader = handle.read(table)
        with pq.ParquetWriter(path, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
    except handle.errors as exc:
        raise DataError(
            f"table '{table}': cannot read {handle.db.label(table)}: {handle.db.scrub(exc)}"
        ) from None


def materialize(uri: str, folder: Path) -> list[str]:
    """Write every contract table present in the database as ``folder/<table>.parquet``;
    return the tables found. A missing required table is a ``DataError``."""
    with open_database(uri) as handle:
        present = sorted(handle.tables() & set(ALL_TABLES))
        for schema in SMALL_TABLES:
            if schema.required_table and schema.name not in present:
                raise DataError(
                    f"table '{schema.name}' is required: no table {schema.name} in "
                    f"{handle.db.masked} (schema {handle.schema})"
                )
        for table in present:
            _copy_table(handle, table, folder / f"{table}.parquet")
    return present


def dataset_folder(uri: str) -> Path:
    """The database's contract tables as a private temporary dataset folder of Parquet files,
    removed when the process ends (for code that reads a folder: the report notebooks)."""
    tmp = tempfile.TemporaryDirectory(prefix="analytics-db-")
    _KEEP.append(tmp)
    folder = Path(tmp.name)
    materialize(uri, folder)
    return folder


def _relabel(text: str, folder: Path, db: DatabaseUri) -> str:
    """A message about the temporary folder, told about the database instead."""
    for table in ALL_TABLES:
        text = text.replace(str(folder / f"{table}.parquet"), db.label(table))
        text = re.sub(rf"\b{table}\.parquet(, line 1)?", db.label(table), text)
    return text.replace(str(folder), db.masked)


def load_database(uri: str, policy: Policy | str | Path | None = None) -> Dataset:
    """Read and validate the contract tables of a database (module docstring). ``policy``:
    as in ``load_dataset``; without it the shipped default (a database holds no policy.yaml)."""
    db = parse_uri(uri)
    folder = dataset_folder(uri)
    try:
        ds = load_dataset(folder, policy)
    except DataError as exc:
        raise DataError(_relabel(str(exc), folder, db)) from None
    findings = tuple(
        replace(
            f,
            message=_relabel(f.message, folder, db),
            file=None if f.file is None else db.label(f.table),
        )
        for f in ds.quality.findings
    )
    quality: DataQuality = replace(ds.quality, findings=findings)
    return replace(ds, quality=quality, source=db.masked)


__all__ = [
    "DatabaseUri",
    "dataset_folder",
    "is_database_uri",
    "load_database",
    "mask_uri",
    "materialize",
    "open_database",
    "parse_uri",
]
