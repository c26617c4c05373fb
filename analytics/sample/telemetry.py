"""Case-level telemetry per system: traffic, segments, which release serves each case during
rollouts, withdrawals and marker lags, and the outcomes (escalation, rework, violations, refusals,
quality, tokens, cost, latency, handling time); written as one Parquet file per month, with the
case counts the truth needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analytics.core.policy import Policy
from analytics.sample.organisation import (
    _CRIT_FX,
    _CRIT_REFUSAL,
    _CRITICALITY,
    _CUSTOMER_FX,
    _DIURNAL,
    _LANG_FX,
    _SYSTEMS,
    _System,
)
from analytics.sample.records import _D, _H, _dt, _Rel, _Timeline, _window_end


def _segment_filter(system: _System, segment: str) -> tuple[int, int]:
    if segment == "all":
        return -1, -1
    column, value = segment.split("=")
    if column == "task_type":
        return 0, [t.name for t in system.tasks].index(value)
    if column == "criticality":
        return 1, _CRITICALITY.index(value)
    if column == "language":
        return 2, [lang for lang, _ in system.languages].index(value)
    return 3, [c for c, _ in system.customers].index(value)


def _telemetry_system(
    system: _System,
    rels: list[_Rel],
    tl: _Timeline,
    cases_per_day: int,
    obs: Mapping[str, Any],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """One system's cases from its first release to the end of the period, as arrays: times,
    segment codes, the release labelled and the one serving (global indices), and outcomes.

    The steps draw from ``rng`` in this order: case times, segments, routing, decision-quality
    outcomes, then tokens, latency and handling time."""
    ts = _case_times(rels[0].released_at, tl, cases_per_day, rng)
    segs = _case_segments(system, ts.size, rng)
    serving = _serving(system, rels, ts, segs, rng)
    # During a system's launch canary the other cases are handled without AI: not telemetry.
    keep = serving >= 0
    ts, segs, serving = ts[keep], segs[:, keep], serving[keep]
    label = _labels(rels, ts, serving, obs)
    task, crit, lang, cust = segs
    outcomes = _decision_outcomes(system, rels, ts, segs, serving, rng)
    outcomes.update(
        _cost_outcomes(
            system, rels, ts, task, serving, outcomes["escalated"], outcomes["reworked"], rng
        )
    )
    gidx = np.array([r.gidx for r in rels])
    return {
        "ts": ts,
        "release": gidx[label],
        "serving": gidx[serving],
        "task": task,
        "crit": crit,
        "lang": lang,
        "cust": cust,
        **outcomes,
    }


def _case_times(
    first: int, tl: _Timeline, cases_per_day: int, rng: np.random.Generator
) -> np.ndarray:
    """Sorted case times from ``first`` to the end of the period: Poisson cases per day (weekdays
    busier), hours on the diurnal curve, uniform within the hour."""
    day0 = first - first % _D
    ndays = -(-(tl.end - day0) // _D)
    weekday = (np.arange(ndays) + day0 // _D + 3) % 7  # 0 = Monday
    counts = rng.poisson(cases_per_day * np.where(weekday < 5, 1.15, 0.625))
    day = np.repeat(np.arange(ndays, dtype=np.int64), counts)
    n = day.size
    ts = (
        day0
        + day * _D
        + rng.choice(24, size=n, p=_DIURNAL).astype(np.int64) * _H
        + rng.integers(0, _H, size=n)
    )
    return np.sort(ts[(ts >= first) & (ts < tl.end)])


def _case_segments(system: _System, n: int, rng: np.random.Generator) -> np.ndarray:
    """Segment codes (rows: task type, criticality, language, customer segment) of ``n`` cases;
    criticality depends on the task type."""
    tasks = system.tasks
    task = rng.choice(len(tasks), size=n, p=[t.share for t in tasks])
    crit_cum = np.cumsum([t.criticality for t in tasks], axis=1)[task]
    crit = (rng.random(n)[:, None] > crit_cum[:, :2]).sum(axis=1)
    lang_p = np.array([p for _, p in system.languages])
    cust_p = np.array([p for _, p in system.customers])
    lang = rng.choice(len(lang_p), size=n, p=lang_p / lang_p.sum())
    cust = rng.choice(len(cust_p), size=n, p=cust_p / cust_p.sum())
    return np.stack([task, crit, lang, cust])


def _serving(
    system: _System,
    rels: list[_Rel],
    ts: np.ndarray,
    segs: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """The release serving each case (local index; -1: no AI): during a stage, a case of the
    stage's segment goes to the new release with the stage's traffic share, any other case to the
    release it replaces; after a withdrawal the replaced release serves again."""
    n = ts.size
    # Serving periods: (start, new, old, pct, segment column, segment value).
    periods: list[tuple[int, int, int, float, int, int]] = []
    for rel in rels:
        old = rel.base.local if rel.base is not None else -1
        for st in rel.stages:
            col, val = _segment_filter(system, st.segment)
            periods.append((st.start, rel.local, old, st.pct, col, val))
        if rel.withdrawn_at is not None:
            periods.append((rel.withdrawn_at, old, -1, 100.0, -1, -1))
    p_start = np.array([p[0] for p in periods], dtype=np.int64)
    p_new, p_old, p_pct, p_col, p_val = (np.array([p[i] for p in periods]) for i in range(1, 6))
    pi = np.searchsorted(p_start, ts, side="right") - 1
    seg_col = p_col[pi]
    match = (seg_col < 0) | (segs[np.maximum(seg_col, 0), np.arange(n)] == p_val[pi])
    return np.where(match & (rng.random(n) < p_pct[pi] / 100.0), p_new[pi], p_old[pi])


def _labels(
    rels: list[_Rel], ts: np.ndarray, serving: np.ndarray, obs: Mapping[str, Any]
) -> np.ndarray:
    """The release each case is labelled with (local index). Every release gets its marker within
    the policy's hours (one case moved to it in ``serving`` if needed) unless a marker lag is
    planted; during a lag, the release's cases carry the replaced release's marker."""
    marker = int(float(obs.get("marker_within_hours", 24)) * _H)
    for rel in rels:
        if rel.marker_lag_h is not None:
            continue
        i0, i1 = np.searchsorted(ts, [rel.released_at, rel.released_at + marker])
        if i1 > i0 and not (serving[i0:i1] == rel.local).any():
            serving[i0] = rel.local
    label = serving.copy()
    for rel in rels:
        if rel.marker_lag_h is not None and rel.base is not None:
            i0, i1 = np.searchsorted(
                ts, [rel.released_at, rel.released_at + int(rel.marker_lag_h * _H)]
            )
            seg = label[i0:i1]
            seg[serving[i0:i1] == rel.local] = rel.base.local
    return label


def _decision_outcomes(
    system: _System,
    rels: list[_Rel],
    ts: np.ndarray,
    segs: np.ndarray,
    serving: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Escalation, rework, policy violation, refusal and quality score per case: the system's
    base rates times the segment effects times the serving release's state at the case's time."""
    task, crit, lang, cust = segs
    n = ts.size
    task_fx = np.array([t.fx for t in system.tasks])
    fx = (
        task_fx[task]
        * np.array(_CRIT_FX)[crit]
        * np.array([_LANG_FX[lg] for lg, _ in system.languages])[lang]
        * np.array([_CUSTOMER_FX[c] for c, _ in system.customers])[cust]
    )
    dq_active = np.array([r.dq_active for r in rels])
    dq_after = np.array([r.dq_after for r in rels])
    dq_switch = np.array([r.dq_switch for r in rels], dtype=np.int64)
    state = np.where((ts < dq_switch[serving])[:, None], dq_active[serving], dq_after[serving])
    prob = np.array(system.rates) * fx * state
    escalated = rng.random(n) < np.clip(prob[:, 0], 0, 0.99)
    reworked = rng.random(n) < np.clip(prob[:, 1], 0, 0.99)
    violation = rng.random(n) < np.clip(prob[:, 2], 0, 0.99)
    refused = rng.random(n) < system.refusal * np.array(_CRIT_REFUSAL)[crit]
    q_mean = np.clip(prob[:, 3], 0.02, 0.98)
    concentration = 18.0
    quality = rng.beta(q_mean * concentration, (1 - q_mean) * concentration)
    quality = np.where(rng.random(n) < 0.22, np.nan, np.round(quality, 4))
    return {
        "escalated": escalated,
        "reworked": reworked,
        "policy_violation": violation,
        "refused": refused,
        "quality_score": quality,
    }


