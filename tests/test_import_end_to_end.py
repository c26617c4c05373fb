"""From vendor exports to KPIs: GitHub deployments, PagerDuty incidents and MLflow runs imported
into one dataset, then ``analytics kpis`` gives the hand-checked numbers and the executive report
renders from it.

By hand, for October 2026 as of 2026-11-15:
- releases deployed: support-2026.10.01 (Oct 1 10:00), 10.02 (Oct 8 10:00), 10.06 (Oct 27 10:00);
- pd-101 (quality, Oct 3 08:00) is attributed by time to 10.01, pd-102 (safety) names 10.02,
  pd-104 (latency, Oct 28) is attributed by time to 10.06 but has no decision-quality impact;
- so CFR-DQ = 2 / 3 (by the incident signal), DORA CFR = 3 / 3;
- MTTD: 46 h (10.01) and 47 h (10.02), mean 46.5 h; MTTM: 6 h (101) and 2 h (102), mean 4 h;
- evidence from MLflow: offline_eval for 10.01 and 10.02, safety_eval for 10.01. 10.01 (the
  first release changed everything) and 10.06 (a new model) are effectively high tier, 10.02 is
  medium as declared (a prompt change implies only low): offline_eval is there for 2 of 3,
  safety_eval for 1 of the 2 high-tier releases, and no package is complete (canary and rollback
  plans are not in these exports).
"""

from __future__ import annotations

import json
from pathlib import Path

from test_import_mapping import VENDOR, counts, loads_clean, run_import
from test_import_mlflow import make_store

from analytics.cli.main import main


def test_exports_to_kpis(tmp_path: Path, capsys) -> None:
    into = tmp_path / "dataset"
    store = make_store(tmp_path / "mlflow")
    steps = [
        ("github", VENDOR / "github" / "deployments_2026-10.json", (9, 3, 5, 1)),
        ("pagerduty", VENDOR / "pagerduty" / "incidents_2026-10.json", (6, 3, 2, 1)),
        ("mlflow", store, (8, 3, 4, 1)),
    ]
    for source, export, expected in steps:
        code, report, err = run_import(capsys, source, export, into)
        assert code == 0, err
        assert counts(report) == expected
    ds = loads_clean(into)
    assert (ds.releases.height, ds.incidents.height, ds.evidence.height, ds.gates.height) == (
        3,
        3,
        3,
        3,
    )
    assert not [f for f in ds.quality.findings if f.code == "unknown_release"]
    log = json.loads((into / "import_log.json").read_text(encoding="utf-8"))
    assert sorted(log["sources"]) == ["github", "mlflow", "pagerduty"]
    assert log["tables"]["gates"] == ["mlflow"]

    argv = ["kpis", "--data", str(into), "--month", "2026-10"]
    code = main([*argv, "--as-of", "2026-11-15T00:00:00Z", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["releases_deployed"] == 3
    assert out["release_ids"] == ["support-2026.10.01", "support-2026.10.02", "support-2026.10.06"]
    k = out["kpis"]
    cfr = k["change_failure_rate"]
    assert (cfr["numerator"], cfr["denominator"], cfr["by_signal"]["incident"]) == (2, 3, 2)
    dora = k["dora_change_failure_rate"]
    assert (dora["numerator"], dora["denominator"]) == (3, 3)
    assert (k["mttd_hours"]["n"], k["mttd_hours"]["mean"]) == (2, 46.5)
    assert (k["mttm_hours"]["n"], k["mttm_hours"]["mean"]) == (2, 4.0)
    by_item = k["evidence_completeness"]["by_item"]
    assert (by_item["offline_eval"]["numerator"], by_item["offline_eval"]["denominator"]) == (2, 3)
    assert (by_item["safety_eval"]["numerator"], by_item["safety_eval"]["denominator"]) == (1, 2)
    assert k["evidence_completeness"]["numerator"] == 0

    # ... and the executive report renders from the imported dataset (offline HTML, escaped).
    out_dir = tmp_path / "reports"
    argv = ["report", "executive", "--data", str(into), "--month", "2026-10"]
    code = main([*argv, "--as-of", "2026-11-15T00:00:00Z", "--out", str(out_dir)])
    assert code == 0, capsys.readouterr().err
    (page,) = out_dir.glob("executive_2026-10_*.html")
    html = page.read_text(encoding="utf-8")
    assert "support-2026.10.01" in html
    assert '<script src="http' not in html  # plotly.js is embedded, not fetched
