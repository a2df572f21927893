"""The browser side of connecting an account: start (→ the platform's consent page), the platform's callback, and
the confirmation of a flow started by the API or the CLI (see publishing/accounts_service.py for why)."""

from __future__ import annotations

import hashlib
import logging
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cliply.http.context import base_url, container, read_capped, token_workspace
from cliply.http.errors import ApiError
from cliply.http.pages import confirm_page, page
from cliply.platforms.errors import PlatformError
from cliply.publishing import service
from cliply.publishing.accounts_service import CONFIRM_TTL_S, OAuthOutcome, OAuthStart
from cliply.usecases import ServiceError

log = logging.getLogger(__name__)
CONFIRM_FORM_MAX = 4096


def callback_uri(request: Request, platform: str) -> str:
    return f"{base_url(request)}/oauth/{platform}/callback"


def cookie_name(state: str) -> str:
    """One cookie per flow, so two connections started in one browser do not overwrite each other."""
    return "cliply_oauth_" + hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def oauth_start(request: Request) -> Response:
    """The browser flow: the redirect sets a short-lived HttpOnly cookie that the callback must bring back."""
    platform = request.path_params["platform"]
    start = service.begin_oauth(
        container(request), token_workspace(request), platform, callback_uri(request, platform), browser=True
    )
    response = RedirectResponse(start.url, status_code=302)
    set_guard_cookie(response, platform, start)
    return response


def set_guard_cookie(response: Response, platform: str, start: OAuthStart) -> None:
    """The short-lived cookie that ties the platform's callback to the browser that started the flow."""
    response.set_cookie(
        cookie_name(start.state),
        start.browser_key or "",
        max_age=CONFIRM_TTL_S,
        path=f"/oauth/{platform}/callback",
        httponly=True,
        samesite="lax",
        secure=start.redirect_uri.startswith("https://"),
    )


def _connected(outcome: OAuthOutcome) -> Response:
    account = outcome.account or {}
    note = (
        f" Missing permissions: {', '.join(outcome.missing)}; connect again and allow them." if outcome.missing else ""
    )
    return page(
        200,
        "Connected",
        f"{outcome.platform} account {account.get('handle', outcome.handle)} is connected "
        f"to the workspace {outcome.workspace} (id {account.get('id')}).{note}",
    )


def oauth_callback(request: Request) -> Response:
    platform, q = request.path_params["platform"], request.query_params
    if q.get("error"):
        return page(400, "Not connected", f"{platform} said: {q.get('error', '')[:200]}")
    if not q.get("code") or not q.get("state"):
        return page(400, "Not connected", "the callback is missing code or state")
    state = q["state"]
    try:
        outcome = service.complete_oauth(
            container(request), platform, q["code"], state, browser_key=request.cookies.get(cookie_name(state))
        )
    except ServiceError as exc:
        return page(exc.status, "Not connected", str(exc))
    except PlatformError as exc:
        log.warning("oauth callback for %s failed: %s", platform, exc.error_class)
        return page(502, "Not connected", f"{platform} refused the authorisation ({exc.error_class.value})")
    if outcome.confirm_token:
        return confirm_page(platform, outcome.handle, outcome.workspace, outcome.confirm_token, outcome.missing)
    response = _connected(outcome)
    response.delete_cookie(cookie_name(state), path=f"/oauth/{platform}/callback")
    return response


async def oauth_confirm(request: Request) -> Response:
    """The confirmation page's form: the one-time token is the only authority, so no cookie or API token."""
    platform = request.path_params["platform"]
    try:
        form = parse_qs((await read_capped(request, CONFIRM_FORM_MAX)).decode("utf-8", "replace"))
    except ApiError as exc:
        return page(exc.status, "Not connected", exc.message)
    token, decision = form.get("token", [""])[0], form.get("decision", ["connect"])[0]
    try:
        outcome = await run_in_threadpool(
            service.confirm_oauth, container(request), platform, token, accept=decision == "connect"
        )
    except ServiceError as exc:
        return page(exc.status, "Not connected", str(exc))
    if outcome.account is None:
        return page(
            200,
            "Not connected",
            f"the {platform} account {outcome.handle} was not connected to the workspace {outcome.workspace}.",
        )
    return _connected(outcome)


ROUTES = [
    Route("/oauth/{platform}/start", oauth_start),
    Route("/oauth/{platform}/callback", oauth_callback),
    Route("/oauth/{platform}/confirm", oauth_confirm, methods=["POST"]),
]
