"""Publishing: posts, post targets (per-platform ledger) and limit events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "posts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.String(80), nullable=False),
        sa.Column("caption", sa.Text(), nullable=False),
        sa.Column("scheduled_at", TS, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_posts"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE",
                                name="fk_posts_workspace_id_workspaces"),
        sa.ForeignKeyConstraint(["clip_id"], ["clips.id"], deferrable=True, initially="DEFERRED",
                                name="fk_posts_clip_id_clips"),
        sa.CheckConstraint(
            "status IN ('scheduled', 'processing', 'posted', 'partial', 'failed', 'cancelled')",
            name="ck_posts_status",
        ),
    )
    op.create_index("ix_posts_workspace_id", "posts", ["workspace_id"])
    op.create_index("ix_posts_clip_id", "posts", ["clip_id"])

    op.create_table(
        "post_targets",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("post_id", sa.String(40), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("caption", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("claimed_until", TS),
        sa.Column("attempt_started_at", TS),
        sa.Column("error_class", sa.String(32)),
        sa.Column("error_message", sa.Text()),
        sa.Column("wait_reason", sa.String(8)),
        sa.Column("platform_post_id", sa.String(256)),
        sa.Column("url", sa.Text()),
        sa.Column("handle", sa.JSON(), nullable=False),
        sa.Column("published_at", TS),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_post_targets"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE", name="fk_post_targets_post_id_posts"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE",
                                name="fk_post_targets_workspace_id_workspaces"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_post_targets_account_id_accounts"),
        sa.CheckConstraint(
            "state IN ('scheduled', 'claimed', 'uploading', 'processing', 'publishing', 'published', 'failed', "
            "'waiting', 'unknown_outcome', 'cancelled')",
            name="ck_post_targets_state",
        ),
        sa.CheckConstraint("wait_reason IS NULL OR wait_reason IN ('quota', 'rate')",
                           name="ck_post_targets_wait_reason"),
    )
    op.create_index("ix_post_targets_post_id", "post_targets", ["post_id"])
    op.create_index("ix_post_targets_workspace_id", "post_targets", ["workspace_id"])
    op.create_index("ix_post_targets_account_id", "post_targets", ["account_id"])
    op.create_index("ix_post_targets_platform_state_due_at", "post_targets", ["platform", "state", "due_at"])

    op.create_table(
        "limit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("limit_key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_limit_events"),
    )
    op.create_index("ix_limit_events_platform_limit_key_name_at", "limit_events",
                    ["platform", "limit_key", "name", "at"])


def downgrade() -> None:
    op.drop_table("limit_events")
    op.drop_table("post_targets")
    op.drop_table("posts")
