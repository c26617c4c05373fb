"""``analytics import otel``: OpenTelemetry GenAI spans (OTLP JSON lines and protobuf)
into the telemetry table, with exact counts of what was written and rejected and where."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from polars.testing import assert_frame_equal

from analytics.cli.main import main
from analytics.data.io import load_dataset
from analytics.importers.otel import import_otel

FIXTURES = Path(__file__).parent / "data" / "otel"
TRACES = FIXTURES / "traces.jsonl"
MAPPING = FIXTURES / "mapping.yaml"
VERSIONS = ("model", "inference_config", "prompt", "tools", "safety_policy", "routing", "eval_set")


def _cases(dataset: Path) -> pl.DataFrame:
    return pl.read_parquet(dataset / "telemetry" / "day=*" / "*.parquet").sort("source_id")


def test_json_fixture_imports_with_exact_counts(tmp_path: Path):
    report = import_otel(TRACES, tmp_path / "d", MAPPING)
    assert (report.read, report.written, report.n_rejected, report.not_cases) == (12, 5, 6, 1)
    assert report.balanced and report.reconciliation().endswith(
        "read 12 = written 5 + rejected 6 + not cases 1: ok"
    )
    assert dict(report.rejected) == {
        "malformed_json": 1,
        "missing_release": 1,
        "negative_duration": 1,
        "unknown_model": 1,
        "invalid_otlp": 1,
        "invalid_value": 1,
    }
    where = {(e["reason"], e["at"], e["span"], e["column"]) for e in report.examples}
    assert where == {
        ("malformed_json", 2, None, None),
        ("missing_release", 3, 1, "release_id"),
        ("negative_duration", 4, 1, "latency_ms"),
        ("unknown_model", 4, 2, "model"),
        ("invalid_otlp", 5, None, None),
        ("invalid_value", 8, 1, "criticality"),
    }
    rejected = (
        tmp_path / "d" / "telemetry" / "_imports" / "otel-traces.rejected.jsonl"
    ).read_text()
    assert len(rejected.splitlines()) == 6 and all(
        json.loads(line)["file"] == str(TRACES) for line in rejected.splitlines()
    )
    cases = _cases(tmp_path / "d")
    assert cases["source_id"].to_list() == [f"eee19b7ec3c1b1{k:02d}" for k in (1, 2, 6, 7, 8)]
    assert cases["release_id"].to_list() == ["support-2026.10.1"] * 3 + [
        "support-2026.10.2",  # the span attribute beats the resource's service.version
        "support-2026.10.1",  # the snake_case line, read by json_format
    ]
    assert cases["escalated"].to_list() == [False, True, False, False, False]  # the event
    assert cases["policy_violation"].to_list() == [False, False, True, False, False]
    assert cases["refused"].to_list() == [False, False, True, False, False]  # content_filter
    assert cases["reworked"].to_list() == [False, False, True, False, False]
    assert cases["quality_score"].to_list() == [0.8, None, 0.25, None, None]
    assert cases["latency_ms"].to_list() == [850.0, 1200.0, 2500.0, 900.0, 640.0]
    assert cases["tokens"].to_list() == [1500.0] * 5
    # 1200 input and 300 output tokens at 2.5 / 10 USD (gpt-4o), 0.15 / 0.6 (gpt-4o-mini) per 1M
    assert cases["model_cost_usd"].to_list() == pytest.approx([0.006, 0.00036, 0.006, 0.006, 0.006])
    days = sorted(p.name for p in (tmp_path / "d" / "telemetry").glob("day=*"))
    assert days == ["day=2026-10-01", "day=2026-10-02"]


def _binary_frames(lines: list[str]) -> list[bytes]:
    """OTLP JSON lines as ExportTraceServiceRequest messages (hex ids as bytes)."""
    out = []
    for line in lines:
        msg = json_format.Parse(line, ExportTraceServiceRequest(), ignore_unknown_fields=True)
        for rs in msg.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    for field in ("trace_id", "span_id"):
                        text = base64.b64encode(getattr(span, field)).decode()
                        setattr(span, field, bytes.fromhex(text))
        out.append(msg.SerializeToString())
    return out


def _framed(frames: list[bytes]) -> bytes:
    return b"".join(len(f).to_bytes(4, "big") + f for f in frames)


def _bad_protobuf(tmp_path: Path) -> tuple[Path, list[bytes], int]:
    """Five good frames, an invalid one after the second, a truncated copy of the first at the
    end: (the file, the good frames, the offset of the truncated frame)."""
    good = [
        line for n, line in enumerate(TRACES.read_text().splitlines(), 1) if n in (1, 3, 4, 7, 8)
    ]
    frames = _binary_frames(good)
    garbage = b"\x0a\xff\xff\xff\xff\x0f"  # a length running past the message
    data = _framed(frames[:2]) + _framed([garbage]) + _framed(frames[2:])
    truncated_at = len(data)
    data += _framed(frames[:1])[:-10]
    path = tmp_path / "traces.binpb"
    path.write_bytes(data)
    return path, frames, truncated_at


def test_protobuf_gives_the_same_cases_and_locates_bad_frames(tmp_path: Path):
    path, frames, truncated_at = _bad_protobuf(tmp_path)
    report = import_otel(path, tmp_path / "bin", MAPPING)
    assert report.location == "offset"
    assert (report.read, report.written, report.not_cases) == (12, 5, 1)
    assert dict(report.rejected) == {
        "missing_release": 1,
        "negative_duration": 1,
        "unknown_model": 1,
        "invalid_value": 1,
        "invalid_protobuf": 1,
        "truncated": 1,
    }
    offsets = {e["reason"]: e["at"] for e in report.examples}
    assert offsets["invalid_protobuf"] == 8 + len(frames[0]) + len(frames[1])
    assert offsets["truncated"] == truncated_at
    import_otel(TRACES, tmp_path / "json", MAPPING)
    assert_frame_equal(_cases(tmp_path / "bin"), _cases(tmp_path / "json"))
    # one message without a length prefix (an OTLP/HTTP request body)
    single = tmp_path / "request.pb"
    single.write_bytes(frames[0])
    assert import_otel(single, tmp_path / "one", MAPPING).written == 2


def test_reimport_replaces_what_the_file_wrote(tmp_path: Path):
    data = tmp_path / "d"
    first = import_otel(TRACES, data, MAPPING)
    files = {p: p.read_bytes() for p in (data / "telemetry").rglob("*.parquet")}
    second = import_otel(TRACES, data, MAPPING)
    assert second.to_dict() == first.to_dict()
    assert {p: p.read_bytes() for p in (data / "telemetry").rglob("*.parquet")} == files
    # another file adds its own key beside; no leftovers of the build folder
    other = tmp_path / "traces-2.jsonl"
    other.write_text(TRACES.read_text().splitlines()[0] + "\n")
    import_otel(other, data, MAPPING)
    assert sorted(p.name for p in (data / "telemetry" / "day=2026-10-01").iterdir()) == [
        "otel-traces+00000-0000.parquet",
        "otel-traces-2+00000-0000.parquet",
    ]
    assert [p.name for p in data.iterdir()] == ["telemetry"]


def test_reimport_keeps_the_telemetry_folders_permissions(tmp_path: Path):
    """The new telemetry/ takes the old one's permissions (a new one: the umask's default, not
    mkdtemp's private 0700), as the vendor import's dataset folder does."""
    data = tmp_path / "d"
    import_otel(TRACES, data, MAPPING)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((data / "telemetry").stat().st_mode) == 0o777 & ~mask
    os.chmod(data / "telemetry", 0o750)
    import_otel(TRACES, data, MAPPING, key="again")
    assert stat.S_IMODE((data / "telemetry").stat().st_mode) == 0o750


def test_chunks_in_worker_processes_give_the_same_import(tmp_path: Path, monkeypatch):
    """Small chunks (a line or two each) in two processes: the same cases, the same rejected
    records at the same lines, the same report."""
    import analytics.importers.otel as otel

    one = import_otel(TRACES, tmp_path / "one", MAPPING)
    monkeypatch.setattr(otel, "CHUNK_BYTES", 3000)
    assert len(otel.chunks(TRACES, 3000)) > 3
    two = import_otel(TRACES, tmp_path / "two", MAPPING, workers=2)
    assert_frame_equal(_cases(tmp_path / "two"), _cases(tmp_path / "one"))
    strip = {"dataset": None}
    assert {**two.to_dict(), **strip} == {**one.to_dict(), **strip}
    rejected = [
        sorted(
            (d / "telemetry" / "_imports" / "otel-traces.rejected.jsonl").read_text().splitlines()
        )
        for d in (tmp_path / "one", tmp_path / "two")
    ]
    assert rejected[0] == rejected[1] and len(rejected[0]) == 6


def test_protobuf_frames_in_worker_processes_give_the_same_import(tmp_path: Path, monkeypatch):
    """A length-prefixed protobuf file cut at frame starts (read from the 4-byte lengths only)
    and converted by two processes: the same cases, rejections at the same byte offsets (the
    invalid frame, the truncated tail) and the same report as one process."""
    import analytics.importers.otel as otel

    path, frames, truncated_at = _bad_protobuf(tmp_path)
    one = import_otel(path, tmp_path / "one", MAPPING)
    bounds = otel.frame_chunks(path, 1)  # a chunk per frame
    starts = [0]
    for frame in [*frames[:2], b"x" * 6, *frames[2:]]:
        starts.append(starts[-1] + 4 + len(frame))
    assert starts[-1] == truncated_at
    assert [a for a, _ in bounds] == starts  # every frame start, the truncated frame's too
    assert bounds[-1] == (truncated_at, path.stat().st_size)
    monkeypatch.setattr(otel, "CHUNK_BYTES", 1)
    two = import_otel(path, tmp_path / "two", MAPPING, workers=2)
    assert_frame_equal(_cases(tmp_path / "two"), _cases(tmp_path / "one"))
    strip = {"dataset": None}
    assert {**two.to_dict(), **strip} == {**one.to_dict(), **strip}
    assert {e["reason"]: e["at"] for e in two.examples}["truncated"] == truncated_at
    # a file of one message (no length prefixes) is one chunk
    single = tmp_path / "request.pb"
    single.write_bytes(frames[0])
    assert otel.frame_chunks(single, 1) == [(0, len(frames[0]))]


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["import", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PAR1\x00\x00", "a Parquet file"),
        (b"\x1f\x8b\x08\x00", "gzip-compressed"),
        (b'[{"resourceSpans": []}]', "JSON array"),
        (b'{"id": "obs-1", "trace_id": "t1", "type": "GENERATION"}\n', "not OTLP traces"),
        (b'{"resourceMetrics": []}\n', "OTLP metrics"),
        (b"ts,release_id,system\n2026-10-01,r1,s\n", "neither OTLP JSON lines nor OTLP protobuf"),
    ],
)
def test_a_file_of_another_kind_exits_2(tmp_path: Path, capsys, content: bytes, message: str):
    path = tmp_path / "export.bin"
    path.write_bytes(content)
    code, _, err = _cli(
        capsys,
        "otel",
        "--from",
        str(path),
        "--into",
        str(tmp_path / "d"),
        "--mapping",
        str(MAPPING),
    )
    assert code == 2 and message in err and str(path) in err
    d = tmp_path / "d"
    assert not d.exists()  # nothing written, no build folder, not even the new dataset folder


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.replace("release: service.version", 'release: ""'), "names no release marker"),
        (lambda m: m.replace("release: service.version", "release: []"), "names no release marker"),
        (lambda m: m.replace("otel:", "otle:"), "no 'otel' section"),
        (lambda m: m.replace("  language: app.language", "  langauge: app.language"), "langauge"),
        (lambda m: m.replace("{resource: service.name}", "{resource: a, value: b}"), "exactly one"),
        (lambda m: m.replace("input: 2.5", "input: -1"), "prices.gpt-4o.input"),
    ],
)
def test_a_bad_mapping_exits_2_naming_the_key(tmp_path: Path, capsys, edit, message: str):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(edit(MAPPING.read_text()))
    code, _, err = _cli(
        capsys,
        "otel",
        "--from",
        str(TRACES),
        "--into",
        str(tmp_path / "d"),
        "--mapping",
        str(mapping),
    )
    assert code == 2 and message in err and f"mapping file {mapping}: " in err


def test_a_dataset_with_one_telemetry_file_exits_2(tmp_path: Path, capsys):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "telemetry.parquet").write_bytes(b"")
    code, _, err = _cli(
        capsys,
        "otel",
        "--from",
        str(TRACES),
        "--into",
        str(tmp_path / "d"),
        "--mapping",
        str(MAPPING),
    )
    assert code == 2 and "move telemetry.parquet into telemetry/" in err


def test_cli_reports_the_reconciliation_and_json(tmp_path: Path, capsys):
    code, out, _ = _cli(
        capsys,
        "otel",
        "--from",
        str(TRACES),
        "--into",
        str(tmp_path / "d"),
        "--mapping",
        str(MAPPING),
    )
    assert code == 0
    assert "read 12 = written 5 + rejected 6 + not cases 1: ok" in out
    assert f"{TRACES} line 4 span 2 (id eee19b7ec3c1b105): unknown_model column 'model'" in out
    code, out, _ = _cli(
        capsys,
        "otel",
        "--from",
        str(TRACES),
        "--into",
        str(tmp_path / "d"),
        "--mapping",
        str(MAPPING),
        "--format",
        "json",
    )
    doc = json.loads(out)
    assert doc["records"] == {"read": 12, "written": 5, "rejected": 6, "not_cases": 1}
    assert doc["reconciliation"]["balanced"] is True


# ---------------------------------------------------------------- end to end: judge

T0 = datetime(2026, 3, 2, tzinfo=UTC)
RELEASED = T0 + timedelta(days=7, hours=9)
E2E_MAPPING = """\
version: 1
otel:
  task_type: {value: faq}
  criticality: {value: low}
  language: {value: en}
  customer_segment: {value: consumer}
  escalated: {event: app.escalation}
  reworked: {attribute: app.reworked, default: false}
  policy_violation: {attribute: app.policy_violation, default: false}
  refused: {value: false}
  handling_time_s: {value: 30}
  quality_score:
    event: gen_ai.evaluation.result
    where: {gen_ai.evaluation.name: quality}
    attribute: gen_ai.evaluation.score.value
  prices:
    gpt-4o: {input: 2.5, output: 10}
