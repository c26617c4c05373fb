"""Daily looks to decisions: inference per look, sequential p-values, the one multiple-testing
family, verdicts, non-inferiority, cases needed and detection looks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl
from scipy import stats as sps

from analytics.comparison.estimator import look_shares
from analytics.comparison.judge import JudgeSettings, judge_settings
from analytics.comparison.looks import (
    LOOK_SCHEMA,
    LookPlan,
    cell_tables,
    look_rows,
    plan_looks,
)
from analytics.comparison.metrics import (
    CELL_METRICS,
    KIND_BY_NAME,
    METRICS,
    ComparisonSettings,
    MetricRule,
    metric_rules,
    settings,
    unit_cost_stats,
)
from analytics.comparison.segments import (
    _INFER_COLUMNS,
    _add_adjusted,
    _mark_usable,
    _reason_head,
    _rules_frame,
    _verdict_expr,
    enough_cases,
    method_label,
)
from analytics.core.policy import Policy
from analytics.stats.intervals import (
    _adjust_groups,
    _mean_z,
    _sf,
    _t_as_z,
    fieller_bounds,
    rate_contrast_bounds,
    rate_ratio_bounds,
    rate_signed_z,
    welch_t_df,
)


@dataclass(frozen=True)
class ComparisonSetup:
    """What a comparison reads from the policy, parsed and checked once per ``compare_releases``
    call and passed down: the ``comparison`` settings, each metric's rule, the one
    multiple-testing family (``decision_family``), the go margins (``go_margins``) and the
    expressions of the unit-cost sums (``unit_cost_stats``)."""

    cfg: ComparisonSettings
    rules: Mapping[str, MetricRule]
    family: tuple[str, ...]
    go: Mapping[str, tuple[float, float]]
    cost_columns: tuple[pl.Expr, ...]


def comparison_setup(policy: Policy) -> ComparisonSetup:
    """The policy's ``comparison`` and ``judge`` sections and metric rules, checked
    (``DataError`` naming the first invalid key)."""
    cfg = settings(policy)
    rules = metric_rules(policy)
    judge = judge_settings(policy)
    return ComparisonSetup(
        cfg=cfg,
        rules=rules,
        family=_family(rules, judge),
        go=_go_margins(rules, judge),
        cost_columns=tuple(unit_cost_stats(policy)),
    )


def decision_family(policy: Policy) -> tuple[str, ...]:
    """The one multiple-testing family: every metric a verdict of which has a consequence, in
    catalogue order: the decision-quality metrics (telemetry failure signal of CFR-DQ), the
    judge's critical metrics (rollback) and its hold metrics (hold)."""
    return _family(metric_rules(policy), judge_settings(policy))


def _family(rules: Mapping[str, MetricRule], judge: JudgeSettings) -> tuple[str, ...]:
    wanted = {name for name, rule in rules.items() if rule.role == "decision_quality"}
    wanted |= set(judge.critical_metrics) | set(judge.hold_metrics)
    return tuple(m.name for m in METRICS if m.name in wanted)


def go_margins(policy: Policy) -> dict[str, tuple[float, float]]:
    """Per metric, the contrast ``(c, offset)`` whose non-inferiority "go" requires: ``new - c *
    reference - offset`` on the better side of 0. A metric with a relative margin uses it
    (``c = 1 +/- margin``); a metric with margin 0 uses ``judge.noninferiority_abs_margins`` when
    set (``c = 1``, offset = the absolute margin in the worse direction), else strict
    improvement."""
    return _go_margins(metric_rules(policy), judge_settings(policy))


def _go_margins(
    rules: Mapping[str, MetricRule], judge: JudgeSettings
) -> dict[str, tuple[float, float]]:
    absolute = judge.noninferiority_abs_margins
    out = {}
    for name, rule in rules.items():
        if rule.margin > 0 or name not in absolute:
            out[name] = (rule.factor, 0.0)
        else:
            out[name] = (1.0, rule.sign * absolute[name])
    return out


