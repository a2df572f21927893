"""Tracked posts and their metric snapshots.

Tenant access goes through TrackedPosts (a WorkspaceScope: every query filters on the workspace). The module
functions are operator level (the refresher, the publisher hook): they work across workspaces but each row they
write carries its own post's workspace. Snapshots are only ever appended (thinning deletes old ones, nothing is
updated in place). A metric the platform does not report is stored as NULL, never 0.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from cliply.analytics import catalog
from cliply.analytics.tiers import TierPolicy, tier_for
from cliply.platforms import PLATFORMS
from cliply.platforms.models import PostMetrics
from cliply.store.models import Workspace, utcnow
from cliply.store.models_accounts import Account
from cliply.store.models_analytics import (
    METRIC_FIELDS,
    TRACK_ORIGINS,
    TRACK_STATUSES,
    MetricForecast,
    MetricSnapshot,
    TrackedPost,
)
from cliply.store.models_publishing import Post, PostTarget
from cliply.store.repo import NotFound, WorkspaceScope, _dialect_insert


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")
    return value.astimezone(UTC)


class TrackedPosts:
    """The tracked posts of one workspace."""

    def __init__(self, scope: WorkspaceScope) -> None:
        self.scope = scope
        self.session = scope.session
        self.workspace_id = scope.workspace_id

    def track(
        self,
        platform: str,
        platform_post_id: str,
        *,
        origin: str,
        published_at: datetime,
        account_id: int | None = None,
        url: str | None = None,
        target_id: str | None = None,
        clip_id: str | None = None,
        now: datetime | None = None,
        policy: TierPolicy | None = None,
    ) -> tuple[TrackedPost, bool]:
        """Start following a post (due for its first fetch at once). The same post (workspace, platform, post id)
        is always one row: tracking it again, e.g. registered by URL and then published by Cliply, merges what the
        second call knows into it. Returns (post, created)."""
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}")
        if origin not in TRACK_ORIGINS:
            raise ValueError(f"origin must be one of {', '.join(TRACK_ORIGINS)}, not {origin!r}")
        if not platform_post_id:
            raise ValueError("a tracked post needs the platform's post id")
        now = _aware(now or utcnow(), "now")
        published_at = _aware(published_at, "published_at")
        if account_id is not None:
            self._check_account(account_id, platform)
        tier = tier_for(max(now - published_at, timedelta(0)), top_decile=False, policy=policy or TierPolicy())
        values = {
            "workspace_id": self.workspace_id,
            "platform": platform,
            "platform_post_id": platform_post_id,
            "account_id": account_id,
            "target_id": target_id,
            "clip_id": clip_id,
            "url": url,
            "origin": origin,
            "published_at": published_at,
            "tracked_at": now,
            "status": "active",
            "tier": tier,
            "next_fetch_at": now,
            "consecutive_failures": 0,
            "updated_at": now,
        }
        table = cast(Table, TrackedPost.__table__)
        stmt = _dialect_insert(self.session)(table).values(**values)
        stmt = stmt.on_conflict_do_nothing(index_elements=["workspace_id", "platform", "platform_post_id"])
        created = self.session.execute(stmt.returning(table.c.id)).scalar() is not None
        post = self.session.scalars(
            select(TrackedPost)
            .where(
                TrackedPost.workspace_id == self.workspace_id,
                TrackedPost.platform == platform,
                TrackedPost.platform_post_id == platform_post_id,
            )
            .execution_options(populate_existing=True)
        ).one()
        if not created:
            known = {"account_id": account_id, "url": url, "target_id": target_id, "clip_id": clip_id}
            _merge(post, origin=origin, published_at=published_at, now=now, **known)
            self.session.flush()
        return post, created

    def _check_account(self, account_id: int, platform: str) -> None:
        account = self.session.scalars(
            select(Account).where(Account.id == account_id, Account.workspace_id == self.workspace_id)
        ).one_or_none()
        if account is None:
            raise NotFound(f"no account {account_id!r} in this workspace")
        if account.platform != platform:
            raise ValueError(f"account {account_id} is a {account.platform} account, not {platform}")

    def get(self, id: int) -> TrackedPost:
        post = self.session.scalars(
            select(TrackedPost).where(TrackedPost.id == id, TrackedPost.workspace_id == self.workspace_id)
        ).one_or_none()
        if post is None:
            raise NotFound(f"no tracked post {id!r} in this workspace")
        return post

    def find(self, platform: str, platform_post_id: str) -> TrackedPost | None:
        return self.session.scalars(
            select(TrackedPost).where(
                TrackedPost.workspace_id == self.workspace_id,
                TrackedPost.platform == platform,
                TrackedPost.platform_post_id == platform_post_id,
            )
        ).one_or_none()

    def list(
        self,
        *,
        status: str | None = None,
        platform: str | None = None,
        clip_id: str | None = None,
        account_id: int | None = None,
    ) -> list[TrackedPost]:
        if status is not None and status not in TRACK_STATUSES:
            raise ValueError(f"status must be one of {', '.join(TRACK_STATUSES)}, not {status!r}")
        stmt = select(TrackedPost).where(TrackedPost.workspace_id == self.workspace_id)
        for column, value in (
            (TrackedPost.status, status),
            (TrackedPost.platform, platform),
            (TrackedPost.clip_id, clip_id),
            (TrackedPost.account_id, account_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        return list(self.session.scalars(stmt.order_by(TrackedPost.id)))

    def remove(self, id: int) -> None:
        """Stop tracking a post; its snapshots and forecasts go with it."""
        self.get(id)
        self.session.execute(
            delete(TrackedPost).where(TrackedPost.id == id, TrackedPost.workspace_id == self.workspace_id)
        )
        self.session.expire_all()

    def snapshots(self, id: int, since: datetime | None = None) -> builtins.list[MetricSnapshot]:
        """The post's snapshots, oldest first."""
        self.get(id)
        stmt = select(MetricSnapshot).where(
            MetricSnapshot.tracked_post_id == id, MetricSnapshot.workspace_id == self.workspace_id
        )
        if since is not None:
            stmt = stmt.where(MetricSnapshot.fetched_at >= _aware(since, "since"))
        return list(self.session.scalars(stmt.order_by(MetricSnapshot.fetched_at, MetricSnapshot.id)))

    def latest(self, id: int) -> MetricSnapshot | None:
        self.get(id)
        return self.session.scalars(
            select(MetricSnapshot)
            .where(MetricSnapshot.tracked_post_id == id, MetricSnapshot.workspace_id == self.workspace_id)
            .order_by(MetricSnapshot.fetched_at.desc(), MetricSnapshot.id.desc())
            .limit(1)
        ).one_or_none()

    def forecasts(self, id: int, since: datetime | None = None) -> builtins.list[MetricForecast]:
        """The post's stored forecasts, oldest first (by when they were made, then horizon)."""
        self.get(id)
        stmt = select(MetricForecast).where(
            MetricForecast.tracked_post_id == id, MetricForecast.workspace_id == self.workspace_id
        )
        if since is not None:
            stmt = stmt.where(MetricForecast.made_at >= _aware(since, "since"))
        return list(self.session.scalars(stmt.order_by(MetricForecast.made_at, MetricForecast.horizon_h)))


