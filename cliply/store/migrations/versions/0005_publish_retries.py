"""Publishing retries: transient waits, retry rounds, failed-reconciliation count and the needs_attention state.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = (
    "'scheduled', 'claimed', 'uploading', 'processing', 'publishing', 'published', 'failed', "
    "'waiting', 'unknown_outcome', 'cancelled'"
)


def _constraints(batch: Any, states: str, reasons: str) -> None:
    batch.drop_constraint("ck_post_targets_state", type_="check")
    batch.drop_constraint("ck_post_targets_wait_reason", type_="check")
    batch.create_check_constraint("ck_post_targets_state", f"state IN ({states})")
    batch.create_check_constraint("ck_post_targets_wait_reason", f"wait_reason IS NULL OR wait_reason IN ({reasons})")


def upgrade() -> None:
    with op.batch_alter_table("post_targets") as batch:
        batch.add_column(sa.Column("retry_rounds", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("reconcile_failures", sa.Integer(), nullable=False, server_default="0"))
        batch.alter_column("wait_reason", type_=sa.String(16), existing_type=sa.String(8))
        _constraints(batch, f"{_STATES}, 'needs_attention'", "'quota', 'rate', 'transient'")


def downgrade() -> None:
    with op.batch_alter_table("post_targets") as batch:
        _constraints(batch, _STATES, "'quota', 'rate'")
        batch.alter_column("wait_reason", type_=sa.String(8), existing_type=sa.String(16))
        batch.drop_column("reconcile_failures")
        batch.drop_column("retry_rounds")
