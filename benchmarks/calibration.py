"""The comparison engine's calibration table: error rates, interval coverage and power per
scenario, beside textbook post-stratification and statsmodels' two-sample tests on the same data.

    python benchmarks/calibration.py [--releases N] [--only TEXT] [--out FILE]

Prints a Markdown table (each rate with its Monte-Carlo standard error) that METRICS.md records;
``make calibrate`` runs it with the default number of releases per scenario. The generator and the
scenarios are ``analytics.sample.calibration``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

from analytics.sample.calibration import SCENARIOS, run_scenario, with_releases

COLUMNS = (
    ("rollback", "rollback"),
    ("telemetry_failure", "telemetry failure"),
    ("go", "go"),
    ("escalation_coverage", "escalation CI coverage"),
    ("cost_coverage", "cost CI coverage"),
    ("textbook_ps_worse", "textbook PS worse (one test)"),
    ("textbook_ps_worse_same_budget", "textbook PS worse (same budget)"),
    ("textbook_ps_worse_any_daily_look", "textbook PS worse at any daily look"),
    ("textbook_ps_coverage", "textbook PS coverage"),
    ("statsmodels_naive_worse", "statsmodels naive worse"),
)


def _cell(value: tuple[float | None, float | None, int] | None) -> str:
    if value is None or value[0] is None:
        return "-"
    v, se, _ = value
    return f"{v:.3f} ± {se:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--releases", type=int, default=None, help="releases per scenario")
    ap.add_argument("--only", default=None, help="run the scenarios whose name contains this")
    ap.add_argument("--out", default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    lines = [
        f"Machine: {platform.machine()}, Python {platform.python_version()}; "
        "each cell: rate ± Monte-Carlo standard error over the scenario's releases.",
        "",
        "| scenario | releases | " + " | ".join(label for _, label in COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    started = time.perf_counter()
    for scenario in SCENARIOS:
        if args.only and args.only not in scenario.name:
            continue
        s = with_releases(scenario, args.releases) if args.releases else scenario
        res = run_scenario(s, daily_textbook="daily looks" in s.name)
        summary = res["summary"]
        cells = [_cell(summary.get(key)) for key, _ in COLUMNS]
        lines.append(f"| {s.name} | {s.releases} | " + " | ".join(cells) + " |")
        print(lines[-1], file=sys.stderr, flush=True)
    lines.append("")
    lines.append(f"Total time {time.perf_counter() - started:.0f} s.")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
