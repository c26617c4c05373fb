"""As-of everywhere: a result as of T never changes when records dated after T are loaded.

A hand-built system ``s`` with three low-tier releases in April 2026 and T = 2026-04-10T00:00Z.
The "later" dataset is the same plus what happened after T: an incident detected after T, a
mitigation after T (of an incident open at T), a rollout stage running at T that ended with a
rollback after T, an operator rollback after T and a gate re-evaluation after T.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import polars as pl
from conftest import incident, release, write_table

import analytics as ra
from analytics.cli.main import main
from analytics.data.asof import known_at

T = ra.parse_as_of("2026-04-10T00:00:00Z")
T2 = ra.parse_as_of("2026-04-20T00:00:00Z")

RELEASES = [
    release("R1", "s", "2026-04-01T00:00:00Z"),
    release("R2", "s", "2026-04-03T00:00:00Z", prompt="p2"),
    release("R3", "s", "2026-04-06T00:00:00Z", prompt="p3"),
]
STAGE_COLS = [
    "release_id",
    "stage",
    "traffic_pct",
    "started_at",
    "ended_at",
    "decision",
    "stop_condition_met",
]
OP_COLS = ["release_id", "decided_at", "operator", "action", "rationale"]
GATE_COLS = ["release_id", "gate", "result", "evaluated_at"]


def _stage(stage: int, pct: int, start: str, end: str, decision: str, stop: str = "") -> dict:
    return dict(zip(STAGE_COLS, ["R3", stage, pct, start, end, decision, stop], strict=True))


def _gate(rid: str, result: str, at: str) -> dict:
    return {"release_id": rid, "gate": "functional", "result": result, "evaluated_at": at}


def _write(folder: Path, later: bool) -> Path:
    """The dataset as it stood at T (``later=False``) or as loaded afterwards (``later=True``)."""
    i2 = {"release_id": "R2"}
    if later:  # I2 was open at T; it was rolled back on 04-12
        i2 |= {"mitigated_at": "2026-04-12T00:00:00Z", "mitigation": "model_rollback"}
    incidents = [
        incident(
            "I1",
            "s",
            "2026-04-01T12:00:00Z",
            release_id="R1",
            mitigated_at="2026-04-01T18:00:00Z",
            mitigation="config_fix",
        ),
        incident("I2", "s", "2026-04-04T00:00:00Z", category="safety", **i2),
    ]
    # R3's 100 % stage started before T; at T it was still holding, it ended in a rollback.
    stages = [_stage(1, 10, "2026-04-06T00:00:00Z", "2026-04-07T00:00:00Z", "advance")]
    stages.append(
        _stage(2, 100, "2026-04-09T00:00:00Z", "2026-04-10T12:00:00Z", "rollback", "true")
        if later
        else _stage(2, 100, "2026-04-09T00:00:00Z", "", "hold")
    )
    ops = [
        {
            "release_id": "R3",
            "decided_at": "2026-04-06T06:00:00Z",
            "operator": "ann",
            "action": "continue",
            "rationale": "",
        }
    ]
    gates = [_gate(r, "pass", at) for r, at in (("R1", "2026-03-31T23:00:00Z"),
                                                ("R2", "2026-04-02T23:00:00Z"),
                                                ("R3", "2026-04-05T23:00:00Z"))]  # fmt: skip
    if later:
        incidents.append(
            incident(
                "I3",
                "s",
                "2026-04-11T00:00:00Z",
                release_id="R3",
                mitigated_at="2026-04-11T04:00:00Z",
                mitigation="config_fix",
            )
        )
        ops.append(
            {
                "release_id": "R3",
                "decided_at": "2026-04-10T12:00:00Z",
                "operator": "bob",
                "action": "rollback",
                "rationale": "stop condition met",
            }
        )
        gates.append(_gate("R3", "fail", "2026-04-11T00:00:00Z"))
    write_table(folder, "releases", RELEASES)
    write_table(folder, "incidents", incidents)
    write_table(folder, "rollout_stages", stages, STAGE_COLS)
    write_table(folder, "operator_decisions", ops, OP_COLS)
    write_table(folder, "gates", gates, GATE_COLS)
    return folder


def _at(folder: Path, as_of: datetime) -> tuple[dict, dict[str, dict], ra.Analysis]:
    analysis = ra.analyze(ra.load_dataset(folder), as_of)
    kpis = ra.monthly_kpis(analysis, "2026-04").to_dict()
    records = {r["release_id"]: r for r in ra.release_records(analysis, "2026-04")}
    return kpis, records, analysis


def test_as_of_t_hand_worked(tmp_path: Path) -> None:
    kpis, recs, _ = _at(_write(tmp_path, later=False), T)
    k = kpis["kpis"]
    cfr = k["change_failure_rate"]
    assert (cfr["numerator"], cfr["denominator"]) == (2, 3)  # R1, R2 by incident
    assert cfr["by_signal"] == {"incident": 2, "rollback": 0, "telemetry": 0}
    d = k["mttd_hours"]  # R1 12 h, R2 24 h
    assert (d["n"], d["n_censored"], d["mean"], d["median"]) == (2, 0, 18.0, 18.0)
    assert d["km_median"] == 18.0  # the conventional KM median: S = 0.5 on [12, 24)
    m = k["mttm_hours"]  # I1 6 h; I2 open, censored at T after 6 days = 144 h
    assert (m["n"], m["n_censored"], m["mean"], m["median"]) == (1, 1, 6.0, 6.0)
    assert m["km_median"] == 6.0  # S = 0.5 from 6 h to the end of the curve
    assert m["by_mitigation"] == {"config_fix": m["by_mitigation"]["config_fix"]}
    assert recs["R3"]["failed"] is False and recs["R3"]["failure_signals"] == []
    assert recs["R3"]["dora_failed"] is False and recs["R3"]["detection_hours"] is None
    assert recs["R2"]["failure_signals"] == ["incident"] and recs["R2"]["detection_hours"] == 24.0
    assert recs["R1"]["detection_hours"] == 12.0
    assert "gate_failed_shipped" not in recs["R3"]["findings"]
    # R2 failed although its one required gate passed; R1, the system's first release, changed
    # every component (effective tier high) and did not run the high tier's gates.
    assert "gate_escape" in recs["R2"]["findings"] and "gate_not_run" in recs["R1"]["findings"]


def test_later_records_change_nothing_as_of_t(tmp_path: Path) -> None:
    k_then, r_then, a_then = _at(_write(tmp_path / "then", later=False), T)
    k_now, r_now, a_now = _at(_write(tmp_path / "now", later=True), T)
    # data_quality describes the files read (the later dataset has more rows); both are clean.
    q_then, q_now = k_then.pop("data_quality"), k_now.pop("data_quality")
    assert q_then["errors"] == q_now["errors"] == [] and q_then["warnings"] == q_now["warnings"]
    for key in k_then:
        assert k_now[key] == k_then[key], key
    assert r_now.keys() == r_then.keys()
    for rid, rec in r_then.items():
        for field, value in rec.items():
            assert r_now[rid][field] == value, (rid, field)
    # The cut the reports read: I3 unknown, I2 open without its mitigation type, R3's stage 2
    # running without a decision, the operator rollback and the gate re-run not taken yet.
    cut = a_now.dataset
    assert cut.incidents["incident_id"].to_list() == ["I1", "I2"]
    i2 = cut.incidents.filter(pl.col("incident_id") == "I2").row(0, named=True)
    assert i2["mitigated_at"] is None and i2["mitigation"] is None
    s2 = cut.rollout_stages.filter(pl.col("stage") == 2).row(0, named=True)
    assert (s2["ended_at"], s2["decision"], s2["stop_condition_met"]) == (None, None, None)
    assert cut.operator_decisions["action"].to_list() == ["continue"]
    assert cut.gates["result"].to_list() == ["pass", "pass", "pass"]
    assert a_then.audit.drop("findings").equals(a_now.audit.drop("findings"))


def test_as_of_later_the_later_records_count(tmp_path: Path) -> None:
    kpis, recs, _ = _at(_write(tmp_path, later=True), T2)
    k = kpis["kpis"]
    cfr = k["change_failure_rate"]
    assert (cfr["numerator"], cfr["denominator"], cfr["status"]) == (3, 3, "ok")
    # R2: I2 mitigated by a model rollback on 04-12; R3: stage and operator rollback 04-10 12:00.
    assert cfr["by_signal"] == {"incident": 3, "rollback": 2, "telemetry": 0}
    d = k["mttd_hours"]  # R3 first detected by its rollback 04-10 12:00 (I3 came 12 h later)
    assert (d["n"], d["n_censored"], d["mean"], d["median"], d["km_median"]) == (
        3,
        0,
        48.0,  # (12 + 24 + 108) / 3
        24.0,
        24.0,
    )
    m = k["mttm_hours"]  # I1 6 h, I2 192 h (04-04 -> 04-12), I3 4 h
    assert (m["n"], m["n_censored"], m["median"], m["km_median"]) == (3, 0, 6.0, 6.0)
    assert abs(m["mean"] - 202.0 / 3) < 1e-12
    assert m["by_mitigation"]["model_rollback"]["mean"] == 192.0
    assert recs["R3"]["failed"] is True and recs["R3"]["detection_hours"] == 108.0
    assert recs["R3"]["failure_signals"] == ["incident", "rollback"]
    assert recs["R3"]["incident_count"] == 1
    assert recs["R2"]["failure_signals"] == ["incident", "rollback"]
    assert "gate_failed_shipped" in recs["R3"]["findings"]
    assert "gate_escape" not in recs["R3"]["findings"]  # its gate did not pass in the end


def test_just_before_and_at_the_rollback(tmp_path: Path) -> None:
    """The stage's rollback counts from its ended_at, inclusive."""
    folder = _write(tmp_path, later=True)
    ds = ra.load_dataset(folder)
    before = ra.analyze(ds, ra.parse_as_of("2026-04-10T11:59:59Z"))
    at = ra.analyze(ds, ra.parse_as_of("2026-04-10T12:00:00Z"))
    r3 = lambda a: a.releases.filter(pl.col("release_id") == "R3").row(0, named=True)  # noqa: E731
    assert r3(before)["failed"] is False
    assert r3(at)["failure_signals"] == ["rollback"] and r3(at)["detection_hours"] == 108.0


