"""Leadership views: the organisation's executive report and one view per team or system,
linked from an index page (``analytics report executive --by team|system``).

The set is one folder in ``--out``, named from the parameters
(``executive_<month>_by-<team|system>[_policy-<fingerprint>]_asof-<stamp>``), holding

- ``index.html``: every view with its headline numbers and a link to its report (no script);
- the organisation's report and one report per team or system, named like any executive report
  (``report_filename`` with ``teams`` or ``systems``), each with a link back to ``index.html``
  at its top (a relative link: it works offline and wherever the folder is copied);
- one shared copy of plotly.js (``plotly-basic-<version>.min.js``) that every page of the set
  loads from beside it, so the folder holds it once. A page copied out of its folder shows a
  note instead of its charts; a report rendered alone (no ``--by``) holds its own copy and
  draws anywhere.

The folder is written all or nothing: into a hidden temporary folder in ``--out``, renamed into
place once every page rendered (replacing the same set rendered before).

The month may be a period (``--period 2026-Q3`` or ``2026``): every page then reports the period,
its index compares each view with the period before.

The views: every team (or system) with a release deployed in the trend window ending with the
month, in the order of the breakdowns (failed releases of the month, then releases, then name).
A view with fewer releases in the month than ``risk.min_group_releases`` shows counts, not
rates, on the index and in its report.
"""

from __future__ import annotations

import html
import os
import secrets
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from pathlib import Path

import polars as pl

from analytics.analysis.kpis import MonthlyKpis, monthly_kpis
from analytics.analysis.steps import Analysis, analyze
from analytics.core.errors import DataError
from analytics.core.periods import parse_as_of, period_kind, period_months, previous_period
from analytics.data.io import load_dataset
from analytics.metrics.releases import deployed_in_month
from analytics.report import charts
from analytics.report.context import min_group_releases, period_flag, trend_release_ids
from analytics.report.executive import _Compare, _rate_delta
from analytics.report.format import be, fmt_hours, fmt_time, period_name, share
from analytics.report.html import STYLE, Safe, _h, _p, _table, _tag
from analytics.report.render import (
    Rendered,
    _inside,
    as_of_stamp,
    policy_tag,
    render_executive,
    report_filename,
    run_jobs,
    safe_name,
)
from analytics.report.scope import restrict_releases
from analytics.stats.change import plural

BY = ("team", "system")
INDEX = "index.html"


@dataclass(frozen=True)
class View:
    """One page of a set: the organisation (``by`` None) or one team or system."""

    by: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        return "organisation" if self.by is None else f"{self.by} {self.name}"

    @property
    def systems(self) -> tuple[str, ...]:
        return (str(self.name),) if self.by == "system" else ()

    @property
    def teams(self) -> tuple[str, ...]:
        return (str(self.name),) if self.by == "team" else ()


@dataclass(frozen=True)
class ViewRow:
    """A line of the index: a view, its month and previous month, and its report's file."""

    view: View
    kpis: MonthlyKpis
    previous: MonthlyKpis
    href: str


def set_name(month: str, as_of: str | datetime, by: str, policy: str | Path | None) -> str:
    """The folder of a set: ``executive_<month>_by-<by>[_policy-<fingerprint>]_asof-<stamp>``."""
    tag = policy_tag(policy)
    parts = ["executive", month, f"by-{by}", *([f"policy-{safe_name(tag)}"] if tag else [])]
    return "_".join([*parts, f"asof-{as_of_stamp(as_of)}"])


def view_names(analysis: Analysis, month: str, by: str) -> list[str]:
    """The teams or systems with a release deployed in the trend window ending with ``month``
    (a ``DataError`` when there is none: ``--by team`` on releases without a ``team``)."""
    if by not in BY:
        raise DataError(f"--by must be one of {', '.join(BY)}, got {by!r}")
    window = set(trend_release_ids(analysis, month))
    rel = analysis.releases.filter(pl.col("release_id").is_in(sorted(window)))
    found = sorted(set(rel[by].drop_nulls().to_list())) if by in rel.columns else []
    if not found:
        raise DataError(
            f"--by {by}: no release deployed in the trend window ending {month} names a {by}"
        )
    return found