def _cost_outcomes(
    system: _System,
    rels: list[_Rel],
    ts: np.ndarray,
    task: np.ndarray,
    serving: np.ndarray,
    escalated: np.ndarray,
    reworked: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Tokens, model cost, latency and handling time per case: the serving release's token and
    price levels at the case's time, the task's size, and human time for escalations and rework."""
    tasks = system.tasks
    cost_on = ts < np.array([r.cost_switch for r in rels], dtype=np.int64)[serving]
    tok_level = np.where(
        cost_on,
        np.array([r.tok_active for r in rels])[serving],
        np.array([r.tok_after for r in rels])[serving],
    )
    price_level = np.where(
        cost_on,
        np.array([r.price_active for r in rels])[serving],
        np.array([r.price_after for r in rels])[serving],
    )
    task_tok = np.array([t.tokens for t in tasks])[task]
    tokens = np.maximum(
        1, np.rint(rng.lognormal(np.log(system.tokens * task_tok * tok_level), 0.4))
    ).astype(np.int64)
    cost = np.round(tokens / 1000 * system.usd_per_1k_tokens * price_level, 6)
    latency = np.round(
        rng.lognormal(np.log(system.latency_ms * tok_level**0.35 * task_tok**0.3), 0.45), 1
    )
    task_h = np.array([t.handling for t in tasks])[task]
    h_auto, h_esc, h_rew = system.handling_s
    handling = (
        rng.lognormal(np.log(h_auto * task_h), 0.5)
        + escalated * rng.lognormal(np.log(h_esc * task_h), 0.55)
        + reworked * rng.lognormal(np.log(h_rew), 0.6)
    )
    return {
        "handling_time_s": np.round(handling, 1),
        "latency_ms": latency,
        "tokens": tokens,
        "model_cost_usd": cost,
    }


def _telemetry_frame(
    system: _System, data: Mapping[str, np.ndarray], rids: pl.Series
) -> pl.DataFrame:
    def names(values: Sequence[str], codes: np.ndarray) -> pl.Series:
        return pl.Series(list(values), dtype=pl.String).gather(codes)

    n = data["ts"].size
    return pl.DataFrame(
        {
            "ts": pl.Series(data["ts"], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "release_id": rids.gather(data["release"]),
            "system": pl.Series([system.name], dtype=pl.String).gather(np.zeros(n, dtype=np.int64)),
            "task_type": names([t.name for t in system.tasks], data["task"]),
            "criticality": names(_CRITICALITY, data["crit"]),
            "language": names([lg for lg, _ in system.languages], data["lang"]),
            "customer_segment": names([c for c, _ in system.customers], data["cust"]),
            "escalated": data["escalated"],
            "reworked": data["reworked"],
            "policy_violation": data["policy_violation"],
            "refused": data["refused"],
            "handling_time_s": data["handling_time_s"],
            "latency_ms": data["latency_ms"],
            "tokens": data["tokens"],
            "model_cost_usd": data["model_cost_usd"],
            "quality_score": pl.Series(data["quality_score"], nan_to_null=True),
        }
    )


@dataclass
class _TelemetryWritten:
    """What writing the telemetry leaves for the summary and the truth: the monthly files, the
    number of cases, the releases (global indices) labelled within the policy's marker hours, and
    per planted regression the cases in its window and the baseline's cases."""

    files: list[Path] = field(default_factory=list)
    cases: int = 0
    marker_seen: set[int] = field(default_factory=set)
    window_cases: dict[int, int] = field(default_factory=dict)
    baseline_cases: dict[int, int] = field(default_factory=dict)


def _write_telemetry(
    tdir: Path,
    rels: list[_Rel],
    by_system: Mapping[str, list[_Rel]],
    tl: _Timeline,
    policy: Policy,
    cases_per_day: int,
    seeds: Sequence[np.random.SeedSequence],
) -> _TelemetryWritten:
    """Generate every system's telemetry (one random stream per system, from ``seeds``), note what
    the truth needs, and write one zstd Parquet file per calendar month into ``tdir`` (earlier
    Parquet files there are removed first)."""
    tdir.mkdir(parents=True, exist_ok=True)
    for old in sorted(tdir.glob("*.parquet")):
        old.unlink()
    rids = pl.Series([r.rid for r in rels], dtype=pl.String)
    obs = policy.section("observability")
    written = _TelemetryWritten()
    frames = []
    for sys, ss in zip(_SYSTEMS, seeds, strict=True):
        srels = by_system[sys.name]
        if not srels:
            continue
        data = _telemetry_system(sys, srels, tl, cases_per_day, obs, np.random.default_rng(ss))
        _note_cases(written, srels, data, tl, policy)
        frames.append(_telemetry_frame(sys, data, rids))
    telemetry = pl.concat(frames).sort("ts", "system", maintain_order=True)
    written.cases = telemetry.height
    written.files = _write_months(telemetry, tl, tdir)
    return written


def _note_cases(
    written: _TelemetryWritten,
    rels: list[_Rel],
    data: Mapping[str, np.ndarray],
    tl: _Timeline,
    policy: Policy,
) -> None:
    """Record which of one system's releases are labelled within the marker hours, and for each
    planted regression the cases labelled with it in its window and with its baseline from an
    observation window before it to the window's end."""
    marker = int(float(policy.section("observability").get("marker_within_hours", 24)) * _H)
    obs_window = int(policy.observation_window_days * _D)
    ts, label = data["ts"], data["release"]
    for rel in rels:
        i0, i1 = np.searchsorted(ts, [rel.released_at, rel.released_at + marker])
        if (label[i0:i1] == rel.gidx).any():
            written.marker_seen.add(rel.gidx)
        if rel.regression is not None and rel.prev is not None:
            end = _window_end(rel, tl, obs_window)
            w0, w1 = np.searchsorted(ts, [rel.released_at, end])
            written.window_cases[rel.gidx] = int((label[w0:w1] == rel.gidx).sum())
            b0 = np.searchsorted(ts, rel.released_at - obs_window)
            written.baseline_cases[rel.gidx] = int((label[b0:w1] == rel.prev.gidx).sum())


def _write_months(telemetry: pl.DataFrame, tl: _Timeline, tdir: Path) -> list[Path]:
    """Write ``telemetry`` (sorted by ``ts``) as ``YYYY-MM.parquet`` per month that has cases."""
    files = []
    bounds = [*tl.month_starts, tl.end]
    ts_col = telemetry["ts"].cast(pl.Int64).to_numpy()
    for month_start, month_end in zip(bounds[:-1], bounds[1:], strict=True):
        i0, i1 = np.searchsorted(ts_col, [month_start, month_end])
        if i1 > i0:
            path = tdir / f"{_dt(month_start):%Y-%m}.parquet"
            telemetry.slice(int(i0), int(i1 - i0)).write_parquet(path, compression="zstd")
            files.append(path)
    return files
