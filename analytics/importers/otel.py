"""OpenTelemetry GenAI spans -> the ``telemetry`` table (docs/telemetry-import.md).

Reads what the OpenTelemetry Collector's file exporter writes, in either of its formats:

- **OTLP JSON lines** (``format: json``): one ``ExportTraceServiceRequest`` (``TracesData``) per
  line in the OTLP/JSON encoding. Each line is decoded against typed structures of the OTLP
  schema (fields it does not need are skipped without being built); a line they cannot read (a
  snake_case variant, ``"NaN"`` for a double, a number where the encoding has a string) is read
  by ``google.protobuf.json_format`` into the ``TracesData`` message of ``opentelemetry-proto``,
  and a line that neither reads is rejected with the parser's message (``malformed_json`` when
  it is not JSON at all, ``invalid_otlp`` when it is JSON but not OTLP);
- **OTLP protobuf** (``format: proto``): ``ExportTraceServiceRequest`` messages, each preceded
  by its length (4 bytes, big-endian), or one message alone (an OTLP/HTTP request body). A
  frame that does not parse is rejected (``invalid_protobuf``) and reading goes on with the next
  frame; a file that ends inside a frame is rejected there (``truncated``), located by its byte
  offset.

Both become the same walk over resource spans, scope spans and spans (the msgspec structures
below carry the protobuf field names, so one walker reads both): a span is a **case** when it
carries the mapping's ``cases`` attribute (default ``gen_ai.operation.name``, which every GenAI
operation span has); the others are counted as not cases. Memory holds one line or frame and
one batch of ``BATCH_SPANS`` raw cases.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from analytics.core.errors import DataError
from analytics.importers.telemetry_import import Importer
from analytics.importers.telemetry_mapping import OtelRule, OtelSection, as_text, load_mapping
from analytics.importers.telemetry_rows import RULE_COLUMNS, RawColumns, nanoseconds
from analytics.importers.telemetry_writer import (
    IMPORTS_DIR,
    PartWriter,
    TelemetryImportReport,
    TelemetryStore,
    import_key,
)

BATCH_SPANS = 50_000
CHUNK_BYTES = 64 << 20  # a JSON lines file is converted in chunks of this size


# ---------------------------------------------------------------- the OTLP/JSON structures


class _S(msgspec.Struct, rename="camel", frozen=True, gc=False):
    """Untracked by the garbage collector (they hold no cycles): a line decodes into hundreds
    of thousands of them, and tracking made decoding six times slower. (Subclasses inherit the
    options; they repeat ``frozen=True`` for type checkers.)"""


class ArrayValue(_S, frozen=True):
    values: tuple[AnyValue, ...] = ()


class AnyValue(_S, frozen=True):
    string_value: str | None = None
    int_value: str | int | None = None
    double_value: float | None = None
    bool_value: bool | None = None
    array_value: ArrayValue | None = None


class KeyValue(_S, frozen=True):
    key: str = ""
    value: AnyValue | None = None


class Event(_S, frozen=True):
    name: str = ""
    attributes: tuple[KeyValue, ...] = ()


class Span(_S, frozen=True):
    span_id: str = ""
    start_time_unix_nano: str | int | None = None
    end_time_unix_nano: str | int | None = None
    attributes: tuple[KeyValue, ...] = ()
    events: tuple[Event, ...] = ()


class Resource(_S, frozen=True):
    attributes: tuple[KeyValue, ...] = ()


class ScopeSpans(_S, frozen=True):
    spans: tuple[Span, ...] = ()


class ResourceSpans(_S, frozen=True):
    resource: Resource = Resource()
    scope_spans: tuple[ScopeSpans, ...] = ()


class JsonTraces(_S, frozen=True):
    resource_spans: tuple[ResourceSpans, ...] = ()


_DECODER = msgspec.json.Decoder(JsonTraces)
_SCALARS = ("string_value", "int_value", "double_value", "bool_value")


def _value(v: Any) -> Any:
    """The Python value of an ``AnyValue`` (msgspec or protobuf); an array counts as its first
    element; maps and bytes as nothing."""
    if v is None:
        return None
    if isinstance(v, AnyValue):
        for name in _SCALARS:
            x = getattr(v, name)
            if x is not None:
                return x
        return _value(v.array_value.values[0]) if v.array_value and v.array_value.values else None
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return _value(v.array_value.values[0]) if v.array_value.values else None
    return None if kind in (None, "kvlist_value", "bytes_value") else getattr(v, kind)


# ---------------------------------------------------------------- what to take from a span

Getter = Callable[[dict[str, Any], dict[str, Any], Any], Any]


def _getter(rule: OtelRule) -> Getter | None:
    """A function (span attributes, resource attributes, span) -> raw value; None for a
    constant rule."""
    translate = rule.translate if rule.values is not None else (lambda x: x)
    if rule.value is not None:
        return None
    if rule.event is not None:
        name, where, attr = rule.event, rule.where, rule.attribute

        def from_event(_a: dict, _r: dict, span: Any) -> Any:
            for ev in span.events:
                if ev.name != name:
                    continue
                got = {kv.key: kv.value for kv in ev.attributes}
                if all(_text_eq(_value(got.get(k)), v) for k, v in where.items()):
                    return translate(_value(got.get(attr)) if attr else True)
            return None if attr else translate(False)

        return from_event
    if rule.resource is not None:
        key = rule.resource
        return lambda _a, r, _s: translate(_value(r.get(key)))
    names = rule.attributes

    def from_attribute(a: dict, r: dict, _s: Any) -> Any:
        for n in names:
            v = a.get(n)
            if v is None:
                v = r.get(n)
            if v is not None:
                return translate(_value(v))
        return None

    return from_attribute


def _text_eq(raw: Any, expected: Any) -> bool:
    return raw is not None and as_text(raw) == as_text(expected)


@dataclass(frozen=True)
class Plan:
    """The compiled mapping: which columns are read from each span, and how."""

    cases: str
    getters: tuple[tuple[str, Getter], ...]
    rules: dict[str, Any]

    @staticmethod
    def of(section: OtelSection) -> Plan:
        rules = {"release_id": section.release_rule, **section.rules()}
        getters = []
        for col in RULE_COLUMNS:
            if col in rules and (g := _getter(rules[col])) is not None:
                getters.append((col, g))
        return Plan(section.cases, tuple(getters), rules)

    @property
    def read(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.getters)


def walk(traces: Any, plan: Plan, batch: RawColumns, at: int, id_text: Callable) -> int:
    """Append the cases of one OTLP record (msgspec ``JsonTraces`` or a protobuf message) to
    ``batch``; returns the number of spans that are not cases."""
    lists = batch.lists
    meta = [lists[c] for c in ("_line", "_span", "source_id", "start", "end")]
    columns = [(lists[c], g) for c, g in plan.getters]
    not_cases = 0
    k = 0
    for rs in traces.resource_spans:
        res = {kv.key: kv.value for kv in rs.resource.attributes}
        for ss in rs.scope_spans:
            for span in ss.spans:
                k += 1
                attrs = {kv.key: kv.value for kv in span.attributes}
                if plan.cases not in attrs:
                    not_cases += 1
                    continue
                for values, x in zip(
                    meta,
                    (
                        at,
                        k,
                        id_text(span.span_id),
                        span.start_time_unix_nano,
                        span.end_time_unix_nano,
                    ),
                    strict=True,
                ):
                    values.append(x)
                for values, get in columns:
                    values.append(get(attrs, res, span))
    return not_cases


# ---------------------------------------------------------------- reading the files


@dataclass(frozen=True)
class Record:
    """One line or frame: its OTLP content, or why it could not be read."""

    at: int  # line number (JSON) or byte offset (protobuf)
    traces: Any = None
    id_text: Callable[[Any], str] = str
    reason: str | None = None
    message: str | None = None


def _b64(raw: bytes) -> str:
    # json_format reads OTLP/JSON's hex ids as base64: encoding them back gives the hex text
    return base64.b64encode(raw).decode()


def _hex(raw: bytes) -> str:
    return raw.hex()


def sniff(path: Path) -> str:
    """``json`` or ``proto``; a DataError for a file that is neither (exit 2)."""
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError as exc:
        raise DataError(f"otel: cannot read {path} ({exc.strerror or exc})") from None
    if not head:
        raise DataError(f"otel: {path} is empty")
    kinds = {
        b"\x28\xb5\x2f\xfd": "zstd-compressed",
        b"\x1f\x8b": "gzip-compressed",
        b"PAR1": "a Parquet file",
        b"PK\x03\x04": "a zip archive",
    }
    for magic, what in kinds.items():
        if head.startswith(magic):
            raise DataError(
                f"otel: {path} is {what}, not OTLP: give the collector file exporter's output "
                "(JSON lines or protobuf), decompressed"
            )
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] == b"[":
        raise DataError(
            f"otel: {path} is a JSON array; OTLP JSON files hold one ExportTraceServiceRequest "
            "object per line (the collector's file exporter)"
        )
    return "json" if text[:1] == b"{" else "proto"


def json_records(path: Path, start: int = 0, end: int | None = None) -> Iterator[Record]:
    """The lines of an OTLP JSON lines file from byte ``start`` (a line start) to ``end``,
    numbered from 1 there (module docstring). From the file's start, the first line that is
    JSON must be OTLP traces, else the file is of another kind (DataError)."""
    checked = start > 0
    with path.open("rb") as f:
        f.seek(start)
        pos = start
        for n, line in enumerate(f, 1):
            if end is not None and pos >= end:
                return
            pos += len(line)
            if not line.strip():
                continue
            try:
                traces = _DECODER.decode(line)
            except msgspec.DecodeError:
                traces = None
            if traces is not None and traces.resource_spans:
                checked = True
                yield Record(n, traces, str)
                continue
            if traces is not None and not checked:
                _check_json_kind(path, n, line)
            record = _json_fallback(n, line)
            checked = checked or record.traces is not None
            yield record


def chunks(path: Path, size: int) -> list[tuple[int, int]]:
    """Byte ranges of about ``size`` bytes that start and end at line starts."""
    total = path.stat().st_size
    bounds = [0]
    with path.open("rb") as f:
        while bounds[-1] + size < total:
            f.seek(bounds[-1] + size)
            f.readline()
            if f.tell() >= total:
                break
            bounds.append(f.tell())
    bounds.append(total)
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _check_json_kind(path: Path, n: int, line: bytes) -> None:
    obj = json.loads(line)
    keys = sorted(obj) if isinstance(obj, dict) else []
    if "resource_spans" in keys:  # snake_case OTLP: json_format reads it
        return
    other = [k for k in keys if k in ("resourceMetrics", "resourceLogs", "resource_metrics")]
    what = f"OTLP {'metrics' if 'etrics' in other[0] else 'logs'}" if other else "not OTLP traces"
    raise DataError(
        f"otel: {path} line {n}: {what} (keys: {', '.join(keys[:8]) or 'none'}); expected "
        "ExportTraceServiceRequest JSON with 'resourceSpans'"
    )


def _json_fallback(n: int, line: bytes) -> Record:
    try:
        traces = json_format.Parse(line, TracesData(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        text = str(exc)
        reason = "malformed_json" if text.startswith("Failed to load JSON") else "invalid_otlp"
        return Record(n, reason=reason, message=text[:300])
    return Record(n, traces, _b64)


def proto_records(path: Path, start: int = 0, end: int | None = None) -> Iterator[Record]:
    """The messages of an OTLP protobuf file: length-prefixed frames, or one message. From
    byte ``start`` (a frame start, ``frame_chunks``) to ``end``; offsets are the file's."""
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(start)
        head = f.read(4)
        length = int.from_bytes(head, "big") if len(head) == 4 else size
        if start == 0 and length > size - 4:
            yield _single(path, f, head)
            return
        offset = start
        while head and (end is None or offset < end):
            if len(head) < 4 or length > size - offset - 4:
                have = max(size - offset - 4, 0)
                yield Record(
                    offset,
                    reason="truncated",
                    message=f"frame of {length} bytes announced, {have} left in the file",
                )
                return
            yield _frame(offset, f.read(length))
            offset += 4 + length
            head = f.read(4)
            length = int.from_bytes(head, "big") if len(head) == 4 else 0