def summarise(
    analysis: Analysis, month: str, views: Sequence[View], href: dict[View, str]
) -> list[ViewRow]:
    """The index lines: the organisation first, then the views by failed releases of the month
    (or period), then releases (descending), then name. ``analysis`` must cover ``month`` and
    the month (period) before."""
    prev = previous_period(month)
    rows = []
    for v in views:
        scoped = analysis if v.by is None else restrict_releases(analysis, v.by, [str(v.name)])
        rows.append(ViewRow(v, monthly_kpis(scoped, month), monthly_kpis(scoped, prev), href[v]))
    org = [r for r in rows if r.view.by is None]
    rest = sorted(
        (r for r in rows if r.view.by is not None),
        key=lambda r: (
            -r.kpis.change_failure_rate.numerator,
            -r.kpis.releases_deployed,
            str(r.view.name),
        ),
    )
    return org + rest


def index_page(
    rows: Sequence[ViewRow], month: str, by: str, analysis: Analysis, command: str
) -> str:
    """The index of a set: one line per view with its headline numbers (releases, failed,
    CFR-DQ with the change from the previous month and its test, evidence completeness, median
    times to detect and to mitigate) and a link to its report. Every string is escaped."""
    policy = analysis.dataset.policy
    floor = min_group_releases(policy)
    prev, kind = previous_period(month), period_kind(month)
    compare = _Compare(prev, f"{1 - policy.alpha:.0%}", policy.alpha, floor)
    table = _table(
        [
            by if by == "system" else "team",
            "releases",
            "CFR-DQ",
            f"change from {prev}",
            "evidence complete",
            "median time to detect",
            "median time to mitigate",
        ],
        [_index_row(r, compare) for r in rows],
        numeric=(1, 2, 4, 5, 6),
    )
    title = f"AI release report: {period_name(month)}, by {by}"
    sub = (
        f"{plural(len(rows) - 1, by)} and the organisation · data as of {fmt_time(analysis.as_of)}"
    )
    body = [
        _tag("h1", title),
        _p(sub, cls="ra-subtitle"),
        _tag("section", table, "ra-section"),
        _p(
            f"Each {by}'s report is the executive report restricted to its releases. A view with "
            f"fewer than {plural(floor, 'release')} in the {kind} shows counts, not rates "
            f"(policy risk.min_group_releases); the change from the previous {kind} is tested "
            "with Fisher's exact test. The reports load plotly.js from the file "
            f"{charts.plotlyjs_filename()} beside them: keep the folder together.",
            cls="ra-muted",
        ),
        _p(Safe(f"Render again: <code>{_h(command)}</code>"), cls="ra-muted"),
    ]
    loose = deployed_in_month(analysis.releases, month, analysis.as_of)[by].null_count()
    if loose:
        body.insert(
            3,
            _p(
                f"{plural(loose, 'release')} of {month} {be(loose, past=False)} in no {by}'s "
                "view (no value in the releases table): counted in the organisation only.",
                cls="ra-muted",
            ),
        )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_h(title)}</title>\n<style>{STYLE}\n"
        "body { max-width: 1180px; margin: 0 auto; padding: 12px 28px 40px 28px; }</style>\n"
        f'</head>\n<body class="ra-report ra-title">\n{"".join(body)}\n</body>\n</html>\n'
    )


