"""The reproducibility footer shows what ``analytics import`` recorded in ``import_log.json``
(docs/mapping.md): which sources were imported, the export files and their sha256, the mapping's
sha256 and when the log was last written; every string from the log escaped. Checked on a
dataset built by the real importers from the vendor fixtures (a GitHub export whose file name is
an HTML payload, then a PagerDuty export), in process and in the rendered report.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analytics import sections as rs
from analytics.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "tests" / "data" / "vendor"
AS_OF = "2026-11-15T00:00:00Z"
IMG = "<img src=x onerror=alert(1)>"
GITHUB_FILE = f"deployments {IMG}.json"
# A fixed time for the log file, so that the footer's time is known.
LOG_TIME = datetime(2026, 11, 2, 9, 30, 15, tzinfo=UTC)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("imported")
    github = root / GITHUB_FILE
    shutil.copy(VENDOR / "github" / "deployments_2026-10.json", github)
    pagerduty = VENDOR / "pagerduty" / "incidents_2026-10.json"
    into = root / "dataset"
    for source, export in (("github", github), ("pagerduty", pagerduty)):
        argv = ["import", source, "--from", str(export), "--into", str(into)]
        assert main([*argv, "--mapping", str(VENDOR / "mapping.yaml"), "--format", "json"]) == 0
    log = into / "import_log.json"
    os.utime(log, (LOG_TIME.timestamp(), LOG_TIME.timestamp()))
    return {
        "root": root,
        "into": into,
        "github_sha": _sha256(github),
        "pagerduty_sha": _sha256(pagerduty),
        "mapping_sha": _sha256(VENDOR / "mapping.yaml"),
    }


def _footer(page: str) -> str:
    return page[page.index('data-section="reproducibility"') :]


def _assert_shows_the_log(footer: str, imported: dict) -> None:
    assert "Imported with analytics import: 2 sources in import_log.json, last written " in footer
    assert "2026-11-02 09:30:15 UTC" in footer
    # One row per source: its name, export file, the export's and the mapping's sha256, tables.
    for source, file, sha, table in (
        ("github", html.escape(GITHUB_FILE), imported["github_sha"], "releases"),
        ("pagerduty", "incidents_2026-10.json", imported["pagerduty_sha"], "incidents"),
    ):
        row = (
            f"<tr><td>{source}</td><td>{file}</td><td><code>{sha}</code></td>"
            f"<td><code>{imported['mapping_sha']}</code></td><td>{table}</td></tr>"
        )
        assert row in footer
    assert IMG not in footer


def test_log_is_what_the_importers_wrote(imported: dict) -> None:
    log = json.loads((imported["into"] / "import_log.json").read_text(encoding="utf-8"))
    assert log["sources"]["github"]["file"] == GITHUB_FILE
    assert log["sources"]["github"]["sha256"] == imported["github_sha"]
    assert log["sources"]["pagerduty"]["mapping_sha256"] == imported["mapping_sha"]


def test_footer_shows_the_import_log(imported: dict) -> None:
    ctx = rs.executive_context(imported["into"], "2026-10", AS_OF)
    log = ctx.provenance.imports
    assert log is not None and log.problem == "" and log.written_at == LOG_TIME
    assert [(s.source, s.file, s.sha256) for s in log.sources] == [
        ("github", GITHUB_FILE, imported["github_sha"]),
        ("pagerduty", "incidents_2026-10.json", imported["pagerduty_sha"]),
    ]
    _assert_shows_the_log(rs.reproducibility(ctx)._repr_html_(), imported)
    review = rs.release_context(imported["into"], "support-2026.10.01", AS_OF)
    _assert_shows_the_log(rs.reproducibility(review)._repr_html_(), imported)


def test_rendered_report_shows_the_import_log(imported: dict) -> None:
    out = imported["root"] / "out"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "analytics.cli.main", "report", "executive"),
            *("--data", str(imported["into"]), "--month", "2026-10", "--as-of", AS_OF),
            *("--out", str(out)),
        ],
        capture_output=True,
        text=True,
        cwd=imported["root"],
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = Path(proc.stdout.split()[0]).read_text(encoding="utf-8")
    _assert_shows_the_log(_footer(page), imported)
    assert IMG not in page


def test_without_a_log_nothing_is_said(tmp_path: Path) -> None:
    ctx = rs.executive_context(ROOT / "tests" / "data" / "tiny", "2026-04", "2026-06-01T00:00:00Z")
    assert ctx.provenance.imports is None
    assert "Imported" not in rs.reproducibility(ctx)._repr_html_()


def test_a_log_with_payloads_or_of_another_format(imported: dict, tmp_path: Path) -> None:
    """Every string of the log is escaped, whatever wrote it; a log the importers would not
    read is named with its problem instead of its sources."""
    data = tmp_path / "dataset"
    shutil.copytree(imported["into"], data)
    log = json.loads((data / "import_log.json").read_text(encoding="utf-8"))
    log["sources"][IMG] = {
        "file": IMG,
        "sha256": IMG,
        "mapping_sha256": IMG,
        "tables": [IMG],
    }
    (data / "import_log.json").write_text(json.dumps(log), encoding="utf-8")
    page = rs.reproducibility(rs.executive_context(data, "2026-10", AS_OF))._repr_html_()
    assert IMG not in page
    assert page.count(html.escape(IMG)) == 5 + 1  # the five fields, and the GitHub file
    assert "3 sources in import_log.json" in page
    (data / "import_log.json").write_text(json.dumps({"format": 99}), encoding="utf-8")
    page = rs.reproducibility(rs.executive_context(data, "2026-10", AS_OF))._repr_html_()
    assert "Imported: import_log.json (written " in page
    assert "cannot be read:" in page and "not an import log of format 1" in page
