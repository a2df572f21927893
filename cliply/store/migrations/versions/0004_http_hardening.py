"""HTTP hardening: OAuth flows bound to a browser or confirmed by the user, and single-use upload URLs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "oauth_guards",
        sa.Column("state", sa.String(255), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("browser_hash", sa.String(64)),
        sa.Column("confirm_hash", sa.String(64)),
        sa.Column("pending_enc", sa.Text()),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("state", name="pk_oauth_guards"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE",
                                name="fk_oauth_guards_workspace_id_workspaces"),
    )
    op.create_index("ix_oauth_guards_workspace_id", "oauth_guards", ["workspace_id"])
    op.create_index("ix_oauth_guards_confirm_hash", "oauth_guards", ["confirm_hash"], unique=True)
    op.create_index("ix_oauth_guards_expires_at", "oauth_guards", ["expires_at"])

    op.create_table(
        "uploads",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_uploads"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE",
                                name="fk_uploads_workspace_id_workspaces"),
    )
    op.create_index("ix_uploads_workspace_id", "uploads", ["workspace_id"])
    op.create_index("ix_uploads_expires_at", "uploads", ["expires_at"])


def downgrade() -> None:
    op.drop_table("uploads")
    op.drop_table("oauth_guards")