def _index_row(r: ViewRow, c: _Compare) -> list[object]:
    k = r.kpis
    cfr, ev = k.change_failure_rate, k.evidence_completeness
    text = "Organisation (all releases)" if r.view.by is None else r.view.name
    link = Safe(f'<a href="{html.escape(r.href, quote=True)}">{_h(text)}</a>')
    floor = 0 if r.view.by is None else c.floor
    return [
        link,
        k.releases_deployed,
        share(cfr, floor) if k.releases_deployed else "none deployed",
        _rate_delta(cfr, r.previous.change_failure_rate, replace(c, floor=floor), "up"),
        share(ev, floor) if k.releases_deployed else "",
        _median(k.mttd_hours.median, k.mttd_hours.n),
        _median(k.mttm_hours.median, k.mttm_hours.n),
    ]


def _median(value: float | None, n: int) -> str:
    return "n/a" if value is None else f"{fmt_hours(value)} (n {n})"


# ---------------------------------------------------------------- writing a set


def write_plotlyjs(folder: Path) -> Path:
    """The shared plotly.js of a set, written into ``folder``."""
    path = folder / charts.plotlyjs_filename()
    path.write_text(charts.plotlyjs(), encoding="utf-8")
    return path


def render_views(
    data_dir: str | Path,
    month: str,
    as_of: str,
    out_dir: str | Path,
    by: str,
    *,
    policy: str | Path | None = None,
    pdf: bool = False,
    jobs: int = 2,
    source_label: str | None = None,
) -> tuple[list[Path], list[str]]:
    """Render the organisation's report, one report per team or system (``by``) and the index
    into one folder in ``out_dir`` (module docstring). Returns the files written and, when a
    report failed, the failures (then nothing is written). ``source_label``: what the pages name
    as the data instead of ``data_dir`` (``render_executive``)."""
    ds = load_dataset(data_dir, policy)
    months = sorted({*period_months(month), *period_months(previous_period(month))})
    analysis = analyze(ds, parse_as_of(as_of), months=months)
    views = [View(), *(View(by, n) for n in view_names(analysis, month, by))]
    out = Path(out_dir)
    final = _inside(out, set_name(month, as_of, by, policy))
    if final.exists() and not final.is_dir():
        raise DataError(f"{final} exists and is not a folder")
    tag = policy_tag(policy)
    href = {
        v: report_filename(
            "executive", as_of, month=month, systems=v.systems, teams=v.teams, policy_tag=tag
        )
        for v in views
    }
    tmp = out / f".{final.name}.{secrets.token_hex(6)}.partial"
    tmp.mkdir()
    try:
        js = write_plotlyjs(tmp)
        job = partial(
            render_executive,
            data_dir,
            month,
            as_of,
            tmp,
            policy=policy,
            pdf=pdf,
            plotlyjs_src=js.name,
            index_href=INDEX,
            source_label=source_label,
        )
        work = [(v.label, partial(job, systems=v.systems, teams=v.teams)) for v in views]
        rendered, failures = run_jobs(work, jobs, description=f"rendering the views by {by}")
        if failures:
            return [], failures
        command = shlex.join(
            [
                *("analytics", "report", "executive", "--data", source_label or str(data_dir)),
                *period_flag(month),
                *("--as-of", as_of, "--by", by, "--out", str(out)),
                *(["--policy", str(policy)] if policy is not None else []),
            ]
        )
        page = index_page(summarise(analysis, month, views, href), month, by, analysis, command)
        (tmp / INDEX).write_text(page, encoding="utf-8")
        _swap_into_place(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return [final / INDEX, final / js.name, *_moved(rendered, final)], []


def _moved(rendered: Sequence[Rendered], folder: Path) -> list[Path]:
    """The paths of the rendered files once their folder was renamed to ``folder``."""
    out: list[Path] = []
    for r in rendered:
        out += [folder / r.html.name, *([folder / r.pdf.name] if r.pdf else [])]
    return out


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Rename the folder ``tmp`` to ``final``; a set already there is replaced."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.{secrets.token_hex(6)}.old")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old)


__all__ = [
    "BY",
    "INDEX",
    "View",
    "ViewRow",
    "index_page",
    "render_views",
    "set_name",
    "summarise",
    "view_names",
    "write_plotlyjs",
]
