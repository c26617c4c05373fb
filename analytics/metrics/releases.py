"""The release unit: what each release changed, its implied and effective risk tier, its month.

A release's seven ``*_version`` columns are the full state after it. What it changed is found by
comparing it with the previous release of the same system by ``released_at``; the first release
of a system changed everything (docs/data-contract.md).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from analytics.core.periods import period_months
from analytics.core.policy import COMPONENTS, TIER_RANK, Policy
from analytics.core.schemas import VERSION_COLUMNS

_TIER_OF_RANK = {i: t for t, i in TIER_RANK.items()}


def month_expr(col: str, tz: str) -> pl.Expr:
    """``YYYY-MM`` of a UTC timestamp, taken in the reporting timezone."""
    return pl.col(col).dt.convert_time_zone(tz).dt.strftime("%Y-%m")


def release_units(releases: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """One row per release with the derived release-unit columns.

    Adds: ``previous_release_id``; ``changed_components`` (list of component names in the
    order); ``declared_tier``; ``implied_tier`` (strictest ``component_min_tier`` of the changed
    components; ``low`` when nothing changed); ``effective_tier`` (stricter of declared and
    implied; implied when the declared tier is invalid); ``misclassified`` (declared lower than
    implied; null when the declared tier is invalid); ``month`` in the policy timezone.
    Releases without a valid ``released_at`` are kept with null month and previous release.
    """
    ordered = releases.sort(["system", "released_at", "release_id"], nulls_last=True)
    timed = ordered.filter(pl.col("released_at").is_not_null())
    prev = timed.select(
        "release_id",
        *[pl.col(c).shift(1).over("system").alias(f"_prev_{c}") for c in VERSION_COLUMNS],
        pl.col("release_id").shift(1).over("system").alias("previous_release_id"),
    )
    df = ordered.join(prev, on="release_id", how="left")
    changed = [
        pl.when(
            pl.col("previous_release_id").is_null()
            | (pl.col(v) != pl.col(f"_prev_{v}")).fill_null(True)
        )
        .then(pl.lit(comp))
        .otherwise(None)
        for comp, v in zip(COMPONENTS, VERSION_COLUMNS, strict=True)
    ]
    ranks = [
        pl.when(pl.col("previous_release_id").is_null() | (pl.col(v) != pl.col(f"_prev_{v}")))
        .then(TIER_RANK[policy.component_min_tier[comp]])
        .otherwise(None)
        for comp, v in zip(COMPONENTS, VERSION_COLUMNS, strict=True)
    ]
    declared_rank = pl.col("risk_tier").replace_strict(
        TIER_RANK, default=None, return_dtype=pl.Int8
    )
    implied_rank = pl.max_horizontal(ranks).fill_null(0).cast(pl.Int8)
    effective_rank = pl.max_horizontal(declared_rank, implied_rank)
    df = df.with_columns(
        pl.concat_list(changed).list.drop_nulls().alias("changed_components"),
        pl.col("risk_tier").alias("declared_tier"),
        implied_rank.replace_strict(_TIER_OF_RANK, return_dtype=pl.String).alias("implied_tier"),
        effective_rank.replace_strict(_TIER_OF_RANK, return_dtype=pl.String).alias(
            "effective_tier"
        ),
        (declared_rank < implied_rank).alias("misclassified"),
        month_expr("released_at", policy.timezone).alias("month"),
    )
    return df.drop([c for c in df.columns if c.startswith("_prev_")]).sort(
        ["released_at", "release_id"], nulls_last=True
    )


def deployed_in_month(units: pl.DataFrame, month: str, as_of: datetime) -> pl.DataFrame:
    """The cohort of a month (or of any period, ``analytics.core.periods.period_months``:
    ``2026-10``, ``2026-Q3``, ``2026``): releases whose ``released_at`` falls in it (policy
    timezone) and is not after ``as_of`` (they reached production traffic by then)."""
    months = period_months(month)
    return units.filter(pl.col("month").is_in(months) & (pl.col("released_at") <= as_of))
