"""Writing the audit log: one row per change Cliply made on a workspace's behalf."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cliply.store.models_experiments import AuditEntry


def record(
    session: Session,
    workspace_id: int,
    *,
    actor: str,
    action: str,
    subject: str = "",
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry in the caller's transaction (it commits with the change it describes)."""
    entry = AuditEntry(
        workspace_id=workspace_id, actor=actor[:64], action=action, subject=subject[:128], details=dict(details or {})
    )
    session.add(entry)
    session.flush()
    return entry


def entries(session: Session, workspace_id: int, *, action: str | None = None) -> list[AuditEntry]:
    """The workspace's entries, oldest first."""
    stmt = select(AuditEntry).where(AuditEntry.workspace_id == workspace_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return list(session.scalars(stmt.order_by(AuditEntry.at, AuditEntry.id)))
