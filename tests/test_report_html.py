"""The rendered reports: security, no noise, reproducibility footer, offline charts in a real
browser, PDF, atomic writes, file names; and the report sections on the tiny worked example.

The end-to-end renders run the real command (``python -m analytics.cli.main report ...``) once per
report on a small generated dataset into which XSS payloads were planted: in a release id that
also tries to climb out of ``--out`` (``../../<img ...>``), its summary, owner, operator
decisions, approvals, evidence and incident id.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import polars as pl
import pytest
from conftest import run_cli
from nbformat.v4 import new_code_cell, new_notebook

import analytics as ra
from analytics import sections as rs
from analytics.report import render as reporting
from analytics.sample.generate import generate_sample

TINY = Path(__file__).parent / "data" / "tiny"
SMALL = {"seed": 7, "cases_per_day": 200, "start": "2026-01-01", "months": 4}
MONTH = "2026-02"
AS_OF = "2026-05-01T00:00:00Z"
STAMP = "20260501T000000Z"
TARGET = "rel-0039"  # the month's failed release with an incident and a roll-forward
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
EVIL_ID = f"../../{IMG}"
EVIL_INCIDENT = f"INC-{SCRIPT}"
PAYLOADS = (SCRIPT, IMG, EVIL_ID, EVIL_INCIDENT)
OFFLINE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
)
needs_browser = pytest.mark.skipif(
    shutil.which("chromium") is None or shutil.which("pdfinfo") is None,
    reason="needs Debian's chromium and poppler-utils: run `make browser`",
)


# ---------------------------------------------------------------- data with payloads


def _rewrite_csv(path: Path, fn) -> None:  # noqa: ANN001
    df = pl.read_csv(path, infer_schema=False)
    fn(df).write_csv(path)


def _plant_payloads(data: Path) -> None:
    """Rename TARGET to EVIL_ID everywhere (tables and telemetry) and put payloads into the free
    text and names that the reports show."""
    rid = pl.col("release_id")
    is_target = rid == TARGET

    def rename(df: pl.DataFrame) -> pl.DataFrame:
        return df.with_columns(
            pl.when(is_target).then(pl.lit(EVIL_ID)).otherwise(rid).alias("release_id")
        )

    for name in ("evidence", "gates", "rollout_stages"):
        _rewrite_csv(data / f"{name}.csv", rename)
    _rewrite_csv(
        data / "releases.csv",
        lambda df: rename(
            df.with_columns(
                pl.when(is_target)
                .then(pl.lit(SCRIPT))
                .otherwise(pl.col("summary"))
                .alias("summary"),
                pl.when(is_target)
                .then(pl.lit(IMG))
                .otherwise(pl.col("accountable_owner"))
                .alias("accountable_owner"),
            )
        ),
    )
    _rewrite_csv(
        data / "operator_decisions.csv",
        lambda df: rename(
            df.with_columns(
                pl.when(is_target)
                .then(pl.lit(SCRIPT))
                .otherwise(pl.col("rationale"))
                .alias("rationale"),
                pl.when(is_target)
                .then(pl.lit(IMG))
                .otherwise(pl.col("operator"))
                .alias("operator"),
            )
        ),
    )
    _rewrite_csv(
        data / "approvals.csv",
        lambda df: rename(
            df.with_columns(
                pl.when(is_target).then(pl.lit(IMG)).otherwise(pl.col("approver")).alias("approver")
            )
        ),
    )
    _rewrite_csv(
        data / "incidents.csv",
        lambda df: rename(
            df.with_columns(
                pl.when(is_target)
                .then(pl.lit(EVIL_INCIDENT))
                .otherwise(pl.col("incident_id"))
                .alias("incident_id")
            )
        ),
    )
    for part in sorted((data / "telemetry").glob("*.parquet")):
        pl.read_parquet(part).with_columns(
            pl.when(is_target).then(pl.lit(EVIL_ID)).otherwise(rid).alias("release_id")
        ).write_parquet(part)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Render both reports (HTML and PDF) with the command line, once for the module."""
    root = tmp_path_factory.mktemp("reports")
    data = root / "data"
    generate_sample(data, **SMALL)
    _plant_payloads(data)
    out = root / "a" / "b" / "out"
    before = {p for p in root.rglob("*") if p.is_file()}
    exe = run_cli(
        "report",
        "executive",
        "--data",
        str(data),
        "--month",
        MONTH,
        "--as-of",
        AS_OF,
        "--out",
        str(out),
        "--pdf",
        cwd=root,
    )
    rev = run_cli(
        "report",
        "post-release",
        "--data",
        str(data),
        "--release",
        EVIL_ID,
        "--as-of",
        AS_OF,
        "--out",
        str(out),
        "--pdf",
        cwd=root,
    )
    return {
        "root": root,
        "data": data,
        "out": out,
        "before": before,
        "executive": exe,
        "review": rev,
    }


