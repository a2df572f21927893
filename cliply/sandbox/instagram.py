"""Emulated Instagram API with Instagram Login (www.instagram.com, api.instagram.com and graph.instagram.com,
all under /instagram): OAuth with long-lived tokens, REELS containers pulled from video_url, media_publish with
the 50-per-24-h cap (account extra `publish_quota` overrides it), content_publishing_limit, listing, insights.

Fault operations: "create" (POST /{ig-user}/media; media_fetch_failed → 9004/2207052), "publish"
(POST /{ig-user}/media_publish; lost_response supported), "limit", "list", "read" (GET /{id}), "insights";
"processing" (media_fetch_failed → container ERROR with download failure 2207052 in `status`; processing_failed →
container ERROR with 2207026, the video could not be processed).

The code exchange answers `{"data": [{access_token, user_id, permissions}]}` as Business Login's guide documents it;
account extra `token_response="flat"` gives the endpoint reference's flat object instead, and `permissions_as="list"`
sends the granted permissions as a JSON list rather than a comma-separated string."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from cliply.sandbox import oauth
from cliply.sandbox.common import Endpoint, bind
from cliply.sandbox.counting import INSTAGRAM_CAPTION
from cliply.sandbox.meta import ContainerSpec, MetaErrors, container_table, counter, long_lived_table, meta_oauth
from cliply.sandbox.state import SandboxState

P = "instagram"
ERRORS = MetaErrors(P, rate_code=80002, quota=(9, 2207042), content=(352, 2207026), media_fetch=(9004, 2207052))
_ERROR_STATUS = {
    "fetch": "Error: Media download has failed. (2207052)",
    "processing": "Error: Media upload has failed with error code 2207026",
    "format": "Error: Media upload has failed with error code 2207026",
}


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj["status"]
    return {
        "status_code": status,
        "status": _ERROR_STATUS.get(obj.get("error") or "", "") if status == "ERROR" else status.title(),
    }


SPEC = ContainerSpec(
    errors=ERRORS,
    buc_kind="instagram",
    media_edge="media",
    publish_edge="media_publish",
    limit_edge="content_publishing_limit",
    text_field="caption",
    media_type="REELS",
    text=INSTAGRAM_CAPTION,
    publish_scope="instagram_business_content_publish",
    insights_scope="instagram_business_manage_insights",
    quota_total=50,
    permalink=lambda _handle, code: f"https://www.instagram.com/reel/{code}/",
    metrics={
        "views": counter("views"),
        "reach": counter("reach"),
        "likes": counter("likes"),
        "comments": counter("comments"),
        "shares": counter("shares"),
        "saved": counter("saves"),
        "total_interactions": lambda c: c["likes"] + c["comments"] + c["shares"] + c["saves"],
        "ig_reels_video_view_total_time": counter("watch_time_ms"),  # milliseconds
        "ig_reels_avg_watch_time": lambda c: c["watch_time_ms"] // max(1, c["views"]),  # milliseconds
    },
    status_body=_status,
    fetch_failed_sync=True,
    ig_subcodes=True,
    insights_lag_s=(5 * 60, 40 * 60),  # "up to 48 h" in the docs; short here so tests need not jump days
    takes_cover=True,
)
OAUTH = meta_oauth(
    ERRORS,
    "/oauth/authorize",
    "/oauth/access_token",
    account_field="user_id",
    scope_field="permissions",
    scope_joiner=",",
    token_type=None,
    expires_in=None,
    unsupported_grant="grant_type must be authorization_code",
)


def shaped_token_body(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    """The short-lived token answer in the shape the approving account is set up for (see the module doc)."""
    extra = state.account(P, str(body.get("user_id") or "")).extra if body.get("user_id") else {}
    if extra.get("permissions_as") == "list":
        body = {**body, "permissions": [p for p in str(body.get("permissions", "")).split(",") if p]}
    return body if extra.get("token_response") == "flat" else {"data": [body]}


async def code_exchange(state: SandboxState, request: Request) -> Response:
    answer = await oauth.token(OAUTH, state, request)
    if answer.status_code != 200 or not isinstance(answer, JSONResponse):
        return answer
    return JSONResponse(shaped_token_body(state, json.loads(bytes(answer.body))))


def routes(state: SandboxState) -> list[BaseRoute]:
    table = long_lived_table(SPEC, exchange_grant="ig_exchange_token", refresh_grant="ig_refresh_token")
    token_endpoints = [
        Endpoint(OAUTH.authorize_path, partial(oauth.authorize, OAUTH), ("GET",), f"{P}_authorize"),
        Endpoint(OAUTH.token_path, code_exchange, OAUTH.token_methods, f"{P}_token"),
    ]
    return bind(state, [*token_endpoints, *table, *container_table(SPEC)])
