# ruff: noqa: UP031 - the JSON templates are %-formatted: braces stay literal
"""Benchmark: OTLP JSON -> telemetry Parquet, ours against DuckDB (see benchmarks/README.md).

    .venv/bin/python benchmarks/otel_import.py                 # 5M spans
    .venv/bin/python benchmarks/otel_import.py --spans 200000  # smoke size

It writes an OTLP JSON lines file as the collector's file exporter does (one
ExportTraceServiceRequest per line, 1,000 spans a line, 365 days, GenAI chat spans with token
usage, app.* segment attributes, evaluation events and escalation events) into
``benchmarks/out/otel-<spans>.jsonl`` (git-ignored, reused), then times, each in a fresh child
process (peak RSS from ``os.wait4``; the peak of the child's whole process tree, summed RSS and
PSS, sampled from /proc by ``_child.run_child``):

- ``ours``: ``analytics.importers.otel.import_otel`` into a new dataset folder, with the worker
  processes the command picks (``analytics.importers.workers``; ``--workers N`` to force): every
  span mapped, checked and written to ``telemetry/day=YYYY-MM-DD/``, the report and
  reconciliation;
- ``duckdb``: ``read_json`` of the same file with the OTLP structure given (no sampling), the
  same flattening (resource, scope and span lists unnested, the same attributes and events
  looked up, the same price table) and ``COPY ... (PARTITION_BY day)`` to Parquet. DuckDB does
  no per-record checks and keeps no rejection list: it is the floor for this work.

Prints a table and the ratio ours / duckdb (target: at most 1.5; the whole import's peak memory
under 1 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from _child import TREE_INTERVAL, run_child

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "out"
SPANS_PER_LINE = 1000
DAY0 = 1_767_225_600  # 2026-01-01T00:00:00Z
MODELS = {"gpt-4o": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.6)}
MAPPING = """\
version: 1
otel:
  system: {resource: service.name}
  task_type: app.task_type
  criticality: {attribute: app.criticality, default: medium}
  language: app.language
  customer_segment: app.customer_segment
  escalated: {event: app.escalation}
  reworked: {attribute: app.reworked, default: false}
  policy_violation:
    event: gen_ai.evaluation.result
    where: {gen_ai.evaluation.name: policy}
    attribute: gen_ai.evaluation.score.label
    values: {fail: true, pass: false}
    default: false
  refused:
    attribute: gen_ai.response.finish_reasons
    values: {content_filter: true, stop: false}
    default: false
  handling_time_s: {attribute: app.handling_time_s, default: 0}
  quality_score:
    event: gen_ai.evaluation.result
    where: {gen_ai.evaluation.name: quality}
    attribute: gen_ai.evaluation.score.value
  prices:
    gpt-4o: {input: 2.5, output: 10}
    gpt-4o-mini: {input: 0.15, output: 0.6}
