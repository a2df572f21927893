"""Emulated X API v2 (api.x.com + x.com OAuth), mounted at /x.

Paths: GET /i/oauth2/authorize, POST /2/oauth2/token, GET /2/users/me, POST /2/media/upload/initialize,
POST /2/media/upload/{id}/append, POST /2/media/upload/{id}/finalize, GET /2/media/upload?command=STATUS,
POST /2/tweets, GET /2/tweets?ids=, GET /2/users/{id}/tweets.

Fault operations: "token", "me", "initialize", "append", "finalize", "status", "create_tweet" (also takes
"lost_response"), "lookup_tweets", "user_tweets"; "processing" (processing_failed, consumed at finalize).

Behaviour: OAuth 2.0 + mandatory PKCE, confidential clients via HTTP Basic, access 2 h, rotating refresh tokens
(offline.access only) with replay detection; JSON-only initialize; ≤ 5 MB segments with segment_index 0–999;
finalize checks the segments cover total_bytes; processing pending → in_progress → succeeded|failed, one step per
STATUS poll; 280 weighted characters; duplicate text from the same user within 24 h → 403; POST /2/tweets limited
to 100 per 15 min (x-rate-limit-* headers, 429) and 300 per 3 h per user (429 usage-capped); problem-JSON errors.
"""

from __future__ import annotations

import html
import secrets
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from cliply.sandbox import oauth
from cliply.sandbox.common import (
    Endpoint,
    after_commit,
    bind,
    faulted,
    multipart_fields,
    newest_posts,
    pre_faults,
    processing_fails,
    require_grant,
    table,
)
from cliply.sandbox.counting import URL, X_TEXT
from cliply.sandbox.state import Grant, SandboxState

P = "x"
ACCESS_TTL_S = 2 * 3600
REFRESH_TTL_S = 180 * 86400
MAX_SEGMENT = 5 * 1024 * 1024
MAX_VIDEO_BYTES = 512 * 1024 * 1024
DEFAULT_ACCOUNT = "1790000000000000001"
TWEETS_15MIN = 100
POSTS_3H = 300
CATEGORIES = {"tweet_video", "amplify_video", "tweet_image", "tweet_gif", "dm_video", "dm_image", "dm_gif", "subtitles"}
PROBLEMS = "https://api.twitter.com/2/problems/"


def _problem(
    status: int,
    title: str,
    detail: str,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        {"title": title, "detail": detail, "type": type_, "status": status, **extra}, status, headers=headers
    )


def _invalid(message: str, parameter: str = "") -> JSONResponse:
    err: dict[str, Any] = {"message": message}
    if parameter:
        err["parameters"] = {parameter: []}
    return _problem(
        400,
        "Invalid Request",
        "One or more parameters to your request was invalid.",
        PROBLEMS + "invalid-request",
        errors=[err],
    )


class XErrors:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def _limit_headers(self, limit: int, retry_after_s: float) -> dict[str, str]:
        reset = int(self.state.clock.timestamp() + retry_after_s)
        return {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}

    def auth_expired(self) -> Response:
        return _problem(401, "Unauthorized", "Unauthorized")

    def rate_limited(self, retry_after_s: float) -> Response:
        return _problem(
            429, "Too Many Requests", "Too Many Requests", headers=self._limit_headers(TWEETS_15MIN, retry_after_s)
        )

    def quota_exhausted(self, retry_after_s: float) -> Response:
        return _problem(
            429,
            "UsageCapExceeded",
            "Usage cap exceeded: user post cap",
            PROBLEMS + "usage-capped",
            headers=self._limit_headers(POSTS_3H, retry_after_s),
            period="3 hours",
            scope="User",
        )

    def server_error(self, status: int) -> Response:
        return _problem(status, "Service Unavailable", "Service Unavailable")

    def content_rejected(self) -> Response:
        return _invalid("The media or text of this post was rejected.", "text")

    def media_fetch_failed(self) -> Response:  # X has no pull-by-URL; the nearest failure is an unusable media id
        return _invalid("Your media IDs are invalid.", "media.media_ids")

    def duplicate(self) -> Response:
        # X's duplicate-content refusal carries no error code: a plain 403 problem on POST /2/tweets.
        return _problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")


