"""Initial schema: workspaces, sources, transcripts, clips, usage records.

Revision ID: 0001
Revises:
Create Date: 2025-11-21
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("plan", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workspaces"),
        sa.UniqueConstraint("name", name="uq_workspaces_name"),
    )
    op.create_table(
        "sources",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("origin_uri", sa.Text(), nullable=False),
        sa.Column("original_name", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reject_code", sa.String(64)),
        sa.Column("reject_reason", sa.Text()),
        sa.Column("media_key", sa.String(1024)),
        sa.Column("duration_s", sa.Float()),
        sa.Column("video_codec", sa.String(32)),
        sa.Column("audio_codec", sa.String(32)),
        sa.Column("width", sa.Integer()),
        sa.Column("height", sa.Integer()),
        sa.Column("fps", sa.Float()),
        sa.Column("size_bytes", sa.BigInteger()),
        sa.Column("sha256", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sources"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE",
                                name="fk_sources_workspace_id_workspaces"),
        sa.CheckConstraint("origin IN ('inbox', 'file', 'url')", name="ck_sources_origin"),
        sa.CheckConstraint(
            "status IN ('registered', 'queued', 'processing', 'ready', 'rejected', 'failed')",
            name="ck_sources_status",
        ),
    )
    op.create_index("ix_sources_workspace_id", "sources", ["workspace_id"])
    op.create_index("ix_sources_status", "sources", ["status"])
    op.create_index("ix_sources_sha256", "sources", ["sha256"])

    op.create_table(
        "transcripts",
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("engine", sa.String(32)),
        sa.Column("model", sa.String(256)),
        sa.Column("json_key", sa.String(1024)),
        sa.Column("srt_key", sa.String(1024)),
        sa.Column("vtt_key", sa.String(1024)),
        sa.Column("word_count", sa.Integer()),
        sa.Column("duration_s", sa.Float()),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("source_id", name="pk_transcripts"),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], ondelete="CASCADE",
                                name="fk_transcripts_source_id_sources"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE",
                                name="fk_transcripts_workspace_id_workspaces"),
    )
    op.create_index("ix_transcripts_workspace_id", "transcripts", ["workspace_id"])

    op.create_table(
        "clips",
        sa.Column("id", sa.String(80), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("score", sa.Float()),
        sa.Column("reasons", sa.JSON()),
        sa.Column("text", sa.Text()),
        sa.Column("media_key", sa.String(1024)),
        sa.Column("thumbnail_key", sa.String(1024)),
        sa.Column("duration_s", sa.Float()),
        sa.Column("size_bytes", sa.BigInteger()),
        sa.Column("sha256", sa.String(64)),
        sa.Column("width", sa.Integer()),
        sa.Column("height", sa.Integer()),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_clips"),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], ondelete="CASCADE", name="fk_clips_source_id_sources"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE",
                                name="fk_clips_workspace_id_workspaces"),
    )
    op.create_index("ix_clips_source_id", "clips", ["source_id"])
    op.create_index("ix_clips_workspace_id", "clips", ["workspace_id"])

    op.create_table(
        "usage_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("source_minutes", sa.Float(), nullable=False),
        sa.Column("clips", sa.Integer(), nullable=False),
        sa.Column("projects", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_usage_records"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE",
                                name="fk_usage_records_workspace_id_workspaces"),
        sa.UniqueConstraint("workspace_id", "period", name="uq_usage_records_workspace_id_period"),
    )
    op.create_index("ix_usage_records_workspace_id", "usage_records", ["workspace_id"])


def downgrade() -> None:
    op.drop_table("usage_records")
    op.drop_table("clips")
    op.drop_table("transcripts")
    op.drop_table("sources")
    op.drop_table("workspaces")
