"""The elements of a file holding one JSON array, read one at a time: memory holds one read of
``READ_BYTES`` bytes and the element being decoded, not the file.

Each element is decoded by the standard library's C decoder (``JSONDecoder.raw_decode``, the
decoder ``json.loads`` uses, so an element decodes exactly as it would in a JSON lines file) from
a text buffer that is refilled as the elements are consumed. An element cut by the end of a read
is decoded again once more text is there; an element larger than a read doubles the read. A
file that is not one JSON array raises ``ArrayError`` with the line and column of the problem in
the whole file, at the point where it is reached (the elements before it have been yielded).

Why not msgspec or ijson: msgspec decodes whole documents only (it cannot say where a value
ends), and ijson would be a new dependency for what ``raw_decode`` (decode from an offset, return
where the value ends) already gives.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

READ_BYTES = 1 << 20
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# An element decoded, or an error found, this close to the end of the buffer may be cut by the
# read (a number "1.5e3" read as "1.5", a literal "-Infinity" cut short): read on, decode again.
_CUT_MARGIN = 16


class ArrayError(ValueError):
    """The file is not one JSON array (the message says where, in the whole file)."""


class _Buffer:
    """Decoded text of the file from ``base`` (a character offset) on; ``pos`` is the next
    character to read, relative to ``base``."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.utf8 = codecs.getincrementaldecoder("utf-8-sig")()
        self.text = ""
        self.pos = 0
        self.base = 0
        self.lines = 0  # newlines before ``base``
        self.line_start = 0  # character offset of the line ``base`` lies on
        self.eof = False

    def more(self) -> None:
        """Drop what was consumed and read on (at least as much as is left, so an element
        larger than a read is decoded a bounded number of times)."""
        done = self.text[: self.pos]
        newlines = done.count("\n")
        if newlines:
            self.lines += newlines
            self.line_start = self.base + done.rfind("\n") + 1
        self.base += self.pos
        raw = self.f.read(max(READ_BYTES, len(self.text) - self.pos))
        try:
            fresh = self.utf8.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            raise ArrayError(f"not UTF-8 ({exc.reason}) near character {self.base}") from None
        self.text = self.text[self.pos :] + fresh
        self.pos = 0
        self.eof = not raw

    def skip_whitespace(self) -> str:
        """The next character that is not whitespace ('' at the end of the file)."""
        while True:
            match = _WHITESPACE.match(self.text, self.pos)
            assert match is not None
            self.pos = match.end()
            if self.pos < len(self.text):
                return self.text[self.pos]
            if self.eof:
                return ""
            self.more()

    def where(self, pos: int) -> str:
        """``line L column C (char N)`` of a position in the buffer, in the whole file."""
        before = self.text.count("\n", 0, pos)
        start = self.text.rfind("\n", 0, pos)
        column = pos - start if start >= 0 else self.base + pos - self.line_start + 1
        return f"line {self.lines + before + 1} column {column} (char {self.base + pos})"

    def error(self, what: str, pos: int | None = None) -> ArrayError:
        return ArrayError(f"{what}: {self.where(self.pos if pos is None else pos)}")


def _decode(buf: _Buffer, decoder: json.JSONDecoder) -> Any:
    """The element at ``buf.pos``, reading on while it may be cut by the end of the buffer."""
    while True:
        try:
            value, end = decoder.raw_decode(buf.text, buf.pos)
        except json.JSONDecodeError as exc:
            cut = exc.msg.startswith("Unterminated string") or exc.pos >= len(exc.doc) - _CUT_MARGIN
            if buf.eof or not cut:
                raise buf.error(exc.msg, exc.pos) from None
            buf.more()
            continue
        if end > len(buf.text) - _CUT_MARGIN and not buf.eof:  # a number may go on
            buf.more()
            continue
        buf.pos = end
        return value


def array_items(path: Path) -> Iterator[Any]:
    """The elements of the JSON array in ``path``, in order (module docstring)."""
    decoder = json.JSONDecoder()
    with path.open("rb") as f:
        buf = _Buffer(f)
        if buf.skip_whitespace() != "[":
            raise buf.error("Expecting '['")
        buf.pos += 1
        if buf.skip_whitespace() == "]":
            buf.pos += 1
        else:
            while True:
                yield _decode(buf, decoder)
                sep = buf.skip_whitespace()
                buf.pos += 1
                if sep == "]":
                    break
                if sep != ",":
                    raise buf.error("Expecting ',' delimiter or ']'", buf.pos - 1)
                buf.skip_whitespace()
        if buf.skip_whitespace():
            raise buf.error("Extra data after the array")
