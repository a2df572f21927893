"""Emulated LinkedIn: OAuth (www.linkedin.com/oauth/v2), OIDC userinfo, the Videos API (initializeUpload → part
PUTs answering ETags → finalizeUpload checking the ETag list → WAITING_UPLOAD/PROCESSING/AVAILABLE|PROCESSING_FAILED),
the Posts API (201 + x-restli-id, strict little-text, duplicate 422, daily member cap reset at 00:00 UTC, finder by
author) and memberCreatorPostAnalytics.

Sandbox conventions: client ids ending in "-partner" are approved partners and get 365-day (non-extending) refresh
tokens; others get none. Fault operations: token, userinfo, initialize, upload_part, finalize, video_status, post,
list_posts, analytics ("processing" + processing_failed makes the next finalized video fail)."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from cliply.sandbox import oauth
from cliply.sandbox.common import (
    Endpoint,
    after_commit,
    bind,
    newest_posts,
    pre_faults,
    processing_fails,
    require_grant,
    table,
)
from cliply.sandbox.counting import LINKEDIN_COMMENTARY
from cliply.sandbox.state import Grant, SandboxState

P = "linkedin"
ACCESS_TTL = 60 * 86400
REFRESH_TTL = 365 * 86400
PART_SIZE = 4 * 1024 * 1024
MIN_BYTES, MAX_BYTES = 75 * 1024, 500 * 1024 * 1024
DAILY_POSTS = 150  # per member per UTC day (LinkedIn does not publish it; Ayrshare cites 150)
SCOPES = {
    "openid",
    "profile",
    "email",
    "w_member_social",
    "r_member_postAnalytics",
    "w_organization_social",
    "r_organization_social",
}
RESERVED = set("\\|{}@[]()<>#*_~")
ANALYTICS = {
    "IMPRESSION": "impressions",
    "MEMBERS_REACHED": "reach",
    "RESHARE": "shares",
    "REACTION": "likes",
    "COMMENT": "comments",
}


def _error(status: int, code: str, message: str, service_code: int = 0, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"status": status, "serviceErrorCode": service_code, "code": code, "message": message},
        status_code=status,
        headers=headers,
    )


class Errors:
    def auth_expired(self) -> Response:
        return _error(401, "EXPIRED_ACCESS_TOKEN", "The token used in the request has expired", 65601)

    def rate_limited(self, retry_after_s: float) -> Response:
        return _error(
            429,
            "TOO_MANY_REQUESTS",
            "Resource level throttle limit reached",
            101,
            **{"Retry-After": str(int(retry_after_s))},
        )

    def quota_exhausted(self, retry_after_s: float) -> Response:
        return _error(
            429, "TOO_MANY_REQUESTS", "Resource level throttle 1 Day limit for calls to this resource is reached.", 101
        )

    def server_error(self, status: int) -> Response:
        return _error(status, "INTERNAL_SERVER_ERROR", "Internal Server Error", 0)

    def content_rejected(self) -> Response:
        return _error(400, "INVALID_CONTENT", "Content is not valid", 100)

    def media_fetch_failed(self) -> Response:
        return self.content_rejected()

    def duplicate(self) -> Response:
        return _error(422, "DUPLICATE_POST", "Content is a duplicate of urn:li:share:7000000000000000000", 0)


E = Errors()
OAUTH = oauth.OAuthVariant(
    platform=P,
    authorize_path="/oauth/v2/authorization",
    token_path="/oauth/v2/accessToken",
    errors=oauth.Rfc6749Errors(),
    fault_errors=lambda _state: E,
    scope_separators=" ",
    known_scopes=frozenset(SCOPES),
    pkce="ignored",
    secret_required=True,
    invalid_client="Client authentication failed",
    access_ttl_s=ACCESS_TTL,
    # Refresh tokens for approved partners only, never rotated: their 365 days are not extended by refreshing.
    refresh_ttl_s=REFRESH_TTL,
    refresh_policy="partner_client",
    rotate_refresh=False,
    scope_joiner=",",
    refresh_expires_in=("refresh_token_expires_in", "remaining"),
)


def little_text(commentary: str) -> str:
    """What LinkedIn keeps: the text up to the first UNESCAPED reserved character (the real truncation bug)."""
    i = 0
    while i < len(commentary):
        ch = commentary[i]
        if ch == "\\" and i + 1 < len(commentary) and commentary[i + 1] in RESERVED:
            i += 2
            continue
        if ch in RESERVED:
            return commentary[:i]
        i += 1
    return commentary


def objs(state: SandboxState) -> dict[str, Any]:
    return table(state, P)


def person(grant: Grant) -> str:
    return f"urn:li:person:{grant.account_id}"


def check_headers(state: SandboxState, request: Request) -> Response | None:
    """The /rest API wants LinkedIn-Version (YYYYMM, active for 12 months) and Rest.li protocol 2.0.0."""
    version = request.headers.get("linkedin-version", "")
    if not re.fullmatch(r"\d{6}", version):
        return _error(
            400,
            "VERSION_MISSING",
            "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
            0,
        )
    now = state.clock.now()
    current = now.year * 12 + now.month
    asked = int(version[:4]) * 12 + int(version[4:])
    if asked > current or current - asked > 12:
        return _error(426, "NONEXISTENT_VERSION", f"Requested version {version} is not active", 0)
    if request.headers.get("x-restli-protocol-version") != "2.0.0":
        return _error(400, "INVALID_PROTOCOL_VERSION", "X-Restli-Protocol-Version 2.0.0 is required", 0)
    return None


async def authed(state: SandboxState, request: Request, operation: str, scope: str | None = None) -> Grant | Response:
    bad = check_headers(state, request) if request.url.path.split("/")[2] == "rest" else None
    if bad:
        return bad
    grant = require_grant(state, P, request, E)
    if not isinstance(grant, Grant):
        return grant
    if scope and scope not in grant.scopes:
        return _error(403, "ACCESS_DENIED", f"Not enough permissions to access: {operation}", 100)
    return await pre_faults(state, P, operation, E) or grant


async def userinfo(state: SandboxState, request: Request) -> Response:
    grant = await authed(state, request, "userinfo", "openid")
    if not isinstance(grant, Grant):
        return grant
    acct = state.account(P, grant.account_id)
    return JSONResponse({"sub": grant.account_id, "name": acct.handle, "email_verified": True})


# ---- Videos API ------------------------------------------------------------------------------------------------------
async def videos_action(state: SandboxState, request: Request) -> Response:
    action = request.query_params.get("action")
    if action not in ("initializeUpload", "finalizeUpload"):
        return _error(400, "ILLEGAL_ARGUMENT", "unknown action", 100)
    grant = await authed(
        state, request, "initialize" if action == "initializeUpload" else "finalize", "w_member_social"
    )
    if not isinstance(grant, Grant):
        return grant
    body = await request.json()
    if action == "initializeUpload":
        return initialize(state, request, grant, body)
    return await finalize(state, grant, body)


def initialize(state: SandboxState, request: Request, grant: Grant, body: dict[str, Any]) -> Response:
    req = body.get("initializeUploadRequest") or {}
    if req.get("owner") != person(grant):
        return _error(403, "ACCESS_DENIED", "owner must be the authenticated member", 100)
    size = req.get("fileSizeBytes")
    if not isinstance(size, int) or not MIN_BYTES <= size <= MAX_BYTES:
        return _error(400, "INVALID_FILE_SIZE", f"fileSizeBytes must be {MIN_BYTES}..{MAX_BYTES}", 100)
    vid = state.new_id("urn:li:video:D4E")
    origin = f"{request.url.scheme}://{request.url.netloc}"
    parts = [(first, min(first + PART_SIZE, size) - 1) for first in range(0, size, PART_SIZE)]
    instructions = [
        {"uploadUrl": f"{origin}/{P}/dms-uploads/{vid}/{i}?ca=vector_feedshare&sync=0", "firstByte": a, "lastByte": b}
        for i, (a, b) in enumerate(parts)
    ]
    upload_token = state.new_id("ut_")
    objs(state)[vid] = {
        "owner": person(grant),
        "size": size,
        "parts": parts,
        "etags": [None] * len(parts),
        "token": upload_token,
        "status": "WAITING_UPLOAD",
        "polls": 0,
        "fails": False,
    }
    expires = int((state.clock.now() + timedelta(hours=24)).timestamp() * 1000)
    return JSONResponse(
        {
            "value": {
                "uploadUrlsExpireAt": expires,
                "video": vid,
                "uploadInstructions": instructions,
                "uploadToken": upload_token,
            }
        }
    )


async def upload_part(state: SandboxState, request: Request) -> Response:
    """PUT one part to its upload URL; the answer's ETag is what finalizeUpload must list."""
    vid, index = request.path_params["vid"], int(request.path_params["index"])
    data = await request.body()
    if (fault := await pre_faults(state, P, "upload_part", E)) is not None:
        return fault
    video = objs(state).get(vid)
    if video is None or index >= len(video["parts"]):
        return _error(404, "NOT_FOUND", "unknown upload URL", 0)
    first, last = video["parts"][index]
    if len(data) != last - first + 1:
        return _error(400, "INVALID_PART", f"part {index} must be {last - first + 1} bytes, got {len(data)}", 0)
    etag = f"/ip/{hashlib.sha256(data).hexdigest()[:24]}/{index}"
    video["etags"][index] = etag
    return Response(status_code=201, headers={"ETag": etag})


