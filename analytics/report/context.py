"""The report contexts: ``ExecutiveContext`` / ``executive_context`` (one month, quarter or year
and its trend window of months) and ``ReleaseContext`` / ``release_context`` (one release and
its comparison), built from a dataset folder (loaded, then ``analyze`` run once) or from an
``Analysis`` already computed; the reproducibility footer.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from analytics.analysis.kpis import MonthlyKpis, monthly_kpis
from analytics.analysis.steps import Analysis, analyze, compared_ids
from analytics.comparison import ReleaseComparison
from analytics.core.columns import ROW
from analytics.core.errors import DataError
from analytics.core.periods import (
    month_range,
    parse_as_of,
    period_kind,
    period_months,
    previous_period,
)
from analytics.core.policy import Policy
from analytics.data.io import Dataset, load_dataset
from analytics.governance.health import ProcessHealth, process_health
from analytics.governance.risk import RiskAttribution, risk_attribution
from analytics.metrics.detection import DetectionPotential, detection_potentials
from analytics.metrics.releases import deployed_in_month, month_expr
from analytics.report.format import fmt_time, period_name
from analytics.report.html import Safe, Section, _h, _join, _p, _table, _tag
from analytics.report.imports import ImportLog, import_log
from analytics.report.scope import names, restrict_systems, restrict_teams, scope_text
from analytics.stats.change import plural


def trend_months(policy: Policy) -> int:
    """Months in the executive report's trends (policy ``reports.trend_months``)."""
    return int(policy.section("reports")["trend_months"])


def trend_window(period: str, policy: Policy, as_of: datetime) -> list[str]:
    """The months of the executive report's trends: the ``reports.trend_months`` months ending
    with the last month of ``period`` (a month, quarter or year), oldest first; with the month
    of ``as_of`` (policy timezone) when the period is not over at ``as_of`` (a year to date
    shows no month still to come)."""
    months = period_months(period)
    now = as_of.astimezone(ZoneInfo(policy.timezone)).strftime("%Y-%m")
    end = now if months[0] <= now < months[-1] else months[-1]
    return month_range(end, trend_months(policy))


def report_months(period: str, policy: Policy, as_of: datetime) -> list[str]:
    """The months an executive report of ``period`` reads: its trend window, its own months and
    those of the period before (the headline's comparison), oldest first."""
    return sorted(
        {
            *trend_window(period, policy, as_of),
            *period_months(period),
            *period_months(previous_period(period)),
        }
    )


def period_flag(period: str) -> list[str]:
    """The command-line option that names ``period``: ``--month`` for a month (as before
    periods), ``--period`` for a quarter or a year."""
    return ["--month" if period_kind(period) == "month" else "--period", period]


def min_trend_n(policy: Policy) -> int:
    """Below this many observations a month-to-month change is called too thin to read as a
    trend (policy ``reports.min_trend_n``)."""
    return int(policy.section("reports")["min_trend_n"])


def min_group_releases(policy: Policy) -> int:
    """A group (a breakdown row, a team's or a system's view) with fewer releases shows its
    counts, not a rate (policy ``risk.min_group_releases``, the floor of the risk section)."""
    return int(policy.section("risk")["min_group_releases"])


# ---------------------------------------------------------------- loading


def _as_datetime(as_of: str | datetime) -> datetime:
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            raise DataError("as_of needs a timezone offset")
        return as_of
    return parse_as_of(as_of)


Source = str | Path | Analysis  # a dataset folder, or an Analysis already computed


def _given_analysis(
    analysis: Analysis, as_of: datetime, policy: str | Path | None, systems: Sequence[str]
) -> Analysis:
    """Check that an ``Analysis`` passed as a report's source fits the request: its own
    ``as_of``, its own policy and every system (it is not analysed again)."""
    if as_of != analysis.as_of:
        raise DataError(
            f"as_of {as_of.isoformat()} differs from the analysis' as_of "
            f"{analysis.as_of.isoformat()}"
        )
    if policy is not None:
        raise DataError(
            "policy: an Analysis carries its policy; pass the dataset folder to use another one"
        )
    if systems:
        raise DataError(
            "systems: an Analysis covers every system; pass the dataset folder, or analyse "
            "restrict_systems(dataset, systems), to report on some of them"
        )
    return analysis


