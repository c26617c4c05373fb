"""Version comparison: hand-computed methods, mix standardisation, windows, verdicts, and
simulation checks of coverage, A/A false alarms and power (analytics.comparison)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from analytics.comparison import (
    METRIC_NAMES,
    benjamini_hochberg,
    bootstrap_quantile,
    compare_release,
    compare_releases,
    daily_series,
    fieller_bounds,
    holm,
    rate_contrast_bounds,
    rate_p_value,
    rate_ratio_bounds,
    telemetry_failures,
    unit_cost_impact,
    wilson_bounds,
)
from analytics.core.errors import DataError
from analytics.core.policy import load_policy
from analytics.data.rollup import (
    LATENCY_EDGES,
    LATENCY_SCHEMA,
    Rollup,
    histogram_quantile,
    latency_bin_values,
    rollup_telemetry,
)
from analytics.metrics.releases import release_units

Z95 = float(sps.norm.ppf(0.975))
VERSIONS = ("model", "inference_config", "prompt", "tools", "safety_policy", "routing", "eval_set")
SEG_A = ("answer", "low", "en", "smb")
SEG_B = ("triage", "high", "de", "enterprise")
T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, midnight
SMALL = {"comparison": {"min_cases_per_arm": 1, "min_cases_per_segment": 1}}


# ---------------------------------------------------------------- builders


def releases(*rows: tuple[str, str, datetime]) -> pl.DataFrame:
    """A releases table: (release_id, system, released_at); every release changes the model."""
    return pl.DataFrame(
        {
            "release_id": [r[0] for r in rows],
            "system": [r[1] for r in rows],
            "released_at": pl.Series([r[2] for r in rows], dtype=pl.Datetime("us", "UTC")),
            "risk_tier": ["low"] * len(rows),
            **{f"{c}_version": [f"{c}-{r[0]}" for r in rows] for c in VERSIONS},
        }
    )


def units_for(policy, *rows: tuple[str, str, datetime]) -> pl.DataFrame:
    return release_units(releases(*rows), policy)


def cases(
    release_id: str,
    at: datetime,
    n: int,
    *,
    system: str = "sys",
    seg: Sequence[str] = SEG_A,
    escalated: int = 0,
    reworked: int = 0,
    violations: int = 0,
    refused: int = 0,
    quality: Sequence[float | None] | None = None,
    cost: Sequence[float] | float = 0.1,
    handling: Sequence[float] | float = 0.0,
    latency: Sequence[float] | float = 100.0,
    tokens: float = 500.0,
) -> pl.DataFrame:
    """``n`` telemetry cases one second apart from ``at``; the first ``escalated`` are escalated
    (likewise for the other flags)."""

    def col(v: Sequence[float] | float) -> list[float]:
        return list(v) if isinstance(v, Sequence) else [float(v)] * n

    idx = np.arange(n)
    return pl.DataFrame(
        {
            "ts": pl.Series(
                [at + timedelta(seconds=int(i)) for i in idx], dtype=pl.Datetime("us", "UTC")
            ),
            "release_id": release_id,
            "system": system,
            "task_type": seg[0],
            "criticality": seg[1],
            "language": seg[2],
            "customer_segment": seg[3],
            "escalated": idx < escalated,
            "reworked": idx < reworked,
            "policy_violation": idx < violations,
            "refused": idx < refused,
            "handling_time_s": col(handling),
            "latency_ms": col(latency),
            "tokens": [tokens] * n,
            "model_cost_usd": col(cost),
            "quality_score": pl.Series(
                list(quality) if quality is not None else [0.8] * n, dtype=pl.Float64
            ),
        }
    )


def roll(*frames: pl.DataFrame) -> Rollup:
    return rollup_telemetry(pl.concat(frames).lazy())


NEW_AT = T0 + timedelta(days=7, hours=9)  # released 2026-03-09 09:00
PAIR = (("old", "sys", T0), ("new", "sys", NEW_AT))
AS_OF = datetime(2026, 4, 1, tzinfo=UTC)
DAY2 = T0 + timedelta(days=8)  # 2026-03-10 00:00, the new version's second day


# ---------------------------------------------------------------- interval methods, by hand


def test_wilson_matches_hand_formula_and_statsmodels():
    # 8 events in 2000: p = 0.004; centre (p + z^2/2n)/(1 + z^2/n), half-width
    # z sqrt(p(1-p)/n + z^2/4n^2)/(1 + z^2/n).
    low, high = wilson_bounds(8, 2000, Z95)
    assert low == pytest.approx(0.0020282466, abs=1e-9)
    assert high == pytest.approx(0.0078734643, abs=1e-9)
    assert (low, high) == pytest.approx(proportion_confint(8, 2000, method="wilson"))
    low0, high0 = wilson_bounds(0, 2000, Z95)
    assert low0 == pytest.approx(0, abs=1e-15)
    assert high0 == pytest.approx(Z95**2 / (2000 + Z95**2))


@pytest.mark.parametrize(
    ("a", "n1", "b", "n2", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873, Table II, method 10 (hybrid score).
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (0, 10, 0, 20, -0.1611, 0.2775),
    ],
)
def test_two_proportion_interval_reproduces_newcombe(a, n1, b, n2, low, high):
    lo, hi = rate_contrast_bounds(a / n1, n1, b / n2, n2, 1.0, Z95)
    assert lo == pytest.approx(low, abs=5e-5)
    assert hi == pytest.approx(high, abs=5e-5)


def test_rate_p_value_inverts_the_interval():
    # The one-sided p-value is the level at which the interval's bound just reaches 0.
    p = float(rate_p_value(56 / 70, 70, 48 / 80, 80, 1.0, 1.0))
    low, _ = rate_contrast_bounds(56 / 70, 70, 48 / 80, 80, 1.0, sps.norm.isf(p))
    assert low == pytest.approx(0.0, abs=1e-9)
    assert 0.001 < p < 0.025  # the 95 % interval (0.0524, 0.3339) excludes 0
    # Opposite directions are complementary.
    assert float(rate_p_value(56 / 70, 70, 48 / 80, 80, 1.0, -1.0)) == pytest.approx(1 - p)


def test_rate_ratio_interval_with_zero_reference():
    # 10/1000 against 0/1000: the lower limit solves (p1 - rho*0)^2 = (p1 - l1)^2 + rho^2 u2^2,
    # i.e. rho = sqrt(l1 (2 p1 - l1)) / u2; the upper limit is unbounded.
    low, high = rate_ratio_bounds(10 / 1000, 1000, 0.0, 1000, Z95)
    l1, _ = proportion_confint(10, 1000, method="wilson")
    _, u2 = proportion_confint(0, 1000, method="wilson")
    assert low == pytest.approx(math.sqrt(l1 * (2 * 0.01 - l1)) / u2)
    assert np.isinf(high)
    # Consistency: at the lower ratio limit, the contrast p1 - rho p2 just reaches 0.
    low, high = rate_ratio_bounds(56 / 70, 70, 48 / 80, 80, Z95)
    assert rate_contrast_bounds(56 / 70, 70, 48 / 80, 80, low, Z95)[0] == pytest.approx(
        0, abs=1e-12
    )
    assert rate_contrast_bounds(56 / 70, 70, 48 / 80, 80, high, Z95)[1] == pytest.approx(
        0, abs=1e-12
    )


def test_fieller_interval_by_hand():
    # m1=110, v1=4, m2=100, v2=4, t=1.96: (m2^2 - t^2 v2) rho^2 - 2 m1 m2 rho + m1^2 - t^2 v1 = 0
    # A = 9984.6336, C = 12084.6336, rho = (11000 -+ sqrt(11000^2 - A C)) / A.
    low, high = fieller_bounds(110, 4, 100, 4, 1.96)
    assert low == pytest.approx(1.0433485248, abs=1e-9)
    assert high == pytest.approx(1.1600372860, abs=1e-9)
    # The reference mean not distinguishable from 0: unbounded, reported as NaN.
    assert np.isnan(fieller_bounds(1, 1, 0.1, 1, 1.96)).all()


def test_relative_interval_agrees_with_the_delta_method():
    # Delta method for R = m1/m2: var(R) ~ R^2 (v1/m1^2 + v2/m2^2) = 1.21 * (4/12100 + 4/10000)
    # = 0.000884; R +- 1.96 * 0.029733 = (1.04172, 1.15828). Fieller's interval (the exact
    # inversion the delta method approximates to first order) is within 0.002 of it.
    delta = (1.1 - 1.96 * 0.029733, 1.1 + 1.96 * 0.029733)
    assert delta == pytest.approx((1.04172, 1.15828), abs=1e-5)
    low, high = fieller_bounds(110, 4, 100, 4, 1.96)
    assert abs(low - delta[0]) < 0.002 and abs(high - delta[1]) < 0.002
    # With 100 times the data the two agree to 1e-4.
    low, high = fieller_bounds(110, 0.04, 100, 0.04, 1.96)
    se = 1.1 * math.sqrt(0.04 / 110**2 + 0.04 / 100**2)
    assert (low, high) == pytest.approx((1.1 - 1.96 * se, 1.1 + 1.96 * se), abs=1e-4)


def test_holm_and_benjamini_hochberg_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04, running max.
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: sorted times 4/1, 4/2, 4/3, 4/4 = 0.02, 0.02, 0.04, 0.04, running min from the top.
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    # NaN (metrics without data) are not part of the family.
    assert holm([0.01, np.nan, 0.04]) == pytest.approx([0.02, np.nan, 0.04], nan_ok=True)


def test_welch_on_one_segment_by_hand():
    # Quality scores: new 0.1..0.4 (mean 0.25, var 1/60), reference 0.2..1.0 (mean 0.6, var 0.1).
    # V = (1/60)/4 + 0.1/5 = 0.0241667; df = V^2 / ((1/240)^2/3 + 0.02^2/4) = 5.5208.
    policy = load_policy(overrides=SMALL)
    units = units_for(policy, *PAIR)
    r = roll(
        cases("old", T0 + timedelta(days=3), 5, quality=[0.2, 0.4, 0.6, 0.8, 1.0]),
        cases("new", NEW_AT + timedelta(hours=1), 4, quality=[0.1, 0.2, 0.3, 0.4]),
    )
    m = compare_release(r, units, "new", AS_OF, policy).metrics["quality_score"]
    v = (1 / 60) / 4 + 0.1 / 5
    df = v**2 / (((1 / 60) / 4) ** 2 / 3 + (0.1 / 5) ** 2 / 4)
    assert df == pytest.approx(5.5208, abs=1e-4)
    half = sps.t.ppf(0.975, df) * math.sqrt(v)
    assert m.estimate == pytest.approx(-0.35)
    assert (m.ci_low, m.ci_high) == pytest.approx((-0.35 - half, -0.35 + half))
    ref = sps.ttest_ind([0.1, 0.2, 0.3, 0.4], [0.2, 0.4, 0.6, 0.8, 1.0], equal_var=False)
    assert (m.ci_low, m.ci_high) == pytest.approx(tuple(ref.confidence_interval(0.95)))
    assert m.p_value == pytest.approx(ref.pvalue)
    assert m.method == "welch"


def test_unit_cost_impact_by_hand():
    # Reference: 4 cases, model cost 0.5 + 40 s handling at 45 USD/h (0.5) = 1.0 USD each.
    # New: model cost 1, 2, 3 USD (no handling). Difference 1.0; Welch: V = 1/3, df = 2,
    # interval 1 +- t(0.975, 2) sqrt(1/3) = 1 +- 2.48414.
    policy = load_policy(overrides=SMALL)
    units = units_for(policy, *PAIR)
    r = roll(
        cases("old", T0 + timedelta(days=3), 4, cost=0.5, handling=40.0),
        cases("new", NEW_AT + timedelta(hours=1), 3, cost=[1.0, 2.0, 3.0]),
    )
    c = compare_release(r, units, "new", AS_OF, policy)
    impact = unit_cost_impact(c)
    assert impact.mean == pytest.approx(1.0)
    assert impact.ci_low == pytest.approx(1 - 2.484138, abs=1e-5)
    assert impact.ci_high == pytest.approx(1 + 2.484138, abs=1e-5)
    assert impact.n == 3 and impact.extra["n_ref"] == 4
    assert impact.extra["estimate"] == impact.mean
    assert impact.extra["se"] == pytest.approx(math.sqrt(1 / 3))
    assert c.metrics["unit_cost_usd"].ref_value == pytest.approx(1.0)
    # An escalation adds escalation_usd (20) to its case's cost.
    r2 = roll(
        cases("old", T0 + timedelta(days=3), 4, cost=0.5, handling=40.0),
        cases("new", NEW_AT + timedelta(hours=1), 3, cost=[1.0, 2.0, 3.0], escalated=1),
    )
    c2 = compare_release(r2, units, "new", AS_OF, policy)
    assert c2.metrics["unit_cost_usd"].new_value == pytest.approx((21 + 2 + 3) / 3)


def test_unit_cost_impact_without_previous_release_is_insufficient():
    policy = load_policy(overrides=SMALL)
    units = units_for(policy, *PAIR)
    r = roll(cases("old", T0 + timedelta(days=1), 300))
    impact = unit_cost_impact(compare_release(r, units, "old", AS_OF, policy))
    assert impact.status == "insufficient_data" and impact.mean is None
    assert "first release" in impact.message


# ---------------------------------------------------------------- p95 bootstrap


def test_bootstrap_quantile_is_seeded_and_matches_multinomial_resampling():
    bins = np.array([100, 104, 108, 112, 116, 120])
    probs = np.array([0.5, 0.2, 0.15, 0.08, 0.05, 0.02])
    a = bootstrap_quantile(bins, probs, 400, 0.95, 4000, np.random.default_rng(1))
    b = bootstrap_quantile(bins, probs, 400, 0.95, 4000, np.random.default_rng(1))
    assert np.array_equal(a, b)
    # Same distribution as explicitly resampling 400 cases and taking histogram_quantile.
    rng = np.random.default_rng(2)
    draws = rng.multinomial(400, probs, size=4000)
    explicit = np.array([histogram_quantile(bins, d, 0.95) for d in draws])
    values = latency_bin_values()[bins]
    freq_a = np.array([(a == v).mean() for v in values])
    freq_e = np.array([(explicit == v).mean() for v in values])
    assert np.abs(freq_a - freq_e).max() < 0.03
    # A one-bin histogram has a one-point bootstrap distribution.
    one = bootstrap_quantile(
        np.array([120]), np.array([1.0]), 50, 0.95, 100, np.random.default_rng(3)
    )
    assert (one == latency_bin_values()[120]).all()


def test_p95_estimates_from_the_histograms_and_is_deterministic():
    policy = load_policy(overrides=SMALL)
    units = units_for(policy, *PAIR, ("other", "sys2", NEW_AT))
    lat_old = [100.0] * 90 + [400.0] * 10
    lat_new = [100.0] * 80 + [800.0] * 20
    r = roll(
        cases("old", T0 + timedelta(days=3), 100, latency=lat_old),
        cases("new", NEW_AT + timedelta(hours=1), 100, latency=lat_new),
    )
    one = compare_release(r, units, "new", AS_OF, policy).metrics["latency_p95_ms"]
    again = compare_release(r, units, "new", AS_OF, policy).metrics["latency_p95_ms"]
    batch = compare_releases(r, units, ["other", "new", "old"], AS_OF, policy)["new"]
    assert _same(one.to_dict(), again.to_dict())
    assert _same(one.to_dict(), batch.metrics["latency_p95_ms"].to_dict())
    values = latency_bin_values()
    assert one.new_value == pytest.approx(values[np.searchsorted(LATENCY_EDGES, 800, "right")])
    assert one.ref_value == pytest.approx(values[np.searchsorted(LATENCY_EDGES, 400, "right")])
    assert one.method == "bootstrap_histogram"
    assert one.ci_low <= one.estimate <= one.ci_high


# ---------------------------------------------------------------- mix standardisation


def test_post_stratified_rate_by_hand():
    # Both versions serve on one UTC day (03-10): the control is concurrent with one day, the day
    # matching has nothing to match (lambda = 0), and the estimate is textbook post-stratification.
    # New: A 50 cases / 10 escalations, B 150 / 15 -> weights 0.25, 0.75, rate M = 25/200.
    # Reference: A 100 / 10, B 100 / 5 -> R = 0.25*0.10 + 0.75*0.05 = 0.0625.
    policy = load_policy(overrides=SMALL)
    units = units_for(policy, *PAIR)
    r = roll(
        cases("old", DAY2 + timedelta(hours=1), 100, seg=SEG_A, escalated=10),
        cases("old", DAY2 + timedelta(hours=2), 100, seg=SEG_B, escalated=5),
        cases("new", DAY2 + timedelta(hours=3), 50, seg=SEG_A, escalated=10),
        cases("new", DAY2 + timedelta(hours=4), 150, seg=SEG_B, escalated=15),
    )
    c = compare_release(r, units, "new", AS_OF, policy)
    assert (c.control, c.concurrent_share) == ("concurrent", 1.0)
    m = c.metrics["escalation_rate"]
    M, R = 0.125, 0.0625
    assert m.new_value == pytest.approx(M)
    assert m.ref_value == pytest.approx(R)
    assert m.estimate == pytest.approx(0.0625)
    assert m.naive_ref_value == pytest.approx(0.075)
    assert m.standardised_share == 1.0
    # Reference variance: sum_s w_s^2 / n_s * p_s (1 - p_s), each stratum's rate shrunk by two
    # pseudo-cases towards the reference's overall rate with half an event added,
    # t = (15 + 0.5) / (200 + 1): p_A = (10 + 2t)/102, p_B = (5 + 2t)/102. Effective size
    # R (1 - R) / Var(R) = 179.789 (Kish's 1 / sum w^2/n would be 160).
    t = 15.5 / 201
    p_a, p_b = (10 + 2 * t) / 102, (5 + 2 * t) / 102
    v_ref = 0.25**2 / 100 * p_a * (1 - p_a) + 0.75**2 / 100 * p_b * (1 - p_b)
    n_ref = R * (1 - R) / v_ref
    assert n_ref == pytest.approx(179.78897, abs=1e-4)
    assert m.effective_n_ref == pytest.approx(n_ref)
    # New arm: within-stratum variance, shrunk towards M: q_A = (10 + 2M)/52, q_B = (15 + 2M)/152.
    q_a, q_b = (10 + 2 * M) / 52, (15 + 2 * M) / 152
    v_new = (50 * q_a * (1 - q_a) + 150 * q_b * (1 - q_b)) / 200**2
    n_new = M * (1 - M) / v_new
    assert m.se == pytest.approx(math.sqrt(v_new + v_ref))
    # Newcombe / MOVER from the Wilson intervals at the effective sizes.
    l1, u1 = wilson_bounds(M * n_new, n_new, Z95)
    l2, u2 = wilson_bounds(R * n_ref, n_ref, Z95)
    assert m.ci_low == pytest.approx(0.0625 - math.hypot(M - l1, u2 - R))
    assert m.ci_high == pytest.approx(0.0625 + math.hypot(u1 - M, R - l2))
    assert m.ci_low == pytest.approx(0.0029765, abs=1e-6)
    assert m.method == "newcombe_wilson"


def test_simpsons_paradox_naive_and_standardised_disagree():
    # The new version is better in both segments (easy 5 % -> 4 %, hard 30 % -> 27 %) but serves
    # mostly hard traffic (80 %) where the old one served mostly easy traffic (80 %).
    policy = load_policy()
    units = units_for(policy, *PAIR)
    r = roll(
        cases("old", T0 + timedelta(days=3), 16000, seg=SEG_A, escalated=800),
        cases("old", T0 + timedelta(days=4), 4000, seg=SEG_B, escalated=1200),
        cases("new", NEW_AT + timedelta(hours=1), 4000, seg=SEG_A, escalated=160),
        cases("new", NEW_AT + timedelta(hours=2), 16000, seg=SEG_B, escalated=4320),
    )
    m = compare_release(r, units, "new", AS_OF, policy).metrics["escalation_rate"]
    # Naive: 0.224 - 0.100 = +0.124, significantly worse.
    assert m.naive_estimate == pytest.approx(0.224 - 0.100)
    assert m.naive_ci_low > 0
    # Standardised to the new traffic: reference 0.2*0.05 + 0.8*0.30 = 0.25, difference -0.026.
    assert m.ref_value == pytest.approx(0.25)
    assert m.estimate == pytest.approx(-0.026)
    assert m.verdict == "better"


def test_sparse_segments_borrow_the_coarser_stratum():
    # k = 30 reference cases per segment. Collapse order: customer_segment, language,
    # criticality, task_type. Reference on 03-10: A 100 / 10 escalations, A2 (A with another
    # customer segment) 20 / 6, B 60 / 3. New on 03-10: A 100, A2 50, C 50 (never served by the
    # reference, in no shared stratum above the whole arm).
    policy = load_policy(
        overrides={"comparison": {"min_cases_per_arm": 1, "min_cases_per_segment": 30}}
    )
    units = units_for(policy, *PAIR)
    seg_a2 = ("answer", "low", "en", "enterprise")
    seg_c = ("draft", "medium", "fr", "consumer")
    r = roll(
        cases("old", DAY2 + timedelta(hours=1), 100, seg=SEG_A, escalated=10),
        cases("old", DAY2 + timedelta(hours=2), 20, seg=seg_a2, escalated=6),
        cases("old", DAY2 + timedelta(hours=3), 60, seg=SEG_B, escalated=3),
        cases("new", DAY2 + timedelta(hours=4), 100, seg=SEG_A, escalated=10),
        cases("new", DAY2 + timedelta(hours=5), 50, seg=seg_a2, escalated=5),
        cases("new", DAY2 + timedelta(hours=6), 50, seg=seg_c, escalated=5),
    )
    c = compare_release(r, units, "new", AS_OF, policy)
    m = c.metrics["escalation_rate"]
    # The mean: A and A2 on their own segments (the reference served both: 10/100, 6/20); C,
    # never served by the reference, borrows the first stratum it did serve: the whole arm
    # (19/180). Every new case keeps its weight.
    R = 0.5 * 10 / 100 + 0.25 * 6 / 20 + 0.25 * 19 / 180
    assert m.ref_value == pytest.approx(R)
    assert m.ref_value == pytest.approx(0.1513889, abs=1e-7)
    assert m.new_value == pytest.approx(20 / 200)
    assert m.n_new == 200 and m.n_ref == 180
    assert m.standardised_share == pytest.approx(150 / 200)  # A and A2 on their own segments
    # The linear weights of the reference cases: a_A = 0.5/100 + 0.25/180,
    # a_A2 = 0.25/20 + 0.25/180, a_B = 0.25/180. Each case's variance is that of the first
    # stratum with k = 30 reference cases (A2: 20 < 30, the answer/low/en stratum, 16/120),
    # shrunk by two pseudo-cases towards t = (19 + 0.5) / (180 + 1).
    a_a = 0.5 / 100 + 0.25 / 180
    a_a2 = 0.25 / 20 + 0.25 / 180
    a_b = 0.25 / 180
    assert 10 * a_a + 6 * a_a2 + 3 * a_b == pytest.approx(R)
    t = 19.5 / 181
    p_a, p_a2, p_b = (10 + 2 * t) / 102, (16 + 2 * t) / 122, (3 + 2 * t) / 62
    v_ref = (
        a_a**2 * 100 * p_a * (1 - p_a)
        + a_a2**2 * 20 * p_a2 * (1 - p_a2)
        + a_b**2 * 60 * p_b * (1 - p_b)
    )
    assert m.effective_n_ref == pytest.approx(R * (1 - R) / v_ref)
    assert m.effective_n_ref == pytest.approx(157.0204, abs=1e-3)
    assert not hasattr(m, "coverage")


def test_zero_heavy_rare_events_are_flagged_where_a_rank_test_sees_no_shift():
    # Control: 0 violations in 3000 cases; canary: 10 in 3000.
    policy = load_policy()
    units = units_for(policy, *PAIR)
    r = roll(
        cases("old", T0 + timedelta(days=3), 3000),
        cases("new", NEW_AT + timedelta(hours=1), 3000, violations=10),
    )
    m = compare_release(r, units, "new", AS_OF, policy).metrics["policy_violation_rate"]
    assert m.verdict == "worse"
    assert m.ci_low > 0
    # A rank-based judge (Kayenta's Mann-Whitney) estimates the shift by the Hodges-Lehmann
    # median of pairwise differences: only 10*3000 of the 3000*3000 pairs differ, so the shift
    # is 0 and such a judge passes the canary.
    pairs_nonzero = 10 * 3000 / (3000 * 3000)
    assert pairs_nonzero < 0.5  # so the median pairwise difference is 0


# ---------------------------------------------------------------- windows and statuses


def test_window_edges_are_whole_utc_days():
    policy = load_policy(overrides=SMALL)
    units = units_for(policy, *PAIR)
    r = roll(
        cases("old", T0 - timedelta(hours=1), 7),  # 03-01 23:00: before ref_start (03-02)
        cases("old", T0 + timedelta(days=1, hours=23), 5),  # 03-03 23:00: pre-release window
        cases("old", T0 + timedelta(days=10), 11),  # 03-12: concurrent with the new version
        cases("old", T0 + timedelta(days=15, hours=1), 13),  # 03-17 01:00: after window_end
        cases("new", NEW_AT, 17),  # 03-09 09:00: release day, served alone
        cases("new", T0 + timedelta(days=10, hours=2), 29),  # 03-12: beside the old version
        cases("new", T0 + timedelta(days=14, hours=23), 19),  # 03-16 23:00: last day, alone
        cases("new", T0 + timedelta(days=15), 23),  # 03-17 00:00: outside
    )
    c = compare_release(r, units, "new", AS_OF, policy)
    assert c.window_start == datetime(2026, 3, 9, tzinfo=UTC)
    assert c.window_end == datetime(2026, 3, 17, tzinfo=UTC)  # ceil(03-16 09:00)
    assert c.ref_start == datetime(2026, 3, 2, tzinfo=UTC)  # floor(03-02 09:00)
    assert (c.looks_done, c.looks_planned) == (8, 8)  # 03-09 .. 03-16, one look a day
    assert c.look_time == datetime(2026, 3, 17, tzinfo=UTC)
    # 03-12 has a concurrent control (the old version's 11 cases that day); 03-09 and 03-16 are
    # compared with the pre-release window (03-03's 5 cases): a mixed control.
    assert c.control == "mixed"
    assert c.concurrent_share == pytest.approx(29 / (17 + 29 + 19))
    assert c.n_new == 17 + 29 + 19
    assert c.n_ref == 11 + 5
    assert c.status == "ok"


def test_as_of_counts_complete_days_only_and_marks_immature():
    policy = load_policy(overrides=SMALL)
    units = units_for(policy, *PAIR)
    r = roll(
        cases("old", T0 + timedelta(days=3), 50),
        cases("new", NEW_AT + timedelta(hours=1), 50),  # 03-09
        cases("new", T0 + timedelta(days=9, hours=20), 30),  # 03-11 20:00
        cases("new", T0 + timedelta(days=10, hours=1), 20),  # 03-12
    )
    # At 03-11 12:00 the last complete day is 03-10: two looks, 03-11 does not count yet.
    mid_day = compare_release(r, units, "new", datetime(2026, 3, 11, 12, tzinfo=UTC), policy)
    assert mid_day.status == "immature"
    assert mid_day.n_new == 50 and mid_day.looks_done == 2
    assert mid_day.look_time == datetime(2026, 3, 11, tzinfo=UTC)
    # Read again at midnight the same day: the same comparison (only as_of differs).
    midnight = compare_release(r, units, "new", datetime(2026, 3, 11, tzinfo=UTC), policy)
    a, b = mid_day.to_dict(), midnight.to_dict()
    assert a.pop("as_of") != b.pop("as_of")
    assert _same(a, b)
    nxt = compare_release(r, units, "new", datetime(2026, 3, 12, tzinfo=UTC), policy)
    assert nxt.n_new == 80 and nxt.looks_done == 3
    done = compare_release(r, units, "new", AS_OF, policy)
    assert done.status == "ok" and done.n_new == 100 and done.looks_done == 8
    # Before the release day is complete there is no look at all.
    early = compare_release(r, units, "new", datetime(2026, 3, 9, 23, tzinfo=UTC), policy)
    assert early.status == "insufficient_data" and early.looks_done == 0
    assert "no complete UTC day" in early.message


# ---------------------------------------------------------------- control designs


def _daily(release_id: str, days: Sequence[int], n: int, escalated: int, **kw) -> list:
    """``n`` cases (``escalated`` escalations) on each of the given days after T0, from 10:00."""
    return [
        cases(release_id, T0 + timedelta(days=d, hours=10), n, escalated=escalated, **kw)
        for d in days
    ]


def test_canary_beside_the_old_version_is_a_concurrent_control():
    # 03-09 .. 03-16 the old version serves 100 cases a day beside the canary's 100; the old
    # version's pre-release days (03-02 .. 03-08, at another rate) are not used at all.
    policy = load_policy(overrides=SMALL)
    units = units_for(policy, *PAIR)
    r = roll(
        *_daily("old", range(0, 7), 100, 50),
        *_daily("old", range(7, 15), 100, 10),
        *_daily("new", range(7, 15), 100, 20),
    )
    c = compare_release(r, units, "new", AS_OF, policy)
    assert (c.control, c.concurrent_share) == ("concurrent", 1.0)
    assert c.n_new == 800 and c.n_ref == 800
    m = c.metrics["escalation_rate"]
    # The same rate every day in each arm: no day shock, so the estimate is 0.2 - 0.1 with the
    # reference's effective size its case count (the stratum rate 80/800 shrunk by two
    # pseudo-cases towards (80 + 0.5) / 801: 0.1 to within 1e-5).
    assert (m.new_value, m.ref_value) == pytest.approx((0.2, 0.1))
    t = 80.5 / 801
    p = (80 + 2 * t) / 802
    assert m.effective_n_ref == pytest.approx(0.1 * 0.9 / (p * (1 - p) / 800))
    assert m.effective_n_ref == pytest.approx(800, rel=1e-4)
    assert c.to_dict()["control_weaker"] is False


def test_concurrent_control_without_events_in_the_reference():
    # No violation in either arm, both versions on the same days.
    policy = load_policy(overrides=SMALL)
    units = units_for(policy, *PAIR)
    r = roll(*_daily("old", range(7, 15), 300, 30), *_daily("new", range(7, 15), 300, 30))
    c = compare_release(r, units, "new", AS_OF, policy)
    assert c.control == "concurrent"
    m = c.metrics["policy_violation_rate"]
    assert m.verdict == "inconclusive"
    assert (m.new_value, m.ref_value, m.estimate) == (0.0, 0.0, 0.0)
    # 0 of 2400 against 0 of 2400 (Kish size when R = 0): the MOVER interval from the Wilson
    # upper limits z^2 / (n + z^2) of each arm.
    u = Z95**2 / (2400 + Z95**2)
    assert m.ci_high == pytest.approx(u)
    assert m.ci_low == pytest.approx(-u)


def test_ramp_to_full_traffic_is_a_mixed_control():
    # Canary beside the old version on 03-09 .. 03-11 (100 cases each a day), then the new
    # version alone at full traffic 03-12 .. 03-16 (300 a day): those days are compared with the
    # old version's pre-release window 03-02 .. 03-08.
    policy = load_policy(overrides=SMALL)
    units = units_for(policy, *PAIR)
    r = roll(
        *_daily("old", range(0, 10), 100, 10),
        *_daily("new", range(7, 10), 100, 10),
        *_daily("new", range(10, 15), 300, 30),
    )
    c = compare_release(r, units, "new", AS_OF, policy)
    assert c.control == "mixed"
    assert c.concurrent_share == pytest.approx(300 / 1800)
    assert c.n_new == 1800
    assert c.n_ref == 300 + 700  # concurrent days + pre-release days
    m = c.metrics["escalation_rate"]
    assert (m.new_value, m.ref_value) == pytest.approx((0.1, 0.1))
    assert m.estimate == pytest.approx(0.0, abs=1e-12)


def test_immediate_rollout_is_compared_with_the_pre_release_window():
    policy = load_policy(overrides=SMALL)
    units = units_for(policy, *PAIR)
    r = roll(*_daily("old", range(0, 7), 100, 10), *_daily("new", range(7, 15), 300, 36))
    c = compare_release(r, units, "new", AS_OF, policy)
    assert (c.control, c.concurrent_share) == ("pre_release", 0.0)
    assert c.to_dict()["control_weaker"] is True
    assert c.n_new == 2400 and c.n_ref == 700
    m = c.metrics["escalation_rate"]
    assert (m.new_value, m.ref_value) == pytest.approx((0.12, 0.1))
    # No between-day variation in either arm: the day component is 0 and the reference's
    # effective size is its case count (up to the shrinkage of its rate towards 70.5 / 701).
    t = 70.5 / 701
    p = (70 + 2 * t) / 702
    assert m.effective_n_ref == pytest.approx(0.1 * 0.9 / (p * (1 - p) / 700))
    assert m.effective_n_ref == pytest.approx(700, rel=1e-4)


def test_statuses_without_comparison():
    policy = load_policy()
    units = units_for(policy, *PAIR, ("later", "sys", datetime(2026, 5, 1, tzinfo=UTC)))
    r = roll(cases("old", T0 + timedelta(days=3), 300), cases("new", NEW_AT, 100))
    out = compare_releases(r, units, ["old", "new", "later"], AS_OF, policy)
    assert out["old"].status == "insufficient_data"
    assert "first release" in out["old"].message
    assert out["later"].status == "insufficient_data"
    assert "not released by as_of" in out["later"].message
    assert out["new"].status == "insufficient_data"  # 100 < 200 cases in the new arm
    assert all(m.verdict == "insufficient_data" for m in out["new"].metrics.values())
    assert "fewer than 200" in out["new"].metrics["escalation_rate"].reason
    assert list(out["new"].metrics) == list(METRIC_NAMES)
    none = compare_release(None, units, "new", AS_OF, policy)
    assert none.n_new == 0 and none.status == "insufficient_data"


def test_reference_falls_back_when_previous_release_was_withdrawn():
    policy = load_policy(overrides={"comparison": {"min_cases_per_arm": 50}})
    rolled_back = T0 + timedelta(days=5)
    units = units_for(
        policy,
        ("a", "sys", T0 - timedelta(days=20)),
        ("b", "sys", rolled_back),
        ("c", "sys", NEW_AT),
    )
    r = roll(
        cases("a", T0 + timedelta(days=3), 300),
        cases("b", rolled_back, 5),  # served 5 cases, then rolled back: "a" serves again
        cases("a", T0 + timedelta(days=6), 300),
        cases("c", NEW_AT + timedelta(hours=1), 300),
    )
    c = compare_release(r, units, "c", AS_OF, policy)
    assert c.previous_release_id == "b"
    assert c.ref_release_id == "a"
    assert c.n_ref == 600
    assert c.status == "ok"


def test_errors_are_structural():
    policy = load_policy()
    units = units_for(policy, *PAIR)
    with pytest.raises(DataError, match="unknown release"):
        compare_release(None, units, "nope", AS_OF, policy)
    # An unknown metric is now rejected when the policy is loaded (analytics.core.policy_schema).
    with pytest.raises(DataError, match="latency_p99"):
        load_policy(overrides={"decision_quality_metrics": {"latency_p99": {"worse": "up"}}})
    with pytest.raises(DataError, match="multiple_testing"):
        compare_release(
            None,
            units,
            "new",
            AS_OF,
            load_policy(overrides={"comparison": {"multiple_testing": "sidak"}}),
        )
    with pytest.raises(DataError, match="timezone-aware"):
        compare_release(None, units, "new", datetime(2026, 4, 1), policy)


# ---------------------------------------------------------------- verdicts and API


def _degraded_rollup() -> Rollup:
    # Escalation 10 % -> 16 % and cost up (escalations cost 20 USD); refusals 2 % -> 4 %.
    return roll(
        cases("old", T0 + timedelta(days=3), 3000, escalated=300, refused=60),
        cases("new", NEW_AT + timedelta(hours=1), 3000, escalated=480, refused=120),
    )


FAMILY = (
    "escalation_rate",
    "rework_rate",
    "policy_violation_rate",
    "quality_score",
    "unit_cost_usd",
    "latency_p95_ms",
)


def _family_p(c, method) -> tuple[list[float], list[float]]:
    """(the engine's adjusted p_worse of the decision family, the same by hand: ``method`` over
    the six sequential p-values, a member without one counting as 1)."""
    seq = [c.metrics[n].p_worse_sequential for n in FAMILY]
    by_hand = method([1.0 if p is None else p for p in seq])
    return [c.metrics[n].p_worse_adjusted for n in FAMILY], list(by_hand)


def test_verdicts_and_telemetry_failures():
    policy = load_policy()
    units = units_for(policy, *PAIR)
    c = compare_release(_degraded_rollup(), units, "new", AS_OF, policy)
    assert c.family == FAMILY
    assert c.control == "pre_release"
    esc = c.metrics["escalation_rate"]
    assert esc.verdict == "worse" and esc.role == "decision_quality" and esc.in_family
    assert esc.p_worse_adjusted < 0.025
    assert c.metrics["refusal_rate"].role == "operational"
    assert c.metrics["refusal_rate"].verdict == "worse"
    assert not c.metrics["refusal_rate"].in_family
    assert c.metrics["unit_cost_usd"].verdict == "worse"
    assert c.metrics["rework_rate"].verdict == "inconclusive"  # 0 vs 0 reworks
    assert telemetry_failures({"new": c}) == {"new": ("escalation_rate",)}
    # The new version served on its release day only, so all 8 looks see the same data and the
    # sequential p-value is the last look's p / 0.9.
    assert esc.p_worse_sequential == pytest.approx(esc.p_worse / 0.9)
    # Holm over ONE family of six (decision quality + judge critical + judge hold metrics).
    adjusted, by_hand = _family_p(c, holm)
    assert adjusted == pytest.approx(by_hand)
    # Unit cost (smallest) times 6, escalation times 5.
    assert c.metrics["unit_cost_usd"].p_worse_adjusted == pytest.approx(
        6 * c.metrics["unit_cost_usd"].p_worse_sequential
    )
    assert esc.p_worse_adjusted == pytest.approx(5 * esc.p_worse_sequential)
    # The other metrics (refusal, latency mean, tokens) are their own family.
    rest = ("refusal_rate", "latency_mean_ms", "tokens_mean")
    seq = [c.metrics[n].p_worse_sequential for n in rest]
    seq = [math.nan if x is None else x for x in seq]  # no p-value at any look: None
    got = [c.metrics[n].p_worse_adjusted for n in rest]
    assert [math.nan if x is None else x for x in got] == pytest.approx(
        list(holm(seq)), nan_ok=True
    )


def test_missing_family_members_count_as_p_one():
    # No graded case: quality_score has no p-value, but the family keeps six members.
    policy = load_policy()
    units = units_for(policy, *PAIR)
    r = roll(
        cases("old", T0 + timedelta(days=3), 3000, escalated=300, quality=[None] * 3000),
        cases("new", NEW_AT + timedelta(hours=1), 3000, escalated=480, quality=[None] * 3000),
    )
    c = compare_release(r, units, "new", AS_OF, policy)
    q = c.metrics["quality_score"]
    assert q.verdict == "insufficient_data"
    assert q.p_worse_adjusted == 1.0  # in the family as p = 1
    assert "fewer than 200" in q.reason
    adjusted, by_hand = _family_p(c, holm)
    assert adjusted[:3] == pytest.approx(by_hand[:3])
    assert adjusted[4:] == pytest.approx(by_hand[4:])
    # Unit cost smallest (x 6), escalation second (x 5, not x 4: quality still counts).
    esc = c.metrics["escalation_rate"]
    assert esc.p_worse_adjusted == pytest.approx(5 * esc.p_worse_sequential)


def test_margin_is_relative_to_the_reference():
    # Escalation 10 % -> 10.5 % on 200k cases per arm, both versions on the same four days:
    # significantly higher, but by 5 %, inside the 10 % margin: not worse, shown non-inferior.
    policy = load_policy()
    units = units_for(policy, *PAIR)
    r = roll(
        *_daily("old", range(8, 12), 50_000, 5_000),
        *_daily("new", range(8, 12), 50_000, 5_250),
    )
    c = compare_release(r, units, "new", AS_OF, policy)
    assert c.control == "concurrent"
    m = c.metrics["escalation_rate"]
    assert m.ci_low > 0
    assert m.verdict == "inconclusive"
    assert m.non_inferior is True and m.cases_needed == 0
    assert m.margin_abs == pytest.approx(0.01)
    assert m.noninferiority_margin_abs == pytest.approx(0.01)
    assert m.relative == pytest.approx(0.05)
    assert m.effective_n_ref == pytest.approx(200_000)
    # mde: the margin plus (z of the first Holm step of six at the last look's 0.9 share of
    # alpha/2, plus z_0.8) standard errors of the margin contrast new - 1.1 * reference.
    se = math.sqrt(0.105 * 0.895 / 200_000 + 1.1**2 * 0.1 * 0.9 / 200_000)
    z = sps.norm.isf(0.025 * 0.9 / 6) + sps.norm.ppf(0.8)
    assert m.mde == pytest.approx(0.01 + z * se, rel=1e-6)


def test_benjamini_hochberg_option():
    policy = load_policy(overrides={"comparison": {"multiple_testing": "bh"}})
    units = units_for(policy, *PAIR)
    c = compare_release(_degraded_rollup(), units, "new", AS_OF, policy)
    assert c.multiple_testing == "bh"
    adjusted, by_hand = _family_p(c, benjamini_hochberg)
    assert adjusted == pytest.approx(by_hand)
    # BH: the two smallest of six both become 6/2 * the second smallest.
    esc = c.metrics["escalation_rate"]
    assert esc.p_worse_adjusted == pytest.approx(3 * esc.p_worse_sequential)
    assert "BH p" in esc.reason


def test_verdict_is_sticky_across_later_as_of():
    # Both versions serve 2000 cases a day from 03-09; the reference at 10 % escalation, the new
    # version at 10 % on 03-09, 30 % on 03-10 and 8 % after that. At 03-11 (two looks) it is
    # worse; at the end of the window it is still worse with the same or a smaller sequential
    # p-value, although a fixed-sample test of all eight days would not find it.
    policy = load_policy(overrides={"costs": {"escalation_usd": 0.0}})
    units = units_for(policy, *PAIR)
    rates = [200, 600, 160, 160, 160, 160, 160, 160]
    r = roll(
        *_daily("old", range(7, 15), 2000, 200),
        *[_daily("new", [7 + k], 2000, e)[0] for k, e in enumerate(rates)],
    )
    early = compare_release(r, units, "new", datetime(2026, 3, 11, tzinfo=UTC), policy)
    late = compare_release(r, units, "new", AS_OF, policy)
    e, last = early.metrics["escalation_rate"], late.metrics["escalation_rate"]
    assert early.looks_done == 2 and late.looks_done == 8
    assert e.verdict == "worse" and last.verdict == "worse"
    assert last.p_worse_sequential <= e.p_worse_sequential
    assert last.p_worse > 0.025  # the last look's own p-value
    assert last.new_value == pytest.approx(1760 / 16000)  # 0.11 = 1.1 * reference: p 0.5
    assert last.p_worse == pytest.approx(0.5)
    assert late.detectable_at == datetime(2026, 3, 11, tzinfo=UTC)


def _same(a: object, b: object) -> bool:
    """Equal, floats up to summation-order rounding (polars may add partial sums in any order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def test_batch_equals_single_and_saved_rollup_gives_identical_results(tmp_path):
    policy = load_policy()
    units = units_for(policy, *PAIR)
    r = _degraded_rollup()
    single = compare_release(r, units, "new", AS_OF, policy)
    batch = compare_releases(r, units, ["old", "new"], AS_OF, policy)["new"]
    loaded = compare_release(Rollup.load(r.save(tmp_path / "rollup")), units, "new", AS_OF, policy)
    assert _same(single.to_dict(segments=True), batch.to_dict(segments=True))
    assert _same(single.to_dict(segments=True), loaded.to_dict(segments=True))
    text = json.dumps(single.to_dict(segments=True), allow_nan=False)
    assert '"escalation_rate"' in text


def test_segments_frame_for_the_forest_plot():
    policy = load_policy(overrides={"comparison": {"min_cases_per_segment": 30}})
    units = units_for(policy, *PAIR)
    r = roll(
        cases("old", T0 + timedelta(days=3), 1500, seg=SEG_A, escalated=150),
        cases("old", T0 + timedelta(days=4), 1500, seg=SEG_B, escalated=150),
        cases("new", NEW_AT + timedelta(hours=1), 1500, seg=SEG_A, escalated=150),
        cases("new", NEW_AT + timedelta(hours=2), 1500, seg=SEG_B, escalated=300),
    )
    c = compare_release(r, units, "new", AS_OF, policy)
    seg = c.segments.filter(pl.col("metric") == "escalation_rate").sort("segment")
    assert seg["segment"].to_list() == [
        "answer / low / en / smb",
        "triage / high / de / enterprise",
    ]
    assert seg["verdict"].to_list() == ["inconclusive", "worse"]
    assert seg["estimate"].to_list() == pytest.approx([0.0, 0.1])
    for col in (
        "ci_low",
        "ci_high",
        "margin_abs",
        "relative",
        "n_new",
        "n_ref",
        "p_worse_adjusted",
    ):
        assert col in seg.columns
    frame = c.metrics_frame()
    assert frame.height == len(METRIC_NAMES) and "release_id" in frame.columns


def test_daily_series():
    policy = load_policy(overrides=SMALL)
    units = units_for(policy, *PAIR)
    r = roll(
        cases("old", T0 + timedelta(days=3), 10, escalated=1),
        cases("new", NEW_AT + timedelta(hours=1), 20, escalated=4, latency=250.0),
    )
    daily = daily_series(r, units, "new", AS_OF, policy)
    assert set(daily.columns) == {"release_id", "arm", "day", "metric", "value", "n"}
    esc = daily.filter(pl.col("metric") == "escalation_rate").sort("arm")
    assert esc["value"].to_list() == pytest.approx([0.2, 0.1])
    assert esc["release_id"].to_list() == ["new", "old"]
    p95 = daily.filter((pl.col("metric") == "latency_p95_ms") & (pl.col("arm") == "new"))
    bin_250 = np.searchsorted(LATENCY_EDGES, 250, "right")
    assert p95["value"][0] == pytest.approx(latency_bin_values()[bin_250])


# ---------------------------------------------------------------- simulation checks


def _sim_rollup(
    rng: np.random.Generator,
    reps: int,
    *,
    n_new: int,
    n_ref: int,
    mix_new: Sequence[float],
    mix_ref: Sequence[float],
    esc_new: Sequence[float],
    esc_ref: Sequence[float],
    q_new: Sequence[float],
    q_ref: Sequence[float],
    viol: float = 0.01,
    graded: float = 0.78,
) -> tuple[Rollup, pl.DataFrame, dict[str, np.ndarray]]:
    """``reps`` independent systems, each with a reference release ("<i>-old", cases on day 3)
    and a new one ("<i>-new", released on day 7 at midnight, cases on day 8), three segments.
    Rates are binomial; quality and cost are normal (sums and sums of squares drawn exactly:
    the sample mean and the chi-square sum of squared deviations). Returns the rollup, the
    releases and the true mix-standardised differences (weights: realised new mix)."""
    segs = [SEG_A, SEG_B, ("draft", "medium", "fr", "consumer")]
    k = len(segs)
    q_sd, cost_mu, cost_sd = 0.09, 2.0, 1.5
    rows: dict[str, list] = {
        c: []
        for c in (
            "release_id",
            "system",
            "day",
            "task_type",
            "criticality",
            "language",
            "customer_segment",
            "n",
            "escalated",
            "reworked",
            "policy_violation",
            "refused",
            "quality_n",
            "quality_score_sum",
            "quality_score_sumsq",
            "model_cost_usd_sum",
            "model_cost_usd_sumsq",
        )
    }
    truth = {
        "escalation_rate": np.zeros(reps),
        "quality_score": np.zeros(reps),
        "policy_violation_rate": np.zeros(reps),
        "unit_cost_usd": np.zeros(reps),
    }
    for arm, n_arm, mix, esc, qual, day in (
        ("old", n_ref, mix_ref, esc_ref, q_ref, 3),
        ("new", n_new, mix_new, esc_new, q_new, 8),
    ):
        counts = rng.multinomial(n_arm, mix, size=reps)  # (reps, k)
        esc_c = rng.binomial(counts, np.asarray(esc))
        viol_c = rng.binomial(counts, viol)
        q_n = rng.binomial(counts, graded)
        q_mean = rng.normal(np.asarray(qual), q_sd / np.sqrt(np.maximum(q_n, 1)))
        q_ss = q_sd**2 * rng.chisquare(np.maximum(q_n - 1, 1))
        c_mean = rng.normal(cost_mu, cost_sd / np.sqrt(np.maximum(counts, 1)))
        c_ss = cost_sd**2 * rng.chisquare(np.maximum(counts - 1, 1))
        for i in range(reps):
            for s in range(k):
                rows["release_id"].append(f"{i}-{arm}")
                rows["system"].append(f"s{i}")
                rows["day"].append(T0.date() + timedelta(days=day))
                for col, v in zip(
                    ("task_type", "criticality", "language", "customer_segment"),
                    segs[s],
                    strict=True,
                ):
                    rows[col].append(v)
                rows["n"].append(int(counts[i, s]))
                rows["escalated"].append(int(esc_c[i, s]))
                rows["reworked"].append(0)
                rows["policy_violation"].append(int(viol_c[i, s]))
                rows["refused"].append(0)
                rows["quality_n"].append(int(q_n[i, s]))
                rows["quality_score_sum"].append(float(q_n[i, s] * q_mean[i, s]))
                rows["quality_score_sumsq"].append(
                    float(q_ss[i, s] + q_n[i, s] * q_mean[i, s] ** 2)
                )
                rows["model_cost_usd_sum"].append(float(counts[i, s] * c_mean[i, s]))
                rows["model_cost_usd_sumsq"].append(
                    float(c_ss[i, s] + counts[i, s] * c_mean[i, s] ** 2)
                )
    # The truth on the new arm's realised mix w: sum_s w_s (new_s - ref_s); 0 for violations
    # and cost, whose per-segment values are the same in both arms.
    new_rows = [i for i, r in enumerate(rows["release_id"]) if r.endswith("-new")]
    n_new_seg = np.array([rows["n"][i] for i in new_rows]).reshape(reps, k)
    w = n_new_seg / n_new_seg.sum(axis=1, keepdims=True)
    truth["escalation_rate"] = w @ (np.asarray(esc_new) - np.asarray(esc_ref))
    truth["quality_score"] = w @ (np.asarray(q_new) - np.asarray(q_ref))
    cases_df = pl.DataFrame(rows).with_columns(
        pl.col("day").cast(pl.Date),
        *[
            pl.lit(0.0).alias(c)
            for c in (
                "handling_time_s_sum",
                "handling_time_s_sumsq",
                "latency_ms_sum",
                "latency_ms_sumsq",
                "tokens_sum",
                "tokens_sumsq",
                "cost_x_handling",
                "cost_x_reworked",
                "cost_x_escalated",
                "handling_x_reworked",
                "handling_x_escalated",
                "reworked_x_escalated",
            )
        ],
        *[
            pl.col("n").alias(f"{m}_n")
            for m in (
                "escalated",
                "reworked",
                "policy_violation",
                "refused",
                "handling_time_s",
                "latency_ms",
                "tokens",
                "model_cost_usd",
            )
        ],
    )
    latency = pl.DataFrame(schema=LATENCY_SCHEMA)
    rel = releases(
        *[
            r
            for i in range(reps)
            for r in (
                (f"{i}-old", f"s{i}", T0 - timedelta(days=30)),
                (f"{i}-new", f"s{i}", T0 + timedelta(days=7)),
            )
        ]
    )
    return Rollup(cases=cases_df, latency=latency), rel, truth


SIM_POLICY = {
    "costs": {"human_hourly_usd": 0.0, "rework_usd": 0.0, "escalation_usd": 0.0},
    "comparison": {"bootstrap_samples": 100},
}
MIX_NEW, MIX_REF = (0.2, 0.3, 0.5), (0.5, 0.3, 0.2)  # different mixes: standardisation matters
ESC = (0.05, 0.12, 0.25)
QUAL = (0.85, 0.8, 0.7)


def _run(rollup: Rollup, rel: pl.DataFrame, policy) -> dict:
    units = release_units(rel, policy)
    ids = [r for r in rel["release_id"].to_list() if r.endswith("-new")]
    return compare_releases(rollup, units, ids, AS_OF, policy)


def test_simulation_interval_coverage():
    """95 % intervals cover the true (mix-standardised) difference in 95 % +- 3 % of 1000
    repetitions, for a rate, a rare rate, a mean and the unit cost."""
    rng = np.random.default_rng(20240601)
    reps = 1000
    esc_new = (0.06, 0.14, 0.27)
    q_new = (0.84, 0.78, 0.71)
    rollup, rel, truth = _sim_rollup(
        rng,
        reps,
        n_new=2000,
        n_ref=3000,
        mix_new=MIX_NEW,
        mix_ref=MIX_REF,
        esc_new=esc_new,
        esc_ref=ESC,
        q_new=q_new,
        q_ref=QUAL,
    )
    out = _run(rollup, rel, load_policy(overrides=SIM_POLICY))
    for metric in ("escalation_rate", "quality_score", "policy_violation_rate", "unit_cost_usd"):
        lo = np.array([out[f"{i}-new"].metrics[metric].ci_low for i in range(reps)])
        hi = np.array([out[f"{i}-new"].metrics[metric].ci_high for i in range(reps)])
        cover = np.mean((lo <= truth[metric]) & (truth[metric] <= hi))
        assert 0.92 <= cover <= 0.98, (metric, cover)


def test_simulation_aa_false_worse_rate_within_nominal():
    """A/A (no true difference, different mixes): each metric is judged "worse" in at most
    alpha/2 of 1000 repetitions (plus Monte Carlo slack), any decision-quality metric in at
    most alpha."""
    rng = np.random.default_rng(7)
    reps = 1000
    rollup, rel, _ = _sim_rollup(
        rng,
        reps,
        n_new=2000,
        n_ref=3000,
        mix_new=MIX_NEW,
        mix_ref=MIX_REF,
        esc_new=ESC,
        esc_ref=ESC,
        q_new=QUAL,
        q_ref=QUAL,
    )
    policy = load_policy(overrides=SIM_POLICY)
    out = _run(rollup, rel, policy)
    slack = 3 * math.sqrt(0.025 * 0.975 / reps)
    for metric in ("escalation_rate", "policy_violation_rate", "quality_score", "unit_cost_usd"):
        worse = np.mean([c.metrics[metric].verdict == "worse" for c in out.values()])
        assert worse <= policy.alpha / 2 + slack, (metric, worse)
    any_dq = np.mean([bool(c.worse("decision_quality")) for c in out.values()])
    assert any_dq <= policy.alpha


def test_simulation_power_at_sample_volume():
    """A quality-score degradation of twice the margin (-4 %) is found in at least 90 % of 500
    repetitions at the sample data's volume (300 cases per day: about 2100 cases per arm over
    the 7-day window, 78 % of them graded)."""
    rng = np.random.default_rng(11)
    reps = 500
    q_new = tuple(q * (1 - 2 * 0.02) for q in QUAL)
    rollup, rel, _ = _sim_rollup(
        rng,
        reps,
        n_new=2100,
        n_ref=2100,
        mix_new=MIX_NEW,
        mix_ref=MIX_REF,
        esc_new=ESC,
        esc_ref=ESC,
        q_new=q_new,
        q_ref=QUAL,
    )
    out = _run(rollup, rel, load_policy(overrides=SIM_POLICY))
    power = np.mean([c.metrics["quality_score"].verdict == "worse" for c in out.values()])
    assert power >= 0.90, power


def test_simulation_power_of_a_rate_at_its_design_volume():
    """An escalation rise of twice the margin (+20 %) is found in at least 90 % of 500
    repetitions at 30 000 cases per arm (Holm over four metrics: the one-sided test of the
    margin contrast runs at alpha/8, so z = 2.50 + 1.28 needs about 20 000 cases per arm at
    these rates; at the sample data's 2 100 per arm the power is about 25 %)."""
    rng = np.random.default_rng(13)
    reps = 500
    esc_new = tuple(p * 1.2 for p in ESC)
    rollup, rel, _ = _sim_rollup(
        rng,
        reps,
        n_new=30_000,
        n_ref=30_000,
        mix_new=MIX_NEW,
        mix_ref=MIX_NEW,
        esc_new=esc_new,
        esc_ref=ESC,
        q_new=QUAL,
        q_ref=QUAL,
    )
    out = _run(rollup, rel, load_policy(overrides=SIM_POLICY))
    power = np.mean([c.metrics["escalation_rate"].verdict == "worse" for c in out.values()])
    assert power >= 0.90, power


# ---------------------------------------------------------------- planted truth (sample data)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    sample_data = pytest.importorskip("analytics.sample.generate")
    from analytics.data.io import load_dataset
    from analytics.data.rollup import dataset_rollup

    folder = tmp_path_factory.mktemp("sample")
    sample_data.generate_sample(folder, seed=7)
    ds = load_dataset(folder)
    truth = json.loads((folder / "truth.json").read_text())
    units = release_units(ds.releases, ds.policy)
    as_of = datetime.fromisoformat(truth["end"].replace("Z", "+00:00"))
    rollup = dataset_rollup(ds.telemetry, ds.telemetry_rollup)
    out = compare_releases(rollup, units, units["release_id"].to_list(), as_of, ds.policy)
    return ds.policy, truth, out


def test_planted_truth_recovery_on_the_sample_data(sample):
    """Planted regressions that span the comparison (at least ``min_cases_per_arm`` affected
    cases, and at least 80 % of the release's cases in its window: not fixed part-way) are found:
    at least 90 % of the quality-score ones and at least half of all (the rest are rate
    regressions that the sample's 300 cases per day cannot resolve, see the power tests); clean
    releases are flagged no more often than the one-sided level alpha/2.

    Measured on seed 7: 17 of 31 found, 9 of the 10 quality-score ones, 1 false alarm in 313
    clean releases. The engine before the rework found 22 of 31 with a fixed-horizon test per
    metric group; the rework spends one error budget over the six acted-on metrics and over the
    daily looks (valid however often it is read, calibrated under mix shift and day shocks), so
    short or marginal regressions are now left to the other failure signals: the one quality
    miss, rel-0101, served 256 cases and was rolled back after 12 hours, failing by its
    incident."""
    policy, truth, out = sample
    fails = telemetry_failures(out)
    planted = {r["release_id"]: r for r in truth["regressions"]}
    spanning = [
        r
        for r in planted.values()
        if r["cases_in_window"] >= 200 and r["cases_in_window"] >= 0.8 * out[r["release_id"]].n_new
    ]
    found = [r for r in spanning if fails[r["release_id"]]]
    missed = [(r["release_id"], r["metric"]) for r in spanning if not fails[r["release_id"]]]
    assert len(found) >= 0.5 * len(spanning), missed
    quality = [r for r in spanning if r["metric"] == "quality_score"]
    assert quality
    assert sum(bool(fails[r["release_id"]]) for r in quality) >= 0.9 * len(quality), missed
    for r in found:  # found for the planted metric, not by accident
        assert r["metric"] in fails[r["release_id"]]
    clean = [
        rid for rid, c in out.items() if rid not in planted and c.status != "insufficient_data"
    ]
    false_alarms = [rid for rid in clean if fails[rid]]
    assert len(false_alarms) <= policy.alpha / 2 * len(clean), false_alarms
