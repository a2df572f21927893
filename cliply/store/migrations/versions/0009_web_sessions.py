"""Web pages: server-side browser sessions and one-time sign-in links.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("api_token_id", sa.Integer()),
        sa.Column("csrf_hash", sa.String(64), nullable=False),
        sa.Column("timezone", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("last_seen_at", TS),
        sa.Column("revoked_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_web_sessions"),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], ondelete="CASCADE", name="fk_web_sessions_workspace_id_workspaces"
        ),
        sa.ForeignKeyConstraint(
            ["api_token_id"], ["api_tokens.id"], ondelete="CASCADE", name="fk_web_sessions_api_token_id_api_tokens"
        ),
    )
    op.create_index("ix_web_sessions_workspace_id", "web_sessions", ["workspace_id"])
    op.create_index("ix_web_sessions_api_token_id", "web_sessions", ["api_token_id"])
    op.create_table(
        "web_login_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_web_login_links"),
        sa.UniqueConstraint("token_hash", name="uq_web_login_links_token_hash"),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], ondelete="CASCADE", name="fk_web_login_links_workspace_id_workspaces"
        ),
    )
    op.create_index("ix_web_login_links_workspace_id", "web_login_links", ["workspace_id"])


def downgrade() -> None:
    op.drop_table("web_login_links")
    op.drop_table("web_sessions")
