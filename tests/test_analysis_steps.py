"""Each named step of ``analyze`` (analytics/analysis/steps.py) on its own, on the tiny worked
example (tests/data/tiny), against small tables worked out by hand from its CSV files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest

import analytics as ra
from analytics.analysis import steps

TINY = Path(__file__).parent / "data" / "tiny"
AS_OF = ra.parse_as_of("2026-06-01T00:00:00Z")


@pytest.fixture(scope="module")
def ds():
    return steps.cut(ra.load_dataset(TINY), AS_OF)


@pytest.fixture(scope="module")
def units(ds):
    return steps.units(ds)


@pytest.fixture(scope="module")
def attributed(ds, units):
    return steps.attribution(ds, units, AS_OF)


def _rows(df: pl.DataFrame, *cols: str) -> dict:
    return {r[0]: r[1:] if len(r) > 2 else r[1] for r in df.select(cols).iter_rows()}


def test_steps_are_listed_in_order_and_exist() -> None:
    assert steps.STEPS == (
        "cut",
        "units",
        "attribution",
        "comparison",
        "failures",
        "rework",
        "evidence",
        "unit_cost",
        "detection",
        "audit",
    )
    assert all(callable(getattr(steps, name)) for name in steps.STEPS)


def test_cut_hides_what_was_not_known_yet() -> None:
    # X1 detected 04-11 22:00, X2 04-21 10:00, X3 04-30 06:00 (UTC).
    early = steps.cut(ra.load_dataset(TINY), ra.parse_as_of("2026-04-21T09:59:59Z"))
    assert early.incidents["incident_id"].to_list() == ["X1"]
    at = steps.cut(ra.load_dataset(TINY), ra.parse_as_of("2026-04-21T10:00:00Z"))
    assert at.incidents["incident_id"].to_list() == ["X1", "X2"]


def test_units(units) -> None:
    got = _rows(units, "release_id", "previous_release_id", "changed_components", "effective_tier")
    assert got == {
        "A0": (None, got["A0"][1], "high"),
        "A1": ("A0", ["prompt"], "low"),
        "A2": ("A1", ["model"], "high"),  # declared medium; a model change implies high
        "A3": ("A2", ["tools"], "medium"),
        "B0": (None, got["B0"][1], "high"),
        "B1": ("B0", ["routing"], "medium"),
    }


def test_attribution(attributed) -> None:
    incidents, findings = attributed
    got = _rows(incidents, "incident_id", "attributed_release_id", "attribution", "dq_impact")
    assert got == {
        "X1": ("A2", "window", True),  # started 04-11 10:00, A2 released 04-10 10:00
        "X2": ("A3", "explicit", True),  # compliance
        "X3": ("B1", "window", False),  # cost: no decision-quality impact
    }
    assert findings == []


def test_comparison_without_telemetry_is_empty(units) -> None:
    assert steps.comparison(None, units, AS_OF, ra.load_dataset(TINY).policy) == {}
    # The releases the engine would judge: deployed, with a previous release.
    assert steps.compared_ids(units, AS_OF, None) == ["A1", "A2", "A3", "B1"]
    assert steps.compared_ids(units, AS_OF, ["2026-03"]) == []


def test_failures(ds, units, attributed) -> None:
    f = steps.failures(ds, units, attributed[0], AS_OF, {})
    got = _rows(f, "release_id", "failed", "failure_signals", "dora_failed", "detection_hours")
    assert got["A1"] == (False, [], False, None)
    # X1 mitigated by a model rollback: incident and rollback; detected 36 h after release.
    assert got["A2"] == (True, ["incident", "rollback"], True, 36.0)
    assert got["A3"] == (True, ["incident"], True, 24.0)
    # B1: a cost incident is a DORA failure only; released 04-29 02:00Z, detected 04-30 06:00Z.
    assert got["B1"] == (False, [], True, 28.0)
    tele = steps.failures(ds, units, attributed[0], AS_OF, {"A1": ["escalation_rate"]})
    assert _rows(tele, "release_id", "failure_signals")["A1"] == ["telemetry"]


def test_evidence(ds, units) -> None:
    got = _rows(steps.evidence(ds, units), "release_id", "evidence_complete", "missing_evidence")
    assert got["A1"] == (True, [])
    # high tier: review missing, pilot report waived without an approver
    assert got["A2"] == (False, ["cross_functional_review", "pilot_report"])
    assert got["A3"] == (True, [])
    assert got["B1"] == (True, [])  # rollback_plan waived by "lead"


def test_unit_cost_without_telemetry_is_null(units) -> None:
    cost = steps.unit_cost(None, units, {}, AS_OF, ra.load_dataset(TINY).policy)
    assert cost["release_id"].to_list() == units["release_id"].to_list()
    assert cost.drop("release_id").null_count().row(0) == (cost.height,) * (cost.width - 1)


def test_detection_needs_a_comparison() -> None:
    d = steps.detection({}, ["A2", "A3"])
    assert d.height == 0
    assert d.columns == ["release_id", "detectable_after_hours", "detectable_metric"]


def test_audit_and_analyze_compose_the_steps(ds) -> None:
    analysis = ra.analyze(ra.load_dataset(TINY), AS_OF)
    findings = _rows(analysis.audit, "release_id", "findings")
    assert {"misclassified", "evidence_missing", "gate_not_run"} <= set(findings["A2"])
    assert "evidence_missing" not in findings["A3"]
    # analyze's table carries every step's columns, one row per release.
    assert analysis.releases.height == 6
    for col in ("changed_components", "failed", "evidence_complete", "cost_n", "findings"):
        assert col in analysis.releases.columns


def test_attribution_says_which_rule_and_its_evidence(attributed) -> None:
    got = _rows(attributed[0], "incident_id", "attribution_gap_hours", "attribution_evidence")
    assert got == {
        "X1": (
            24.0,
            "latest support release before the incident, 24.0 h earlier (window 14.0 days)",
        ),
        "X2": (None, "release_id A3 named on the incident"),
        # B1 released 2026-04-28T22:00-04:00 = 04-29 02:00Z; X3 started 04-30 00:00Z
        "X3": (
            22.0,
            "latest search release before the incident, 22.0 h earlier (window 14.0 days)",
        ),
    }


def test_a_system_can_have_its_own_attribution_window(tmp_path) -> None:
    import shutil

    folder = tmp_path / "tiny"
    shutil.copytree(TINY, folder)
    with open(folder / "policy.yaml", "a", encoding="utf-8") as f:
        f.write("attribution_window_days_by_system: {search: 0.5}\n")
    ds = steps.cut(ra.load_dataset(folder), AS_OF)
    incidents, findings = steps.attribution(ds, steps.units(ds), AS_OF)
    got = _rows(incidents, "incident_id", "attribution", "attribution_evidence")
    assert got["X3"] == (
        "unattributed",
        "latest search release B1 was 22.0 h earlier, beyond the 0.5-day window",
    )
    assert got["X1"][0] == "window"  # support keeps the 14-day default
    assert [(f.code, f.record_id) for f in findings] == [("unattributed_incident", "X3")]
    assert "within 0.5 days" in findings[0].message


def test_rework(ds, units, attributed) -> None:
    # No emergency train and no roll-forward in the tiny example.
    r = steps.rework(ds, units, attributed[0], AS_OF)
    assert r["rework"].to_list() == [False] * 6
    # A3 follows A2; a roll-forward of A2 decided before A3's release makes A3 rework, one
    # decided after it does not; an emergency train is rework by itself.
    decisions = pl.DataFrame(
        {
            "release_id": ["A2"],
            "decided_at": [ra.parse_as_of("2026-04-19T10:00:00Z")],
            "action": ["roll_forward"],
        }
    )
    before = steps.rework(
        dataclasses.replace(ds, operator_decisions=decisions),
        units,
        attributed[0],
        AS_OF,
    )
    assert _rows(before, "release_id", "rework", "rework_reason")["A3"] == (
        True,
        "roll-forward of A2",
    )
    late = decisions.with_columns(
        pl.lit(ra.parse_as_of("2026-04-21T10:00:00Z")).alias("decided_at")
    )
    after = steps.rework(
        dataclasses.replace(ds, operator_decisions=late), units, attributed[0], AS_OF
    )
    assert _rows(after, "release_id", "rework")["A3"] is False
    emergency = units.with_columns(
        pl.when(pl.col("release_id") == "A1")
        .then(pl.lit("emergency"))
        .otherwise(pl.col("train"))
        .alias("train")
    )
    e = steps.rework(ds, emergency, attributed[0], AS_OF)
    assert _rows(e, "release_id", "rework", "rework_reason")["A1"] == (True, "emergency train")


def test_rework_rate_in_the_kpis() -> None:
    k = ra.monthly_kpis(ra.analyze(ra.load_dataset(TINY), AS_OF), "2026-04").to_dict()["kpis"]
    assert k["deployment_rework_rate"]["numerator"] == 0
    assert k["deployment_rework_rate"]["denominator"] == 4


def test_period_kpis_reconcile_with_their_months() -> None:
    """A quarter's and a year's counts are the sums of their months' (same cohort rule)."""
    analysis = ra.analyze(ra.load_dataset(TINY), AS_OF)

    def counts(period: str) -> tuple:
        k = ra.monthly_kpis(analysis, period).to_dict()
        kp = k["kpis"]
        return (
            k["releases_deployed"],
            kp["change_failure_rate"]["numerator"],
            kp["dora_change_failure_rate"]["numerator"],
            kp["evidence_completeness"]["numerator"],
            kp["misclassification_rate"]["numerator"],
            kp["deployment_rework_rate"]["numerator"],
        )

    months = {m: counts(m) for m in ("2026-03", "2026-04", "2026-05", "2026-06")}
    q1, q2 = counts("2026-Q1"), counts("2026-Q2")
    # March: A0 and B0, first releases; B0 (high tier) has only its offline eval.
    assert q1 == months["2026-03"] == (2, 0, 0, 1, 0, 0)
    assert q2 == tuple(
        map(sum, zip(*(months[m] for m in ("2026-04", "2026-05", "2026-06")), strict=True))
    )
    assert q2[:3] == (4, 2, 3)
    assert counts("2026") == tuple(a + b for a, b in zip(q1, q2, strict=True))
    year = ra.monthly_kpis(analysis, "2026").to_dict()
    assert year["period"] == "2026" and len(year["months"]) == 12
    # deployments per week over the days of 2026 that had passed by as_of (June 1, UTC):
    # 31 + 28 + 31 + 30 + 31 = 151, not the year's 365 (that would read 0.115 a week)
    assert year["kpis"]["deployment_frequency_per_week"] == pytest.approx(6 / (151 / 7))
    assert (year["days_observed"], year["period_days"]) == (151, 365)
    # a finished quarter: its 90 calendar days (Q1: 2 releases)
    q1k = ra.monthly_kpis(analysis, "2026-Q1").to_dict()["kpis"]
    assert q1k["deployment_frequency_per_week"] == pytest.approx(2 / (90 / 7))
    assert ra.monthly_kpis(analysis, "2026-Q1").to_dict()["days_observed"] == 90
