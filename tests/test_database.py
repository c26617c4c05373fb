"""``--data postgresql://...`` and ``--data duckdb:///...``: the contract tables read from a real
PostgreSQL server (the ``postgres`` fixture) and a DuckDB file give the same JSON, the same
validation and the same findings as the same tables in a folder of Parquet files; the password
never shows."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from pg_server import PASSWORD

from analytics.cli.main import main
from analytics.core.schemas import SMALL_TABLES
from analytics.importers.database import is_database_uri, mask_uri, parse_uri
from analytics.sample.generate import generate_sample

AS_OF = "2026-11-15T00:00:00Z"
SMALL = [t.name for t in SMALL_TABLES]


def sample_tables(folder: Path) -> dict[str, pl.DataFrame]:
    """The sample's tables as frames: the small tables as text (as the CSV files hold them,
    bad values included), telemetry typed (timestamps, booleans, numbers) in one frame."""
    tables = {t: pl.read_csv(folder / f"{t}.csv", infer_schema=False) for t in SMALL}
    tables["telemetry"] = pl.read_parquet(sorted((folder / "telemetry").glob("*.parquet")))
    return tables


def write_folder(folder: Path, tables: dict[str, pl.DataFrame]) -> str:
    folder.mkdir(parents=True)
    for name, frame in tables.items():
        frame.write_parquet(folder / f"{name}.parquet")
    return str(folder)


def write_postgres(uri: str, tables: dict[str, pl.DataFrame]) -> str:
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(uri) as conn:
        with conn.cursor() as cur:
            for name, frame in tables.items():
                cur.adbc_ingest(name, frame.to_arrow(), mode="create")
        conn.commit()
    return uri


def write_duckdb(path: Path, tables: dict[str, pl.DataFrame]) -> str:
    import duckdb

    with duckdb.connect(str(path)) as conn:
        for name, frame in tables.items():
            conn.register("frame", frame.to_arrow())
            conn.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            conn.unregister("frame")
    return f"duckdb://{path}"


def sources(postgres, tmp: Path, name: str, tables: dict[str, pl.DataFrame]) -> dict[str, str]:
    """The same tables as a Parquet folder, a PostgreSQL database and a DuckDB file."""
    return {
        "files": write_folder(tmp / name, tables),
        "postgresql": write_postgres(postgres.createdb(name), tables),
        "duckdb": write_duckdb(tmp / f"{name}.duckdb", tables),
    }


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    folder = tmp_path_factory.mktemp("db-sample")
    generate_sample(folder, cases_per_day=5)
    return sample_tables(folder)


@pytest.fixture(scope="module")
def sample_sources(postgres, tables, tmp_path_factory) -> dict[str, str]:
    return sources(postgres, tmp_path_factory.mktemp("db"), "sample", tables)


@pytest.fixture(scope="module")
def bad_sources(postgres, tables, tmp_path_factory) -> dict[str, str]:
    """Releases with an unknown risk tier in data row 5, telemetry with a negative latency in
    row 3; no other table (an absent table is an empty one)."""
    releases = (
        tables["releases"]
        .with_row_index("i")
        .with_columns(
            pl.when(pl.col("i") == 4)
            .then(pl.lit("extreme"))
            .otherwise("risk_tier")
            .alias("risk_tier")
        )
    )
    telemetry = tables["telemetry"].head(50).with_row_index("i")
    telemetry = telemetry.with_columns(
        pl.when(pl.col("i") == 2).then(-1.0).otherwise("latency_ms").alias("latency_ms")
    )
    bad = {"releases": releases.drop("i"), "telemetry": telemetry.drop("i")}
    return sources(postgres, tmp_path_factory.mktemp("db-bad"), "bad", bad)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err
    return code, out, err


@pytest.mark.parametrize(
    "command", [["kpis", "--month", "2026-10"], ["releases", "--month", "2026-10"]]
)
def test_json_identical_for_files_postgres_duckdb(sample_sources, capsys, command):
    outputs = {}
    for kind, data in sample_sources.items():
        code, out, err = run(capsys, *command, "--data", data, "--as-of", AS_OF, "--format", "json")
        assert code == 0, err
        outputs[kind] = out
    # kpis names no source (the sample has no telemetry finding, whose `file` would): byte-equal
    assert outputs["postgresql"] == outputs["files"]
    assert outputs["duckdb"] == outputs["files"]
    assert json.loads(outputs["files"])  # not empty


def _validate(capsys, data: str) -> dict:
    code, out, err = run(capsys, "validate", "--data", data, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_bad_row_same_finding(bad_sources, capsys):
    reports = {kind: _validate(capsys, data) for kind, data in bad_sources.items()}
    for kind, report in reports.items():
        assert report["tables"] == ["releases", "telemetry"]
        tier = [f for f in report["errors"] if f["column"] == "risk_tier"]
        assert [(f["table"], f["row"], f["line"], f["code"]) for f in tier] == [
            ("releases", 5, None, "unknown_enum")
        ], kind
        latency = [f for f in report["errors"] if f["column"] == "latency_ms"]
        assert latency and latency[0]["table"] == "telemetry"
        source = bad_sources[kind]
        want = "telemetry.parquet" if kind == "files" else f"{mask_uri(source)}#telemetry"
        assert {f["file"] for f in latency} == {want}

    # Apart from the field naming the source (the telemetry finding's `file`, and the message
    # quoting it) and the fingerprint, the three reports are equal.
    def comparable(kind: str) -> str:
        text = json.dumps({k: v for k, v in reports[kind].items() if k != "fingerprint"})
        return text.replace(f"{mask_uri(bad_sources[kind])}#telemetry", "telemetry.parquet")

    assert comparable("postgresql") == comparable("files")
    assert comparable("duckdb") == comparable("files")


def test_validate_text_names_masked_uri(bad_sources, capsys):
    uri = bad_sources["postgresql"]
    code, out, _ = run(capsys, "validate", "--data", uri)
    assert code == 0
    assert mask_uri(uri) in out and ":***@" in mask_uri(uri)
    assert "table 'releases', row 5, id 'rel-0005', column 'risk_tier'" in out


def test_password_masked_in_every_command(sample_sources, capsys):
    uri = sample_sources["postgresql"]
    for argv in (
        ["kpis", "--month", "2026-10", "--as-of", AS_OF],
        ["releases", "--month", "2026-10", "--as-of", AS_OF],
        ["validate"],
        ["gate", "--release", "rel-0002"],
        ["judge", "--release", "rel-0002", "--as-of", AS_OF],
    ):
        code, _, err = run(capsys, *argv, "--data", uri)  # run() checks the password
        assert code in (0, 1, 2), err
        assert "internal error" not in err


def test_missing_required_table(postgres, tables, capsys):
    uri = write_postgres(postgres.createdb("no_releases"), {"gates": tables["gates"]})
    code, _, err = run(capsys, "validate", "--data", uri)
    assert code == 2
    assert f"table 'releases' is required: no table releases in {mask_uri(uri)}" in err


def test_missing_required_column_names_table(postgres, tables, capsys):
    uri = write_postgres(
        postgres.createdb("no_system"), {"releases": tables["releases"].drop("system")}
    )
    code, _, err = run(capsys, "validate", "--data", uri)
    assert code == 2
    assert f"{mask_uri(uri)}#releases" in err and "'system'" in err
    assert "analytics-db-" not in err  # no temporary path


def test_schema_parameter(postgres, tables, capsys):
    uri = postgres.createdb("schemas")
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(uri) as conn:
        with conn.cursor() as cur:
            cur.execute("CREATE SCHEMA contract")
            cur.adbc_ingest("releases", tables["releases"].to_arrow(), db_schema_name="contract")
        conn.commit()
    assert run(capsys, "validate", "--data", uri)[0] == 2  # not in the default schema
    code, out, err = run(capsys, "validate", "--data", f"{uri}?schema=contract")
    assert code == 0, err
    assert "releases: read 389" in out


def test_unreachable_database_exits_2(postgres, capsys):
    for uri in (
        postgres.uri(password="wrong-pw"),
        f"postgresql://analytics:{PASSWORD}@127.0.0.1:1/none",
    ):
        code, _, err = run(capsys, "validate", "--data", uri)
        assert code == 2
        assert err.startswith("error: cannot connect to database postgresql://analytics:***@")
        assert "wrong-pw" not in err


def test_missing_duckdb_file_exits_2(tmp_path, capsys):
    code, _, err = run(capsys, "kpis", "--data", f"duckdb://{tmp_path}/none.db", "--month",
                       "2026-10", "--as-of", AS_OF)  # fmt: skip
    assert code == 2
    assert "does not exist" in err
    assert not (tmp_path / "none.db").exists()


def test_uri_parsing():
    assert is_database_uri("postgresql://h/db") and is_database_uri("DuckDB:///x.db")
    assert not is_database_uri("data/sample") and not is_database_uri("s3://bucket/x")
    assert mask_uri("postgresql://u:p%40ss@h:5432/db?schema=s") == (
        "postgresql://u:***@h:5432/db?schema=s"
    )
    assert mask_uri("postgres://h/db?user=u&password=pw") == "postgres://h/db?user=u&password=***"
    assert mask_uri("postgresql://u@h/db") == "postgresql://u@h/db"
    db = parse_uri("postgresql://u:pw@h/db?schema=s&sslmode=disable")
    assert (db.schema, db.target) == ("s", "postgresql://u:pw@h/db?sslmode=disable")
    assert parse_uri("duckdb:///tmp/a.db").target == "/tmp/a.db"
    assert parse_uri("duckdb://rel/a.db?schema=x").target == "rel/a.db"


# ---------------------------------------------------------------- reports from a database


def render_report(tmp: Path, uri: str, *args: str) -> str:
    """``analytics report ARGS --data URI`` in a fresh process; the page it wrote. Nothing the
    command prints names the password or the temporary folder the tables were copied to."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "analytics.cli.main", "report", *args, "--data", uri],
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for text in (proc.stdout, proc.stderr):
        assert PASSWORD not in text and "analytics-db-" not in text
    return Path(proc.stdout.split()[0]).read_text(encoding="utf-8")


