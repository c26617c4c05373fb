"""The telemetry rollup: hand-computed statistics, exact histogram bins, the two computation
paths (in memory and streamed to disk), the packed and unpacked key paths, the command, and
identical KPIs from raw telemetry and from a rollup that replaced it."""

from __future__ import annotations

import json
import math
import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import release, write_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import analytics.data.rollup as rollup_mod
from analytics.cli.main import main
from analytics.core.errors import DataError
from analytics.core.policy import Costs
from analytics.core.progress import progress_iter
from analytics.data.io import load_dataset
from analytics.data.rollup import (
    CASES_SCHEMA,
    GROUP_KEYS,
    LATENCY_EDGES,
    LATENCY_N_BINS,
    LATENCY_SCHEMA,
    ROLLUP_DIRNAME,
    Rollup,
    case_aggregations,
    dataset_rollup,
    histogram_quantile,
    latency_bin_expr,
    latency_bin_values,
    load_telemetry_quality,
    rollup_telemetry,
    unit_cost_columns,
    write_rollup,
)

TS = pl.Datetime("us", "UTC")
TELEMETRY_SCHEMA = {
    "ts": TS,
    "release_id": pl.String,
    "system": pl.String,
    "task_type": pl.String,
    "criticality": pl.String,
    "language": pl.String,
    "customer_segment": pl.String,
    "escalated": pl.Boolean,
    "reworked": pl.Boolean,
    "policy_violation": pl.Boolean,
    "refused": pl.Boolean,
    "handling_time_s": pl.Float64,
    "latency_ms": pl.Float64,
    "tokens": pl.Float64,
    "model_cost_usd": pl.Float64,
    "quality_score": pl.Float64,
}
BASE = {
    "release_id": "rel-1",
    "system": "support",
    "task_type": "faq",
    "criticality": "low",
    "language": "en",
    "customer_segment": "smb",
    "escalated": False,
    "reworked": False,
    "policy_violation": False,
    "refused": False,
    "handling_time_s": 60.0,
    "latency_ms": 500.0,
    "tokens": 100.0,
    "model_cost_usd": 0.01,
    "quality_score": 0.5,
}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def cases(*rows: dict) -> pl.LazyFrame:
    """Typed telemetry from row overrides of ``BASE`` (``ts`` required)."""
    full = [{**BASE, **r, "ts": ts(r["ts"])} for r in rows]
    return pl.DataFrame(full, schema=TELEMETRY_SCHEMA).lazy()


HAND = cases(
    # group A: rel-1, 2026-10-01 (UTC), faq/low/en/smb
    {"ts": "2026-10-01T23:59:00Z", "escalated": True, "latency_ms": 1000.0, "quality_score": 0.8},
    {
        "ts": "2026-10-01T10:00:00Z",
        "reworked": True,
        "handling_time_s": 120.0,
        "latency_ms": 250.0,
        "tokens": 300.0,
        "model_cost_usd": 0.03,
        "quality_score": None,
    },
    # group B: two minutes later but the next UTC day
    {"ts": "2026-10-02T00:01:00Z", "latency_ms": 0.5},
    # group C: rel-2 with an unknown segment (sorted first among rel-2's) and no valid latency
    {"ts": "2026-10-01T12:00:00Z", "release_id": "rel-2", "task_type": None, "latency_ms": None},
    {"ts": "2026-10-01T12:00:00Z", "release_id": "rel-2", "latency_ms": 2e7, "escalated": None},
)


# ---------------------------------------------------------------- hand-computed values