def _html(rendered: dict, kind: str) -> str:
    proc = rendered[kind]
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(proc.stdout.split()[0]).read_text(encoding="utf-8")


KINDS = ("executive", "review")


def test_commands_print_the_paths_they_wrote(rendered: dict) -> None:
    out = rendered["out"]
    exe = rendered["executive"].stdout.split()
    assert exe == [
        str(out / f"executive_{MONTH}_asof-{STAMP}.html"),
        str(out / f"executive_{MONTH}_asof-{STAMP}.pdf"),
    ]
    safe = reporting.safe_name(EVIL_ID)
    rev = rendered["review"].stdout.split()
    assert rev == [
        str(out / f"post_release_{safe}_asof-{STAMP}.html"),
        str(out / f"post_release_{safe}_asof-{STAMP}.pdf"),
    ]
    assert all(Path(p).is_file() for p in exe + rev)


def test_release_id_cannot_write_outside_out(rendered: dict) -> None:
    out, root = rendered["out"], rendered["root"]
    after = {p for p in root.rglob("*") if p.is_file()}
    new = after - rendered["before"]
    assert new and all(p.parent == out for p in new), sorted(map(str, new))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        Path(p).name for k in KINDS for p in rendered[k].stdout.split()
    )  # no temp file left


@pytest.mark.parametrize("kind", KINDS)
def test_data_strings_are_escaped(rendered: dict, kind: str) -> None:
    page = _html(rendered, kind)
    for payload in PAYLOADS:
        assert payload not in page, f"raw payload {payload!r} in the {kind} report"
    assert "onerror=alert(1)&gt;" in page  # the payload is shown, escaped
    if kind == "review":  # every planted field shows up in the review, escaped
        assert html.escape(SCRIPT) in page and html.escape(IMG) in page
        assert html.escape(EVIL_INCIDENT) in page


def _visible(page: str) -> str:
    """The page without its scripts and styles (plotly.js itself mentions warnings)."""
    return re.sub(r"<script.*?</script>|<style.*?</style>", "", page, flags=re.S)


@pytest.mark.parametrize("kind", KINDS)
def test_no_traceback_stderr_or_warning(rendered: dict, kind: str) -> None:
    page = _visible(_html(rendered, kind))
    assert "Traceback" not in page
    assert not re.search(r"\b[A-Z][A-Za-z]*Warning\b", page)
    assert "application/vnd.jupyter.stderr" not in page
    assert "jp-OutputArea-error" not in page
    assert "Error:" not in page
    assert rendered[kind].stderr.strip() == ""


@pytest.mark.parametrize("kind", KINDS)
def test_offline_single_plotlyjs_and_no_code(rendered: dict, kind: str) -> None:
    page = _html(rendered, kind)
    assert page.count("* plotly.js (basic - minified) v") == 1  # the pinned partial bundle
    assert not re.search(r"<script[^>]+src=", page), "no external script"
    assert not re.search(r"<link[^>]+href=[\"']?https?:", page), "no external stylesheet"
    assert "jp-InputArea-editor" not in _visible(page) and "ra.setup_notebook" not in page
    assert 'data-nav="index"' not in page  # a report rendered alone belongs to no set
    assert len(page.encode()) < 2_000_000  # small enough to e-mail