def _check_compared(analysis: Analysis, months: Sequence[str]) -> None:
    """An ``Analysis`` computed with ``months`` that leave out some of ``months`` lacks their
    version comparisons (telemetry failure signal, unit-cost impact): a ``DataError``, never a
    report with those numbers missing."""
    if analysis.rollup is None:
        return
    missing = [
        r
        for r in compared_ids(analysis.releases, analysis.as_of, months)
        if r not in analysis.comparisons
    ]
    if missing:
        raise DataError(
            f"the analysis did not compare {plural(len(missing), 'release')} of "
            f"{', '.join(months)} "
            f"(e.g. {missing[0]}); analyse with months=None or including these months"
        )


def _dataset_policy(ds: Dataset) -> str | None:
    """The ``--policy`` that reproduces ``ds.policy``: None for the shipped default or the
    dataset's own ``policy.yaml``, else the policy file (a policy built in memory has none)."""
    src = ds.policy.source
    if src == "default" or not Path(src).is_file():
        return None
    if ds.source and Path(src) == Path(ds.source) / "policy.yaml":
        return None
    return src


@dataclass(frozen=True)
class Provenance:
    """What a reader needs to render the same report again (the report footer).

    ``data_dir``: the dataset as the reader names it in ``--data``: the folder, or for a report
    rendered from a database (``--data postgresql://...``, ``duckdb:///...``: its tables copied
    to a temporary folder for the notebook) the database URI with its password masked
    (``analytics.importers.database.mask_uri``), never the temporary folder."""

    data_dir: str
    dataset_fingerprint: str
    policy_source: str
    policy_fingerprint: str
    as_of: datetime
    package_version: str
    parameters: Mapping[str, Any]
    command: str = ""
    imports: ImportLog | None = None  # the folder's import_log.json (``analytics.report.imports``)


def _provenance(
    ds: Dataset,
    data_dir: str | Path,
    as_of: datetime,
    parameters: Mapping[str, Any],
    command: Sequence[str],
) -> Provenance:
    """The footer's facts; ``data_dir`` as the reader names the data (a folder or a masked URI),
    the import log read from the folder the dataset was loaded from (``ds.source``)."""
    from analytics.core import __version__

    return Provenance(
        command=shlex.join(
            [
                "analytics",
                "report",
                *command,
                "--data",
                str(data_dir),
                "--as-of",
                as_of.isoformat(),
                "--out",
                "reports",
            ]
        ),
        data_dir=str(data_dir),
        dataset_fingerprint=ds.fingerprint,
        policy_source=ds.policy.source,
        policy_fingerprint=ds.policy.fingerprint,
        as_of=as_of,
        package_version=__version__,
        parameters=dict(parameters),
        imports=import_log(ds.source) if ds.source and Path(ds.source).is_dir() else None,
    )


def _failed_ids(analysis: Analysis) -> list[str]:
    return analysis.releases.filter(pl.col("failed").fill_null(False))["release_id"].to_list()


@dataclass(frozen=True)
class ExecutiveContext:
    """Everything the executive report shows for one period, computed once.

    ``month``: the reported period, a month ``YYYY-MM``, a quarter ``YYYY-Qn`` or a year
    ``YYYY`` (as ``MonthlyKpis.month``); ``kpis``: the KPIs of its cohort (the releases deployed
    in its months) and ``previous`` those of the period before, of the same kind.
    ``history``: the monthly KPIs of the months of ``trend_window`` (the
    ``reports.trend_months`` months ending with the period's last month), oldest first (for a
    month, the last one is ``kpis``).
    ``audit``/``health``: the release-process audit. ``systems``/``teams``: what the report is
    restricted to (empty: the whole organisation)."""

    month: str
    as_of: datetime
    analysis: Analysis
    kpis: MonthlyKpis
    previous: MonthlyKpis | None
    history: tuple[MonthlyKpis, ...]
    audit: pl.DataFrame
    health: ProcessHealth
    risk_attribution: RiskAttribution
    detection: Mapping[str, DetectionPotential]
    detection_note: str
    systems: tuple[str, ...]
    teams: tuple[str, ...]
    provenance: Provenance

    @property
    def period_kind(self) -> str:
        """``month``, ``quarter`` or ``year`` (the word the report's sentences use)."""
        return period_kind(self.month)

    @property
    def cohort(self) -> pl.DataFrame:
        """The period's deployed releases (rows of ``analysis.releases``)."""
        return deployed_in_month(self.analysis.releases, self.month, self.as_of)

    @property
    def alpha(self) -> float:
        return self.analysis.dataset.policy.alpha

    @property
    def rate_floor(self) -> int:
        """A view of some systems (or teams) with fewer releases than this in a month shows
        counts, not rates (``min_group_releases``); 0 for the whole organisation."""
        scoped = self.systems or self.teams
        return min_group_releases(self.analysis.dataset.policy) if scoped else 0

    @property
    def title(self) -> str:
        return f"AI release report: {period_name(self.month)}"

    @property
    def subtitle(self) -> str:
        return (
            f"{plural(self.kpis.releases_deployed, 'release')} deployed in {self.month} · "
            f"{scope_text(self.systems, self.teams)} · data as of {fmt_time(self.as_of)}"
        )

    def _repr_html_(self) -> str:
        head = [_tag("h1", self.title), _p(self.subtitle, cls="ra-subtitle")]
        return str(_tag("div", _join(head), "ra-title ra-report"))


