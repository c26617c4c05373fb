"""Per-segment results for the review report's forest plot (post-stratified within each segment)
and the verdict wording shared with the overall verdicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
from scipy import stats as sps

from analytics.comparison.metrics import (
    ARMS,
    CELL_METRICS,
    KIND_BY_NAME,
    OTHER,
    STAT_COLUMNS,
    ComparisonSettings,
    MetricRule,
)
from analytics.stats.intervals import (
    _adjust_groups,
    fieller_bounds,
    mean_contrast_bounds,
    rate_contrast_bounds,
    rate_ratio_bounds,
    rate_signed_z,
    welch_df,
)


def assign_strata(stats: pl.DataFrame, keys: Sequence[str], min_cases: int) -> pl.DataFrame:
    """Map each (keys, segment) to its stratum: itself when both arms have ``min_cases`` cases,
    else ``other``; segments without new-arm cases are dropped, and ``other`` is dropped when it
    is still below ``min_cases`` in an arm. Returns (keys, segment, stratum)."""
    keys = list(keys)
    per = stats.group_by([*keys, "segment"]).agg(
        pl.col("n").filter(pl.col("arm") == "new").sum().alias("n_new"),
        pl.col("n").filter(pl.col("arm") == "ref").sum().alias("n_ref"),
    )
    per = per.filter(pl.col("n_new") > 0).with_columns(
        pl.when((pl.col("n_new") >= min_cases) & (pl.col("n_ref") >= min_cases))
        .then(pl.col("segment"))
        .otherwise(pl.lit(OTHER))
        .alias("stratum")
    )
    other = (
        per.filter(pl.col("stratum") == OTHER)
        .group_by(keys)
        .agg(pl.col("n_new").sum(), pl.col("n_ref").sum())
        .filter((pl.col("n_new") < min_cases) | (pl.col("n_ref") < min_cases))
        .select(*keys, pl.lit(OTHER).alias("stratum"))
    )
    return (
        per.join(other, on=[*keys, "stratum"], how="anti")
        .select(*keys, "segment", "stratum")
        .sort([*keys, "segment"])
    )


def _long(stats: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Stats per (keys, arm, stratum) in long form: one row per metric with n_case, cnt, s1, s2."""
    return pl.concat(
        stats.select(
            *keys,
            "arm",
            "stratum",
            pl.lit(spec.name).alias("metric"),
            pl.lit(spec.kind).alias("kind"),
            pl.col("n").cast(pl.Float64).alias("n_case"),
            pl.col(spec.count).cast(pl.Float64).alias("cnt"),
            pl.col(spec.total).cast(pl.Float64).alias("s1"),
            pl.col(spec.total_sq).cast(pl.Float64).alias("s2"),
        )
        for spec in CELL_METRICS
    )


def stratified(
    stats: pl.DataFrame, keys: Sequence[str], strata: pl.DataFrame | None
) -> pl.DataFrame:
    """Per (keys, arm, stratum) sums: the strata of ``assign_strata`` (only the kept ones), or a
    single stratum ``all`` with every case when ``strata`` is None (the naive comparison)."""
    keys = list(keys)
    if strata is None:
        mapped = stats.with_columns(pl.lit("all").alias("stratum"))
    else:
        # in the stats' order: the sums of a pooled stratum must not depend on join order
        mapped = stats.join(strata, on=[*keys, "segment"], how="inner", maintain_order="left")
    return (
        mapped.group_by([*keys, "arm", "stratum"])
        .agg([pl.col(c).sum() for c in STAT_COLUMNS])
        .sort([*keys, "arm", "stratum"])
    )


