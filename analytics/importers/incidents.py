"""PagerDuty incidents, Opsgenie alerts and Jira incident issues -> ``incidents``
(docs/mapping.md).

- PagerDuty (REST v2): one JSON file ``{"incidents": [...], "log_entries": [...]}``, the bodies
  of "List incidents" and "List log entries" side by side. Each incident gains ``_log.trigger``,
  ``_log.acknowledge`` and ``_log.resolve``: the first log entry of that type for it
  (``trigger_log_entry``, ``acknowledge_log_entry``, ``resolve_log_entry``); ``_log.resolve``
  falls back to the incident's ``resolved_at``. Defaults: id ``pd-{incident_number}``, detected
  at ``created_at``, mitigated at ``_log.resolve``.
- Opsgenie: the alert list exported as CSV, one alert per line, columns named after the alert's
  fields (``TinyId``, ``Message``, ``Priority``, ``Tags``, ``CreatedAt``, ``AckTime``,
  ``CloseTime`` in milliseconds after creation, ...). Each alert gains ``_acked_at`` and
  ``_closed_at``. Defaults: id ``og-{TinyId}``, detected at ``CreatedAt``, mitigated at
  ``_closed_at``. A column a rule names but the header lacks is a structural error.
- Jira (REST search, ``/rest/api/3/search`` or ``/search/jql``): ``{"issues": [...]}`` or a JSON
  array of such pages. Defaults: id ``{key}``, detected at ``fields.created``, mitigated at
  ``fields.resolutiondate``.

``decision_quality_impact`` is written explicitly: true when the category is one of the mapping's
``decision_quality_categories``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from analytics.core.errors import DataError
from analytics.core.schemas import MITIGATIONS
from analytics.importers.fields import (
    Rule,
    apply,
    apply_time,
    fill_template,
    template_fields,
    utc_text,
)
from analytics.importers.mapping import (
    CATEGORIES,
    DETECTION_SOURCES,
    SEVERITIES,
    IncidentSource,
    Mapping,
)
from analytics.importers.records import (
    Location,
    Parsed,
    Problem,
    Record,
    allowed,
    file_bytes,
    fingerprint,
    load_json,
    need,
    optional,
    wrong_type,
)

DEFAULTS: dict[str, dict[str, str]] = {
    "pagerduty": {
        "incident_id": "pd-{incident_number}",
        "detected_at": "created_at",
        "mitigated_at": "_log.resolve",
    },
    "opsgenie": {
        "incident_id": "og-{TinyId}",
        "detected_at": "CreatedAt",
        "mitigated_at": "_closed_at",
    },
    "jira": {
        "incident_id": "{key}",
        "detected_at": "fields.created",
        "mitigated_at": "fields.resolutiondate",
    },
}


def _rule(sec: IncidentSource, source: str, name: str) -> Rule:
    return getattr(sec, name) or Rule(field=DEFAULTS[source][name])


def incident_row(rec: dict[str, Any], source: str, sec: IncidentSource, dq: Sequence[str]):
    """The ``incidents`` row of one vendor record, or a ``Problem``."""
    template = sec.incident_id or DEFAULTS[source]["incident_id"]
    category = allowed(need(apply(sec.category, rec), "category"), "category", CATEGORIES)
    row = {
        "incident_id": need(fill_template(template, rec), "incident_id"),
        "system": need(apply(sec.system, rec), "system"),
        "detected_at": need(apply_time(_rule(sec, source, "detected_at"), rec), "detected_at"),
        "severity": allowed(need(apply(sec.severity, rec), "severity"), "severity", SEVERITIES),
        "category": category,
        "release_id": optional(apply(sec.release_id, rec), "release_id") if sec.release_id else "",
        "started_at": (
            optional(apply_time(sec.started_at, rec), "started_at") if sec.started_at else ""
        ),
        "mitigated_at": optional(
            apply_time(_rule(sec, source, "mitigated_at"), rec), "mitigated_at"
        ),
        "decision_quality_impact": "true" if category in dq else "false",
    }
    for column, values in (("mitigation", MITIGATIONS), ("detection_source", DETECTION_SOURCES)):
        rule = getattr(sec, column)
        row[column] = optional(apply(rule, rec), column) if rule is not None else ""
        if row[column]:
            allowed(row[column], column, values)
    return row


def _map_all(parsed: Parsed, items: list[tuple[Location, Any]], sec, dq: Sequence[str]) -> None:
    found = []
    for i, (where, rec) in enumerate(items):
        try:
            if isinstance(rec, Problem):
                raise rec
            if not isinstance(rec, dict):
                raise Problem("not_a_record", "the entry is not a JSON object")
            row = incident_row(rec, parsed.source, sec, dq)
            found.append((row["detected_at"], i, Record(where, {"incidents": [row]})))
        except Problem as p:
            parsed.reject(where, p.reason, p.message)
    parsed.records = [r for _, _, r in sorted(found, key=lambda t: (t[0], t[1]))]


def _first_log_entries(entries: list[Any]) -> dict[str, dict[str, str]]:
    """incident id -> {"trigger"|"acknowledge"|"resolve": earliest created_at (UTC text)}."""
    out: dict[str, dict[str, str]] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kind = str(entry.get("type", "")).removesuffix("_log_entry")
        incident = entry.get("incident")
        stamp, _ = utc_text(entry.get("created_at"))
        if kind not in ("trigger", "acknowledge", "resolve") or stamp is None:
            continue
        if not isinstance(incident, dict) or "id" not in incident:
            continue
        seen = out.setdefault(str(incident["id"]), {})
        if kind not in seen or stamp < seen[kind]:
            seen[kind] = stamp
    return out


def read_pagerduty(path: Path, sec: IncidentSource, mapping: Mapping) -> Parsed:
    what = "PagerDuty incidents"
    data, fp = load_json(path, what)
    if not isinstance(data, dict) or not isinstance(data.get("incidents"), list):
        raise wrong_type(path, what, '{"incidents": [...], "log_entries": [...]}')
    entries = data.get("log_entries", [])
    if not isinstance(entries, list):
        raise wrong_type(path, what, "'log_entries' to be a JSON array")
    logs = _first_log_entries(entries)
    items = []
    for i, inc in enumerate(data["incidents"]):
        rid = str(inc.get("id")) if isinstance(inc, dict) and "id" in inc else None
        if isinstance(inc, dict):
            log = dict(logs.get(rid or "", {}))
            if "resolve" not in log and inc.get("resolved_at"):
                log["resolve"] = inc["resolved_at"]
            inc = {**inc, "_log": log}
        items.append((Location(path.name, position=f"incidents[{i}]", record_id=rid), inc))
    parsed = Parsed("pagerduty", path.name, fp, ("incidents",))
    _map_all(parsed, items, sec, mapping.decision_quality_categories)
    return parsed


def _after(created: str, millis: str) -> str:
    """``created`` plus ``millis`` milliseconds (Opsgenie's AckTime / CloseTime), or ''."""
    stamp, _ = utc_text(created)
    if stamp is None or not millis.strip().isdigit():
        return ""
    start = datetime.fromisoformat(stamp)
    return utc_text(start.timestamp() * 1000 + int(millis.strip()))[0] or ""


def _rule_columns(sec: IncidentSource, source: str) -> dict[str, str]:
    """Top-level column -> the mapping key that reads it (Opsgenie's header check)."""
    out: dict[str, str] = {}
    for name in IncidentSource.model_fields:
        value = getattr(sec, name)
        if isinstance(value, Rule) and value.field is not None:
            out.setdefault(value.field.split(".")[0], f"{source}.{name}")
    template = sec.incident_id or DEFAULTS[source]["incident_id"]
    for field in template_fields(template):
        out.setdefault(field.split(".")[0], f"{source}.incident_id")
    for name in ("detected_at", "mitigated_at"):
        if getattr(sec, name) is None:
            out.setdefault(DEFAULTS[source][name], f"{source}.{name} (default)")
    return out


def read_opsgenie(path: Path, sec: IncidentSource, mapping: Mapping) -> Parsed:
    what = "Opsgenie alerts"
    data = file_bytes(path, what)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{what} export {path}: not UTF-8 text ({exc.reason})") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    synthetic = {"_acked_at": "AckTime", "_closed_at": "CloseTime"}
    for column, key in _rule_columns(sec, "opsgenie").items():
        needed = [synthetic[column], "CreatedAt"] if column in synthetic else [column]
        for name in needed:
            if name not in header:
                raise wrong_type(path, what, f"a CSV column '{name}' (read by key '{key}')")
    items: list[tuple[Location, Any]] = []
    start = 2
    try:
        for row in reader:
            where = Location(path.name, line=start, record_id=row.get("TinyId") or None)
            start = reader.line_num + 1
            if None in row:
                items.append((where, Problem("bad_line", "more fields than the header")))
                continue
            row = {k: (v or "").strip() for k, v in row.items()}
            row["_acked_at"] = _after(row.get("CreatedAt", ""), row.get("AckTime", ""))
            row["_closed_at"] = _after(row.get("CreatedAt", ""), row.get("CloseTime", ""))
            items.append((where, row))
    except csv.Error as exc:
        raise DataError(f"{what} export {path}: line {reader.line_num}: {exc}") from exc
    parsed = Parsed("opsgenie", path.name, fingerprint(data), ("incidents",))
    _map_all(parsed, items, sec, mapping.decision_quality_categories)
    return parsed


def read_jira(path: Path, sec: IncidentSource, mapping: Mapping) -> Parsed:
    what = "Jira issues"
    data, fp = load_json(path, what)
    pages = data if isinstance(data, list) else [data]
    is_page = [isinstance(p, dict) and isinstance(p.get("issues"), list) for p in pages]
    if not pages or not all(is_page):
        raise wrong_type(path, what, 'a search response {"issues": [...]} or an array of them')
    items = []
    for n, page in enumerate(pages):
        for i, issue in enumerate(page["issues"]):
            key = str(issue.get("key")) if isinstance(issue, dict) and "key" in issue else None
            pos = f"issues[{i}]" if len(pages) == 1 else f"[{n}].issues[{i}]"
            items.append((Location(path.name, position=pos, record_id=key), issue))
    parsed = Parsed("jira", path.name, fp, ("incidents",))
    _map_all(parsed, items, sec, mapping.decision_quality_categories)
    return parsed
