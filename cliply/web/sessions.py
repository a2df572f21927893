"""Web sign-in use cases: browser sessions and one-time sign-in links (no HTTP here; cliply/web/app.py and
`cliply web login` are the adapters).

A session is a server-side row (WebSession) whose id is the sha256 of the random secret the browser's cookie holds,
so the database alone cannot be replayed as cookies, and signing out (or revoking the API key it was opened with)
ends it for every copy of the cookie. Every sign-in creates a new session: an id presented before sign-in is never
kept (no fixation). The session's CSRF token is derived from its secret (HMAC), so it is fresh for every session,
needs no second cookie, and only its sha256 is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cliply.store.accounts import api_token_row
from cliply.store.models import Workspace, utcnow
from cliply.store.models_accounts import ApiToken
from cliply.store.models_web import WebLoginLink, WebSession
from cliply.usecases import WorkspaceRef, workspace_scope

if TYPE_CHECKING:
    from cliply.wiring import Cliply

MAX_SECRET_CHARS = 200  # longer cookie values or links are refused before hashing
DEFAULT_TIMEZONE = "UTC"
SEEN_EVERY = timedelta(minutes=5)  # last_seen_at is refreshed at most this often: not a write per page view


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(session_secret: str) -> str:
    """The CSRF token of the session whose cookie holds `session_secret`."""
    return hmac.new(session_secret.encode(), b"cliply web csrf", hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison (on bytes: compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(a.encode(), b.encode())


def zone_of(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


@dataclass(frozen=True)
class WebIdentity:
    """Who a signed-in browser is: its session, workspace and CSRF token. Never logged (it holds the token)."""

    session_id: str
    workspace_id: int
    workspace_name: str
    csrf: str
    timezone: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"WebIdentity(workspace={self.workspace_name!r})"

    def workspace_ref(self) -> WorkspaceRef:
        """The workspace reference the use cases take: this session's workspace, loaded in their transaction."""
        workspace_id = self.workspace_id

        def resolve(session: Session) -> Workspace:
            workspace = session.get(Workspace, workspace_id)
            if workspace is None:
                raise LookupError("the session's workspace no longer exists")
            return workspace

        return resolve


@dataclass(frozen=True)
class SignedIn:
    secret: str  # goes into the cookie, nowhere else
    identity: WebIdentity


def _open(app: Cliply, session: Session, workspace: Workspace, api_token_id: int | None) -> SignedIn:
    secret, now = new_secret(), utcnow()
    expires = now + timedelta(hours=app.settings.web_session_hours)
    row = WebSession(
        id=digest(secret),
        workspace_id=workspace.id,
        api_token_id=api_token_id,
        csrf_hash=digest(csrf_token(secret)),
        created_at=now,
        expires_at=expires,
        last_seen_at=now,
    )
    session.add(row)
    session.flush()
    identity = WebIdentity(row.id, workspace.id, workspace.name, csrf_token(secret), DEFAULT_TIMEZONE, expires)
    return SignedIn(secret, identity)


def _end(session: Session, previous: str | None) -> None:
    """Revoke the session a browser held before signing in again (a fresh one replaces it)."""
    if previous and len(previous) <= MAX_SECRET_CHARS:
        session.execute(
            update(WebSession)
            .where(WebSession.id == digest(previous), WebSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def sign_in_with_token(app: Cliply, token: str, previous: str | None = None) -> SignedIn | None:
    """A new session for a live API key of a workspace; None for an unknown, revoked or malformed key (the caller
    answers the same for each)."""
    token = token.strip()
    with app.db.session() as session:
        row = api_token_row(session, token)
        if row is None:
            return None
        workspace = session.get(Workspace, row.workspace_id)
        if workspace is None:
            return None
        _end(session, previous)
        return _open(app, session, workspace, row.id)


def create_login_link(app: Cliply, ref: WorkspaceRef) -> tuple[str, datetime, str]:
    """A one-time sign-in link secret for the workspace: (secret, expires_at, workspace name). Only its sha256 is
    stored; it signs in once, before it expires."""
    secret = new_secret()
    expires = utcnow() + timedelta(minutes=app.settings.web_login_link_minutes)
    with workspace_scope(app, ref) as scope:
        scope.session.add(WebLoginLink(workspace_id=scope.workspace_id, token_hash=digest(secret), expires_at=expires))
        scope.session.flush()
        return secret, expires, scope.workspace.name


def sign_in_with_link(app: Cliply, link: str, previous: str | None = None) -> SignedIn | None:
    """A new session from a one-time link; None when it is unknown, used or expired. Taking the link is one
    conditional UPDATE, so two browsers racing with the same link cannot both sign in."""
    if not link or len(link) > MAX_SECRET_CHARS:
        return None
    now, link_hash = utcnow(), digest(link)
    with app.db.session() as session:
        taken = session.execute(
            update(WebLoginLink)
            .where(WebLoginLink.token_hash == link_hash, WebLoginLink.used_at.is_(None), WebLoginLink.expires_at > now)
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(taken, "rowcount", 0) != 1:
            return None
        workspace_id = session.scalars(
            select(WebLoginLink.workspace_id).where(WebLoginLink.token_hash == link_hash)
        ).one()
        workspace = session.get(Workspace, workspace_id)
        if workspace is None:
            return None
        _end(session, previous)
        return _open(app, session, workspace, None)


def current(app: Cliply, secret: str | None) -> WebIdentity | None:
    """The live session a cookie holds; None when it is missing, unknown, signed out, expired, or was opened with
    an API key that has since been revoked."""
    if not secret or len(secret) > MAX_SECRET_CHARS:
        return None
    now = utcnow()
    with app.db.reading() as session:
        row = session.get(WebSession, digest(secret))
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            return None
        if not same(row.csrf_hash, digest(csrf_token(secret))):
            return None
        if row.api_token_id is not None:
            token = session.get(ApiToken, row.api_token_id)
            if token is None or token.revoked_at is not None:
                return None
        workspace = session.get(Workspace, row.workspace_id)
        if workspace is None:
            return None
        zone = zone_of(row.timezone).key
        identity = WebIdentity(row.id, workspace.id, workspace.name, csrf_token(secret), zone, row.expires_at)
        stale = row.last_seen_at is None or now - row.last_seen_at >= SEEN_EVERY
    if stale:
        _seen(app, row.id, now)
    return identity


def _seen(app: Cliply, session_id: str, now: datetime) -> None:
    with app.db.session() as session:
        session.execute(
            update(WebSession)
            .where(WebSession.id == session_id)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )


def sign_out(app: Cliply, secret: str | None) -> None:
    """End the session server-side: its cookie is refused from now on, wherever it was copied."""
    with app.db.session() as session:
        _end(session, secret)


def set_timezone(app: Cliply, session_id: str, zone: str) -> None:
    """Show this session's pages in `zone` (a name zoneinfo knows; the caller validates it)."""
    with app.db.session() as session:
        session.execute(
            update(WebSession)
            .where(WebSession.id == session_id, WebSession.revoked_at.is_(None))
            .values(timezone=zone_of(zone).key)
            .execution_options(synchronize_session=False)
        )
