"""Interval and test methods (Wilson, Newcombe / MOVER, MOVER-R, Fieller, Welch) and multiplicity
adjustments (Holm, Benjamini-Hochberg).

The methods statsmodels also has are written here vectorised (many rows at once, fractional
effective counts, NaN entries left out of a family); ``tests/test_stats.py`` checks them against
statsmodels on a grid: ``wilson`` / ``wilson_bounds`` against ``proportion_confint(method=
"wilson")`` (equal to the last bit for whole counts), ``rate_contrast_bounds`` with ``c = 1``
against ``confint_proportions_2indep(method="newcomb")``, ``holm`` and ``benjamini_hochberg``
against ``multipletests(method="holm")`` and ``"fdr_bh"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from scipy import stats as sps


def wilson_bounds(x: Any, n: Any, z: Any) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of ``x`` events in ``n`` trials at normal multiplier ``z``
    (vectorised; ``x`` and ``n`` may be fractional effective counts)."""
    x, n, z = (np.asarray(a, dtype=float) for a in (x, n, z))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        z2 = z * z
        denom = 1 + z2 / n
        centre = (p + z2 / (2 * n)) / denom
        half = z * np.sqrt(np.clip(p * (1 - p), 0, None) / n + z2 / (4 * n * n)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def wilson(numerator: int, denominator: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score (1 - ``alpha``) interval of ``numerator`` events in ``denominator`` trials:
    ``wilson_bounds`` at ``z = norm.isf(alpha / 2)``, with the exact bounds 0 (no event) and 1
    (every trial an event) where the closed form leaves rounding dust (1e-17) at the edges."""
    lows, highs = wilson_bounds(numerator, denominator, sps.norm.isf(alpha / 2))
    low = 0.0 if numerator == 0 else float(lows)
    high = 1.0 if numerator == denominator else float(highs)
    return low, high


def rate_contrast_bounds(
    p_new: Any, n_new: Any, p_ref: Any, n_ref: Any, c: Any, z: Any
) -> tuple[np.ndarray, np.ndarray]:
    """MOVER (Newcombe hybrid score) bounds of ``p_new - c * p_ref`` (c >= 0) from the two
    arms' Wilson intervals at multiplier ``z``; ``n_*`` are (effective) sample sizes."""
    p_new, p_ref, c = (np.asarray(a, dtype=float) for a in (p_new, p_ref, c))
    ln, un = wilson_bounds(p_new * np.asarray(n_new, float), n_new, z)
    lr, ur = wilson_bounds(p_ref * np.asarray(n_ref, float), n_ref, z)
    est = p_new - c * p_ref
    low = est - np.sqrt((p_new - ln) ** 2 + (c * (ur - p_ref)) ** 2)
    high = est + np.sqrt((un - p_new) ** 2 + (c * (p_ref - lr)) ** 2)
    return low, high


def mean_contrast_bounds(
    m_new: Any, v_new: Any, m_ref: Any, v_ref: Any, c: Any, z: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of ``m_new - c * m_ref`` with the variances of the two (independent) means."""
    m_new, v_new, m_ref, v_ref, c, z = (
        np.asarray(a, dtype=float) for a in (m_new, v_new, m_ref, v_ref, c, z)
    )
    est = m_new - c * m_ref
    half = z * np.sqrt(v_new + c * c * v_ref)
    return est - half, est + half


def welch_df(v_new: Any, d_new: Any, v_ref: Any, d_ref: Any, c: Any = 1.0) -> np.ndarray:
    """Satterthwaite degrees of freedom of ``m_new - c * m_ref`` (``d`` = sum over strata of
    (w^2 s^2 / n)^2 / (n - 1))."""
    v_new, d_new, v_ref, d_ref, c = (
        np.asarray(a, dtype=float) for a in (v_new, d_new, v_ref, d_ref, c)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (v_new + c**2 * v_ref) ** 2 / (d_new + c**4 * d_ref)
    return np.where(np.isfinite(df) & (df > 0), df, 1e9)


def _bisect(fn: Any, lo: np.ndarray, hi: np.ndarray, iters: int = 100) -> np.ndarray:
    """Root of elementwise decreasing ``fn`` in [lo, hi] (fn(lo) > 0 >= fn(hi) assumed)."""
    lo, hi = lo.astype(float).copy(), hi.astype(float).copy()
    for _ in range(iters):
        mid = (lo + hi) / 2
        pos = fn(mid) > 0
        lo = np.where(pos, mid, lo)
        hi = np.where(pos, hi, mid)
    return (lo + hi) / 2


Z_MAX = 40.0


def rate_signed_z(
    p_new: Any, n_new: Any, p_ref: Any, n_ref: Any, c: Any, offset: Any = 0.0
) -> np.ndarray:
    """The signed normal multiplier at which the MOVER interval of ``p_new - c * p_ref - offset``
    just reaches 0 (positive when the estimate is above 0): inverting the interval gives the
    one-sided p-value ``norm.sf(direction * z)`` for ``direction * (p_new - c * p_ref - offset)
    > 0``."""
    p_new, n_new, p_ref, n_ref, c, offset = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (p_new, n_new, p_ref, n_ref, c, offset))
    )
    est = p_new - c * p_ref - offset
    pos = est > 0

    def gap(z: np.ndarray) -> np.ndarray:
        low, high = rate_contrast_bounds(p_new, n_new, p_ref, n_ref, c, z)
        return np.where(pos, low - offset, offset - high)

    lo = np.zeros_like(est)
    hi = np.full_like(est, Z_MAX)
    zstar = np.where(gap(hi) > 0, Z_MAX, _bisect(gap, lo, hi, 48))
    return np.where(est == 0, 0.0, np.where(pos, zstar, -zstar))


def rate_p_value(
    p_new: Any, n_new: Any, p_ref: Any, n_ref: Any, c: Any, direction: Any
) -> np.ndarray:
    """One-sided p-value for ``direction * (p_new - c * p_ref) > 0`` by inverting the MOVER
    interval (the level at which its bound just reaches 0); vectorised."""
    return sps.norm.sf(np.asarray(direction, float) * rate_signed_z(p_new, n_new, p_ref, n_ref, c))


def rate_ratio_bounds(
    p_new: Any, n_new: Any, p_ref: Any, n_ref: Any, z: Any
) -> tuple[np.ndarray, np.ndarray]:
    """MOVER-R interval of the ratio ``p_new / p_ref`` (Donner & Zou 2012) from the Wilson
    intervals: the ratios at which the MOVER bounds of ``p_new - rho * p_ref`` reach 0. The
    upper limit is inf when the reference's lower Wilson limit is 0."""
    p1, p2 = np.asarray(p_new, float), np.asarray(p_ref, float)
    l1, u1 = wilson_bounds(p1 * np.asarray(n_new, float), n_new, z)
    l2, u2 = wilson_bounds(p2 * np.asarray(n_ref, float), n_ref, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        a_low = u2 * (2 * p2 - u2)
        disc = np.clip((p1 * p2) ** 2 - l1 * u2 * (2 * p1 - l1) * (2 * p2 - u2), 0, None)
        lower = np.where(
            a_low == 0,
            l1 * (2 * p1 - l1) / (2 * p1 * p2),
            (p1 * p2 - np.sqrt(disc)) / a_low,
        )
        lower = np.where(l1 <= 0, 0.0, lower)
        a_up = l2 * (2 * p2 - l2)
        disc = np.clip((p1 * p2) ** 2 - u1 * l2 * (2 * p1 - u1) * (2 * p2 - l2), 0, None)
        upper = np.where(a_up > 0, (p1 * p2 + np.sqrt(disc)) / a_up, np.inf)
    return lower, upper


def fieller_bounds(
    m_new: Any, v_new: Any, m_ref: Any, v_ref: Any, t: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Fieller's interval of the ratio ``m_new / m_ref`` of two independent means: the ratios
    rho with ``|m_new - rho * m_ref| <= t * sqrt(v_new + rho^2 v_ref)``. NaN when unbounded (the
    reference mean is not distinguishable from 0); the lower limit is clipped at 0."""
    m1, v1, m2, v2, t = (np.asarray(x, float) for x in (m_new, v_new, m_ref, v_ref, t))
    a = m2 * m2 - t * t * v2
    c = m1 * m1 - t * t * v1
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(np.clip((m1 * m2) ** 2 - a * c, 0, None))
        lower = np.where(a > 0, np.clip((m1 * m2 - root) / a, 0, None), np.nan)
        upper = np.where(a > 0, (m1 * m2 + root) / a, np.nan)
    return lower, upper


def _step_adjusted(p: Sequence[float] | np.ndarray, step: Any) -> np.ndarray:
    """Adjusted p-values of one family: ``step(sorted_p, m)`` maps the m finite p-values in
    ascending order to their adjusted values (capped at 1 here); NaN entries are left out of the
    family and stay NaN. Ties keep their input order (a stable sort)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    out[order] = np.minimum(1.0, step(p[order], m))
    return out


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN entries are left out and stay NaN)."""
    return _step_adjusted(p, lambda s, m: np.maximum.accumulate((m - np.arange(m)) * s))


def benjamini_hochberg(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (NaN entries stay NaN)."""
    return _step_adjusted(
        p, lambda s, m: np.minimum.accumulate((s * m / np.arange(1, m + 1))[::-1])[::-1]
    )


def adjust(p: Sequence[float] | np.ndarray, method: str) -> np.ndarray:
    """Adjusted p-values of one family by ``holm`` or ``bh``."""
    return holm(p) if method == "holm" else benjamini_hochberg(p)


def _adjust_groups(frame: pl.DataFrame, by: Sequence[str], column: str, method: str) -> np.ndarray:
    """Adjust ``column`` within the groups ``by`` (families), in the frame's row order."""
    p = frame[column].to_numpy().astype(float)
    out = np.full_like(p, np.nan)
    if frame.height == 0:
        return out
    groups = frame.select(pl.struct(list(by)).rank("dense").alias("g"))["g"].to_numpy()
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    for idx in np.split(order, bounds):
        out[idx] = adjust(p[idx], method)
    return out


def _sf(x: np.ndarray) -> np.ndarray:
    out = sps.norm.sf(x)
    return np.where(np.isnan(out), np.nan, out)


def _mean_z(diff: np.ndarray, var: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var > 0, diff / np.sqrt(var), np.sign(diff) * np.inf)


def welch_t_df(v_new: Any, n_new: Any, v_ref: Any, n_ref: Any, c: Any) -> np.ndarray:
    """Satterthwaite degrees of freedom of ``new - c * reference`` from the two variances and
    the arms' (effective) sizes: ``(v_new + c^2 v_ref)^2 / (v_new^2 / (n_new - 1) + c^4 v_ref^2
    / (n_ref - 1))``; large when undefined. (``welch_df`` with one stratum per arm, written out:
    routed through it, ``c^4 (v_ref^2 / (n_ref - 1))`` rounds differently in the last bit.)"""
    vn, nn, vr, nr, c = (np.asarray(x, float) for x in (v_new, n_new, v_ref, n_ref, c))
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (vn + c * c * vr) ** 2 / (vn**2 / (nn - 1) + c**4 * vr**2 / (nr - 1))
    return np.where(np.isfinite(df) & (df > 0), df, 1e9)


def _t_as_z(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """The normal quantile with the same upper tail as ``t`` on ``df`` degrees of freedom."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(t), t, -sps.norm.ppf(sps.t.sf(t, df)))