@pytest.mark.parametrize("kind", KINDS)
def test_footer_states_what_reproduces_the_report(rendered: dict, kind: str) -> None:
    page = _html(rendered, kind)
    ds = ra.load_dataset(rendered["data"])
    footer = page[page.index('data-section="reproducibility"') :]
    for text in (
        ds.fingerprint,
        ds.policy.fingerprint,
        "2026-05-01T00:00:00+00:00",
        ra.__version__,
        "default",
    ):
        assert text in footer


class _PlotScan(HTMLParser):
    """Count plotly graph divs, and per graph the ``main-svg`` elements and drawn paths."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.graph_depth: int | None = None
        self.graphs: list[dict[str, int]] = []
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "img":
            self.images.append(a)
        if tag in ("br", "img", "meta", "link", "input", "hr"):
            return
        self.stack.append(tag)
        if tag == "div" and "plotly-graph-div" in cls and self.graph_depth is None:
            self.graph_depth = len(self.stack)
            self.graphs.append({"main_svg": 0, "paths": 0})
        elif self.graph_depth is not None:
            if tag == "svg" and "main-svg" in cls:
                self.graphs[-1]["main_svg"] += 1
            if tag == "path" and len(a.get("d") or "") > 4:
                self.graphs[-1]["paths"] += 1

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            top = self.stack.pop()
            if self.graph_depth is not None and len(self.stack) < self.graph_depth:
                self.graph_depth = None
            if top == tag:
                break


def _dump_dom(path: Path, profile: Path) -> str:
    proc = subprocess.run(
        [
            "chromium",
            *OFFLINE_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            path.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@needs_browser
@pytest.mark.parametrize("kind", KINDS)
def test_charts_draw_offline_in_chromium(rendered: dict, kind: str, tmp_path: Path) -> None:
    page_path = Path(rendered[kind].stdout.split()[0])
    dom = _dump_dom(page_path, tmp_path / "profile")
    scan = _PlotScan()
    scan.feed(dom)
    expected = _html(rendered, kind).count('class="plotly-graph-div"')
    assert expected >= (5 if kind == "executive" else 3)
    assert len(scan.graphs) == expected
    for g in scan.graphs:
        assert g["main_svg"] >= 1 and g["paths"] >= 1, scan.graphs
    assert not any(i.get("src") == "x" for i in scan.images), "a payload became an element"
    assert "<script>alert(1)" not in dom


@needs_browser
@pytest.mark.parametrize("kind", KINDS)
def test_pdf_has_pages(rendered: dict, kind: str) -> None:
    pdf = Path(rendered[kind].stdout.split()[1])
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))
    assert pages >= 2
    assert "A4" in info.stdout


# ---------------------------------------------------------------- atomic writes


def _tiny_notebook(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    params = new_code_cell("x = 1")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(
        cells=[params, new_code_cell(source)],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(nb, folder / reporting.NOTEBOOKS["executive"])
    return folder


FOOTER_CELL = (
    "from IPython.display import HTML\n"
    "HTML('<footer data-section=\"reproducibility\">footer</footer>')"
)


def test_failing_notebook_writes_nothing(tmp_path: Path) -> None:
    nbs = _tiny_notebook(tmp_path / "nb", "raise RuntimeError('boom')")
    out = tmp_path / "out"
    with pytest.raises(reporting.ReportError, match="RuntimeError: boom"):
        reporting.render("executive", {"x": 2}, out, "r.html", notebook_dir=nbs)
    assert list(out.iterdir()) == []


def test_failed_pdf_leaves_no_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbs = _tiny_notebook(tmp_path / "nb", FOOTER_CELL)
    out = tmp_path / "out"
    monkeypatch.setattr(reporting, "chromium_path", lambda: None)
    with pytest.raises(reporting.ReportError, match="chromium"):
        reporting.render("executive", {"x": 2}, out, "r.html", pdf=True, notebook_dir=nbs)
    assert list(out.iterdir()) == []


def test_stderr_is_kept_out_of_the_report(tmp_path: Path) -> None:
    nbs = _tiny_notebook(
        tmp_path / "nb", "import warnings\nwarnings.warn('noisy library')\n" + FOOTER_CELL
    )
    done = reporting.render("executive", {"x": 2}, tmp_path / "out", "r.html", notebook_dir=nbs)
    page = done.html.read_text()
    assert "noisy library" not in page and "UserWarning" not in page
    assert any("noisy library" in n for n in done.notes)


def test_bad_input_is_a_data_error_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli(
        "report",
        "executive",
        "--data",
        str(tmp_path / "missing"),
        "--month",
        MONTH,
        "--as-of",
        AS_OF,
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr
    assert proc.stdout == ""
    assert not out.exists() or list(out.iterdir()) == []


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rel-0042", "rel-0042"),
        ("2026-10", "2026-10"),
    ],
)
def test_safe_name_keeps_clean_ids(text: str, expected: str) -> None:
    assert reporting.safe_name(text) == expected


@pytest.mark.parametrize(
    "text", ["../../x", "a/b", "a b", "..", ".hidden", "-rf", IMG, "", "x" * 200]
)
def test_safe_name_cannot_escape(text: str) -> None:
    name = reporting.safe_name(text)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name), name
    assert ".." not in name and len(name) <= reporting.MAX_NAME_PART + 9


def test_safe_names_of_different_ids_differ() -> None:
    assert reporting.safe_name("a/b") != reporting.safe_name("a-b")
    assert reporting.safe_name("../../x") != reporting.safe_name("x")


def test_report_filenames_from_parameters() -> None:
    assert (
        reporting.report_filename("executive", "2026-11-15T01:00:00+01:00", month="2026-10")
        == "executive_2026-10_asof-20261115T000000Z.html"
    )
    assert reporting.report_filename(
        "post_release", "2026-11-15T00:00:00Z", release_id="rel-0042"
    ) == ("post_release_rel-0042_asof-20261115T000000Z.html")
    name = reporting.report_filename("post_release", AS_OF, release_id="../../x")
    assert "/" not in name and name.startswith("post_release_x-")
    with pytest.raises(ra.DataError):
        reporting.report_filename("executive", AS_OF, month="2026-13")


# ---------------------------------------------------------------- sections on the tiny example


TINY_AS_OF = "2026-06-01T00:00:00Z"


@pytest.fixture(scope="module")
def tiny_exec() -> rs.ExecutiveContext:
    return rs.executive_context(TINY, "2026-04", TINY_AS_OF)


def test_every_executive_section_renders_without_telemetry(tiny_exec: rs.ExecutiveContext) -> None:
    for fn in (
        rs.headline,
        rs.executive_takeaway,
        rs.trends,
        rs.breakdowns,
        rs.failed_releases,
        rs.process_audit,
        rs.risk,
        rs.dora,
        rs.data_quality,
        rs.reproducibility,
    ):
        out = fn(tiny_exec)._repr_html_()
        assert out.startswith("<section") and out.endswith("</section>")


def test_headline_counts_match_the_tiny_example(tiny_exec: rs.ExecutiveContext) -> None:
    s = rs.headline(tiny_exec)
    assert s.takeaway[0] == (
        "4 releases were deployed in 2026-04; 2 degraded decision quality (50%)."
    )
    page = s._repr_html_()
    assert "2 of 4 releases failed" in page and "95% CI 15% to 85%" in page
    assert "3 of 4 releases had every required item" in page


def test_takeaway_is_written_from_the_numbers(tiny_exec: rs.ExecutiveContext) -> None:
    t = rs.takeaway_points(tiny_exec)
    assert (
        "The change failure rate by decision quality rose from 0% (0 of 2) in 2026-03 to "
        "50% (2 of 4): within what chance alone gives (Fisher's exact test, p = 0.47)."
    ) in t.changed
    assert "2 releases degraded decision quality: A2, A3." in t.matters
    assert any(
        s.startswith("1 of them was declared at a lower risk tier") and "(A2)" in s
        for s in t.matters
    )
    assert any("still open" in s and "X2" in s for s in t.matters)  # X2 has no mitigated_at
    assert any(
        s.startswith("Enforce the implied risk tier")
        and "1 release was declared below it (A2), and failed" in s
        for s in t.decide
    )
    assert not any("Nothing in this month's numbers" in s for s in t.decide)


def test_quiet_month_says_so(tmp_path: Path) -> None:
    """March has two first releases and no incident: no failure sentence, no invented change."""
    ctx = rs.executive_context(TINY, "2026-03", TINY_AS_OF)
    t = rs.takeaway_points(ctx)
    assert (
        "No release of 2026-03 degraded decision quality as of 2026-06-01 00:00 UTC." in t.matters
    )
    assert not any("rose" in s or "fell" in s for s in t.changed)


def test_most_instructive_release_and_latest_month(tiny_exec: rs.ExecutiveContext) -> None:
    # A2 failed with an incident and a rollback (X1, model_rollback); A3's incident is open.
    assert rs.most_instructive_release(tiny_exec.analysis, "2026-04") == "A2"
    assert rs.most_instructive_release(tiny_exec.analysis, "2026-01") is None
    assert rs.latest_complete_month("2026-11-15T00:00:00Z") == "2026-10"
    assert rs.latest_complete_month("2026-11-01T00:00:00Z") == "2026-10"
    assert rs.latest_complete_month("2026-11-01T00:30:00+01:00") == "2026-09"


@pytest.mark.parametrize("release", ["A1", "A2", "A3", "B1", "A0"])
def test_every_review_section_renders_without_optional_tables(release: str) -> None:
    ctx = rs.release_context(TINY, release, TINY_AS_OF)
    for fn in (
        rs.verdict,
        rs.release_diff,
        rs.release_path,
        rs.rollout_chart,
        rs.version_comparison,
        rs.incident_review,
        rs.operator_log,
        rs.reproducibility,
    ):
        assert fn(ctx)._repr_html_().startswith("<section")


def test_review_verdict_and_follow_ups_of_a2() -> None:
    ctx = rs.release_context(TINY, "A2", TINY_AS_OF)
    v = rs.release_verdict(ctx)
    assert v.status == "failed"
    assert v.sentence == "A2 degraded decision quality (signals: incident, rollback)."
    assert (
        "Declare releases that change model at tier high (this one was declared medium)."
        in v.follow_ups
    )
    assert any("cross_functional_review" in f for f in v.follow_ups)
    diff = rs.release_diff(ctx)
    assert diff.takeaway[0].startswith("A2 changed model against A1")


def test_unknown_release_is_a_data_error() -> None:
    with pytest.raises(ra.DataError, match="not in the releases table"):
        rs.release_context(TINY, "nope", TINY_AS_OF)


def _blank(page: str) -> str:
    """``page`` with plotly's random div ids blanked."""
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "", page)