def test_missing_times_are_kept_as_known(tmp_path: Path) -> None:
    """An operator rollback with an invalid decided_at counts at every as_of (a data error does
    not hide a failure) but dates no detection; the finding reports it."""
    write_table(tmp_path, "releases", RELEASES[:1])
    write_table(
        tmp_path,
        "operator_decisions",
        [{"release_id": "R1", "decided_at": "soon", "operator": "ann", "action": "rollback"}],
        OP_COLS,
    )
    ds = ra.load_dataset(tmp_path)
    assert [f.code for f in ds.quality.findings] == ["invalid_timestamp"]
    assert known_at(ds, T).operator_decisions.height == 1
    rec = ra.release_records(ra.analyze(ds, ra.parse_as_of("2026-04-01T00:00:00Z")))[0]
    assert rec["failure_signals"] == ["rollback"] and rec["detection_hours"] is None


def test_sample_rel_0198_not_failed_by_a_later_rollback(capsys, sample_dir: Path) -> None:
    """rel-0198 (released 2026-03-03 09:44 UTC) was rolled back at 2026-03-04 01:03:15, by its
    canary stage (started 2026-03-03 09:44) and by an operator; as of 00:00 that day neither had
    happened, and nothing else failed it."""
    argv = ["releases", "--data", str(sample_dir), "--as-of", "2026-03-04T00:00:00Z"]
    assert main([*argv, "--month", "2026-03", "--format", "json"]) == 0
    recs = {r["release_id"]: r for r in json.loads(capsys.readouterr().out)}
    r = recs["rel-0198"]
    assert (r["failed"], r["dora_failed"], r["failure_signals"]) == (False, False, [])
    assert r["detection_hours"] is None and "gate_escape" not in r["findings"]
    ds = ra.load_dataset(sample_dir)
    later = ra.analyze(ds, ra.parse_as_of("2026-03-04T01:03:15Z"), months=["2026-03"])
    row = later.releases.filter(pl.col("release_id") == "rel-0198").row(0, named=True)
    assert row["signal_rollback"] is True
    assert abs(row["detection_hours"] - (15 * 3600 + 19 * 60 + 15) / 3600) < 1e-9  # 15:19:15
