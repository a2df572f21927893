"""Emulated Facebook Reels on Pages (www.facebook.com, graph.facebook.com and rupload.facebook.com under /facebook):
Facebook Login (code → short-lived user token → fb_exchange_token long-lived), /me/permissions, /me/accounts
(Page tokens that never expire), video_reels start → rupload binary upload (offset/file_size headers; GET reports
the received offset) → finish with video_state=PUBLISHED (30 reels / rolling 24 h per Page; account extra
`publish_quota` overrides it) → GET /{video_id}?fields=status phases, video_insights.

Fault operations: "start", "upload" (rupload POST), "finish" (lost_response supported), "read", "list",
"insights", "accounts", "thumbnail" (POST /{video_id}/thumbnails: the reel's cover); "processing"
(processing_failed → processing_phase error after the upload)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from cliply.sandbox import oauth
from cliply.sandbox.common import (
    Endpoint,
    after_commit,
    bind,
    multipart_fields,
    newest_posts,
    pre_faults,
    processing_fails,
    table,
)
from cliply.sandbox.covers import image_info, record_cover
from cliply.sandbox.meta import DAY_S, Graph, MetaErrors, iso, meta_oauth, meta_token, params_of
from cliply.sandbox.state import Grant, SandboxState

P = "facebook"
# The 30/24 h reel cap has no documented code: the sandbox answers it like Instagram's cap (code 9).
ERRORS = MetaErrors(P, rate_code=32, quota=(9, None), content=(100, 1363022), media_fetch=(100, 1363019))
PAGE_TTL_S = 100 * 365 * DAY_S  # Page tokens from a long-lived user token do not expire
REEL_QUOTA = 30
VIDEO_STATES = ("PUBLISHED", "DRAFT", "SCHEDULED")


def graph_of(state: SandboxState) -> Graph:
    return Graph(state, ERRORS, "pages")


def _exchange(state: SandboxState, params: dict[str, str]) -> Grant | Response:
    """fb_exchange_token: a user token → a long-lived user token (60 d)."""
    return graph_of(state).long_lived(params, params.get("fb_exchange_token"))


# GET /oauth/access_token redeems a code when grant_type is not fb_exchange_token.
OAUTH = meta_oauth(
    ERRORS,
    "/{ver}/dialog/oauth",
    "/{ver}/oauth/access_token",
    token_methods=("GET",),
    code_grant_type=None,
    extra_grants=(("fb_exchange_token", _exchange),),
    token_type="bearer",
    expires_in="remaining",
    scope_field=None,
)


def pages_of(state: SandboxState, user: str) -> list[dict[str, Any]]:
    """Every sandbox user manages one Page."""

    def one_page() -> list[dict[str, Any]]:
        return [{"id": state.new_id("", 15), "name": f"{user} Page", "tasks": ["CREATE_CONTENT", "ANALYZE"]}]

    return table(state, f"fb-pages:{user}", one_page)


def video_of(state: SandboxState, video_id: str, page: str) -> dict[str, Any] | None:
    obj = state.objects.get(video_id)
    return obj if obj and obj.get("kind") == "fb_video" and obj["page"] == page else None


def _not_found() -> Response:
    return ERRORS.error(400, 100, 33, message="Object does not exist or is not accessible")


# ---- user edges ------------------------------------------------------------------------------------------------------
async def me_edge(state: SandboxState, request: Request) -> Response:
    """/me/permissions and /me/accounts (a Page token per Page)."""
    graph = graph_of(state)
    grant = await graph.gate(request, "accounts", await params_of(request))
    if isinstance(grant, Response):
        return grant
    if graph.token_info(grant.access_token).get("kind") == "page":
        return ERRORS.error(400, 100, message="A user access token is required", type_="GraphMethodException")
    if request.path_params["edge"] == "permissions":
        return graph.ok(grant, {"data": [{"permission": s, "status": "granted"} for s in grant.scopes]})
    if request.path_params["edge"] != "accounts":
        return ERRORS.bad_param("unsupported edge")
    rows = []
    for page in pages_of(state, grant.account_id):
        token = graph.issue(page["id"], grant.scopes, "page", PAGE_TTL_S, grant.client_id, grant.family)
        rows.append({**page, "access_token": token.access_token, "category": "Media"})
    return graph.ok(grant, {"data": rows, "paging": {}})


# ---- video_reels: start → rupload → finish ---------------------------------------------------------------------------
async def video_reels(state: SandboxState, request: Request) -> Response:
    page, graph = request.path_params["node"], graph_of(state)
    params = await params_of(request)
    op = {"start": "start", "finish": "finish"}.get(params.get("upload_phase", ""), "list")
    grant = await graph.gate(request, op, params, None if op == "list" else "pages_manage_posts")
    if isinstance(grant, Response):
        return grant
    if grant.account_id != page:
        return ERRORS.error(400, 200, message="Requires a Page access token for this Page")
    if request.method == "GET":
        return list_reels(state, grant, page)
    if op == "start":
        return start_reel(state, grant, page, request.path_params["ver"])
    if op == "list":
        return ERRORS.bad_param("upload_phase must be start or finish")
    return await finish_reel(state, grant, page, params)


def start_reel(state: SandboxState, grant: Grant, page: str, ver: str) -> Response:
    vid = state.new_id("", 16)
    with state.lock:
        state.objects[vid] = {
            "kind": "fb_video",
            "page": page,
            "size": None,
            "received": 0,
            "sha": None,
            "fails": processing_fails(state, P),
            "bad": False,
            "finished": False,
            "polls_after_finish": 0,
            "created": state.clock.now(),
            "description": "",
        }
    return graph_of(state).ok(
        grant, {"video_id": vid, "upload_url": f"https://rupload.facebook.com/video-upload/{ver}/{vid}"}
    )


def _finish_refusal(state: SandboxState, obj: dict[str, Any], page: str, video_state: str) -> Response | None:
    if obj["finished"]:
        return ERRORS.duplicate()
    if obj["size"] is None or obj["received"] < obj["size"]:
        return ERRORS.error(400, 6000, 1363030, message="The video upload is not complete")
    if video_state == "PUBLISHED":
        quota = int(state.account(P, page).extra.get("publish_quota", REEL_QUOTA))
        wait = state.hit_limit(P, page, "reels", quota, DAY_S)
        if wait is not None:
            return ERRORS.quota_exhausted(wait)
    return None


async def finish_reel(state: SandboxState, grant: Grant, page: str, params: dict[str, str]) -> Response:
    obj = video_of(state, params.get("video_id", ""), page)
    if obj is None:
        return ERRORS.bad_param("video_id does not exist")
    if params.get("video_state") not in VIDEO_STATES:
        return ERRORS.bad_param("video_state must be PUBLISHED, DRAFT or SCHEDULED")
    with state.lock:
        if (refusal := _finish_refusal(state, obj, page, params["video_state"])) is not None:
            return refusal
        obj.update(
            finished=True,
            description=params.get("description", ""),
            state=params["video_state"],
            finished_at=state.clock.now(),
        )
        if params["video_state"] == "PUBLISHED" and not (obj["fails"] or obj["bad"]):
            payload = {"description": obj["description"], **({"cover": obj["cover"]} if obj.get("cover") else {})}
            state.record_post(P, page, params["video_id"], payload)
    await after_commit(state, P, "finish")
    return graph_of(state).ok(grant, {"success": True})


def list_reels(state: SandboxState, grant: Grant, page: str) -> Response:
    rows = [
        {"id": p.post_id, "description": p.payload.get("description", ""), "created_time": iso(p.created_at)}
        for p in newest_posts(state, P, page)
    ]
    return graph_of(state).ok(grant, {"data": rows[:25], "paging": {}})


# ---- GET /{video_id}: upload, processing and publishing phases -------------------------------------------------------
def _publishing_phase(obj: dict[str, Any], failed: bool) -> str:
    if not (obj["finished"] and not failed and obj.get("state") == "PUBLISHED"):
        return "not_started"
    obj["polls_after_finish"] += 1  # publishing completes on the poll after the first one
    return "complete" if obj["polls_after_finish"] > 1 else "in_progress"


def status_of(obj: dict[str, Any]) -> dict[str, Any]:
    uploaded = obj["size"] is not None and obj["received"] >= obj["size"]
    failed = obj["fails"] or obj["bad"]
    body: dict[str, Any] = {
        "video_status": "error" if failed and uploaded else ("ready" if uploaded else "uploading"),
        "uploading_phase": {"status": "complete" if uploaded else "in_progress", "bytes_transferred": obj["received"]},
        "processing_phase": {"status": "not_started" if not uploaded else ("error" if failed else "complete")},
        "publishing_phase": {"status": _publishing_phase(obj, failed)},
    }
    if failed and uploaded:
        body["processing_phase"]["errors"] = [
            {"code": 1363008 if obj["bad"] else 1363019, "message": "Video processing failed"}
        ]
    return body


async def node(state: SandboxState, request: Request) -> Response:
    graph = graph_of(state)
    grant = await graph.gate(request, "read", await params_of(request))
    if isinstance(grant, Response):
        return grant
    node_id = request.path_params["node"]
    obj = video_of(state, node_id, grant.account_id)
    if obj is None:
        if node_id in ("me", grant.account_id):
            return graph.ok(grant, {"id": grant.account_id, "name": state.account(P, grant.account_id).handle})
        return _not_found()
    body: dict[str, Any] = {"id": node_id, "status": status_of(obj)}
    if obj["finished"]:
        body.update(description=obj["description"], permalink_url=f"/reel/{node_id}/")
    return graph.ok(grant, body)


def reel_metrics(m: dict[str, int]) -> dict[str, Any]:
    """The Reels video_insights metrics; times in milliseconds as Graph reports them."""
    return {
        "fb_reels_total_plays": m["views"],
        "blue_reels_play_count": m["views_10s"],  # plays of at least a moment, fewer than total plays
        "fb_reels_replay_count": m["video_starts"] - m["views"] if m["video_starts"] > m["views"] else 0,
        "post_impressions_unique": m["reach"],
        "post_video_avg_time_watched": m["watch_time_ms"] // max(1, m["views"]),
        "post_video_view_time": m["watch_time_ms"],
        "post_video_likes_by_reaction_type": {
            "REACTION_LIKE": m["likes"] - m["likes"] // 5,
            "REACTION_LOVE": m["likes"] // 5,
        },
        "post_video_social_actions": {"COMMENT": m["comments"], "SHARE": m["shares"]},
    }


async def insights(state: SandboxState, request: Request) -> Response:
    """Deleted or unknown video: 100/33; another Page's live reel: #10 (no permission on it)."""
    graph = graph_of(state)
    params = await params_of(request)
    grant = await graph.gate(request, "insights", params, "read_insights")
    if isinstance(grant, Response):
        return grant
    post = state.find_post(P, request.path_params["node"])
    if post is None:
        return _not_found()
    if post.account_id != grant.account_id:
        return ERRORS.error(403, 10, message="(#10) Application does not have permission for this action")
    values = reel_metrics(state.metrics(post))
    wanted = [x for x in params.get("metric", ",".join(values)).split(",") if x]
    if any(x not in values for x in wanted):
        return ERRORS.bad_param(f"metric must be one of {sorted(values)}")
    return graph.ok(
        grant, {"data": [{"name": x, "period": "lifetime", "values": [{"value": values[x]}]} for x in wanted]}
    )


