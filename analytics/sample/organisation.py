"""The fictional organisation of the sample data ("Northwind Mutual"): its three AI systems with
the team that owns each (support and search: customer-experience; claims: claims-automation),
their task types, segment mixes and base rates, the effect of each segment on the outcomes, the
people who own, approve and operate releases, version strings, summary texts, which metrics a
changed component can regress, the gates and the hourly traffic curve."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DQ_METRICS: tuple[str, ...] = (
    "escalation_rate",
    "rework_rate",
    "policy_violation_rate",
    "quality_score",
)


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
    team: str  # the team that owns the system's releases (releases.team)


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
        team="customer-experience",
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
        team="claims-automation",
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
        team="customer-experience",
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
