"""The posts ledger: one PostTarget per (post, platform account), driven through a validated state machine.

Workers claim due targets atomically (a lease), record every attempt before calling a platform, and leave a
reconciliation marker on anything that crashed or ended with an unknown outcome, so nothing is posted twice.
Functions taking a bare Session are system-level (the publisher); tenant entry points take a WorkspaceScope.
Every function only flushes: the caller's unit of work (Database.session()) commits.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from cliply.analytics.tracking import track_published_target
from cliply.platforms import PLATFORMS
from cliply.platforms.errors import ErrorClass
from cliply.platforms.models import PublishResult
from cliply.store.db import Database
from cliply.store.models import Clip, utcnow
from cliply.store.models_accounts import Account
from cliply.store.models_publishing import WAIT_REASONS, Post, PostTarget
from cliply.store.repo import NotFound, WorkspaceScope

DEFAULT_LEASE_S = 300
# States a worker holds under a lease; an expired lease means the worker died (crash recovery).
ACTIVE_STATES = ("claimed", "uploading", "processing", "publishing", "unknown_outcome")
READY_STATES = ("scheduled", "waiting")
TERMINAL_STATES = ("published", "failed", "cancelled")
# Never claimed again until a person retries it: its "did it post?" lookup kept failing, so creating again could
# duplicate and giving up silently could lose the post.
ATTENTION_STATE = "needs_attention"
IN_FLIGHT = ("claimed", "uploading", "processing", "publishing")
LATER_ID_HANDLES = ("publish_id", "container_id", "video_id")

# to-state -> states it may be entered from (claims are handled by claim_due's own predicate).
TRANSITIONS: dict[str, frozenset[str]] = {
    "uploading": frozenset({"claimed"}),
    "processing": frozenset({"uploading", "processing"}),
    "publishing": frozenset({"uploading", "processing", "publishing"}),
    "published": frozenset({*IN_FLIGHT, "unknown_outcome"}),
    "failed": frozenset({*IN_FLIGHT, "unknown_outcome"}),
    "waiting": frozenset(IN_FLIGHT),
    "unknown_outcome": frozenset(IN_FLIGHT),
    ATTENTION_STATE: frozenset({*IN_FLIGHT, "unknown_outcome"}),
    "cancelled": frozenset({"scheduled", "waiting", "claimed"}),  # claimed only while no attempt has started
    "scheduled": frozenset({"failed", ATTENTION_STATE, "claimed"}),  # retry_target; release of an unstarted claim
}


class InvalidTransition(ValueError):
    """The target is not in a state that allows this step (e.g. mark_attempt on a cancelled target)."""


class LeaseLost(InvalidTransition):
    """The caller's claim expired or another worker now holds the target: stop, do not call the platform."""


@dataclass(frozen=True)
class TargetSpec:
    platform: str
    account_id: int
    caption: str | None = None  # None: the post's caption
    title: str = ""
    options: dict[str, Any] = field(default_factory=dict)


def new_post_id() -> str:
    return f"post_{secrets.token_hex(12)}"


def new_target_id() -> str:
    return f"tgt_{secrets.token_hex(12)}"


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")
    return value


# --- creating and managing posts (tenant-scoped) ---


def create_post(
    scope: WorkspaceScope,
    *,
    clip_id: str,
    targets: Sequence[TargetSpec],
    scheduled_at: datetime,
    timezone: str,
    caption: str = "",
) -> Post:
    """A post of one clip to one or more connected accounts, all checked to belong to the scope's workspace.
    Raises NotFound (clip/account not in this workspace) or ValueError before anything is written."""
    _aware(scheduled_at, "scheduled_at")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {timezone!r}") from exc
    if not targets:
        raise ValueError("a post needs at least one target")
    session, ws = scope.session, scope.workspace_id
    if session.scalars(select(Clip.id).where(Clip.id == clip_id, Clip.workspace_id == ws)).one_or_none() is None:
        raise NotFound(f"no clip {clip_id!r} in this workspace")
    seen: set[tuple[str, int]] = set()
    for spec in targets:
        if spec.platform not in PLATFORMS:
            raise ValueError(f"unknown platform {spec.platform!r}")
        if (spec.platform, spec.account_id) in seen:
            raise ValueError(f"account {spec.account_id} is targeted twice on {spec.platform}")
        seen.add((spec.platform, spec.account_id))
        account = session.scalars(
            select(Account).where(Account.id == spec.account_id, Account.workspace_id == ws)
        ).one_or_none()
        if account is None:
            raise NotFound(f"no account {spec.account_id!r} in this workspace")
        if account.platform != spec.platform:
            raise ValueError(f"account {spec.account_id} is a {account.platform} account, not {spec.platform}")
    post = Post(
        id=new_post_id(),
        workspace_id=ws,
        clip_id=clip_id,
        caption=caption,
        scheduled_at=scheduled_at,
        timezone=timezone,
        status="scheduled",
    )
    session.add(post)
    session.flush()
    session.add_all(
        PostTarget(
            id=new_target_id(),
            post_id=post.id,
            workspace_id=ws,
            platform=spec.platform,
            account_id=spec.account_id,
            caption=caption if spec.caption is None else spec.caption,
            title=spec.title,
            options=dict(spec.options),
            due_at=scheduled_at,
            state="scheduled",
            attempts=0,
            handle={},
        )
        for spec in targets
    )
    session.flush()
    return post


