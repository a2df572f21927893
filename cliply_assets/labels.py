"""What an operator reads instead of an opaque source id: the uploaded file's name, as run tags and metadata.

Dagster's run list shows user tags (any key outside the dagster/ namespace) beside the job name, so every run of a
source carries its file name in `cliply/source_name`."""

from __future__ import annotations

from cliply.store.db import Database
from cliply.store.repo import WorkspaceScope, source_owner

SOURCE_TAG = "cliply/source"
SOURCE_NAME_TAG = "cliply/source_name"
# Set on a run whose upload was refused: the run list tells a refusal (the uploader's problem) from a fault.
REFUSED_TAG = "cliply/refused"
# Long names stay readable in the run list and well inside tag storage limits.
MAX_NAME_CHARS = 120


def source_name(db: Database, source_id: str) -> str:
    """The uploaded file's original name, or "" when the source row is gone."""
    with db.session() as session:
        workspace = source_owner(session, source_id)
        source = WorkspaceScope(session, workspace).get_source(source_id) if workspace is not None else None
        return source.original_name if source is not None else ""


def source_run_tags(source_id: str, name: str) -> dict[str, str]:
    """Run tags naming the source: its id (filterable) and its file name (shown in the run list)."""
    tags = {SOURCE_TAG: source_id}
    if name:
        tags[SOURCE_NAME_TAG] = name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 1] + "…"
    return tags
