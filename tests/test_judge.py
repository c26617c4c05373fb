"""``analytics judge``: exit codes, JSON and text on small hand-made datasets (CSV tables and a
telemetry parquet written to a temporary folder)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analytics.cli import main

VERSIONS = ("model", "inference_config", "prompt", "tools", "safety_policy", "routing", "eval_set")
T0 = datetime(2026, 3, 2, tzinfo=UTC)
RELEASED = T0 + timedelta(days=7, hours=9)  # 2026-03-09 09:00


def _cases(
    release_id: str,
    start: datetime,
    n: int,
    *,
    escalated: int = 0,
    violations: int = 0,
    cost: float = 0.01,
    system: str = "support",
) -> pl.DataFrame:
    """``n`` cases one minute apart from ``start``; the first ``escalated`` escalated."""
    i = np.arange(n)
    return pl.DataFrame(
        {
            "ts": pl.Series(
                [start + timedelta(minutes=int(k)) for k in i], dtype=pl.Datetime("us", "UTC")
            ),
            "release_id": release_id,
            "system": system,
            "task_type": "faq",
            "criticality": "low",
            "language": "en",
            "customer_segment": "consumer",
            "escalated": i < escalated,
            "reworked": (i % 10) == 0,
            "policy_violation": i < violations,
            "refused": False,
            "handling_time_s": 30.0,
            "latency_ms": 200.0 + (i % 7) * 50.0,
            "tokens": 400.0,
            "model_cost_usd": cost,
            "quality_score": 0.8 + (i % 5) * 0.01,
        }
    )


def write_dataset(
    folder: Path, telemetry: list[pl.DataFrame] | None, policy: str | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [("v1", "support", T0 - timedelta(days=20)), ("v2", "support", RELEASED)]
    pl.DataFrame(
        {
            "release_id": [r[0] for r in rows],
            "system": [r[1] for r in rows],
            "released_at": [r[2].strftime("%Y-%m-%dT%H:%M:%SZ") for r in rows],
            "risk_tier": ["medium", "medium"],
            **{f"{c}_version": [f"{c}-{r[0]}" for r in rows] for c in VERSIONS},
        }
    ).write_csv(folder / "releases.csv")
    if telemetry is not None:
        pl.concat(telemetry).write_parquet(folder / "telemetry.parquet")
    if policy is not None:
        (folder / "policy.yaml").write_text(policy)
    return folder


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(["judge", *args])
    return code, capsys.readouterr().out


def baseline() -> pl.DataFrame:
    return _cases("v1", T0, 3000, escalated=300)


def test_rollback_when_a_critical_metric_is_worse(tmp_path, capsys):
    data = write_dataset(tmp_path / "d", [baseline(), _cases("v2", RELEASED, 3000, escalated=600)])
    code, out = run(capsys, "--data", str(data), "--release", "v2", "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["recommendation"] == "rollback" and doc["exit_code"] == 1
    assert doc["comparison"]["metrics"]["escalation_rate"]["verdict"] == "worse"
    assert doc["reasons"][0].startswith("critical metric escalation_rate is worse")
    assert doc["critical_metrics"] == ["escalation_rate", "policy_violation_rate", "quality_score"]
    # --as-of defaults to the latest telemetry timestamp: the last v2 case, 2999 min after release.
    assert doc["as_of"] == (RELEASED + timedelta(minutes=2999)).isoformat()
    assert doc["comparison"]["status"] == "immature"


def test_go_when_nothing_is_worse(tmp_path, capsys):
    data = write_dataset(tmp_path / "d", [baseline(), _cases("v2", RELEASED, 3000, escalated=300)])
    code, out = run(
        capsys, "--data", str(data), "--release", "v2", "--as-of", "2026-04-01T00:00:00Z"
    )
    assert code == 0
    assert "recommendation: GO (exit 0)" in out
    assert "* escalation_rate" in out  # critical metrics are starred
    code, out = run(
        capsys,
        "--data",
        str(data),
        "--release",
        "v2",
        "--format",
        "json",
        "--as-of",
        "2026-04-01T00:00:00Z",
    )
    doc = json.loads(out)
    assert doc["recommendation"] == "go"
    assert doc["comparison"]["status"] == "ok"
    assert all(m["verdict"] != "worse" for m in doc["comparison"]["metrics"].values())


def test_hold_when_a_critical_metric_lacks_data(tmp_path, capsys):
    data = write_dataset(tmp_path / "d", [baseline(), _cases("v2", RELEASED, 150, escalated=15)])
    code, out = run(capsys, "--data", str(data), "--release", "v2", "--format", "json")
    assert code == 2
    doc = json.loads(out)
    assert doc["recommendation"] == "hold"
    assert any("lacks data" in r and "fewer than 200" in r for r in doc["reasons"])


def test_judge_minimum_comes_from_the_judge_policy_section(tmp_path, capsys):
    policy = "judge:\n  min_cases_per_arm: 100\n"
    data = write_dataset(
        tmp_path / "d", [baseline(), _cases("v2", RELEASED, 150, escalated=15)], policy
    )
    code, out = run(capsys, "--data", str(data), "--release", "v2", "--format", "json")
    assert code == 0, out
    assert json.loads(out)["recommendation"] == "go"


def test_hold_when_only_a_non_critical_metric_is_worse(tmp_path, capsys):
    # Twice the model cost per case: unit cost is worse (against its zero margin), not critical.
    data = write_dataset(
        tmp_path / "d", [baseline(), _cases("v2", RELEASED, 3000, escalated=300, cost=2.0)]
    )
    code, out = run(capsys, "--data", str(data), "--release", "v2", "--format", "json")
    assert code == 2
    doc = json.loads(out)
    assert doc["recommendation"] == "hold"
    assert doc["comparison"]["metrics"]["unit_cost_usd"]["verdict"] == "worse"
    assert any(r.startswith("unit_cost_usd is worse") for r in doc["reasons"])


def test_rare_violations_roll_back(tmp_path, capsys):
    data = write_dataset(
        tmp_path / "d", [baseline(), _cases("v2", RELEASED, 3000, escalated=300, violations=12)]
    )
    code, out = run(capsys, "--data", str(data), "--release", "v2", "--format", "json")
    assert code == 1
    assert json.loads(out)["comparison"]["metrics"]["policy_violation_rate"]["verdict"] == "worse"


def test_first_release_and_no_telemetry_hold(tmp_path, capsys):
    data = write_dataset(tmp_path / "d", [baseline()])
    code, out = run(capsys, "--data", str(data), "--release", "v1")
    assert code == 2
    assert "first release of its system" in out
    empty = write_dataset(tmp_path / "e", None)
    code, out = run(capsys, "--data", str(empty), "--release", "v2", "--format", "json")
    assert code == 2
    doc = json.loads(out)
    assert doc["as_of"] == RELEASED.isoformat()  # no telemetry: as_of is released_at
    assert doc["recommendation"] == "hold"


def test_invalid_input_exits_2(tmp_path, capsys):
    data = write_dataset(tmp_path / "d", [baseline()])
    assert main(["judge", "--data", str(data), "--release", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["judge", "--data", str(data), "--release", "v2", "--as-of", "2026-04-01"])
    assert exc.value.code == 2  # argparse: as_of needs an offset
