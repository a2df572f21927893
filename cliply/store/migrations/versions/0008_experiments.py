"""Experiments: experiments, their arms and posts, learned scoring weights, an audit log; workspace defaults
applied from experiment winners and the scoring-learning switch.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str | None = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], ondelete=ondelete, name=f"fk_{table}_{column}_{target}"
    )


def _experiments() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.String(80), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("metric_age_s", sa.Float(), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("auto_apply", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("winner", sa.String(16)),
        sa.Column("reason", sa.Text()),
        sa.Column("evaluation", sa.JSON()),
        sa.Column("evaluated_at", TS),
        sa.Column("applied_at", TS),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_experiments"),
        _fk("experiments", "workspace_id", "workspaces"),
        sa.CheckConstraint(
            "kind IN ('caption', 'title', 'hashtags', 'caption_style', 'thumbnail', 'hook')", name="ck_experiments_kind"
        ),
        sa.CheckConstraint(
            "status IN ('running', 'winner', 'inconclusive', 'stopped')", name="ck_experiments_status"
        ),
    )
    op.create_index("ix_experiments_workspace_id", "experiments", ["workspace_id"])
    op.create_index("ix_experiments_clip_id", "experiments", ["clip_id"])
    op.create_index("ix_experiments_workspace_status", "experiments", ["workspace_id", "status"])


def _arms_and_posts() -> None:
    op.create_table(
        "experiment_arms",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.String(40), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("variant", sa.JSON(), nullable=False),
        sa.Column("clip_id", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_experiment_arms"),
        sa.UniqueConstraint("experiment_id", "name", name="uq_experiment_arms_experiment_id_name"),
        _fk("experiment_arms", "experiment_id", "experiments"),
        _fk("experiment_arms", "workspace_id", "workspaces"),
    )
    for column in ("experiment_id", "workspace_id"):
        op.create_index(f"ix_experiment_arms_{column}", "experiment_arms", [column])
    op.create_table(
        "experiment_posts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.String(40), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("arm_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("slot_at", TS, nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.String(40)),
        sa.PrimaryKeyConstraint("id", name="pk_experiment_posts"),
        sa.UniqueConstraint("experiment_id", "slot", name="uq_experiment_posts_experiment_id_slot"),
        _fk("experiment_posts", "experiment_id", "experiments"),
        _fk("experiment_posts", "workspace_id", "workspaces"),
        _fk("experiment_posts", "arm_id", "experiment_arms"),
        _fk("experiment_posts", "account_id", "accounts", None),
        _fk("experiment_posts", "post_id", "posts", "SET NULL"),
    )
    for column in ("experiment_id", "workspace_id", "arm_id", "account_id", "post_id"):
        op.create_index(f"ix_experiment_posts_{column}", "experiment_posts", [column])


def _weights_and_audit() -> None:
    op.create_table(
        "scoring_weights",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("learned_from", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scoring_weights"),
        sa.UniqueConstraint("workspace_id", "version", name="uq_scoring_weights_workspace_id_version"),
        _fk("scoring_weights", "workspace_id", "workspaces"),
    )
    op.create_index("ix_scoring_weights_workspace_id", "scoring_weights", ["workspace_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        _fk("audit_log", "workspace_id", "workspaces"),
    )
    op.create_index("ix_audit_log_workspace_id", "audit_log", ["workspace_id"])


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("experiment_defaults", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("scoring_learning", sa.Boolean(), server_default=sa.true(), nullable=False))
    _experiments()
    _arms_and_posts()
    _weights_and_audit()


def downgrade() -> None:
    for table in ("audit_log", "scoring_weights", "experiment_posts", "experiment_arms", "experiments"):
        op.drop_table(table)
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("scoring_learning")
        batch.drop_column("experiment_defaults")
