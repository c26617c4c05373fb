"""The notebooks: report notebooks are thin (STYLE.md point 6), every notebook is committed
without outputs, its parameters match what ``analytics report`` injects, and each notebook runs
under nbval (lax) on a small generated dataset with the parameters papermill injects.

Rendering the report notebooks end to end (papermill + nbconvert + browser) is in
``test_report_html.py``; here papermill only prepares the parameterised copies that nbval runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

from analytics.report import render as reporting
from analytics.sample.generate import generate_sample

ROOT = Path(__file__).resolve().parent.parent
REPORT_NOTEBOOKS = ("executive_monthly.ipynb", "post_release_review.ipynb")
ALL_NOTEBOOKS = (*REPORT_NOTEBOOKS, "explore_release_history.ipynb")
# Report notebooks are package data (analytics/notebooks/); the exploration notebook is the
# user's, opened in JupyterLab from notebooks/.
NOTEBOOKS = {
    **{name: ROOT / "analytics" / "notebooks" / name for name in REPORT_NOTEBOOKS},
    "explore_release_history.ipynb": ROOT / "notebooks" / "explore_release_history.ipynb",
}
FORBIDDEN = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Lambda,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.Try,
    ast.TryStar,
    ast.With,
    ast.AsyncWith,
    ast.Global,
    ast.Nonlocal,
)
SMALL = {"seed": 7, "cases_per_day": 40, "start": "2026-01-01", "months": 4}
MONTH = "2026-03"
AS_OF = "2026-05-01T00:00:00Z"
RELEASE = "rel-0050"  # the month's failed release with an incident and a rollback


def _code_cells(name: str) -> list[nbformat.NotebookNode]:
    nb = nbformat.read(NOTEBOOKS[name], as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]


def _parameters_cell(name: str) -> nbformat.NotebookNode:
    cells = [c for c in _code_cells(name) if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{name}: exactly one cell must be tagged 'parameters'"
    return cells[0]


@pytest.mark.parametrize("name", REPORT_NOTEBOOKS)
def test_report_notebook_is_thin(name: str) -> None:
    """No def, class, lambda, loop, comprehension, try or with; imports only from analytics;
    at most two statements per cell; every call outside the parameters goes to the library or
    to an object the library returned (``report = ra.executive_report(...)``, then
    ``report.headline()``)."""
    library: set[str] = set()
    for cell in _code_cells(name):
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, FORBIDDEN), (
                f"{name}: {type(node).__name__} in cell {cell.get('id')}: move it to the library"
            )
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] == "analytics" for a in node.names), name
                library |= {(a.asname or a.name).split(".")[0] for a in node.names}
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] == "analytics", name
                library |= {a.asname or a.name for a in node.names}
            if isinstance(node, ast.Assign) and _library_call(node.value, library):
                library |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        if "parameters" not in cell.metadata.get("tags", []):
            assert len(tree.body) <= 2, f"{name}: cell {cell.get('id')} does more than one thing"
    for cell in _code_cells(name):
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call):
                assert _library_call(node, library), (
                    f"{name}: call outside the library: {ast.unparse(node)}"
                )


def _library_call(node: ast.AST, library: set[str]) -> bool:
    """``node`` is ``name.method(...)`` with ``name`` imported from or returned by the library."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in library
    )


@pytest.mark.parametrize("name", ALL_NOTEBOOKS)
def test_notebooks_import_only_the_public_api(name: str) -> None:
    """Notebooks use ``import analytics as ra`` (``analytics/__init__.py``), never a module
    inside the package."""
    for cell in _code_cells(name):
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "analytics", (
                    f"{name}: {ast.unparse(node)}"
                )
            if isinstance(node, ast.Import):
                for a in node.names:
                    assert not a.name.startswith("analytics."), f"{name}: {ast.unparse(node)}"


def test_public_api_names_used_by_the_notebooks_exist() -> None:
    import analytics as ra

    for attr in ("executive_report", "release_review", "setup_notebook", "render_report"):
        assert attr in ra.__all__ and callable(getattr(ra, attr))


@pytest.mark.parametrize("name", REPORT_NOTEBOOKS)
def test_report_notebook_alternates_heading_and_one_call(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS[name], as_version=4)
    cells = nb.cells
    heads = [i for i, c in enumerate(cells) if c.cell_type == "markdown"]
    assert heads, name
    for i in heads:
        assert cells[i].source.startswith("## "), f"{name}: a section starts with a heading"
        nxt = cells[i + 1]
        assert nxt.cell_type == "code", name
        body = ast.parse(nxt.source).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr), (
            f"{name}: the section '{cells[i].source}' must be one library call"
        )


