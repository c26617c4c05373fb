"""Risk attribution: which changed components, tiers and process gaps carry the failures.

Two views of the same cohort of deployed releases (rows of
``analytics.governance.audit.audit_releases``
plus the ids of the releases that failed by CFR-DQ):

- ``failure_by_group``: the failure rate of releases that changed a component, had a tier, a
  finding or a process gap, against the rest, each with its Wilson interval, and the risk ratio
  (Katz log interval; 0.5 is added to every cell when one is empty);
- ``failure_regression``: a logistic regression (statsmodels ``Logit``) of failure on evidence
  completeness, the other path gaps (gates, rollout, approvals), the effective tier and the
  changed components, read as adjusted risk ratios ("releases without complete evidence failed
  2.3 times as often ...") by marginal standardisation with a delta-method interval.

Both are associations in observational data, not causes; the result says so and names its
small-sample limits.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import polars as pl
from scipy import stats as sps

from analytics.core.policy import COMPONENTS, TIERS, Policy
from analytics.core.results import RateResult, Status, clean
from analytics.stats.change import plural
from analytics.stats.summaries import rate

COMPONENT_LABELS: Mapping[str, str] = {
    "model": "the model",
    "inference_config": "the inference configuration",
    "prompt": "the prompt",
    "tools": "the tools",
    "safety_policy": "the safety policy",
    "routing": "the routing",
    "eval_set": "the evaluation set",
}
# Process gaps: (column of the audit that is True when the step was done, readable gap).
PROCESS_GAPS: Mapping[str, tuple[str, str]] = {
    "evidence_incomplete": ("evidence_ok", "without complete evidence"),
    "path_gap": ("_path_rest_ok", "with a gap in gates, rollout or approvals"),
    "path_non_compliant": ("path_compliant", "that did not follow their tier's path"),
}
# Findings derived from the failure itself, or after it, are not candidate causes.
NOT_A_RISK_FACTOR = frozenset({"gate_escape"})
# The process-gap terms of the regression, read as adjusted risk ratios.
PROCESS_TERMS = ("evidence_incomplete", "path_gap")
WALD_CAVEAT = "Intervals are Wald intervals; with few events they are too narrow."
CAVEAT_OBSERVATIONAL = (
    "These are associations in observational data, not causes: riskier changes may both skip "
    "steps and fail more often, and teams may record process gaps differently."
)


@dataclass(frozen=True)
class GroupRisk:
    """Failure rate of one group of releases against the rest of the cohort."""

    dimension: str  # component | tier | finding | process
    group: str
    label: str  # "Releases that changed the model", ...
    exposed: RateResult
    others: RateResult
    risk_ratio: float | None
    ci_low: float | None
    ci_high: float | None
    status: Status = "ok"
    message: str = ""
    sentence: str = ""

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "dimension": self.dimension,
                "group": self.group,
                "label": self.label,
                "exposed": self.exposed.to_dict(),
                "others": self.others.to_dict(),
                "risk_ratio": self.risk_ratio,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "status": self.status,
                "message": self.message,
                "sentence": self.sentence,
            }
        )


def _katz(a: int, n1: int, c: int, n0: int, alpha: float) -> tuple[float, float, float, str]:
    """Risk ratio (a/n1)/(c/n0) with the Katz log interval; Haldane correction on a zero cell."""
    note = ""
    cells = [float(a), float(n1 - a), float(c), float(n0 - c)]
    if min(cells) == 0:
        cells = [x + 0.5 for x in cells]
        note = "a cell is empty: 0.5 added to every cell"
    fa, fb, fc, fd = cells
    m1, m0 = fa + fb, fc + fd
    rr = (fa / m1) / (fc / m0)
    se = math.sqrt(1 / fa - 1 / m1 + 1 / fc - 1 / m0)
    z = float(sps.norm.ppf(1 - alpha / 2))
    return rr, rr * math.exp(-z * se), rr * math.exp(z * se), note


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _group(
    dimension: str,
    group: str,
    label: str,
    flag: np.ndarray,
    failed: np.ndarray,
    alpha: float,
    *,
    min_n: int = 1,
) -> GroupRisk:
    n1, n0 = int(flag.sum()), int((~flag).sum())
    a, c = int((flag & failed).sum()), int((~flag & failed).sum())
    exposed, others = rate(a, n1, alpha), rate(c, n0, alpha)
    if n1 < max(min_n, 1) or n0 == 0 or (a + c) == 0:
        why = (
            "no release in the group"
            if n1 == 0
            else f"only {plural(n1, 'release')} in the group, fewer than {min_n}"
            if n1 < min_n
            else ("every release is in the group" if n0 == 0 else "no failure in the cohort")
        )
        return GroupRisk(
            dimension,
            group,
            label,
            exposed,
            others,
            None,
            None,
            None,
            "insufficient_data",
            why,
            f"{label}: {a} of {n1} failed; no comparison ({why}).",
        )
    rr, lo, hi, note = _katz(a, n1, c, n0, alpha)
    sentence = (
        f"{label} failed {a} of {n1} times ({_pct(exposed.value)}, interval "
        f"{_pct(exposed.ci_low)}-{_pct(exposed.ci_high)}), against {c} of {n0} "
        f"({_pct(others.value)}) for the others: {rr:.1f} times as often "
        f"(interval {lo:.1f} to {hi:.1f})."
    )
    return GroupRisk(dimension, group, label, exposed, others, rr, lo, hi, "ok", note, sentence)


def _cohort(
    audit: pl.DataFrame, failed: Collection[str], release_ids: Collection[str] | None
) -> pl.DataFrame:
    df = audit
    if "deployed" in df.columns:
        df = df.filter(pl.col("deployed"))
    if release_ids is not None:
        df = df.filter(
            pl.col("release_id").is_in(pl.Series(list(release_ids), dtype=pl.String).implode())
        )
    fail_ids = pl.Series(sorted(set(failed)), dtype=pl.String).implode()
    return df.with_columns(
        pl.col("release_id").is_in(fail_ids).alias("_failed"),
        (pl.col("gates_ok") & pl.col("rollout_ok") & pl.col("approvals_ok")).alias("_path_rest_ok"),
    ).sort("release_id")


def failure_by_group(
    audit: pl.DataFrame,
    failed: Collection[str],
    policy: Policy,
    *,
    release_ids: Collection[str] | None = None,
) -> tuple[GroupRisk, ...]:
    """Failure rate per changed component, effective tier, finding and process gap.

    Cohort: the deployed releases of ``audit`` (optionally only ``release_ids``); ``failed``:
    ids of the releases failed by CFR-DQ. For each group: failures among its releases and among
    the others (Wilson intervals) and their ratio (Katz interval). A process gap compares the
    releases where the check is False with those where it is True (undecided releases left out).
    Findings derived from the failure (``gate_escape``) are left out.
    """
    alpha = policy.alpha
    # A ratio from a handful of releases reads as a finding while it is an anecdote.
    group = partial(_group, min_n=int(policy.section("risk")["min_group_releases"]))
    df = _cohort(audit, failed, release_ids)
    y = df["_failed"].to_numpy()
    out: list[GroupRisk] = []
    comps = df["changed_components"].to_list()
    for comp in COMPONENTS:
        flag = np.array([comp in (c or []) for c in comps], dtype=bool)
        out.append(
            group(
                "component", comp, f"Releases that changed {COMPONENT_LABELS[comp]}", flag, y, alpha
            )
        )
    for tier in TIERS:
        flag = (df["effective_tier"] == tier).fill_null(False).to_numpy()
        out.append(group("tier", tier, f"Releases of effective tier {tier}", flag, y, alpha))
    for term, (col, gap) in PROCESS_GAPS.items():
        known = df.filter(pl.col(col).is_not_null())
        flag = (~known[col]).to_numpy().astype(bool)
        out.append(
            group("process", term, f"Releases {gap}", flag, known["_failed"].to_numpy(), alpha)
        )
    findings = df["findings"].to_list()
    present = sorted({c for f in findings for c in (f or [])} - NOT_A_RISK_FACTOR)
    for code in present:
        flag = np.array([code in (f or []) for f in findings], dtype=bool)
        out.append(group("finding", code, f"Releases with finding '{code}'", flag, y, alpha))
    return tuple(out)


# ---------------------------------------------------------------- logistic regression


@dataclass(frozen=True)
class RegressionTerm:
    """One term of the logistic model: log-odds coefficient and odds ratio with interval."""

    term: str
    label: str
    coef: float
    std_err: float
    odds_ratio: float
    ci_low: float  # of the odds ratio
    ci_high: float
    p_value: float
    exposed: int  # releases with the term = 1

    def to_dict(self) -> dict[str, Any]:
        return clean(self.__dict__)


@dataclass(frozen=True)
class AdjustedRatio:
    """Risk ratio of a process gap after adjusting for the other terms (marginal
    standardisation: mean predicted risk with the gap for every release / without it)."""

    term: str
    label: str
    risk_ratio: float
    ci_low: float
    ci_high: float
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        return clean(self.__dict__)


@dataclass(frozen=True)
class RegressionResult:
    """Logistic regression of release failure, with its caveats and readable sentences."""

    status: Status
    message: str
    n: int
    failures: int
    terms: tuple[RegressionTerm, ...] = ()
    adjusted: tuple[AdjustedRatio, ...] = ()
    dropped: Mapping[str, str] = field(default_factory=dict)
    caveats: tuple[str, ...] = ()
    sentences: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "status": self.status,
                "message": self.message,
                "n": self.n,
                "failures": self.failures,
                "terms": [t.to_dict() for t in self.terms],
                "adjusted": [a.to_dict() for a in self.adjusted],
                "dropped": dict(self.dropped),
                "caveats": list(self.caveats),
                "sentences": list(self.sentences),
            }
        )


def _design(df: pl.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Candidate binary columns in priority order (process gaps first), with labels."""
    cols: dict[str, np.ndarray] = {}
    labels: dict[str, str] = {}
    for term in PROCESS_TERMS:
        col, gap = PROCESS_GAPS[term]
        cols[term] = (~df[col]).to_numpy().astype(float)
        labels[term] = gap
    for tier in TIERS[1:]:
        cols[f"tier_{tier}"] = (df["effective_tier"] == tier).to_numpy().astype(float)
        labels[f"tier_{tier}"] = f"of effective tier {tier} (against {TIERS[0]})"
    comps = df["changed_components"].to_list()
    for comp in COMPONENTS:
        cols[f"changed_{comp}"] = np.array([comp in (c or []) for c in comps], dtype=float)
        labels[f"changed_{comp}"] = f"that changed {COMPONENT_LABELS[comp]}"
    return cols, labels


