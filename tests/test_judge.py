"""``analytics judge``: exit codes, JSON and text on small hand-made datasets (CSV tables and a
telemetry parquet written to a temporary folder)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from analytics.cli.main import main

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


def _daily(
    release_id: str,
    days: range,
    n: int = 1500,
    escalated: int = 150,
    violations: int = 1,
    cost: float = 0.01,
    latency: float | None = 250.0,
) -> list[pl.DataFrame]:
    """``n`` cases 20 s apart from 10:00 on each of ``days`` (days after T0), with
    ``escalated`` escalations spread evenly over each day's cases (rework every 10th case) and
    ``violations`` policy violations a day (default 1: a reference without any event hits the
    bug in test_comparison.py::test_concurrent_control_without_events_in_the_reference)."""
    out = []
    for d in days:
        i = np.arange(n)
        frame = _cases(
            release_id, T0 + timedelta(days=d, hours=10), n, violations=violations, cost=cost
        )
        out.append(
            frame.with_columns(
                ts=pl.Series(
                    [T0 + timedelta(days=d, hours=10, seconds=20 * int(k)) for k in i],
                    dtype=pl.Datetime("us", "UTC"),
                ),
                escalated=pl.Series((i + 1) * escalated // n > i * escalated // n),
                # constant latency by default: see test_cases_needed_overflow_crashes_the_judge
                latency_ms=pl.col("latency_ms") if latency is None else pl.lit(latency),
            )
        )
    return out


# The old version serves 1500 cases a day from 03-02 to 03-16; the canary beside it from 03-10.
OLD = range(0, 15)
CANARY = range(8, 15)


def _json(capsys, data: Path, *extra: str) -> tuple[int, dict]:
    code, out = run(capsys, "--data", str(data), "--release", "v2", "--format", "json", *extra)
    return code, json.loads(out)


def test_rollback_when_a_critical_metric_is_worse(tmp_path, capsys):
    # 30 % escalations beside the old version's 10 %, 03-10 .. 03-12 (both stop on 03-12).
    data = write_dataset(
        tmp_path / "d", [*_daily("v1", range(0, 11)), *_daily("v2", range(8, 11), escalated=450)]
    )
    code, doc = _json(capsys, data)
    assert code == 1
    assert doc["recommendation"] == "rollback" and doc["exit_code"] == 1
    assert doc["comparison"]["metrics"]["escalation_rate"]["verdict"] == "worse"
    assert doc["reasons"][0].startswith("critical metric escalation_rate is worse")
    assert doc["critical_metrics"] == ["escalation_rate", "policy_violation_rate", "quality_score"]
    # --as-of defaults to the latest telemetry timestamp: 03-12 10:00 + 1499 * 20 s; the last
    # complete day is 03-11, so three looks (03-09, 03-10, 03-11).
    assert doc["as_of"] == (T0 + timedelta(days=10, hours=10, seconds=20 * 1499)).isoformat()
    assert doc["comparison"]["status"] == "immature"
    assert doc["comparison"]["looks_done"] == 3
    assert doc["comparison"]["control"] == "concurrent"


def test_go_only_when_non_inferiority_is_shown(tmp_path, capsys):
    data = write_dataset(tmp_path / "d", [*_daily("v1", OLD), *_daily("v2", CANARY)])
    code, out = run(
        capsys, "--data", str(data), "--release", "v2", "--as-of", "2026-04-01T00:00:00Z"
    )
    assert code == 0, out
    assert "recommendation: GO (exit 0)" in out
    assert "* escalation_rate" in out  # critical metrics are starred
    assert "control: concurrent" in out
    code, doc = _json(capsys, data, "--as-of", "2026-04-01T00:00:00Z")
    assert doc["recommendation"] == "go"
    c = doc["comparison"]
    assert c["status"] == "ok"
    assert (c["control"], c["concurrent_share"]) == ("concurrent", 1.0)
    assert (c["looks_done"], c["looks_planned"]) == (8, 8)
    esc = c["metrics"]["escalation_rate"]
    # 10500 cases a side at 10 % each: 0.10 - 1.1 * 0.10 = -0.01 over its standard error
    # sqrt((0.09 + 1.21 * 0.09) / 10500) is z = 2.30 > z(0.025 * 0.9) = 2.005: shown.
    assert esc["non_inferior"] is True and esc["cases_needed"] == 0
    assert esc["standardised_share"] == 1.0
    assert esc["effective_n_ref"] == pytest.approx(10500)
    se = math.sqrt((0.09 + 0.09) / 10500)
    z = sps.norm.isf(0.025 * 0.9 / 6) + sps.norm.ppf(0.8)
    assert esc["mde"] == pytest.approx(0.01 + z * math.sqrt((0.09 + 1.21 * 0.09) / 10500))
    assert esc["se"] == pytest.approx(se)
    assert all(m["verdict"] != "worse" for m in c["metrics"].values())


def test_hold_says_how_many_cases_are_still_needed(tmp_path, capsys):
    # The same canary read at 03-13: three canary days (4500 cases a side), interim look 4 of 8.
    data = write_dataset(tmp_path / "d", [*_daily("v1", OLD), *_daily("v2", CANARY)])
    code, doc = _json(capsys, data, "--as-of", "2026-03-13T00:00:00Z")
    assert code == 2 and doc["recommendation"] == "hold"
    esc = doc["comparison"]["metrics"]["escalation_rate"]
    assert esc["non_inferior"] is False and esc["verdict"] == "inconclusive"
    # If the estimate stays at -0.01, the final look's threshold z(0.025 * 0.9) is reached at
    # N (z se / 0.01)^2 new cases, se = sqrt((0.09 + 1.21 * 0.09) / N) at N = 4500.
    n = 4500
    se = math.sqrt((0.09 + 1.21 * 0.09) / n)
    needed = math.ceil(n * (sps.norm.isf(0.025 * 0.9) * se / 0.01) ** 2 - n)
    assert needed == 3494
    assert esc["cases_needed"] == needed
    reason = next(r for r in doc["reasons"] if r.startswith("critical metric escalation_rate"))
    assert "not shown non-inferior" in reason and f"about {needed} more" in reason
    assert any(r.startswith("note: observation window ends") for r in doc["reasons"])


def test_hold_when_a_critical_metric_lacks_data(tmp_path, capsys):
    data = write_dataset(
        tmp_path / "d", [*_daily("v1", OLD), *_daily("v2", range(8, 9), n=150, escalated=15)]
    )
    code, doc = _json(capsys, data, "--as-of", "2026-03-11T00:00:00Z")
    assert code == 2
    assert doc["recommendation"] == "hold"
    assert any(
        "lacks data" in r and "fewer than 200" in r and "new 150" in r for r in doc["reasons"]
    )


def test_judge_minimum_comes_from_the_judge_policy_section(tmp_path, capsys):
    policy = "judge:\n  min_cases_per_arm: 100\n"
    data = write_dataset(
        tmp_path / "d",
        [*_daily("v1", OLD), *_daily("v2", range(8, 9), n=150, escalated=15)],
        policy,
    )
    code, doc = _json(capsys, data, "--as-of", "2026-03-11T00:00:00Z")
    # 150 >= 100: the metrics are judged, but 150 cases cannot show non-inferiority: hold.
    assert code == 2, doc
    assert not any("lacks data" in r for r in doc["reasons"])
    esc = doc["comparison"]["metrics"]["escalation_rate"]
    assert esc["verdict"] == "inconclusive" and esc["cases_needed"] > 0


def test_hold_when_only_a_non_critical_metric_is_worse(tmp_path, capsys):
    # Twice the model cost per case: unit cost is worse (against its zero margin), a hold metric.
    data = write_dataset(tmp_path / "d", [*_daily("v1", OLD), *_daily("v2", CANARY, cost=2.0)])
    code, doc = _json(capsys, data, "--as-of", "2026-04-01T00:00:00Z")
    assert code == 2
    assert doc["recommendation"] == "hold"
    assert doc["comparison"]["metrics"]["unit_cost_usd"]["verdict"] == "worse"
    assert any(r.startswith("unit_cost_usd is worse") for r in doc["reasons"])
    assert not any(r.startswith("critical metric") for r in doc["reasons"])


def test_rare_violations_roll_back(tmp_path, capsys):
    # 12 violations a day in 1500 canary cases, none in the old version's.
    data = write_dataset(tmp_path / "d", [*_daily("v1", OLD), *_daily("v2", CANARY, violations=12)])
    code, doc = _json(capsys, data, "--as-of", "2026-04-01T00:00:00Z")
    assert code == 1
    assert doc["comparison"]["metrics"]["policy_violation_rate"]["verdict"] == "worse"


def test_immediate_rollout_is_judged_against_the_pre_release_window(tmp_path, capsys):
    # The old version stops when the new one starts: the weaker design is said in the reasons.
    data = write_dataset(tmp_path / "d", [*_daily("v1", range(0, 7)), *_daily("v2", CANARY)])
    code, doc = _json(capsys, data, "--as-of", "2026-04-01T00:00:00Z")
    assert (doc["comparison"]["control"], doc["comparison"]["concurrent_share"]) == (
        "pre_release",
        0.0,
    )
    assert doc["comparison"]["control_weaker"] is True
    assert any("no usable concurrent control" in r for r in doc["reasons"])


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


def test_cases_needed_overflow_crashes_the_judge(tmp_path, capsys):
    data = write_dataset(
        tmp_path / "d", [*_daily("v1", OLD, latency=None), *_daily("v2", CANARY, latency=None)]
    )
    code, doc = _json(capsys, data, "--as-of", "2026-04-01T00:00:00Z")
    assert code == 0 and doc["recommendation"] == "go"
