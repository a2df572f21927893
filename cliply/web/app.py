"""The web pages' routes (mounted at /web by cliply/http/app.py, with the package's static files at /static).

Each page is a thin adapter: it resolves the browser's session (signed-out visitors are sent to /web/signin with a
303), checks the CSRF token of a POST before acting, calls a use case and renders a template. Pages get the security
headers of headers.py; unknown /web/ paths are a 404 page for a signed-in visitor and the sign-in page otherwise."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from cliply.http.errors import ApiError
from cliply.web import (
    csrf,
    pages_accounts,
    pages_analytics,
    pages_compose,
    pages_experiments,
    pages_post,
    pages_posts,
    pages_sources,
)
from cliply.web import sessions as web_sessions
from cliply.web.headers import SecurityHeaders
from cliply.web.home import home as home_view
from cliply.web.limits import FailureLimiter
from cliply.web.pagekit import COOKIE, HOME_URL, SIGNIN_URL, container, forbidden, form, identity, page, to_signin
from cliply.web.sessions import SignedIn, WebIdentity
from cliply.web.static_files import PackageStatic
from cliply.web.templating import STATIC, render
from cliply.wiring import Cliply

log = logging.getLogger(__name__)

SIGNIN_FORM_LIMIT = 8 * 1024  # bytes: a key and a CSRF token
BAD_KEY = "That key was not accepted. Check that you pasted a current API key of your workspace."
BAD_LINK = "This sign-in link cannot be used: it was used already or has expired. Run `cliply web login` for a new one."


def _limiter(request: Request) -> FailureLimiter:
    limiter: FailureLimiter = request.app.state.signin_failures
    return limiter


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _secure(request: Request) -> bool:
    return container(request).settings.public_base_url.startswith("https://")


def set_session_cookie(request: Request, response: Response, signed: SignedIn) -> None:
    hours = container(request).settings.web_session_hours
    response.set_cookie(
        COOKIE,
        signed.secret,
        max_age=int(hours * 3600),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(csrf.SIGNIN_COOKIE, path=csrf.SIGNIN_PATH)


# --- sign-in and sign-out ---


def _signin_page(request: Request, *, status: int = 200, error: str = "") -> Response:
    token = csrf.signin_token(request.cookies.get(csrf.SIGNIN_COOKIE))
    response = render("signin.html", title="Sign in", me=None, status=status, error=error, csrf=token, nav="signin")
    response.set_cookie(
        csrf.SIGNIN_COOKIE,
        token,
        max_age=csrf.SIGNIN_MAX_AGE_S,
        path=csrf.SIGNIN_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


def _too_many(request: Request) -> Response:
    return render(
        "error.html",
        title="Too many attempts",
        me=None,
        status=429,
        message="Too many sign-in attempts failed from this address. Wait a few minutes, then try again.",
    )


async def signin_form(request: Request) -> Response:
    if await identity(request) is not None:
        return RedirectResponse(HOME_URL, status_code=303)
    return _signin_page(request)


async def signin_submit(request: Request) -> Response:
    limiter, client = _limiter(request), _client(request)
    if limiter.blocked(client):
        return _too_many(request)
    fields = await form(request, SIGNIN_FORM_LIMIT)
    if not csrf.matches(request.cookies.get(csrf.SIGNIN_COOKIE), fields.get(csrf.FIELD)):
        return forbidden(None)
    token = fields.get("token", "")
    signed = await run_in_threadpool(
        web_sessions.sign_in_with_token, container(request), token, request.cookies.get(COOKIE)
    )
    return _signed_in(request, signed, BAD_KEY)


async def login_link(request: Request) -> Response:
    limiter, client = _limiter(request), _client(request)
    if limiter.blocked(client):
        return _too_many(request)
    link = request.path_params["link"]
    signed = await run_in_threadpool(
        web_sessions.sign_in_with_link, container(request), link, request.cookies.get(COOKIE)
    )
    return _signed_in(request, signed, BAD_LINK)


def _signed_in(request: Request, signed: web_sessions.SignedIn | None, error: str) -> Response:
    """Home with the new session's cookie, or the form again (and one more failure counted for the address)."""
    limiter, client = _limiter(request), _client(request)
    if signed is None:
        limiter.failed(client)
        log.info("web sign-in refused")
        return _signin_page(request, status=401, error=error)
    limiter.succeeded(client)
    response = RedirectResponse(HOME_URL, status_code=303)
    set_session_cookie(request, response, signed)
    return response


@page
async def signout(request: Request, me: WebIdentity) -> Response:
    await run_in_threadpool(web_sessions.sign_out, container(request), request.cookies.get(COOKIE))
    response = RedirectResponse(SIGNIN_URL, status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request))
    return response


# --- pages ---


@page
async def home(request: Request, me: WebIdentity) -> Response:
    view = await run_in_threadpool(home_view, container(request), me.workspace_ref())
    return render("home.html", title="Home", me=me, nav="home", view=view)


# --- errors ---


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    me = await identity(request)
    if me is None:
        return to_signin()
    title = "Page not found" if status == 404 else "Request refused"
    message = "There is no page at this address." if status == 404 else "This request could not be handled."
    return render("error.html", title=title, me=me, status=status, message=message)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    me = await identity(request)
    return render("error.html", title="Request refused", me=me, status=exc.status, message=exc.message)


ROUTES = [
    Route("/", home, methods=["GET"], name="home"),
    Route("/signin", signin_form, methods=["GET"], name="signin"),
    Route("/signin", signin_submit, methods=["POST"]),
    Route("/login/{link}", login_link, methods=["GET"], name="login_link"),
    Route("/signout", signout, methods=["POST"], name="signout"),
    *pages_accounts.ROUTES,
    *pages_sources.ROUTES,
    *pages_analytics.ROUTES,
    *pages_posts.ROUTES,
    *pages_compose.ROUTES,  # before pages_post: /posts/new, /posts/bulk and /posts/counts are not post ids
    *pages_post.ROUTES,
    *pages_experiments.ROUTES,
]


def web_app(app: Cliply) -> Starlette:
    web = Starlette(routes=ROUTES, exception_handlers={HTTPException: _http_error, ApiError: _api_error})
    web.state.cliply = app
    web.state.signin_failures = FailureLimiter()
    return web


def mounts(app: Cliply) -> list[Mount]:
    """/web (the pages) and /static (the package's CSS and JS), each with the security headers."""
    return [
        Mount("/web", app=SecurityHeaders(web_app(app))),
        Mount("/static", app=SecurityHeaders(PackageStatic(directory=STATIC), no_store=False)),
    ]
