"""The incremental telemetry rollup: per-day partitions, and only the days that changed are
rolled up again (docs/rollup.md, "Incremental rollup").

An incremental rollup folder holds ``cases.parquet/`` and ``latency.parquet/`` as folders of
one part per UTC day (``2026-10-01.parquet``; ``Rollup.load`` reads such folders as it reads
Spark's part files), ``rollup.json``, ``quality.json`` and ``_incremental.json``, the manifest:
per telemetry file its size, modification time and UTC days; the groups of files loaded
together with their data-quality record; and fingerprints of the releases table and the policy.

An update compares the telemetry files with the manifest. The days to roll up again are the
days of every new, changed or removed file; the files to read are the changed ones plus every
file that holds one of those days (or was loaded in one group with such a file), closed over
both, so exact duplicates (which share a day) and the data-quality record come out as a full
load would give them. The releases table is validated once; then each group of those files that
share a day is validated on its own (through a folder of links to them, as ``load_dataset``
validates a dataset's telemetry: ``load_telemetry_part``), so its data-quality record can later
be replaced on its own. Only when every group has passed are the days' parts replaced: the
groups are collected and rolled up in batches of about ``BATCH_CASES`` cases (whole days), each
batch released before the next is read, so memory is bounded by a batch, not by the year. A
late-arriving correction for one day therefore reads and rewrites that day only. A changed
releases table or policy (they decide which cases are kept), a manifest of another version, or
a file whose ``ts`` is not a time-zone-aware Parquet timestamp (its days cannot be read from the
column alone) makes the update a full one.

Each day's tables are exactly that day's rows of the full rollup (the day is a group key), so
the concatenated parts, sorted by the keys, equal ``rollup_telemetry`` of the whole telemetry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from analytics.core.errors import DataError
from analytics.core.policy import Policy, load_policy
from analytics.data.io import load_dataset, load_telemetry_part
from analytics.data.rollup import (
    QUALITY_FILE,
    ROLLUP_BATCH_ROWS,
    Rollup,
    rollup_telemetry,
    telemetry_quality_record,
    write_meta,
)
from analytics.data.telemetry_source import parquet_schema

MANIFEST = "_incremental.json"
MANIFEST_VERSION = 1
ENGINE = "polars-incremental"
_ZSTD_LEVEL = 1
# Cases of several groups of files collected and rolled up together (about 0.5 KB of memory a
# case at the peak, measured): memory is bounded by such a batch of days, not by the year, and
# the rollup's fixed cost is paid once per batch rather than once per day.
BATCH_CASES = 200_000


@dataclass(frozen=True)
class Update:
    """What an update did: whether it was full, the days rolled up again, the files read."""

    full: bool
    days: tuple[str, ...]
    files_read: int
    days_total: int


def is_incremental(folder: Path) -> bool:
    return (folder / MANIFEST).is_file()


def telemetry_files(data: Path) -> dict[str, Path]:
    """The dataset's telemetry Parquet files by path relative to the dataset folder (names
    starting with '.' or '_' skipped, as the loader does)."""
    single = data / "telemetry.parquet"
    if single.is_file():
        return {single.name: single}
    out: dict[str, Path] = {}
    for root, dirs, names in os.walk(data / "telemetry"):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(names):
            if name.endswith(".parquet") and not name.startswith((".", "_")):
                path = Path(root) / name
                out[path.relative_to(data).as_posix()] = path
    return out


def file_days(path: Path) -> list[str] | None:
    """The UTC days of a file's cases; None when ``ts`` is not a zoned Parquet timestamp. A
    file that is not readable Parquet is a DataError naming it, as in a full load."""
    dtype = parquet_schema(path).get("ts")
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        return None
    days = pl.scan_parquet(path).select(
        pl.col("ts").dt.convert_time_zone("UTC").dt.date().unique().drop_nulls()
    )
    return sorted(str(d) for d in days.collect().to_series())


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _inputs_fingerprint(data: Path, policy_path: Path | None) -> str:
    """What decides which cases are kept besides the telemetry: releases and policy."""
    h = hashlib.sha256()
    for path in (data / "releases.csv", data / "releases.parquet", policy_path):
        if path is not None and path.is_file():
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _plan(
    files: dict[str, Path], old: dict[str, Any]
) -> tuple[set[str], set[str], dict[str, list[str] | None]] | None:
    """(files to read, days to roll up, days of every current file), or None for a full
    update (a file whose days cannot be read)."""
    known = old.get("files", {})
    days: dict[str, list[str] | None] = {}
    changed: set[str] = set()
    for rel, path in files.items():
        entry = known.get(rel)
        if entry is not None and entry["stamp"] == _stamp(path):
            if entry["days"] is None:
                return None
            days[rel] = entry["days"]
            continue
        found = file_days(path)
        if found is None:
            return None
        days[rel] = found
        changed.add(rel)
    gone = set(known) - set(files)
    todo = {d for rel in changed | gone for d in days.get(rel) or []}
    todo |= {d for rel in changed | gone for d in known.get(rel, {}).get("days") or []}
    read = set(changed)
    while True:
        more = {rel for rel, ds in days.items() if rel not in read and todo.intersection(ds or [])}
        if not more:
            return read, todo, days
        read |= more
        todo |= {d for rel in more for d in days[rel] or []}


def components(read: set[str], days: dict[str, list[str] | None]) -> list[list[str]]:
    """The files to read in groups that share no day with each other (each is loaded on its
    own, so its data-quality record can be replaced on its own later); a file of unknown days
    joins every group, i.e. there is one."""
    if any(days[rel] is None for rel in read):
        return [sorted(read)]
    parent = {rel: rel for rel in read}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[str, str] = {}
    for rel in sorted(read):
        for day in days[rel] or []:
            if day in first:
                parent[root(rel)] = root(first[day])
            else:
                first[day] = rel
    groups: dict[str, list[str]] = {}
    for rel in sorted(read):
        groups.setdefault(root(rel), []).append(rel)
    return sorted(groups.values())


def _link_view(data: Path, files: dict[str, Path], read: set[str]) -> Path:
    """A dataset folder holding links to the releases table and the files to read (no
    ``telemetry/`` when there are none)."""
    view = Path(tempfile.mkdtemp(prefix=".rollup-view-", dir=data))
    for name in ("releases.csv", "releases.parquet"):
        if (data / name).is_file():
            _link(data / name, view / name)
    for rel in sorted(read):
        target = view / (rel if rel.startswith("telemetry/") else f"telemetry/{rel}")
        target.parent.mkdir(parents=True, exist_ok=True)
        _link(files[rel], target)
    return view


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        os.symlink(src.resolve(), dst)


def _day_batches(telemetry: pl.LazyFrame) -> list[list[str]]:
    """The days of ``telemetry``, in batches of at most ``ROLLUP_BATCH_ROWS`` cases."""
    counts = (
        telemetry.group_by(pl.col("ts").dt.date().alias("day"))
        .len()
        .collect(engine="streaming")
        .filter(pl.col("day").is_not_null())
        .sort("day")
    )
    batches: list[list[str]] = []
    total = 0
    for day, rows in counts.iter_rows():
        if not batches or total + rows > ROLLUP_BATCH_ROWS:
            batches.append([])
            total = 0
        batches[-1].append(str(day))
        total += rows
    return batches


def _clear_days(out: Path, days: set[str]) -> None:
    """Remove the days' parts (a day left without cases keeps none)."""
    for table in ("cases", "latency"):
        folder = out / f"{table}.parquet"
        folder.mkdir(parents=True, exist_ok=True)
        for day in days:
            (folder / f"{day}.parquet").unlink(missing_ok=True)


