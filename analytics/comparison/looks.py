"""Daily looks of the version comparison: which days each arm uses, and the contrast at each look.

A release's observation window covers the UTC days from its release day up to ``window_end``
(``analytics.comparison``); the comparison looks at the data once at the end of each of those
days (``planned`` looks), and only at days that are complete at ``as_of``, so a comparison read
twice in one day gives the same answer and the number of looks does not depend on how often it
is read.

**Control arm at a look.** The *concurrent* control is the reference version's cases on the days
on which the new version served (up to the look) and the reference version served at least
``comparison.min_cases_per_segment`` cases: the old version beside the canary. Days on which
the new version served alone (after a ramp to 100 %) are left out of the contrast and counted in
``concurrent_share``. Only when there is no concurrent day at all (an immediate 100 % rollout)
is the control the reference version's *pre-release* window (the ``observation_window_days``
before the release day), a weaker design flagged as ``control = "pre_release"``.

At each look every metric gets its standardised contrast (``analytics.comparison.estimator``); the
inference (intervals, one-sided p-values, sequential p-values, verdicts) is in
``analytics.comparison``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from analytics.comparison.estimator import CellTable, contrast_batch, effective_sizes
from analytics.core.schemas import SEGMENT_COLUMNS

LOOK_SCHEMA: dict[str, pl.DataType] = {
    "target": pl.String(),
    "look": pl.Int64(),
    "look_time": pl.Datetime("us", "UTC"),
    "metric": pl.String(),
    "control": pl.String(),
    "m_new": pl.Float64(),
    "v_new": pl.Float64(),
    "n_new_eff": pl.Float64(),
    "N_new": pl.Float64(),
    "r": pl.Float64(),
    "v_ref": pl.Float64(),
    "N_ref": pl.Float64(),
    "n_eff_ref": pl.Float64(),
    "kish_ref": pl.Float64(),
    "standardised_share": pl.Float64(),
    "naive_ref": pl.Float64(),
    "naive_v_ref": pl.Float64(),
    "sd_new": pl.Float64(),
    "sd_ref": pl.Float64(),
}


@dataclass(frozen=True)
class LookPlan:
    """The looks of one release: ``planned`` daily looks, ``done`` of them complete at as_of;
    per done look its end time; the arm days used at the current (last done) look; the control
    design; and the share of the new version's cases on concurrent days."""

    target: str
    planned: int
    done: int
    look_times: tuple[datetime, ...]
    control: str | None
    concurrent_share: float | None
    new_days: tuple[int, ...]
    ref_days: tuple[int, ...]


def level_columns(collapse_order: Sequence[str]) -> list[list[str]]:
    """The segment columns kept at each collapse level: level 0 all four, then dropping the
    columns of ``collapse_order`` one by one; the last level keeps none (one stratum)."""
    order = list(collapse_order)
    return [[c for c in SEGMENT_COLUMNS if c not in order[:lvl]] for lvl in range(len(order) + 1)]


