"""Rendering reports: papermill runs a report notebook with parameters, nbconvert turns the result
into one self-contained HTML file, and (optionally) headless chromium prints it to PDF.

A report is "one notebook + parameters" (``analytics/notebooks/executive_monthly.ipynb``,
``analytics/notebooks/post_release_review.ipynb``: package data read with ``importlib.resources``,
so an installed wheel renders the same reports as a checkout). The HTML hides all code, holds
plotly.js once (embedded by ``analytics.setup_notebook``) and loads nothing from the
network. Its file name is built from the parameters, sanitised so that no id can leave the output
folder, and it is written atomically: a temporary file in the output folder renamed into place
with ``os.replace`` only when everything (HTML and, if asked, PDF) succeeded, so a failed run
leaves nothing behind.

Output that the kernel wrote to stderr (warnings, library chatter) is kept out of the report and
returned in ``Rendered.notes`` for the command line to show on its own stderr.
"""

from __future__ import annotations

import hashlib
import html
import importlib.resources
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analytics.analysis.kpis import parse_as_of
from analytics.core.errors import DataError
from analytics.core.periods import period_months
from analytics.core.progress import progress_iter

if TYPE_CHECKING:  # nbformat, jinja2 and nbconvert are imported when a report is rendered
    import nbformat

# The report notebooks are package data (``analytics/notebooks/``), found through
# importlib.resources so that they are there wherever the package is installed.
NOTEBOOK_PACKAGE, NOTEBOOK_FOLDER = "analytics", "notebooks"
NOTEBOOKS: Mapping[str, str] = {
    "executive": "executive_monthly.ipynb",
    "post_release": "post_release_review.ipynb",
}
KERNEL_NAME = "python3"
# The kernel's own log (e.g. its warning about TCP on localhost) is not the report's business.
KERNEL_ARGUMENTS: tuple[str, ...] = ("--IPKernelApp.log_level=CRITICAL",)
CELL_TIMEOUT_S = 600
PDF_TIMEOUT_S = 180
PDF_VIRTUAL_TIME_MS = 20_000
FOOTER_MARKER = 'data-section="reproducibility"'
MAX_NAME_PART = 60
SIBLING_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
INDEX_LINK_TEXT = "All views of this report (index)"
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--run-all-compositor-stages-before-draw",
)
# Print layout: A4 portrait with the margins below leaves ~ 730 CSS px of width; the window is
# set to that width so plotly lays charts out for the page, not for a wide screen.
PRINT_WINDOW = "760,1200"

TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block notebook_css %}
{{ super() }}
<style type="text/css">
body.jp-Notebook { max-width: 1180px; margin: 0 auto; padding: 12px 28px 40px 28px; }
.jp-Cell { padding: 0; }
.jp-RenderedHTMLCommon h2 { font-family: Inter, 'Segoe UI', Roboto, Arial, sans-serif;
  font-size: 1.45em; margin-top: 1.4em; padding-bottom: 0.2em;
  border-bottom: 1px solid #dde3ea; color: #1f2933; }
.jp-RenderedHTMLCommon table.ra-table { table-layout: auto; }
.jp-OutputArea-output { overflow-x: auto; }
@page { size: A4 portrait; margin: 12mm 10mm 14mm 10mm; }
@media print {
  body.jp-Notebook { max-width: none; padding: 0; }
  .jp-OutputArea-child { break-inside: auto; }
  .jp-RenderedHTMLCommon h2 { break-after: avoid; page-break-after: avoid; }
  .jp-OutputArea-output { overflow: visible; }
}
</style>
{% endblock notebook_css %}
"""


class ReportError(Exception):
    """A report could not be rendered (the notebook failed, or the PDF could not be printed).
    Nothing was written."""


@dataclass(frozen=True)
class Rendered:
    """A rendered report: the paths written, wall time, and stderr notes kept out of it."""

    html: Path
    pdf: Path | None
    seconds: float
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------- names


def safe_name(text: str, max_len: int = MAX_NAME_PART) -> str:
    """A file-name part from ``text``: letters, digits, ``.``, ``_`` and ``-`` only, no leading
    dot or dash, at most ``max_len`` characters. When anything had to change, a short hash of the
    original is appended so that two different ids never share a name (``../../x`` becomes
    ``x-<hash>``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-_")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)[:max_len].strip(".-_")
    if cleaned == text and cleaned:
        return cleaned
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{cleaned}-{digest}" if cleaned else digest


def as_of_stamp(as_of: str | datetime) -> str:
    """``as_of`` in UTC as ``YYYYMMDDTHHMMSSZ`` (for file names)."""
    when = parse_as_of(as_of) if isinstance(as_of, str) else as_of
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def report_filename(
    kind: str,
    as_of: str | datetime,
    *,
    month: str | None = None,
    release_id: str | None = None,
    systems: Sequence[str] = (),
    teams: Sequence[str] = (),
    policy_tag: str | None = None,
    suffix: str = ".html",
) -> str:
    """The report's file name, from its parameters:
    ``executive_<month>[_systems-<s>][_teams-<t>][_policy-<fingerprint>]_asof-<stamp>.html``
    (``<month>``: ``YYYY-MM``, or a period ``YYYY-Qn`` / ``YYYY``) or
    ``post_release_<release id>[_policy-<fingerprint>]_asof-<stamp>.html``; every part
    sanitised with ``safe_name``."""
    parts = [kind]
    if kind == "executive":
        if month is None or not _is_period(month):
            raise DataError(f"month must be YYYY-MM (or a period YYYY-Qn, YYYY), got {month!r}")
        parts.append(month)
        if systems:
            parts.append("systems-" + safe_name("+".join(systems)))
        if teams:
            parts.append("teams-" + safe_name("+".join(teams)))
    elif kind == "post_release":
        if not release_id:
            raise DataError("a post-release report needs a release id")
        parts.append(safe_name(release_id))
    else:
        raise DataError(f"unknown report kind {kind!r}")
    if policy_tag:
        parts.append("policy-" + safe_name(policy_tag))
    parts.append("asof-" + as_of_stamp(as_of))
    return "_".join(parts) + suffix


def _is_period(text: str) -> bool:
    try:
        period_months(text)
    except ValueError:
        return False
    return True


def _inside(out_dir: Path, name: str) -> Path:
    path = (out_dir / name).resolve()
    if path.parent != out_dir.resolve():
        raise DataError(f"report name {name!r} would leave the output folder {out_dir}")
    return path


# ---------------------------------------------------------------- execution and conversion


@contextmanager
def notebook_path(kind: str, notebook_dir: Path | None = None) -> Iterator[Path]:
    """A file-system path to the report notebook of ``kind`` for as long as the context is open:
    ``notebook_dir / name`` when a folder is given (tests), else the package's own copy
    (``importlib.resources``; a temporary file when the package is not on disk, e.g. zipped)."""
    name = NOTEBOOKS[kind]
    if notebook_dir is not None:
        yield Path(notebook_dir) / name
        return
    resource = importlib.resources.files(NOTEBOOK_PACKAGE).joinpath(NOTEBOOK_FOLDER, name)
    if not resource.is_file():
        raise ReportError(f"the report notebook {name} is missing from the installed package")
    with importlib.resources.as_file(resource) as path:
        yield path


def execute(
    notebook: Path,
    parameters: Mapping[str, Any],
    *,
    cwd: Path | None = None,
    kernel_name: str = KERNEL_NAME,
) -> nbformat.NotebookNode:
    """Run ``notebook`` with papermill (parameters injected after the ``parameters`` cell) in a
    fresh kernel and return the executed notebook (nothing is saved).

    A failing cell raises ``ReportError`` naming the error, except a ``DataError`` raised in
    the notebook, which is raised again as ``DataError`` (bad input, not a bug)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        return papermill.execute_notebook(
            str(notebook),
            None,
            parameters=dict(parameters),
            kernel_name=kernel_name,
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
            cwd=str(cwd or Path.cwd()),
            execution_timeout=CELL_TIMEOUT_S,
            extra_arguments=list(KERNEL_ARGUMENTS),
        )
    except PapermillExecutionError as exc:
        if exc.ename == "DataError":
            raise DataError(str(exc.evalue)) from None
        raise ReportError(
            f"{notebook.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
        ) from None


def strip_noise(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, tuple[str, ...]]:
    """Remove stderr streams and error outputs from the executed notebook; return the notebook
    and the removed text (so the caller can show it outside the report)."""
    notes: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and out.name == "stderr":
                notes.append(str(out.text).strip())
            elif out.output_type == "error":
                notes.append(f"{out.ename}: {out.evalue}")
            else:
                kept.append(out)
        cell.outputs = kept
    return nb, tuple(n for n in notes if n)


def to_html(nb: nbformat.NotebookNode, title: str) -> str:
    """One self-contained HTML page: code, prompts and anchor links hidden, no CDN scripts
    (require.js, MathJax, mermaid blocks of the lab template are emptied)."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab",
        template_file="analytics_report.html.j2",
        extra_loaders=[DictLoader({"analytics_report.html.j2": TEMPLATE})],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_anchor_links=True,
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    if FOOTER_MARKER not in body:
        raise ReportError(
            "the report has no reproducibility footer "
            "(call report.reproducibility() in the last cell)"
        )
    return body


def link_index(page: str, href: str) -> str:
    """``page`` with a link back to ``href``, the index of its set of pages, at the top of its
    body. ``href`` is a file name in the page's folder: a relative link, so the set works
    offline and wherever its folder is copied."""
    if not SIBLING_RE.fullmatch(href):
        raise ValueError(f"not a plain sibling file name: {href!r}")
    body = re.search(r"<body\b[^>]*>", page)
    if body is None:
        raise ValueError("the page has no <body>")
    link = (
        f'\n<nav class="ra-report ra-muted" data-nav="index">'
        f'<a href="{html.escape(href, quote=True)}">&#8592; {INDEX_LINK_TEXT}</a></nav>'
    )
    return page[: body.end()] + link + page[body.end() :]


def chromium_path() -> str | None:
    """The headless browser used for PDFs (``chromium`` from Debian), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def print_pdf(html_path: Path, pdf_path: Path, *, timeout: float = PDF_TIMEOUT_S) -> None:
    """Print ``html_path`` to ``pdf_path`` with headless chromium, offline, after letting the
    charts draw (virtual-time budget). Raises ``ReportError`` when it cannot."""
    browser = chromium_path()
    if browser is None:
        raise ReportError(
            "--pdf needs chromium: run `make browser` (apt-get install chromium poppler-utils)"
        )
    with tempfile.TemporaryDirectory(prefix="analytics-chromium-") as profile:
        cmd = [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={PRINT_WINDOW}",
            f"--virtual-time-budget={PDF_VIRTUAL_TIME_MS}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path}",
            html_path.resolve().as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise ReportError(
            f"chromium could not print {html_path.name}: exit {proc.returncode}"
            + (f" ({' / '.join(tail)})" if tail else "")
        )


# ---------------------------------------------------------------- rendering


def run_jobs(
    jobs: Sequence[tuple[str, Callable[[], Rendered]]],
    workers: int,
    description: str = "rendering reports",
) -> tuple[list[Rendered], list[str]]:
    """Run render jobs (label, thunk), ``workers`` at a time, with a progress bar on a terminal
    (``analytics.core.progress``). Returns the reports written, sorted by file name, and one
    message per job that failed with ``ReportError`` (the other jobs still run)."""
    failures: list[str] = []
    rendered: list[Rendered] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(fn): label for label, fn in jobs}
        for fut in progress_iter(as_completed(futures), total=len(jobs), description=description):
            try:
                rendered.append(fut.result())
            except ReportError as exc:  # one failed report does not stop the others
                failures.append(f"{futures[fut]}: {exc}")
    return sorted(rendered, key=lambda r: r.html.name), failures


def render(
    kind: str,
    parameters: Mapping[str, Any],
    out_dir: str | Path,
    name: str,
    *,
    pdf: bool = False,
    notebook_dir: Path | None = None,
    cwd: Path | None = None,
    plotlyjs_src: str | None = None,
    index_href: str | None = None,
) -> Rendered:
    """Execute the report notebook of ``kind`` with ``parameters`` and write ``out_dir/name``
    (and its PDF beside it when ``pdf``). All or nothing: temporary files in ``out_dir`` are
    renamed into place only after every step succeeded. ``plotlyjs_src``: the name of a
    plotly.js file in ``out_dir`` that the page loads instead of holding its own copy;
    ``index_href``: the name of the index page in ``out_dir`` that the page links back to (both
    for a set of pages, ``analytics.report.views``)."""
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    final_html = _inside(out, name)
    final_pdf = final_html.with_suffix(".pdf") if pdf else None
    with notebook_path(kind, notebook_dir) as notebook:
        nb = execute(notebook, parameters, cwd=cwd)
    nb, notes = strip_noise(nb)
    body = to_html(nb, title=final_html.stem)
    if plotlyjs_src is not None:
        from analytics.report.charts.embed import share_plotlyjs

        body = share_plotlyjs(body, plotlyjs_src)
    if index_href is not None:
        body = link_index(body, index_href)
    tmp_html = out / f".{final_html.stem}.{secrets.token_hex(6)}.partial.html"
    tmp_pdf = tmp_html.with_suffix(".pdf") if pdf else None
    try:
        with tmp_html.open("x", encoding="utf-8") as fh:  # "x": never clobber, umask applies
            fh.write(body)
        if tmp_pdf is not None:
            print_pdf(tmp_html, tmp_pdf)
        if tmp_pdf is not None and final_pdf is not None:
            os.replace(tmp_pdf, final_pdf)
        os.replace(tmp_html, final_html)
    finally:
        for leftover in (tmp_html, tmp_pdf):
            if leftover is not None and leftover.exists():
                leftover.unlink()
    return Rendered(final_html, final_pdf, time.perf_counter() - start, notes)


def render_executive(
    data_dir: str | Path,
    month: str,
    as_of: str,
    out_dir: str | Path,
    *,
    policy: str | Path | None = None,
    systems: Sequence[str] = (),
    teams: Sequence[str] = (),
    pdf: bool = False,
    notebook_dir: Path | None = None,
    plotlyjs_src: str | None = None,
    index_href: str | None = None,
    source_label: str | None = None,
) -> Rendered:
    """Render the executive report of ``month`` (``YYYY-MM``, or a quarter ``YYYY-Qn`` or a
    year ``YYYY``) as of ``as_of`` into ``out_dir`` (``systems``, ``teams``: only those;
    ``plotlyjs_src``, ``index_href``: see ``render``; ``source_label``: what the report names as
    its data instead of ``data_dir``, e.g. the masked URI of the database ``data_dir`` was copied
    from: the notebook gets the label, never the URI with its password)."""
    _check_inputs(data_dir, as_of)
    name = report_filename(
        "executive",
        as_of,
        month=month,
        systems=systems,
        teams=teams,
        policy_tag=policy_tag(policy),
    )
    params = {
        "month": month,
        "data_dir": str(data_dir),
        "as_of": as_of,
        "policy": None if policy is None else str(policy),
        "systems": list(systems) or None,
        "teams": list(teams) or None,
        "source_label": source_label,
    }
    return render(
        "executive",
        params,
        out_dir,
        name,
        pdf=pdf,
        notebook_dir=notebook_dir,
        plotlyjs_src=plotlyjs_src,
        index_href=index_href,
    )


def render_post_release(
    data_dir: str | Path,
    release_id: str,
    as_of: str,
    out_dir: str | Path,
    *,
    policy: str | Path | None = None,
    pdf: bool = False,
    notebook_dir: Path | None = None,
    source_label: str | None = None,
) -> Rendered:
    """Render the post-release review of ``release_id`` as of ``as_of`` into ``out_dir``
    (``source_label``: see ``render_executive``)."""
    _check_inputs(data_dir, as_of)
    name = report_filename(
        "post_release", as_of, release_id=release_id, policy_tag=policy_tag(policy)
    )
    params = {
        "release_id": release_id,
        "data_dir": str(data_dir),
        "as_of": as_of,
        "policy": None if policy is None else str(policy),
        "source_label": source_label,
    }
    return render("post_release", params, out_dir, name, pdf=pdf, notebook_dir=notebook_dir)


def render_report(
    kind: str,
    data_dir: str | Path,
    as_of: str,
    out_dir: str | Path,
    *,
    month: str | None = None,
    release_id: str | None = None,
    policy: str | Path | None = None,
    systems: Sequence[str] = (),
    teams: Sequence[str] = (),
    pdf: bool = False,
) -> Rendered:
    """Render one report into ``out_dir``, as ``analytics report`` does: ``kind``
    ``"executive"`` (the report of ``month``: a month, quarter or year; ``systems`` and
    ``teams`` optional) or
    ``"post_release"`` (the review of ``release_id``). Returns the paths written (see
    ``Rendered``)."""
    if kind == "executive" and month is not None and release_id is None:
        return render_executive(
            data_dir, month, as_of, out_dir, policy=policy, systems=systems, teams=teams, pdf=pdf
        )
    scoped = systems or teams
    if kind == "post_release" and release_id is not None and month is None and not scoped:
        return render_post_release(data_dir, release_id, as_of, out_dir, policy=policy, pdf=pdf)
    raise DataError(
        f"report {kind!r}: 'executive' takes month (and systems or teams), 'post_release' takes "
        "release_id"
    )


def _check_inputs(data_dir: str | Path, as_of: str) -> None:
    """Fail before starting a kernel when the inputs cannot work."""
    parse_as_of(as_of)
    if not Path(data_dir).is_dir():
        raise DataError(f"dataset folder {data_dir} does not exist")


def policy_tag(policy: str | Path | None) -> str | None:
    """The fingerprint of an explicit policy file (so reports under two policies do not share a
    name); None for the dataset's own or the default policy."""
    if policy is None:
        return None
    from analytics.core.policy import load_policy

    return load_policy(policy).fingerprint


__all__ = [
    "NOTEBOOKS",
    "NOTEBOOK_PACKAGE",
    "ReportError",
    "Rendered",
    "as_of_stamp",
    "chromium_path",
    "execute",
    "link_index",
    "notebook_path",
    "print_pdf",
    "render",
    "render_executive",
    "render_post_release",
    "policy_tag",
    "render_report",
    "report_filename",
    "run_jobs",
    "safe_name",
    "strip_noise",
    "to_html",
]
