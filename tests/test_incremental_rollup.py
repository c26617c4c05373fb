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
from analytics.data.incremental import MANIFEST, update_rollup
from analytics.data.io import load_dataset
from analytics.data.rollup import GROUP_KEYS, Rollup, load_telemetry_quality, rollup_telemetry


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample dataset with its telemetry re-written as one Parquet file per UTC day (the
    layout ``analytics import`` writes), some invalid values and a duplicate kept."""
    from analytics.sample.generate import generate_sample

    src = tmp_path_factory.mktemp("sample") / "d"
    generate_sample(src, cases_per_day=3)
    telemetry = pl.read_parquet(src / "telemetry" / "*.parquet")
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
