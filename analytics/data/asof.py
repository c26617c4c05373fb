"""What is known at ``as_of``: the one cut of the dataset's event tables.

Every result depends on ``as_of`` and must not change when records dated after it are loaded.
The rule, applied here once (``known_at`` cuts a whole ``Dataset``; ``analyze`` calls it first,
so every downstream step, report section and chart sees the same cut; the per-table functions
are also applied by the public functions that take raw tables, which is harmless because the
cut is idempotent):

- **incidents**: an incident exists once ``detected_at <= as_of``; one detected later is dropped
  (not attributed, no failure, not unattributed either). A mitigation counts once
  ``mitigated_at <= as_of``; a later one is erased (``mitigated_at`` and ``mitigation`` null), so
  the incident is still open and right-censored at ``as_of`` for MTTM.
- **rollout_stages**: a stage exists once ``started_at <= as_of``. Its outcome (``decision``,
  ``stop_condition_met``) is taken when it ends, at ``ended_at``: a stage still running at
  ``as_of`` (``ended_at`` later) keeps its start and traffic but has ``ended_at``, ``decision``
  and ``stop_condition_met`` null (so a rollback decided later is not yet a rollback, a halt not
  yet a detection, an advance not yet a stop condition ignored).
- **operator_decisions**, **approvals**: a decision counts once ``decided_at <= as_of``.
- **gates**: an evaluation counts once ``evaluated_at <= as_of``.
- Evidence and releases carry no event time here (a release after ``as_of`` is kept and marked
  ``deployed = false`` by ``analyze``); telemetry is cut by case time in the rollup consumers.

**Missing or invalid times** (an invalid timestamp is nulled at load and reported as a
data-quality finding): such a record cannot be placed before or after ``as_of``, and it is
**kept as known at every ``as_of``** rather than dropped, so that a data error never hides a
failure or a process problem; it never supplies a time (it does not date a detection, it is left
out of durations and of month buckets). In particular an incident without ``detected_at`` still
counts (by its ``started_at`` for attribution), a stage decision without ``ended_at`` counts from
the stage's start, and an undated gate evaluation, approval or operator decision counts (the
approval check separately requires a vote dated no later than the release). The one exception
is ``mitigated_at``: empty means "still open" (docs/data-contract.md), so a missing or invalid
mitigation time never counts as a mitigation (an invalid one is also left out of MTTM,
``excluded``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import polars as pl

from analytics.data.dataset import Dataset

# table -> the column that dates its records (rollout stages and incidents have their own rules)
EVENT_TIME: dict[str, str] = {
    "gates": "evaluated_at",
    "approvals": "decided_at",
    "operator_decisions": "decided_at",
}
# A stage's outcome, known when the stage ends.
STAGE_OUTCOME: tuple[str, ...] = ("ended_at", "decision", "stop_condition_met")


def _not_after(col: str, as_of: datetime) -> pl.Expr:
    """True when ``col`` is at or before ``as_of``; undated (null) rows count as known."""
    return pl.col(col).is_null() | (pl.col(col) <= as_of)


def _erased(df: pl.DataFrame, when: pl.Expr, columns: tuple[str, ...]) -> list[pl.Expr]:
    """The ``columns`` of ``df`` set to null where ``when`` holds (not yet known at as_of)."""
    return [
        pl.when(when).then(None).otherwise(pl.col(c)).alias(c) for c in columns if c in df.columns
    ]


def known_rows(df: pl.DataFrame, col: str, as_of: datetime | None) -> pl.DataFrame:
    """Rows of ``df`` dated by ``col`` at or before ``as_of`` (undated rows kept)."""
    if as_of is None:
        return df
    return df.filter(_not_after(col, as_of))


def known_incidents(incidents: pl.DataFrame, as_of: datetime | None) -> pl.DataFrame:
    """Incidents detected by ``as_of``; a mitigation after ``as_of`` is erased (still open)."""
    if as_of is None:
        return incidents
    later = (pl.col("mitigated_at") > as_of).fill_null(False)
    erase = _erased(incidents, later, ("mitigated_at", "mitigation"))
    return incidents.filter(_not_after("detected_at", as_of)).with_columns(erase)


def known_stages(stages: pl.DataFrame, as_of: datetime | None) -> pl.DataFrame:
    """Rollout stages started by ``as_of``; a stage ending after ``as_of`` has no outcome yet."""
    if as_of is None:
        return stages
    running = (pl.col("ended_at") > as_of).fill_null(False)
    erase = _erased(stages, running, STAGE_OUTCOME)
    return stages.filter(_not_after("started_at", as_of)).with_columns(erase)


def known_at(ds: Dataset, as_of: datetime) -> Dataset:
    """``ds`` with every event table cut at ``as_of`` (see the module docstring)."""
    cut = {name: known_rows(ds.table(name), col, as_of) for name, col in EVENT_TIME.items()}
    return dataclasses.replace(
        ds,
        incidents=known_incidents(ds.incidents, as_of),
        rollout_stages=known_stages(ds.rollout_stages, as_of),
        **cut,  # type: ignore[arg-type]
    )
