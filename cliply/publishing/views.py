"""The one JSON shape of accounts, posts and targets: `cliply … --json` and the REST API both print these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cliply.publishing.ledger import ATTENTION_STATE
from cliply.store.accounts import account_status
from cliply.store.models import utcnow
from cliply.store.models_accounts import Account
from cliply.store.models_publishing import Post, PostTarget


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def account_json(account: Account, now: datetime | None = None) -> dict[str, Any]:
    """Never a token or a password: only what the account is and whether it still works."""
    return {
        "id": account.id,
        "platform": account.platform,
        "handle": account.handle,
        "external_id": account.external_id,
        "status": account_status(account, now or utcnow()),
        "expires_at": _iso(account.expires_at),
        "refresh_expires_at": _iso(account.refresh_expires_at),
        "scopes": list(account.scopes or []),
        "last_error": account.last_error,
        "created_at": _iso(account.created_at),
    }


def target_json(t: PostTarget) -> dict[str, Any]:
    """Only the handles a person can use (TikTok's publish_id), never the whole handle (upload session URLs)."""
    handle = t.handle or {}
    return {
        "id": t.id,
        "platform": t.platform,
        "account_id": t.account_id,
        "state": t.state,
        "caption": t.caption,
        "title": t.title,
        "due_at": _iso(t.due_at),
        "attempts": t.attempts,
        "error_class": t.error_class,
        "error_message": t.error_message,
        "wait_reason": t.wait_reason,
        "platform_post_id": t.platform_post_id,
        "url": t.url,
        "published_at": _iso(t.published_at),
        "publish_id": handle.get("publish_id"),
        "platform_status": handle.get("platform_status") or handle.get("publish_status"),
        "retry_at": _iso(t.due_at) if t.state in ("waiting", "unknown_outcome") else None,
        "retry_rounds": t.retry_rounds or 0,
        "reconcile_failures": t.reconcile_failures or 0,
        "needs_attention": t.state == ATTENTION_STATE,
        "status_message": status_message(t),
    }


def status_message(t: PostTarget) -> str | None:
    """What a person should know about a target that is not simply scheduled or done."""
    when = f"{t.due_at:%Y-%m-%d %H:%M:%S} UTC" if t.due_at is not None else "later"
    if t.state == "waiting" and t.wait_reason == "transient":
        return f"retrying at {when} (platform errors; round {t.retry_rounds or 0})"
    if t.state == "waiting":
        return f"waiting ({t.wait_reason}) until {when}"
    if t.state == "unknown_outcome":
        return f"checking whether it posted at {when}"
    if t.state == ATTENTION_STATE:
        return f"needs attention: {t.error_message}"
    return None


def post_json(post: Post, targets: list[PostTarget] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": post.id,
        "clip_id": post.clip_id,
        "caption": post.caption,
        "status": post.status,
        "scheduled_at": _iso(post.scheduled_at),
        "timezone": post.timezone,
        "created_at": _iso(post.created_at),
    }
    if targets is not None:
        out["targets"] = [target_json(t) for t in targets]
    return out
