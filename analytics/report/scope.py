"""What a report covers: some systems, or the releases of some teams.

Two ways to narrow a report, both giving the same numbers for a system:

- ``restrict_systems(dataset, systems)``: before the analysis, every table cut to the systems
  (a system's releases, previous releases, incidents and telemetry all belong to it);
- ``restrict_releases(analysis, column, names)`` (``restrict_teams``): after the whole dataset
  was analysed, the per-release results cut to the releases whose ``column`` (``team`` or
  ``system``) is one of ``names``. Teams need this order: two teams can release the same system,
  and a release keeps the previous release, the incident attribution and the version comparison
  the whole system gives it. Its incidents are those attributed to its releases, its telemetry
  the cases those releases served.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import polars as pl

from analytics.analysis.steps import Analysis
from analytics.core.errors import DataError
from analytics.data.io import Dataset
from analytics.data.rollup import Rollup


def names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """A selection from a list or a comma-separated string; None or empty: everything."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(s.strip() for s in value.split(",") if s.strip())
    return tuple(str(s) for s in value)


def _check_known(what: str, chosen: Sequence[str], known: set[str]) -> None:
    unknown = sorted(set(chosen) - known)
    if not known:
        raise DataError(f"{what}: the releases table names none (column {what!r} is empty)")
    if unknown:
        raise DataError(
            f"unknown {what if len(unknown) == 1 else what + 's'}: {', '.join(unknown)}; "
            f"the dataset has {', '.join(sorted(known))}"
        )


def restrict_systems(ds: Dataset, systems: Sequence[str]) -> Dataset:
    """The dataset limited to the releases, incidents and telemetry of ``systems`` (all tables
    that name a release keep only rows of those releases). An empty selection keeps everything;
    an unknown system name is a ``DataError``."""
    if not systems:
        return ds
    _check_known("system", systems, set(ds.releases["system"].drop_nulls().to_list()))
    keep = list(systems)
    releases = ds.releases.filter(pl.col("system").is_in(keep))
    ids = releases["release_id"].implode()

    def by_release(df: pl.DataFrame) -> pl.DataFrame:
        return df.filter(pl.col("release_id").is_in(ids))

    rollup = ds.telemetry_rollup
    if rollup is not None:
        rollup = Rollup(
            cases=rollup.cases.filter(pl.col("system").is_in(keep)),
            latency=rollup.latency.filter(pl.col("system").is_in(keep)),
        )
    return replace(
        ds,
        releases=releases,
        evidence=by_release(ds.evidence),
        gates=by_release(ds.gates),
        rollout_stages=by_release(ds.rollout_stages),
        approvals=by_release(ds.approvals),
        operator_decisions=by_release(ds.operator_decisions),
        incidents=ds.incidents.filter(pl.col("system").is_in(keep)),
        telemetry=None
        if ds.telemetry is None
        else ds.telemetry.filter(pl.col("system").is_in(keep)),
        telemetry_rollup=rollup,
    )


def restrict_releases(analysis: Analysis, column: str, chosen: Sequence[str]) -> Analysis:
    """``analysis`` limited to the releases whose ``column`` is one of ``chosen``, with their
    incidents, audit rows, version comparisons and telemetry (module docstring). An empty
    selection keeps everything; a value no release has is a ``DataError``."""
    if not chosen:
        return analysis
    rel = analysis.releases
    known = set(rel[column].drop_nulls().to_list()) if column in rel.columns else set()
    _check_known(column, chosen, known)
    keep = rel.filter(pl.col(column).is_in(list(chosen)))
    ids = set(keep["release_id"].to_list())

    def mine(df: pl.DataFrame, col: str = "release_id") -> pl.DataFrame:
        return df.filter(pl.col(col).is_in(sorted(ids))) if col in df.columns else df

    rollup = analysis.rollup
    if rollup is not None:
        rollup = Rollup(cases=mine(rollup.cases), latency=mine(rollup.latency))
    return replace(
        analysis,
        releases=keep,
        incidents=mine(analysis.incidents, "attributed_release_id"),
        audit=mine(analysis.audit),
        rollup=rollup,
        comparisons={k: v for k, v in analysis.comparisons.items() if k in ids},
    )


def restrict_teams(analysis: Analysis, teams: Sequence[str]) -> Analysis:
    """``analysis`` limited to the releases of ``teams`` (``releases.team``)."""
    return restrict_releases(analysis, "team", teams)


def scope_text(systems: Sequence[str], teams: Sequence[str]) -> str:
    """What a report covers, for its subtitle: ``all systems``, ``system claims``,
    ``teams a, b``."""
    parts = [
        f"{what if len(v) == 1 else what + 's'} {', '.join(v)}"
        for what, v in (("team", teams), ("system", systems))
        if v
    ]
    return " · ".join(parts) if parts else "all systems"


__all__ = ["names", "restrict_releases", "restrict_systems", "restrict_teams", "scope_text"]
