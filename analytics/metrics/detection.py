"""Detection potential: how early a degradation was statistically visible in the telemetry.

The version comparison (``analytics.comparison``) looks at the telemetry once at the end of every
complete UTC day of the observation window and spends a pre-set share of its one-sided level at
each look, so its decision "this decision-quality metric is worse than the margin allows" is valid
whenever it is read, however often (``analytics.comparison.estimator.sequential_p``). The *detection
potential* of a release is the first of those looks at which the same test, adjusted over the
same family as the verdicts, judged a decision-quality metric worse: the time from
``released_at`` to that look is ``detectable_after_hours``. It is therefore on the same scale as
the telemetry failure signal of CFR-DQ and as ``analytics judge``: a release that fails on
telemetry has a detection potential, and one that does not has none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal, cast

import numpy as np
import polars as pl

from analytics.comparison import ReleaseComparison, compare_releases
from analytics.core.policy import Policy
from analytics.core.results import Status, clean
from analytics.data.rollup import Rollup

Resolution = Literal["day"]


@dataclass(frozen=True)
class DetectionPotential:
    """The earliest look at which a release's degradation beyond its margin was statistically
    visible.

    ``detectable_after_hours``: hours from ``released_at`` to the end of the first daily look at
    which a decision-quality metric was judged worse (None when none was by ``as_of``);
    ``metric``: that metric (the first in catalogue order when several crossed at the same look,
    all of them in ``metrics``); ``looks``: complete daily looks evaluated.
    """

    release_id: str
    detectable_after_hours: float | None
    detectable_at: datetime | None
    metric: str | None
    metrics: tuple[str, ...]
    resolution: Resolution
    looks: int
    status: Status
    message: str

    def to_dict(self) -> dict[str, Any]:
        return clean({f.name: getattr(self, f.name) for f in fields(self)})


def detection_from_comparison(comparison: ReleaseComparison) -> DetectionPotential:
    """The detection potential read off a comparison's daily looks (see module docstring)."""
    c = comparison
    common: dict[str, Any] = {
        "release_id": c.release_id,
        "resolution": "day",
        "looks": c.looks_done,
    }
    if c.detectable_at is not None and c.released_at is not None:
        hours = (c.detectable_at - c.released_at).total_seconds() / 3600.0
        names = c.detectable_metrics
        return DetectionPotential(
            detectable_after_hours=hours,
            detectable_at=c.detectable_at,
            metric=names[0],
            metrics=names,
            status="ok",
            message=(
                f"degradation of {', '.join(names)} beyond the margin visible "
                f"{hours:.1f} h after release"
            ),
            **common,
        )
    status: Status
    if c.status == "insufficient_data":
        status, message = "insufficient_data", c.message
    elif c.status == "immature":
        status = "immature"
        message = "no degradation beyond the margin visible yet; the window is not over"
    else:
        status = "ok"
        message = "no degradation beyond the margin visible in the observation window"
    return DetectionPotential(
        detectable_after_hours=None,
        detectable_at=None,
        metric=None,
        metrics=(),
        status=status,
        message=message,
        **common,
    )


def detection_potentials(
    rollup: Rollup | None,
    units: pl.DataFrame,
    release_ids: Sequence[str],
    as_of: datetime,
    policy: Policy,
    *,
    comparisons: Mapping[str, ReleaseComparison] | None = None,
) -> dict[str, DetectionPotential]:
    """``detection_potential`` for several releases at once; ``comparisons`` already computed
    for some of them are reused."""
    known = dict(comparisons or {})
    missing = [r for r in dict.fromkeys(release_ids) if r not in known]
    if missing:
        known.update(compare_releases(rollup, units, missing, as_of, policy))
    return {rid: detection_from_comparison(known[rid]) for rid in dict.fromkeys(release_ids)}


def detection_potential(
    rollup: Rollup | None,
    units: pl.DataFrame,
    release_id: str,
    as_of: datetime,
    policy: Policy,
) -> DetectionPotential:
    """The earliest time (hours after ``released_at``) a degradation of a decision-quality
    metric beyond its policy margin was visible at the comparison's daily looks (see module
    docstring)."""
    return detection_potentials(rollup, units, [release_id], as_of, policy)[release_id]


def sequence_frame(comparison: ReleaseComparison) -> pl.DataFrame:
    """The daily looks of one release's comparison, one row per look and decision-quality
    metric: ``look``, ``look_time``, ``hours`` after release, ``estimate`` with its (1 - alpha)
    interval at that look, ``p_worse_sequential`` and ``n_new``/``n_ref``, for a chart of "when
    did it become visible"."""
    looks = comparison.looks
    if looks is None or looks.height == 0 or comparison.released_at is None:
        return pl.DataFrame()
    return (
        looks.filter(pl.col("role") == "decision_quality")
        .select(
            "look",
            "look_time",
            "metric",
            "estimate",
            "ci_low",
            "ci_high",
            "p_worse_sequential",
            pl.col("N_new").cast(pl.Int64).alias("n_new"),
            pl.col("N_ref").cast(pl.Int64).alias("n_ref"),
        )
        .with_columns(
            (
                (pl.col("look_time") - pl.lit(comparison.released_at)).dt.total_seconds() / 3600.0
            ).alias("hours")
        )
        .sort(["look", "metric"])
    )


@dataclass(frozen=True)
class DetectionSummary:
    """How much earlier monitoring could have caught a cohort's failed releases (the
    ``detection_potential`` KPI of a month, and the failed-releases section of the report).

    ``n``: failed releases whose degradation was statistically visible in the telemetry
    (``detectable_after_hours`` known); their median "visible after" hours; the median hours to
    their first detection (of those detected); ``median_hours_earlier``: the median of detected
    minus visible hours (positive: visible earlier than detected); ``releases``: one dict per
    release (``release_id, detectable_after_hours, detectable_metric, detection_hours``)."""

    n: int
    median_detectable_after_hours: float | None
    median_detected_after_hours: float | None
    median_hours_earlier: float | None
    releases: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``kpis.detection_potential`` (docs/data-contract.md)."""
        return {
            "n": self.n,
            "median_detectable_after_hours": self.median_detectable_after_hours,
            "median_detected_after_hours": self.median_detected_after_hours,
            "median_hours_earlier": self.median_hours_earlier,
            "releases": list(self.releases),
        }


def detection_summary(releases: pl.DataFrame) -> DetectionSummary:
    """Summarise the detection potential of the failed releases among ``releases`` (rows of
    ``Analysis.releases``: ``failed``, ``detectable_after_hours``, ``detectable_metric``,
    ``detection_hours``): per release "detectable after X h" (telemetry) beside "detected after
    Y h" (first detection), and their medians."""
    df = releases.filter(pl.col("failed") & pl.col("detectable_after_hours").is_not_null())
    both = df.filter(pl.col("detection_hours").is_not_null())
    gap = (both["detection_hours"] - both["detectable_after_hours"]).to_list()
    return DetectionSummary(
        n=df.height,
        median_detectable_after_hours=cast(float | None, df["detectable_after_hours"].median()),
        median_detected_after_hours=cast(float | None, both["detection_hours"].median()),
        median_hours_earlier=float(np.median(gap)) if gap else None,
        releases=tuple(
            df.select(
                "release_id", "detectable_after_hours", "detectable_metric", "detection_hours"
            ).to_dicts()
        ),
    )


__all__ = [
    "DetectionPotential",
    "DetectionSummary",
    "detection_from_comparison",
    "detection_potential",
    "detection_potentials",
    "detection_summary",
    "sequence_frame",
]
