"""Tests of the sample-data generator: contract, determinism and planted truth.

The checks recompute what truth.json claims from the written files alone (csv + polars), so a
drift between the generator's bookkeeping and its output fails here.
"""

from __future__ import annotations

import csv
import functools
import json
from collections import Counter, defaultdict
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from analytics.core.policy import COMPONENTS, TIER_RANK, load_policy
from analytics.sample.generate import DEFAULT_CASES_PER_DAY, TABLES, generate_sample

POLICY = load_policy()
ENUMS = {
    ("releases", "risk_tier"): {"low", "medium", "high"},
    ("releases", "train"): {"daily", "weekly", "monthly", "emergency"},
    ("evidence", "status"): {"present", "missing", "waived"},
    ("gates", "gate"): {"functional", "safety", "operational", "business"},
    ("gates", "result"): {"pass", "fail", "waived", "not_run"},
    ("rollout_stages", "decision"): {"advance", "hold", "halt", "rollback", "complete"},
    ("approvals", "role"): {"product_owner", "platform", "risk_compliance", "operations", "other"},
    ("approvals", "decision"): {"go", "no_go", "abstain"},
    ("incidents", "severity"): {"sev1", "sev2", "sev3", "sev4"},
    ("incidents", "category"): {
        "quality",
        "safety",
        "compliance",
        "cost",
        "latency",
        "availability",
    },
    ("incidents", "mitigation"): {
        "model_rollback",
        "policy_rollback",
        "routing_rollback",
        "roll_forward",
        "config_fix",
        "none",
    },
    ("incidents", "detection_source"): {
        "alert",
        "canary",
        "dashboard",
        "customer",
        "operator",
        "audit",
    },
    ("operator_decisions", "action"): {
        "continue",
        "pause",
        "rollback",
        "roll_forward",
        "escalate",
        "note",
    },
}
TIMESTAMPS = {
    "releases": ("released_at", "change_requested_at"),
    "gates": ("evaluated_at",),
    "rollout_stages": ("started_at", "ended_at"),
    "approvals": ("decided_at",),
    "incidents": ("started_at", "detected_at", "mitigated_at"),
    "operator_decisions": ("decided_at",),
}
METRIC_COLUMN = {
    "escalation_rate": "escalated",
    "rework_rate": "reworked",
    "policy_violation_rate": "policy_violation",
    "quality_score": "quality_score",
}


def ts(text: str) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, f"timestamp without offset: {text!r}"
    return value.astimezone(UTC)


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows with their CSV line (header = line 1) under '_line'."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for line, row in enumerate(rows, start=2):
        row["_line"] = str(line)
    return rows


class Sample:
    def __init__(self, root: Path, summary):
        self.root, self.summary = root, summary
        self.truth = json.loads((root / "truth.json").read_text(encoding="utf-8"))
        self.t = {name: read_csv(root / f"{name}.csv") for name in TABLES}
        # The rows as the contract has a reader keep them: a duplicate counts once, a row naming an
        # unknown release goes, and so does a decision whose only timestamp is unreadable. Rows
        # with an unknown severity or an impossible duration stay.
        self.bad_lines = {(b["table"], b["line"]) for b in self.truth["bad_rows"]}
        bad = {
            (b["table"], b["line"])
            for b in self.truth["bad_rows"]
            if b["kind"] in ("exact_duplicate", "unknown_release", "invalid_timestamp")
        }
        self.clean = {
            name: [r for r in rows if (name, int(r["_line"])) not in bad]
            for name, rows in self.t.items()
        }
        self.releases = {r["release_id"]: r for r in self.t["releases"]}
        for r in self.t["releases"]:
            r["_at"] = ts(r["released_at"])
        self.by_system: dict[str, list[dict]] = defaultdict(list)
        for r in sorted(self.t["releases"], key=lambda r: r["_at"]):
            self.by_system[r["system"]].append(r)
        self.truth_releases = {r["release_id"]: r for r in self.truth["releases"]}

    def telemetry(self) -> pl.LazyFrame:
        return pl.scan_parquet(sorted((self.root / "telemetry").glob("*.parquet")))

    @functools.cached_property
    def changed_by_release(self) -> dict[str, list[str]]:
        out = {}
        for rels in self.by_system.values():
            prev = None
            for r in rels:
                out[r["release_id"]] = [
                    c
                    for c in COMPONENTS
                    if prev is None or r[f"{c}_version"] != prev[f"{c}_version"]
                ]
                prev = r
        return out

    def effective(self, rid: str) -> str:
        declared = self.releases[rid]["risk_tier"]
        implied = max(
            (POLICY.component_min_tier[c] for c in self.changed_by_release[rid]),
            key=TIER_RANK.__getitem__,
        )
        return max(declared, implied, key=TIER_RANK.__getitem__)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Sample:
    root = tmp_path_factory.mktemp("sample")
    summary = generate_sample(root)
    return Sample(root, summary)


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory) -> tuple[Path, Path]:
    a, b = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    generate_sample(a, cases_per_day=20)
    generate_sample(b, cases_per_day=20)
    return a, b


