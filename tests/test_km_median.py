"""The conventional Kaplan-Meier median (analytics.stats.summaries.km_median_point), hand-worked and
checked against statsmodels' SurvfuncRight.

statsmodels' ``SurvfuncRight.quantile(0.5)`` follows SAS: the first event time at which S(t)
drops *strictly* below 0.5. The conventional median (R ``median.survfit``, what METRICS.md
defines) is the smallest t with S(t) <= 0.5, and the midpoint of the flat where S(t) is exactly
0.5. The two agree except on such a flat: with an even number of uncensored durations S hits
exactly 0.5 at the middle one, so statsmodels returns the upper middle value and we return the
plain median. At the very end of the curve (S = 0.5 after the last event, only censored
durations later) statsmodels has no answer (NaN) and we return the time S reached 0.5.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.duration.survfunc import SurvfuncRight

from analytics.stats.summaries import KM_TOLERANCE, duration_summary, km_curve, km_median_point


def _sm(durations, observed) -> float:
    return float(
        SurvfuncRight(np.asarray(durations, float), np.asarray(observed, int)).quantile(0.5)
    )


def test_odd_n_no_censoring_is_the_middle_value() -> None:
    # S: t=1 -> 2/3, t=3 -> 1/3 (first <= 0.5), so 3; numpy median of (1, 3, 5) is 3.
    d, o = [5.0, 1.0, 3.0], [1, 1, 1]
    assert km_median_point(d, np.array(o, bool)) == (3.0, "")
    assert _sm(d, o) == 3.0  # no exact-0.5 flat: statsmodels agrees


def test_even_n_no_censoring_is_the_plain_median_statsmodels_is_not() -> None:
    # n=4: S = 3/4, 1/2, 1/4, 0 at 10, 20, 30, 40; exactly 1/2 on [20, 30) -> (20 + 30) / 2.
    d, o = [10.0, 20.0, 30.0, 40.0], np.ones(4, bool)
    assert km_median_point(d, o)[0] == 25.0 == float(np.median(d))
    assert _sm(d, o) == 30.0  # statsmodels: first S strictly below 0.5
    # The tiny golden's MTTD: 24 h and 36 h -> 30 h (statsmodels 36 h, what was reported).
    assert km_median_point([24.0, 36.0], np.ones(2, bool))[0] == 30.0
    assert _sm([24.0, 36.0], [1, 1]) == 36.0


@pytest.mark.parametrize("n", range(1, 26))
def test_no_censoring_equals_numpy_median(n: int) -> None:
    rng = np.random.default_rng(n)
    d = np.round(rng.exponential(40.0, n), 1)  # rounding makes ties, too
    assert km_median_point(d, np.ones(n, bool))[0] == pytest.approx(float(np.median(d)), abs=1e-12)


def test_censoring_before_the_median_pushes_it_up() -> None:
    # 1 observed, 2 3 4 censored, 10 observed: S(1) = 4/5, S(10) = 0 -> 10.
    # The median of the observed alone, (1 + 10) / 2 = 5.5, ignores the three still open.
    d, o = [1.0, 2.0, 3.0, 4.0, 10.0], np.array([1, 0, 0, 0, 1], bool)
    assert km_median_point(d, o)[0] == 10.0
    assert _sm(d, o) == 10.0


def test_censoring_before_the_median_onto_an_exact_half() -> None:
    # 1 censored; at 3: 4 at risk, S = 3/4; at 5: 3 at risk, S = 1/2; at 7: S = 1/4 -> (5+7)/2.
    d, o = [1.0, 3.0, 5.0, 7.0, 9.0], np.array([0, 1, 1, 1, 1], bool)
    assert km_median_point(d, o)[0] == 6.0
    assert _sm(d, o) == 7.0


def test_censoring_after_the_median_does_not_move_it() -> None:
    # S = 4/5, 3/5, 2/5 at 1, 2, 3 -> 3, as if the two open ones had been observed at 10.
    d, o = [1.0, 2.0, 3.0, 10.0, 10.0], np.array([1, 1, 1, 0, 0], bool)
    assert km_median_point(d, o)[0] == 3.0 == float(np.median(d))
    assert _sm(d, o) == 3.0


def test_exact_half_at_the_end_of_the_curve() -> None:
    # 4 observed, 10 censored: S(4) = 1/2 and no later event: the flat has no end -> 4.
    d, o = [4.0, 10.0], np.array([1, 0], bool)
    assert km_median_point(d, o)[0] == 4.0
    assert math.isnan(_sm(d, o))  # statsmodels: never strictly below 0.5


def test_never_reaching_half_is_none_with_the_reason() -> None:
    # S(1) = 2/3 and the other two are censored: the curve never gets to 0.5.
    median, reason = km_median_point([1.0, 5.0, 6.0], np.array([1, 0, 0], bool))
    assert math.isnan(median)
    assert "never fell to one half (lowest 0.67)" in reason
    assert math.isnan(_sm([1.0, 5.0, 6.0], [1, 0, 0]))
    median, reason = km_median_point([5.0, 6.0], np.array([0, 0], bool))
    assert math.isnan(median) and reason == "nothing observed: all durations are censored"
    # The KPI carries None and the reason (JSON key km_median_note).
    res = duration_summary(np.array([1.0, 5.0, 6.0]), np.array([True, False, False]))
    out = res.to_dict()
    assert out["km_median"] is None and out["median"] == 1.0 and out["n_censored"] == 2
    assert out["km_median_note"].startswith("the share not yet observed never fell")
    # With a median there is no note.
    assert (
        "km_median_note" not in duration_summary(np.array([1.0, 3.0]), np.ones(2, bool)).to_dict()
    )


def test_duration_summary_km_median_equals_median_without_censoring() -> None:
    res = duration_summary(np.array([101.5, 3.0, 50.0, 280.0]), np.ones(4, bool))
    assert res.median == 75.75 == res.km_median  # (50 + 101.5) / 2
    # Its interval is statsmodels' quantile_ci (cloglog), whose limits are observed times;
    # with n = 4 it spans them all.
    assert (res.km_ci_low, res.km_ci_high) == (3.0, 280.0)


def test_curve_and_median_agree_with_statsmodels_away_from_exact_half() -> None:
    rng = np.random.default_rng(20260101)
    checked = 0
    for _ in range(300):
        n = int(rng.integers(1, 30))
        d = rng.exponential(50.0, n)
        o = rng.random(n) < 0.7
        sf = SurvfuncRight(d, o.astype(int))
        times, surv = km_curve(d, o)
        if o.any():
            np.testing.assert_allclose(times, sf.surv_times)
            np.testing.assert_allclose(surv, sf.surv_prob, rtol=1e-12)
        if np.any(np.abs(surv - 0.5) <= KM_TOLERANCE):
            continue  # an exact-0.5 flat: the conventions differ by design (tests above)
        ours, sm = km_median_point(d, o)[0], float(sf.quantile(0.5))
        assert (math.isnan(ours) and math.isnan(sm)) or ours == sm
        checked += 1
    assert checked > 200


def test_sample_october_mttd_km_median_is_the_median(sample_dir) -> None:
    """The issue's case: 2026-10 MTTD had median 101.8 h and 'KM median' 190.8 h (statsmodels'
    upper middle value of two detections, nothing censored); now both are the plain median."""
    import analytics as ra

    analysis = ra.analyze(
        ra.load_dataset(sample_dir), ra.parse_as_of("2026-11-15T00:00:00Z"), months=["2026-10"]
    )
    d = ra.monthly_kpis(analysis, "2026-10").mttd_hours
    hours = sorted(
        r["detection_hours"] for r in ra.release_records(analysis, "2026-10") if r["failed"]
    )
    assert (d.n, d.n_censored, len(hours)) == (2, 0, 2)
    assert round(hours[0], 4) == 12.7664 and round(hours[1], 4) == 190.8239
    assert d.median == d.km_median == (hours[0] + hours[1]) / 2
    assert round(d.km_median, 1) == 101.8