def _select(cols: Mapping[str, np.ndarray], y: np.ndarray) -> tuple[list[str], dict[str, str]]:
    """Keep the columns that can be estimated: with variation, not separating the outcome on
    their own (every 2x2 cell filled), and not a linear combination of those kept before."""
    kept: list[str] = []
    dropped: dict[str, str] = {}
    basis = np.ones((len(y), 1))
    for name, x in cols.items():
        k = int(x.sum())
        if k == 0 or k == len(x):
            dropped[name] = "no variation (every or no release)"
            continue
        cells = [int(((x == a) & (y == b)).sum()) for a in (0, 1) for b in (False, True)]
        if min(cells) == 0:
            dropped[name] = (
                "not estimable, it separates the outcome: "
                f"{plural(int((x.astype(bool) & y).sum()), 'failure')} among the "
                f"{plural(k, 'release')} with "
                f"it, {int((~x.astype(bool) & y).sum())} among the {len(x) - k} without"
            )
            continue
        trial = np.column_stack([basis, x])
        if np.linalg.matrix_rank(trial) <= basis.shape[1]:
            dropped[name] = "collinear with the terms before it"
            continue
        basis = trial
        kept.append(name)
    return kept, dropped


def _adjusted(res: Any, x: np.ndarray, j: int, alpha: float) -> tuple[float, float, float]:
    """Marginal risk ratio of column j (1 vs 0) with a delta-method interval on the log scale."""
    beta = np.asarray(res.params)
    cov = np.asarray(res.cov_params())
    x1, x0 = x.copy(), x.copy()
    x1[:, j], x0[:, j] = 1.0, 0.0
    p1 = 1 / (1 + np.exp(-x1 @ beta))
    p0 = 1 / (1 + np.exp(-x0 @ beta))
    grad = (x1.T @ (p1 * (1 - p1))) / p1.sum() - (x0.T @ (p0 * (1 - p0))) / p0.sum()
    log_rr = math.log(p1.mean() / p0.mean())
    se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
    z = float(sps.norm.ppf(1 - alpha / 2))
    return math.exp(log_rr), math.exp(log_rr - z * se), math.exp(log_rr + z * se)


