"""/api/scoring: the API token's workspace's learned clip scoring (GET the status; POST on, off, reset, fit). The
POSTs take no body; each answers the resulting status (fit: the new version, or why it was skipped)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cliply.experiments import scoring
from cliply.http.context import api, container, token_workspace


@api
async def scoring_get(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(scoring.scoring_status, container(request), token_workspace(request)))


@api
async def scoring_on(request: Request) -> Response:
    app, ref = container(request), token_workspace(request)
    return JSONResponse(await run_in_threadpool(lambda: scoring.set_learning(app, ref, True, actor="api")))


@api
async def scoring_off(request: Request) -> Response:
    app, ref = container(request), token_workspace(request)
    return JSONResponse(await run_in_threadpool(lambda: scoring.set_learning(app, ref, False, actor="api")))


@api
async def scoring_reset(request: Request) -> Response:
    app, ref = container(request), token_workspace(request)
    return JSONResponse(await run_in_threadpool(lambda: scoring.reset_scoring(app, ref, actor="api")))


@api
async def scoring_fit(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(scoring.fit_now, container(request), token_workspace(request)))


ROUTES = [
    Route("/api/scoring", scoring_get, methods=["GET"]),
    Route("/api/scoring/on", scoring_on, methods=["POST"]),
    Route("/api/scoring/off", scoring_off, methods=["POST"]),
    Route("/api/scoring/reset", scoring_reset, methods=["POST"]),
    Route("/api/scoring/fit", scoring_fit, methods=["POST"]),
]
