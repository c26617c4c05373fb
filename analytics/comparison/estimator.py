"""The standardised version contrast of one release at one look: pure numpy, no I/O.

``analytics.comparison`` cuts the telemetry rollup into *cells* (one arm, one UTC day, one
segment = task_type x criticality x language x customer_segment, with the sums of each metric)
and asks this module, for every daily look, "what would the reference version have done on the
traffic the new version served, and how sure are we?". The answer is a *linear* estimator: the
new arm's plain mean minus a weighted sum of the reference arm's cases, with the weights a
function of the cell counts only, so its variance, its Kish effective size and its design-effect
effective size follow from the same weights.

**Target.** The new version's traffic: ``theta = mean_new - R``, ``R`` the reference version's
expected value on the new arm's (day, segment) mix.

**Sparse segments (collapse).** A segment the new version served is standardised on its own
whenever the reference arm served it at all (at least one case of the metric: the stratum mean is
then unbiased for the new arm's mix, however noisy); a segment the reference never served borrows
the reference mean of the first coarser stratum it did serve, dropping segment columns in
``comparison.collapse_order`` (default customer_segment, language, criticality, task_type; the
last level is the whole arm). The per-case *variance* of a segment comes from the first stratum
with at least ``k`` (``comparison.min_cases_per_segment``) reference cases, so a one-case stratum
does not claim zero variance. No segment is pooled into an unweighted "other" stratum, and every
case of the new arm keeps its weight. ``standardised_share`` is the share of the new arm's cases
standardised on their own segment; ``share_by_level`` the shares at each level. (Collapsing the
*mean* as soon as a segment had fewer than ``k`` cases was tried and biased the unit-cost
contrast under a canary that serves harder traffic: the sparse segments are exactly the ones the
canary over-serves.)

**Day matching (concurrent control).** With the reference version serving on the same days (a
canary beside the old version), the reference value of a new case on day ``d`` in segment ``s`` is
``m(g(s)) + delta_d``: the stratum mean over the concurrent days plus the reference arm's own
deviation on that day from what its segment mix predicts (one step of an additive day + stratum
model). A shock shared by both versions on day ``d`` moves both terms alike and cancels, so shared
day-level noise neither biases the contrast nor needs to be in its variance. Without concurrent
days (an immediate 100 % rollout) the reference is the pre-release window, ``delta`` is absent,
and a between-day variance component (one-way random-effects moment estimator, pooled over both
arms) is added, because day shocks then do not cancel.

**Variance** (conditional on the cell counts, i.e. on the served mix): the new arm's mean has its
plain variance ``s^2 / N`` (rates: ``p (1 - p) / N``), a slight over-statement of the variance
given the mix; the reference value ``R = sum_i a_i y_i`` has ``sum_cells a_c^2 n_c sigma_c^2``
with ``sigma_c^2`` the per-case variance of the cell's stratum (rates: the stratum's rate shrunk
towards ``R`` by two pseudo-cases, so a stratum without events does not claim zero variance).
For rates the reference's effective size is ``R (1 - R) / Var(R)`` (a design effect; Kish's
``1 / sum a^2 n`` when ``R`` is 0 or 1), for the Wilson / MOVER interval in
``analytics.comparison``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PSEUDO_CASES = 2.0  # shrinkage of a stratum's rate towards R for its variance


@dataclass(frozen=True)
class CellTable:
    """The cells of one release's comparison (both arms), as numpy arrays.

    ``new``: True for the new arm; ``day``: day number (any integer day index); ``seg``: the
    cell's segment code (0 .. S-1); ``level_maps``: ``level_maps[l]`` maps a segment code to its
    stratum code at collapse level ``l`` (level 0 = the segment itself, the last level one
    stratum for all); ``n``: cases; ``cnt``/``s1``/``s2``: per row (first axis: a metric, or a
    (look, metric) pair in a batch) the cases with the metric, their sum and sum of squares."""

    new: np.ndarray
    day: np.ndarray
    seg: np.ndarray
    level_maps: tuple[np.ndarray, ...]
    n: np.ndarray
    cnt: np.ndarray
    s1: np.ndarray
    s2: np.ndarray


def _gsum(codes: np.ndarray, groups: int, values: np.ndarray) -> np.ndarray:
    """Batched group sums: ``values`` (B, C) summed by ``codes`` (C,) into (B, groups)."""
    batch = values.shape[0]
    flat = (np.arange(batch)[:, None] * groups + codes[None, :]).ravel()
    out = np.bincount(flat, weights=values.ravel(), minlength=batch * groups)
    return out.reshape(batch, groups)


def _codes(x: np.ndarray) -> tuple[np.ndarray, int]:
    codes = np.unique(x, return_inverse=True)[1].astype(np.int64)
    return codes, int(codes.max(initial=-1)) + 1


def _day_variance(
    dcodes: np.ndarray, days: int, cnt: np.ndarray, resid: np.ndarray, within: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Batched one-way random-effects moment estimate of the between-day variance of one arm:
    from the day means of its residuals (each case's value minus its stratum's mean, so a day
    that served harder traffic is not a shock) and the per-case ``within`` variance.
    Returns (tau^2 * (D - 1), D - 1) per batch row, to be pooled over arms; zero where the arm
    spans one day."""
    nd = _gsum(dcodes, days, cnt)
    rs = _gsum(dcodes, days, resid)
    ndays = (nd > 0).sum(axis=1).astype(float)
    total = nd.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = rs.sum(axis=1) / total
        md = np.where(nd > 0, rs / nd, 0.0)
        msb = (nd * (md - mean[:, None]) ** 2).sum(axis=1) / (ndays - 1)
        n0 = (total - (nd * nd).sum(axis=1) / total) / (ndays - 1)
        tau2 = np.clip((msb - within) / n0, 0.0, None)
    ok = (ndays >= 2) & (total > ndays) & (n0 > 0)
    return np.where(ok, tau2 * (ndays - 1), 0.0), np.where(ok, ndays - 1, 0.0)


