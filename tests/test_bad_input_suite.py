"""The bad-input suite: every generated mutation (tests/badinput.py) run through every command that
reads it, in process (``analytics.cli.main.main``), asserting the exit code, that no output holds a
traceback, that an internal error (exit 3) never passes, that errors name table / file / key and
line, and that findings are located and the valid rows still counted. A few runs go through the
real entry point in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import pytest
from badinput import AS_OF, CASES_PER_DAY, MONTH, MONTHS, SEED, START, Expect, all_mutations

from analytics.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
MUTATIONS = all_mutations()
RUN_TIMEOUT_S = 120


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from analytics.sample.generate import generate_sample

    out = tmp_path_factory.mktemp("badinput-base")
    generate_sample(out, seed=SEED, cases_per_day=CASES_PER_DAY, start=START, months=MONTHS)
    (out / "truth.json").unlink()
    return out


@pytest.fixture(scope="session")
def base_quality(base_dir: Path) -> dict[str, Any]:
    from analytics.data.io import load_dataset

    ds = load_dataset(base_dir)
    return {"tables": sorted(ds.present), **ds.quality.to_dict()}


def run_in_process(argv: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``main(argv)`` in a thread (a reader blocking on a pipe fails instead of hanging), with
    the exit code of ``SystemExit`` (argparse) and any escaping exception as a traceback."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["rc"] = main(argv)
        except SystemExit as exc:
            result["rc"] = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except BaseException:  # noqa: BLE001 - reported as the traceback it would print
            result["rc"] = 1
            result["tb"] = traceback.format_exc()

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(RUN_TIMEOUT_S)
    out, err = capfd.readouterr()
    if worker.is_alive():
        return -1, out, err + f"\n(blocked: no answer within {RUN_TIMEOUT_S} s)"
    return int(result["rc"]), out, err + result.get("tb", "")


def run_subprocess(argv: list[str]) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(DEBUG_ENV, None)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "analytics.cli.main", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return -1, "", f"(blocked: no answer within {RUN_TIMEOUT_S} s)"
    return proc.returncode, proc.stdout, proc.stderr


DEBUG_ENV = "ANALYTICS_DEBUG"


def argv_for(command: str, data: Path, expect: Expect, out_dir: Path) -> list[str]:
    rid = expect.release or "rel-0001"
    base = {
        "validate": ["validate", "--data", str(data), "--format", "json"],
        "kpis": [
            "kpis",
            "--data",
            str(data),
            "--month",
            MONTH,
            "--as-of",
            AS_OF,
            "--format",
            "json",
        ],
        "releases": ["releases", "--data", str(data), "--as-of", AS_OF, "--format", "json"],
        "gate": ["gate", "--data", str(data), "--release", rid, "--format", "json"],
        "judge": [
            "judge",
            "--data",
            str(data),
            "--release",
            rid,
            "--as-of",
            AS_OF,
            "--format",
            "json",
        ],
        "report": [
            "report",
            "post-release",
            "--data",
            str(data),
            "--release",
            rid,
            "--as-of",
            AS_OF,
            "--out",
            str(out_dir),
        ],
    }[command]
    return base + list(expect.argv.get(command, ()))  # argparse keeps the last of an option


def _key(f: dict[str, Any]) -> tuple:
    return (f["table"], f["code"], f.get("file"), f["row"], f["line"], f["column"])


def _matches(f: dict[str, Any], expect: Expect) -> bool:
    want = {
        "table": expect.table,
        "column": expect.column,
        "line": expect.line,
        "row": expect.row,
        "file": expect.file,
        "code": expect.code,
    }
    return all(f.get(k) == v for k, v in want.items() if v is not None)


def check_validate_json(out: str, expect: Expect, base: dict[str, Any]) -> list[str]:
    """The finding is there and located; totals reconcile; valid rows still counted."""
    problems: list[str] = []
    try:
        report = json.loads(out)
    except json.JSONDecodeError as exc:
        return [f"validate --format json printed no JSON ({exc})"]
    findings = report["errors"] + report["warnings"]
    base_keys = {_key(f) for f in base["errors"] + base["warnings"]}
    new = [f for f in findings if _key(f) not in base_keys]
    if expect.outcome == "finding" and not any(_matches(f, expect) for f in new):
        want = {
            k: v
            for k, v in (
                ("table", expect.table),
                ("column", expect.column),
                ("line", expect.line),
                ("row", expect.row),
                ("file", expect.file),
                ("code", expect.code),
            )
            if v is not None
        }
        problems.append(f"no finding {want}; new findings: {new}")
    if expect.outcome == "ok" and new:
        problems.append(f"valid input gave findings: {new}")
    for table, read in report["rows_read"].items():
        loaded = report["rows_loaded"].get(table, 0)
        excluded = sum(report["rows_excluded"].get(table, {}).values())
        if read != loaded + excluded:
            problems.append(f"{table}: rows_read {read} != loaded {loaded} + excluded {excluded}")
        d_read, d_loaded = expect.rows.get(table, (0, 0))
        if (read, loaded) != (
            base["rows_read"][table] + d_read,
            base["rows_loaded"][table] + d_loaded,
        ):
            problems.append(
                f"{table}: read/loaded {read}/{loaded}, expected "
                f"{base['rows_read'][table] + d_read}/{base['rows_loaded'][table] + d_loaded}"
            )
    if set(report["tables"]) != set(base["tables"]):
        problems.append(f"tables {report['tables']} != {base['tables']}")
    return problems


def check_run(
    command: str, rc: int, out: str, err: str, expect: Expect, base: dict[str, Any]
) -> list[str]:
    problems: list[str] = []
    if "Traceback" in out or "Traceback" in err:
        problems.append("traceback printed")
    if rc == 3 or "internal error" in err:
        problems.append(f"internal error (exit {rc}): {err.strip()[-300:]}")
    if rc == -1:
        problems.append(err.strip().splitlines()[-1])
        return problems
    if command in expect.exits:
        code, needles = expect.exits[command]
        allowed = {code}
    elif expect.outcome == "error":
        code, needles, allowed = 2, expect.needles, {2}
    else:
        needles = ()
        allowed = {"gate": {0, 1}, "judge": {0, 1, 2}}.get(command, {0})
        code = min(allowed)
    if rc not in allowed:
        problems.append(f"exit {rc}, expected {sorted(allowed)}; stderr: {err.strip()[-400:]!r}")
    elif code == 2 and expect.outcome == "error" or command in expect.exits:
        # an error is on stderr; an answer (gate / judge) may give its reason on stdout
        text = err if command not in expect.exits else out + err
        missing = [n for n in needles if n.lower() not in text.lower()]
        if missing:
            problems.append(f"message lacks {missing}: {err.strip()[-400:]!r}")
    if command == "validate" and expect.outcome != "error" and rc == 0:
        problems += check_validate_json(out, expect, base)
    if command in ("kpis", "releases") and expect.outcome != "error" and rc == 0:
        try:
            json.loads(out)
        except json.JSONDecodeError as exc:
            problems.append(f"no JSON ({exc})")
    return problems


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_mutation(mutation, base_dir, base_quality, tmp_path, capfd) -> None:
    data = tmp_path / "data"
    shutil.copytree(base_dir, data)
    expect = mutation.apply(data)
    capfd.readouterr()
    problems: list[str] = []
    for command in expect.commands:
        argv = argv_for(command, data, expect, tmp_path / "reports")
        if expect.subprocess:
            rc, out, err = run_subprocess(argv)
        else:
            rc, out, err = run_in_process(argv, capfd)
        problems += [
            f"{command}: {p}" for p in check_run(command, rc, out, err, expect, base_quality)
        ]
    assert not problems, f"[{mutation.kind}; owner {mutation.owner}]\n" + "\n".join(problems)


def test_base_dataset_is_read_cleanly(base_dir, base_quality, capfd) -> None:
    """The suite's baseline: the commands answer on the unmutated dataset, and the base has data
    in every table (so a mutation that loses a table or rows is seen)."""
    expect = Expect("ok", commands=("validate", "kpis", "releases", "gate", "judge"))
    for command in expect.commands:
        rc, out, err = run_in_process(argv_for(command, base_dir, expect, base_dir / "r"), capfd)
        assert not check_run(command, rc, out, err, expect, base_quality), (command, err)
    assert base_quality["tables"] == [
        "approvals",
        "evidence",
        "gates",
        "incidents",
        "operator_decisions",
        "releases",
        "rollout_stages",
        "telemetry",
    ]
    assert all(n > 0 for n in base_quality["rows_loaded"].values())


def test_every_class_of_bad_input_is_generated() -> None:
    kinds = {m.kind for m in MUTATIONS}
    assert {
        "policy types",
        "telemetry parquet disagreement",
        "corrupt parquet",
        "non-finite telemetry",
        "exact duplicates",
        "two files for one table",
        "symlinks and FIFOs",
        "CSV quoting",
        "encodings",
        "BOM / CRLF",
        "value",
        "duplicate ids",
        "orphan keys",
        "timestamps",
        "--as-of",
        "report --out",
    } <= kinds
    assert len(MUTATIONS) >= 80


# ---------------------------------------------------------------- the last resort (exit 3)


def test_unexpected_exception_exits_3_with_one_line(monkeypatch, tiny_dir, capfd) -> None:
    from analytics.cli import core

    def boom(args):  # noqa: ANN001, ANN202
        raise ZeroDivisionError("division by zero in a KPI")

    monkeypatch.setattr(core, "_validate", boom)
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    rc, out, err = run_in_process(["validate", "--data", str(tiny_dir)], capfd)
    assert rc == 3
    assert err.strip() == (
        "internal error: ZeroDivisionError: division by zero in a KPI "
        "(please report; set ANALYTICS_DEBUG=1 for the traceback)"
    )
    assert "Traceback" not in out + err
    monkeypatch.setenv(DEBUG_ENV, "1")
    rc, _, err = run_in_process(["validate", "--data", str(tiny_dir)], capfd)
    assert rc == 3
    assert "Traceback (most recent call last)" in err and "boom" in err
    assert err.strip().endswith("set ANALYTICS_DEBUG=1 for the traceback)")


def test_help_documents_exit_codes(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for line in ("0  success", "1  a negative answer", "2  invalid input", "3  internal error"):
        assert line in text
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "internal error" in readme and "ANALYTICS_DEBUG" in readme


def test_gate_help_documents_invalid_released_at(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["gate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "released_at is missing or invalid" in text and "exit 2" in text


# ---------------------------------------------------------------- the real entry point


def test_entry_point_exit_codes(base_dir, tmp_path) -> None:
    """Through ``python -m analytics.cli.main`` and the console script: a bad released_at stops the
    gate with exit 2 (never 1); --as-of out of range exits 2; an internal error exits 3."""
    from badinput import TARGET_LINE, set_cell

    data = tmp_path / "data"
    shutil.copytree(base_dir, data)
    rid = set_cell(data, "releases", TARGET_LINE, "released_at", "2026-01-20T10:00:00+25:00")[
        "release_id"
    ]
    rc, out, err = run_subprocess(["gate", "--data", str(data), "--release", rid])
    assert rc == 2, err
    assert err.startswith(f"error: table 'releases', line {TARGET_LINE}, id '{rid}', column ")
    assert "'released_at'" in err and "Traceback" not in out + err

    exe = Path(sys.executable).with_name("analytics")
    proc = subprocess.run(
        [str(exe), "judge", "--data", str(data), "--release", rid, "--as-of", "0001-01-01T00:00Z"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 2
    assert "argument --as-of: '0001-01-01T00:00Z' is out of range" in proc.stderr

    code = (
        "import sys; from analytics.cli import main as cli; from analytics.cli import core; "
        "core._validate = lambda args: {}['missing']; sys.exit(cli.main())"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "validate", "--data", str(data)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 3
    assert proc.stderr.startswith("internal error: KeyError: 'missing' (please report")