def frame_chunks(path: Path, size: int) -> list[tuple[int, int]]:
    """Byte ranges of about ``size`` bytes that start at frame starts of a length-prefixed
    protobuf file, found by reading the 4-byte lengths only. One range for a file of one
    message; a frame announcing more than the file holds ends the scan (the last range reads
    up to it and reports it truncated)."""
    total = path.stat().st_size
    bounds = [0]
    with path.open("rb") as f:
        head = f.read(4)
        if len(head) < 4 or int.from_bytes(head, "big") > total - 4:
            return [(0, total)]
        offset = 0
        while len(head) == 4:
            length = int.from_bytes(head, "big")
            if length > total - offset - 4:
                break
            offset += 4 + length
            if offset - bounds[-1] >= size and offset < total:
                bounds.append(offset)
            f.seek(offset)
            head = f.read(4)
    bounds.append(total)
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _frame(offset: int, data: bytes) -> Record:
    try:
        return Record(offset, ExportTraceServiceRequest.FromString(data), _hex)
    except DecodeError as exc:
        return Record(offset, reason="invalid_protobuf", message=str(exc) or "does not parse")


def _single(path: Path, f: Any, head: bytes) -> Record:
    data = head + f.read()
    record = _frame(0, data)
    if record.traces is None or not record.traces.resource_spans:
        raise DataError(
            f"otel: {path} is neither OTLP JSON lines nor OTLP protobuf (no length-prefixed "
            "ExportTraceServiceRequest frames, and not one message with resource spans)"
        )
    return record


