"""Leadership views (issue 14): change statements backed by tests, plurals, counts instead of
rates for small groups, breakdowns sorted by contribution to failures, the team and system
drill-down (index page and one view per team or system, sharing one plotly.js), the Markdown
headline and takeaway, and the report size.

The end-to-end renders run the real command on a small generated dataset (its releases carry a
``team``) and check the pages in headless chromium (Debian's package), offline.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from analytics import sections as rs
from analytics.core.results import EstimateResult
from analytics.report import groups as bd
from analytics.report import takeaway as tk
from analytics.stats.summaries import rate

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "tests" / "data" / "tiny")
TINY_AS_OF = "2026-06-01T00:00:00Z"


# ---------------------------------------------------------------- change statements


def _ctx(floor: int = 0) -> SimpleNamespace:
    return SimpleNamespace(alpha=0.05, rate_floor=floor)


def test_rate_change_is_tested_not_read_off_overlapping_intervals() -> None:
    """9 of 20 against 2 of 20: the Wilson intervals overlap (26-66 % and 3-30 %), yet Fisher's
    exact test finds the change beyond chance (p = 0.031): the sentence says so."""
    cur, prev = rate(9, 20), rate(2, 20)
    assert cur.ci_low < prev.ci_high  # the intervals overlap
    s = tk._change_sentence("CFR-DQ", cur, prev, "2026-03", _ctx())
    assert s == (
        "CFR-DQ rose from 10% (2 of 20) in 2026-03 to 45% (9 of 20): a change beyond chance "
        "(Fisher's exact test, p = 0.031)."
    )
    s = tk._change_sentence("CFR-DQ", rate(3, 20), prev, "2026-03", _ctx())
    assert s is not None and s.endswith(
        "within what chance alone gives (Fisher's exact test, p = 1.00)."
    )
    assert tk._change_sentence("CFR-DQ", rate(2, 20), prev, "2026-03", _ctx()) == (
        "CFR-DQ held at 10% (2 of 20)."
    )


def test_small_view_states_counts_not_rates() -> None:
    s = tk._change_sentence("CFR-DQ", rate(2, 3), rate(0, 4), "2026-03", _ctx(floor=5))
    assert s is not None and s.startswith("CFR-DQ rose from 0 of 4 in 2026-03 to 2 of 3: ")
    assert "%" not in s.split(":")[0]


def _kpis(month: str, mean: float, low: float, high: float) -> SimpleNamespace:
    return SimpleNamespace(month=month, unit_cost_usd=EstimateResult(mean, low, high, 1000))


def test_unit_cost_change_uses_the_z_test_of_the_difference() -> None:
    """$5.00 (4.80-5.20) to $5.30 (5.10-5.50): overlapping intervals, z test p = 0.038."""
    s = tk._unit_cost_change(_kpis("2026-04", 5.3, 5.1, 5.5), _kpis("2026-03", 5.0, 4.8, 5.2), 0.05)
    assert s == (
        "Unit process cost rose 6.0%: $5.00 in 2026-03 → $5.30 per case; a change beyond chance "
        "(z test of the difference, p = 0.038)."
    )
    s = tk._unit_cost_change(_kpis("2026-04", 5.1, 4.8, 5.4), _kpis("2026-03", 5.0, 4.8, 5.2), 0.05)
    assert s is not None and "within what chance alone gives (z test of the difference" in s


def test_headline_tiles_carry_the_test_result() -> None:
    ctx = rs.executive_context(TINY, "2026-04", TINY_AS_OF)
    page = rs.headline(ctx)._repr_html_()
    assert "▲ 50.0 pp vs 0% (0 of 2) in 2026-03 · within chance, p = 0.47" in page
    assert "overlap" not in page


def _all_text(ctx: rs.ExecutiveContext) -> str:
    return "".join(
        getattr(rs, name)(ctx)._repr_html_()
        for name in (
            "headline",
            "executive_takeaway",
            "trends",
            "breakdowns",
            "failed_releases",
            "process_audit",
            "risk",
            "dora",
            "data_quality",
        )
    )


def _visible(page: str) -> str:
    return re.sub(r"<script.*?</script>|<style.*?</style>", "", page, flags=re.S)


def test_no_interval_overlap_wording_and_no_plural_placeholders() -> None:
    text = _visible(_all_text(rs.executive_context(TINY, "2026-04", TINY_AS_OF)))
    for release in ("A2", "A3"):
        review = rs.release_review(TINY, release, TINY_AS_OF)
        text += "".join(
            getattr(review, n)()._repr_html_()
            for n in ("verdict", "release_path", "rollout_chart", "incident_review", "operator_log")
        )
    assert "(s)" not in text
    assert "intervals overlap" not in text and "may be noise" not in text
    assert not re.search(r"\b1 (releases|incidents|failures|stages|decisions)\b", text)


def test_takeaway_is_singular_for_one() -> None:
    t = rs.takeaway_points(rs.executive_context(TINY, "2026-04", TINY_AS_OF))
    assert "1 decision-quality incident is still open at 2026-06-01 00:00 UTC: X2." in t.matters
    assert "Assign an owner and a deadline to the open incident." in t.decide
    assert any(
        s.startswith("1 of them was declared") and "than its changed" in s for s in t.matters
    )


# ---------------------------------------------------------------- breakdowns


def _cohort_rows(specs: list[tuple[str, int, int]]) -> list[dict]:
    rows = []
    for name, n, failed in specs:
        for i in range(n):
            rows.append(
                {
                    "system": name,
                    "failed": i < failed,
                    "dora_failed": i < failed,
                    "evidence_complete": True,
                    "misclassified": False,
                }
            )
    return rows


def test_breakdown_rows_sort_by_contribution_to_failures() -> None:

    df = pl.DataFrame(
        _cohort_rows([("alpha", 9, 0), ("beta", 4, 2), ("gamma", 6, 2), ("delta", 3, 3)])
    )
    rows = bd.group_rows(df, "system", 0.05)
    assert [(r.name, r.failed, r.releases) for r in rows] == [
        ("delta", 3, 3),
        ("gamma", 2, 6),
        ("beta", 2, 4),
        ("alpha", 0, 9),
    ]


def test_spread_sentence_tests_only_groups_with_a_rate() -> None:

    df = pl.DataFrame(_cohort_rows([("alpha", 20, 1), ("beta", 20, 9), ("gamma", 3, 3)]))
    rows = bd.group_rows(df, "system", 0.05)
    s = bd._spread_sentence("system", rows, 0.05, 5, overlapping=False)
    # gamma (3 of 3) has too few releases for a rate: beta is the highest, alpha the lowest.
    assert s.startswith("By system: highest CFR-DQ in beta (45% (9 of 20)), lowest in alpha")
    assert "Fisher's exact test" in s and "gamma" not in s
    assert "Bonferroni" not in s  # one pair of groups with a rate
    assert bd.difference_clause(0.02, 0.05, pairs=3) == (
        "within what chance alone gives (Fisher's exact test, p = 0.060, Bonferroni-adjusted "
        "for 3 pairs of groups)"
    )


# ---------------------------------------------------------------- teams (the tiny example)

PAYLOAD_TEAM = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def tiny_teams(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny example with teams: ``core`` owns A0-A2 (support), the payload team owns A3
    (support too: two teams release one system) and B0-B1 (search)."""
    data = tmp_path_factory.mktemp("tiny-teams") / "tiny"
    shutil.copytree(TINY, data)
    df = pl.read_csv(data / "releases.csv", infer_schema=False)
    team = pl.when(pl.col("release_id").is_in(["A0", "A1", "A2"]))
    df.with_columns(
        team.then(pl.lit("core")).otherwise(pl.lit(PAYLOAD_TEAM)).alias("team")
    ).write_csv(data / "releases.csv")
    return data


