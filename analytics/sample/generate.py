"""A deterministic sample dataset: 18 months of AI releases at a fictional insurer, planted truth.

``generate_sample(out_dir, seed=7)`` writes a dataset folder that follows the data contract and is
meant for demos, notebooks, golden tests and benchmarks. The same seed (and parameters) gives the
same bytes. No wall clock is read. The dataset has no ``policy.yaml``: it is generated for, and its
truth is derived with, the project's default policy (``analytics/core/default_policy.yaml``).

This module orchestrates and writes; the pieces live beside it, each importing only the ones
listed before it: ``organisation`` (systems, people, texts), ``records`` (internal records, time
helpers), ``releases`` (the schedule, planted regressions and cost changes), ``incidents``
(background incidents), ``process`` (evidence, gates, approvals, operator decisions),
``telemetry``, ``rows`` (the CSV rows as written), ``bad_rows`` and ``truth`` (truth.json).

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

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analytics.core.policy import Policy, load_policy
from analytics.sample.bad_rows import _plant_bad_rows
from analytics.sample.incidents import _background_incidents
from analytics.sample.organisation import _SYSTEMS
from analytics.sample.process import _TableBuilder
from analytics.sample.records import _Incident, _Rel, _Timeline, _timeline
from analytics.sample.releases import _Scheduler, _summary
from analytics.sample.rows import _HEADERS, TABLES, _rows, _write_csv, _Writer
from analytics.sample.telemetry import _write_telemetry
from analytics.sample.truth import _Truth, _truth_document

__all__ = ["DEFAULT_CASES_PER_DAY", "TABLES", "SampleSummary", "generate_sample"]

DEFAULT_CASES_PER_DAY = 300
"""Mean cases per system per day: about 460 000 telemetry rows for the default 18 months."""


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
    _check_arguments(seed, cases_per_day, months)
    policy = load_policy()
    tl = _timeline(start, months)
    streams = np.random.SeedSequence(seed).spawn(6)
    rng_sched, rng_text, rng_inc, rng_tab, rng_fmt, rng_bad = (
        np.random.default_rng(s) for s in streams[:6]
    )
    tel_seeds = np.random.SeedSequence([seed, 1, cases_per_day]).spawn(len(_SYSTEMS))
    by_system, rels, incidents = _history(policy, tl, rng_sched, rng_text, rng_inc)
    builder = _TableBuilder(policy, rng_tab)
    for rel in rels:
        builder.release(rel)
    tables = builder.t

    out = Path(out_dir)
    tel = _write_telemetry(out / "telemetry", rels, by_system, tl, policy, cases_per_day, tel_seeds)
    truth_calc = _Truth(policy, rels, by_system, incidents, tables, tel.marker_seen)
    rows = _rows(rels, incidents, tables, _Writer(rng_fmt))
    bad, bad_mitigated = _plant_bad_rows(rows, rels, incidents, rng_bad)
    paths, counts = _write_tables(out, rows)
    paths["telemetry"] = out / "telemetry"
    counts["telemetry"] = tel.cases

    truth = _truth_document(
        truth_calc,
        tl,
        seed=seed,
        cases_per_day=cases_per_day,
        months=months,
        window_cases=tel.window_cases,
        baseline_cases=tel.baseline_cases,
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
        telemetry_files=tuple(tel.files),
        row_counts=counts,
    )


def _check_arguments(seed: int, cases_per_day: int, months: int) -> None:
    """Reject a negative seed, fewer than one case per day or an empty period."""
    if cases_per_day < 1:
        raise ValueError(f"cases_per_day must be >= 1, got {cases_per_day}")
    if months < 1:
        raise ValueError(f"months must be >= 1, got {months}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")


def _history(
    policy: Policy,
    tl: _Timeline,
    rng_sched: np.random.Generator,
    rng_text: np.random.Generator,
    rng_inc: np.random.Generator,
) -> tuple[dict[str, list[_Rel]], list[_Rel], list[_Incident]]:
    """Every system's releases (scheduled one system after the other on one stream), numbered
    ``rel-NNNN`` in release order, linked to their successors and given summaries; the incidents
    they caused and the background ones, numbered ``INC-NNNN`` in order of detection."""
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
    return by_system, rels, incidents


def _write_tables(
    out: Path, rows: Mapping[str, list[list[str]]]
) -> tuple[dict[str, Path], dict[str, int]]:
    """Write one CSV per table; its path and data-row count by table name."""
    paths: dict[str, Path] = {}
    counts: dict[str, int] = {}
    for name in TABLES:
        path = out / f"{name}.csv"
        _write_csv(path, _HEADERS[name], rows[name])
        paths[name], counts[name] = path, len(rows[name])
    return paths, counts
