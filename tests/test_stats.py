"""The interval and multiplicity methods of ``analytics.stats.intervals`` are written vectorised
(many rows at once, fractional effective counts, NaN entries outside a family); where statsmodels
has the same method they must agree with it on a grid of values, and with a published or
hand-computed value for one case each."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from analytics.stats.intervals import (
    benjamini_hochberg,
    holm,
    rate_contrast_bounds,
    wilson,
    wilson_bounds,
)
from analytics.stats.summaries import rate

SIZES = (1, 2, 3, 5, 10, 37, 100, 263, 1000, 2000)
ALPHAS = (0.01, 0.05, 0.1, 0.2)


def _grid() -> list[tuple[int, int]]:
    out = []
    for n in SIZES:
        xs = range(n + 1) if n <= 40 else sorted({0, 1, 2, n // 7, n // 2, n - 1, n})
        out += [(x, n) for x in xs]
    return out


@pytest.mark.parametrize("alpha", ALPHAS)
def test_wilson_equals_statsmodels_to_the_last_bit(alpha):
    """Whole counts: the same floating-point operations as statsmodels, so the same bits."""
    for x, n in _grid():
        low, high = proportion_confint(x, n, alpha=alpha, method="wilson")
        expected = (0.0 if x == 0 else float(low), 1.0 if x == n else float(high))
        assert wilson(x, n, alpha) == expected, (x, n)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_wilson_bounds_vectorised_equal_statsmodels(alpha):
    x, n = (np.array(v, float) for v in zip(*_grid(), strict=True))
    low, high = wilson_bounds(x, n, sps.norm.isf(alpha / 2))
    sm_low, sm_high = proportion_confint(x, n, alpha=alpha, method="wilson")
    np.testing.assert_array_equal(low, sm_low)
    np.testing.assert_array_equal(high, sm_high)


def test_wilson_published_values():
    """Newcombe (1998), Statistics in Medicine 17:857-872, table I, method 3 (4 decimals)."""
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert wilson(15, 148) == pytest.approx((0.0624, 0.1605), abs=5e-5)
    assert wilson(0, 20) == pytest.approx((0.0, 0.1611), abs=5e-5)
    assert wilson(1, 29) == pytest.approx((0.0061, 0.1718), abs=5e-5)
    # and one by hand: 8 of 2000 at z = 1.959964: p = 0.004, centre = (p + z^2/4000) /
    # (1 + z^2/2000), half = z sqrt(p (1 - p)/2000 + z^2/16e6) / (1 + z^2/2000)
    z = 1.959963984540054
    d = 1 + z * z / 2000
    centre = (0.004 + z * z / 4000) / d
    half = z * ((0.004 * 0.996 / 2000 + z * z / 16e6) ** 0.5) / d
    assert wilson(8, 2000) == pytest.approx((centre - half, centre + half), rel=1e-14)
    # = (0.0049508 - 0.0029226, 0.0049508 + 0.0029226)
    assert wilson(8, 2000) == pytest.approx((0.0020282, 0.0078734), abs=1e-7)


def test_rate_uses_the_one_wilson():
    r = rate(81, 263)
    assert (r.ci_low, r.ci_high) == wilson(81, 263)
    assert (rate(0, 7).ci_low, rate(7, 7).ci_high) == (0.0, 1.0)


@pytest.mark.parametrize("alpha", (0.05, 0.1))
def test_newcombe_equals_statsmodels(alpha):
    """``rate_contrast_bounds`` with ``c = 1`` is Newcombe's hybrid score interval of a
    difference (statsmodels ``method="newcomb"``). It takes a rate and a (possibly fractional)
    size, so the count is recomputed as rate x size: equal to rounding."""
    z = sps.norm.isf(alpha / 2)
    pairs = [(x1, n1, x2, n2) for x1, n1 in _grid() for x2, n2 in _grid()[::5] if n1 > 1 < n2]
    x1, n1, x2, n2 = (np.array(v, float) for v in zip(*pairs, strict=True))
    low, high = rate_contrast_bounds(x1 / n1, n1, x2 / n2, n2, 1.0, z)
    sm_low, sm_high = confint_proportions_2indep(
        x1, n1, x2, n2, method="newcomb", compare="diff", alpha=alpha
    )
    np.testing.assert_allclose(low, sm_low, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(high, sm_high, rtol=1e-12, atol=1e-15)


def test_newcombe_published_values():
    """Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10 (4 decimals)."""
    z = sps.norm.isf(0.025)
    low, high = rate_contrast_bounds(56 / 70, 70, 48 / 80, 80, 1.0, z)
    assert (float(low), float(high)) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    low, high = rate_contrast_bounds(9 / 10, 10, 3 / 10, 10, 1.0, z)
    assert (float(low), float(high)) == pytest.approx((0.1705, 0.8090), abs=5e-5)


def _p_grid() -> list[np.ndarray]:
    # few families: statsmodels' multipletests runs a full gc.collect() per call
    rng = np.random.default_rng(20240601)
    out = [rng.uniform(size=m) for m in (1, 2, 3, 6, 9, 20, 40)]
    out += [rng.uniform(size=m) ** 6 for m in (8, 25)]  # many small p-values
    out += [np.array([0.01, 0.01, 0.04, 0.04, 0.5]), np.array([1.0, 0.2, 1.0]), np.zeros(3)]
    return out


def test_holm_equals_statsmodels():
    for p in _p_grid():
        np.testing.assert_array_equal(holm(p), multipletests(p, method="holm")[1])


def test_benjamini_hochberg_equals_statsmodels():
    for p in _p_grid():
        expected = multipletests(p, method="fdr_bh")[1]
        np.testing.assert_allclose(benjamini_hochberg(p), expected, rtol=1e-14, atol=0)


def test_adjustments_by_hand_and_nan_left_out():
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted 0.005 x 4, 0.01 x 3, 0.03 x 2, 0.04 x 1, then the running maximum
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02], rtol=1e-15)
    # BH: sorted p x 4 / rank = 0.02, 0.02, 0.04, 0.04, then the running minimum from the top
    np.testing.assert_allclose(benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02], rtol=1e-15)
    with_nan = [np.nan, 0.01, np.nan, 0.04]
    np.testing.assert_allclose(holm(with_nan), [np.nan, 0.02, np.nan, 0.04], rtol=1e-15)
    np.testing.assert_allclose(benjamini_hochberg(with_nan), [np.nan, 0.02, np.nan, 0.04])
    assert np.isnan(holm([np.nan, np.nan])).all()
    assert holm([0.6, 0.7]).tolist() == [1.0, 1.0]