def executive_context(
    source: Source,
    month: str,
    as_of: str | datetime,
    policy: str | Path | None = None,
    systems: str | Sequence[str] | None = None,
    teams: str | Sequence[str] | None = None,
    source_label: str | None = None,
) -> ExecutiveContext:
    """The KPIs of ``month`` (a month ``YYYY-MM``, or a period: ``YYYY-Qn``, ``YYYY``; the cohort
    rule of ``monthly_kpis``) and of the period before, the 12-month history ending with its last
    month (``trend_window``) and the process audit as of ``as_of`` (ISO 8601 with offset).
    ``source``: a dataset folder (loaded once and analysed once) or an ``Analysis`` already
    computed at ``as_of`` (not analysed again; it must cover ``report_months`` and every system).
    ``systems``: restrict to these systems; ``teams``: to the releases of these teams
    (``releases.team``, cut after the analysis: ``analytics.report.scope``); each a list or a
    comma-separated string, None = all. ``source_label``: what the footer names as the data
    instead of the folder (see ``Provenance``)."""
    when = _as_datetime(as_of)
    chosen, chosen_teams = names(systems), names(teams)
    if isinstance(source, Analysis):
        analysis = _given_analysis(source, when, policy, chosen)
        months = report_months(month, analysis.dataset.policy, when)
        _check_compared(analysis, months)
        data_dir: str | Path = analysis.dataset.source
        policy = _dataset_policy(analysis.dataset)
    else:
        data_dir = source
        ds = restrict_systems(load_dataset(source, policy), chosen)
        months = report_months(month, ds.policy, when)
        analysis = analyze(ds, when, months=months)
    params = {
        "month": month,
        "as_of": when.isoformat(),
        "policy": policy,
        "systems": list(chosen) or None,
        "teams": list(chosen_teams) or None,
    }
    command = [
        "executive",
        *period_flag(month),
        *(["--policy", str(policy)] if policy is not None else []),
        *(["--systems", ",".join(chosen)] if chosen else []),
        *(["--teams", ",".join(chosen_teams)] if chosen_teams else []),
    ]
    return _executive(
        restrict_teams(analysis, chosen_teams),
        month,
        (chosen, chosen_teams),
        _provenance(analysis.dataset, source_label or data_dir, when, params, command),
    )


def _executive(
    analysis: Analysis,
    month: str,
    scope: tuple[tuple[str, ...], tuple[str, ...]],
    provenance: Provenance,
) -> ExecutiveContext:
    """The executive context of the period ``month`` read off ``analysis``."""
    when, policy = analysis.as_of, analysis.dataset.policy
    history = tuple(monthly_kpis(analysis, m) for m in trend_window(month, policy, when))
    by_month = {k.month: k for k in history}
    kpis = by_month.get(month) or monthly_kpis(analysis, month)
    before = previous_period(month)
    previous = by_month.get(before) or monthly_kpis(analysis, before)
    audit = analysis.audit
    health = process_health(audit, analysis.releases, month, when, policy, analysis.incidents)
    window = trend_release_ids(analysis, month)
    risk = risk_attribution(audit, _failed_ids(analysis), policy, release_ids=window)
    cohort_failed = (
        deployed_in_month(analysis.releases, month, when)
        .filter(pl.col("failed").fill_null(False))["release_id"]
        .to_list()
    )
    detection, note = _detection(analysis, cohort_failed)
    return ExecutiveContext(
        month=month,
        as_of=when,
        analysis=analysis,
        kpis=kpis,
        previous=previous,
        history=history,
        audit=audit,
        health=health,
        risk_attribution=risk,
        detection=detection,
        detection_note=note,
        systems=scope[0],
        teams=scope[1],
        provenance=provenance,
    )


