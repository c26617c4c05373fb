"""Calibration of the version comparison: its error rates, interval coverage and power under
realistic canaries, beside textbook methods on the same data.

The telemetry generator here is independent of the sample data (``analytics.sample.generate``): each
simulated release is its own system whose old version serves alone for a week, then beside a
staged canary of the new version (5 % -> 20 % -> 50 % of the traffic by default) over the
observation window. Traffic falls into 108 segments (4 task types x 3 criticalities x 3
languages x 3 customer segments) with a skewed mix, so most segments are sparse; segment
difficulty drives escalation, rework, policy violations, quality, handling time, tokens and
latency on the logit / log scale, with segment-specific interactions. A scenario can

- shift the canary's traffic mix towards harder (``mix_shift > 0``) or easier (``< 0``)
  segments, the new version serving segment s with probability proportional to
  ``exp(mix_shift * difficulty_s)`` at the stage's overall share;
- add day-level shocks shared by both versions (``day_shock_sd`` on the logit scale of the
  rates, and as a log-factor on handling time and tokens);
- plant effects on the new version: ``escalation_pp`` (absolute, on the probability),
  ``escalation_rel`` (relative), ``cost_rel`` (model cost per case), ``latency_rel`` (every
  case's latency, so p95 moves by the same factor);
- roll out immediately to 100 % (``immediate``: no concurrent control).

``run_scenario`` rolls the telemetry up, runs the engine (``compare_releases`` and
``judge_comparison``) as of the end of the window, and beside it on the same data: textbook
post-stratification (108 segments, new-arm weights, independent-case variance, a fixed-horizon
one-sided test at the end of the window and, for the repeated-looks row, at every daily look)
and statsmodels' two-sample test of the escalation rate on the unadjusted arms
(``test_proportions_2indep``, ratio against the margin); unit-cost intervals are checked for
coverage against the generator's truth. ``benchmarks/calibration.py`` runs the full
table recorded in METRICS.md; the tests run a fast slice.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from scipy import stats as sps

from analytics.comparison import compare_releases, judge_comparison
from analytics.core.policy import Policy, load_policy
from analytics.data.rollup import Rollup, rollup_telemetry

TASKS = ("classify", "draft", "extract", "decide")
CRITICALITIES = ("low", "medium", "high")
LANGUAGES = ("en", "de", "fr")
CUSTOMERS = ("smb", "mid", "enterprise")
START = datetime(2026, 1, 1, tzinfo=UTC)
PRE_DAYS = 7
RELEASE_HOUR = 6
COSTS = {"human_hourly_usd": 45.0, "rework_usd": 12.0, "escalation_usd": 20.0}
TOKEN_PRICE = 0.000002  # USD per token


@dataclass(frozen=True)
class Scenario:
    """One calibration scenario (see module docstring); ``releases`` replicates."""

    name: str
    cases_per_day: int = 300
    mix_shift: float = 0.0
    day_shock_sd: float = 0.0
    escalation_pp: float = 0.0
    escalation_rel: float = 0.0
    cost_rel: float = 0.0
    latency_rel: float = 0.0
    immediate: bool = False
    stages: tuple[tuple[int, float], ...] = ((0, 0.05), (2, 0.20), (4, 0.50))
    releases: int = 150
    seed: int = 1


@dataclass(frozen=True)
class World:
    """The fixed segment structure: the base mix and per-segment parameters."""

    task: np.ndarray
    crit: np.ndarray
    lang: np.ndarray
    cust: np.ndarray
    mix: np.ndarray
    difficulty: np.ndarray
    esc: np.ndarray
    rework: np.ndarray
    violation: np.ndarray
    refusal: np.ndarray
    quality: np.ndarray
    handling: np.ndarray
    tokens: np.ndarray
    latency: np.ndarray


def make_world(seed: int = 20261129) -> World:
    """108 segments with a skewed mix (a few large, most sparse) and logit / log-scale
    parameters driven by difficulty plus segment-specific interactions."""
    rng = np.random.default_rng(seed)
    grid = np.array(
        [
            (t, c, la, cu)
            for t in range(len(TASKS))
            for c in range(len(CRITICALITIES))
            for la in range(len(LANGUAGES))
            for cu in range(len(CUSTOMERS))
        ]
    )
    task, crit, lang, cust = grid.T
    difficulty = (
        np.array([-0.5, 0.2, 0.0, 0.8])[task]
        + np.array([-0.6, 0.0, 0.7])[crit]
        + np.array([0.0, 0.25, 0.35])[lang]
        + np.array([-0.2, 0.0, 0.3])[cust]
    )
    mix = np.exp(rng.normal(0.0, 1.1, len(grid)) - 0.4 * crit)
    mix /= mix.sum()
    inter = rng.normal(0.0, 0.3, (6, len(grid)))
    return World(
        task=task,
        crit=crit,
        lang=lang,
        cust=cust,
        mix=mix,
        difficulty=difficulty,
        esc=-2.3 + 0.9 * difficulty + inter[0],
        rework=-2.6 + 0.6 * difficulty + inter[1],
        violation=-4.8 + 0.5 * difficulty + inter[2],
        refusal=-3.6 + 0.3 * difficulty + inter[3],
        quality=0.86 - 0.04 * difficulty + 0.02 * inter[4],
        handling=np.log(240.0) + 0.35 * difficulty + 0.2 * inter[5],
        tokens=np.log(1800.0) + 0.25 * difficulty,
        latency=np.log(900.0) + 0.3 * difficulty,
    )


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Simulated:
    """A scenario's telemetry, rolled up, with the releases and the truth per release."""

    rollup: Rollup
    units: pl.DataFrame
    as_of: datetime
    truth: dict[str, dict[str, float]] = field(default_factory=dict)
    telemetry: pl.DataFrame | None = None


