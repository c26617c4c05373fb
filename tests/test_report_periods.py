"""The executive report of a quarter or a year (``analytics report executive --period``): the same
cohort rule as ``analytics kpis --period`` (the releases deployed in the period's months), so a
quarter's counts are the sums of its months'; the headline compares with the period before; the
trends keep showing months. Checked in the library, in the Markdown and in the rendered HTML of
a small generated sample, and in a ``--by team`` set on the tiny example.
"""

from __future__ import annotations

import html
from pathlib import Path

import polars as pl
import pytest
from conftest import run_cli

import analytics as ra
from analytics import sections as rs

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"seed": 7, "cases_per_day": 40, "start": "2026-01-01", "months": 4}
AS_OF, STAMP = "2026-05-01T00:00:00Z", "20260501T000000Z"
QUARTER, MONTHS = "2026-Q1", ("2026-01", "2026-02", "2026-03")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from analytics.sample.generate import generate_sample

    data = tmp_path_factory.mktemp("periods") / "data"
    generate_sample(data, **SMALL)
    return data


@pytest.fixture(scope="module")
def reports(small: Path) -> dict[str, rs.ExecutiveReport]:
    """The quarter's report and its months' reports, read off one analysis."""
    analysis = ra.analyze(ra.load_dataset(small), ra.parse_as_of(AS_OF))
    return {p: ra.executive_report(analysis, p, AS_OF) for p in (QUARTER, *MONTHS)}


def _sum(reports: dict[str, rs.ExecutiveReport], pick) -> int:  # noqa: ANN001
    return sum(pick(reports[m].kpis) for m in MONTHS)


def test_quarter_counts_are_the_sums_of_its_months(reports: dict) -> None:
    q = reports[QUARTER].kpis
    assert q.month == QUARTER and q.releases_deployed == 66  # 23 + 22 + 21 (seed 7)
    for pick in (
        lambda k: k.releases_deployed,
        lambda k: k.change_failure_rate.numerator,
        lambda k: k.dora_change_failure_rate.numerator,
        lambda k: k.evidence_completeness.numerator,
        lambda k: k.mttd_hours.n,
        lambda k: k.mttm_hours.n,
        lambda k: k.dora.deployments,
        lambda k: k.unit_cost_usd.n,
    ):
        assert pick(q) == _sum(reports, pick)
    assert q.change_failure_rate.numerator == 5  # 1 + 2 + 2
    assert set(q.release_ids) == {r for m in MONTHS for r in reports[m].kpis.release_ids}


def test_quarter_headline_tiles_and_comparison(reports: dict) -> None:
    rep = reports[QUARTER]
    n = _sum(reports, lambda k: k.releases_deployed)
    failed = _sum(reports, lambda k: k.change_failure_rate.numerator)
    assert rep.title == "AI release report: Q1 2026 (January to March)"
    assert rs.headline_sentences(rep)[0] == (
        f"{n} releases were deployed in {QUARTER}; {failed} degraded decision quality (7.6%)."
    )
    page = rep.headline()._repr_html_()
    assert f"{failed} of {n} releases failed" in page
    # The sample starts in 2026-01: the quarter before has no release to compare with.
    assert rep.previous is not None and rep.previous.month == "2025-Q4"
    assert "no comparison with 2025-Q4: no releases there" in page
    # The trends still show the 12 months ending with the quarter's last month.
    assert [h.month for h in rep.history] == ra.month_range("2026-03", 12)
    assert rep.history[-1].month == "2026-03"


def test_year_to_date_trends_stop_at_as_of(reports: dict) -> None:
    """A year not over at ``as_of``: its cohort is every release deployed so far, and the trend
    window ends with the month of ``as_of``, not with December."""
    analysis = reports[QUARTER].analysis
    year = ra.executive_report(analysis, "2026", AS_OF)
    assert year.kpis.releases_deployed == analysis.releases["deployed"].sum()
    assert year.history[-1].month == "2026-05" and year.previous.month == "2025"