# How each encoding's records are located ("line" / "offset" in the report), cut into chunks at
# record boundaries, and read back from a chunk's byte range.
ENCODINGS: dict[str, tuple[str, Callable, Callable]] = {
    "json": ("line", chunks, json_records),
    "proto": ("offset", frame_chunks, proto_records),
}


@dataclass(frozen=True)
class Chunk:
    """One byte range of an OTLP file to convert (in a worker process): whole lines of a JSON
    lines file, or whole frames of a protobuf file."""

    path: str
    start: int
    end: int
    index: int
    mapping: str
    key: str
    folder: str  # the new telemetry folder
    encoding: str  # a key of ENCODINGS


def convert(records_: Iterator[Record], plan: Plan, run: Importer) -> None:
    """Walk the records into batches; flush each full batch and the last."""
    report = run.report
    batch = RawColumns(plan.read)
    for rec in records_:
        if rec.traces is None:
            run.unreadable(rec.at, rec.reason or "unreadable", rec.message)
            continue
        before = len(batch)
        not_cases = walk(rec.traces, plan, batch, rec.at, rec.id_text)
        report.read += len(batch) - before + not_cases
        report.not_cases += not_cases
        if len(batch) >= BATCH_SPANS:
            run.flush(batch)
    run.flush(batch)