@pytest.mark.parametrize("name", ALL_NOTEBOOKS)
def test_notebook_committed_without_outputs(name: str) -> None:
    for cell in _code_cells(name):
        assert cell.get("outputs") == [], f"{name}: strip outputs before committing"
        assert cell.get("execution_count") is None, f"{name}: clear execution counts"


@pytest.mark.parametrize(
    ("name", "injected"),
    [
        (
            "executive_monthly.ipynb",
            {"month", "data_dir", "as_of", "policy", "systems", "teams", "source_label"},
        ),
        (
            "post_release_review.ipynb",
            {"release_id", "data_dir", "as_of", "policy", "source_label"},
        ),
    ],
)
def test_parameters_cell_matches_what_the_command_injects(name: str, injected: set[str]) -> None:
    tree = ast.parse(_parameters_cell(name).source)
    names = set()
    for node in tree.body:
        assert isinstance(node, ast.Assign), f"{name}: the parameters cell only assigns"
        assert isinstance(node.value, ast.Constant), f"{name}: parameters are literals"
        names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    assert names == injected


def test_command_injects_those_parameters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``render_executive`` and ``render_post_release`` pass exactly the notebooks' parameters."""
    seen: dict[str, dict] = {}

    def fake_render(kind, parameters, out_dir, name, **kw):  # noqa: ANN001, ANN003, ANN202
        seen[kind] = dict(parameters)
        return None

    monkeypatch.setattr(reporting, "render", fake_render)
    reporting.render_executive(tmp_path, "2026-03", AS_OF, tmp_path)
    reporting.render_post_release(tmp_path, "r1", AS_OF, tmp_path)
    for kind, name in (("executive", REPORT_NOTEBOOKS[0]), ("post_release", REPORT_NOTEBOOKS[1])):
        tree = ast.parse(_parameters_cell(name).source)
        names = {t.id for node in tree.body for t in node.targets}
        assert set(seen[kind]) == names


def test_render_report_runs_the_command_of_its_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``render_report`` (the public API) renders what ``analytics report executive`` and
    ``post-release`` render; a kind without its parameter is a ``DataError``."""
    seen: list[tuple[str, dict]] = []

    def fake_render(kind, parameters, out_dir, name, **kw):  # noqa: ANN001, ANN003, ANN202
        seen.append((kind, dict(parameters)))
        return None

    monkeypatch.setattr(reporting, "render", fake_render)
    reporting.render_report("executive", tmp_path, AS_OF, tmp_path, month="2026-03")
    reporting.render_report("post_release", tmp_path, AS_OF, tmp_path, release_id="r1")
    assert [(k, p.get("month"), p.get("release_id")) for k, p in seen] == [
        ("executive", "2026-03", None),
        ("post_release", None, "r1"),
    ]
    for kind, kw in (("executive", {}), ("post_release", {"month": "2026-03"}), ("x", {})):
        with pytest.raises(reporting.DataError):
            reporting.render_report(kind, tmp_path, AS_OF, tmp_path, **kw)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small generated dataset and the three notebooks with papermill's injected parameters
    (prepared, not executed: nbval executes them)."""
    root = tmp_path_factory.mktemp("nbval")
    data = root / "data"
    generate_sample(data, **SMALL)
    params = {
        "executive_monthly.ipynb": {
            "month": MONTH,
            "data_dir": str(data),
            "as_of": AS_OF,
            "policy": None,
            "systems": None,
            "teams": None,
            "source_label": None,
        },
        "post_release_review.ipynb": {
            "release_id": RELEASE,
            "data_dir": str(data),
            "as_of": AS_OF,
            "policy": None,
            "source_label": None,
        },
        "explore_release_history.ipynb": {"data_dir": str(data), "as_of": AS_OF, "month": MONTH},
    }
    out = {}
    for name, p in params.items():
        target = root / name
        papermill.execute_notebook(
            str(NOTEBOOKS[name]),
            str(target),
            parameters=p,
            prepare_only=True,
            progress_bar=False,
            kernel_name="python3",
        )
        out[name] = target
    return out


def test_papermill_injects_after_the_parameters_cell(prepared: dict[str, Path]) -> None:
    nb = nbformat.read(prepared["executive_monthly.ipynb"], as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    at = next(i for i, t in enumerate(tags) if "parameters" in t)
    assert "injected-parameters" in tags[at + 1]


def test_nbval_lax_runs_every_notebook(prepared: dict[str, Path]) -> None:
    """nbval executes every cell of the three notebooks in a fresh kernel (lax: outputs are not
    compared, errors fail)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(prepared["executive_monthly.ipynb"].parent),
            *[str(p) for p in prepared.values()],
        ],
        capture_output=True,
        text=True,
        cwd=prepared["executive_monthly.ipynb"].parent,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
