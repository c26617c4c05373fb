"""Report sections: the release-process audit (process health) and data quality."""

from __future__ import annotations

from typing import Any

from analytics.core.policy import TIER_RANK
from analytics.core.results import RateResult
from analytics.governance.findings import FINDING_CODES
from analytics.report.context import ExecutiveContext, ReleaseContext
from analytics.report.format import MAX_FINDINGS_LISTED, counted, fmt_interval, fmt_pct
from analytics.report.html import Section, _p, _section, _table
from analytics.stats.change import plural

# ---------------------------------------------------------------- executive: process health


def _health_rate_row(label: str, r: RateResult) -> list[Any]:
    note = r.message if r.status != "ok" else ""
    return [
        label,
        fmt_pct(r.value),
        f"{r.numerator} of {r.denominator}",
        fmt_interval(r.ci_low, r.ci_high, fmt_pct),
        note,
    ]


def process_audit(ctx: ExecutiveContext) -> Section:
    """Process health of the month from the release-process audit: path compliance per tier,
    misclassification, stop conditions ignored, gate escapes, single accountable owner, train
    compliance, observability linkage and the anti-patterns, with the releases behind them."""
    h = ctx.health
    if h.releases == 0:
        return _section("process_audit", [f"No release was deployed in {ctx.month}."])
    rows = [_health_rate_row("path compliance (all tiers)", h.path_compliance)]
    for tier in sorted(h.path_compliance_by_tier, key=lambda t: -TIER_RANK.get(t, -1)):
        r = h.path_compliance_by_tier[tier]
        if r.denominator:
            rows.append(_health_rate_row(f"path compliance, {tier} tier", r))
    rows += [
        _health_rate_row("misclassified (declared tier too low)", h.misclassification_rate),
        _health_rate_row(
            "gate escapes (failed releases that passed every gate)", h.gate_escape_rate
        ),
        _health_rate_row("single accountable owner", h.single_owner_share),
        _health_rate_row("release-train compliance", h.train_compliance),
        _health_rate_row("observability linkage", h.observability_linkage),
    ]
    stop = h.stop_conditions_ignored
    rows.append(
        [
            "stop conditions ignored",
            str(stop.count),
            plural(len(stop.release_ids), "release"),
            "",
            ", ".join(stop.release_ids),
        ]
    )
    table = _table(["check", "value", "counts", "interval", "note / releases"], rows, numeric=(1,))
    anti_rows = [
        [ap.description, ap.count, ", ".join(ap.release_ids or ap.incident_ids), ap.message]
        for ap in h.anti_patterns.values()
    ]
    anti = _table(
        ["anti-pattern", "count", "behind it", "note"],
        anti_rows,
        numeric=(1,),
        caption=f"Anti-patterns, counted this {ctx.period_kind}",
    )
    severity_rank = {"critical": 0, "major": 1, "minor": 2}
    ordered = sorted(
        h.findings.items(),
        key=lambda kv: (severity_rank.get(FINDING_CODES[kv[0]].severity, 3), -len(kv[1]), kv[0]),
    )
    find_rows = [
        [
            FINDING_CODES[c].severity,
            c,
            FINDING_CODES[c].sentence,
            len(ids),
            ", ".join(ids[:8]) + (f" and {len(ids) - 8} more" if len(ids) > 8 else ""),
        ]
        for c, ids in ordered
    ]
    findings = (
        _table(
            ["severity", "finding", "meaning", "releases", "which"],
            find_rows,
            numeric=(3,),
            caption=f"Audit findings of the {ctx.period_kind}'s releases",
        )
        if find_rows
        else _p(f"The audit found nothing in this {ctx.period_kind}'s releases.")
    )
    return _section(
        "process_audit", h.sentences() or ["The audit found no process gap."], table, anti, findings
    )


# ---------------------------------------------------------------- executive: data quality


def data_quality(ctx: ExecutiveContext | ReleaseContext) -> Section:
    """Data-quality findings of the whole dataset: rows read, loaded and excluded per table,
    values left out, and every finding (table, line or row, id, column, message)."""
    q = ctx.analysis.quality
    rows = []
    for t in sorted(q.rows_read):
        excl = q.rows_excluded.get(t, {})
        rows.append(
            [
                t,
                q.rows_read[t],
                q.rows_loaded.get(t, 0),
                sum(excl.values()),
                ", ".join(f"{k}: {v}" for k, v in sorted(excl.items())),
            ]
        )
    counts = _table(
        ["table", "rows read", "rows loaded", "rows excluded", "why excluded"],
        rows,
        numeric=(1, 2, 3),
    )
    vals = {k: v for k, v in q.values_excluded.items() if v}
    values = (
        _table(["table.column", "values left out (row kept)"], sorted(vals.items()), numeric=(1,))
        if vals
        else None
    )
    by_code: dict[tuple[str, str, str], int] = {}
    for f in q.findings:
        key = (f.severity, f.table, f.code)
        by_code[key] = by_code.get(key, 0) + 1
    summary = (
        _table(
            ["severity", "table", "code", "findings"],
            [[*k, n] for k, n in sorted(by_code.items())],
            numeric=(3,),
            caption="Findings by kind",
        )
        if by_code
        else None
    )
    listed = sorted(q.findings, key=lambda f: (f.severity != "error", f.table, f.row or 0))
    shown = listed[:MAX_FINDINGS_LISTED]
    detail = (
        _table(
            ["severity", "where", "message"],
            [[f.severity, f.where(), f.message] for f in shown],
            caption=(
                f"First {len(shown)} of {len(listed)} findings"
                if len(listed) > len(shown)
                else "All findings"
            ),
            row_classes=["ra-row-bad" if f.severity == "error" else "ra-row-warn" for f in shown],
        )
        if shown
        else None
    )
    n_err, n_warn = len(q.errors), len(q.warnings)
    excluded = sum(sum(v.values()) for v in q.rows_excluded.values())
    if not q.findings:
        takeaway = ["The dataset loaded without a single data-quality finding."]
    else:
        takeaway = [
            f"{plural(n_err, 'error')} and {plural(n_warn, 'warning')} in the dataset; "
            f"{counted(excluded, 'row')} left out and every exclusion is counted below, so "
            "totals reconcile."
            if q.reconciles()
            else f"{plural(n_err, 'error')} and {plural(n_warn, 'warning')} in the dataset; the "
            "row counts below do NOT reconcile."
        ]
    return _section("data_quality", takeaway, counts, values, summary, detail)
