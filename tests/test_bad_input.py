"""Bad input (docs/data-contract.md): every problem names table, row (line, id) and column;
structural problems stop the run; row-level ones are counted findings and totals reconcile."""

from __future__ import annotations

from pathlib import Path

import pytest

import analytics as ra
from analytics.cli.main import main

AS_OF = ra.parse_as_of("2026-06-01T00:00:00Z")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _finding(ds: ra.Dataset, code: str) -> ra.Finding:
    found = [f for f in ds.quality.findings if f.code == code]
    assert len(found) == 1, ds.quality.findings
    return found[0]


def test_missing_required_column_stops_with_table_and_column(tiny_dir: Path, capsys) -> None:
    _edit(tiny_dir / "incidents.csv", "detected_at", "detected")
    with pytest.raises(ra.DataError) as err:
        ra.load_dataset(tiny_dir)
    assert "table 'incidents'" in str(err.value)
    assert "'detected_at'" in str(err.value)
    assert "line 1" in str(err.value)
    assert main(["validate", "--data", str(tiny_dir)]) == 2
    assert "detected_at" in capsys.readouterr().err


def test_missing_required_table(tiny_dir: Path) -> None:
    (tiny_dir / "releases.csv").unlink()
    with pytest.raises(ra.DataError, match="table 'releases' is required"):
        ra.load_dataset(tiny_dir)