def _write_parts(part: Rollup, out: Path) -> None:
    """One part per day of each table of a rollup of whole days."""
    for table, frame in (("cases", part.cases), ("latency", part.latency)):
        for (day,), rows in frame.partition_by("day", as_dict=True).items():
            target = out / f"{table}.parquet" / f"{day}.parquet"
            tmp = target.with_name(f".{target.name}")
            rows.write_parquet(tmp, compression="zstd", compression_level=_ZSTD_LEVEL)
            os.replace(tmp, target)


def _roll_up_frames(frames: list[pl.DataFrame], out: Path) -> None:
    """Roll up a batch of groups' cases (whole days) held in memory."""
    if frames:
        _write_parts(rollup_telemetry(pl.concat(frames, how="diagonal_relaxed").lazy()), out)


def _roll_up_lazy(telemetry: pl.LazyFrame, out: Path) -> None:
    """Roll up a group too large to hold, reading it one batch of days at a time."""
    for batch in _day_batches(telemetry):
        wanted = pl.Series(batch).str.to_date()
        _write_parts(
            rollup_telemetry(telemetry.filter(pl.col("ts").dt.date().is_in(wanted.implode()))),
            out,
        )


@dataclass(frozen=True)
class _Group:
    """A group of files validated together: its folder of links, typed telemetry (lazy, read
    from that folder) and data-quality record."""

    files: list[str]
    view: Path
    frame: pl.LazyFrame
    quality: dict[str, Any]
    cases: int


def _validate(
    data: Path,
    files: dict[str, Path],
    read: set[str],
    days: dict[str, list[str] | None],
    policy: Policy,
    views: list[Path],
) -> list[_Group]:
    """Each group of files validated on its own (so its data-quality record can be replaced on
    its own later), against the releases validated once; nothing is collected yet, so a
    structural error stops the update before any part is touched. The groups' folders of links
    are added to ``views`` (the caller removes them)."""
    if not read:
        return []
    release_ids = _release_ids(data, policy)
    out = []
    for members in components(read, days):
        views.append(_link_view(data, files, set(members)))
        frame, quality = load_telemetry_part(views[-1] / "telemetry", policy, release_ids)
        record = telemetry_quality_record(quality)
        out.append(_Group(members, views[-1], frame, record, record["rows_loaded"] or 0))
    return out