def _fit_logit(y: np.ndarray, x: np.ndarray) -> tuple[Any, bool, list[str]]:
    """statsmodels ``Logit`` of ``y`` on ``x``: (result, converged, first lines of the warnings
    the fit raised, sorted)."""
    import statsmodels.api as sm

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = sm.Logit(y.astype(float), x).fit(disp=0, maxiter=200)
    converged = bool(res.mle_retvals.get("converged", False))
    return res, converged, sorted({str(w.message).splitlines()[0] for w in caught})


def _fit_caveats(
    n: int,
    k_fail: int,
    kept: list[str],
    dropped: Mapping[str, str],
    notes: list[str],
    policy: Policy,
) -> list[str]:
    """The caveats of a fit: observational data, the events per term (judged against
    ``risk.min_events_per_term`` when the policy sets it), Wald intervals, the terms left out
    and the fit's warnings."""
    events = min(k_fail, n - k_fail)
    per_term = events / max(len(kept), 1)
    size = (
        f"{n} releases, {k_fail} failed: {events} events for {len(kept)} terms "
        f"({per_term:.1f} per term)"
    )
    floor = policy.section("risk").get("min_events_per_term")
    if floor is not None and per_term < float(floor):
        size += (
            f", below the {float(floor):g} per term a stable logistic fit needs: read the "
            "intervals, not the point estimates"
        )
    caveats = [CAVEAT_OBSERVATIONAL, size + ".", WALD_CAVEAT]
    if dropped:
        caveats.append(
            "Left out of the model: " + "; ".join(f"{k} ({v})" for k, v in dropped.items()) + "."
        )
    return caveats + [f"Fit warning: {m}" for m in notes]


