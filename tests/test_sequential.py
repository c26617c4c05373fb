"""Detection potential: the confidence-sequence boundary by hand, its time-uniform coverage by
simulation, and the earliest visible degradation on small hand-made telemetry."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from analytics.errors import DataError
from analytics.policy import load_policy
from analytics.releases import release_units
from analytics.rollup import rollup_telemetry
from analytics.sequential import (
    cs_multiplier,
    detection_potential,
    detection_potentials,
    sequence_frame,
)

VERSIONS = ("model", "inference_config", "prompt", "tools", "safety_policy", "routing", "eval_set")
T0 = datetime(2026, 3, 2, tzinfo=UTC)
RELEASED = T0 + timedelta(days=7, hours=9)  # 2026-03-09 09:00
POLICY = {"comparison": {"sequential_tuning_cases": 5000}}


def _units(policy, rows):
    rel = pl.DataFrame(
        {
            "release_id": [r[0] for r in rows],
            "system": [r[1] for r in rows],
            "released_at": pl.Series([r[2] for r in rows], dtype=pl.Datetime("us", "UTC")),
            "risk_tier": ["low"] * len(rows),
            **{f"{c}_version": [f"{c}-{r[0]}" for r in rows] for c in VERSIONS},
        }
    )
    return release_units(rel, policy)


def _telemetry(
    release_id: str,
    start: datetime,
    hours: int,
    per_hour: int,
    esc: float,
    rng: np.random.Generator,
    system: str = "sys",
) -> pl.DataFrame:
    """``per_hour`` cases in each of ``hours`` hours from ``start``, escalated with prob. esc."""
    n = hours * per_hour
    offsets = np.repeat(np.arange(hours), per_hour) * 3600 + rng.integers(0, 3600, n)
    return pl.DataFrame(
        {
            "ts": pl.Series(
                [start + timedelta(seconds=int(s)) for s in offsets], dtype=pl.Datetime("us", "UTC")
            ),
            "release_id": release_id,
            "system": system,
            "task_type": "answer",
            "criticality": "low",
            "language": "en",
            "customer_segment": "smb",
            "escalated": rng.random(n) < esc,
            "reworked": False,
            "policy_violation": False,
            "refused": False,
            "handling_time_s": 60.0,
            "latency_ms": 100.0,
            "tokens": 500.0,
            "model_cost_usd": 0.01,
            "quality_score": 0.8,
        }
    )


@pytest.fixture(scope="module")
def data():
    """System "sys": "old" (escalation 10 %) then "bad" (escalation 25 %) from RELEASED, 100
    cases per hour each. System "aa": "a1" then "a2", both 10 %."""
    rng = np.random.default_rng(5)
    policy = load_policy(overrides=POLICY)
    units = _units(
        policy,
        [
            ("old", "sys", T0 - timedelta(days=10)),
            ("bad", "sys", RELEASED),
            ("a1", "aa", T0 - timedelta(days=10)),
            ("a2", "aa", RELEASED),
        ],
    )
    tel = pl.concat(
        [
            _telemetry("old", T0, 7 * 24 + 9, 100, 0.10, rng),
            _telemetry("bad", RELEASED, 8 * 24, 100, 0.25, rng),
            _telemetry("a1", T0, 7 * 24 + 9, 100, 0.10, rng, "aa"),
            _telemetry("a2", RELEASED, 8 * 24, 100, 0.10, rng, "aa"),
        ]
    )
    return policy, units, tel


AS_OF = datetime(2026, 4, 1, tzinfo=UTC)


def test_boundary_by_hand():
    # alpha = 0.05, tuning t* = 5000: rho^2 t* = L + log(L + 1) with L = -2 log 0.05 = 5.99146,
    # i.e. 7.93615; z = sqrt(2 (x + 1) / x * log(sqrt(x + 1) / alpha)) = 3.03521 at x = 7.93615.
    assert float(cs_multiplier(5000, 0.05, 5000)) == pytest.approx(3.035209, abs=1e-6)
    assert float(cs_multiplier(20000, 0.05, 5000)) == pytest.approx(3.127114, abs=1e-6)
    t = np.array([10, 100, 1_000, 10_000, 100_000, 1_000_000])
    z = cs_multiplier(t, 0.05, 5000)
    assert (z > 1.96).all()  # always wider than the fixed-sample interval
    assert np.isinf(cs_multiplier(0, 0.05, 5000))


def test_time_uniform_coverage_by_simulation():
    """Over 1000 looks, a 95 % confidence sequence excludes the true mean at some look in at
    most 5 % of 2000 paths; a fixed 95 % interval looked at as often does far more often."""
    rng = np.random.default_rng(3)
    paths, looks = 2000, 1000
    x = rng.standard_normal((paths, looks))
    t = np.arange(1, looks + 1)
    mean = np.cumsum(x, axis=1) / t
    se = 1 / np.sqrt(t)
    cs_miss = (np.abs(mean) > cs_multiplier(t, 0.05, 200) * se).any(axis=1).mean()
    fixed_miss = (np.abs(mean) > 1.96 * se).any(axis=1).mean()
    assert cs_miss <= 0.05
    assert fixed_miss > 0.3


def test_daily_detection_of_a_planted_regression(data):
    policy, units, tel = data
    rollup = rollup_telemetry(tel.lazy())
    d = detection_potential(rollup, units, "bad", policy, AS_OF)
    assert d.status == "ok" and d.resolution == "day"
    assert d.metric == "escalation_rate"
    # Daily looks end at midnight: the first is 2026-03-10 00:00, 15 h after release.
    assert d.detectable_after_hours == pytest.approx(15.0)
    assert d.detectable_at == datetime(2026, 3, 10, tzinfo=UTC)
    assert d.looks == 8  # 03-09 .. 03-16
    frame = sequence_frame(rollup, units, "bad", policy, AS_OF)
    first = frame.filter((pl.col("metric") == "escalation_rate") & pl.col("visible")).row(
        0, named=True
    )
    assert first["margin_low"] > 0 and first["hours"] == pytest.approx(15.0)


def test_hourly_detection_is_earlier_and_a_a_is_not_detected(data):
    policy, units, tel = data
    rollup = rollup_telemetry(tel.lazy())
    hourly = detection_potential(rollup, units, "bad", policy, AS_OF, telemetry=tel.lazy())
    assert hourly.resolution == "hour"
    assert hourly.detectable_after_hours < 15.0
    assert hourly.detectable_after_hours == float(int(hourly.detectable_after_hours))  # hour ends
    assert hourly.looks == 8 * 24 - 9  # 10:00 on the release day to 03-17 00:00
    aa = detection_potentials(rollup, units, ["a2", "a1"], policy, AS_OF)
    assert aa["a2"].status == "ok" and aa["a2"].detectable_after_hours is None
    assert "no degradation" in aa["a2"].message
    assert aa["a1"].status == "insufficient_data"  # first release of its system
    assert list(aa) == ["a2", "a1"]


def test_daily_looks_use_complete_days_only_and_immature_window(data):
    policy, units, tel = data
    rollup = rollup_telemetry(tel.lazy())
    mid = datetime(2026, 3, 9, 23, tzinfo=UTC)  # the release day is not complete yet
    d = detection_potential(rollup, units, "bad", policy, mid)
    assert d.looks == 0 and d.status == "insufficient_data"
    aa = detection_potential(rollup, units, "a2", policy, datetime(2026, 3, 12, tzinfo=UTC))
    assert aa.status == "immature" and aa.looks == 3


def test_bonferroni_level_and_to_dict(data):
    policy, units, tel = data
    rollup = rollup_telemetry(tel.lazy())
    frame = sequence_frame(rollup, units, "a2", policy, AS_OF)
    assert set(frame["metric"].unique()) == set(policy.decision_quality_metrics)
    last = frame.filter(pl.col("metric") == "escalation_rate").sort("look").row(-1, named=True)
    # Rates: the Wilson/MOVER interval with z replaced by the boundary at alpha / 4.
    from analytics.comparison import rate_contrast_bounds

    z = cs_multiplier(last["n_new"] + last["n_ref"], 0.05 / 4, 5000)
    ref = rollup.cases.filter(pl.col("release_id") == "a1")
    new = rollup.cases.filter(
        (pl.col("release_id") == "a2") & (pl.col("day") < datetime(2026, 3, 17).date())
    )
    p1 = new["escalated"].sum() / new["n"].sum()
    p2 = ref["escalated"].sum() / ref["n"].sum()
    low, high = rate_contrast_bounds(p1, new["n"].sum(), p2, ref["n"].sum(), 1.0, z)
    assert (last["cs_low"], last["cs_high"]) == pytest.approx((float(low), float(high)))
    d = detection_potential(rollup, units, "bad", policy, AS_OF)
    out = d.to_dict()
    assert out["detectable_at"] == "2026-03-10T00:00:00+00:00"
    assert out["metrics"] == ["escalation_rate"]


def test_tuning_key_is_required(data):
    _, units, tel = data
    rollup = rollup_telemetry(tel.lazy())
    with pytest.raises(DataError, match="sequential_tuning_cases"):
        detection_potential(
            rollup,
            units,
            "bad",
            load_policy(overrides={"comparison": {"sequential_tuning_cases": 0}}),
            AS_OF,
        )
    assert math.isfinite(float(cs_multiplier(1, 0.05, 5000)))
