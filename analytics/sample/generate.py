"""A deterministic sample dataset: 18 months of AI releases at a fictional insurer, planted truth.

``generate_sample(out_dir, seed=7)`` writes a dataset folder that follows the data contract and is
meant for demos, notebooks, golden tests and benchmarks. The same seed (and parameters) gives the
same bytes. No wall clock is read. The dataset has no ``policy.yaml``: it is generated for, and its
truth is derived with, the project's default policy (``analytics/core/default_policy.yaml``).

The organisation ("Northwind Mutual")
-------------------------------------
Three AI systems: ``support`` (customer-support assistant, from the start), ``claims`` (claims
triage, from the start) and ``search`` (search answers, launched three months later; for short
ranges, after ``months // 6`` months). Releases ship on release trains placed on the calendar the
default policy describes (``trains`` section, in UTC): high risk on the monthly train (a Tuesday or
Wednesday in the first 7 days of a month), medium on the weekly train (Tuesday/Wednesday), low on
any weekday; emergency releases (roll-forward fixes, urgent safety patches) at any time. There is a
change freeze from 15 December to 12 January every year. Each release changes 1 to 3 components
against the previous release of its system (the first release of a system: all seven). Version
strings carry a per-system counter per component.

Files written
-------------
``releases.csv evidence.csv gates.csv rollout_stages.csv approvals.csv incidents.csv
operator_decisions.csv`` (UTF-8, header on line 1, ``\\n`` line ends, no newline inside a field),
``telemetry/YYYY-MM.parquet`` (one zstd Parquet file per calendar month in UTC, sorted by ``ts``)
and ``truth.json``. Existing ``telemetry/*.parquet`` files in ``out_dir`` are removed first so a
folder never mixes two generations. ``incidents.csv`` has an extra ``title`` column (extra
columns are allowed by the contract).

CSV timestamps are ISO 8601 with an offset, to the second; the offset varies row by row (``Z``,
``+00:00``, ``+01:00``, ``+02:00``, ``-05:00``) within every table. Booleans are ``true``/``false``
except ``rollout_stages.stop_condition_met``, which is exported as ``1``/``0``. Empty optional
values are empty fields. Telemetry types: ``ts`` Datetime("us", "UTC"); ``escalated``,
``reworked``, ``policy_violation``, ``refused`` Boolean; segment columns and ``release_id``,
``system`` String; ``handling_time_s``, ``latency_ms``, ``model_cost_usd``, ``quality_score``
Float64 (``quality_score`` null for about a fifth of the cases: not graded); ``tokens`` Int64.

How telemetry is generated
--------------------------
``cases_per_day`` is the mean number of cases per system per day (weekdays 1.15x, weekends 0.625x,
Poisson). Every case is served by the release live at its time. During a rollout stage with
``traffic_pct`` p and ``segment`` s, a case of segment s goes to the new release with probability
p/100 and otherwise to the release it replaces; cases outside s stay on the old release (a canary
may be restricted to an easier segment such as ``task_type=faq``). After a halt or rollback the
replaced release serves again. During the first release of a system the cases not routed to it
are handled without AI and are not in telemetry. Rates are multiplicative in system base rate x
task type x criticality x language x customer segment x release state, so the segment mix matters.
A release's state is 1 +- small noise (sd 1.5 % on the rates, 0.3 % on quality), independently
per release.
A planted regression multiplies one metric of the previous release's state by ``1 + effect`` on
every segment (probabilities never reach the clip at 0.99). Regressions are planted only where the
previous release had served all traffic for at least three days, so each has a baseline; its
effect stays until a rollback, halt, config fix or the next release. Most effects are at least 3x
the policy margin (escalation/rework +40 % to +80 %, quality -6 % to -12 %, policy violations
+100 % to +200 %); about one in ten is subtle (+20 %, -4 %). Unit-cost changes scale tokens and the
price per token and are carried forward to later releases until an optimisation release or a
config fix brings them back.

truth.json
----------
Timestamps in truth are ISO 8601 UTC with ``Z``; ``marker_lag_hours`` is in hours.

- ``schema_version`` (1), ``generator`` ("analytics.sample.generate"), ``seed``, ``cases_per_day``,
  ``start``, ``end`` (exclusive), ``months``, ``policy_fingerprint`` (of the default policy the
  derived flags use), ``systems``: per system ``launched_at``, ``task_types``, ``languages``,
  ``customer_segments``; ``freeze_windows``: ``[{start, end}]``.
- ``row_counts``: data rows per table as written (bad rows included; telemetry: cases).
- ``regressions``: one object per planted decision-quality regression:
  ``release_id``, ``system``, ``baseline_release_id`` (the previous release of the system, which
  it replaced and which serves beside it during the canary), ``metric`` (``escalation_rate``,
  ``rework_rate``, ``policy_violation_rate`` or ``quality_score``), ``relative_effect`` (per-case
  probability, or expected quality score, of the release divided by the baseline's, minus 1, on
  every segment: positive for the rates, negative for ``quality_score``), ``margin`` (the policy
  margin of that metric), ``effect_over_margin`` (|effect| / margin; null when the margin is 0),
  ``culprit_component``, ``path`` (``incident_rollback``, ``incident_roll_forward``,
  ``incident_config_fix``, ``canary_halt``, ``canary_rollback``, ``undetected``),
  ``window_start`` (released_at), ``window_end`` (the earliest of released_at + observation
  window, the end of the effect, the time the release stopped serving and the dataset end),
  ``cases_in_window`` (telemetry rows labelled with the release in the window),
  ``baseline_cases`` (rows labelled with the baseline from ``window_start`` minus the observation
  window to ``window_end``), ``detected``,
  ``detected_by`` (``incident``, ``rollout_halt``, ``rollout_rollback`` or null),
  ``detected_at`` (the METRICS.md MTTD detection: earliest attributed decision-quality incident
  ``detected_at`` or halt/rollback stage ``ended_at``), ``incident_id``,
  ``incident_detected_at``, ``late_detection`` (incident detected 3 days or more after release),
  ``mitigated_at`` (the incident's ``mitigated_at`` as written, normalised to UTC; see bad rows),
  ``mitigation``, ``rolled_back_at`` (when the release stopped serving because of a rollback or
  halt), ``effect_ended_at`` (config fix) and ``fix_release_id`` (roll-forward).
- ``cost_changes``: ``[{release_id, system, kind ("increase" or "decrease"), tokens_relative,
  model_cost_relative, incident_id, fixed_at}]``: the relative change of tokens and of model
  cost per case against the release it replaced; ``fixed_at``: a config fix restored the old cost.
- ``releases``: one object per release in ``release_id`` order: ``release_id``, ``system``,
  ``released_at``, ``declared_tier``, ``implied_tier``, ``effective_tier``,
  ``changed_components``, ``train``, ``misclassified``, ``regressed``, ``regression_metric``,
  ``cost_increase``, ``cost_relative`` (model cost per case vs the replaced release, 0 if
  unchanged), ``rolled_back`` (see signals), ``halted``, ``fix_for`` (release_id whose regression
  this emergency release fixes), ``marker_lag_hours`` (planted: telemetry carries the previous
  release's marker for this long), ``attributed_incidents`` (incident_ids by the METRICS.md rule),
  ``expected_failure_signals`` (subset of ``incident``, ``rollback``, ``telemetry``; see below),
  ``dq_failed`` (any of them), ``dora_failed`` (any attributed incident, any category, or
  rollback), ``first_detection_at`` (as ``regressions.detected_at``, for any release),
  ``missing_evidence`` (items required by the effective tier that are not present or waived with
  ``approved_by``), ``process_violations`` (sorted names, below).
- ``incidents``: ``[{incident_id, system, category, decision_quality_impact`` (the value that
  applies: explicit, or the category default), ``cause`` (``planted_regression``,
  ``cost_increase``, ``external``), ``caused_by_release_id``, ``attributed_release_id`` and
  ``attribution`` (``explicit``, ``time`` or ``none``; by the METRICS.md rule with the default
  attribution window), ``open`` (no mitigated_at)``}]``.
- ``unattributable_incidents``: incident_ids with no release link and no release of their system
  within the attribution window before ``started_at`` (else ``detected_at``).
- ``bad_rows``: ``[{table, line, column, kind, value, record_id, note}]``, ``line`` counted with the
  header as line 1, ``kind`` using ``analytics.data.io`` finding codes: ``invalid_timestamp``,
  ``unknown_enum``, ``exact_duplicate`` (``line`` is the second copy, plus ``duplicate_of_line``),
  ``impossible_duration`` (``mitigated_at`` before ``detected_at``), ``unknown_release``.
  Exactly one of each. None of them changes any derived flag above.

Signals and violations in truth are derived from the generated rows with the default policy and
the effective tier (the stricter of declared and implied):

- signal ``incident``: an attributed incident whose decision-quality impact is true;
  ``rollback``: a rollout stage with decision ``rollback``, an operator decision ``rollback`` or
  ``roll_forward``, or an attributed incident mitigated by ``*_rollback`` or ``roll_forward``;
  ``telemetry``: a planted regression (ground truth; whether a test finds it depends on its size
  and the cases in its window).
- ``misclassified``: declared tier below the effective tier.
- ``missing_evidence``: a required evidence item is absent, ``missing``, or ``waived`` without
  ``approved_by``.
- ``failed_gate_shipped``: the latest evaluation of any gate is ``fail``.
- ``gate_not_run``: a required gate has no row or its latest result is ``not_run``.
- ``rollout_steps_skipped``: the stage percentages (consecutive repeats collapsed) are not a
  prefix of the tier's rollout plan (stopping early is allowed), or there are no stages.
- ``stop_condition_ignored``: a stage with ``stop_condition_met`` and decision ``advance``.
- ``missing_approval``: a required role has no ``go`` vote; ``no_final_approval``: no vote has
  ``final`` true; ``multiple_final_approvals``: more than one has.
- ``train_violation``: ``train`` is neither ``emergency`` nor the tier's train, or the release
  falls outside that train's window (weekly: ``weekly_days``; monthly: those days within the first
  ``monthly_first_days`` days of the month), in the policy timezone.
- ``no_telemetry_within_24h``: no telemetry case labelled with the release within
  ``observability.marker_within_hours`` of ``released_at``.
- ``no_operator_decision_72h``: no operator decision within
  ``observability.operator_decisions_within_hours`` of ``released_at``.
- ``no_single_accountable_owner``: ``accountable_owner`` empty or naming two people.

Misclassified releases prepared evidence, gates, approvals, rollout and train for their declared
tier, so they usually carry further violations against their effective tier.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analytics.core.policy import COMPONENTS, TIER_RANK, TIERS, Policy, load_policy
from analytics.metrics.incidents import DQ_CATEGORIES, ROLLBACK_MITIGATIONS

__all__ = ["DEFAULT_CASES_PER_DAY", "SampleSummary", "generate_sample"]

DEFAULT_CASES_PER_DAY = 300
"""Mean cases per system per day: about 460 000 telemetry rows for the default 18 months."""

TABLES: tuple[str, ...] = (
    "releases",
    "evidence",
    "gates",
    "rollout_stages",
    "approvals",
    "incidents",
    "operator_decisions",
)
DQ_METRICS: tuple[str, ...] = (
    "escalation_rate",
    "rework_rate",
    "policy_violation_rate",
    "quality_score",
)

_US = 1_000_000
_H = 3600 * _US
_D = 24 * _H
_NEVER = 2**62
_EPOCH = datetime(1970, 1, 1)

_HEADERS: dict[str, tuple[str, ...]] = {
    "releases": (
        "release_id",
        "system",
        "released_at",
        "risk_tier",
        *(f"{c}_version" for c in COMPONENTS),
        "change_requested_at",
        "accountable_owner",
        "train",
        "summary",
    ),
    "evidence": ("release_id", "item", "status", "approved_by", "uri"),
    "gates": ("release_id", "gate", "result", "evaluated_at", "metric", "value", "threshold"),
    "rollout_stages": (
        "release_id",
        "stage",
        "traffic_pct",
        "started_at",
        "ended_at",
        "segment",
        "decision",
        "decided_by",
        "stop_condition_met",
    ),
    "approvals": ("release_id", "role", "approver", "decision", "decided_at", "final"),
    "incidents": (
        "incident_id",
        "system",
        "release_id",
        "started_at",
        "detected_at",
        "mitigated_at",
        "severity",
        "category",
        "mitigation",
        "detection_source",
        "decision_quality_impact",
        "title",
    ),
    "operator_decisions": ("release_id", "decided_at", "operator", "action", "rationale"),
}

# (offset minutes, suffix) and how often an exporter writes each.
_OFFSETS: tuple[tuple[int, str], ...] = (
    (0, "Z"),
    (0, "+00:00"),
    (120, "+02:00"),
    (-300, "-05:00"),
    (60, "+01:00"),
)
_OFFSET_P = (0.34, 0.2, 0.22, 0.14, 0.1)


@dataclass(frozen=True)
class SampleSummary:
    """What ``generate_sample`` wrote.

    ``paths``: table name -> file (``telemetry`` -> its folder, ``truth`` -> truth.json);
    ``telemetry_files``: the monthly Parquet files; ``row_counts``: data rows per table as written
    (telemetry: cases).
    """

    out_dir: Path
    seed: int
    cases_per_day: int
    start: str
    months: int
    paths: Mapping[str, Path]
    telemetry_files: tuple[Path, ...]
    row_counts: Mapping[str, int]


# ---------------------------------------------------------------- the fictional organisation


@dataclass(frozen=True)
class _Task:
    name: str
    share: float
    fx: tuple[float, float, float, float]  # escalation, rework, policy violation, quality
    tokens: float
    handling: float
    criticality: tuple[float, float, float]  # share of low, medium, high


@dataclass(frozen=True)
class _System:
    name: str
    label: str
    launch_months: int
    launch_day: int
    tasks: tuple[_Task, ...]
    languages: tuple[tuple[str, float], ...]
    customers: tuple[tuple[str, float], ...]
    rates: tuple[float, float, float, float]  # escalation, rework, policy violation, quality
    refusal: float
    handling_s: tuple[float, float, float]  # automated review, escalated, rework
    latency_ms: float
    tokens: float
    usd_per_1k_tokens: float
    owners: tuple[str, str]
    operators: tuple[str, ...]
    latency_gate_ms: float
    easy_segments: tuple[str, ...]


_CRIT_FX = ((0.65, 0.8, 0.7, 1.02), (1.0, 1.0, 1.0, 1.0), (1.5, 1.3, 1.4, 0.95))
_CRIT_REFUSAL = (0.7, 1.0, 1.6)
_LANG_FX = {
    "en": (1.0, 1.0, 1.0, 1.0),
    "de": (1.06, 1.05, 1.0, 0.985),
    "fr": (1.1, 1.08, 1.05, 0.98),
    "es": (1.12, 1.1, 1.05, 0.975),
    "it": (1.12, 1.1, 1.08, 0.975),
    "nl": (1.05, 1.04, 1.0, 0.985),
}
_CUSTOMER_FX = {
    "consumer": (0.9, 1.0, 1.25, 0.99),
    "smb": (1.0, 1.0, 1.0, 1.0),
    "enterprise": (1.2, 1.1, 0.85, 1.0),
}
_CRITICALITY = ("low", "medium", "high")

_SYSTEMS: tuple[_System, ...] = (
    _System(
        name="support",
        label="customer-support assistant",
        launch_months=0,
        launch_day=1,
        tasks=(
            _Task("faq", 0.35, (0.6, 0.7, 0.8, 1.03), 0.8, 0.7, (0.7, 0.25, 0.05)),
            _Task("order_status", 0.25, (0.7, 0.8, 0.7, 1.02), 0.9, 0.8, (0.6, 0.35, 0.05)),
            _Task("billing", 0.2, (1.2, 1.2, 1.1, 0.98), 1.1, 1.2, (0.3, 0.5, 0.2)),
            _Task("complaint", 0.12, (1.6, 1.4, 1.3, 0.94), 1.3, 1.6, (0.1, 0.5, 0.4)),
            _Task("account_change", 0.08, (1.3, 1.1, 1.4, 0.97), 1.0, 1.1, (0.2, 0.5, 0.3)),
        ),
        languages=(("en", 0.55), ("de", 0.2), ("fr", 0.12), ("es", 0.08), ("nl", 0.05)),
        customers=(("consumer", 0.35), ("smb", 0.4), ("enterprise", 0.25)),
        rates=(0.11, 0.08, 0.012, 0.82),
        refusal=0.03,
        handling_s=(40.0, 420.0, 300.0),
        latency_ms=1400.0,
        tokens=2200.0,
        usd_per_1k_tokens=0.02,
        owners=("Dana Whitfield", "Priya Raman"),
        operators=("Ravi Nair", "Chloé Martin", "oncall-support"),
        latency_gate_ms=2500.0,
        easy_segments=("task_type=faq", "criticality=low", "language=en"),
    ),
    _System(
        name="claims",
        label="claims triage",
        launch_months=0,
        launch_day=7,
        tasks=(
            _Task("auto_claim", 0.4, (0.8, 0.8, 0.9, 1.02), 0.9, 0.8, (0.5, 0.4, 0.1)),
            _Task("property_claim", 0.3, (1.0, 1.0, 1.0, 1.0), 1.0, 1.0, (0.3, 0.5, 0.2)),
            _Task("health_claim", 0.2, (1.3, 1.2, 1.3, 0.97), 1.2, 1.3, (0.15, 0.45, 0.4)),
            _Task("fraud_review", 0.1, (1.7, 1.3, 1.1, 0.94), 1.4, 1.8, (0.05, 0.35, 0.6)),
        ),
        languages=(("en", 0.5), ("de", 0.25), ("fr", 0.15), ("it", 0.1)),
        customers=(("consumer", 0.6), ("smb", 0.25), ("enterprise", 0.15)),
        rates=(0.13, 0.1, 0.015, 0.78),
        refusal=0.02,
        handling_s=(90.0, 900.0, 600.0),
        latency_ms=3500.0,
        tokens=6000.0,
        usd_per_1k_tokens=0.05,
        owners=("Marco Bianchi", "Aiko Tanaka"),
        operators=("Fatima Zahra", "Jonas Berg", "oncall-claims"),
        latency_gate_ms=6000.0,
        easy_segments=("task_type=auto_claim", "criticality=low"),
    ),
    _System(
        name="search",
        label="search answers",
        launch_months=3,
        launch_day=1,
        tasks=(
            _Task("policy_lookup", 0.45, (0.8, 0.8, 0.9, 1.02), 0.9, 0.8, (0.6, 0.35, 0.05)),
            _Task("how_to", 0.35, (1.0, 1.0, 1.0, 1.0), 1.0, 1.0, (0.5, 0.4, 0.1)),
            _Task("product_compare", 0.2, (1.3, 1.2, 1.2, 0.97), 1.3, 1.2, (0.3, 0.5, 0.2)),
        ),
        languages=(("en", 0.6), ("de", 0.15), ("fr", 0.1), ("es", 0.1), ("nl", 0.05)),
        customers=(("consumer", 0.5), ("smb", 0.3), ("enterprise", 0.2)),
        rates=(0.06, 0.05, 0.008, 0.85),
        refusal=0.04,
        handling_s=(5.0, 240.0, 120.0),
        latency_ms=900.0,
        tokens=1500.0,
        usd_per_1k_tokens=0.01,
        owners=("Lena Vogel", "Tomás Herrera"),
        operators=("Ben Adler", "Mei Lin", "oncall-search"),
        latency_gate_ms=1500.0,
        easy_segments=("task_type=policy_lookup", "language=en"),
    ),
)

_APPROVERS: dict[str, tuple[str, ...]] = {
    "platform": ("Sam Okafor", "Ines Duarte"),
    "risk_compliance": ("Harriet Cole", "Youssef Amrani"),
    "operations": ("Kenji Mori", "Olga Petrova"),
    "other": ("Legal desk", "Data protection office"),
}
_WAIVERS = ("AI risk board", "Harriet Cole", "Sam Okafor")

_VERSION_FORMATS: dict[str, str] = {
    "model": "llm-{sys}-{n:02d}",
    "inference_config": "cfg-{n:03d}",
    "prompt": "prompt-{sys}-v{n}",
    "tools": "tools-{major}.{minor}.0",
    "safety_policy": "safety-{n:02d}",
    "routing": "route-{n:02d}",
    "eval_set": "evals-{sys}-{n:02d}",
}
_SUMMARIES: dict[str, tuple[str, ...]] = {
    "model": ("Upgrade base model to {v}", "Switch to distilled model {v}, cheaper and faster"),
    "inference_config": (
        "Tune decoding ({v}): temperature 0.2, max_tokens 900",
        "Inference config {v}, larger context window",
    ),
    "prompt": (
        "Prompt {v}: friendlier tone, shorter answers",
        'Rephrase "I can\'t help with that" refusals ({v})',
        "Prompt {v}: add few-shot examples for edge cases",
    ),
    "tools": ("Tools {v}: order lookup, with retries", 'Add "claim status" tool ({v})'),
    "safety_policy": (
        "Safety policy {v}: stricter PII redaction",
        'Safety policy {v}: block "medical advice", allow FAQ links',
    ),
    "routing": (
        "Route long queries to the large model ({v})",
        "Routing {v}: send German traffic to the EU cluster",
    ),
    "eval_set": (
        "Refresh eval set {v} with last month's tickets",
        'Eval set {v}: add "hard" adversarial cases',
    ),
}
_CULPRIT_METRICS: dict[str, tuple[tuple[str, float], ...]] = {
    "model": (
        ("escalation_rate", 0.3),
        ("rework_rate", 0.2),
        ("quality_score", 0.35),
        ("policy_violation_rate", 0.15),
    ),
    "safety_policy": (("policy_violation_rate", 0.8), ("escalation_rate", 0.2)),
    "prompt": (("quality_score", 0.5), ("rework_rate", 0.3), ("escalation_rate", 0.2)),
    "tools": (("rework_rate", 0.5), ("escalation_rate", 0.5)),
    "routing": (("escalation_rate", 0.5), ("quality_score", 0.5)),
    "inference_config": (("quality_score", 0.6), ("rework_rate", 0.4)),
    "eval_set": (("quality_score", 0.4), ("escalation_rate", 0.3), ("rework_rate", 0.3)),
}
_ROLLBACK_MITIGATION = {"safety_policy": "policy_rollback", "routing": "routing_rollback"}
_GATE_SPECS: dict[str, tuple[str, bool, float]] = {  # metric, higher is better, threshold
    "functional": ("task_success_rate", True, 0.85),
    "safety": ("unsafe_output_rate", False, 0.005),
    "operational": ("p95_latency_ms", False, 0.0),  # threshold per system
    "business": ("projected_deflection_rate", True, 0.55),
}
_DIURNAL = np.array(
    [
        1,
        0.6,
        0.4,
        0.3,
        0.3,
        0.5,
        1,
        2,
        3.5,
        4.5,
        5,
        5,
        4.5,
        4.5,
        5,
        5,
        4.5,
        4,
        3.5,
        3,
        2.5,
        2,
        1.5,
        1.2,
    ]
)
_DIURNAL = _DIURNAL / _DIURNAL.sum()


# ---------------------------------------------------------------- internal records


@dataclass
class _Stage:
    pct: float
    start: int
    end: int
    segment: str
    decision: str
    decided_by: str
    stop_met: bool = False


@dataclass
class _Incident:
    system: str
    detected_at: int
    severity: str
    category: str
    title: str
    cause: str
    caused_by: _Rel | None = None
    link: _Rel | None = None
    started_at: int | None = None
    mitigated_at: int | None = None
    mitigation: str = "none"
    detection_source: str = "alert"
    dq_impact: str = ""  # "", "true" or "false" as written
    iid: str = ""

    @property
    def impact(self) -> bool:
        if self.dq_impact:
            return self.dq_impact == "true"
        return self.category in DQ_CATEGORIES


@dataclass
class _Regression:
    metric: str
    effect: float
    culprit: str
    path: str
    late: bool = False
    incident: _Incident | None = None
    effect_end: int | None = None
    fix: _Rel | None = None


@dataclass
class _CostChange:
    kind: str
    tokens: float
    price: float
    incident: _Incident | None = None
    fixed_at: int | None = None


@dataclass
class _Rel:
    system: _System
    kind: str  # first, monthly, weekly, daily, offtrain, urgent, fix
    released_at: int
    declared: str
    implied: str
    changed: tuple[str, ...]
    versions: dict[str, str]
    train: str
    requested_at: int
    stages: list[_Stage]
    prev: _Rel | None
    base: _Rel | None
    misclassified: bool
    owner: str = ""
    summary: str = ""
    regression: _Regression | None = None
    cost: _CostChange | None = None
    withdrawn_at: int | None = None
    withdraw_kind: str | None = None  # halt, rollback
    fix_for: _Rel | None = None
    next: _Rel | None = None
    marker_lag_h: float | None = None
    dq_active: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    dq_after: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    dq_switch: int = _NEVER
    tok_active: float = 1.0
    price_active: float = 1.0
    tok_after: float = 1.0
    price_after: float = 1.0
    cost_switch: int = _NEVER
    rid: str = ""
    local: int = 0
    gidx: int = 0

    @property
    def effective(self) -> str:
        return (
            self.declared if TIER_RANK[self.declared] >= TIER_RANK[self.implied] else self.implied
        )

    @property
    def rollout_done(self) -> int:
        return self.stages[-1].end


@dataclass
class _Timeline:
    start: int
    end: int
    months: int
    month_starts: tuple[int, ...]
    freezes: tuple[tuple[int, int], ...]


@dataclass
class _Tables:
    evidence: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------- time helpers


def _us(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(microseconds=1)


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


def _iso(us: int, offset: tuple[int, str] = (0, "Z")) -> str:
    return _dt(us + offset[0] * 60 * _US).strftime("%Y-%m-%dT%H:%M:%S") + offset[1]


def _sec(us: float) -> int:
    return int(us) // _US * _US


def _add_months(year: int, month: int, k: int) -> tuple[int, int]:
    return year + (month - 1 + k) // 12, (month - 1 + k) % 12 + 1


def _timeline(start: str, months: int) -> _Timeline:
    day = datetime.strptime(start, "%Y-%m-%d")
    if day.day != 1:
        raise ValueError(f"start must be the first day of a month, got {start!r}")
    starts = []
    for k in range(months + 1):
        y, m = _add_months(day.year, day.month, k)
        starts.append(_us(datetime(y, m, 1)))
    begin, end = starts[0], starts[-1]
    freezes = []
    for year in range(day.year - 1, _dt(end).year + 1):
        f0, f1 = _us(datetime(year, 12, 15)), _us(datetime(year + 1, 1, 12))
        if f0 < end and f1 > begin:
            freezes.append((f0, f1))
    return _Timeline(begin, end, months, tuple(starts[:-1]), tuple(freezes))


def _in_freeze(tl: _Timeline, t: int) -> bool:
    return any(a <= t < b for a, b in tl.freezes)


def _hours(rng: np.random.Generator, lo: float, hi: float) -> int:
    """A random duration in [lo, hi) hours, in whole seconds (as microseconds)."""
    return int(rng.uniform(lo, hi) * 3600) * _US


def _quad(values: Sequence[float] | np.ndarray) -> tuple[float, float, float, float]:
    a, b, c, d = (float(v) for v in values)
    return a, b, c, d


def _pick(rng: np.random.Generator, items: Sequence[Any]) -> Any:
    return items[int(rng.integers(len(items)))]


def _weighted(rng: np.random.Generator, pairs: Sequence[tuple[Any, float]]) -> Any:
    p = np.array([w for _, w in pairs], dtype=float)
    return pairs[int(rng.choice(len(pairs), p=p / p.sum()))][0]


# ---------------------------------------------------------------- release schedule


class _Scheduler:
    """Places one system's releases on its trains and plants regressions and cost changes."""

    def __init__(self, system: _System, policy: Policy, tl: _Timeline, rng: np.random.Generator):
        self.sys, self.policy, self.tl, self.rng = system, policy, tl, rng
        trains = policy.section("trains")
        self.weekly_days = tuple(int(d) for d in trains.get("weekly_days", (2, 3)))
        self.first_days = int(trains.get("monthly_first_days", 7))
        cmt = policy.component_min_tier
        self.by_tier = {t: [c for c in COMPONENTS if cmt[c] == t] for t in TIERS}
        self.counters = {c: 0 for c in COMPONENTS}
        self.releases: list[_Rel] = []
        self.incidents: list[_Incident] = []

    # -- calendar
    def _launch(self) -> int:
        # Short ranges launch every system early enough to have a history.
        offset = min(self.sys.launch_months, self.tl.months // 6)
        y, m = _add_months(_dt(self.tl.start).year, _dt(self.tl.start).month, offset)
        day = datetime(y, m, self.sys.launch_day)
        while not self._monthly_window(day):
            day += timedelta(days=1)
        return _us(day) + 9 * _H + int(self.rng.integers(0, 120)) * 60 * _US

    def _monthly_window(self, day: datetime) -> bool:
        return day.isoweekday() in self.weekly_days and day.day <= self.first_days

    def _slots(self, after: int) -> list[tuple[int, str]]:
        rng, out = self.rng, []
        day = _dt(after - after % _D) + timedelta(days=1)
        seen_months: set[tuple[int, int]] = set()
        while _us(day) < self.tl.end - _D:
            t0 = _us(day)
            wd = day.isoweekday()
            if wd <= 5 and not _in_freeze(self.tl, t0):

                def minute(lo: int, hi: int, t0: int = t0) -> int:
                    return t0 + int(rng.integers(lo * 60, hi * 60)) * 60 * _US

                if self._monthly_window(day) and (day.year, day.month) not in seen_months:
                    seen_months.add((day.year, day.month))
                    if rng.random() < 0.9:
                        out.append((minute(8, 11), "monthly"))
                if wd in self.weekly_days:
                    if rng.random() < 0.5:
                        out.append((minute(10, 14), "weekly"))
                    if day.day > self.first_days + 3 and rng.random() < 0.035:
                        out.append((minute(9, 15), "offtrain"))
                if rng.random() < 0.45:
                    out.append((minute(8, 15), "daily"))
                if not self._monthly_window(day) and rng.random() < 0.008:
                    out.append((minute(8, 15), "urgent"))
            day += timedelta(days=1)
        order = {"monthly": 0, "urgent": 1, "offtrain": 2, "weekly": 3, "daily": 4}
        return sorted(out, key=lambda s: (s[0], order[s[1]]))

    # -- components
    def _implied(self, comps: Sequence[str]) -> str:
        return max((self.policy.component_min_tier[c] for c in comps), key=TIER_RANK.__getitem__)

    def _components(self, tier: str, k_extra: int | None = None) -> tuple[str, ...]:
        rng = self.rng
        pool = self.by_tier[tier]
        first = _pick(rng, pool)
        if k_extra is None:
            k_extra = int(rng.choice(3, p=(0.5, 0.35, 0.15)))
        lower = [
            c
            for c in COMPONENTS
            if TIER_RANK[self.policy.component_min_tier[c]] <= TIER_RANK[tier] and c != first
        ]
        extra = (
            list(rng.choice(lower, size=min(k_extra, len(lower)), replace=False)) if lower else []
        )
        chosen = {first, *extra}
        return tuple(c for c in COMPONENTS if c in chosen)

    def _versions(self, prev: _Rel | None, changed: Sequence[str]) -> dict[str, str]:
        versions = dict(prev.versions) if prev else {}
        for c in changed:
            self.counters[c] += 1
            n = self.counters[c]
            versions[c] = _VERSION_FORMATS[c].format(
                sys=self.sys.name, n=n, major=1 + n // 4, minor=n % 4
            )
        return versions

    # -- rollout
    def _stages(self, plan: Sequence[float], t0: int, fast: bool) -> list[_Stage]:
        rng, sys = self.rng, self.sys
        stages: list[_Stage] = []
        restrict = _pick(rng, sys.easy_segments) if len(plan) > 1 and rng.random() < 0.15 else None
        hold_at = int(rng.integers(len(plan) - 1)) if len(plan) > 1 and rng.random() < 0.06 else -1
        t = t0
        for i, pct in enumerate(plan):
            if i == len(plan) - 1:
                dur = _hours(rng, 0.3, 1.0) if fast else _hours(rng, 1.0, 4.0)
                stages.append(_Stage(pct, t, t + dur, "all", "complete", _pick(rng, sys.operators)))
                break
            if fast:
                dur = _hours(rng, 0.5, 1.5)
            elif pct <= 1:
                dur = _hours(rng, 16, 28)
            elif pct <= 20:
                dur = _hours(rng, 14, 30)
            else:
                dur = _hours(rng, 10, 24)
            seg = restrict if restrict and pct < 20 else "all"
            decider = "rollout-controller" if rng.random() < 0.5 else _pick(rng, sys.operators)
            if i == hold_at:
                stages.append(_Stage(pct, t, t + dur, seg, "hold", decider, rng.random() < 0.5))
                t += dur
                dur = _hours(rng, 8, 20)
            stages.append(_Stage(pct, t, t + dur, seg, "advance", decider))
            t += dur
        return stages

    def _plan(self, declared: str, kind: str) -> tuple[float, ...]:
        plan = tuple(self.policy.tiers[declared].rollout_plan) or (100.0,)
        if kind in ("monthly", "offtrain") and len(plan) > 1 and self.rng.random() < 0.12:
            options = [(plan[0], plan[2], 100.0), (plan[1], 100.0), (100.0,), (plan[0], 100.0)]
            return _pick(self.rng, [o for o in options if len(o) < len(plan)] or [(100.0,)])
        if declared == "medium" and kind == "weekly" and len(plan) > 1 and self.rng.random() < 0.04:
            return (100.0,)
        return plan

    # -- one release
    def _release(self, kind: str, t0: int, culprit: str | None = None) -> _Rel:
        rng, policy = self.rng, self.policy
        prev = self.releases[-1] if self.releases else None
        base = None
        if prev is not None:
            base = prev if prev.withdrawn_at is None else prev.base
        misclassified = False
        if kind == "first":
            declared, changed = "high", tuple(COMPONENTS)
        elif kind in ("monthly", "offtrain"):
            declared, changed = "high", self._components("high")
        elif kind == "urgent":
            declared = "high"
            changed = tuple(
                c
                for c in COMPONENTS
                if c in ("safety_policy", "prompt") and (c == "safety_policy" or rng.random() < 0.4)
            )
        elif kind == "fix":
            assert culprit is not None
            changed = (culprit,)
            declared = self.policy.component_min_tier[culprit]
        elif kind == "weekly":
            r = rng.random()
            declared = "medium"
            if r < 0.1:
                changed, misclassified = self._components("high", int(rng.integers(0, 2))), True
            elif r < 0.14:
                changed = self._components("low", 0)
            else:
                changed = self._components("medium")
        else:  # daily
            declared = "low"
            r = rng.random()
            if r < 0.065:
                changed, misclassified = self._components("medium", int(rng.integers(0, 2))), True
            elif r < 0.085:
                changed, misclassified = self._components("high", 0), True
            else:
                changed = self._components("low", 0)
        implied = self._implied(changed)
        misclassified = TIER_RANK[declared] < TIER_RANK[implied]
        train = {
            "offtrain": "weekly" if rng.random() < 0.6 else "monthly",
            "urgent": "emergency",
            "fix": "emergency",
        }.get(kind, policy.tiers[declared].train)
        fast = kind in ("urgent", "fix")
        plan = tuple(policy.tiers[declared].rollout_plan) if fast else self._plan(declared, kind)
        stages = self._stages(plan or (100.0,), t0, fast)
        lead = {
            "low": rng.lognormal(np.log(20), 0.7),
            "medium": rng.lognormal(np.log(96), 0.6),
            "high": rng.lognormal(np.log(400), 0.5),
        }[declared]
        if fast:
            lead = rng.uniform(1, 8)
        rel = _Rel(
            system=self.sys,
            kind=kind,
            released_at=t0,
            declared=declared,
            implied=implied,
            changed=changed,
            versions=self._versions(prev, changed),
            train=train,
            requested_at=_sec(t0 - lead * _H),
            stages=stages,
            prev=prev,
            base=base,
            misclassified=misclassified,
            local=len(self.releases),
        )
        noise = rng.normal(0.0, (0.015, 0.015, 0.015, 0.003))
        rel.dq_active = rel.dq_after = _quad(1 + np.clip(noise, -0.03, 0.03))
        if base is not None:
            rel.tok_active = rel.tok_after = base.tok_after
            rel.price_active = rel.price_after = base.price_after
        self.releases.append(rel)
        return rel

    # -- regressions and cost changes
    def _maybe_regress(self, rel: _Rel) -> int:
        """Plant a regression on ``rel``; returns the earliest time of the next release."""
        rng, prev = self.rng, rel.prev
        ready = max(rel.rollout_done + 2 * _H, rel.released_at + 20 * _H)
        # Plant only where the previous release served all traffic for a few days, so the
        # comparison has a baseline.
        eligible = (
            prev is not None
            and rel.kind not in ("first", "fix")
            and prev.regression is None
            and prev.withdrawn_at is None
            and prev.fix_for is None
            and rel.released_at - prev.stages[-1].start >= 3 * _D
        )
        p = 0.32 + (0.2 if rel.misclassified else 0.0) + (0.05 if rel.implied == "high" else 0)
        if not eligible or rng.random() >= p:
            return self._maybe_cost(rel, ready)
        assert prev is not None
        culprit = _pick(rng, rel.changed)
        metric = _weighted(rng, _CULPRIT_METRICS[culprit])
        subtle = rng.random() < 0.1
        if metric == "quality_score":
            effect = -0.04 if subtle else float(_pick(rng, (-0.06, -0.08, -0.1, -0.12)))
        elif metric == "policy_violation_rate":
            effect = float(_pick(rng, (1.0, 1.5, 2.0)))
        else:
            effect = 0.2 if subtle else float(_pick(rng, (0.4, 0.5, 0.6, 0.8)))
        canary = [i for i, s in enumerate(rel.stages) if s.pct < 100]
        paths = [
            ("incident_rollback", 0.33),
            ("incident_roll_forward", 0.12),
            ("incident_config_fix", 0.08),
            ("undetected", 0.3),
        ]
        if canary:
            paths += [("canary_halt", 0.07), ("canary_rollback", 0.1)]
        path = _weighted(rng, paths)
        reg = _Regression(metric, effect, culprit, path)
        rel.regression = reg
        m = DQ_METRICS.index(metric)
        active = list(prev.dq_active)
        active[m] *= 1 + effect
        rel.dq_active, rel.dq_after = _quad(active), prev.dq_active
        t0 = rel.released_at

        if path.startswith("incident"):
            reg.late = rng.random() < 0.3
            delay = _hours(rng, 72, 192) if reg.late else _hours(rng, 2, 30)
            if path == "incident_roll_forward":
                delay += rel.rollout_done - t0
            detected = _sec(t0 + delay)
            if detected > self.tl.end - 2 * _D:
                reg.path = path = "undetected"
            else:
                reg.incident = inc = self._dq_incident(rel, detected)
                if path == "incident_rollback":
                    back = _sec(detected + _hours(rng, 0.5, 8))
                    inc.mitigated_at, inc.mitigation = (
                        back,
                        _ROLLBACK_MITIGATION.get(culprit, "model_rollback"),
                    )
                    self._withdraw(rel, back, "rollback")
                    ready = max(ready, back + _hours(rng, 24, 48))
                elif path == "incident_config_fix":
                    fixed = _sec(detected + _hours(rng, 1, 12))
                    inc.mitigated_at, inc.mitigation = fixed, "config_fix"
                    rel.dq_switch = reg.effect_end = fixed
                    ready = max(ready, fixed + _D, t0 + int(8.5 * _D))
                else:
                    fix_at = _sec(detected + _hours(rng, 2, 20))
                    inc.mitigated_at, inc.mitigation = fix_at, "roll_forward"
                    fix = self._release("fix", fix_at, culprit)
                    fix.fix_for, reg.fix = rel, fix
                    ready = max(fix.rollout_done + 2 * _H, fix_at + 20 * _H)
        if path in ("canary_halt", "canary_rollback"):
            k = canary[0] if len(canary) == 1 or rng.random() < 0.6 else canary[1]
            stage = rel.stages[k]
            stop = _sec(stage.start + rng.uniform(0.3, 0.9) * (stage.end - stage.start))
            self._withdraw(rel, stop, "halt" if path == "canary_halt" else "rollback")
            ready = max(ready, stop + _D)
        if path == "undetected":
            ready = max(ready, t0 + int(8.5 * _D))
            if canary and rng.random() < 0.35:
                rel.stages[canary[0]].stop_met = True  # the canary saw it; nobody stopped
        return ready

    def _withdraw(self, rel: _Rel, at: int, how: str) -> None:
        """Stop serving ``rel`` at ``at``: the stage running then ends with ``how``."""
        rel.withdrawn_at, rel.withdraw_kind = at, how
        for i, stage in enumerate(rel.stages):
            if stage.start <= at < stage.end:
                stage.end, stage.decision, stage.stop_met = at, how, True
                del rel.stages[i + 1 :]
                return
        # Rolled back after the rollout completed: only the operator decision records it.

    def _dq_incident(self, rel: _Rel, detected: int) -> _Incident:
        rng, reg = self.rng, rel.regression
        assert reg is not None
        if reg.metric == "policy_violation_rate":
            category = "safety" if rng.random() < 0.6 else "compliance"
            severity = "sev1" if rng.random() < 0.3 else "sev2"
            source = _pick(rng, ("alert", "audit", "customer"))
            title = f"Policy violations up in {self.sys.name}, flagged by {source}"
        else:
            category = "quality" if rng.random() < 0.9 else "compliance"
            severity = _weighted(rng, (("sev2", 0.5), ("sev3", 0.4), ("sev1", 0.1)))
            source = _pick(rng, ("alert", "dashboard", "operator", "customer"))
            what = {
                "escalation_rate": "escalations to agents",
                "rework_rate": "reworked cases",
                "quality_score": "answer quality scores",
            }[reg.metric]
            verb = "down" if reg.metric == "quality_score" else "up"
            title = f'{self.sys.name}: {what} {verb} since release, "{reg.culprit}" suspected'
        if reg.late:
            source = _pick(rng, ("customer", "audit", "dashboard"))
        started = None
        if rng.random() < 0.7:
            span = max(0.5, min(6.0, (detected - rel.released_at) / _H / 2))
            started = _sec(rel.released_at + _hours(rng, 0.25, span))
        inc = _Incident(
            system=self.sys.name,
            detected_at=detected,
            severity=severity,
            category=category,
            title=title,
            cause="planted_regression",
            caused_by=rel,
            link=rel if rng.random() < 0.45 else None,
            started_at=started,
            detection_source=source,
            dq_impact="true" if rng.random() < 0.4 else "",
        )
        self.incidents.append(inc)
        return inc

    def _maybe_cost(self, rel: _Rel, ready: int) -> int:
        rng = self.rng
        if rel.kind in ("first", "fix") or rel.base is None:
            return ready
        level = rel.tok_active * rel.price_active
        if level > 1.5 and rng.random() < 0.35:
            tok, price = rng.uniform(0.9, 1.05) / rel.tok_active, 1.0 / rel.price_active
            rel.cost = _CostChange("decrease", float(tok), float(price))
        else:
            p = 0.05 + (0.08 if {"model", "inference_config", "routing"} & set(rel.changed) else 0)
            if rng.random() >= p:
                return ready
            tok, price = rng.uniform(1.7, 2.4), rng.uniform(1.0, 1.35)
            rel.cost = _CostChange("increase", float(tok), float(price))
        base_tok, base_price = rel.tok_active, rel.price_active
        rel.tok_active = rel.tok_after = base_tok * rel.cost.tokens
        rel.price_active = rel.price_after = base_price * rel.cost.price
        if rel.cost.kind == "increase" and rng.random() < 0.45:
            detected = _sec(rel.released_at + _hours(rng, 36, 120))
            if detected < self.tl.end - 2 * _D:
                inc = _Incident(
                    system=self.sys.name,
                    detected_at=detected,
                    severity=_pick(rng, ("sev3", "sev4")),
                    category="cost",
                    title=f"{self.sys.name}: model spend per case up, tokens per answer doubled",
                    cause="cost_increase",
                    caused_by=rel,
                    link=rel if rng.random() < 0.5 else None,
                    started_at=(
                        _sec(rel.released_at + _hours(rng, 1, 6)) if rng.random() < 0.6 else None
                    ),
                    detection_source="dashboard",
                    dq_impact="" if rng.random() < 0.6 else "false",
                )
                rel.cost.incident = inc
                self.incidents.append(inc)
                if rng.random() < 0.55:
                    fixed = _sec(detected + _hours(rng, 2, 24))
                    inc.mitigated_at, inc.mitigation = fixed, "config_fix"
                    rel.cost.fixed_at = rel.cost_switch = fixed
                    rel.tok_after, rel.price_after = base_tok, base_price
                    ready = max(ready, fixed + 12 * _H)
                else:
                    ready = max(ready, detected + 12 * _H)
        return ready

    def _stop_condition_noise(self, rel: _Rel) -> None:
        """A few canaries raise a stop condition that is ignored although nothing is wrong."""
        canary = [s for s in rel.stages if s.pct < 100 and s.decision == "advance"]
        if rel.regression is None and canary and self.rng.random() < 0.02:
            canary[0].stop_met = True

    def run(self) -> list[_Rel]:
        launch = self._launch()
        if launch >= self.tl.end - 2 * _D:
            return self.releases
        first = self._release("first", launch)
        ready = max(first.rollout_done + 2 * _H, first.released_at + 20 * _H)
        for t, kind in self._slots(first.released_at):
            if t < ready:
                continue
            rel = self._release(kind, t)
            ready = self._maybe_regress(rel)
            self._stop_condition_noise(rel)
        return self.releases


# ---------------------------------------------------------------- text


def _summary(rel: _Rel, rng: np.random.Generator) -> str:
    if rel.kind == "first":
        return (
            f"First production release of the {rel.system.label}: model, prompt, tools, "
            "safety policy, routing and evals"
        )
    parts = [_pick(rng, _SUMMARIES[c]).format(v=rel.versions[c]) for c in rel.changed]
    text = "; ".join(parts)
    if rel.kind == "fix" and rel.fix_for is not None and rel.fix_for.regression is not None:
        metric = rel.fix_for.regression.metric.replace("_", " ")
        return f"Hotfix, roll forward after {metric} regression in {rel.fix_for.rid}: {text}"
    if rel.kind == "urgent":
        return f"Urgent safety patch: {text}"
    return text


# ---------------------------------------------------------------- background incidents


def _background_incidents(
    releases: Mapping[str, list[_Rel]], tl: _Timeline, policy: Policy, rng: np.random.Generator
) -> list[_Incident]:
    out: list[_Incident] = []
    window = int(policy.attribution_window_days * _D)
    for sys in _SYSTEMS:
        rels = releases[sys.name]
        if not rels:
            continue
        first = rels[0].released_at
        span_days = (tl.end - first) / _D
        n = max(2, int(rng.poisson(span_days / 30 * 1.3))) if span_days > 7 else 0
        for _ in range(n):
            detected = _sec(first + 2 * _D + rng.uniform(0, max(0.0, span_days - 5)) * _D)
            category = _weighted(
                rng,
                (
                    ("latency", 0.35),
                    ("availability", 0.3),
                    ("cost", 0.1),
                    ("quality", 0.2),
                    ("compliance", 0.05),
                ),
            )
            impact = ""
            if category == "quality":
                impact = "false" if rng.random() < 0.6 else ""
            elif category == "latency" and rng.random() < 0.12:
                impact = "true"
            elif rng.random() < 0.3:
                impact = "false"
            titles = {
                "latency": (
                    "p95 latency above SLO, GPU pool saturated",
                    "Slow answers in the EU region after a network change",
                ),
                "availability": (
                    "Upstream vector store outage, answers degraded to fallback",
                    "Model endpoint returned 503s for 40 minutes",
                ),
                "cost": (
                    "Spend alert: batch re-indexing, tokens billed twice",
                    "Provider price change, cost per case up",
                ),
                "quality": (
                    'Knowledge base article outdated, "how to" answers wrong',
                    "Product catalogue sync failed, stale prices quoted",
                ),
                "compliance": (
                    "Audit sample: retention notice missing in transcripts",
                    "Consent banner text outdated in two languages",
                ),
            }
            inc = _Incident(
                system=sys.name,
                detected_at=detected,
                severity=_weighted(rng, (("sev2", 0.15), ("sev3", 0.5), ("sev4", 0.35))),
                category=category,
                title=f"{sys.name}: {_pick(rng, titles[category])}",
                cause="external",
                started_at=(_sec(detected - _hours(rng, 0.2, 12)) if rng.random() < 0.6 else None),
                detection_source=_pick(rng, ("alert", "dashboard", "customer", "operator")),
                dq_impact=impact,
            )
            if rng.random() < 0.12 or detected > tl.end - 3 * _D:
                inc.mitigation = "none"
            else:
                inc.mitigated_at = _sec(detected + _hours(rng, 0.5, 48))
                inc.mitigation = "config_fix" if rng.random() < 0.7 else "none"
            out.append(inc)
        # Incidents during the change freeze, too long after the last release to attribute.
        for _f0, f1 in tl.freezes:
            t = _sec(f1 - _hours(rng, 24, 72))
            before = [r.released_at for r in rels if r.released_at < t]
            if not before or t - max(before) <= window + _D or t >= tl.end:
                continue
            category = "quality" if sys.name == "support" else "availability"
            out.append(
                _Incident(
                    system=sys.name,
                    detected_at=t,
                    severity="sev3",
                    category=category,
                    title=(
                        f"{sys.name}: wrong answers after upstream catalogue change, no release "
                        "in the freeze"
                    ),
                    cause="external",
                    started_at=_sec(t - _hours(rng, 2, 10)),
                    mitigated_at=_sec(t + _hours(rng, 2, 20)),
                    mitigation="config_fix",
                    detection_source="customer",
                )
            )
    return out


# ---------------------------------------------------------------- process tables


class _TableBuilder:
    """Evidence, gates, approvals and operator decisions per release, with planted gaps."""

    def __init__(self, policy: Policy, rng: np.random.Generator):
        self.policy, self.rng, self.t = policy, rng, _Tables()

    def release(self, rel: _Rel) -> None:
        rng = self.rng
        failing = rel.regression is not None
        # The accountable owner.
        r = rng.random()
        if rel.kind != "first" and r < 0.012:
            rel.owner = ""
        elif rel.kind != "first" and r < 0.018:
            rel.owner = ", ".join(rel.system.owners)
        else:
            rel.owner = _pick(rng, rel.system.owners)
        # A version marker that the serving stack forgot to bump.
        baseline = rel.next is not None and rel.next.regression is not None
        if (
            rel.kind not in ("first", "fix")
            and not failing
            and not baseline
            and rel.base is not None
            and rng.random() < 0.025
        ):
            rel.marker_lag_h = round(float(rng.uniform(26, 60)), 1)
        self._evidence(rel, failing)
        self._gates(rel, failing)
        self._approvals(rel)
        self._decisions(rel)

    def _evidence(self, rel: _Rel, failing: bool) -> None:
        rng = self.rng
        items = list(self.policy.tiers[rel.declared].required_evidence)
        if rel.declared == "low" and rng.random() < 0.15:
            items.append("safety_eval")
        gaps: dict[str, str] = {}
        if rel.kind != "first" and rng.random() < (0.3 if failing else 0.1):
            for item in rng.choice(
                items, size=min(len(items), int(rng.integers(1, 3))), replace=False
            ):
                gaps[str(item)] = _weighted(
                    rng, (("missing", 0.5), ("absent", 0.3), ("waived_unapproved", 0.2))
                )
        if len(items) > 1 and (rel.kind == "fix" or rng.random() < 0.05):
            waived = items[-1]
            gaps.setdefault(waived, "waived_approved")
        for item in items:
            gap = gaps.get(item)
            row = {
                "release_id": rel,
                "item": item,
                "status": "present",
                "approved_by": "",
                "uri": f"https://wiki.northwind.example/ai-releases/{{rid}}/{item}",
            }
            if gap == "absent":
                continue
            if gap == "missing":
                row.update(status="missing", uri="")
            elif gap == "waived_unapproved":
                row.update(status="waived", uri="")
            elif gap == "waived_approved":
                row.update(status="waived", uri="", approved_by=_pick(rng, _WAIVERS))
            self.t.evidence.append(row)

    def _gates(self, rel: _Rel, failing: bool) -> None:
        rng, sys = self.rng, rel.system
        gates = ["functional", "safety", "operational", "business"]
        if rel.declared == "low":
            gates = ["functional", "safety"] + (["operational"] if rng.random() < 0.5 else [])
        fail_gate = not_run = None
        if rel.kind != "first":
            if rng.random() < (0.1 if failing else 0.04):
                fail_gate = _pick(rng, [g for g in gates if g != "functional"])
            if rng.random() < 0.03:
                not_run = _pick(rng, [g for g in ("functional", "safety") if g != fail_gate])
        waived = None
        if rng.random() < 0.03 and "business" in gates and fail_gate != "business":
            waived = "business"
        t_eval = rel.released_at - _hours(rng, 4, 96)
        for gate in gates:
            metric, higher, threshold = _GATE_SPECS[gate]
            if gate == "operational":
                threshold = sys.latency_gate_ms
            t = _sec(t_eval + _hours(rng, 0, 3))
            if gate == not_run:
                self._gate(rel, gate, "not_run", None, metric, None, threshold)
                continue
            if gate == waived:
                self._gate(rel, gate, "waived", t, metric, None, threshold)
                continue
            rerun = gate != fail_gate and rng.random() < 0.03
            if gate == fail_gate or rerun:
                self._gate(
                    rel,
                    gate,
                    "fail",
                    t,
                    metric,
                    self._value(gate, higher, threshold, False),
                    threshold,
                )
                if rerun:
                    t2 = _sec(t + _hours(rng, 1, 3))
                    self._gate(
                        rel,
                        gate,
                        "pass",
                        t2,
                        metric,
                        self._value(gate, higher, threshold, True),
                        threshold,
                    )
                continue
            self._gate(
                rel, gate, "pass", t, metric, self._value(gate, higher, threshold, True), threshold
            )

    def _value(self, gate: str, higher: bool, threshold: float, ok: bool) -> float:
        rng = self.rng
        if gate == "operational":
            return round(
                float(threshold * (rng.uniform(0.5, 0.95) if ok else rng.uniform(1.05, 1.4)))
            )
        if gate == "safety":
            return round(float(rng.uniform(0.0005, 0.0045) if ok else rng.uniform(0.006, 0.015)), 4)
        lo, hi = (
            (threshold + 0.01, threshold + 0.12) if ok else (threshold - 0.08, threshold - 0.01)
        )
        del higher
        return round(float(rng.uniform(lo, hi)), 3)

    def _gate(
        self,
        rel: _Rel,
        gate: str,
        result: str,
        t: int | None,
        metric: str,
        value: float | None,
        threshold: float,
    ) -> None:
        self.t.gates.append(
            {
                "release_id": rel,
                "gate": gate,
                "result": result,
                "evaluated_at": t,
                "metric": metric,
                "value": value,
                "threshold": threshold,
            }
        )

    def _approvals(self, rel: _Rel) -> None:
        rng = self.rng
        roles = list(self.policy.tiers[rel.declared].required_approvals)
        if rel.declared == "medium" and rng.random() < 0.5 and "operations" not in roles:
            roles.append("operations")
        if rel.declared == "low" and rng.random() < 0.3 and "platform" not in roles:
            roles.append("platform")
        plant = None
        if rel.kind != "first":
            r = rng.random()
            droppable = [x for x in roles if x != "product_owner"]
            if r < 0.035:
                if droppable:
                    plant = "missing"
                    roles.remove(_pick(rng, droppable))
            elif r < 0.055:
                plant = "no_final"
            elif r < 0.075 and len(roles) > 1:
                plant = "two_final"
        fast = rel.kind in ("urgent", "fix")
        votes: list[list[Any]] = []
        for role in roles:
            lo, hi = (0.2, 1.5) if fast else (2.0, 72.0)
            t = _sec(rel.released_at - _hours(rng, lo, hi))
            name = (
                (rel.owner.split(", ")[0] or rel.system.owners[0])
                if role == "product_owner"
                else _pick(rng, _APPROVERS[role])
            )
            if role != "product_owner" and not fast and rng.random() < 0.05:
                votes.append([role, name, "no_go", _sec(t - _hours(rng, 24, 48)), False])
            votes.append([role, name, "go", t, role == "product_owner" and plant != "no_final"])
        if plant == "two_final":
            extra = [v for v in votes if v[0] != "product_owner" and v[2] == "go"]
            extra[0][4] = True
        if not fast and rng.random() < 0.05:
            votes.append(
                [
                    "other",
                    _pick(rng, _APPROVERS["other"]),
                    "abstain",
                    _sec(rel.released_at - _hours(rng, 3, 48)),
                    False,
                ]
            )
        for role, name, decision, t, final in sorted(votes, key=lambda v: v[3]):
            self.t.approvals.append(
                {
                    "release_id": rel,
                    "role": role,
                    "approver": name,
                    "decision": decision,
                    "decided_at": t,
                    "final": final,
                }
            )

    def _decisions(self, rel: _Rel) -> None:
        rng, sys, reg = self.rng, rel.system, rel.regression
        out: list[tuple[int, str, str]] = []
        op = lambda: _pick(rng, sys.operators)  # noqa: E731
        t0 = rel.released_at
        quiet = (
            reg is None and rel.withdrawn_at is None and rel.kind != "first" and rng.random() < 0.05
        )
        if quiet:
            if rng.random() < 0.6:
                out.append(
                    (
                        _sec(t0 + _hours(rng, 96, 216)),
                        "note",
                        "Weekly review: no issues reported, closing the watch",
                    )
                )
        else:
            out.append(
                (
                    _sec(t0 + _hours(rng, 0.5, 8)),
                    "continue",
                    "Canary metrics within limits, continue rollout",
                )
            )
            if rng.random() < 0.4:
                out.append(
                    (
                        _sec(t0 + _hours(rng, 12, 60)),
                        "note",
                        "Checked escalations, latency and cost per case: nominal",
                    )
                )
        if reg is not None and reg.incident is not None:
            inc = reg.incident
            out.append(
                (
                    _sec(inc.detected_at + _hours(rng, 0.1, 0.5)),
                    "escalate",
                    f"Incident opened ({inc.category}), paging the {sys.name} owner",
                )
            )
            if reg.path == "incident_rollback" and inc.mitigated_at is not None:
                out.append(
                    (
                        inc.mitigated_at,
                        "rollback",
                        f"Rolling back: {reg.metric.replace('_', ' ')} regression confirmed",
                    )
                )
            elif reg.path == "incident_roll_forward" and inc.mitigated_at is not None:
                out.append(
                    (
                        _sec(inc.mitigated_at - _hours(rng, 0.2, 1)),
                        "roll_forward",
                        "Fix ready, rolling forward instead of back",
                    )
                )
            elif reg.path == "incident_config_fix" and inc.mitigated_at is not None:
                out.append((inc.mitigated_at, "continue", "Config fix applied, metrics recovering"))
        if rel.withdrawn_at is not None and reg is not None and reg.path.startswith("canary"):
            action = "pause" if rel.withdraw_kind == "halt" else "rollback"
            out.append(
                (rel.withdrawn_at, action, "Canary breached its stop condition, traffic withdrawn")
            )
        if rel.cost is not None and rel.cost.incident is not None:
            out.append(
                (
                    _sec(rel.cost.incident.detected_at + _hours(rng, 0.5, 4)),
                    "note",
                    "Cost per case up; tokens per answer roughly doubled, watching",
                )
            )
        for t, action, why in sorted(out):
            self.t.decisions.append(
                {
                    "release_id": rel,
                    "decided_at": t,
                    "operator": op(),
                    "action": action,
                    "rationale": why,
                }
            )


# ---------------------------------------------------------------- telemetry


def _segment_filter(system: _System, segment: str) -> tuple[int, int]:
    if segment == "all":
        return -1, -1
    column, value = segment.split("=")
    if column == "task_type":
        return 0, [t.name for t in system.tasks].index(value)
    if column == "criticality":
        return 1, _CRITICALITY.index(value)
    if column == "language":
        return 2, [lang for lang, _ in system.languages].index(value)
    return 3, [c for c, _ in system.customers].index(value)


def _telemetry_system(
    system: _System,
    rels: list[_Rel],
    tl: _Timeline,
    cases_per_day: int,
    obs: Mapping[str, Any],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    first = rels[0].released_at
    day0 = first - first % _D
    ndays = -(-(tl.end - day0) // _D)
    weekday = (np.arange(ndays) + day0 // _D + 3) % 7  # 0 = Monday
    counts = rng.poisson(cases_per_day * np.where(weekday < 5, 1.15, 0.625))
    day = np.repeat(np.arange(ndays, dtype=np.int64), counts)
    n = day.size
    ts = (
        day0
        + day * _D
        + rng.choice(24, size=n, p=_DIURNAL).astype(np.int64) * _H
        + rng.integers(0, _H, size=n)
    )
    ts = np.sort(ts[(ts >= first) & (ts < tl.end)])
    n = ts.size

    tasks = system.tasks
    task = rng.choice(len(tasks), size=n, p=[t.share for t in tasks])
    crit_cum = np.cumsum([t.criticality for t in tasks], axis=1)[task]
    crit = (rng.random(n)[:, None] > crit_cum[:, :2]).sum(axis=1)
    lang_p = np.array([p for _, p in system.languages])
    cust_p = np.array([p for _, p in system.customers])
    lang = rng.choice(len(lang_p), size=n, p=lang_p / lang_p.sum())
    cust = rng.choice(len(cust_p), size=n, p=cust_p / cust_p.sum())
    segs = np.stack([task, crit, lang, cust])

    # Serving periods: (start, new, old, pct, segment column, segment value).
    periods: list[tuple[int, int, int, float, int, int]] = []
    for rel in rels:
        old = rel.base.local if rel.base is not None else -1
        for st in rel.stages:
            col, val = _segment_filter(system, st.segment)
            periods.append((st.start, rel.local, old, st.pct, col, val))
        if rel.withdrawn_at is not None:
            periods.append((rel.withdrawn_at, old, -1, 100.0, -1, -1))
    p_start = np.array([p[0] for p in periods], dtype=np.int64)
    p_new, p_old, p_pct, p_col, p_val = (np.array([p[i] for p in periods]) for i in range(1, 6))
    pi = np.searchsorted(p_start, ts, side="right") - 1
    seg_col = p_col[pi]
    match = (seg_col < 0) | (segs[np.maximum(seg_col, 0), np.arange(n)] == p_val[pi])
    serving = np.where(match & (rng.random(n) < p_pct[pi] / 100.0), p_new[pi], p_old[pi])
    # During a system's launch canary the other cases are handled without AI: not telemetry.
    keep = serving >= 0
    ts, segs, serving = ts[keep], segs[:, keep], serving[keep]
    task, crit, lang, cust = segs
    n = ts.size

    # Every release has its marker in the first day unless planted otherwise.
    marker = int(float(obs.get("marker_within_hours", 24)) * _H)
    for rel in rels:
        if rel.marker_lag_h is not None:
            continue
        i0, i1 = np.searchsorted(ts, [rel.released_at, rel.released_at + marker])
        if i1 > i0 and not (serving[i0:i1] == rel.local).any():
            serving[i0] = rel.local
    label = serving.copy()
    for rel in rels:
        if rel.marker_lag_h is not None and rel.base is not None:
            i0, i1 = np.searchsorted(
                ts, [rel.released_at, rel.released_at + int(rel.marker_lag_h * _H)]
            )
            seg = label[i0:i1]
            seg[serving[i0:i1] == rel.local] = rel.base.local

    # Outcomes.
    task_fx = np.array([t.fx for t in tasks])
    fx = (
        task_fx[task]
        * np.array(_CRIT_FX)[crit]
        * np.array([_LANG_FX[lg] for lg, _ in system.languages])[lang]
        * np.array([_CUSTOMER_FX[c] for c, _ in system.customers])[cust]
    )
    dq_active = np.array([r.dq_active for r in rels])
    dq_after = np.array([r.dq_after for r in rels])
    dq_switch = np.array([r.dq_switch for r in rels], dtype=np.int64)
    state = np.where((ts < dq_switch[serving])[:, None], dq_active[serving], dq_after[serving])
    prob = np.array(system.rates) * fx * state
    escalated = rng.random(n) < np.clip(prob[:, 0], 0, 0.99)
    reworked = rng.random(n) < np.clip(prob[:, 1], 0, 0.99)
    violation = rng.random(n) < np.clip(prob[:, 2], 0, 0.99)
    refused = rng.random(n) < system.refusal * np.array(_CRIT_REFUSAL)[crit]
    q_mean = np.clip(prob[:, 3], 0.02, 0.98)
    concentration = 18.0
    quality = rng.beta(q_mean * concentration, (1 - q_mean) * concentration)
    quality = np.where(rng.random(n) < 0.22, np.nan, np.round(quality, 4))

    cost_on = ts < np.array([r.cost_switch for r in rels], dtype=np.int64)[serving]
    tok_level = np.where(
        cost_on,
        np.array([r.tok_active for r in rels])[serving],
        np.array([r.tok_after for r in rels])[serving],
    )
    price_level = np.where(
        cost_on,
        np.array([r.price_active for r in rels])[serving],
        np.array([r.price_after for r in rels])[serving],
    )
    task_tok = np.array([t.tokens for t in tasks])[task]
    tokens = np.maximum(
        1, np.rint(rng.lognormal(np.log(system.tokens * task_tok * tok_level), 0.4))
    ).astype(np.int64)
    cost = np.round(tokens / 1000 * system.usd_per_1k_tokens * price_level, 6)
    latency = np.round(
        rng.lognormal(np.log(system.latency_ms * tok_level**0.35 * task_tok**0.3), 0.45), 1
    )
    task_h = np.array([t.handling for t in tasks])[task]
    h_auto, h_esc, h_rew = system.handling_s
    handling = (
        rng.lognormal(np.log(h_auto * task_h), 0.5)
        + escalated * rng.lognormal(np.log(h_esc * task_h), 0.55)
        + reworked * rng.lognormal(np.log(h_rew), 0.6)
    )
    gidx = np.array([r.gidx for r in rels])
    return {
        "ts": ts,
        "release": gidx[label],
        "serving": gidx[serving],
        "task": task,
        "crit": crit,
        "lang": lang,
        "cust": cust,
        "escalated": escalated,
        "reworked": reworked,
        "policy_violation": violation,
        "refused": refused,
        "handling_time_s": np.round(handling, 1),
        "latency_ms": latency,
        "tokens": tokens,
        "model_cost_usd": cost,
        "quality_score": quality,
    }


def _telemetry_frame(
    system: _System, data: Mapping[str, np.ndarray], rids: pl.Series
) -> pl.DataFrame:
    def names(values: Sequence[str], codes: np.ndarray) -> pl.Series:
        return pl.Series(list(values), dtype=pl.String).gather(codes)

    n = data["ts"].size
    return pl.DataFrame(
        {
            "ts": pl.Series(data["ts"], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "release_id": rids.gather(data["release"]),
            "system": pl.Series([system.name], dtype=pl.String).gather(np.zeros(n, dtype=np.int64)),
            "task_type": names([t.name for t in system.tasks], data["task"]),
            "criticality": names(_CRITICALITY, data["crit"]),
            "language": names([lg for lg, _ in system.languages], data["lang"]),
            "customer_segment": names([c for c, _ in system.customers], data["cust"]),
            "escalated": data["escalated"],
            "reworked": data["reworked"],
            "policy_violation": data["policy_violation"],
            "refused": data["refused"],
            "handling_time_s": data["handling_time_s"],
            "latency_ms": data["latency_ms"],
            "tokens": data["tokens"],
            "model_cost_usd": data["model_cost_usd"],
            "quality_score": pl.Series(data["quality_score"], nan_to_null=True),
        }
    )


# ---------------------------------------------------------------- truth


def _attribute(
    inc: _Incident, by_system: Mapping[str, list[_Rel]], window: int
) -> tuple[_Rel | None, str]:
    if inc.link is not None:
        return inc.link, "explicit"
    t = inc.started_at if inc.started_at is not None else inc.detected_at
    before = [r for r in by_system[inc.system] if r.released_at < t]
    if before and t - before[-1].released_at <= window:
        return before[-1], "time"
    return None, "none"


def _prefix_ok(stages: Sequence[_Stage], plan: Sequence[float]) -> bool:
    seq: list[float] = []
    for st in stages:
        if not seq or seq[-1] != st.pct:
            seq.append(st.pct)
    return (
        bool(seq)
        and len(seq) <= len(plan)
        and all(a == float(b) for a, b in zip(seq, plan, strict=False))
    )


class _Truth:
    def __init__(
        self,
        policy: Policy,
        rels: list[_Rel],
        by_system: Mapping[str, list[_Rel]],
        incidents: list[_Incident],
        tables: _Tables,
        marker_seen: set[int],
    ):
        self.policy, self.rels, self.by_system = policy, rels, by_system
        self.incidents, self.tables, self.marker_seen = incidents, tables, marker_seen
        window = int(policy.attribution_window_days * _D)
        self.attribution = {id(i): _attribute(i, by_system, window) for i in incidents}
        self.per_release: dict[int, list[_Incident]] = {}
        for inc in incidents:
            rel, _ = self.attribution[id(inc)]
            if rel is not None:
                self.per_release.setdefault(rel.gidx, []).append(inc)
        self.evidence = self._group(tables.evidence)
        self.gates = self._group(tables.gates)
        self.approvals = self._group(tables.approvals)
        self.decisions = self._group(tables.decisions)

    @staticmethod
    def _group(rows: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            out.setdefault(row["release_id"].gidx, []).append(row)
        return out

    def missing_evidence(self, rel: _Rel) -> list[str]:
        rows = {r["item"]: r for r in self.evidence.get(rel.gidx, [])}
        missing = []
        for item in self.policy.tiers[rel.effective].required_evidence:
            row = rows.get(item)
            ok = row is not None and (
                row["status"] == "present"
                or (row["status"] == "waived" and bool(row["approved_by"]))
            )
            if not ok:
                missing.append(item)
        return missing

    def _train_ok(self, rel: _Rel) -> bool:
        if rel.train == "emergency":
            return True
        tier = self.policy.tiers[rel.effective]
        if rel.train != tier.train:
            return False
        trains = self.policy.section("trains")
        local = _dt(rel.released_at).replace(tzinfo=UTC).astimezone(self.policy.zone)
        weekly = tuple(int(d) for d in trains.get("weekly_days", (2, 3)))
        if rel.train == "weekly":
            return local.isoweekday() in weekly
        if rel.train == "monthly":
            return local.isoweekday() in weekly and local.day <= int(
                trains.get("monthly_first_days", 7)
            )
        return True

    def violations(self, rel: _Rel) -> list[str]:
        tier = self.policy.tiers[rel.effective]
        out = []
        if rel.misclassified:
            out.append("misclassified")
        if self.missing_evidence(rel):
            out.append("missing_evidence")
        latest: dict[str, dict[str, Any]] = {}
        for row in self.gates.get(rel.gidx, []):
            prior = latest.get(row["gate"])
            if prior is None or (row["evaluated_at"] or 0) >= (prior["evaluated_at"] or 0):
                latest[row["gate"]] = row
        if any(r["result"] == "fail" for r in latest.values()):
            out.append("failed_gate_shipped")
        if any(g not in latest or latest[g]["result"] == "not_run" for g in tier.required_gates):
            out.append("gate_not_run")
        if not _prefix_ok(rel.stages, tier.rollout_plan or (100.0,)):
            out.append("rollout_steps_skipped")
        if any(s.stop_met and s.decision == "advance" for s in rel.stages):
            out.append("stop_condition_ignored")
        votes = self.approvals.get(rel.gidx, [])
        go_roles = {v["role"] for v in votes if v["decision"] == "go"}
        if any(role not in go_roles for role in tier.required_approvals):
            out.append("missing_approval")
        finals = sum(1 for v in votes if v["final"])
        if finals == 0:
            out.append("no_final_approval")
        elif finals > 1:
            out.append("multiple_final_approvals")
        if not self._train_ok(rel):
            out.append("train_violation")
        if rel.gidx not in self.marker_seen:
            out.append("no_telemetry_within_24h")
        obs = self.policy.section("observability")
        horizon = int(float(obs.get("operator_decisions_within_hours", 72)) * _H)
        if not any(
            rel.released_at <= d["decided_at"] <= rel.released_at + horizon
            for d in self.decisions.get(rel.gidx, [])
        ):
            out.append("no_operator_decision_72h")
        if not rel.owner or "," in rel.owner:
            out.append("no_single_accountable_owner")
        return sorted(out)

    def signals(self, rel: _Rel) -> tuple[list[str], bool, int | None]:
        incs = self.per_release.get(rel.gidx, [])
        rollback = (
            any(s.decision == "rollback" for s in rel.stages)
            or any(
                d["action"] in ("rollback", "roll_forward")
                for d in self.decisions.get(rel.gidx, [])
            )
            or any(i.mitigation in ROLLBACK_MITIGATIONS for i in incs)
        )
        out = []
        if any(i.impact for i in incs):
            out.append("incident")
        if rollback:
            out.append("rollback")
        if rel.regression is not None:
            out.append("telemetry")
        dora = bool(incs) or rollback
        times = [i.detected_at for i in incs if i.impact]
        times += [s.end for s in rel.stages if s.decision in ("halt", "rollback")]
        return out, dora, min(times) if times else None


# ---------------------------------------------------------------- bad rows and writing


def _fmt_num(v: float | None) -> str:
    if v is None:
        return ""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


class _Writer:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def offset(self) -> tuple[int, str]:
        return _OFFSETS[int(self.rng.choice(len(_OFFSETS), p=_OFFSET_P))]

    def ts(self, us: int | None, off: tuple[int, str]) -> str:
        return "" if us is None else _iso(us, off)


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


# ---------------------------------------------------------------- entry point


def generate_sample(
    out_dir: str | Path,
    *,
    seed: int = 7,
    cases_per_day: int = DEFAULT_CASES_PER_DAY,
    start: str = "2025-05-01",
    months: int = 18,
) -> SampleSummary:
    """Write the sample dataset (the contract's tables, telemetry, truth.json) into ``out_dir``.

    ``seed`` (>= 0) fixes every random choice; the release, incident and process tables do not
    depend on ``cases_per_day`` (mean cases per system per day), only telemetry does. ``start`` is
    the first day of a month (``YYYY-MM-DD``, UTC) and ``months`` the length of the period. The
    layout, the generation model and every truth.json field are described in the module docstring.
    """
    if cases_per_day < 1:
        raise ValueError(f"cases_per_day must be >= 1, got {cases_per_day}")
    if months < 1:
        raise ValueError(f"months must be >= 1, got {months}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    policy = load_policy()
    tl = _timeline(start, months)
    streams = np.random.SeedSequence(seed).spawn(6)
    rng_sched, rng_text, rng_inc, rng_tab, rng_fmt, rng_bad = (
        np.random.default_rng(s) for s in streams[:6]
    )
    tel_seeds = np.random.SeedSequence([seed, 1, cases_per_day]).spawn(len(_SYSTEMS))

    # Schedule.
    by_system: dict[str, list[_Rel]] = {}
    incidents: list[_Incident] = []
    for sys in _SYSTEMS:
        sched = _Scheduler(sys, policy, tl, rng_sched)
        by_system[sys.name] = sched.run()
        incidents.extend(sched.incidents)
    rels = sorted(
        (r for rs in by_system.values() for r in rs), key=lambda r: (r.released_at, r.system.name)
    )
    for i, rel in enumerate(rels):
        rel.gidx, rel.rid = i, f"rel-{i + 1:04d}"
    for srels in by_system.values():
        for a, b in zip(srels[:-1], srels[1:], strict=True):
            a.next = b
    for rel in rels:
        rel.summary = _summary(rel, rng_text)
    incidents.extend(_background_incidents(by_system, tl, policy, rng_inc))
    incidents.sort(key=lambda i: (i.detected_at, i.system))
    for k, inc in enumerate(incidents):
        inc.iid = f"INC-{k + 1:04d}"

    builder = _TableBuilder(policy, rng_tab)
    for rel in rels:
        builder.release(rel)
    tables = builder.t

    # Telemetry.
    out = Path(out_dir)
    tdir = out / "telemetry"
    tdir.mkdir(parents=True, exist_ok=True)
    for old in sorted(tdir.glob("*.parquet")):
        old.unlink()
    rids = pl.Series([r.rid for r in rels], dtype=pl.String)
    obs = policy.section("observability")
    frames, marker_seen, window_cases, baseline_cases = [], set(), {}, {}
    marker = int(float(obs.get("marker_within_hours", 24)) * _H)
    obs_window = int(policy.observation_window_days * _D)
    for sys, ss in zip(_SYSTEMS, tel_seeds, strict=True):
        srels = by_system[sys.name]
        if not srels:
            continue
        data = _telemetry_system(sys, srels, tl, cases_per_day, obs, np.random.default_rng(ss))
        ts, label = data["ts"], data["release"]
        for rel in srels:
            i0, i1 = np.searchsorted(ts, [rel.released_at, rel.released_at + marker])
            if (label[i0:i1] == rel.gidx).any():
                marker_seen.add(rel.gidx)
            if rel.regression is not None and rel.prev is not None:
                end = _window_end(rel, tl, obs_window)
                w0, w1 = np.searchsorted(ts, [rel.released_at, end])
                window_cases[rel.gidx] = int((label[w0:w1] == rel.gidx).sum())
                b0 = np.searchsorted(ts, rel.released_at - obs_window)
                baseline_cases[rel.gidx] = int((label[b0:w1] == rel.prev.gidx).sum())
        frames.append(_telemetry_frame(sys, data, rids))
    telemetry = pl.concat(frames).sort("ts", "system", maintain_order=True)
    tel_files = []
    bounds = [*tl.month_starts, tl.end]
    ts_col = telemetry["ts"].cast(pl.Int64).to_numpy()
    for month_start, month_end in zip(bounds[:-1], bounds[1:], strict=True):
        i0, i1 = np.searchsorted(ts_col, [month_start, month_end])
        if i1 > i0:
            path = tdir / f"{_dt(month_start):%Y-%m}.parquet"
            telemetry.slice(int(i0), int(i1 - i0)).write_parquet(path, compression="zstd")
            tel_files.append(path)

    # Rows as written.
    truth_calc = _Truth(policy, rels, by_system, incidents, tables, marker_seen)
    w = _Writer(rng_fmt)
    rows = _rows(rels, incidents, tables, w)
    bad, bad_mitigated = _plant_bad_rows(rows, rels, incidents, rng_bad)

    paths: dict[str, Path] = {}
    counts: dict[str, int] = {}
    for name in TABLES:
        path = out / f"{name}.csv"
        _write_csv(path, _HEADERS[name], rows[name])
        paths[name], counts[name] = path, len(rows[name])
    paths["telemetry"] = tdir
    counts["telemetry"] = telemetry.height

    truth = _truth_document(
        seed=seed,
        cases_per_day=cases_per_day,
        start=start,
        months=months,
        tl=tl,
        policy=policy,
        rels=rels,
        by_system=by_system,
        incidents=incidents,
        calc=truth_calc,
        window_cases=window_cases,
        baseline_cases=baseline_cases,
        bad=bad,
        bad_mitigated=bad_mitigated,
        counts=counts,
    )
    paths["truth"] = out / "truth.json"
    paths["truth"].write_text(
        json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return SampleSummary(
        out_dir=out,
        seed=seed,
        cases_per_day=cases_per_day,
        start=start,
        months=months,
        paths=paths,
        telemetry_files=tuple(tel_files),
        row_counts=counts,
    )


def _window_end(rel: _Rel, tl: _Timeline, obs_window: int) -> int:
    """End of a release's comparison window: observation window, effect, serving, dataset."""
    ends = [rel.released_at + obs_window, tl.end]
    if rel.withdrawn_at is not None:
        ends.append(rel.withdrawn_at)
    if rel.regression is not None and rel.regression.effect_end is not None:
        ends.append(rel.regression.effect_end)
    if rel.next is not None:
        ends.append(rel.next.released_at)
    return min(ends)


def _rows(
    rels: list[_Rel], incidents: list[_Incident], t: _Tables, w: _Writer
) -> dict[str, list[list[str]]]:
    rows: dict[str, list[list[str]]] = {name: [] for name in TABLES}
    for rel in rels:
        off = w.offset()
        rows["releases"].append(
            [
                rel.rid,
                rel.system.name,
                w.ts(rel.released_at, off),
                rel.declared,
                *(rel.versions[c] for c in COMPONENTS),
                w.ts(rel.requested_at, off),
                rel.owner,
                rel.train,
                rel.summary,
            ]
        )
    for row in t.evidence:
        rows["evidence"].append(
            [
                row["release_id"].rid,
                row["item"],
                row["status"],
                row["approved_by"],
                row["uri"].replace("{rid}", row["release_id"].rid),
            ]
        )
    for row in sorted(t.gates, key=lambda r: (r["release_id"].gidx,)):
        off = w.offset()
        rows["gates"].append(
            [
                row["release_id"].rid,
                row["gate"],
                row["result"],
                w.ts(row["evaluated_at"], off),
                row["metric"],
                _fmt_num(row["value"]),
                _fmt_num(row["threshold"]),
            ]
        )
    for rel in rels:
        for k, st in enumerate(rel.stages, start=1):
            off = w.offset()
            rows["rollout_stages"].append(
                [
                    rel.rid,
                    str(k),
                    _fmt_num(st.pct),
                    w.ts(st.start, off),
                    w.ts(st.end, off),
                    st.segment,
                    st.decision,
                    st.decided_by,
                    "1" if st.stop_met else "0",
                ]
            )
    for row in t.approvals:
        off = w.offset()
        rows["approvals"].append(
            [
                row["release_id"].rid,
                row["role"],
                row["approver"],
                row["decision"],
                w.ts(row["decided_at"], off),
                "true" if row["final"] else "false",
            ]
        )
    for inc in incidents:
        off = w.offset()
        rows["incidents"].append(
            [
                inc.iid,
                inc.system,
                inc.link.rid if inc.link else "",
                w.ts(inc.started_at, off),
                w.ts(inc.detected_at, off),
                w.ts(inc.mitigated_at, off),
                inc.severity,
                inc.category,
                inc.mitigation,
                inc.detection_source,
                inc.dq_impact,
                inc.title,
            ]
        )
    for row in sorted(t.decisions, key=lambda r: (r["decided_at"], r["release_id"].gidx)):
        off = w.offset()
        rows["operator_decisions"].append(
            [
                row["release_id"].rid,
                w.ts(row["decided_at"], off),
                row["operator"],
                row["action"],
                row["rationale"],
            ]
        )
    return rows


def _plant_bad_rows(
    rows: dict[str, list[list[str]]],
    rels: list[_Rel],
    incidents: list[_Incident],
    rng: np.random.Generator,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One row of each kind of problem the contract names, at deterministic places.

    Returns the bad rows with their CSV lines, and the corrupted ``mitigated_at`` by incident_id.
    """
    head = {name: {c: i for i, c in enumerate(_HEADERS[name])} for name in TABLES}
    bad: list[dict[str, Any]] = []

    # An evidence row for a release that does not exist (a typo in the release id).
    ev = rows["evidence"]
    pos = len(ev) * 3 // 5
    real = ev[pos][0]
    ghost = "rel-9" + real.split("-")[1][1:]
    ev.insert(
        pos,
        [
            ghost,
            "offline_eval",
            "present",
            "",
            f"https://wiki.northwind.example/ai-releases/{ghost}/offline_eval",
        ],
    )

    # An unparseable timestamp: an operator note pasted from a spreadsheet.
    dec = rows["operator_decisions"]
    candidates = [
        i for i, r in enumerate(dec) if r[head["operator_decisions"]["action"]] == "continue"
    ] or list(range(len(dec)))
    i = candidates[len(candidates) // 2]
    rid = dec[i][0]
    rel = next(r for r in rels if r.rid == rid)
    when = _dt(rel.released_at + 30 * _H)
    stamp = when.strftime("%d/%m/%Y %H:%M")
    dec.insert(
        i + 1, [rid, stamp, rel.system.operators[0], "note", "Copied from the on-call spreadsheet"]
    )

    inc_rows = rows["incidents"]
    col = head["incidents"]
    if len(incidents) < 3:
        raise ValueError("the period is too short for a dataset with incidents; use months >= 2")
    every = list(range(len(incidents)))
    dq_planted = [
        k
        for k in every
        if incidents[k].cause == "planted_regression" and incidents[k].mitigated_at is not None
    ]
    mitigated = [k for k in every if incidents[k].mitigated_at is not None] or every
    # mitigated_at before detected_at (a typo in the day), on a linked planted-regression incident.
    linked = [k for k in dq_planted if incidents[k].link is not None] or dq_planted or mitigated
    k_imp = linked[len(linked) // 3]
    inc = incidents[k_imp]
    wrong = _sec(inc.detected_at - _hours(rng, 2, 20))
    inc_rows[k_imp][col["mitigated_at"]] = _iso(wrong, (0, "Z"))
    # An unknown severity on a background latency incident.
    latency = [
        k
        for k in every[len(every) // 2 :]
        if incidents[k].cause == "external" and incidents[k].category == "latency" and k != k_imp
    ]
    k_enum = (latency or [k for k in every if k != k_imp])[0]
    inc_rows[k_enum][col["severity"]] = "critical"
    # An exact duplicate of a planted-regression incident, exported twice.
    k_dup = next(
        k for k in [*dq_planted[len(dq_planted) // 2 :], *every] if k not in (k_imp, k_enum)
    )
    inc_rows.insert(k_dup + 1, list(inc_rows[k_dup]))

    def line(table: str, pred: Any) -> int:
        return next(n for n, r in enumerate(rows[table], start=2) if pred(r))

    bad.append(
        {
            "table": "evidence",
            "line": line("evidence", lambda r: r[0] == ghost),
            "column": "release_id",
            "kind": "unknown_release",
            "value": ghost,
            "record_id": ghost,
            "note": f"typo of {real}",
        }
    )
    bad.append(
        {
            "table": "operator_decisions",
            "line": line("operator_decisions", lambda r: r[1] == stamp),
            "column": "decided_at",
            "kind": "invalid_timestamp",
            "value": stamp,
            "record_id": rid,
            "note": "day-first spreadsheet format; the release has other decisions in time",
        }
    )
    bad.append(
        {
            "table": "incidents",
            "line": line("incidents", lambda r: r[0] == inc.iid),
            "column": "mitigated_at",
            "kind": "impossible_duration",
            "value": _iso(wrong),
            "record_id": inc.iid,
            "note": "mitigated_at precedes detected_at",
        }
    )
    bad.append(
        {
            "table": "incidents",
            "line": line("incidents", lambda r: r[0] == incidents[k_enum].iid),
            "column": "severity",
            "kind": "unknown_enum",
            "value": "critical",
            "record_id": incidents[k_enum].iid,
            "note": "severity outside sev1..sev4",
        }
    )
    dup_id = incidents[k_dup].iid
    first_line = line("incidents", lambda r: r[0] == dup_id)
    bad.append(
        {
            "table": "incidents",
            "line": first_line + 1,
            "column": None,
            "kind": "exact_duplicate",
            "value": None,
            "record_id": dup_id,
            "duplicate_of_line": first_line,
            "note": "the same incident exported twice",
        }
    )
    return bad, {inc.iid: wrong}


def _truth_document(
    *,
    seed: int,
    cases_per_day: int,
    start: str,
    months: int,
    tl: _Timeline,
    policy: Policy,
    rels: list[_Rel],
    by_system: Mapping[str, list[_Rel]],
    incidents: list[_Incident],
    calc: _Truth,
    window_cases: Mapping[int, int],
    baseline_cases: Mapping[int, int],
    bad: list[dict[str, Any]],
    bad_mitigated: Mapping[str, int],
    counts: Mapping[str, int],
) -> dict[str, Any]:
    def iso(us: int | None) -> str | None:
        return None if us is None else _iso(us)

    obs_window = int(policy.observation_window_days * _D)
    regressions, releases, costs = [], [], []
    for rel in rels:
        signals, dora, detection = calc.signals(rel)
        reg = rel.regression
        if reg is not None:
            inc = reg.incident
            halt = next((s for s in rel.stages if s.decision in ("halt", "rollback")), None)
            margin = policy.decision_quality_metrics[reg.metric].margin
            by = None
            if detection is not None:
                by = "incident"
                if halt is not None and halt.end == detection:
                    by = f"rollout_{halt.decision}"
            mitigated = None
            if inc is not None:
                mitigated = bad_mitigated.get(inc.iid, inc.mitigated_at)
            regressions.append(
                {
                    "release_id": rel.rid,
                    "system": rel.system.name,
                    "baseline_release_id": rel.prev.rid if rel.prev else None,
                    "metric": reg.metric,
                    "relative_effect": reg.effect,
                    "margin": margin,
                    "effect_over_margin": round(abs(reg.effect) / margin, 2) if margin else None,
                    "culprit_component": reg.culprit,
                    "path": reg.path,
                    "window_start": iso(rel.released_at),
                    "window_end": iso(_window_end(rel, tl, obs_window)),
                    "cases_in_window": window_cases.get(rel.gidx, 0),
                    "baseline_cases": baseline_cases.get(rel.gidx, 0),
                    "detected": detection is not None,
                    "detected_by": by,
                    "detected_at": iso(detection),
                    "incident_id": inc.iid if inc else None,
                    "incident_detected_at": iso(inc.detected_at) if inc else None,
                    "late_detection": reg.late and inc is not None,
                    "mitigated_at": iso(mitigated),
                    "mitigation": inc.mitigation if inc else None,
                    "rolled_back_at": iso(rel.withdrawn_at),
                    "effect_ended_at": iso(reg.effect_end),
                    "fix_release_id": reg.fix.rid if reg.fix else None,
                }
            )
        if rel.cost is not None:
            c = rel.cost
            costs.append(
                {
                    "release_id": rel.rid,
                    "system": rel.system.name,
                    "kind": c.kind,
                    "tokens_relative": round(c.tokens - 1, 4),
                    "model_cost_relative": round(c.tokens * c.price - 1, 4),
                    "incident_id": c.incident.iid if c.incident else None,
                    "fixed_at": iso(c.fixed_at),
                }
            )
        releases.append(
            {
                "release_id": rel.rid,
                "system": rel.system.name,
                "released_at": iso(rel.released_at),
                "declared_tier": rel.declared,
                "implied_tier": rel.implied,
                "effective_tier": rel.effective,
                "changed_components": list(rel.changed),
                "train": rel.train,
                "misclassified": rel.misclassified,
                "regressed": reg is not None,
                "regression_metric": reg.metric if reg else None,
                "cost_increase": rel.cost is not None and rel.cost.kind == "increase",
                "cost_relative": round(rel.cost.tokens * rel.cost.price - 1, 4)
                if rel.cost
                else 0.0,
                "rolled_back": "rollback" in signals,
                "halted": rel.withdraw_kind == "halt",
                "fix_for": rel.fix_for.rid if rel.fix_for else None,
                "marker_lag_hours": rel.marker_lag_h,
                "attributed_incidents": [i.iid for i in calc.per_release.get(rel.gidx, [])],
                "expected_failure_signals": signals,
                "dq_failed": bool(signals),
                "dora_failed": dora,
                "first_detection_at": iso(detection),
                "missing_evidence": calc.missing_evidence(rel),
                "process_violations": calc.violations(rel),
            }
        )
    inc_truth = []
    for inc in incidents:
        owner, how = calc.attribution[id(inc)]
        inc_truth.append(
            {
                "incident_id": inc.iid,
                "system": inc.system,
                "category": inc.category,
                "decision_quality_impact": inc.impact,
                "cause": inc.cause,
                "caused_by_release_id": inc.caused_by.rid if inc.caused_by else None,
                "attributed_release_id": owner.rid if owner else None,
                "attribution": how,
                "open": inc.mitigated_at is None,
            }
        )
    return {
        "schema_version": 1,
        "generator": "analytics.sample.generate",
        "seed": seed,
        "cases_per_day": cases_per_day,
        "start": iso(tl.start),
        "end": iso(tl.end),
        "months": months,
        "policy_fingerprint": policy.fingerprint,
        "systems": {
            s.name: {
                "launched_at": iso(by_system[s.name][0].released_at) if by_system[s.name] else None,
                "task_types": [t.name for t in s.tasks],
                "languages": [lg for lg, _ in s.languages],
                "customer_segments": [c for c, _ in s.customers],
            }
            for s in _SYSTEMS
        },
        "freeze_windows": [{"start": iso(a), "end": iso(b)} for a, b in tl.freezes],
        "row_counts": dict(counts),
        "regressions": regressions,
        "cost_changes": costs,
        "releases": releases,
        "incidents": inc_truth,
        "unattributable_incidents": [
            i["incident_id"] for i in inc_truth if i["attribution"] == "none"
        ],
        "bad_rows": bad,
    }
