"""Analytics: tracked posts, metric snapshots and forecasts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
COUNTERS = ("views", "likes", "comments", "shares", "saves", "reach", "impressions")


def _tracked_posts() -> None:
    op.create_table(
        "tracked_posts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("platform_post_id", sa.String(256), nullable=False),
        sa.Column("account_id", sa.Integer()),
        sa.Column("target_id", sa.String(40)),
        sa.Column("clip_id", sa.String(80)),
        sa.Column("url", sa.Text()),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("published_at", TS, nullable=False),
        sa.Column("tracked_at", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("next_fetch_at", TS),
        sa.Column("last_fetched_at", TS),
        sa.Column("last_attempt_at", TS),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_error_class", sa.String(32)),
        sa.Column("last_error", sa.Text()),
        sa.Column("gone_at", TS),
        sa.Column("velocity", sa.Float()),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tracked_posts"),
        sa.UniqueConstraint(
            "workspace_id", "platform", "platform_post_id", name="uq_tracked_posts_workspace_id_platform_platform_post_id"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], ondelete="CASCADE", name="fk_tracked_posts_workspace_id_workspaces"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], ondelete="SET NULL", name="fk_tracked_posts_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["post_targets.id"], ondelete="SET NULL", name="fk_tracked_posts_target_id_post_targets"
        ),
        sa.CheckConstraint("origin IN ('published', 'url')", name="ck_tracked_posts_origin"),
        sa.CheckConstraint("status IN ('active', 'gone')", name="ck_tracked_posts_status"),
        sa.CheckConstraint("tier IN ('ultra_hot', 'hot', 'warm', 'cold', 'frozen')", name="ck_tracked_posts_tier"),
    )
    for column in ("workspace_id", "account_id", "target_id", "clip_id"):
        op.create_index(f"ix_tracked_posts_{column}", "tracked_posts", [column])
    op.create_index(
        "ix_tracked_posts_platform_status_next_fetch_at", "tracked_posts", ["platform", "status", "next_fetch_at"]
    )


def _metric_snapshots() -> None:
    op.create_table(
        "metric_snapshots",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tracked_post_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("fetched_at", TS, nullable=False),
        *(sa.Column(name, sa.BigInteger()) for name in COUNTERS),
        sa.Column("watch_time_s", sa.Float()),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("granularity", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_metric_snapshots"),
        sa.ForeignKeyConstraint(
            ["tracked_post_id"],
            ["tracked_posts.id"],
            ondelete="CASCADE",
            name="fk_metric_snapshots_tracked_post_id_tracked_posts",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], ondelete="CASCADE", name="fk_metric_snapshots_workspace_id_workspaces"
        ),
        sa.CheckConstraint("granularity IN ('raw', 'hourly', 'daily')", name="ck_metric_snapshots_granularity"),
    )
    op.create_index(
        "ix_metric_snapshots_tracked_post_id_fetched_at", "metric_snapshots", ["tracked_post_id", "fetched_at"]
    )
    op.create_index("ix_metric_snapshots_workspace_id_fetched_at", "metric_snapshots", ["workspace_id", "fetched_at"])
    op.create_index("ix_metric_snapshots_granularity_fetched_at", "metric_snapshots", ["granularity", "fetched_at"])


def _metric_forecasts() -> None:
    op.create_table(
        "metric_forecasts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tracked_post_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("model", sa.String(32), nullable=False),
        sa.Column("made_at", TS, nullable=False),
        sa.Column("horizon_h", sa.Integer(), nullable=False),
        sa.Column("target_at", TS, nullable=False),
        sa.Column("predicted", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.Column("actual", sa.Float()),
        sa.PrimaryKeyConstraint("id", name="pk_metric_forecasts"),
        sa.UniqueConstraint(
            "tracked_post_id", "made_at", "horizon_h", name="uq_metric_forecasts_tracked_post_id_made_at_horizon_h"
        ),
        sa.ForeignKeyConstraint(
            ["tracked_post_id"],
            ["tracked_posts.id"],
            ondelete="CASCADE",
            name="fk_metric_forecasts_tracked_post_id_tracked_posts",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], ondelete="CASCADE", name="fk_metric_forecasts_workspace_id_workspaces"
        ),
    )
    op.create_index("ix_metric_forecasts_tracked_post_id", "metric_forecasts", ["tracked_post_id"])
    op.create_index(
        "ix_metric_forecasts_workspace_id_platform_target_at",
        "metric_forecasts",
        ["workspace_id", "platform", "target_at"],
    )


def upgrade() -> None:
    _tracked_posts()
    _metric_snapshots()
    _metric_forecasts()


def downgrade() -> None:
    op.drop_table("metric_forecasts")
    op.drop_table("metric_snapshots")
    op.drop_table("tracked_posts")
