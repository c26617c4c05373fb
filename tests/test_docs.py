"""The documentation lives in the project: the data contract names every declared column, nothing
points at files outside the repository, links resolve, the CLI help names the project's own docs
and the README's layout table matches the folders."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from analytics.cli import main as cli
from analytics.core.schemas import ALL_TABLES

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "docs" / "data-contract.md"
# Written in pieces so that this file does not match itself.
OUTSIDE_REFERENCES = ("../" + "shared", "SPEC" + ".md", "SPEC" + " section")


def _table_sections(text: str) -> dict[str, str]:
    """``### `name` `` heading -> the text up to the next heading."""
    parts = re.split(r"^#{2,3} ", text, flags=re.M)
    sections = {}
    for part in parts:
        m = re.match(r"`(\w+)`\n", part)
        if m:
            sections[m.group(1)] = part
    return sections


def test_contract_lists_every_declared_column() -> None:
    """Each table of ``analytics/core/schemas.py`` has its section, and that section's column table
    lists exactly the declared columns, with the declared required flag."""
    sections = _table_sections(CONTRACT.read_text(encoding="utf-8"))
    assert set(ALL_TABLES) <= set(sections)
    for name, schema in ALL_TABLES.items():
        rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| (yes|no) \|", sections[name], flags=re.M)
        documented = {col: req == "yes" for col, req in rows}
        declared = {c.name: c.required for c in schema.columns}
        assert documented == declared, name
        for col in schema.columns:
            if col.kind == "enum":
                row = next(
                    r for r in sections[name].splitlines() if r.startswith(f"| `{col.name}`")
                )
                assert all(f"`{v}`" in row for v in col.values), (name, col.name)


def test_contract_names_the_json_keys() -> None:
    text = CONTRACT.read_text(encoding="utf-8")
    for key in (
        "change_failure_rate",
        "mttd_hours",
        "mttm_hours",
        "evidence_completeness",
        "unit_cost_impact_usd",
        "rows_excluded",
        "changed_components",
        "failure_signals",
        "assume_timezone",
    ):
        assert f"`{key}`" in text or f"`kpis.{key}`" in text, key


def _tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout, tracked files unknown: {exc}")
    files = []
    for name in out.decode().split("\0"):
        path = ROOT / name
        if name and path.is_file():
            files.append(path)
    return files


def test_no_reference_to_files_outside_the_project() -> None:
    offenders = []
    files = _tracked_text_files()
    assert len(files) > 50
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        for needle in OUTSIDE_REFERENCES:
            if needle.lower() in text.lower():
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == []


@pytest.mark.parametrize(
    "doc", ["README.md", "METRICS.md", "docs/data-contract.md", "docs/rollup.md"]
)
def test_relative_links_resolve(doc: str) -> None:
    path = ROOT / doc
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8"))
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    missing = [link for link in local if not (path.parent / link).exists()]
    assert missing == []


def test_readme_and_metrics_point_at_the_contract() -> None:
    assert CONTRACT.is_file()
    for doc in ("README.md", "METRICS.md"):
        assert "(docs/data-contract.md)" in (ROOT / doc).read_text(encoding="utf-8"), doc


def test_cli_help_points_at_the_projects_docs() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert "docs/data-contract.md" in helps["kpis"]
    assert "docs/data-contract.md" in helps["releases"]
    for text in helps.values():
        for ref in re.findall(r"[\w./-]+\.md", text or ""):
            assert (ROOT / ref).is_file(), ref


def _layout_paths() -> list[str]:
    """The paths of the README's layout table; a bare name after an ``analytics/...`` path in the
    same cell is inside ``analytics/``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## Layout", 1)[1].split("\n\n", 2)[1]
    paths = []
    for line in table.splitlines()[2:]:
        cell = line.split("|")[1]
        names = re.findall(r"`([^`]+)`", cell)
        base = names[0].rsplit("/", 1)[0] + "/" if "/" in names[0].rstrip("/") else ""
        paths.append(names[0])
        paths += [n if "/" in n.rstrip("/") else base + n for n in names[1:]]
    return paths


def test_readme_layout_matches_the_folders() -> None:
    """Every path in the layout table exists; every top-level folder, every folder and module of
    ``analytics/`` is in it."""
    paths = _layout_paths()
    assert [p for p in paths if not (ROOT / p).exists()] == []
    listed = {p.rstrip("/") for p in paths}
    folders = {
        p.name
        for p in ROOT.iterdir()
        if p.is_dir() and not p.name.startswith(".") and any(p.iterdir())
    } - {"build", "dist", "__pycache__"}
    relative = [f.relative_to(ROOT).parts for f in _tracked_text_files()]
    tracked = {parts[0] for parts in relative if len(parts) > 1}
    covered = {p.split("/")[0] for p in listed}
    assert {f for f in folders if f in tracked} - covered == set()
    package = {
        f"analytics/{p.name}"
        for p in (ROOT / "analytics").iterdir()
        if (p.is_dir() and not p.name.startswith(("_", ".")))
        or (p.suffix in (".py", ".yaml") and p.name != "__init__.py")
    }
    assert package - listed == set()


def test_readme_library_example_runs(sample_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """The README's library example runs as written against the sample dataset, and uses only
    the public API."""
    import analytics as ra

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = text.split("## Library", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    used = set(re.findall(r"\bra\.(\w+)", code))
    assert used <= set(ra.__all__)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sample").symlink_to(sample_dir)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["october"].month == "2026-10"
    assert len(namespace["trend"]) == 12
    assert namespace["records"] and all(r["month"] == "2026-10" for r in namespace["records"])
