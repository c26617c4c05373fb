"""``analytics report executive|post-release|all|showcase``: render reports to HTML (and PDF).

Each sub-command prints the path of every file it wrote, one per line, on stdout. Progress and
notes go to stderr; the progress bar shows only on a terminal.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from analytics.cli.core import as_of_arg, month_arg, period_arg
from analytics.core.errors import DataError
from analytics.core.periods import parse_as_of
from analytics.importers.database import dataset_folder, is_database_uri, mask_uri

if TYPE_CHECKING:
    from analytics.report.render import Rendered

# analytics.report.render (papermill, nbconvert, nbformat) takes seconds to import: it is imported
# only when a report command runs, so the other commands start fast.


def _as_of(text: str) -> str:
    """Validate an ``--as-of`` timestamp and keep the text as given (it is a report parameter)."""
    as_of_arg(text)  # offset required, range checked (analytics.cli.core)
    return text


def _names(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _common(p: argparse.ArgumentParser, *, pdf: bool = True, out_required: bool = True) -> None:
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument(
        "--as-of",
        dest="as_of",
        type=_as_of,
        required=True,
        help="ISO 8601 timestamp with offset: the report shows what was known then",
    )
    p.add_argument(
        "--out",
        required=out_required,
        help="output folder (created if missing); an existing file, a path under a file or an "
        "unwritable folder is invalid input (exit 2, checked before rendering)",
    )
    p.add_argument("--policy", help="policy YAML (default: DATA/policy.yaml, else the default)")
    if pdf:
        p.add_argument(
            "--pdf",
            action="store_true",
            help="also print a PDF beside the HTML (needs Debian's chromium)",
        )


def _stderr() -> Console:
    return Console(stderr=True)


def _report(rendered: Rendered) -> None:
    for note in rendered.notes:
        _stderr().print(
            f"note: the notebook wrote to stderr (kept out of the report): {note}",
            markup=False,
            highlight=False,
        )
    print(rendered.html)
    if rendered.pdf is not None:
        print(rendered.pdf)


def _period(args: argparse.Namespace) -> str:
    """The reported period: ``--month`` or ``--period`` (a month, quarter or year), one of them,
    as ``analytics kpis`` takes them."""
    if args.period and args.month:
        raise DataError("report executive takes --month or --period, not both")
    period = args.period or args.month
    if period is None:
        raise DataError("report executive needs --month YYYY-MM or --period YYYY-MM|YYYY-Qn|YYYY")
    return str(period)


def _executive(args: argparse.Namespace) -> int:
    """One executive report of a month or period (HTML, or its headline and takeaway as
    Markdown on stdout with ``--format md``), or with ``--by`` the set of views
    (``analytics.report.views``)."""
    args.month = _period(args)
    scoped = bool(args.systems or args.teams)
    if args.by and (scoped or args.format == "md"):
        raise DataError(
            "--by renders every team or system as HTML: drop --systems/--teams/--format"
        )
    if args.format == "md":
        from analytics.report.api import executive_report
        from analytics.report.markdown import executive_markdown

        report = executive_report(
            args.data,
            args.month,
            args.as_of,
            policy=args.policy,
            systems=args.systems,
            teams=args.teams,
            source_label=args.source_label,
        )
        print(executive_markdown(report), end="")
        return 0
    if args.out is None:
        raise DataError("--out is required to render HTML (only --format md prints instead)")
    if args.by:
        return _views(args)
    from analytics.report.render import render_executive

    _report(
        render_executive(
            args.data,
            args.month,
            args.as_of,
            args.out,
            policy=args.policy,
            systems=args.systems or (),
            teams=args.teams or (),
            pdf=args.pdf,
            source_label=args.source_label,
        )
    )
    return 0


def _views(args: argparse.Namespace) -> int:
    from analytics.report.views import render_views

    written, failures = render_views(
        args.data,
        args.month,
        args.as_of,
        args.out,
        args.by,
        policy=args.policy,
        pdf=args.pdf,
        jobs=args.jobs,
        source_label=args.source_label,
    )
    for path in written:
        print(path)
    _errors(failures)
    return 1 if failures else 0


def _post_release(args: argparse.Namespace) -> int:
    from analytics.report.render import render_post_release

    _report(
        render_post_release(
            args.data,
            args.release,
            args.as_of,
            args.out,
            policy=args.policy,
            pdf=args.pdf,
            source_label=args.source_label,
        )
    )
    return 0


def _month_releases(args: argparse.Namespace, month: str) -> list[str]:
    from analytics.analysis.kpis import analyze
    from analytics.data.io import load_dataset
    from analytics.metrics.releases import deployed_in_month

    ds = load_dataset(args.data, args.policy)
    analysis = analyze(ds, parse_as_of(args.as_of), months=[month])
    return deployed_in_month(analysis.releases, month, analysis.as_of)["release_id"].to_list()


def _run_all(jobs: list[tuple[str, Callable[[], Rendered]]], workers: int) -> int:
    """Run render jobs (``analytics.report.render.run_jobs``), print the paths written, then the
    failures. Exit code 1 when any job failed (the other reports are still written)."""
    from analytics.report.render import run_jobs

    rendered, failures = run_jobs(jobs, workers)
    for r in rendered:
        _report(r)
    _errors(failures)
    return 1 if failures else 0


def _errors(failures: list[str]) -> None:
    for f in failures:
        _stderr().print(f"error: {f}", markup=False, highlight=False)


def _all(args: argparse.Namespace) -> int:
    from analytics.report.render import render_executive

    ids = _month_releases(args, args.month)
    jobs: list[tuple[str, Callable[[], Rendered]]] = [
        (
            f"executive {args.month}",
            lambda: render_executive(
                args.data,
                args.month,
                args.as_of,
                args.out,
                policy=args.policy,
                pdf=args.pdf,
                source_label=args.source_label,
            ),
        )
    ]
    for rid in ids:
        jobs.append((f"review {rid}", partial(_review, args, rid)))
    return _run_all(jobs, args.jobs)


def _review(args: argparse.Namespace, release_id: str) -> Rendered:
    from analytics.report.render import render_post_release

    return render_post_release(
        args.data,
        release_id,
        args.as_of,
        args.out,
        policy=args.policy,
        pdf=args.pdf,
        source_label=args.source_label,
    )


def _showcase(args: argparse.Namespace) -> int:
    """The executive report of the latest complete month before ``--as-of`` (or ``--month``)
    and the review of that month's most instructive release
    (``analytics.report.showcase.most_instructive_release``)."""
    from analytics.analysis.kpis import analyze
    from analytics.data.io import load_dataset
    from analytics.report import latest_complete_month, most_instructive_release
    from analytics.report.render import render_executive, render_post_release

    ds = load_dataset(args.data, args.policy)
    month = args.month or latest_complete_month(args.as_of, ds.policy.timezone)
    analysis = analyze(ds, parse_as_of(args.as_of), months=[month])
    release = most_instructive_release(analysis, month)
    label = args.source_label
    _report(
        render_executive(
            args.data,
            month,
            args.as_of,
            args.out,
            policy=args.policy,
            pdf=args.pdf,
            source_label=label,
        )
    )
    if release is None:
        _stderr().print(
            f"note: no release was deployed in {month}; no review rendered",
            markup=False,
            highlight=False,
        )
        return 0
    _report(
        render_post_release(
            args.data,
            release,
            args.as_of,
            args.out,
            policy=args.policy,
            pdf=args.pdf,
            source_label=label,
        )
    )
    return 0


def check_out_dir(out: str | Path) -> Path:
    """Make sure reports can be written into ``out`` before any rendering starts: create the
    folder when missing and write (and remove) a probe file in it. Raises ``DataError`` (exit 2)
    naming ``--out`` and the path when ``out`` is an existing file, lies under a file, or cannot
    be created or written (read-only folder or file system, no permission)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise DataError(f"--out {str(out)!r}: exists and is not a folder")
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise DataError(f"--out {str(out)!r}: {str(parent)!r} is a file, not a folder")
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"--out {str(out)!r}: cannot create the folder ({exc.strerror or exc})"
        ) from exc
    try:
        fd, probe = tempfile.mkstemp(prefix=".analytics-write-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DataError(
            f"--out {str(out)!r}: the folder is not writable ({exc.strerror or exc})"
        ) from exc
    return path


