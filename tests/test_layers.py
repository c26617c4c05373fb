"""The package's layers: a module imports only from its own layer or the layers below it, so the
folder listing shows the architecture (README "Layout"). ``analytics/__init__.py`` (the public
API) and ``analytics/sections.py`` sit on top and may import anything."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "analytics"
# Lowest first.
LAYERS = [
    "core",
    "stats",
    "data",
    "importers",
    "comparison",
    "metrics",
    "governance",
    "decisions",
    "analysis",
    "report",
    "sample",
    "cli",
]
TOP = {"__init__", "sections"}


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "analytics":
                out += [(node.lineno, f"analytics.{a.name}") for a in node.names]
            elif node.module.startswith("analytics."):
                out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("analytics")]
    return out


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_module_is_in_a_layer() -> None:
    loose = [
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if p.parent == PACKAGE and p.stem not in TOP
    ]
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert loose == []
    assert folders - set(LAYERS) == set()


def test_imports_point_down() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) == 1:
            continue
        own = LAYERS.index(rel.parts[0])
        for line, module in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            target = _layer(module)
            if target is None or target not in LAYERS or LAYERS.index(target) > own:
                upward.append(f"{rel}:{line} imports {module}")
    assert upward == []


def test_the_checker_sees_an_upward_import() -> None:
    tree = ast.parse("from analytics.report import charts\nimport analytics.cli.main\n")
    assert _imported(tree) == [(1, "analytics.report"), (2, "analytics.cli.main")]
    assert LAYERS.index(_layer("analytics.report")) > LAYERS.index("metrics")