"""

_ATTR = '{"key":"%s","value":{"%s":%s}}'
_SPAN = (
    '{"traceId":"%032x","spanId":"%016x","parentSpanId":"","name":"chat %s","kind":3,'
    '"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[%s],"events":[%s],'
    '"status":{}}'
)


def _span(rnd: random.Random, k: int, start_ns: int) -> str:
    model = "gpt-4o" if rnd.random() < 0.6 else "gpt-4o-mini"
    finish = "content_filter" if rnd.random() < 0.02 else "stop"
    attrs = [
        _ATTR % ("gen_ai.operation.name", "stringValue", '"chat"'),
        _ATTR % ("gen_ai.provider.name", "stringValue", '"openai"'),
        _ATTR % ("gen_ai.request.model", "stringValue", f'"{model}"'),
        _ATTR % ("gen_ai.response.model", "stringValue", f'"{model}-2024-08-06"'),
        _ATTR % ("gen_ai.usage.input_tokens", "intValue", f'"{rnd.randrange(50, 4000)}"'),
        _ATTR % ("gen_ai.usage.output_tokens", "intValue", f'"{rnd.randrange(10, 900)}"'),
        '{"key":"gen_ai.response.finish_reasons","value":{"arrayValue":{"values":'
        f'[{{"stringValue":"{finish}"}}]}}}}}}',
        _ATTR % ("app.task_type", "stringValue", f'"{rnd.choice(("refund", "faq", "triage"))}"'),
        _ATTR % ("app.criticality", "stringValue", f'"{rnd.choice(("low", "medium", "high"))}"'),
        _ATTR % ("app.language", "stringValue", f'"{rnd.choice(("en", "de", "fr", "es"))}"'),
        _ATTR % ("app.customer_segment", "stringValue", f'"{rnd.choice(("smb", "ent"))}"'),
        _ATTR % ("app.reworked", "boolValue", "true" if rnd.random() < 0.05 else "false"),
        _ATTR % ("app.handling_time_s", "doubleValue", f"{rnd.expovariate(1 / 30):.3f}"),
    ]
    t = f'"timeUnixNano":"{start_ns + 10**9}"'
    events = [
        '{"name":"gen_ai.evaluation.result",%s,"attributes":[%s,%s]}'
        % (
            t,
            _ATTR % ("gen_ai.evaluation.name", "stringValue", '"quality"'),
            _ATTR % ("gen_ai.evaluation.score.value", "doubleValue", f"{rnd.random():.3f}"),
        )
    ]
    if rnd.random() < 0.3:
        label = "fail" if rnd.random() < 0.01 else "pass"
        events.append(
            '{"name":"gen_ai.evaluation.result",%s,"attributes":[%s,%s]}'
            % (
                t,
                _ATTR % ("gen_ai.evaluation.name", "stringValue", '"policy"'),
                _ATTR % ("gen_ai.evaluation.score.label", "stringValue", f'"{label}"'),
            )
        )
    if rnd.random() < 0.1:
        events.append('{"name":"app.escalation",%s,"attributes":[]}' % t)
    end = start_ns + rnd.randrange(200, 8000) * 10**6
    return _SPAN % (
        rnd.getrandbits(128),
        k,
        model,
        start_ns,
        end,
        ",".join(attrs),
        ",".join(events),
    )


def generate(path: Path, spans: int, seed: int = 13) -> None:
    """``spans`` GenAI spans over 365 days, in time order, 1,000 to a line."""
    rnd = random.Random(seed)
    step = 365 * 86400 * 10**9 // max(spans, 1)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        for first in range(0, spans, SPANS_PER_LINE):
            n = min(SPANS_PER_LINE, spans - first)
            day = (first * step) // (86400 * 10**9)
            release = f"support-2026.{day // 14:03d}"
            body = ",".join(
                _span(rnd, first + i + 1, DAY0 * 10**9 + (first + i) * step) for i in range(n)
            )
            resource = '{"attributes":[%s,%s]}' % (
                _ATTR % ("service.name", "stringValue", '"support"'),
                _ATTR % ("service.version", "stringValue", f'"{release}"'),
            )
            f.write(
                '{"resourceSpans":[{"resource":%s,"scopeSpans":[{"scope":{"name":"openai"},'
                '"spans":[%s]}]}]}\n' % (resource, body)
            )
    tmp.rename(path)


# ---------------------------------------------------------------- the engines

_VALUE = (
    "STRUCT(stringValue VARCHAR, intValue VARCHAR, doubleValue DOUBLE, boolValue BOOLEAN, "
    'arrayValue STRUCT("values" STRUCT(stringValue VARCHAR)[]))'
)
_KV = f"STRUCT(key VARCHAR, value {_VALUE})[]"
_COLUMNS = (
    "{'resourceSpans': 'STRUCT(resource STRUCT(attributes %s), scopeSpans STRUCT(spans "
    "STRUCT(spanId VARCHAR, startTimeUnixNano VARCHAR, endTimeUnixNano VARCHAR, attributes %s, "
    "events STRUCT(name VARCHAR, attributes %s)[])[])[])[]'}" % (_KV, _KV, _KV)
)


def duckdb_sql(src: Path, out: Path) -> str:
    def attr(key: str, field: str, lst: str = "sp.attributes") -> str:
        return f"list_filter({lst}, lambda a: a.key = '{key}')[1].value.{field}"

    def event_attr(name: str, where: str, key: str, field: str) -> str:
        events = (
            f"list_filter(sp.events, lambda e: e.name = '{name}' and "
            f"{attr('gen_ai.evaluation.name', 'stringValue', 'e.attributes')} = '{where}')"
        )
        return f"{attr(key, field, events + '[1].attributes')}"

    cost_in = "CASE model " + " ".join(f"WHEN '{m}' THEN {p[0]}" for m, p in MODELS.items())
    cost_out = "CASE model " + " ".join(f"WHEN '{m}' THEN {p[1]}" for m, p in MODELS.items())
    return f"""