def standardise(long: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Mix-standardised arm values per (keys, metric), wide: for each arm ``M`` (weighted mean),
    ``V`` (variance of M), ``D`` (Satterthwaite denominator part), ``K`` (sum of w^2/n; the Kish
    effective size is 1/K), ``N`` (cases with the metric, all strata); and ``coverage``.

    Weights are the new arm's case shares over the strata valid for the metric (at least 1 case
    per arm for rates, 2 for means)."""
    keys = list(keys)
    kmin = pl.when(pl.col("kind") == "rate").then(1.0).otherwise(2.0)
    pair = long.group_by([*keys, "metric", "stratum"]).agg(
        pl.col("cnt").filter(pl.col("arm") == "new").sum().alias("cnt_new"),
        pl.col("cnt").filter(pl.col("arm") == "ref").sum().alias("cnt_ref"),
        pl.col("n_case").filter(pl.col("arm") == "new").sum().alias("case_new"),
        pl.col("kind").first(),
    )
    pair = pair.with_columns(
        ((pl.col("cnt_new") >= kmin) & (pl.col("cnt_ref") >= kmin)).alias("valid")
    )
    cover = pair.group_by([*keys, "metric"]).agg(
        pl.col("case_new").filter(pl.col("valid")).sum().alias("covered"),
        (pl.col("case_new").filter(pl.col("valid")).sum() / pl.col("case_new").sum()).alias(
            "coverage"
        ),
    )
    weights = pair.filter(pl.col("valid")).with_columns(
        (pl.col("case_new") / pl.col("case_new").sum().over([*keys, "metric"])).alias("w")
    )
    rows = long.join(  # in long's order, so the sums below do not depend on join order
        weights.select(*keys, "metric", "stratum", "w"),
        on=[*keys, "metric", "stratum"],
        maintain_order="left",
    )
    mean = pl.col("s1") / pl.col("cnt")
    var = (
        pl.when(pl.col("kind") == "rate")
        .then(mean * (1 - mean))
        .otherwise((pl.col("s2") - pl.col("s1") * mean) / (pl.col("cnt") - 1))
        .clip(lower_bound=0.0)
    )
    part = pl.col("w") ** 2 * var / pl.col("cnt")
    agg = rows.group_by([*keys, "metric", "arm"]).agg(
        (pl.col("w") * mean).sum().alias("M"),
        part.sum().alias("V"),
        pl.when(pl.col("cnt") > 1)
        .then(part**2 / (pl.col("cnt") - 1))
        .otherwise(0.0)
        .sum()
        .alias("D"),
        (pl.col("w") ** 2 / pl.col("cnt")).sum().alias("K"),
    )
    totals = long.group_by([*keys, "metric", "arm"]).agg(pl.col("cnt").sum().alias("N"))
    agg = totals.join(agg, on=[*keys, "metric", "arm"], how="left")
    wide = agg.group_by([*keys, "metric"]).agg(
        *[
            pl.col(c).filter(pl.col("arm") == arm).first().alias(f"{c}_{arm}")
            for arm in ARMS
            for c in ("M", "V", "D", "K", "N")
        ]
    )
    return wide.join(cover, on=[*keys, "metric"], how="left").sort([*keys, "metric"])


def _rules_frame(rules: Mapping[str, MetricRule]) -> pl.DataFrame:
    """One row per metric: its rule's role, worse direction, margin, sign and factor."""
    return pl.DataFrame(
        {
            "metric": list(rules),
            "role": [r.role for r in rules.values()],
            "worse": [r.worse for r in rules.values()],
            "margin": [r.margin for r in rules.values()],
            "sign": [r.sign for r in rules.values()],
            "factor": [r.factor for r in rules.values()],
        }
    )


def _rate_inference(g: Mapping[str, np.ndarray], alpha: float) -> dict[str, np.ndarray]:
    """Intervals and p-values of rate rows (MOVER/Wilson with Kish effective sizes)."""
    z = float(sps.norm.ppf(1 - alpha / 2))
    mn, mr, s, c = g["M_new"], g["M_ref"], g["sign"], g["factor"]
    kn, kr = 1.0 / g["K_new"], 1.0 / g["K_ref"]
    lo, hi = rate_contrast_bounds(mn, kn, mr, kr, 1.0, z)
    rlo, rhi = rate_ratio_bounds(mn, kn, mr, kr, z)
    r1 = rate_signed_z(mn, kn, mr, kr, 1.0)
    rc = rate_signed_z(mn, kn, mr, kr, c)
    return {
        "ci_low": lo,
        "ci_high": hi,
        "ratio_low": rlo,
        "ratio_high": rhi,
        "p_worse": sps.norm.sf(s * rc),
        "p_noninf": sps.norm.sf(-s * rc),
        "p_better": sps.norm.sf(-s * r1),
        "p_value": np.minimum(1.0, 2 * sps.norm.sf(np.abs(r1))),
        "se": np.sqrt(mn * (1 - mn) * g["K_new"] + mr * (1 - mr) * g["K_ref"]),
    }


def _t_stat(g: Mapping[str, np.ndarray], c: Any) -> tuple[np.ndarray, np.ndarray]:
    """Welch t statistic and Satterthwaite df of ``M_new - c * M_ref``."""
    vn, vr = g["V_new"], g["V_ref"]
    se = np.sqrt(vn + c * c * vr)
    diff = g["M_new"] - c * g["M_ref"]
    t = np.where(se > 0, diff / se, np.sign(diff) * np.inf)
    return t, welch_df(vn, g["D_new"], vr, g["D_ref"], c)


