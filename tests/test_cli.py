"""The CLI's JSON contract (docs/data-contract.md): key names, types, no NaN, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.cli.main import main

ARGS = ["--month", "2026-04", "--as-of", "2026-06-01T00:00:00Z", "--format", "json"]


def _json(capsys, argv: list[str]):
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "NaN" not in text and "Infinity" not in text
    return json.loads(text)


def test_kpis_json_keys(capsys, tiny_dir: Path) -> None:
    out = _json(capsys, ["kpis", "--data", str(tiny_dir), *ARGS])
    assert {"month", "as_of", "releases_deployed", "kpis", "data_quality"} <= out.keys()
    k = out["kpis"]
    for key in (
        "change_failure_rate",
        "dora_change_failure_rate",
        "evidence_completeness",
        "misclassification_rate",
    ):
        assert {"value", "numerator", "denominator"} <= k[key].keys()
    assert {"ci_low", "ci_high", "by_signal"} <= k["change_failure_rate"].keys()
    assert set(k["change_failure_rate"]["by_signal"]) == {"incident", "rollback", "telemetry"}
    assert {"mean", "median", "p90", "n", "km_median"} <= k["mttd_hours"].keys()
    assert {"mean", "median", "p90", "n", "by_mitigation"} <= k["mttm_hours"].keys()
    assert "by_item" in k["evidence_completeness"]
    assert {"mean", "ci_low", "ci_high", "n"} <= k["unit_cost_impact_usd"].keys()
    assert isinstance(k["deployment_frequency_per_week"], float)
    assert {"median", "n"} <= k["lead_time_hours"].keys()
    assert {"errors", "warnings", "rows_excluded"} <= out["data_quality"].keys()
    assert out["as_of"] == "2026-06-01T00:00:00+00:00"


def test_releases_json(capsys, tiny_dir: Path) -> None:
    out = _json(capsys, ["releases", "--data", str(tiny_dir), *ARGS])
    assert [r["release_id"] for r in out] == ["A1", "A2", "A3", "B1"]
    a2 = out[1]
    assert a2["released_at"] == "2026-04-10T10:00:00+00:00"
    assert (a2["declared_tier"], a2["implied_tier"], a2["effective_tier"]) == (
        "medium",
        "high",
        "high",
    )
    assert a2["failed"] is True and a2["dora_failed"] is True
    assert a2["failure_signals"] == ["incident", "rollback"]
    assert a2["detection_hours"] == 36.0
    assert {"estimate", "ci_low", "ci_high"} <= a2["unit_cost_impact_usd"].keys()
    all_rel = _json(
        capsys,
        [
            "releases",
            "--data",
            str(tiny_dir),
            "--as-of",
            "2026-06-01T00:00:00Z",
            "--format",
            "json",
        ],
    )
    assert len(all_rel) == 6


def test_table_output_is_readable(capsys, tiny_dir: Path) -> None:
    assert (
        main(
            [
                "kpis",
                "--data",
                str(tiny_dir),
                "--month",
                "2026-04",
                "--as-of",
                "2026-06-01T00:00:00Z",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "50.0%" in text and "2/4" in text


def test_validate_exit_codes(capsys, tiny_dir: Path, tmp_path: Path) -> None:
    assert main(["validate", "--data", str(tiny_dir)]) == 0
    assert "0 errors" in capsys.readouterr().out
    assert main(["validate", "--data", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_as_of_needs_an_offset(tiny_dir: Path) -> None:
    with pytest.raises(SystemExit):
        main(
            [
                "kpis",
                "--data",
                str(tiny_dir),
                "--month",
                "2026-04",
                "--as-of",
                "2026-06-01T00:00:00",
            ]
        )


def test_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("analytics")
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "kpis" in proc.stdout


def test_as_of_with_a_non_utc_offset_is_the_same_instant(tiny_dir: Path) -> None:
    """--as-of 01:00+01:00 is midnight UTC: the same KPIs, reported in UTC (it used to crash)."""
    outputs = []
    for as_of in ("2026-06-01T01:00:00+01:00", "2026-06-01T00:00:00Z"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "analytics.cli.main",
                "kpis",
                "--data",
                str(tiny_dir),
                "--month",
                "2026-04",
                "--as-of",
                as_of,
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(json.loads(proc.stdout))
    assert outputs[0] == outputs[1]
    assert outputs[0]["as_of"] == "2026-06-01T00:00:00+00:00"


def test_incidents_command_explains_each_link(tiny_dir: Path) -> None:
    base = [
        sys.executable,
        "-m",
        "analytics.cli.main",
        "incidents",
        "--data",
        str(tiny_dir),
        "--as-of",
        "2026-06-01T00:00:00Z",
    ]
    proc = subprocess.run([*base, "--format", "json"], capture_output=True, text=True, check=True)
    got = {r["incident_id"]: r for r in json.loads(proc.stdout)}
    assert sorted(got) == ["X1", "X2", "X3"]
    assert (got["X1"]["attributed_release_id"], got["X1"]["attribution"]) == ("A2", "window")
    assert got["X1"]["attribution_gap_hours"] == 24.0
    assert got["X2"]["attribution_evidence"] == "release_id A3 named on the incident"
    csv_out = subprocess.run(
        [*base, "--format", "csv", "--month", "2026-04"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert csv_out[0].startswith("incident_id,system,severity,category,")
    assert len(csv_out) == 4 and csv_out[2].startswith("X2,support,sev3,compliance,")
    assert ",explicit,," in csv_out[2] and csv_out[2].endswith(",true,true,false")
    # The release records carry the same links.
    rel = subprocess.run(
        [
            sys.executable,
            "-m",
            "analytics.cli.main",
            "releases",
            "--data",
            str(tiny_dir),
            "--as-of",
            "2026-06-01T00:00:00Z",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    a2 = next(r for r in json.loads(rel.stdout) if r["release_id"] == "A2")
    assert a2["incidents"] == [
        {
            "incident_id": "X1",
            "attribution": "window",
            "evidence": got["X1"]["attribution_evidence"],
        }
    ]


def test_table_says_when_the_period_is_still_running(capsys, tiny_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    args = ["kpis", "--data", str(tiny_dir), "--as-of", "2026-06-01T00:00:00Z"]
    assert main([*args, "--period", "2026"]) == 0
    row = next(x for x in capsys.readouterr().out.splitlines() if "deployments per week" in x)
    # 6 releases over the 151 days of 2026 up to June 1: 6 / (151 / 7) = 0.28
    assert "0.28" in row and "151.0 of 365 days" in row and "in progress" in row
    assert main([*args, "--month", "2026-04"]) == 0
    row = next(x for x in capsys.readouterr().out.splitlines() if "deployments per week" in x)
    assert "0.93" in row and "days" not in row and "in progress" not in row  # 4 / (30 / 7)
