"""The package works once installed: build the wheel, install it into a fresh virtual environment
outside the checkout and render both reports from there.

The wheel is built from a copy of the files a build reads (``pyproject.toml``, ``README.md``,
``analytics/``), so nothing is written into the checkout. The fresh environment gets the
dependencies without a download: a ``.pth`` file in its site-packages names the site-packages of
the environment running the tests (found from this interpreter, not hard-coded), and nbconvert's
templates, data files a real install would put under the fresh prefix, are linked there. Folders
added through a ``.pth`` file do not have their own ``.pth`` files processed, so the checkout's
editable install stays out; ``PYTHONPATH`` is removed and every command runs from a temporary
folder, so the only ``analytics`` the fresh interpreter (and the report kernel it starts) can
import is the wheel's.
"""

from __future__ import annotations

import ast
import csv
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIST_NAME = "ai-release-analytics"
MONTH = "2026-10"  # the sample data's last month
AS_OF = "2026-11-15T00:00:00Z"  # as in the Makefile
CASES_PER_DAY = "20"
TIMEOUT_S = 300


def _run(cmd: list[str], *, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def _source_copy(dest: Path) -> Path:
    """The files a wheel build reads, copied without caches or build leftovers."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(
        ROOT / "analytics",
        dest / "analytics",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints"),
    )
    return dest


def _offline_backend(env: dict[str, str], cwd: Path) -> bool:
    """Whether the running environment's setuptools can build a wheel by itself (setuptools >=
    70.1 has ``bdist_wheel``; older needs the ``wheel`` package). Then the build needs no
    network; otherwise pip builds in isolation and fetches ``[build-system] requires``."""
    probe = (
        "import importlib.util as u, setuptools\n"
        "ok = u.find_spec('setuptools.command.bdist_wheel') or u.find_spec('wheel.bdist_wheel')\n"
        "raise SystemExit(0 if ok else 1)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=cwd, capture_output=True, timeout=60
    )
    return proc.returncode == 0


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Build the wheel, create the fresh environment, install the wheel with ``--no-deps``."""
    started = time.perf_counter()
    root = tmp_path_factory.mktemp("wheel")
    assert not root.resolve().is_relative_to(ROOT), "the temporary folder must be outside"
    work = root / "cwd"
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
        and not k.startswith("JUPYTER")
    }

    src = _source_copy(root / "src")
    dist = root / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)]
    offline = _offline_backend(env, work)
    if offline:
        build.insert(5, "--no-build-isolation")
    _run(build, env=env, cwd=work)
    wheels = list(dist.glob("ai_release_analytics-*-py3-none-any.whl"))
    assert len(wheels) == 1, list(dist.iterdir())

    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=env, cwd=work)
    python = venv / "bin" / "python"
    fresh_site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            env=env,
            cwd=work,
        ).stdout.strip()
    )
    deps_site = Path(sysconfig.get_paths()["purelib"])  # of the environment running the tests
    assert deps_site.resolve() != fresh_site.resolve()
    (fresh_site / "_test_dependencies.pth").write_text(f"{deps_site}\n")
    # A real install of nbconvert puts its templates under <prefix>/share/jupyter; link them (and
    # only them: the kernel spec must stay the fresh interpreter's own).
    templates = Path(sys.prefix) / "share" / "jupyter" / "nbconvert"
    assert (templates / "templates" / "lab").is_dir(), templates
    (venv / "share" / "jupyter").mkdir(parents=True)
    (venv / "share" / "jupyter" / "nbconvert").symlink_to(templates, target_is_directory=True)
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
        + [str(wheels[0])],
        env=env,
        cwd=work,
    )
    run_env = {**env, "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"}
    return {
        "wheel": wheels[0],
        "venv": venv,
        "python": python,
        "analytics": venv / "bin" / "analytics",
        "env": run_env,
        "cwd": work,
        "offline": offline,
        "setup_s": time.perf_counter() - started,
    }


def test_wheel_holds_the_package_data(installed: dict[str, object]) -> None:
    with zipfile.ZipFile(installed["wheel"]) as whl:  # type: ignore[arg-type]
        names = set(whl.namelist())
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = whl.read(meta).decode()
    for data in (
        "analytics/core/default_policy.yaml",
        "analytics/metrics/dora_benchmarks.yaml",
        "analytics/notebooks/executive_monthly.ipynb",
        "analytics/notebooks/post_release_review.ipynb",
        "analytics/report/charts/vendor/plotly-basic.min.js",
    ):
        assert data in names
    assert not any(n.startswith(("tests/", "notebooks/", "benchmarks/")) for n in names)
    assert f"Name: {DIST_NAME}\n" in metadata
    requires = {
        _dist_key(line.split(":", 1)[1])
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    }
    assert requires == _declared()


