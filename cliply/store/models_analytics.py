"""Analytics schema: tracked posts (published by Cliply or registered by URL), their metric snapshots (an
append-only time series, thinned with age) and the forecasts made from them (kept to measure their error)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cliply.store import models_accounts, models_publishing  # noqa: F401  (register the FK targets)
from cliply.store.models import Base, _in, utcnow

TIERS = ("ultra_hot", "hot", "warm", "cold", "frozen")
TRACK_ORIGINS = ("published", "url")
TRACK_STATUSES = ("active", "gone")
GRANULARITIES = ("raw", "hourly", "daily")
# The counters every snapshot may hold; None = the platform does not report it (never 0).
METRIC_FIELDS = ("views", "likes", "comments", "shares", "saves", "reach", "impressions", "watch_time_s")

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity for the big table.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class TrackedPost(Base):
    """One post on one platform whose metrics Cliply follows. Unique per workspace, platform and platform id."""

    __tablename__ = "tracked_posts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "platform", "platform_post_id"),
        CheckConstraint(_in("origin", TRACK_ORIGINS), name="origin"),
        CheckConstraint(_in("status", TRACK_STATUSES), name="status"),
        CheckConstraint(_in("tier", TIERS), name="tier"),
        Index("ix_tracked_posts_platform_status_next_fetch_at", "platform", "status", "next_fetch_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    platform_post_id: Mapped[str] = mapped_column(String(256))
    # The connected account the metrics are read with (None: a YouTube public video read with the API key).
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    target_id: Mapped[str | None] = mapped_column(ForeignKey("post_targets.id", ondelete="SET NULL"), index=True)
    clip_id: Mapped[str | None] = mapped_column(String(80), index=True)  # no FK: clips are replaced by re-runs
    url: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16))
    published_at: Mapped[datetime]  # when the post went out (registration time when the platform does not say)
    tracked_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="active")
    tier: Mapped[str] = mapped_column(String(16), default="ultra_hot")
    next_fetch_at: Mapped[datetime | None]
    last_fetched_at: Mapped[datetime | None]  # the last successful fetch
    last_attempt_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error_class: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    gone_at: Mapped[datetime | None]
    velocity: Mapped[float | None] = mapped_column(Float)  # views per hour over the last window (tier rule)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"TrackedPost(id={self.id!r}, platform={self.platform!r}, tier={self.tier!r}, status={self.status!r})"


class MetricSnapshot(Base):
    """The counters of one tracked post as fetched at one instant. Appended, never updated (thinning deletes)."""

    __tablename__ = "metric_snapshots"
    __table_args__ = (
        CheckConstraint(_in("granularity", GRANULARITIES), name="granularity"),
        Index("ix_metric_snapshots_tracked_post_id_fetched_at", "tracked_post_id", "fetched_at"),
        Index("ix_metric_snapshots_workspace_id_fetched_at", "workspace_id", "fetched_at"),
        # Thinning reads only the rows that crossed a cut since its last run.
        Index("ix_metric_snapshots_granularity_fetched_at", "granularity", "fetched_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tracked_post_id: Mapped[int] = mapped_column(ForeignKey("tracked_posts.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    fetched_at: Mapped[datetime]
    views: Mapped[int | None] = mapped_column(BigInteger)
    likes: Mapped[int | None] = mapped_column(BigInteger)
    comments: Mapped[int | None] = mapped_column(BigInteger)
    shares: Mapped[int | None] = mapped_column(BigInteger)
    saves: Mapped[int | None] = mapped_column(BigInteger)
    reach: Mapped[int | None] = mapped_column(BigInteger)
    impressions: Mapped[int | None] = mapped_column(BigInteger)
    watch_time_s: Mapped[float | None] = mapped_column(Float)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    granularity: Mapped[str] = mapped_column(String(8), default="raw")


class MetricForecast(Base):
    """A forecast of a post's views `horizon_h` hours after `made_at`; `actual` is filled in once a snapshot at
    or after `target_at` exists, so the error of every model is measured on real history."""

    __tablename__ = "metric_forecasts"
    __table_args__ = (
        UniqueConstraint("tracked_post_id", "made_at", "horizon_h"),
        Index("ix_metric_forecasts_workspace_id_platform_target_at", "workspace_id", "platform", "target_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tracked_post_id: Mapped[int] = mapped_column(ForeignKey("tracked_posts.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(32))
    made_at: Mapped[datetime]
    horizon_h: Mapped[int] = mapped_column(Integer)
    target_at: Mapped[datetime]
    predicted: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    actual: Mapped[float | None] = mapped_column(Float)
