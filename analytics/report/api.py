"""The reports as a library: ``executive_report`` and ``release_review`` build a report from a
dataset folder or from an ``Analysis`` already computed, and return an object with one method per
section, in the order of the report notebooks::

    import analytics as ra

    ra.setup_notebook()
    report = ra.executive_report("data/sample", "2026-10", "2026-11-15T00:00:00Z")
    report.headline()  # the same Section as analytics.report.headline(report)

``ExecutiveReport`` and ``ReleaseReview`` are the contexts (``ExecutiveContext``,
``ReleaseContext``) with those methods; the section functions take either. They live here, at the
top of the package, because the sections are built on the contexts (``context`` knows no section).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from analytics.report import (
    audit,
    context,
    executive,
    failures,
    groups,
    review,
    showcase,
    takeaway,
    versions,
)
from analytics.report.context import (
    ExecutiveContext,
    ReleaseContext,
    Source,
    executive_context,
    release_context,
)
from analytics.report.html import Section

# The package re-exports the function ``verdict`` under the module's name: import the function.
from analytics.report.verdict import verdict as verdict_section

C = TypeVar("C", bound="ExecutiveReport | ReleaseReview")


class ExecutiveReport(ExecutiveContext):
    """The executive report of one month (or quarter, or year): its context, and one method per
    section."""

    def headline(self) -> Section:
        """The five KPI tiles (``analytics.report.executive.headline``)."""
        return executive.headline(self)

    def executive_takeaway(self) -> Section:
        """What changed, why it matters, what to decide (``takeaway.executive_takeaway``)."""
        return takeaway.executive_takeaway(self)

    def trends(self) -> Section:
        """The 12-month trends (``executive.trends``)."""
        return executive.trends(self)

    def breakdowns(self) -> Section:
        """CFR-DQ by risk tier, team, system and changed component
        (``groups.breakdowns``)."""
        return groups.breakdowns(self)

    def failed_releases(self) -> Section:
        """The month's failed releases and how they were detected (``failures.failed_releases``)."""
        return failures.failed_releases(self)

    def process_audit(self) -> Section:
        """Process health and the release-process audit (``audit.process_audit``)."""
        return audit.process_audit(self)

    def risk(self) -> Section:
        """Where failures concentrate over the trend window (``failures.risk``)."""
        return failures.risk(self)

    def dora(self) -> Section:
        """DORA context against the benchmark clusters (``executive.dora``)."""
        return executive.dora(self)

    def data_quality(self) -> Section:
        """The data-quality findings (``audit.data_quality``)."""
        return audit.data_quality(self)

    def reproducibility(self) -> Section:
        """The footer: what renders the same report again (``context.reproducibility``)."""
        return context.reproducibility(self)

    def most_instructive_release(self) -> str | None:
        """The month's release whose review teaches the most (``showcase``), or None."""
        return showcase.most_instructive_release(self.analysis, self.month, self.audit)


class ReleaseReview(ReleaseContext):
    """The post-release review of one release: its context, and one method per section."""

    def verdict(self) -> Section:
        """The verdict and the follow-ups (``analytics.report.verdict.verdict``)."""
        return verdict_section(self)

    def release_diff(self) -> Section:
        """What changed against the previous release (``review.release_diff``)."""
        return review.release_diff(self)

    def release_path(self) -> Section:
        """The path the release's tier requires and what happened (``review.release_path``)."""
        return review.release_path(self)

    def rollout_chart(self) -> Section:
        """The rollout timeline (``review.rollout_chart``)."""
        return review.rollout_chart(self)

    def version_comparison(self) -> Section:
        """The new version against the old one (``versions.version_comparison``)."""
        return versions.version_comparison(self)

    def incident_review(self) -> Section:
        """The release's incidents (``review.incident_review``)."""
        return review.incident_review(self)

    def operator_log(self) -> Section:
        """The operator decisions on the release (``review.operator_log``)."""
        return review.operator_log(self)

    def reproducibility(self) -> Section:
        """The footer: what renders the same review again (``context.reproducibility``)."""
        return context.reproducibility(self)


def _as(cls: type[C], ctx: ExecutiveContext | ReleaseContext) -> C:
    """``ctx`` as its report class ``cls`` (the same fields: nothing is computed again)."""
    return cls(**{f.name: getattr(ctx, f.name) for f in fields(ctx)})


def executive_report(
    source: Source,
    month: str,
    as_of: str | datetime,
    *,
    policy: str | Path | None = None,
    systems: str | Sequence[str] | None = None,
    teams: str | Sequence[str] | None = None,
    source_label: str | None = None,
) -> ExecutiveReport:
    """The executive report of ``month`` (``YYYY-MM``, or a period: a quarter ``YYYY-Qn`` or a
    year ``YYYY``, whose cohort is the releases deployed in its months, as in ``monthly_kpis``)
    as of ``as_of`` (ISO 8601 with offset). The headline compares the period with the one
    before; the trends show the months of the window ending with its last month.

    ``source``: a dataset folder (loaded and analysed once; ``policy``: a policy file, default
    the folder's ``policy.yaml`` or the shipped one; ``systems``: only these systems) or an
    ``Analysis`` computed at ``as_of`` (used as it is: no ``policy`` or ``systems`` then).
    ``teams``: only the releases of these teams (``releases.team``), either source.
    ``source_label``: what the footer names as the data instead of the folder (the masked URI
    of a database whose tables were copied to the folder: ``analytics report --data URI``)."""
    return _as(
        ExecutiveReport,
        executive_context(source, month, as_of, policy, systems, teams, source_label),
    )


def release_review(
    source: Source,
    release_id: str,
    as_of: str | datetime,
    *,
    policy: str | Path | None = None,
    source_label: str | None = None,
) -> ReleaseReview:
    """The post-release review of ``release_id`` as of ``as_of`` (ISO 8601 with offset).

    ``source``: a dataset folder (loaded, then analysed for the release's month; ``policy`` as
    in ``executive_report``) or an ``Analysis`` computed at ``as_of`` (used as it is);
    ``source_label`` as in ``executive_report``."""
    return _as(ReleaseReview, release_context(source, release_id, as_of, policy, source_label))


__all__ = [
    "ExecutiveReport",
    "ReleaseReview",
    "executive_report",
    "release_review",
]