def _merge(post: TrackedPost, *, origin: str, published_at: datetime, now: datetime, **known: Any) -> None:
    """Fill in what the second registration knows and the first did not; Cliply's own publish wins the origin
    and the earlier publish time wins (a URL registration only knows when it was registered)."""
    for key, value in known.items():
        if value is not None and getattr(post, key) is None:
            setattr(post, key, value)
    if origin == "published":
        post.origin = "published"
    if published_at < post.published_at:
        post.published_at = published_at
    post.updated_at = now


# --- operator level (across workspaces; every row keeps its own workspace) ---


def track_published_target(session: Session, target: PostTarget, now: datetime | None = None) -> TrackedPost | None:
    """Track a target the publisher has published. A target without its public id yet (TikTok still moderating)
    is tracked later, when ledger.record_post_id back-fills the id. None when nothing was tracked."""
    if not target.platform_post_id:
        return None
    now = now or utcnow()
    workspace = session.get(Workspace, target.workspace_id)
    if workspace is None:
        return None
    post = session.get(Post, target.post_id)
    tracked, _ = TrackedPosts(WorkspaceScope(session, workspace)).track(
        target.platform,
        target.platform_post_id,
        origin="published",
        published_at=target.published_at or now,
        account_id=target.account_id,
        url=target.url,
        target_id=target.id,
        clip_id=post.clip_id if post is not None else None,
        now=now,
    )
    return tracked


def snapshot_values(platform: str, metrics: PostMetrics) -> dict[str, Any]:
    """The metric columns of a snapshot: only what the platform reports; anything else stays None (not 0)."""
    out: dict[str, Any] = {}
    for name in METRIC_FIELDS:
        value = getattr(metrics, name)
        if value is None or not catalog.reports(platform, name):
            out[name] = None
        else:
            out[name] = float(value) if name == "watch_time_s" else int(value)
    return out


def append_snapshot(session: Session, post: TrackedPost, metrics: PostMetrics, fetched_at: datetime) -> MetricSnapshot:
    snapshot = MetricSnapshot(
        tracked_post_id=post.id,
        workspace_id=post.workspace_id,
        fetched_at=_aware(fetched_at, "fetched_at"),
        raw=dict(metrics.raw or {}),
        granularity="raw",
        **snapshot_values(post.platform, metrics),
    )
    session.add(snapshot)
    session.flush()
    return snapshot


def due_posts(
    session: Session,
    platform: str,
    now: datetime,
    *,
    day: date | None = None,
    every: bool = False,
    limit: int | None = None,
) -> list[TrackedPost]:
    """Active posts of `platform` to fetch now: those whose next_fetch_at has come (frozen ones never), or with
    every=True all active posts (a back-fill). `day`: only posts published that UTC day."""
    now = _aware(now, "now")
    stmt = select(TrackedPost).where(TrackedPost.platform == platform, TrackedPost.status == "active")
    if not every:
        stmt = stmt.where(TrackedPost.tier != "frozen", TrackedPost.next_fetch_at <= now)
    if day is not None:
        start = datetime.combine(day, time(0), tzinfo=UTC)
        stmt = stmt.where(TrackedPost.published_at >= start, TrackedPost.published_at < start + timedelta(days=1))
    stmt = stmt.order_by(TrackedPost.next_fetch_at, TrackedPost.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def posts_by_id(session: Session, ids: Sequence[int]) -> list[TrackedPost]:
    """Operator level: the given tracked posts (any workspace), for a fetch on request."""
    if not ids:
        return []
    return list(session.scalars(select(TrackedPost).where(TrackedPost.id.in_(list(ids))).order_by(TrackedPost.id)))
