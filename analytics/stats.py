"""Small statistical building blocks shared by the KPI modules."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from analytics.results import DurationResult, RateResult, Status


def wilson(numerator: int, denominator: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of a proportion (statsmodels ``method="wilson"``)."""
    low, high = proportion_confint(numerator, denominator, alpha=alpha, method="wilson")
    # The closed form leaves rounding dust (1e-17) at the edges; the exact bounds are 0 and 1.
    low = 0.0 if numerator == 0 else max(0.0, float(low))
    high = 1.0 if numerator == denominator else min(1.0, float(high))
    return low, high


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


def km_median(
    durations: np.ndarray, observed: np.ndarray, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Kaplan-Meier median of right-censored durations, with its interval (statsmodels).

    Returns NaN where the survival curve never drops to 0.5 (fewer than half observed)."""
    if len(durations) == 0 or not np.any(observed):
        return math.nan, math.nan, math.nan
    from statsmodels.duration.survfunc import SurvfuncRight

    sf = SurvfuncRight(np.asarray(durations, float), np.asarray(observed, int))
    median = float(sf.quantile(0.5))
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
    observed plus right-censored ones. ``insufficient_data`` when nothing was observed."""
    # Sorted first, so the floating-point sums do not depend on input row order.
    order = np.lexsort((np.asarray(observed, bool), np.asarray(durations_h, float)))
    durations_h = np.asarray(durations_h, float)[order]
    observed = np.asarray(observed, bool)[order]
    seen = durations_h[observed]
    n_cens = int((~observed).sum())
    # Results carry None, never NaN, for "no value" (JSON, charts and sentences rely on it).
    km, km_lo, km_hi = (_none_if_nan(v) for v in km_median(durations_h, observed, alpha))
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
