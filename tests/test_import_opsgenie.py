"""``analytics import opsgenie``: the alert list exported as CSV -> incidents."""

from __future__ import annotations

import csv
from pathlib import Path

from test_import_mapping import VENDOR, counts, loads_clean, run_import, snapshot, write_mapping

ALERTS = VENDOR / "opsgenie" / "alerts.csv"


def test_exact_counts_rows_and_rejections_by_line(tmp_path: Path, capsys) -> None:
    into = tmp_path / "ds"
    code, report, _ = run_import(capsys, "opsgenie", ALERTS, into)
    assert code == 0
    assert counts(report) == (6, 2, 3, 1)
    # alert 12's message spans lines 3-4, so the later alerts start one line further down
    where = {r["id"]: (r["line"], r["reason"]) for r in report["rejected"]}
    assert where == {
        "13": (5, "unmapped_value"),
        "14": (6, "invalid_timestamp"),
        "15": (7, "bad_line"),
    }
    with (into / "incidents.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["incident_id"] for r in rows] == ["og-11", "og-12"]
    assert rows[0]["mitigated_at"] == "2026-10-04T11:00:00Z"  # CreatedAt + CloseTime
    assert rows[0]["release_id"] == "support-2026.10.01" and rows[1]["mitigated_at"] == ""
    assert (rows[1]["severity"], rows[1]["category"]) == ("sev1", "safety")
    assert loads_clean(into).incidents.height == 2
    before = snapshot(into)
    assert counts(run_import(capsys, "opsgenie", ALERTS, into)[1]) == (6, 0, 3, 3)
    assert snapshot(into) == before


def test_a_column_the_mapping_reads_must_be_in_the_header(tmp_path: Path, capsys) -> None:
    mapping = write_mapping(
        tmp_path,
        "version: 1\nopsgenie:\n  system: {field: Service, values: {a: b}}\n"
        "  severity: {value: sev2}\n  category: {value: quality}\n",
    )
    code, _, err = run_import(capsys, "opsgenie", ALERTS, tmp_path / "ds", mapping)
    assert code == 2 and "column 'Service'" in err and "opsgenie.system" in err
