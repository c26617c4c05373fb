"""The incremental rollup (``analytics rollup --incremental``): per-day partitions, only the days
whose telemetry files changed are rolled up again, and the result equals a full rollup."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics.cli.main import main
from analytics.core.errors import DataError
from analytics.data import incremental
from analytics.data.incremental import MANIFEST, update_rollup
from analytics.data.io import load_dataset
from analytics.data.rollup import GROUP_KEYS, Rollup, load_telemetry_quality, rollup_telemetry


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample dataset with its telemetry re-written as one Parquet file per UTC day (the
    layout ``analytics import`` writes), some invalid values and a duplicate kept. Only its
    first 40 days of telemetry: enough days for every case below, and each update walks every
    day's file (a year of them made this file four minutes of the suite)."""
    from analytics.sample.generate import generate_sample

    src = tmp_path_factory.mktemp("sample") / "d"
    generate_sample(src, cases_per_day=3)
    telemetry = pl.read_parquet(src / "telemetry" / "*.parquet")
    first_days = telemetry["ts"].dt.date().unique().sort().head(40)
    telemetry = telemetry.filter(pl.col("ts").dt.date().is_in(first_days.implode()))
    shutil.rmtree(src / "telemetry")
    bad = telemetry.head(3).with_columns(pl.Series("latency_ms", [-5.0, 1.0, 2.0]))
    telemetry = pl.concat([telemetry, bad])  # one invalid latency, two exact duplicates
    for (day,), part in (
        telemetry.with_columns(pl.col("ts").dt.date().alias("_d"))
        .partition_by("_d", as_dict=True, include_key=False)
        .items()
    ):
        folder = src / "telemetry" / f"day={day}"
        folder.mkdir(parents=True)
        part.write_parquet(folder / "part.parquet")
    return src


def _sorted(frame: pl.DataFrame, extra: tuple[str, ...] = ()) -> pl.DataFrame:
    return frame.sort([*GROUP_KEYS, *extra], nulls_last=False)


def _assert_equals_full(data: Path, out: Path) -> None:
    """The incremental tables, sorted, equal the rollup of the whole telemetry."""
    full = rollup_telemetry(load_dataset(data).telemetry)
    got = Rollup.load(out)
    assert_frame_equal(_sorted(got.cases), _sorted(full.cases))
    assert_frame_equal(
        _sorted(got.latency, ("latency_bin",)), _sorted(full.latency, ("latency_bin",))
    )
    quality = load_telemetry_quality(out)
    whole = load_dataset(data).quality
    assert quality.rows_read["telemetry"] == whole.rows_read["telemetry"]
    assert quality.rows_excluded == {"telemetry": whole.rows_excluded["telemetry"]}
    assert quality.values_excluded == {
        k: v for k, v in whole.values_excluded.items() if k.startswith("telemetry.")
    }


def _day_file(data: Path, day: str) -> Path:
    return data / "telemetry" / f"day={day}" / "part.parquet"


def test_new_day_and_late_correction_roll_up_only_their_day(sample: Path, tmp_path: Path):
    data = tmp_path / "d"
    shutil.copytree(sample, data)
    last = sorted((data / "telemetry").glob("day=*"))[-1]
    held_back = tmp_path / "last.parquet"
    shutil.move(last / "part.parquet", held_back)
    last.rmdir()
    out = tmp_path / "rollup"
    first = update_rollup(data, out)
    assert first.full and first.files_read == first.days_total == len(first.days)
    _assert_equals_full(data, out)

    # nothing changed: nothing read
    again = update_rollup(data, out)
    assert (again.full, again.days, again.files_read) == (False, (), 0)

    # a new day arrives
    day = last.name.removeprefix("day=")
    last.mkdir()
    shutil.move(held_back, last / "part.parquet")
    new = update_rollup(data, out)
    assert (new.full, new.days, new.files_read) == (False, (day,), 1)
    _assert_equals_full(data, out)

    # a late-arriving correction of an old day: that day only
    old_day = sorted((data / "telemetry").glob("day=*"))[10].name.removeprefix("day=")
    path = _day_file(data, old_day)
    frame = pl.read_parquet(path)
    frame.with_columns(pl.lit(True).alias("escalated")).write_parquet(path)
    fixed = update_rollup(data, out)
    assert (fixed.days, fixed.files_read) == ((old_day,), 1)
    _assert_equals_full(data, out)

    # a second file for a day: both files of that day are read (duplicates span them)
    extra = path.with_name("late.parquet")
    frame.head(2).write_parquet(extra)
    both = update_rollup(data, out)
    assert (both.days, both.files_read) == ((old_day,), 2)
    _assert_equals_full(data, out)

    # a removed day loses its parts
    shutil.rmtree(path.parent)
    gone = update_rollup(data, out)
    assert (gone.days, gone.files_read) == ((old_day,), 0)
    assert not (out / "cases.parquet" / f"{old_day}.parquet").exists()
    _assert_equals_full(data, out)


