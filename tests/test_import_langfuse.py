"""``analytics import langfuse``: a Langfuse blob storage export (observations,
traces, scores) into the telemetry table, with exact counts of what was written and rejected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from analytics.cli.main import main
from analytics.importers import json_array
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


def _as_array(path: Path) -> Path:
    """The JSONL fixture as a pretty-printed JSON array, element n from line n (the malformed
    line becomes an element that is not an object)."""
    items = []
    for line in FILES[0].read_text().splitlines():
        try:
            items.append(json.loads(line))
        except ValueError:
            items.append(line)
    path.write_text(json.dumps(items, indent=2))
    return path


_ARRAYS = [
    '[{"a": [1, -2.5e-3, "x\\"y"]}, -0.0, 12345678901234567890, "\u00e9\u20ac", true, null]',
    '\ufeff [\n 1.5e3 ,\n\n {"k": {}} ]\n',
    "[]",
    "[1, 2",  # the errors are at json.loads' line, column and character
    '[{"a": 1},\n {"a": x}]',
    "[1,\n 2,\n\n  oops]",
    "[1] 2",
    "[1 2]",
    "[1,]",
    '["abc',
    '[\n{"a":\n tru}]',
]


@pytest.mark.parametrize("read_bytes", [1, 3, 64])
def test_array_items_decode_as_json_loads(tmp_path: Path, monkeypatch, read_bytes: int):
    """Element by element, in reads cut anywhere (one byte at a time too): the same values as
    ``json.loads`` of the whole text, or an error at the same line, column and character."""
    monkeypatch.setattr(json_array, "READ_BYTES", read_bytes)
    for i, text in enumerate(_ARRAYS):
        path = tmp_path / f"{i}.json"
        path.write_bytes(text.encode())
        try:
            expected: object = json.loads(text.removeprefix("\ufeff"))
        except ValueError as exc:
            expected = str(exc)[str(exc).index("line ") :]
        try:
            got: object = list(json_array.array_items(path))
        except json_array.ArrayError as exc:
            got = str(exc)[str(exc).index("line ") :]
        assert got == expected, text


def test_json_array_export_reads_like_jsonl(tmp_path: Path, monkeypatch):
    """The UI's JSON array, read element by element (in reads of 64 bytes here, so elements
    are cut by reads), gives the JSONL import's cases and rejections, at the element's index."""
    monkeypatch.setattr(json_array, "READ_BYTES", 64)
    array = _as_array(tmp_path / "observations.json")
    report = import_langfuse([array, *FILES[1:]], tmp_path / "d", MAPPING)
    assert (report.read, report.written, report.n_rejected, report.not_cases) == (10, 3, 6, 1)
    where = {(e["reason"], e["at"], e["source_id"], e.get("message")) for e in report.examples}
    assert ("malformed_json", 4, None, "not an object") in where
    assert {(r, at) for r, at, _, _ in where} == {
        ("malformed_json", 4),
        ("missing_release", 5),
        ("negative_duration", 6),
        ("unknown_model", 7),
        ("invalid_timestamp", 8),
        ("missing_value", 9),
    }
    cases = pl.read_parquet(tmp_path / "d" / "telemetry" / "day=*" / "*.parquet").sort("source_id")
    assert cases["source_id"].to_list() == ["obs-01", "obs-03", "obs-10"]
    assert cases["quality_score"].to_list() == [0.9, None, 0.4]


def test_broken_json_array_is_exit_2_and_writes_nothing(tmp_path: Path, capsys, monkeypatch):
    """A JSON array that breaks off after its first element: exit 2 naming the line and column
    in the whole file (reached after a batch was read), and the dataset is left as it was."""
    monkeypatch.setattr(json_array, "READ_BYTES", 64)
    array = _as_array(tmp_path / "observations.json")
    text = array.read_text()
    cut = text.index("\n  },") + len("\n  },")  # after the first element's closing brace
    array.write_text(text[:cut] + "\n  oops\n]")
    line = text[:cut].count("\n") + 2
    code, err = _cli(
        capsys, "--from", str(array), "--into", str(tmp_path / "d"), "--mapping", str(MAPPING)
    )
    assert code == 2
    assert f"is not valid JSON (Expecting value: line {line} column 3 (char {cut + 3}))" in err
    assert list((tmp_path / "d").rglob("*")) == []  # nothing written (the folder was made)


_CHILD = """
import json, sys
from pathlib import Path
from analytics.importers import langfuse

def peak_kb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

# batches of 10,000 observations, so what reading the file holds is not hidden by a batch
langfuse.BATCH_RECORDS = 10_000
small, big, dataset, mapping = sys.argv[1:]
langfuse.import_langfuse([small], dataset, mapping, key="warm-up")  # polars' pools, allocator
before = peak_kb()
report = langfuse.import_langfuse([big], dataset, mapping)
print(json.dumps({"growth_kb": peak_kb() - before, "read": report.read, "written": report.written}))
"""


def _big_export(path: Path, n: int, array: bool) -> None:
    """``n`` observations of about 1 KB each (a prompt and a completion, as real ones carry)."""
    template = (
        '{{"id":"obs-{i}","trace_id":"t{i}","type":"GENERATION","start_time":'
        '"2026-10-0{d} 10:00:00.000000","end_time":"2026-10-0{d} 10:00:01.250000",'
        '"release":"lf-2026.10.1","metadata":{{"task_type":"billing","criticality":"low",'
        '"language":"de","customer_segment":"smb","handling_time_s":"12"}},'
        '"input":{{"messages":[{{"role":"user","content":"{prompt}"}}]}},"output":"{answer}",'
        '"provided_model_name":"gpt-4o-mini","usage_details":{{"input":1000,"output":200}}}}'
    )
    prompt, answer = "Where is my invoice? " * 25, "It is in the billing portal. " * 10
    with path.open("w") as f:
        f.write("[\n" if array else "")
        for i in range(n):
            sep = (",\n" if i < n - 1 else "\n]\n") if array else "\n"
            f.write(template.format(i=i, d=1 + i % 7, prompt=prompt, answer=answer) + sep)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_large_json_array_imports_in_bounded_memory(tmp_path: Path):
    """200,000 observations in a JSON array (about 240 MB): the import's peak RSS grows by a
    small fraction of the file's size (reading the array whole needed more than the file's size
    for its bytes alone, and several times it for the decoded records). Measured in a fresh
    process after a small import (VmHWM is the process's own peak, not inherited from pytest)."""
    small, export = tmp_path / "small.json", tmp_path / "observations.json"
    _big_export(small, 20_000, array=True)
    _big_export(export, 200_000, array=True)
    mapping = tmp_path / "mapping.yaml"
    system = "{field: trace.name, values: {support-chat: support}}"
    mapping.write_text(MAPPING.read_text().replace(system, "{value: support}"))
    root = Path(__file__).resolve().parent.parent
    args = [str(small), str(export), str(tmp_path / "d"), str(mapping)]
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (got["read"], got["written"]) == (200_000, 200_000)
    size_kb = export.stat().st_size / 1024
    assert size_kb > 200_000
    assert got["growth_kb"] < size_kb / 10, (got, size_kb)


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
    assert (
        code == 2
        and f"mapping file {FIXTURES.parent / 'otel' / 'mapping.yaml'}: no 'langfuse' section"
        in err
    )
