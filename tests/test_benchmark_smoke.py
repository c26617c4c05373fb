"""The rollup benchmark runs end to end at a tiny size (a smoke test: no timing assertions).

At this size the script also checks that our rollup and its DuckDB counterpart produce the same
tables, so the smoke test is a parity test against an independent implementation too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "telemetry_rollup.py"


def test_telemetry_rollup_benchmark_runs(tmp_path: Path):
    pytest.importorskip("duckdb")
    args = ["--rows", "100000", "--repeat", "1", "--out", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "check: ours == duckdb" in out
    table = [line for line in out.splitlines() if line.startswith("| ")]
    engines = {line.split("|")[1].strip() for line in table[1:]}
    assert {"ours", "ours-command", "duckdb", "scan-polars", "scan-duckdb"} <= engines
    # the generated dataset is a valid dataset folder, reused on the next run
    data = tmp_path / "telemetry-100000-365d"
    assert (data / "releases.csv").is_file() and (data / "complete.json").is_file()
    assert len(list((data / "telemetry").glob("*.parquet"))) == 12


def test_otel_import_benchmark_measures_the_whole_process_tree(tmp_path: Path):
    """At a small size (two 64 MB chunks) with two workers forced: the table has both
    engines, and the tree's peak memory (main process and workers, sampled from /proc) is at
    least the largest single process's."""
    pytest.importorskip("duckdb")
    script = SCRIPT.parent / "otel_import.py"
    args = ["--spans", "70000", "--workers", "2", "--out", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {
        cells[0]: cells
        for line in done.stdout.splitlines()
        if line.startswith("| ") and (cells := [c.strip() for c in line.strip("|").split("|")])
    }
    assert {"ours", "duckdb"} <= set(rows)
    ours = rows["ours"]
    processes, largest, tree_rss = int(ours[1]), _mb(ours[5]), _mb(ours[6])
    assert processes >= 3  # the main process and two workers were alive at the peak
    assert tree_rss >= largest > 0
    assert "ours, 2 worker(s): peak of the whole process tree" in done.stdout
    assert "ours: written 70,000, rejected 0" in done.stdout


def _mb(cell: str) -> float:
    return float(cell.replace(",", ""))