def test_changed_releases_roll_everything_up_again(sample: Path, tmp_path: Path):
    data = tmp_path / "d"
    shutil.copytree(sample, data)
    out = tmp_path / "rollup"
    update_rollup(data, out)
    releases = pl.read_csv(data / "releases.csv", infer_schema=False)
    releases.head(releases.height - 5).write_csv(data / "releases.csv")
    again = update_rollup(data, out)
    assert again.full
    _assert_equals_full(data, out)


def test_command_keeps_the_rollup_incremental(sample: Path, tmp_path: Path, capsys):
    data = tmp_path / "d"
    shutil.copytree(sample, data)
    assert main(["rollup", "--data", str(data), "--incremental"]) == 0
    assert "all days rolled up" in capsys.readouterr().out
    assert (data / "telemetry_rollup" / MANIFEST).is_file()
    assert main(["rollup", "--data", str(data)]) == 0  # stays incremental: nothing to do
    assert "0 days rolled up from 0 files" in capsys.readouterr().out
    ds = load_dataset(data)
    assert ds.telemetry_rollup is not None and ds.telemetry_rollup.cases.height > 0
    meta = json.loads((data / "telemetry_rollup" / "rollup.json").read_text())
    assert meta["engine"] == "polars-incremental"
    _assert_equals_full(data, data / "telemetry_rollup")


def test_first_build_rolls_up_one_batch_of_days_at_a_time(
    sample: Path, tmp_path: Path, monkeypatch
):
    """Memory is bounded by a batch of days, not the year: each rollup reads whole days of at
    most ``BATCH_CASES`` cases (here three times the largest day), except a group of files
    larger than that, rolled up on its own (here the tenth day, given a second file of six
    batches' worth of cases). The result is still the full rollup's."""
    data = tmp_path / "d"
    shutil.copytree(sample, data)
    per_day = load_dataset(data).telemetry.group_by(pl.col("ts").dt.date()).len().collect()
    batch = 3 * int(per_day["len"].max())
    tenth = sorted((data / "telemetry").glob("day=*"))[9] / "part.parquet"
    late = pl.read_parquet(tenth).head(1).select(pl.all().repeat_by(6 * batch).explode())
    late.with_columns(pl.col("latency_ms") + 1 + pl.int_range(pl.len())).write_parquet(
        tenth.with_name("late.parquet")
    )
    telemetry = load_dataset(data).telemetry
    cases = telemetry.select(pl.len()).collect().item()
    day = pl.read_parquet(tenth)["ts"].dt.date()[0]
    tenth_cases = telemetry.filter(pl.col("ts").dt.date() == day).select(pl.len()).collect()
    seen: list[tuple[int, int]] = []

    def counting(telemetry: pl.LazyFrame):
        seen.append(telemetry.select(pl.len(), pl.col("ts").dt.date().n_unique()).collect().row(0))
        return rollup_telemetry(telemetry)

    monkeypatch.setattr(incremental, "BATCH_CASES", batch)
    monkeypatch.setattr(incremental, "rollup_telemetry", counting)
    update_rollup(data, tmp_path / "rollup")
    assert [(n, days) for n, days in seen if n > batch] == [(tenth_cases.item(), 1)]
    assert len(seen) > (cases - tenth_cases.item()) / batch  # the other days: several batches
    assert sum(n for n, _ in seen) == cases  # every case rolled up once
    _assert_equals_full(data, tmp_path / "rollup")


@pytest.mark.parametrize("broken", ["not parquet", "no system column"])
def test_a_structural_error_leaves_the_rollup_as_it_was(sample: Path, tmp_path: Path, broken: str):
    """Every group is validated before any part is touched: a telemetry file that is not
    Parquet, or lacks a required column, stops the update with a DataError naming it (exit 2
    in the command) and the rollup stays as it was."""
    data = tmp_path / "d"
    shutil.copytree(sample, data)
    out = tmp_path / "rollup"
    update_rollup(data, out)
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    days = sorted((data / "telemetry").glob("day=*"))
    first = pl.read_parquet(days[0] / "part.parquet")
    first.with_columns(pl.lit(True).alias("escalated")).write_parquet(days[0] / "part.parquet")
    bad = days[-1] / "broken.parquet"
    if broken == "not parquet":
        bad.write_bytes(b"PAR1 not really")
    else:
        first.drop("system").write_parquet(bad)
    with pytest.raises(DataError, match="broken.parquet"):
        update_rollup(data, out)
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    assert not list(data.glob(".rollup-view-*"))  # no folder of links left behind


def test_a_structural_error_in_a_full_rebuild_keeps_the_old_rollup(sample: Path, tmp_path: Path):
    """Changed releases mean every day is rolled up again; a broken file found while validating
    stops that before the old rollup is removed."""
    data = tmp_path / "d"
    shutil.copytree(sample, data)
    out = tmp_path / "rollup"
    update_rollup(data, out)
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    releases = (data / "releases.csv").read_text()
    (data / "releases.csv").write_text(releases.replace("weekly", "monthly", 1))
    days = sorted((data / "telemetry").glob("day=*"))
    (days[-1] / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="broken.parquet"):
        update_rollup(data, out)
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