def test_markdown_of_a_quarter(small: Path, reports: dict) -> None:
    proc = run_cli(
        *("report", "executive", "--data", str(small), "--period", QUARTER),
        *("--as-of", AS_OF, "--format", "md"),
        cwd=small.parent,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "# AI release report: Q1 2026 (January to March)"
    assert "66 releases were deployed in 2026-Q1; 5 degraded decision quality (7.6%)." in lines
    assert "- 66 releases were deployed in 2026-Q1 against 0 in 2025-Q4." in lines


def test_rendered_quarter_report(small: Path, reports: dict) -> None:
    out = small.parent / "out"
    proc = run_cli(
        *("report", "executive", "--data", str(small), "--period", QUARTER),
        *("--as-of", AS_OF, "--out", str(out)),
        cwd=small.parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = out / f"executive_{QUARTER}_asof-{STAMP}.html"
    assert proc.stdout.split() == [str(path)]
    page = path.read_text(encoding="utf-8")
    assert "<h1>AI release report: Q1 2026 (January to March)</h1>" in page
    assert "66 releases were deployed in 2026-Q1; 5 degraded decision quality (7.6%)." in page
    assert "5 of 66 releases failed" in page
    footer = page[page.index('data-section="reproducibility"') :]
    assert html.escape(f"--period {QUARTER}", quote=True) in footer
    assert page.count('class="plotly-graph-div"') >= 5  # the monthly trends are there


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--period", "2026-Q5"), "argument --period: period '2026-Q5' must be YYYY-MM, YYYY-Qn"),
        (("--period", "2026-13"), "argument --period: month '2026-13' must be YYYY-MM"),
        (("--period", "2026-Q1", "--month", "2026-01"), "takes --month or --period, not both"),
        ((), "needs --month YYYY-MM or --period YYYY-MM|YYYY-Qn|YYYY"),
    ],
)
def test_bad_period_exits_2_and_writes_nothing(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "out"
    proc = run_cli(
        *("report", "executive", "--data", str(ROOT / "tests" / "data" / "tiny"), *args),
        *("--as-of", AS_OF, "--out", str(out)),
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stdout == ""
    assert not out.exists()  # the folder the command made for it is gone again


def test_a_failed_report_keeps_an_out_folder_that_was_there(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    proc = run_cli(
        *("report", "executive", "--data", str(ROOT / "tests" / "data" / "tiny")),
        *("--period", "2026-Q5", "--as-of", AS_OF, "--out", str(out)),
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert out.is_dir() and list(out.iterdir()) == []


# ---------------------------------------------------------------- a --by team set of a quarter

TINY_AS_OF = "2026-06-01T00:00:00Z"


@pytest.fixture(scope="module")
def quarter_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``--by team --period 2026-Q2`` on the tiny example with teams: ``core`` owns A0-A2, ``ops``
    owns A3 and the search releases."""
    import shutil

    root = tmp_path_factory.mktemp("quarter-set")
    data = root / "tiny"
    shutil.copytree(ROOT / "tests" / "data" / "tiny", data)
    df = pl.read_csv(data / "releases.csv", infer_schema=False)
    core = pl.col("release_id").is_in(["A0", "A1", "A2"])
    df.with_columns(
        pl.when(core).then(pl.lit("core")).otherwise(pl.lit("ops")).alias("team")
    ).write_csv(data / "releases.csv")
    proc = run_cli(
        *("report", "executive", "--data", str(data), "--period", "2026-Q2"),
        *("--as-of", TINY_AS_OF, "--out", str(root / "out"), "--by", "team", "--jobs", "2"),
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = root / "out" / "executive_2026-Q2_by-team_asof-20260601T000000Z"
    assert Path(proc.stdout.split()[0]) == folder / "index.html"
    return folder


def test_quarter_set_reports_the_quarter(quarter_set: Path) -> None:
    index = (quarter_set / "index.html").read_text(encoding="utf-8")
    assert "<h1>AI release report: Q2 2026 (April to June), by team</h1>" in index
    assert "<th>change from 2026-Q1</th>" in index
    assert html.escape("--period 2026-Q2") in index
    pages = {
        p.name: p.read_text(encoding="utf-8") for p in sorted(quarter_set.glob("executive_*.html"))
    }
    assert sorted(pages) == [
        "executive_2026-Q2_asof-20260601T000000Z.html",
        "executive_2026-Q2_teams-core_asof-20260601T000000Z.html",
        "executive_2026-Q2_teams-ops_asof-20260601T000000Z.html",
    ]
    # The tiny example's Q2 is April (A1, A2, A3, B1); core: A1, A2 (A2 failed).
    org = pages["executive_2026-Q2_asof-20260601T000000Z.html"]
    assert "4 releases were deployed in 2026-Q2; 2 degraded decision quality (50%)." in org
    for page in pages.values():
        assert '<nav class="ra-report ra-muted" data-nav="index"><a href="index.html">' in page
    core = pages["executive_2026-Q2_teams-core_asof-20260601T000000Z.html"]
    assert "2 releases were deployed in 2026-Q2 (fewer than 5: counts, not rates)" in core