def test_case_statistics_by_hand():
    r = rollup_telemetry(HAND)
    c = r.cases
    assert c.columns == list(CASES_SCHEMA)
    assert c.schema == pl.Schema(CASES_SCHEMA)
    assert c.select(GROUP_KEYS).rows() == [
        ("rel-1", "support", date(2026, 10, 1), "faq", "low", "en", "smb"),
        ("rel-1", "support", date(2026, 10, 2), "faq", "low", "en", "smb"),
        ("rel-2", "support", date(2026, 10, 1), None, "low", "en", "smb"),
        ("rel-2", "support", date(2026, 10, 1), "faq", "low", "en", "smb"),
    ]
    a = c.row(0, named=True)
    assert a["n"] == 2
    assert (a["first_ts"], a["last_ts"]) == (ts("2026-10-01T10:00:00Z"), ts("2026-10-01T23:59:00Z"))
    assert (a["escalated"], a["reworked"], a["policy_violation"], a["refused"]) == (1, 1, 0, 0)
    assert a["handling_time_s_sum"] == 180.0 and a["handling_time_s_sumsq"] == 3600.0 + 14400.0
    assert a["latency_ms_sum"] == 1250.0 and a["latency_ms_sumsq"] == 1e6 + 62500.0
    assert a["tokens_sum"] == 400.0 and a["tokens_sumsq"] == 1e4 + 9e4
    assert a["model_cost_usd_sum"] == pytest.approx(0.04)
    assert a["model_cost_usd_sumsq"] == pytest.approx(0.0001 + 0.0009)
    assert (a["quality_n"], a["quality_score_sum"]) == (1, 0.8)
    assert a["quality_score_sumsq"] == pytest.approx(0.64)
    assert a["cost_x_handling"] == pytest.approx(0.01 * 60 + 0.03 * 120)
    assert a["cost_x_reworked"] == pytest.approx(0.03)
    assert a["cost_x_escalated"] == pytest.approx(0.01)
    assert (a["handling_x_reworked"], a["handling_x_escalated"]) == (120.0, 60.0)
    assert a["reworked_x_escalated"] == 0.0
    assert all(a[f"{m}_n"] == 2 for m in ("escalated", "latency_ms", "tokens", "model_cost_usd"))
    # invalid (null) values are left out of their own sums and counts only
    null_latency, null_escalated = c.row(2, named=True), c.row(3, named=True)
    assert (null_latency["n"], null_latency["latency_ms_n"], null_latency["latency_ms_sum"]) == (
        1,
        0,
        0.0,
    )
    assert (null_escalated["escalated"], null_escalated["escalated_n"]) == (0, 0)
    assert null_escalated["reworked_n"] == 1


def test_latency_histogram_by_hand():
    lat = rollup_telemetry(HAND).latency
    assert lat.schema == pl.Schema(LATENCY_SCHEMA)
    got = lat.select("release_id", "day", "task_type", "latency_bin", "n").rows()
    assert got == [
        ("rel-1", date(2026, 10, 1), "faq", 95, 1),  # 250 ms: 40 * log10(250) = 95.9
        ("rel-1", date(2026, 10, 1), "faq", 120, 1),  # 1000 ms is the lower edge of bin 120
        ("rel-1", date(2026, 10, 2), "faq", 0, 1),  # below 1 ms
        ("rel-2", date(2026, 10, 1), "faq", LATENCY_N_BINS - 1, 1),  # beyond 10^7 ms
    ]  # the null latency has no bin


def test_bins_are_the_explicit_edges():
    edges = np.concatenate([LATENCY_EDGES, np.nextafter(LATENCY_EDGES, 0), [0.0, 1.0, 1e9]])
    frame = pl.DataFrame({"x": edges}).with_columns(latency_bin_expr("x").alias("b"))
    expected = np.searchsorted(LATENCY_EDGES, edges, side="right")
    assert frame["b"].to_numpy().tolist() == expected.tolist()
    assert frame.filter(pl.col("x") == 1000.0)["b"].to_list() == [120]
    nulls = pl.DataFrame({"x": [None, float("nan")]}, schema={"x": pl.Float64})
    assert nulls.select(latency_bin_expr("x"))["x"].to_list() == [None, None]
    # the representative value of a bin lies inside it
    mids = latency_bin_values()
    assert np.all(np.searchsorted(LATENCY_EDGES, mids, side="right") == np.arange(LATENCY_N_BINS))