def _guard(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Check ``--out`` first (``check_out_dir``: exit 2 before any rendering), then turn a
    ``ReportError`` (nothing was written) into a message and exit code 1. A database ``--data``
    is copied to a temporary folder for the notebooks, and the reports name it by its masked URI
    (``args.source_label``), never by that folder nor with its password."""

    def run(args: argparse.Namespace) -> int:
        created = args.out is not None and not Path(args.out).exists()
        if args.out is not None:
            check_out_dir(args.out)
        code = 3
        try:
            code = _render(handler, args)
        finally:
            if created and code != 0:
                _remove_if_empty(Path(args.out))
        return code

    return run


def _render(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    args.source_label = None
    if is_database_uri(args.data):  # the notebooks read a folder: the tables as Parquet
        args.source_label = mask_uri(args.data)
        args.data = str(dataset_folder(args.data))
    from analytics.report.render import ReportError

    try:
        return handler(args)
    except ReportError as exc:
        _stderr().print(f"error: {exc}", markup=False, highlight=False)
        return 1


def _remove_if_empty(path: Path) -> None:
    """A command that failed leaves no empty ``--out`` folder it created itself."""
    try:
        path.rmdir()  # only succeeds on an empty folder
    except OSError:
        pass


def _jobs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="reports rendered at once (default: min(2, CPUs))",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser(
        "report",
        help="render the executive or post-release report (HTML, optional PDF)",
        description="Render reports with papermill + nbconvert into one self-contained HTML "
        "file each, named from the parameters; prints the paths written.",
    )
    sub = report.add_subparsers(dest="report_kind", required=True)

    p = sub.add_parser("executive", help="the executive report of a month, quarter or year")
    _common(p, out_required=False)
    p.add_argument("--month", type=month_arg, help="YYYY-MM")
    p.add_argument(
        "--period",
        type=period_arg,
        help="YYYY-MM, YYYY-Qn or YYYY instead of --month: the KPIs of the releases deployed in "
        "its months (as analytics kpis --period), compared with the period before; the trends "
        "still show months",
    )
    p.add_argument("--systems", type=_names, help="comma-separated systems (default: all)")
    p.add_argument(
        "--teams", type=_names, help="comma-separated teams, releases.team (default: all)"
    )
    p.add_argument(
        "--by",
        choices=("team", "system"),
        help="also one view per team or system, linked from an index page: one folder in --out",
    )
    p.add_argument(
        "--format",
        choices=("html", "md"),
        default="html",
        help="md: print the headline and takeaway as Markdown (for chat or e-mail), no file",
    )
    _jobs(p)
    p.set_defaults(handler=_guard(_executive))

    p = sub.add_parser("post-release", help="the post-release review of one release")
    _common(p)
    p.add_argument("--release", required=True, help="release_id")
    p.set_defaults(handler=_guard(_post_release))

    p = sub.add_parser("all", help="the executive report plus one review per release of the month")
    _common(p)
    p.add_argument("--month", type=month_arg, required=True, help="YYYY-MM")
    _jobs(p)
    p.set_defaults(handler=_guard(_all))

    p = sub.add_parser(
        "showcase",
        aliases=["sample"],
        help="the latest complete month's executive report and its most instructive review",
    )
    _common(p)
    p.add_argument(
        "--month",
        type=month_arg,
        help="YYYY-MM (default: the latest complete month before --as-of)",
    )
    p.set_defaults(handler=_guard(_showcase))


__all__ = ["register"]