"""


def _span(start: datetime, k: int, escalated: bool, violation: bool) -> dict:
    ns = int(start.timestamp()) * 10**9
    attrs = {
        "gen_ai.operation.name": {"stringValue": "chat"},
        "gen_ai.request.model": {"stringValue": "gpt-4o"},
        "gen_ai.usage.input_tokens": {"intValue": "300"},
        "gen_ai.usage.output_tokens": {"intValue": "100"},
        "app.reworked": {"boolValue": k % 10 == 0},
        "app.policy_violation": {"boolValue": violation},
    }
    events = [
        {
            "name": "gen_ai.evaluation.result",
            "timeUnixNano": str(ns),
            "attributes": [
                {"key": "gen_ai.evaluation.name", "value": {"stringValue": "quality"}},
                {
                    "key": "gen_ai.evaluation.score.value",
                    "value": {"doubleValue": 0.8 + (k % 5) / 100},
                },
            ],
        }
    ]
    if escalated:
        events.append({"name": "app.escalation", "timeUnixNano": str(ns), "attributes": []})
    return {
        "traceId": f"{k:032x}",
        "spanId": f"{k:016x}",
        "startTimeUnixNano": str(ns),
        "endTimeUnixNano": str(ns + 250 * 10**6),
        "attributes": [{"key": key, "value": v} for key, v in attrs.items()],
        "events": events,
    }


def _day_line(release: str, day: int, n: int, rate: float, first: int) -> str:
    start = T0 + timedelta(days=day, hours=10)
    spans = [
        _span(
            start + timedelta(seconds=20 * i),
            first + i,
            (i + 1) * rate // 1 > i * rate // 1,
            i == 0,
        )
        for i in range(n)
    ]
    resource = {
        "attributes": [
            {"key": "service.name", "value": {"stringValue": "support"}},
            {"key": "service.version", "value": {"stringValue": release}},
        ]
    }
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]})


def test_end_to_end_judge_finds_a_planted_escalation_increase(tmp_path: Path, capsys):
    data = tmp_path / "d"
    data.mkdir()
    rows = [("v1", T0 - timedelta(days=20)), ("v2", RELEASED)]
    pl.DataFrame(
        {
            "release_id": [r[0] for r in rows],
            "system": ["support", "support"],
            "released_at": [r[1].strftime("%Y-%m-%dT%H:%M:%SZ") for r in rows],
            "risk_tier": ["medium", "medium"],
            **{f"{c}_version": [f"{c}-{r[0]}" for r in rows] for c in VERSIONS},
        }
    ).write_csv(data / "releases.csv")
    (data / "mapping.yaml").write_text(E2E_MAPPING)
    n = 500
    lines = [_day_line("v1", d, n, 0.10, d * n) for d in range(0, 11)]
    # the canary beside it from day 8: 30 % escalations against 10 %
    lines += [_day_line("v2", d, n, 0.30, 10**6 + d * n) for d in range(8, 11)]
    export = tmp_path / "traces.jsonl"
    export.write_text("\n".join(lines) + "\n")
    code, out, _ = _cli(capsys, "otel", "--from", str(export), "--into", str(data))
    assert code == 0 and "read 7000 = written 7000 + rejected 0 + not cases 0: ok" in out
    ds = load_dataset(data)
    assert ds.quality.rows_loaded["telemetry"] == 7000
    code = main(["judge", "--data", str(data), "--release", "v2", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["comparison"]["metrics"]["escalation_rate"]["verdict"] == "worse"
    assert code == 1 and doc["recommendation"] == "rollback"