def test_histogram_quantile_by_hand():
    bins, counts = np.array([10, 3, 7]), np.array([1, 2, 7])  # cumulative over 3, 7, 10
    assert histogram_quantile(bins, counts, 0.2) == latency_bin_values()[3]
    assert histogram_quantile(bins, counts, 0.5) == latency_bin_values()[7]
    assert histogram_quantile(bins, counts, 0.95) == latency_bin_values()[10]
    assert math.isnan(histogram_quantile(np.array([], dtype=int), np.array([]), 0.5))


def test_unit_cost_sums_match_per_case_costs():
    costs = Costs(human_hourly_usd=45.0, rework_usd=12.0, escalation_usd=20.0)
    row = rollup_telemetry(HAND).cases.head(1).with_columns(unit_cost_columns(costs))
    per_case = [0.01 + 60 / 3600 * 45 + 20.0, 0.03 + 120 / 3600 * 45 + 12.0]  # 20.76, 13.53
    assert row["unit_cost_sum"][0] == pytest.approx(sum(per_case))
    assert row["unit_cost_sumsq"][0] == pytest.approx(sum(v * v for v in per_case))


def test_empty_telemetry_gives_empty_tables(tmp_path: Path):
    empty = pl.DataFrame(schema=TELEMETRY_SCHEMA).lazy()
    r = rollup_telemetry(empty)
    assert r.cases.height == 0 and r.cases.schema == pl.Schema(CASES_SCHEMA)
    assert r.latency.height == 0 and r.latency.schema == pl.Schema(LATENCY_SCHEMA)
    loaded = Rollup.load(write_rollup(empty, tmp_path / "r"))
    assert_frame_equal(loaded.cases, r.cases)
    assert_frame_equal(loaded.latency, r.latency)
    assert dataset_rollup(None, None) is None


# ---------------------------------------------------------------- paths agree


def test_written_saved_and_in_memory_rollups_are_identical(tmp_path: Path):
    r = rollup_telemetry(HAND)
    streamed = Rollup.load(write_rollup(HAND, tmp_path / "streamed"))
    saved = Rollup.load(r.save(tmp_path / "saved"))
    for other in (streamed, saved):
        assert_frame_equal(other.cases, r.cases)
        assert_frame_equal(other.latency, r.latency)
    meta = json.loads((tmp_path / "streamed" / "rollup.json").read_text())
    assert (meta["engine"], meta["latency_bins_per_decade"]) == ("polars", 40)
    assert dataset_rollup(HAND, saved) is saved


def test_unpacked_keys_give_the_same_tables(monkeypatch: pytest.MonkeyPatch):
    packed = rollup_telemetry(HAND)
    monkeypatch.setattr(rollup_mod._KeyCodes, "fits", lambda self, with_bin: False)
    unpacked = rollup_telemetry(HAND)
    assert_frame_equal(unpacked.cases, packed.cases)
    assert_frame_equal(unpacked.latency, packed.latency)


def _overlapping_files(folder: Path) -> pl.LazyFrame:
    """Three Parquet files of random cases over ten days (and some without a timestamp) whose
    groups overlap: every (release, day, segment) appears in several files."""
    rng = np.random.default_rng(3)
    n = 3000
    start = datetime(2026, 3, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            **{k: [BASE[k]] * n for k in BASE},
            "ts": [start + timedelta(days=i % 10) for i in range(n)],
            "release_id": rng.choice(["rel-1", "rel-2", "rel-3"], n).tolist(),
            "language": rng.choice(["en", "de"], n).tolist(),
            "escalated": (rng.random(n) < 0.2).tolist(),
            "handling_time_s": rng.lognormal(5, 1, n).tolist(),
            "latency_ms": np.where(rng.random(n) < 0.05, np.nan, rng.lognormal(6, 1, n)).tolist(),
            "model_cost_usd": rng.random(n).tolist(),
            "quality_score": rng.random(n).tolist(),
        },
        schema=TELEMETRY_SCHEMA,
    ).with_columns(
        pl.when(pl.int_range(pl.len()) % 97 == 0)
        .then(None)
        .otherwise(pl.col("ts").dt.offset_by(pl.format("{}s", pl.int_range(pl.len()) % 86400)))
        .alias("ts"),
        pl.col("latency_ms").fill_nan(None),
    )
    folder.mkdir()
    files = []
    for i in range(3):
        files.append(folder / f"part-{i}.parquet")
        frame.gather_every(3, offset=i).write_parquet(files[-1], row_group_size=200)
    return pl.scan_parquet(files)


