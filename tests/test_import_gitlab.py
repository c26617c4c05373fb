"""``analytics import gitlab``: project deployments -> releases."""

from __future__ import annotations

import csv
from pathlib import Path

from test_import_mapping import VENDOR, counts, loads_clean, run_import, snapshot

DEPLOYMENTS = VENDOR / "gitlab" / "deployments.json"


def test_exact_counts_rows_and_rejections(tmp_path: Path, capsys) -> None:
    into = tmp_path / "ds"
    code, report, _ = run_import(capsys, "gitlab", DEPLOYMENTS, into)
    assert code == 0 and counts(report) == (5, 2, 3, 0)
    where = {r["id"]: (r["position"], r["reason"]) for r in report["rejected"]}
    assert where == {
        "42": ("deployments[1]", "not_production"),
        "43": ("deployments[2]", "not_deployed"),
        "44": ("deployments[3]", "unmapped_value"),  # the commit message names no model
    }
    with (into / "releases.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["release_id"], r["released_at"]) for r in rows] == [
        ("triage-2026.10.1", "2026-10-02T12:00:00Z"),
        ("triage-2026.10.4", "2026-10-15T09:30:00Z"),  # no finished_at: updated_at
    ]
    assert (rows[0]["model_version"], rows[0]["prompt_version"], rows[1]["prompt_version"]) == (
        "m-7",
        "p-9",
        "p-12",
    )
    assert loads_clean(into).releases.height == 2
    before = snapshot(into)
    assert counts(run_import(capsys, "gitlab", DEPLOYMENTS, into)[1]) == (5, 0, 3, 2)
    assert snapshot(into) == before


def test_a_jira_file_is_not_a_gitlab_export(tmp_path: Path, capsys) -> None:
    code, _, err = run_import(capsys, "gitlab", VENDOR / "jira" / "search.json", tmp_path / "ds")
    assert code == 2 and "not a GitLab deployments export" in err
