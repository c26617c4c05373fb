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
