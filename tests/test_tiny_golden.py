"""The tiny worked example (tests/data/tiny), by hand, and a golden JSON of the whole output.

Refresh the golden file after an intended change with ``UPDATE_GOLDEN=1 make test``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import analytics as ra

GOLDEN = Path(__file__).parent / "data" / "golden" / "tiny_2026-04.json"
AS_OF = ra.parse_as_of("2026-06-01T00:00:00Z")


@pytest.fixture(scope="module")
def analysis():
    ds = ra.load_dataset(Path(__file__).parent / "data" / "tiny")
    return ra.analyze(ds, AS_OF)


@pytest.fixture(scope="module")
def kpis(analysis):
    return ra.monthly_kpis(analysis, "2026-04").to_dict()


def test_cohort_and_release_unit(analysis, kpis):
    assert kpis["releases_deployed"] == 4
    assert kpis["release_ids"] == ["A1", "A2", "A3", "B1"]
    rel = {r["release_id"]: r for r in ra.release_records(analysis, "2026-04")}
    assert rel["A1"]["changed_components"] == ["prompt"]
    assert rel["A2"]["changed_components"] == ["model"]
    assert rel["A3"]["changed_components"] == ["tools"]
    assert rel["B1"]["changed_components"] == ["routing"]
    assert {k: v["effective_tier"] for k, v in rel.items()} == {
        "A1": "low",
        "A2": "high",
        "A3": "medium",
        "B1": "medium",
    }
    # The tiny example records no gates, rollout or approvals, so the audit flags those too.
    assert {"misclassified", "evidence_missing", "gate_not_run"} <= set(rel["A2"]["findings"])
    assert "misclassified" not in rel["A3"]["findings"]
    assert "evidence_missing" not in rel["A3"]["findings"]
    assert rel["A2"]["missing_evidence"] == ["cross_functional_review", "pilot_report"]


def test_attribution(analysis):
    got = dict(analysis.incidents.select("incident_id", "attributed_release_id").iter_rows())
    assert got == {"X1": "A2", "X2": "A3", "X3": "B1"}


def test_kpi_values(kpis):
    k = kpis["kpis"]
    assert k["misclassification_rate"]["numerator"] == 1
    assert k["misclassification_rate"]["denominator"] == 4
    cfr = k["change_failure_rate"]
    assert (cfr["numerator"], cfr["denominator"], cfr["value"]) == (2, 4, 0.5)
    assert cfr["ci_low"] == pytest.approx(0.150, abs=5e-4)
    assert cfr["ci_high"] == pytest.approx(0.850, abs=5e-4)
    # X1 was mitigated by a model rollback of A2: the rollback signal fires for A2 as well.
    assert cfr["by_signal"] == {"incident": 2, "rollback": 1, "telemetry": 0}
    dora = k["dora_change_failure_rate"]
    assert (dora["numerator"], dora["denominator"]) == (3, 4)
    assert k["mttd_hours"]["mean"] == 30.0
    assert k["mttd_hours"]["median"] == 30.0
    assert k["mttd_hours"]["n"] == 2
    # p90 of {24, 36} with linear interpolation: 24 + 0.9 * 12
    assert k["mttd_hours"]["p90"] == pytest.approx(34.8)
    assert k["mttm_hours"]["mean"] == 4.0
    assert k["mttm_hours"]["n"] == 1
    assert k["mttm_hours"]["n_censored"] == 1
    assert k["mttm_hours"]["by_mitigation"]["model_rollback"]["n"] == 1
    ev = k["evidence_completeness"]
    assert (ev["numerator"], ev["denominator"]) == (3, 4)
    assert ev["by_item"]["pilot_report"]["numerator"] == 0
    assert ev["by_item"]["rollback_plan"]["numerator"] == 3  # B1's waiver has an approver
    # 4 releases in April (30 days): 4 / (30 / 7) per week
    assert k["deployment_frequency_per_week"] == pytest.approx(4 * 7 / 30)
    # lead times 25 h, 217 h, 121 h, 209 h -> median 165 h
    assert k["lead_time_hours"]["median"] == 165.0


def test_golden_json(kpis, analysis):
    payload = {"kpis": kpis, "releases": ra.release_records(analysis, None)}
    text = json.dumps(payload, indent=1, sort_keys=True)
    if os.environ.get("UPDATE_GOLDEN") == "1" or not GOLDEN.exists():
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text + "\n")
        if os.environ.get("UPDATE_GOLDEN") != "1":
            pytest.fail(f"golden file {GOLDEN} was missing and has been written; re-run")
    assert json.loads(text) == json.loads(GOLDEN.read_text())
