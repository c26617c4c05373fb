"""Tables already read into memory (``load_frames``, the seam a database importer uses) go through
the same validation as the files of a dataset folder (``load_dataset``): the same typed tables,
findings and counts, naming the row of the table instead of a CSV line, and the source in
structural errors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from conftest import release
from polars.testing import assert_frame_equal

from analytics.core.errors import DataError
from analytics.core.quality import Finding
from analytics.data.io import Dataset, load_dataset, load_frames

SMALL = ("releases", "evidence", "gates", "rollout_stages", "approvals", "incidents")


def _text_tables() -> dict[str, pl.DataFrame]:
    """Small tables as text, each with at least one bad row."""
    releases = pl.DataFrame(
        [
            release("rel-1", "support", "2026-09-01T00:00:00Z"),
            release("rel-2", "support", "2026-09-10T00:00:00+02:00", tier="medium"),
            release("rel-3", "support", "yesterday", tier="urgent"),  # bad timestamp and tier
            release("rel-1", "support", "2026-09-02T00:00:00Z"),  # duplicate id
        ]
    ).cast(pl.String)
    evidence = pl.DataFrame(
        {
            "release_id": ["rel-1", "rel-1", "rel-9", "rel-2", "rel-2"],
            "item": ["offline_eval", "offline_eval", "offline_eval", "safety_eval", ""],
            "status": ["present", "present", "present", "maybe", "present"],
        }
    )  # an exact duplicate, an unknown release, an unknown status, an empty item
    gates = pl.DataFrame(
        {
            "release_id": ["rel-1", "rel-2"],
            "gate": ["safety", "functional"],
            "result": ["pass", "fail"],
            "evaluated_at": ["2026-08-31T10:00:00Z", "2026-09-09 10:00"],  # no offset
            "value": [" 0.9 ", "NaN"],
        }
    )
    stages = pl.DataFrame(
        {
            "release_id": ["rel-1", "rel-1"],
            "stage": ["1", "2.5"],
            "traffic_pct": ["10", "0"],
            "started_at": ["2026-09-01T00:00:00Z", "2026-09-02T00:00:00Z"],
            "ended_at": ["2026-08-01T00:00:00Z", ""],  # ends before it starts
            "decision": ["advance", "complete"],
        }
    )
    approvals = pl.DataFrame(
        {
            "release_id": ["rel-1"],
            "role": ["platform"],
            "approver": ["ann"],
            "decision": ["go"],
            "decided_at": ["2026-08-31T00:00:00Z"],
            "final": ["perhaps"],
        }
    )
    incidents = pl.DataFrame(
        {
            "incident_id": ["inc-1", "inc-2", "inc-2", ""],
            "system": ["support"] * 4,
            "detected_at": ["2026-09-03T00:00:00Z"] * 4,
            "severity": ["sev2", "sev1", "sev1", "sev3"],
            "category": ["quality", "safety", "cost", "quality"],
            "release_id": ["rel-1", "rel-7", "rel-1", "rel-1"],
            "mitigated_at": ["2026-09-02T00:00:00Z", "0001-01-01T00:00:00Z", "", ""],
        }
    )
    return {
        "releases": releases,
        "evidence": evidence,
        "gates": gates,
        "rollout_stages": stages,
        "approvals": approvals,
        "incidents": incidents,
    }


def _telemetry() -> pl.DataFrame:
    """Typed telemetry: six cases, one with a negative latency, one of an unknown release, one
    without a system, and the second case twice."""
    n = 6
    ts = [datetime(2026, 9, 2, tzinfo=UTC) + timedelta(hours=i) for i in range(n)]
    frame = pl.DataFrame(
        {
            "ts": ts,
            "release_id": ["rel-1", "rel-1", "rel-2", "rel-5", "rel-2", "rel-2"],
            "system": ["support", "support", "support", "support", None, "support"],
            "task_type": ["faq"] * n,
            "criticality": ["low", "high", "low", "low", "low", "medium"],
            "language": ["en"] * n,
            "customer_segment": ["smb"] * n,
            "escalated": [False, True, False, False, False, True],
            "reworked": [False] * n,
            "policy_violation": [False] * n,
            "refused": [False] * n,
            "handling_time_s": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
            "latency_ms": [100.0, -3.0, 120.0, 130.0, 140.0, 150.0],
            "tokens": [100, 200, 300, 400, 500, 600],
            "model_cost_usd": [0.1] * n,
            "quality_score": [0.5, 0.7, None, 0.9, 1.0, 0.2],
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    return pl.concat([frame, frame.slice(1, 1)])


def _without_file(f: Finding, file: str | None) -> Finding:
    """A telemetry finding as read from memory: no file, its file name gone from the message."""
    message = f.message.replace(f"{file} ", "") if file else f.message
    return dataclasses.replace(f, file=None, message=message)


def _assert_same(from_files: Dataset, from_frames: Dataset, telemetry_file: str | None) -> None:
    for name in SMALL:
        assert_frame_equal(from_frames.table(name), from_files.table(name))
    if from_files.telemetry is not None:
        assert from_frames.telemetry is not None
        assert_frame_equal(from_frames.telemetry.collect(), from_files.telemetry.collect())
    q_files, q_frames = from_files.quality, from_frames.quality
    expected = [
        _without_file(f, telemetry_file) if f.table == "telemetry" else f for f in q_files.findings
    ]
    assert list(q_frames.findings) == expected
    assert q_frames.rows_read == q_files.rows_read
    assert q_frames.rows_loaded == q_files.rows_loaded
    assert q_frames.rows_excluded == q_files.rows_excluded
    assert q_frames.values_excluded == q_files.values_excluded


def test_parquet_folder_and_frames_give_the_same_dataset(tmp_path: Path) -> None:
    tables = {**_text_tables(), "telemetry": _telemetry()}
    for name, frame in tables.items():
        frame.write_parquet(tmp_path / f"{name}.parquet")
    from_files = load_dataset(tmp_path)
    from_frames = load_frames(tables, source="warehouse")
    assert from_files.quality.errors and from_files.quality.warnings
    assert {f.table for f in from_files.quality.findings} >= set(SMALL) | {"telemetry"}
    _assert_same(from_files, from_frames, "telemetry.parquet")
    assert from_frames.present == from_files.present
    assert from_frames.source == "warehouse"


def test_csv_folder_and_text_frames_differ_only_in_lines(tmp_path: Path) -> None:
    tables = _text_tables()
    for name, frame in tables.items():
        frame.write_csv(tmp_path / f"{name}.csv")
    from_files = load_dataset(tmp_path)
    from_frames = load_frames(tables, source="warehouse")
    for name in SMALL:
        assert_frame_equal(
            from_frames.table(name).drop("_line"), from_files.table(name).drop("_line")
        )
    # A CSV finding names the line (here row + 1: no line breaks in fields), a frame's the row.
    lines = [(f.row, f.line) for f in from_files.quality.findings]
    assert all(line == row + 1 for row, line in lines)
    exact = [
        dataclasses.replace(f, line=None, message=f.message.replace(" of line 2", " of row 1"))
        for f in from_files.quality.findings
    ]
    assert list(from_frames.quality.findings) == exact
    assert from_frames.quality.values_excluded == from_files.quality.values_excluded


def test_findings_name_the_row_of_the_table() -> None:
    ds = load_frames(_text_tables(), source="warehouse")
    bad_tier = next(f for f in ds.quality.findings if f.code == "unknown_enum" and f.row == 3)
    assert (bad_tier.table, bad_tier.column, bad_tier.line, bad_tier.file) == (
        "releases",
        "risk_tier",
        None,
        None,
    )
    assert str(bad_tier).startswith("table 'releases', row 3, id 'rel-3', column 'risk_tier'")
    dup = next(f for f in ds.quality.findings if f.code == "exact_duplicate")
    assert dup.message == "exact duplicate of row 1; counted once"


def test_lazy_telemetry_and_missing_optional_tables() -> None:
    ds = load_frames(
        {"releases": _text_tables()["releases"], "telemetry": _telemetry().lazy()}, source="db"
    )
    assert ds.present == frozenset({"releases", "telemetry"})
    assert ds.gates.height == 0 and "_mttm_invalid" in ds.incidents.columns
    assert ds.quality.rows_read["telemetry"] == 7
    assert ds.quality.rows_excluded["telemetry"] == {
        "exact_duplicate": 1,
        "missing_key": 1,
        "unknown_release": 1,
    }
    late = next(f for f in ds.quality.findings if f.table == "telemetry" and f.row == 2)
    assert (late.file, late.line, late.column) == (None, None, "latency_ms")


def test_structural_errors_name_the_source() -> None:
    releases = _text_tables()["releases"]
    with pytest.raises(DataError, match=r"table 'releases' \(crm\): missing required column"):
        load_frames({"releases": releases.drop("system")}, source="crm")
    with pytest.raises(DataError, match="table 'releases' is required: crm has none"):
        load_frames({"gates": _text_tables()["gates"]}, source="crm")
    with pytest.raises(DataError, match="crm: unknown table"):
        load_frames({"releases": releases, "deploys": releases}, source="crm")
    with pytest.raises(DataError, match=r"table 'telemetry' \(crm\), column 'latency_ms'"):
        bad = _telemetry().with_columns(pl.col("latency_ms").cast(pl.String))
        load_frames({"releases": releases, "telemetry": bad}, source="crm")