def test_team_view_is_cut_after_the_analysis(tiny_teams: Path) -> None:
    ctx = rs.executive_context(tiny_teams, "2026-04", TINY_AS_OF, teams=["core"])
    assert ctx.kpis.release_ids == ("A1", "A2") and ctx.kpis.change_failure_rate.numerator == 1
    other = rs.executive_context(tiny_teams, "2026-04", TINY_AS_OF, teams=[PAYLOAD_TEAM])
    a3 = other.analysis.releases.filter(pl.col("release_id") == "A3").row(0, named=True)
    assert a3["previous_release_id"] == "A2"  # its system's history, not its team's
    assert set(other.kpis.release_ids) == {"A3", "B1"}
    # A view with fewer releases than risk.min_group_releases (5) states counts, not rates.
    assert ctx.rate_floor == 5
    assert rs.headline_sentences(ctx)[0] == (
        "2 releases were deployed in 2026-04 (fewer than 5: counts, not rates); 1 degraded "
        "decision quality."
    )
    page = rs.headline(ctx)._repr_html_()
    assert ">1 of 2<" in page and "too few for a rate" in page
    assert "team core" in ctx._repr_html_()


def test_teams_on_an_analysis_and_unknown_teams(tiny_teams: Path) -> None:
    import analytics as ra

    analysis = ra.analyze(ra.load_dataset(tiny_teams), ra.parse_as_of(TINY_AS_OF))
    from_analysis = ra.executive_report(analysis, "2026-04", TINY_AS_OF, teams="core")
    assert from_analysis.kpis.release_ids == ("A1", "A2")
    with pytest.raises(ra.DataError, match="unknown team: nope; the dataset has"):
        ra.executive_report(analysis, "2026-04", TINY_AS_OF, teams=["nope"])
    with pytest.raises(ra.DataError, match="column 'team' is empty"):
        rs.executive_context(TINY, "2026-04", TINY_AS_OF, teams=["core"])


