"""/api/tracked, /api/stats, /api/leaderboard, /api/analytics/export.csv and the chart PNGs: thin adapters over
cliply/analytics/service.py, always in the API token's workspace (another workspace's ids are 404s)."""

from __future__ import annotations

import logging
from typing import TypeVar

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cliply.analytics import service
from cliply.http.context import api, body, container, token_workspace
from cliply.http.schemas_analytics import BoardQuery, ExportQuery, StatsQuery, TrackCreate, TrackedQuery

log = logging.getLogger(__name__)
Q = TypeVar("Q", bound=BaseModel)
PNG = "image/png"


def query(request: Request, model: type[Q]) -> Q:
    """The query string as `model` (pydantic's ValidationError → 422 naming the parameter)."""
    return model.model_validate(dict(request.query_params))


@api
async def tracked_create(request: Request) -> Response:
    data = await body(request, TrackCreate)
    result = await run_in_threadpool(service.track_url, container(request), token_workspace(request), data.url)
    log.info("post tracked", extra={"tracked": result["id"], "platform": result["platform"], "new": result["created"]})
    return JSONResponse(result, status_code=201 if result["created"] else 200)


@api
async def tracked_list(request: Request) -> Response:
    q = query(request, TrackedQuery)
    rows = await run_in_threadpool(
        service.list_tracked, container(request), token_workspace(request), q.status, q.platform
    )
    return JSONResponse({"tracked": rows})


@api
async def tracked_show(request: Request) -> Response:
    return JSONResponse(
        await run_in_threadpool(
            service.show_tracked, container(request), token_workspace(request), request.path_params["tracked_id"]
        )
    )


@api
async def tracked_delete(request: Request) -> Response:
    return JSONResponse(
        await run_in_threadpool(
            service.remove_tracked, container(request), token_workspace(request), request.path_params["tracked_id"]
        )
    )


@api
async def stats(request: Request) -> Response:
    q = query(request, StatsQuery)
    report = await run_in_threadpool(
        lambda: service.stats(
            container(request),
            token_workspace(request),
            post=q.post,
            clip=q.clip,
            account=q.account,
            since=q.since or service.DEFAULT_SINCE,
        )
    )
    return JSONResponse(report)


@api
async def leaderboard(request: Request) -> Response:
    q = query(request, BoardQuery)
    board = await run_in_threadpool(
        service.leaderboard, container(request), token_workspace(request), q.by, q.since or service.DEFAULT_SINCE
    )
    return JSONResponse(board)


@api
async def export_csv(request: Request) -> Response:
    q = query(request, ExportQuery)
    text = await run_in_threadpool(service.export_csv, container(request), token_workspace(request), q.since)
    headers = {"Content-Disposition": 'attachment; filename="cliply-analytics.csv"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


@api
async def tracked_chart(request: Request) -> Response:
    pid = request.path_params["tracked_id"]
    png = await run_in_threadpool(lambda: service.chart(container(request), token_workspace(request), "post", post=pid))
    return Response(png, media_type=PNG)


@api
async def platforms_chart(request: Request) -> Response:
    q = query(request, ExportQuery)
    png = await run_in_threadpool(
        lambda: service.chart(
            container(request), token_workspace(request), "platforms", since=q.since or service.DEFAULT_SINCE
        )
    )
    return Response(png, media_type=PNG)


@api
async def leaderboard_chart(request: Request) -> Response:
    q = query(request, BoardQuery)
    png = await run_in_threadpool(
        lambda: service.chart(
            container(request),
            token_workspace(request),
            "leaderboard",
            by=q.by,
            since=q.since or service.DEFAULT_SINCE,
        )
    )
    return Response(png, media_type=PNG)


ROUTES = [
    Route("/api/tracked", tracked_list, methods=["GET"]),
    Route("/api/tracked", tracked_create, methods=["POST"]),
    Route("/api/tracked/{tracked_id}", tracked_show, methods=["GET"]),
    Route("/api/tracked/{tracked_id}", tracked_delete, methods=["DELETE"]),
    Route("/api/tracked/{tracked_id}/chart.png", tracked_chart, methods=["GET"]),
    Route("/api/stats", stats, methods=["GET"]),
    Route("/api/leaderboard", leaderboard, methods=["GET"]),
    Route("/api/analytics/export.csv", export_csv, methods=["GET"]),
    Route("/api/charts/platforms.png", platforms_chart, methods=["GET"]),
    Route("/api/charts/leaderboard.png", leaderboard_chart, methods=["GET"]),
]
