"""MLflow runs -> ``evidence`` (and ``gates``), read with MLflow's own client (docs/mapping.md).

``--from`` is a tracking URI (``sqlite:///path/mlflow.db``), an SQLite store file, or a file
store folder (``mlruns/``; MLflow keeps that backend in maintenance mode, so it is opened with
``MLFLOW_ALLOW_FILE_STORE=true``). A store that does not exist is never created.

Each run of the mapping's experiments (all when none are named) is matched against the
mapping's evidence ``items`` by its tags. A finished run (``FINISHED``) with the release tag gives
one ``evidence`` row per matching item: status ``present``, ``uri`` ``runs:/<run_id>``, the
approver from ``approved_by_tag`` when set. An item with ``metric``, ``threshold`` and ``gate``
also gives a ``gates`` row: the run's metric against the threshold (``at_least``: value >=
threshold passes; ``at_most``: value <= threshold), evaluated at the run's end. Of several runs for
one release and item, the latest (by end time) is kept; the others are duplicates.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from analytics.core.errors import DataError
from analytics.importers.fields import utc_text
from analytics.importers.mapping import EvidenceItem, MlflowSource
from analytics.importers.records import Location, Parsed, Problem, Record

SQLITE_MAGIC = b"SQLite format 3\x00"
FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"


def _sqlite_file(path: Path, given: str) -> None:
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise DataError(f"MLflow store {given}: cannot be read ({exc.strerror or exc})") from exc
    if head != SQLITE_MAGIC:
        raise DataError(f"MLflow store {given}: not an SQLite database (not an MLflow store)")


def tracking_uri(given: str) -> tuple[str, bool]:
    """The tracking URI for ``given`` and whether it is a file store."""
    if given.startswith("sqlite:"):
        path = Path(given.removeprefix("sqlite:///"))
        if not path.is_file():
            raise DataError(f"MLflow store {given}: the database file {path} does not exist")
        _sqlite_file(path, given)
        return given, False
    if "://" in given and not given.startswith("file:"):
        raise DataError(f"MLflow store {given}: only local stores (sqlite:///, a folder) are read")
    path = Path(urlparse(given).path) if given.startswith("file:") else Path(given)
    if path.is_file():
        _sqlite_file(path, given)
        return f"sqlite:///{path.resolve()}", False
    if path.is_dir():
        return path.resolve().as_uri(), True
    raise DataError(f"MLflow store {given}: no such file or folder")


@contextmanager
def _file_store_allowed(needed: bool):
    before = os.environ.get(FILE_STORE_ENV)
    if needed:
        os.environ[FILE_STORE_ENV] = "true"
    try:
        yield
    finally:
        if needed and before is None:
            os.environ.pop(FILE_STORE_ENV, None)
        elif needed:
            os.environ[FILE_STORE_ENV] = before or ""


def _search(uri: str, sec: MlflowSource, given: str) -> list[tuple[str, Any]]:
    """(experiment name, run) for every active run of the mapping's experiments."""
    try:
        from mlflow.entities import ViewType
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise DataError(
            "importing MLflow runs needs MLflow: pip install 'ai-release-analytics[mlflow]' "
            f"({exc})"
        ) from exc

    try:
        client = MlflowClient(tracking_uri=uri)
        if sec.experiments:
            experiments = []
            for name in sec.experiments:
                found = client.get_experiment_by_name(name)
                if found is None:
                    raise DataError(
                        f"MLflow store {given}: no experiment {name!r} (key 'mlflow.experiments')"
                    )
                experiments.append(found)
        else:
            experiments = client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
        names = {e.experiment_id: e.name for e in experiments}
        runs: list[tuple[str, Any]] = []
        token = None
        while names:
            page = client.search_runs(
                list(names),
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=1000,
                order_by=["attributes.start_time ASC"],
                page_token=token,
            )
            runs += [(names[r.info.experiment_id], r) for r in page]
            token = page.token
            if not token:
                break
        return runs
    except MlflowException as exc:
        raise DataError(f"MLflow store {given}: cannot be read ({exc.message})") from exc
    except Exception as exc:  # noqa: BLE001 - a database driver error names no MLflow class
        if isinstance(exc, DataError):
            raise
        what = f"{type(exc).__name__}: {exc}"
        raise DataError(f"MLflow store {given}: cannot be read ({what})") from exc


def _rows(run: Any, item: EvidenceItem, sec: MlflowSource, release: str):
    tags = run.data.tags
    evidence = {
        "release_id": release,
        "item": item.item,
        "status": "present",
        "approved_by": tags.get(sec.approved_by_tag, "") if sec.approved_by_tag else "",
        "uri": f"runs:/{run.info.run_id}",
    }
    if item.gate is None or item.metric is None or item.threshold is None:
        return evidence, None
    value = run.data.metrics.get(item.metric)
    if value is None:
        raise Problem("missing_value", f"metric {item.metric!r} (item {item.item!r}) not logged")
    ok = value >= item.threshold if item.direction == "at_least" else value <= item.threshold
    gate = {
        "release_id": release,
        "gate": item.gate,
        "result": "pass" if ok else "fail",
        "evaluated_at": utc_text(run.info.end_time)[0] or "",
        "metric": item.metric,
        "value": repr(float(value)),
        "threshold": repr(float(item.threshold)),
    }
    return evidence, gate


def _record(run: Any, experiment: str, sec: MlflowSource, store: str) -> Record:
    where = Location(store, position=f"experiment '{experiment}'", record_id=run.info.run_id)
    tags = run.data.tags
    items = [i for i in sec.items if all(tags.get(k) == v for k, v in i.tags.items())]
    if not items:
        raise Problem("no_item", "the run's tags match no evidence item of the mapping")
    if run.info.status != "FINISHED":
        raise Problem("run_not_finished", f"run status {run.info.status}: not evidence yet")
    release = (tags.get(sec.release_tag) or "").strip()
    if not release:
        raise Problem("missing_value", f"release_id: tag {sec.release_tag!r} is missing or empty")
    rows: dict[str, list[dict[str, str]]] = {"evidence": []}
    for item in items:
        evidence, gate = _rows(run, item, sec, release)
        rows["evidence"].append(evidence)
        if gate is not None:
            rows.setdefault("gates", []).append(gate)
    return Record(where, rows)


def _digest(runs: list[tuple[str, Any]]) -> str:
    facts = sorted(
        (
            r.info.run_id,
            r.info.status,
            r.info.end_time,
            sorted(r.data.tags.items()),
            sorted(r.data.metrics.items()),
        )
        for _, r in runs
    )
    return hashlib.sha256(json.dumps(facts, default=str).encode()).hexdigest()


def read_mlflow(given: str, sec: MlflowSource) -> Parsed:
    uri, file_store = tracking_uri(given)
    with _file_store_allowed(file_store):
        runs = _search(uri, sec, given)
    store = Path(urlparse(uri).path).name or given
    parsed = Parsed("mlflow", store, _digest(runs), ("evidence", "gates"))
    found = []
    for experiment, run in runs:
        try:
            record = _record(run, experiment, sec, store)
            latest_first = -(run.info.end_time or 0)
            found.append((record.key()[1], latest_first, run.info.run_id, record))
        except Problem as p:
            position = f"experiment '{experiment}'"
            where = Location(store, position=position, record_id=run.info.run_id)
            parsed.reject(where, p.reason, p.message)
    parsed.records = [t[3] for t in sorted(found, key=lambda t: t[:3])]
    return parsed