@pytest.mark.parametrize("packed", [True, False])
def test_day_batches_give_the_one_pass_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, packed: bool
):
    telemetry = _overlapping_files(tmp_path / "telemetry")
    if not packed:
        monkeypatch.setattr(rollup_mod._KeyCodes, "fits", lambda self, with_bin: False)
    one = rollup_telemetry(telemetry)
    keyed = rollup_mod._keyed(telemetry)
    codes = rollup_mod._KeyCodes.scan(keyed)
    assert codes is not None and codes.batches(10**9) == [None]
    monkeypatch.setattr(rollup_mod, "ROLLUP_BATCH_ROWS", 700)  # 300 a day: 2 days a batch
    assert len(codes.batches(rollup_mod.ROLLUP_BATCH_ROWS)) == 6  # null ts + 5 day batches
    batched = rollup_telemetry(telemetry)
    written = Rollup.load(write_rollup(telemetry, tmp_path / "rollup"))
    assert one.cases.height > 60 and one.cases["n"].sum() == 3000
    floats = [c for c, t in CASES_SCHEMA.items() if t == pl.Float64]
    for other in (batched, written):
        assert_frame_equal(other.cases.drop(floats), one.cases.drop(floats))
        assert_frame_equal(
            other.cases.select(floats), one.cases.select(floats), rel_tol=1e-12, abs_tol=0
        )
        assert_frame_equal(other.latency, one.latency)


def _reference(telemetry: pl.LazyFrame) -> Rollup:
    """The rollup the plain way: group by the string keys and sort on them."""
    keyed = telemetry.with_columns(pl.col("ts").dt.date().alias("day"))
    cases_ = keyed.group_by(GROUP_KEYS).agg(case_aggregations()).sort(GROUP_KEYS).collect()
    latency = (
        keyed.with_columns(latency_bin_expr().alias("latency_bin"))
        .filter(pl.col("latency_bin").is_not_null())
        .group_by([*GROUP_KEYS, "latency_bin"])
        .agg(pl.len().cast(pl.Int64).alias("n"))
        .sort([*GROUP_KEYS, "latency_bin"])
        .collect()
    )
    return Rollup(cases=cases_, latency=latency)


key_text = st.one_of(st.none(), st.sampled_from(["", "a", "B", "b", "é", "zz", "a b", "日本"]))
row = st.fixed_dictionaries(
    {
        "ts": st.integers(0, 4 * 86_400_000_000).map(
            lambda us: datetime.fromtimestamp(1_780_000_000 + us / 1e6, tz=UTC)
        ),
        "release_id": st.sampled_from(["rel-1", "rel-10", "rel-2", "Rel-1"]),
        "system": st.sampled_from(["claims", "support"]),
        "task_type": key_text,
        "criticality": st.one_of(st.none(), st.sampled_from(["low", "medium", "high"])),
        "language": key_text,
        "customer_segment": key_text,
        "escalated": st.one_of(st.none(), st.booleans()),
        "reworked": st.booleans(),
        "policy_violation": st.booleans(),
        "refused": st.booleans(),
        "handling_time_s": st.floats(0, 1e4),
        "latency_ms": st.one_of(
            st.none(), st.floats(0, 1e8), st.sampled_from([float(e) for e in LATENCY_EDGES])
        ),
        "tokens": st.floats(0, 1e5),
        "model_cost_usd": st.floats(0, 10),
        "quality_score": st.one_of(st.none(), st.floats(0, 1)),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=60))
