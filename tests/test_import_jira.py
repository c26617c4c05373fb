"""``analytics import jira``: incident issues from the search API -> incidents."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from test_import_mapping import VENDOR, counts, loads_clean, run_import, snapshot

SEARCH = VENDOR / "jira" / "search.json"


def test_exact_counts_rows_and_rejections(tmp_path: Path, capsys) -> None:
    into = tmp_path / "ds"
    code, report, _ = run_import(capsys, "jira", SEARCH, into)
    assert code == 0 and counts(report) == (4, 2, 2, 0)
    where = {r["id"]: (r["position"], r["reason"]) for r in report["rejected"]}
    assert where == {
        "INC-3": ("issues[2]", "unmapped_value"),
        "INC-4": ("issues[3]", "missing_value"),
    }
    with (into / "incidents.csv").open(encoding="utf-8") as fh:
        rows = {r["incident_id"]: r for r in csv.DictReader(fh)}
    assert rows["INC-1"]["detected_at"] == "2026-10-11T08:30:00Z"
    assert rows["INC-1"]["mitigated_at"] == "2026-10-11T12:00:00Z"
    assert rows["INC-1"]["release_id"] == "triage-2026.10.1"
    assert rows["INC-2"]["detected_at"] == "2026-10-16T08:00:00Z"  # +0200 -> UTC
    assert (rows["INC-2"]["category"], rows["INC-2"]["decision_quality_impact"]) == (
        "cost",
        "false",
    )
    assert loads_clean(into).incidents.height == 2
    before = snapshot(into)
    assert counts(run_import(capsys, "jira", SEARCH, into)[1]) == (4, 0, 2, 2)
    assert snapshot(into) == before


def test_pages_may_be_concatenated_and_other_json_is_refused(tmp_path: Path, capsys) -> None:
    page = json.loads(SEARCH.read_text(encoding="utf-8"))
    pages = tmp_path / "pages.json"
    pages.write_text(json.dumps([page, {**page, "issues": page["issues"][:1]}]), encoding="utf-8")
    code, report, _ = run_import(capsys, "jira", pages, tmp_path / "ds")
    assert code == 0 and counts(report) == (5, 2, 2, 1)
    assert report["rejected"][0]["position"] == "[0].issues[2]"
    code, _, err = run_import(
        capsys, "jira", VENDOR / "gitlab" / "deployments.json", tmp_path / "x"
    )
    assert code == 2 and "not a Jira issues export" in err
