"""Liveness and readiness probes (no token: load balancers and orchestrators call them). Without a valid API token
/readyz answers only whether each check passed; the details (paths, URLs, errors) need a token or `cliply readyz`."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cliply.http.context import authenticated, container
from cliply.http.readiness import run_checks, summary


def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


def _with_details(request: Request) -> bool:
    if "authorization" not in request.headers:
        return False
    try:
        authenticated(request)
    except Exception:  # an unreachable database must not turn the probe into a 500
        return False
    return True


async def readyz(request: Request) -> Response:
    report = await run_in_threadpool(run_checks, container(request).settings)
    details = await run_in_threadpool(_with_details, request)
    return JSONResponse(report if details else summary(report), status_code=200 if report["ok"] else 503)


ROUTES = [Route("/healthz", healthz), Route("/readyz", readyz)]
