"""Evaluation-evidence completeness per release and per item."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from analytics.core.policy import TIERS, Policy
from analytics.core.results import RateResult
from analytics.stats.summaries import rate


def _required(policy: Policy) -> pl.DataFrame:
    return pl.DataFrame(
        [(t, item) for t in TIERS for item in policy.tiers[t].required_evidence],
        schema={"effective_tier": pl.String, "item": pl.String},
        orient="row",
    )


def approver_given(column: str = "approved_by") -> pl.Expr:
    """Whether a waiver names who approved it: ``column`` holds a non-blank text. Missing, empty
    and whitespace-only are the same: no approver, so the waiver does not count (an evidence item
    waived so stays unsatisfied; a gate waived so is an unapproved waiver)."""
    return (pl.col(column).cast(pl.String).str.strip_chars().str.len_chars() > 0).fill_null(False)


def evidence_satisfied() -> pl.Expr:
    """Whether an evidence row satisfies its item: status ``present``, or ``waived`` with an
    approver (``approver_given``). The one rule behind evidence completeness, the audit's
    evidence check and the post-release review's evidence table."""
    status = pl.col("status")
    return ((status == "present") | ((status == "waived") & approver_given())).fill_null(False)


def evidence_items(evidence: pl.DataFrame, units: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """One row per (release, required item of its effective tier) with ``satisfied``.

    An item is satisfied when the release has a row for it that ``evidence_satisfied``: status
    ``present``, or ``waived`` with a non-blank ``approved_by``; a missing row is not satisfied.
    """
    ok = (
        evidence.filter(evidence_satisfied())
        .select("release_id", "item")
        .unique()
        .with_columns(pl.lit(True).alias("satisfied"))
    )
    return (
        units.select("release_id", "effective_tier")
        .join(_required(policy), on="effective_tier", how="inner")
        .join(ok, on=["release_id", "item"], how="left")
        .with_columns(pl.col("satisfied").fill_null(False))
        .sort(["release_id", "item"])
    )


def evidence_status(evidence: pl.DataFrame, units: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """Per release: ``evidence_complete`` (every required item satisfied) and
    ``missing_evidence`` (required items not satisfied, sorted)."""
    items = evidence_items(evidence, units, policy)
    per = items.group_by("release_id").agg(
        pl.col("satisfied").all().alias("evidence_complete"),
        pl.col("item").filter(~pl.col("satisfied")).sort().alias("missing_evidence"),
    )
    return (
        units.select("release_id")
        .join(per, on="release_id", how="left")
        .with_columns(
            pl.col("evidence_complete").fill_null(True),
            pl.col("missing_evidence").fill_null([]),
        )
        .sort("release_id")
    )


def evidence_completeness(
    evidence: pl.DataFrame, units: pl.DataFrame, release_ids: Sequence[str], policy: Policy
) -> RateResult:
    """Share of the given releases whose evidence is complete for their effective tier (Wilson
    interval); ``extra["by_item"]``: per item, the share of releases requiring it that have it."""
    cohort = units.filter(pl.col("release_id").is_in(list(release_ids)))
    status = evidence_status(evidence, cohort, policy)
    items = evidence_items(evidence, cohort, policy)
    by_item = {
        row["item"]: rate(int(row["k"]), int(row["n"]), policy.alpha).to_dict()
        for row in items.group_by("item")
        .agg(pl.col("satisfied").sum().alias("k"), pl.len().alias("n"))
        .sort("item")
        .iter_rows(named=True)
    }
    return rate(
        int(status["evidence_complete"].sum()),
        status.height,
        policy.alpha,
        extra={"by_item": by_item},
    )
