"""Monthly process health: the audit's checks and anti-patterns counted over one month's cohort
of deployed releases (``process_health``, METRICS.md), each rate with its Wilson interval and
the releases behind it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from analytics.core.periods import period_months
from analytics.core.policy import TIERS, Policy
from analytics.core.results import RateResult, Status, clean
from analytics.governance.findings import ANTI_PATTERNS, FINDING_CODES
from analytics.metrics.releases import deployed_in_month
from analytics.stats.change import plural
from analytics.stats.summaries import rate


@dataclass(frozen=True)
class CountResult:
    """A count of events in a period with the releases behind them."""

    count: int
    release_ids: tuple[str, ...] = ()
    status: Status = "ok"
    message: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "count": self.count,
            "release_ids": list(self.release_ids),
            "status": self.status,
            "message": self.message,
        }
        out.update(self.extra)
        return clean(out)


@dataclass(frozen=True)
class AntiPatternResult:
    """One anti-pattern in a month: how often it occurred and what is behind it.

    ``count`` is the number of releases flagged, except for ``no_risk_segmentation`` (1 when the
    month is flagged, its releases behind it) and ``no_release_incident_link`` (unattributed
    incidents, listed in ``incident_ids``)."""

    name: str
    description: str
    count: int
    release_ids: tuple[str, ...] = ()
    incident_ids: tuple[str, ...] = ()
    status: Status = "ok"
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "name": self.name,
                "description": self.description,
                "count": self.count,
                "release_ids": list(self.release_ids),
                "incident_ids": list(self.incident_ids),
                "status": self.status,
                "message": self.message,
            }
        )


@dataclass(frozen=True)
class ProcessHealth:
    """Process-health KPIs of one month's cohort of deployed releases (METRICS.md)."""

    month: str
    as_of: datetime
    releases: int
    path_compliance: RateResult
    path_compliance_by_tier: Mapping[str, RateResult]
    misclassification_rate: RateResult
    stop_conditions_ignored: CountResult
    gate_escape_rate: RateResult
    single_owner_share: RateResult
    train_compliance: RateResult
    observability_linkage: RateResult
    anti_patterns: Mapping[str, AntiPatternResult]
    findings: Mapping[str, tuple[str, ...]]  # code -> releases of the month with that finding
    release_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "month": self.month,
                "as_of": self.as_of,
                "releases": self.releases,
                "release_ids": list(self.release_ids),
                "path_compliance": self.path_compliance.to_dict(),
                "path_compliance_by_tier": {
                    t: r.to_dict() for t, r in self.path_compliance_by_tier.items()
                },
                "misclassification_rate": self.misclassification_rate.to_dict(),
                "stop_conditions_ignored": self.stop_conditions_ignored.to_dict(),
                "gate_escape_rate": self.gate_escape_rate.to_dict(),
                "single_owner_share": self.single_owner_share.to_dict(),
                "train_compliance": self.train_compliance.to_dict(),
                "observability_linkage": self.observability_linkage.to_dict(),
                "anti_patterns": {k: v.to_dict() for k, v in self.anti_patterns.items()},
                "findings": {
                    code: {
                        "count": len(ids),
                        "release_ids": list(ids),
                        "severity": FINDING_CODES[code].severity,
                        "sentence": FINDING_CODES[code].sentence,
                    }
                    for code, ids in self.findings.items()
                },
            }
        )

    def sentences(self) -> list[str]:
        """Readable one-liners for the executive report, worst first."""
        out = []
        pc = self.path_compliance
        if pc.value is not None:
            out.append(
                f"{pc.numerator} of {pc.denominator} releases followed the path their risk tier "
                f"requires ({pc.value:.0%}, interval {pc.ci_low:.0%}-{pc.ci_high:.0%})."
            )
        if self.stop_conditions_ignored.count:
            out.append(
                f"{plural(self.stop_conditions_ignored.count, 'stop condition')} ignored "
                f"({', '.join(self.stop_conditions_ignored.release_ids)})."
            )
        ge = self.gate_escape_rate
        if ge.value is not None and ge.numerator:
            out.append(f"{ge.numerator} of {ge.denominator} failed releases had passed every gate.")
        for ap in self.anti_patterns.values():
            if ap.count:
                behind = ", ".join(ap.release_ids or ap.incident_ids)
                out.append(f"Anti-pattern {ap.description}: {ap.count} ({behind}).")
        return out