def _mean_inference(g: Mapping[str, np.ndarray], alpha: float) -> dict[str, np.ndarray]:
    """Intervals and p-values of mean rows (Welch, Fieller)."""
    mn, mr, vn, vr, s = g["M_new"], g["M_ref"], g["V_new"], g["V_ref"], g["sign"]
    t1 = sps.t.ppf(1 - alpha / 2, welch_df(vn, g["D_new"], vr, g["D_ref"], 1.0))
    lo, hi = mean_contrast_bounds(mn, vn, mr, vr, 1.0, t1)
    rlo, rhi = fieller_bounds(mn, vn, mr, vr, t1)
    tc, dfc = _t_stat(g, g["factor"])
    t_1, df_1 = _t_stat(g, 1.0)

    def p(x: np.ndarray, df: np.ndarray) -> np.ndarray:
        out = sps.t.sf(x, df)
        return np.where(np.isnan(out), 0.5, out)

    return {
        "ci_low": lo,
        "ci_high": hi,
        "ratio_low": rlo,
        "ratio_high": rhi,
        "p_worse": p(s * tc, dfc),
        "p_noninf": p(-s * tc, dfc),
        "p_better": p(-s * t_1, df_1),
        "p_value": np.minimum(1.0, 2 * p(np.abs(t_1), df_1)),
        "se": np.sqrt(vn + vr),
    }


def infer(wide: pl.DataFrame, rules: Mapping[str, MetricRule], alpha: float) -> pl.DataFrame:
    """Estimates, intervals and p-values for each row of ``standardise``'s output (rates by the
    MOVER/Wilson method, means by Welch and Fieller; see the module docstring)."""
    df = wide.join(_rules_frame(rules), on="metric", how="left").with_columns(
        pl.col("metric").replace_strict(KIND_BY_NAME, return_dtype=pl.String).alias("kind")
    )
    out = {k: np.full(df.height, np.nan) for k in _INFER_COLUMNS}
    if df.height == 0:
        return df.with_columns(*[pl.Series(k, v, dtype=pl.Float64) for k, v in out.items()])
    cols = (
        "M_new",
        "M_ref",
        "V_new",
        "V_ref",
        "D_new",
        "D_ref",
        "K_new",
        "K_ref",
        "sign",
        "factor",
        "margin",
    )
    a = {c: df[c].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in cols}
    is_rate = (df["kind"] == "rate").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for mask, method in ((is_rate, _rate_inference), (~is_rate, _mean_inference)):
            if not mask.any():
                continue
            g = {k: v[mask] for k, v in a.items()}
            mn, mr = g["M_new"], g["M_ref"]
            res = method(g, alpha)
            values = {
                "new_value": mn,
                "ref_value": mr,
                "estimate": mn - mr,
                "relative": np.where(mr > 0, mn / mr - 1, np.nan),
                "relative_ci_low": np.where(mr > 0, res.pop("ratio_low") - 1, np.nan),
                "relative_ci_high": np.where(mr > 0, res.pop("ratio_high") - 1, np.nan),
                "margin_abs": g["sign"] * g["margin"] * mr,
                **res,
            }
            for k, v in values.items():
                out[k][mask] = v
    return df.with_columns(
        *[
            pl.Series(k, np.where(np.isfinite(v), v, np.nan), dtype=pl.Float64)
            for k, v in out.items()
        ]
    )


_INFER_COLUMNS = (
    "new_value",
    "ref_value",
    "estimate",
    "ci_low",
    "ci_high",
    "relative",
    "relative_ci_low",
    "relative_ci_high",
    "margin_abs",
    "p_value",
    "p_worse",
    "p_better",
    "p_noninf",
    "se",
)


def _reason_head(
    min_cases: int,
    too_few: pl.Expr,
    computable: pl.Expr,
    half: float,
    label: str,
    no_data: str,
    kind: str,
) -> Any:
    """The first branches of a verdict's reason, shared by the overall and per-segment
    verdicts: blocked, too few cases, not computable, worse, better (``kind`` prefixes the
    p-value's name, e.g. "sequential ")."""
    pct = (pl.col("margin") * 100).round(1).cast(pl.String)
    return (
        pl.when(pl.col("_blocked").is_not_null())
        .then(pl.col("_blocked"))
        .when(too_few)
        .then(
            pl.format(
                "fewer than {} cases with the metric in an arm (new {}, reference {})",
                pl.lit(min_cases),
                pl.col("N_new").fill_null(0).cast(pl.Int64),
                pl.col("N_ref").fill_null(0).cast(pl.Int64),
            )
        )
        .when(~computable)
        .then(pl.lit(no_data))
        .when(pl.col("p_worse_adjusted") < half)
        .then(
            pl.format(
                "beyond the {}% margin in the worse direction ({}{} p = {})",
                pct,
                pl.lit(kind),
                pl.lit(label),
                pl.col("p_worse_adjusted").round_sig_figs(3).cast(pl.String),
            )
        )
        .when(pl.col("p_better_adjusted") < half)
        .then(
            pl.format(
                "better than the reference ({}{} p = {})",
                pl.lit(kind),
                pl.lit(label),
                pl.col("p_better_adjusted").round_sig_figs(3).cast(pl.String),
            )
        )
    )


