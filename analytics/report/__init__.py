"""Report sections: one function per section of the executive and post-release reports.

A report is built once, from a dataset folder or an ``Analysis`` (``executive_report`` /
``release_review``, or the plain contexts ``executive_context`` / ``release_context``), and then
each section is one call: ``report.headline()`` or ``headline(report)``. Each returns a
``Section``, which renders itself in JupyterLab and in nbconvert HTML (``_repr_html_``). Every
string that comes from data goes through ``html.escape``; the text of a section (its takeaway) is
generated from the numbers shown, so a sentence appears only when the data supports it.

Charts come from ``analytics.report.charts``; call ``setup_notebook()`` once at the top of a
notebook: it embeds plotly.js and the report styles once and sets the offline plotly renderer.

The package, from the bottom up (imports point only upwards in this list):

- ``charts`` (the figures and the pinned plotly.js bundle they draw with), ``html``: escaping,
  tags, tables, badges, ``Section``, the styles, ``setup_notebook``; ``format``: numbers,
  intervals, times, months, words, shared labels;
- ``scope``: what a report covers (``restrict_systems``, ``restrict_teams``);
- ``imports``: the dataset folder's ``import_log.json`` as the footer shows it;
- ``context``: ``ExecutiveContext`` / ``executive_context``, ``ReleaseContext`` /
  ``release_context`` (from a folder or an ``Analysis``), ``reproducibility``;
- executive sections: ``executive`` (headline, trends, DORA), ``groups`` (the breakdowns),
  ``failures`` (failed releases, detection paths, risk attribution), ``audit`` (process audit,
  data quality, also in the review), ``takeaway``; ``markdown``: the headline and takeaway as
  Markdown (``analytics report executive --format md``);
- post-release review sections: ``review`` (release diff, path, rollout chart, incident review,
  operator log), ``versions`` (version comparison and its diagnostics), ``verdict``;
- ``showcase``: the most instructive release and the latest complete month (``analytics report``);
- ``api``: ``executive_report`` / ``release_review`` and their ``ExecutiveReport`` /
  ``ReleaseReview``, the contexts with one method per section (the public API's reports);
- ``render``: papermill, nbconvert, PDF (``render_report``);
- ``views``: the organisation's report and one per team or system, with an index page
  (``analytics report executive --by team|system``).

``analytics.sections`` re-exports these names, so ``from analytics import sections as rs`` keeps
working.
"""

from __future__ import annotations

from analytics.report.api import (
    ExecutiveReport,
    ReleaseReview,
    executive_report,
    release_review,
)
from analytics.report.audit import (
    data_quality,
    process_audit,
)
from analytics.report.context import (
    ExecutiveContext,
    Provenance,
    ReleaseContext,
    executive_context,
    min_trend_n,
    release_context,
    reproducibility,
    trend_months,
    trend_release_ids,
)
from analytics.report.executive import (
    DORA_METRICS,
    dora,
    headline,
    headline_sentences,
    trends,
)
from analytics.report.failures import (
    detection_path,
    failed_releases,
    risk,
)
from analytics.report.format import (
    DETECTION_LABELS,
    LATE_DETECTION_SOURCES,
    MAX_FINDINGS_LISTED,
    MONTH_NAMES,
    fmt_hours,
    fmt_interval,
    fmt_pct,
    fmt_time,
    fmt_usd,
    month_name,
)
from analytics.report.groups import breakdowns
from analytics.report.html import (
    RESIZE_SCRIPT,
    STYLE,
    NotebookSetup,
    Safe,
    Section,
    setup_notebook,
)
from analytics.report.render import render_report
from analytics.report.review import (
    hours_between,
    incident_review,
    operator_log,
    release_diff,
    release_path,
    rollout_chart,
)
from analytics.report.scope import restrict_releases, restrict_systems, restrict_teams
from analytics.report.showcase import (
    latest_complete_month,
    most_instructive_release,
)
from analytics.report.takeaway import (
    Takeaway,
    executive_takeaway,
    takeaway_points,
)
from analytics.report.verdict import (
    Verdict,
    release_verdict,
    verdict,
)
from analytics.report.versions import (
    CONTROL_TEXT,
    DAILY_METRICS,
    FOREST_SCHEMA,
    OVERALL,
    RATE_METRICS,
    VERDICT_BADGE,
    version_comparison,
)

__all__ = [
    "CONTROL_TEXT",
    "DAILY_METRICS",
    "DETECTION_LABELS",
    "DORA_METRICS",
    "ExecutiveContext",
    "ExecutiveReport",
    "FOREST_SCHEMA",
    "LATE_DETECTION_SOURCES",
    "MAX_FINDINGS_LISTED",
    "MONTH_NAMES",
    "NotebookSetup",
    "OVERALL",
    "Provenance",
    "RATE_METRICS",
    "RESIZE_SCRIPT",
    "ReleaseContext",
    "ReleaseReview",
    "STYLE",
    "Safe",
    "Section",
    "Takeaway",
    "VERDICT_BADGE",
    "Verdict",
    "breakdowns",
    "data_quality",
    "detection_path",
    "dora",
    "executive_context",
    "executive_report",
    "executive_takeaway",
    "failed_releases",
    "fmt_hours",
    "fmt_interval",
    "fmt_pct",
    "fmt_time",
    "fmt_usd",
    "headline",
    "headline_sentences",
    "hours_between",
    "incident_review",
    "latest_complete_month",
    "min_trend_n",
    "month_name",
    "most_instructive_release",
    "operator_log",
    "process_audit",
    "release_context",
    "release_diff",
    "release_path",
    "release_review",
    "release_verdict",
    "render_report",
    "reproducibility",
    "restrict_releases",
    "restrict_systems",
    "restrict_teams",
    "risk",
    "rollout_chart",
    "setup_notebook",
    "takeaway_points",
    "trend_months",
    "trend_release_ids",
    "trends",
    "verdict",
    "version_comparison",
]
