"""/api/posts and /api/targets: schedule, follow, edit, cancel, publish now, retry."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cliply.http.context import api, body, container, token_workspace
from cliply.http.schemas import PostCreate, PostEdit
from cliply.publishing import service

log = logging.getLogger(__name__)


@api
async def posts_list(request: Request) -> Response:
    rows = await run_in_threadpool(
        service.list_posts, container(request), token_workspace(request), request.query_params.get("status")
    )
    return JSONResponse({"posts": rows})


@api
async def posts_create(request: Request) -> Response:
    data = await body(request, PostCreate)
    service.check_target_count(container(request), len(data.targets))
    created = await run_in_threadpool(
        service.create_post,
        container(request),
        token_workspace(request),
        clip_id=data.clip_id,
        drafts=[t.draft() for t in data.targets],
        caption=data.caption,
        at=data.when,
        tz=data.timezone,
    )
    log.info(
        "post created",
        extra={
            "post": created.post["id"],
            "clip": data.clip_id,
            "platforms": [t["platform"] for t in created.post["targets"]],
        },
    )
    return JSONResponse(created.json(), status_code=201)


@api
async def post_show(request: Request) -> Response:
    return JSONResponse(
        await run_in_threadpool(
            service.show_post, container(request), token_workspace(request), request.path_params["post_id"]
        )
    )


@api
async def post_edit(request: Request) -> Response:
    data = await body(request, PostEdit)
    post = await run_in_threadpool(
        service.edit_post,
        container(request),
        token_workspace(request),
        request.path_params["post_id"],
        caption=data.caption,
        captions=data.captions,
        title=data.title,
        at=data.when,
        tz=data.timezone,
    )
    return JSONResponse(post)


@api
async def post_cancel(request: Request) -> Response:
    post = await run_in_threadpool(
        service.cancel_post, container(request), token_workspace(request), request.path_params["post_id"]
    )
    log.info("post cancelled", extra={"post": post["id"]})
    return JSONResponse(post)


@api
async def post_publish_now(request: Request) -> Response:
    return JSONResponse(
        await run_in_threadpool(
            service.publish_now, container(request), token_workspace(request), request.path_params["post_id"]
        )
    )


@api
async def target_retry(request: Request) -> Response:
    return JSONResponse(
        await run_in_threadpool(
            service.retry_target, container(request), token_workspace(request), request.path_params["target_id"]
        )
    )


ROUTES = [
    Route("/api/posts", posts_list, methods=["GET"]),
    Route("/api/posts", posts_create, methods=["POST"]),
    Route("/api/posts/{post_id}", post_show, methods=["GET"]),
    Route("/api/posts/{post_id}", post_edit, methods=["PATCH"]),
    Route("/api/posts/{post_id}/cancel", post_cancel, methods=["POST"]),
    Route("/api/posts/{post_id}/publish-now", post_publish_now, methods=["POST"]),
    Route("/api/targets/{target_id}/retry", target_retry, methods=["POST"]),
]
