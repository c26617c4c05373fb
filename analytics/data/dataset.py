"""A validated dataset, from a dataset folder (``load_dataset``) or from tables already read into
memory (``load_frames``, e.g. by a database importer), validated once, at the boundary
(docs/data-contract.md).

Both entry points run the same validation: the small tables in contract order (releases first,
so that the others can be checked against its ids; ``analytics.data.tables``), then the
telemetry (``analytics.data.telemetry``). Structural problems raise ``DataError``; row-level
problems become ``Finding`` s. A finding about a CSV file names its line; one about a Parquet
file or a table in memory names the row of the table (1-based), and ``Dataset.source`` names
where the tables came from.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from analytics.core.errors import DataError
from analytics.core.policy import Policy, load_policy
from analytics.core.quality import DataQuality, Finding
from analytics.core.schemas import ALL_TABLES, RELEASES, SMALL_TABLES, TELEMETRY, TableSchema
from analytics.data.files import find_file
from analytics.data.rollup_tables import ROLLUP_DIRNAME, Rollup, load_telemetry_quality
from analytics.data.tables import (
    complete_incidents,
    empty_table,
    read_table_file,
    table_from_frame,
    validate_table,
)
from analytics.data.telemetry import load_telemetry
from analytics.data.telemetry_source import (
    TelemetrySource,
    telemetry_from_frame,
    telemetry_from_path,
)


@dataclass(frozen=True)
class Dataset:
    """A validated dataset: typed polars frames, the policy and the data-quality record.

    Small tables are eager ``DataFrame`` s with the contract's columns (timestamps ``Datetime("us",
    "UTC")``, booleans ``Boolean``, enums lower-case strings), extra columns kept, and a ``_row``
    column. ``telemetry`` is a ``LazyFrame`` (or None when the dataset has none).
    """

    releases: pl.DataFrame
    evidence: pl.DataFrame
    gates: pl.DataFrame
    rollout_stages: pl.DataFrame
    approvals: pl.DataFrame
    incidents: pl.DataFrame
    operator_decisions: pl.DataFrame
    telemetry: pl.LazyFrame | None
    policy: Policy
    quality: DataQuality
    fingerprint: str = ""
    present: frozenset[str] = field(default_factory=frozenset)
    source: str = ""
    telemetry_rollup: Rollup | None = None  # pre-computed rollup found in the folder, if any

    def table(self, name: str) -> pl.DataFrame:
        return getattr(self, name)


# ---------------------------------------------------------------- the shared validation


@dataclass(frozen=True)
class _Raw:
    """A small table as read (``read_table_file``, ``table_from_frame``) and whether from CSV."""

    frame: pl.DataFrame
    csv: bool


class _Tally:
    """The data-quality record being built, table by table."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.rows_read: dict[str, int] = {}
        self.rows_loaded: dict[str, int] = {}
        self.rows_excluded: dict[str, dict[str, int]] = {}
        self.values: Counter[str] = Counter()

    def add(
        self,
        table: str,
        read: int,
        loaded: int,
        findings: Iterable[Finding],
        excluded: Mapping[str, int],
        values: Mapping[str, int],
    ) -> None:
        self.findings.extend(findings)
        self.values.update(values)
        self.rows_read[table] = read
        self.rows_loaded[table] = loaded
        self.rows_excluded[table] = dict(excluded)

    def merge(self, saved: DataQuality) -> None:
        """Add a saved record (the telemetry's, kept with its rollup)."""
        self.findings.extend(saved.findings)
        self.rows_read.update(saved.rows_read)
        self.rows_loaded.update(saved.rows_loaded)
        self.rows_excluded.update({t: dict(v) for t, v in saved.rows_excluded.items()})
        self.values.update(saved.values_excluded)

    def quality(self) -> DataQuality:
        return DataQuality(
            findings=tuple(self.findings),
            rows_read=self.rows_read,
            rows_loaded=self.rows_loaded,
            rows_excluded=self.rows_excluded,
            values_excluded=dict(self.values),
        )


