"""Small statistical building blocks shared by the KPI modules."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from analytics.core.results import DurationResult, RateResult, Status
from analytics.stats.intervals import wilson


def rate(
    numerator: int,
    denominator: int,
    alpha: float = 0.05,
    *,
    status: Status = "ok",
    message: str = "",
    extra: dict | None = None,
) -> RateResult:
    """A share with its Wilson interval; ``insufficient_data`` when the denominator is 0."""
    if denominator == 0:
        return RateResult(
            None,
            0,
            0,
            status="insufficient_data",
            message=message or "no releases in the period",
            extra=extra or {},
        )
    low, high = wilson(numerator, denominator, alpha)
    return RateResult(
        numerator / denominator,
        int(numerator),
        int(denominator),
        low,
        high,
        status=status,
        message=message,
        extra=extra or {},
    )


def quantile(values: np.ndarray, q: float) -> float:
    """Linear-interpolation quantile (numpy's default, Hyndman-Fan type 7)."""
    return float(np.quantile(values, q)) if len(values) else math.nan


# Survival within this of 0.5 is "exactly 0.5" (R survival's tolerance, sqrt of machine eps):
# the Kaplan-Meier product (1 - 1/n)(1 - 1/(n-1))... lands on 0.5 only up to rounding.
KM_TOLERANCE = 1.5e-8


def km_curve(durations: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival S(t) at the distinct observed (event) times, ascending.

    S(t_j) = prod over i <= j of (1 - d_i / n_i), with d_i the events at t_i and n_i the
    durations >= t_i (a duration censored at t_i is still at risk at t_i)."""
    t = np.asarray(durations, float)
    obs = np.asarray(observed, bool)
    times = np.unique(t[obs])
    d = np.array([np.sum(obs & (t == x)) for x in times], float)
    n = np.array([np.sum(t >= x) for x in times], float)
    return times, np.cumprod(1.0 - d / n)


def km_median_point(durations: np.ndarray, observed: np.ndarray) -> tuple[float, str]:
    """The conventional Kaplan-Meier median and, when there is none, why.

    The smallest time t with S(t) <= 0.5; where S equals 0.5 exactly (within ``KM_TOLERANCE``)
    over [t_i, t_(i+1)), the midpoint (t_i + t_(i+1)) / 2, so with nothing censored it equals the
    plain median (numpy's). When S stays at exactly 0.5 after its last drop (only censored
    durations later), the flat has no end and t_i is returned (R ``median.survfit`` does the
    same). Returns (NaN, reason) when S never reaches 0.5 (fewer than half observed before the
    censoring).

    statsmodels' ``SurvfuncRight.quantile(0.5)`` follows SAS instead: the first time S drops
    *strictly* below 0.5. It agrees except on an exact-0.5 flat, where it returns t_(i+1)
    (e.g. 24 h and 36 h, nothing censored: statsmodels 36 h, here 30 h, the plain median).
    """
    if len(durations) == 0:
        return math.nan, "no durations"
    if not np.any(observed):
        return math.nan, "nothing observed: all durations are censored"
    times, surv = km_curve(durations, observed)
    at_half = np.flatnonzero(surv <= 0.5 + KM_TOLERANCE)
    if len(at_half) == 0:
        return math.nan, (
            f"the share not yet observed never fell to one half (lowest {surv[-1]:.2f}): "
            "fewer than half observed before the censored ones"
        )
    i = int(at_half[0])
    if abs(surv[i] - 0.5) <= KM_TOLERANCE and i + 1 < len(times):
        return float((times[i] + times[i + 1]) / 2), ""
    return float(times[i]), ""


def km_median(
    durations: np.ndarray, observed: np.ndarray, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Kaplan-Meier median of right-censored durations (``km_median_point``, the conventional
    definition), with statsmodels' ``SurvfuncRight.quantile_ci`` interval (inverted tests on
    the cloglog scale; its limits are observed event times).

    Returns NaN where the survival curve never drops to 0.5 (fewer than half observed)."""
    median, _ = km_median_point(durations, observed)
    if math.isnan(median):
        return math.nan, math.nan, math.nan
    from statsmodels.duration.survfunc import SurvfuncRight

    sf = SurvfuncRight(np.asarray(durations, float), np.asarray(observed, int))
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) at S(t) = 1 in tiny samples
        low, high = sf.quantile_ci(0.5, alpha=alpha)
    low = math.nan if low is None else float(low)
    high = math.nan if high is None else float(high)
    return median, low, high


def _none_if_nan(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def duration_summary(
    durations_h: np.ndarray,
    observed: np.ndarray,
    alpha: float = 0.05,
    *,
    status: Status = "ok",
    message: str = "",
    extra: dict | None = None,
) -> DurationResult:
    """Mean, median and p90 of the observed durations (hours), and a Kaplan-Meier median over
    observed plus right-censored ones (``km_median``; when it has none, ``km_median_note`` in
    ``extra`` says why). ``insufficient_data`` when nothing was observed."""
    # Sorted first, so the floating-point sums do not depend on input row order.
    order = np.lexsort((np.asarray(observed, bool), np.asarray(durations_h, float)))
    durations_h = np.asarray(durations_h, float)[order]
    observed = np.asarray(observed, bool)[order]
    seen = durations_h[observed]
    n_cens = int((~observed).sum())
    # Results carry None, never NaN, for "no value" (JSON, charts and sentences rely on it).
    km, km_lo, km_hi = (_none_if_nan(v) for v in km_median(durations_h, observed, alpha))
    if km is None and len(durations_h):
        # Why there is no Kaplan-Meier median (JSON ``km_median_note``).
        extra = {**(extra or {}), "km_median_note": km_median_point(durations_h, observed)[1]}
    if len(seen) == 0:
        return DurationResult(
            None,
            None,
            None,
            0,
            n_cens,
            km,
            km_lo,
            km_hi,
            status="insufficient_data",
            message=message or ("nothing observed yet" if n_cens else "no cases in the period"),
            extra=extra or {},
        )
    mean = float(seen.mean())
    if len(seen) > 1:
        half = sps.t.ppf(1 - alpha / 2, len(seen) - 1) * seen.std(ddof=1) / math.sqrt(len(seen))
        lo, hi = max(0.0, float(mean - half)), float(mean + half)
    else:
        lo, hi = None, None
    return DurationResult(
        mean,
        quantile(seen, 0.5),
        quantile(seen, 0.9),
        int(len(seen)),
        n_cens,
        km,
        km_lo,
        km_hi,
        lo,
        hi,
        status=status,
        message=message,
        extra=extra or {},
    )
