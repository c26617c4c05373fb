"""The result types: one metric's comparison and a release's comparison."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

import polars as pl

from analytics.comparison.metrics import Verdict
from analytics.core.policy import Role
from analytics.core.results import Status, clean


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one comparison (or of one segment of it).

    Values are in the metric's unit (a share for rates, USD/case for cost, ms for latency).
    ``estimate`` and its interval are the mix-standardised difference new - reference;
    ``relative`` is ``new / reference - 1``; ``margin_abs`` is the margin in the metric's unit
    (signed: positive when up is worse). ``naive_*`` is the same difference without
    standardisation. p-values: ``p_value`` two-sided for no difference; ``p_worse`` one-sided for
    a degradation beyond the margin; ``p_better`` one-sided for an improvement; ``*_adjusted``
    after the multiple-testing adjustment of its family.

    Overall rows only: ``p_worse_sequential`` / ``p_noninf_sequential`` are the sequential
    p-values over the daily looks so far (``analytics.comparison.estimator.sequential_p``), the
    ``*_adjusted`` values Holm / BH over the decision family of those; ``p_noninf`` tests
    non-inferiority within ``noninferiority_margin_abs`` (the margin in the metric's unit used
    for "go"); ``standardised_share`` is the share of the new arm's cases standardised on their
    own segment; ``effective_n_ref`` the reference's effective sample size; ``mde`` the smallest
    true difference (metric unit, signed in the worse direction) the last look detects with 80 %
    power at the current sample size; ``cases_needed`` the further new-version cases needed to
    show non-inferiority if the estimate stays where it is (0 when shown, None when the estimate
    itself is beyond the margin); ``in_family`` whether the metric is in the decision family.
    """

    metric: str
    role: Role
    method: str
    worse: Literal["up", "down"]
    margin: float
    n_new: int
    n_ref: int
    new_value: float | None
    ref_value: float | None
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    relative: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    margin_abs: float | None
    naive_new_value: float | None
    naive_ref_value: float | None
    naive_estimate: float | None
    naive_ci_low: float | None
    naive_ci_high: float | None
    p_value: float | None
    p_worse: float | None
    p_worse_adjusted: float | None
    p_better: float | None
    p_better_adjusted: float | None
    non_inferior: bool | None
    verdict: Verdict
    reason: str
    standardised_share: float | None = None
    segment: str = "all"
    se: float | None = None
    p_worse_sequential: float | None = None
    p_noninf: float | None = None
    p_noninf_sequential: float | None = None
    noninferiority_margin_abs: float | None = None
    effective_n_ref: float | None = None
    mde: float | None = None
    cases_needed: int | None = None
    in_family: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return clean({f.name: getattr(self, f.name) for f in fields(self)})


@dataclass(frozen=True)
class ReleaseComparison:
    """A release compared with the previous release of its system (see module docstring).

    ``metrics`` maps metric name to its ``MetricComparison``; ``segments`` is a tidy frame of the
    per-segment results (one row per segment and metric, columns of ``MetricComparison``), for the
    review report's forest plot.
    """

    release_id: str
    system: str | None
    previous_release_id: str | None
    ref_release_id: str | None  # the reference version (see ``comparison_windows``)
    released_at: datetime | None
    window_start: datetime | None  # midnight of the release day: the new arm's first day
    window_end: datetime | None  # exclusive
    ref_start: datetime | None  # the reference arm's first day
    as_of: datetime
    n_new: int
    n_ref: int
    status: Status
    message: str
    metrics: Mapping[str, MetricComparison]
    segments: pl.DataFrame = field(repr=False, compare=False)
    multiple_testing: str = "holm"
    alpha: float = 0.05
    control: str | None = None  # "concurrent", "pre_release" (weaker) or None (no comparison)
    concurrent_share: float | None = None  # new-version cases on days with concurrent control
    looks_done: int = 0
    looks_planned: int = 0
    look_time: datetime | None = None  # end of the last complete look
    family: tuple[str, ...] = ()  # the metrics of the one multiple-testing family
    detectable_at: datetime | None = None  # first look at which a decision-quality metric was worse
    detectable_metrics: tuple[str, ...] = ()
    looks: pl.DataFrame | None = field(default=None, repr=False, compare=False)

    def metric(self, name: str) -> MetricComparison:
        return self.metrics[name]

    def worse(self, role: Role | None = "decision_quality") -> tuple[str, ...]:
        """Metrics judged worse (of ``role``; all metrics when None)."""
        return tuple(
            name
            for name, m in self.metrics.items()
            if m.verdict == "worse" and (role is None or m.role == role)
        )

    def metrics_frame(self) -> pl.DataFrame:
        """The overall results as a tidy frame, one row per metric."""
        rows = [m.to_dict() for m in self.metrics.values()]
        return pl.DataFrame(rows, schema=_RESULT_SCHEMA).with_columns(
            pl.lit(self.release_id).alias("release_id")
        )

    def to_dict(self, segments: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "release_id": self.release_id,
            "system": self.system,
            "previous_release_id": self.previous_release_id,
            "ref_release_id": self.ref_release_id,
            "released_at": self.released_at,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "ref_start": self.ref_start,
            "as_of": self.as_of,
            "n_new": self.n_new,
            "n_ref": self.n_ref,
            "status": self.status,
            "message": self.message,
            "multiple_testing": self.multiple_testing,
            "alpha": self.alpha,
            "control": self.control,
            "control_weaker": self.control in ("pre_release", "mixed"),
            "concurrent_share": self.concurrent_share,
            "looks_done": self.looks_done,
            "looks_planned": self.looks_planned,
            "look_time": self.look_time,
            "family": list(self.family),
            "detectable_at": self.detectable_at,
            "detectable_metrics": list(self.detectable_metrics),
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }
        if segments:
            out["segments"] = self.segments.to_dicts()
        return clean(out)

    def diagnostics(self) -> dict[str, Any]:
        """The comparison's design and, per metric of the decision family, its verdict and what
        it can see: the ``telemetry_comparison`` object of ``analytics releases --format json``."""
        keys = (
            "verdict",
            "estimate",
            "ci_low",
            "ci_high",
            "standardised_share",
            "effective_n_ref",
            "mde",
            "cases_needed",
            "non_inferior",
        )
        return clean(
            {
                "status": self.status,
                "message": self.message,
                "ref_release_id": self.ref_release_id,
                "control": self.control,
                "control_weaker": self.control in ("pre_release", "mixed"),
                "concurrent_share": self.concurrent_share,
                "looks_done": self.looks_done,
                "looks_planned": self.looks_planned,
                "n_new": self.n_new,
                "n_ref": self.n_ref,
                "metrics": {
                    name: {k: getattr(self.metrics[name], k) for k in keys}
                    for name in self.family
                    if name in self.metrics
                },
            }
        )

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>{self.release_id}</b> vs {self.ref_release_id} - {self.status}"
            f" ({self.message}); n new {self.n_new}, n reference {self.n_ref}</p>"
        )
        cols = ["metric", "verdict", "estimate", "ci_low", "ci_high", "relative", "reason"]
        return head + self.metrics_frame().select(cols)._repr_html_()


_RESULT_SCHEMA: dict[str, pl.DataType] = {
    f.name: (
        pl.Float64()
        if "float" in str(f.type)
        else pl.Int64()
        if str(f.type) == "int"
        else pl.Boolean()
        if "bool" in str(f.type)
        else pl.String()
    )
    for f in fields(MetricComparison)
}
