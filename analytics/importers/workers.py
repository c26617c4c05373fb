"""How many worker processes a telemetry import uses by default: one per core (at most
``MAX_WORKERS``), and no more than fit the import's memory budget.

The budget is for the whole process tree (the main process and its workers together), because
that is what the machine has to hold. A worker's memory does not grow with the file: it holds
its imports, one decoded export request and one batch of ``BATCH_SPANS`` rows, so its peak is a
constant measured by ``benchmarks/otel_import.py`` (benchmarks/README.md "OTLP import"); the
figures below are those peaks with a margin. An explicit ``--workers N`` is used as given.
"""

from __future__ import annotations

import os
from pathlib import Path

from analytics.core.errors import DataError

MAX_WORKERS = 4
MEMORY_BUDGET_MB = 1024  # the whole import, main process and workers together
# Measured peaks (PSS, MB) with a margin: the main process while workers convert (it holds its
# imports and merges the chunks' reports), and one worker converting a chunk.
MAIN_MB = 150
WORKER_MB = 260


def cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def available_mb(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    """The memory the kernel says is available for new work (``MemAvailable``), or None."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def fitting_workers(budget_mb: float) -> int:
    """How many workers fit ``budget_mb`` beside the main process (1 = convert in the main
    process, which then needs about one worker's memory)."""
    return max(1, int((budget_mb - MAIN_MB) // WORKER_MB))


def import_workers(
    requested: int | None = None,
    budget_mb: float = MEMORY_BUDGET_MB,
    n_cores: int | None = None,
    available: float | None = None,
) -> int:
    """Worker processes for an import: ``requested`` if given (at least 1), else the smallest
    of the cores, ``MAX_WORKERS`` and what fits the budget (and half the available memory,
    when the machine is short of it)."""
    if requested is not None:
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise DataError(f"--workers must be a whole number >= 1, got {requested!r}")
        return requested
    if budget_mb < MAIN_MB + WORKER_MB:
        raise DataError(
            f"--memory-mb {budget_mb:g} is below what one conversion needs "
            f"(about {MAIN_MB + WORKER_MB} MB)"
        )
    free = available_mb() if available is None else available
    if free is not None:
        budget_mb = min(budget_mb, max(free / 2, MAIN_MB + WORKER_MB))
    return min(n_cores or cores(), MAX_WORKERS, fitting_workers(budget_mb))