async def finalize(state: SandboxState, grant: Grant, body: dict[str, Any]) -> Response:
    req = body.get("finalizeUploadRequest") or {}
    video = objs(state).get(str(req.get("video")))
    if video is None or video["owner"] != person(grant):
        return _error(404, "NOT_FOUND", "video not found", 0)
    if req.get("uploadToken", "") != video["token"]:
        return _error(400, "INVALID_UPLOAD_TOKEN", "uploadToken does not match", 100)
    if None in video["etags"] or req.get("uploadedPartIds") != video["etags"]:
        return _error(400, "INVALID_PART_IDS", "uploadedPartIds must list every part's ETag in order", 100)
    video["status"] = "PROCESSING"
    video["fails"] = processing_fails(state, P)
    await after_commit(state, P, "finalize")
    return Response(status_code=200)


async def video_status(state: SandboxState, request: Request) -> Response:
    grant = await authed(state, request, "video_status")
    if not isinstance(grant, Grant):
        return grant
    vid = request.path_params["urn"]
    video = objs(state).get(vid)
    if video is None or video["owner"] != person(grant):
        return _error(404, "NOT_FOUND", f"{vid} not found", 0)
    if video["status"] == "PROCESSING":
        video["polls"] += 1
        if video["polls"] >= 2:  # a couple of polls of PROCESSING, then the outcome
            video["status"] = "PROCESSING_FAILED" if video["fails"] else "AVAILABLE"
    out = {"id": vid, "owner": video["owner"], "status": video["status"]}
    if video["status"] == "PROCESSING_FAILED":
        out["processingFailureReason"] = "Video format is not supported"
    return JSONResponse(out)