def _terms(
    res: Any, kept: list[str], labels: Mapping[str, str], cols: Mapping[str, np.ndarray], z: float
) -> tuple[RegressionTerm, ...]:
    """The fitted terms (intercept left out) with odds ratios and Wald intervals."""
    params, bse, pvals = (np.asarray(a) for a in (res.params, res.bse, res.pvalues))
    return tuple(
        RegressionTerm(
            term=name,
            label=labels[name],
            coef=float(params[j]),
            std_err=float(bse[j]),
            odds_ratio=math.exp(params[j]),
            ci_low=math.exp(params[j] - z * bse[j]),
            ci_high=math.exp(params[j] + z * bse[j]),
            p_value=float(pvals[j]),
            exposed=int(cols[name].sum()),
        )
        for j, name in enumerate(kept, start=1)
    )


def _adjusted_ratios(
    res: Any, x: np.ndarray, kept: list[str], labels: Mapping[str, str], alpha: float
) -> tuple[AdjustedRatio, ...]:
    """The adjusted risk ratio of each process gap in the model, with its sentence."""
    out = []
    for name in PROCESS_TERMS:
        if name not in kept:
            continue
        rr, lo, hi = _adjusted(res, x, kept.index(name) + 1, alpha)
        others = "with complete evidence" if name == "evidence_incomplete" else "without such a gap"
        out.append(
            AdjustedRatio(
                name,
                labels[name],
                rr,
                lo,
                hi,
                f"Releases {labels[name]} failed {rr:.1f} times as often as comparable releases "
                f"{others} ({1 - alpha:.0%} interval {lo:.1f} to {hi:.1f}), with changed "
                "components and risk tier held equal.",
            )
        )
    return tuple(out)


def _regression_sentences(
    adjusted: tuple[AdjustedRatio, ...], terms: tuple[RegressionTerm, ...]
) -> tuple[str, ...]:
    """The adjusted ratios' sentences, then one per other term whose interval excludes 1."""
    odds = [
        f"Releases {t.label} had {t.odds_ratio:.1f} times the odds of failing "
        f"(interval {t.ci_low:.1f} to {t.ci_high:.1f})."
        for t in terms
        if t.term not in PROCESS_TERMS and (t.ci_low > 1 or t.ci_high < 1)
    ]
    return tuple([a.sentence for a in adjusted] + odds)


def _unfit_reason(n: int, kept: list[str]) -> str:
    """Why the model is not fitted on ``n`` releases with the estimable terms ``kept`` ("" when
    it can be): no term, or too few releases for the terms."""
    if not kept:
        return "no term can be estimated on this cohort"
    if n <= len(kept) + 1:
        return f"{n} releases for {len(kept) + 1} terms"
    return ""


