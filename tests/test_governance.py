"""Release-process audit (analytics.governance.audit): every finding code on a minimal dataset that
triggers it and one that does not, and the monthly process-health KPIs by hand.

The base dataset passes every check; the helpers below break one thing at a time.

R0 (March) and R1 (April) are releases of system ``support``. R1 changes the model, so it is a
high-risk release; it is declared high, shipped on Wednesday 2026-04-01 (in the monthly train
window: Tue/Wed within the first 7 days), with all six evidence items, four passing gates, the
1 -> 5 -> 20 -> 100 % canary, four go votes with one final vote, telemetry 30 minutes after
release and an operator decision two hours after.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import polars as pl
import pytest
from conftest import release, write_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import report as rs
from analytics.core.columns import ROW
from analytics.core.errors import DataError
from analytics.core.policy import load_policy
from analytics.data.io import load_dataset
from analytics.governance import audit as audit_module
from analytics.governance import checks, health
from analytics.governance import path as path_areas
from analytics.governance.audit import audit_releases
from analytics.governance.findings import CHECK_COLUMNS, FINDING_CODES
from analytics.governance.health import process_health
from analytics.governance.path import path_review
from analytics.metrics.evidence import approver_given, evidence_satisfied, evidence_status
from analytics.metrics.incidents import attribute_incidents
from analytics.metrics.releases import release_units
from analytics.stats.summaries import wilson

AS_OF = datetime(2026, 5, 1, tzinfo=UTC)
HIGH_EVIDENCE = (
    "offline_eval",
    "safety_eval",
    "canary_plan",
    "rollback_plan",
    "cross_functional_review",
    "pilot_report",
)
GATES = ("functional", "safety", "operational", "business")
ROLES = ("product_owner", "platform", "risk_compliance", "operations")
TELEMETRY_COLUMNS = (
    "ts",
    "release_id",
    "system",
    "task_type",
    "criticality",
    "language",
    "customer_segment",
    "escalated",
    "reworked",
    "policy_violation",
    "refused",
    "handling_time_s",
    "latency_ms",
    "tokens",
    "model_cost_usd",
    "quality_score",
)
ROLLOUT_COLUMNS = (
    "release_id",
    "stage",
    "traffic_pct",
    "started_at",
    "ended_at",
    "segment",
    "decision",
    "decided_by",
    "stop_condition_met",
)


def case(rid: str, ts: str) -> dict:
    return {
        "ts": ts,
        "release_id": rid,
        "system": "support",
        "task_type": "faq",
        "criticality": "low",
        "language": "en",
        "customer_segment": "smb",
        "escalated": "false",
        "reworked": "false",
        "policy_violation": "false",
        "refused": "false",
        "handling_time_s": 30,
        "latency_ms": 800,
        "tokens": 500,
        "model_cost_usd": 0.01,
        "quality_score": 0.9,
    }


def stage(
    rid: str, n: int, pct: float, start: str, end: str, decision: str, stop: str = "false"
) -> dict:
    return {
        "release_id": rid,
        "stage": n,
        "traffic_pct": pct,
        "started_at": start,
        "ended_at": end,
        "segment": "all",
        "decision": decision,
        "decided_by": "ops",
        "stop_condition_met": stop,
    }


def high_path(rid: str, day: str) -> dict[str, list[dict]]:
    """Records of a release that follows the high-tier path on ``day`` (YYYY-MM-DD)."""
    return {
        "evidence": [
            {"release_id": rid, "item": i, "status": "present", "approved_by": "", "uri": ""}
            for i in HIGH_EVIDENCE
        ],
        "gates": [
            {"release_id": rid, "gate": g, "result": "pass", "evaluated_at": f"{day}T08:00:00Z"}
            for g in GATES
        ],
        "rollout_stages": [
            stage(rid, 1, 1, f"{day}T10:00:00Z", f"{day}T14:00:00Z", "advance"),
            stage(rid, 2, 5, f"{day}T14:00:00Z", f"{day}T18:00:00Z", "advance"),
            stage(rid, 3, 20, f"{day}T18:00:00Z", f"{day}T22:00:00Z", "advance"),
            stage(rid, 4, 100, f"{day}T22:00:00Z", "", "complete"),
        ],
        "approvals": [
            {
                "release_id": rid,
                "role": r,
                "approver": f"{r}_lead",
                "decision": "go",
                "decided_at": f"{day}T09:00:00Z",
                "final": "true" if r == "product_owner" else "false",
            }
            for r in ROLES
        ],
        "operator_decisions": [
            {
                "release_id": rid,
                "decided_at": f"{day}T12:00:00Z",
                "operator": "olga",
                "action": "continue",
                "rationale": "canary healthy",
            }
        ],
        "telemetry": [case(rid, f"{day}T10:30:00Z")],
    }


def base_tables() -> dict[str, list[dict]]:
    r0 = release("R0", "support", "2026-03-03T10:00:00Z", "high")
    r1 = release("R1", "support", "2026-04-01T10:00:00Z", "high", model="m2")
    for r in (r0, r1):
        r.update({"accountable_owner": "dana", "train": "monthly", "summary": "model update"})
    tables: dict[str, list[dict]] = {"releases": [r0, r1]}
    for rid, day in (("R0", "2026-03-03"), ("R1", "2026-04-01")):
        for name, rows in high_path(rid, day).items():
            tables.setdefault(name, []).extend(rows)
    return tables


COLUMNS = {"telemetry": TELEMETRY_COLUMNS, "rollout_stages": ROLLOUT_COLUMNS}


def write_dataset(folder: Path, tables: dict[str, list[dict]]) -> Path:
    for name, rows in tables.items():
        if rows or name in COLUMNS:
            cols = list(COLUMNS.get(name) or [])
            for r in rows:
                cols += [c for c in r if c not in cols]
            write_table(folder, name, rows, cols)
    return folder


def build(folder: Path, *edits: Callable[[dict[str, list[dict]]], None]) -> Path:
    tables = copy.deepcopy(base_tables())
    for edit in edits:
        edit(tables)
    return write_dataset(folder, tables)


def rows_of(tables: dict[str, list[dict]], name: str, rid: str = "R1") -> list[dict]:
    return [r for r in tables[name] if r["release_id"] == rid]


def set_release(**values: str) -> Callable[[dict], None]:
    def edit(t: dict) -> None:
        rows_of(t, "releases")[0].update(values)

    return edit


def drop(name: str, **match: object) -> Callable[[dict], None]:
    def edit(t: dict) -> None:
        t[name] = [
            r
            for r in t[name]
            if not (r["release_id"] == "R1" and all(r.get(k) == v for k, v in match.items()))
        ]

    return edit


def update(name: str, match: dict, **values: object) -> Callable[[dict], None]:
    def edit(t: dict) -> None:
        # No match is fine (combined edits may have dropped the row): the trigger tests show
        # that every edit hits on its own.
        hits = [r for r in rows_of(t, name) if all(r.get(k) == v for k, v in match.items())]
        for r in hits:
            r.update(values)

    return edit


def add(name: str, *rows: dict) -> Callable[[dict], None]:
    def edit(t: dict) -> None:
        t.setdefault(name, []).extend(copy.deepcopy(list(rows)))

    return edit


# ---------------------------------------------------------------------------- running the audit


def audit_of(folder: Path, as_of: datetime = AS_OF, failed: tuple[str, ...] = ()) -> pl.DataFrame:
    ds = load_dataset(folder)
    assert ds.quality.errors == (), ds.quality.errors
    return audit_releases(ds, release_units(ds.releases, ds.policy), as_of, failed)


def row(audit: pl.DataFrame, rid: str = "R1") -> dict:
    return audit.filter(pl.col("release_id") == rid).row(0, named=True)


LATE = "2026-04-08T10:00:00Z"  # a Wednesday, but day 8: outside the monthly train window


def ship_late(**values: str) -> Callable[[dict], None]:
    """R1 ships on LATE instead, its telemetry and operator decision moved along."""

    def edit(t: dict) -> None:
        set_release(released_at=LATE, **values)(t)
        update("operator_decisions", {}, decided_at="2026-04-08T12:00:00Z")(t)
        update("telemetry", {}, ts="2026-04-08T10:30:00Z")(t)

    return edit


ONLY_100 = [stage("R1", 1, 100, "2026-04-01T10:00:00Z", "", "complete")]


def replace_stages(*stages: dict) -> Callable[[dict], None]:
    def edit(t: dict) -> None:
        t["rollout_stages"] = [r for r in t["rollout_stages"] if r["release_id"] != "R1"]
        t["rollout_stages"].extend(copy.deepcopy(list(stages)))

    return edit


def low_release(t: dict) -> None:
    """R1 becomes a prompt-only change declared low, following the low path (straight to 100 %)."""
    r = rows_of(t, "releases")[0]
    r.update({"model_version": "v1", "prompt_version": "p2", "risk_tier": "low", "train": "daily"})
    replace_stages(*ONLY_100)(t)


def second_april_release(same_path: bool) -> Callable[[dict], None]:
    """R2: a prompt-only (low) release on 2026-04-07, with the high path or its own low path."""

    def edit(t: dict) -> None:
        r2 = release("R2", "support", "2026-04-07T10:00:00Z", "low", model="m2", prompt="p2")
        r2.update({"accountable_owner": "dana", "train": "daily", "summary": "tone"})
        t["releases"].append(r2)
        path = high_path("R2", "2026-04-07")
        if not same_path:
            path["gates"] = path["gates"][:1]
            path["approvals"] = [a for a in path["approvals"] if a["role"] == "product_owner"]
            path["rollout_stages"] = [stage("R2", 1, 100, "2026-04-07T10:00:00Z", "", "complete")]
        for name, rows in path.items():
            t[name].extend(rows)

    return edit


# ---------------------------------------------------------------------------- finding codes

TRIGGERS: list[tuple[str, tuple, dict]] = [
    ("misclassified", (set_release(risk_tier="medium"),), {}),
    ("evidence_missing", (drop("evidence", item="pilot_report"),), {}),
    ("evidence_missing", (update("evidence", {"item": "pilot_report"}, status="missing"),), {}),
    (
        "waiver_without_approver",
        (update("evidence", {"item": "pilot_report"}, status="waived"),),
        {},
    ),
    ("waiver_without_approver", (update("gates", {"gate": "business"}, result="waived"),), {}),
    ("gate_not_run", (drop("gates", gate="business"),), {}),
    ("gate_not_run", (update("gates", {"gate": "business"}, result="not_run"),), {}),
    ("gate_failed_shipped", (update("gates", {"gate": "safety"}, result="fail"),), {}),
    ("rollout_missing", (drop("rollout_stages"),), {}),
    ("rollout_out_of_order", (update("rollout_stages", {"stage": 2}, traffic_pct=30),), {}),
    (
        "rollout_out_of_order",
        (update("rollout_stages", {"stage": 3}, started_at="2026-04-01T11:00:00Z"),),
        {},
    ),
    ("rollout_step_skipped", (drop("rollout_stages", stage=2),), {}),
    (
        "stop_condition_ignored",
        (update("rollout_stages", {"stage": 2}, stop_condition_met="true"),),
        {},
    ),
    ("approval_missing", (drop("approvals", role="operations"),), {}),
    (
        "approval_missing",  # a vote after the release does not count
        (update("approvals", {"role": "operations"}, decided_at="2026-04-02T09:00:00Z"),),
        {},
    ),
    (
        "approval_missing",  # the approver's latest vote counts
        (
            add(
                "approvals",
                {
                    "release_id": "R1",
                    "role": "operations",
                    "approver": "operations_lead",
                    "decision": "no_go",
                    "decided_at": "2026-04-01T09:30:00Z",
                    "final": "false",
                },
            ),
        ),
        {},
    ),
    ("no_final_approval", (update("approvals", {"role": "product_owner"}, final="false"),), {}),
    ("multiple_final_approvals", (update("approvals", {"role": "platform"}, final="true"),), {}),
    ("final_vote_not_go", (update("approvals", {"role": "product_owner"}, decision="no_go"),), {}),
    ("no_accountable_owner", (set_release(accountable_owner=""),), {}),
    ("multiple_accountable_owners", (set_release(accountable_owner="dana, eli"),), {}),
    ("multiple_accountable_owners", (set_release(accountable_owner="dana and eli"),), {}),
    ("train_violation", (ship_late(),), {}),
    ("train_violation", (set_release(train="weekly"),), {}),  # a looser train than monthly
    ("emergency_without_reason", (ship_late(train="emergency"),), {}),
    (
        "no_version_marker_24h",
        (update("telemetry", {"release_id": "R1"}, ts="2026-04-02T11:00:00Z"),),
        {},
    ),
    ("no_version_marker_24h", (drop("telemetry"),), {}),
    (
        "no_operator_decision_72h",
        (update("operator_decisions", {"release_id": "R1"}, decided_at="2026-04-04T11:00:00Z"),),
        {},
    ),
    ("gate_escape", (), {"failed": ("R1",)}),
    (
        "demo_quality",
        (
            update("evidence", {"item": "offline_eval"}, status="missing"),
            update("evidence", {"item": "safety_eval"}, status="missing"),
        ),
        {},
    ),
    ("offline_only", (replace_stages(*ONLY_100),), {}),
    ("no_risk_segmentation", (second_april_release(same_path=True),), {}),
    ("ship_and_forget", (drop("telemetry"), drop("operator_decisions")), {}),
]

NEAR_MISSES: list[tuple[str, tuple, dict]] = [
    (
        "waiver_without_approver",
        (update("evidence", {"item": "pilot_report"}, status="waived", approved_by="lead"),),
        {},
    ),
    (
        "waiver_without_approver",
        (
            update("gates", {}, approved_by=""),
            update("gates", {"gate": "business"}, result="waived", approved_by="cto"),
        ),
        {},
    ),
    (
        "gate_failed_shipped",  # re-run: the latest evaluation counts
        (
            add(
                "gates",
                {
                    "release_id": "R1",
                    "gate": "safety",
                    "result": "fail",
                    "evaluated_at": "2026-04-01T07:00:00Z",
                },
            ),
        ),
        {},
    ),
    (
        "gate_failed_shipped",  # a failure recorded after as_of is not known yet
        (
            add(
                "gates",
                {
                    "release_id": "R1",
                    "gate": "safety",
                    "result": "fail",
                    "evaluated_at": "2026-05-02T07:00:00Z",
                },
            ),
        ),
        {},
    ),
    (
        "stop_condition_ignored",  # the stop condition was met and the rollout halted
        (
            update("rollout_stages", {"stage": 2}, stop_condition_met="true", decision="halt"),
            drop("rollout_stages", stage=3),
            drop("rollout_stages", stage=4),
        ),
        {},
    ),
    (
        "rollout_step_skipped",  # medium tier: skipping a step is allowed
        (
            set_release(
                model_version="v1", routing_version="r2", risk_tier="medium", train="weekly"
            ),
            drop("rollout_stages", stage=2),
        ),
        {},
    ),
    ("train_violation", (ship_late(train="emergency", summary="Emergency fix for INC-7"),), {}),
    (
        "train_violation",  # the operator rolled back the previous release first
        (
            ship_late(train="emergency"),
            add(
                "operator_decisions",
                {
                    "release_id": "R0",
                    "decided_at": "2026-04-08T08:00:00Z",
                    "operator": "olga",
                    "action": "rollback",
                    "rationale": "quality drop",
                },
            ),
        ),
        {},
    ),
    ("multiple_accountable_owners", (set_release(accountable_owner="Sandra Anderson"),), {}),
    (
        "no_version_marker_24h",
        (update("telemetry", {"release_id": "R1"}, ts="2026-04-02T09:00:00Z"),),
        {},
    ),
    (
        "gate_escape",  # a waived gate is not a passed gate
        (
            update("gates", {}, approved_by=""),
            update("gates", {"gate": "business"}, result="waived", approved_by="cto"),
        ),
        {"failed": ("R1",)},
    ),
    ("demo_quality", (update("evidence", {"item": "safety_eval"}, status="missing"),), {}),
    ("offline_only", (low_release,), {}),
    ("no_risk_segmentation", (second_april_release(same_path=False),), {}),
    ("ship_and_forget", (drop("telemetry"),), {}),
]

EXPECTED_BESIDE = {
    "demo_quality": {"evidence_missing"},
    "ship_and_forget": {"no_version_marker_24h"},
}


def test_every_audit_code_has_a_trigger_and_sentence() -> None:
    triggered = {code for code, _, _ in TRIGGERS}
    audit_codes = {c for c, rule in FINDING_CODES.items() if rule.audit}
    assert audit_codes == triggered
    for rule in FINDING_CODES.values():
        assert rule.severity in ("critical", "major", "minor")
        assert rule.sentence.endswith(".")


def test_compliant_base_has_no_findings(tmp_path: Path) -> None:
    audit = audit_of(build(tmp_path))
    assert audit["findings"].to_list() == [[], []]
    r1 = row(audit)
    for col in CHECK_COLUMNS:
        expected = col not in (
            "failed",
            "gate_escape",
            "demo_quality",
            "offline_only",
            "no_risk_segmentation",
            "ship_and_forget",
        )
        assert r1[col] is expected, col
    assert r1["eval_items"] == 2
    assert r1["path_signature"] == (
        "business,functional,operational,safety|1>5>20>100|"
        "operations,platform,product_owner,risk_compliance"
    )


@pytest.mark.parametrize(
    ("code", "edits", "kw"),
    TRIGGERS,
    ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(TRIGGERS)],
)
def test_finding_triggered(tmp_path: Path, code: str, edits: tuple, kw: dict) -> None:
    audit = audit_of(build(tmp_path, *edits), **kw)
    assert code in row(audit)["findings"]


@pytest.mark.parametrize(
    ("code", "edits", "kw"),
    NEAR_MISSES,
    ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(NEAR_MISSES)],
)
def test_finding_not_triggered(tmp_path: Path, code: str, edits: tuple, kw: dict) -> None:
    audit = audit_of(build(tmp_path, *edits), **kw)
    findings = row(audit)["findings"]
    assert code not in findings
    # nothing else is wrong, except what the near miss breaks on purpose
    assert set(findings) <= EXPECTED_BESIDE.get(code, set())


def test_finding_details(tmp_path: Path) -> None:
    audit = audit_of(
        build(
            tmp_path,
            drop("evidence", item="pilot_report"),
            update("evidence", {"item": "canary_plan"}, status="waived"),
            drop("gates", gate="business"),
            update("gates", {"gate": "safety"}, result="fail"),
            drop("rollout_stages", stage=2),
            drop("approvals", role="operations"),
        )
    )
    r = row(audit)
    assert r["missing_evidence"] == ["canary_plan", "pilot_report"]
    assert r["absent_evidence"] == ["pilot_report"]
    assert r["unapproved_evidence_waivers"] == ["canary_plan"]
    assert r["gates_not_run"] == ["business"]
    assert r["gates_failed"] == ["safety"]
    assert r["skipped_steps"] == [5.0]
    assert r["missing_approvals"] == ["operations"]
    assert r["path_compliant"] is False
    assert r["findings"] == [
        "evidence_missing",
        "waiver_without_approver",
        "gate_not_run",
        "gate_failed_shipped",
        "rollout_step_skipped",
        "approval_missing",
    ]


def test_stop_conditions_counted_per_stage(tmp_path: Path) -> None:
    audit = audit_of(
        build(
            tmp_path,
            update("rollout_stages", {"stage": 1}, stop_condition_met="true"),
            update("rollout_stages", {"stage": 2}, stop_condition_met="true"),
        )
    )
    assert row(audit)["stop_conditions_ignored"] == 2
    assert row(audit)["rollout_ok"] is False


def test_windows_still_open_are_null_not_findings(tmp_path: Path) -> None:
    # As of 10 h after release, nothing was seen yet: not decidable, so no finding.
    folder = build(tmp_path, drop("telemetry"), drop("operator_decisions"))
    r = row(audit_of(folder, as_of=datetime(2026, 4, 1, 20, tzinfo=UTC)))
    assert r["marker_24h"] is None and r["operator_72h"] is None
    assert r["ship_and_forget"] is None
    assert r["findings"] == []
    # A day and a half later the marker window is over, the operator window is not.
    r = row(audit_of(folder, as_of=datetime(2026, 4, 2, 22, tzinfo=UTC)))
    assert r["marker_24h"] is False and r["operator_72h"] is None
    assert r["findings"] == ["no_version_marker_24h"]


def test_records_after_as_of_are_ignored(tmp_path: Path) -> None:
    folder = build(
        tmp_path,
        add(
            "gates",
            {
                "release_id": "R1",
                "gate": "safety",
                "result": "fail",
                "evaluated_at": "2026-05-02T07:00:00Z",
            },
        ),
    )
    assert row(audit_of(folder))["findings"] == []
    later = row(audit_of(folder, as_of=datetime(2026, 5, 3, tzinfo=UTC)))
    assert later["findings"] == ["gate_failed_shipped"]


def test_release_after_as_of_is_not_audited_for_production(tmp_path: Path) -> None:
    r = row(audit_of(build(tmp_path), as_of=datetime(2026, 3, 20, tzinfo=UTC)))
    assert r["deployed"] is False
    assert r["rollout_ok"] is None and r["marker_24h"] is None and r["path_compliant"] is None
    assert r["findings"] == []


def test_dataset_without_telemetry_leaves_marker_unknown(tmp_path: Path) -> None:
    folder = build(tmp_path)
    (folder / "telemetry.csv").unlink()
    r = row(audit_of(folder))
    assert r["telemetry_available"] is False
    assert r["marker_24h"] is None and r["observability_ok"] is None
    assert r["ship_and_forget"] is False  # the operator decision shows someone watched
    assert r["findings"] == []


def test_no_risk_segmentation_needs_different_tiers(tmp_path: Path) -> None:
    # Two high releases with the same path in a month: consistent, not a smell.
    def r2_high(t: dict) -> None:
        second_april_release(same_path=True)(t)
        t["releases"][-1].update({"model_version": "m3", "risk_tier": "high"})

    audit = audit_of(build(tmp_path, r2_high))
    assert audit["no_risk_segmentation"].to_list() == [False, False, False]
    flagged = audit_of(build(tmp_path / "b", second_april_release(same_path=True)))
    assert flagged.filter(pl.col("month") == "2026-04")["no_risk_segmentation"].to_list() == [
        True,
        True,
    ]


# ---------------------------------------------------------------------------- process health


def health_tables(t: dict) -> None:
    """Add system ``search``: S1 (first release, so high; declared medium) ignores a stop
    condition, has no final vote and a failed safety gate; S2 (prompt only, low) follows the
    low path but leaves no telemetry and no operator decision."""
    s1 = release("S1", "search", "2026-04-07T10:00:00Z", "medium")
    s2 = release("S2", "search", "2026-04-14T10:00:00Z", "low", prompt="p2")
    s1.update({"accountable_owner": "eli", "train": "monthly", "summary": "launch"})
    s2.update({"accountable_owner": "eli", "train": "daily", "summary": "tone"})
    t["releases"] += [s1, s2]
    path = high_path("S1", "2026-04-07")
    path["rollout_stages"][1]["stop_condition_met"] = "true"
    for a in path["approvals"]:
        a["final"] = "false"
    for g in path["gates"]:
        if g["gate"] == "safety":
            g["result"] = "fail"
    for name, rows in path.items():
        t[name].extend(rows)
    t["evidence"].append({"release_id": "S2", "item": "offline_eval", "status": "present"})
    t["gates"].append(
        {
            "release_id": "S2",
            "gate": "functional",
            "result": "pass",
            "evaluated_at": "2026-04-14T08:00:00Z",
        }
    )
    t["approvals"].append(
        {
            "release_id": "S2",
            "role": "product_owner",
            "approver": "pat",
            "decision": "go",
            "decided_at": "2026-04-14T09:00:00Z",
            "final": "true",
        }
    )
    t["rollout_stages"].append(stage("S2", 1, 100, "2026-04-14T10:00:00Z", "", "complete"))


def test_process_health_hand_computed(tmp_path: Path) -> None:
    ds = load_dataset(build(tmp_path, health_tables))
    units = release_units(ds.releases, ds.policy)
    audit = audit_releases(ds, units, AS_OF, failed=("S1", "S2"))
    incidents = pl.DataFrame(
        {
            "incident_id": ["X1", "X2", "X3"],
            "detected_at": [
                datetime(2026, 4, 20, tzinfo=UTC),
                datetime(2026, 5, 2, tzinfo=UTC),
                datetime(2026, 4, 21, tzinfo=UTC),
            ],
            "attribution": ["unattributed", "unattributed", "explicit"],
        },
    )
    ph = process_health(audit, units, "2026-04", AS_OF, ds.policy, incidents)
    assert ph.release_ids == ("R1", "S1", "S2")

    def check(res, num: int, den: int) -> None:
        assert (res.numerator, res.denominator) == (num, den)
        low, high = wilson(num, den)
        assert res.ci_low == pytest.approx(low) and res.ci_high == pytest.approx(high)

    check(ph.path_compliance, 2, 3)  # S1 fails gates, rollout and approvals
    assert ph.path_compliance.extra["non_compliant_release_ids"] == ["S1"]
    check(ph.path_compliance_by_tier["high"], 1, 2)
    check(ph.path_compliance_by_tier["low"], 1, 1)
    assert ph.path_compliance_by_tier["medium"].status == "insufficient_data"
    check(ph.misclassification_rate, 1, 3)
    assert ph.stop_conditions_ignored.count == 1
    assert ph.stop_conditions_ignored.release_ids == ("S1",)
    check(ph.gate_escape_rate, 1, 2)  # S2 passed every gate and failed; S1 failed a gate
    assert ph.gate_escape_rate.extra["release_ids"] == ["S2"]
    check(ph.single_owner_share, 2, 3)
    check(ph.train_compliance, 3, 3)
    check(ph.observability_linkage, 2, 3)
    assert ph.anti_patterns["ship_and_forget"].release_ids == ("S2",)
    assert ph.anti_patterns["demo_quality"].count == 0
    assert ph.anti_patterns["offline_only"].count == 0
    assert ph.anti_patterns["no_risk_segmentation"].count == 0
    assert ph.anti_patterns["no_release_incident_link"].count == 1
    assert ph.anti_patterns["no_release_incident_link"].incident_ids == ("X1",)
    assert set(ph.findings) == {
        "misclassified",
        "gate_failed_shipped",
        "stop_condition_ignored",
        "no_final_approval",
        "no_version_marker_24h",
        "no_operator_decision_72h",
        "gate_escape",
        "ship_and_forget",
    }
    assert ph.findings["no_final_approval"] == ("S1",)
    out = json.loads(json.dumps(ph.to_dict(), allow_nan=False))
    assert out["path_compliance"]["numerator"] == 2
    assert out["anti_patterns"]["no_release_incident_link"]["incident_ids"] == ["X1"]
    assert any("stop condition" in s for s in ph.sentences())


def test_process_health_empty_month_and_immature(tmp_path: Path) -> None:
    ds = load_dataset(build(tmp_path, drop("telemetry"), drop("operator_decisions")))
    units = release_units(ds.releases, ds.policy)
    as_of = datetime(2026, 4, 1, 20, tzinfo=UTC)
    ph = process_health(audit_releases(ds, units, as_of), units, "2026-04", as_of, ds.policy)
    assert ph.releases == 1
    assert ph.observability_linkage.status == "insufficient_data"  # nothing decidable yet
    assert ph.anti_patterns["no_release_incident_link"].status == "insufficient_data"
    empty = process_health(audit_releases(ds, units, AS_OF), units, "2025-01", AS_OF, ds.policy, 0)
    assert empty.releases == 0
    assert empty.path_compliance.status == "insufficient_data"
    assert empty.gate_escape_rate.status == "insufficient_data"
    json.dumps(empty.to_dict(), allow_nan=False)


# ---------------------------------------------------------------------------- planted truth

# truth.json names of the planted process violations -> what the audit says about the release
TRUTH_TO_AUDIT: dict[str, Callable[[dict], bool]] = {
    "misclassified": lambda r: "misclassified" in r["findings"],
    "missing_evidence": lambda r: r["evidence_ok"] is False,
    "failed_gate_shipped": lambda r: "gate_failed_shipped" in r["findings"],
    "gate_not_run": lambda r: "gate_not_run" in r["findings"],
    # truth: the stage percentages are not a prefix of the plan, for every tier. The audit checks
    # skipped steps for high risk only (issue 5) and flags a lower tier that skipped its canary
    # as offline_only; either way the rollout is not ok.
    "rollout_steps_skipped": lambda r: bool(
        {"rollout_missing", "rollout_step_skipped", "rollout_out_of_order", "offline_only"}
        & set(r["findings"])
    ),
    "stop_condition_ignored": lambda r: "stop_condition_ignored" in r["findings"],
    "missing_approval": lambda r: "approval_missing" in r["findings"],
    "no_final_approval": lambda r: "no_final_approval" in r["findings"],
    "multiple_final_approvals": lambda r: "multiple_final_approvals" in r["findings"],
    "train_violation": lambda r: "train_violation" in r["findings"],
    "no_telemetry_within_24h": lambda r: "no_version_marker_24h" in r["findings"],
    "no_operator_decision_72h": lambda r: "no_operator_decision_72h" in r["findings"],
    "no_single_accountable_owner": lambda r: bool(
        {"no_accountable_owner", "multiple_accountable_owners"} & set(r["findings"])
    ),
}
SAMPLE_AS_OF = datetime(2026, 12, 1, tzinfo=UTC)  # a month after the sample ends


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    sample_data = pytest.importorskip("analytics.sample.generate")
    folder = tmp_path_factory.mktemp("sample")
    sample_data.generate_sample(folder, seed=7, cases_per_day=20)
    return folder, json.loads((folder / "truth.json").read_text())


def test_planted_process_violations_are_recovered(sample: tuple[Path, dict]) -> None:
    folder, truth = sample
    ds = load_dataset(folder)
    units = release_units(ds.releases, ds.policy)
    audit = audit_releases(ds, units, SAMPLE_AS_OF)
    by_id = {r["release_id"]: r for r in audit.iter_rows(named=True)}
    planted = {v for t in truth["releases"] for v in t["process_violations"]}
    assert planted <= set(TRUTH_TO_AUDIT), planted - set(TRUTH_TO_AUDIT)
    wrong = []
    for t in truth["releases"]:
        r = by_id[t["release_id"]]
        for name, found in TRUTH_TO_AUDIT.items():
            if (name in t["process_violations"]) != found(r):
                wrong.append((t["release_id"], name, r["findings"]))
    assert wrong == []
    for name in TRUTH_TO_AUDIT:  # every kind is planted at least once, so the test means something
        assert any(name in t["process_violations"] for t in truth["releases"]), name


def test_unattributed_incidents_of_the_sample(sample: tuple[Path, dict]) -> None:
    folder, truth = sample
    ds = load_dataset(folder)
    units = release_units(ds.releases, ds.policy)
    incidents, _ = attribute_incidents(ds.incidents, units, ds.policy, SAMPLE_AS_OF)
    audit = audit_releases(ds, units, SAMPLE_AS_OF)
    months = sorted(m for m in units["month"].unique().to_list() if m)
    found: list[str] = []
    for month in months:
        ph = process_health(audit, units, month, SAMPLE_AS_OF, ds.policy, incidents)
        found += ph.anti_patterns["no_release_incident_link"].incident_ids
    assert sorted(found) == sorted(truth["unattributable_incidents"])


# ---------------------------------------------------------------------------- path review


def test_path_review_required_vs_happened(tmp_path: Path) -> None:
    folder = build(
        tmp_path,
        drop("evidence", item="pilot_report"),
        drop("gates", gate="business"),
        update("gates", {"gate": "safety"}, result="fail"),
        drop("rollout_stages", stage=2),
        update("approvals", {"role": "platform"}, final="true"),
    )
    ds = load_dataset(folder)
    audit = audit_releases(ds, release_units(ds.releases, ds.policy), AS_OF)
    review = path_review(audit, "R1", ds.policy)
    steps = {s.area: s for s in review.steps}
    assert list(steps) == [
        "tier",
        "evidence",
        "gates",
        "rollout",
        "approvals",
        "train",
        "observability",
    ]
    assert steps["tier"].ok is True
    assert steps["evidence"].happened == "missing: pilot_report"
    assert steps["evidence"].findings == ("evidence_missing",)
    assert steps["gates"].required == "functional, safety, operational, business passed"
    assert steps["gates"].happened == "not run: business; failed: safety"
    assert (
        steps["rollout"].required == "1 -> 5 -> 20 -> 100 %, halting when a stop condition is met"
    )
    assert steps["rollout"].happened == "1 -> 20 -> 100 %; skipped step 5 %"
    assert steps["approvals"].happened == (
        "2 final votes, the last go by platform_lead; owner dana"
    )
    assert steps["approvals"].ok is False
    assert steps["train"].happened == "monthly train, released Wed 2026-04-01 10:00"
    assert steps["observability"].happened == (
        "marker 0.5 h after release; first operator decision 2.0 h after release"
    )
    assert steps["observability"].ok is True
    assert review.path_compliant is False
    assert review.sentences[0] == FINDING_CODES["evidence_missing"].sentence
    assert review.to_frame().height == 7
    json.dumps(review.to_dict(), allow_nan=False)
    with pytest.raises(DataError):
        path_review(audit, "NOPE", ds.policy)


# ---------------------------------------------------------------------------- properties

PATH_CODES = {
    "evidence_missing",
    "waiver_without_approver",
    "gate_not_run",
    "gate_failed_shipped",
    "rollout_missing",
    "rollout_out_of_order",
    "rollout_step_skipped",
    "stop_condition_ignored",
    "offline_only",
    "approval_missing",
    "no_final_approval",
    "multiple_final_approvals",
    "final_vote_not_go",
}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(picks=st.sets(st.integers(0, len(TRIGGERS) - 1), max_size=5))
def test_findings_agree_with_checks(tmp_path: Path, picks: set[int]) -> None:
    """Whatever is broken: a release is path-compliant exactly when it has no path finding, and
    every process-health rate is a share in [0, 1] inside its interval."""
    folder = tmp_path / "-".join(map(str, sorted(picks)) or "base")
    edits = [e for i in sorted(picks) for e in TRIGGERS[i][1]]
    failed = ("R1",) if any(TRIGGERS[i][0] == "gate_escape" for i in picks) else ()
    ds = load_dataset(build(folder, *edits))
    units = release_units(ds.releases, ds.policy)
    audit = audit_releases(ds, units, AS_OF, failed)
    r = row(audit)
    assert r["path_compliant"] is (not (set(r["findings"]) & PATH_CODES))
    health = process_health(audit, units, "2026-04", AS_OF, ds.policy, 0)
    for res in (
        health.path_compliance,
        health.train_compliance,
        health.single_owner_share,
        health.misclassification_rate,
        health.observability_linkage,
    ):
        if res.value is not None:
            assert 0 <= res.ci_low <= res.value <= res.ci_high <= 1


# ---------------------------------------------------------------------------- evidence rule


def test_a_blank_approver_does_not_approve_a_waiver() -> None:
    """One rule (``evidence_satisfied``): present, or waived with a non-blank approver. An empty
    or whitespace-only approver is no approver, as a missing one is."""
    ev = pl.DataFrame(
        {
            "release_id": ["L1"] * 7,
            "item": ["a", "b", "c", "d", "e", "f", "g"],
            "status": ["present", "waived", "waived", "waived", "waived", "missing", None],
            "approved_by": [None, "lead", "", "  ", None, "lead", "lead"],
        }
    )
    got = ev.select(evidence_satisfied()).to_series().to_list()
    assert got == [True, True, False, False, False, False, False]
    assert ev.select(approver_given()).to_series().to_list() == [
        False,
        True,
        False,
        False,
        False,
        True,
        True,
    ]
    # the low tier requires offline_eval only: waived with a blank approver leaves it missing
    units = pl.DataFrame({"release_id": ["L1", "L2"], "effective_tier": ["low", "low"]})
    blank = pl.DataFrame(
        {
            "release_id": ["L1", "L2"],
            "item": ["offline_eval"] * 2,
            "status": ["waived"] * 2,
            "approved_by": [" ", "cto"],
        }
    )
    status = evidence_status(blank, units, load_policy())
    assert status["evidence_complete"].to_list() == [False, True]
    assert status["missing_evidence"].to_list() == [["offline_eval"], []]


# ---------------------------------------------------------------------------- the review's path


def test_review_path_section_renders_path_review(tmp_path: Path) -> None:
    """The post-release review's path section shows, area by area, the badge, the required and
    the happened of ``path_review``, and its findings: one definition of the path."""
    folder = build(
        tmp_path,
        drop("evidence", item="pilot_report"),
        update("evidence", {"item": "canary_plan"}, status="waived"),
        update("gates", {"gate": "safety"}, result="fail"),
        drop("rollout_stages", stage=2),
        update("approvals", {"role": "platform"}, final="true"),
    )
    ctx = rs.release_context(folder, "R1", AS_OF)
    review = path_review(ctx.analysis.audit, "R1", ctx.policy)
    section = rs.release_path(ctx)
    page = section._repr_html_()
    for step in review.steps:
        assert (
            f"<b>Required:</b> {escape(step.required)}<br><b>Happened:</b> "
            f"{escape(step.happened)}</p>" in page
        ), step
    badges = re.findall(r"<h3>([^<]+) <span class=\"ra-badge ra-(\w+)\">", page)
    assert badges == [
        ("Risk tier", "good"),
        ("Evidence", "bad"),
        ("Gates", "bad"),
        ("Rollout", "bad"),
        ("Approvals", "bad"),
        ("Release train", "good"),
        ("Observability", "good"),
    ]
    assert [s.ok for s in review.steps] == [True, False, False, False, False, True, True]
    shown = re.findall(r"<td>(critical|major|minor)</td><td>(\w+)</td><td>([^<]+)</td>", page)
    assert shown == [
        (FINDING_CODES[c].severity, c, escape(s))
        for c, s in zip(review.findings, review.sentences, strict=True)
    ]
    assert review.findings == (
        "evidence_missing",
        "waiver_without_approver",
        "gate_failed_shipped",
        "rollout_step_skipped",
        "multiple_final_approvals",
    )
    assert section.takeaway[1] == "The release did not follow that path: 5 audit findings."
    # the evidence table marks the waiver without approver and the missing item, nothing else
    assert page.count('<tr class="ra-row-bad"><td>canary_plan</td>') == 1
    assert page.count('<tr class="ra-row-bad"><td>pilot_report</td>') == 1


# ---------------------------------------------------------------------------- named steps


def at(hour: int) -> datetime:
    return datetime(2026, 4, 1, hour, tzinfo=UTC)


def stage_frame(rows: list[tuple]) -> pl.DataFrame:
    """(release, stage, traffic %, start hour, decision, stop met) -> a rollout_stages frame."""
    return pl.DataFrame(
        [
            {
                "release_id": rid,
                "stage": n,
                "traffic_pct": float(pct),
                "started_at": at(h),
                "ended_at": at(h + 1),
                "decision": decision,
                "stop_condition_met": stop,
                ROW: i,
            }
            for i, (rid, n, pct, h, decision, stop) in enumerate(rows)
        ]
    )


def test_stage_summary_and_skipped_steps_by_hand() -> None:
    # H: 1 -> 20 (stop met, advanced) -> 10 (traffic goes down) -> 100: skips 5, out of order.
    # L: straight to 100 %, halted with its stop condition met. N: a stage without a number.
    st = checks._ordered_stages(
        stage_frame(
            [
                ("H", 3, 10, 3, "advance", False),
                ("H", 1, 1, 1, "advance", False),
                ("H", 2, 20, 2, "advance", True),
                ("H", 4, 100, 4, "complete", False),
                ("L", 1, 100, 1, "halt", True),
                ("N", None, 5, 1, "advance", False),
            ]
        ),
        None,
    )
    assert st["release_id"].to_list() == ["H"] * 4 + ["L"]
    assert st["traffic_pct"].to_list() == [1.0, 20.0, 10.0, 100.0, 100.0]
    summary = {r["release_id"]: r for r in checks._stage_summary(st).iter_rows(named=True)}
    assert summary["H"] == {
        "release_id": "H",
        "rollout_stages": 4,
        "_has_canary": True,
        "_out_of_order": True,
        "stop_conditions_ignored": 1,
        "_stop_met": True,
        "_halted": False,
        "_traffic": ["1", "20", "10", "100"],
    }
    assert summary["L"]["_has_canary"] is False and summary["L"]["_halted"] is True
    assert summary["L"]["stop_conditions_ignored"] == 0 and summary["L"]["_stop_met"] is True
    base = pl.DataFrame(
        {
            "release_id": ["H", "L"],
            "effective_tier": ["high", "medium"],
            "_plan": [[1.0, 5.0, 20.0, 100.0], [5.0, 50.0, 100.0]],
        }
    )
    # only the high tier is held to every step; 5 % was never reached before 20 %
    skipped = checks._skipped_steps(st, base)
    assert skipped.to_dicts() == [{"release_id": "H", "skipped_steps": [5.0]}]


def test_a_gate_waiver_with_a_blank_approver_is_unapproved() -> None:
    base = pl.DataFrame({"release_id": ["G1"], "_req_gates": [["functional", "safety"]]})
    gates = pl.DataFrame(
        {
            "release_id": ["G1", "G1"],
            "gate": ["functional", "safety"],
            "result": ["waived", "waived"],
            "evaluated_at": [at(8), at(8)],
            "approved_by": ["cto", " "],
            ROW: [1, 2],
        }
    )
    r = checks._gate_checks(gates, base, None).row(0, named=True)
    assert r["unapproved_gate_waivers"] == ["safety"]
    assert r["gates_ok"] is False and r["gates_passed_all"] is False
    # without the column no waiver is approved
    r = checks._gate_checks(gates.drop("approved_by"), base, None).row(0, named=True)
    assert r["unapproved_gate_waivers"] == ["functional", "safety"]


def test_outcome_flags_and_risk_segmentation_by_hand() -> None:
    df = pl.DataFrame(
        {
            "release_id": ["a", "b", "c", "d"],
            "month": ["2026-04", "2026-04", "2026-05", "2026-04"],
            "effective_tier": ["high", "low", "high", "low"],
            "_deployed": [True, True, True, False],
            "evidence_ok": [True, True, False, True],
            "gates_ok": [True, True, True, True],
            "rollout_ok": [True, True, True, None],
            "approvals_ok": [True, True, True, True],
            "gates_passed_all": [True, True, True, True],
            "_plans_canary": [True, False, True, True],
            "_has_canary": [True, False, False, False],
            "_gates_run": [["functional"]] * 4,
            "_traffic": [["100"]] * 4,
            "_roles": [["product_owner"]] * 4,
        }
    )
    out = audit_module._risk_segmentation(audit_module._outcome_flags(df, failed=["a", "x"]))
    got = {r["release_id"]: r for r in out.iter_rows(named=True)}
    assert [got[k]["path_compliant"] for k in "abcd"] == [True, True, False, None]
    assert [got[k]["failed"] for k in "abcd"] == [True, False, False, False]
    assert [got[k]["gate_escape"] for k in "abcd"] == [True, False, False, False]
    assert [got[k]["offline_only"] for k in "abcd"] == [False, False, True, None]
    assert got["a"]["path_signature"] == "functional|100|product_owner"
    # April: a (high) and b (low) deployed, the same path: flagged; d is not deployed yet
    assert [got[k]["no_risk_segmentation"] for k in "abcd"] == [True, True, False, None]


def health_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "release_id": ["a", "b", "c"],
            "failed": [True, True, False],
            "gate_escape": [True, False, False],
            "gates_passed_all": [True, False, None],
            "misclassified": [True, None, False],
            "stop_conditions_ignored": [0, 2, 1],
            "findings": [["misclassified", "gate_escape"], ["gate_failed_shipped"], []],
            "demo_quality": [True, None, False],
            "offline_only": [False, False, False],
            "ship_and_forget": [False, False, True],
            "no_risk_segmentation": [False, False, False],
        }
    )


def test_health_steps_by_hand() -> None:
    df = health_frame()
    escape_rate = health._gate_escape_rate(df, 0.05)
    assert (escape_rate.numerator, escape_rate.denominator) == (1, 2)
    assert escape_rate.extra["release_ids"] == ["a"]
    assert escape_rate.extra["releases_passing_all_gates"] == 1
    miscl = health._misclassification_rate(df, 0.05)
    assert (miscl.numerator, miscl.denominator) == (1, 2)
    assert miscl.message == "1 release without a valid declared tier"
    stop = health._stop_conditions_ignored(df)
    assert (stop.count, stop.release_ids, stop.extra) == (3, ("b", "c"), {"releases": 2})
    assert health._findings_by_code(df) == {
        "misclassified": ("a",),
        "gate_failed_shipped": ("b",),
        "gate_escape": ("a",),
    }
    anti = health._anti_patterns(df, (2, ("X1", "X2"), "ok", ""))
    assert anti["demo_quality"].release_ids == ("a",)
    assert anti["demo_quality"].status == "immature"  # b is not decidable yet
    assert anti["ship_and_forget"].count == 1 and anti["offline_only"].count == 0
    assert anti["no_risk_segmentation"].count == 0
    assert anti["no_release_incident_link"].incident_ids == ("X1", "X2")


def test_observability_linkage_without_telemetry() -> None:
    df = pl.DataFrame(
        {
            "release_id": ["a", "b"],
            "telemetry_available": [False, False],
            "marker_24h": pl.Series([None, None], dtype=pl.Boolean),
            "operator_72h": [True, False],
            "observability_ok": pl.Series([None, None], dtype=pl.Boolean),
        }
    )
    linkage = health._observability_linkage(df, 0.05)
    assert linkage.status == "insufficient_data" and linkage.value is None
    assert linkage.extra["operator_72h"]["numerator"] == 1
    with_telemetry = df.with_columns(
        pl.lit(True).alias("telemetry_available"),
        pl.Series([True, True]).alias("marker_24h"),
        pl.Series([True, False]).alias("observability_ok"),
    )
    linkage = health._observability_linkage(with_telemetry, 0.05)
    assert (linkage.numerator, linkage.denominator) == (1, 2)
    assert linkage.extra["non_compliant_release_ids"] == ["b"]


def test_path_areas_by_hand() -> None:
    policy = load_policy()
    tp = policy.tiers["high"]
    r = {
        "declared_tier": None,
        "implied_tier": "high",
        "changed_components": ["model"],
        "tier_ok": None,
        "traffic_steps": ["1", "20", "100"],
        "stop_conditions_ignored": 2,
        "skipped_steps": [5.0],
        "rollout_ok": False,
        "missing_approvals": ["operations"],
        "final_votes": 0,
        "final_decision": None,
        "final_approver": None,
        "accountable_owner": None,
        "approvals_ok": False,
        "single_owner": False,
    }
    assert path_areas._tier(r, tp, policy) == (
        "declared tier at least the implied high",
        "declared none (no valid tier); changed model",
        None,
    )
    assert path_areas._rollout(r, tp, policy) == (
        "1 -> 5 -> 20 -> 100 %, halting when a stop condition is met",
        "1 -> 20 -> 100 %; 2 stop conditions ignored; skipped step 5 %",
        False,
    )
    assert path_areas._approvals(r, tp, policy)[1:] == (
        "missing go: operations; 0 final votes; owner none",
        False,
    )