def segment_codes(
    frame: pl.DataFrame, collapse_order: Sequence[str]
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """(each row's segment code, the level maps): segments are numbered in sorted order over
    the whole frame; ``maps[l][code]`` is the segment's stratum code at collapse level ``l``."""
    if frame.height == 0:
        return np.zeros(0, np.int64), tuple(
            np.zeros(0, np.int64) for _ in level_columns(collapse_order)
        )
    segs = frame.select(SEGMENT_COLUMNS).unique().sort(SEGMENT_COLUMNS).with_row_index("_seg")
    code = frame.join(segs, on=list(SEGMENT_COLUMNS), how="left", maintain_order="left")["_seg"]
    maps = []
    for cols in level_columns(collapse_order):
        if not cols:
            maps.append(np.zeros(segs.height, np.int64))
            continue
        key = segs.select(pl.struct(cols).rank("dense").cast(pl.Int64) - 1).to_series()
        maps.append(key.to_numpy())
    return code.cast(pl.Int64).to_numpy(), tuple(maps)


def target_slices(targets: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of equal values in ``targets`` (rows sorted by target): one
    numpy slice per release."""
    if len(targets) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, targets[1:] != targets[:-1]]).tolist()
    return list(zip(starts, [*starts[1:], len(targets)], strict=True))


def cell_tables(
    frame: pl.DataFrame, metrics: Sequence[tuple[str, str, str]], collapse_order: Sequence[str]
) -> dict[str, CellTable]:
    """One ``CellTable`` per target from the cell rows of many releases (columns target, arm,
    day, the segment columns, ``n`` and the count/sum/sum-of-squares column of each metric);
    segment codes and level maps are shared."""
    if frame.height == 0:
        return {}
    frame = frame.sort("target", maintain_order=True)
    seg, maps = segment_codes(frame, collapse_order)
    day = frame["day"].cast(pl.Int64).to_numpy()
    new = (frame["arm"] == "new").to_numpy()
    n = frame["n"].cast(pl.Float64).to_numpy()

    def stack(i: int) -> np.ndarray:
        cols = [pl.col(m[i]).cast(pl.Float64).fill_null(0.0) for m in metrics]
        return np.ascontiguousarray(frame.select(cols).to_numpy().T)

    cnt, s1, s2 = stack(0), stack(1), stack(2)
    targets = frame["target"].to_numpy()
    return {
        str(targets[a]): CellTable(
            new=new[a:b],
            day=day[a:b],
            seg=seg[a:b],
            level_maps=maps,
            n=n[a:b],
            cnt=cnt[:, a:b],
            s1=s1[:, a:b],
            s2=s2[:, a:b],
        )
        for a, b in target_slices(targets)
    }


def _epoch_day(t: datetime) -> int:
    return (t.date() - datetime(1970, 1, 1).date()).days


Part = tuple[str, np.ndarray, np.ndarray]  # (control, new-arm cell mask, reference cell mask)
Look = tuple[int, datetime, str | None, list[Part]]


def plan_looks(
    cells: CellTable,
    *,
    target: str,
    window_start: datetime,
    window_end: datetime,
    ref_start: datetime,
    as_of: datetime,
    min_day_cases: int,
    min_control_cases: int = 0,
) -> tuple[LookPlan, list[Look]]:
    """The release's looks and, per done look, (look number, end time, control, parts): the
    new version's days with a concurrent control are compared with the old version on those
    days; its other days (after a ramp to 100 %) with the pre-release window. ``control`` is
    ``concurrent``, ``pre_release`` or ``mixed``. A concurrent control with fewer than
    ``min_control_cases`` reference cases over the look's days (a canary beside an old version
    that hardly served) is not used when a pre-release window exists: those days are compared
    with the pre-release window instead."""
    first = _epoch_day(window_start)
    planned = max(1, (window_end - window_start).days)
    looks: list[Look] = []
    days = cells.day
    new_per_day: dict[int, float] = {}
    ref_per_day: dict[int, float] = {}
    for d, isnew, n in zip(days.tolist(), cells.new.tolist(), cells.n.tolist(), strict=True):
        book = new_per_day if isnew else ref_per_day
        book[d] = book.get(d, 0.0) + n
    pre = [d for d in ref_per_day if _epoch_day(ref_start) <= d < first]
    control: str | None = None
    share: float | None = None
    new_days: tuple[int, ...] = ()
    ref_days: tuple[int, ...] = ()
    for k in range(1, planned + 1):
        end = window_start + timedelta(days=k)
        if end > as_of:
            break
        last = first + k - 1
        served = [d for d in range(first, last + 1) if new_per_day.get(d, 0) > 0]
        conc = [d for d in served if ref_per_day.get(d, 0) >= min_day_cases]
        if pre and sum(ref_per_day.get(d, 0.0) for d in conc) < min_control_cases:
            # a concurrent control too small to decide on its own: the pre-release window
            conc = []
        alone = [d for d in served if d not in conc] if pre else []
        parts: list[Part] = []
        if conc:
            parts.append(
                ("concurrent", cells.new & np.isin(days, conc), ~cells.new & np.isin(days, conc))
            )
        if alone:
            parts.append(
                ("pre_release", cells.new & np.isin(days, alone), ~cells.new & np.isin(days, pre))
            )
        kinds = {p[0] for p in parts}
        control = None if not kinds else "mixed" if len(kinds) == 2 else next(iter(kinds))
        total = sum(new_per_day.get(d, 0.0) for d in served)
        share = sum(new_per_day.get(d, 0.0) for d in conc) / total if total else None
        looks.append((k, end, control, parts))
        new_days = tuple(sorted(set(conc) | set(alone)))
        ref_days = tuple(sorted(set(conc) | (set(pre) if alone else set())))
    plan = LookPlan(
        target=target,
        planned=planned,
        done=len(looks),
        look_times=tuple(x[1] for x in looks),
        control=control,
        concurrent_share=share,
        new_days=new_days,
        ref_days=ref_days,
    )
    return plan, looks


_ROW_FIELDS = (
    "m_new",
    "v_new",
    "n_new",
    "count_new",
    "r",
    "v_ref",
    "n_ref",
    "n_eff_ref",
    "kish_ref",
    "standardised_share",
    "naive_ref",
    "naive_v_ref",
    "sd_new",
    "sd_ref",
)


def _combine(parts: Sequence[dict[str, np.ndarray]], rate: np.ndarray) -> dict[str, np.ndarray]:
    """The contrast over the union of disjoint parts of the new arm, each against its own
    control (canary days with the concurrent old version, days after a ramp to 100 % with the
    pre-release window), weighted by the parts' new-arm case counts so the target stays the
    whole new arm; independent parts, so variances add with squared weights. A part without a
    value for a row drops out of it."""
    weights = [np.where(np.isfinite(p["m_new"]), p["count_new"], 0.0) for p in parts]
    total = sum(weights)
    with np.errstate(divide="ignore", invalid="ignore"):
        ws = [np.where(total > 0, w / total, 0.0) for w in weights]

        def mix(key: str, power: int = 1) -> np.ndarray:
            return sum(  # type: ignore[return-value]
                np.where(w > 0, (w**power) * p[key], 0.0) for w, p in zip(ws, parts, strict=True)
            )

        out = {
            "m_new": mix("m_new"),
            "r": mix("r"),
            "v_new": mix("v_new", 2),
            "v_ref": mix("v_ref", 2),
            "standardised_share": mix("standardised_share"),
            "naive_ref": mix("naive_ref"),
            "naive_v_ref": mix("naive_v_ref", 2),
            "sd_new": np.sqrt(mix("sd_new", 1) ** 2),
            "sd_ref": np.sqrt(mix("sd_ref", 1) ** 2),
            "count_new": total,
            "n_ref": sum(np.where(np.isfinite(p["m_new"]), p["n_ref"], 0.0) for p in parts),
        }
        kish_inv = sum(
            np.where(w > 0, w * w / p["kish_ref"], 0.0) for w, p in zip(ws, parts, strict=True)
        )
        kish = np.where(kish_inv > 0, 1.0 / kish_inv, 0.0)
        r, m, vr, vn = out["r"], out["m_new"], out["v_ref"], out["v_new"]
        pooled = mix("sd_ref") ** 2
        out["kish_ref"] = kish
        out["n_new"], out["n_eff_ref"] = effective_sizes(
            rate, m, vn, out["count_new"], r, vr, pooled, kish
        )
    single = sum((w > 0).astype(int) for w in weights) == 1
    for key in _ROW_FIELDS:
        lone = sum(np.where(w > 0, p[key], 0.0) for w, p in zip(weights, parts, strict=True))
        out[key] = np.where(single, lone, out[key])
    none = total <= 0
    return {k: np.where(none, np.nan, v) for k, v in out.items()}


def look_rows(
    cells: CellTable,
    looks: Sequence[Look],
    *,
    target: str,
    names: Sequence[str],
    kinds: Sequence[str],
    every_look: Sequence[bool],
    min_segment_cases: int,
    min_arm_cases: int = 1,
) -> list[tuple[Any, ...]]:
    """Rows of ``LOOK_SCHEMA``: the contrast of each metric at every look (metrics with
    ``every_look`` false, whose verdicts only report, at the last look only), computed as one
    batch per control design (``analytics.comparison.estimator.contrast_batch``) over the cells that
    design uses, the parts combined by their shares of the new arm's cases."""
    if not looks:
        return []
    last = len(looks) - 1

    def enough(parts: Sequence[Part]) -> bool:
        new_n = sum(float(cells.n[p[1]].sum()) for p in parts)
        ref_n = sum(float(cells.n[p[2]].sum()) for p in parts)
        return new_n >= min_arm_cases and ref_n >= min_arm_cases

    # an interim look with fewer than min_arm_cases cases in an arm cannot count for any metric
    # (analytics.comparison.decisions._sequential): it is not computed
    counted = [j == last or enough(look[3]) for j, look in enumerate(looks)]
    pairs = [
        (j, i)
        for j in range(len(looks))
        for i in range(len(names))
        if counted[j] and (every_look[i] or j == last)
    ]
    look_idx = np.array([j for j, _ in pairs])
    metric_idx = np.array([i for _, i in pairs])
    rate = np.array([kinds[i] == "rate" for i in metric_idx])
    results = []
    for design in ("concurrent", "pre_release"):
        found = [next((p for p in parts if p[0] == design), None) for *_, parts in looks]
        if not any(f is not None for f in found):
            continue
        empty = np.zeros(len(cells.n), bool)
        new_m = np.vstack([empty if f is None else f[1] for f in found])
        ref_m = np.vstack([empty if f is None else f[2] for f in found])
        cols = np.flatnonzero((new_m | ref_m).any(axis=0))
        batch = CellTable(
            new=cells.new[cols],
            day=cells.day[cols],
            seg=cells.seg[cols],
            level_maps=cells.level_maps,
            n=cells.n[cols],
            cnt=cells.cnt[np.ix_(metric_idx, cols)],
            s1=cells.s1[np.ix_(metric_idx, cols)],
            s2=cells.s2[np.ix_(metric_idx, cols)],
        )
        results.append(
            contrast_batch(
                batch,
                new_m[np.ix_(look_idx, cols)],
                ref_m[np.ix_(look_idx, cols)],
                rate=rate,
                k=min_segment_cases,
                concurrent=design == "concurrent",
            )
        )
    if not results:
        out = {key: np.full(len(pairs), np.nan) for key in _ROW_FIELDS}
    else:
        out = results[0] if len(results) == 1 else _combine(results, rate)
    rows: list[tuple[Any, ...]] = []
    for b, (j, i) in enumerate(pairs):
        k, end, control, _ = looks[j]
        if not np.isfinite(out["m_new"][b]):
            rows.append((target, k, end, names[i], control, *([None] * 14)))
        else:
            rows.append(
                (target, k, end, names[i], control, *[float(out[f][b]) for f in _ROW_FIELDS])
            )
    return rows


__all__ = [
    "LOOK_SCHEMA",
    "LookPlan",
    "cell_tables",
    "level_columns",
    "look_rows",
    "plan_looks",
    "segment_codes",
    "target_slices",
]
