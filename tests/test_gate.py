"""``analytics gate``: exit codes (0 go, 1 no-go, 2 invalid input) and the JSON it prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_governance import (
    add,
    build,
    drop,
    release,
    set_release,
    ship_late,
    update,
)

from analytics.cli.main import main
from analytics.data.io import load_dataset
from analytics.decisions.gate import gate_decision
from analytics.governance.findings import FINDING_CODES


def run_gate(
    capsys: pytest.CaptureFixture[str], folder: Path, rid: str = "R1", fmt: str = "json"
) -> tuple[int, dict | str]:
    code = main(["gate", "--data", str(folder), "--release", rid, "--format", fmt])
    out = capsys.readouterr().out
    return code, (json.loads(out) if fmt == "json" and out else out)


def test_go(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_gate(capsys, build(tmp_path))
    assert code == 0
    assert out["decision"] == "go" and out["exit_code"] == 0
    assert out["reasons"] == [] and out["warnings"] == [] and out["data_errors"] == []
    assert out["effective_tier"] == "high" and out["changed_components"] == ["model"]
    assert out["checks"] == {
        "tier": True,
        "evidence": True,
        "gates": True,
        "approvals": True,
        "canary": True,
        "train": True,
    }
    assert out["summary"] == "GO for release R1, effective tier high"


def test_no_go_with_reasons(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = build(
        tmp_path,
        drop("evidence", item="pilot_report"),
        update("evidence", {"item": "rollback_plan"}, status="waived"),
        update("gates", {"gate": "safety"}, result="fail"),
        drop("gates", gate="business"),
        drop("approvals", role="operations"),
        update("approvals", {"role": "platform"}, final="true"),
        set_release(accountable_owner=""),
    )
    code, out = run_gate(capsys, folder)
    assert code == 1 and out["decision"] == "no_go"
    assert [(r["code"], r["message"]) for r in out["reasons"]] == [
        ("evidence_missing", "missing evidence required for tier high: pilot_report"),
        ("waiver_without_approver", "waived without an approver: evidence rollback_plan"),
        ("gate_not_run", "required gates not run for tier high: business"),
        ("gate_failed", "gates failed: safety"),
        ("approval_missing", "no go from required role(s): operations"),
        ("multiple_final_approvals", "2 approvers cast a final vote; exactly one is required"),
        ("no_accountable_owner", "accountable_owner is empty"),
    ]
    assert all(r["severity"] == FINDING_CODES[r["code"]].severity for r in out["reasons"])
    assert out["checks"]["evidence"] is False and out["checks"]["gates"] is False
    assert out["checks"]["approvals"] is False and out["checks"]["tier"] is True


def test_misclassified_tier_is_no_go(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_gate(capsys, build(tmp_path, set_release(risk_tier="low")))
    assert code == 1
    assert out["declared_tier"] == "low" and out["effective_tier"] == "high"
    assert out["reasons"] == [
        {
            "code": "misclassified",
            "severity": "major",
            "message": "declared tier low but the changed components (model) imply high: "
            "declare it high",
        }
    ]


def test_canary_stop_condition_is_no_go(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = build(
        tmp_path,
        update("rollout_stages", {"stage": 2}, stop_condition_met="true", decision="hold"),
        drop("rollout_stages", stage=3),
        drop("rollout_stages", stage=4),
    )
    code, out = run_gate(capsys, folder)
    assert code == 1
    assert [r["code"] for r in out["reasons"]] == ["stop_condition_met"]
    assert out["checks"]["canary"] is False


def test_train_window_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_gate(capsys, build(tmp_path, ship_late()))
    assert code == 0
    assert [w["code"] for w in out["warnings"]] == ["train_violation"]
    assert out["checks"]["train"] is False


def test_candidate_without_telemetry_or_rollout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A candidate planned for next month: no rollout, no telemetry, no operator decision."""

    def candidate(t: dict) -> None:
        r2 = release("R2", "support", "2026-05-06T10:00:00Z", "low", model="m2", prompt="p2")
        r2.update({"accountable_owner": "dana", "train": "daily", "summary": "tone"})
        t["releases"].append(r2)
        t["evidence"].append({"release_id": "R2", "item": "offline_eval", "status": "present"})
        t["gates"].append(
            {
                "release_id": "R2",
                "gate": "functional",
                "result": "pass",
                "evaluated_at": "2026-05-05T08:00:00Z",
            }
        )
        t["approvals"].append(
            {
                "release_id": "R2",
                "role": "product_owner",
                "approver": "pat",
                "decision": "go",
                "decided_at": "2026-05-05T09:00:00Z",
                "final": "true",
            }
        )
        del t["telemetry"], t["rollout_stages"], t["operator_decisions"]

    folder = build(tmp_path, candidate)
    assert not (folder / "telemetry.csv").exists()
    assert not (folder / "rollout_stages.csv").exists()
    code, out = run_gate(capsys, folder, "R2")
    assert code == 0, out
    assert out["effective_tier"] == "low" and out["changed_components"] == ["prompt"]
    # and the same candidate without its final vote is a no-go
    folder2 = build(tmp_path / "b", candidate, lambda t: t["approvals"][-1].update(final="false"))
    code, out = run_gate(capsys, folder2, "R2")
    assert code == 1 and [r["code"] for r in out["reasons"]] == ["no_final_approval"]


def test_unknown_release_is_invalid_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["gate", "--data", str(build(tmp_path)), "--release", "NOPE"])
    captured = capsys.readouterr()
    assert code == 2
    assert "release 'NOPE' is not in the releases table" in captured.err
    assert captured.out == ""


def test_missing_folder_is_invalid_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gate", "--data", str(tmp_path / "none"), "--release", "R1"]) == 2


def test_data_errors_in_the_release_make_it_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = build(tmp_path, update("gates", {"gate": "safety"}, result="maybe"))
    code, out = run_gate(capsys, folder)
    assert code == 2 and out["decision"] == "invalid"
    assert len(out["data_errors"]) == 1
    assert "table 'gates', line " in out["data_errors"][0]
    assert "unknown value 'maybe'" in out["data_errors"][0]
    # an error in another release's rows does not block this one
    other = build(
        tmp_path / "b", add("gates", {"release_id": "R0", "gate": "safety", "result": "maybe"})
    )
    code, out = run_gate(capsys, other)
    assert code == 0 and out["decision"] == "go"


def test_text_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_gate(capsys, build(tmp_path, drop("evidence", item="pilot_report")), fmt="text")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "NO-GO for release R1, effective tier high: 1 blocking reason(s)"
    assert (
        "  [critical] evidence_missing: missing evidence required for tier high: "
        "pilot_report" in lines
    )


def test_gate_decision_library_call(tmp_path: Path) -> None:
    decision = gate_decision(load_dataset(build(tmp_path)), "R1")
    assert decision.exit_code == 0
    assert json.loads(json.dumps(decision.to_dict(), allow_nan=False))["decision"] == "go"
