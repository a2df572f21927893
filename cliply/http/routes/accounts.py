"""/api/accounts: list, connect (Bluesky app password; OAuth start for the others), disconnect."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cliply.http.context import api, body, container, token_workspace
from cliply.http.errors import ApiError
from cliply.http.routes.oauth import callback_uri
from cliply.http.schemas import AccountCreate
from cliply.publishing import service
from cliply.publishing.service import MAX_ID


@api
async def accounts_list(request: Request) -> Response:
    rows = await run_in_threadpool(
        service.list_accounts,
        container(request),
        token_workspace(request),
        request.query_params.get("platform") or None,
    )
    return JSONResponse({"accounts": rows})


@api
async def accounts_create(request: Request) -> Response:
    data = await body(request, AccountCreate)
    platform = data.platform.lower()
    if platform != "bluesky":
        raise ApiError(
            400,
            f"connect {platform or 'this platform'} with OAuth: "
            f"POST /api/accounts/oauth/<platform> or GET /oauth/<platform>/start",
        )
    account = await run_in_threadpool(
        service.login_bluesky, container(request), token_workspace(request), data.handle, data.app_password
    )
    return JSONResponse(account, status_code=201)


@api
async def accounts_oauth(request: Request) -> Response:
    """The API/CLI flow: its callback asks the consenting user to confirm before anything is stored."""
    platform = request.path_params["platform"]
    start = await run_in_threadpool(
        service.begin_oauth, container(request), token_workspace(request), platform, callback_uri(request, platform)
    )
    return JSONResponse({"authorization_url": start.url})


@api
async def accounts_delete(request: Request) -> Response:
    account_id = request.path_params["account_id"]
    if account_id > MAX_ID:  # no such id can exist; the database could not even compare it
        raise ApiError(404, f"no account {account_id} in this workspace")
    account = await run_in_threadpool(
        service.disconnect_account, container(request), token_workspace(request), account_id
    )
    return JSONResponse(account)


ROUTES = [
    Route("/api/accounts", accounts_list, methods=["GET"]),
    Route("/api/accounts", accounts_create, methods=["POST"]),
    Route("/api/accounts/oauth/{platform}", accounts_oauth, methods=["POST"]),
    Route("/api/accounts/{account_id:int}", accounts_delete, methods=["DELETE"]),
]