def assert_names_the_database(page: str, uri: str) -> None:
    """The footer names the database by its masked URI, in the dataset line and in the command
    that renders the report again; the password and the temporary folder appear nowhere."""
    import html
    import shlex
    import tempfile

    masked = mask_uri(uri)
    assert "***" in masked
    footer = page[page.index('data-section="reproducibility"') :]
    assert f"Dataset <code>{html.escape(masked)}</code>" in footer
    assert f"--data {html.escape(shlex.quote(masked), quote=False)} --as-of" in footer
    assert PASSWORD not in page and html.escape(PASSWORD) not in page
    assert "analytics-db-" not in page
    assert f"{tempfile.gettempdir()}/analytics-db" not in page


def test_report_from_duckdb_names_the_masked_uri(tables, tmp_path):
    """``report executive`` and ``report post-release`` from a DuckDB file: the footer shows the
    URI (a ``password=`` parameter masked, as everywhere), not the temporary folder."""
    uri = write_duckdb(tmp_path / "acme.duckdb", tables) + f"?password={PASSWORD}"
    out = str(tmp_path / "out")
    page = render_report(
        tmp_path, uri, "executive", "--month", "2026-10", "--as-of", AS_OF, "--out", out
    )
    assert_names_the_database(page, uri)
    assert mask_uri(uri) == f"duckdb://{tmp_path}/acme.duckdb?password=***"
    review = render_report(
        tmp_path, uri, "post-release", "--release", "rel-0002", "--as-of", AS_OF, "--out", out
    )
    assert_names_the_database(review, uri)
    assert "Post-release review: <code>rel-0002</code>" in review


def test_report_from_postgres_names_the_masked_uri(sample_sources, tmp_path):
    uri = sample_sources["postgresql"]
    assert f":{PASSWORD}@" in uri
    page = render_report(
        tmp_path, uri, "executive", "--month", "2026-10", "--as-of", AS_OF, "--out", str(tmp_path)
    )
    assert_names_the_database(page, uri)
