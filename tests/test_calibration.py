"""A fast slice of the comparison engine's calibration (``analytics.sample.calibration``; the full
table
is ``make calibrate``, recorded in METRICS.md): under a canary that serves harder traffic the
engine is unbiased and calibrated where the naive comparison is not; a real degradation is never
a "go"; repeated daily looks at the margin do not inflate false rollbacks the way a fixed-horizon
test does; the generator plants what it says."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from analytics.comparison import compare_releases
from analytics.sample.calibration import (
    Scenario,
    calibration_policy,
    make_world,
    run_scenario,
    simulate,
)

RELEASES = 40


def _upper(rate: float, n: int) -> float:
    """Nominal one-sided level plus two Monte-Carlo standard errors at ``n`` releases."""
    return rate + 2 * math.sqrt(rate * (1 - rate) / n)


@pytest.fixture(scope="module")
def harder() -> dict:
    return run_scenario(
        Scenario("no effect, canary harder, 300/day", mix_shift=1.0, releases=RELEASES, seed=3)
    )


def test_generator_plants_the_mix_shift_and_the_effect() -> None:
    world = make_world()
    assert len(world.mix) == 108 and math.isclose(world.mix.sum(), 1.0)
    # most segments are sparse: the 20 largest carry over half of the traffic
    assert np.sort(world.mix)[::-1][:20].sum() > 0.5
    sim = simulate(
        Scenario("planted", mix_shift=1.0, escalation_pp=0.05, releases=3, seed=5),
        world,
        keep_telemetry=True,
    )
    tel = sim.telemetry
    assert tel is not None
    new = tel.filter(pl.col("release_id").str.ends_with("-new"))
    old = tel.filter(pl.col("release_id").str.ends_with("-old"))
    hard = {"high"}
    share_new = new.filter(pl.col("criticality").is_in(hard)).height / new.height
    share_old = old.filter(pl.col("criticality").is_in(hard)).height / old.height
    assert share_new > share_old + 0.05  # the canary serves harder traffic
    for rid, truth in sim.truth.items():
        assert truth["escalation_rate"] == pytest.approx(0.05, abs=1e-9), rid
    # the old version serves alone for a week, then beside the canary
    first_new = new["ts"].min()
    assert old.filter(pl.col("ts") < first_new).height > 0
    assert old.filter(pl.col("ts") > first_new).height > 0


def test_mix_shift_no_false_failures_and_calibrated_intervals(harder: dict) -> None:
    s = harder["summary"]
    assert s["rollback"][0] <= _upper(0.025, RELEASES)
    assert s["telemetry_failure"][0] <= _upper(0.025, RELEASES)
    assert s["escalation_coverage"][0] >= 0.85
    assert s["cost_coverage"][0] >= 0.85
    bias, se, _ = s["cost_bias"]
    assert abs(bias) < 3 * se + 0.02  # USD per case


def test_naive_comparison_is_biased_where_the_engine_is_not(harder: dict) -> None:
    # The same data through the naive difference (no standardisation): harder canary traffic
    # looks like a degradation. The engine's standardised estimate is centred on the truth (0).
    frame = harder["releases"]
    est = frame["escalation_estimate"].drop_nulls().to_numpy()
    sim = simulate(
        Scenario("no effect, canary harder, 300/day", mix_shift=1.0, releases=12, seed=3)
    )
    ids = [f"r{r:04d}-new" for r in range(12)]
    comps = compare_releases(sim.rollup, sim.units, ids, sim.as_of, calibration_policy())
    naive = np.array([comps[r].metrics["escalation_rate"].naive_estimate for r in ids])
    assert naive.mean() > 0.02  # the naive difference is biased upwards by the mix
    assert abs(est.mean()) < 3 * est.std(ddof=1) / math.sqrt(len(est))


def test_a_real_degradation_is_never_go() -> None:
    res = run_scenario(
        Scenario("+5 pp escalation, no shift, 300/day", escalation_pp=0.05, releases=20, seed=7)
    )
    s = res["summary"]
    assert s["go"][0] == 0.0
    assert s["rollback"][0] >= 0.15  # found in a good share of releases at this volume
    # and no less often than the textbook test held to the same error budget
    assert s["rollback"][0] >= s["textbook_ps_worse_same_budget"][0] - 2 * s["rollback"][1]
