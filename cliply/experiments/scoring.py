"""Learned clip scoring per workspace: which highlight weights score a workspace's new sources, fitting a new
version from how its published clips performed, and the switches (learning on/off, reset to the defaults).

Versions are kept (history); the newest active one is used while learning is on. Off, or after a reset (which
deactivates every version), new sources are scored with the default weights; a reset is audited. The next fit
after a reset starts a new version from the data."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cliply.experiments.learning import FEATURES, clip_outcome, fit_weights
from cliply.experiments.outcomes import account_baselines, metric_text, outcomes_for_clips
from cliply.media.highlights import WEIGHTS
from cliply.media.types import Highlight
from cliply.store.models import Clip, Workspace, utcnow
from cliply.store.models_analytics import TrackedPost
from cliply.store.models_experiments import AuditEntry, ScoringWeights
from cliply.store.repo import NotFound
from cliply.usecases import WorkspaceRef, workspace_scope

if TYPE_CHECKING:
    from cliply.wiring import Cliply

HISTORY = 20  # versions shown by the status
SPAN_TOLERANCE_S = 0.05  # a clip matches the highlight it was rendered from by its span


@dataclass(frozen=True)
class ActiveWeights:
    version: int | None  # None = the default weights (never learned, learning off, or reset)
    weights: dict[str, float]
    learned_from: int  # clips the version was fitted on (0 for defaults)

    def json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "weights": dict(self.weights),
            "learned_from": self.learned_from,
            "source": "default" if self.version is None else "learned",
        }


DEFAULT = ActiveWeights(None, dict(WEIGHTS), 0)


def active_weights(session: Session, workspace_id: int) -> ActiveWeights:
    """The weights that score the workspace's new sources."""
    ws = session.get(Workspace, workspace_id)
    if ws is None or not ws.scoring_learning:
        return DEFAULT
    row = session.scalars(
        select(ScoringWeights)
        .where(ScoringWeights.workspace_id == workspace_id, ScoringWeights.active.is_(True))
        .order_by(ScoringWeights.version.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        return DEFAULT
    weights = {k: float(row.weights.get(k, WEIGHTS[k])) for k in FEATURES}
    return ActiveWeights(row.version, weights, row.learned_from)


def workspace_ids(app: Cliply) -> list[int]:
    """Every workspace (the scoring_weights partitions)."""
    with app.db.reading() as session:
        return list(session.scalars(select(Workspace.id).order_by(Workspace.id)))


# --- fitting ---


def _published_clips(session: Session, workspace_id: int) -> list[Clip]:
    tracked = select(TrackedPost.clip_id).where(
        TrackedPost.workspace_id == workspace_id, TrackedPost.clip_id.is_not(None)
    )
    return list(
        session.scalars(select(Clip).where(Clip.workspace_id == workspace_id, Clip.id.in_(tracked)).order_by(Clip.id))
    )


def _highlight_features(app: Cliply, clips: Sequence[Clip]) -> dict[str, dict[str, float]]:
    """Per clip, the features of the highlight it was rendered from (same span in highlights.json)."""
    from cliply.pipeline import highlights_key  # the pipeline imports this module for active_weights

    by_source: dict[str, list[Clip]] = defaultdict(list)
    for clip in clips:
        by_source[clip.source_id].append(clip)
    out: dict[str, dict[str, float]] = {}
    for source_id, source_clips in by_source.items():
        key = highlights_key(source_id)
        if not app.media.exists(key):
            continue
        found = [Highlight.from_dict(d) for d in json.loads(app.media.get_bytes(key))]
        for clip in source_clips:
            match = next(
                (
                    h
                    for h in found
                    if abs(h.start - clip.start_s) <= SPAN_TOLERANCE_S and abs(h.end - clip.end_s) <= SPAN_TOLERANCE_S
                ),
                None,
            )
            if match is not None:
                out[clip.id] = {k: float(v) for k, v in match.features.items() if k in FEATURES}
    return out


def _training_data(
    app: Cliply, session: Session, workspace_id: int, age_s: float, now: datetime
) -> tuple[list[dict[str, float]], list[float], int]:
    """(features, outcome) per clip with a measured post, and how many clips had posts at all."""
    clips = _published_clips(session, workspace_id)
    features = _highlight_features(app, clips)
    posts = outcomes_for_clips(session, workspace_id, list(features), metric="views", age_s=age_s, now=now)
    accounts = sorted({o.account_id for ps in posts.values() for o in ps if o.account_id is not None})
    baselines = account_baselines(session, workspace_id, accounts, metric="views", age_s=age_s, now=now)
    rows, outcomes = [], []
    for clip_id in sorted(posts):
        pairs = [
            (o.value, baselines[o.account_id])
            for o in posts[clip_id]
            if o.value is not None and o.account_id is not None and baselines.get(o.account_id) is not None
        ]
        outcome = clip_outcome([p[0] for p in pairs], [float(p[1] or 0.0) for p in pairs])
        if outcome is not None:
            rows.append(features[clip_id])
            outcomes.append(outcome)
    return rows, outcomes, len(clips)


def fit_workspace(app: Cliply, workspace_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """A new weights version when learning is on and enough clips have the metric; else {"skipped": reason}."""
    settings = app.settings
    age_s = settings.scoring_metric_age_h * 3600.0
    metric = metric_text("views", age_s)
    with app.db.session() as session:
        ws = session.get(Workspace, workspace_id)
        if ws is None:
            raise NotFound(f"no workspace {workspace_id}")
        base = {"workspace": ws.name, "workspace_id": ws.id, "metric": metric}
        if not ws.scoring_learning:
            return {**base, "skipped": "learning is off for this workspace"}
        rows, outcomes, published = _training_data(app, session, ws.id, age_s, now or utcnow())
        if len(outcomes) < settings.scoring_min_clips:
            reason = f"{len(outcomes)} clips have {metric}; learning needs {settings.scoring_min_clips}"
            return {**base, "skipped": reason, "published_clips": published}
        fit = fit_weights(rows, outcomes, shrinkage=settings.scoring_shrinkage)
        latest = session.scalar(select(func.max(ScoringWeights.version)).where(ScoringWeights.workspace_id == ws.id))
        _deactivate(session, ws.id)
        row = ScoringWeights(
            workspace_id=ws.id,
            version=(latest or 0) + 1,
            weights=fit.weights,
            learned_from=fit.n,
            metric=metric,
            details={**fit.details, "published_clips": published},
            active=True,
        )
        session.add(row)
        session.flush()
        return {**base, **_version_json(row)}


# --- status and switches (use cases) ---


def _deactivate(session: Session, workspace_id: int) -> list[int]:
    versions = list(
        session.scalars(
            select(ScoringWeights.version).where(
                ScoringWeights.workspace_id == workspace_id, ScoringWeights.active.is_(True)
            )
        )
    )
    session.execute(
        update(ScoringWeights)
        .where(ScoringWeights.workspace_id == workspace_id, ScoringWeights.active.is_(True))
        .values(active=False)
    )
    return versions


def _version_json(row: ScoringWeights) -> dict[str, Any]:
    return {
        "version": row.version,
        "active": row.active,
        "weights": dict(row.weights),
        "learned_from": row.learned_from,
        "metric": row.metric,
        "details": dict(row.details or {}),
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }


def _status(app: Cliply, session: Session, ws: Workspace) -> dict[str, Any]:
    rows = session.scalars(
        select(ScoringWeights)
        .where(ScoringWeights.workspace_id == ws.id)
        .order_by(ScoringWeights.version.desc())
        .limit(HISTORY)
    )
    s = app.settings
    return {
        "workspace": ws.name,
        "learning": bool(ws.scoring_learning),
        "active": active_weights(session, ws.id).json(),
        "defaults": dict(WEIGHTS),
        "metric": metric_text("views", s.scoring_metric_age_h * 3600.0),
        "min_clips": s.scoring_min_clips,
        "shrinkage": s.scoring_shrinkage,
        "versions": [_version_json(r) for r in rows],
    }


def _audit(session: Session, workspace_id: int, actor: str, action: str, details: dict[str, Any]) -> None:
    session.add(AuditEntry(workspace_id=workspace_id, actor=actor, action=action, subject="scoring", details=details))


def scoring_status(app: Cliply, ref: WorkspaceRef) -> dict[str, Any]:
    with workspace_scope(app, ref, write=False) as scope:
        return _status(app, scope.session, scope.workspace)


def set_learning(app: Cliply, ref: WorkspaceRef, enabled: bool, *, actor: str = "user") -> dict[str, Any]:
    """Turn learning on or off; off, new sources are scored with the defaults (versions are kept)."""
    with workspace_scope(app, ref) as scope:
        ws = scope.workspace
        if bool(ws.scoring_learning) != enabled:
            ws.scoring_learning = enabled
            _audit(scope.session, ws.id, actor, "scoring.learning_on" if enabled else "scoring.learning_off", {})
        scope.session.flush()
        return _status(app, scope.session, ws)


def reset_scoring(app: Cliply, ref: WorkspaceRef, *, actor: str = "user") -> dict[str, Any]:
    """Back to the default weights: every version deactivated (kept for the record), with an audit entry."""
    with workspace_scope(app, ref) as scope:
        ws = scope.workspace
        versions = _deactivate(scope.session, ws.id)
        _audit(scope.session, ws.id, actor, "scoring.reset", {"deactivated": versions})
        scope.session.flush()
        return _status(app, scope.session, ws)


def fit_now(app: Cliply, ref: WorkspaceRef, *, now: datetime | None = None) -> dict[str, Any]:
    """Fit the workspace's weights now (what the scheduled scoring_weights asset does)."""
    with workspace_scope(app, ref, write=False) as scope:
        workspace_id = scope.workspace.id
    return fit_workspace(app, workspace_id, now=now)