def _small_tables(
    read: Callable[[TableSchema], _Raw | None], policy: Policy, tally: _Tally
) -> tuple[dict[str, pl.DataFrame], set[str] | None]:
    """Read (``read`` gives None for a table the dataset does not have) and validate every small
    table in contract order, one after the other; the typed tables and the release ids."""
    tables: dict[str, pl.DataFrame] = {}
    release_ids: set[str] | None = None
    for schema in SMALL_TABLES:
        raw = read(schema)
        if raw is None:
            tables[schema.name] = empty_table(schema)
            continue
        typed, rec = validate_table(
            raw.frame, schema, csv=raw.csv, policy=policy, release_ids=release_ids
        )
        if schema is RELEASES:
            release_ids = set(typed["release_id"].to_list())
        tables[schema.name] = typed
        tally.add(
            schema.name, raw.frame.height, typed.height, rec.findings, rec.excluded, rec.values
        )
    tables["incidents"] = complete_incidents(tables["incidents"])
    return tables, release_ids


def _telemetry(
    source: TelemetrySource, policy: Policy, release_ids: set[str] | None, tally: _Tally
) -> tuple[pl.LazyFrame, int]:
    """Validate the telemetry against the releases; the typed frame and the rows read."""
    load = load_telemetry(source, policy, release_ids or set())
    loaded = load.rows_read - sum(load.excluded.values())
    tally.add(TELEMETRY.name, load.rows_read, loaded, load.findings, load.excluded, load.values)
    return load.frame, load.rows_read


def _resolve_policy(
    policy: Policy | str | Path | None,
    overrides: Mapping[str, Any] | None,
    default_file: Path | None,
) -> Policy:
    """A Policy as given, or loaded from the path given, else from ``default_file`` when it
    exists, else the shipped default; ``overrides`` apply to a loaded one."""
    if isinstance(policy, Policy):
        return policy
    path = policy if policy is not None else default_file
    exists = path is not None and Path(path).is_file()
    return load_policy(path if policy is not None or exists else None, overrides)


def _dataset(
    tables: Mapping[str, pl.DataFrame], telemetry: pl.LazyFrame | None, **rest: Any
) -> Dataset:
    """The Dataset of the typed small tables, the telemetry and the rest of its fields."""
    small: dict[str, Any] = {s.name: tables[s.name] for s in SMALL_TABLES}
    return Dataset(**small, telemetry=telemetry, **rest)


# ---------------------------------------------------------------- a dataset folder


def _fingerprint(paths: list[Path]) -> str:
    """Content hash of the small tables plus name and size of every telemetry file."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for f in files:
            if not f.is_file():
                continue
            digest.update(f.name.encode())
            if f.parent.name == "telemetry" or f.stem == "telemetry":
                digest.update(str(f.stat().st_size).encode())
            else:
                digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def _folder_reader(folder: Path, used: list[Path]) -> Callable[[TableSchema], _Raw | None]:
    """Reads a small table from ``folder`` (its file appended to ``used``); a required table
    without a file stops the run."""

    def read(schema: TableSchema) -> _Raw | None:
        found = find_file(folder, schema.name)
        if found is None:
            if schema.required_table:
                raise DataError(
                    f"table '{schema.name}' is required: no {schema.name}.csv or "
                    f"{schema.name}.parquet in {folder}"
                )
            return None
        used.append(found)
        return _Raw(read_table_file(found, schema), csv=found.suffix == ".csv")

    return read


def _folder_rollup(folder: Path, has_telemetry: bool, tally: _Tally) -> Rollup | None:
    """The pre-computed rollup in ``folder``, if any. When the raw telemetry is gone, the data
    quality it had when it was rolled up is reported."""
    if not (folder / ROLLUP_DIRNAME).is_dir():
        return None
    rollup = Rollup.load(folder / ROLLUP_DIRNAME)
    saved = load_telemetry_quality(folder / ROLLUP_DIRNAME)
    if not has_telemetry and saved is not None:
        tally.merge(saved)
    return rollup


def load_dataset(
    data_dir: str | Path,
    policy: Policy | str | Path | None = None,
    *,
    policy_overrides: Mapping[str, Any] | None = None,
) -> Dataset:
    """Read and validate a dataset folder (docs/data-contract.md).

    ``policy``: a Policy, a path to a policy YAML, or None for ``data_dir/policy.yaml`` when it
    exists, else the shipped default. Raises ``DataError`` for structural problems.
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"dataset folder {folder} does not exist")
    policy = _resolve_policy(policy, policy_overrides, folder / "policy.yaml")
    tally = _Tally()
    used: list[Path] = []
    tables, release_ids = _small_tables(_folder_reader(folder, used), policy, tally)
    present = {p.stem for p in used}
    telemetry = None
    tpath = find_file(folder, TELEMETRY.name)
    if tpath is not None:
        present.add(TELEMETRY.name)
        used.append(tpath)
        source = telemetry_from_path(tpath, policy)
        telemetry, _ = _telemetry(source, policy, release_ids, tally)
    rollup = _folder_rollup(folder, tpath is not None, tally)
    if rollup is not None:
        present.add(ROLLUP_DIRNAME)
        used.append(folder / ROLLUP_DIRNAME)
    return _dataset(
        tables,
        telemetry,
        policy=policy,
        quality=tally.quality(),
        fingerprint=_fingerprint(used),
        present=frozenset(present),
        source=str(folder),
        telemetry_rollup=rollup,
    )