def _bool_rate(
    df: pl.DataFrame,
    col: str,
    alpha: float,
    *,
    what: str,
    pending: str = "not decidable yet",
    extra: dict | None = None,
) -> RateResult:
    """The share of ``df``'s releases whose boolean check ``col`` is True, of those where it is
    decided; undecided releases make the rate ``immature`` (``pending`` says why) and the ones
    that fail it are in ``extra.non_compliant_release_ids``."""
    known = df.filter(pl.col(col).is_not_null())
    undecided = df.height - known.height
    status: Status = "ok"
    message = ""
    if undecided and known.height:
        status, message = "immature", f"{plural(undecided, 'release')} {pending}"
    elif undecided:
        message = f"{plural(undecided, 'release')} {pending}"
    behind = known.filter(~pl.col(col))["release_id"].to_list()
    return rate(
        int(known[col].sum()),
        known.height,
        alpha,
        status=status,
        message=message or ("" if df.height else f"no release deployed ({what})"),
        extra={"non_compliant_release_ids": behind, **(extra or {})},
    )


def _unattributed(
    unattributed_incidents: pl.DataFrame | int | None, month: str, as_of: datetime, policy: Policy
) -> tuple[int, tuple[str, ...], Status, str]:
    """(count, incident ids, status, message) of the unattributed incidents detected in
    ``month`` by ``as_of``; a number is taken as given, None is ``insufficient_data``."""
    if unattributed_incidents is None:
        return 0, (), "insufficient_data", "unattributed incidents not given"
    if isinstance(unattributed_incidents, int):
        return unattributed_incidents, (), "ok", ""
    inc = unattributed_incidents
    if "attribution" in inc.columns:
        inc = inc.filter(pl.col("attribution").is_in(["unattributed", "unknown_release"]))
    inc = inc.filter(
        (pl.col("detected_at") <= as_of)
        & (
            pl.col("detected_at")
            .dt.convert_time_zone(policy.timezone)
            .dt.strftime("%Y-%m")
            .is_in(period_months(month))
        )
    ).sort("detected_at", "incident_id")
    ids = tuple(inc["incident_id"].to_list())
    return len(ids), ids, "ok", ""


def _month_cohort(
    audit: pl.DataFrame, units: pl.DataFrame, month: str, as_of: datetime
) -> pl.DataFrame:
    """The audit rows of the releases deployed in ``month`` by ``as_of``, in release order."""
    cohort_ids = deployed_in_month(units, month, as_of).select("release_id")
    return cohort_ids.join(audit, on="release_id", how="inner").sort(
        ["released_at", "release_id"], nulls_last=True
    )


def _gate_escape_rate(df: pl.DataFrame, alpha: float) -> RateResult:
    """Of the cohort's failed releases, the share that had passed every required gate."""
    failed = df.filter(pl.col("failed"))
    escaped = failed.filter(pl.col("gate_escape"))
    return rate(
        escaped.height,
        failed.height,
        alpha,
        message="" if failed.height else "no failed release in the month",
        extra={
            "release_ids": escaped["release_id"].to_list(),
            "releases_passing_all_gates": int(df["gates_passed_all"].fill_null(False).sum()),
        },
    )


def _observability_linkage(df: pl.DataFrame, alpha: float) -> RateResult:
    """Marker within 24 h and operator decision within 72 h (each part in ``extra``);
    ``insufficient_data`` when the dataset has no telemetry."""
    telemetry = bool(df["telemetry_available"].any()) if df.height else False
    marker = _bool_rate(
        df,
        "marker_24h",
        alpha,
        what="marker",
        pending="inside the window" if telemetry else "without telemetry",
    )
    ops = _bool_rate(
        df, "operator_72h", alpha, what="operator decisions", pending="inside the window"
    )
    parts = {"marker_24h": marker.to_dict(), "operator_72h": ops.to_dict()}
    if not telemetry and df.height:
        return RateResult(
            None,
            0,
            0,
            status="insufficient_data",
            message="the dataset has no telemetry: the version marker cannot be checked",
            extra=parts,
        )
    return _bool_rate(
        df,
        "observability_ok",
        alpha,
        what="observability",
        pending="inside the window" if telemetry else "without telemetry in the dataset",
        extra=parts,
    )


def _anti_patterns(
    df: pl.DataFrame, unattributed: tuple[int, tuple[str, ...], Status, str]
) -> dict[str, AntiPatternResult]:
    """The five anti-patterns of the cohort: the per-release flags counted (an undecided flag
    makes the count ``immature``), the month's risk segmentation, and the unattributed
    incidents (``_unattributed``)."""
    anti: dict[str, AntiPatternResult] = {}
    for name in ("demo_quality", "offline_only", "ship_and_forget"):
        flagged = df.filter(pl.col(name).fill_null(False))["release_id"].to_list()
        pending = int(df[name].null_count())
        anti[name] = AntiPatternResult(
            name,
            ANTI_PATTERNS[name],
            len(flagged),
            tuple(flagged),
            status="immature" if pending else "ok",
            message=f"{plural(pending, 'release')} not decidable yet" if pending else "",
        )
    seg = df.filter(pl.col("no_risk_segmentation").fill_null(False))["release_id"].to_list()
    anti["no_risk_segmentation"] = AntiPatternResult(
        "no_risk_segmentation",
        ANTI_PATTERNS["no_risk_segmentation"],
        int(bool(seg)),
        tuple(seg),
    )
    n_inc, inc_ids, inc_status, inc_msg = unattributed
    anti["no_release_incident_link"] = AntiPatternResult(
        "no_release_incident_link",
        ANTI_PATTERNS["no_release_incident_link"],
        n_inc,
        incident_ids=inc_ids,
        status=inc_status,
        message=inc_msg,
    )
    return anti