def trend_release_ids(analysis: Analysis, month: str) -> list[str]:
    """Releases deployed in the ``reports.trend_months`` months ending with the last month of
    ``month`` (a month or a period: the cohort of the trends and of the risk attribution)."""
    months = trend_window(month, analysis.dataset.policy, analysis.as_of)
    return analysis.releases.filter(
        pl.col("month").is_in(months) & (pl.col("released_at") <= analysis.as_of)
    )["release_id"].to_list()


def _detection(
    analysis: Analysis, release_ids: Sequence[str]
) -> tuple[dict[str, DetectionPotential], str]:
    """Detection potential of ``release_ids`` (``analytics.metrics.detection``), reusing the
    analysis's
    comparisons; the second item is kept for a reason not to compute it (none today)."""
    if not release_ids:
        return {}, ""
    return detection_potentials(
        analysis.rollup,
        analysis.releases,
        list(release_ids),
        analysis.as_of,
        analysis.dataset.policy,
        comparisons=analysis.comparisons,
    ), ""


def _release_incidents(analysis: Analysis, release_id: str) -> pl.DataFrame:
    return analysis.incidents.filter(pl.col("attributed_release_id") == release_id).sort(
        "detected_at", "incident_id", nulls_last=True
    )


# ---------------------------------------------------------------- footer


def reproducibility(ctx: ExecutiveContext | ReleaseContext) -> Section:
    """The report footer: dataset fingerprint, policy (source and fingerprint), ``as_of``, the
    package version and the parameters, so anyone can render the same report again; for a
    folder written by ``analytics import``, what its ``import_log.json`` records (the sources,
    their export files' and mappings' sha256, when the log was last written)."""
    pv = ctx.provenance
    params = ", ".join(f"{k} = {v}" for k, v in pv.parameters.items() if v is not None)
    rows = [
        Safe(
            f"Dataset <code>{_h(pv.data_dir)}</code>, fingerprint "
            f"<code>{_h(pv.dataset_fingerprint)}</code>"
        ),
        Safe(
            f"Policy <code>{_h(pv.policy_source)}</code>, fingerprint "
            f"<code>{_h(pv.policy_fingerprint)}</code>"
        ),
        Safe(
            f"As of <code>{_h(pv.as_of.isoformat())}</code> · analytics "
            f"<code>{_h(pv.package_version)}</code>"
        ),
        Safe(f"Parameters: {_h(params)}"),
        Safe(f"Render again: <code>{_h(pv.command)}</code>"),
    ]
    body = _join([*(_tag("div", r) for r in rows), *_imports(pv.imports)])
    return Section("reproducibility", (_tag("footer", body, "ra-footer"),))


def _imports(log: ImportLog | None) -> list[Safe]:
    """The footer's lines on the dataset's import log: when it was written and, per source, the
    export's file and sha256, the mapping's sha256 and the tables written (every string from
    the log escaped)."""
    if log is None:
        return []
    when = f"{log.written_at:%Y-%m-%d %H:%M:%S} UTC"
    if log.problem:
        return [_tag("div", f"Imported: {log.file} (written {when}) cannot be read: {log.problem}")]
    head = _tag(
        "div",
        f"Imported with analytics import: {plural(len(log.sources), 'source')} in {log.file}, "
        f"last written {when} (the file's time: the log records no time of its own)",
    )
    rows = [
        [
            s.source,
            s.file,
            Safe(f"<code>{_h(s.sha256)}</code>"),
            Safe(f"<code>{_h(s.mapping_sha256)}</code>"),
            ", ".join(s.tables),
        ]
        for s in log.sources
    ]
    table = _table(["source", "export file", "export sha256", "mapping sha256", "tables"], rows)
    return [head, table] if rows else [head]


# ---------------------------------------------------------------- post-release review