def _looks(
    cells: pl.DataFrame,
    windows: pl.DataFrame,
    as_of: datetime,
    cfg: ComparisonSettings,
    family: Sequence[str],
) -> tuple[dict[str, LookPlan], pl.DataFrame]:
    """Every release's look plan and the contrast of every metric at every done look (metrics
    outside the decision family at the last look only: their verdicts only report)."""
    plans: dict[str, LookPlan] = {}
    rows: list[tuple] = []
    spec = [(m.count, m.total, m.total_sq) for m in CELL_METRICS]
    tables = cell_tables(cells, spec, cfg.collapse_order)
    names = [m.name for m in CELL_METRICS]
    kinds = [m.kind for m in CELL_METRICS]
    every = [m in family for m in names]
    for w in windows.iter_rows(named=True):
        rid = w["release_id"]
        table = tables.get(rid)
        if table is None or w["released_at"] is None or w["released_at"] > as_of:
            continue
        plan, looks = plan_looks(
            table,
            target=rid,
            window_start=w["window_start"],
            window_end=w["window_end"],
            ref_start=w["ref_start"],
            as_of=as_of,
            min_day_cases=cfg.min_cases_per_segment,
            min_control_cases=cfg.min_cases_per_arm,
        )
        plans[rid] = plan
        rows += look_rows(
            table,
            looks,
            target=rid,
            names=names,
            kinds=kinds,
            every_look=every,
            min_segment_cases=cfg.min_cases_per_segment,
            min_arm_cases=cfg.min_cases_per_arm,
        )
    return plans, pl.DataFrame(rows, schema=LOOK_SCHEMA, orient="row")


_LOOK_INPUTS = (
    "m_new",
    "n_new_eff",
    "N_new",
    "v_new",
    "r",
    "n_eff_ref",
    "N_ref",
    "v_ref",
    "naive_ref",
    "naive_v_ref",
    "sign",
    "factor",
    "margin",
    "go_c",
    "go_offset",
)


def look_inference(
    looks: pl.DataFrame,
    rules: Mapping[str, MetricRule],
    go: Mapping[str, tuple[float, float]],
    alpha: float,
) -> pl.DataFrame:
    """Estimates, (1 - alpha) intervals and one-sided p-values of every look row (rates by the
    MOVER/Wilson method on effective sizes, means by normal theory; see the module docstring)."""
    if looks.height == 0:
        return looks.with_columns(
            *[
                pl.lit(None, dtype=pl.Float64).alias(c)
                for c in dict.fromkeys((*_INFER_COLUMNS, *_LOOK_EXTRA))
            ]
        )
    meta = _rules_frame(rules).with_columns(
        pl.col("metric").replace_strict(KIND_BY_NAME, return_dtype=pl.String).alias("kind"),
        pl.col("metric").replace_strict({k: v[0] for k, v in go.items()}).alias("go_c"),
        pl.col("metric").replace_strict({k: v[1] for k, v in go.items()}).alias("go_offset"),
    )
    df = looks.join(meta, on="metric", how="left")
    a = {c: df[c].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in _LOOK_INPUTS}
    is_rate = (df["kind"] == "rate").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = _look_columns(a, is_rate, alpha)
    return df.with_columns(
        *[
            pl.Series(k, np.where(np.isfinite(v), v, np.nan), dtype=pl.Float64).fill_nan(None)
            for k, v in out.items()
        ]
    )


def _look_columns(
    a: Mapping[str, np.ndarray], is_rate: np.ndarray, alpha: float
) -> dict[str, np.ndarray]:
    """The inference columns of the look rows ``a`` (arrays of ``_LOOK_INPUTS``): the arms'
    variances on the effective sizes, then intervals, p-values against no change, the margin
    (``factor``) and the go margin (``go_c``, ``go_offset``), and the naive contrast."""
    m, r, s, c = a["m_new"], a["r"], a["sign"], a["factor"]
    gc, goff = a["go_c"], a["go_offset"]
    z = float(sps.norm.ppf(1 - alpha / 2))
    vn = np.where(is_rate, m * (1 - m) / a["n_new_eff"], a["v_new"])
    vr = np.where(is_rate, r * (1 - r) / a["n_eff_ref"], a["v_ref"])
    df1 = welch_t_df(vn, a["N_new"], vr, a["n_eff_ref"], 1.0)
    z1, zc, zg = _signed_z(a, is_rate, vn, vr, df1)
    return {
        **_look_intervals(a, is_rate, vn, vr, df1, z, alpha),
        "margin_abs": s * a["margin"] * r,
        "p_value": np.minimum(1.0, 2 * _sf(np.abs(z1))),
        "p_worse": _sf(s * zc),
        "p_better": _sf(-s * z1),
        "p_noninf": _sf(-s * zg),
        "se": np.sqrt(vn + vr),
        "se_margin": np.sqrt(vn + c * c * vr),
        "se_go": np.sqrt(vn + gc * gc * vr),
        "go_estimate": s * (m - gc * r - goff),  # negative: on the good side of the go margin
        "noninferiority_margin_abs": np.abs((gc - 1) * r + goff),
        **_naive_look_columns(a, is_rate, z),
    }


