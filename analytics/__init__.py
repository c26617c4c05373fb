"""AI release analytics: measure how well an organisation releases changes to its AI systems.

The public API: notebooks, pipelines and users import from here only (README "Library")::

    import analytics as ra

    ds = ra.load_dataset("data/sample")
    analysis = ra.analyze(ds, ra.parse_as_of("2026-11-15T00:00:00Z"))
    ra.monthly_kpis(analysis, "2026-10").to_dict()
    ra.release_records(analysis, "2026-10")
    ra.gate_decision(ds, "rel-0353").decision          # "go" / "no_go" / "invalid"
    ra.judge_release(ds, "rel-0353").recommendation    # "go" / "hold" / "rollback"
    report = ra.executive_report(analysis, "2026-10")  # report.headline(), report.trends(), ...
    ra.render_report("executive", "data/sample", "2026-11-15T00:00:00Z", "reports", month="2026-10")

Every function takes its subject first (dataset or analysis), then what it is about (a month, a
release), then ``as_of``; options are keywords. Everything else lives in the layers below
(README "Layout") and may change between versions.
"""

from typing import TYPE_CHECKING

from analytics.core import __version__

# Every public name is loaded on first use (PEP 562), so that ``import analytics`` and the
# command line stay light: a process that only imports telemetry (an import worker) or prints a
# gate decision does not load scipy, statsmodels or plotly.
_LAZY = {
    "monthly_kpis": "analytics.analysis.kpis",
    "MonthlyKpis": "analytics.analysis.kpis",
    "release_records": "analytics.analysis.records",
    "STEPS": "analytics.analysis.steps",
    "Analysis": "analytics.analysis.steps",
    "analyze": "analytics.analysis.steps",
    "ReleaseComparison": "analytics.comparison",
    "JudgeDecision": "analytics.comparison.judge",
    "DataError": "analytics.core.errors",
    "month_range": "analytics.core.periods",
    "parse_as_of": "analytics.core.periods",
    "Policy": "analytics.core.policy",
    "load_policy": "analytics.core.policy",
    "DataQuality": "analytics.core.quality",
    "Finding": "analytics.core.quality",
    "DurationResult": "analytics.core.results",
    "EstimateResult": "analytics.core.results",
    "RateResult": "analytics.core.results",
    "Dataset": "analytics.data.io",
    "load_dataset": "analytics.data.io",
    "GateDecision": "analytics.decisions.gate",
    "gate_decision": "analytics.decisions.gate",
    "judge_release": "analytics.decisions.judge",
    "executive_report": "analytics.report.api",
    "release_review": "analytics.report.api",
    "setup_notebook": "analytics.report.html",
    "render_report": "analytics.report.render",
}

if TYPE_CHECKING:  # what a type checker and an editor see
    from analytics.analysis.kpis import MonthlyKpis, monthly_kpis
    from analytics.analysis.records import release_records
    from analytics.analysis.steps import STEPS, Analysis, analyze
    from analytics.comparison import ReleaseComparison
    from analytics.comparison.judge import JudgeDecision
    from analytics.core.errors import DataError
    from analytics.core.periods import month_range, parse_as_of
    from analytics.core.policy import Policy, load_policy
    from analytics.core.quality import DataQuality, Finding
    from analytics.core.results import DurationResult, EstimateResult, RateResult
    from analytics.data.io import Dataset, load_dataset
    from analytics.decisions.gate import GateDecision, gate_decision
    from analytics.decisions.judge import judge_release
    from analytics.report.api import executive_report, release_review
    from analytics.report.html import setup_notebook
    from analytics.report.render import render_report


def __getattr__(name: str):  # noqa: ANN202
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'analytics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    # load
    "load_dataset",
    "load_policy",
    "parse_as_of",
    "month_range",
    # analyse
    "analyze",
    "STEPS",
    "monthly_kpis",
    "release_records",
    # decide
    "gate_decision",
    "judge_release",
    # report
    "executive_report",
    "release_review",
    "render_report",
    "setup_notebook",
    # types
    "Dataset",
    "Policy",
    "Analysis",
    "MonthlyKpis",
    "ReleaseComparison",
    "GateDecision",
    "JudgeDecision",
    "RateResult",
    "DurationResult",
    "EstimateResult",
    "DataQuality",
    "Finding",
    "DataError",
    "__version__",
]
