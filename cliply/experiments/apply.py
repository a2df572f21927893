"""Applying an experiment's winning variant: onto the clip's targets that have not started (state scheduled, never
claimed), the experiment's own later slots included, and as the workspace's default for that kind of choice; with
an audit entry and a notification. Published, publishing and claimed targets are never touched."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from cliply.experiments.variants import applied_text
from cliply.publishing.captions import CaptionRejected, TargetDraft, check_drafts
from cliply.store import audit
from cliply.store.models import Workspace, utcnow
from cliply.store.models_experiments import Experiment, ExperimentArm, ExperimentPost
from cliply.store.models_publishing import Post, PostTarget
from cliply.store.repo import WorkspaceScope
from cliply.usecases import ServiceError

if TYPE_CHECKING:
    from cliply.wiring import Cliply


@dataclass(frozen=True)
class Change:
    target_id: str
    caption: str
    title: str
    options: dict[str, Any]
    clip_id: str | None  # hook: the post's new clip


def pick_arm(experiment: Experiment, arms: list[ExperimentArm], arm: str | None) -> ExperimentArm:
    """The named arm, or the winner; a non-winner must be named."""
    name = (arm or experiment.winner or "").strip().upper()
    if not name:
        raise ServiceError(
            f"experiment {experiment.id} has no winner ({experiment.status}); name the arm to apply", status=422
        )
    found = [a for a in arms if a.name == name]
    if not found:
        raise ServiceError(f"experiment {experiment.id} has no arm {name!r}", status=422)
    return found[0]


def open_targets(scope: WorkspaceScope, experiment: Experiment, *, lock: bool = False) -> list[PostTarget]:
    """The clip's targets still waiting to start, and the experiment's own not-yet-started slots."""
    session, ws = scope.session, scope.workspace_id
    own = select(ExperimentPost.post_id).where(
        ExperimentPost.experiment_id == experiment.id, ExperimentPost.workspace_id == ws
    )
    stmt = (
        select(PostTarget)
        .join(Post, Post.id == PostTarget.post_id)
        .where(
            PostTarget.workspace_id == ws,
            Post.workspace_id == ws,
            or_(Post.clip_id == experiment.clip_id, Post.id.in_(own)),
            PostTarget.state == "scheduled",
            PostTarget.claimed_by.is_(None),
            PostTarget.attempt_started_at.is_(None),
        )
        .order_by(PostTarget.due_at, PostTarget.id)
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return list(session.scalars(stmt))


def changes_for(experiment: Experiment, arm: ExperimentArm, targets: list[PostTarget]) -> list[Change]:
    kind, variant = experiment.kind, arm.variant
    out = []
    for t in targets:
        caption, title = applied_text(kind, variant, t.caption, t.title)
        options = dict(t.options or {})
        if kind == "caption_style":
            options["caption_style"] = variant["caption_style"]
        elif kind == "thumbnail":
            options.pop("cover_time_s", None)
            options.update(variant.get("options") or {})
        out.append(Change(t.id, caption, title, options, arm.clip_id if kind == "hook" else None))
    return out


def checked(app: Cliply, targets: list[PostTarget], changes: list[Change]) -> tuple[list[Change], list[str]]:
    """The changes each platform's rules accept (e.g. a caption too long for one of them), and the refused ids."""
    ok: list[Change] = []
    refused: list[str] = []
    verdicts: dict[str, bool] = {}  # most targets share their text: each distinct draft is checked once
    for t, c in zip(targets, changes, strict=True):
        key = json.dumps([t.platform, c.caption, c.title, c.options], sort_keys=True, default=str)
        if key not in verdicts:
            verdicts[key] = _accepted(app, TargetDraft(t.platform, t.account_id, c.caption, c.title, c.options))
        if verdicts[key]:
            ok.append(c)
        else:
            refused.append(t.id)
    return ok, refused


def _accepted(app: Cliply, draft: TargetDraft) -> bool:
    try:
        check_drafts([draft], app.clients)
    except CaptionRejected:
        return False
    return True


def write(
    scope: WorkspaceScope,
    experiment: Experiment,
    arm: ExperimentArm,
    changes: list[Change],
    *,
    actor: str,
) -> list[str]:
    """Apply the checked changes to the targets that are still open (re-read under lock), set the workspace
    default and record the audit entry. Returns the ids changed."""
    wanted = {c.target_id: c for c in changes}
    changed = []
    for t in open_targets(scope, experiment, lock=True):
        c = wanted.get(t.id)
        if c is None:
            continue
        t.caption, t.title, t.options, t.updated_at = c.caption, c.title, dict(c.options), utcnow()
        if c.clip_id:
            _move_post(scope, t.post_id, c.clip_id)
        changed.append(t.id)
    _set_default(scope.workspace, experiment.kind, arm.variant)
    experiment.applied_at = utcnow()
    audit.record(
        scope.session,
        scope.workspace_id,
        actor=actor,
        action="experiment_applied",
        subject=experiment.id,
        details={"experiment": experiment.id, "arm": arm.name, "variant": arm.variant.get("text"), "targets": changed},
    )
    scope.session.flush()
    return changed


def _move_post(scope: WorkspaceScope, post_id: str, clip_id: str) -> None:
    """A hook winner posts its own clip: only when none of the post's targets has started."""
    post = scope.session.get(Post, post_id)
    live = scope.session.scalars(
        select(PostTarget).where(PostTarget.post_id == post_id, PostTarget.state != "cancelled")
    )
    if post is not None and all(t.state == "scheduled" and t.attempt_started_at is None for t in live):
        post.clip_id = clip_id


def _set_default(workspace: Workspace, kind: str, variant: dict[str, Any]) -> None:
    defaults = dict(workspace.experiment_defaults or {})
    defaults[kind] = variant.get("hook_at_s") if kind == "hook" else variant.get("text")
    workspace.experiment_defaults = defaults  # a new dict: JSON columns track assignment, not mutation
    if kind == "caption_style":
        workspace.caption_style = str(variant["caption_style"])
