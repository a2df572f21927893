"""Bearer API tokens → the workspace they belong to. Every /api request is scoped to that workspace only."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request

from cliply.store.models import Workspace


class Unauthorized(Exception):
    """Missing, malformed, unknown or revoked API token (the reason is not told to the caller)."""


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(session: Session, request: Request) -> Workspace:
    """The workspace of the request's API token; Unauthorized when there is none that is valid."""
    from cliply.store.accounts import resolve_api_token

    token = bearer_token(request)
    if token is None:
        raise Unauthorized("missing bearer token")
    workspace = resolve_api_token(session, token)
    if workspace is None:
        raise Unauthorized("invalid token")
    return workspace
