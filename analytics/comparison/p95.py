"""p95 latency: the reference histogram standardised to the new arm's mix, a seeded bootstrap at
the last look.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from analytics.comparison.decisions import _LOOK_EXTRA
from analytics.comparison.looks import segment_codes, target_slices
from analytics.comparison.metrics import ARMS, P95, P95_METRIC, ComparisonSettings, MetricRule
from analytics.comparison.segments import _INFER_COLUMNS
from analytics.comparison.windows import _day_rows
from analytics.core.schemas import SEGMENT_COLUMNS
from analytics.data.rollup import (
    histogram_quantile,
    latency_bin_values,
)


def _seed(seed: int, *parts: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, *[zlib.crc32(p.encode()) for p in parts]])


def bootstrap_quantile(
    bins: np.ndarray,
    probs: np.ndarray,
    n: int,
    q: float,
    samples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``samples`` bootstrap replicates of the ``q`` quantile (ms) of a latency histogram: the
    quantile (as ``histogram_quantile`` takes it) of ``n`` cases resampled from ``bins`` with
    probabilities ``probs`` (a multinomial resample).

    The replicates are drawn exactly, without materialising the resample: a resample's quantile
    is its k-th smallest case, ``k = ceil(q n)``, and the k-th smallest of ``n`` independent
    draws from the histogram's distribution F is ``F^-1(U)`` with ``U ~ Beta(k, n - k + 1)``
    (the k-th uniform order statistic), ``F^-1(u)`` being the first bin whose cumulative share
    reaches ``u``. One Beta draw per replicate instead of ``n`` multinomial cells."""
    order = np.argsort(bins)
    bins = np.asarray(bins)[order]
    probs = np.asarray(probs, float)[order]
    cum = np.cumsum(probs) / probs.sum()
    cum[-1] = 1.0
    k = max(1, min(n, math.ceil(q * n - 1e-12 * n)))
    u = rng.beta(k, n - k + 1, size=samples)
    idx = np.minimum(np.searchsorted(cum, u, side="left"), len(cum) - 1)
    return latency_bin_values()[bins[idx]]


_P95_SCHEMA: dict[str, pl.DataType] = {
    "target": pl.String(),
    "N_new": pl.Float64(),
    "N_ref": pl.Float64(),
    "naive_new_value": pl.Float64(),
    "naive_ref_value": pl.Float64(),
    "naive_estimate": pl.Float64(),
    **{k: pl.Float64() for k in _INFER_COLUMNS},
    **{
        k: pl.Float64()
        for k in _LOOK_EXTRA
        if k not in ("naive_new_value", "naive_ref_value", "naive_estimate")
    },
    "standardised_share": pl.Float64(),
    "n_eff_ref": pl.Float64(),
}


def _p95(
    latency: pl.DataFrame,
    arm_days: pl.DataFrame,
    cfg: ComparisonSettings,
    rule: MetricRule,
    go: tuple[float, float],
) -> pl.DataFrame:
    """The p95-latency rows at each release's last look: the reference histogram standardised to
    the new arm's segment mix with the same collapse as the other metrics (no day matching: a
    quantile has no additive day term), percentile bootstrap at the arms' effective sizes."""
    rows_lf = _day_rows(latency, arm_days).select(
        "target", "arm", *SEGMENT_COLUMNS, "latency_bin", "n"
    )
    # sorted on every column: the join does not keep row order (one segment's bin on several
    # days makes several rows), and float sums must not depend on it
    frame = rows_lf.sort(["target", "arm", *SEGMENT_COLUMNS, "latency_bin", "n"]).collect()
    # segment codes once for all releases, then one numpy slice per release
    all_seg, maps = segment_codes(frame, cfg.collapse_order)
    all_new = (frame["arm"] == "new").to_numpy()
    all_n = frame["n"].cast(pl.Float64).to_numpy()
    all_bins = frame["latency_bin"].cast(pl.Int64).to_numpy()
    targets = frame["target"].to_numpy()
    out = []
    for a, b in target_slices(targets):
        levels = [m[all_seg[a:b]] for m in maps]
        h = _Histograms(str(targets[a]), all_new[a:b], all_n[a:b], all_bins[a:b], levels)
        out.append(_release_row(h, cfg, rule, go))
    frame_out = pl.DataFrame(out, schema=_P95_SCHEMA) if out else pl.DataFrame(schema=_P95_SCHEMA)
    return frame_out.with_columns(
        pl.lit(P95_METRIC).alias("metric"),
        pl.lit(rule.role).alias("role"),
        pl.lit(rule.worse).alias("worse"),
        pl.lit(rule.margin).alias("margin"),
        pl.lit("quantile").alias("kind"),
    )


@dataclass(frozen=True)
class _Histograms:
    """One release's latency histogram rows (both arms): per row the arm (``new``), the cases
    ``n``, the latency bin and, per collapse level, the row's stratum code (``levels``)."""

    target: str
    new: np.ndarray
    n: np.ndarray
    bins: np.ndarray
    levels: list[np.ndarray]


