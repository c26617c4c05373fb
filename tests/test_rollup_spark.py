"""The Spark rollup against the polars rollup, in Spark local mode on a small dataset: the same
keys and counts exactly, sums to 1e-9 relative, identical latency histograms, and the same
telemetry row rules (invalid values nulled, rows without a key or with an unknown release left
out)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import release, write_table
from polars.testing import assert_frame_equal

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java (17) on PATH", allow_module_level=True)

from analytics.cli.main import main  # noqa: E402
from analytics.data.io import load_dataset  # noqa: E402
from analytics.data.rollup import (  # noqa: E402
    CASES_SCHEMA,
    LATENCY_EDGES,
    ROLLUP_DIRNAME,
    Rollup,
    rollup_telemetry,
)

RELEASES = ("rel-1", "rel-2", "rel-3")
# pyspark 4.3 warns that it does not fully support pandas 3; the rollup does not use pandas.
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")


@pytest.fixture(scope="module")
def spark():
    from analytics.data.rollup_spark import local_session

    session = local_session("local[2]", shuffle_partitions=2)
    yield session
    session.stop()


def _telemetry(n: int = 3000, seed: int = 3) -> pl.DataFrame:
    """Cases over three days around a UTC midnight, with nulls, edge latencies and bad rows."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    latency = np.round(rng.lognormal(np.log(800), 0.7, n), 1)
    latency[:60] = rng.choice(LATENCY_EDGES, 60)  # exactly on bin edges (1000.0 among them)
    latency[60:65] = [0.0, 0.4, 1e7, 3e7, 1000.0]
    frame = pl.DataFrame(
        {
            "ts": [start + timedelta(seconds=int(s)) for s in rng.integers(0, 3 * 86400, n)],
            "release_id": rng.choice(RELEASES, n),
            "system": "support",
            "task_type": rng.choice(["faq", "claim", "Faq", "é"], n),
            "criticality": rng.choice(["low", "medium", "high"], n),
            "language": rng.choice(["en", "de"], n),
            "customer_segment": rng.choice(["smb", "enterprise"], n),
            "escalated": rng.random(n) < 0.1,
            "reworked": rng.random(n) < 0.05,
            "policy_violation": rng.random(n) < 0.01,
            "refused": rng.random(n) < 0.02,
            "handling_time_s": np.round(rng.lognormal(np.log(200), 0.8, n), 1),
            "latency_ms": latency,
            "tokens": np.round(rng.lognormal(np.log(900), 0.5, n)),
            "model_cost_usd": np.round(rng.lognormal(np.log(0.002), 0.4, n), 6),
            "quality_score": np.where(rng.random(n) < 0.2, np.nan, np.round(rng.beta(8, 2, n), 4)),
        }
    ).with_columns(
        pl.col("ts").cast(pl.Datetime("us", "UTC")),
        pl.col("quality_score").fill_nan(None),
    )
    # Row rules: invalid values (nulled), a null segment key (kept), rows without a key or
    # naming an unknown release (left out).
    bad = frame.head(8).with_columns(
        pl.Series("latency_ms", [-1.0, float("nan"), float("inf"), 5.0, 5.0, 5.0, 5.0, 5.0]),
        pl.Series("quality_score", [1.5, -0.1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),
        pl.Series("criticality", ["urgent", "low", "low", "low", "low", "low", "low", "low"]),
        pl.Series("task_type", ["faq", "faq", None, "faq", "faq", "faq", "faq", "faq"]),
        pl.Series("handling_time_s", [1.0, 1.0, 1.0, -3.0, 1.0, 1.0, 1.0, 1.0]),
        pl.Series(
            "release_id", ["rel-1", "rel-1", "rel-1", "rel-1", "rel-9", None, "rel-2", "rel-2"]
        ),
        pl.Series("ts", [start] * 6 + [None, start], dtype=pl.Datetime("us", "UTC")),
    )
    # an exact duplicate of a case: counted once
    return pl.concat([frame, bad, frame.slice(100, 1)])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("spark_data")
    write_table(
        folder, "releases", [release(r, "support", "2026-09-30T00:00:00Z") for r in RELEASES]
    )
    (folder / "telemetry").mkdir()
    frame = _telemetry()
    frame.head(1500).write_parquet(folder / "telemetry" / "part-a.parquet")
    frame.tail(frame.height - 1500).write_parquet(folder / "telemetry" / "part-b.parquet")
    return folder


@pytest.fixture(scope="module")
def polars_rollup(dataset: Path) -> Rollup:
    ds = load_dataset(dataset)
    assert ds.telemetry is not None
    return rollup_telemetry(ds.telemetry)


def _assert_same(got: Rollup, want: Rollup) -> None:
    exact = [c for c, t in CASES_SCHEMA.items() if t != pl.Float64]
    floats = [c for c, t in CASES_SCHEMA.items() if t == pl.Float64]
    assert_frame_equal(got.cases.select(exact), want.cases.select(exact))
    assert_frame_equal(got.cases.select(floats), want.cases.select(floats), rel_tol=1e-9, abs_tol=0)
    assert_frame_equal(got.latency, want.latency)


def test_spark_rollup_equals_polars(spark, dataset: Path, polars_rollup: Rollup, tmp_path: Path):
    from analytics.data.rollup_spark import write_spark_rollup

    out = tmp_path / ROLLUP_DIRNAME
    write_spark_rollup(spark, str(dataset / "telemetry"), str(out), list(RELEASES))
    got = Rollup.load(out)
    _assert_same(got, polars_rollup)
    # the data exercised what the test claims
    assert got.cases["n"].sum() == 3000 + 5  # unknown release, no release, no ts: left out
    assert got.cases.filter(pl.col("task_type").is_null()).height == 1
    assert got.cases.filter(pl.col("criticality").is_null()).height == 1
    assert got.cases["latency_ms_n"].sum() == 3005 - 3  # -1, NaN and inf are invalid latencies
    assert got.latency.filter(pl.col("latency_bin") == 120)["n"].sum() > 0  # 1000.0 ms
    assert len(list((out / "cases.parquet").glob("part-*.parquet"))) >= 1


def test_spark_engine_from_the_command(spark, dataset: Path, polars_rollup: Rollup, tmp_path):
    assert (
        main(["rollup", "--data", str(dataset), "--out", str(tmp_path), "--engine", "spark"]) == 0
    )
    _assert_same(Rollup.load(tmp_path / ROLLUP_DIRNAME), polars_rollup)
