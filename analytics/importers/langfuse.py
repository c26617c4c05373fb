"""Langfuse exports -> the ``telemetry`` table (docs/telemetry-import.md).

Reads the files of Langfuse's blob storage export (JSONL, one record per line, or a JSON array
of records, read element by element: ``json_array``), told apart by their fields:

- **observations** (``observations/`` or the enriched ``observations_v2/``): ``id``,
  ``trace_id``, ``type``, ``start_time``, ``end_time``, ``provided_model_name``,
  ``usage_details`` (``input``, ``output``, ...), ``metadata``, ... (the enriched export adds
  the trace's ``release``, ``user_id``, ``session_id``, ``tags``, ``trace_name``);
- **traces** (legacy export): ``id``, ``timestamp``, ``release``, ``version``, ``metadata``,
  ``tags``, ...; read when a rule names ``trace.<field>``;
- **scores**: ``trace_id``, ``observation_id``, ``name``, ``value``, ``string_value``,
  ``data_type``; read when a rule names a ``score``.

Top-level keys in camelCase (the public API's ``startTime``) are read as their snake_case
names. Timestamps are UTC (``2024-05-29 13:46:19.963000``, or ISO 8601 with an offset).

A case is an observation whose ``type`` is in the mapping's ``observation_types`` (default
``GENERATION``); others count as not cases. A score applies to its observation, or, without
one, to every case of its trace. Traces' mapped fields and scores' values are held in memory
(only the fields the mapping reads); observations are streamed in batches. Memory does not grow
with the size of the files, only with the traces and scores the mapping reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from analytics.core.errors import DataError
from analytics.importers.json_array import ArrayError, array_items
from analytics.importers.telemetry_import import Importer
from analytics.importers.telemetry_mapping import LangfuseRule, LangfuseSection, load_mapping
from analytics.importers.telemetry_rows import RULE_COLUMNS, RawColumns
from analytics.importers.telemetry_writer import (
    TelemetryImportReport,
    TelemetryStore,
    import_key,
)

BATCH_RECORDS = 100_000
NOT_OBJECT = "not an object"
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(record: dict[str, Any]) -> dict[str, Any]:
    return {_CAMEL.sub("_", k).lower() if k[:1].islower() else k: v for k, v in record.items()}


def lookup(record: Any, path: str) -> Any:
    """The value at a dotted path (a JSON-encoded object on the way is decoded); None if
    absent. A list counts as its first element."""
    node = record
    for key in path.split("."):
        if isinstance(node, str) and node[:1] == "{":
            try:
                node = json.loads(node)
            except ValueError:
                return None
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    if isinstance(node, list):
        node = node[0] if node else None
    return None if isinstance(node, dict) else node


def _kind(record: dict[str, Any]) -> str:
    if "start_time" in record and "type" in record:
        return "observations"
    if "value" in record and "name" in record and ("data_type" in record or "source" in record):
        return "scores"
    if "timestamp" in record and "id" in record:
        return "traces"
    return "unknown"


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line, record, error) of a JSONL file, or of a JSON array (numbered by element), one
    record at a time. A JSON array that turns out not to be valid JSON is a DataError where the
    problem is reached (the import then writes nothing)."""
    try:
        with path.open("rb") as f:
            head = f.read(1024).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError as exc:
        raise DataError(f"langfuse: cannot read {path} ({exc.strerror or exc})") from None
    if head[:1] == b"[":
        try:
            for n, item in enumerate(array_items(path), 1):
                yield (n, _snake(item), None) if isinstance(item, dict) else (n, None, NOT_OBJECT)
        except ArrayError as exc:
            raise DataError(f"langfuse: {path} is not valid JSON ({exc})") from None
        return
    if head[:1] != b"{":
        raise DataError(
            f"langfuse: {path} is not a Langfuse export (JSONL or JSON): it does not start with "
            "a JSON object"
        )
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                yield n, None, f"not JSON: {exc}"
                continue
            yield (n, _snake(obj), None) if isinstance(obj, dict) else (n, None, NOT_OBJECT)


def classify(files: list[Path]) -> dict[str, Path]:
    """Each file's kind from its first record; a file of no known kind, or two of one kind,
    is a DataError."""
    kinds: dict[str, Path] = {}
    for path in files:
        first = next((r for _, r, _ in read_records(path) if r is not None), None)
        kind = _kind(first) if first is not None else "unknown"
        if kind == "unknown":
            keys = ", ".join(sorted(first)[:8]) if first else "no readable record"
            raise DataError(
                f"langfuse: {path} is not a Langfuse observations, traces or scores export "
                f"(first record's fields: {keys})"
            )
        if kind in kinds:
            raise DataError(f"langfuse: {kinds[kind]} and {path} are both {kind} exports")
        kinds[kind] = path
    if "observations" not in kinds:
        raise DataError("langfuse: no observations export among the files (--from)")
    return kinds


