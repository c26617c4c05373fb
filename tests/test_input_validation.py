"""Input validation at the boundary: telemetry files checked one by one against the contract,
non-finite and out-of-range telemetry values as findings (file and row named), exact duplicate
cases counted once, ambiguous or non-regular table files stopping the run, and CSV findings
at the physical line where their record starts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from conftest import release, write_table

import analytics as ra
from analytics.data.io import load_dataset
from analytics.data.rollup import rollup_telemetry

UTC_TS = pl.Datetime("us", "UTC")
ROOT = Path(__file__).resolve().parents[1]


def _cases(n: int, first: int = 1) -> pl.DataFrame:
    """``n`` clean cases of rel-1, one a minute from 2026-10-01; case k (from ``first``) has
    handling time 10k s, latency 100 + k ms, k * 100 tokens (Int64) and model cost k USD."""
    k = list(range(first, first + n))
    return pl.DataFrame(
        {
            "ts": [datetime(2026, 10, 1, tzinfo=UTC) + timedelta(minutes=i) for i in k],
            "release_id": ["rel-1"] * n,
            "system": ["support"] * n,
            "task_type": ["faq"] * n,
            "criticality": ["low"] * n,
            "language": ["en"] * n,
            "customer_segment": ["smb"] * n,
            "escalated": [False] * n,
            "reworked": [False] * n,
            "policy_violation": [False] * n,
            "refused": [False] * n,
            "handling_time_s": [10.0 * i for i in k],
            "latency_ms": [100.0 + i for i in k],
            "tokens": [100 * i for i in k],
            "model_cost_usd": [float(i) for i in k],
            "quality_score": [0.5] * n,
        }
    ).with_columns(pl.col("ts").cast(UTC_TS))


def _dataset(folder: Path, *parts: pl.DataFrame) -> Path:
    """releases.csv (rel-1) and ``telemetry/part-<i>.parquet`` for each frame."""
    write_table(folder, "releases", [release("rel-1", "support", "2026-09-30T00:00:00Z")])
    (folder / "telemetry").mkdir(parents=True)
    for i, part in enumerate(parts, start=1):
        part.write_parquet(folder / "telemetry" / f"part-{i}.parquet")
    return folder


def _set(frame: pl.DataFrame, column: str, rows: dict[int, object]) -> pl.DataFrame:
    """``frame`` with ``column`` replaced at the given 1-based rows."""
    values = frame[column].to_list()
    for row, value in rows.items():
        values[row - 1] = value
    return frame.with_columns(pl.Series(column, values, dtype=frame.schema[column]))


def _totals(ds: ra.Dataset) -> dict[str, float]:
    assert ds.telemetry is not None
    return (
        rollup_telemetry(ds.telemetry)
        .cases.select(pl.all().exclude(pl.String))
        .sum()
        .row(0, named=True)
    )


def _where(ds: ra.Dataset, code: str) -> list[tuple]:
    return [
        (f.file, f.row, f.line, f.column)
        for f in ds.quality.findings
        if f.code == code and f.table == "telemetry"
    ]


# ---------------------------------------------------------------- telemetry values


def test_non_finite_costs_are_findings_and_left_out(tmp_path: Path) -> None:
    # 1e999 is read as inf; rows 3 and 7 of part-1 have non-finite costs.
    part1 = _set(_cases(8), "model_cost_usd", {3: float("inf"), 7: float("1e999")})
    part2 = _set(_cases(4, first=9), "latency_ms", {2: float("-inf"), 4: float("nan")})
    ds = load_dataset(_dataset(tmp_path, part1, part2))
    assert _where(ds, "non_finite") == [
        ("telemetry/part-1.parquet", 3, None, "model_cost_usd"),
        ("telemetry/part-1.parquet", 7, None, "model_cost_usd"),
        ("telemetry/part-2.parquet", 2, None, "latency_ms"),
        ("telemetry/part-2.parquet", 4, None, "latency_ms"),
    ]
    assert "inf is not a finite number" in str(ds.quality.findings[0])
    assert "file 'telemetry/part-1.parquet', row 3" in str(ds.quality.findings[0])
    # rows kept, values left out and counted
    assert ds.quality.rows_read["telemetry"] == ds.quality.rows_loaded["telemetry"] == 12
    assert ds.quality.values_excluded["telemetry.model_cost_usd"] == 2
    assert ds.quality.values_excluded["telemetry.latency_ms"] == 2
    t = _totals(ds)
    assert t["n"] == 12
    assert t["model_cost_usd_n"] == 10
    assert t["model_cost_usd_sum"] == sum(range(1, 13)) - 3 - 7  # 68
    assert t["latency_ms_n"] == 10
    assert t["latency_ms_sum"] == sum(100.0 + k for k in range(1, 13)) - 110 - 112  # 1056
    assert t["handling_time_s_sum"] == 780.0  # untouched: 10 * (1 + ... + 12)


def test_out_of_range_values_are_findings(tmp_path: Path) -> None:
    part = _set(_cases(5), "handling_time_s", {2: -1.0})
    part = _set(part, "quality_score", {4: 1.5, 5: -0.25})
    part = _set(part, "tokens", {1: -100})
    ds = load_dataset(_dataset(tmp_path, part))
    assert sorted(_where(ds, "invalid_number")) == [
        ("telemetry/part-1.parquet", 1, None, "tokens"),
        ("telemetry/part-1.parquet", 2, None, "handling_time_s"),
        ("telemetry/part-1.parquet", 4, None, "quality_score"),
        ("telemetry/part-1.parquet", 5, None, "quality_score"),
    ]
    msg = next(f.message for f in ds.quality.findings if f.row == 4)
    assert msg == "1.5 is not a number >= 0 and <= 1; value left out, row kept"
    t = _totals(ds)
    assert (t["n"], t["quality_n"], t["tokens_n"], t["handling_time_s_n"]) == (5, 3, 4, 4)
    assert t["quality_score_sum"] == 1.5  # three valid 0.5 scores
    assert t["tokens_sum"] == 1400.0  # 200 + 300 + 400 + 500


def test_numeric_widths_are_harmonised_across_files(tmp_path: Path) -> None:
    # tokens Int64 in one file, Float64 in the next, Float32 latency and Int32 cost in a third;
    # quality_score (optional) missing from the third.
    part2 = _cases(2, first=3).with_columns(pl.col("tokens").cast(pl.Float64))
    part3 = (
        _cases(2, first=5)
        .with_columns(
            pl.col("latency_ms").cast(pl.Float32), pl.col("model_cost_usd").cast(pl.Int32)
        )
        .drop("quality_score")
    )
    ds = load_dataset(_dataset(tmp_path, _cases(2), part2, part3))
    assert not ds.quality.findings
    t = _totals(ds)
    assert t["n"] == 6
    assert t["tokens_sum"] == 2100.0
    assert t["latency_ms_sum"] == 621.0
    assert t["model_cost_usd_sum"] == 21.0
    assert t["quality_n"] == 4


def test_exact_duplicate_cases_count_once(tmp_path: Path) -> None:
    part1 = _cases(5)
    # row 2 of part-1 again as its row 6 and as row 1 of part-2: three identical cases
    part1 = pl.concat([part1, part1.slice(1, 1)])
    part2 = pl.concat([part1.slice(1, 1), _cases(2, first=6)])
    ds = load_dataset(_dataset(tmp_path, part1, part2))
    dups = [f for f in ds.quality.findings if f.code == "exact_duplicate"]
    assert len(dups) == 1
    assert (dups[0].file, dups[0].row, dups[0].severity) == (
        "telemetry/part-1.parquet",
        6,
        "warning",
    )
    assert dups[0].message == (
        "3 identical cases (telemetry/part-1.parquet row 2, telemetry/part-1.parquet row 6, "
        "telemetry/part-2.parquet row 1); counted once"
    )
    q = ds.quality
    assert (q.rows_read["telemetry"], q.rows_loaded["telemetry"]) == (9, 7)
    assert q.rows_excluded["telemetry"] == {"exact_duplicate": 2}
    assert q.reconciles()
    t = _totals(ds)
    assert t["n"] == 7
    assert t["model_cost_usd_sum"] == 28.0  # 1 + ... + 7, case 2 once


def test_duplicate_with_a_bad_value_is_one_finding_not_two(tmp_path: Path) -> None:
    part = _set(_cases(3), "latency_ms", {2: float("inf")})
    part = pl.concat([part, part.slice(1, 1)])
    ds = load_dataset(_dataset(tmp_path, part))
    assert _where(ds, "non_finite") == [("telemetry/part-1.parquet", 2, None, "latency_ms")]
    assert ds.quality.values_excluded["telemetry.latency_ms"] == 1
    assert ds.quality.rows_excluded["telemetry"] == {"exact_duplicate": 1}


def test_csv_telemetry_values_and_physical_lines(tmp_path: Path) -> None:
    write_table(tmp_path, "releases", [release("rel-1", "support", "2026-09-30T00:00:00Z")])
    frame = _cases(6).with_columns(
        pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ"), pl.lit("ok").alias("note")
    )
    frame = _set(frame.cast({c: pl.String for c in frame.columns}), "note", {2: "two\nlines"})
    frame = _set(frame, "model_cost_usd", {3: "Infinity", 5: "1e999"})
    frame = _set(frame, "latency_ms", {6: "-inf"})
    frame = _set(frame, "handling_time_s", {4: "abc"})
    frame.write_csv(tmp_path / "telemetry.csv")
    text = (tmp_path / "telemetry.csv").read_text()
    assert '"two\nlines"' in text  # the record of case 2 spans lines 3 and 4
    ds = load_dataset(tmp_path)
    # case k starts on line k + 1, plus one for the embedded line break of case 2
    assert _where(ds, "non_finite") == [
        ("telemetry.csv", 3, 5, "model_cost_usd"),
        ("telemetry.csv", 5, 7, "model_cost_usd"),
        ("telemetry.csv", 6, 8, "latency_ms"),
    ]
    assert _where(ds, "invalid_number") == [("telemetry.csv", 4, 6, "handling_time_s")]
    assert "'Infinity' is not a finite number" in str(ds.quality.findings[0])
    t = _totals(ds)
    assert (t["n"], t["model_cost_usd_n"], t["model_cost_usd_sum"]) == (6, 4, 13.0)


def test_csv_telemetry_duplicates_name_their_physical_lines(tmp_path: Path) -> None:
    write_table(tmp_path, "releases", [release("rel-1", "support", "2026-09-30T00:00:00Z")])
    frame = _cases(3).with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    frame = _set(frame.cast({c: pl.String for c in frame.columns}), "task_type", {1: "a\nb"})
    pl.concat([frame, frame.slice(0, 1)]).write_csv(tmp_path / "telemetry.csv")
    ds = load_dataset(tmp_path)  # case 1 spans lines 2 and 3; its copy starts on line 6
    (dup,) = [f for f in ds.quality.findings if f.code == "exact_duplicate"]
    assert (
        dup.message
        == "2 identical cases (telemetry.csv line 2, telemetry.csv line 6); counted once"
    )
    assert (dup.file, dup.row, dup.line) == ("telemetry.csv", 4, 6)
    assert ds.quality.rows_excluded["telemetry"] == {"exact_duplicate": 1}


# ---------------------------------------------------------------- telemetry structure


def test_column_of_the_wrong_type_names_file_and_column(tmp_path: Path) -> None:
    part2 = _cases(2, first=3).with_columns(pl.col("latency_ms").cast(pl.String))
    data = _dataset(tmp_path, _cases(2), part2)
    with pytest.raises(ra.DataError) as err:
        load_dataset(data)
    assert str(err.value) == (
        f"table 'telemetry' ({data / 'telemetry' / 'part-2.parquet'}), column 'latency_ms': "
        "type String cannot hold a number (contract type Float64)"
    )


def test_required_column_missing_in_one_file(tmp_path: Path) -> None:
    data = _dataset(tmp_path, _cases(2), _cases(2, first=3).drop("handling_time_s"))
    with pytest.raises(ra.DataError) as err:
        load_dataset(data)
    assert str(err.value) == (
        f"table 'telemetry' ({data / 'telemetry' / 'part-2.parquet'}): missing required "
        "column(s) 'handling_time_s'"
    )


def test_corrupt_and_truncated_parquet_name_the_file(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "corrupt", _cases(2), _cases(2, first=3))
    (data / "telemetry" / "part-2.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ra.DataError, match=r"cannot read .*part-2\.parquet: not a readable"):
        load_dataset(data)
    data = _dataset(tmp_path / "truncated", _cases(2), _cases(50, first=3))
    path = data / "telemetry" / "part-2.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ra.DataError, match=r"cannot read .*part-2\.parquet: not a readable"):
        load_dataset(data)


def test_naive_timestamps_need_a_time_zone(tmp_path: Path) -> None:
    part = _cases(2).with_columns(pl.col("ts").dt.replace_time_zone(None))
    data = _dataset(tmp_path, part)
    with pytest.raises(ra.DataError, match=r"part-1\.parquet\), column 'ts': timestamps have no"):
        load_dataset(data)


def test_a_non_parquet_file_in_the_telemetry_folder_stops(tmp_path: Path) -> None:
    data = _dataset(tmp_path, _cases(2))
    _cases(2).write_csv(data / "telemetry" / "late.csv")
    (data / "telemetry" / "_SUCCESS").write_text("")  # Spark's marker is ignored
    with pytest.raises(ra.DataError, match=r"holds file\(s\) that are not Parquet: late\.csv"):
        load_dataset(data)


# ---------------------------------------------------------------- ambiguous inputs


def test_two_files_for_one_table_stop(tmp_path: Path) -> None:
    write_table(tmp_path, "releases", [release("rel-1", "support", "2026-09-30T00:00:00Z")])
    pl.read_csv(tmp_path / "releases.csv").write_parquet(tmp_path / "releases.parquet")
    with pytest.raises(ra.DataError) as err:
        load_dataset(tmp_path)
    assert str(err.value) == (
        f"table 'releases': ambiguous input, both {tmp_path / 'releases.csv'} and "
        f"{tmp_path / 'releases.parquet'} exist; keep exactly one"
    )


def test_telemetry_file_and_folder_stop(tmp_path: Path) -> None:
    data = _dataset(tmp_path, _cases(2))
    _cases(2).write_parquet(data / "telemetry.parquet")
    with pytest.raises(ra.DataError, match=r"table 'telemetry': ambiguous input, both"):
        load_dataset(data)


def test_broken_link_link_loop_and_fifo_stop(tmp_path: Path) -> None:
    data = _dataset(tmp_path, _cases(2))
    os.symlink(tmp_path / "nowhere.csv", data / "gates.csv")
    with pytest.raises(ra.DataError, match=r"table 'gates': .*gates\.csv is a broken symbolic"):
        load_dataset(data)
    (data / "gates.csv").unlink()
    os.symlink(data / "approvals.csv", data / "evidence.csv")
    os.symlink(data / "evidence.csv", data / "approvals.csv")
    with pytest.raises(
        ra.DataError, match=r"table 'evidence': .*evidence\.csv is a symbolic link loop"
    ):
        load_dataset(data)
    (data / "evidence.csv").unlink()
    (data / "approvals.csv").unlink()
    os.mkfifo(data / "incidents.csv")
    # Opening a FIFO would block until a writer appears: load in a thread so a regression fails
    # the test instead of hanging it.
    result: list[BaseException | None] = []

    def load() -> None:
        try:
            load_dataset(data)
            result.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            result.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(60)
    assert result, "load_dataset blocked on the FIFO"
    assert isinstance(result[0], ra.DataError)
    assert str(result[0]) == (
        f"table 'incidents': {data / 'incidents.csv'} is a FIFO (named pipe), not a regular file"
    )


def test_a_folder_in_place_of_a_table_file_stops(tmp_path: Path) -> None:
    data = _dataset(tmp_path, _cases(2))
    (data / "evidence.csv").mkdir()
    with pytest.raises(ra.DataError, match=r"evidence\.csv is a folder, not a regular file"):
        load_dataset(data)


# ---------------------------------------------------------------- physical line numbers


def test_csv_findings_give_the_physical_line(tmp_path: Path) -> None:
    r1 = release("R1", "s", "2026-04-01T00:00:00Z") | {"summary": "first line\nsecond line"}
    r2 = release("R2", "s", "2026-04-02T00:00:00Z", tier="urgent")
    r3 = release("R3", "s", "2026-04-03T00:00:00Z") | {"summary": "a\r\nb\nc"}
    r4 = release("R4", "s", "not a time")
    path = write_table(tmp_path, "releases", [r1, r2, r3, r4])
    # CRLF line ends and a BOM shift nothing
    raw = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + raw)
    ds = load_dataset(tmp_path)
    got = sorted((f.line, f.record_id, f.column) for f in ds.quality.findings)
    # header 1; R1 lines 2-3; R2 line 4; R3 lines 5-7; R4 line 8
    assert got == [(4, "R2", "risk_tier"), (8, "R4", "released_at")]
    assert ds.releases.filter(pl.col("release_id") == "R3")["summary"][0] == "a\r\nb\r\nc"


def test_exact_duplicate_names_the_physical_line_of_the_first(tmp_path: Path) -> None:
    r1 = release("R1", "s", "2026-04-01T00:00:00Z") | {"summary": "x\ny"}
    r2 = release("R2", "s", "2026-04-02T00:00:00Z")
    write_table(tmp_path, "releases", [r1, r2, r1])
    ds = load_dataset(tmp_path)
    (f,) = ds.quality.findings
    assert (f.code, f.line) == ("exact_duplicate", 5)
    assert f.message == "exact duplicate of line 2; counted once"


# ---------------------------------------------------------------- the command


def test_validate_exits_2_without_a_traceback(tmp_path: Path) -> None:
    bad_type = _dataset(
        tmp_path / "type", _cases(2).with_columns(pl.col("model_cost_usd").cast(pl.String))
    )
    fifo = _dataset(tmp_path / "fifo", _cases(2))
    os.mkfifo(fifo / "evidence.csv")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for data, expected in (
        (bad_type, "column 'model_cost_usd': type String cannot hold a number"),
        (fifo, "evidence.csv is a FIFO (named pipe), not a regular file"),
    ):
        run = subprocess.run(
            [sys.executable, "-m", "analytics.cli.main", "validate", "--data", str(data)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert run.returncode == 2, run.stderr
        assert "Traceback" not in run.stderr
        assert expected in run.stderr


def test_validate_lists_telemetry_findings_with_file_and_row(tmp_path: Path, capsys) -> None:
    from analytics.cli.main import main

    data = _dataset(tmp_path, _set(_cases(4), "tokens", {3: -5}))
    assert main(["validate", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert (
        "error: table 'telemetry', file 'telemetry/part-1.parquet', row 3, column 'tokens': "
        "-5.0 is not a number >= 0; value left out, row kept"
    ) in out


def test_non_finite_numbers_in_small_tables_are_findings(tmp_path: Path) -> None:
    write_table(tmp_path, "releases", [release("R1", "s", "2026-04-01T00:00:00Z")])
    gate = {"release_id": "R1", "gate": "functional", "result": "pass", "metric": "acc"}
    write_table(
        tmp_path,
        "gates",
        [gate | {"value": "0.9", "threshold": "0.8"}, gate | {"value": "inf", "threshold": "NaN"}],
    )
    ds = load_dataset(tmp_path)
    got = sorted((f.code, f.line, f.column, f.message) for f in ds.quality.findings)
    assert got == [
        ("non_finite", 3, "threshold", "'NaN' is not a finite number"),
        ("non_finite", 3, "value", "'inf' is not a finite number"),
    ]
    assert ds.gates["value"].to_list() == [0.9, None]
    assert ds.quality.values_excluded == {"gates.value": 1, "gates.threshold": 1}


# ---------------------------------------------------------------- implausible timestamps


def test_implausible_timestamps_are_findings_in_every_table(tmp_path: Path) -> None:
    """Outside 1970-01-01 .. before 3000-01-01 UTC: the value is nulled, the row kept (in
    telemetry ts is a key: the case is excluded); Parquet timestamps Python cannot hold (year 0)
    are quoted as text, not a crash."""
    rows = [
        release("R1", "s", "0001-01-01T00:00:00Z"),
        release("R2", "s", "2026-04-02T00:00:00Z", requested="1969-12-31T23:59:59Z"),
        release("R3", "s", "2999-12-31T23:59:59Z"),
        release("R4", "s", "2999-12-31T23:30:00-01:00"),  # 3000-01-01T00:30Z
    ]
    write_table(tmp_path, "releases", rows)
    ts = [datetime(2026, 10, 1, tzinfo=UTC) + timedelta(minutes=i) for i in range(4)]
    cases = _cases(4).with_columns(release_id=pl.lit("R2"))
    typed = _set(cases, "ts", {2: datetime(1, 1, 1, tzinfo=UTC)})
    text = cases.with_columns(
        pl.Series("ts", [t.isoformat() for t in ts[:2]] + ["0000-12-31T23:00:00Z", "9999-01-01"])
    )
    (tmp_path / "telemetry").mkdir()
    typed.write_parquet(tmp_path / "telemetry" / "part-1.parquet")
    text.write_parquet(tmp_path / "telemetry" / "part-2.parquet")
    ds = load_dataset(tmp_path)
    got = sorted(
        (f.table, f.file, f.line, f.row, f.record_id, f.column)
        for f in ds.quality.findings
        if f.code == "timestamp_out_of_range"
    )
    assert got == [
        ("releases", None, 2, 1, "R1", "released_at"),
        ("releases", None, 3, 2, "R2", "change_requested_at"),
        ("releases", None, 5, 4, "R4", "released_at"),
        ("telemetry", "telemetry/part-1.parquet", None, 2, None, "ts"),
        ("telemetry", "telemetry/part-2.parquet", None, 3, None, "ts"),
    ]
    # 9999-01-01 has no offset: the finding says so (it is not read at all)
    assert [
        (f.file, f.row) for f in ds.quality.findings if f.code == "timestamp_without_offset"
    ] == [("telemetry/part-2.parquet", 4)]
    first = next(f for f in ds.quality.findings if f.record_id == "R1")
    assert str(first) == (
        "table 'releases', line 2, id 'R1', column 'released_at': timestamp "
        "'0001-01-01T00:00:00Z' is outside the plausible range 1970-01-01 to before 3000-01-01 "
        "(UTC)"
    )
    tel = next(f for f in ds.quality.findings if f.table == "telemetry")
    assert tel.message.endswith("; row excluded")
    assert ds.releases["released_at"].to_list() == [
        None,
        datetime(2026, 4, 2, tzinfo=UTC),
        datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC),
        None,
    ]
    assert ds.releases["change_requested_at"].null_count() == 4
    assert ds.quality.values_excluded["releases.released_at"] == 2
    assert ds.quality.values_excluded["releases.change_requested_at"] == 1
    assert ds.quality.rows_read["telemetry"] == 8
    assert ds.quality.rows_excluded["telemetry"] == {"missing_key": 3}


def test_the_plausible_range_is_the_as_of_range() -> None:
    from analytics.cli import core
    from analytics.core.schemas import TS_MAX, TS_MIN

    assert (core.AS_OF_MIN, core.AS_OF_MAX) == (TS_MIN, TS_MAX)
    assert (TS_MIN, TS_MAX) == (datetime(1970, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC))


# ---------------------------------------------------------------- unreadable CSV, located


def _unreadable(folder: Path, name: str, data: bytes) -> str:
    write_table(folder, "releases", [release("R1", "s", "2026-04-01T00:00:00Z")])
    (folder / f"{name}.csv").write_bytes(data)
    with pytest.raises(ra.DataError) as exc:
        load_dataset(folder)
    return str(exc.value)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b'a,b\n1,2\n3,"x\n4,5\n',
            "line 3: a quoted field starts on this line and is never closed",
        ),
        (
            b'a,b\n1,"two\nlines"\n"5\n6"x,7\n',
            "line 4: a quoted field starts on this line and its closing quote (on line 5) is "
            "followed by 'x'",
        ),
        (b"a,b\r\n1,2\r\n3,4,5\r\n", "line 3: the record on this line has 3 fields, the header 2"),
        (
            b"release_id,item,status\nR1,x,present\nR1,caf\xe9,present\n",
            "line 3: byte 0xe9 at byte 7 of the line is not valid UTF-8",
        ),
        ("release_id,item,status\nR1,x,present\n".encode("utf-16"), "line 1: the file is UTF-16"),
    ],
)
def test_unreadable_csv_names_the_line(tmp_path: Path, data: bytes, expected: str) -> None:
    message = _unreadable(tmp_path, "evidence", data)
    assert message.startswith(f"table 'evidence': cannot read {tmp_path / 'evidence.csv'}, ")
    assert expected in message, message
