"""Shared plumbing of the use cases (publishing/service.py, media/service.py): which workspace a use case acts for,
the scoped transaction it runs in, and the error type the adapters translate; plus the workspace and upload use
cases, which belong to no single area.

The CLI names a workspace: it must have been created (`cliply workspaces create`), except the default one, which is
created on first use so a first run needs no set-up. The HTTP service resolves the workspace from the request's API
token inside the same transaction. Use cases take either and never see where it came from."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cliply.store import repo
from cliply.store.models import Workspace, utcnow
from cliply.store.repo import WorkspaceScope, find_workspace, get_or_create_workspace

if TYPE_CHECKING:
    from cliply.wiring import Cliply


class ServiceError(ValueError):
    """An expected refusal. `status` is what the HTTP service answers, `exit_code` what the CLI exits with
    (2: the input was wrong; 1: something outside refused or failed)."""

    def __init__(self, message: str, *, status: int = 400, exit_code: int = 2) -> None:
        super().__init__(message)
        self.status, self.exit_code = status, exit_code


# None: the default workspace; a name; or a resolver run inside the transaction (e.g. API token authentication).
WorkspaceRef = str | None | Callable[[Session], Workspace]


def unknown_workspace(name: str) -> ServiceError:
    return ServiceError(f"no workspace {name!r}; create it with `cliply workspaces create {name}`", status=404)


def resolve(app: Cliply, session: Session, ref: WorkspaceRef) -> Workspace:
    if callable(ref):
        return ref(session)
    name = ref or app.settings.default_workspace
    workspace = find_workspace(session, name)
    if workspace is not None:
        return workspace
    if name != app.settings.default_workspace:
        raise unknown_workspace(name)
    return get_or_create_workspace(session, name, app.settings.default_plan)


@contextmanager
def workspace_scope(app: Cliply, ref: WorkspaceRef, *, write: bool = True) -> Iterator[WorkspaceScope]:
    """One transaction scoped to the workspace: committed when the block ends, rolled back on an error.
    write=False: a read-only transaction, which on SQLite neither waits for nor blocks writers."""
    if not write and not callable(ref):
        with app.db.reading() as session:
            missing = find_workspace(session, ref or app.settings.default_workspace) is None
        if missing:  # the default workspace is created on first use: a short write first
            with app.db.session() as session:
                resolve(app, session, ref)
    with app.db.session() if write else app.db.reading() as session:
        yield WorkspaceScope(session, resolve(app, session, ref))


# --- workspaces ---


def create_workspace(app: Cliply, name: str, plan: str | None = None) -> dict[str, Any]:
    with app.db.session() as session:
        return _workspace_json(repo.create_workspace(session, name.strip(), plan or app.settings.default_plan))


def list_workspaces(app: Cliply) -> list[dict[str, Any]]:
    with app.db.reading() as session:
        return [_workspace_json(w) for w in repo.list_workspaces(session)]


def _workspace_json(workspace: Workspace) -> dict[str, Any]:
    return {"id": workspace.id, "name": workspace.name, "plan": workspace.plan}


# --- uploads: a signed URL is recorded when handed out and consumed by its one PUT ---


def begin_upload(
    app: Cliply, ref: WorkspaceRef, *, filename: str | None, content_type: str | None, base_url: str = ""
) -> dict[str, Any]:
    """A signed upload URL (cliply.media.service.new_upload), remembered so that it can be used once."""
    from cliply.media import service as media

    upload = media.new_upload(app, ref, filename=filename, content_type=content_type, base_url=base_url)
    with workspace_scope(app, ref) as scope:
        scope.add_upload(upload["key"], utcnow() + timedelta(seconds=int(upload["expires_in"])))
    return upload


def upload_owner(app: Cliply, key: str) -> str | None:
    """Consume an upload key: the workspace name it was handed out for, or None (unknown, used or expired)."""
    with app.db.session() as session:
        workspace = repo.take_upload(session, key)
        return None if workspace is None else workspace.name


def finish_upload(app: Cliply, key: str, workspace: str, file: Path, content_type: str | None) -> dict[str, Any]:
    """Store an uploaded file under its key and register it as a source of the workspace (the pipeline takes it
    from there). A file the source rules refuse is recorded as a rejected source and raised (InputRejected)."""
    from cliply.media import service as media

    app.media.put_file(key, file, content_type)
    registered = media.register_source(app, str(file), workspace)
    return {"key": key, "source_id": registered.source_id, "status": registered.status}
