"""Finding a table's file in a dataset folder, checking it before it is opened, and naming the
line of a CSV problem (docs/data-contract.md, bad input).

- Two files for one table (``releases.csv`` and ``releases.parquet``; ``telemetry.parquet``,
  ``telemetry.csv`` or a ``telemetry/`` folder side by side) stop the run: the KPIs must not
  depend on which one is picked.
- A table path that is a broken symbolic link, a link loop, a FIFO, a socket, a device or a
  folder (a folder only for telemetry) stops the run. Checked with ``os.stat`` before anything
  is opened, so a FIFO never blocks; a symbolic link to a regular file is read.
- A CSV file polars cannot read: the line of the problem is found by re-reading the file (the
  error path only): a byte that is not UTF-8 (its line from its byte offset), a UTF-16 file, a
  quoted field never closed or whose closing quote is followed by text (the line where the field
  starts), a record with more fields than the header.

CSV line numbers are physical: the line where a record starts, counting the line breaks inside
quoted fields of the records before it (a BOM or CRLF line ends shift nothing).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from analytics.core.columns import ROW
from analytics.core.errors import DataError
from analytics.core.schemas import TELEMETRY


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_entry(path: Path, table: str, folder_ok: bool = False) -> None:
    """Stop unless ``path`` is a regular file (or, with ``folder_ok``, a folder), without
    opening it: a FIFO is never read (it would block), a broken symbolic link or a link loop
    is not taken for 'table absent'."""
    try:
        mode = os.stat(path).st_mode  # follows links; never opens the file
    except FileNotFoundError:
        target = os.readlink(path) if path.is_symlink() else "?"
        raise DataError(
            f"table '{table}': {path} is a broken symbolic link (its target {target} "
            "does not exist)"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataError(f"table '{table}': {path} is a symbolic link loop") from None
        raise DataError(f"table '{table}': cannot access {path}: {exc.strerror}") from None
    if folder_ok:
        if not stat.S_ISDIR(mode):
            raise DataError(
                f"table '{table}': {path} is {_file_kind(mode)}, not a folder of Parquet files"
            )
    elif not stat.S_ISREG(mode):
        raise DataError(f"table '{table}': {path} is {_file_kind(mode)}, not a regular file")


def find_file(folder: Path, name: str) -> Path | None:
    """The one file (or, for telemetry, folder) of table ``name``; None when there is none.

    Two candidates for one table (``name.csv`` and ``name.parquet``, or ``telemetry.parquet``
    and ``telemetry/``) are ambiguous and stop the run, as does a candidate that is not a
    regular file (a folder only for telemetry), a broken symbolic link or a link loop."""
    candidates = [folder / f"{name}.csv", folder / f"{name}.parquet"]
    if name == TELEMETRY.name:
        candidates.append(folder / name)
    existing = [p for p in candidates if os.path.lexists(p)]
    if len(existing) > 1:
        raise DataError(
            f"table '{name}': ambiguous input, {' and '.join(str(p) for p in existing)} "
            "all exist; keep exactly one"
            if len(existing) > 2
            else f"table '{name}': ambiguous input, both {existing[0]} and {existing[1]} "
            "exist; keep exactly one"
        )
    if not existing:
        return None
    path = existing[0]
    check_entry(path, name, folder_ok=path.suffix == "")
    return path


def physical_lines(text_columns: Sequence[str], header: Sequence[str]) -> pl.Expr:
    """The physical line (1-based, header included) where each record of a CSV starts, from
    its row number ``_row`` and the line breaks inside its quoted fields.

    A quoted field may hold line breaks, so a record can span several lines: the line of
    record k is 2 + the header's embedded line breaks + the records before it + their
    embedded line breaks. Blank lines are records of their own (polars reads them as a row of
    nulls), a BOM or CRLF line ends change nothing. ``text_columns`` are the columns read as
    text, before any stripping."""
    header_breaks = sum(c.count("\n") for c in header)
    if not text_columns:
        return (pl.col(ROW) + 1 + header_breaks).cast(pl.Int64)
    breaks = pl.sum_horizontal(
        [pl.col(c).str.count_matches("\n", literal=True).fill_null(0) for c in text_columns]
    ).cast(pl.Int64)
    return (pl.col(ROW) + 1 + header_breaks + breaks.cum_sum() - breaks).cast(pl.Int64)


_QUOTED = re.compile(r'"[^"]*(?:""[^"]*)*"')  # a quoted CSV field, "" inside it a quote
_UNQUOTED = re.compile(r"[^,\r\n]*")


def _line_at(data: str | bytes, offset: int) -> int:
    """The physical line (1-based) holding ``offset``."""
    if isinstance(data, str):
        return data.count("\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1


def _csv_syntax_problem(text: str) -> tuple[int, str] | None:
    """(offset, what) of the first RFC 4180 problem in ``text``: a quoted field that is never
    closed or whose closing quote is followed by something other than a comma or a line end
    (the offset is where the field starts), or a record with more fields than the header."""
    pos, n = (1 if text.startswith("\ufeff") else 0), len(text)
    header: int | None = None
    record, fields = pos, 0
    while pos < n:
        if text[pos] == '"':
            m = _QUOTED.match(text, pos)
            if m is None:
                return pos, "a quoted field starts on this line and is never closed"
            end = m.end()
            if end < n and text[end] not in ",\r\n":
                close = _line_at(text, end - 1)
                where = "" if close == _line_at(text, pos) else f" (on line {close})"
                return pos, (
                    f"a quoted field starts on this line and its closing quote{where} is "
                    f"followed by {text[end]!r}, not by a comma or a line end (a quote inside a "
                    'quoted field is written "")'
                )
        else:
            end = _UNQUOTED.match(text, pos).end()  # type: ignore[union-attr]
        fields += 1
        pos = end
        if pos < n and text[pos] == ",":
            pos += 1
            if pos < n:
                continue
            fields += 1  # a trailing comma: one more (empty) field
        else:
            pos += 2 if text.startswith("\r\n", pos) else 1
        if header is None:
            header = fields
        elif fields > header:
            return record, f"the record on this line has {fields} fields, the header {header}"
        record, fields = pos, 0
    return None


def csv_problem(path: Path) -> tuple[int, str] | None:
    """(line, what) of the first encoding or syntax problem of a CSV file that polars cannot
    read; None when none is found. Called only when reading has failed (it reads the whole
    file into memory)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return 1, "the file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8"
    nul = data.find(b"\x00")
    if nul >= 0:
        return _line_at(data, nul), "a NUL byte: the file is not UTF-8 text (UTF-16?)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _line_at(data, exc.start)
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return line, (
            f"byte 0x{data[exc.start]:02x} at byte {col} of the line is not valid UTF-8 "
            "(Latin-1 or Windows-1252 text?); save the file as UTF-8"
        )
    found = _csv_syntax_problem(text)
    return None if found is None else (_line_at(text, found[0]), found[1])


def csv_read_error(table: str, path: Path, exc: Exception) -> DataError:
    """A CSV file polars cannot read: the line and the problem when they can be found, else
    the reader's message."""
    found = csv_problem(path)
    if found is None:
        return DataError(f"table '{table}': cannot read {path}: {exc}")
    line, what = found
    return DataError(f"table '{table}': cannot read {path}, line {line}: {what}")


def missing_columns_error(table: str, where: str, missing: Sequence[str]) -> DataError:
    """The structural error for required columns absent from a table read from ``where``."""
    return DataError(
        f"table '{table}' ({where}): missing required column(s) "
        + ", ".join(f"'{c}'" for c in missing)
    )