# ---------------------------------------------------------------- determinism and layout


def test_same_seed_gives_same_bytes(small_runs):
    a, b = small_runs
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_process_tables_do_not_depend_on_cases_per_day(small_runs, sample):
    a, _ = small_runs
    for name in TABLES:
        assert (a / f"{name}.csv").read_bytes() == (sample.root / f"{name}.csv").read_bytes()


def test_other_seed_gives_other_data(tmp_path, small_runs):
    generate_sample(tmp_path, seed=8, cases_per_day=5, months=3)
    assert (tmp_path / "releases.csv").read_bytes() != (small_runs[0] / "releases.csv").read_bytes()


def test_files_and_summary(sample):
    s = sample.summary
    names = sorted(p.name for p in sample.root.iterdir())
    assert names == sorted([*(f"{t}.csv" for t in TABLES), "telemetry", "truth.json"])
    assert not (sample.root / "policy.yaml").exists()
    assert [p.name for p in s.telemetry_files] == [
        f"{y}-{m:02d}.parquet"
        for y, m in [(2025, m) for m in range(5, 13)] + [(2026, m) for m in range(1, 11)]
    ]
    for name in TABLES:
        assert s.row_counts[name] == len(sample.t[name]) == sample.truth["row_counts"][name]
    n = sample.telemetry().select(pl.len()).collect().item()
    assert s.row_counts["telemetry"] == n
    # A few hundred thousand cases: the default dataset stays quick to load.
    assert 250_000 <= n <= 700_000
    assert s.cases_per_day == DEFAULT_CASES_PER_DAY and s.seed == 7
    with pytest.raises(FrozenInstanceError):
        s.seed = 8  # type: ignore[misc]


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate_sample(tmp_path, cases_per_day=0)
    with pytest.raises(ValueError):
        generate_sample(tmp_path, months=0)
    with pytest.raises(ValueError):
        generate_sample(tmp_path, start="2025-05-02")


# ---------------------------------------------------------------- the organisation


def test_systems_period_and_volume(sample):
    rels = sample.t["releases"]
    assert len(rels) >= 300
    assert len(sample.by_system) >= 3
    assert min(len(v) for v in sample.by_system.values()) >= 60
    months = {r["_at"].strftime("%Y-%m") for r in rels}
    assert len(months) == 18 and min(months) == "2025-05" and max(months) == "2026-10"
    assert len({r["release_id"] for r in rels}) == len(rels)


def test_every_tier_and_component_kind(sample):
    changed = sample.changed_by_release
    assert {r["risk_tier"] for r in sample.t["releases"]} == {"low", "medium", "high"}
    assert {c for cs in changed.values() for c in cs} == set(COMPONENTS)
    for rels in sample.by_system.values():
        assert changed[rels[0]["release_id"]] == list(COMPONENTS)
        for r in rels[1:]:
            assert 1 <= len(changed[r["release_id"]]) <= 3, r["release_id"]
    for rid, cs in changed.items():
        assert sample.truth_releases[rid]["changed_components"] == cs


