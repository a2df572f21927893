"""Experiments schema: an experiment on a clip, its arms (one variant each), the posts each arm was given (the
recorded, seeded assignment), the workspace's learned scoring weights (versioned) and an audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
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

VARIANT_KINDS = ("caption", "title", "hashtags", "caption_style", "thumbnail", "hook")
EXPERIMENT_STATUSES = ("running", "winner", "inconclusive", "stopped")


class Experiment(Base):
    """A test of 2–4 variants of one clip. `rule` holds the stopping rule fixed at creation; `evaluation` the last
    evaluation (arm table and decision) so lists and pages never recompute it."""

    __tablename__ = "experiments"
    __table_args__ = (
        CheckConstraint(_in("kind", VARIANT_KINDS), name="kind"),
        CheckConstraint(_in("status", EXPERIMENT_STATUSES), name="status"),
        Index("ix_experiments_workspace_status", "workspace_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    clip_id: Mapped[str] = mapped_column(String(80), index=True)  # no FK: clips are replaced by re-runs
    name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(32))  # views | engagement_rate | watch_time
    metric_age_s: Mapped[float] = mapped_column(Float)  # the metric is read at this post age
    rule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seed: Mapped[int] = mapped_column(Integer)
    auto_apply: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="running")
    winner: Mapped[str | None] = mapped_column(String(16))  # the winning arm's name
    reason: Mapped[str | None] = mapped_column(Text)
    evaluation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    evaluated_at: Mapped[datetime | None]
    applied_at: Mapped[datetime | None]
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ExperimentArm(Base):
    """One variant: `variant` is its value ({"caption": …}, {"cover_time_s": …}, {"hook_at_s": …}); a hook variant
    posts its own re-rendered clip (`clip_id`)."""

    __tablename__ = "experiment_arms"
    __table_args__ = (UniqueConstraint("experiment_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[str] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(16))  # A, B, C, D
    variant: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    clip_id: Mapped[str] = mapped_column(String(80))


class ExperimentPost(Base):
    """One slot of the recorded assignment: which arm went to which account at which time, and the post made."""

    __tablename__ = "experiment_posts"
    __table_args__ = (UniqueConstraint("experiment_id", "slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[str] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    arm_id: Mapped[int] = mapped_column(ForeignKey("experiment_arms.id", ondelete="CASCADE"), index=True)
    slot: Mapped[int] = mapped_column(Integer)
    slot_at: Mapped[datetime]
    platform: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    post_id: Mapped[str | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"), index=True)


class ScoringWeights(Base):
    """A version of a workspace's highlight-scorer weights, fitted from how its clips performed."""

    __tablename__ = "scoring_weights"
    __table_args__ = (UniqueConstraint("workspace_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    weights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    learned_from: Mapped[int] = mapped_column(Integer, default=0)  # clips the fit used
    metric: Mapped[str] = mapped_column(String(32), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # fit diagnostics (shrinkage, r, …)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Something Cliply changed on a workspace's behalf (an auto-applied winner, a scoring reset, …)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))  # "system" or the user / API key
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