def _release_row(
    h: _Histograms, cfg: ComparisonSettings, rule: MetricRule, go: tuple[float, float]
) -> dict[str, Any]:
    """One release's p95 row: the naive quantiles always, the standardised contrast and its
    bootstrap inference when both arms have cases."""
    new, n = h.new, h.n
    n_new, n_ref = float(n[new].sum()), float(n[~new].sum())
    row: dict[str, Any] = {"target": h.target, "N_new": n_new, "N_ref": n_ref}
    naive = {
        arm: histogram_quantile(h.bins[mask], n[mask], P95) if n[mask].sum() > 0 else math.nan
        for arm, mask in (("new", new), ("ref", ~new))
    }
    row["naive_new_value"], row["naive_ref_value"] = naive["new"], naive["ref"]
    row["naive_estimate"] = naive["new"] - naive["ref"]
    if n_new <= 0 or n_ref <= 0:
        return row
    per_case, kish_k, share0 = _standardised_weights(h, n_new, cfg.min_cases_per_segment)
    probs = {
        "new": np.bincount(h.bins[new], weights=n[new]),
        "ref": np.bincount(h.bins[~new], weights=per_case[~new] * n[~new]),
    }
    sizes = {"new": n_new, "ref": 1.0 / kish_k if kish_k > 0 else 0.0}
    est: dict[str, float] = {}
    draws: dict[str, np.ndarray] = {}
    for arm in ARMS:
        pr = probs[arm]
        idx = np.flatnonzero(pr > 0)
        if idx.size == 0 or sizes[arm] < 1:
            return row
        est[arm] = histogram_quantile(idx, pr[idx], P95)
        rng = np.random.default_rng(_seed(cfg.seed, h.target, arm, P95_METRIC))
        draws[arm] = bootstrap_quantile(
            idx, pr[idx], int(round(sizes[arm])), P95, cfg.bootstrap_samples, rng
        )
    row.update(_bootstrap_inference(est, draws, cfg.alpha, rule, go))
    row.update(standardised_share=share0, n_eff_ref=sizes["ref"])
    return row


def _standardised_weights(
    h: _Histograms, n_new: float, min_cases: int
) -> tuple[np.ndarray, float, float]:
    """The reference histogram standardised to the new arm's segment mix, with the same
    collapse as the other metrics: per row the weight of one reference case (0 on new-arm
    rows), the Kish sum ``sum w^2 / n`` (the reference's effective size is its inverse) and the
    share of the new arm's cases standardised on their own segment. A segment takes the finest
    stratum with at least ``min_cases`` reference cases."""
    new, n, levels = h.new, h.n, h.levels
    ref_cnt = [np.bincount(lv, weights=np.where(new, 0.0, n)) for lv in levels]
    last = len(levels) - 1
    lev = np.full(len(n), last)
    for lvl in range(last - 1, -1, -1):
        lev = np.where(ref_cnt[lvl][levels[lvl]] >= min_cases, lvl, lev)
    per_case = np.zeros(len(n))
    kish_k = 0.0
    share0 = float(n[new & (lev == 0)].sum() / n_new)
    for lvl, lv in enumerate(levels):
        at = new & (lev == lvl)
        if not at.any():
            continue
        omega = np.bincount(lv[at], weights=n[at] / n_new, minlength=len(ref_cnt[lvl]))
        with np.errstate(divide="ignore", invalid="ignore"):
            pc = np.where(ref_cnt[lvl] > 0, omega / ref_cnt[lvl], 0.0)
            kish_k += float(np.where(ref_cnt[lvl] > 0, omega**2 / ref_cnt[lvl], 0.0).sum())
        per_case += np.where(~new, pc[lv], 0.0)
    return per_case, kish_k, share0


def _bootstrap_inference(
    est: dict[str, float],
    draws: dict[str, np.ndarray],
    alpha: float,
    rule: MetricRule,
    go: tuple[float, float],
) -> dict[str, float]:
    """Estimate, percentile intervals (difference and ratio), one-sided bootstrap p-values
    (worse beyond the margin, better, non-inferior against the go margin ``go = (c, offset)``)
    and standard errors from the two arms' bootstrap replicates of the p95."""
    c, s = rule.factor, rule.sign
    gc, goff = go
    dn, dr = draws["new"], draws["ref"]
    diff = dn - dr
    theta = s * (dn - c * dr)
    theta_go = s * (dn - gc * dr - goff)
    lo, hi = np.quantile(diff, [alpha / 2, 1 - alpha / 2])
    rlo, rhi = np.quantile(dn / dr - 1, [alpha / 2, 1 - alpha / 2])
    b1 = len(diff) + 1
    return {
        "new_value": est["new"],
        "ref_value": est["ref"],
        "estimate": est["new"] - est["ref"],
        "ci_low": float(lo),
        "ci_high": float(hi),
        "relative": est["new"] / est["ref"] - 1,
        "relative_ci_low": float(rlo),
        "relative_ci_high": float(rhi),
        "margin_abs": s * rule.margin * est["ref"],
        "p_worse": (1 + np.count_nonzero(theta <= 0)) / b1,
        "p_better": (1 + np.count_nonzero(s * diff >= 0)) / b1,
        "p_noninf": (1 + np.count_nonzero(theta_go >= 0)) / b1,
        "p_value": min(
            1.0, 2 * (1 + min(np.count_nonzero(diff <= 0), np.count_nonzero(diff >= 0))) / b1
        ),
        "se": float(np.std(diff, ddof=1)),
        "se_margin": float(np.std(theta, ddof=1)),
        "se_go": float(np.std(theta_go, ddof=1)),
        "go_estimate": s * (est["new"] - gc * est["ref"] - goff),
        "noninferiority_margin_abs": abs((gc - 1) * est["ref"] + goff),
    }
