"""Reading a workspace's posts for the posts list and the calendar: filtered by status, platform, account and a
time range, each with its clip (rank and source name) and its targets (platform, account handle, state and why a
target failed or waits). Read-only and workspace-scoped: every table is filtered by the workspace, so another
workspace's account id, clip or post matches nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select

from cliply.publishing import ledger
from cliply.publishing.views import target_json
from cliply.store.models import Clip, Source
from cliply.store.models_accounts import Account
from cliply.store.models_publishing import Post, PostTarget
from cliply.usecases import WorkspaceRef, workspace_scope

if TYPE_CHECKING:
    from cliply.wiring import Cliply

MAX_POSTS = 500


@dataclass(frozen=True)
class PostFilter:
    status: str | None = None
    platform: str | None = None
    account_id: int | None = None
    start: datetime | None = None  # scheduled at or after (UTC)
    end: datetime | None = None  # scheduled before (UTC)


@dataclass
class Listing:
    posts: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False  # more posts matched than MAX_POSTS


def target_reason(t: PostTarget) -> str | None:
    """Why a target failed, waits or needs the person, in words; None for the other states."""
    if t.state == "waiting":
        if t.wait_reason == "transient":
            return f"platform errors; retrying automatically (round {(t.retry_rounds or 0) + 1})"
        return f"waiting for the platform's {t.wait_reason} limit" if t.wait_reason else "waiting for its turn"
    if t.state == "unknown_outcome":
        return "checking with the platform whether it was posted"
    message = (t.error_message or "").strip()
    if t.state == ledger.ATTENTION_STATE:
        return f"needs you: {message or 'check the post on the platform'}"
    if t.state == "failed":
        kind = f" ({t.error_class})" if t.error_class else ""
        return f"failed{kind}: {message or 'no reason recorded'}"
    return None


def list_posts(app: Cliply, ref: WorkspaceRef, wanted: PostFilter, *, newest_first: bool = True) -> Listing:
    """The workspace's posts matching `wanted` (at most MAX_POSTS), each with its clip and targets."""
    with workspace_scope(app, ref, write=False) as scope:
        ws = scope.workspace_id
        stmt = select(Post).where(Post.workspace_id == ws)
        if wanted.status:
            stmt = stmt.where(Post.status == wanted.status)
        if wanted.platform or wanted.account_id is not None:
            target = select(PostTarget.id).where(PostTarget.post_id == Post.id, PostTarget.workspace_id == ws)
            if wanted.platform:
                target = target.where(PostTarget.platform == wanted.platform)
            if wanted.account_id is not None:
                target = target.where(PostTarget.account_id == wanted.account_id)
            stmt = stmt.where(exists(target))
        if wanted.start is not None:
            stmt = stmt.where(Post.scheduled_at >= wanted.start)
        if wanted.end is not None:
            stmt = stmt.where(Post.scheduled_at < wanted.end)
        order = (Post.scheduled_at.desc(), Post.id) if newest_first else (Post.scheduled_at, Post.id)
        posts = list(scope.session.scalars(stmt.order_by(*order).limit(MAX_POSTS + 1)))
        truncated = len(posts) > MAX_POSTS
        posts = posts[:MAX_POSTS]
        ids = [p.id for p in posts]
        targets: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        clips: dict[str, tuple[int | None, str]] = {}
        if ids:
            rows = scope.session.execute(
                select(PostTarget, Account.handle)
                .outerjoin(Account, (Account.id == PostTarget.account_id) & (Account.workspace_id == ws))
                .where(PostTarget.workspace_id == ws, PostTarget.post_id.in_(ids))
                .order_by(PostTarget.platform, PostTarget.id)
            ).all()
            for t, handle in rows:
                targets[t.post_id].append(
                    {
                        **target_json(t),
                        "account": handle or f"account {t.account_id}",
                        "reason": target_reason(t),
                        "next_at": t.due_at if t.state in ("waiting", "unknown_outcome") else None,
                    }
                )
            clip_ids = sorted({p.clip_id for p in posts})
            for clip_id, clip_rank, name in scope.session.execute(
                select(Clip.id, Clip.rank, Source.original_name)
                .join(Source, Source.id == Clip.source_id)
                .where(Clip.workspace_id == ws, Clip.id.in_(clip_ids))
            ):
                clips[clip_id] = (clip_rank, name or "")
        out = []
        for p in posts:
            rank, source_name = clips.get(p.clip_id, (None, ""))
            out.append(
                {
                    "id": p.id,
                    "clip_id": p.clip_id,
                    "clip_rank": rank,
                    "source_name": source_name,
                    "caption": p.caption or "",
                    "status": p.status,
                    "scheduled_at": p.scheduled_at,
                    "timezone": p.timezone,
                    "targets": targets[p.id],
                    "platforms": sorted({t["platform"] for t in targets[p.id]}),
                }
            )
        return Listing(out, truncated)


def account_in_workspace(app: Cliply, ref: WorkspaceRef, account_id: int) -> bool:
    with workspace_scope(app, ref, write=False) as scope:
        found = scope.session.scalar(
            select(Account.id).where(Account.id == account_id, Account.workspace_id == scope.workspace_id)
        )
        return found is not None