def _scores(path: Path | None, names: set[str]) -> dict[tuple[str, str], Any]:
    """(observation id or 'trace:'+trace id, score name) -> value, for the names used."""
    out: dict[tuple[str, str], Any] = {}
    if path is None or not names:
        return out
    for _, rec, _ in read_records(path):
        if rec is None or rec.get("name") not in names:
            continue
        value = rec.get("value")
        if rec.get("data_type") == "CATEGORICAL" or value is None:
            value = rec.get("string_value")
        target = rec.get("observation_id") or f"trace:{rec.get('trace_id')}"
        out.setdefault((target, rec["name"]), value)
    return out


def _traces(path: Path | None, paths: set[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if path is None or not paths:
        return out
    for _, rec, _ in read_records(path):
        if rec is not None and rec.get("id") is not None:
            out[str(rec["id"])] = {p: lookup(rec, p) for p in paths}
    return out


class _Context:
    """What a rule reads besides the observation: its trace's fields and the scores."""

    def __init__(self, kinds: dict[str, Path], rules: dict[str, LangfuseRule]) -> None:
        trace_paths = {
            f.removeprefix("trace.")
            for r in rules.values()
            for f in r.fields
            if f.startswith("trace.")
        }
        if trace_paths and "traces" not in kinds:
            trace_paths = set()  # enriched observations carry the trace fields themselves
        self.traces = _traces(kinds.get("traces"), trace_paths)
        self.scores = _scores(kinds.get("scores"), {r.score for r in rules.values() if r.score})

    def value(self, rule: LangfuseRule, rec: dict[str, Any]) -> Any:
        if rule.score is not None:
            got = self.scores.get((str(rec.get("id")), rule.score))
            if got is None:
                got = self.scores.get((f"trace:{rec.get('trace_id')}", rule.score))
            return rule.translate(got)
        for path in rule.fields:
            if path.startswith("trace."):
                trace = self.traces.get(str(rec.get("trace_id")), {})
                got = trace.get(path.removeprefix("trace."))
            else:
                got = lookup(rec, path)
            if got is not None:
                return rule.translate(got)
        return None


def utc_nanoseconds(col: str) -> pl.Expr:
    """Langfuse timestamps (UTC; ``2024-05-29 13:46:19.963000`` or ISO 8601 with an offset)."""
    text = pl.col(col).str.strip_chars().str.replace(" ", "T", literal=True)
    text = text.str.replace(r"Z$", "+00:00")
    text = pl.when(text.str.contains(r"[+-]\d{2}:\d{2}$")).then(text).otherwise(text + "+00:00")
    ts = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_zone="UTC")
    return ts.dt.epoch("ns")


def import_langfuse(
    files: list[str | Path], dataset: str | Path, mapping: str | Path, key: str | None = None
) -> TelemetryImportReport:
    """Import a Langfuse export (its observations file, and its traces and scores files when
    the mapping reads them) into ``dataset/telemetry/``."""
    dataset = Path(dataset)
    section, sha = load_mapping(mapping, "langfuse")
    kinds = classify([Path(f) for f in files])
    rules = {"release_id": section.release_rule, **section.rules()}
    read = tuple(c for c in RULE_COLUMNS if c in rules and rules[c].value is None)
    obs = kinds["observations"]
    name = import_key("langfuse", obs, key)
    report = TelemetryImportReport(
        "langfuse", [str(f) for f in files], str(dataset), str(mapping), sha, name, "line"
    )
    context = _Context(kinds, rules)
    with TelemetryStore(dataset, name) as store:
        run = Importer(report, store, rules, section.prices, str(obs), utc_nanoseconds)
        batch = RawColumns(read)
        for n, rec, error in read_records(obs):
            if rec is None:
                run.unreadable(n, "malformed_json", error)
                continue
            report.read += 1
            if rec.get("type") not in section.observation_types:
                report.not_cases += 1
                continue
            _append(batch, n, rec, read, rules, context)
            if len(batch) >= BATCH_RECORDS:
                run.flush(batch)
        run.flush(batch)
        return run.commit(dataset)


def _append(
    batch: RawColumns,
    n: int,
    rec: dict[str, Any],
    read: tuple[str, ...],
    rules: dict[str, Any],
    context: _Context,
) -> None:
    lists = batch.lists
    lists["_line"].append(n)
    lists["_span"].append(None)
    lists["source_id"].append(None if rec.get("id") is None else str(rec["id"]))
    lists["start"].append(rec.get("start_time"))
    lists["end"].append(rec.get("end_time"))
    for col in read:
        lists[col].append(context.value(rules[col], rec))


__all__ = ["import_langfuse", "LangfuseSection"]