# ---- Posts API -------------------------------------------------------------------------------------------------------
async def posts(state: SandboxState, request: Request) -> Response:
    if request.method == "GET":
        return await list_posts(state, request)
    return await create_post(state, request)


def _duplicate_of(state: SandboxState, grant: Grant, commentary: str) -> Response | None:
    for prior in state.posts_for(P, grant.account_id):
        if prior.payload["commentary"] == commentary:
            return _error(422, "DUPLICATE_POST", f"Content is a duplicate of {prior.post_id}", 0)
    return None


async def create_post(state: SandboxState, request: Request) -> Response:
    grant = await authed(state, request, "post", "w_member_social")
    if not isinstance(grant, Grant):
        return grant
    body = await request.json()
    if problem := post_problem(state, grant, body):
        return problem
    commentary = little_text(body["commentary"])
    if duplicate := _duplicate_of(state, grant, commentary):
        return duplicate
    today = state.clock.now().date().isoformat()
    if state.hit_limit(P, grant.account_id, f"posts:{today}", DAILY_POSTS, 2 * 86400) is not None:
        return E.quota_exhausted(0)
    urn = state.new_id("urn:li:share:", 19)
    state.record_post(P, grant.account_id, urn, {**body, "commentary": commentary})
    await after_commit(state, P, "post")
    return Response(status_code=201, headers={"x-restli-id": urn})