def _signed_z(
    a: Mapping[str, np.ndarray],
    is_rate: np.ndarray,
    vn: np.ndarray,
    vr: np.ndarray,
    df1: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signed normal multipliers of ``new - reference``, ``new - factor * reference`` (the
    margin) and ``new - go_c * reference - go_offset`` (the go margin). Rates: where the MOVER
    interval just reaches 0. Means: Welch t with Satterthwaite degrees of freedom on the
    effective sizes, turned into the normal quantile of the same tail probability, so rates and
    means share one scale of p-values and sequential thresholds."""
    m, r, c = a["m_new"], a["r"], a["factor"]
    gc, goff = a["go_c"], a["go_offset"]
    nn, nr = a["n_new_eff"], a["n_eff_ref"]
    rz1 = rate_signed_z(m, nn, r, nr, 1.0)
    rzc = rate_signed_z(m, nn, r, nr, c)
    rzg = rate_signed_z(m, nn, r, nr, gc, goff)
    mz1 = _t_as_z(_mean_z(m - r, vn + vr), df1)
    mzc = _t_as_z(_mean_z(m - c * r, vn + c * c * vr), welch_t_df(vn, a["N_new"], vr, nr, c))
    mzg = _t_as_z(
        _mean_z(m - gc * r - goff, vn + gc * gc * vr), welch_t_df(vn, a["N_new"], vr, nr, gc)
    )
    return np.where(is_rate, rz1, mz1), np.where(is_rate, rzc, mzc), np.where(is_rate, rzg, mzg)


def _look_intervals(
    a: Mapping[str, np.ndarray],
    is_rate: np.ndarray,
    vn: np.ndarray,
    vr: np.ndarray,
    df1: np.ndarray,
    z: float,
    alpha: float,
) -> dict[str, np.ndarray]:
    """Values, difference and its (1 - alpha) interval (rates Newcombe / MOVER, means Welch),
    relative change and its interval (rates MOVER-R, means Fieller)."""
    m, r = a["m_new"], a["r"]
    nn, nr = a["n_new_eff"], a["n_eff_ref"]
    rlo, rhi = rate_contrast_bounds(m, nn, r, nr, 1.0, z)
    rr_lo, rr_hi = rate_ratio_bounds(m, nn, r, nr, z)
    se1 = np.sqrt(vn + vr)
    tq = np.where(is_rate, z, sps.t.ppf(1 - alpha / 2, df1))
    f_lo, f_hi = fieller_bounds(m, vn, r, vr, tq)
    return {
        "new_value": m,
        "ref_value": r,
        "estimate": m - r,
        "ci_low": np.where(is_rate, rlo, m - r - tq * se1),
        "ci_high": np.where(is_rate, rhi, m - r + tq * se1),
        "relative": np.where(r > 0, m / r - 1, np.nan),
        "relative_ci_low": np.where(r > 0, np.where(is_rate, rr_lo, f_lo) - 1, np.nan),
        "relative_ci_high": np.where(r > 0, np.where(is_rate, rr_hi, f_hi) - 1, np.nan),
    }


def _naive_look_columns(
    a: Mapping[str, np.ndarray], is_rate: np.ndarray, z: float
) -> dict[str, np.ndarray]:
    """The contrast without standardisation (the reference arm's plain mean) and its interval."""
    m, naive = a["m_new"], a["naive_ref"]
    nlo, nhi = rate_contrast_bounds(m, a["N_new"], naive, a["N_ref"], 1.0, z)
    nse = np.sqrt(a["v_new"] + a["naive_v_ref"])
    return {
        "naive_new_value": m,
        "naive_ref_value": naive,
        "naive_estimate": m - naive,
        "naive_ci_low": np.where(is_rate, nlo, m - naive - z * nse),
        "naive_ci_high": np.where(is_rate, nhi, m - naive + z * nse),
    }


_LOOK_EXTRA = (
    "p_noninf",
    "se_margin",
    "se_go",
    "go_estimate",
    "noninferiority_margin_abs",
    "naive_new_value",
    "naive_ref_value",
    "naive_estimate",
    "naive_ci_low",
    "naive_ci_high",
)


def _shares_frame(plans: Mapping[str, LookPlan], interim_share: float) -> pl.DataFrame:
    rows = [
        (rid, k + 1, float(share), k + 1 == plan.planned)
        for rid, plan in plans.items()
        for k, share in enumerate(look_shares(plan.planned, interim_share))
    ]
    return pl.DataFrame(
        rows,
        schema={"target": pl.String, "look": pl.Int64, "share": pl.Float64, "final": pl.Boolean},
        orient="row",
    )


def _sequential(
    inferred: pl.DataFrame, plans: Mapping[str, LookPlan], cfg: ComparisonSettings
) -> pl.DataFrame:
    """Add ``share`` and the sequential p-values ``p_worse_sequential``, ``p_better_sequential``,
    ``p_noninf_sequential`` (min over the looks so far of p / share, over looks with at least
    ``min_cases_per_arm`` cases of the metric in each arm)."""
    df = inferred.join(_shares_frame(plans, cfg.interim_alpha_share), on=["target", "look"])
    enough = enough_cases(cfg.min_cases_per_arm)
    seq = []
    for p in ("p_worse", "p_better", "p_noninf"):
        ratio = pl.when(enough & pl.col(p).is_not_null()).then(pl.col(p) / pl.col("share"))
        seq.append(
            ratio.fill_null(np.inf)
            .cum_min()
            .over(["target", "metric"], order_by="look")
            .alias(f"{p}_sequential")
        )
    return df.with_columns(*seq, enough.alias("enough")).with_columns(
        [
            pl.when(pl.col(f"{p}_sequential").is_finite()).then(
                pl.col(f"{p}_sequential").clip(upper_bound=1.0)
            )
            for p in ("p_worse", "p_better", "p_noninf")
        ]
    )


def _family_adjust(
    df: pl.DataFrame, by: Sequence[str], column: str, family: Sequence[str], method: str
) -> np.ndarray:
    """Adjust ``column`` within groups ``by``: the ``family`` metrics form one family (a family
    metric without a p-value counts as p = 1, so the family's size never shrinks), the other
    metrics another."""
    fam = df["metric"].is_in(list(family))
    p = df.with_columns(
        pl.when(fam).then(pl.col(column).fill_null(1.0)).otherwise(pl.col(column)).alias("_p"),
        fam.alias("_fam"),
    )
    return _adjust_groups(p, [*by, "_fam"], "_p", method)


MAX_CASES_NEEDED = 1e12


def _thresholds(cfg: ComparisonSettings, family_size: int) -> tuple[float, float]:
    """(z of the last look's share of the one-sided level, z of the same for the first Holm
    step of the family): the multipliers behind ``cases_needed`` and ``mde``."""
    half = cfg.alpha / 2 * (1 - cfg.interim_alpha_share)
    return float(sps.norm.isf(half)), float(sps.norm.isf(half / max(family_size, 1)))


def _final_verdicts(
    df: pl.DataFrame,
    family: Sequence[str],
    cfg: ComparisonSettings,
    blocked: Mapping[str, str],
) -> pl.DataFrame:
    """Adjusted sequential p-values, ``verdict``, ``reason``, ``non_inferior``, ``mde`` and
    ``cases_needed`` of each release's metrics at its last look."""
    half = cfg.alpha / 2
    computable = pl.col("estimate").is_not_null() & pl.col("p_worse_sequential").is_not_null()
    df = _mark_usable(df, cfg.min_cases_per_arm, computable, blocked).with_columns(
        pl.col("metric").is_in(list(family)).alias("in_family")
    )
    df = _add_adjusted(
        df,
        "p_worse_sequential",
        "p_better_sequential",
        lambda frame, col: _family_adjust(frame, ["target"], col, family, cfg.multiple_testing),
    )
    z_go, z_first = _thresholds(cfg, len(family))
    z_power = float(sps.norm.ppf(0.8))
    non_inferior = pl.col("_usable") & (pl.col("p_noninf_sequential") < half)
    needed = _cases_needed(z_go)
    z_mde = pl.when(pl.col("in_family")).then(z_first).otherwise(z_go) + z_power
    return df.with_columns(
        _verdict_expr(half).alias("verdict"),
        _final_reason(cfg, computable, non_inferior, needed).alias("reason"),
        pl.when(pl.col("_usable")).then(non_inferior).alias("non_inferior"),
        pl.when(pl.col("_usable"))
        .then(
            pl.when(pl.col("worse") == "up").then(1.0).otherwise(-1.0)
            * (pl.col("margin_abs").abs() + z_mde * pl.col("se_margin"))
        )
        .alias("mde"),
        pl.when(~pl.col("_usable"))
        .then(None)
        .when(non_inferior)
        .then(0.0)
        .when(pl.col("go_estimate") < 0)
        .then(needed)
        .alias("cases_needed"),
    ).drop("_blocked", "_usable")


def _cases_needed(z_go: float) -> pl.Expr:
    """Further new-version cases to show non-inferiority if the estimate stays put (the
    standard error shrinking as 1 / sqrt(cases)); null beyond ``MAX_CASES_NEEDED`` (an estimate
    a hair inside the margin): "not reachable" rather than a number."""
    raw_needed = (
        (pl.col("N_new") * (z_go * pl.col("se_go") / pl.col("go_estimate")) ** 2 - pl.col("N_new"))
        .clip(lower_bound=0)
        .ceil()
    )
    return pl.when(raw_needed <= MAX_CASES_NEEDED).then(raw_needed)


def _final_reason(
    cfg: ComparisonSettings, computable: pl.Expr, non_inferior: pl.Expr, needed: pl.Expr
) -> pl.Expr:
    """Why a metric got its verdict at the last look: the shared head (blocked, too few cases,
    not computable, worse, better), then where it stands against the non-inferiority margin."""
    go_margin = pl.col("noninferiority_margin_abs").round_sig_figs(3).cast(pl.String)
    return (
        _reason_head(
            cfg.min_cases_per_arm,
            ~enough_cases(cfg.min_cases_per_arm),
            computable,
            cfg.alpha / 2,
            method_label(cfg.multiple_testing),
            "no complete day with data in both arms",
            "sequential ",
        )
        .when(non_inferior)
        .then(pl.format("shown within the non-inferiority margin ({})", go_margin))
        .when(pl.col("go_estimate") >= 0)
        .then(
            pl.format(
                "estimate at or beyond the non-inferiority margin ({}), not shown worse", go_margin
            )
        )
        .when(needed == 0)
        .then(
            pl.format(
                "not yet shown within the non-inferiority margin ({}) at this interim look's "
                "stricter level; at the current estimate the window's end will show it",
                go_margin,
            )
        )
        .when(needed.is_null())
        .then(
            pl.format(
                "not yet shown within the non-inferiority margin ({}): the estimate is too close "
                "to the margin for any realistic number of cases",
                go_margin,
            )
        )
        .otherwise(
            pl.format(
                "not yet shown within the non-inferiority margin ({}): about {} more "
                "new-version cases needed",
                go_margin,
                needed.cast(pl.Int64),
            )
        )
    )


def _detection_looks(
    seq: pl.DataFrame, setup: ComparisonSetup, blocked: Mapping[str, str]
) -> dict[str, tuple[datetime, tuple[str, ...]]]:
    """Per release, the first look at which a decision-quality metric was judged worse (the
    same sequential family test as the verdicts, read at each look; a family metric without a
    value at a look counts as p = 1) and those metrics."""
    cfg, family = setup.cfg, setup.family
    dq = [m for m in family if setup.rules[m].role == "decision_quality"]
    if seq.height == 0 or not dq:
        return {}
    grid = (
        seq.select("target", "look", "look_time")
        .unique()
        .join(pl.DataFrame({"metric": list(family)}), how="cross")
    )
    p = grid.join(
        seq.filter(pl.col("enough")).select("target", "look", "metric", "p_worse_sequential"),
        on=["target", "look", "metric"],
        how="left",
    ).sort(["target", "look", "metric"])
    p = p.with_columns(pl.col("p_worse_sequential").fill_null(1.0))
    adj = _adjust_groups(p, ["target", "look"], "p_worse_sequential", cfg.multiple_testing)
    hits = (
        p.with_columns(pl.Series("adj", adj))
        .filter(
            (pl.col("adj") < cfg.alpha / 2)
            & pl.col("metric").is_in(list(dq))
            & ~pl.col("target").is_in(list(blocked))
        )
        .sort(["target", "look"])
    )
    out: dict[str, tuple[datetime, tuple[str, ...]]] = {}
    order = {m.name: i for i, m in enumerate(METRICS)}
    for (target,), part in hits.partition_by("target", as_dict=True).items():
        first = part["look"].min()
        at = part.filter(pl.col("look") == first)
        names = tuple(sorted(at["metric"].to_list(), key=order.__getitem__))
        out[target] = (at["look_time"][0], names)
    return out