@dataclass(frozen=True)
class ReleaseContext:
    """Everything the post-release review shows for one release, as known at ``as_of``."""

    release_id: str
    as_of: datetime
    analysis: Analysis
    release: Mapping[str, Any]
    previous: Mapping[str, Any] | None
    audit: Mapping[str, Any]
    evidence: pl.DataFrame
    gates: pl.DataFrame
    stages: pl.DataFrame
    approvals: pl.DataFrame
    incidents: pl.DataFrame
    decisions: pl.DataFrame
    comparison: ReleaseComparison | None  # None: not compared (see ``version_comparison``)
    detection: DetectionPotential | None
    detection_note: str
    provenance: Provenance

    @property
    def policy(self):  # noqa: ANN201
        return self.analysis.dataset.policy

    @property
    def tier_policy(self):  # noqa: ANN201
        return self.policy.tiers[self.release["effective_tier"]]

    def _repr_html_(self) -> str:
        r = self.release
        sub = (
            f"{r['system']} · released {fmt_time(r['released_at'])} · effective tier "
            f"{r['effective_tier']} · accountable owner {r.get('accountable_owner') or 'none'}"
            f" · data as of {fmt_time(self.as_of)}"
        )
        parts = [
            _tag("h1", Safe(f"Post-release review: <code>{_h(self.release_id)}</code>")),
            _p(sub, cls="ra-subtitle"),
        ]
        if r.get("summary"):
            parts.append(_p(Safe(f"<b>Summary:</b> {_h(r['summary'])}")))
        return str(_tag("div", _join(parts), "ra-title ra-report"))


def release_context(
    source: Source,
    release_id: str,
    as_of: str | datetime,
    policy: str | Path | None = None,
    source_label: str | None = None,
) -> ReleaseContext:
    """What the review of ``release_id`` needs, as of ``as_of``. ``source``: a dataset folder
    (loaded, then analysed for the release's month only) or an ``Analysis`` already computed at
    ``as_of`` (not analysed again; it must cover the release's month). An unknown release id is
    a ``DataError``. ``source_label``: what the footer and messages name as the data instead of
    the folder (see ``Provenance``)."""
    when = _as_datetime(as_of)
    if isinstance(source, Analysis):
        analysis = _given_analysis(source, when, policy, ())
        data_dir: str | Path = source_label or analysis.dataset.source
        policy = _dataset_policy(analysis.dataset)
        _check_compared(analysis, _release_months(analysis.dataset, release_id, data_dir))
    else:
        data_dir = source_label or source
        ds = load_dataset(source, policy)
        # The version comparison, the costly step, runs for the release's own month only.
        analysis = analyze(ds, when, months=_release_months(ds, release_id, data_dir))
    params = {"release_id": release_id, "as_of": when.isoformat(), "policy": policy}
    command = [
        "post-release",
        "--release",
        release_id,
        *(["--policy", str(policy)] if policy is not None else []),
    ]
    return _release(
        analysis, release_id, _provenance(analysis.dataset, data_dir, when, params, command)
    )


def _release_months(ds: Dataset, release_id: str, data_dir: str | Path) -> list[str]:
    """The month of ``release_id`` (none when its ``released_at`` is missing); a ``DataError``
    when the releases table does not have it."""
    mine = ds.releases.filter(pl.col("release_id") == release_id)
    if mine.height == 0:
        raise DataError(f"release '{release_id}' is not in the releases table of {data_dir}")
    months = mine.select(month_expr("released_at", ds.policy.timezone)).drop_nulls()
    return months.to_series().to_list()


def _release(analysis: Analysis, release_id: str, provenance: Provenance) -> ReleaseContext:
    """The review context of ``release_id`` read off ``analysis``."""
    row = analysis.releases.filter(pl.col("release_id") == release_id).row(0, named=True)
    prev = None
    if row["previous_release_id"] is not None:
        prev = analysis.releases.filter(pl.col("release_id") == row["previous_release_id"]).row(
            0, named=True
        )
    audit = analysis.audit.filter(pl.col("release_id") == release_id).row(0, named=True)

    def mine(df: pl.DataFrame) -> pl.DataFrame:
        return df.filter(pl.col("release_id") == release_id)

    known = analysis.dataset  # the event tables as known at as_of (analytics.data.asof)
    detection, note = _detection(analysis, [release_id] if row["deployed"] else [])
    return ReleaseContext(
        release_id=release_id,
        as_of=analysis.as_of,
        analysis=analysis,
        release=row,
        previous=prev,
        audit=audit,
        evidence=mine(known.evidence).sort("item", ROW),
        gates=mine(known.gates).sort("gate", "evaluated_at", nulls_last=True),
        stages=mine(known.rollout_stages).sort("stage", "started_at", nulls_last=True),
        approvals=mine(known.approvals).sort("decided_at", ROW, nulls_last=True),
        incidents=_release_incidents(analysis, release_id),
        decisions=mine(known.operator_decisions).sort("decided_at", ROW, nulls_last=True),
        comparison=analysis.comparisons.get(release_id),
        detection=detection.get(release_id),
        detection_note=note,
        provenance=provenance,
    )
