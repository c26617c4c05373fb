"""Running one benchmark step in a fresh interpreter, for the benchmarks of this folder: the
step's JSON result plus its peak RSS and CPU time (``os.wait4``: the child's own, its waited-for
workers included).

A step that starts worker processes uses memory in all of them at once, and the largest single
peak says little about the whole. ``run_child(..., tree=True)`` also samples the child's process
tree (the child and every descendant, from ``/proc``) every ``TREE_INTERVAL`` seconds and
reports the peak of their summed RSS and of their summed PSS (proportional set size: a page
shared by n processes counts 1/n in each, so the sum is what the tree occupies; the RSS sum
counts shared library pages once per process and is the pessimistic bound)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TREE_INTERVAL = 0.1  # seconds between samples of the process tree


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (``/proc/PID/task/TID/children``)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except OSError:  # ended meanwhile
            continue
        for task in tasks:
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return out


def _kb(path: str, fields: tuple[str, ...]) -> dict[str, int]:
    found = {}
    try:
        with open(path) as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in fields:
                    found[name] = int(rest.split()[0])
    except OSError:  # ended meanwhile: it occupies nothing now
        pass
    return found


def tree_memory(pid: int) -> tuple[int, int, int]:
    """(summed RSS kB, summed PSS kB, processes) of ``pid``'s tree now."""
    rss = pss = 0
    pids = descendants(pid)
    for p in pids:
        rss += _kb(f"/proc/{p}/status", ("VmRSS",)).get("VmRSS", 0)
        pss += _kb(f"/proc/{p}/smaps_rollup", ("Pss",)).get("Pss", 0)
    return rss, pss, len(pids)


class TreeSampler(threading.Thread):
    """Samples ``tree_memory(pid)`` until stopped; keeps the peaks."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss_kb = self.peak_pss_kb = self.peak_processes = self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(TREE_INTERVAL):
            rss, pss, n = tree_memory(self.pid)
            self.samples += 1
            if pss > self.peak_pss_kb:
                self.peak_pss_kb = pss
            if rss > self.peak_rss_kb:
                self.peak_rss_kb, self.peak_processes = rss, n

    def stop(self) -> None:
        self._done.set()
        self.join()


def run_child(script: str, arg: dict[str, Any], tree: bool = False) -> dict[str, Any]:
    """Run ``script --task ARG`` (ARG as JSON); its last stdout line is the JSON result. With
    ``tree``, the result also has ``tree_peak_rss_mb``, ``tree_peak_pss_mb`` (module docstring),
    ``tree_peak_processes`` (processes alive at the RSS peak) and ``tree_samples``."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, script, "--task", json.dumps(arg)],
            stdout=out,
            stderr=err,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        sampler = TreeSampler(proc.pid) if tree else None
        if sampler:
            sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        if sampler:
            sampler.stop()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{arg} failed:\n{stderr[-4000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["child_cpu_seconds"] = usage.ru_utime + usage.ru_stime
    if sampler:
        result["tree_peak_rss_mb"] = sampler.peak_rss_kb / 1024
        result["tree_peak_pss_mb"] = sampler.peak_pss_kb / 1024
        result["tree_peak_processes"] = sampler.peak_processes
        result["tree_samples"] = sampler.samples
    return result
