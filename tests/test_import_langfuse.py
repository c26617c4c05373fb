"""``analytics import langfuse``: a Langfuse blob storage export (observations,
traces, scores) into the telemetry table, with exact counts of what was written and rejected."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from analytics.cli.main import main
from analytics.importers.langfuse import import_langfuse

FIXTURES = Path(__file__).parent / "data" / "langfuse"
FILES = [FIXTURES / f"{n}.jsonl" for n in ("observations", "traces", "scores")]
MAPPING = FIXTURES / "mapping.yaml"


def test_export_imports_with_exact_counts(tmp_path: Path):
    report = import_langfuse(FILES, tmp_path / "d", MAPPING)
    assert (report.read, report.written, report.n_rejected, report.not_cases) == (10, 3, 6, 1)
    assert report.balanced
    where = {(e["reason"], e["at"], e["source_id"], e["column"]) for e in report.examples}
    assert where == {
        ("malformed_json", 4, None, None),
        ("missing_release", 5, "obs-05", "release_id"),  # its trace has no release
        ("negative_duration", 6, "obs-06", "latency_ms"),
        ("unknown_model", 7, "obs-07", "model"),
        ("invalid_timestamp", 8, "obs-08", "ts"),
        ("missing_value", 9, "obs-09", "output_tokens"),
    }
    cases = pl.read_parquet(tmp_path / "d" / "telemetry" / "day=*" / "*.parquet").sort("source_id")
    assert cases["source_id"].to_list() == ["obs-01", "obs-03", "obs-10"]
    assert cases["release_id"].to_list() == ["lf-2026.10.1", "lf-2026.10.2", "lf-2026.10.2"]
    assert cases["system"].to_list() == ["support"] * 3  # trace name through the values table
    assert cases["escalated"].to_list() == [True, False, False]  # a BOOLEAN trace score
    assert cases["policy_violation"].to_list() == [False, False, True]  # a CATEGORICAL score
    assert cases["refused"].to_list() == [False, False, True]
    assert cases["quality_score"].to_list() == [0.9, None, 0.4]
    assert cases["latency_ms"].to_list() == [1250.0, 800.0, 2500.0]
    assert cases["model_cost_usd"].to_list() == pytest.approx([0.00027, 0.0045, 0.00027])
    assert cases["handling_time_s"].to_list() == [12.0, 12.0, 0.0]


def test_enriched_observations_need_no_traces_file(tmp_path: Path):
    """The enriched export (observations_v2) carries the trace's release on each observation."""
    traces = {
        json.loads(line)["id"]: json.loads(line)
        for line in (FIXTURES / "traces.jsonl").read_text().splitlines()
    }
    lines = []
    for line in (FIXTURES / "observations.jsonl").read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        trace = traces[rec["trace_id"]]
        rec.update(release=trace["release"], trace_name=trace["name"])
        # the public API's camelCase names are read as snake_case
        rec["startTime"] = rec.pop("start_time")
        lines.append(json.dumps(rec))
    enriched = tmp_path / "observations_v2.jsonl"
    enriched.write_text("\n".join(lines) + "\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING.read_text().replace("field: trace.name", "field: trace_name"))
    report = import_langfuse([enriched, FILES[2]], tmp_path / "d", mapping)
    assert (report.read, report.written, report.not_cases) == (9, 3, 1)
    assert dict(report.rejected) == {
        "missing_release": 1,
        "negative_duration": 1,
        "unknown_model": 1,
        "invalid_timestamp": 1,
        "missing_value": 1,
    }


def _cli(capsys, *args: str) -> tuple[int, str]:
    code = main(["import", "langfuse", *args])
    return code, capsys.readouterr().err


def test_wrong_files_and_mappings_exit_2(tmp_path: Path, capsys):
    into = ["--into", str(tmp_path / "d"), "--mapping", str(MAPPING)]
    code, err = _cli(capsys, "--from", str(FIXTURES / "traces.jsonl"), *into)
    assert code == 2 and "no observations export" in err
    otlp = Path(__file__).parent / "data" / "otel" / "traces.jsonl"
    code, err = _cli(capsys, "--from", str(otlp), *into)
    assert code == 2 and "not a Langfuse observations, traces or scores export" in err
    code, err = _cli(capsys, "--from", str(FILES[0]), str(FILES[0]), *into)
    assert code == 2 and "both observations exports" in err
    bad = tmp_path / "mapping.yaml"
    bad.write_text(MAPPING.read_text().replace("release: [release, trace.release]", "release: []"))
    code, err = _cli(
        capsys, "--from", *map(str, FILES), "--into", str(tmp_path / "d"), "--mapping", str(bad)
    )
    assert code == 2 and "names no release marker" in err
    code, err = _cli(
        capsys,
        "--from",
        *map(str, FILES),
        "--into",
        str(tmp_path / "d"),
        "--mapping",
        str(Path(__file__).parent / "data" / "otel" / "mapping.yaml"),
    )
    assert code == 2 and "no 'langfuse' section" in err
