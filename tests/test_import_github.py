"""``analytics import github``: GitHub deployments with their statuses -> releases."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from test_import_mapping import VENDOR, counts, loads_clean, run_import, snapshot

from analytics.cli.main import main

OCT = VENDOR / "github" / "deployments_2026-10.json"
NOV = VENDOR / "github" / "deployments_2026-11.json"


def _releases(folder: Path) -> list[dict[str, str]]:
    with (folder / "releases.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_exact_counts_rows_and_rejections(tmp_path: Path, capsys) -> None:
    into = tmp_path / "ds"
    code, report, _ = run_import(capsys, "github", OCT, into)
    assert code == 0
    # 9 deployments: 3 releases, 5 rejected, 1 redeploy of a release already read.
    assert counts(report) == (9, 3, 5, 1)
    assert report["records"]["repeated_in_export"] == 1
    assert report["rows_written"] == {"releases": 3}
    assert report["rejected_by_reason"] == {
        "invalid_timestamp": 1,
        "missing_value": 1,
        "not_deployed": 1,
        "not_production": 1,
        "unmapped_value": 1,
    }
    where = {r["id"]: (r["file"], r["position"], r["reason"]) for r in report["rejected"]}
    assert where == {
        "1008": ("deployments_2026-10.json", "deployments[1]", "invalid_timestamp"),
        "1007": ("deployments_2026-10.json", "deployments[2]", "unmapped_value"),
        "1005": ("deployments_2026-10.json", "deployments[4]", "missing_value"),
        "1004": ("deployments_2026-10.json", "deployments[5]", "not_deployed"),
        "1002": ("deployments_2026-10.json", "deployments[7]", "not_production"),
    }
    rows = _releases(into)
    assert [(r["release_id"], r["released_at"]) for r in rows] == [
        ("support-2026.10.01", "2026-10-01T10:00:00Z"),
        # the first of its two success statuses; the redeploy (1006, a day later) is skipped
        ("support-2026.10.02", "2026-10-08T10:00:00Z"),
        ("support-2026.10.06", "2026-10-27T10:00:00Z"),
    ]
    assert {r["system"] for r in rows} == {"support"}
    assert (rows[2]["model_version"], rows[2]["routing_version"], rows[2]["prompt_version"]) == (
        "m-2026-10",
        "r-3",
        "p-41",
    )
    assert (rows[0]["accountable_owner"], rows[0]["train"], rows[0]["risk_tier"]) == (
        "release-bot",
        "weekly",
        "medium",
    )
    ds = loads_clean(into)
    assert ds.releases.height == 3 and ds.quality.findings == ()
    log = json.loads((into / "import_log.json").read_text(encoding="utf-8"))
    assert log["sources"]["github"]["file"] == "deployments_2026-10.json"
    assert log["sources"]["github"]["mapping_sha256"] == report["mapping"]["sha256"]
    assert log["tables"] == {"releases": ["github"]}


def test_reimport_is_byte_identical_and_a_newer_export_adds_only_the_new(
    tmp_path: Path, capsys
) -> None:
    into = tmp_path / "ds"
    run_import(capsys, "github", OCT, into)
    before = snapshot(into)
    code, report, _ = run_import(capsys, "github", OCT, into)
    assert code == 0 and snapshot(into) == before
    assert counts(report) == (9, 0, 5, 4)
    assert report["records"]["unchanged_in_dataset"] == 3 and report["dataset_changed"] is False

    code, report, _ = run_import(capsys, "github", NOV, into)
    assert code == 0 and counts(report) == (10, 1, 5, 4)
    assert report["tables"]["releases"] == {"inserted": 1, "updated": 0, "unchanged": 3}
    rows = _releases(into)
    assert [r["release_id"] for r in rows][-1] == "support-2026.11.01"
    old_lines = before["releases.csv"].decode().splitlines()
    assert (into / "releases.csv").read_text().splitlines()[: len(old_lines)] == old_lines
    loads_clean(into)
    again = snapshot(into)
    assert counts(run_import(capsys, "github", NOV, into)[1]) == (10, 0, 5, 5)
    assert snapshot(into) == again


def test_text_report_names_counts_rejections_and_reconciliation(tmp_path: Path, capsys) -> None:
    argv = ["import", "github", "--from", str(OCT), "--into", str(tmp_path / "ds")]
    code = main([*argv, "--mapping", str(VENDOR / "mapping.yaml")])
    out = capsys.readouterr().out
    assert code == 0
    assert "records read: 9" in out
    assert "rows written to releases: 3 (3 new, 0 updated, 0 unchanged)" in out
    assert "deployments_2026-10.json, deployments[4], id '1005': model_version" in out
    assert (
        "reconciliation github (deployments_2026-10.json): read 9 = written 3 + rejected 5 + "
        "duplicates skipped 1 (repeated in the export 1, already in the dataset unchanged 0): ok"
    ) in out


def test_wrong_export_type_and_unreadable_files_exit_2(tmp_path: Path, capsys) -> None:
    into = tmp_path / "ds"
    pagerduty = VENDOR / "pagerduty" / "incidents_2026-10.json"
    code, _, err = run_import(capsys, "github", pagerduty, into)
    assert code == 2 and "not a GitHub deployments export" in err and str(pagerduty) in err
    broken = tmp_path / "broken.json"
    broken.write_text('{"deployments": [\n  {"id": 1,}\n]}\n', encoding="utf-8")
    code, _, err = run_import(capsys, "github", broken, into)
    assert code == 2 and "not valid JSON at line 2" in err
    code, _, err = run_import(capsys, "github", tmp_path / "missing.json", into)
    assert code == 2 and "missing.json" in err
    assert not into.exists()


def test_a_parquet_table_or_a_dataset_that_would_not_load_leaves_the_folder_alone(
    tmp_path: Path, capsys
) -> None:
    into = tmp_path / "ds"
    run_import(capsys, "github", OCT, into)
    (into / "policy.yaml").write_text("alpha: [not a number\n", encoding="utf-8")
    before = snapshot(into)
    code, _, err = run_import(capsys, "github", NOV, into)
    assert code == 2 and "would not load" in err and "unchanged" in err
    assert snapshot(into) == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no temporary folder left

    other = tmp_path / "pq"
    other.mkdir()
    (other / "releases.parquet").write_bytes(b"PAR1")
    code, _, err = run_import(capsys, "github", OCT, other)
    assert code == 2 and "releases.parquet" in err


def test_statuses_may_be_embedded_in_each_deployment(tmp_path: Path, capsys) -> None:
    data = json.loads(OCT.read_text(encoding="utf-8"))
    array = [{**d, "statuses": data["statuses"][str(d["id"])]} for d in data["deployments"]]
    export = tmp_path / "array.json"
    export.write_text(json.dumps(array), encoding="utf-8")
    code, report, _ = run_import(capsys, "github", export, tmp_path / "ds")
    assert code == 0 and counts(report) == (9, 3, 5, 1)
