"""Emulated Instagram API with Instagram Login (www.instagram.com, api.instagram.com and graph.instagram.com,
all under /instagram): OAuth with long-lived tokens, REELS containers pulled from video_url, media_publish with
the 50-per-24-h cap (account extra `publish_quota` overrides it), content_publishing_limit, listing, insights.

Fault operations: "create" (POST /{ig-user}/media; media_fetch_failed → 9004/2207052), "publish"
(POST /{ig-user}/media_publish; lost_response supported), "limit", "list", "read" (GET /{id}), "insights";
"processing" (media_fetch_failed → container ERROR with download failure 2207052 in `status`; processing_failed →
container ERROR with 2207026, the video could not be processed)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from cliply.platforms.text import utf16_units
from cliply.sandbox.meta import ContainerSpec, Graph, MetaErrors, container_routes, meta_oauth_routes
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
    return {"status_code": status, "status": _ERROR_STATUS.get(obj.get("error") or "", "") if status == "ERROR"
            else status.title()}


SPEC = ContainerSpec(
    media_edge="media", publish_edge="media_publish", limit_edge="content_publishing_limit", text_field="caption",
    media_type="REELS", text_max=2200, text_length=utf16_units, publish_scope="instagram_business_content_publish",
    insights_scope="instagram_business_manage_insights", quota_total=50,
    permalink=lambda _handle, code: f"https://www.instagram.com/reel/{code}/",
    metrics={"views": "views", "reach": "reach", "likes": "likes", "comments": "comments", "shares": "shares",
             "saved": "saves"},
    status_body=_status, fetch_failed_sync=True,
)


def routes(state: SandboxState) -> list[BaseRoute]:
    graph = Graph(state, ERRORS, "instagram")
    return [*meta_oauth_routes(graph, exchange_grant="ig_exchange_token", refresh_grant="ig_refresh_token",
                               user_body=lambda g: {"user_id": g.account_id, "permissions": ",".join(g.scopes)}),
            *container_routes(graph, SPEC)]