def _pages(report: object, names: tuple[str, ...]) -> list[str]:
    """The HTML of the sections ``names`` (methods of ``report``)."""
    return [_blank(getattr(report, n)()._repr_html_()) for n in names]


EXECUTIVE_SECTIONS = (
    "headline",
    "executive_takeaway",
    "trends",
    "breakdowns",
    "failed_releases",
    "process_audit",
    "risk",
    "dora",
    "data_quality",
    "reproducibility",
)
REVIEW_SECTIONS = (
    "verdict",
    "release_diff",
    "release_path",
    "rollout_chart",
    "version_comparison",
    "incident_review",
    "operator_log",
    "reproducibility",
)


def test_a_report_from_an_analysis_is_the_report_from_the_folder() -> None:
    """``executive_report`` / ``release_review`` on an ``Analysis`` (not analysed again) give the
    sections of the folder form, and ``report.headline()`` is ``headline(report)``."""
    analysis = ra.analyze(ra.load_dataset(TINY), ra.parse_as_of(TINY_AS_OF))
    from_dir = ra.executive_report(TINY, "2026-04", TINY_AS_OF)
    from_analysis = ra.executive_report(analysis, "2026-04", TINY_AS_OF)
    assert from_analysis.analysis is analysis
    assert _pages(from_dir, EXECUTIVE_SECTIONS) == _pages(from_analysis, EXECUTIVE_SECTIONS)
    assert _pages(from_dir, ("trends",)) == [_blank(rs.trends(from_dir)._repr_html_())]
    assert from_analysis.most_instructive_release() == "A2"
    review_dir = ra.release_review(TINY, "A2", TINY_AS_OF)
    review_analysis = ra.release_review(analysis, "A2", TINY_AS_OF)
    assert _pages(review_dir, REVIEW_SECTIONS) == _pages(review_analysis, REVIEW_SECTIONS)


