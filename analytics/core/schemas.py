"""Declared schemas of the input tables (docs/data-contract.md).

Each column has a kind that says how it is parsed and checked at the boundary:
``str`` (free text), ``id`` (non-empty text), ``ts`` (ISO 8601 with offset, normalised to UTC),
``bool`` (true/false/1/0), ``float``/``int`` with optional bounds, or ``enum`` with the allowed
lower-case values. Numbers must be finite (NaN, inf and -inf are invalid values) and within
their bounds. Code behind ``analytics.data.dataset.load_dataset`` trusts these types.

A Parquet telemetry file must give each column a type that can represent its kind (numbers: an
integer, float or decimal type; ``bool``: Boolean; ``ts``: a timestamp or ISO 8601 text; text
kinds: String, Categorical, Enum or an integer type), else it is a structural error naming the
file and the column; ``analytics.data.telemetry`` casts every file to ``polars_schema`` before the
files are concatenated (see its module docstring).

Every timestamp must also be plausible: from ``TS_MIN`` (1970-01-01T00:00:00Z) up to, not
including, ``TS_MAX`` (3000-01-01T00:00:00Z). A value outside that range (year 0001 from a
default date, year 9999 as "never") is an invalid value, ``timestamp_out_of_range``; the same
bounds limit the commands' ``--as-of`` (``analytics.cli.core.as_of_arg``), since windows
and cuts add and subtract days and months, which overflow Python's datetime near years 1 and 9999.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from analytics.core.policy import COMPONENTS


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # str | id | ts | bool | float | int | enum
    required: bool = False
    values: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: value must be > low rather than >= low


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    required_table: bool = False
    unique: str | None = None  # column whose values must be unique
    id_column: str | None = None  # column named in findings as the row's id
    references_release: bool = True  # release_id must exist in releases

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: POLARS_TYPES[c.kind] for c in self.columns}


UTC_TS = pl.Datetime("us", "UTC")
# The plausible timestamps, for every timestamp column and for --as-of (module docstring).
TS_MIN = datetime(1970, 1, 1, tzinfo=UTC)
TS_MAX = datetime(3000, 1, 1, tzinfo=UTC)  # exclusive
POLARS_TYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "id": pl.String(),
    "enum": pl.String(),
    "ts": UTC_TS,
    "bool": pl.Boolean(),
    "float": pl.Float64(),
    "int": pl.Int64(),
}

TIER_VALUES = ("low", "medium", "high")
# The spellings of a boolean in text, compared in lower case (docs/data-contract.md).
TRUE_VALUES = ("true", "1", "t", "yes")
FALSE_VALUES = ("false", "0", "f", "no")
VERSION_COLUMNS: tuple[str, ...] = tuple(f"{c}_version" for c in COMPONENTS)

RELEASES = TableSchema(
    name="releases",
    required_table=True,
    unique="release_id",
    id_column="release_id",
    references_release=False,
    columns=(
        Column("release_id", "id", True),
        Column("system", "id", True),
        Column("released_at", "ts", True),
        Column("risk_tier", "enum", True, TIER_VALUES),
        *(Column(v, "id", True) for v in VERSION_COLUMNS),
        Column("change_requested_at", "ts"),
        Column("accountable_owner", "str"),
        Column("train", "enum", False, ("daily", "weekly", "monthly", "emergency")),
        Column("summary", "str"),
        Column("team", "str"),
    ),
)

EVIDENCE = TableSchema(
    name="evidence",
    columns=(
        Column("release_id", "id", True),
        Column("item", "id", True),
        Column("status", "enum", True, ("present", "missing", "waived")),
        Column("approved_by", "str"),
        Column("uri", "str"),
    ),
)

GATES = TableSchema(
    name="gates",
    columns=(
        Column("release_id", "id", True),
        Column("gate", "enum", True, ("functional", "safety", "operational", "business")),
        Column("result", "enum", True, ("pass", "fail", "waived", "not_run")),
        Column("evaluated_at", "ts"),
        Column("metric", "str"),
        Column("value", "float"),
        Column("threshold", "float"),
    ),
)

ROLLOUT_STAGES = TableSchema(
    name="rollout_stages",
    columns=(
        Column("release_id", "id", True),
        Column("stage", "int", True, low=1),
        Column("traffic_pct", "float", True, low=0, high=100, low_open=True),
        Column("started_at", "ts", True),
        Column("ended_at", "ts"),
        Column("segment", "str"),
        Column("decision", "enum", True, ("advance", "hold", "halt", "rollback", "complete")),
        Column("decided_by", "str"),
        Column("stop_condition_met", "bool"),
    ),
)

APPROVALS = TableSchema(
    name="approvals",
    columns=(
        Column("release_id", "id", True),
        Column(
            "role",
            "enum",
            True,
            ("product_owner", "platform", "risk_compliance", "operations", "other"),
        ),
        Column("approver", "id", True),
        Column("decision", "enum", True, ("go", "no_go", "abstain")),
        Column("decided_at", "ts", True),
        Column("final", "bool"),
    ),
)

MITIGATIONS = (
    "model_rollback",
    "policy_rollback",
    "routing_rollback",
    "roll_forward",
    "config_fix",
    "none",
)
INCIDENTS = TableSchema(
    name="incidents",
    unique="incident_id",
    id_column="incident_id",
    columns=(
        Column("incident_id", "id", True),
        Column("system", "id", True),
        Column("detected_at", "ts", True),
        Column("severity", "enum", True, ("sev1", "sev2", "sev3", "sev4")),
        Column(
            "category",
            "enum",
            True,
            ("quality", "safety", "compliance", "cost", "latency", "availability"),
        ),
        Column("release_id", "str"),
        Column("started_at", "ts"),
        Column("mitigated_at", "ts"),
        Column("mitigation", "enum", False, MITIGATIONS),
        Column(
            "detection_source",
            "enum",
            False,
            ("alert", "canary", "dashboard", "customer", "operator", "audit"),
        ),
        Column("decision_quality_impact", "bool"),
    ),
)

OPERATOR_DECISIONS = TableSchema(
    name="operator_decisions",
    columns=(
        Column("release_id", "id", True),
        Column("decided_at", "ts", True),
        Column("operator", "id", True),
        Column(
            "action",
            "enum",
            True,
            ("continue", "pause", "rollback", "roll_forward", "escalate", "note"),
        ),
        Column("rationale", "str"),
    ),
)

TELEMETRY = TableSchema(
    name="telemetry",
    columns=(
        Column("ts", "ts", True),
        Column("release_id", "id", True),
        Column("system", "id", True),
        Column("task_type", "id", True),
        Column("criticality", "enum", True, TIER_VALUES),
        Column("language", "id", True),
        Column("customer_segment", "id", True),
        Column("escalated", "bool", True),
        Column("reworked", "bool", True),
        Column("policy_violation", "bool", True),
        Column("refused", "bool", True),
        Column("handling_time_s", "float", True, low=0),
        Column("latency_ms", "float", True, low=0),
        Column("tokens", "float", True, low=0),
        Column("model_cost_usd", "float", True, low=0),
        Column("quality_score", "float", False, low=0, high=1),
    ),
)

SMALL_TABLES: tuple[TableSchema, ...] = (
    RELEASES,
    EVIDENCE,
    GATES,
    ROLLOUT_STAGES,
    APPROVALS,
    INCIDENTS,
    OPERATOR_DECISIONS,
)
ALL_TABLES: dict[str, TableSchema] = {t.name: t for t in (*SMALL_TABLES, TELEMETRY)}
SEGMENT_COLUMNS: tuple[str, ...] = ("task_type", "criticality", "language", "customer_segment")
