"""Risk attribution (analytics.governance.risk): failure rates by group by hand, and the logistic
regression recovering a planted effect on generated data (seeded), with interval coverage."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from analytics.core.policy import COMPONENTS, load_policy
from analytics.governance import risk
from analytics.governance.risk import (
    AdjustedRatio,
    RegressionTerm,
    failure_by_group,
    failure_regression,
    risk_attribution,
)
from analytics.stats.summaries import wilson

POLICY = load_policy()


def audit_frame(
    changed: list[list[str]],
    tiers: list[str],
    evidence_ok: list[bool],
    rest_ok: list[bool],
    findings: list[list[str]] | None = None,
) -> pl.DataFrame:
    """The columns of an audit that risk attribution reads."""
    n = len(changed)
    ev = pl.Series(evidence_ok, dtype=pl.Boolean)
    rest = pl.Series(rest_ok, dtype=pl.Boolean)
    return pl.DataFrame(
        {
            "release_id": [f"r{i:04d}" for i in range(n)],
            "deployed": [True] * n,
            "changed_components": pl.Series(changed, dtype=pl.List(pl.String)),
            "effective_tier": tiers,
            "findings": pl.Series(findings or [[] for _ in range(n)], dtype=pl.List(pl.String)),
            "evidence_ok": ev,
            "gates_ok": rest,
            "rollout_ok": [True] * n,
            "approvals_ok": [True] * n,
            "path_compliant": ev & rest,
        }
    )


def katz(a: int, n1: int, c: int, n0: int) -> tuple[float, float, float]:
    rr = (a / n1) / (c / n0)
    se = math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n0)
    z = sps.norm.ppf(0.975)
    return rr, rr * math.exp(-z * se), rr * math.exp(z * se)


def test_failure_by_group_hand_computed() -> None:
    # 10 releases: 4 changed the model (2 failed), 6 changed the prompt (1 failed).
    changed = [["model"]] * 4 + [["prompt"]] * 6
    tiers = ["high"] * 4 + ["low"] * 6
    evidence = [False, True, True, True, False, True, True, True, True, True]
    findings = [["evidence_missing"], [], [], [], ["evidence_missing"], [], [], [], [], []]
    audit = audit_frame(changed, tiers, evidence, [True] * 10, findings)
    failed = ["r0000", "r0001", "r0004"]
    every_group = load_policy(overrides={"risk": {"min_group_releases": 1}})
    groups = {(g.dimension, g.group): g for g in failure_by_group(audit, failed, every_group)}

    model = groups[("component", "model")]
    assert (model.exposed.numerator, model.exposed.denominator) == (2, 4)
    assert (model.others.numerator, model.others.denominator) == (1, 6)
    assert (model.exposed.ci_low, model.exposed.ci_high) == pytest.approx(wilson(2, 4))
    rr, lo, hi = katz(2, 4, 1, 6)
    assert model.risk_ratio == pytest.approx(3.0)
    assert (model.ci_low, model.ci_high) == pytest.approx((lo, hi))
    assert model.sentence.startswith("Releases that changed the model failed 2 of 4 times (50%")
    assert "3.0 times as often" in model.sentence

    # Evidence incomplete: r0000 and r0004, both failed; 1 of the 8 others failed.
    ev = groups[("process", "evidence_incomplete")]
    assert (ev.exposed.numerator, ev.exposed.denominator) == (2, 2)
    assert ev.message == "a cell is empty: 0.5 added to every cell"
    rr, lo, hi = katz(2.5, 3, 1.5, 9)  # Haldane: 0.5 added to every cell
    assert (ev.risk_ratio, ev.ci_low, ev.ci_high) == pytest.approx((rr, lo, hi))
    assert groups[("finding", "evidence_missing")].risk_ratio == pytest.approx(rr)

    assert groups[("tier", "medium")].status == "insufficient_data"  # nobody is medium
    assert groups[("component", "tools")].status == "insufficient_data"
    json.dumps([g.to_dict() for g in groups.values()], allow_nan=False)

    # With the default policy (risk.min_group_releases: 5) a group of 4 gets counts, no ratio.
    default = {(g.dimension, g.group): g for g in failure_by_group(audit, failed, POLICY)}
    small = default[("component", "model")]
    assert small.status == "insufficient_data" and small.risk_ratio is None
    assert (small.exposed.numerator, small.exposed.denominator) == (2, 4)
    assert "fewer than 5" in small.message
    assert default[("component", "prompt")].risk_ratio == pytest.approx(1 / 6 / (2 / 4))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


TRUE = {"intercept": -2.0, "evidence_incomplete": 1.0, "path_gap": 0.7, "changed_model": 0.8}


def synthetic(n: int, rng: np.random.Generator) -> tuple[pl.DataFrame, list[str], dict]:
    """Releases with random changes; failure follows TRUE on the logit scale."""
    comps = rng.random((n, len(COMPONENTS))) < 0.25
    names = list(COMPONENTS)
    changed = [[names[j] for j in range(len(names)) if comps[i, j]] for i in range(n)]
    high = comps[:, names.index("model")] | comps[:, names.index("safety_policy")]
    medium = comps[
        :, [names.index(c) for c in ("inference_config", "tools", "routing", "eval_set")]
    ].any(axis=1)
    tiers = np.where(high, "high", np.where(medium, "medium", "low")).tolist()
    ev_ok = rng.random(n) < 0.7
    rest_ok = rng.random(n) < 0.75
    model = comps[:, names.index("model")]

    def eta(ev_gap: np.ndarray) -> np.ndarray:
        return (
            TRUE["intercept"]
            + TRUE["evidence_incomplete"] * ev_gap
            + TRUE["path_gap"] * ~rest_ok
            + TRUE["changed_model"] * model
        )

    y = rng.random(n) < _expit(eta(~ev_ok))
    audit = audit_frame(changed, tiers, ev_ok.tolist(), rest_ok.tolist())
    failed = audit.filter(pl.Series(y))["release_id"].to_list()
    true_rr = float(_expit(eta(np.ones(n, bool))).mean() / _expit(eta(np.zeros(n, bool))).mean())
    return audit, failed, {"marginal_rr_evidence": true_rr}


def test_regression_recovers_planted_effect() -> None:
    audit, failed, truth = synthetic(3000, np.random.default_rng(20240601))
    res = failure_regression(audit, failed, POLICY)
    assert res.status == "ok", res.message
    terms = {t.term: t for t in res.terms}
    for name in ("evidence_incomplete", "path_gap", "changed_model"):
        t = terms[name]
        assert t.ci_low < math.exp(TRUE[name]) < t.ci_high, name
        assert t.ci_low > 1, name  # the planted effects are found
    for name in ("changed_prompt", "changed_routing"):  # no effect planted
        assert terms[name].ci_low < 1 < terms[name].ci_high
    ev = next(a for a in res.adjusted if a.term == "evidence_incomplete")
    assert ev.ci_low < truth["marginal_rr_evidence"] < ev.ci_high
    assert ev.ci_low > 1
    assert ev.sentence.startswith(
        f"Releases without complete evidence failed {ev.risk_ratio:.1f} times as often"
    )
    assert res.sentences[0] == ev.sentence
    assert any("not causes" in c for c in res.caveats)
    json.dumps(res.to_dict(), allow_nan=False)


def test_regression_interval_coverage() -> None:
    """95 % Wald intervals of the evidence odds ratio cover the planted value about 95 % of the
    time at a realistic cohort size (300 releases)."""
    rng = np.random.default_rng(7)
    reps, covered = 200, 0
    for _ in range(reps):
        audit, failed, _ = synthetic(300, rng)
        res = failure_regression(audit, failed, POLICY)
        t = next((t for t in res.terms if t.term == "evidence_incomplete"), None)
        covered += t is not None and t.ci_low < math.exp(TRUE["evidence_incomplete"]) < t.ci_high
    assert 0.90 <= covered / reps <= 0.99


def test_regression_drops_separating_and_constant_terms() -> None:
    rng = np.random.default_rng(3)
    audit, _, _ = synthetic(400, rng)
    model = audit["changed_components"].list.contains("model")
    ev_gap = ~audit["evidence_ok"]
    # Every failure changed the model, and some lacked evidence.
    failed = audit.filter(model & (ev_gap | (pl.int_range(400) % 3 == 0)))["release_id"].to_list()
    res = failure_regression(audit, failed, POLICY)
    assert "changed_model" in res.dropped
    assert "it separates the outcome" in res.dropped["changed_model"]
    assert all(t.term != "changed_model" for t in res.terms)
    assert any(
        c.startswith("Left out of the model") and "changed_model (" in c for c in res.caveats
    )
    # the tier is high whenever the model changed: high-tier releases separate too
    assert res.status == "ok"

    no_change = audit.with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("changed_components"))
    res = failure_regression(no_change, failed, POLICY)
    assert res.dropped["changed_model"] == "no variation (every or no release)"


def test_regression_insufficient_data_and_small_sample_caveat() -> None:
    audit, failed, _ = synthetic(200, np.random.default_rng(11))
    none = failure_regression(audit, [], POLICY)
    assert none.status == "insufficient_data" and none.message == "no failed release"
    tiny = failure_regression(audit.head(8), failed, POLICY)
    assert tiny.status == "insufficient_data"
    strict = load_policy(overrides={"risk": {"min_events_per_term": 10}})
    no_floor = load_policy(overrides={"risk": {"min_events_per_term": None}})
    res = failure_regression(audit, failed, strict)
    size = next(c for c in res.caveats if "per term" in c)
    assert "below the 10 per term" in size
    assert "below" not in next(
        c for c in failure_regression(audit, failed, no_floor).caveats if "per term" in c
    )


def test_risk_attribution_restricts_to_cohort() -> None:
    audit, failed, _ = synthetic(500, np.random.default_rng(5))
    ids = audit["release_id"].head(250).to_list()
    ra = risk_attribution(audit, failed, POLICY, release_ids=ids)
    assert ra.n == 250
    assert ra.failures == len(set(failed) & set(ids))
    assert ra.regression.n == 250
    top = ra.top(k=3)
    assert [g.risk_ratio for g in top] == sorted((g.risk_ratio for g in top), reverse=True)
    json.dumps(ra.to_dict(), allow_nan=False)


def test_regression_steps_by_hand() -> None:
    assert risk._unfit_reason(10, []) == "no term can be estimated on this cohort"
    assert risk._unfit_reason(3, ["a", "b"]) == "3 releases for 3 terms"
    assert risk._unfit_reason(4, ["a", "b"]) == ""
    strict = load_policy(overrides={"risk": {"min_events_per_term": 10}})
    caveats = risk._fit_caveats(20, 4, ["a", "b"], {"c": "no variation"}, ["w1"], strict)
    assert caveats == [
        risk.CAVEAT_OBSERVATIONAL,
        "20 releases, 4 failed: 4 events for 2 terms (2.0 per term), below the 10 per term a "
        "stable logistic fit needs: read the intervals, not the point estimates.",
        risk.WALD_CAVEAT,
        "Left out of the model: c (no variation).",
        "Fit warning: w1",
    ]
    no_floor = load_policy(overrides={"risk": {"min_events_per_term": None}})
    assert risk._fit_caveats(20, 4, ["a"], {}, [], no_floor)[1] == (
        "20 releases, 4 failed: 4 events for 1 terms (4.0 per term)."
    )


def test_regression_sentences_keep_terms_whose_interval_excludes_one() -> None:
    def term(name: str, lo: float, hi: float) -> RegressionTerm:
        return RegressionTerm(name, f"label {name}", 0.0, 0.1, 2.0, lo, hi, 0.5, 3)

    adjusted = (AdjustedRatio("path_gap", "gap", 2.0, 1.1, 3.0, "Adjusted sentence."),)
    terms = (term("path_gap", 1.2, 3.0), term("tier_high", 1.1, 4.0), term("tier_medium", 0.5, 2.0))
    assert risk._regression_sentences(adjusted, terms) == (
        "Adjusted sentence.",
        "Releases label tier_high had 2.0 times the odds of failing (interval 1.1 to 4.0).",
    )