def _batches(groups: list[_Group]) -> list[list[_Group]]:
    """The groups in batches of about ``BATCH_CASES`` cases (a larger group alone)."""
    batches: list[list[_Group]] = []
    total = 0
    for group in groups:
        if not batches or total + group.cases > BATCH_CASES:
            batches.append([])
            total = 0
        batches[-1].append(group)
        total += group.cases
    return batches


def _roll_up(groups: list[_Group], out: Path) -> None:
    """Roll the groups' days up, one batch of about ``BATCH_CASES`` cases at a time: the batch's
    cases are collected in one query, rolled up, written and released (and the batch's folders
    of links removed) before the next batch is read. A group larger than a batch is rolled up
    from its files, a batch of days at a time."""
    for batch in _batches(groups):
        if len(batch) == 1 and batch[0].cases > BATCH_CASES:
            _roll_up_lazy(batch[0].frame, out)
        else:
            frames = pl.collect_all([g.frame for g in batch], engine="streaming")
            _roll_up_frames(frames, out)
        for group in batch:
            shutil.rmtree(group.view, ignore_errors=True)


def _release_ids(data: Path, policy: Policy) -> set[str]:
    """The release ids the telemetry is checked against: the releases table, validated once."""
    view = _link_view(data, {}, set())
    try:
        return set(load_dataset(view, policy).releases["release_id"].to_list())
    finally:
        shutil.rmtree(view, ignore_errors=True)


def _merged_quality(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """The groups' data-quality records as one (findings listed group by group)."""
    out: dict[str, Any] = {
        "findings": [],
        "rows_read": 0,
        "rows_loaded": 0,
        "rows_excluded": {},
        "values_excluded": {},
    }
    for group in sorted(groups, key=lambda g: g["files"]):
        q = group["quality"]
        out["findings"] += q["findings"]
        out["rows_read"] += q["rows_read"] or 0
        out["rows_loaded"] += q["rows_loaded"] or 0
        for key in ("rows_excluded", "values_excluded"):
            for k, v in q[key].items():
                out[key][k] = out[key].get(k, 0) + v
    return out


def update_rollup(
    data: str | Path, out: str | Path, policy: str | Path | None = None, full: bool = False
) -> Update:
    """Bring the incremental rollup in ``out`` up to date with ``data``'s telemetry (module
    docstring); ``full`` rolls every day up again."""
    data, out = Path(data), Path(out)
    given = Path(policy) if policy else (data / "policy.yaml")
    policy_path = given if given.is_file() or policy else None
    pol: Policy = load_policy(policy_path)
    files = telemetry_files(data)
    if not files:
        raise DataError(f"dataset {data} has no telemetry Parquet files to roll up")
    old = json.loads((out / MANIFEST).read_text()) if is_incremental(out) else {}
    inputs = _inputs_fingerprint(data, policy_path)
    fresh = full or old.get("version") != MANIFEST_VERSION or old.get("inputs") != inputs
    plan = None if fresh else _plan(files, old)
    if plan is None:  # the old rollup is removed once the new one's inputs are validated
        old = {}
        days = {rel: file_days(p) for rel, p in files.items()}
        read, todo = set(files), {d for ds in days.values() for d in ds or []}
    else:
        read, todo, days = plan
    gone = set(old.get("files", {})) - set(files)
    groups = [g for g in old.get("groups", []) if not set(g["files"]) & (read | gone)]
    views: list[Path] = []
    try:
        loaded = _validate(data, files, read, days, pol, views)
        if plan is None:
            shutil.rmtree(out, ignore_errors=True)
        _clear_days(out, todo)
        _roll_up(loaded, out)
    finally:
        for view in views:
            shutil.rmtree(view, ignore_errors=True)
    groups += [{"files": g.files, "quality": g.quality} for g in loaded]
    all_days = sorted({d for ds in days.values() for d in ds or []})
    out.mkdir(parents=True, exist_ok=True)
    (out / QUALITY_FILE).write_text(
        json.dumps(_merged_quality(groups), indent=2, sort_keys=True) + "\n"
    )
    write_meta(out, ENGINE, days=len(all_days))
    manifest = {
        "version": MANIFEST_VERSION,
        "inputs": inputs,
        "files": {rel: {"stamp": _stamp(files[rel]), "days": days[rel]} for rel in sorted(files)},
        "groups": groups,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return Update(plan is None, tuple(sorted(todo)), len(read), len(all_days))
