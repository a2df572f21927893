"""What a handler needs from its request: the application container, the workspace of the API token (checked
before anything else is read), the public origin, and a size-capped, validated body."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cliply.http.auth import Unauthorized, authenticate, record_use
from cliply.http.errors import ApiError
from cliply.store.models import Workspace
from cliply.wiring import Cliply

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]


def container(request: Request) -> Cliply:
    app: Cliply = request.app.state.cliply
    return app


def token_workspace(request: Request) -> Callable[[Session], Workspace]:
    """A workspace reference for the use cases: the API token's workspace, checked inside their transaction."""

    def resolve(session: Session) -> Workspace:
        try:
            return authenticate(session, request)
        except Unauthorized:
            raise ApiError(401, "missing or invalid API token") from None

    return resolve


def authenticated(request: Request) -> int:
    """The API token's workspace id (401 otherwise): checked in a read-only transaction before any other work;
    its use is recorded (at most once a minute) in a separate short one."""
    app = container(request)
    with app.db.reading() as session:
        workspace = token_workspace(request)(session)
    record_use(app.db, request)
    return workspace.id


def api(handler: Handler) -> Handler:
    """An /api handler: the token is checked first, so an unauthenticated caller gets a 401 and nothing else (no
    body is read, no validation message is shown)."""

    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        await run_in_threadpool(authenticated, request)
        return await handler(request)

    return run


def base_url(request: Request) -> str:
    """CLIPLY_PUBLIC_BASE_URL, else the origin this request reached."""
    return container(request).settings.public_base_url or str(request.base_url).rstrip("/")


def declared_length(request: Request, limit: int) -> None:
    """413 at once when Content-Length announces more than `limit` bytes (a bad header is a 400)."""
    header = request.headers.get("content-length")
    if header is None:
        return
    if not header.strip().isdigit() or len(header.strip()) > 20:
        raise ApiError(400, "bad Content-Length")
    if int(header) > limit:
        raise ApiError(413, f"request body larger than {limit} bytes")


async def read_capped(request: Request, limit: int) -> bytes:
    """The whole body, refused (413) past `limit` bytes, whatever Content-Length said."""
    declared_length(request, limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        raise ApiError(400, "the body must be JSON") from None


async def body(request: Request, model: type[M], extra_bytes: int = 0, *, optional: bool = False) -> M:
    """The JSON object body as `model` (pydantic's ValidationError → 422 with the fields). Call it only after the
    caller is authenticated (api()): validation messages are for the token's owner. `extra_bytes`: room beyond the
    usual cap for bodies that carry data (base64 images, CSV text)."""
    raw = await read_capped(request, container(request).settings.http_max_body_bytes + extra_bytes)
    if optional and not raw:
        return model()
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except RecursionError:
        raise ApiError(400, "the body is nested too deeply") from None