# ---- rupload.facebook.com --------------------------------------------------------------------------------------------
def _rupload_error(status: int, type_: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        {"debug_info": {"retriable": False, "type": type_, "message": message, **extra}}, status_code=status
    )


def _append_bytes(obj: dict[str, Any], offset: int, size: int, body: bytes) -> Response:
    if offset != obj["received"] or obj["size"] not in (None, size):
        return _rupload_error(
            400, "ProcessingFailedError", "Start offset does not match the bytes received", start_offset=obj["received"]
        )
    obj["size"] = size
    if offset == 0:
        obj["head"] = body[:8]
    obj["received"] = min(size, offset + len(body))
    if obj["received"] >= size:
        obj["bad"] = obj.get("head", b"")[4:8] != b"ftyp"  # not an MP4/MOV: processing will fail
    return JSONResponse({"success": True})


async def rupload(state: SandboxState, request: Request) -> Response:
    """GET: how far did we get (resume after a dropped upload); POST: bytes at the `offset` header."""
    grant = graph_of(state).grant_for(meta_token(request))
    if isinstance(grant, Response):
        return _rupload_error(401, "AuthException", "Invalid OAuth access token")
    obj = video_of(state, request.path_params["video_id"], grant.account_id)
    if obj is None:
        return _rupload_error(400, "NotFoundException", "Unknown video id")
    if request.method == "GET":
        return JSONResponse(
            {"id": request.path_params["video_id"], "offset": obj["received"], "file_size": obj["size"]}
        )
    body = await request.body()
    if (fault := await pre_faults(state, P, "upload", ERRORS)) is not None:
        return fault
    try:
        offset, size = int(request.headers["offset"]), int(request.headers["file_size"])
    except (KeyError, ValueError):
        return _rupload_error(400, "ProcessingFailedError", "offset and file_size headers are required")
    with state.lock:
        return _append_bytes(obj, offset, size, body)