def test_breakdowns_add_teams_and_escape_them(tiny_teams: Path) -> None:
    ctx = rs.executive_context(tiny_teams, "2026-04", TINY_AS_OF)
    page = rs.breakdowns(ctx)._repr_html_()
    assert PAYLOAD_TEAM not in _visible(page) and html.escape(PAYLOAD_TEAM) in page
    assert "<th>team</th>" in page
    assert "too few for a rate" in page  # every group of the tiny month has < 5 releases


def test_index_lists_views_by_contribution_to_failures(tiny_teams: Path) -> None:
    import analytics as ra
    from analytics.report import views

    analysis = ra.analyze(ra.load_dataset(tiny_teams), ra.parse_as_of(TINY_AS_OF))
    names = views.view_names(analysis, "2026-04", "team")
    assert names == sorted(["core", PAYLOAD_TEAM])
    vs = [views.View(), *(views.View("team", n) for n in names)]
    href = {v: f"page-{i}.html" for i, v in enumerate(vs)}
    rows = views.summarise(analysis, "2026-04", vs, href)
    # core: 1 failed of 2; the payload team: 1 failed (A3) of 2 (A3, B1): tie, then name.
    assert [r.view.name for r in rows] == [None, PAYLOAD_TEAM, "core"]
    page = views.index_page(rows, "2026-04", "team", analysis, "analytics report ...")
    assert PAYLOAD_TEAM not in page and html.escape(PAYLOAD_TEAM) in page
    assert page.count('<a href="page-') == 3
    assert '<td class="ra-num">1 of 2</td>' in page  # a team view: counts, not rates
    assert "50% (2 of 4)" in page  # the organisation: its rate
    assert "<script" not in page
    with pytest.raises(ra.DataError, match="names a team"):
        views.view_names(
            ra.analyze(ra.load_dataset(TINY), ra.parse_as_of(TINY_AS_OF)), "2026-04", "team"
        )


# ---------------------------------------------------------------- Markdown