def _scope_error(scope: str) -> JSONResponse:
    return _problem(
        403,
        "Unsupported Authentication",
        f"Authenticating with OAuth 2.0 User Context without the {scope} scope is forbidden for this endpoint.",
        PROBLEMS + "unsupported-authentication",
    )


OAUTH = oauth.OAuthVariant(
    platform=P,
    authorize_path="/i/oauth2/authorize",
    token_path="/2/oauth2/token",
    errors=oauth.Rfc6749Errors(),
    fault_errors=XErrors,
    authorize_invalid="response_type=code, client_id and redirect_uri are required",
    pkce="required",
    pkce_methods=("S256", "plain"),
    pkce_default_method="plain",
    default_account=DEFAULT_ACCOUNT,
    new_account_handle="user_{tail}",  # X user ids are numeric; handles are ≤ 15 word characters
    client_auth="body_or_basic",
    malformed_basic="malformed Basic credentials",
    unsupported_grant="grant_type not supported",
    access_ttl_s=ACCESS_TTL_S,
    refresh_ttl_s=REFRESH_TTL_S,
    refresh_policy="offline_scope",
    token_type="bearer",
)


def media(state: SandboxState) -> dict[str, dict[str, Any]]:
    return table(state, P)


def authed(state: SandboxState, request: Request, *scopes: str) -> Grant | Response:
    grant = require_grant(state, P, request, XErrors(state))
    if isinstance(grant, Response):
        return grant
    for scope in scopes:
        if scope not in grant.scopes:
            return _scope_error(scope)
    return grant


async def me(state: SandboxState, request: Request) -> Response:
    grant = await faulted(state, P, "me", XErrors(state), authed(state, request, "users.read", "tweet.read"))
    if isinstance(grant, Response):
        return grant
    acct = state.account(P, grant.account_id)
    return JSONResponse({"data": {"id": acct.account_id, "name": acct.handle, "username": acct.handle}})


# ---- media upload ----------------------------------------------------------------------------------------------------
def _json_required(request: Request) -> Response | None:
    if not request.headers.get("content-type", "").startswith("application/json"):
        return _invalid("Requests with bodies must have content-type application/json.")
    return None


def _initialize_problem(body: dict[str, Any]) -> Response | None:
    total = body.get("total_bytes")
    if not isinstance(total, int) or not 0 < total <= MAX_VIDEO_BYTES:
        return _invalid("total_bytes must be between 1 and 536870912.", "total_bytes")
    if body.get("media_type") != "video/mp4":
        return _invalid("media_type must be video/mp4 for video uploads.", "media_type")
    if body.get("media_category", "tweet_video") not in CATEGORIES:
        return _invalid("media_category is invalid.", "media_category")
    return None


async def initialize(state: SandboxState, request: Request) -> Response:
    grant = authed(state, request, "media.write")
    if isinstance(grant, Response):
        return grant
    if refused := _json_required(request):
        return refused
    if (fault := await pre_faults(state, P, "initialize", XErrors(state))) is not None:
        return fault
    try:
        body = await request.json()
    except ValueError:
        return _invalid("Request body is not valid JSON.")
    body = body if isinstance(body, dict) else {}
    if problem := _initialize_problem(body):
        return problem
    media_id = state.new_id(digits=19)
    media(state)[media_id] = {
        "owner": grant.account_id,
        "total": body["total_bytes"],
        "segments": {},
        "state": "uploading",
        "fails": False,
        "polls": 0,
        "expires_at": state.clock.timestamp() + 86400,
    }
    return JSONResponse({"data": {"id": media_id, "media_key": f"13_{media_id}", "expires_after_secs": 86400}})


def owned(state: SandboxState, media_id: str, grant: Grant) -> dict[str, Any] | None:
    item = media(state).get(media_id)
    if item is None or item["owner"] != grant.account_id or item["expires_at"] < state.clock.timestamp():
        return None
    return item


