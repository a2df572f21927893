"""Publishing schema: posts, their per-platform targets (the ledger state machine) and the limit ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cliply.store import models_accounts  # noqa: F401  (registers accounts, the FK target)
from cliply.store.models import Base, _in, utcnow

POST_STATUSES = ("scheduled", "processing", "posted", "partial", "failed", "cancelled")
TARGET_STATES = (
    "scheduled",
    "claimed",
    "uploading",
    "processing",
    "publishing",
    "published",
    "failed",
    "waiting",
    "unknown_outcome",
    "cancelled",
    "needs_attention",
)
# transient: a burst of platform errors outlasted the in-run retries; tried again in a later round.
WAIT_REASONS = ("quota", "rate", "transient")


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (CheckConstraint(_in("status", POST_STATUSES), name="status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    # Deferred: replace_clips deletes and re-inserts a source's clips (same ids) in one transaction.
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id", deferrable=True, initially="DEFERRED"), index=True)
    caption: Mapped[str] = mapped_column(Text, default="")
    scheduled_at: Mapped[datetime]
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"Post(id={self.id!r}, workspace_id={self.workspace_id!r}, status={self.status!r})"


class PostTarget(Base):
    __tablename__ = "post_targets"
    __table_args__ = (
        CheckConstraint(_in("state", TARGET_STATES), name="state"),
        CheckConstraint(f"wait_reason IS NULL OR {_in('wait_reason', WAIT_REASONS)}", name="wait_reason"),
        Index("ix_post_targets_platform_state_due_at", "platform", "state", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    post_id: Mapped[str] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    caption: Mapped[str] = mapped_column(Text, default="")
    title: Mapped[str] = mapped_column(Text, default="")
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="scheduled")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None]
    attempt_started_at: Mapped[datetime | None]
    error_class: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    wait_reason: Mapped[str | None] = mapped_column(String(16))
    platform_post_id: Mapped[str | None] = mapped_column(String(256))
    url: Mapped[str | None] = mapped_column(Text)
    handle: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    published_at: Mapped[datetime | None]
    # Later rounds used after transient failures, and "did it post?" lookups that failed (both reset by a retry).
    retry_rounds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reconcile_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def recovering(self) -> bool:
        """Claimed after a crash or an unknown outcome: reconcile ("did it post?") before any new create."""
        return bool((self.handle or {}).get("recovering"))

    def __repr__(self) -> str:
        return f"PostTarget(id={self.id!r}, platform={self.platform!r}, state={self.state!r})"


class LimitEvent(Base):
    """One counted use of a platform limit (a reservation). Old rows are pruned by limits.reserve."""

    __tablename__ = "limit_events"
    __table_args__ = (Index("ix_limit_events_platform_limit_key_name_at", "platform", "limit_key", "name", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(16))
    limit_key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
