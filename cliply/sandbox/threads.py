"""Emulated Threads API (threads.net and graph.threads.net, both under /threads): OAuth with long-lived tokens
(th_exchange_token / th_refresh_token), /debug_token for granted scopes, VIDEO containers pulled from video_url,
threads_publish with the 250-per-24-h cap (account extra `publish_quota` overrides it),
threads_publishing_limit, listing, insights.

Fault operations: "create" (POST /{user}/threads; media_fetch_failed → container ERROR FAILED_DOWNLOADING_VIDEO),
"publish" (POST /{user}/threads_publish; lost_response supported), "limit", "list", "read", "insights",
"debug_token"; "processing" (media_fetch_failed → container ERROR FAILED_DOWNLOADING_VIDEO after the create was
accepted; processing_failed → container ERROR FAILED_PROCESSING_VIDEO)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from cliply.sandbox import oauth
from cliply.sandbox.common import Endpoint, bind
from cliply.sandbox.counting import THREADS_TEXT
from cliply.sandbox.meta import (
    ContainerSpec,
    MetaErrors,
    container_table,
    counter,
    long_lived_table,
    meta_oauth,
    params_of,
)
from cliply.sandbox.state import SandboxState

P = "threads"
# Threads has no documented codes for its cap or a synchronous pull failure: reuse Instagram's (same backend).
ERRORS = MetaErrors(P, rate_code=4, quota=(9, 2207042), content=(352, 2207026), media_fetch=(9004, 2207052))
_ERROR_MESSAGE = {
    "fetch": "FAILED_DOWNLOADING_VIDEO",
    "processing": "FAILED_PROCESSING_VIDEO",
    "format": "FAILED_PROCESSING_VIDEO",
}


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    body = {"status": obj["status"]}
    if obj["status"] == "ERROR":
        body["error_message"] = _ERROR_MESSAGE.get(obj.get("error") or "", "UNKNOWN")
    return body


SPEC = ContainerSpec(
    errors=ERRORS,
    buc_kind="threads",
    media_edge="threads",
    publish_edge="threads_publish",
    limit_edge="threads_publishing_limit",
    text_field="text",
    media_type="VIDEO",
    text=THREADS_TEXT,
    publish_scope="threads_content_publish",
    insights_scope="threads_manage_insights",
    quota_total=250,
    permalink=lambda handle, code: f"https://www.threads.net/@{handle.replace('-', '_')}/post/{code}",
    metrics={
        "views": counter("views"),
        "likes": counter("likes"),
        "replies": counter("comments"),
        "reposts": counter("shares"),
        "quotes": counter("quotes"),
        "shares": lambda c: c["shares"] // 3,  # shares off Threads (links sent), fewer than reposts
    },
    status_body=_status,
    fetch_failed_sync=False,
    ig_subcodes=False,
)
OAUTH = meta_oauth(
    ERRORS,
    "/oauth/authorize",
    "/oauth/access_token",
    account_field="user_id",
    scope_field=None,
    token_type=None,
    expires_in=None,
    unsupported_grant="grant_type must be authorization_code",
)


async def debug_token(state: SandboxState, request: Request) -> Response:
    """The scopes, owner and expiry of `input_token`."""
    graph = SPEC.graph(state)
    params = await params_of(request)
    grant = await graph.gate(request, "debug_token", params)
    if isinstance(grant, Response):
        return grant
    inspected = state.bearer(P, params.get("input_token"))
    if inspected is None:
        return graph.ok(grant, {"data": {"is_valid": False, "scopes": []}})
    info = graph.token_info(inspected.access_token)
    return graph.ok(
        grant,
        {
            "data": {
                "type": "USER",
                "application": "Cliply",
                "is_valid": True,
                "scopes": list(inspected.scopes),
                "user_id": inspected.account_id,
                "issued_at": int(info.get("issued", 0)),
                "expires_at": int(inspected.expires_at.timestamp()),
            }
        },
    )


def routes(state: SandboxState) -> list[BaseRoute]:
    table = [
        *long_lived_table(SPEC, exchange_grant="th_exchange_token", refresh_grant="th_refresh_token"),
        Endpoint("/{ver}/debug_token", debug_token),
        *container_table(SPEC),
    ]
    return [*oauth.routes(OAUTH, state), *bind(state, table)]