def _misclassification_rate(df: pl.DataFrame, alpha: float) -> RateResult:
    """Share of the releases with a valid declared tier that declared it lower than implied."""
    tiered = df.filter(pl.col("misclassified").is_not_null())
    miscl_ids = tiered.filter(pl.col("misclassified"))["release_id"].to_list()
    return rate(
        len(miscl_ids),
        tiered.height,
        alpha,
        extra={"release_ids": miscl_ids},
        message=""
        if tiered.height == df.height
        else f"{plural(df.height - tiered.height, 'release')} without a valid declared tier",
    )


def _stop_conditions_ignored(df: pl.DataFrame) -> CountResult:
    """Stages advanced although their stop condition was met, with the releases behind them."""
    stop = df.filter(pl.col("stop_conditions_ignored") > 0)
    return CountResult(
        int(stop["stop_conditions_ignored"].sum()) if stop.height else 0,
        tuple(stop["release_id"].to_list()),
        message="stages advanced although their stop condition was met",
        extra={"releases": stop.height},
    )


def _findings_by_code(df: pl.DataFrame) -> dict[str, tuple[str, ...]]:
    """Finding code -> the cohort's releases with it (codes without a release left out), in
    ``FINDING_CODES`` order."""
    exploded = df.select("release_id", "findings").explode("findings").drop_nulls("findings")
    findings = {
        code: tuple(exploded.filter(pl.col("findings") == code)["release_id"].to_list())
        for code in FINDING_CODES
    }
    return {c: ids for c, ids in findings.items() if ids}


def process_health(
    audit: pl.DataFrame,
    units: pl.DataFrame,
    month: str,
    as_of: datetime,
    policy: Policy,
    unattributed_incidents: pl.DataFrame | int | None = None,
) -> ProcessHealth:
    """Monthly process-health KPIs of the releases deployed in ``month`` (policy timezone).

    Every rate is a ``RateResult`` (Wilson interval, counts;
    ``extra.non_compliant_release_ids`` lists the releases that fail it). Releases whose check
    is not decidable yet are left out of its denominator and make the status ``immature``.

    - ``path_compliance`` (overall and per effective tier): evidence, gates, rollout and
      approvals all as the tier requires;
    - ``misclassification_rate``: declared tier lower than implied;
    - ``stop_conditions_ignored``: stages advanced although their stop condition was met;
    - ``gate_escape_rate``: of the month's failed releases, the share that had passed every
      required gate;
    - ``single_owner_share``: an accountable owner named and exactly one final vote;
    - ``train_compliance``; ``observability_linkage`` (marker within 24 h and operator decision
      within 72 h; ``extra`` has each part);
    - ``anti_patterns``: the five of METRICS.md. ``unattributed_incidents``: a frame of
      incidents (``incident_id``, ``detected_at``, optionally ``attribution`` as given by
      ``analytics.metrics.incidents.attribute_incidents``) of which those detected in the month
      count,
      or their number; None makes that anti-pattern ``insufficient_data``.
    """
    alpha = policy.alpha
    df = _month_cohort(audit, units, month, as_of)
    by_tier = {
        tier: _bool_rate(
            df.filter(pl.col("effective_tier") == tier),
            "path_compliant",
            alpha,
            what=f"tier {tier}",
        )
        for tier in TIERS
    }
    unattributed = _unattributed(unattributed_incidents, month, as_of, policy)
    return ProcessHealth(
        month=month,
        as_of=as_of,
        releases=df.height,
        path_compliance=_bool_rate(df, "path_compliant", alpha, what="path"),
        path_compliance_by_tier=by_tier,
        misclassification_rate=_misclassification_rate(df, alpha),
        stop_conditions_ignored=_stop_conditions_ignored(df),
        gate_escape_rate=_gate_escape_rate(df, alpha),
        single_owner_share=_bool_rate(df, "single_owner", alpha, what="owner"),
        train_compliance=_bool_rate(
            df, "train_ok", alpha, what="train", pending="without a release time"
        ),
        observability_linkage=_observability_linkage(df, alpha),
        anti_patterns=_anti_patterns(df, unattributed),
        findings=_findings_by_code(df),
        release_ids=tuple(df["release_id"].to_list()),
    )


__all__ = ["AntiPatternResult", "CountResult", "ProcessHealth", "process_health"]