def load_telemetry_part(
    path: Path, policy: Policy, release_ids: set[str]
) -> tuple[pl.LazyFrame, DataQuality]:
    """The typed telemetry of one telemetry file or folder (``path`` inside a dataset folder,
    whose file names the findings carry) and its data-quality record, validated against the
    given release ids exactly as ``load_dataset`` validates a dataset's telemetry; for callers
    that validate parts of the telemetry one by one against releases read once (the
    incremental rollup). The frame reads ``path`` lazily."""
    tally = _Tally()
    frame, _ = _telemetry(telemetry_from_path(path, policy), policy, release_ids, tally)
    return frame, tally.quality()


# ---------------------------------------------------------------- tables in memory


def _frames_fingerprint(tables: Mapping[str, pl.DataFrame], telemetry_rows: int | None) -> str:
    """Hash of the small tables' columns and rows, plus the number of telemetry rows."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        df = tables[name]
        digest.update(f"{name}:{df.schema}".encode())
        digest.update(df.hash_rows(seed=0).to_numpy().tobytes())
    if telemetry_rows is not None:
        digest.update(f"telemetry:{telemetry_rows}".encode())
    return digest.hexdigest()[:12]


def load_frames(
    tables: Mapping[str, pl.DataFrame | pl.LazyFrame],
    *,
    source: str,
    policy: Policy | str | Path | None = None,
    policy_overrides: Mapping[str, Any] | None = None,
) -> Dataset:
    """Validate tables already read into memory, by table name (``releases`` required, the
    others optional, ``telemetry`` possibly lazy), exactly as ``load_dataset`` validates the
    files of a folder: the same findings and counts, naming the row of the table (there are no
    lines) and, in structural errors, ``source`` (where the tables came from, e.g. a database;
    also ``Dataset.source``). A frame is read like a Parquet file: typed columns are taken as
    they are, text is trimmed and parsed.

    ``policy``: a Policy, a path to a policy YAML, or None for the shipped default. Raises
    ``DataError`` for structural problems.
    """
    unknown = sorted(set(tables) - set(ALL_TABLES))
    if unknown:
        raise DataError(
            f"{source}: unknown table(s) {', '.join(unknown)}; the tables are "
            + ", ".join(ALL_TABLES)
        )
    policy = _resolve_policy(policy, policy_overrides, None)
    small = {
        name: frame.collect() if isinstance(frame, pl.LazyFrame) else frame
        for name, frame in tables.items()
        if name != TELEMETRY.name
    }

    def read(schema: TableSchema) -> _Raw | None:
        if schema.name not in small:
            if schema.required_table:
                raise DataError(f"table '{schema.name}' is required: {source} has none")
            return None
        return _Raw(table_from_frame(small[schema.name], schema, source), csv=False)

    tally = _Tally()
    typed, release_ids = _small_tables(read, policy, tally)
    telemetry, n_telemetry = None, None
    if TELEMETRY.name in tables:
        part = telemetry_from_frame(tables[TELEMETRY.name], policy, source)
        telemetry, n_telemetry = _telemetry(part, policy, release_ids, tally)
    return _dataset(
        typed,
        telemetry,
        policy=policy,
        quality=tally.quality(),
        fingerprint=_frames_fingerprint(small, n_telemetry),
        present=frozenset(tables),
        source=source,
    )