def post_problem(state: SandboxState, grant: Grant, body: dict[str, Any]) -> Response | None:
    if body.get("author") != person(grant):
        return _error(403, "ACCESS_DENIED", "author must be the authenticated member", 100)
    commentary = body.get("commentary")
    if not isinstance(commentary, str) or LINKEDIN_COMMENTARY.too_long(commentary):
        return _error(422, "INVALID_COMMENTARY", "commentary must be a string of at most 3000 characters", 100)
    if body.get("visibility") not in ("PUBLIC", "CONNECTIONS", "LOGGED_IN"):
        return _error(400, "INVALID_VISIBILITY", "visibility must be PUBLIC, CONNECTIONS or LOGGED_IN", 100)
    if body.get("lifecycleState") != "PUBLISHED" or "feedDistribution" not in (body.get("distribution") or {}):
        return _error(400, "INVALID_FIELD", "lifecycleState PUBLISHED and distribution are required", 100)
    media = ((body.get("content") or {}).get("media") or {}).get("id")
    video = objs(state).get(str(media))
    if video is None or video["owner"] != person(grant) or video["status"] != "AVAILABLE":
        return _error(400, "INVALID_MEDIA", f"{media} is not an AVAILABLE video of the author", 100)
    return None


async def list_posts(state: SandboxState, request: Request) -> Response:
    grant = await authed(state, request, "list_posts", "w_member_social")
    if not isinstance(grant, Grant):
        return grant
    q = request.query_params
    if q.get("q") != "author" or q.get("author") != person(grant):
        return _error(400, "ILLEGAL_ARGUMENT", "q=author with the member's URN is required", 100)
    count = min(int(q.get("count", "10")), 100)
    mine = newest_posts(state, P, grant.account_id)[:count]
    return JSONResponse(
        {
            "elements": [
                {
                    **p.payload,
                    "id": p.post_id,
                    "createdAt": int(p.created_at.timestamp() * 1000),
                    "publishedAt": int(p.created_at.timestamp() * 1000),
                }
                for p in mine
            ],
            "paging": {"start": 0, "count": count, "links": []},
        }
    )


async def analytics(state: SandboxState, request: Request) -> Response:
    grant = await authed(state, request, "analytics", "r_member_postAnalytics")
    if not isinstance(grant, Grant):
        return grant
    q = request.query_params
    m = re.fullmatch(r"\((share|ugcPost):(urn:li:(?:share|ugcPost):\d+)\)", q.get("entity", ""))
    metric = ANALYTICS.get(q.get("queryType", ""))
    if q.get("q") != "entity" or m is None or metric is None:
        return _error(400, "ILLEGAL_ARGUMENT", "q=entity, entity=(share:<urn>) and queryType are required", 100)
    post = state.find_post(P, m.group(2))
    if post is None:  # deleted or never existed
        return _error(404, "NOT_FOUND", "post not found", 0)
    if post.account_id != grant.account_id:  # member analytics cover the member's own posts only
        return _error(403, "ACCESS_DENIED", "Not enough permissions to access: memberCreatorPostAnalytics", 100)
    return JSONResponse(
        {
            "elements": [
                {"count": state.metrics(post)[metric], "metricType": q["queryType"], "entity": {m.group(1): m.group(2)}}
            ]
        }
    )


TABLE = [
    Endpoint("/v2/userinfo", userinfo),
    Endpoint("/rest/videos", videos_action, ("POST",)),
    Endpoint("/rest/videos/{urn}", video_status),
    Endpoint("/dms-uploads/{vid}/{index:int}", upload_part, ("PUT",)),
    Endpoint("/rest/posts", posts, ("GET", "POST")),
    Endpoint("/rest/memberCreatorPostAnalytics", analytics),
]


def routes(state: SandboxState) -> list[BaseRoute]:
    return [*oauth.routes(OAUTH, state), *bind(state, TABLE)]
