"""AI release analytics: measure how well an organisation releases changes to its AI systems.

The public API. Notebooks and users import from here only::

    import analytics as ra
    ds = ra.load_dataset("data/sample")
    analysis = ra.analyze(ds, ra.parse_as_of("2026-11-15T00:00:00Z"))
    ra.monthly_kpis(analysis, "2026-10").to_dict()
"""

from analytics.analysis.kpis import (
    Analysis,
    MonthlyKpis,
    analyze,
    month_range,
    monthly_kpis,
    parse_as_of,
    release_records,
)
from analytics.comparison import (
    MetricComparison,
    ReleaseComparison,
    compare_release,
    compare_releases,
    daily_series,
    judge_comparison,
    telemetry_failures,
    unit_cost_impact,
)
from analytics.core import __version__
from analytics.core.errors import DataError
from analytics.core.policy import Policy, load_policy
from analytics.core.quality import DataQuality, Finding
from analytics.core.results import DurationResult, EstimateResult, RateResult
from analytics.data.io import Dataset, load_dataset
from analytics.data.rollup import Rollup, dataset_rollup, rollup_telemetry
from analytics.decisions.gate import GateDecision, gate_decision
from analytics.governance.audit import audit_releases
from analytics.governance.findings import ANTI_PATTERNS, FINDING_CODES
from analytics.governance.health import ProcessHealth, process_health
from analytics.governance.path import PathReview, path_review
from analytics.governance.risk import (
    RiskAttribution,
    failure_by_group,
    failure_regression,
    risk_attribution,
)
from analytics.metrics.detection import (
    DetectionPotential,
    detection_potential,
    detection_potentials,
    sequence_frame,
)
from analytics.metrics.evidence import evidence_completeness, evidence_status
from analytics.metrics.incidents import attribute_incidents, mttd, mttm, release_failures
from analytics.metrics.releases import deployed_in_month, release_units

__all__ = [
    "DetectionPotential",
    "MetricComparison",
    "ReleaseComparison",
    "compare_release",
    "compare_releases",
    "daily_series",
    "detection_potential",
    "detection_potentials",
    "judge_comparison",
    "sequence_frame",
    "telemetry_failures",
    "unit_cost_impact",
    "ANTI_PATTERNS",
    "FINDING_CODES",
    "GateDecision",
    "PathReview",
    "ProcessHealth",
    "RiskAttribution",
    "audit_releases",
    "failure_by_group",
    "failure_regression",
    "gate_decision",
    "path_review",
    "process_health",
    "risk_attribution",
    "Analysis",
    "DataError",
    "DataQuality",
    "Dataset",
    "DurationResult",
    "EstimateResult",
    "Finding",
    "MonthlyKpis",
    "Policy",
    "RateResult",
    "Rollup",
    "__version__",
    "analyze",
    "attribute_incidents",
    "dataset_rollup",
    "deployed_in_month",
    "evidence_completeness",
    "evidence_status",
    "load_dataset",
    "load_policy",
    "month_range",
    "monthly_kpis",
    "mttd",
    "mttm",
    "parse_as_of",
    "release_failures",
    "release_records",
    "release_units",
    "rollup_telemetry",
]