def _dist_key(requirement: str) -> str:
    """``"PyYAML>=6; extra == 'x'"`` -> ``"pyyaml"`` (PEP 503 normalised name)."""
    name = re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for reqs in project.get("optional-dependencies", {}).values() for r in reqs]
    return {_dist_key(r) for r in (*project["dependencies"], *extras)}


def test_every_third_party_import_is_declared() -> None:
    """Every top-level module that ``analytics/`` imports is the standard library, ``analytics``
    itself, or provided by a distribution declared in pyproject (dependencies or an extra)."""
    imported: set[str] = set()
    for path in (ROOT / "analytics").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"analytics"}
    providers = importlib.metadata.packages_distributions()
    undeclared = {
        module: providers.get(module)
        for module in third_party
        if not {_dist_key(d) for d in providers.get(module, [])} & _declared()
    }
    assert undeclared == {}
    assert {"polars", "jinja2", "nbconvert", "papermill", "yaml", "pyspark"} <= third_party


def test_installed_package_is_the_wheel(installed: dict[str, object]) -> None:
    """``analytics``, its notebooks and the report kernel all come from the fresh environment."""
    probe = (
        "import json, importlib.metadata as md, importlib.resources as r, analytics\n"
        "from jupyter_client.kernelspec import KernelSpecManager\n"
        "nb = r.files('analytics').joinpath('notebooks', 'executive_monthly.ipynb')\n"
        "print(json.dumps({'file': analytics.__file__, 'version': md.version("
        f"'{DIST_NAME}'), 'notebook': str(nb), 'is_file': nb.is_file(), "
        "'kernel': KernelSpecManager().get_kernel_spec('python3').argv[0]}))"
    )
    proc = _run(
        [str(installed["python"]), "-c", probe],
        env=installed["env"],  # type: ignore[arg-type]
        cwd=installed["cwd"],  # type: ignore[arg-type]
    )
    found = json.loads(proc.stdout)
    venv = Path(installed["venv"]).resolve()  # type: ignore[arg-type]
    assert Path(found["file"]).resolve().is_relative_to(venv), found
    assert not Path(found["file"]).resolve().is_relative_to(ROOT)
    assert Path(found["notebook"]).resolve().is_relative_to(venv), found
    assert found["is_file"] is True
    assert found["version"] == "0.1.0"
    # the kernel papermill starts is the fresh interpreter, not the one running the tests
    assert Path(found["kernel"]) == Path(installed["python"]), found  # type: ignore[arg-type]


def test_installed_cli_renders_both_reports(installed: dict[str, object]) -> None:
    env: dict[str, str] = installed["env"]  # type: ignore[assignment]
    cwd: Path = installed["cwd"]  # type: ignore[assignment]
    cli = str(installed["analytics"])
    started = time.perf_counter()
    data, out = cwd / "data", cwd / "reports"
    _run(
        [cli, "sample-data", "--out", str(data), "--cases-per-day", CASES_PER_DAY], env=env, cwd=cwd
    )
    with (data / "releases.csv").open(newline="") as fh:
        release = next(r["release_id"] for r in csv.DictReader(fh) if r["released_at"][:7] == MONTH)

    executive = _run(
        [cli, "report", "executive", "--data", str(data), "--month", MONTH, "--as-of", AS_OF]
        + ["--out", str(out)],
        env=env,
        cwd=cwd,
    )
    review = _run(
        [cli, "report", "post-release", "--data", str(data), "--release", release]
        + ["--as-of", AS_OF, "--out", str(out)],
        env=env,
        cwd=cwd,
    )
    exec_html = out / f"executive_{MONTH}_asof-20261115T000000Z.html"
    review_html = out / f"post_release_{release}_asof-20261115T000000Z.html"
    assert sorted(p.name for p in out.iterdir()) == sorted([exec_html.name, review_html.name])
    assert str(exec_html) in executive.stdout and str(review_html) in review.stdout
    exec_text = exec_html.read_text(encoding="utf-8")
    review_text = review_html.read_text(encoding="utf-8")
    assert "AI release report: October 2026" in exec_text
    assert f"Post-release review: <code>{release}</code>" in review_text
    for text in (exec_text, review_text):
        assert 'data-section="reproducibility"' in text
        assert "Traceback" not in text
    print(
        f"wheel test: build+venv+install {installed['setup_s']:.1f} s "
        f"({'offline build' if installed['offline'] else 'isolated build'}), "
        f"sample data + two reports {time.perf_counter() - started:.1f} s"
    )
