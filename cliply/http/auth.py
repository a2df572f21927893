"""Bearer API tokens → the workspace they belong to. Every /api request is scoped to that workspace only."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request

from cliply.store.db import Database
from cliply.store.models import Workspace, utcnow


class Unauthorized(Exception):
    """Missing, malformed, unknown or revoked API token (the reason is not told to the caller)."""


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(session: Session, request: Request) -> Workspace:
    """The workspace of the request's API token; Unauthorized when there is none that is valid. Read-only: the
    request's own transaction never writes for it."""
    from cliply.store.accounts import resolve_api_token

    token = bearer_token(request)
    if token is None:
        raise Unauthorized("missing bearer token")
    workspace = resolve_api_token(session, token, touch=False)
    if workspace is None:
        raise Unauthorized("invalid token")
    return workspace


def record_use(db: Database, request: Request) -> None:
    """Record the token's use (last_used_at) at most once a minute, in its own short write transaction."""
    from cliply.store.accounts import api_token_is_stale, api_token_row, touch_api_token

    token, now = bearer_token(request), utcnow()
    with db.reading() as session:
        row = api_token_row(session, token or "")
        if row is None or not api_token_is_stale(row, now):
            return
        token_id = row.id
    with db.session() as session:
        touch_api_token(session, token_id, now)
