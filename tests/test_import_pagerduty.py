"""``analytics import pagerduty``: incidents and their log entries -> incidents."""

from __future__ import annotations

import csv
from pathlib import Path

from test_import_mapping import VENDOR, counts, loads_clean, run_import, snapshot

OCT = VENDOR / "pagerduty" / "incidents_2026-10.json"
NOV = VENDOR / "pagerduty" / "incidents_2026-11.json"


def _incidents(folder: Path) -> dict[str, dict[str, str]]:
    with (folder / "incidents.csv").open(encoding="utf-8") as fh:
        return {r["incident_id"]: r for r in csv.DictReader(fh)}


def test_exact_counts_rows_and_rejections(tmp_path: Path, capsys) -> None:
    into = tmp_path / "ds"
    code, report, _ = run_import(capsys, "pagerduty", OCT, into)
    assert code == 0
    # 6 entries: 3 incidents, 2 rejected, incident 101 listed twice (overlapping pages).
    assert counts(report) == (6, 3, 2, 1)
    assert report["rejected_by_reason"] == {"missing_value": 1, "unmapped_value": 1}
    where = {r["id"]: (r["position"], r["reason"]) for r in report["rejected"]}
    assert where == {
        "Q1AAA103": ("incidents[2]", "unmapped_value"),  # service Billing Batch not mapped
        "Q1AAA105": ("incidents[4]", "missing_value"),  # no priority
    }
    rows = _incidents(into)
    assert list(rows) == ["pd-101", "pd-102", "pd-104"]
    # mitigated at the first resolve log entry; the release named in the title
    assert rows["pd-101"]["mitigated_at"] == "2026-10-03T14:00:00Z"
    assert rows["pd-102"]["release_id"] == "support-2026.10.02"
    assert (rows["pd-102"]["severity"], rows["pd-102"]["category"]) == ("sev1", "safety")
    assert rows["pd-104"]["mitigated_at"] == ""  # acknowledged, not resolved
    assert [rows[i]["decision_quality_impact"] for i in rows] == ["true", "true", "false"]
    ds = loads_clean(into)
    assert ds.incidents.height == 3
    # the explicit release is not in this dataset (yet): a finding, not an error
    assert {f.code for f in ds.quality.findings} <= {"unknown_release", "unattributed_incident"}


def test_reimport_changes_nothing_and_a_newer_export_updates_and_adds(
    tmp_path: Path, capsys
) -> None:
    into = tmp_path / "ds"
    run_import(capsys, "pagerduty", OCT, into)
    before = snapshot(into)
    code, report, _ = run_import(capsys, "pagerduty", OCT, into)
    assert code == 0 and snapshot(into) == before and counts(report) == (6, 0, 2, 4)
    code, report, _ = run_import(capsys, "pagerduty", NOV, into)
    # 104 is now resolved (updated), 107 is new, 101 and 102 unchanged
    assert code == 0 and counts(report) == (6, 2, 2, 2)
    assert report["tables"]["incidents"] == {"inserted": 1, "updated": 1, "unchanged": 2}
    rows = _incidents(into)
    assert list(rows) == ["pd-101", "pd-102", "pd-104", "pd-107"]
    assert rows["pd-104"]["mitigated_at"] == "2026-10-28T16:00:00Z"
    loads_clean(into)


def test_a_deployments_file_is_not_a_pagerduty_export(tmp_path: Path, capsys) -> None:
    code, _, err = run_import(
        capsys, "pagerduty", VENDOR / "github" / "deployments_2026-10.json", tmp_path / "ds"
    )
    assert code == 2 and "not a PagerDuty incidents export" in err