def test_unreadable_file_is_structural(tiny_dir: Path) -> None:
    (tiny_dir / "gates.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ra.DataError, match="table 'gates'"):
        ra.load_dataset(tiny_dir)


def test_unparseable_timestamp_is_named_and_value_left_out(tiny_dir: Path) -> None:
    _edit(tiny_dir / "incidents.csv", "2026-04-12T02:00:00Z", "12/04/2026 2am")
    ds = ra.load_dataset(tiny_dir)
    f = _finding(ds, "invalid_timestamp")
    assert (f.table, f.line, f.record_id, f.column) == ("incidents", 2, "X1", "mitigated_at")
    assert "12/04/2026 2am" in f.message
    assert ds.quality.values_excluded["incidents.mitigated_at"] == 1
    # The rest of the row is kept: X1 still attributes to A2 and still fails it.
    a = ra.analyze(ds, AS_OF)
    k = ra.monthly_kpis(a, "2026-04").to_dict()["kpis"]
    assert k["change_failure_rate"]["numerator"] == 2
    # Without a valid mitigation time X1 is left out of MTTM (not taken as still open).
    assert k["mttm_hours"]["n"] == 0 and k["mttm_hours"]["n_censored"] == 1
    assert k["mttm_hours"]["excluded"] == 1


def test_timestamp_without_offset_rejected_unless_assumed(tiny_dir: Path) -> None:
    _edit(tiny_dir / "releases.csv", "2026-04-03T10:00:00Z", "2026-04-03T10:00:00")
    ds = ra.load_dataset(tiny_dir)
    f = _finding(ds, "timestamp_without_offset")
    assert (f.table, f.line, f.record_id, f.column) == ("releases", 3, "A1", "released_at")
    k = ra.monthly_kpis(ra.analyze(ds, AS_OF), "2026-04").to_dict()
    assert k["releases_deployed"] == 3  # A1 has no usable release time
    (tiny_dir / "policy.yaml").write_text(
        (tiny_dir / "policy.yaml").read_text() + "\nassume_timezone: Europe/Berlin\n"
    )
    ds = ra.load_dataset(tiny_dir)
    assert not ds.quality.errors
    a1 = ds.releases.filter(ds.releases["release_id"] == "A1")["released_at"][0]
    assert a1.isoformat() == "2026-04-03T08:00:00+00:00"  # CEST is UTC+2


def test_unknown_enum_value(tiny_dir: Path) -> None:
    _edit(tiny_dir / "incidents.csv", "sev3,cost", "sev3,costs")
    ds = ra.load_dataset(tiny_dir)
    f = _finding(ds, "unknown_enum")
    assert (f.table, f.line, f.record_id, f.column) == ("incidents", 4, "X3", "category")
    assert "'costs'" in f.message


def test_duplicate_id_keeps_first(tiny_dir: Path) -> None:
    with (tiny_dir / "incidents.csv").open("a") as fh:
        fh.write("X2,support,,,2026-05-01T10:00:00Z,,sev4,latency,none,alert\n")
    ds = ra.load_dataset(tiny_dir)
    f = _finding(ds, "duplicate_id")
    assert (f.table, f.line, f.record_id, f.column) == ("incidents", 5, "X2", "incident_id")
    assert ds.quality.rows_excluded["incidents"] == {"duplicate_id": 1}
    assert ds.incidents.height == 3
    assert ds.quality.reconciles()


def test_exact_duplicate_counts_once(tiny_dir: Path) -> None:
    line = (tiny_dir / "incidents.csv").read_text().splitlines()[1]
    with (tiny_dir / "incidents.csv").open("a") as fh:
        fh.write(line + "\n")
    ds = ra.load_dataset(tiny_dir)
    f = _finding(ds, "exact_duplicate")
    assert (f.line, f.record_id, f.severity) == (5, "X1", "warning")
    assert "line 2" in f.message
    assert ds.quality.rows_read["incidents"] == 4
    assert ds.quality.rows_loaded["incidents"] == 3
    assert ds.quality.reconciles()
    k = ra.monthly_kpis(ra.analyze(ds, AS_OF), "2026-04").to_dict()["kpis"]
    assert k["mttm_hours"]["n"] == 1  # X1 once


def test_reference_to_unknown_release(tiny_dir: Path) -> None:
    with (tiny_dir / "evidence.csv").open("a") as fh:
        fh.write("ZZ9,offline_eval,present,,\n")
    ds = ra.load_dataset(tiny_dir)
    f = _finding(ds, "unknown_release")
    assert (f.table, f.line, f.column) == ("evidence", 22, "release_id")
    assert "ZZ9" in f.message
    assert ds.quality.rows_excluded["evidence"] == {"unknown_release": 1}
    assert ds.quality.reconciles()


def test_incident_linked_to_unknown_release_stays_unattributed(tiny_dir: Path) -> None:
    _edit(tiny_dir / "incidents.csv", "X2,support,A3", "X2,support,A9")
    ds = ra.load_dataset(tiny_dir)
    f = _finding(ds, "unknown_release")
    assert (f.table, f.record_id, f.column) == ("incidents", "X2", "release_id")
    a = ra.analyze(ds, AS_OF)
    row = a.incidents.filter(a.incidents["incident_id"] == "X2").row(0, named=True)
    assert row["attributed_release_id"] is None and row["attribution"] == "unknown_release"


def test_mitigated_before_detected(tiny_dir: Path) -> None:
    _edit(tiny_dir / "incidents.csv", "2026-04-12T02:00:00Z", "2026-04-11T20:00:00Z")
    ds = ra.load_dataset(tiny_dir)
    f = _finding(ds, "impossible_duration")
    assert (f.table, f.line, f.record_id, f.column) == ("incidents", 2, "X1", "mitigated_at")
    k = ra.monthly_kpis(ra.analyze(ds, AS_OF), "2026-04").to_dict()["kpis"]
    # Still a failure and still counts for detection, but not for MTTM.
    assert k["change_failure_rate"]["numerator"] == 2
    assert k["mttd_hours"]["n"] == 2
    assert k["mttm_hours"]["n"] == 0
    assert k["mttm_hours"]["excluded"] == 1


def test_detected_before_released(tiny_dir: Path) -> None:
    _edit(
        tiny_dir / "incidents.csv",
        "X2,support,A3,,2026-04-21T10:00:00Z",
        "X2,support,A3,,2026-04-19T10:00:00Z",
    )
    ds = ra.load_dataset(tiny_dir)
    a = ra.analyze(ds, AS_OF)
    found = [f for f in a.quality.findings if f.code == "impossible_duration"]
    assert len(found) == 1
    assert (found[0].table, found[0].line, found[0].record_id, found[0].column) == (
        "incidents",
        3,
        "X2",
        "detected_at",
    )
    k = ra.monthly_kpis(a, "2026-04").to_dict()["kpis"]
    assert k["change_failure_rate"]["numerator"] == 2  # A3 still failed
    # A3's detection is invalid, so it is censored at as_of rather than observed.
    assert k["mttd_hours"]["n"] == 1 and k["mttd_hours"]["n_censored"] == 1


def test_invalid_bool_and_number(tmp_path: Path) -> None:
    from conftest import release, write_table

    write_table(tmp_path, "releases", [release("R1", "s", "2026-04-01T00:00:00Z")])
    write_table(
        tmp_path,
        "rollout_stages",
        [
            {
                "release_id": "R1",
                "stage": 1,
                "traffic_pct": 150,
                "started_at": "2026-04-01T00:00:00Z",
                "decision": "advance",
                "stop_condition_met": "maybe",
            },
        ],
    )
    ds = ra.load_dataset(tmp_path)
    codes = {(f.code, f.column, f.line) for f in ds.quality.findings}
    assert ("invalid_number", "traffic_pct", 2) in codes
    assert ("invalid_bool", "stop_condition_met", 2) in codes
