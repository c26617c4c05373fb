"""Hand-computed KPI edge cases and hypothesis properties (METRICS.md)."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import polars as pl
from conftest import incident, release, write_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import analytics as ra
from analytics.metrics.releases import release_units

AS_OF = ra.parse_as_of("2026-06-01T00:00:00Z")


def _kpis(folder: Path, month: str, as_of=AS_OF, **kw) -> dict:
    ds = ra.load_dataset(folder)
    return ra.monthly_kpis(ra.analyze(ds, as_of, **kw), month).to_dict()


def test_month_boundaries_in_reporting_timezone(tmp_path: Path) -> None:
    # 2026-03-31T23:30 UTC is already April in Berlin (UTC+2 after the DST switch);
    # 2026-04-30T22:30 UTC is May there.
    write_table(
        tmp_path,
        "releases",
        [
            release("R1", "s", "2026-03-31T23:30:00Z"),
            release("R2", "s", "2026-04-15T12:00:00+02:00", prompt="p2"),
            release("R3", "s", "2026-04-30T22:30:00Z", prompt="p3"),
        ],
    )
    (tmp_path / "policy.yaml").write_text("timezone: Europe/Berlin\n")
    assert _kpis(tmp_path, "2026-04")["release_ids"] == ["R1", "R2"]
    assert _kpis(tmp_path, "2026-05")["release_ids"] == ["R3"]
    (tmp_path / "policy.yaml").write_text("timezone: UTC\n")
    assert _kpis(tmp_path, "2026-04")["release_ids"] == ["R2", "R3"]


def test_incident_at_the_edge_of_the_attribution_window(tmp_path: Path) -> None:
    write_table(tmp_path, "releases", [release("R1", "s", "2026-04-01T00:00:00Z")])
    write_table(
        tmp_path,
        "incidents",
        [
            incident("I1", "s", "2026-04-15T00:00:00Z", started_at="2026-04-15T00:00:00Z"),
            incident("I2", "s", "2026-04-15T00:00:01Z", started_at="2026-04-15T00:00:01Z"),
        ],
    )
    a = ra.analyze(ra.load_dataset(tmp_path), AS_OF)
    got = dict(a.incidents.select("incident_id", "attribution").iter_rows())
    assert got == {"I1": "window", "I2": "unattributed"}  # exactly 14 days is inside
    warn = [f for f in a.quality.warnings if f.code == "unattributed_incident"]
    assert [(f.record_id, f.line, f.column) for f in warn] == [("I2", 3, "release_id")]


def test_incident_at_release_instant_belongs_to_the_previous_release(tmp_path: Path) -> None:
    write_table(
        tmp_path,
        "releases",
        [
            release("R1", "s", "2026-04-01T00:00:00Z"),
            release("R2", "s", "2026-04-05T00:00:00Z", prompt="p2"),
        ],
    )
    write_table(tmp_path, "incidents", [incident("I1", "s", "2026-04-05T00:00:00Z")])
    a = ra.analyze(ra.load_dataset(tmp_path), AS_OF)
    assert a.incidents["attributed_release_id"].to_list() == ["R1"]  # strictly before


def test_several_incidents_are_one_failure(tmp_path: Path) -> None:
    write_table(
        tmp_path,
        "releases",
        [
            release("R1", "s", "2026-04-01T00:00:00Z"),
            release("R2", "s", "2026-04-10T00:00:00Z", prompt="p2"),
        ],
    )
    write_table(
        tmp_path,
        "incidents",
        [
            incident(
                "I1",
                "s",
                "2026-04-02T06:00:00Z",
                mitigated_at="2026-04-02T08:00:00Z",
                mitigation="config_fix",
            ),
            incident(
                "I2",
                "s",
                "2026-04-03T00:00:00Z",
                category="safety",
                mitigated_at="2026-04-03T10:00:00Z",
                mitigation="policy_rollback",
            ),
        ],
    )
    k = _kpis(tmp_path, "2026-04")["kpis"]
    assert (k["change_failure_rate"]["numerator"], k["change_failure_rate"]["denominator"]) == (
        1,
        2,
    )
    assert k["mttd_hours"]["n"] == 1 and k["mttd_hours"]["mean"] == 30.0  # first detection
    assert k["mttm_hours"]["n"] == 2 and k["mttm_hours"]["mean"] == 6.0  # (2 + 10) / 2
    assert k["mttm_hours"]["by_mitigation"]["config_fix"]["mean"] == 2.0
    assert k["mttm_hours"]["by_mitigation"]["policy_rollback"]["mean"] == 10.0


def test_month_without_releases_is_insufficient_data(tiny_dir: Path) -> None:
    out = _kpis(tiny_dir, "2026-07")
    assert out["releases_deployed"] == 0
    for key in ("change_failure_rate", "evidence_completeness", "misclassification_rate"):
        assert out["kpis"][key]["status"] == "insufficient_data"
        assert out["kpis"][key]["value"] is None
    assert out["kpis"]["mttd_hours"]["status"] == "insufficient_data"
    json.dumps(out, allow_nan=False)


def test_all_incidents_open(tmp_path: Path) -> None:
    write_table(tmp_path, "releases", [release("R1", "s", "2026-04-01T00:00:00Z")])
    write_table(
        tmp_path,
        "incidents",
        [
            incident("I1", "s", "2026-04-02T00:00:00Z"),
            incident("I2", "s", "2026-04-03T00:00:00Z", category="compliance"),
        ],
    )
    k = _kpis(tmp_path, "2026-04")["kpis"]
    m = k["mttm_hours"]
    assert m["n"] == 0 and m["n_censored"] == 2 and m["mean"] is None
    assert m["status"] == "insufficient_data" and m["km_median"] is None


def test_as_of_hides_later_records(tmp_path: Path) -> None:
    write_table(tmp_path, "releases", [release("R1", "s", "2026-04-01T00:00:00Z")])
    write_table(
        tmp_path,
        "incidents",
        [
            incident(
                "I1",
                "s",
                "2026-04-03T00:00:00Z",
                mitigated_at="2026-04-04T00:00:00Z",
                mitigation="model_rollback",
            ),
        ],
    )
    early = _kpis(tmp_path, "2026-04", ra.parse_as_of("2026-04-02T00:00:00Z"))["kpis"]
    assert early["change_failure_rate"]["numerator"] == 0
    assert early["change_failure_rate"]["status"] == "immature"
    mid = _kpis(tmp_path, "2026-04", ra.parse_as_of("2026-04-03T12:00:00Z"))["kpis"]
    assert mid["change_failure_rate"]["numerator"] == 1
    assert mid["change_failure_rate"]["by_signal"]["rollback"] == 0  # rollback not yet done
    assert mid["mttm_hours"]["n_censored"] == 1


def test_telemetry_only_failure_is_censored_in_mttd(tmp_path: Path) -> None:
    write_table(
        tmp_path,
        "releases",
        [
            release("R1", "s", "2026-04-01T00:00:00Z"),
            release("R2", "s", "2026-04-10T00:00:00Z", prompt="p2"),
        ],
    )
    write_table(tmp_path, "incidents", [incident("I1", "s", "2026-04-02T00:00:00Z")])
    as_of = ra.parse_as_of("2026-04-20T00:00:00Z")
    k = _kpis(tmp_path, "2026-04", as_of, telemetry_failures={"R2": ["escalation_rate"]})["kpis"]
    assert k["change_failure_rate"]["by_signal"] == {"incident": 1, "rollback": 0, "telemetry": 1}
    assert k["mttd_hours"]["n"] == 1 and k["mttd_hours"]["n_censored"] == 1
    assert k["mttd_hours"]["mean"] == 24.0
    # KM: 24 h observed, 240 h censored -> S drops to 0.5 at 24 h and stays: median 24 or none
    assert k["dora_change_failure_rate"]["numerator"] == 1  # telemetry is not a DORA failure


def test_failure_signal_switch(tmp_path: Path) -> None:
    write_table(tmp_path, "releases", [release("R1", "s", "2026-04-01T00:00:00Z")])
    write_table(tmp_path, "incidents", [incident("I1", "s", "2026-04-02T00:00:00Z")])
    (tmp_path / "policy.yaml").write_text("failure_signals: {incident: false}\n")
    k = _kpis(tmp_path, "2026-04")["kpis"]
    assert k["change_failure_rate"]["numerator"] == 0
    assert k["dora_change_failure_rate"]["numerator"] == 1


# ---------------------------------------------------------------- properties

_times = st.integers(min_value=0, max_value=60 * 24)  # hours after 2026-04-01


def _ts(h: int) -> str:
    from datetime import datetime, timedelta

    return (datetime(2026, 4, 1, tzinfo=UTC) + timedelta(hours=h)).isoformat()


@st.composite
def datasets(draw):
    n_rel = draw(st.integers(1, 8))
    rel_h = sorted(draw(st.lists(_times, min_size=n_rel, max_size=n_rel, unique=True)))
    releases = [
        release(
            f"R{i}",
            draw(st.sampled_from(["a", "b"])),
            _ts(h),
            draw(st.sampled_from(["low", "medium", "high"])),
            prompt=f"p{i}",
            model=draw(st.sampled_from(["m1", "m2"])),
        )
        for i, h in enumerate(rel_h)
    ]
    n_inc = draw(st.integers(0, 6))
    incidents = []
    for j in range(n_inc):
        det = draw(_times)
        mit = draw(st.one_of(st.none(), st.integers(0, 100)))
        incidents.append(
            incident(
                f"I{j}",
                draw(st.sampled_from(["a", "b"])),
                _ts(det),
                category=draw(st.sampled_from(["quality", "cost", "safety"])),
                mitigated_at="" if mit is None else _ts(det + mit),
                mitigation="" if mit is None else "config_fix",
            )
        )
    return releases, incidents


def _write(folder: Path, releases, incidents) -> None:
    write_table(folder, "releases", releases)
    write_table(folder, "incidents", incidents, columns=list(incident("x", "a", "t").keys()))


def _all_months(folder: Path, **kw) -> list[dict]:
    ds = ra.load_dataset(folder)
    a = ra.analyze(ds, ra.parse_as_of("2026-08-01T00:00:00Z"), **kw)
    return [ra.monthly_kpis(a, m).to_dict() for m in ("2026-04", "2026-05")]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=datasets())
def test_rates_in_unit_interval_and_durations_non_negative(tmp_path_factory, data) -> None:
    folder = tmp_path_factory.mktemp("prop")
    _write(folder, *data)
    for out in _all_months(folder):
        k = out["kpis"]
        for key in (
            "change_failure_rate",
            "dora_change_failure_rate",
            "evidence_completeness",
            "misclassification_rate",
        ):
            r = k[key]
            if r["value"] is not None:
                assert 0 <= r["ci_low"] <= r["value"] <= r["ci_high"] <= 1
                assert 0 <= r["numerator"] <= r["denominator"] == out["releases_deployed"]
        for key in ("mttd_hours", "mttm_hours"):
            for stat in ("mean", "median", "p90", "km_median"):
                assert k[key][stat] is None or k[key][stat] >= 0
        assert k["change_failure_rate"]["numerator"] <= k["dora_change_failure_rate"]["numerator"]
        json.dumps(out, allow_nan=False)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=datasets(), extra=st.integers(0, 7))
def test_adding_a_failure_never_lowers_cfr(tmp_path_factory, data, extra) -> None:
    releases, incidents = data
    folder = tmp_path_factory.mktemp("prop")
    _write(folder, releases, incidents)
    before = _all_months(folder)
    target = releases[extra % len(releases)]["release_id"]
    incidents = [*incidents, incident("NEW", "a", "2026-07-01T00:00:00Z", release_id=target)]
    _write(folder, releases, incidents)
    after = _all_months(folder)
    for b, a in zip(before, after, strict=True):
        assert (
            a["kpis"]["change_failure_rate"]["numerator"]
            >= b["kpis"]["change_failure_rate"]["numerator"]
        )
        assert (
            a["kpis"]["change_failure_rate"]["denominator"]
            == b["kpis"]["change_failure_rate"]["denominator"]
        )


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=datasets(), seed=st.integers(0, 2**16))
def test_row_order_changes_nothing(tmp_path_factory, data, seed) -> None:
    import random

    releases, incidents = data
    folder = tmp_path_factory.mktemp("prop")
    _write(folder, releases, incidents)
    before = _all_months(folder)
    rng = random.Random(seed)
    rng.shuffle(releases)
    rng.shuffle(incidents)
    _write(folder, releases, incidents)
    after = _all_months(folder)
    strip = lambda o: {k: v for k, v in o.items() if k != "data_quality"}  # noqa: E731
    assert [strip(o) for o in before] == [strip(o) for o in after]


def test_release_units_first_release_changed_everything(tiny_dir: Path) -> None:
    ds = ra.load_dataset(tiny_dir)
    units = release_units(ds.releases, ds.policy)
    a0 = units.filter(pl.col("release_id") == "A0").row(0, named=True)
    assert len(a0["changed_components"]) == 7 and a0["implied_tier"] == "high"


def test_deployment_frequency_counts_only_the_days_that_have_passed() -> None:
    """The frequency's divisor: a finished period's calendar days; a running one's time since
    its first local midnight (real hours, across a DST change), at least one day."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from analytics.metrics.dora import observed_days

    berlin = ZoneInfo("Europe/Berlin")
    # October 2026 is over: its 31 days (the 25 hours of 25 October do not count extra)
    assert observed_days("2026-10", datetime(2026, 11, 15, tzinfo=UTC), berlin) == 31.0
    # 2026-10-26 12:00 Berlin (CET, +01:00) is 25 days and 12 hours plus the hour DST gave back
    # after 2026-10-01 00:00 CEST (+02:00): 613.0 hours = 25.5417 days
    mid = datetime(2026, 10, 26, 12, tzinfo=berlin)
    assert observed_days("2026-10", mid, berlin) == (25 * 24 + 12 + 1) / 24
    # a few hours into the month: one day, not 0.1 (one release would read as 70 a week)
    early = datetime(2026, 10, 1, 3, tzinfo=berlin)
    assert observed_days("2026-10", early, berlin) == 1.0
    # before the period: nothing observed
    assert observed_days("2026-Q4", datetime(2026, 9, 30, 21, tzinfo=UTC), berlin) == 0.0
    # at the period's end exactly: the whole quarter, 31 + 30 + 31 = 92 days
    end = datetime(2027, 1, 1, tzinfo=berlin)
    assert observed_days("2026-Q4", end, berlin) == 92.0
    # a day before: 91 days of wall clock, plus the hour of 25 October
    assert observed_days("2026-Q4", end - timedelta(days=1), berlin) == (91 * 24 + 1) / 24
