"""Running one benchmark step in a fresh interpreter, for the benchmarks of this folder: the
step's JSON result plus its peak RSS and CPU time (``os.wait4``: the child's own, its waited-for
workers included)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_child(script: str, arg: dict[str, Any]) -> dict[str, Any]:
    """Run ``script --task ARG`` (ARG as JSON); its last stdout line is the JSON result."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, script, "--task", json.dumps(arg)],
            stdout=out,
            stderr=err,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{arg} failed:\n{stderr[-4000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["child_cpu_seconds"] = usage.ru_utime + usage.ru_stime
    return result
