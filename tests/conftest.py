"""Shared test helpers: build small datasets in a temporary folder."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny"
VERSIONS = ("model", "inference_config", "prompt", "tools", "safety_policy", "routing", "eval_set")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``analytics ARGS`` in a new interpreter (as a pipeline runs it), output captured."""
    return subprocess.run(
        [sys.executable, "-m", "analytics.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=900,
        check=False,
    )


def write_table(
    folder: Path,
    name: str,
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str] | None = None,
) -> Path:
    """Write rows as ``folder/name.csv`` (columns from the first row unless given)."""
    folder.mkdir(parents=True, exist_ok=True)
    cols = list(columns or (rows[0].keys() if rows else []))
    path = folder / f"{name}.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({c: "" if r.get(c) is None else r.get(c) for c in cols})
    return path


def release(rid: str, system: str, at: str, tier: str = "low", **versions: str) -> dict:
    """A release row; versions default to v1 for every component, override with model="m2"."""
    row = {"release_id": rid, "system": system, "released_at": at, "risk_tier": tier}
    for comp in VERSIONS:
        row[f"{comp}_version"] = versions.get(comp, "v1")
    row["change_requested_at"] = versions.get("requested", "")
    return row


def incident(iid: str, system: str, detected: str, category: str = "quality", **kw: str) -> dict:
    row = {
        "incident_id": iid,
        "system": system,
        "detected_at": detected,
        "severity": "sev2",
        "category": category,
        "release_id": "",
        "started_at": "",
        "mitigated_at": "",
        "mitigation": "",
        "detection_source": "alert",
    }
    row.update(kw)
    return row


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    """A fresh copy of the tiny worked example (tests/data/tiny)."""
    dest = tmp_path / "tiny"
    shutil.copytree(TINY, dest)
    return dest


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default sample dataset (seed 7), generated once per test session."""
    from analytics.sample.generate import generate_sample

    out = tmp_path_factory.mktemp("sample")
    generate_sample(out)
    return out


@pytest.fixture(scope="session")
def postgres():
    """A running throw-away PostgreSQL server (tests/pg_server.py), stopped after the session.
    Skips when Debian's binaries are missing, unless ANALYTICS_REQUIRE_POSTGRES is set."""
    import os

    from pg_server import REQUIRE_ENV, start_server

    server = start_server()
    if server is None:
        message = "no PostgreSQL binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{message}, and {REQUIRE_ENV} is set")
        pytest.skip(message)
    yield server
    server.stop()
