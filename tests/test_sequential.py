"""Detection potential read off the comparison's daily looks (analytics.metrics.detection): the
first
crossing look by hand on a small concurrent canary, consistency with the verdicts at the same
as_of, and reuse of comparisons already computed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

import analytics.metrics.detection as sequential
from analytics.comparison import compare_releases, holm, rate_p_value
from analytics.core.policy import load_policy
from analytics.data.rollup import rollup_telemetry
from analytics.metrics.detection import (
    detection_from_comparison,
    detection_potential,
    detection_potentials,
    sequence_frame,
)
from analytics.metrics.releases import release_units

VERSIONS = ("model", "inference_config", "prompt", "tools", "safety_policy", "routing", "eval_set")
T0 = datetime(2026, 3, 2, tzinfo=UTC)
RELEASED = T0 + timedelta(days=7, hours=9)  # 2026-03-09 09:00; window 03-09 .. 03-16, 8 looks
DAY1 = datetime(2026, 3, 9, 12, tzinfo=UTC)
# Escalations cost nothing here, so unit cost is constant (no p-value: p = 1 in the family).
POLICY = {"costs": {"human_hourly_usd": 0.0, "rework_usd": 0.0, "escalation_usd": 0.0}}
AS_OF = datetime(2026, 4, 1, tzinfo=UTC)


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


def _day(release_id: str, start: datetime, n: int, escalated: int, system: str) -> pl.DataFrame:
    """``n`` cases one second apart from ``start``, ``escalated`` of them spread evenly."""
    i = np.arange(n)
    return pl.DataFrame(
        {
            "ts": pl.Series(
                [start + timedelta(seconds=int(k)) for k in i], dtype=pl.Datetime("us", "UTC")
            ),
            "release_id": release_id,
            "system": system,
            "task_type": "answer",
            "criticality": "low",
            "language": "en",
            "customer_segment": "smb",
            "escalated": (i + 1) * escalated // n > i * escalated // n,
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


# Escalations per day (1000 cases a day in each arm, both versions serving on the same days, the
# reference at 10 % every day): "bad" is at 10 % on the release day, 30 % on its second day and
# 9 % after that; "a2" equals its reference throughout.
BAD_NEW = (100, 300, 90, 90, 90, 90, 90, 90)


@pytest.fixture(scope="module")
def data():
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
    frames = []
    for k in range(8):
        at = DAY1 + timedelta(days=k)
        frames += [
            _day("old", at, 1000, 100, "sys"),
            _day("bad", at + timedelta(hours=1), 1000, BAD_NEW[k], "sys"),
            _day("a1", at, 1000, 100, "aa"),
            _day("a2", at + timedelta(hours=1), 1000, 100, "aa"),
        ]
    return policy, units, rollup_telemetry(pl.concat(frames).lazy())


def test_first_crossing_look_by_hand(data):
    policy, units, rollup = data
    c = compare_releases(rollup, units, ["bad"], AS_OF, policy)["bad"]
    assert c.control == "concurrent" and c.concurrent_share == 1.0
    assert (c.looks_done, c.looks_planned) == (8, 8)
    # Look 1 (03-09): 100/1000 in both arms, estimate 0: nowhere near. Look 2 (03-09 and 03-10):
    # new 400/2000 = 0.20, reference 200/2000 = 0.10; with one segment and no day shock in the
    # reference the effective sizes are the case counts (the reference's up to the shrinkage of
    # its rate towards (200 + 0.5) / 2001, a relative 3e-5 in p), so the margin contrast
    # 0.20 - 1.1 * 0.10 has the MOVER p-value p2; look 2 spends 0.1 / 7 of the level.
    p2 = float(rate_p_value(0.20, 2000, 0.10, 2000, 1.1, 1.0))
    seq2 = p2 / (0.1 / 7)
    # The family of six at look 2: escalation seq2; rework, violations (0 vs 0: p_worse 0.5,
    # / share capped at 1), quality and p95 latency (equal: 1), unit cost (constant: no p-value,
    # counts as 1). Holm: 6 * seq2 < alpha / 2 = 0.025.
    assert holm([seq2, 1, 1, 1, 1, 1])[0] == pytest.approx(6 * seq2)
    assert 6 * seq2 < 0.025
    looks = c.looks.filter(pl.col("metric") == "escalation_rate").sort("look")
    assert looks["p_worse"][1] == pytest.approx(p2, rel=1e-4, abs=0)
    assert looks["p_worse_sequential"][1] == pytest.approx(seq2, rel=1e-4, abs=0)
    assert looks["estimate"][0] == pytest.approx(0.0, abs=1e-12)
    assert c.detectable_at == datetime(2026, 3, 11, tzinfo=UTC)  # end of look 2
    assert c.detectable_metrics == ("escalation_rate",)
    d = detection_from_comparison(c)
    assert d.detectable_after_hours == pytest.approx(39.0)  # 03-09 09:00 -> 03-11 00:00
    assert d.metric == "escalation_rate" and d.metrics == ("escalation_rate",)
    assert d.looks == 8 and d.status == "ok" and d.resolution == "day"
    assert d.to_dict()["detectable_at"] == "2026-03-11T00:00:00+00:00"
    # The sequential p-value is the running minimum of p / share (interim looks 0.1 / 7 each, the
    # last 0.9): the verdict stays "worse" although the final look's own p-value (new 940/8000 =
    # 0.1175 against 1.1 * 0.10) is not significant.
    shares = np.array([0.1 / 7] * 7 + [0.9])
    running = np.minimum.accumulate(looks["p_worse"].to_numpy() / shares)
    assert looks["p_worse_sequential"].to_list() == pytest.approx(np.minimum(running, 1.0))
    assert running[-1] <= seq2 * (1 + 1e-4)
    assert looks["p_worse"][7] > 0.025
    m = c.metrics["escalation_rate"]
    assert m.verdict == "worse"
    assert m.p_worse_sequential == pytest.approx(running[-1])
    assert m.p_worse_adjusted == pytest.approx(6 * running[-1])


def test_detection_agrees_with_the_verdicts_at_every_as_of(data):
    policy, units, rollup = data
    for as_of, looks, worse in (
        (datetime(2026, 3, 10, 18, tzinfo=UTC), 1, False),  # 03-10 not complete yet
        (datetime(2026, 3, 11, tzinfo=UTC), 2, True),
        (datetime(2026, 3, 13, 7, tzinfo=UTC), 4, True),
        (AS_OF, 8, True),
    ):
        c = compare_releases(rollup, units, ["bad", "a2"], as_of, policy)
        d = {rid: detection_from_comparison(x) for rid, x in c.items()}
        assert c["bad"].looks_done == looks and d["bad"].looks == looks
        assert (c["bad"].metrics["escalation_rate"].verdict == "worse") is worse
        assert (d["bad"].detectable_at is not None) is worse
        assert c["bad"].worse() == (("escalation_rate",) if worse else ())
        # A/A: nothing worse, nothing detectable.
        assert c["a2"].worse() == () and d["a2"].detectable_after_hours is None
    assert d["a2"].status == "ok" and "no degradation" in d["a2"].message
    early = detection_potential(rollup, units, "a2", datetime(2026, 3, 12, tzinfo=UTC), policy)
    assert early.status == "immature" and early.looks == 3
    none = detection_potential(rollup, units, "bad", datetime(2026, 3, 9, 23, tzinfo=UTC), policy)
    assert none.looks == 0 and none.status == "insufficient_data"


def test_detection_potentials_reuse_given_comparisons(data, monkeypatch):
    policy, units, rollup = data
    # Comparisons computed at 03-11 (bad detected at look 2 of 2 done).
    given = compare_releases(rollup, units, ["bad"], datetime(2026, 3, 11, tzinfo=UTC), policy)
    asked: list[list[str]] = []

    def spy(*args, **kwargs):
        asked.append(list(args[2]))
        return compare_releases(*args, **kwargs)

    monkeypatch.setattr(sequential, "compare_releases", spy)
    out = detection_potentials(rollup, units, ["a2", "bad", "a1"], AS_OF, policy, comparisons=given)
    assert asked == [["a2", "a1"]]  # only the releases without a comparison are computed
    assert list(out) == ["a2", "bad", "a1"]
    assert out["bad"].looks == 2  # read off the given comparison, not recomputed at AS_OF
    assert out["bad"].detectable_after_hours == pytest.approx(39.0)
    assert out["a2"].looks == 8 and out["a2"].detectable_after_hours is None
    assert out["a1"].status == "insufficient_data"  # first release of its system


def test_sequence_frame_from_the_comparison(data):
    policy, units, rollup = data
    c = compare_releases(rollup, units, ["bad"], AS_OF, policy)["bad"]
    frame = sequence_frame(c)
    assert set(frame["metric"].unique()) == set(policy.decision_quality_metrics)
    esc = frame.filter(pl.col("metric") == "escalation_rate").sort("look")
    assert esc["look"].to_list() == list(range(1, 9))
    assert esc["n_new"].to_list() == [1000 * k for k in range(1, 9)]
    assert esc["n_ref"].to_list() == [1000 * k for k in range(1, 9)]
    assert esc["hours"].to_list() == pytest.approx([15.0 + 24 * k for k in range(8)])
    assert esc["estimate"][1] == pytest.approx(0.10)
    assert esc["ci_low"][1] > 0
    assert esc["p_worse_sequential"].to_list() == pytest.approx(
        c.looks.filter(pl.col("metric") == "escalation_rate").sort("look")["p_worse_sequential"]
    )
