"""``compare_releases``: the pipeline from the rollup to each release's ``ReleaseComparison``, and
the values read off it (telemetry failure signal, unit-cost impact).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from analytics.comparison.decisions import (
    _detection_looks,
    _final_verdicts,
    _looks,
    _sequential,
    comparison_setup,
    look_inference,
)
from analytics.comparison.estimator import look_shares
from analytics.comparison.looks import (
    LookPlan,
)
from analytics.comparison.metrics import (
    KIND_BY_NAME,
    METHOD_BY_KIND,
    METRICS,
    P95_METRIC,
    ComparisonSettings,
    MetricRule,
)
from analytics.comparison.p95 import _p95
from analytics.comparison.results import _RESULT_SCHEMA, MetricComparison, ReleaseComparison
from analytics.comparison.segments import (
    _long,
    _rules_frame,
    _verdicts,
    assign_strata,
    enough_cases,
    infer,
    standardise,
    stratified,
)
from analytics.comparison.windows import (
    _arm_days,
    _arm_windows,
    _blocked_reasons,
    _cells,
    _empty_cases,
    _empty_latency,
    _segment_stats,
    _utc,
    _windows,
)
from analytics.core.policy import Policy
from analytics.core.results import EstimateResult, Status
from analytics.data.rollup import (
    Rollup,
)


def _float(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _metric_from_row(r: Mapping[str, Any], segment: str = "all") -> MetricComparison:
    return MetricComparison(
        metric=r["metric"],
        role=r["role"],
        method=r["method"],
        worse=r["worse"],
        margin=float(r["margin"]),
        n_new=int(r["N_new"] or 0),
        n_ref=int(r["N_ref"] or 0),
        new_value=_float(r["new_value"]),
        ref_value=_float(r["ref_value"]),
        estimate=_float(r["estimate"]),
        ci_low=_float(r["ci_low"]),
        ci_high=_float(r["ci_high"]),
        relative=_float(r["relative"]),
        relative_ci_low=_float(r["relative_ci_low"]),
        relative_ci_high=_float(r["relative_ci_high"]),
        margin_abs=_float(r["margin_abs"]),
        naive_new_value=_float(r.get("naive_new_value")),
        naive_ref_value=_float(r.get("naive_ref_value")),
        naive_estimate=_float(r.get("naive_estimate")),
        naive_ci_low=_float(r.get("naive_ci_low")),
        naive_ci_high=_float(r.get("naive_ci_high")),
        p_value=_float(r["p_value"]),
        p_worse=_float(r["p_worse"]),
        p_worse_adjusted=_float(r["p_worse_adjusted"]),
        p_better=_float(r["p_better"]),
        p_better_adjusted=_float(r["p_better_adjusted"]),
        non_inferior=r["non_inferior"],
        verdict=r["verdict"],
        reason=r["reason"],
        standardised_share=_float(r.get("standardised_share")),
        segment=segment,
        se=_float(r.get("se")),
        p_worse_sequential=_float(r.get("p_worse_sequential")),
        p_noninf=_float(r.get("p_noninf")),
        p_noninf_sequential=_float(r.get("p_noninf_sequential")),
        noninferiority_margin_abs=_float(r.get("noninferiority_margin_abs")),
        effective_n_ref=_float(r.get("n_eff_ref")),
        mde=_float(r.get("mde")),
        cases_needed=None if r.get("cases_needed") is None else int(r["cases_needed"]),
        in_family=r.get("in_family"),
    )


def _fill_missing_metrics(
    df: pl.DataFrame, targets: Sequence[str], rules: Mapping[str, MetricRule]
) -> pl.DataFrame:
    """One row per (target, metric), so releases without data still report every metric; role,
    direction, margin, kind and method come from the rules."""
    grid = pl.DataFrame(
        {
            "target": [t for t in targets for _ in METRICS],
            "metric": [m.name for _ in targets for m in METRICS],
        },
        schema={"target": pl.String, "metric": pl.String},
    )
    meta = (
        _rules_frame(rules)
        .select("metric", "role", "worse", "margin")
        .with_columns(
            pl.col("metric").replace_strict(KIND_BY_NAME, return_dtype=pl.String).alias("kind")
        )
        .with_columns(
            pl.col("kind").replace_strict(METHOD_BY_KIND, return_dtype=pl.String).alias("method")
        )
    )
    drop = [
        c
        for c in ("role", "worse", "margin", "kind", "method", "sign", "factor")
        if c in df.columns
    ]
    return grid.join(df.drop(drop), on=["target", "metric"], how="left").join(
        meta, on="metric", how="left"
    )


def compare_releases(
    rollup: Rollup | None,
    units: pl.DataFrame,
    release_ids: Sequence[str],
    as_of: datetime,
    policy: Policy,
) -> dict[str, ReleaseComparison]:
    """Compare each release in ``release_ids`` with the version it replaced over its observation
    window, as of ``as_of`` (see the module docstring for the control arm, the standardisation,
    the daily looks, the methods and the one multiple-testing family).

    ``units`` is ``analytics.metrics.releases.release_units`` output; ``rollup`` the telemetry
    rollup
    (None: no telemetry, every metric is insufficient_data). Raises ``DataError`` for an unknown
    release id or an invalid ``comparison`` or ``judge`` policy section."""
    as_of = _utc(as_of)
    setup = comparison_setup(policy)
    cfg, rules, family, go = setup.cfg, setup.rules, setup.family, setup.go
    ids = list(dict.fromkeys(release_ids))
    windows = _windows(units, ids, as_of, cfg, rollup)
    cases = rollup.cases if rollup is not None else _empty_cases()
    latency = rollup.latency if rollup is not None else _empty_latency()
    blocked = _blocked_reasons(windows, as_of)
    cells = _cells(cases, _arm_windows(windows), setup.cost_columns)
    plans, looks = _looks(cells, windows, cfg, as_of, family)
    for w in windows.iter_rows(named=True):
        plan = plans.get(w["release_id"])
        if w["release_id"] in blocked or (plan is not None and plan.done > 0):
            continue
        first_look = w["window_start"] + timedelta(days=1)
        blocked[w["release_id"]] = (
            f"no complete UTC day of the new version by as_of (the first look is at "
            f"{first_look.isoformat()})"
            if first_look > as_of
            else "no telemetry of the new version in its window"
        )
    seq = _sequential(look_inference(looks, rules, go, cfg.alpha), plans, cfg)
    last = seq.filter(pl.col("look") == pl.col("look").max().over("target"))
    arm_days = _arm_days(windows, plans)
    p95 = _p95(latency, arm_days, cfg, rules[P95_METRIC], go[P95_METRIC])
    shares = {
        rid: float(look_shares(plan.planned, cfg.interim_alpha_share)[plan.done - 1])
        for rid, plan in plans.items()
        if plan.done
    }
    enough = enough_cases(cfg.min_cases_per_arm)
    p95 = p95.with_columns(
        pl.col("target")
        .replace_strict(shares, default=None, return_dtype=pl.Float64)
        .alias("share")
    ).with_columns(
        [
            pl.when(enough)
            .then((pl.col(p) / pl.col("share")).clip(upper_bound=1.0))
            .alias(f"{p}_sequential")
            for p in ("p_worse", "p_better", "p_noninf")
        ]
    )
    overall = pl.concat([last, p95], how="diagonal_relaxed")
    overall = _fill_missing_metrics(overall, ids, rules)
    overall = _final_verdicts(overall, family, cfg, blocked)
    dq = [m for m in family if rules[m].role == "decision_quality"]
    detection = _detection_looks(seq, family, dq, cfg, blocked)

    stats = _segment_stats(cases, arm_days, setup.cost_columns)
    strata = assign_strata(stats, ["target"], cfg.min_cases_per_segment)
    seg_keys = ["target", "seg"]
    seg_sums = stratified(stats, ["target"], strata).with_columns(pl.col("stratum").alias("seg"))
    seg = infer(standardise(_long(seg_sums, seg_keys), seg_keys), rules, cfg.alpha)
    seg = _verdicts(seg, ["target", "metric"], cfg, cfg.min_cases_per_segment, blocked)
    return _assemble(ids, windows, overall, seg, plans, detection, seq, as_of, cfg, family, blocked)


def _assemble(
    ids: Sequence[str],
    windows: pl.DataFrame,
    overall: pl.DataFrame,
    seg: pl.DataFrame,
    plans: Mapping[str, LookPlan],
    detection: Mapping[str, tuple[datetime, tuple[str, ...]]],
    seq: pl.DataFrame,
    as_of: datetime,
    cfg: ComparisonSettings,
    family: Sequence[str],
    blocked: Mapping[str, str],
) -> dict[str, ReleaseComparison]:
    order = {m.name: i for i, m in enumerate(METRICS)}
    overall = overall.with_columns(
        pl.col("metric").replace_strict(order, return_dtype=pl.Int32).alias("_o")
    ).sort(["target", "_o"])
    by_target = overall.partition_by("target", as_dict=True)
    seg_cols = [c for c in _RESULT_SCHEMA if c not in ("segment",)]
    seg_frame = seg.rename({"seg": "segment", "N_new": "n_new", "N_ref": "n_ref"}).with_columns(
        pl.lit(None, dtype=pl.Float64).alias(c)
        for c in (
            "naive_new_value",
            "naive_ref_value",
            "naive_estimate",
            "naive_ci_low",
            "naive_ci_high",
        )
        if c not in seg.columns
    )
    seg_frame = seg_frame.select(
        "target",
        "segment",
        *[pl.col(c).cast(_RESULT_SCHEMA[c]) for c in seg_cols if c in seg_frame.columns],
    ).sort(["target", "metric", "segment"])
    seg_by_target = seg_frame.partition_by("target", as_dict=True)
    look_by_target = seq.partition_by("target", as_dict=True) if seq.height else {}
    empty_seg = seg_frame.clear().drop("target")
    out: dict[str, ReleaseComparison] = {}
    for w in windows.iter_rows(named=True):
        rid = w["release_id"]
        rows = by_target[(rid,)].to_dicts()
        metrics = {r["metric"]: _metric_from_row(r) for r in rows}
        plan = plans.get(rid)
        counts = {
            arm: int(max((r[f"N_{arm}"] or 0) for r in rows)) if rows else 0
            for arm in ("new", "ref")
        }
        n_new, n_ref = counts["new"], counts["ref"]
        if rid in blocked:
            status: Status = "insufficient_data"
            message = blocked[rid]
        elif plan is None or plan.done == 0:
            status = "insufficient_data"
            message = "no complete UTC day of the new version by as_of"
        elif n_new < cfg.min_cases_per_arm or n_ref < cfg.min_cases_per_arm:
            status = "insufficient_data"
            message = (
                f"fewer than {cfg.min_cases_per_arm} cases in an arm "
                f"(new {n_new}, reference {n_ref})"
            )
        elif w["window_end"] > as_of:
            status = "immature"
            message = f"observation window ends {w['window_end'].isoformat()}, after as_of"
        else:
            status = "ok"
            message = ""
        segs = seg_by_target.get((rid,))
        found = detection.get(rid)
        looks = look_by_target.get((rid,))
        out[rid] = ReleaseComparison(
            release_id=rid,
            system=w["system"],
            previous_release_id=w["previous_release_id"],
            ref_release_id=w["ref_release_id"],
            released_at=w["released_at"],
            window_start=w["window_start"],
            window_end=w["window_end"],
            ref_start=w["ref_start"] if w["ref_release_id"] is not None else None,
            as_of=as_of,
            n_new=n_new,
            n_ref=n_ref,
            status=status,
            message=message,
            metrics=metrics,
            segments=segs.drop("target") if segs is not None else empty_seg,
            multiple_testing=cfg.multiple_testing,
            alpha=cfg.alpha,
            control=None if rid in blocked or plan is None else plan.control,
            concurrent_share=None if rid in blocked or plan is None else plan.concurrent_share,
            looks_done=plan.done if plan else 0,
            looks_planned=plan.planned if plan else 0,
            look_time=plan.look_times[-1] if plan and plan.look_times else None,
            family=tuple(family),
            detectable_at=found[0] if found else None,
            detectable_metrics=found[1] if found else (),
            looks=looks.drop("target") if looks is not None else None,
        )
    return {rid: out[rid] for rid in ids}


def compare_release(
    rollup: Rollup | None,
    units: pl.DataFrame,
    release_id: str,
    as_of: datetime,
    policy: Policy,
) -> ReleaseComparison:
    """Compare one release with the previous release of its system (see ``compare_releases``)."""
    return compare_releases(rollup, units, [release_id], as_of, policy)[release_id]


def telemetry_failures(
    comparisons: Mapping[str, ReleaseComparison],
) -> dict[str, tuple[str, ...]]:
    """Release id -> the decision-quality metrics (``policy.decision_quality_metrics``) judged
    "worse": the telemetry failure signal of CFR-DQ (METRICS.md, signal telemetry).

    A verdict of an immature comparison counts: the test is valid at ``as_of``, the window just is
    not over. Releases without a degradation map to an empty tuple."""
    return {rid: c.worse("decision_quality") for rid, c in comparisons.items()}


def unit_cost_impact(comparison: ReleaseComparison) -> EstimateResult:
    """Release impact on unit process cost (METRICS.md): mix-standardised unit cost per case
    of the release minus that of the previous release over the observation window, USD/case,
    with its (1 - alpha) Welch interval. ``n`` is the release's cases; ``extra`` holds
    ``estimate`` (= mean), ``se``, ``n_ref``, ``naive_estimate``, ``relative`` and ``verdict``."""
    m = comparison.metrics["unit_cost_usd"]
    extra = {
        "estimate": m.estimate,
        "se": m.se,
        "n_new": m.n_new,
        "n_ref": m.n_ref,
        "naive_estimate": m.naive_estimate,
        "relative": m.relative,
        "verdict": m.verdict,
        "standardised_share": m.standardised_share,
        "control": comparison.control,
    }
    if m.verdict == "insufficient_data" or m.estimate is None:
        return EstimateResult(
            None,
            None,
            None,
            m.n_new,
            "insufficient_data",
            m.reason or comparison.message,
            extra={**extra, "estimate": None, "se": None},
        )
    status: Status = "immature" if comparison.status == "immature" else "ok"
    return EstimateResult(
        m.estimate, m.ci_low, m.ci_high, m.n_new, status, comparison.message, extra=extra
    )
