"""The declared policy schema (analytics.core.policy_schema), validated at load: one bad value of
each
kind gives exactly one clear line naming the file, the key path and the value; unknown keys get
the closest known key; every problem of a file is listed at once; YAML syntax errors give line
and column; the CLI exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from analytics import comparison
from analytics.cli.main import main
from analytics.core import policy as policy_module
from analytics.core import policy_schema as ps
from analytics.core import schemas
from analytics.core.errors import DataError
from analytics.core.policy import default_policy_mapping, load_policy, policy_from_mapping
from analytics.core.policy_reference import policy_reference_markdown
from analytics.metrics import dora

ROOT = Path(__file__).resolve().parents[1]
TINY_POLICY = ROOT / "tests" / "data" / "tiny" / "policy.yaml"
MISSPELT = "tiers:\n  high:\n    required_evidenc: [offline_eval]\n"


def _write(tmp_path: Path, text: str | bytes, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path, overrides: dict | None = None) -> str:
    with pytest.raises(DataError) as info:
        load_policy(path, overrides)
    return str(info.value)


# ---------------------------------------------------------------- one bad value, one line

BAD_VALUES = [
    # the bad-input campaign
    (
        "tiers: {high: {rollout_plan: [five]}}",
        "tiers.high.rollout_plan[0]: must be a number > 0 and <= 100, got 'five'",
    ),
    (
        "trains: {weekly_days: [tuesday]}",
        "trains.weekly_days[0]: must be an integer >= 1 and <= 7, got 'tuesday'",
    ),
    (
        "attribution_window_days: 1e12",  # YAML 1.1: text, not a number
        "attribution_window_days: must be a number > 0 and <= 3650, got '1e12' (YAML reads an "
        "exponent without a dot as text: write e.g. 1.0e+12)",
    ),
    (
        "attribution_window_days: 1.0e+12",
        "attribution_window_days: must be a number > 0 and <= 3650, got 1000000000000.0",
    ),
    (
        "attribution_window_days: .inf",
        "attribution_window_days: must be a number > 0 and <= 3650, got inf",
    ),
    (
        "failure_signals: {incident: 'no'}",
        "failure_signals.incident: must be true or false (a YAML boolean), got 'no'",
    ),
    ("alpha: .nan", "alpha: must be a number > 0 and < 1, got nan"),
    (
        "comparison: {min_cases_per_arm: many}",
        "comparison.min_cases_per_arm: must be an integer >= 1, got 'many'",
    ),
    (
        "comparison: {multiple_testing: bonferroni-ish}",
        "comparison.multiple_testing: must be one of holm, bh, got 'bonferroni-ish'",
    ),
    ("comparison: 5", "comparison: must be a mapping, got 5"),
    ("judge: [a, b]", "judge: must be a mapping, got ['a', 'b']"),
    ("risk: null", "risk: must be a mapping, got None"),
    (
        "tiers: {high: {required_evidence: offline_eval}}",
        "tiers.high.required_evidence: must be a list of non-empty strings, got 'offline_eval'",
    ),
    # top-level scalars
    ("timezone: Mars/Olympus", None),  # checked separately below (suggestion varies)
    (
        "assume_timezone: 5",
        "assume_timezone: must be an IANA timezone name or null, got 5",
    ),
    (
        "observation_window_days: 0",
        "observation_window_days: must be a number > 0 and <= 3650, got 0",
    ),
    (
        "observation_window_days: 3651",
        "observation_window_days: must be a number > 0 and <= 3650, got 3651",
    ),
    ("alpha: 1", "alpha: must be a number > 0 and < 1, got 1"),
    ("alpha: 0", "alpha: must be a number > 0 and < 1, got 0"),
    ("alpha: true", "alpha: must be a number > 0 and < 1, got True"),
    # tiers
    (
        "tiers: {low: {rollout_plan: []}}",
        "tiers.low.rollout_plan: must be a non-empty list of numbers > 0 and <= 100 (strictly "
        "increasing), got []",
    ),
    (
        "tiers: {medium: {rollout_plan: [50, 20, 100]}}",
        "tiers.medium.rollout_plan: must be strictly increasing, got [50.0, 20.0, 100.0]",
    ),
    (
        "tiers: {low: {rollout_plan: [0]}}",
        "tiers.low.rollout_plan[0]: must be a number > 0 and <= 100, got 0",
    ),
    (
        "tiers: {low: {required_gates: [functional, deploy]}}",
        "tiers.low.required_gates[1]: must be one of functional, safety, operational, business, "
        "got 'deploy'",
    ),
    (
        "tiers: {low: {required_gates: [functional, functional]}}",
        "tiers.low.required_gates: must not repeat a value, got 'functional' twice",
    ),
    (
        "tiers: {low: {required_approvals: [ceo]}}",
        "tiers.low.required_approvals[0]: must be one of product_owner, platform, "
        "risk_compliance, operations, other, got 'ceo'",
    ),
    (
        "tiers: {low: {train: emergency}}",
        "tiers.low.train: must be one of daily, weekly, monthly, got 'emergency'",
    ),
    ("tiers: {low: null}", "tiers.low: must be a mapping, got None"),
    (
        "tiers: {high: {required_evidence: [offline_eval, 7]}}",
        "tiers.high.required_evidence[1]: must be a non-empty string, got 7",
    ),
    # component_min_tier, failure_signals, decision_quality_metrics, costs
    (
        "component_min_tier: {model: critical}",
        "component_min_tier.model: must be one of low, medium, high, got 'critical'",
    ),
    (
        "failure_signals: {rollback: 1}",
        "failure_signals.rollback: must be true or false (a YAML boolean), got 1",
    ),
    (
        "decision_quality_metrics: {quality_score: {worse: sideways}}",
        "decision_quality_metrics.quality_score.worse: must be one of up, down, got 'sideways'",
    ),
    (
        "decision_quality_metrics: {quality_score: {margin: 1.5}}",
        "decision_quality_metrics.quality_score: margin must be < 1 when worse is down (a fall "
        "of 100 % or more cannot be tolerated meaningfully), got 1.5",
    ),
    (
        "decision_quality_metrics: {escalation_rate: {margin: -0.1}}",
        "decision_quality_metrics.escalation_rate.margin: must be a number >= 0, got -0.1",
    ),
    (
        "decision_quality_metrics: {refusal_rate: {margin: 0.1}}",
        "decision_quality_metrics.refusal_rate.worse: is missing (one of up, down)",
    ),
    ("costs: {rework_usd: -1}", "costs.rework_usd: must be a number >= 0, got -1"),
    (
        "costs: {escalation_usd: '20'}",
        "costs.escalation_usd: must be a number >= 0, got '20' (text, not a number: remove the "
        "quotes)",
    ),
    # trains, observability, anti_patterns
    (
        "trains: {weekly_days: [8]}",
        "trains.weekly_days[0]: must be an integer >= 1 and <= 7, got 8",
    ),
    (
        "trains: {weekly_days: 2}",
        "trains.weekly_days: must be a non-empty list of integers >= 1 and <= 7 (ISO weekdays, "
        "1 = Monday; no repeats), got 2",
    ),
    (
        "trains: {monthly_first_days: 32}",
        "trains.monthly_first_days: must be an integer >= 1 and <= 31, got 32",
    ),
    (
        "trains: {monthly_first_days: 2.5}",
        "trains.monthly_first_days: must be an integer >= 1 and <= 31, got 2.5",
    ),
    (
        "observability: {marker_within_hours: 0}",
        "observability.marker_within_hours: must be a number > 0, got 0",
    ),
    (
        "observability: {operator_decisions_within_hours: .inf}",
        "observability.operator_decisions_within_hours: must be a number > 0, got inf",
    ),
    (
        "anti_patterns: {min_eval_evidence_items: -1}",
        "anti_patterns.min_eval_evidence_items: must be an integer >= 0, got -1",
    ),
    # comparison
    (
        "comparison: {min_cases_per_arm: true}",
        "comparison.min_cases_per_arm: must be an integer >= 1, got True",
    ),
    (
        "comparison: {min_cases_per_arm: 2.5}",
        "comparison.min_cases_per_arm: must be an integer >= 1, got 2.5",
    ),
    (
        "comparison: {min_cases_per_segment: 0}",
        "comparison.min_cases_per_segment: must be an integer >= 1, got 0",
    ),
    (
        "comparison: {collapse_order: [task_type, language]}",
        "comparison.collapse_order: must name each of task_type, criticality, language, "
        "customer_segment exactly once, got ['task_type', 'language']",
    ),
    (
        "comparison: {interim_alpha_share: 1}",
        "comparison.interim_alpha_share: must be a number > 0 and < 1, got 1",
    ),
    (
        "comparison: {bootstrap_samples: 99}",
        "comparison.bootstrap_samples: must be an integer >= 100, got 99",
    ),
    ("comparison: {seed: -1}", "comparison.seed: must be an integer >= 0, got -1"),
    (
        "comparison: {interim_alpha_share: 1.0}",
        "comparison.interim_alpha_share: must be a number > 0 and < 1, got 1.0",
    ),
    # judge
    (
        "judge: {hold_metrics: unit_cost_usd}",
        "judge.hold_metrics: must be a list of values from escalation_rate, rework_rate, "
        "policy_violation_rate, refusal_rate, quality_score, unit_cost_usd, latency_mean_ms, "
        "latency_p95_ms, tokens_mean, got 'unit_cost_usd'",
    ),
    (
        "judge: {min_cases_per_arm: 0}",
        "judge.min_cases_per_arm: must be an integer >= 1, got 0",
    ),
    (
        "judge: {min_standardised_share: 1.5}",
        "judge.min_standardised_share: must be a number >= 0 and <= 1, got 1.5",
    ),
    (
        "judge: {noninferiority_abs_margins: {policy_violation_rate: -0.002}}",
        "judge.noninferiority_abs_margins.policy_violation_rate: must be a number >= 0, got -0.002",
    ),
    # dora, risk, reports, rollup
    (
        "dora: {benchmark_years: [2019]}",
        "dora.benchmark_years: must name report years of dora_benchmarks.yaml (2024, 2023), "
        "got 2019",
    ),
    (
        "dora: {benchmark_years: []}",
        "dora.benchmark_years: must be a non-empty list of integers (years in "
        "dora_benchmarks.yaml; no repeats), got []",
    ),
    (
        "risk: {min_events_per_term: 0}",
        "risk.min_events_per_term: must be an integer >= 1 or null, got 0",
    ),
    (
        "risk: {min_group_releases: five}",
        "risk.min_group_releases: must be an integer >= 1, got 'five'",
    ),
    ("reports: {trend_months: 0}", "reports.trend_months: must be an integer >= 1, got 0"),
    ("reports: {min_trend_n: 1.5}", "reports.min_trend_n: must be an integer >= 1, got 1.5"),
    ("rollup: {engine: duckdb}", "rollup.engine: must be one of polars, spark, got 'duckdb'"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c for c in BAD_VALUES if c[1] is not None], ids=lambda v: str(v)[:50]
)
def test_bad_value_names_file_key_and_value(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text + "\n")
    assert _error(path) == f"policy {path}: {expected}"


def test_unknown_timezone_suggests_the_closest_zone(tmp_path: Path) -> None:
    path = _write(tmp_path, "timezone: Europe/Berln\n")
    assert _error(path) == (
        f"policy {path}: timezone: must be an IANA timezone name such as Europe/Berlin, "
        "got 'Europe/Berln' (did you mean Europe/Berlin?)"
    )
    path = _write(tmp_path, "assume_timezone: Mars/Olympus\n")
    assert _error(path).startswith(
        f"policy {path}: assume_timezone: must be an IANA timezone name such as Europe/Berlin, "
        "got 'Mars/Olympus'"
    )


# ---------------------------------------------------------------- unknown keys


def test_unknown_key_suggests_the_closest_known_key(tmp_path: Path) -> None:
    path = _write(tmp_path, MISSPELT)
    assert _error(path) == (
        f"policy {path}: tiers.high.required_evidenc: unknown key (did you mean required_evidence?)"
    )


def test_unknown_key_without_a_close_match_lists_the_known_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, "rollup: {zzz: 1}\n")
    assert _error(path) == f"policy {path}: rollup.zzz: unknown key; known keys: engine"


def test_unknown_metric_name_suggests_a_catalogue_metric(tmp_path: Path) -> None:
    path = _write(tmp_path, "decision_quality_metrics: {latency_p99: {worse: up}}\n")
    assert _error(path) == (
        f"policy {path}: decision_quality_metrics.latency_p99: unknown key (did you mean "
        "latency_p95_ms?)"
    )
    path = _write(tmp_path, "judge: {critical_metrics: [quality, escalation_rate]}\n")
    assert _error(path) == (
        f"policy {path}: judge.critical_metrics[0]: must be one of escalation_rate, "
        "rework_rate, policy_violation_rate, refusal_rate, quality_score, unit_cost_usd, "
        "latency_mean_ms, latency_p95_ms, tokens_mean, got 'quality'"
    )


# ---------------------------------------------------------------- all problems, right file


def test_every_error_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "alhpa: 0.05\n"
        "tiers:\n  high:\n    rollout_plan: [five]\n"
        "comparison:\n  min_cases_per_arm: many\n  multiple_testing: sidak\n",
    )
    assert _error(path).splitlines() == [
        f"policy {path}: tiers.high.rollout_plan[0]: must be a number > 0 and <= 100, got 'five'",
        f"policy {path}: comparison.multiple_testing: must be one of holm, bh, got 'sidak'",
        f"policy {path}: comparison.min_cases_per_arm: must be an integer >= 1, got 'many'",
        f"policy {path}: alhpa: unknown key (did you mean alpha?)",
    ]


def test_each_error_names_the_layer_the_bad_value_came_from(tmp_path: Path) -> None:
    path = _write(tmp_path, "alpha: 2\n")
    lines = _error(path, {"comparison": {"seed": -1}}).splitlines()
    assert lines == [
        f"policy {path}: alpha: must be a number > 0 and < 1, got 2",
        "policy overrides: comparison.seed: must be an integer >= 0, got -1",
    ]
    # policy_from_mapping names its source
    raw = policy_module.deep_merge(default_policy_mapping(), {"reports": {"trend_months": 0}})
    with pytest.raises(DataError) as info:
        policy_from_mapping(raw, "my mapping")
    assert str(info.value) == (
        "policy my mapping: reports.trend_months: must be an integer >= 1, got 0"
    )


def test_a_partial_mapping_reports_missing_keys() -> None:
    with pytest.raises(DataError) as info:
        policy_from_mapping({"timezone": "UTC", "alpha": 0.05}, "partial")
    lines = str(info.value).splitlines()
    assert "policy partial: attribution_window_days: is missing (a number > 0 and <= 3650)" in (
        lines
    )
    assert "policy partial: rollup: is missing (a mapping)" in lines
    assert len(lines) == 18  # 20 top-level keys, 2 given


def test_a_key_that_is_not_text_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, "tiers: {high: {true: [1]}}\n2024: x\n")
    assert _error(path).splitlines() == [
        f"policy {path}: tiers.high: key True must be text, got bool: quote it",
        f"policy {path}: (top level): key 2024 must be text, got int: quote it",
    ]


# ---------------------------------------------------------------- unreadable files


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "alpha: 0.05\ntiers: [1, 2\nrollup: {engine: polars}\n")
    assert _error(path) == (
        f"policy {path}: line 3, column 7: invalid YAML: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence at line 2, column 8)"
    )
    path = _write(tmp_path, "alpha: 0.05\ncomparison: seed: 3\n")
    assert _error(path) == (
        f"policy {path}: line 2, column 17: invalid YAML: mapping values are not allowed here"
    )


def test_control_character_names_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "alpha: 0.05\nrollup: {engine: po\x07lars}\n")
    assert _error(path) == (
        f"policy {path}: line 2, column 20: invalid YAML: character '\\x07' is not allowed"
    )


def test_non_utf8_file_names_the_byte_offset(tmp_path: Path) -> None:
    # "timezone: UTC\n" is 14 bytes, "alpha: 0.0" 10 more: the Latin-1 byte is at offset 24
    path = _write(tmp_path, b"timezone: UTC\nalpha: 0.0\xb55\n")
    assert _error(path) == (
        f"policy {path}: not UTF-8 text: byte 0xb5 at offset 24 (line 2) cannot be decoded; "
        "save the file as UTF-8"
    )


def test_missing_file_or_directory(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope.yaml") == f"policy: file {tmp_path / 'nope.yaml'} does not exist"
    assert _error(tmp_path) == f"policy: {tmp_path} is a directory, not a policy file"


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path, "- alpha\n- 0.05\n")
    assert _error(path) == (
        f"policy {path}: must hold a mapping of policy keys at the top level, "
        "got list ['alpha', 0.05]"
    )


# ---------------------------------------------------------------- what still loads


def test_default_and_tiny_policies_validate() -> None:
    default = load_policy()
    assert default.source == "default"
    assert default.alpha == 0.05 and default.attribution_window_days == 14.0
    assert default.tiers["high"].rollout_plan == (1.0, 5.0, 20.0, 100.0)
    assert default.tiers["medium"].train == "weekly"
    assert default.component_min_tier["prompt"] == "low"
    assert default.decision_quality_metrics["quality_score"] == policy_module.MetricRule(
        "down", 0.02
    )
    assert default.costs == policy_module.Costs(45.0, 12.0, 20.0)
    tiny = load_policy(TINY_POLICY)
    assert tiny.source == str(TINY_POLICY)
    assert tiny.tiers["low"].required_evidence == ("offline_eval",)
    assert tiny.raw == default.raw  # the tiny policy restates default values only


def test_partial_override_validates_and_merges(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "attribution_window_days: 3\n"  # an integer where a number is expected
        "comparison: {min_cases_per_arm: 50}\n"
        "tiers: {high: {rollout_plan: [10, 100]}}\n"
        "risk: {min_events_per_term: null}\n"
        "assume_timezone: ''\n"
        "failure_signals: {incident: false}\n",
    )
    policy = load_policy(path)
    assert policy.attribution_window_days == 3.0
    assert isinstance(policy.attribution_window_days, float)
    assert policy.section("comparison")["min_cases_per_arm"] == 50
    assert policy.section("comparison")["multiple_testing"] == "holm"  # kept from the default
    assert policy.tiers["high"].rollout_plan == (10.0, 100.0)  # the list replaces the default
    assert policy.tiers["high"].train == "monthly"
    assert policy.section("risk")["min_events_per_term"] is None
    assert policy.assume_timezone is None
    assert policy.failure_signals == {"incident": False, "rollback": True, "telemetry": True}


def test_a_new_decision_quality_metric_needs_worse_only() -> None:
    policy = load_policy(overrides={"decision_quality_metrics": {"refusal_rate": {"worse": "up"}}})
    assert policy.decision_quality_metrics["refusal_rate"] == policy_module.MetricRule("up", 0.0)


def test_vocabularies_agree_with_their_owners() -> None:
    assert ps.TIER_NAMES == policy_module.TIERS == schemas.TIER_VALUES
    assert ps.COMPONENT_NAMES == policy_module.COMPONENTS
    assert ps.GATE_NAMES == schemas.GATES.column("gate").values
    assert ps.APPROVAL_ROLES == schemas.APPROVALS.column("role").values
    assert set(ps.TIER_TRAINS) < set(schemas.RELEASES.column("train").values)
    assert ps.METRIC_CATALOGUE == comparison.METRIC_NAMES
    assert ps.SEGMENT_COLUMNS == schemas.SEGMENT_COLUMNS
    assert set(ps.dora_years()) == set(dora.dora_benchmarks())


# ---------------------------------------------------------------- command line


@pytest.mark.parametrize("command", ["validate", "gate", "kpis"])
def test_cli_exits_2_with_the_message(
    command: str, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(tmp_path, MISSPELT + "judge: {critical_metrics: [latency_p99]}\n", "bad.yaml")
    extra = {
        "validate": [],
        "gate": ["--release", "A1"],
        "kpis": ["--month", "2026-04", "--as-of", "2026-06-01T00:00:00Z"],
    }[command]
    assert main([command, "--data", str(tiny_dir), "--policy", str(bad), *extra]) == 2
    err = capsys.readouterr().err
    assert f"policy {bad}: tiers.high.required_evidenc: unknown key (did you mean" in err
    assert f"policy {bad}: judge.critical_metrics[0]: must be one of escalation_rate" in err
    assert "Traceback" not in err


def test_cli_reads_the_policy_beside_the_data(
    tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tiny_dir / "policy.yaml"
    policy.write_text(policy.read_text() + "trains: {weekly_days: [tuesday]}\n")
    assert main(["gate", "--data", str(tiny_dir), "--release", "A1"]) == 2
    assert (
        f"policy {policy}: trains.weekly_days[0]: must be an integer >= 1 and <= 7, "
        "got 'tuesday'" in capsys.readouterr().err
    )


# ---------------------------------------------------------------- reference


def test_docs_policy_md_is_up_to_date() -> None:
    doc = (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
    assert doc == policy_reference_markdown(), (
        "docs/policy.md is out of date: python -c "
        "'from analytics.core.policy_reference import write_reference; write_reference()'"
    )


def test_reference_documents_every_default_key() -> None:
    doc = policy_reference_markdown()

    def leaves(mapping: dict, prefix: str = "") -> list[str]:
        out = []
        for key, value in mapping.items():
            path = f"{prefix}{key}"
            if (
                isinstance(value, dict)
                and key != "decision_quality_metrics"
                and (key != "noninferiority_abs_margins")
            ):
                out += leaves(value, path + ".")
            else:
                out.append(path)
        return out

    keys = leaves(yaml.safe_load(policy_module.DEFAULT_POLICY_PATH.read_text()))
    assert len(keys) == 57  # 5 top-level scalars + 52 keys in sections
    for key in keys:
        assert f"| `{key}` |" in doc, key
    assert "| `comparison.min_cases_per_arm` | an integer >= 1 | `200` |" in doc
