"""Emulated Facebook Reels on Pages (www.facebook.com, graph.facebook.com and rupload.facebook.com under /facebook):
Facebook Login (code → short-lived user token → fb_exchange_token long-lived), /me/permissions, /me/accounts
(Page tokens that never expire), video_reels start → rupload binary upload (offset/file_size headers; GET reports
the received offset) → finish with video_state=PUBLISHED (30 reels / rolling 24 h per Page; account extra
`publish_quota` overrides it) → GET /{video_id}?fields=status phases, video_insights.

Fault operations: "start", "upload" (rupload POST), "finish" (lost_response supported), "read", "list",
"insights", "accounts"; "processing" (processing_failed → processing_phase error after the upload)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cliply.sandbox.common import after_commit, pre_faults, processing_fails
from cliply.sandbox.meta import DAY_S, Graph, MetaErrors, iso, meta_token, params_of
from cliply.sandbox.state import Grant, SandboxState

P = "facebook"
# The 30/24 h reel cap has no documented code: the sandbox answers it like Instagram's cap (code 9).
ERRORS = MetaErrors(P, rate_code=32, quota=(9, None), content=(100, 1363022), media_fetch=(100, 1363019))
PAGE_TTL_S = 100 * 365 * DAY_S  # Page tokens from a long-lived user token do not expire
REEL_QUOTA = 30


def routes(state: SandboxState) -> list[BaseRoute]:
    graph = Graph(state, ERRORS, "pages")

    def pages_of(user: str) -> list[dict[str, Any]]:
        with state.lock:
            return state.objects.setdefault(f"fb-pages:{user}", [
                {"id": state.new_id("", 15), "name": f"{user} Page", "tasks": ["CREATE_CONTENT", "ANALYZE"]}])

    def video(video_id: str, page: str) -> dict[str, Any] | None:
        obj = state.objects.get(video_id)
        return obj if obj and obj.get("kind") == "fb_video" and obj["page"] == page else None

    async def authorize(request: Request) -> Response:
        return graph.authorize(request)

    async def oauth_token(request: Request) -> Response:
        params = dict(request.query_params)
        if params.get("grant_type") == "fb_exchange_token":
            grant = graph.long_lived(params, params.get("fb_exchange_token"))
        else:
            grant = graph.redeem(params)
        return grant if isinstance(grant, Response) else JSONResponse(graph.token_body(grant))

    async def me_edge(request: Request) -> Response:
        params = await params_of(request)
        grant = await graph.gate(request, "accounts", params)
        if isinstance(grant, Response):
            return grant
        if graph.token_info(grant.access_token).get("kind") == "page":
            return ERRORS.error(400, 100, message="A user access token is required", type_="GraphMethodException")
        if request.path_params["edge"] == "permissions":
            return graph.ok(grant, {"data": [{"permission": s, "status": "granted"} for s in grant.scopes]})
        if request.path_params["edge"] != "accounts":
            return ERRORS.bad_param("unsupported edge")
        rows = []
        for page in pages_of(grant.account_id):
            token = graph.issue(page["id"], grant.scopes, "page", PAGE_TTL_S, grant.client_id, grant.family)
            rows.append({**page, "access_token": token.access_token, "category": "Media"})
        return graph.ok(grant, {"data": rows, "paging": {}})

    async def video_reels(request: Request) -> Response:
        page = request.path_params["node"]
        params = await params_of(request)
        op = {"start": "start", "finish": "finish"}.get(params.get("upload_phase", ""), "list")
        grant = await graph.gate(request, op, params, None if op == "list" else "pages_manage_posts")
        if isinstance(grant, Response):
            return grant
        if grant.account_id != page:
            return ERRORS.error(400, 200, message="Requires a Page access token for this Page")
        if request.method == "GET":
            return list_reels(grant, page)
        if op == "start":
            vid = state.new_id("", 16)
            with state.lock:
                state.objects[vid] = {"kind": "fb_video", "page": page, "size": None, "received": 0,
                                      "sha": None, "fails": processing_fails(state, P), "bad": False,
                                      "finished": False, "polls_after_finish": 0, "created": state.clock.now(),
                                      "description": ""}
            ver = request.path_params["ver"]
            return graph.ok(grant, {"video_id": vid,
                                    "upload_url": f"https://rupload.facebook.com/video-upload/{ver}/{vid}"})
        if op == "list":
            return ERRORS.bad_param("upload_phase must be start or finish")
        return await finish(grant, page, params)

    async def finish(grant: Grant, page: str, params: dict[str, str]) -> Response:
        obj = video(params.get("video_id", ""), page)
        if obj is None:
            return ERRORS.bad_param("video_id does not exist")
        if params.get("video_state") not in ("PUBLISHED", "DRAFT", "SCHEDULED"):
            return ERRORS.bad_param("video_state must be PUBLISHED, DRAFT or SCHEDULED")
        with state.lock:
            if obj["finished"]:
                return ERRORS.duplicate()
            if obj["size"] is None or obj["received"] < obj["size"]:
                return ERRORS.error(400, 6000, 1363030, message="The video upload is not complete")
            quota = int(state.account(P, page).extra.get("publish_quota", REEL_QUOTA))
            if params["video_state"] == "PUBLISHED":
                wait = state.hit_limit(P, page, "reels", quota, DAY_S)
                if wait is not None:
                    return ERRORS.quota_exhausted(wait)
            obj.update(finished=True, description=params.get("description", ""), state=params["video_state"],
                       finished_at=state.clock.now())
            if params["video_state"] == "PUBLISHED" and not (obj["fails"] or obj["bad"]):
                state.record_post(P, page, params["video_id"], {"description": obj["description"]})
        await after_commit(state, P, "finish")
        return graph.ok(grant, {"success": True})

    def list_reels(grant: Grant, page: str) -> Response:
        rows = [{"id": p.post_id, "description": p.payload.get("description", ""), "created_time": iso(p.created_at)}
                for p in sorted(state.posts_for(P, page), key=lambda p: p.created_at, reverse=True)]
        return graph.ok(grant, {"data": rows[:25], "paging": {}})

    def status_of(obj: dict[str, Any]) -> dict[str, Any]:
        uploaded = obj["size"] is not None and obj["received"] >= obj["size"]
        failed = obj["fails"] or obj["bad"]
        processing = "not_started" if not uploaded else ("error" if failed else "complete")
        publishing = "not_started"
        if obj["finished"] and not failed and obj.get("state") == "PUBLISHED":
            obj["polls_after_finish"] += 1  # publishing completes on the poll after the first one
            publishing = "complete" if obj["polls_after_finish"] > 1 else "in_progress"
        body: dict[str, Any] = {
            "video_status": "error" if failed and uploaded else ("ready" if uploaded else "uploading"),
            "uploading_phase": {"status": "complete" if uploaded else "in_progress",
                                "bytes_transferred": obj["received"]},
            "processing_phase": {"status": processing},
            "publishing_phase": {"status": publishing},
        }
        if failed and uploaded:
            body["processing_phase"]["errors"] = [{"code": 1363008 if obj["bad"] else 1363019,
                                                   "message": "Video processing failed"}]
        return body

    async def node(request: Request) -> Response:
        params = await params_of(request)
        grant = await graph.gate(request, "read", params)
        if isinstance(grant, Response):
            return grant
        node_id = request.path_params["node"]
        obj = video(node_id, grant.account_id)
        if obj is None:
            if node_id in ("me", grant.account_id):
                return graph.ok(grant, {"id": grant.account_id, "name": state.account(P, grant.account_id).handle})
            return ERRORS.error(400, 100, 33, message="Object does not exist or is not accessible")
        body: dict[str, Any] = {"id": node_id, "status": status_of(obj)}
        if obj["finished"]:
            body.update(description=obj["description"], permalink_url=f"/reel/{node_id}/")
        return graph.ok(grant, body)

    async def insights(request: Request) -> Response:
        params = await params_of(request)
        grant = await graph.gate(request, "insights", params, "read_insights")
        if isinstance(grant, Response):
            return grant
        post = state.find_post(P, request.path_params["node"])
        if post is None or post.account_id != grant.account_id:
            return ERRORS.error(400, 100, 33, message="Object does not exist or is not accessible")
        m = state.metrics(post)
        values = {"fb_reels_total_plays": m["views"], "blue_reels_play_count": m["views"],
                  "post_impressions_unique": m["reach"],
                  "post_video_likes_by_reaction_type": {"REACTION_LIKE": m["likes"] - m["likes"] // 5,
                                                        "REACTION_LOVE": m["likes"] // 5},
                  "post_video_social_actions": {"COMMENT": m["comments"], "SHARE": m["shares"]}}
        wanted = [x for x in params.get("metric", ",".join(values)).split(",") if x]
        if any(x not in values for x in wanted):
            return ERRORS.bad_param(f"metric must be one of {sorted(values)}")
        return graph.ok(grant, {"data": [{"name": x, "period": "lifetime", "values": [{"value": values[x]}]}
                                         for x in wanted]})

    async def rupload(request: Request) -> Response:
        grant = graph.grant_for(meta_token(request))
        if isinstance(grant, Response):
            return JSONResponse({"debug_info": {"retriable": False, "type": "AuthException",
                                                "message": "Invalid OAuth access token"}}, status_code=401)
        obj = video(request.path_params["video_id"], grant.account_id)
        if obj is None:
            return JSONResponse({"debug_info": {"retriable": False, "type": "NotFoundException",
                                                "message": "Unknown video id"}}, status_code=400)
        if request.method == "GET":  # how far did we get? (resume after a dropped upload)
            return JSONResponse({"id": request.path_params["video_id"], "offset": obj["received"],
                                 "file_size": obj["size"]})
        body = await request.body()
        fault = await pre_faults(state, P, "upload", ERRORS)
        if fault is not None:
            return fault
        try:
            offset, size = int(request.headers["offset"]), int(request.headers["file_size"])
        except (KeyError, ValueError):
            return JSONResponse({"debug_info": {"retriable": False, "type": "ProcessingFailedError",
                                                "message": "offset and file_size headers are required"}},
                                status_code=400)
        with state.lock:
            if offset != obj["received"] or (obj["size"] not in (None, size)):
                return JSONResponse({"debug_info": {"retriable": False, "type": "ProcessingFailedError",
                                                    "message": "Start offset does not match the bytes received",
                                                    "start_offset": obj["received"]}}, status_code=400)
            obj["size"] = size
            if offset == 0:
                obj["head"] = body[:8]
            obj["received"] = min(size, offset + len(body))
            if obj["received"] >= size:
                obj["bad"] = obj.get("head", b"")[4:8] != b"ftyp"  # not an MP4/MOV: processing will fail
        return JSONResponse({"success": True})

    return [
        Route("/{ver}/dialog/oauth", authorize),
        Route("/{ver}/oauth/access_token", oauth_token),
        Route("/video-upload/{ver}/{video_id}", rupload, methods=["GET", "POST"]),
        Route("/{ver}/me/{edge}", me_edge),
        Route("/{ver}/{node}/video_reels", video_reels, methods=["GET", "POST"]),
        Route("/{ver}/{node}/video_insights", insights),
        Route("/{ver}/{node}", node),
    ]
