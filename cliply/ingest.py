"""Register sources (local files, URLs, inbox drops) for a workspace: files are probed and validated before they are
recorded (milliseconds); URL imports and inbox drops are checked inside their run."""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from cliply.errors import InputRejected
from cliply.media.validate import inspect_source
from cliply.plans import PlanLimitExceeded, current_period
from cliply.security.filenames import safe_filename
from cliply.security.ssrf import BlockedURL, check_url
from cliply.settings import Settings
from cliply.storage.inbox import InboxEntry
from cliply.storage.media_store import MediaStore
from cliply.store.db import Database
from cliply.store.repo import WorkspaceScope, get_or_create_workspace


def new_source_id() -> str:
    """Time-sortable, collision-resistant, safe as a Dagster partition key and a storage key."""
    return f"src_{int(time.time() * 1000):012x}{secrets.token_hex(3)}"


def inbox_source_id(inbox_url: str, entry: InboxEntry) -> str:
    """Deterministic, so a re-listed inbox file maps to the same source and is never processed twice."""
    digest = hashlib.sha256(f"{inbox_url}|{entry.key}|{entry.size}|{entry.mtime}".encode()).hexdigest()
    return f"src_{digest[:18]}"


def source_key(source_id: str, name: str) -> str:
    suffix = Path(safe_filename(name)).suffix.lower() or ".bin"
    return f"sources/{source_id}/source{suffix}"


def is_url(value: str) -> bool:
    return urlparse(value).scheme in {"http", "https"}


@dataclass(frozen=True)
class Registered:
    source_id: str
    workspace: str
    origin: str
    status: str


def _check_projects_quota(scope: WorkspaceScope) -> None:
    try:
        scope.check_plan(current_period(), projects=1)
    except PlanLimitExceeded as exc:
        raise InputRejected("over_plan", str(exc)) from exc


def _check_file(scope: WorkspaceScope, path: Path) -> int:
    """Refuse at the door what the pipeline would refuse (probing takes milliseconds); the file's size otherwise."""
    plan = scope.plan
    size = path.stat().st_size if path.is_file() else 0
    if size > plan.max_upload_bytes:
        allowed = plan.max_upload_bytes / 1e9
        raise InputRejected("over_plan", f"the file is {size / 1e9:.2f} GB; the plan allows {allowed:.2f} GB")
    inspect_source(path, max_duration_s=plan.max_source_duration_s)
    _check_projects_quota(scope)
    return size


def _record_refusal(
    scope: WorkspaceScope, source_id: str, origin: str, uri: str, name: str, exc: InputRejected
) -> None:
    scope.add_source(source_id, origin=origin, origin_uri=uri, original_name=name, status="rejected")
    scope.reject_source(source_id, exc.code, exc.reason)


def register_file(
    settings: Settings,
    db: Database,
    store: MediaStore,
    path: Path,
    *,
    workspace: str,
    status: str = "registered",
    source_id: str | None = None,
    keep_refused: bool = False,
) -> Registered:
    """Validate a local file, copy it into the media store and record it.

    A refused file raises InputRejected and leaves no source behind, unless `keep_refused` records it as rejected
    (so `cliply sources` shows why); a path that does not exist is never recorded."""
    source_id = source_id or new_source_id()
    name = safe_filename(path.name)
    with db.session() as session:
        ws = get_or_create_workspace(session, workspace, plan=settings.default_plan)
        scope = WorkspaceScope(session, ws)
        try:
            size = _check_file(scope, path)
        except InputRejected as exc:
            if keep_refused and exc.code != "missing":
                _record_refusal(scope, source_id, "file", name, name, exc)
                session.commit()
            raise
        scope.add_source(source_id, origin="file", origin_uri=name, original_name=name, status=status)
        key = source_key(source_id, name)
        store.put_file(key, path)
        scope.update_source(source_id, media_key=key, size_bytes=size)
    return Registered(source_id, workspace, "file", status)


def url_refusal(url: str, exc: BlockedURL) -> InputRejected:
    """The guard's refusal as a rejection; a host that does not resolve is a failed download, not a blocked one."""
    if not isinstance(exc.__cause__, (OSError, UnicodeError)):
        return InputRejected("blocked_url", str(exc))
    named = re.search(r"host '([^']*)'", str(exc))
    host = named.group(1) if named else urlparse(url).hostname
    return InputRejected(
        "download_failed",
        f"the host {host!r} could not be found; check the address (or, if it is right, this machine's network)",
    )


def register_url(
    settings: Settings,
    db: Database,
    url: str,
    *,
    workspace: str,
    status: str = "registered",
    keep_refused: bool = False,
) -> Registered:
    """Record a URL import; the download happens inside the pipeline, re-checked against private addresses.
    A refused URL raises InputRejected and, unless `keep_refused`, leaves no source behind."""
    source_id = new_source_id()
    with db.session() as session:
        ws = get_or_create_workspace(session, workspace, plan=settings.default_plan)
        scope = WorkspaceScope(session, ws)
        try:
            try:
                check_url(url, allow_private=settings.allow_private_urls)
            except BlockedURL as exc:
                raise url_refusal(url, exc) from exc
            _check_projects_quota(scope)
        except InputRejected as exc:
            if keep_refused:
                _record_refusal(scope, source_id, "url", url, url[:200], exc)
                session.commit()
            raise
        scope.add_source(source_id, origin="url", origin_uri=url, original_name=url[:200], status=status)
    return Registered(source_id, workspace, "url", status)


def register_inbox_entry(
    settings: Settings, db: Database, inbox_url: str, entry: InboxEntry, *, workspace: str
) -> Registered | None:
    """Record an inbox drop as queued (the sensor launches its run). None when it was already registered."""
    source_id = inbox_source_id(inbox_url, entry)
    with db.session() as session:
        ws = get_or_create_workspace(session, workspace, plan=settings.default_plan)
        scope = WorkspaceScope(session, ws)
        if scope.get_source(source_id) is not None:
            return None
        name = safe_filename(entry.name)
        scope.add_source(source_id, origin="inbox", origin_uri=entry.key, original_name=name, status="queued")
        scope.update_source(source_id, size_bytes=entry.size)
    return Registered(source_id, workspace, "inbox", "queued")


def copy_into(src: Path, dst_dir: Path, name: str) -> Path:
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / safe_filename(name)
    shutil.copyfile(src, dst)
    return dst
