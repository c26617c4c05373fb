"""``analytics import``: the mapping file and its rules; the helpers the other
``test_import_*`` modules share (run the command, check the reconciliation line, snapshot a
folder)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from analytics.cli.main import main
from analytics.data.io import load_dataset
from analytics.importers.fields import Rule, apply, fill_template, lookup, utc_text
from analytics.importers.mapping import load_mapping
from analytics.importers.store import link_tree

VENDOR = Path(__file__).resolve().parent / "data" / "vendor"
MAPPING = VENDOR / "mapping.yaml"


def assert_reconciled(report: dict[str, Any]) -> None:
    """The reconciliation line balances: read = written + rejected + duplicates skipped."""
    r = report["records"]
    assert r["read"] == r["written"] + r["rejected"] + r["duplicates_skipped"]
    assert r["duplicates_skipped"] == r["repeated_in_export"] + r["unchanged_in_dataset"]
    assert r["rejected"] == len(report["rejected"]) == sum(report["rejected_by_reason"].values())
    assert report["reconciliation"]["balanced"] is True
    line = report["reconciliation"]["line"]
    assert line.endswith(": ok")
    assert (
        f"read {r['read']} = written {r['written']} + rejected {r['rejected']} + duplicates "
        f"skipped {r['duplicates_skipped']}"
    ) in line


def run_import(
    capsys: pytest.CaptureFixture[str],
    source: str,
    export: str | Path,
    into: Path,
    mapping: Path | None = MAPPING,
) -> tuple[int, dict[str, Any] | None, str]:
    """Run ``analytics import ... --format json``: (exit code, report or None, stderr); every
    successful report is checked to reconcile."""
    argv = ["import", source, "--from", str(export), "--into", str(into), "--format", "json"]
    if mapping is not None:
        argv += ["--mapping", str(mapping)]
    code = main(argv)
    out = capsys.readouterr()
    report = json.loads(out.out) if code == 0 else None
    if report is not None:
        assert_reconciled(report)
    return code, report, out.err


def counts(report: dict[str, Any]) -> tuple[int, int, int, int]:
    r = report["records"]
    return r["read"], r["written"], r["rejected"], r["duplicates_skipped"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def loads_clean(folder: Path):
    """The imported folder loads (a structural error would raise) and every table reconciles."""
    ds = load_dataset(folder)
    q = ds.quality
    for table, read in q.rows_read.items():
        assert read == q.rows_loaded[table] + sum(q.rows_excluded[table].values())
    return ds


def write_mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GITHUB_EXPORT = VENDOR / "github" / "deployments_2026-10.json"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("version: 1\ngithub_typo: {}\n", "github_typo"),
        ("version: 2\n", "version"),
        (
            "version: 1\npagerduty: {system: a, severity: b, category: c, colour: red}\n",
            "pagerduty.colour",
        ),
        (
            "version: 1\npagerduty: {system: {field: a, value: b}, severity: b, category: c}\n",
            "pagerduty.system",
        ),
        (
            "version: 1\npagerduty: {system: a, severity: {field: s, pattern: '('}, category: c}\n",
            "pagerduty.severity",
        ),
        (
            "version: 1\npagerduty: {system: a, severity: {field: s, values: {P1: worst}}, "
            "category: c}\n",
            "pagerduty.severity.values.P1",
        ),
        ("version: 1\nmlflow: {items: [{item: x, threshold: high}]}\n", "mlflow.items.0.threshold"),
        ("version: 1\nmlflow: {items: [{item: x, gate: safety}]}\n", "mlflow.items.0.gate"),
        (
            "version: 1\ndecision_quality_categories: [quality, vibes]\n",
            "decision_quality_categories.1",
        ),
    ],
)
def test_a_bad_mapping_key_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    mapping = write_mapping(tmp_path, text)
    code, _, err = run_import(capsys, "pagerduty", GITHUB_EXPORT, tmp_path / "ds", mapping)
    assert code == 2
    assert f"mapping file {mapping}: " in err and f"key '{key}'" in err
    assert not (tmp_path / "ds").exists()


def test_a_missing_section_or_mapping_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = write_mapping(tmp_path, "version: 1\n")
    code, _, err = run_import(capsys, "github", GITHUB_EXPORT, tmp_path / "ds", mapping)
    assert code == 2 and "key 'github' is missing" in err
    code, _, err = run_import(capsys, "github", GITHUB_EXPORT, tmp_path / "ds", None)
    assert code == 2 and "--mapping" in err
    code, _, err = run_import(
        capsys, "github", GITHUB_EXPORT, tmp_path / "ds", tmp_path / "no.yaml"
    )
    assert code == 2 and f"mapping file {tmp_path / 'no.yaml'}: cannot be read" in err
    (tmp_path / "bad.yaml").write_text("version: [1\n", encoding="utf-8")
    code, _, err = run_import(
        capsys, "github", GITHUB_EXPORT, tmp_path / "ds", tmp_path / "bad.yaml"
    )
    assert code == 2 and f"mapping file {tmp_path / 'bad.yaml'}: not valid YAML" in err


def test_the_mapping_in_the_dataset_folder_is_the_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    into = tmp_path / "ds"
    into.mkdir()
    (into / "mapping.yaml").write_bytes(MAPPING.read_bytes())
    code, report, _ = run_import(capsys, "github", GITHUB_EXPORT, into, None)
    assert code == 0 and report["mapping"]["file"] == str(into / "mapping.yaml")


def test_the_shipped_test_mapping_is_valid() -> None:
    mapping, sha = load_mapping(MAPPING)
    assert len(sha) == 64
    assert mapping.decision_quality_categories == ["quality", "safety", "compliance"]


def test_rules_pick_translate_and_default() -> None:
    record = {
        "fields": {"components": [{"name": "a"}, {"name": "triage-service"}], "n": 0},
        "labels": ["x", "release:r-1"],
        "flag": True,
    }
    assert lookup(record, "fields.components.name") == ["a", "triage-service"]
    assert lookup(record, "fields.components.1.name") == ["triage-service"]
    assert lookup(record, "fields.n") == [0] and lookup(record, "nope.deeper") == []
    rule = Rule.model_validate(
        {"field": "fields.components.name", "values": {"triage-service": "t"}}
    )
    assert apply(rule, record) == ("t", None)
    assert apply(Rule.model_validate({"field": "labels", "pattern": "release:(.+)"}), record) == (
        "r-1",
        None,
    )
    assert apply(Rule.model_validate("flag"), record) == ("true", None)
    assert apply(Rule.model_validate({"value": "quality"}), record) == ("quality", None)
    missing = apply(Rule.model_validate("nope"), record)
    assert missing[0] is None and missing[1].startswith("missing_value")
    unmapped = apply(Rule.model_validate({"field": "labels", "values": {"y": "z"}}), record)
    assert unmapped[0] is None and unmapped[1].startswith("unmapped_value")
    assert apply(Rule.model_validate({"field": "nope", "default": "d"}), record) == ("d", None)
    assert fill_template("gh-{fields.n}", record) == ("gh-0", None)
    assert fill_template("gh-{id}", record)[0] is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-10-05T09:12:00.000+0000", "2026-10-05T09:12:00Z"),
        ("2026-10-05T11:12:00+02:00", "2026-10-05T09:12:00Z"),
        ("2026-10-05 09:12:00.5Z", "2026-10-05T09:12:00.500000Z"),
        (1791019920000, "2026-10-03T09:32:00Z"),
        ("1791019920000", "2026-10-03T09:32:00Z"),
        ("2026-10-05T09:12:00", None),
        ("04/10/2026", None),
        (None, None),
    ],
)
def test_timestamps_become_utc_text(value: Any, expected: str | None) -> None:
    assert utc_text(value)[0] == expected


def test_link_tree_links_what_is_not_skipped(tmp_path: Path) -> None:
    """One helper for both importers' build folders: files hard-linked at the same path,
    symbolic links made again as links, skipped files left out, and a folder made only when
    something goes in it or it was empty to begin with."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "day=1").mkdir(parents=True)
    (src / "day=2").mkdir()
    (src / "empty").mkdir()
    (src / "skipped").mkdir()
    (src / "a.csv").write_text("a")
    (src / "day=1" / "k+0.parquet").write_text("1")
    (src / "day=1" / "other+0.parquet").write_text("2")
    (src / "day=2" / "k+0.parquet").write_text("3")
    (src / "skipped" / "x").write_text("x")
    (src / "link.csv").symlink_to("a.csv")
    (src / "linked-day").symlink_to(src / "day=2")
    dst.mkdir()
    link_tree(src, dst, lambda rel: rel.name.startswith("k+") or rel.as_posix() == "skipped")
    found = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*"))
    assert found == [
        "a.csv",
        "day=1",
        "day=1/other+0.parquet",
        "empty",
        "link.csv",
        "linked-day",
    ]
    assert (dst / "a.csv").stat().st_ino == (src / "a.csv").stat().st_ino
    assert os.readlink(dst / "link.csv") == "a.csv"
    assert os.readlink(dst / "linked-day") == str(src / "day=2")
