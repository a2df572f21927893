"""Helpers every emulated platform uses: route tables, object stores, bearer tokens, fault application, form
parsing and the error-envelope protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cliply.sandbox.state import Fault, Grant, RecordedPost, SandboxState

PRE_COMMIT = frozenset(
    {
        "error",
        "rate_limit",
        "quota",
        "slow",
        "timeout",
        "expired_token",
        "media_fetch_failed",
        "content_rejected",
        "format_rejected",
        "duplicate",
    }
)


Handler = Callable[[SandboxState, Request], Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint:
    """One row of a platform's route table: a module-level handler taking (state, request)."""

    path: str
    handler: Handler
    methods: tuple[str, ...] = ("GET",)
    name: str | None = None


def bind(state: SandboxState, table: Iterable[Endpoint]) -> list[BaseRoute]:
    """Starlette routes for a route table, each handler given the sandbox state."""
    return [
        Route(e.path, _bound(e.handler, state), methods=list(e.methods), name=e.name or e.handler.__name__)
        for e in table
    ]


def _bound(handler: Handler, state: SandboxState) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await handler(state, request)

    return endpoint


def table(state: SandboxState, key: str, default: Callable[[], Any] = dict) -> Any:
    """A platform's object store inside state.objects (SandboxState.reset() replaces it)."""
    with state.lock:
        return state.objects.setdefault(key, default())


def newest_posts(state: SandboxState, platform: str, account_id: str) -> list[RecordedPost]:
    """An account's accepted posts, newest first (every listing endpoint's order)."""
    return sorted(state.posts_for(platform, account_id), key=lambda p: p.created_at, reverse=True)


class ErrorEnvelopes(Protocol):
    """How one platform says each kind of failure (status, body, headers) — its real envelope and codes."""

    def auth_expired(self) -> Response: ...
    def rate_limited(self, retry_after_s: float) -> Response: ...
    def quota_exhausted(self, retry_after_s: float) -> Response: ...
    def server_error(self, status: int) -> Response: ...
    def content_rejected(self) -> Response: ...
    def media_fetch_failed(self) -> Response: ...
    def duplicate(self) -> Response: ...


def bearer_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query_params.get("access_token")


def require_grant(state: SandboxState, platform: str, request: Request, errors: ErrorEnvelopes) -> Grant | Response:
    grant = state.bearer(platform, bearer_token(request))
    return grant if grant is not None else errors.auth_expired()


async def pre_faults(state: SandboxState, platform: str, operation: str, errors: ErrorEnvelopes) -> Response | None:
    """Apply a scripted fault that happens BEFORE the operation commits. None = carry on."""
    fault = state.take_fault(platform, operation, PRE_COMMIT)
    if fault is None:
        return None
    return await _respond(fault, errors)


async def faulted(
    state: SandboxState, platform: str, operation: str, errors: ErrorEnvelopes, grant: Grant | Response
) -> Grant | Response:
    """The usual handler preamble: an authentication failure as is, else a scripted pre-commit fault for
    `operation`, else the grant."""
    if isinstance(grant, Response):
        return grant
    fault = await pre_faults(state, platform, operation, errors)
    return grant if fault is None else fault


async def _respond(fault: Fault, errors: ErrorEnvelopes) -> Response | None:
    if fault.kind == "slow":
        await asyncio.sleep(fault.delay_s)
        return None
    if fault.kind == "timeout":  # the client gives up; nothing was committed
        await asyncio.sleep(fault.delay_s)
        return errors.server_error(504)
    if fault.kind == "error":
        return errors.server_error(fault.status)
    if fault.kind == "rate_limit":
        return errors.rate_limited(fault.retry_after_s)
    if fault.kind == "quota":
        return errors.quota_exhausted(fault.retry_after_s)
    if fault.kind == "expired_token":
        return errors.auth_expired()
    if fault.kind == "media_fetch_failed":
        return errors.media_fetch_failed()
    if fault.kind == "content_rejected":
        return errors.content_rejected()
    if fault.kind == "format_rejected":
        # The platform's documented "video format/size not accepted" answer; platforms without a synchronous one
        # answer as a content rejection (their format refusals come from processing: "processing_failed").
        return getattr(errors, "format_rejected", errors.content_rejected)()
    if fault.kind == "duplicate":
        return errors.duplicate()
    return None


async def after_commit(state: SandboxState, platform: str, operation: str) -> None:
    """ "lost_response": the operation HAS committed, then the response is held past the client's timeout."""
    fault = state.take_fault(platform, operation, frozenset({"lost_response"}))
    if fault is not None:
        await asyncio.sleep(fault.delay_s or 30.0)


def processing_fails(state: SandboxState, platform: str) -> bool:
    """Consume a scripted "processing_failed" fault: the async job being created will end in failure."""
    return state.take_fault(platform, "processing", frozenset({"processing_failed"})) is not None


async def multipart_fields(request: Request) -> list[tuple[str, bytes, str | None]] | None:
    """The parts of a multipart/form-data body in wire order as (name, value, filename); None when the body is not
    valid multipart. Stdlib-only (email parser) so the sandbox needs no python-multipart."""
    import email.parser
    import email.policy

    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data") or "boundary=" not in ctype:
        return None
    raw = await request.body()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + raw
    )
    if not msg.is_multipart():
        return None
    parts: list[tuple[str, bytes, str | None]] = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            return None
        payload = part.get_payload(decode=True)
        parts.append((name, payload if isinstance(payload, bytes) else b"", part.get_filename()))
    return parts


async def urlencoded_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (OAuth token requests) without python-multipart."""
    from urllib.parse import parse_qsl

    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