COPY (
  WITH rs AS (
    SELECT unnest(resourceSpans) AS r FROM read_json('{src}', format='newline_delimited',
      columns={_COLUMNS}, maximum_object_size=1000000000)),
  ss AS (SELECT r.resource.attributes AS ra, unnest(r.scopeSpans) AS s FROM rs),
  sp AS (SELECT ra, unnest(s.spans) AS sp FROM ss),
  flat AS (
    SELECT
      make_timestamp((sp.startTimeUnixNano::BIGINT // 1000)) AS ts,
      coalesce({attr("service.version", "stringValue")},
               {attr("service.version", "stringValue", "ra")}) AS release_id,
      {attr("service.name", "stringValue", "ra")} AS system,
      {attr("app.task_type", "stringValue")} AS task_type,
      coalesce({attr("app.criticality", "stringValue")}, 'medium') AS criticality,
      {attr("app.language", "stringValue")} AS language,
      {attr("app.customer_segment", "stringValue")} AS customer_segment,
      len(list_filter(sp.events, lambda e: e.name = 'app.escalation')) > 0 AS escalated,
      coalesce({attr("app.reworked", "boolValue")}, false) AS reworked,
      coalesce({
        event_attr(
            "gen_ai.evaluation.result", "policy", "gen_ai.evaluation.score.label", "stringValue"
        )
    } = 'fail', false)
        AS policy_violation,
      coalesce({attr("gen_ai.response.finish_reasons", "arrayValue")}."values"[1].stringValue
               = 'content_filter', false) AS refused,
      coalesce({attr("app.handling_time_s", "doubleValue")}, 0) AS handling_time_s,
      (sp.endTimeUnixNano::BIGINT - sp.startTimeUnixNano::BIGINT) / 1e6 AS latency_ms,
      {attr("gen_ai.usage.input_tokens", "intValue")}::DOUBLE AS tin,
      {attr("gen_ai.usage.output_tokens", "intValue")}::DOUBLE AS tout,
      coalesce({attr("gen_ai.request.model", "stringValue")},
               {attr("gen_ai.response.model", "stringValue")}) AS model,
      {
        event_attr(
            "gen_ai.evaluation.result", "quality", "gen_ai.evaluation.score.value", "doubleValue"
        )
    } AS quality_score,
      sp.spanId AS source_id
    FROM sp
    WHERE len(list_filter(sp.attributes, lambda a: a.key = 'gen_ai.operation.name')) > 0)
  SELECT ts, release_id, system, task_type, criticality, language, customer_segment,
    escalated, reworked, policy_violation, refused, handling_time_s, latency_ms,
    tin + tout AS tokens,
    (tin * ({cost_in} END) + tout * ({cost_out} END)) / 1e6 AS model_cost_usd,
    quality_score, source_id, ts::DATE AS day
  FROM flat
) TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (day))
"""


def run_engine(engine: str, src: Path, work: Path, workers: int | None) -> dict[str, Any]:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    cpu0, t0 = time.process_time(), time.perf_counter()
    if engine == "ours":
        from analytics.importers.otel import import_otel

        (work / "mapping.yaml").write_text(MAPPING)
        import resource

        from analytics.importers.workers import import_workers

        workers = import_workers(workers)
        report = import_otel(src, work / "dataset", work / "mapping.yaml", workers=workers)
        worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        extra = {
            "written": report.written,
            "rejected": report.n_rejected,
            "workers": workers,
            "worker_peak_rss_mb": worker_rss,
        }
    elif engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute(duckdb_sql(src, work / "telemetry"))
        extra = {}
    else:
        raise ValueError(engine)
    return {
        "engine": engine,
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - cpu0,
        **extra,
    }


def child(engine: str, src: Path, work: Path, workers: int | None) -> dict[str, Any]:
    """``engine`` in a fresh interpreter (``_child.run_child``), its process tree sampled."""
    arg = {"engine": engine, "src": str(src), "work": str(work), "workers": workers}
    return run_child(__file__, arg, tree=True)


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({model}), Linux {platform.release()}, Python "
        f"{platform.python_version()}; load average at start {load}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spans", type=int, default=5_000_000)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument(
        "--engines", default="ours,duckdb", help="comma-separated: ours, duckdb (default both)"
    )
    p.add_argument(
        "--workers",
        type=int,
        help="ours: worker processes (default: what the command picks)",
    )
    p.add_argument("--task", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.task:
        spec = json.loads(args.task)
        result = run_engine(spec["engine"], Path(spec["src"]), Path(spec["work"]), spec["workers"])
        print(json.dumps(result))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    src = args.out / f"otel-{args.spans}.jsonl"
    if not src.exists():
        t = time.perf_counter()
        generate(src, args.spans)
        size = src.stat().st_size / 1e9
        print(f"generated {src} ({size:.2f} GB) in {time.perf_counter() - t:.0f} s")
    print(machine())
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    results: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
    for _ in range(args.repeat):
        for engine in results:  # interleaved, so background load spreads over both
            work = args.out / f"otel-work-{engine}"
            results[engine].append(child(engine, src, work, args.workers))
    best = {e: min(rs, key=lambda r: r["seconds"]) for e, rs in results.items()}
    print(f"\nspans: {args.spans:,}; file {src.stat().st_size / 1e9:.2f} GB; best of {args.repeat}")
    print(
        "\n| engine | processes | wall s | spans/s | CPU s | largest process RSS MB "
        "| tree RSS MB | tree PSS MB |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for e, r in best.items():
        largest = max(r["peak_rss_mb"], r.get("worker_peak_rss_mb", 0))
        print(
            f"| {e} | {r['tree_peak_processes']} | {r['seconds']:.2f} | "
            f"{args.spans / r['seconds'] / 1e3:.0f}k | {r['child_cpu_seconds']:.1f} | "
            f"{largest:,.0f} | {r['tree_peak_rss_mb']:,.0f} | {r['tree_peak_pss_mb']:,.0f} |"
        )
    if "ours" in best:
        ours = results["ours"]
        tree_rss = max(r["tree_peak_rss_mb"] for r in ours)
        tree_pss = max(r["tree_peak_pss_mb"] for r in ours)
        print(
            f"\nours, {best['ours']['workers']} worker(s): peak of the whole process tree "
            f"{tree_pss:,.0f} MB PSS, {tree_rss:,.0f} MB summed RSS (target < 1024; largest of "
            f"{args.repeat} run(s), sampled every {TREE_INTERVAL} s)"
        )
        print(f"ours: written {best['ours']['written']:,}, rejected {best['ours']['rejected']:,}")
    if {"ours", "duckdb"} <= set(best):
        ratio = best["ours"]["seconds"] / best["duckdb"]["seconds"]
        print(f"ratio ours / duckdb wall time: {ratio:.2f} (target <= 1.5)")
    for engine in results:
        shutil.rmtree(args.out / f"otel-work-{engine}", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
