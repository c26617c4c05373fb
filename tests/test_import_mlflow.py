"""``analytics import mlflow``: runs of a real local MLflow tracking store (SQLite, made here with
MLflow's own API) -> evidence and gates."""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_import_mapping import counts, loads_clean, run_import, snapshot


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


# (release tag, eval_kind, metrics, status, end time); None leaves the tag out.
RUNS = [
    ("support-2026.10.01", "offline", {"accuracy": 0.93}, "FINISHED", "2026-09-30T12:00:00"),
    ("support-2026.10.01", "safety", {"violation_rate": 0.002}, "FINISHED", "2026-09-30T13:00:00"),
    ("support-2026.10.02", "offline", {"accuracy": 0.80}, "FINISHED", "2026-10-06T12:00:00"),
    ("support-2026.10.02", "offline", {"accuracy": 0.85}, "FINISHED", "2026-10-07T12:00:00"),
    (None, "offline", {"accuracy": 0.95}, "FINISHED", "2026-10-07T13:00:00"),
    ("support-2026.10.06", "offline", {"accuracy": 0.97}, "FAILED", "2026-10-25T12:00:00"),
    ("support-2026.10.06", "training", {"loss": 0.1}, "FINISHED", "2026-10-25T13:00:00"),
    ("support-2026.10.06", "offline", {}, "FINISHED", "2026-10-26T12:00:00"),
]


def make_store(folder: Path, runs=RUNS) -> str:
    """An SQLite MLflow store with the experiment ``support-evals``; returns its URI."""
    from mlflow.tracking import MlflowClient

    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment(
        "support-evals", artifact_location=(folder / "artifacts").as_uri()
    )
    client.create_experiment("scratch", artifact_location=(folder / "scratch").as_uri())
    for release, kind, metrics, status, end in runs:
        tags = {"eval_kind": kind, "approver": "eval-lead"}
        if release is not None:
            tags["release_id"] = release
        run = client.create_run(experiment, start_time=_ms(end) - 600_000, tags=tags)
        for key, value in metrics.items():
            client.log_metric(run.info.run_id, key, value, timestamp=_ms(end), step=0)
        client.set_terminated(run.info.run_id, status=status, end_time=_ms(end))
    return uri


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_store(tmp_path_factory.mktemp("mlflow"))


def _table(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / f"{name}.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_exact_counts_rows_and_rejections(store: str, tmp_path: Path, capsys) -> None:
    into = tmp_path / "ds"
    code, report, _ = run_import(capsys, "mlflow", store, into)
    assert code == 0
    # 8 runs: 3 give evidence, 4 are rejected, 1 is an older run for the same release and item
    assert counts(report) == (8, 3, 4, 1)
    assert report["rows_written"] == {"evidence": 3, "gates": 3}
    assert report["rejected_by_reason"] == {
        "missing_value": 2,  # no release tag; no accuracy metric logged
        "no_item": 1,  # a training run
        "run_not_finished": 1,
    }
    assert all(r["file"] == "mlflow.db" and r["id"] for r in report["rejected"])
    evidence = _table(into, "evidence")
    assert [(e["release_id"], e["item"], e["status"]) for e in evidence] == [
        ("support-2026.10.01", "offline_eval", "present"),
        ("support-2026.10.01", "safety_eval", "present"),
        ("support-2026.10.02", "offline_eval", "present"),
    ]
    assert all(e["uri"].startswith("runs:/") and len(e["uri"]) == 38 for e in evidence)
    gates = _table(into, "gates")
    assert [(g["gate"], g["result"], g["value"], g["threshold"]) for g in gates] == [
        ("functional", "pass", "0.93", "0.9"),
        ("safety", "pass", "0.002", "0.01"),
        ("functional", "fail", "0.85", "0.9"),  # the latest run for 10.02 counts
    ]
    assert gates[2]["evaluated_at"] == "2026-10-07T12:00:00Z"
    loads_clean(into)  # evidence of releases not in the folder: findings, not errors
    before = snapshot(into)
    code, report, _ = run_import(capsys, "mlflow", store, into)
    assert code == 0 and counts(report) == (8, 0, 4, 4) and snapshot(into) == before


def test_a_store_must_exist_and_be_an_mlflow_store(store: str, tmp_path: Path, capsys) -> None:
    into = tmp_path / "ds"
    nowhere = tmp_path / "nowhere.db"
    code, _, err = run_import(capsys, "mlflow", f"sqlite:///{nowhere}", into)
    assert code == 2 and "does not exist" in err and not nowhere.exists()
    text = tmp_path / "notes.db"
    text.write_text("not a database\n", encoding="utf-8")
    code, _, err = run_import(capsys, "mlflow", str(text), into)
    assert code == 2 and "not an SQLite database" in err
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "version: 1\nmlflow: {experiments: [nightly], items: [{item: offline_eval}]}\n",
        encoding="utf-8",
    )
    code, _, err = run_import(capsys, "mlflow", store, into, mapping)
    assert code == 2 and "no experiment 'nightly'" in err and "mlflow.experiments" in err


def test_a_file_store_folder_is_read_too(tmp_path: Path, capsys, monkeypatch) -> None:
    from mlflow.tracking import MlflowClient

    folder = tmp_path / "mlruns"
    with monkeypatch.context() as env:
        env.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        client = MlflowClient(tracking_uri=folder.as_uri())
        experiment = client.create_experiment("support-evals")
        run = client.create_run(experiment, tags={"release_id": "r-1", "eval_kind": "offline"})
        client.log_metric(run.info.run_id, "accuracy", 0.95)
        client.set_terminated(run.info.run_id)
    code, report, _ = run_import(capsys, "mlflow", folder, tmp_path / "ds")
    assert code == 0 and counts(report) == (1, 1, 0, 0)
    assert _table(tmp_path / "ds", "gates")[0]["result"] == "pass"
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # the import restores the environment
