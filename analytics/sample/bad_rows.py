"""Planted bad rows: one row of each kind of problem the data contract names, at deterministic
places in the rows as written."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.sample.records import _H, _dt, _hours, _Incident, _iso, _Rel, _sec
from analytics.sample.rows import _HEADERS


def _plant_bad_rows(
    rows: dict[str, list[list[str]]],
    rels: list[_Rel],
    incidents: list[_Incident],
    rng: np.random.Generator,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One row of each kind of problem the contract names, at deterministic places.

    Returns the bad rows with their CSV lines, and the corrupted ``mitigated_at`` by incident_id.
    """
    ghost, real = _ghost_evidence(rows["evidence"])
    rid, stamp = _spreadsheet_note(rows["operator_decisions"], rels)
    if len(incidents) < 3:
        raise ValueError("the period is too short for a dataset with incidents; use months >= 2")
    k_imp, k_enum, k_dup, wrong = _incident_problems(rows["incidents"], incidents, rng)
    imp, enum, dup = incidents[k_imp], incidents[k_enum], incidents[k_dup]

    def line(table: str, pred: Any) -> int:
        return next(n for n, r in enumerate(rows[table], start=2) if pred(r))

    first_line = line("incidents", lambda r: r[0] == dup.iid)
    bad = [
        {
            "table": "evidence",
            "line": line("evidence", lambda r: r[0] == ghost),
            "column": "release_id",
            "kind": "unknown_release",
            "value": ghost,
            "record_id": ghost,
            "note": f"typo of {real}",
        },
        {
            "table": "operator_decisions",
            "line": line("operator_decisions", lambda r: r[1] == stamp),
            "column": "decided_at",
            "kind": "invalid_timestamp",
            "value": stamp,
            "record_id": rid,
            "note": "day-first spreadsheet format; the release has other decisions in time",
        },
        {
            "table": "incidents",
            "line": line("incidents", lambda r: r[0] == imp.iid),
            "column": "mitigated_at",
            "kind": "impossible_duration",
            "value": _iso(wrong),
            "record_id": imp.iid,
            "note": "mitigated_at precedes detected_at",
        },
        {
            "table": "incidents",
            "line": line("incidents", lambda r: r[0] == enum.iid),
            "column": "severity",
            "kind": "unknown_enum",
            "value": "critical",
            "record_id": enum.iid,
            "note": "severity outside sev1..sev4",
        },
        {
            "table": "incidents",
            "line": first_line + 1,
            "column": None,
            "kind": "exact_duplicate",
            "value": None,
            "record_id": dup.iid,
            "duplicate_of_line": first_line,
            "note": "the same incident exported twice",
        },
    ]
    return bad, {imp.iid: wrong}


def _ghost_evidence(ev: list[list[str]]) -> tuple[str, str]:
    """Insert an evidence row for a release that does not exist (a typo in the release id), three
    fifths down; returns the ghost release id and the real one it mistypes."""
    pos = len(ev) * 3 // 5
    real = ev[pos][0]
    ghost = "rel-9" + real.split("-")[1][1:]
    ev.insert(
        pos,
        [
            ghost,
            "offline_eval",
            "present",
            "",
            f"https://wiki.northwind.example/ai-releases/{ghost}/offline_eval",
        ],
    )
    return ghost, real


def _spreadsheet_note(dec: list[list[str]], rels: list[_Rel]) -> tuple[str, str]:
    """Insert an operator note with an unparseable timestamp (pasted from a spreadsheet, day
    first) after the middle ``continue`` decision; returns its release id and the timestamp."""
    action = _HEADERS["operator_decisions"].index("action")
    candidates = [i for i, r in enumerate(dec) if r[action] == "continue"] or list(range(len(dec)))
    i = candidates[len(candidates) // 2]
    rid = dec[i][0]
    rel = next(r for r in rels if r.rid == rid)
    when = _dt(rel.released_at + 30 * _H)
    stamp = when.strftime("%d/%m/%Y %H:%M")
    dec.insert(
        i + 1, [rid, stamp, rel.system.operators[0], "note", "Copied from the on-call spreadsheet"]
    )
    return rid, stamp


def _incident_problems(
    inc_rows: list[list[str]], incidents: list[_Incident], rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """Corrupt three incident rows: ``mitigated_at`` before ``detected_at`` (a typo in the day) on
    a linked planted-regression incident, an unknown severity on a background latency incident, and
    an exact duplicate of a planted-regression incident. Returns their indices and the corrupted
    ``mitigated_at``."""
    col = {c: i for i, c in enumerate(_HEADERS["incidents"])}
    every = list(range(len(incidents)))
    dq_planted = [
        k
        for k in every
        if incidents[k].cause == "planted_regression" and incidents[k].mitigated_at is not None
    ]
    mitigated = [k for k in every if incidents[k].mitigated_at is not None] or every
    linked = [k for k in dq_planted if incidents[k].link is not None] or dq_planted or mitigated
    k_imp = linked[len(linked) // 3]
    wrong = _sec(incidents[k_imp].detected_at - _hours(rng, 2, 20))
    inc_rows[k_imp][col["mitigated_at"]] = _iso(wrong, (0, "Z"))
    latency = [
        k
        for k in every[len(every) // 2 :]
        if incidents[k].cause == "external" and incidents[k].category == "latency" and k != k_imp
    ]
    k_enum = (latency or [k for k in every if k != k_imp])[0]
    inc_rows[k_enum][col["severity"]] = "critical"
    k_dup = next(
        k for k in [*dq_planted[len(dq_planted) // 2 :], *every] if k not in (k_imp, k_enum)
    )
    inc_rows.insert(k_dup + 1, list(inc_rows[k_dup]))
    return k_imp, k_enum, k_dup, wrong