def test_markdown_holds_the_html_sentences(tiny_teams: Path) -> None:
    """``--format md`` prints the headline and takeaway sentences of the HTML report, escaped
    for Markdown (here a team name that is HTML)."""
    from analytics.report.markdown import executive_markdown, md_escape

    ctx = rs.executive_context(tiny_teams, "2026-04", TINY_AS_OF, teams=[PAYLOAD_TEAM])
    md = executive_markdown(ctx)
    page = rs.headline(ctx)._repr_html_() + rs.executive_takeaway(ctx)._repr_html_()
    t = rs.takeaway_points(ctx)
    sentences = [*rs.headline_sentences(ctx), *t.changed, *t.matters, *t.decide]
    assert len(sentences) >= 5
    for s in sentences:
        assert html.escape(s, quote=False) in page.replace("&#x27;", "'").replace("&quot;", '"')
        assert md_escape(s) in md
    assert md.startswith("# AI release report: April 2026\n")
    assert md_escape(f"team {PAYLOAD_TEAM}") in md and PAYLOAD_TEAM not in md
    assert "## What changed" in md and "## What to decide" in md


def test_md_command_prints_markdown_and_writes_nothing(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "analytics.cli.main",
            "report",
            "executive",
            "--data",
            TINY,
            "--month",
            "2026-04",
            "--as-of",
            TINY_AS_OF,
            "--format",
            "md",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    ctx = rs.executive_context(TINY, "2026-04", TINY_AS_OF)
    from analytics.report.markdown import executive_markdown

    assert proc.stdout == executive_markdown(ctx)
    assert (
        "4 releases were deployed in 2026-04; 2 degraded decision quality \\(50%\\)."
        not in proc.stdout
    )
    assert "4 releases were deployed in 2026-04; 2 degraded decision quality (50%)." in proc.stdout


# ---------------------------------------------------------------- the set, end to end

SMALL = {"seed": 7, "cases_per_day": 40, "start": "2026-01-01", "months": 4}
MONTH, AS_OF, STAMP = "2026-02", "2026-05-01T00:00:00Z", "20260501T000000Z"
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
    shutil.which("chromium") is None, reason="needs Debian's chromium: run `make browser`"
)


