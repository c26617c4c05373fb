"""How many worker processes a telemetry import starts: cores, at most four, no more than fit
the memory budget of the whole import (analytics/importers/workers.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.cli.main import main
from analytics.core.errors import DataError
from analytics.importers import workers as w

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "data" / "otel"


def test_the_budget_limits_the_workers_cores_permitting():
    plenty = 100_000.0
    # (1024 - 150) // 260 = 3 workers fit the default budget
    assert w.fitting_workers(1024) == 3
    assert w.import_workers(None, 1024, n_cores=2, available=plenty) == 2
    assert w.import_workers(None, 1024, n_cores=8, available=plenty) == 3
    # a larger budget: the cores, then MAX_WORKERS, are the limit
    assert w.import_workers(None, 4096, n_cores=2, available=plenty) == 2
    assert w.import_workers(None, 4096, n_cores=16, available=plenty) == 4
    # (700 - 150) // 260 = 2
    assert w.import_workers(None, 700, n_cores=16, available=plenty) == 2
    # the smallest budget that converts at all: one process
    assert w.import_workers(None, 410, n_cores=16, available=plenty) == 1


def test_a_machine_short_of_memory_gets_fewer_workers():
    # half of 1,200 MB available = 600 MB: (600 - 150) // 260 = 1
    assert w.import_workers(None, 1024, n_cores=4, available=1200) == 1
    # half of 1,500 MB = 750 MB: 2
    assert w.import_workers(None, 1024, n_cores=4, available=1500) == 2
    # next to nothing available: still one process (it is what the user asked to run)
    assert w.import_workers(None, 1024, n_cores=4, available=10) == 1


def test_an_explicit_count_is_used_as_given_and_checked():
    assert w.import_workers(6, 1024, n_cores=2, available=10) == 6
    for bad in (0, -1, True, 2.5):
        with pytest.raises(DataError, match="--workers must be a whole number >= 1"):
            w.import_workers(bad)
    with pytest.raises(DataError, match=r"--memory-mb 300 is below .* \(about 410 MB\)"):
        w.import_workers(None, 300)


def test_available_memory_is_read_from_meminfo(tmp_path: Path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24576000 kB\nMemAvailable:    2048000 kB\n")
    assert w.available_mb(meminfo) == 2000.0
    meminfo.write_text("MemTotal:       24576000 kB\n")
    assert w.available_mb(meminfo) is None
    assert w.available_mb(tmp_path / "absent") is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers must be a whole number >= 1, got 0"),
        (["--memory-mb", "100"], "--memory-mb 100 is below what one conversion needs"),
    ],
)
def test_the_command_exits_2_on_a_bad_count_or_budget(tmp_path: Path, capsys, args, message):
    code = main(
        ["import", "otel", "--from", str(FIXTURES / "traces.jsonl"), "--into", str(tmp_path)]
        + ["--mapping", str(FIXTURES / "mapping.yaml"), *args]
    )
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "telemetry").exists()


def test_a_worker_process_loads_no_statistics_or_report_libraries():
    """A spawned worker imports ``analytics.importers.otel``; the package facade loads its
    names lazily, so the worker does not carry scipy, statsmodels, pandas or plotly."""
    code = (
        "import sys, json, analytics.importers.otel, analytics.cli.importers\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    loaded = set(json.loads(out.stdout))
    assert "polars" in loaded and "msgspec" in loaded
    assert not loaded & {"scipy", "statsmodels", "pandas", "plotly", "nbformat", "duckdb"}


def test_the_public_names_still_load():
    import analytics as ra

    for name in ra.__all__:
        assert getattr(ra, name) is not None, name
    assert set(ra.__all__) <= set(dir(ra))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ra.nope  # noqa: B018