def _segment(fields: dict[str, bytes]) -> tuple[int, bytes] | Response:
    try:
        index = int(fields.get("segment_index", b""))
    except ValueError:
        return _invalid("segment_index is required.", "segment_index")
    chunk = fields.get("media")
    if not 0 <= index <= 999:
        return _invalid("segment_index must be between 0 and 999.", "segment_index")
    if not chunk:
        return _invalid("media is required.", "media")
    if len(chunk) > MAX_SEGMENT:
        return _invalid("Each segment must be at most 5 MB.", "media")
    return index, chunk


async def append(state: SandboxState, request: Request) -> Response:
    grant = await faulted(state, P, "append", XErrors(state), authed(state, request, "media.write"))
    if isinstance(grant, Response):
        return grant
    item = owned(state, request.path_params["id"], grant)
    if item is None or item["state"] != "uploading":
        return _invalid("The media id is invalid or expired.", "id")
    parts = await multipart_fields(request)
    if parts is None:
        return _invalid("append requires multipart/form-data.")
    segment = _segment({name: value for name, value, _ in parts})
    if isinstance(segment, Response):
        return segment
    item["segments"][segment[0]] = len(segment[1])
    return JSONResponse({"data": {"expires_at": int(item["expires_at"])}})


def processing_info(item: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {"state": item["state"]}
    if item["state"] in ("pending", "in_progress"):
        info["check_after_secs"] = 1
        info["progress_percent"] = 0 if item["state"] == "pending" else 50
    elif item["state"] == "succeeded":
        info["progress_percent"] = 100
    else:
        info["error"] = {"code": 1, "name": "InvalidMedia", "message": "Unsupported video format"}
    return info


async def finalize(state: SandboxState, request: Request) -> Response:
    grant = await faulted(state, P, "finalize", XErrors(state), authed(state, request, "media.write"))
    if isinstance(grant, Response):
        return grant
    media_id = request.path_params["id"]
    item = owned(state, media_id, grant)
    if item is None or item["state"] != "uploading":
        return _invalid("The media id is invalid, expired or already finalized.", "id")
    segs = item["segments"]
    if sorted(segs) != list(range(len(segs))) or sum(segs.values()) != item["total"]:
        return _invalid("Segments do not add up to total_bytes.", "id")
    item["state"], item["fails"] = "pending", processing_fails(state, P)
    return JSONResponse(
        {
            "data": {
                "id": media_id,
                "media_key": f"13_{media_id}",
                "size": item["total"],
                "expires_after_secs": 86400,
                "processing_info": processing_info(item),
            }
        }
    )


async def status(state: SandboxState, request: Request) -> Response:
    grant = authed(state, request, "media.write")
    if isinstance(grant, Response):
        return grant
    if request.query_params.get("command") != "STATUS":
        return _invalid("command must be STATUS.", "command")
    if (fault := await pre_faults(state, P, "status", XErrors(state))) is not None:
        return fault
    media_id = request.query_params.get("media_id", "")
    item = owned(state, media_id, grant)
    if item is None or item["state"] == "uploading":
        return _invalid("The media id is invalid or not finalized.", "media_id")
    # One state step per poll: deterministic without wall-clock waits.
    if item["state"] == "pending":
        item["state"] = "in_progress"
    elif item["state"] == "in_progress":
        item["state"] = "failed" if item["fails"] else "succeeded"
    return JSONResponse(
        {"data": {"id": media_id, "media_key": f"13_{media_id}", "processing_info": processing_info(item)}}
    )


# ---- posts -----------------------------------------------------------------------------------------------------------
def rendered_text(text: str) -> str:
    """X returns t.co-wrapped links, a trailing media link and HTML-escaped &, <, >."""
    shown = URL.sub(lambda _m: "https://t.co/" + secrets.token_urlsafe(7)[:10], text)
    return html.escape(shown, quote=False) + " https://t.co/" + secrets.token_urlsafe(7)[:10]


def _media_keys(state: SandboxState, grant: Grant, ids: list[Any]) -> list[str] | Response:
    if len(ids) > 4:
        return _invalid("At most 4 media ids.", "media.media_ids")
    for media_id in ids:
        item = owned(state, str(media_id), grant)
        if item is None or item["state"] != "succeeded" or item.get("used"):
            return _invalid("Your media IDs are invalid.", "media.media_ids")
    return [f"13_{media_id}" for media_id in ids]


def _tweet_refusal(state: SandboxState, grant: Grant, text: str, ids: list[Any]) -> Response | None:
    """Empty post, duplicate text within 24 h, then the 3-hour post cap."""
    if not text and not ids:
        return _invalid("Post text or media is required.", "text")
    since = state.clock.now() - timedelta(hours=24)
    if text and any(
        p.payload["source_text"] == text and p.created_at > since for p in state.posts_for(P, grant.account_id)
    ):
        return XErrors(state).duplicate()
    wait = state.hit_limit(P, grant.account_id, "posts_3h", POSTS_3H, 3 * 3600)
    return None if wait is None else XErrors(state).quota_exhausted(wait)


async def _tweet_gate(state: SandboxState, request: Request) -> Grant | Response:
    grant = authed(state, request, "tweet.write", "tweet.read", "users.read")
    if isinstance(grant, Response):
        return grant
    if refused := _json_required(request):
        return refused
    if (fault := await pre_faults(state, P, "create_tweet", XErrors(state))) is not None:
        return fault
    wait = state.hit_limit(P, grant.account_id, "tweets_15min", TWEETS_15MIN, 900)
    return grant if wait is None else XErrors(state).rate_limited(wait)


def _rate_headers(state: SandboxState, grant: Grant) -> dict[str, str]:
    used = state.window_usage(P, grant.account_id, "tweets_15min", 900)
    return {
        "x-rate-limit-limit": str(TWEETS_15MIN),
        "x-rate-limit-remaining": str(TWEETS_15MIN - used),
        "x-rate-limit-reset": str(int(state.clock.timestamp() + 900)),
    }


async def create_tweet(state: SandboxState, request: Request) -> Response:
    grant = await _tweet_gate(state, request)
    if isinstance(grant, Response):
        return grant
    body = await request.json()
    text = body.get("text", "") if isinstance(body, dict) else ""
    if not isinstance(text, str) or X_TEXT.too_long(text):
        return _invalid("The text of your post is too long.", "text")
    ids = (body.get("media") or {}).get("media_ids") or []
    media_keys = _media_keys(state, grant, ids)
    if isinstance(media_keys, Response):
        return media_keys
    if refused := _tweet_refusal(state, grant, text, ids):
        return refused
    for media_id in ids:
        media(state)[str(media_id)]["used"] = True
    tweet_id = state.new_id(digits=19)
    shown = rendered_text(text) if ids else html.escape(text, quote=False)
    state.record_post(P, grant.account_id, tweet_id, {"source_text": text, "text": shown, "media_keys": media_keys})
    await after_commit(state, P, "create_tweet")
    return JSONResponse(
        {"data": {"id": tweet_id, "text": shown, "edit_history_tweet_ids": [tweet_id]}},
        201,
        headers=_rate_headers(state, grant),
    )


def public_metrics(m: dict[str, int]) -> dict[str, int]:
    return {
        "retweet_count": m["shares"],
        "reply_count": m["comments"],
        "like_count": m["likes"],
        "quote_count": m["quotes"],
        "bookmark_count": m["saves"],
        "impression_count": m["impressions"],
    }


def tweet_json(state: SandboxState, post: Any, fields: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": post.post_id, "text": post.payload["text"], "edit_history_tweet_ids": [post.post_id]}
    if "created_at" in fields:
        out["created_at"] = post.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if "author_id" in fields:
        out["author_id"] = post.account_id
    if "attachments" in fields and post.payload["media_keys"]:
        out["attachments"] = {"media_keys": post.payload["media_keys"]}
    if "public_metrics" in fields:
        out["public_metrics"] = public_metrics(state.metrics(post))
    return out


def _not_found(tweet_id: str) -> dict[str, Any]:
    return {
        "value": tweet_id,
        "detail": f"Could not find tweet with ids: [{tweet_id}].",
        "title": "Not Found Error",
        "resource_type": "tweet",
        "parameter": "ids",
        "resource_id": tweet_id,
        "type": PROBLEMS + "resource-not-found",
    }


def _not_authorized(tweet_id: str) -> dict[str, Any]:
    return {
        "value": tweet_id,
        "detail": f"Sorry, you are not authorized to see the Tweet with ids: [{tweet_id}].",
        "title": "Authorization Error",
        "resource_type": "tweet",
        "parameter": "ids",
        "resource_id": tweet_id,
        "type": PROBLEMS + "not-authorized-for-resource",
    }


def _lookup(state: SandboxState, viewer: str, ids: list[str], fields: set[str], want_media: bool) -> dict[str, Any]:
    """Any public post is readable by anyone; a protected account's posts only by itself (account extra
    `protected`); a deleted or unknown id is a resource-not-found error next to the data."""
    data, missing, media_out = [], [], []
    for tweet_id in ids:
        post = state.find_post(P, tweet_id)
        if post is None:
            missing.append(_not_found(tweet_id))
            continue
        if post.account_id != viewer and state.account(P, post.account_id).extra.get("protected"):
            missing.append(_not_authorized(tweet_id))
            continue
        data.append(tweet_json(state, post, fields | ({"attachments"} if want_media else set())))
        if want_media:
            views = state.metrics(post)["views"]
            media_out += [
                {"media_key": k, "type": "video", "public_metrics": {"view_count": views}}
                for k in post.payload["media_keys"]
            ]
    body: dict[str, Any] = {"data": data} if data else {}
    if media_out:
        body["includes"] = {"media": media_out}
    if missing:
        body["errors"] = missing
    return body


async def lookup_tweets(state: SandboxState, request: Request) -> Response:
    grant = await faulted(state, P, "lookup_tweets", XErrors(state), authed(state, request, "tweet.read", "users.read"))
    if isinstance(grant, Response):
        return grant
    ids = [i for i in request.query_params.get("ids", "").split(",") if i]
    if not 1 <= len(ids) <= 100 or not all(i.isdigit() for i in ids):
        return _invalid("ids must be 1 to 100 numeric post ids.", "ids")
    fields = set(request.query_params.get("tweet.fields", "").split(","))
    want_media = "attachments.media_keys" in request.query_params.get("expansions", "").split(",")
    return JSONResponse(_lookup(state, grant.account_id, ids, fields, want_media))


async def user_tweets(state: SandboxState, request: Request) -> Response:
    grant = await faulted(state, P, "user_tweets", XErrors(state), authed(state, request, "tweet.read", "users.read"))
    if isinstance(grant, Response):
        return grant
    q = request.query_params
    try:
        max_results = int(q.get("max_results", "10"))
        start = datetime.fromisoformat(q["start_time"].replace("Z", "+00:00")) if "start_time" in q else None
    except ValueError:
        return _invalid("max_results or start_time is invalid.", "max_results")
    if not 5 <= max_results <= 100:
        return _invalid("max_results must be between 5 and 100.", "max_results")
    posts = [p for p in newest_posts(state, P, request.path_params["id"]) if start is None or p.created_at >= start]
    posts = posts[:max_results]
    data = [tweet_json(state, p, set(q.get("tweet.fields", "").split(","))) for p in posts]
    meta: dict[str, Any] = {"result_count": len(data)}
    if data:
        meta.update(newest_id=data[0]["id"], oldest_id=data[-1]["id"])
    return JSONResponse({"data": data, "meta": meta} if data else {"meta": meta})


TABLE = [
    Endpoint("/2/users/me", me),
    Endpoint("/2/media/upload/initialize", initialize, ("POST",)),
    Endpoint("/2/media/upload/{id}/append", append, ("POST",)),
    Endpoint("/2/media/upload/{id}/finalize", finalize, ("POST",)),
    Endpoint("/2/media/upload", status),
    Endpoint("/2/tweets", create_tweet, ("POST",)),
    Endpoint("/2/tweets", lookup_tweets),
    Endpoint("/2/users/{id}/tweets", user_tweets),
]


def routes(state: SandboxState) -> list[BaseRoute]:
    return [*oauth.routes(OAUTH, state), *bind(state, TABLE)]
