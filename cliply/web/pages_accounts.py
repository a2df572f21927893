"""The accounts page: every connected account of the signed-in workspace with its status and expiry, a Connect
button per platform (the browser OAuth flow, bound to this browser and this session's workspace), the Bluesky
handle + app password form, and disconnecting (a confirmation page, then a POST).

A thin adapter over publishing/accounts_service.py. Connect is a POST with the session's CSRF token: it starts the
flow for the session's workspace (never one named in the request), sets the same short-lived cookie as
/oauth/<platform>/start, and answers a page whose link leads to the platform's consent page (a redirect would not
do: browsers apply the pages' CSP `form-action 'self'` to a form's redirects too, and refuse it); the platform then
calls back /oauth/<platform>/callback, which stores the account. The app password is passed on once and never
shown, stored or logged."""

from __future__ import annotations

import functools
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cliply.analytics.links import NAMES
from cliply.http.routes.oauth import callback_uri, set_guard_cookie
from cliply.platforms import PLATFORMS
from cliply.platforms.errors import PlatformError
from cliply.publishing.accounts_service import (
    CONFIRM_TTL_S,
    begin_oauth,
    disconnect_account,
    list_accounts,
    login_bluesky,
)
from cliply.store.repo import NotFound
from cliply.usecases import ServiceError
from cliply.web.pagekit import container, page
from cliply.web.sessions import WebIdentity
from cliply.web.templating import render

log = logging.getLogger(__name__)

ACCOUNTS_URL = "/web/accounts"
OAUTH_PLATFORMS = tuple(p for p in PLATFORMS if p != "bluesky")
STATUS_LABELS = {
    "connected": "Connected",
    "expiring": "Expiring soon",
    "expired": "Expired",
    "error": "Needs attention",
    "reauth_required": "Reconnect needed",
    "disconnected": "Disconnected",
}
MAX_HANDLE_CHARS = 253  # a domain name's length: longer Bluesky handles are refused before any network call
MAX_MESSAGE_CHARS = 300


def _one_line(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 1] + "…"


def _listing(
    request: Request,
    me: WebIdentity,
    *,
    status: int = 200,
    error: str = "",
    bluesky_error: str = "",
    handle: str = "",
) -> Response:
    accounts = list_accounts(container(request), me.workspace_ref())
    notice = ""
    for key, verb in (("connected", "is connected"), ("disconnected", "was disconnected")):
        wanted = request.query_params.get(key, "")
        for a in accounts:
            if wanted.isdigit() and int(wanted) == a["id"]:
                notice = f"{NAMES.get(a['platform'], a['platform'])} account {a['handle']} {verb}."
    return render(
        "accounts.html",
        title="Accounts",
        me=me,
        nav="accounts",
        status=status,
        accounts=accounts,
        names=NAMES,
        status_labels=STATUS_LABELS,
        oauth_platforms=OAUTH_PLATFORMS,
        notice=notice,
        error=error,
        bluesky_error=bluesky_error,
        handle=handle,
    )


def _not_found(me: WebIdentity) -> Response:
    return render(
        "error.html", title="Page not found", me=me, status=404, message="There is no such account in this workspace."
    )


@page
async def accounts(request: Request, me: WebIdentity) -> Response:
    return await run_in_threadpool(_listing, request, me)


@page
async def connect(request: Request, me: WebIdentity) -> Response:
    """Start the browser OAuth flow for the session's workspace; the guard cookie ties the callback to this browser."""
    platform = request.path_params["platform"]
    if platform not in OAUTH_PLATFORMS:
        return _not_found(me) if platform != "bluesky" else RedirectResponse(f"{ACCOUNTS_URL}#bluesky", 303)
    redirect_uri = callback_uri(request, platform)
    try:
        start = await run_in_threadpool(
            begin_oauth, container(request), me.workspace_ref(), platform, redirect_uri, browser=True
        )
    except (ServiceError, PlatformError, ValueError) as exc:
        log.info("web connect of %s could not start: %s", platform, type(exc).__name__)
        known = isinstance(exc, ServiceError)
        reason = str(exc) if known else "the platform is not set up or did not answer"
        message = _one_line(f"{NAMES[platform]} could not be connected right now: {reason}")
        code = exc.status if isinstance(exc, ServiceError) else 502
        return await run_in_threadpool(functools.partial(_listing, request, me, status=code, error=message))
    response = render(
        "accounts_continue.html",
        title=f"Continue to {NAMES[platform]}",
        me=me,
        nav="accounts",
        name=NAMES[platform],
        url=start.url,
        minutes=CONFIRM_TTL_S // 60,
    )
    set_guard_cookie(response, platform, start)
    return response


@page
async def bluesky(request: Request, me: WebIdentity) -> Response:
    fields: dict[str, str] = request.state.form
    handle = fields.get("handle", "").strip()
    password = fields.get("app_password", "")
    if not handle or not password:
        error = "Enter both the handle and an app password."
    elif len(handle) > MAX_HANDLE_CHARS:
        error = "That handle is too long."
    else:
        try:
            account: dict[str, Any] = await run_in_threadpool(
                login_bluesky, container(request), me.workspace_ref(), handle, password
            )
        except ServiceError as exc:
            error = _one_line(f"Bluesky did not connect: {exc}")
        else:
            return RedirectResponse(f"{ACCOUNTS_URL}?connected={account['id']}#accounts-heading", status_code=303)
    listing = functools.partial(
        _listing, request, me, status=400, bluesky_error=error, handle=handle[:MAX_HANDLE_CHARS]
    )
    return await run_in_threadpool(listing)


def _account(request: Request, me: WebIdentity) -> dict[str, Any] | None:
    account_id = request.path_params["account_id"]
    for a in list_accounts(container(request), me.workspace_ref()):
        if a["id"] == account_id:
            return a
    return None


@page
async def disconnect_form(request: Request, me: WebIdentity) -> Response:
    account = await run_in_threadpool(_account, request, me)
    if account is None:
        return _not_found(me)
    return render(
        "accounts_disconnect.html",
        title="Disconnect an account",
        me=me,
        nav="accounts",
        account=account,
        names=NAMES,
    )


@page
async def disconnect(request: Request, me: WebIdentity) -> Response:
    try:
        account = await run_in_threadpool(
            disconnect_account, container(request), me.workspace_ref(), request.path_params["account_id"]
        )
    except NotFound:
        return _not_found(me)
    return RedirectResponse(f"{ACCOUNTS_URL}?disconnected={account['id']}#accounts-heading", status_code=303)


ROUTES = [
    Route("/accounts", accounts, methods=["GET"], name="accounts"),
    Route("/accounts/connect/{platform}", connect, methods=["POST"], name="accounts_connect"),
    Route("/accounts/bluesky", bluesky, methods=["POST"], name="accounts_bluesky"),
    Route("/accounts/{account_id:int}/disconnect", disconnect_form, methods=["GET"], name="accounts_disconnect"),
    Route("/accounts/{account_id:int}/disconnect", disconnect, methods=["POST"]),
]
