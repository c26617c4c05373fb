"""``analytics export``: tidy tables with an ``as_of`` column into a folder (Parquet and CSV),
PostgreSQL (the ``postgres`` fixture) and DuckDB; exporting the same ``as_of`` again replaces its
rows, never duplicates them; docs/database.md documents every column."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from pg_server import PASSWORD

from analytics.cli.export import months_arg
from analytics.cli.main import main

TABLES = ("monthly_kpis", "release_records", "findings", "incident_links")
MONTHS = "2026-03..2026-04"
FIRST = "2026-05-15T00:00:00Z"
SECOND = "2026-06-01T02:00:00+02:00"  # 2026-06-01T00:00:00Z
DOC = Path(__file__).parent.parent / "docs" / "database.md"


@pytest.fixture
def tiny(tiny_dir: Path) -> Path:
    """The tiny example plus an incident of unknown severity (a finding to export)."""
    with (tiny_dir / "incidents.csv").open("a") as fh:
        fh.write("X4,search,,,2026-04-30T09:00:00Z,,critical,cost,none,alert\n")
    return tiny_dir


def export(capsys, data: Path | str, to: str, as_of: str) -> list[str]:
    code = main(["export", "--data", str(data), "--months", MONTHS, "--as-of", as_of, "--to", to])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert PASSWORD not in out + err
    return out.splitlines()


def counts(frames: dict[str, pl.DataFrame]) -> dict[str, dict[datetime, int]]:
    return {
        name: dict(frame.group_by("as_of").len().sort("as_of").iter_rows())
        for name, frame in frames.items()
    }


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def check_replaced(read, capsys, data: Path, to: str) -> dict[str, pl.DataFrame]:
    """Export FIRST twice, then SECOND: FIRST's rows are not doubled, SECOND's are added."""
    export(capsys, data, to, FIRST)
    once = counts(read())
    export(capsys, data, to, FIRST)
    assert counts(read()) == once
    export(capsys, data, to, SECOND)
    frames = read()
    after = counts(frames)
    for name in TABLES:
        assert after[name].get(utc(FIRST), 0) == once[name].get(utc(FIRST), 0), name
        assert set(after[name]) <= {utc(FIRST), utc(SECOND)}
        assert once[name][utc(FIRST)] > 0 and after[name][utc(SECOND)] > 0, name
    return frames


def test_folder_export_replaces_rows_of_the_same_as_of(tiny, tmp_path, capsys):
    out = tmp_path / "out"

    def read() -> dict[str, pl.DataFrame]:
        return {t: pl.read_parquet(out / f"{t}.parquet") for t in TABLES}

    frames = check_replaced(read, capsys, tiny, str(out))
    for name, frame in frames.items():
        csv = pl.read_csv(out / f"{name}.csv", infer_schema=False)
        assert csv.columns == frame.columns
        assert csv.height == frame.height
        assert set(csv["as_of"]) == {"2026-05-15T00:00:00+00:00", "2026-06-01T00:00:00+00:00"}


def test_exported_kpis_are_those_of_analytics_kpis(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    export(capsys, tiny, str(out), FIRST)
    kpis = pl.read_parquet(out / "monthly_kpis.parquet")
    assert main(["kpis", "--data", str(tiny), "--month", "2026-04", "--as-of", FIRST,
                 "--format", "json"]) == 0  # fmt: skip
    want = json.loads(capsys.readouterr().out)["kpis"]
    april = kpis.filter((pl.col("month") == "2026-04") & pl.col("breakdown").is_null())
    row = april.filter(pl.col("kpi") == "change_failure_rate").row(0, named=True)
    cfr = want["change_failure_rate"]
    assert (row["value"], row["numerator"], row["denominator"], row["status"]) == (
        cfr["value"], cfr["numerator"], cfr["denominator"], cfr["status"],
    )  # fmt: skip
    mttd = april.filter(pl.col("kpi") == "mttd_hours").row(0, named=True)
    assert (mttd["mean"], mttd["n"]) == (want["mttd_hours"]["mean"], want["mttd_hours"]["n"])
    releases = pl.read_parquet(out / "release_records.parquet")
    assert main(["releases", "--data", str(tiny), "--month", "2026-04", "--as-of", FIRST,
                 "--format", "json"]) == 0  # fmt: skip
    ids = [r["release_id"] for r in json.loads(capsys.readouterr().out)]
    assert releases.filter(pl.col("month") == "2026-04")["release_id"].to_list() == ids
    links = pl.read_parquet(out / "incident_links.parquet")
    assert {"incident_id", "release_id", "attribution"} <= set(links.columns)
    assert links["attribution"].is_not_null().all()


def test_postgres_export_replaces_rows(postgres, tiny, capsys):
    import adbc_driver_postgresql.dbapi as pg

    uri = postgres.createdb("export")
    target = f"{uri}?schema=kpi"

    def read() -> dict[str, pl.DataFrame]:
        with pg.connect(uri) as conn, conn.cursor() as cur:
            frames = {}
            for name in TABLES:
                cur.execute(f"SELECT * FROM kpi.{name}")
                frames[name] = pl.from_arrow(cur.fetch_arrow_table())
            return frames

    printed = export(capsys, tiny, target, FIRST)
    assert printed[0] == f"postgresql://analytics:***@127.0.0.1:{postgres.port}/export" + (
        "?schema=kpi#monthly_kpis"
    )
    frames = check_replaced(read, capsys, tiny, target)
    folder = {t: pl.read_parquet(p) for t, p in _folder_export(capsys, tiny).items()}
    for name in TABLES:  # the same rows as in a folder (order aside)
        a = frames[name].filter(pl.col("as_of") == utc(FIRST))
        b = folder[name]
        assert a.columns == b.columns
        assert a.sort(a.columns).equals(b.cast(a.schema).sort(b.columns)), name


def _folder_export(capsys, data: Path) -> dict[str, Path]:
    out = data.parent / "folder-export"
    export(capsys, data, str(out), FIRST)
    return {t: out / f"{t}.parquet" for t in TABLES}


def test_duckdb_export_replaces_rows(tiny, tmp_path, capsys):
    import duckdb

    path = tmp_path / "kpis.duckdb"

    def read() -> dict[str, pl.DataFrame]:
        with duckdb.connect(str(path), read_only=True) as conn:
            return {t: conn.sql(f"SELECT * FROM {t}").pl() for t in TABLES}

    check_replaced(read, capsys, tiny, f"duckdb://{path}")


def test_export_to_a_file_exits_2(tiny, tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    code = main(["export", "--data", str(tiny), "--months", MONTHS, "--as-of", FIRST,
                 "--to", str(target)])  # fmt: skip
    assert code == 2
    assert "not a folder" in capsys.readouterr().err


def test_months_argument():
    assert months_arg("2025-11..2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert months_arg("2026-10") == ["2026-10"]
    for bad in ("2026-13", "2026-10..2026-09", "2026/10", "2026-01..x"):
        with pytest.raises(argparse.ArgumentTypeError):
            months_arg(bad)


def test_docs_name_every_exported_column(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    export(capsys, tiny, str(out), FIRST)
    text = DOC.read_text(encoding="utf-8")
    for name in TABLES:
        section = re.search(rf"### `{name}`\n(.*?)(\n### |\Z)", text, re.S)
        assert section, name
        for column in pl.read_parquet_schema(out / f"{name}.parquet"):
            assert f"| `{column}` |" in section.group(1), (name, column)