def failure_regression(
    audit: pl.DataFrame,
    failed: Collection[str],
    policy: Policy,
    *,
    release_ids: Collection[str] | None = None,
) -> RegressionResult:
    """Logistic regression of failure (CFR-DQ) on process gaps, tier and changed components.

    Model: ``logit P(failed) = b0 + evidence_incomplete + path_gap + tier_medium + tier_high +
    changed_<component>...`` over the deployed releases of ``audit`` whose evidence, gates,
    rollout and approvals checks are decided. ``path_gap`` is a gap in gates, rollout or
    approvals (path compliance without evidence, so the two process terms do not nest). Terms
    that cannot be estimated are dropped with the reason (``dropped``). Odds ratios carry Wald
    intervals; for the two process gaps the adjusted risk ratio (marginal standardisation,
    delta-method interval) gives the sentence "releases without complete evidence failed N times
    as often". ``insufficient_data`` without failures, without successes, with fewer releases
    than terms, or when the fit does not converge. The events-per-term ratio is always reported;
    it is judged against ``risk.min_events_per_term`` when the policy sets it.
    """
    alpha = policy.alpha
    df = _cohort(audit, failed, release_ids).filter(
        pl.col("evidence_ok").is_not_null()
        & pl.col("_path_rest_ok").is_not_null()
        & pl.col("effective_tier").is_not_null()
    )
    y = df["_failed"].to_numpy().astype(bool)
    n, k_fail = len(y), int(y.sum())
    if k_fail == 0 or k_fail == n:
        why = "no failed release" if k_fail == 0 else "every release failed"
        return RegressionResult(
            "insufficient_data", why, n, k_fail, caveats=(CAVEAT_OBSERVATIONAL,)
        )
    cols, labels = _design(df)
    kept, dropped = _select(cols, y)
    if why := _unfit_reason(n, kept):
        return RegressionResult(
            "insufficient_data", why, n, k_fail, dropped=dropped, caveats=(CAVEAT_OBSERVATIONAL,)
        )
    x = np.column_stack([np.ones(n)] + [cols[c] for c in kept])
    res, converged, notes = _fit_logit(y, x)
    caveats = tuple(_fit_caveats(n, k_fail, kept, dropped, notes, policy))
    if not converged:
        return RegressionResult(
            "insufficient_data",
            "the logistic fit did not converge",
            n,
            k_fail,
            dropped=dropped,
            caveats=caveats,
        )
    terms = _terms(res, kept, labels, cols, float(sps.norm.ppf(1 - alpha / 2)))
    adjusted = _adjusted_ratios(res, x, kept, labels, alpha)
    sentences = _regression_sentences(adjusted, terms)
    return RegressionResult("ok", "", n, k_fail, terms, adjusted, dropped, caveats, sentences)


@dataclass(frozen=True)
class RiskAttribution:
    """Failure rates by group and the adjusted regression, for one cohort."""

    n: int
    failures: int
    groups: tuple[GroupRisk, ...]
    regression: RegressionResult

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "n": self.n,
                "failures": self.failures,
                "groups": [g.to_dict() for g in self.groups],
                "regression": self.regression.to_dict(),
            }
        )

    def top(self, dimension: str | None = None, k: int = 5) -> list[GroupRisk]:
        """Groups with an estimable ratio, highest risk ratio first."""
        rows = [
            g
            for g in self.groups
            if g.risk_ratio is not None and (dimension is None or g.dimension == dimension)
        ]
        return sorted(rows, key=lambda g: (-(g.risk_ratio or 0), g.group))[:k]


def risk_attribution(
    audit: pl.DataFrame,
    failed: Collection[str],
    policy: Policy,
    *,
    release_ids: Collection[str] | None = None,
) -> RiskAttribution:
    """``failure_by_group`` and ``failure_regression`` on the same cohort."""
    df = _cohort(audit, failed, release_ids)
    return RiskAttribution(
        n=df.height,
        failures=int(df["_failed"].sum()),
        groups=failure_by_group(audit, failed, policy, release_ids=release_ids),
        regression=failure_regression(audit, failed, policy, release_ids=release_ids),
    )


__all__ = [
    "AdjustedRatio",
    "GroupRisk",
    "RegressionResult",
    "RegressionTerm",
    "RiskAttribution",
    "failure_by_group",
    "failure_regression",
    "risk_attribution",
]