def test_misclassification_share_matches_truth(sample):
    mis = {
        rid
        for rid in sample.releases
        if TIER_RANK[sample.effective(rid)] > TIER_RANK[sample.releases[rid]["risk_tier"]]
    }
    assert 0.05 <= len(mis) / len(sample.releases) <= 0.12
    assert mis == {r["release_id"] for r in sample.truth["releases"] if r["misclassified"]}
    for rid, r in sample.truth_releases.items():
        assert r["effective_tier"] == sample.effective(rid)
        assert r["declared_tier"] == sample.releases[rid]["risk_tier"]


def test_trains_lead_times_owners(sample):
    trains = Counter(r["train"] for r in sample.t["releases"])
    assert set(trains) == {"daily", "weekly", "monthly", "emergency"}
    assert trains["emergency"] >= 2
    for r in sample.t["releases"]:
        lead = r["_at"] - ts(r["change_requested_at"])
        assert timedelta(minutes=30) < lead < timedelta(days=120)
        if r["train"] == "monthly" and not sample.truth_releases[r["release_id"]]["misclassified"]:
            assert r["risk_tier"] == "high"
    summaries = [r["summary"] for r in sample.t["releases"]]
    assert any("," in s for s in summaries) and any('"' in s for s in summaries)
    assert sum(1 for r in sample.t["releases"] if not r["accountable_owner"]) >= 1


# ---------------------------------------------------------------- CSV contract


def test_csv_contract(sample):
    text = {name: (sample.root / f"{name}.csv").read_text(encoding="utf-8") for name in TABLES}
    for name, rows in sample.t.items():
        header = next(csv.reader([text[name].splitlines()[0]]))
        assert len(text[name].splitlines()) == len(rows) + 1, "a field holds a newline"
        for row in rows:
            assert None not in row and all(v is not None for v in row.values()), (name, row)
        for column in TIMESTAMPS.get(name, ()):
            assert column in header
            offsets = Counter()
            for row in sample.clean[name]:
                value = row[column]
                if value:
                    ts(value)
                    offsets[value[19:]] += 1
            if name != "incidents" or column == "detected_at":
                assert {"Z", "+00:00", "+02:00", "-05:00"} <= set(offsets), (name, column)
    for (table, column), allowed in ENUMS.items():
        values = {
            r[column]
            for r in sample.clean[table]
            if r[column] and (table, int(r["_line"])) not in sample.bad_lines
        }
        assert values <= allowed, (table, column, values - allowed)
    for row in sample.t["rollout_stages"]:
        assert row["stop_condition_met"] in ("0", "1")
        assert 0 < float(row["traffic_pct"]) <= 100
    for row in sample.t["approvals"]:
        assert row["final"] in ("true", "false")


def test_telemetry_types_and_links(sample):
    tel = sample.telemetry()
    schema = tel.collect_schema()
    assert schema["ts"] == pl.Datetime("us", "UTC")
    for c in ("escalated", "reworked", "policy_violation", "refused"):
        assert schema[c] == pl.Boolean
    for c in ("release_id", "system", "task_type", "criticality", "language", "customer_segment"):
        assert schema[c] == pl.String
    for c in ("handling_time_s", "latency_ms", "tokens", "model_cost_usd", "quality_score"):
        assert schema[c].is_numeric()
    stats = tel.select(
        pl.col("release_id").unique().alias("ids"),
    ).collect()
    assert set(stats["ids"]) <= set(sample.releases)
    agg = (
        tel.select(
            pl.col("model_cost_usd").min().alias("cost_min"),
            pl.col("quality_score").min().alias("q_min"),
            pl.col("quality_score").max().alias("q_max"),
            pl.col("quality_score").null_count().alias("q_null"),
            pl.col("handling_time_s").min().alias("h_min"),
            pl.col("latency_ms").min().alias("lat_min"),
            pl.col("ts").min().alias("first"),
            pl.col("ts").max().alias("last"),
            pl.col("system").n_unique().alias("systems"),
            pl.col("task_type").n_unique().alias("tasks"),
            pl.col("language").n_unique().alias("languages"),
            pl.col("customer_segment").n_unique().alias("segments"),
            pl.col("criticality").unique().sort().implode().alias("criticality"),
        )
        .collect()
        .row(0, named=True)
    )
    assert agg["cost_min"] >= 0 and agg["h_min"] >= 0 and agg["lat_min"] >= 0
    assert 0 <= agg["q_min"] and agg["q_max"] <= 1 and agg["q_null"] > 0
    assert agg["first"] >= datetime(2025, 5, 1, tzinfo=UTC)
    assert agg["last"] < datetime(2026, 11, 1, tzinfo=UTC)
    assert agg["systems"] == 3 and agg["tasks"] >= 9 and agg["languages"] >= 4
    assert agg["segments"] >= 3 and agg["criticality"] == ["high", "low", "medium"]
    # One file per month, each holding only its month's cases.
    for path in sample.summary.telemetry_files:
        months = pl.read_parquet(path, columns=["ts"])["ts"].dt.strftime("%Y-%m").unique()
        assert months.to_list() == [path.stem]