def test_rollup_matches_the_plain_computation(rows: list[dict]):
    telemetry = pl.DataFrame(rows, schema=TELEMETRY_SCHEMA).lazy()
    got, want = rollup_telemetry(telemetry), _reference(telemetry)
    assert_frame_equal(got.cases, want.cases, rel_tol=1e-12, abs_tol=1e-12)
    assert_frame_equal(got.latency, want.latency)
    # histograms add up to the valid latencies of their groups
    totals = got.latency.group_by(GROUP_KEYS).agg(pl.col("n").sum()).sort(GROUP_KEYS)
    valid = got.cases.filter(pl.col("latency_ms_n") > 0).select(*GROUP_KEYS, "latency_ms_n")
    assert totals["n"].to_list() == valid["latency_ms_n"].to_list()


# ---------------------------------------------------------------- loading


def test_load_rejects_other_versions(tmp_path: Path):
    folder = rollup_telemetry(HAND).save(tmp_path / "r")
    meta = json.loads((folder / "rollup.json").read_text())
    (folder / "rollup.json").write_text(json.dumps({**meta, "latency_bins_per_decade": 20}))
    with pytest.raises(DataError, match="bins"):
        Rollup.load(folder)
    (folder / "rollup.json").unlink()
    pl.read_parquet(folder / "cases.parquet").drop("tokens_n").write_parquet(
        folder / "cases.parquet"
    )
    with pytest.raises(DataError, match="tokens_n"):
        Rollup.load(folder)
    with pytest.raises(DataError, match="does not exist"):
        Rollup.load(tmp_path / "nowhere")


def test_load_reads_part_file_folders(tmp_path: Path):
    """Spark writes each table as a folder of part files, in key order across the parts."""
    r = rollup_telemetry(HAND)
    folder = tmp_path / "spark"
    for name, table in (("cases", r.cases), ("latency", r.latency)):
        (folder / f"{name}.parquet").mkdir(parents=True)
        half = table.height // 2
        table.head(half).write_parquet(folder / f"{name}.parquet" / "part-00000-x.parquet")
        table.tail(table.height - half).write_parquet(
            folder / f"{name}.parquet" / "part-00001-x.parquet"
        )
        (folder / f"{name}.parquet" / "_SUCCESS").touch()
    loaded = Rollup.load(folder)
    assert_frame_equal(loaded.cases, r.cases)
    assert_frame_equal(loaded.latency, r.latency)


# ---------------------------------------------------------------- the command


def _dataset(folder: Path, telemetry: pl.LazyFrame, policy: str | None = None) -> Path:
    write_table(
        folder,
        "releases",
        [
            release("rel-1", "support", "2026-09-30T00:00:00Z"),
            release("rel-2", "support", "2026-09-30T06:00:00Z"),
        ],
    )
    (folder / "telemetry").mkdir(parents=True)
    telemetry.collect().write_parquet(folder / "telemetry" / "2026-10.parquet")
    if policy is not None:
        (folder / "policy.yaml").write_text(policy)
    return folder


def test_command_writes_what_load_dataset_reads(tmp_path: Path, capsys: pytest.CaptureFixture):
    data = _dataset(tmp_path / "d", HAND)
    assert main(["rollup", "--data", str(data), "--engine", "polars"]) == 0
    out = data / ROLLUP_DIRNAME
    assert capsys.readouterr().out.strip() == str(out)
    ds = load_dataset(data)
    assert ds.telemetry_rollup is not None
    direct = rollup_telemetry(ds.telemetry)
    assert_frame_equal(ds.telemetry_rollup.cases, direct.cases)
    assert_frame_equal(ds.telemetry_rollup.latency, direct.latency)
    saved = load_telemetry_quality(out)
    assert saved is not None and saved.rows_read == {"telemetry": 5}
    # --out elsewhere; running again replaces the folder
    other = tmp_path / "elsewhere"
    assert main(["rollup", "--data", str(data), "--out", str(other), "--engine", "polars"]) == 0
    assert main(["rollup", "--data", str(data), "--out", str(other), "--engine", "polars"]) == 0
    assert sorted(p.name for p in (other / ROLLUP_DIRNAME).iterdir()) == [
        "cases.parquet",
        "latency.parquet",
        "quality.json",
        "rollup.json",
    ]


