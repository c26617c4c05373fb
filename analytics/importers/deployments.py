"""GitHub and GitLab deployments -> ``releases`` (docs/mapping.md).

A release is a deployment to one of the mapping's production ``environments`` that succeeded:

- GitHub (REST "List deployments" and "List deployment statuses", as ``gh api`` saves them): one
  JSON file, either ``{"deployments": [...], "statuses": {"<deployment id>": [...]}}`` or a JSON
  array of deployments each carrying its ``statuses`` array. ``released_at`` is the
  ``created_at`` of the deployment's first ``success`` status.
- GitLab (REST "List project deployments"): a JSON array of deployments (pages concatenated) or
  ``{"deployments": [...]}``. The environment is ``environment.name``; a deployment counts when
  its ``status`` is ``success``, released at ``deployable.finished_at`` (else ``updated_at``).

The release id comes from the mapping's id template (default ``gh-{id}`` / ``gl-{id}``); the
system, risk tier and the seven component versions from the mapping's rules (e.g. GitHub's
``payload``). When two deployments give one release id, the earlier release is kept and the
later one is a duplicate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analytics.core.schemas import RELEASES, TIER_VALUES
from analytics.importers.fields import apply, apply_time, fill_template, utc_text
from analytics.importers.mapping import Components, DeploymentSource
from analytics.importers.records import (
    Location,
    Parsed,
    Problem,
    Record,
    allowed,
    load_json,
    need,
    optional,
    wrong_type,
)

TRAINS: tuple[str, ...] = RELEASES.column("train").values


def release_row(dep: dict[str, Any], sec: DeploymentSource, released_at: str, default_id: str):
    """The ``releases`` row of a production deployment, or a ``Problem``."""
    row = {
        "release_id": need(fill_template(sec.release_id or default_id, dep), "release_id"),
        "system": need(apply(sec.system, dep), "system"),
        "released_at": released_at,
        "risk_tier": allowed(
            need(apply(sec.risk_tier, dep), "risk_tier"), "risk_tier", TIER_VALUES
        ),
    }
    for column in Components.model_fields:
        row[column] = need(apply(getattr(sec.components, column), dep), column)
    if sec.change_requested_at is not None:
        row["change_requested_at"] = optional(
            apply_time(sec.change_requested_at, dep), "change_requested_at"
        )
    for column in ("accountable_owner", "train", "summary"):
        rule = getattr(sec, column)
        if rule is not None:
            row[column] = optional(apply(rule, dep), column)
    if row.get("train"):
        allowed(row["train"], "train", TRAINS)
    return row


def _collect(
    parsed: Parsed,
    items: list[Any],
    path: Path,
    released: Any,
    sec: DeploymentSource,
    default_id: str,
) -> None:
    """Map every deployment; ``released(dep)`` gives its environment check and ``released_at``
    (or raises ``Problem``). Records are ordered by ``released_at``, then export position."""
    found = []
    for i, dep in enumerate(items):
        rid = str(dep.get("id")) if isinstance(dep, dict) and "id" in dep else None
        where = Location(path.name, position=f"deployments[{i}]", record_id=rid)
        try:
            if not isinstance(dep, dict) or rid is None:
                raise Problem("not_a_deployment", "the entry is not a deployment object with an id")
            at = released(dep)
            row = release_row(dep, sec, at, default_id)
            found.append((at, i, Record(where, {"releases": [row]})))
        except Problem as p:
            parsed.reject(where, p.reason, p.message)
    parsed.records = [r for _, _, r in sorted(found, key=lambda t: (t[0], t[1]))]


def _check_environment(env: Any, sec: DeploymentSource) -> None:
    if env not in sec.environments:
        raise Problem(
            "not_production",
            f"environment {env!r} is not one of the mapping's environments "
            f"({', '.join(sec.environments)})",
        )


def _stamp(value: Any, what: str) -> str:
    stamp, bad = utc_text(value)
    if stamp is None:
        raise Problem("invalid_timestamp", f"{what}: {bad}")
    return stamp


def read_github(path: Path, sec: DeploymentSource) -> Parsed:
    what = "GitHub deployments"
    data, fp = load_json(path, what)
    expected = 'a JSON array of deployments or {"deployments": [...], "statuses": {"<id>": [...]}}'
    if isinstance(data, dict) and isinstance(data.get("deployments"), list):
        items, statuses = data["deployments"], data.get("statuses", {})
    elif isinstance(data, list):
        items, statuses = data, {}
    else:
        raise wrong_type(path, what, expected)
    if not isinstance(statuses, dict):
        raise wrong_type(path, what, f"{expected} ('statuses' is not an object)")

    def released(dep: dict[str, Any]) -> str:
        _check_environment(dep.get("environment"), sec)
        own = statuses.get(str(dep["id"]), dep.get("statuses", []))
        if not isinstance(own, list):
            raise Problem("not_a_deployment", "its statuses are not a JSON array")
        times = [
            _stamp(s.get("created_at"), "status created_at")
            for s in own
            if isinstance(s, dict) and s.get("state") == "success"
        ]
        if not times:
            raise Problem("not_deployed", "no 'success' status: the deployment never went live")
        return min(times)

    parsed = Parsed("github", path.name, fp, ("releases",))
    _collect(parsed, items, path, released, sec, "gh-{id}")
    return parsed


def read_gitlab(path: Path, sec: DeploymentSource) -> Parsed:
    what = "GitLab deployments"
    data, fp = load_json(path, what)
    if isinstance(data, dict) and isinstance(data.get("deployments"), list):
        items = data["deployments"]
    elif isinstance(data, list):
        items = data
    else:
        raise wrong_type(path, what, 'a JSON array of deployments or {"deployments": [...]}')

    def released(dep: dict[str, Any]) -> str:
        env = dep.get("environment")
        _check_environment(env.get("name") if isinstance(env, dict) else env, sec)
        if dep.get("status") != "success":
            raise Problem("not_deployed", f"status {dep.get('status')!r} is not 'success'")
        job = dep.get("deployable")
        finished = job.get("finished_at") if isinstance(job, dict) else None
        if finished:
            return _stamp(finished, "deployable.finished_at")
        return _stamp(dep.get("updated_at"), "updated_at")

    parsed = Parsed("gitlab", path.name, fp, ("releases",))
    _collect(parsed, items, path, released, sec, "gl-{id}")
    return parsed