def _day_matching(
    dcodes: np.ndarray,
    ndays: int,
    cr: np.ndarray,
    s1r: np.ndarray,
    s2r: np.ndarray,
    m_cell: np.ndarray,
    rd: np.ndarray,
    wd: np.ndarray,
    is_rate: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """How much of each day's own deviation to match, and the variance of what is left.

    ``delta_d``, the reference arm's deviation on day ``d`` from what its segment mix predicts,
    carries both a shared day shock (variance ``tau^2``) and sampling noise (``v_d``). Matching
    it fully removes the shock but adds the noise; the empirical-Bayes weight ``lambda_d = tau^2
    / (tau^2 + v_d)`` matches as much as the data show is there (``tau^2`` by the method of
    moments over the concurrent days). The shock left unmatched adds ``tau^2 sum_d c_d^2`` to the
    variance, ``c_d = w_d (1 - lambda_d) - rho_d (1 - sum_d' lambda_d' w_d')`` with ``w``/``rho``
    the new / reference arm's day shares. Without shocks ``lambda`` is 0 and nothing is added
    (post-stratification over the days); with strong shocks ``lambda`` is 1 (full matching)."""
    n_ref = rd.sum(axis=1)
    safe = np.where(rd > 0, rd, 1.0)
    ybar = _gsum(dcodes, ndays, s1r) / safe
    pred = _gsum(dcodes, ndays, cr * m_cell) / safe
    delta = np.where(rd > 0, ybar - pred, 0.0)
    mean = s1r.sum(axis=1) / np.where(n_ref > 0, n_ref, 1.0)
    var = np.where(
        is_rate,
        mean * (1 - mean),
        np.clip((s2r.sum(axis=1) - n_ref * mean**2) / np.maximum(n_ref - 1, 1), 0, None),
    )
    v_d = np.where(rd > 0, var[:, None] / safe, np.inf)
    rho = rd / np.where(n_ref > 0, n_ref, 1.0)[:, None]
    active = rd > 0
    denom = 1 - (rho**2).sum(axis=1)
    num = (np.where(active, rho * delta**2, 0.0)).sum(axis=1) - np.where(
        active, rho * np.where(np.isfinite(v_d), v_d, 0.0), 0.0
    ).sum(axis=1)
    tau2 = np.where(denom > 1e-9, np.clip(num / np.where(denom > 1e-9, denom, 1.0), 0, None), 0.0)
    lam = np.where(active & (tau2[:, None] > 0), tau2[:, None] / (tau2[:, None] + v_d), 0.0)
    kept = (lam * wd).sum(axis=1)
    c = wd * (1 - lam) - rho * (1 - kept)[:, None]
    return lam, np.nan_to_num(tau2 * (c**2).sum(axis=1))


def _new_variance(
    cn_s: np.ndarray,
    s1_s: np.ndarray,
    s2_s: np.ndarray,
    maps: Sequence[np.ndarray],
    sizes: Sequence[int],
    at_level: Sequence[np.ndarray],
    m_new: np.ndarray,
    var_new: np.ndarray,
    is_rate: np.ndarray,
) -> np.ndarray:
    """``sum_s n_s sigma_s^2 / N`` for the new arm: its per-case variance within the strata its
    segments are standardised on (conditional on the served mix, as post-stratification), rates
    shrunk towards the arm's mean by two pseudo-cases, means falling back to the arm's variance
    in a stratum with fewer than two cases."""
    sig2 = np.zeros(cn_s.shape)
    for lvl, m in enumerate(maps):
        c = _gsum(m, sizes[lvl], cn_s)
        q1 = _gsum(m, sizes[lvl], s1_s)
        q2 = _gsum(m, sizes[lvl], s2_s)
        p = (q1 + PSEUDO_CASES * m_new[:, None]) / (c + PSEUDO_CASES)
        v_mean = np.where(
            c >= 2,
            (q2 - q1 * q1 / np.where(c > 0, c, 1.0)) / np.maximum(c - 1, 1),
            var_new[:, None],
        )
        v = np.where(is_rate[:, None], p * (1 - p), np.clip(v_mean, 0, None))
        sig2 = np.where(at_level[lvl], v[:, m], sig2)
    return (cn_s * sig2).sum(axis=1)


@dataclass(frozen=True)
class _Arms:
    """One batch's cells split into the two arms: per cell (B, C) each arm's cases with the
    metric, their sum and sum of squares (0 outside the arm or where the cell has no case of the
    metric), the arm totals (B,) and the same sums per segment (B, S)."""

    new: np.ndarray
    ref: np.ndarray
    cn: np.ndarray
    cr: np.ndarray
    s1n: np.ndarray
    s1r: np.ndarray
    s2n: np.ndarray
    s2r: np.ndarray
    n_new: np.ndarray
    n_ref: np.ndarray
    cn_s: np.ndarray
    cr_s: np.ndarray
    s1n_s: np.ndarray
    s1r_s: np.ndarray
    s2n_s: np.ndarray
    s2r_s: np.ndarray


def _split_arms(cells: CellTable, new_mask: np.ndarray, ref_mask: np.ndarray) -> _Arms:
    """The arms' cells and their per-segment sums (everything else works on these)."""
    has = cells.cnt > 0
    new = new_mask & has
    ref = ref_mask & has
    cn = np.where(new, cells.cnt, 0.0)
    cr = np.where(ref, cells.cnt, 0.0)
    s1n = np.where(new, cells.s1, 0.0)
    s1r = np.where(ref, cells.s1, 0.0)
    s2n = np.where(new, cells.s2, 0.0)
    s2r = np.where(ref, cells.s2, 0.0)
    seg, n_seg = cells.seg, len(cells.level_maps[0])
    cr_s, s1r_s, s2r_s = (_gsum(seg, n_seg, x) for x in (cr, s1r, s2r))
    cn_s, s1n_s, s2n_s = (_gsum(seg, n_seg, x) for x in (cn, s1n, s2n))
    return _Arms(
        new, ref, cn, cr, s1n, s1r, s2n, s2r, cn.sum(axis=1), cr.sum(axis=1),
        cn_s, cr_s, s1n_s, s1r_s, s2n_s, s2r_s,
    )  # fmt: skip


@dataclass(frozen=True)
class _Strata:
    """The reference arm's sums per stratum at each collapse level (``cnt``/``s1``/``s2``, one
    (B, G_l) table per level) and, per segment (B, S), the level its mean comes from
    (``mean_at``: the finest stratum the reference served at all, unbiased for the new mix) and
    the level its per-case variance comes from (``var_at``: the finest with at least k reference
    cases, so a one-case stratum does not claim zero variance)."""

    maps: tuple[np.ndarray, ...]
    sizes: list[int]
    cnt: list[np.ndarray]
    s1: list[np.ndarray]
    s2: list[np.ndarray]
    mean_at: list[np.ndarray]
    var_at: list[np.ndarray]

    def gather(self, tables: Sequence[np.ndarray], where: Sequence[np.ndarray]) -> np.ndarray:
        """Per segment (B, S), the value of ``tables`` at the level ``where`` selects."""
        out = np.zeros(self.mean_at[0].shape)
        for lvl, table in enumerate(tables):
            out = np.where(where[lvl], table[:, self.maps[lvl]], out)
        return out

    def means(self) -> list[np.ndarray]:
        """The reference mean of every stratum at every level (0 where it has no case)."""
        return [np.where(c > 0, q / c, 0.0) for q, c in zip(self.s1, self.cnt, strict=True)]


def _strata(cells: CellTable, arms: _Arms, k: float) -> _Strata:
    """Collapse the reference arm's segment sums to every level and pick each segment's levels."""
    maps = cells.level_maps
    sizes = [int(m.max(initial=-1)) + 1 for m in maps]
    cnt = [_gsum(m, g, arms.cr_s) for m, g in zip(maps, sizes, strict=True)]
    last = len(maps) - 1

    def levels_at(threshold: float) -> list[np.ndarray]:
        lev = np.full(arms.cr_s.shape, last, dtype=np.int64)
        for lvl in range(last - 1, -1, -1):
            lev = np.where(cnt[lvl][:, maps[lvl]] >= threshold, lvl, lev)
        return [lev == lvl for lvl in range(len(maps))]

    return _Strata(
        maps=maps,
        sizes=sizes,
        cnt=cnt,
        s1=[_gsum(m, g, arms.s1r_s) for m, g in zip(maps, sizes, strict=True)],
        s2=[_gsum(m, g, arms.s2r_s) for m, g in zip(maps, sizes, strict=True)],
        mean_at=levels_at(1.0),
        var_at=levels_at(k),
    )


def _reference_weights(
    cells: CellTable,
    arms: _Arms,
    strata: _Strata,
    m_seg: np.ndarray,
    days: tuple[np.ndarray, int],
    is_rate: np.ndarray,
    concurrent: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The linear estimator's weights of the reference cases, ``(a_day, a_seg, v_shock)``: a
    reference case in cell c weighs ``a_day[c] + a_seg[seg(c)]``. With a concurrent control the
    day term matches the reference arm's own daily deviations (``_day_matching``; ``v_shock`` the
    variance of the shock left unmatched); the segment term then standardises what the day terms
    leave to the new arm's mix, each segment through the stratum its mean comes from."""
    seg, n_seg = cells.seg, len(strata.maps[0])
    safe_new = np.where(arms.n_new > 0, arms.n_new, 1.0)
    contrib_s = arms.cn_s / safe_new[:, None]
    a_day = np.zeros(arms.cr.shape)
    v_shock = np.zeros(len(arms.n_new))
    if concurrent:
        dcodes, ndays = days
        rd = _gsum(dcodes, ndays, arms.cr)
        wd = _gsum(dcodes, ndays, arms.cn / safe_new[:, None])
        lam, v_shock = _day_matching(
            dcodes, ndays, arms.cr, arms.s1r, arms.s2r, m_seg[:, seg], rd, wd, is_rate
        )
        per_day = np.where(rd > 0, lam * wd / rd, 0.0)
        a_day = np.where(arms.ref, per_day[:, dcodes], 0.0)
        contrib_s = contrib_s - _gsum(seg, n_seg, a_day * arms.cr)
    a_seg = np.zeros(arms.cr_s.shape)
    for lvl, m in enumerate(strata.maps):
        b = _gsum(m, strata.sizes[lvl], np.where(strata.mean_at[lvl], contrib_s, 0.0))
        a_seg = a_seg + np.where(strata.cnt[lvl] > 0, b / strata.cnt[lvl], 0.0)[:, m]
    return a_day, a_seg, v_shock


def _reference_case_variance(
    arms: _Arms, strata: _Strata, means: Sequence[np.ndarray], is_rate: np.ndarray
) -> np.ndarray:
    """Per segment (B, S), the per-case variance of the reference: that of the stratum its
    variance comes from. Rates: the stratum's rate shrunk towards the reference's overall rate
    (itself with half an event added) by two pseudo-cases, so a stratum, or a whole reference,
    without events never claims zero variance."""
    r_c = ((arms.s1r.sum(axis=1) + 0.5) / (arms.n_ref + 1.0))[:, None]
    cnt_g = strata.gather(strata.cnt, strata.var_at)
    m_var = strata.gather(means, strata.var_at)
    p = (m_var * cnt_g + PSEUDO_CASES * r_c) / (cnt_g + PSEUDO_CASES)
    var_g = [
        np.where(c > 1, (q2 - q * q / np.where(c > 0, c, 1.0)) / (c - 1), 0.0)
        for q, q2, c in zip(strata.s1, strata.s2, strata.cnt, strict=True)
    ]
    return np.where(
        is_rate[:, None], p * (1 - p), np.clip(strata.gather(var_g, strata.var_at), 0, None)
    )


def _between_day_variance(
    cells: CellTable,
    arms: _Arms,
    days: tuple[np.ndarray, int],
    m_seg: np.ndarray,
    a_cell: np.ndarray,
    within: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Without a concurrent control, day shocks do not cancel: the variance each arm's mean gets
    from a between-day component (one-way random effects on the residuals around each arm's own
    stratum means, pooled over both arms), ``(add to v_new, add to v_ref)``. ``within``: the
    per-case variance of the new and the reference arm."""
    seg = cells.seg
    dcodes, ndays = days
    safe_new = np.where(arms.n_new > 0, arms.n_new, 1.0)
    new_mu = arms.s1n_s / np.where(arms.cn_s > 0, arms.cn_s, 1.0)
    res_new = np.where(arms.new, cells.s1 - cells.cnt * new_mu[:, seg], 0.0)
    res_ref = np.where(arms.ref, cells.s1 - cells.cnt * m_seg[:, seg], 0.0)
    tn, dn = _day_variance(dcodes, ndays, arms.cn, res_new, within[0])
    tr, dr = _day_variance(dcodes, ndays, arms.cr, res_ref, within[1])
    tau2 = np.where(dn + dr > 0, (tn + tr) / np.where(dn + dr > 0, dn + dr, 1.0), 0.0)
    wn = _gsum(dcodes, ndays, arms.cn) / safe_new[:, None]
    wr = _gsum(dcodes, ndays, a_cell * arms.cr)
    return tau2 * (wn * wn).sum(axis=1), tau2 * (wr * wr).sum(axis=1)


def _new_arm(
    arms: _Arms, strata: _Strata, is_rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The new arm's mean, its per-case variance and the variance of its mean given the served
    mix (``_new_variance``: within the strata its segments' variances come from)."""
    n_new = arms.n_new
    safe_new = np.where(n_new > 0, n_new, 1.0)
    m_new = arms.s1n.sum(axis=1) / safe_new
    var_new = np.where(
        is_rate,
        m_new * (1 - m_new),
        np.clip((arms.s2n.sum(axis=1) - n_new * m_new * m_new) / np.maximum(n_new - 1, 1), 0, None),
    )
    v_new = _new_variance(
        arms.cn_s,
        arms.s1n_s,
        arms.s2n_s,
        strata.maps,
        strata.sizes,
        strata.var_at,
        m_new,
        var_new,
        is_rate,
    )
    return m_new, var_new, v_new / safe_new**2


def effective_sizes(
    rate: np.ndarray,
    m_new: np.ndarray,
    v_new: np.ndarray,
    count_new: np.ndarray,
    r: np.ndarray,
    v_ref: np.ndarray,
    pooled: np.ndarray,
    kish: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The arms' effective sizes ``(new, reference)`` for the intervals: rates ``p (1 - p) /
    variance`` (a design effect; the new arm's case count, the reference's Kish size, when the
    rate is 0 or 1), means the reference's pooled per-case variance over its variance."""
    n_eff = np.where(
        rate,
        np.where((r > 0) & (r < 1) & (v_ref > 0), r * (1 - r) / v_ref, kish),
        np.where(v_ref > 0, pooled / v_ref, kish),
    )
    n_new_eff = np.where(
        rate & (m_new > 0) & (m_new < 1) & (v_new > 0), m_new * (1 - m_new) / v_new, count_new
    )
    return n_new_eff, n_eff


def _naive_reference(arms: _Arms, is_rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reference arm's plain mean and its variance, for the unstandardised contrast."""
    n_ref = arms.n_ref
    safe_ref = np.where(n_ref > 0, n_ref, 1.0)
    naive_ref = arms.s1r.sum(axis=1) / safe_ref
    naive_v = np.where(
        is_rate,
        naive_ref * (1 - naive_ref) / safe_ref,
        np.clip((arms.s2r.sum(axis=1) - n_ref * naive_ref**2) / np.maximum(n_ref - 1, 1), 0, None)
        / safe_ref,
    )
    return naive_ref, naive_v


def contrast_batch(
    cells: CellTable,
    new_mask: np.ndarray,
    ref_mask: np.ndarray,
    *,
    rate: np.ndarray,
    k: float,
    concurrent: bool,
) -> dict[str, np.ndarray]:
    """The standardised contrast for a batch of rows at once (see module docstring).
    ``cells.cnt``/``s1``/``s2`` and ``new_mask``/``ref_mask`` are (B, C): each row's metric and
    arms; ``rate``: (B,) whether the row's metric is a rate. Returns arrays of shape (B,) named as
    the contrast's parts (``m_new``, ``v_new``, ``n_new`` (effective), ``r``, ``v_ref``, ``n_ref``,
    ``n_eff_ref``, ``kish_ref``, ``standardised_share``, ``share_by_level`` (B, levels),
    ``naive_ref``, ``naive_v_ref``, ``sd_new``, ``sd_ref``) and ``count_new``; a row whose arm
    has no case gets NaN.

    Everything that depends on the collapse is computed per segment (S of them), the rest per
    cell: a reference case's weight is its day's term plus its segment's term."""
    arms = _split_arms(cells, new_mask, ref_mask)
    n_new, n_ref, seg = arms.n_new, arms.n_ref, cells.seg
    safe_new = np.where(n_new > 0, n_new, 1.0)
    safe_ref = np.where(n_ref > 0, n_ref, 1.0)
    strata = _strata(cells, arms, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        is_rate = np.asarray(rate, bool)
        means = strata.means()
        m_seg = strata.gather(means, strata.mean_at)
        days = _codes(cells.day)
        a_day, a_seg, v_shock = _reference_weights(
            cells, arms, strata, m_seg, days, is_rate, concurrent
        )
        r = (a_day * arms.s1r).sum(axis=1) + (a_seg * arms.s1r_s).sum(axis=1)
        m_new, var_new, v_new = _new_arm(arms, strata, is_rate)
        sig2_s = _reference_case_variance(arms, strata, means, is_rate)
        a_cell = np.where(arms.ref, a_day + a_seg[:, seg], 0.0)
        a2n = a_cell * a_cell * arms.cr
        v_ref = (a2n * sig2_s[:, seg]).sum(axis=1) + v_shock
        a2n_sum = a2n.sum(axis=1)
        kish = np.where(a2n_sum > 0, 1.0 / a2n_sum, 0.0)
        pooled = (arms.cr_s * sig2_s).sum(axis=1) / safe_ref
        if not concurrent:
            add_new, add_ref = _between_day_variance(
                cells, arms, days, m_seg, a_cell, (v_new * safe_new, pooled)
            )
            v_new = v_new + add_new
            v_ref = v_ref + add_ref
        n_new_eff, n_eff = effective_sizes(is_rate, m_new, v_new, n_new, r, v_ref, pooled, kish)
        share = np.stack(
            [(np.where(at, arms.cn_s, 0.0).sum(axis=1) / safe_new) for at in strata.mean_at],
            axis=1,
        )
        naive_ref, naive_v = _naive_reference(arms, is_rate)
        sd_ref = np.where(is_rate, np.sqrt(np.clip(r * (1 - r), 0, None)), np.sqrt(pooled))
    ok = (n_new > 0) & (n_ref > 0)
    nan = np.full(len(n_new), np.nan)
    out = {
        "m_new": m_new,
        "v_new": v_new,
        "n_new": n_new_eff,
        "r": r,
        "v_ref": v_ref,
        "n_ref": n_ref,
        "n_eff_ref": n_eff,
        "kish_ref": kish,
        "standardised_share": share[:, 0],
        "naive_ref": naive_ref,
        "naive_v_ref": naive_v,
        "sd_new": np.sqrt(var_new),
        "sd_ref": sd_ref,
    }
    out = {key: np.where(ok, v, nan) for key, v in out.items()}
    out["share_by_level"] = np.where(ok[:, None], share, np.nan)
    out["count_new"] = n_new
    return out


def look_shares(planned: int, interim_share: float) -> np.ndarray:
    """The share of the one-sided level spent at each of ``planned`` daily looks: the interim
    looks share ``interim_share`` equally (Bonferroni), the last look gets the rest; one look
    gets everything. By the union bound the chance of any false crossing over all looks is at
    most the level, however the looks' statistics are correlated."""
    if planned <= 1:
        return np.ones(max(planned, 1))
    out = np.full(planned, interim_share / (planned - 1))
    out[-1] = 1.0 - interim_share
    return out


def sequential_p(p_by_look: np.ndarray, shares: np.ndarray) -> float:
    """The sequential p-value after the looks so far: ``min_k p_k / share_k`` (capped at 1). It
    is below a level ``a`` exactly when some look's p-value was below its share of ``a``, so a
    decision "p_seq < a" read at any time, however often, is wrong with probability <= a."""
    p = np.asarray(p_by_look, float)
    s = np.asarray(shares, float)[: len(p)]
    ok = np.isfinite(p)
    if not ok.any():
        return float("nan")
    return float(min(1.0, np.min(p[ok] / s[ok])))


__all__ = ["CellTable", "contrast_batch", "effective_sizes", "look_shares", "sequential_p"]