@pytest.fixture(scope="module")
def by_team(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``analytics report executive --by team`` on a small generated sample whose claims team is
    renamed to an HTML payload."""
    from analytics.sample.generate import generate_sample

    root = tmp_path_factory.mktemp("views")
    data = root / "data"
    generate_sample(data, **SMALL)
    df = pl.read_csv(data / "releases.csv", infer_schema=False)
    claims = pl.col("team") == "claims-automation"
    df.with_columns(
        pl.when(claims).then(pl.lit(PAYLOAD_TEAM)).otherwise(pl.col("team")).alias("team")
    ).write_csv(data / "releases.csv")
    out = root / "out"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "analytics.cli.main", "report", "executive"),
            *("--data", str(data), "--month", MONTH, "--as-of", AS_OF, "--out", str(out)),
            *("--by", "team", "--jobs", "2"),
        ],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"root": root, "out": out, "paths": [Path(p) for p in proc.stdout.split()], "proc": proc}


def test_by_team_writes_one_folder_with_index_pages_and_one_plotlyjs(by_team: dict) -> None:
    from analytics.report import charts
    from analytics.report.render import safe_name

    folder = by_team["out"] / f"executive_{MONTH}_by-team_asof-{STAMP}"
    js = charts.plotlyjs_filename()
    pages = [
        f"executive_{MONTH}_asof-{STAMP}.html",
        f"executive_{MONTH}_teams-{safe_name(PAYLOAD_TEAM)}_asof-{STAMP}.html",
        f"executive_{MONTH}_teams-customer-experience_asof-{STAMP}.html",
    ]
    assert by_team["paths"] == [
        folder / "index.html",
        folder / js,
        *(folder / p for p in sorted(pages)),
    ]
    assert sorted(p.name for p in by_team["out"].iterdir()) == [folder.name]  # no temp left
    assert sorted(p.name for p in folder.iterdir()) == sorted(["index.html", js, *pages])
    assert by_team["proc"].stderr == ""
    for name in pages:
        page = (folder / name).read_text(encoding="utf-8")
        assert "plotly.js (basic" not in page  # the shared copy only
        assert f'<script src="{js}"></script>' in page
        assert not re.search(r"<script[^>]+src=[\"']?(https?:|//)", page)
        assert PAYLOAD_TEAM not in page
        assert (folder / name).stat().st_size < 2_000_000
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert PAYLOAD_TEAM not in index and html.escape(PAYLOAD_TEAM) in index
    assert [html.unescape(h) for h in re.findall(r'<a href="([^"]+)"', index)] == [
        pages[0],
        *sorted(pages[1:], key=lambda p: index.index(html.escape(p))),
    ]


class _Links(HTMLParser):
    """Every ``<a href>`` of a page, with whether it sits in a ``<nav>`` and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.nav_depth = 0
        self.links: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "nav":
            self.nav_depth += 1
        if tag == "a" and dict(attrs).get("href") is not None:
            self.links.append({"href": dict(attrs)["href"], "nav": self.nav_depth > 0, "text": ""})

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self.nav_depth -= 1

    def handle_data(self, data: str) -> None:
        if self.links and self.nav_depth:
            self.links[-1]["text"] += data


def test_every_view_page_links_back_to_the_index(by_team: dict) -> None:
    """Every report of the set (the organisation's and each team's) has one link in a ``<nav>``
    at the top of its body, to ``index.html`` by a relative path that resolves, from the page's
    folder, to the set's index (so it works offline and wherever the folder is copied)."""
    folder = by_team["paths"][0].parent
    pages = [p for p in by_team["paths"] if p.suffix == ".html" and p.name != "index.html"]
    assert len(pages) == 3
    for page in pages:
        text = page.read_text(encoding="utf-8")
        scan = _Links()
        scan.feed(text)
        nav = [link for link in scan.links if link["nav"]]
        assert [link["href"] for link in nav] == ["index.html"], page.name
        assert nav[0]["text"] == "\u2190 All views of this report (index)"
        target = (page.parent / nav[0]["href"]).resolve()
        assert target == (folder / "index.html").resolve() and target.is_file()
        body = re.search(r"<body[^>]*>", text)
        assert body is not None and text.index('data-nav="index"') - body.end() < 80


def test_index_link_is_a_sibling_file_only() -> None:
    from analytics.report.render import link_index

    page = link_index('<html><body class="jp-Notebook">x</body></html>', "index.html")
    assert page == (
        '<html><body class="jp-Notebook">\n<nav class="ra-report ra-muted" data-nav="index">'
        '<a href="index.html">&#8592; All views of this report (index)</a></nav>x</body></html>'
    )
    for bad in ("../index.html", "/tmp/index.html", "https://example.org/", "a b.html", ""):
        with pytest.raises(ValueError, match="sibling"):
            link_index("<body>x</body>", bad)


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
def test_every_page_of_the_set_draws_offline(by_team: dict, tmp_path: Path) -> None:
    """Each page draws every chart in headless chromium with the network off, from the shared
    plotly.js beside it; copied out of its folder, a page says which file its charts need."""
    from analytics.report import charts

    folder = by_team["paths"][0].parent
    for page in by_team["paths"][2:]:
        html_text = page.read_text(encoding="utf-8")
        expected = html_text.count('class="plotly-graph-div"')
        dom = _dump_dom(page, tmp_path / "profile")
        assert expected >= 5
        assert dom.count('class="main-svg"') >= expected, page.name
        assert '<img src="x"' not in dom
        assert '<p class="ra-muted">The charts need the file' not in dom
        assert '<a href="index.html">' in dom
    index_dom = _dump_dom(folder / "index.html", tmp_path / "profile")
    assert index_dom.count("<a href=") == 3
    alone = tmp_path / "alone" / by_team["paths"][4].name
    alone.parent.mkdir()
    shutil.copy(by_team["paths"][4], alone)
    dom = _dump_dom(alone, tmp_path / "profile")
    assert f'<p class="ra-muted">The charts need the file {charts.plotlyjs_filename()}' in dom
    assert 'class="main-svg"' not in dom