def method_label(method: str) -> str:
    """The multiple-testing method as the reasons name it: ``Holm`` or ``BH``."""
    return "BH" if method == "bh" else "Holm"


def _verdict_expr(half: float) -> pl.Expr:
    """The verdict of a row from its usability and adjusted p-values (one-sided level half)."""
    return (
        pl.when(~pl.col("_usable"))
        .then(pl.lit("insufficient_data"))
        .when(pl.col("p_worse_adjusted") < half)
        .then(pl.lit("worse"))
        .when(pl.col("p_better_adjusted") < half)
        .then(pl.lit("better"))
        .otherwise(pl.lit("inconclusive"))
    )


def enough_cases(min_cases: int) -> pl.Expr:
    """At least ``min_cases`` cases of the metric in each arm (``N_new``, ``N_ref``)."""
    return (pl.col("N_new").fill_null(0) >= min_cases) & (pl.col("N_ref").fill_null(0) >= min_cases)


def _mark_usable(
    df: pl.DataFrame, min_cases: int, computable: pl.Expr, blocked: Mapping[str, str]
) -> pl.DataFrame:
    """Add ``_blocked`` (the reason that makes every metric of the row's target
    insufficient_data, e.g. no previous release; null when none) and ``_usable``: computable,
    ``enough_cases`` and not blocked. Only usable rows enter a multiple-testing family."""
    df = df.with_columns(
        pl.col("target")
        .replace_strict(dict(blocked), default=None, return_dtype=pl.String)
        .alias("_blocked")
    )
    usable = computable & enough_cases(min_cases) & pl.col("_blocked").is_null()
    return df.with_columns(usable.alias("_usable"))


def _add_adjusted(
    df: pl.DataFrame, worse: str, better: str, adjust: Callable[[pl.DataFrame, str], np.ndarray]
) -> pl.DataFrame:
    """Add ``p_worse_adjusted`` and ``p_better_adjusted``: ``adjust(frame, column)`` of the
    usable rows' ``worse`` and ``better`` p-values (the other rows are left out, null)."""
    masked = df.with_columns(
        pl.when(pl.col("_usable")).then(pl.col(worse)).alias("_pw"),
        pl.when(pl.col("_usable")).then(pl.col(better)).alias("_pb"),
    )
    return df.with_columns(
        pl.Series("p_worse_adjusted", adjust(masked, "_pw")).fill_nan(None),
        pl.Series("p_better_adjusted", adjust(masked, "_pb")).fill_nan(None),
    )


def _verdicts(
    df: pl.DataFrame,
    families: Sequence[str],
    cfg: ComparisonSettings,
    min_cases: int,
    blocked: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Add ``p_worse_adjusted``, ``p_better_adjusted``, ``non_inferior``, ``verdict``, ``reason``.

    ``blocked`` maps a target to a reason that makes every one of its metrics
    insufficient_data (e.g. no previous release)."""
    half = cfg.alpha / 2
    computable = (
        pl.col("estimate").is_not_nan()
        & pl.col("estimate").is_not_null()
        & pl.col("p_worse").is_not_nan()
        & pl.col("p_worse").is_not_null()
    )
    df = _mark_usable(df, min_cases, computable, blocked or {})
    df = _add_adjusted(
        df,
        "p_worse",
        "p_better",
        lambda frame, col: _adjust_groups(frame, families, col, cfg.multiple_testing),
    )
    pct = (pl.col("margin") * 100).round(1).cast(pl.String)
    reason = (
        _reason_head(
            min_cases,
            ~enough_cases(min_cases),
            computable,
            half,
            method_label(cfg.multiple_testing),
            "no segment with data in both arms, or no reference value",
            "",
        )
        .when(pl.col("p_worse") < half)
        .then(pl.lit("beyond the margin before, but not after, the multiple-testing adjustment"))
        .when(pl.col("p_noninf") < half)
        .then(pl.format("interval within the {}% margin but includes no change", pct))
        .otherwise(pl.format("interval includes the {}% margin", pct))
    )
    verdict = _verdict_expr(half)
    return df.with_columns(
        verdict.alias("verdict"),
        reason.alias("reason"),
        pl.when(pl.col("_usable")).then(pl.col("p_noninf") < half).alias("non_inferior"),
    ).drop("_blocked", "_usable")