def get_post(scope: WorkspaceScope, post_id: str) -> Post | None:
    return scope.session.scalars(
        select(Post).where(Post.id == post_id, Post.workspace_id == scope.workspace_id)
    ).one_or_none()


def list_targets(scope: WorkspaceScope, post_id: str) -> list[PostTarget]:
    return list(
        scope.session.scalars(
            select(PostTarget)
            .where(PostTarget.post_id == post_id, PostTarget.workspace_id == scope.workspace_id)
            .order_by(PostTarget.platform, PostTarget.id)
        )
    )


def cancel_post(scope: WorkspaceScope, post_id: str, *, now: datetime | None = None) -> Post:
    """Cancel every target that has not started an attempt; started/finished ones are left as they are."""
    session = scope.session
    post = session.scalars(
        select(Post).where(Post.id == post_id, Post.workspace_id == scope.workspace_id).with_for_update()
    ).one_or_none()
    if post is None:
        raise NotFound(f"no post {post_id!r} in this workspace")
    now = now or utcnow()
    targets = session.scalars(
        select(PostTarget)
        .where(PostTarget.post_id == post_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for target in targets:
        if target.state in TRANSITIONS["cancelled"] and target.attempt_started_at is None:
            _clear_lease(target)
            target.state = "cancelled"
            target.updated_at = now
    session.flush()
    refresh_aggregate(session, post_id)
    return post


def retry_target(scope: WorkspaceScope, target_id: str, *, now: datetime | None = None) -> PostTarget:
    """A failed target, or one waiting for a person, becomes due now with its retry rounds and failed lookups
    counted afresh."""
    session = scope.session
    target = session.scalars(
        select(PostTarget)
        .where(PostTarget.id == target_id, PostTarget.workspace_id == scope.workspace_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if target is None:
        raise NotFound(f"no target {target_id!r} in this workspace")
    if target.state not in ("failed", ATTENTION_STATE):
        raise InvalidTransition(f"only failed targets can be retried; {target_id} is {target.state}")
    now = now or utcnow()
    target.state = "scheduled"
    target.due_at = now
    target.error_class = target.error_message = target.wait_reason = None
    target.retry_rounds = target.reconcile_failures = 0
    # attempt_started_at stays: an earlier attempt may have reached the platform, so the next claim reconciles first.
    target.updated_at = now
    session.flush()
    refresh_aggregate(session, target.post_id)
    return target


# --- claiming (system-level: the publisher) ---


def _claimable(now: datetime) -> Any:
    return and_(
        PostTarget.due_at <= now,
        or_(
            PostTarget.state.in_(READY_STATES),
            and_(
                PostTarget.state.in_(ACTIVE_STATES),
                or_(PostTarget.claimed_until.is_(None), PostTarget.claimed_until <= now),
            ),
        ),
    )


def claim_due(
    session: Session,
    platform: str,
    *,
    now: datetime,
    limit: int,
    worker_id: str,
    lease_s: int = DEFAULT_LEASE_S,
    exclude: Collection[str] = (),
) -> list[PostTarget]:
    """Atomically lease up to `limit` due targets of `platform` (oldest due first) to `worker_id`.

    Includes targets whose lease expired mid-attempt or that ended in unknown_outcome: those come back with
    `recovering` set (handle["recovering"]) and must be reconciled with the platform before any new create.
    PostgreSQL: FOR UPDATE SKIP LOCKED lets claimers run side by side; SQLite: BEGIN IMMEDIATE serialises them.
    Commit promptly: the lease is only visible to other workers once committed. `exclude`: targets this worker
    already handled and does not want back yet (e.g. an unknown outcome it just failed to reconcile)."""
    _aware(now, "now")
    if limit <= 0:
        return []
    query = select(PostTarget.id).where(PostTarget.platform == platform, _claimable(now))
    if exclude:
        query = query.where(PostTarget.id.not_in(list(exclude)))
    ids = list(
        session.scalars(query.order_by(PostTarget.due_at, PostTarget.id).limit(limit).with_for_update(skip_locked=True))
    )
    if not ids:
        return []
    targets = list(
        session.scalars(
            select(PostTarget)
            .where(PostTarget.id.in_(ids))
            .execution_options(populate_existing=True)
            .order_by(PostTarget.due_at, PostTarget.id)
        )
    )
    until = now + timedelta(seconds=lease_s)
    for target in targets:
        handle = dict(target.handle or {})
        # An attempt that started and never finished may have posted: reconcile before creating again.
        if target.attempt_started_at is not None:
            handle["recovering"] = True
        else:
            handle.pop("recovering", None)
        target.handle = handle
        target.state = "claimed"
        target.claimed_by = worker_id
        target.claimed_until = until
        target.updated_at = now
    session.flush()
    return targets


def due_counts(session: Session, now: datetime) -> dict[str, int]:
    """System-level: claimable targets per platform (for the sensor deciding which partitions to run)."""
    rows = session.execute(
        select(PostTarget.platform, func.count()).where(_claimable(now)).group_by(PostTarget.platform)
    )
    return {platform: int(n) for platform, n in rows}


# --- transitions ---


def _load(session: Session, target_id: str) -> PostTarget:
    target = session.scalars(
        select(PostTarget).where(PostTarget.id == target_id).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()
    if target is None:
        raise NotFound(f"no target {target_id!r}")
    return target


def _check(target: PostTarget, to: str) -> None:
    if target.state not in TRANSITIONS[to]:
        raise InvalidTransition(f"target {target.id}: {target.state} -> {to} is not allowed")


def _clear_lease(target: PostTarget) -> None:
    target.claimed_by = None
    target.claimed_until = None


def _without_recovering(target: PostTarget) -> None:
    if (target.handle or {}).get("recovering"):
        target.handle = {k: v for k, v in target.handle.items() if k != "recovering"}


def mark_attempt(
    session: Session, target_id: str, worker_id: str, *, now: datetime | None = None, lease_s: int = DEFAULT_LEASE_S
) -> int:
    """claimed -> uploading, attempts += 1; returns the attempt number. The caller's transaction MUST commit before
    any non-idempotent platform call (use start_attempt() for a self-committing version)."""
    now = now or utcnow()
    target = _load(session, target_id)
    _check(target, "uploading")
    if target.claimed_by != worker_id or (target.claimed_until is not None and target.claimed_until <= now):
        raise LeaseLost(f"target {target_id} is no longer leased to {worker_id}")
    target.state = "uploading"
    target.attempt_started_at = now
    target.attempts = (target.attempts or 0) + 1
    target.claimed_until = now + timedelta(seconds=lease_s)
    target.updated_at = now
    _without_recovering(target)
    session.flush()
    refresh_aggregate(session, target.post_id)  # the post shows "processing" while this attempt runs
    return target.attempts


def start_attempt(
    db: Database, target_id: str, worker_id: str, *, now: datetime | None = None, lease_s: int = DEFAULT_LEASE_S
) -> int:
    """mark_attempt in its own committed transaction: once this returns, the attempt is durable."""
    with db.session() as session:
        return mark_attempt(session, target_id, worker_id, now=now, lease_s=lease_s)


def advance(session: Session, target_id: str, state: str, *, now: datetime | None = None) -> PostTarget:
    """uploading -> processing -> publishing (progress within one attempt)."""
    if state not in ("processing", "publishing"):
        raise ValueError(f"advance() moves to processing or publishing, not {state!r}")
    target = _load(session, target_id)
    _check(target, state)
    target.state = state
    target.updated_at = now or utcnow()
    session.flush()
    return target


def heartbeat(
    session: Session, target_id: str, worker_id: str, *, now: datetime | None = None, lease_s: int = DEFAULT_LEASE_S
) -> None:
    """Extend the lease during a long upload so the target is not reclaimed as crashed."""
    now = now or utcnow()
    result = session.execute(
        update(PostTarget)
        .where(
            PostTarget.id == target_id,
            PostTarget.claimed_by == worker_id,
            PostTarget.state.in_(IN_FLIGHT),
            PostTarget.claimed_until > now,
        )
        .values(claimed_until=now + timedelta(seconds=lease_s), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(f"target {target_id} is no longer leased to {worker_id}")


def release(session: Session, target_id: str, *, now: datetime | None = None) -> PostTarget:
    """Give back a claim without attempting (e.g. the platform is switched off): due again at once."""
    target = _load(session, target_id)
    if target.state != "claimed":
        raise InvalidTransition(f"target {target_id}: only a claimed target can be released, not {target.state}")
    # A recovering claim goes back to unknown_outcome so the next claimer still reconciles first.
    target.state = "unknown_outcome" if target.attempt_started_at is not None else "scheduled"
    _clear_lease(target)
    target.updated_at = now or utcnow()
    session.flush()
    return target


def record_handle(session: Session, target_id: str, **handle: Any) -> PostTarget:
    """Merge reconciliation handles (publish_id, session_uri, rkey…) into the target."""
    target = _load(session, target_id)
    if target.state not in ACTIVE_STATES:
        raise InvalidTransition(f"target {target_id}: cannot record handles while {target.state}")
    target.handle = {**(target.handle or {}), **handle}  # new dict: JSON columns do not track in-place edits
    target.updated_at = utcnow()
    session.flush()
    return target


def mark_published(
    session: Session, target_id: str, result: PublishResult, *, now: datetime | None = None
) -> PostTarget:
    now = now or utcnow()
    target = _load(session, target_id)
    _check(target, "published")
    target.state = "published"
    target.platform_post_id = result.post_id
    target.url = result.url or None
    target.published_at = now
    target.error_class = target.error_message = target.wait_reason = None
    _clear_lease(target)
    _without_recovering(target)
    # The handle the public id can be asked for with (TikTok's publish_id) and the platform's own status word.
    later = {k: result.raw[k] for k in LATER_ID_HANDLES if result.raw.get(k)}
    status = {"platform_status": str(result.raw.get("status") or result.status)}
    target.handle = {**(target.handle or {}), **later, **status}
    if result.status != "published":
        # Published but not final (e.g. TikTok moderating): asked again for the public id later.
        target.handle = {**target.handle, "publish_status": result.status}
    target.updated_at = now
    session.flush()
    refresh_aggregate(session, target.post_id)
    track_published_target(session, target, now)  # metrics follow every published post (none yet: no public id)
    return target


def mark_waiting(
    session: Session,
    target_id: str,
    *,
    reason: str,
    until: datetime,
    message: str = "",
    now: datetime | None = None,
    keep_attempt: bool = False,
) -> PostTarget:
    """Deferred by a quota or rate limit, or (reason "transient") to a later round after a burst of platform
    errors, which uses up one of the target's retry rounds: due again at `until`. Not a failed attempt."""
    if reason not in WAIT_REASONS:
        raise ValueError(f"wait reason must be one of {WAIT_REASONS}, not {reason!r}")
    _aware(until, "until")
    target = _load(session, target_id)
    _check(target, "waiting")
    target.state = "waiting"
    target.wait_reason = reason
    if reason == "transient":
        target.retry_rounds = (target.retry_rounds or 0) + 1
    target.due_at = until
    target.error_message = message or None
    if not keep_attempt:  # the platform refused the call, so nothing can have been posted
        target.attempt_started_at = None
    _clear_lease(target)
    _without_recovering(target)
    target.updated_at = now or utcnow()
    session.flush()
    refresh_aggregate(session, target.post_id)
    return target


def mark_failed(
    session: Session, target_id: str, *, error_class: ErrorClass | str, message: str, now: datetime | None = None
) -> PostTarget:
    target = _load(session, target_id)
    _check(target, "failed")
    target.state = "failed"
    target.error_class = ErrorClass(error_class).value
    target.error_message = message
    target.wait_reason = None
    # attempt_started_at is kept: a retry must ask the platform "did it post?" before creating again.
    _clear_lease(target)
    _without_recovering(target)
    target.updated_at = now or utcnow()
    session.flush()
    refresh_aggregate(session, target.post_id)
    return target


def mark_unknown(
    session: Session,
    target_id: str,
    message: str,
    *,
    now: datetime | None = None,
    retry_at: datetime | None = None,
    lookup_failed: bool = False,
) -> PostTarget:
    """The create may or may not have happened. The lease is dropped, so a later tick reclaims the target as
    recovering and reconciles before trying again: from `retry_at` on (None: at once). `lookup_failed` counts a
    "did it post?" lookup that could not answer."""
    target = _load(session, target_id)
    _check(target, "unknown_outcome")
    target.state = "unknown_outcome"
    if retry_at is not None:
        target.due_at = _aware(retry_at, "retry_at")
    if lookup_failed:
        target.reconcile_failures = (target.reconcile_failures or 0) + 1
    target.error_class = ErrorClass.UNKNOWN_OUTCOME.value
    target.error_message = message
    if target.attempt_started_at is None:  # keep the marker that forces reconciliation
        target.attempt_started_at = now or utcnow()
    _clear_lease(target)
    target.updated_at = now or utcnow()
    session.flush()
    refresh_aggregate(session, target.post_id)
    return target


def mark_needs_attention(session: Session, target_id: str, message: str, *, now: datetime | None = None) -> PostTarget:
    """Stop reconciling: a person has to look (did it post?) and retry explicitly. The attempt marker stays, so the
    retry reconciles before it creates anything."""
    target = _load(session, target_id)
    _check(target, ATTENTION_STATE)
    target.state = ATTENTION_STATE
    target.error_class = ErrorClass.UNKNOWN_OUTCOME.value
    target.error_message = message
    target.wait_reason = None
    if target.attempt_started_at is None:
        target.attempt_started_at = now or utcnow()
    _clear_lease(target)
    target.updated_at = now or utcnow()
    session.flush()
    refresh_aggregate(session, target.post_id)
    return target


# --- platform ids known later (system-level) ---


def owned_post_ids(
    session: Session, platform: str, account_id: int, *, except_target: str, limit: int = 1000
) -> frozenset[str]:
    """Platform post ids other targets of this account already own: reconciliation must never hand one of them to a
    second target (two posts with the same caption on one account would otherwise both match the first)."""
    rows = session.scalars(
        select(PostTarget.platform_post_id)
        .where(
            PostTarget.platform == platform,
            PostTarget.account_id == account_id,
            PostTarget.id != except_target,
            PostTarget.platform_post_id.is_not(None),
            PostTarget.platform_post_id != "",
        )
        .order_by(PostTarget.published_at.desc())
        .limit(limit)
    )
    return frozenset(str(r) for r in rows)


def awaiting_post_id(session: Session, platform: str | None, *, since: datetime, limit: int) -> list[PostTarget]:
    """Published targets (of `platform`, None = any) whose platform had not assigned the public id yet (e.g. TikTok
    still moderating)."""
    # Private posts also lack a public id but never get one: only "processing" ones are asked about (in SQL, so a
    # pile of private posts is not loaded on every run).
    query = select(PostTarget).where(
        PostTarget.state == "published",
        PostTarget.published_at >= since,
        or_(PostTarget.platform_post_id.is_(None), PostTarget.platform_post_id == ""),
        PostTarget.handle["publish_status"].as_string() == "processing",
    )
    if platform is not None:
        query = query.where(PostTarget.platform == platform)
    return list(session.scalars(query.order_by(PostTarget.published_at).limit(limit)))


def record_post_id(session: Session, target_id: str, result: PublishResult, *, now: datetime | None = None) -> bool:
    """Back-fill the public id of a published target; False when it already has one (nothing changed)."""
    target = _load(session, target_id)
    if target.state != "published" or target.platform_post_id or not result.post_id:
        return False
    target.platform_post_id = result.post_id
    target.url = result.url or target.url
    target.handle = {k: v for k, v in (target.handle or {}).items() if k != "publish_status"}
    target.updated_at = now or utcnow()
    session.flush()
    track_published_target(session, target, target.updated_at)  # tracked now that the public id is known
    return True


# --- aggregate ---


def aggregate_status(states: Sequence[str]) -> str:
    """A post's status from its targets' states."""
    live = [s for s in states if s != "cancelled"]
    if not live:
        return "cancelled"
    # A target waiting for a person counts as failed until someone retries it.
    states = ["failed" if s == ATTENTION_STATE else s for s in states]
    if all(s in TERMINAL_STATES for s in states):
        if all(s == "published" for s in states):
            return "posted"
        return "partial" if "published" in states else "failed"
    if all(s in (*READY_STATES, "cancelled") for s in states):
        return "scheduled"
    return "processing"


def refresh_aggregate(session: Session, post_id: str) -> str:
    # Lock the post first: targets of one post finish in different transactions, and the last to commit must see
    # the others' final states (READ COMMITTED re-reads them once the lock is granted).
    post = session.scalars(
        select(Post).where(Post.id == post_id).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()
    if post is None:
        raise NotFound(f"no post {post_id!r}")
    states = list(session.scalars(select(PostTarget.state).where(PostTarget.post_id == post_id)))
    status = aggregate_status(states)
    if post.status != status:
        post.status = status
        post.updated_at = utcnow()
        session.flush()
    return status
