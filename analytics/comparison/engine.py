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
    ComparisonSetup,
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
    rollup (None: no telemetry, every metric is insufficient_data). Raises ``DataError`` for an
    unknown release id or an invalid ``comparison`` or ``judge`` policy section."""
    as_of = _utc(as_of)
    setup = comparison_setup(policy)
    ids = list(dict.fromkeys(release_ids))
    windows = _windows(units, ids, as_of, setup.cfg, rollup)
    cases = rollup.cases if rollup is not None else _empty_cases()
    latency = rollup.latency if rollup is not None else _empty_latency()
    cells = _cells(cases, _arm_windows(windows), setup.cost_columns)
    plans, looks = _looks(cells, windows, as_of, setup.cfg, setup.family)
    blocked = _blocked_reasons(windows, as_of)
    blocked |= _no_look_reasons(windows, plans, blocked, as_of)
    inferred = look_inference(looks, setup.rules, setup.go, setup.cfg.alpha)
    seq = _sequential(inferred, plans, setup.cfg)
    arm_days = _arm_days(windows, plans)
    p95 = _p95_rows(latency, arm_days, plans, setup)
    overall = _overall(seq, p95, ids, setup, blocked)
    detection = _detection_looks(seq, setup, blocked)
    seg = _segment_results(cases, arm_days, setup, blocked)
    return _assemble(ids, windows, overall, seg, plans, detection, seq, as_of, setup, blocked)


def _no_look_reasons(
    windows: pl.DataFrame,
    plans: Mapping[str, LookPlan],
    blocked: Mapping[str, str],
    as_of: datetime,
) -> dict[str, str]:
    """Why a release not otherwise blocked has no complete look: its first day is not over at
    ``as_of``, or the new version has no telemetry in its window."""
    out = {}
    for w in windows.iter_rows(named=True):
        plan = plans.get(w["release_id"])
        if w["release_id"] in blocked or (plan is not None and plan.done > 0):
            continue
        first_look = w["window_start"] + timedelta(days=1)
        out[w["release_id"]] = (
            f"no complete UTC day of the new version by as_of (the first look is at "
            f"{first_look.isoformat()})"
            if first_look > as_of
            else "no telemetry of the new version in its window"
        )
    return out


def _p95_rows(
    latency: pl.DataFrame,
    arm_days: pl.DataFrame,
    plans: Mapping[str, LookPlan],
    setup: ComparisonSetup,
) -> pl.DataFrame:
    """The p95-latency rows (bootstrapped at the last look only) with their sequential p-values:
    p over the last look's share of the level, as every other metric's at that look."""
    cfg = setup.cfg
    p95 = _p95(latency, arm_days, cfg, setup.rules[P95_METRIC], setup.go[P95_METRIC])
    shares = {
        rid: float(look_shares(plan.planned, cfg.interim_alpha_share)[plan.done - 1])
        for rid, plan in plans.items()
        if plan.done
    }
    enough = enough_cases(cfg.min_cases_per_arm)
    return p95.with_columns(
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


def _overall(
    seq: pl.DataFrame,
    p95: pl.DataFrame,
    ids: Sequence[str],
    setup: ComparisonSetup,
    blocked: Mapping[str, str],
) -> pl.DataFrame:
    """Every release's metrics at its last look (one row per release and metric, with data or
    not) with their verdicts over the one family."""
    last = seq.filter(pl.col("look") == pl.col("look").max().over("target"))
    overall = pl.concat([last, p95], how="diagonal_relaxed")
    overall = _fill_missing_metrics(overall, ids, setup.rules)
    return _final_verdicts(overall, setup.family, setup.cfg, blocked)


def _segment_results(
    cases: pl.DataFrame,
    arm_days: pl.DataFrame,
    setup: ComparisonSetup,
    blocked: Mapping[str, str],
) -> pl.DataFrame:
    """Per-segment results for the review report's forest plot: each segment with enough cases
    in both arms post-stratified on its own (the rest pooled into ``other``), over the days each
    arm uses at the last look; one multiple-testing family per metric across segments."""
    cfg = setup.cfg
    stats = _segment_stats(cases, arm_days, setup.cost_columns)
    strata = assign_strata(stats, ["target"], cfg.min_cases_per_segment)
    keys = ["target", "seg"]
    sums = stratified(stats, ["target"], strata).with_columns(pl.col("stratum").alias("seg"))
    seg = infer(standardise(_long(sums, keys), keys), setup.rules, cfg.alpha)
    return _verdicts(seg, ["target", "metric"], cfg, cfg.min_cases_per_segment, blocked)


def _metrics_by_target(overall: pl.DataFrame) -> dict[Any, pl.DataFrame]:
    """The overall rows per target, metrics in catalogue order."""
    order = {m.name: i for i, m in enumerate(METRICS)}
    overall = overall.with_columns(
        pl.col("metric").replace_strict(order, return_dtype=pl.Int32).alias("_o")
    ).sort(["target", "_o"])
    return overall.partition_by("target", as_dict=True)


def _segments_by_target(seg: pl.DataFrame) -> tuple[dict[Any, pl.DataFrame], pl.DataFrame]:
    """The per-segment rows per target in the columns of ``MetricComparison`` (sorted by metric
    and segment), and an empty frame of those columns for a release without segments."""
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
    return seg_frame.partition_by("target", as_dict=True), seg_frame.clear().drop("target")


def _status(
    w: Mapping[str, Any],
    plan: LookPlan | None,
    blocked: str | None,
    n_new: int,
    n_ref: int,
    min_cases: int,
    as_of: datetime,
) -> tuple[Status, str]:
    """A release comparison's status and message: ``insufficient_data`` (blocked, no complete
    look, too few cases in an arm), ``immature`` (the window ends after ``as_of``) or ``ok``."""
    if blocked is not None:
        return "insufficient_data", blocked
    if plan is None or plan.done == 0:
        return "insufficient_data", "no complete UTC day of the new version by as_of"
    if n_new < min_cases or n_ref < min_cases:
        return "insufficient_data", (
            f"fewer than {min_cases} cases in an arm (new {n_new}, reference {n_ref})"
        )
    if w["window_end"] > as_of:
        return "immature", f"observation window ends {w['window_end'].isoformat()}, after as_of"
    return "ok", ""


def _assemble(
    ids: Sequence[str],
    windows: pl.DataFrame,
    overall: pl.DataFrame,
    seg: pl.DataFrame,
    plans: Mapping[str, LookPlan],
    detection: Mapping[str, tuple[datetime, tuple[str, ...]]],
    seq: pl.DataFrame,
    as_of: datetime,
    setup: ComparisonSetup,
    blocked: Mapping[str, str],
) -> dict[str, ReleaseComparison]:
    """One ``ReleaseComparison`` per release, in the order of ``ids``."""
    cfg = setup.cfg
    by_target = _metrics_by_target(overall)
    seg_by_target, empty_seg = _segments_by_target(seg)
    look_by_target = seq.partition_by("target", as_dict=True) if seq.height else {}
    out: dict[str, ReleaseComparison] = {}
    for w in windows.iter_rows(named=True):
        rid = w["release_id"]
        rows = by_target[(rid,)].to_dicts()
        plan = plans.get(rid)
        n_new, n_ref = (
            int(max((r[f"N_{arm}"] or 0) for r in rows)) if rows else 0 for arm in ("new", "ref")
        )
        status, message = _status(
            w, plan, blocked.get(rid), n_new, n_ref, cfg.min_cases_per_arm, as_of
        )
        segs = seg_by_target.get((rid,))
        found = detection.get(rid)
        looks = look_by_target.get((rid,))
        shown = rid not in blocked and plan is not None
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
            metrics={r["metric"]: _metric_from_row(r) for r in rows},
            segments=segs.drop("target") if segs is not None else empty_seg,
            multiple_testing=cfg.multiple_testing,
            alpha=cfg.alpha,
            control=plan.control if plan and shown else None,
            concurrent_share=plan.concurrent_share if plan and shown else None,
            looks_done=plan.done if plan else 0,
            looks_planned=plan.planned if plan else 0,
            look_time=plan.look_times[-1] if plan and plan.look_times else None,
            family=tuple(setup.family),
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