def test_command_engine_from_the_policy(tmp_path: Path, capsys: pytest.CaptureFixture):
    good = _dataset(tmp_path / "good", HAND, "rollup:\n  engine: polars\n")
    assert main(["rollup", "--data", str(good)]) == 0
    bad = _dataset(tmp_path / "bad", HAND, "rollup:\n  engine: duckdb\n")
    assert main(["rollup", "--data", str(bad)]) == 2
    assert "rollup.engine" in capsys.readouterr().err


def test_command_without_telemetry_fails(tmp_path: Path, capsys: pytest.CaptureFixture):
    write_table(tmp_path, "releases", [release("rel-1", "support", "2026-09-30T00:00:00Z")])
    assert main(["rollup", "--data", str(tmp_path), "--engine", "polars"]) == 2
    assert "no telemetry" in capsys.readouterr().err


def test_progress_iter_passes_items_through():
    assert list(progress_iter(iter([1, 2, 3]), total=3, description="x")) == [1, 2, 3]
    assert list(progress_iter([1, 2], description="x", enabled=True)) == [1, 2]
    assert list(progress_iter([], total=0, enabled=False)) == []


# ---------------------------------------------------------------- raw vs rolled-up KPIs


def _add_bad_telemetry(folder: Path) -> None:
    """Append cases with an invalid latency, an invalid quality score and an unknown release
    to the last telemetry file, so the telemetry has data-quality findings to carry over."""
    last = sorted((folder / "telemetry").glob("*.parquet"))[-1]
    frame = pl.read_parquet(last)
    bad = frame.tail(3).with_columns(
        pl.Series("latency_ms", [-5.0, 120.0, 80.0]),
        pl.Series("quality_score", [0.5, 1.5, 0.5]),
        pl.Series("release_id", [frame["release_id"][-1], frame["release_id"][-1], "rel-9999"]),
    )
    pl.concat([frame, bad]).write_parquet(last)


def _all_kpis(data: Path) -> dict:
    import analytics as ra

    analysis = ra.analyze(load_dataset(data), ra.parse_as_of("2026-11-15T00:00:00Z"))
    months = {m: ra.monthly_kpis(analysis, m).to_dict() for m in ra.month_range("2026-10", 18)}
    return {"months": months, "releases": ra.release_records(analysis)}


def test_kpis_identical_from_raw_telemetry_and_from_its_rollup(tmp_path: Path):
    from analytics.sample.generate import generate_sample

    data = tmp_path / "sample"
    generate_sample(data, cases_per_day=5)
    _add_bad_telemetry(data)
    raw = _all_kpis(data)
    assert '"telemetry.latency_ms"' in json.dumps(raw)  # the planted findings are recorded
    assert main(["rollup", "--data", str(data), "--engine", "polars"]) == 0
    shutil.rmtree(data / "telemetry")
    rolled = _all_kpis(data)
    # load_dataset merges telemetry_rollup/quality.json, so even the data-quality record of the
    # raw telemetry is reproduced.
    assert "telemetry" in load_dataset(data).quality.rows_read
    assert json.dumps(rolled) == json.dumps(raw)


def test_docs_describe_every_column():
    text = (Path(__file__).resolve().parents[1] / "docs" / "rollup.md").read_text()
    documented = set(re.findall(r"`([a-z_]+)`", text))
    assert set(CASES_SCHEMA) | set(LATENCY_SCHEMA) <= documented
    assert f"{rollup_mod.LATENCY_BINS_PER_DECADE} per decade" in text
    assert f"0 .. {LATENCY_N_BINS - 1}" in text
