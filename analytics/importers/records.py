"""What a source reader hands to the writer: the records it read, each with the contract rows it
gives, and the records it rejected, each located by file and line or record index and id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analytics.core.errors import DataError

# The key of each table the importers write: a row with the same key is the same row (upsert).
KEYS: dict[str, tuple[str, ...]] = {
    "releases": ("release_id",),
    "incidents": ("incident_id",),
    "evidence": ("release_id", "item"),
    "gates": ("release_id", "gate", "metric"),
}


@dataclass(frozen=True)
class Location:
    """Where a record sits in its export: the file, and a CSV line or a JSON position, and the
    vendor's id of the record where it has one."""

    file: str
    line: int | None = None
    position: str | None = None
    record_id: str | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.position is not None:
            parts.append(self.position)
        if self.record_id is not None:
            parts.append(f"id '{self.record_id}'")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "position": self.position,
            "id": self.record_id,
        }


@dataclass(frozen=True)
class Rejection:
    where: Location
    reason: str  # a short code: missing_value, unmapped_value, invalid_timestamp, ...
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {**self.where.to_dict(), "reason": self.reason, "message": self.message}


@dataclass(frozen=True)
class Record:
    """One vendor record that maps: its rows per table (text cells, contract column names)."""

    where: Location
    rows: dict[str, list[dict[str, str]]]

    def key(self) -> tuple[str, tuple[str, ...]]:
        table, rows = next(iter(self.rows.items()))
        return table, tuple(rows[0].get(c, "") for c in KEYS[table])


@dataclass
class Parsed:
    """Everything one source reader read from one export."""

    source: str
    file: str
    fingerprint: str
    tables: tuple[str, ...]
    records: list[Record] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.records) + len(self.rejected)

    def reject(self, where: Location, reason: str, message: str) -> None:
        self.rejected.append(Rejection(where, reason, message))


class Problem(Exception):
    """A record cannot be mapped; ``reason`` is the rejection code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def file_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{what} export {path}: cannot be read ({exc.strerror or exc})") from exc


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_json(path: Path, what: str) -> tuple[Any, str]:
    """The parsed JSON and the file's fingerprint; an unreadable file or invalid JSON is a
    ``DataError`` naming the file (and the line and column of a syntax error)."""
    data = file_bytes(path, what)
    try:
        return json.loads(data.decode("utf-8-sig")), fingerprint(data)
    except UnicodeDecodeError as exc:
        raise DataError(f"{what} export {path}: not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{what} export {path}: not valid JSON at line {exc.lineno}, column {exc.colno} "
            f"({exc.msg})"
        ) from exc


def wrong_type(path: Path, what: str, expected: str) -> DataError:
    return DataError(f"{path}: not a {what} export: expected {expected}")


def need(found: tuple[str | None, str | None], column: str) -> str:
    """The value from ``fields.apply``/``apply_time``/``fill_template``, or a ``Problem`` naming
    the contract column it was for."""
    value, why = found
    if value is None:
        reason, _, message = (why or "missing_value: no value").partition(": ")
        raise Problem(reason, f"{column}: {message}")
    return value


def allowed(value: str, column: str, values: tuple[str, ...]) -> str:
    if value not in values:
        raise Problem("unmapped_value", f"{column}: {value!r} is not one of {', '.join(values)}")
    return value


def optional(found: tuple[str | None, str | None], column: str) -> str:
    """An optional column: nothing found or nothing matched leaves it empty; a value that is
    there but is not a timestamp still rejects the record."""
    value, why = found
    if value is None and why is not None and why.startswith("invalid_timestamp"):
        return need(found, column)
    return value or ""