def test_every_case_is_served_by_a_live_release(sample):
    """Outside planted marker lags, a case names a release of its system released before it."""
    rel = pl.DataFrame(
        {
            "release_id": list(sample.releases),
            "rel_system": [r["system"] for r in sample.releases.values()],
            "released_at": [r["_at"] for r in sample.releases.values()],
        }
    ).with_columns(pl.col("released_at").dt.cast_time_unit("us"))
    bad = (
        sample.telemetry()
        .join(rel.lazy(), on="release_id")
        .filter((pl.col("system") != pl.col("rel_system")) | (pl.col("ts") < pl.col("released_at")))
        .select(pl.len())
        .collect()
        .item()
    )
    assert bad == 0


# ---------------------------------------------------------------- planted regressions


def standardized_change(sample: Sample, reg: dict, tel: pl.DataFrame) -> tuple[float, int, int]:
    """Relative change of the metric vs the baseline, on the regressed release's segment mix."""
    start, end = ts(reg["window_start"]), ts(reg["window_end"])
    obs = timedelta(days=POLICY.observation_window_days)
    col = METRIC_COLUMN[reg["metric"]]
    keys = ["task_type", "criticality", "language"]
    cur = tel.filter(
        pl.col("release_id") == reg["release_id"], pl.col("ts") >= start, pl.col("ts") < end
    )
    base = tel.filter(
        pl.col("release_id") == reg["baseline_release_id"],
        pl.col("ts") >= start - obs,
        pl.col("ts") < end,
    )
    a = cur.group_by(keys).agg(pl.col(col).cast(pl.Float64).mean().alias("m"), pl.len().alias("n"))
    b = base.group_by(keys).agg(pl.col(col).cast(pl.Float64).mean().alias("mb"))
    j = a.join(b, on=keys).drop_nulls()
    w = j["n"] / j["n"].sum()
    return float((w * j["m"]).sum() / (w * j["mb"]).sum() - 1), cur.height, base.height