# ---- POST /{video_id}/thumbnails: the reel's cover image -------------------------------------------------------------
THUMBNAIL_MAX_BYTES = 10 * 1024**2


async def thumbnails(state: SandboxState, request: Request) -> Response:
    """A multipart `source` image (JPEG/PNG) and `is_preferred=true` make it the reel's cover (recorded as the
    post's `cover`). Fault operation "thumbnail"."""
    fields = await multipart_fields(request)
    if fields is None:
        return ERRORS.bad_param("a multipart/form-data body with the image as `source` is required")
    params = {**dict(request.query_params), **{n: v.decode("utf-8", "replace") for n, v, f in fields if f is None}}
    graph = graph_of(state)
    grant = await graph.gate(request, "thumbnail", params, "pages_manage_posts")
    if isinstance(grant, Response):
        return grant
    obj = video_of(state, request.path_params["node"], grant.account_id)
    if obj is None:
        return _not_found()
    image = next((v for n, v, f in fields if n == "source" and f is not None), b"")
    if not image:
        return ERRORS.bad_param("source (the image file) is required")
    info = image_info(image, "thumbnails") if len(image) <= THUMBNAIL_MAX_BYTES else None
    if info is None:
        return ERRORS.bad_param("source must be a JPEG or PNG image of at most 10 MB", 1363040)
    if params.get("is_preferred", "false").lower() == "true":
        with state.lock:
            obj["cover"] = info
        record_cover(state, P, request.path_params["node"], info)  # a cover set after finish
    return graph.ok(grant, {"success": True})


TABLE = [
    Endpoint("/{ver}/{node}/thumbnails", thumbnails, ("POST",)),
    Endpoint("/video-upload/{ver}/{video_id}", rupload, ("GET", "POST")),
    Endpoint("/{ver}/me/{edge}", me_edge),
    Endpoint("/{ver}/{node}/video_reels", video_reels, ("GET", "POST")),
    Endpoint("/{ver}/{node}/video_insights", insights),
    Endpoint("/{ver}/{node}", node),
]


def routes(state: SandboxState) -> list[BaseRoute]:
    return [*oauth.routes(OAUTH, state), *bind(state, TABLE)]
