"""The home page's use case: what needs attention in a workspace (failed or waiting publishing targets and why,
accounts to re-authorise or expiring within 7 days, refused sources and why), then its recent sources and upcoming
posts. Read-only, in the workspace's scope; built on the publishing and catalog use cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, select

from cliply.media import catalog
from cliply.publishing import ledger
from cliply.publishing.accounts_service import list_accounts
from cliply.store.models import utcnow
from cliply.store.models_accounts import Account
from cliply.store.models_publishing import Post, PostTarget
from cliply.usecases import WorkspaceRef, workspace_scope

if TYPE_CHECKING:
    from cliply.wiring import Cliply

TARGET_ATTENTION = (ledger.ATTENTION_STATE, "failed", "waiting")
ACCOUNT_ATTENTION = ("reauth_required", "expired", "error", "expiring")
SOURCE_REFUSED = ("rejected", "failed")
UPCOMING_STATUSES = ("scheduled", "processing", "partial")
MAX_ROWS = 50
RECENT_SOURCES = 10
UPCOMING_POSTS = 10


@dataclass
class Home:
    targets: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    refused_sources: list[dict[str, Any]] = field(default_factory=list)
    recent_sources: list[dict[str, Any]] = field(default_factory=list)
    upcoming: list[dict[str, Any]] = field(default_factory=list)

    @property
    def attention_count(self) -> int:
        return len(self.targets) + len(self.accounts) + len(self.refused_sources)


def target_reason(t: PostTarget) -> str:
    """Why a target is failed or waiting, in words (the time it next moves is shown next to it)."""
    if t.state == "waiting":
        if t.wait_reason == "transient":
            return f"platform errors; retrying automatically (round {(t.retry_rounds or 0) + 1})"
        return f"waiting: {t.wait_reason or 'for its turn'}"
    message = (t.error_message or "").strip()
    if t.state == ledger.ATTENTION_STATE:
        return f"needs you: {message or 'check the post on the platform'}"
    kind = f" ({t.error_class})" if t.error_class else ""
    return f"failed{kind}: {message or 'no reason recorded'}"


def _targets(scope: Any) -> list[dict[str, Any]]:
    urgent = case((PostTarget.state == "waiting", 1), else_=0)
    rows = scope.session.execute(
        select(PostTarget, Post.caption, Account.handle)
        .join(Post, Post.id == PostTarget.post_id)
        .outerjoin(Account, Account.id == PostTarget.account_id)
        .where(PostTarget.workspace_id == scope.workspace_id, PostTarget.state.in_(TARGET_ATTENTION))
        .order_by(urgent, PostTarget.due_at.desc(), PostTarget.id)
        .limit(MAX_ROWS)
    ).all()
    return [
        {
            "id": t.id,
            "post_id": t.post_id,
            "platform": t.platform,
            "account": handle or f"account {t.account_id}",
            "state": t.state,
            "reason": target_reason(t),
            "next_at": t.due_at if t.state == "waiting" else None,
            "caption": t.caption or caption or "",
        }
        for t, caption, handle in rows
    ]


def _upcoming(scope: Any, now: datetime) -> list[dict[str, Any]]:
    posts = list(
        scope.session.scalars(
            select(Post)
            .where(
                Post.workspace_id == scope.workspace_id,
                Post.scheduled_at >= now,
                Post.status.in_(UPCOMING_STATUSES),
            )
            .order_by(Post.scheduled_at, Post.id)
            .limit(UPCOMING_POSTS)
        )
    )
    platforms: dict[str, list[str]] = {p.id: [] for p in posts}
    if posts:
        for post_id, platform in scope.session.execute(
            select(PostTarget.post_id, PostTarget.platform)
            .where(PostTarget.workspace_id == scope.workspace_id, PostTarget.post_id.in_(list(platforms)))
            .order_by(PostTarget.platform)
        ):
            platforms[post_id].append(platform)
    return [
        {
            "id": p.id,
            "caption": p.caption or "",
            "scheduled_at": p.scheduled_at,
            "status": p.status,
            "platforms": platforms[p.id],
        }
        for p in posts
    ]


def home(app: Cliply, ref: WorkspaceRef, now: datetime | None = None) -> Home:
    now = now or utcnow()
    with workspace_scope(app, ref, write=False) as scope:
        view = Home(targets=_targets(scope), upcoming=_upcoming(scope, now))
    view.accounts = [a for a in list_accounts(app, ref) if a["status"] in ACCOUNT_ATTENTION]
    sources = catalog.list_sources(app, ref)
    view.refused_sources = [s for s in reversed(sources) if s["status"] in SOURCE_REFUSED][:MAX_ROWS]
    view.recent_sources = list(reversed(sources))[:RECENT_SOURCES]
    return view