def _new_share(s: Scenario, day: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """The new version's overall share of the traffic at each case's time."""
    t = (day - PRE_DAYS) + hour / 24.0 - RELEASE_HOUR / 24.0  # days since release
    share = np.zeros(len(day))
    if s.immediate:
        return np.where(t >= 0, 1.0, 0.0)
    for start, value in s.stages:
        share = np.where(t >= start, value, share)
    return share


def simulate(s: Scenario, world: World | None = None, keep_telemetry: bool = False) -> Simulated:
    """Generate the scenario's case-level telemetry, roll it up and list the releases."""
    w = world or make_world()
    rng = np.random.default_rng([s.seed, zlib.crc32(s.name.encode())])
    days = PRE_DAYS + 8  # a week before, the release day and the 7-day window
    frames = []
    truth: dict[str, dict[str, float]] = {}
    affinity = np.exp(s.mix_shift * w.difficulty)
    affinity /= (w.mix * affinity).sum()
    for r in range(s.releases):
        frame, truth[f"r{r:04d}-new"] = _simulate_release(s, w, r, days, affinity, rng)
        frames.append(frame)
    telemetry = pl.concat(frames).with_columns(pl.col("ts").dt.cast_time_unit("us"))
    roll = rollup_telemetry(telemetry.lazy())
    as_of = START + timedelta(days=days)
    return Simulated(roll, _units(s), as_of, truth, telemetry if keep_telemetry else None)


def _simulate_release(
    s: Scenario,
    w: World,
    r: int,
    days: int,
    affinity: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pl.DataFrame, dict[str, float]]:
    """Replicate ``r``: its cases (Poisson per day, uniform hours, segments from the base mix,
    routed to the new version by stage share and segment affinity) with their outcomes, and the
    truth on the new version's own traffic (what the comparison estimates)."""
    counts = rng.poisson(s.cases_per_day, days)
    day = np.repeat(np.arange(days), counts)
    n = len(day)
    hour = rng.uniform(0, 24, n)
    seg = rng.choice(len(w.mix), size=n, p=w.mix)
    shock = rng.normal(0.0, s.day_shock_sd, days)[day] if s.day_shock_sd > 0 else 0.0
    pnew = np.clip(_new_share(s, day, hour) * affinity[seg], 0.0, 1.0)
    is_new = rng.uniform(size=n) < pnew
    p_esc = _expit(w.esc[seg] + shock)
    p_esc_new = np.clip(p_esc * (1 + s.escalation_rel) + s.escalation_pp, 0.0, 1.0)
    outcomes = _outcomes(s, w, seg, shock, is_new, np.where(is_new, p_esc_new, p_esc), rng)
    frame = pl.DataFrame(
        {
            "ts": _timestamps(day, hour),
            "release_id": np.where(is_new, f"r{r:04d}-new", f"r{r:04d}-old"),
            "system": f"sys-{r:04d}",
            "task_type": np.array(TASKS)[w.task[seg]],
            "criticality": np.array(CRITICALITIES)[w.crit[seg]],
            "language": np.array(LANGUAGES)[w.lang[seg]],
            "customer_segment": np.array(CUSTOMERS)[w.cust[seg]],
            **outcomes,
        }
    )
    nw = is_new
    expected_tokens = np.exp(w.tokens[seg] + 0.3 * shock + 0.4**2 / 2)
    truth = {
        "escalation_rate": float((p_esc_new[nw] - p_esc[nw]).mean()) if nw.any() else 0.0,
        "unit_cost_usd": float(
            (expected_tokens[nw] * TOKEN_PRICE * s.cost_rel + 20.0 * (p_esc_new - p_esc)[nw]).mean()
        )
        if nw.any()
        else 0.0,
    }
    return frame, truth


def _outcomes(
    s: Scenario,
    w: World,
    seg: np.ndarray,
    shock: np.ndarray | float,
    is_new: np.ndarray,
    p_esc: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Each case's outcomes in telemetry column order, from its segment, its day's shock and its
    version (``p_esc``: its escalation probability; the new version's cost and latency effects)."""
    n = len(seg)
    escalated = rng.uniform(size=n) < p_esc
    reworked = rng.uniform(size=n) < _expit(w.rework[seg] + shock)
    violated = rng.uniform(size=n) < _expit(w.violation[seg] + shock)
    refused = rng.uniform(size=n) < _expit(w.refusal[seg])
    quality = np.clip(rng.normal(w.quality[seg] - 0.02 * shock, 0.12), 0.0, 1.0)
    handling = np.exp(rng.normal(w.handling[seg] + 0.5 * shock, 0.6))
    tokens = np.exp(rng.normal(w.tokens[seg] + 0.3 * shock, 0.4))
    cost_factor = np.where(is_new, 1.0 + s.cost_rel, 1.0)
    model_cost = tokens * TOKEN_PRICE * cost_factor
    latency = np.exp(rng.normal(w.latency[seg], 0.5)) * np.where(is_new, 1 + s.latency_rel, 1)
    return {
        "escalated": escalated,
        "reworked": reworked,
        "policy_violation": violated,
        "refused": refused,
        "handling_time_s": handling,
        "latency_ms": latency,
        "tokens": tokens,
        "model_cost_usd": model_cost,
        "quality_score": quality,
    }


def _units(s: Scenario) -> pl.DataFrame:
    """The releases: per replicate an old version released a month before and the new one
    released on the release day, replacing it."""
    released = START + timedelta(days=PRE_DAYS, hours=RELEASE_HOUR)
    rows: list[tuple[str, str, datetime, str | None]] = []
    for r in range(s.releases):
        system = f"sys-{r:04d}"
        rows.append((f"r{r:04d}-old", system, START - timedelta(days=30), None))
        rows.append((f"r{r:04d}-new", system, released, f"r{r:04d}-old"))
    return pl.DataFrame(
        rows,
        schema={
            "release_id": pl.String,
            "system": pl.String,
            "released_at": pl.Datetime("us", "UTC"),
            "previous_release_id": pl.String,
        },
        orient="row",
    )


def _timestamps(day: np.ndarray, hour: np.ndarray) -> pl.Series:
    """``START + day + hour`` as UTC timestamps (microseconds)."""
    micros = np.round((day * 24.0 + hour) * 3600e6).astype("int64")
    base = np.datetime64(START.replace(tzinfo=None), "us")
    return pl.Series("ts", base + micros.astype("timedelta64[us]")).dt.replace_time_zone("UTC")


def calibration_policy(overrides: Mapping[str, Any] | None = None) -> Policy:
    """The shipped default policy with the generator's cost rates."""
    base = {"costs": dict(COSTS)}
    if overrides:
        from analytics.core.policy import deep_merge

        base = deep_merge(base, overrides)
    return load_policy(overrides=base)


# ---------------------------------------------------------------- textbook methods


def _arm_cells(
    cases: pl.DataFrame, rid_new: str, rid_old: str, day_from: Any, day_to: Any
) -> pl.DataFrame:
    keys = ["task_type", "criticality", "language", "customer_segment"]
    return (
        cases.filter(
            pl.col("release_id").is_in([rid_new, rid_old])
            & (pl.col("day") >= day_from)
            & (pl.col("day") <= day_to)
        )
        .with_columns(
            pl.when(pl.col("release_id") == rid_new)
            .then(pl.lit("new"))
            .otherwise(pl.lit("ref"))
            .alias("arm")
        )
        .group_by(["arm", *keys])
        .agg(pl.col("n").sum(), pl.col("escalated").sum())
    )


def textbook(
    sim: Simulated,
    rid_new: str,
    rid_old: str,
    day_to: Any,
    margin: float,
    alpha: float,
    family_size: int = 1,
) -> dict[str, float]:
    """Textbook post-stratification (108 segments) and statsmodels' unadjusted two-sample
    tests on the release's concurrent window up to ``day_to`` (inclusive), one-sided at
    ``alpha / 2``: escalation worse beyond ``margin`` (relative), and the post-stratified
    escalation difference with its (1 - alpha) interval. ``family_size`` holds the textbook
    test to the engine's error budget (``ps_worse_same_budget``)."""
    from statsmodels.stats.proportion import test_proportions_2indep

    day_from = (START + timedelta(days=PRE_DAYS)).date()
    cells = _arm_cells(sim.rollup.cases, rid_new, rid_old, day_from, day_to)
    wide = (
        cells.filter(pl.col("arm") == "new")
        .join(
            cells.filter(pl.col("arm") == "ref"),
            on=["task_type", "criticality", "language", "customer_segment"],
            how="inner",
            suffix="_ref",
        )
        .filter((pl.col("n") > 0) & (pl.col("n_ref") > 0))
    )
    z = float(sps.norm.isf(alpha / 2))
    out: dict[str, float] = {}
    if wide.height:
        wgt = wide["n"].to_numpy() / wide["n"].sum()
        pn = wide["escalated"].to_numpy() / wide["n"].to_numpy()
        pr = wide["escalated_ref"].to_numpy() / wide["n_ref"].to_numpy()
        vn = pn * (1 - pn) / wide["n"].to_numpy()
        vr = pr * (1 - pr) / wide["n_ref"].to_numpy()
        est = float((wgt * (pn - pr)).sum())
        ref = float((wgt * pr).sum())
        se = math.sqrt(float((wgt**2 * (vn + vr)).sum()))
        se_c = math.sqrt(float((wgt**2 * (vn + (1 + margin) ** 2 * vr)).sum()))
        stat = (est - margin * ref) / se_c if se_c > 0 else 0.0
        out.update(
            ps_estimate=est,
            ps_ci_low=est - z * se,
            ps_ci_high=est + z * se,
            ps_worse=float(stat > z),
            ps_worse_same_budget=float(stat > sps.norm.isf(alpha / 2 / family_size)),
        )
    tot = cells.group_by("arm").agg(pl.col("n").sum(), pl.col("escalated").sum())
    got = {r["arm"]: r for r in tot.iter_rows(named=True)}
    if "new" in got and "ref" in got:
        res = test_proportions_2indep(
            got["new"]["escalated"],
            got["new"]["n"],
            got["ref"]["escalated"],
            got["ref"]["n"],
            value=1 + margin,
            compare="ratio",
            alternative="larger",
        )
        out["sm_worse"] = float(res.pvalue < alpha / 2)
    return out


# ---------------------------------------------------------------- running a scenario


def run_scenario(
    s: Scenario,
    *,
    world: World | None = None,
    policy: Policy | None = None,
    daily_textbook: bool = False,
) -> dict[str, Any]:
    """Simulate ``s``, run the engine and the textbook methods, and summarise per release and
    over the releases (rates with their Monte-Carlo standard errors)."""
    policy = policy or calibration_policy()
    sim = simulate(s, world)
    ids = [f"r{r:04d}-new" for r in range(s.releases)]
    comps = compare_releases(sim.rollup, sim.units, ids, sim.as_of, policy)
    alpha = policy.alpha
    margin = policy.decision_quality_metrics["escalation_rate"].margin
    rows = []
    for rid in ids:
        c = comps[rid]
        decision = judge_comparison(c, policy)
        esc = c.metrics["escalation_rate"]
        cost = c.metrics["unit_cost_usd"]
        t = sim.truth[rid]
        row: dict[str, Any] = {
            "release_id": rid,
            "recommendation": decision.recommendation,
            "telemetry_failure": bool(c.worse("decision_quality")),
            "escalation_worse": esc.verdict == "worse",
            "escalation_estimate": esc.estimate,
            "escalation_covered": _covers(esc.ci_low, esc.ci_high, t["escalation_rate"]),
            "cost_estimate": cost.estimate,
            "cost_truth": t["unit_cost_usd"],
            "cost_covered": _covers(cost.ci_low, cost.ci_high, t["unit_cost_usd"]),
            "escalation_truth": t["escalation_rate"],
            "standardised_share": esc.standardised_share,
            "control": c.control,
        }
        last_day = (sim.as_of - timedelta(days=1)).date()
        tb = textbook(sim, rid, rid.replace("-new", "-old"), last_day, margin, alpha, len(c.family))
        row.update(
            ps_worse=tb.get("ps_worse"),
            ps_worse_same_budget=tb.get("ps_worse_same_budget"),
            ps_covered=_covers(tb.get("ps_ci_low"), tb.get("ps_ci_high"), t["escalation_rate"]),
            sm_worse=tb.get("sm_worse"),
        )
        if daily_textbook:
            first = START + timedelta(days=PRE_DAYS)
            any_look = 0.0
            for k in range(8):
                day = (first + timedelta(days=k)).date()
                look = textbook(sim, rid, rid.replace("-new", "-old"), day, margin, alpha)
                any_look = max(any_look, look.get("ps_worse") or 0.0)
            row["ps_worse_any_look"] = any_look
        rows.append(row)
    frame = pl.DataFrame(rows)
    return {"scenario": s, "releases": frame, "summary": summarise(frame)}


def _covers(low: float | None, high: float | None, truth: float) -> bool | None:
    if low is None or high is None:
        return None
    return bool(low <= truth <= high)


def _rate(values: Sequence[Any]) -> tuple[float | None, float | None, int]:
    x = np.array([float(v) for v in values if v is not None], dtype=float)
    if len(x) == 0:
        return None, None, 0
    p = float(x.mean())
    return p, math.sqrt(max(p * (1 - p), 1e-12) / len(x)), len(x)


def summarise(frame: pl.DataFrame) -> dict[str, tuple[float | None, float | None, int]]:
    """Rates over the releases, each (value, Monte-Carlo standard error, n)."""
    rec = frame["recommendation"].to_list()
    out = {
        "rollback": _rate([r == "rollback" for r in rec]),
        "go": _rate([r == "go" for r in rec]),
        "hold": _rate([r == "hold" for r in rec]),
        "telemetry_failure": _rate(frame["telemetry_failure"].to_list()),
        "escalation_worse": _rate(frame["escalation_worse"].to_list()),
        "escalation_coverage": _rate(frame["escalation_covered"].to_list()),
        "cost_coverage": _rate(frame["cost_covered"].to_list()),
        "textbook_ps_worse": _rate(frame["ps_worse"].to_list()),
        "textbook_ps_worse_same_budget": _rate(frame["ps_worse_same_budget"].to_list()),
        "textbook_ps_coverage": _rate(frame["ps_covered"].to_list()),
        "statsmodels_naive_worse": _rate(frame["sm_worse"].to_list()),
    }
    if "ps_worse_any_look" in frame.columns:
        out["textbook_ps_worse_any_daily_look"] = _rate(frame["ps_worse_any_look"].to_list())
    est = (
        frame["cost_estimate"].drop_nulls().to_numpy()
        - frame.filter(pl.col("cost_estimate").is_not_null())["cost_truth"].to_numpy()
    )
    if len(est):
        out["cost_bias"] = (
            float(est.mean()),
            float(est.std(ddof=1) / math.sqrt(len(est))),
            len(est),
        )
    return out


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("no effect, no shift, 300/day"),
    Scenario("no effect, canary harder, 300/day", mix_shift=1.0),
    Scenario("no effect, canary harder, 1200/day", mix_shift=1.0, cases_per_day=1200),
    Scenario("no effect, canary harder, 4800/day", mix_shift=1.0, cases_per_day=4800, releases=60),
    Scenario("no effect, canary easier, 300/day", mix_shift=-1.0),
    Scenario(
        "no effect, day shocks 0.15, 4800/day", day_shock_sd=0.15, cases_per_day=4800, releases=60
    ),
    Scenario(
        "no effect, immediate 100 %, day shocks 0.15, 1200/day",
        immediate=True,
        day_shock_sd=0.15,
        cases_per_day=1200,
    ),
    Scenario(
        "escalation at the margin (+10 %), daily looks, 1200/day",
        escalation_rel=0.10,
        cases_per_day=1200,
    ),
    Scenario(
        "+1 pp escalation, canary easier, 1200/day",
        escalation_pp=0.01,
        mix_shift=-1.0,
        cases_per_day=1200,
    ),
    Scenario(
        "+2 pp escalation, canary easier, 1200/day",
        escalation_pp=0.02,
        mix_shift=-1.0,
        cases_per_day=1200,
    ),
    Scenario("+5 pp escalation, canary easier, 300/day", escalation_pp=0.05, mix_shift=-1.0),
    Scenario("+5 pp escalation, no shift, 300/day", escalation_pp=0.05),
    Scenario(
        "+5 % cost, canary harder, 1200/day", cost_rel=0.05, mix_shift=1.0, cases_per_day=1200
    ),
    Scenario(
        "+10 % cost, canary harder, 1200/day", cost_rel=0.10, mix_shift=1.0, cases_per_day=1200
    ),
    Scenario("+20 % p95 latency, 1200/day", latency_rel=0.20, cases_per_day=1200),
)


def with_releases(s: Scenario, releases: int, seed: int | None = None) -> Scenario:
    """``s`` with another number of replicates (and seed)."""
    return replace(s, releases=releases, seed=s.seed if seed is None else seed)


__all__ = [
    "SCENARIOS",
    "Scenario",
    "World",
    "calibration_policy",
    "make_world",
    "run_scenario",
    "simulate",
    "summarise",
    "textbook",
    "with_releases",
]