def test_an_analysis_that_does_not_fit_the_report_is_a_data_error() -> None:
    import dataclasses

    analysis = ra.analyze(ra.load_dataset(TINY), ra.parse_as_of(TINY_AS_OF))
    for kw, message in (
        ({"as_of": "2026-06-02T00:00:00Z"}, "differs from the analysis"),
        ({"policy": TINY / "policy.yaml"}, "carries its policy"),
        ({"systems": ["a"]}, "covers every system"),
    ):
        as_of = kw.pop("as_of", TINY_AS_OF)
        with pytest.raises(ra.DataError, match=message):
            ra.executive_report(analysis, "2026-04", as_of, **kw)
    with pytest.raises(ra.DataError, match="not in the releases table"):
        ra.release_review(analysis, "nope", TINY_AS_OF)
    # With telemetry, an analysis that left the month's comparisons out would lack their
    # failure signals: refused rather than reported.
    uncompared = dataclasses.replace(analysis, rollup=object(), comparisons={})
    with pytest.raises(ra.DataError, match="did not compare"):
        ra.executive_report(uncompared, "2026-04", TINY_AS_OF)
    with pytest.raises(ra.DataError, match="did not compare"):
        ra.release_review(uncompared, "A2", TINY_AS_OF)


def test_sections_escape_data_in_process(tmp_path: Path) -> None:
    data = tmp_path / "tiny"
    shutil.copytree(TINY, data)
    _rewrite_csv(
        data / "releases.csv",
        lambda df: df.with_columns(
            pl.when(pl.col("release_id") == "A2")
            .then(pl.lit(SCRIPT))
            .otherwise(pl.col("summary"))
            .alias("summary"),
            pl.when(pl.col("release_id") == "A2")
            .then(pl.lit(IMG))
            .otherwise(pl.col("accountable_owner"))
            .alias("accountable_owner"),
        ),
    )
    ctx = rs.release_context(data, "A2", TINY_AS_OF)
    page = (
        ctx._repr_html_()
        + rs.failed_releases(rs.executive_context(data, "2026-04", TINY_AS_OF))._repr_html_()
    )
    assert SCRIPT not in page and IMG not in page
    assert html.escape(SCRIPT) in page and html.escape(IMG) in page


def test_report_all_renders_the_month_with_one_review_per_release(tmp_path: Path) -> None:
    """``report all`` on the tiny example's March (two releases): three reports, in parallel."""
    out = tmp_path / "out"
    proc = run_cli(
        "report",
        "all",
        "--data",
        str(TINY),
        "--month",
        "2026-03",
        "--as-of",
        TINY_AS_OF,
        "--out",
        str(out),
        "--jobs",
        "2",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    paths = proc.stdout.split()
    assert [Path(p).name for p in paths] == [
        "executive_2026-03_asof-20260601T000000Z.html",
        "post_release_A0_asof-20260601T000000Z.html",
        "post_release_B0_asof-20260601T000000Z.html",
    ]
    assert all(Path(p).stat().st_size > 1_000_000 for p in paths)
    # Not a terminal: no progress bar. A kernel's libzmq may print an assertion while it shuts
    # down under load (src/signaler.cpp); the reports are complete, so only that line is allowed.
    noise = [line for line in proc.stderr.splitlines() if "src/signaler.cpp" not in line]
    assert noise == []
