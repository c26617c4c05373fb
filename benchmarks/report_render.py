"""Benchmark: render the executive report end to end, as a user would.

    python benchmarks/report_render.py                       # data/sample, month 2026-10
    python benchmarks/report_render.py --runs 3 --pdf

Each run is a fresh ``analytics report executive`` process (Python start, dataset load inside a
new Jupyter kernel, papermill execution, nbconvert), timed by wall clock, into a fresh output
folder. The sample data is generated first when ``--data`` does not exist (not timed). Prints
the wall time of every run, the median, and the size of the HTML (and PDF). Targets: under 20 s
and under 2 MB of HTML (small enough to e-mail; issue 14) on the reference machine.

Reference, run in the same session: the fixed cost of the toolchain, i.e. a one-cell notebook
that only imports ``analytics``, executed by papermill and converted by nbconvert the same way;
the ratio report / reference says how much of the wall time is the report's own work.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 20.0
TARGET_BYTES = 2_000_000


def reference_run(workdir: Path) -> float:
    """Wall time of papermill + nbconvert on a notebook that only imports analytics."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import analytics")]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    src, done = workdir / "ref.ipynb", workdir / "ref-out.ipynb"
    nbformat.write(nb, src)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "papermill", "--no-progress-bar", str(src), str(done)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--no-input", str(done)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "data" / "sample"))
    ap.add_argument("--month", default="2026-10")
    ap.add_argument("--as-of", dest="as_of", default="2026-11-15T00:00:00Z")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pdf", action="store_true", help="also print the PDF (timed with it)")
    args = ap.parse_args()

    data = Path(args.data)
    if not (data / "releases.csv").is_file():
        print(f"generating the sample data into {data} (not timed) ...", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "analytics.cli.main", "sample-data", "--out", str(data)],
            check=True,
        )
    cmd = [
        sys.executable,
        "-m",
        "analytics.cli.main",
        "report",
        "executive",
        "--data",
        str(data),
        "--month",
        args.month,
        "--as-of",
        args.as_of,
    ]
    if args.pdf:
        cmd.append("--pdf")

    times: list[float] = []
    html_bytes = pdf_bytes = 0
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="report-bench-") as out:
            start = time.perf_counter()
            proc = subprocess.run([*cmd, "--out", out], capture_output=True, text=True, check=False)
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return proc.returncode
            paths = [Path(p) for p in proc.stdout.split()]
            html_bytes = paths[0].stat().st_size
            pdf_bytes = paths[1].stat().st_size if len(paths) > 1 else 0
        times.append(elapsed)
        print(f"run {i + 1}: {elapsed:.2f} s")

    with tempfile.TemporaryDirectory(prefix="report-bench-ref-") as ref_dir:
        ref = statistics.median(reference_run(Path(ref_dir)) for _ in range(args.runs))
    print(
        f"reference (papermill + nbconvert of a notebook that only imports analytics): {ref:.2f} s"
    )
    median = statistics.median(times)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"executive report {args.month}: median {median:.2f} s over {len(times)} runs "
        f"(min {min(times):.2f} s, max {max(times):.2f} s); target < {TARGET_SECONDS:.0f} s"
    )
    print(f"ratio report / reference: {median / ref:.2f}x")
    print(f"HTML size: {html_bytes / 1e6:.2f} MB ({html_bytes:,} bytes); target < 2 MB")
    if pdf_bytes:
        print(f"PDF size: {pdf_bytes / 1e6:.2f} MB")
    ok = median < TARGET_SECONDS and html_bytes < TARGET_BYTES
    print("within target" if ok else "OVER TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
