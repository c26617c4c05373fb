"""The rows as written: the CSV headers, per-row timestamp offsets, number formatting and one list
of string rows per table."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analytics.core.policy import COMPONENTS
from analytics.sample.records import _Incident, _iso, _Rel, _Stage, _Tables

TABLES: tuple[str, ...] = (
    "releases",
    "evidence",
    "gates",
    "rollout_stages",
    "approvals",
    "incidents",
    "operator_decisions",
)


_HEADERS: dict[str, tuple[str, ...]] = {
    "releases": (
        "release_id",
        "system",
        "released_at",
        "risk_tier",
        *(f"{c}_version" for c in COMPONENTS),
        "change_requested_at",
        "accountable_owner",
        "train",
        "summary",
        "team",
    ),
    "evidence": ("release_id", "item", "status", "approved_by", "uri"),
    "gates": ("release_id", "gate", "result", "evaluated_at", "metric", "value", "threshold"),
    "rollout_stages": (
        "release_id",
        "stage",
        "traffic_pct",
        "started_at",
        "ended_at",
        "segment",
        "decision",
        "decided_by",
        "stop_condition_met",
    ),
    "approvals": ("release_id", "role", "approver", "decision", "decided_at", "final"),
    "incidents": (
        "incident_id",
        "system",
        "release_id",
        "started_at",
        "detected_at",
        "mitigated_at",
        "severity",
        "category",
        "mitigation",
        "detection_source",
        "decision_quality_impact",
        "title",
    ),
    "operator_decisions": ("release_id", "decided_at", "operator", "action", "rationale"),
}

# (offset minutes, suffix) and how often an exporter writes each.
_OFFSETS: tuple[tuple[int, str], ...] = (
    (0, "Z"),
    (0, "+00:00"),
    (120, "+02:00"),
    (-300, "-05:00"),
    (60, "+01:00"),
)
_OFFSET_P = (0.34, 0.2, 0.22, 0.14, 0.1)


def _fmt_num(v: float | None) -> str:
    if v is None:
        return ""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


class _Writer:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def offset(self) -> tuple[int, str]:
        return _OFFSETS[int(self.rng.choice(len(_OFFSETS), p=_OFFSET_P))]

    def ts(self, us: int | None, off: tuple[int, str]) -> str:
        return "" if us is None else _iso(us, off)


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _rows(
    rels: list[_Rel], incidents: list[_Incident], t: _Tables, w: _Writer
) -> dict[str, list[list[str]]]:
    """The string rows of every table as written (without the header), in table order; each row
    with timestamps draws its offset from ``w`` in that order."""
    return {
        "releases": [_release_row(rel, w) for rel in rels],
        "evidence": [_evidence_row(row) for row in t.evidence],
        "gates": [
            _gate_row(row, w) for row in sorted(t.gates, key=lambda r: (r["release_id"].gidx,))
        ],
        "rollout_stages": [
            _stage_row(rel, k, st, w) for rel in rels for k, st in enumerate(rel.stages, start=1)
        ],
        "approvals": [_approval_row(row, w) for row in t.approvals],
        "incidents": [_incident_row(inc, w) for inc in incidents],
        "operator_decisions": [
            _decision_row(row, w)
            for row in sorted(t.decisions, key=lambda r: (r["decided_at"], r["release_id"].gidx))
        ],
    }


def _release_row(rel: _Rel, w: _Writer) -> list[str]:
    off = w.offset()
    return [
        rel.rid,
        rel.system.name,
        w.ts(rel.released_at, off),
        rel.declared,
        *(rel.versions[c] for c in COMPONENTS),
        w.ts(rel.requested_at, off),
        rel.owner,
        rel.train,
        rel.summary,
        rel.system.team,
    ]


def _evidence_row(row: dict[str, Any]) -> list[str]:
    rid = row["release_id"].rid
    return [rid, row["item"], row["status"], row["approved_by"], row["uri"].replace("{rid}", rid)]


def _gate_row(row: dict[str, Any], w: _Writer) -> list[str]:
    off = w.offset()
    return [
        row["release_id"].rid,
        row["gate"],
        row["result"],
        w.ts(row["evaluated_at"], off),
        row["metric"],
        _fmt_num(row["value"]),
        _fmt_num(row["threshold"]),
    ]


def _stage_row(rel: _Rel, k: int, st: _Stage, w: _Writer) -> list[str]:
    off = w.offset()
    return [
        rel.rid,
        str(k),
        _fmt_num(st.pct),
        w.ts(st.start, off),
        w.ts(st.end, off),
        st.segment,
        st.decision,
        st.decided_by,
        "1" if st.stop_met else "0",
    ]


def _approval_row(row: dict[str, Any], w: _Writer) -> list[str]:
    off = w.offset()
    return [
        row["release_id"].rid,
        row["role"],
        row["approver"],
        row["decision"],
        w.ts(row["decided_at"], off),
        "true" if row["final"] else "false",
    ]


def _incident_row(inc: _Incident, w: _Writer) -> list[str]:
    off = w.offset()
    return [
        inc.iid,
        inc.system,
        inc.link.rid if inc.link else "",
        w.ts(inc.started_at, off),
        w.ts(inc.detected_at, off),
        w.ts(inc.mitigated_at, off),
        inc.severity,
        inc.category,
        inc.mitigation,
        inc.detection_source,
        inc.dq_impact,
        inc.title,
    ]


def _decision_row(row: dict[str, Any], w: _Writer) -> list[str]:
    off = w.offset()
    return [
        row["release_id"].rid,
        w.ts(row["decided_at"], off),
        row["operator"],
        row["action"],
        row["rationale"],
    ]