def convert_chunk(chunk: Chunk) -> tuple[TelemetryImportReport, set[str], set[str], int]:
    """Convert one chunk: (its report, the days and releases it wrote, its number of lines;
    0 for protobuf, whose byte offsets are the file's already)."""
    section, sha = load_mapping(chunk.mapping, "otel")
    plan = Plan.of(section)
    path = Path(chunk.path)
    location, _, read = ENCODINGS[chunk.encoding]
    rejected = Path(chunk.folder) / IMPORTS_DIR / f".{chunk.key}+{chunk.index:05d}.rejected.jsonl"
    writer = PartWriter(Path(chunk.folder), chunk.key, chunk.index, rejected)
    report = TelemetryImportReport(
        "otel", [chunk.path], "", chunk.mapping, sha, chunk.key, location
    )
    run = Importer(report, writer, plan.rules, section.prices, chunk.path, nanoseconds)
    try:
        convert(read(path, chunk.start, chunk.end), plan, run)
    finally:
        writer.close()
    if location == "offset":
        return report, writer.days, run.releases, 0
    with path.open("rb") as f:
        f.seek(chunk.start)
        lines = f.read(chunk.end - chunk.start).count(b"\n")
    return report, writer.days, run.releases, lines


def _merge_chunk(run: Importer, chunk: Chunk, result: tuple, offset: int) -> None:
    """Add a chunk's counts to the import, its line numbers shifted to the file's."""
    part, days, releases, _ = result
    report = run.report
    report.read += part.read
    report.written += part.written
    report.not_cases += part.not_cases
    src = run.store.folder / IMPORTS_DIR / f".{chunk.key}+{chunk.index:05d}.rejected.jsonl"
    shifted = []
    for line in src.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        rec["at"] += offset
        shifted.append(rec)
    src.unlink()
    report.reject(shifted)
    run.store.write_rejected(shifted)
    run.store.days |= days
    run.releases |= releases


def import_otel(
    path: str | Path,
    dataset: str | Path,
    mapping: str | Path,
    key: str | None = None,
    workers: int = 1,
) -> TelemetryImportReport:
    """Import one OTLP traces file into ``dataset/telemetry/`` (module docstring and
    ``telemetry_writer``). The file is converted in chunks of about ``CHUNK_BYTES`` (whole
    lines, or whole protobuf frames; a single-message protobuf file is one chunk) by
    ``workers`` processes. Structural problems (a file of another kind, a bad mapping) raise
    ``DataError`` before anything is written."""
    path, dataset = Path(path), Path(dataset)
    section, sha = load_mapping(mapping, "otel")
    plan = Plan.of(section)
    encoding = sniff(path)
    location, cut, _ = ENCODINGS[encoding]
    name = import_key("otel", path, key)
    report = TelemetryImportReport(
        "otel", [str(path)], str(dataset), str(mapping), sha, name, location
    )
    with TelemetryStore(dataset, name) as store:
        run = Importer(report, store, plan.rules, section.prices, str(path), nanoseconds)
        jobs = [
            Chunk(str(path), a, b, i, str(mapping), name, str(store.folder), encoding)
            for i, (a, b) in enumerate(cut(path, CHUNK_BYTES))
        ]
        offset = 0
        for chunk, result in zip(jobs, _map(convert_chunk, jobs, workers), strict=True):
            _merge_chunk(run, chunk, result, offset)
            offset += result[3]
        return run.commit(dataset)


def _map(fn: Callable, jobs: list[Chunk], workers: int) -> Iterator[Any]:
    """``fn`` over ``jobs`` in order: here, or in ``workers`` new processes (spawned: a
    process forked while polars threads run can deadlock)."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(fn, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
        yield from pool.imap(fn, jobs)
