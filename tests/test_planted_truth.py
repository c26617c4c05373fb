"""The KPIs recover the truth planted by the sample-data generator (truth.json)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

import analytics as ra

AS_OF = ra.parse_as_of("2026-11-15T00:00:00Z")


@pytest.fixture(scope="module")
def truth(sample_dir: Path) -> dict:
    return json.loads((sample_dir / "truth.json").read_text())


@pytest.fixture(scope="module")
def analysis(sample_dir: Path) -> ra.Analysis:
    return ra.analyze(ra.load_dataset(sample_dir), AS_OF)


def _rel(analysis: ra.Analysis) -> dict[str, dict]:
    return {r["release_id"]: r for r in analysis.releases.iter_rows(named=True)}


def test_release_units_match(truth, analysis) -> None:
    got = _rel(analysis)
    assert len(got) == len(truth["releases"]) >= 300
    for t in truth["releases"]:
        r = got[t["release_id"]]
        assert r["changed_components"] == t["changed_components"], t["release_id"]
        assert r["effective_tier"] == t["effective_tier"], t["release_id"]
        assert r["misclassified"] == t["misclassified"], t["release_id"]


def test_incident_attribution_matches(truth, analysis) -> None:
    got = dict(analysis.incidents.select("incident_id", "attributed_release_id").iter_rows())
    for t in truth["incidents"]:
        assert got[t["incident_id"]] == t["attributed_release_id"], t["incident_id"]
    unattributed = {
        f.record_id for f in analysis.quality.findings if f.code == "unattributed_incident"
    }
    assert unattributed == set(truth["unattributable_incidents"])


def test_failure_signals_match(truth, analysis) -> None:
    got = _rel(analysis)
    for t in truth["releases"]:
        r = got[t["release_id"]]
        expected = set(t["expected_failure_signals"]) - {"telemetry"}
        assert set(r["failure_signals"]) - {"telemetry"} == expected, t["release_id"]
        assert r["dora_failed"] == t["dora_failed"], t["release_id"]


def test_detection_times_match(truth, analysis) -> None:
    got = _rel(analysis)
    checked = 0
    for t in truth["releases"]:
        if t["first_detection_at"] and got[t["release_id"]]["failed"]:
            want = datetime.fromisoformat(t["first_detection_at"].replace("Z", "+00:00"))
            assert got[t["release_id"]]["detected_at"] == want, t["release_id"]
            checked += 1
    assert checked >= 20


def test_missing_evidence_matches(truth, analysis) -> None:
    got = _rel(analysis)
    for t in truth["releases"]:
        assert got[t["release_id"]]["missing_evidence"] == sorted(t["missing_evidence"]), t[
            "release_id"
        ]


def test_bad_rows_are_reported_where_planted(truth, analysis) -> None:
    found = {(f.table, f.line, f.column, f.code) for f in analysis.quality.findings}
    for bad in truth["bad_rows"]:
        column = None if bad["kind"] == "exact_duplicate" else bad["column"]
        assert (bad["table"], bad["line"], column, bad["kind"]) in found, bad
    assert analysis.quality.reconciles()


def test_monthly_cfr_counts_match_truth(truth, analysis) -> None:
    """Per month, the incident/rollback failures counted equal the planted ones."""
    rel = pl.DataFrame(truth["releases"]).with_columns(
        pl.col("released_at").str.slice(0, 7).alias("month")
    )
    for month in ra.month_range("2026-10", 12):
        k = ra.monthly_kpis(analysis, month).to_dict()
        cohort = rel.filter(pl.col("month") == month)
        assert k["releases_deployed"] == cohort.height
        want = cohort.filter(
            pl.col("expected_failure_signals").list.set_difference(["telemetry"]).list.len() > 0
        ).height
        by = k["kpis"]["change_failure_rate"]["by_signal"]
        got = analysis.releases.filter(
            (pl.col("month") == month) & (pl.col("signal_incident") | pl.col("signal_rollback"))
        ).height
        assert got == want, month
        assert by["incident"] <= k["kpis"]["change_failure_rate"]["numerator"]


def test_unit_cost_level_matches_raw_cases(sample_dir, analysis) -> None:
    """A release's unit cost equals the per-case formula averaged over its raw cases."""
    from analytics.comparison import comparison_windows

    ds = analysis.dataset
    c = ds.policy.costs
    rid = "rel-0300"
    win = comparison_windows(analysis.releases, [rid], AS_OF, ds.policy).row(0, named=True)
    cases = (
        ds.telemetry.filter(
            (pl.col("release_id") == rid)
            & (pl.col("ts") >= win["window_start"])
            & (pl.col("ts") < win["window_end"])
        )
        .select(
            (
                pl.col("model_cost_usd")
                + pl.col("handling_time_s") / 3600 * c.human_hourly_usd
                + pl.col("reworked").cast(pl.Float64) * c.rework_usd
                + pl.col("escalated").cast(pl.Float64) * c.escalation_usd
            ).alias("u")
        )
        .collect()["u"]
    )
    row = _rel(analysis)[rid]
    assert row["cost_n"] == cases.len() > 100
    assert row["unit_cost_usd"] == pytest.approx(cases.mean(), rel=1e-9)


def test_month_cost_impact_combines_release_estimates(analysis) -> None:
    import math

    k = ra.monthly_kpis(analysis, "2026-10").unit_cost_impact_usd
    cohort = analysis.releases.filter(
        (pl.col("month") == "2026-10") & pl.col("cost_impact").is_not_null()
    )
    est, se = cohort["cost_impact"].to_numpy(), cohort["cost_impact_se"].to_numpy()
    assert k.n == cohort.height >= 10
    assert k.mean == pytest.approx(est.mean())
    half = 1.959963984540054 * math.sqrt((se**2).sum()) / len(est)
    assert (k.ci_low, k.ci_high) == (
        pytest.approx(est.mean() - half),
        pytest.approx(est.mean() + half),
    )


def test_detection_potential_summary(analysis) -> None:
    """Per month: failed releases with a 'detectable after X h' beside 'detected after Y h'."""
    summaries = [
        ra.monthly_kpis(analysis, m).detection_potential for m in ra.month_range("2026-10", 12)
    ]
    rows = [r for s in summaries for r in s["releases"]]
    assert len(rows) >= 5
    for s in summaries:
        assert s["n"] == len(s["releases"])
        xs = sorted(r["detectable_after_hours"] for r in s["releases"])
        if xs:
            mid = len(xs) // 2
            want = xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2
            assert s["median_detectable_after_hours"] == pytest.approx(want)
    assert all(r["detectable_after_hours"] > 0 for r in rows)