def test_planted_regressions_show_in_telemetry(sample):
    tel = (
        sample.telemetry()
        .filter(
            pl.col("release_id").is_in(
                [
                    x
                    for r in sample.truth["regressions"]
                    for x in (r["release_id"], r["baseline_release_id"])
                ]
            )
        )
        .collect()
    )
    regs = sample.truth["regressions"]
    assert len(regs) >= 25
    assert {r["metric"] for r in regs} == set(METRIC_COLUMN)
    ratios, checked = [], 0
    for reg in regs:
        change, n, nb = standardized_change(sample, reg, tel)
        assert n == reg["cases_in_window"] and nb == reg["baseline_cases"], reg["release_id"]
        margin = reg["margin"]
        strong = margin == 0 or abs(reg["relative_effect"]) >= 3 * margin
        if n < 300 or nb < 300 or not strong:
            continue
        checked += 1
        # Worse in the planted direction, and beyond the policy's tolerated margin.
        if reg["metric"] == "quality_score":
            assert change < -margin, (reg["release_id"], change)
        else:
            assert change > margin, (reg["release_id"], change)
        ratios.append(change / reg["relative_effect"])
    assert checked >= 20
    ratios.sort()
    assert 0.8 <= ratios[len(ratios) // 2] <= 1.25  # the median lands near the planted effect


def test_regression_truth_matches_incidents_and_rollouts(sample):
    incidents = {r["incident_id"]: r for r in sample.clean["incidents"]}
    stages = defaultdict(list)
    for s in sample.t["rollout_stages"]:
        stages[s["release_id"]].append(s)
    decisions = defaultdict(list)
    for d in sample.clean["operator_decisions"]:
        decisions[d["release_id"]].append(d)
    paths = Counter(r["path"] for r in sample.truth["regressions"])
    assert paths["undetected"] >= 3 and paths["incident_rollback"] >= 3
    assert paths["canary_halt"] + paths["canary_rollback"] >= 1
    for reg in sample.truth["regressions"]:
        rid = reg["release_id"]
        assert sample.truth_releases[rid]["regressed"]
        assert (
            reg["baseline_release_id"]
            == sample.by_system[reg["system"]][
                [r["release_id"] for r in sample.by_system[reg["system"]]].index(rid) - 1
            ]["release_id"]
        )
        if reg["path"].startswith("incident"):
            inc = incidents[reg["incident_id"]]
            assert ts(inc["detected_at"]) == ts(reg["incident_detected_at"])
            assert ts(inc["detected_at"]) > sample.releases[rid]["_at"]
            assert inc["mitigation"] == reg["mitigation"]
            assert ts(inc["mitigated_at"]) == ts(reg["mitigated_at"])
            assert reg["detected_by"] == "incident"
            # Another decision-quality incident attributed to the release may come first.
            assert ts(reg["detected_at"]) <= ts(inc["detected_at"])
        if reg["path"] == "incident_rollback":
            assert any(d["action"] == "rollback" for d in decisions[rid])
            assert reg["rolled_back_at"] is not None
        if reg["path"] == "incident_roll_forward":
            fix = sample.releases[reg["fix_release_id"]]
            assert fix["train"] == "emergency" and ts(reg["mitigated_at"]) == fix["_at"]
        if reg["path"].startswith("canary"):
            stop = [s for s in stages[rid] if s["decision"] in ("halt", "rollback")]
            assert len(stop) == 1 and stop[0]["stop_condition_met"] == "1"
            assert ts(stop[0]["ended_at"]) == ts(reg["detected_at"])
        if reg["path"] == "undetected":
            assert reg["incident_id"] is None
            assert not any(d["action"] in ("rollback", "roll_forward") for d in decisions[rid])
    late = [r for r in sample.truth["regressions"] if r["late_detection"]]
    assert late and all(
        ts(r["incident_detected_at"]) - ts(r["window_start"]) >= timedelta(days=3) for r in late
    )


def test_cost_changes_show_in_telemetry(sample):
    increases = [c for c in sample.truth["cost_changes"] if c["kind"] == "increase"]
    assert len(increases) >= 5
    tel = sample.telemetry()
    for c in increases[:8]:
        rid = c["release_id"]
        at = sample.releases[rid]["_at"]
        prev = sample.by_system[c["system"]][
            [r["release_id"] for r in sample.by_system[c["system"]]].index(rid) - 1
        ]["release_id"]
        costs = (
            tel.filter(
                pl.col("release_id").is_in([rid, prev]),
                pl.col("ts").is_between(at - timedelta(days=3), at + timedelta(days=3)),
            )
            .group_by("release_id")
            .agg(pl.col("model_cost_usd").mean())
            .collect()
        )
        mean = dict(costs.iter_rows())
        assert mean[rid] / mean[prev] - 1 == pytest.approx(c["model_cost_relative"], rel=0.25)


# ---------------------------------------------------------------- truth vs tables


def attribute(sample: Sample) -> dict[str, str | None]:
    """Incident attribution (METRICS.md), recomputed from the CSV files."""
    window = timedelta(days=POLICY.attribution_window_days)
    out: dict[str, str | None] = {}
    for inc in sample.clean["incidents"]:
        if inc["release_id"]:
            out[inc["incident_id"]] = inc["release_id"]
            continue
        t = ts(inc["started_at"]) or ts(inc["detected_at"])
        before = [r for r in sample.by_system[inc["system"]] if r["_at"] < t]
        out[inc["incident_id"]] = (
            before[-1]["release_id"] if before and t - before[-1]["_at"] <= window else None
        )
    return out


def test_incident_truth_matches_tables(sample):
    attributed = attribute(sample)
    truth = {i["incident_id"]: i for i in sample.truth["incidents"]}
    assert set(truth) == set(attributed)
    for iid, rid in attributed.items():
        assert truth[iid]["attributed_release_id"] == rid, iid
    unattributed = sorted(i for i, r in attributed.items() if r is None)
    assert unattributed == sample.truth["unattributable_incidents"]
    assert 2 <= len(unattributed) <= 10
    rows = sample.clean["incidents"]
    assert (
        any(r["release_id"] for r in rows)
        and sum(not r["release_id"] for r in rows) > len(rows) / 2
    )
    assert sum(not r["mitigated_at"] for r in rows) >= 3  # open incidents
    assert sum(not r["decision_quality_impact"] for r in rows) >= 10  # default by category
    assert {r["decision_quality_impact"] for r in rows} == {"", "true", "false"}
    for r in rows:
        if r["started_at"]:
            assert ts(r["started_at"]) <= ts(r["detected_at"])
        if r["release_id"]:
            assert ts(r["detected_at"]) > sample.releases[r["release_id"]]["_at"]
        if r["mitigated_at"] and ("incidents", int(r["_line"])) not in sample.bad_lines:
            assert ts(r["mitigated_at"]) >= ts(r["detected_at"])


def test_failure_signals_match_tables(sample):
    attributed = attribute(sample)
    per_release = defaultdict(list)
    for inc in sample.clean["incidents"]:
        if attributed[inc["incident_id"]]:
            per_release[attributed[inc["incident_id"]]].append(inc)
    stages = defaultdict(list)
    for s in sample.t["rollout_stages"]:
        stages[s["release_id"]].append(s)
    decisions = defaultdict(list)
    for d in sample.clean["operator_decisions"]:
        decisions[d["release_id"]].append(d)
    for rid, truth in sample.truth_releases.items():
        incs = per_release[rid]
        impact = any(
            i["decision_quality_impact"] == "true"
            or (
                not i["decision_quality_impact"]
                and i["category"] in ("quality", "safety", "compliance")
            )
            for i in incs
        )
        rollback = (
            any(s["decision"] == "rollback" for s in stages[rid])
            or any(d["action"] in ("rollback", "roll_forward") for d in decisions[rid])
            or any(
                i["mitigation"]
                in ("model_rollback", "policy_rollback", "routing_rollback", "roll_forward")
                for i in incs
            )
        )
        expected = [
            s
            for s, on in (
                ("incident", impact),
                ("rollback", rollback),
                ("telemetry", truth["regressed"]),
            )
            if on
        ]
        assert truth["expected_failure_signals"] == expected, rid
        assert truth["dora_failed"] == (bool(incs) or rollback), rid
        assert sorted(truth["attributed_incidents"]) == sorted(i["incident_id"] for i in incs)


def test_process_violations_match_tables(sample):
    """Recompute every violation name from the files with the default policy."""
    tel = sample.telemetry().select("release_id", "ts").collect()
    first_seen = dict(tel.group_by("release_id").agg(pl.col("ts").min()).iter_rows())
    marker = timedelta(hours=float(POLICY.section("observability")["marker_within_hours"]))
    horizon = timedelta(
        hours=float(POLICY.section("observability")["operator_decisions_within_hours"])
    )
    trains = POLICY.section("trains")
    group = {name: defaultdict(list) for name in TABLES}
    for name in TABLES:
        for row in sample.clean[name]:
            if "release_id" in row and name != "releases":
                group[name][row["release_id"]].append(row)
    found = Counter()
    for rid, rel in sample.releases.items():
        tier = POLICY.tiers[sample.effective(rid)]
        out = set()
        if sample.effective(rid) != rel["risk_tier"]:
            out.add("misclassified")
        ev = {e["item"]: e for e in group["evidence"][rid]}
        missing = [
            i
            for i in tier.required_evidence
            if not (
                i in ev
                and (
                    ev[i]["status"] == "present"
                    or (ev[i]["status"] == "waived" and ev[i]["approved_by"])
                )
            )
        ]
        assert sample.truth_releases[rid]["missing_evidence"] == missing
        if missing:
            out.add("missing_evidence")
        latest = {}
        for g in group["gates"][rid]:
            at = ts(g["evaluated_at"]) or datetime.min.replace(tzinfo=UTC)
            if g["gate"] not in latest or at >= latest[g["gate"]][0]:
                latest[g["gate"]] = (at, g["result"])
        if any(res == "fail" for _, res in latest.values()):
            out.add("failed_gate_shipped")
        if any(g not in latest or latest[g][1] == "not_run" for g in tier.required_gates):
            out.add("gate_not_run")
        pcts = []
        for s in sorted(group["rollout_stages"][rid], key=lambda s: int(s["stage"])):
            if not pcts or pcts[-1] != float(s["traffic_pct"]):
                pcts.append(float(s["traffic_pct"]))
        if not pcts or pcts != list(tier.rollout_plan)[: len(pcts)]:
            out.add("rollout_steps_skipped")
        if any(
            s["stop_condition_met"] == "1" and s["decision"] == "advance"
            for s in group["rollout_stages"][rid]
        ):
            out.add("stop_condition_ignored")
        votes = group["approvals"][rid]
        if any(
            not any(v["role"] == role and v["decision"] == "go" for v in votes)
            for role in tier.required_approvals
        ):
            out.add("missing_approval")
        finals = sum(v["final"] == "true" for v in votes)
        if finals == 0:
            out.add("no_final_approval")
        if finals > 1:
            out.add("multiple_final_approvals")
        at = rel["_at"]
        ok_train = rel["train"] == "emergency" or (
            rel["train"] == tier.train
            and (
                tier.train == "daily"
                or (
                    at.isoweekday() in trains["weekly_days"]
                    and (tier.train == "weekly" or at.day <= trains["monthly_first_days"])
                )
            )
        )
        if not ok_train:
            out.add("train_violation")
        seen = first_seen.get(rid)
        if seen is None or seen - at > marker:
            out.add("no_telemetry_within_24h")
        if not any(
            at <= ts(d["decided_at"]) <= at + horizon for d in group["operator_decisions"][rid]
        ):
            out.add("no_operator_decision_72h")
        if not rel["accountable_owner"] or "," in rel["accountable_owner"]:
            out.add("no_single_accountable_owner")
        assert sample.truth_releases[rid]["process_violations"] == sorted(out), rid
        found.update(out)
    # Every kind of violation the audit module must find is planted at least once.
    assert set(found) == {
        "misclassified",
        "missing_evidence",
        "failed_gate_shipped",
        "gate_not_run",
        "rollout_steps_skipped",
        "stop_condition_ignored",
        "missing_approval",
        "no_final_approval",
        "multiple_final_approvals",
        "train_violation",
        "no_telemetry_within_24h",
        "no_operator_decision_72h",
        "no_single_accountable_owner",
    }
    # A high-risk release outside its monthly window without the emergency train.
    assert any(
        r["risk_tier"] == "high"
        and r["train"] != "emergency"
        and "train_violation" in sample.truth_releases[rid]["process_violations"]
        for rid, r in sample.releases.items()
    )


def test_process_tables_look_real(sample):
    ev = sample.clean["evidence"]
    assert {e["status"] for e in ev} == {"present", "missing", "waived"}
    waived = [e for e in ev if e["status"] == "waived"]
    assert any(e["approved_by"] for e in waived) and any(not e["approved_by"] for e in waived)
    incomplete = {r["release_id"] for r in sample.truth["releases"] if r["missing_evidence"]}
    failed = {r["release_id"] for r in sample.truth["regressions"]}
    share_failed = len(incomplete & failed) / len(failed)
    share_other = len(incomplete - failed) / (len(sample.releases) - len(failed))
    assert share_failed > share_other > 0.05
    assert {g["result"] for g in sample.t["gates"]} == {"pass", "fail", "waived", "not_run"}
    plans = Counter()
    for rid in sample.releases:
        pcts = tuple(
            int(s["traffic_pct"]) for s in sample.t["rollout_stages"] if s["release_id"] == rid
        )
        plans[(sample.releases[rid]["risk_tier"], pcts)] += 1
    assert plans[("high", (1, 5, 20, 100))] >= 10
    assert plans[("medium", (5, 50, 100))] >= 10
    assert plans[("low", (100,))] >= 100
    segments = {s["segment"] for s in sample.t["rollout_stages"]}
    assert "all" in segments and any("=" in s for s in segments)
    finals = Counter(
        a["release_id"]
        for a in sample.t["approvals"]
        if a["final"] == "true" and a["decision"] == "go"
    )
    assert sum(1 for rid in sample.releases if finals[rid] == 1) / len(sample.releases) > 0.9
    decisions = sample.clean["operator_decisions"]
    assert {d["action"] for d in decisions} == {
        "continue",
        "pause",
        "rollback",
        "roll_forward",
        "escalate",
        "note",
    }
    within = sum(
        ts(d["decided_at"]) - sample.releases[d["release_id"]]["_at"] <= timedelta(hours=72)
        for d in decisions
    )
    assert within / len(decisions) > 0.8


# ---------------------------------------------------------------- bad rows


def test_bad_rows_are_exactly_at_the_stated_lines(sample):
    bad = sample.truth["bad_rows"]
    assert sorted(b["kind"] for b in bad) == sorted(
        [
            "invalid_timestamp",
            "unknown_enum",
            "exact_duplicate",
            "impossible_duration",
            "unknown_release",
        ]
    )
    for b in bad:
        rows = sample.t[b["table"]]
        row = rows[b["line"] - 2]
        assert int(row["_line"]) == b["line"]
        if b["kind"] == "invalid_timestamp":
            assert row[b["column"]] == b["value"]
            with pytest.raises(ValueError):
                datetime.fromisoformat(b["value"])
        elif b["kind"] == "unknown_enum":
            assert row[b["column"]] == b["value"]
            assert b["value"] not in ENUMS[(b["table"], b["column"])]
            assert row["incident_id"] == b["record_id"]
        elif b["kind"] == "exact_duplicate":
            first = rows[b["duplicate_of_line"] - 2]
            strip = lambda r: {k: v for k, v in r.items() if k != "_line"}  # noqa: E731
            assert strip(first) == strip(row) and row["incident_id"] == b["record_id"]
        elif b["kind"] == "impossible_duration":
            assert ts(row["mitigated_at"]) < ts(row["detected_at"])
            assert ts(row["mitigated_at"]) == ts(b["value"])
        else:
            assert row["release_id"] == b["value"] and b["value"] not in sample.releases

    # Nothing else is wrong: every other timestamp parses, enum is known, reference resolves,
    # no other exact duplicate and no other impossible duration.
    stated = {(b["table"], b["line"]) for b in bad}
    for name, rows in sample.t.items():
        seen = Counter(tuple(v for k, v in r.items() if k != "_line") for r in rows)
        dupes = sum(n - 1 for n in seen.values())
        assert dupes == sum(1 for b in bad if b["table"] == name and b["kind"] == "exact_duplicate")
        for row in rows:
            if (name, int(row["_line"])) in stated:
                continue
            for column in TIMESTAMPS.get(name, ()):
                ts(row[column])
            for (table, column), allowed in ENUMS.items():
                if table == name and row[column]:
                    assert row[column] in allowed
            if name != "releases" and row.get("release_id"):
                assert row["release_id"] in sample.releases
            if name == "incidents" and row["mitigated_at"]:
                assert ts(row["mitigated_at"]) >= ts(row["detected_at"])
